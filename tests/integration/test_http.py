"""Raw HTTP clients (no SDK) against tern-relay and a real Kafka broker: the
legacy store bodies, a relay-assigned event id, a body over the limit, and
readiness when no broker answers."""

from __future__ import annotations

import base64
import json
import uuid
import zlib

from conftest import (
    CATEGORY_DEFAULT,
    OUTCOME_ACCEPTED,
    TOPIC_EVENTS,
    Relay,
    check_event_message,
    check_outcome,
    free_port,
    wait_until,
)


def _auth(project) -> dict:
    return {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={project.key}, sentry_client=raven-js/3.27.0"}


def test_store_bodies_and_assigned_id(relay_factory, kafka, project):
    relay = relay_factory([project])
    sent = {}

    # Plain JSON, Content-Type set.
    eid = uuid.uuid4().hex
    status, _, body = relay.post(
        f"/api/{project.id}/store/",
        json.dumps({"event_id": eid, "message": "plain"}).encode(),
        {**_auth(project), "Content-Type": "application/json"},
    )
    assert (status, json.loads(body)) == (200, {"id": eid})
    sent[eid] = "plain"

    # base64(zlib(JSON)), the old raven body, no Content-Type.
    eid = uuid.uuid4().hex
    b = base64.b64encode(zlib.compress(json.dumps({"event_id": eid, "message": "b64zlib"}).encode()))
    status, _, body = relay.post(f"/api/{project.id}/store/", b, _auth(project))
    assert (status, json.loads(body)) == (200, {"id": eid})
    sent[eid] = "b64zlib"

    # Content-Encoding: deflate (zlib stream), auth in the query string.
    eid = uuid.uuid4().hex
    status, _, body = relay.post(
        f"/api/{project.id}/store/?sentry_key={project.key}&sentry_version=7",
        zlib.compress(json.dumps({"event_id": eid, "message": "deflate"}).encode()),
        {"Content-Encoding": "deflate", "Content-Type": "application/json"},
    )
    assert (status, json.loads(body)) == (200, {"id": eid})
    sent[eid] = "deflate"

    # No event_id: the relay assigns one and answers it.
    status, _, body = relay.post(
        f"/api/{project.id}/store/", json.dumps({"message": "no id"}).encode(), _auth(project)
    )
    assert status == 200
    eid = json.loads(body)["id"]
    assert len(eid) == 32 and int(eid, 16) >= 0
    sent[eid] = "no id"

    # Over max_event_size (1 MiB): 413, nothing produced.
    big_id = uuid.uuid4().hex
    status, _, body = relay.post(
        f"/api/{project.id}/store/",
        json.dumps({"event_id": big_id, "message": "big", "extra": {"x": "y" * (1100 * 1024)}}).encode(),
        _auth(project),
    )
    assert status == 413, (status, body)
    assert json.loads(body)["detail"]

    assert relay.stop() == 0
    c = kafka.collector()
    c.drain()
    events = c.of(TOPIC_EVENTS, project.id)
    assert sorted(m.value["event_id"] for m in events) == sorted(sent)
    for m in events:
        eid = m.value["event_id"]
        p = check_event_message(m, project, eid)
        text = (p.get("logentry") or {}).get("formatted") or (p.get("logentry") or {}).get("message") or p.get("message")
        assert text == sent[eid]
    outcomes = c.outcomes(project.id)
    assert sorted(o["event_id"] for o in outcomes) == sorted(sent)
    for o in outcomes:
        check_outcome(o, project, OUTCOME_ACCEPTED, CATEGORY_DEFAULT, o["event_id"])
    assert big_id not in {m.value.get("event_id") for m in c.messages if isinstance(m.value, dict)}


def test_not_ready_without_a_broker(tmp_path, project):
    # A bootstrap address where nothing listens: the relay starts and is
    # alive, but not ready (503): the producer sees no broker.
    relay = Relay(tmp_path / "relay", f"127.0.0.1:{free_port()}", [project])
    relay.spawn()
    try:

        def live():
            assert relay.proc.poll() is None, relay.log()
            try:
                return relay.get("/api/relay/healthcheck/live/")[0] == 200
            except OSError:
                return False

        wait_until(live, 30, "the relay to be live")
        status, _, body = relay.get("/api/relay/healthcheck/ready/")
        assert status == 503, (status, body)
        assert json.loads(body) == {"is_healthy": False}
    finally:
        relay.kill()
