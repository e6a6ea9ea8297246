// Drives the real @sentry/node SDK (8, 9 or 11) for the SDK matrix
// (tests/integration/test_sdk_matrix.py). TERN_SDK_DIR names the folder the
// test installed ./v8, ./v9 or ./v11 into with npm ci (under $TERN_CACHE);
// @sentry/node is resolved from there, never from a node_modules above this
// file (tests/sdk/node_modules holds another version).
//
// Environment: SENTRY_DSN (the relay's DSN), TERN_RELEASE (the release, so
// the test finds the session). Sends, in one session: a breadcrumb trail, a
// user and a tag set, a TypeError thrown by countItems() with an attachment,
// and a warning message; ends the session and flushes.
// Prints one JSON line: {"sdk": version, "exception_id", "message_id"}.
'use strict';

if (!process.env.TERN_SDK_DIR) {
  console.error('TERN_SDK_DIR is not set');
  process.exit(2);
}
const Sentry = require(require.resolve('@sentry/node', {paths: [process.env.TERN_SDK_DIR]}));

function countItems(order) {
  return order.items.length;
}

async function main() {
  const major = Number(Sentry.SDK_VERSION.split('.')[0]);
  Sentry.init({
    dsn: process.env.SENTRY_DSN,
    release: process.env.TERN_RELEASE,
    environment: 'integration',
    sendClientReports: false,
    // Only what this program sends: no default integrations that add
    // events or breadcrumbs of their own (uncaught handlers, console, http).
    defaultIntegrations: false,
    autoSessionTracking: false,
    tracesSampleRate: 0,
  });
  Sentry.startSession();

  Sentry.setUser({id: '4711', username: 'ada', email: 'ada@example.com'});
  Sentry.setTags({'tern.matrix': `node-${major}`, shard: '7'});
  for (const step of ['opened the order form', 'validated the order', 'submitted the order']) {
    Sentry.addBreadcrumb({category: 'matrix', message: step, level: 'info'});
  }

  let exceptionId;
  Sentry.withScope((scope) => {
    scope.addAttachment({filename: 'order.txt', data: 'order 4711: 3 items\n', contentType: 'text/plain'});
    try {
      countItems(null);
    } catch (e) {
      exceptionId = Sentry.captureException(e);
    }
  });
  const messageId = Sentry.captureMessage('tern matrix message: order queue is full', 'warning');

  Sentry.endSession();
  const flushed = await Sentry.close(15000);
  process.stdout.write(JSON.stringify({sdk: Sentry.SDK_VERSION, exception_id: exceptionId,
                                       message_id: messageId}) + '\n');
  process.exit(flushed ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
