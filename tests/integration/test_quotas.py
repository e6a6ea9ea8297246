"""Quotas end to end: a project allowed 100 events a minute gets 1000 from
the real sentry-python. Exactly 100 reach Kafka; the SDK is told to back off
(429 with Retry-After and X-Sentry-Rate-Limits) and does; and every one of
the 1000 events is accounted for in the outcomes: accepted, rate_limited
(the relay refused it) or client_discard (the SDK dropped it while backing
off, reported in its client report)."""

from __future__ import annotations

import sentry_sdk

from conftest import OUTCOME_ACCEPTED, OUTCOME_RATE_LIMITED, TOPIC_EVENTS
from sdk_python import sentry

N = 1000
LIMIT = 100
OUTCOME_CLIENT_DISCARD = 5


def test_limit_100_of_1000_events(relay_factory, kafka, project):
    project.quotas = [{
        "id": "events-per-minute",
        "categories": ["error", "default"],
        "scope": "project",
        "limit": LIMIT,
        "window": 60,
        "reason_code": "it_quota",
    }]
    relay = relay_factory([project])
    with sentry(relay.dsn(project), send_client_reports=True) as t:
        for i in range(N):
            sentry_sdk.capture_message(f"tern quota {i}")

    statuses = [r.status for r in t.requests]
    assert statuses.count(200) >= LIMIT
    limited = [r for r in t.requests if r.status == 429]
    assert limited, "the relay never answered 429"
    h = {k.lower(): v for k, v in limited[0].response_headers.items()}
    assert "retry-after" in h and int(h["retry-after"]) >= 1
    assert h["x-sentry-rate-limits"].endswith(":default;error:project:it_quota"), h
    # The SDK backed off: far fewer than N requests reached the relay.
    event_requests = [r for r in t.requests if "event" in [i.type for i in r.items]]
    assert len(event_requests) < N

    assert relay.stop() == 0
    c = kafka.collector([TOPIC_EVENTS, "outcomes"])
    c.drain()
    assert len(c.of(TOPIC_EVENTS, project.id)) == LIMIT

    outcomes = c.outcomes(project.id)
    by = lambda kind: sum(o["quantity"] for o in outcomes if o["outcome"] == kind)  # noqa: E731
    accepted, rate_limited = by(OUTCOME_ACCEPTED), by(OUTCOME_RATE_LIMITED)
    client_discard = by(OUTCOME_CLIENT_DISCARD)
    assert accepted == LIMIT
    assert rate_limited == len(event_requests) - LIMIT
    assert all(o["reason"] == "it_quota" for o in outcomes if o["outcome"] == OUTCOME_RATE_LIMITED)
    assert accepted + rate_limited + client_discard == N, (accepted, rate_limited, client_discard)
