"""Drives the real sentry-python SDK (1.x or 2.x, whichever the running
venv has) for tests/integration/test_sdk_matrix.py.

Environment: SENTRY_DSN (the relay's DSN), TERN_RELEASE (the release, so the
test finds the session). Sends, in one application-mode session: a breadcrumb
trail, a user and a tag set on the scope, a ZeroDivisionError from divide()
with an attachment, and a warning message; closes the session and flushes.
Prints one JSON line: {"sdk": version, "exception_id": ..., "message_id": ...}.
"""

import json
import os
import sys

import sentry_sdk
from sentry_sdk import Hub

MAJOR = int(sentry_sdk.VERSION.split(".")[0])


def divide(total, parts):
    return total / parts


def scope_for_session():
    # 1.x keeps sessions on the Hub; 2.x on the isolation scope.
    if MAJOR >= 2:
        return sentry_sdk.get_isolation_scope()
    return Hub.current


def main() -> int:
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        release=os.environ["TERN_RELEASE"],
        environment="integration",
        default_integrations=False,
        auto_enabling_integrations=False,
        send_client_reports=False,
        auto_session_tracking=False,
    )
    sessions = scope_for_session()
    sessions.start_session(session_mode="application")

    sentry_sdk.set_user({"id": "4711", "username": "ada", "email": "ada@example.com"})
    sentry_sdk.set_tag("tern.matrix", f"python-{MAJOR}")
    sentry_sdk.set_tag("shard", "7")
    for step in ("opened the order form", "validated the order", "submitted the order"):
        sentry_sdk.add_breadcrumb(category="matrix", message=step, level="info")

    if MAJOR >= 2:
        scope_cm = sentry_sdk.new_scope()
    else:
        scope_cm = sentry_sdk.push_scope()
    with scope_cm as scope:
        scope.add_attachment(bytes=b"order 4711: 3 items\n", filename="order.txt",
                             content_type="text/plain")
        try:
            divide(3, 0)
        except ZeroDivisionError:
            exception_id = sentry_sdk.capture_exception()

    message_id = sentry_sdk.capture_message("tern matrix message: order queue is full",
                                            level="warning")
    sessions.end_session()
    client = Hub.current.client if MAJOR < 2 else sentry_sdk.get_client()
    client.flush(timeout=30)
    client.close(timeout=30)
    print(json.dumps({"sdk": sentry_sdk.VERSION, "exception_id": exception_id,
                      "message_id": message_id}))
    return 0 if exception_id and message_id else 1


if __name__ == "__main__":
    sys.exit(main())
