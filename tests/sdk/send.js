// Drives the real @sentry/node SDK against tern-relay for
// tests/integration/test_sentry_node.py.
//
// Input (environment): SENTRY_DSN (the relay's DSN), TERN_RELEASE (the
// release, so the test can find its session), TERN_BIG_BYTES (size of the
// extra data put on one more exception, default 40000: above the SDK's 32 KiB
// threshold, so that request is gzip-compressed).
//
// Output: one JSON line on stdout:
//   {"sdk": "<version>", "exception_id": "...", "message_id": "...",
//    "big_id": "...", "sent": [{"status": 200, "items": ["event"]}, ...]}
// `sent` lists every envelope the transport sent, with the relay's status and
// the item types, so the test can check that every item reached Kafka once.
// Exits 1 if the SDK did not flush within the timeout.
'use strict';

const Sentry = require('@sentry/node');

const dsn = process.env.SENTRY_DSN;
if (!dsn) {
  console.error('SENTRY_DSN is not set');
  process.exit(2);
}
const bigBytes = Number(process.env.TERN_BIG_BYTES || 40000);

const sent = [];

// Wraps the SDK's own HTTP transport to record each envelope's items and the
// relay's answer; the request itself is the SDK's, unchanged.
function recordingTransport(options) {
  const inner = Sentry.makeNodeTransport(options);
  return {
    send: async (envelope) => {
      const items = envelope[1].map((item) => item[0].type);
      try {
        const res = await inner.send(envelope);
        sent.push({status: res && res.statusCode, items});
        return res;
      } catch (e) {
        sent.push({status: null, error: String(e), items});
        throw e;
      }
    },
    flush: (timeout) => inner.flush(timeout),
  };
}

async function main() {
  Sentry.init({
    dsn,
    release: process.env.TERN_RELEASE || 'tern-it@1.0.0',
    environment: 'integration',
    transport: recordingTransport,
    sendClientReports: false,
    // Only what the test sends: no default integrations that could add
    // events of their own (uncaught handlers, console breadcrumbs, ...).
    defaultIntegrations: false,
    tracesSampleRate: 0,
  });

  Sentry.startSession();

  let exceptionId;
  try {
    throw new Error('tern node integration error');
  } catch (e) {
    exceptionId = Sentry.captureException(e);
  }
  const messageId = Sentry.captureMessage('tern node integration message', 'warning');

  // A large event: the SDK gzips bodies above 32 KiB, and always streams the
  // body (Transfer-Encoding: chunked).
  let bigId;
  Sentry.withScope((scope) => {
    scope.setExtra('blob', 'x'.repeat(bigBytes));
    bigId = Sentry.captureException(new Error('tern node big event'));
  });

  Sentry.endSession();

  const flushed = await Sentry.close(10000);
  process.stdout.write(
      JSON.stringify({
        sdk: Sentry.SDK_VERSION,
        exception_id: exceptionId,
        message_id: messageId,
        big_id: bigId,
        sent,
      }) + '\n');
  process.exit(flushed ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
