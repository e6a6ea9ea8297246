// Loads a minified build of tests/integration/sourcemaps/app.js and lets it
// throw, reporting the error with the real @sentry/node SDK, for
// tests/integration/test_sourcemaps.py.
//
// Input (environment): SENTRY_DSN (the relay's DSN), TERN_RELEASE, TERN_APP
// (path of the minified bundle, with `sentry-cli sourcemaps inject`'s debug
// ID snippet in it, so the SDK sends debug_meta.images).
// Output: one JSON line {"event_id": "..."} on stdout. Exits 1 when the SDK
// could not flush.
'use strict';

const Sentry = require('@sentry/node');

Sentry.init({
  dsn: process.env.SENTRY_DSN,
  release: process.env.TERN_RELEASE,
  tracesSampleRate: 0,
  autoSessionTracking: false,
});

const app = require(process.env.TERN_APP);
let eventId = null;
try {
  app.run({});
} catch (e) {
  eventId = Sentry.captureException(e);
}
Sentry.flush(20000).then((ok) => {
  console.log(JSON.stringify({event_id: eventId}));
  process.exit(ok && eventId ? 0 : 1);
});
