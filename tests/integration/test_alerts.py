"""Alerts end to end: sentry-python → relay → real Kafka → tern-backend →
outbox → a real SMTP server (aiosmtpd with STARTTLS and AUTH required, a
self-signed certificate made with openssl) and real HTTP webhook receivers.

Each test runs its own relay, backend (SQLite store) and SMTP server
process. Rules are created through the API. Waiting is "until a condition
holds or a deadline passes"; where a test asserts that something did NOT
happen, it first waits until the backend says it has nothing left to do
(outbox depth 0, every notification in a final state), so the absence is
meaningful.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import http.server
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sentry_sdk

from conftest import RELAY_TOKEN, Topics, free_port, metric_sum, wait_until
from sdk_python import sentry

HERE = Path(__file__).resolve().parent
SMTP_USER = "tern-alerts"
SMTP_PASSWORD = "correct horse battery staple"
MAIL_TO = "oncall@example.com"
MAIL_FROM = "tern@alerts.example.org"
SMTP_DOWN_SECONDS = 60
MAIL_TIMEOUT = 60


# --- a real SMTP server ---------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with openssl."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return cert, key


class SmtpServer:
    """tests/integration/smtp_server.py as a process of its own."""

    def __init__(self, workdir: Path, cert: Path, key: Path):
        self.workdir = workdir
        self.maildir = workdir / "mail"
        self.cert, self.key = cert, key
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "SmtpServer":
        log = open(self.workdir / "smtp.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "smtp_server.py"), "--port", str(self.port),
             "--cert", str(self.cert), "--key", str(self.key), "--user", SMTP_USER,
             "--password", SMTP_PASSWORD, "--maildir", str(self.maildir)],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        line = self.proc.stdout.readline()
        assert line.strip() == b"ready", f"smtp server did not start: {line!r}"
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def messages(self) -> list[email.message.EmailMessage]:
        if not self.maildir.exists():
            return []
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in sorted(self.maildir.glob("*.eml"))]

    def wait_for(self, n: int, what: str, timeout: float = MAIL_TIMEOUT) -> list:
        return wait_until(lambda: (lambda m: m if len(m) >= n else None)(self.messages()),
                          timeout, what)


@pytest.fixture
def smtp_factory(tls_cert, tmp_path):
    servers: list[SmtpServer] = []

    def make() -> SmtpServer:
        d = tmp_path / f"smtp{len(servers)}"
        d.mkdir()
        s = SmtpServer(d, *tls_cert)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def text_part(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def html_part(msg) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


# --- a real HTTP webhook receiver -----------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from a
    script: each entry is a status code, or "hang" (read the request, then
    say nothing for `hang_seconds`); after the script, 200."""

    def __init__(self, script: list, hang_seconds: float = 5):
        self.script = list(script)
        self.hang_seconds = hang_seconds
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body, "time": time.monotonic()})
                    action = receiver.script.pop(0) if receiver.script else 200
                if action == "hang":
                    time.sleep(receiver.hang_seconds)
                    return
                self.send_response(action)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(script: list, hang_seconds: float = 5) -> Receiver:
        r = Receiver(script, hang_seconds)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


# --- the stack -------------------------------------------------------------------


def mail_config(smtp: SmtpServer) -> dict:
    return {
        "host": "127.0.0.1", "port": smtp.port, "username": SMTP_USER,
        "password_env": "TERN_IT_SMTP_PASSWORD", "use_tls": True, "from": MAIL_FROM,
        "timeout": "3s", "ca_file": str(smtp.cert),
    }


ALERTS = {
    "poll_interval": "100ms", "initial_backoff": "500ms", "max_backoff": "3s",
    "max_attempts": 200, "webhook_timeout": "1s", "base_url": "http://tern.example.org:9000",
}


def start_stack(kafka_broker, relay_factory, backend_factory, smtp: SmtpServer, tmp_path,
                monkeypatch, **alerts):
    """A backend with project "e2e", alerts sent through `smtp` (which need
    not be running), and a relay fetching its projects from the backend."""
    monkeypatch.setenv("TERN_IT_SMTP_PASSWORD", SMTP_PASSWORD)
    topics = Topics(kafka_broker)
    backend = backend_factory(f"sqlite:{tmp_path / 'tern.db'}", topics.backend_kafka(kafka_broker),
                              mail=mail_config(smtp), alerts={**ALERTS, **alerts})
    project = backend.create_project("e2e")
    backend.start()
    relay = relay_factory(
        [], kafka=topics.relay_kafka(kafka_broker),
        projects_source={"file": None, "upstream": {"url": backend.base, "token": RELAY_TOKEN}})
    return backend, relay, project


def dsn(relay, project) -> str:
    return f"http://{project['public_key']}@127.0.0.1:{relay.port}/{project['project_id']}"


def add_rule(backend, rule: dict, project: str = "e2e") -> dict:
    status, _, body = backend.request("POST", f"/api/0/projects/{project}/rules/", rule)
    assert status == 201, body
    return json.loads(body)


def notifications(backend, project: str = "e2e", **query) -> list[dict]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return backend.api(f"/api/0/projects/{project}/notifications/?{q}")


def settled(backend) -> bool:
    """Nothing pending or being sent: every notification is final."""
    rows = notifications(backend)
    return all(r["status"] in ("sent", "failed", "suppressed") for r in rows)


def divide():
    return 1 / 0


def capture_division():
    try:
        divide()
    except ZeroDivisionError:
        return sentry_sdk.capture_exception()


def issue_by_title(backend, prefix: str) -> dict | None:
    for i in backend.all_issues("e2e"):
        if i["title"].startswith(prefix):
            return i
    return None


def wait_issue_count(backend, prefix: str, count: int, timeout: float = 60) -> dict:
    return wait_until(lambda: (lambda i: i if i and int(i["count"]) >= count else None)(
        issue_by_title(backend, prefix)), timeout, f"issue {prefix!r} with {count} events")


EMAIL_RULE = {"targets": [{"type": "email", "to": [MAIL_TO]}]}
# Distinct words, not numbers: grouping parameterizes numbers in messages,
# so "issue 1" and "issue 2" would be one issue.
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


# --- tests -------------------------------------------------------------------------


def test_new_issue_mail_then_cooldown_then_regression(kafka_broker, relay_factory, backend_factory,
                                                      smtp_factory, tmp_path, monkeypatch):
    smtp = smtp_factory().start()
    backend, relay, project = start_stack(kafka_broker, relay_factory, backend_factory, smtp,
                                          tmp_path, monkeypatch)
    add_rule(backend, {"name": "New errors", "trigger": "new_issue", **EMAIL_RULE})
    add_rule(backend, {"name": "Back again", "trigger": "regression", **EMAIL_RULE})

    with sentry(dsn(relay, project)):
        event_id = capture_division()
    issue = wait_issue_count(backend, "ZeroDivisionError", 1)
    [mail] = smtp.wait_for(1, "the new-issue mail")

    assert mail["Subject"] == "[Tern] New issue in e2e: ZeroDivisionError: division by zero"
    assert mail["From"] == MAIL_FROM and mail["To"] == MAIL_TO
    assert mail["X-Test-Rcpt-To"] == MAIL_TO and mail["X-Test-Mail-From"] == MAIL_FROM
    assert mail["X-Test-Tls"] == "yes" and mail["X-Test-Authenticated"] == "yes"
    assert mail["Message-ID"].startswith("<tern.") and mail["Message-ID"].endswith("@alerts.example.org>")
    assert mail.get_content_type() == "multipart/alternative"
    url = f"http://tern.example.org:9000/issues/{issue['id']}/"
    text, html = text_part(mail), html_part(mail)
    assert f"{issue['shortId']}: ZeroDivisionError: division by zero" in text
    assert f"Latest event: {event_id}" in text
    assert f"Issue: {url}" in text and 'alert rule "New errors"' in text
    assert f'<a href="{url}">' in html and "ZeroDivisionError" in html

    # 500 more events of the same issue: stored, but no second mail.
    with sentry(dsn(relay, project)):
        for _ in range(500):
            capture_division()
    wait_issue_count(backend, "ZeroDivisionError", 501, timeout=120)
    wait_until(lambda: settled(backend), 30, "every notification final")
    assert len(smtp.messages()) == 1
    rows = notifications(backend)
    assert [(r["trigger"], r["status"], r["issue"]) for r in rows] == [("new_issue", "sent", issue["id"])]

    # Resolved, then seen again: one regression mail.
    status, _, body = backend.request("PUT", f"/api/0/issues/{issue['id']}/", {"status": "resolved"})
    assert status == 200 and json.loads(body)["status"] == "resolved"
    with sentry(dsn(relay, project)):
        regression_id = capture_division()
    mails = smtp.wait_for(2, "the regression mail")
    wait_until(lambda: settled(backend), 30, "every notification final")
    assert len(smtp.messages()) == 2
    regression = mails[1]
    assert regression["Subject"] == "[Tern] Regression in e2e: ZeroDivisionError: division by zero"
    assert f"Latest event: {regression_id}" in text_part(regression)
    assert regression["Message-ID"] != mail["Message-ID"]
    assert backend.api(f"/api/0/issues/{issue['id']}/")["status"] == "unresolved"
    # The issue's notifications: both, newest first.
    rows = notifications(backend, issue=issue["id"])
    assert [(r["trigger"], r["status"]) for r in rows] == [("regression", "sent"), ("new_issue", "sent")]
    m = backend.metrics()
    assert metric_sum(m, "tern_backend_alerts_sent_total", target="email") == 2
    assert metric_sum(m, "tern_backend_alerts_queued_total", target="email") == 2
    assert metric_sum(m, "tern_backend_alerts_outbox_depth") == 0


def test_frequency_rule_fires_once_across_batches(kafka_broker, relay_factory, backend_factory,
                                                  smtp_factory, tmp_path, monkeypatch):
    smtp = smtp_factory().start()
    backend, relay, project = start_stack(kafka_broker, relay_factory, backend_factory, smtp,
                                          tmp_path, monkeypatch)
    add_rule(backend, {"name": "Spike", "trigger": "frequency",
                       "frequency": {"count": 20, "minutes": 10}, **EMAIL_RULE})

    # 15 events: under the threshold, in batches of their own.
    with sentry(dsn(relay, project)):
        for _ in range(15):
            capture_division()
    wait_issue_count(backend, "ZeroDivisionError", 15)
    wait_until(lambda: settled(backend), 30, "every notification final")
    assert smtp.messages() == [] and notifications(backend) == []

    # 10 more, later batches: 25 in the window > 20 → exactly one mail.
    with sentry(dsn(relay, project)):
        for _ in range(10):
            capture_division()
    [mail] = smtp.wait_for(1, "the frequency mail")
    assert mail["Subject"] == "[Tern] Frequent issue in e2e: ZeroDivisionError: division by zero"

    # 40 more inside the cooldown: nothing new; info-level messages never
    # pass the default level filter (>= error).
    with sentry(dsn(relay, project)):
        for _ in range(40):
            capture_division()
        for _ in range(30):
            sentry_sdk.capture_message("just chatty", level="info")
    wait_issue_count(backend, "ZeroDivisionError", 65)
    wait_issue_count(backend, "just chatty", 30)
    wait_until(lambda: settled(backend), 30, "every notification final")
    assert len(smtp.messages()) == 1
    assert [(r["trigger"], r["status"]) for r in notifications(backend)] == [("frequency", "sent")]


def test_frequency_of_distinct_users(kafka_broker, relay_factory, backend_factory, smtp_factory,
                                     tmp_path, monkeypatch):
    smtp = smtp_factory().start()
    backend, relay, project = start_stack(kafka_broker, relay_factory, backend_factory, smtp,
                                          tmp_path, monkeypatch)
    add_rule(backend, {"name": "Many users", "trigger": "frequency",
                       "frequency": {"count": 2, "minutes": 10, "of": "users"}, **EMAIL_RULE})
    # 30 events of one user and 10 without one: one user is not above 2.
    with sentry(dsn(relay, project)):
        sentry_sdk.set_user({"id": "u-1"})
        for _ in range(30):
            capture_division()
        sentry_sdk.set_user(None)
        for _ in range(10):
            capture_division()
    wait_issue_count(backend, "ZeroDivisionError", 40)
    wait_until(lambda: settled(backend), 30, "every notification final")
    assert smtp.messages() == [] and notifications(backend) == []
    # Two more users (by id and by email): three > 2. (An IP alone would not
    # do here: the relay scrubs IP addresses by default.)
    with sentry(dsn(relay, project)):
        sentry_sdk.set_user({"id": "u-2"})
        capture_division()
        sentry_sdk.set_user({"email": "three@example.org"})
        capture_division()
    [mail] = smtp.wait_for(1, "the distinct-users mail")
    assert mail["Subject"] == "[Tern] Frequent issue in e2e: ZeroDivisionError: division by zero"
    wait_issue_count(backend, "ZeroDivisionError", 42)
    wait_until(lambda: settled(backend), 30, "every notification final")
    assert len(smtp.messages()) == 1


def test_smtp_down_for_a_minute_mails_arrive_after_none_twice(kafka_broker, relay_factory,
                                                              backend_factory, smtp_factory,
                                                              tmp_path, monkeypatch):
    smtp = smtp_factory()  # not started: connections are refused
    backend, relay, project = start_stack(kafka_broker, relay_factory, backend_factory, smtp,
                                          tmp_path, monkeypatch)
    add_rule(backend, {"name": "New errors", "trigger": "new_issue", **EMAIL_RULE})
    down_since = time.monotonic()
    with sentry(dsn(relay, project)):
        for w in WORDS[:5]:
            sentry_sdk.capture_message(f"outage issue {w}", level="error")
    wait_until(lambda: len(notifications(backend)) == 5, 60, "5 queued notifications")
    wait_until(lambda: metric_sum(backend.metrics(), "tern_backend_alerts_retried_total", target="email") >= 10,
               60, "retries while the server is down")
    assert smtp.messages() == []
    rows = notifications(backend)
    assert all(r["status"] in ("pending", "sending") for r in rows), rows
    assert any("smtp" in r["lastError"] for r in rows), rows

    time.sleep(max(0.0, SMTP_DOWN_SECONDS - (time.monotonic() - down_since)))
    smtp.start()
    mails = smtp.wait_for(5, "the 5 mails after the server returned")
    wait_until(lambda: settled(backend), 60, "every notification final")
    subjects = sorted(m["Subject"] for m in smtp.messages())
    assert subjects == sorted(f"[Tern] New issue in e2e: outage issue {w}" for w in WORDS[:5])
    assert len({m["Message-ID"] for m in mails}) == 5
    assert all(r["status"] == "sent" and r["attempts"] > 1 for r in notifications(backend))


def test_kill_9_with_a_full_outbox_sends_everything_after_restart(kafka_broker, relay_factory,
                                                                   backend_factory, smtp_factory,
                                                                   tmp_path, monkeypatch):
    smtp = smtp_factory()
    backend, relay, project = start_stack(kafka_broker, relay_factory, backend_factory, smtp,
                                          tmp_path, monkeypatch)
    add_rule(backend, {"name": "New errors", "trigger": "new_issue", **EMAIL_RULE})
    with sentry(dsn(relay, project)):
        for w in WORDS:
            sentry_sdk.capture_message(f"crash issue {w}", level="fatal")
    wait_until(lambda: len(notifications(backend)) == 8, 60, "8 queued notifications")
    wait_until(lambda: all(r["attempts"] >= 1 for r in notifications(backend)), 30, "first attempts")
    backend.kill()  # SIGKILL with every notification still unsent

    smtp.start()
    backend.start()
    wait_until(lambda: len({m["Subject"] for m in smtp.messages()}) == 8, MAIL_TIMEOUT,
               "all 8 mails after the restart")
    wait_until(lambda: settled(backend), 60, "every notification final")
    subjects = [m["Subject"] for m in smtp.messages()]
    for w in WORDS:
        # docs/alerts.md: a crash between sending and marking may send one
        # duplicate; never more.
        assert 1 <= subjects.count(f"[Tern] New issue in e2e: crash issue {w}") <= 2, subjects
    assert all(r["status"] == "sent" for r in notifications(backend))


def test_webhook_500_then_200_is_retried_and_signed(kafka_broker, relay_factory, backend_factory,
                                                    smtp_factory, receivers, tmp_path, monkeypatch):
    smtp = smtp_factory()
    backend, relay, project = start_stack(kafka_broker, relay_factory, backend_factory, smtp,
                                          tmp_path, monkeypatch)
    generic = receivers([500, 200])
    slack = receivers([])
    add_rule(backend, {"name": "Hooks", "trigger": "new_issue", "targets": [
        {"type": "webhook", "url": generic.url + "/hook", "secret": "s3cr3t"},
        {"type": "webhook", "format": "slack", "url": slack.url + "/services/T/B/X"},
    ]})
    with sentry(dsn(relay, project)):
        event_id = capture_division()
    wait_until(lambda: len(generic.requests) == 2 and len(slack.requests) == 1, 30,
               "two calls of the generic hook and one of slack's")
    wait_until(lambda: settled(backend), 30, "every notification final")
    issue = wait_issue_count(backend, "ZeroDivisionError", 1)

    first, second = generic.requests
    assert first["body"] == second["body"]
    assert second["time"] - first["time"] >= 0.4  # the backoff
    for r in generic.requests:
        sig = hmac.new(b"s3cr3t", r["body"], hashlib.sha256).hexdigest()
        assert r["headers"]["X-Tern-Signature"] == f"sha256={sig}"
        assert r["headers"]["Content-Type"] == "application/json"
    body = json.loads(first["body"])
    assert body["action"] == "new_issue" and body["project"] == "e2e"
    assert body["id"] == issue["id"] and body["shortId"] == issue["shortId"]
    assert body["title"] == "ZeroDivisionError: division by zero"
    assert body["level"] == "error" and body["latestEventId"] == event_id
    assert body["url"] == f"http://tern.example.org:9000/issues/{issue['id']}/"
    assert body["firstSeen"] == issue["firstSeen"]
    text = json.loads(slack.requests[0]["body"])["text"]
    assert "New issue in e2e" in text and f"|{issue['shortId']}>" in text
    assert "X-Tern-Signature" not in slack.requests[0]["headers"]

    rows = {r["targetType"]: r for r in notifications(backend)}
    assert rows["webhook"]["status"] == "sent" and rows["webhook"]["attempts"] == 2
    assert rows["slack"]["status"] == "sent" and rows["slack"]["attempts"] == 1
    assert "HTTP 500" in backend.log()
    m = backend.metrics()
    assert metric_sum(m, "tern_backend_alerts_retried_total", target="webhook") == 1
    assert metric_sum(m, "tern_backend_alerts_sent_total", target="webhook") == 1
    assert metric_sum(m, "tern_backend_alerts_sent_total", target="slack") == 1


def test_hanging_webhook_times_out_and_is_retried(kafka_broker, relay_factory, backend_factory,
                                                  smtp_factory, receivers, tmp_path, monkeypatch):
    smtp = smtp_factory()
    backend, relay, project = start_stack(kafka_broker, relay_factory, backend_factory, smtp,
                                          tmp_path, monkeypatch)
    hook = receivers(["hang"], hang_seconds=5)
    add_rule(backend, {"name": "Hook", "trigger": "new_issue",
                       "targets": [{"type": "webhook", "format": "feishu", "url": hook.url + "/bot"}]})
    with sentry(dsn(relay, project)):
        capture_division()
    wait_until(lambda: len(hook.requests) == 2, 30, "a second call after the timeout")
    wait_until(lambda: settled(backend), 30, "every notification final")
    first, second = hook.requests
    # webhook_timeout is 1s: the retry came long before the 5s hang ended.
    assert 1.0 <= second["time"] - first["time"] < 4.5
    assert json.loads(second["body"])["msg_type"] == "text"
    [row] = notifications(backend)
    assert row["status"] == "sent" and row["attempts"] == 2
    assert "Timeout" in backend.log() or "timed out" in backend.log()


def test_rules_api_validates_and_round_trips(kafka_broker, relay_factory, backend_factory,
                                             smtp_factory, tmp_path, monkeypatch):
    smtp = smtp_factory()
    backend, _, _ = start_stack(kafka_broker, relay_factory, backend_factory, smtp, tmp_path,
                                monkeypatch)
    base = "/api/0/projects/e2e/rules/"

    def post_raw(body: bytes):
        import urllib.request
        req = urllib.request.Request(backend.base + base, data=body, method="POST", headers={
            "Authorization": "Bearer it-api-token-0123456789", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    status, body = post_raw(b"{not json")
    assert status == 400 and json.loads(body)["detail"].startswith("body: not JSON")
    bad = [
        ({"trigger": "new_issue", **EMAIL_RULE}, "name: required"),
        ({"name": "x", "trigger": "sometimes", **EMAIL_RULE}, "trigger: expected"),
        ({"name": "x", "trigger": "new_issue", "targets": [{"type": "webhook", "url": "ftp://h/x"}]},
         "targets[0].url: expected an http:// or https:// URL"),
        ({"name": "x", "trigger": "new_issue", "targets": [{"type": "webhook", "url": "http:///x"}]},
         "targets[0].url: expected a URL with a host"),
        ({"name": "x", "trigger": "new_issue", "targets": [{"type": "email", "to": ["a@b", "nope"]}]},
         "targets[0].to[1]: expected an address"),
        ({"name": "x", "trigger": "frequency", **EMAIL_RULE}, "frequency: required"),
        ({"name": "x", "trigger": "new_issue", "colour": "red", **EMAIL_RULE}, "colour: unknown field"),
    ]
    for rule, detail in bad:
        status, _, body = backend.request("POST", base, rule)
        assert status == 400, (rule, body)
        assert json.loads(body)["detail"].startswith(detail), (rule, body)
    assert backend.api(base) == []

    created = add_rule(backend, {"name": "New errors", "trigger": "new_issue",
                                 "filters": {"environment": "production", "release": "1.*"},
                                 **EMAIL_RULE})
    assert created["name"] == "New errors" and created["project"] == "e2e"
    assert created["filters"] == {"environment": "production", "release": "1.*"}
    rid = created["id"]
    status, _, body = backend.request("PUT", f"{base}{rid}/", {**created, "enabled": False})
    assert status == 200 and json.loads(body)["enabled"] is False
    status, _, body = backend.request("PUT", f"{base}{rid}/", {"name": "x", "trigger": "new_issue",
                                                               "targets": []})
    assert status == 400 and json.loads(body)["detail"].startswith("targets: expected a list")
    assert [r["id"] for r in backend.api(base)] == [rid]
    r = backend.cli("alert", "list")
    assert r.returncode == 0 and f'e2e {rid} new_issue disabled "New errors" email:{MAIL_TO}' in r.stdout
    status, _, _ = backend.request("DELETE", f"{base}{rid}/")
    assert status == 204
    assert backend.request("GET", f"{base}{rid}/")[0] == 404
    assert backend.api(base) == []


def test_cli_alert_test_exits_0_only_when_accepted(kafka_broker, backend_factory, smtp_factory,
                                                   receivers, tmp_path, monkeypatch):
    monkeypatch.setenv("TERN_IT_SMTP_PASSWORD", SMTP_PASSWORD)
    smtp = smtp_factory()
    topics = Topics(kafka_broker)
    backend = backend_factory(f"sqlite:{tmp_path / 'tern.db'}", topics.backend_kafka(kafka_broker),
                              mail=mail_config(smtp), alerts=ALERTS)
    backend.create_project("e2e")

    r = backend.cli("alert", "test", "--project", "e2e", "--target", f"email:{MAIL_TO}")
    assert r.returncode == 1 and r.stdout.startswith(f"failed: email to {MAIL_TO}: smtp"), r
    smtp.start()
    r = backend.cli("alert", "test", "--project", "e2e", "--target", f"email:{MAIL_TO}")
    assert r.returncode == 0 and r.stdout == f"sent: email to {MAIL_TO}\n", r
    [mail] = smtp.wait_for(1, "the test mail")
    assert mail["Subject"] == "[Tern] Test notification for e2e"
    assert SMTP_PASSWORD not in r.stdout + r.stderr

    monkeypatch.setenv("TERN_IT_SMTP_PASSWORD", "wrong")
    r = backend.cli("alert", "test", "--project", "e2e", "--target", f"email:{MAIL_TO}")
    assert r.returncode == 1 and "failed: email" in r.stdout and "wrong" not in r.stdout

    down = receivers([503])
    r = backend.cli("alert", "test", "--project", "e2e", "--target", f"webhook:{down.url}/h")
    assert r.returncode == 1 and "HTTP 503" in r.stdout, r
    up = receivers([200])
    r = backend.cli("alert", "test", "--project", "e2e", "--target", f"webhook:{up.url}/h")
    assert r.returncode == 0 and r.stdout == f"sent: webhook to {up.url}/h\n", r
    assert json.loads(up.requests[0]["body"])["action"] == "test"
    r = backend.cli("alert", "test", "--project", "e2e", "--target", "webhook:ftp://x")
    assert r.returncode == 1 and "--target: expected an http:// or https:// URL" in r.stderr
