"""Old Sentry clients, end to end: relay → real Kafka → backend → API.

raven-python 4.x (the last with a UDP transport; it does not run on a
Python newer than 3.6, so the datagrams are built here exactly as its
sources build them) and raven-js 3.x (HTTP only, auth in the query string,
a text/plain body; raven-js never had a UDP transport). What each sends,
from their sources:

- raven-python 4.2.3 `transport/udp.py`: one datagram of
  `X-Sentry-Auth + "\\n\\n" + body`, the body `Client.encode`d:
  base64(zlib(JSON)). `utils.get_auth_header`: `Sentry sentry_timestamp=<float>,
  sentry_client=raven-python/4.2.3, sentry_version=4, sentry_key=..,
  sentry_secret=..`. `Client.build_msg`: the legacy interface names
  (`sentry.interfaces.Exception` with its `stacktrace`, `.Message` with
  `params`, `.Query`), `level` as a logging integer (40, 30), a naive
  `timestamp` (`%Y-%m-%dT%H:%M:%SZ`), `project` from the DSN, `culprit`,
  `server_name`, `modules`, `time_spent: null`, `tags`/`extra` objects.
- raven-js 3.27.2 `_makeRequest`: `POST <store url>?sentry_version=7&
  sentry_client=raven-js%2F3.27.2&sentry_key=..` with the JSON as a fetch
  body (Content-Type `text/plain;charset=UTF-8`), `exception.values`,
  `culprit` = the page URL, `logger: javascript`, `extra` with
  `session:duration`.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.parse
import urllib.request
import uuid
import zlib

from conftest import metric_sum, wait_until
from test_backend import start_pair


def raven_python_datagram(key: str, secret: str, event: dict) -> bytes:
    auth = (f"Sentry sentry_timestamp={time.time()}, sentry_client=raven-python/4.2.3, "
            f"sentry_version=4, sentry_key={key}, sentry_secret={secret}")
    body = base64.b64encode(zlib.compress(json.dumps(event).encode("utf8")))
    return auth.encode() + b"\n\n" + body


def raven_python_base(project_id: int) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "project": str(project_id),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "time_spent": None,
        "platform": "python",
        "server_name": "web-legacy-1",
        "modules": {"django": "1.4.22", "raven": "4.2.3"},
        "tags": {"site": "legacy"},
        "extra": {"sys.argv": ["manage.py", "runserver"]},
    }


def by_title(issues: list[dict]) -> dict[str, dict]:
    return {i["title"]: i for i in issues}


def test_raven_python_udp_and_raven_js_http_events_are_stored(kafka_broker, relay_factory,
                                                              backend_factory, tmp_path):
    _, backend, relay, project = start_pair(kafka_broker, relay_factory, backend_factory,
                                            f"sqlite:{tmp_path}/tern.db")
    key, pid = project["public_key"], int(project["project_id"])
    secret = "fedcba9876543210fedcba9876543210"

    exc = raven_python_base(pid) | {
        "level": 40,
        "message": "ZeroDivisionError: division by zero",
        "culprit": "shop.views in checkout",
        "sentry.interfaces.Exception": {
            "value": "division by zero",
            "type": "ZeroDivisionError",
            "module": "exceptions",
            "stacktrace": {"frames": [
                {"abs_path": "/srv/shop/views.py", "filename": "shop/views.py",
                 "module": "shop.views", "function": "checkout", "lineno": 42,
                 "context_line": "    return total / count",
                 "pre_context": ["def checkout(request):"], "post_context": [""],
                 "vars": {"total": "10", "count": "0"}},
            ]},
        },
    }
    msg = raven_python_base(pid) | {
        "level": 30,
        "message": "cache miss on shard 7",
        "sentry.interfaces.Message": {"message": "cache miss on %s", "params": ["shard 7"]},
    }
    query = raven_python_base(pid) | {
        "level": 40,
        "message": "SELECT * FROM orders WHERE id = 1",
        "sentry.interfaces.Query": {"query": "SELECT * FROM orders WHERE id = 1",
                                    "engine": "django.db.backends.postgresql_psycopg2"},
    }
    before = metric_sum(relay.metrics(), "tern_udp_datagrams_total")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for event in (exc, msg, query):
            s.sendto(raven_python_datagram(key, secret, event), ("127.0.0.1", relay.port))
    finally:
        s.close()

    js_id = uuid.uuid4().hex
    js = {
        "project": str(pid),
        "logger": "javascript",
        "platform": "javascript",
        "request": {"headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/70.0"},
                    "url": "https://shop.example/cart"},
        "exception": {"values": [{
            "type": "TypeError",
            "value": "Cannot read property 'price' of undefined",
            "stacktrace": {"frames": [
                {"filename": "https://shop.example/static/app.js", "lineno": 10, "colno": 3,
                 "function": "Cart.render", "in_app": True},
            ]},
        }]},
        "transaction": "https://shop.example/static/app.js",
        "culprit": "https://shop.example/static/app.js",
        "extra": {"session:duration": 1234},
        "event_id": js_id,
    }
    qs = urllib.parse.urlencode({"sentry_version": "7", "sentry_client": "raven-js/3.27.2",
                                 "sentry_key": key})
    status, _, body = relay.post(f"/api/{pid}/store/?{qs}", json.dumps(js).encode(),
                                 {"Content-Type": "text/plain;charset=UTF-8",
                                  "Origin": "https://shop.example"})
    assert status == 200, body[:300]
    assert json.loads(body)["id"] == js_id

    wait_until(lambda: metric_sum(relay.metrics(), "tern_udp_datagrams_total") >= before + 3,
               10, "three datagrams received")

    seen: list[dict] = []

    def four_issues():
        issues = backend.all_issues(project["slug"], unavailable_ok=True)
        seen[:] = issues or []
        return issues if issues and len(issues) >= 4 else None

    try:
        issues = by_title(wait_until(four_issues, 60, "four issues stored"))
    except AssertionError:
        m = {k: v for k, v in relay.metrics().items() if "udp" in k or "invalid" in k}
        raise AssertionError(f"stored: {[i['title'] for i in seen]}; relay: {m}")
    assert set(issues) == {
        "ZeroDivisionError: division by zero",
        "cache miss on shard 7",
        "SELECT * FROM orders WHERE id = 1",
        "TypeError: Cannot read property 'price' of undefined",
    }, sorted(issues)

    z = issues["ZeroDivisionError: division by zero"]
    assert z["level"] == "error"  # 40
    assert z["culprit"] == "shop.views in checkout"  # the client's culprit
    assert z["metadata"]["type"] == "ZeroDivisionError"
    assert z["metadata"]["function"] == "checkout"
    latest = backend.api(f"/api/0/issues/{z['id']}/events/latest/")["payload"]
    assert latest["event_id"] == exc["event_id"]
    # The legacy names are written under their current ones, in one value.
    assert "sentry.interfaces.Exception" not in latest
    assert latest["exception"]["values"][0]["type"] == "ZeroDivisionError"
    assert latest["exception"]["values"][0]["stacktrace"]["frames"][0]["function"] == "checkout"
    assert latest["sdk"] == {"name": "raven-python", "version": "4.2.3"}
    assert latest["server_name"] == "web-legacy-1"
    assert latest["modules"] == {"django": "1.4.22", "raven": "4.2.3"}
    # A naive timestamp is UTC; the event is not from the future or the past.
    assert abs(latest["timestamp"] - time.time()) < 120

    m = issues["cache miss on shard 7"]
    assert m["level"] == "warning"  # 30
    latest = backend.api(f"/api/0/issues/{m['id']}/events/latest/")["payload"]
    assert latest["logentry"]["message"] == "cache miss on %s"
    assert latest["logentry"]["params"] == ["shard 7"]
    assert "sentry.interfaces.Message" not in latest

    q = issues["SELECT * FROM orders WHERE id = 1"]
    assert q["level"] == "error"
    latest = backend.api(f"/api/0/issues/{q['id']}/events/latest/")["payload"]
    # Relay no longer reads the Query interface; it is kept as sent.
    assert latest["sentry.interfaces.Query"]["engine"] == "django.db.backends.postgresql_psycopg2"

    j = issues["TypeError: Cannot read property 'price' of undefined"]
    assert j["level"] == "error"
    assert j["culprit"] == "https://shop.example/static/app.js"
    latest = backend.api(f"/api/0/issues/{j['id']}/events/latest/")["payload"]
    assert latest["sdk"] == {"name": "raven-js", "version": "3.27.2"}
    # Sentry's default data scrubbing masks keys containing "session", and
    # so raven-js's own session:duration shows as [Filtered] there too.
    assert latest["extra"] == {"session:duration": "[Filtered]"}
    assert backend.stop() == 0
