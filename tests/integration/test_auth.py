"""Keys the projects file does not hold (or holds disabled, or for another
project) get 403 and put nothing on Kafka: no event and no outcome.

The relay rejects a request at the key check, before it knows which item the
body holds, so it emits no outcome for it (relay/pipeline/pipeline.cc:
fail_auth answers at once; outcomes are only written per item after auth).
A valid event sent afterwards by the same test is the only thing that may
reach Kafka for the project.
"""

from __future__ import annotations

import json
import uuid

import sentry_sdk

from conftest import (
    OUTCOME_ACCEPTED,
    TOPIC_EVENTS,
    Project,
    check_event_message,
    new_key,
)
from sdk_python import sentry


def _auth(key: str) -> str:
    return f"Sentry sentry_version=7, sentry_key={key}, sentry_client=tern-it/1.0"


def _event(msg: str) -> tuple[str, bytes]:
    eid = uuid.uuid4().hex
    return eid, json.dumps({"event_id": eid, "message": msg, "level": "error", "platform": "python"}).encode()


def _envelope(eid: str, event: bytes, **header) -> bytes:
    return (
        json.dumps({"event_id": eid, **header}).encode()
        + b"\n"
        + json.dumps({"type": "event", "length": len(event)}).encode()
        + b"\n"
        + event
        + b"\n"
    )


def test_unknown_disabled_and_foreign_keys_get_403(relay_factory, kafka, project):
    disabled = new_key()
    project.extra_keys[disabled] = {"status": "disabled"}
    other = Project(id=project.id + 1, key=new_key(), key_id=project.key_id + 1)
    relay = relay_factory([project, other])
    unknown = new_key()
    rejected_ids = []

    def expect_403(status, body):
        assert status == 403, (status, body)
        assert json.loads(body)["detail"]

    # Store endpoint, X-Sentry-Auth.
    for key in (unknown, disabled, other.key):
        eid, ev = _event("rejected store")
        rejected_ids.append(eid)
        status, _, body = relay.post(
            f"/api/{project.id}/store/", ev, {"X-Sentry-Auth": _auth(key), "Content-Type": "application/json"}
        )
        expect_403(status, body)

    # Envelope endpoint, query-string auth (as @sentry/node sends it).
    for key in (unknown, disabled, other.key):
        eid, ev = _event("rejected envelope")
        rejected_ids.append(eid)
        status, _, body = relay.post(
            f"/api/{project.id}/envelope/?sentry_key={key}&sentry_version=7",
            _envelope(eid, ev),
            {"Content-Type": "application/x-sentry-envelope"},
        )
        expect_403(status, body)

    # Envelope with only the envelope header's dsn.
    eid, ev = _event("rejected dsn header")
    rejected_ids.append(eid)
    env = _envelope(eid, ev, dsn=relay.dsn(project, unknown))
    status, _, body = relay.post(f"/api/{project.id}/envelope/", env, {"Content-Type": "application/x-sentry-envelope"})
    expect_403(status, body)

    # The real SDK with an unknown key sees 403 too.
    with sentry(relay.dsn(project, unknown)) as t:
        rejected_ids.append(sentry_sdk.capture_message("rejected sdk"))
    assert [r.status for r in t.requests] == [403]

    # A valid event afterwards: the only thing that may reach Kafka.
    good_id, ev = _event("accepted")
    status, _, body = relay.post(
        f"/api/{project.id}/store/", ev, {"X-Sentry-Auth": _auth(project.key), "Content-Type": "application/json"}
    )
    assert status == 200 and json.loads(body) == {"id": good_id}

    assert relay.stop() == 0
    c = kafka.collector()
    c.drain()
    mine = c.for_project(project.id)
    events = c.of(TOPIC_EVENTS, project.id)
    assert [m.value["event_id"] for m in events] == [good_id]
    check_event_message(events[0], project, good_id)
    outcomes = c.outcomes(project.id)
    assert [(o["outcome"], o["event_id"]) for o in outcomes] == [(OUTCOME_ACCEPTED, good_id)]
    assert len(mine) == 2, [(m.topic, m.value) for m in mine]
    assert c.for_project(other.id) == []
    seen = {m.value.get("event_id") for m in c.messages if isinstance(m.value, dict)}
    assert not seen & set(rejected_ids)


def test_missing_auth_is_401(relay_factory, kafka, project):
    relay = relay_factory([project])
    eid, ev = _event("no auth")
    status, _, body = relay.post(f"/api/{project.id}/store/", ev, {"Content-Type": "application/json"})
    assert status == 401, (status, body)
    assert json.loads(body)["detail"]
    good_id, ev = _event("accepted")
    status, _, body = relay.post(
        f"/api/{project.id}/store/", ev, {"X-Sentry-Auth": _auth(project.key), "Content-Type": "application/json"}
    )
    assert status == 200
    assert relay.stop() == 0
    c = kafka.collector()
    c.drain()
    mine = c.for_project(project.id)
    assert sorted((m.topic, m.value["event_id"]) for m in mine) == [
        ("ingest-events", good_id),
        ("outcomes", good_id),
    ], [(m.topic, m.value) for m in mine]
    assert eid not in {m.value.get("event_id") for m in c.messages if isinstance(m.value, dict)}
