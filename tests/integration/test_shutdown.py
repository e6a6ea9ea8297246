"""SIGTERM: the relay exits 0, and every event it answered 200 is on Kafka.

linger_ms is long, so events answered before the signal are still in the
producer's queue when it arrives: only the shutdown flush gets them out.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid

from conftest import TOPIC_EVENTS, wait_until


def test_sigterm_delivers_everything_answered(relay_factory, kafka, project):
    relay = relay_factory([project], producer={"linger_ms": 2000})
    auth = f"Sentry sentry_version=7, sentry_key={project.key}, sentry_client=tern-it/1.0"
    answered: list[str] = []
    refused: list[str] = []
    stop_sending = threading.Event()
    signalled = threading.Event()

    def sender():
        conn = None
        while not stop_sending.is_set():
            eid = uuid.uuid4().hex
            body = json.dumps({"event_id": eid, "message": "before sigterm", "level": "error"})
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=30)
                conn.request(
                    "POST",
                    f"/api/{project.id}/store/",
                    body=body,
                    headers={"X-Sentry-Auth": auth, "Content-Type": "application/json"},
                )
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    answered.append(eid)
                else:
                    refused.append(eid)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                # Listener closed or connection dropped during shutdown.
                refused.append(eid)
                if conn is not None:
                    conn.close()
                conn = None
                if signalled.is_set():
                    return  # the listener is closed: we are done

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    wait_until(lambda: len(answered) >= 100, 30, "100 answered events")
    signalled.set()
    code = relay.stop()
    stop_sending.set()
    t.join(timeout=30)
    assert code == 0, relay.log()[-4000:]

    print(f"answered 200: {len(answered)}, refused or cut off: {len(refused)}")
    c = kafka.collector([TOPIC_EVENTS])
    c.drain()
    got = [m.value["event_id"] for m in c.of(TOPIC_EVENTS, project.id)]
    assert len(got) == len(set(got)), "duplicate event messages"
    missing = set(answered) - set(got)
    assert not missing, f"{len(missing)} of {len(answered)} events answered 200 are not on Kafka"
