"""Exactly once: N events from sentry-python give exactly N event messages
(distinct ids, the ones the SDK returned) and N accepted outcomes."""

from __future__ import annotations

import sentry_sdk

from conftest import CATEGORY_DEFAULT, OUTCOME_ACCEPTED, TOPIC_EVENTS, check_outcome
from sdk_python import sentry

N = 200


def test_200_events_exactly_once(relay_factory, kafka, project):
    relay = relay_factory([project])
    with sentry(relay.dsn(project), _experiments={"transport_compression_algo": "gzip"}) as t:
        ids = [sentry_sdk.capture_message(f"tern exactly-once {i}") for i in range(N)]
    assert len(set(ids)) == N
    statuses = [r.status for r in t.requests]
    assert len(statuses) == N and set(statuses) == {200}, statuses

    assert relay.stop() == 0
    c = kafka.collector([TOPIC_EVENTS, "outcomes"])
    c.drain()

    events = c.of(TOPIC_EVENTS, project.id)
    got = [m.value["event_id"] for m in events]
    assert len(got) == N, f"{len(got)} event messages for {N} events"
    assert set(got) == set(ids)
    for m in events:
        assert m.value["type"] == "event" and m.value["project_id"] == project.id

    outcomes = c.outcomes(project.id)
    assert len(outcomes) == N
    assert {o["event_id"] for o in outcomes} == set(ids)
    for o in outcomes:
        check_outcome(o, project, OUTCOME_ACCEPTED, CATEGORY_DEFAULT, o["event_id"])
