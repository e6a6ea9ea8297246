"""The real @sentry/node SDK (tests/sdk/send.js, run with node) against
tern-relay and a real Kafka broker.

@sentry/node streams every envelope (Transfer-Encoding: chunked, no
Content-Length), authenticates with ?sentry_key= in the query string, sends no
Content-Type, and gzips bodies above 32 KiB. A small TCP proxy between the SDK
and the relay records the request heads, so the test proves the relay was fed
exactly that.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import uuid

import pytest

from conftest import (
    CATEGORY_DEFAULT,
    CATEGORY_ERROR,
    CATEGORY_SESSION,
    OUTCOME_ACCEPTED,
    REPO,
    TOPIC_ATTACHMENTS,
    TOPIC_EVENTS,
    TOPIC_SESSIONS,
    TOPIC_TRANSACTIONS,
    check_event_message,
    check_outcome,
    session_message_tuples,
)

SDK_DIR = REPO / "tests" / "sdk"


class RecordingProxy:
    """Forwards 127.0.0.1:<port> to the relay and keeps the bytes each client
    connection sent. Stops (closing everything) on close()."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.sent: list[bytearray] = []
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            buf = bytearray()
            with self._lock:
                self.sent.append(buf)
                self._socks += [client, upstream]
            for src, dst, rec in ((client, upstream, buf), (upstream, client, None)):
                t = threading.Thread(target=self._pump, args=(src, dst, rec), daemon=True)
                t.start()
                self._threads.append(t)

    @staticmethod
    def _pump(src, dst, rec):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if rec is not None:
                    rec += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def request_heads(self) -> list[str]:
        """The head of every request seen (all connections, in order)."""
        heads = []
        with self._lock:
            streams = [bytes(b) for b in self.sent]
        for data in streams:
            pos = 0
            while True:
                i = data.find(b"POST ", pos)
                if i < 0:
                    break
                end = data.find(b"\r\n\r\n", i)
                if end < 0:
                    break
                heads.append(data[i:end].decode("latin-1"))
                pos = end + 4
        return heads

    def close(self):
        self.listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass


def _node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (scripts/deps.sh installs nodejs)")
    if not (SDK_DIR / "node_modules" / "@sentry" / "node").is_dir():
        pytest.fail("tests/sdk/node_modules is missing: run scripts/integration.sh (npm ci)")
    return node


def test_sentry_node_exception_message_session(relay_factory, kafka, project):
    node = _node()
    relay = relay_factory([project])
    proxy = RecordingProxy(relay.port)
    release = f"tern-node@{uuid.uuid4().hex[:8]}"
    try:
        env = dict(os.environ)
        env.update(
            SENTRY_DSN=f"http://{project.key}@127.0.0.1:{proxy.port}/{project.id}",
            TERN_RELEASE=release,
        )
        r = subprocess.run(
            [node, str(SDK_DIR / "send.js")],
            cwd=SDK_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, f"send.js failed:\n{r.stdout}\n{r.stderr}"
        out = json.loads(r.stdout.strip().splitlines()[-1])
        heads = proxy.request_heads()
    finally:
        proxy.close()

    sent = out["sent"]
    assert sent and all(s["status"] == 200 for s in sent), sent
    items = [i for s in sent for i in s["items"]]
    assert items.count("event") == 3
    n_sessions = items.count("session")
    assert n_sessions >= 1
    assert len(items) == 3 + n_sessions, items

    # What the relay was fed: chunked bodies, query-string auth, one gzip.
    assert len(heads) == len(sent), heads
    lower = [h.lower() for h in heads]
    assert all("transfer-encoding: chunked" in h for h in lower), heads
    assert not any("content-length:" in h for h in lower), heads
    assert all(h.startswith(f"post /api/{project.id}/envelope/?") for h in lower), heads
    assert all(f"sentry_key={project.key}" in h for h in lower), heads
    assert sum("content-encoding: gzip" in h for h in lower) == 1, heads

    assert relay.stop() == 0, relay.log()[-4000:]
    c = kafka.collector()
    c.drain()

    events = c.of(TOPIC_EVENTS, project.id)
    ids = {out["exception_id"], out["message_id"], out["big_id"]}
    assert sorted(m.value["event_id"] for m in events) == sorted(ids)
    by_id = {m.value["event_id"]: m for m in events}

    p = check_event_message(by_id[out["exception_id"]], project, out["exception_id"])
    assert p["type"] == "error"
    assert p["exception"]["values"][-1]["value"] == "tern node integration error"
    assert p["release"] == release
    assert p["sdk"]["name"] == "sentry.javascript.node"

    p = check_event_message(by_id[out["message_id"]], project, out["message_id"])
    assert p["type"] == "default"
    assert p["level"] == "warning"

    p = check_event_message(by_id[out["big_id"]], project, out["big_id"])
    assert len(p["extra"]["blob"]) == 40000

    sessions = c.of(TOPIC_SESSIONS, project.id)
    assert len(sessions) == n_sessions
    tuples = session_message_tuples(sessions)
    assert all(t[4] == release for t in tuples), tuples
    assert all(t[2] == 1 for t in tuples), tuples
    assert tuples[-1][1] in ("exited", "crashed", "abnormal")

    outcomes = c.outcomes(project.id)
    assert len(outcomes) == 3 + n_sessions, outcomes
    by_eid = {o["event_id"]: o for o in outcomes if o["event_id"]}
    check_outcome(by_eid[out["exception_id"]], project, OUTCOME_ACCEPTED, CATEGORY_ERROR, out["exception_id"])
    check_outcome(by_eid[out["message_id"]], project, OUTCOME_ACCEPTED, CATEGORY_DEFAULT, out["message_id"])
    check_outcome(by_eid[out["big_id"]], project, OUTCOME_ACCEPTED, CATEGORY_ERROR, out["big_id"])
    session_outcomes = [o for o in outcomes if o["category"] == CATEGORY_SESSION]
    assert len(session_outcomes) == n_sessions
    for o in session_outcomes:
        check_outcome(o, project, OUTCOME_ACCEPTED, CATEGORY_SESSION, None)

    for topic in (TOPIC_ATTACHMENTS, TOPIC_TRANSACTIONS):
        assert c.of(topic, project.id) == [], topic
