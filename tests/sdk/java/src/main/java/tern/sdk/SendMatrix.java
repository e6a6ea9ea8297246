package tern.sdk;

import io.sentry.Attachment;
import io.sentry.Breadcrumb;
import io.sentry.Sentry;
import io.sentry.SentryLevel;
import io.sentry.protocol.SentryId;
import io.sentry.protocol.User;
import java.nio.charset.StandardCharsets;

/**
 * Drives the real sentry-java SDK (plain Java 17, no Spring) for
 * tests/integration/test_sdk_matrix.py.
 *
 * <p>Environment: SENTRY_DSN (the relay's DSN), TERN_RELEASE (the release, so the test finds
 * the session). Sends, in one session: a breadcrumb trail, a user and a tag set, the
 * NumberFormatException that parseQuantity gets from Integer.parseInt (with an attachment),
 * and a warning message; ends the session and flushes. Prints one JSON line:
 * {"sdk": version, "exception_id": ..., "message_id": ...}.
 */
public final class SendMatrix {
  private SendMatrix() {}

  static int parseQuantity(String text) {
    return Integer.parseInt(text);
  }

  public static void main(String[] args) {
    Sentry.init(
        options -> {
          options.setDsn(System.getenv("SENTRY_DSN"));
          options.setRelease(System.getenv("TERN_RELEASE"));
          options.setEnvironment("integration");
          options.setSendClientReports(false);
          options.setEnableUncaughtExceptionHandler(false);
          options.setEnableAutoSessionTracking(false);
          options.setFlushTimeoutMillis(15000);
          options.setShutdownTimeoutMillis(15000);
          // Our frames are the in-app ones.
          options.addInAppInclude("tern.sdk");
        });
    Sentry.startSession();

    User user = new User();
    user.setId("4711");
    user.setUsername("ada");
    user.setEmail("ada@example.com");
    Sentry.setUser(user);
    Sentry.setTag("tern.matrix", "java");
    Sentry.setTag("shard", "7");
    for (String step :
        new String[] {"opened the order form", "validated the order", "submitted the order"}) {
      Breadcrumb crumb = new Breadcrumb();
      crumb.setCategory("matrix");
      crumb.setMessage(step);
      crumb.setLevel(SentryLevel.INFO);
      Sentry.addBreadcrumb(crumb);
    }

    SentryId[] exceptionId = new SentryId[1];
    Sentry.withScope(
        scope -> {
          scope.addAttachment(
              new Attachment(
                  "order 4711: 3 items\n".getBytes(StandardCharsets.UTF_8),
                  "order.txt",
                  "text/plain"));
          try {
            parseQuantity("three");
          } catch (NumberFormatException e) {
            exceptionId[0] = Sentry.captureException(e);
          }
        });
    SentryId messageId =
        Sentry.captureMessage("tern matrix message: order queue is full", SentryLevel.WARNING);

    Sentry.endSession();
    Sentry.flush(15000);
    Sentry.close();
    System.out.println(
        "{\"sdk\": \"" + io.sentry.BuildConfig.VERSION_NAME + "\", \"exception_id\": \""
            + exceptionId[0] + "\", \"message_id\": \"" + messageId + "\"}");
    boolean ok = exceptionId[0] != null && !SentryId.EMPTY_ID.equals(exceptionId[0])
        && !SentryId.EMPTY_ID.equals(messageId);
    System.exit(ok ? 0 : 1);
  }
}
