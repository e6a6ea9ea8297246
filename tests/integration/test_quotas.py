"""Quotas end to end: a project allowed 100 events per window gets 1000 from
the real sentry-python. Exactly 100 reach Kafka; the SDK is told to back off
(429 with Retry-After and X-Sentry-Rate-Limits) and does; and every one of
the 1000 events is accounted for in the outcomes: accepted, rate_limited
(the relay refused it) or client_discard (the SDK dropped it while backing
off, reported in its client report)."""

from __future__ import annotations

import time

import sentry_sdk

from conftest import OUTCOME_ACCEPTED, OUTCOME_RATE_LIMITED, TOPIC_EVENTS
from sdk_python import sentry

N = 1000
LIMIT = 100
# Windows are fixed and aligned to the epoch (docs/quotas.md): a run that
# crosses a boundary gets a second LIMIT. An hour makes that rare, and the
# tests check which case they are in rather than hope.
WINDOW = 3600


def windows_spanned(t0: float, t1: float) -> int:
    return int(t1) // WINDOW - int(t0) // WINDOW + 1
OUTCOME_CLIENT_DISCARD = 5


def test_limit_100_of_1000_events(relay_factory, kafka, project):
    project.quotas = [{
        "id": "events-per-minute",
        "categories": ["error", "default"],
        "scope": "project",
        "limit": LIMIT,
        "window": WINDOW,
        "reason_code": "it_quota",
    }]
    relay = relay_factory([project])
    t0 = time.time()
    with sentry(relay.dsn(project), send_client_reports=True) as t:
        for i in range(N):
            sentry_sdk.capture_message(f"tern quota {i}")
    limit = LIMIT * windows_spanned(t0, time.time())

    statuses = [r.status for r in t.requests]
    assert statuses.count(200) >= limit
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
    assert len(c.of(TOPIC_EVENTS, project.id)) == limit

    outcomes = c.outcomes(project.id)
    by = lambda kind: sum(o["quantity"] for o in outcomes if o["outcome"] == kind)  # noqa: E731
    accepted, rate_limited = by(OUTCOME_ACCEPTED), by(OUTCOME_RATE_LIMITED)
    client_discard = by(OUTCOME_CLIENT_DISCARD)
    assert accepted == limit
    assert rate_limited == len(event_requests) - limit
    assert all(o["reason"] == "it_quota" for o in outcomes if o["outcome"] == OUTCOME_RATE_LIMITED)
    assert accepted + rate_limited + client_discard == N, (accepted, rate_limited, client_discard)


class _NoBackoffTransport:
    """Mixed into the recording transport: keeps sending while limited, so
    every one of the 1000 events reaches the relay (the SDK still parses the
    limits it is given, which the test checks)."""

    def _check_disabled(self, category):  # noqa: D401 - sentry_sdk's hook
        return False


def test_limit_100_of_1000_events_every_one_sent(relay_factory, kafka, project):
    import sdk_python

    project.quotas = [{
        "id": "events-per-minute",
        "categories": ["error", "default"],
        "limit": LIMIT,
        "window": WINDOW,
        "reason_code": "it_quota",
    }]
    relay = relay_factory([project])

    class Transport(_NoBackoffTransport, sdk_python.RecordingTransport):
        pass

    t0 = time.time()
    with sentry(relay.dsn(project), transport=Transport) as t:
        for i in range(N):
            sentry_sdk.capture_message(f"tern quota all {i}")
    limit = LIMIT * windows_spanned(t0, time.time())
    # Sent and closed: the SDK understood the limits and would back off for
    # both categories.
    assert {str(k) for k in t._disabled_until} >= {"error", "default"}, t._disabled_until

    statuses = [r.status for r in t.requests]
    assert len(statuses) == N
    assert statuses.count(200) == limit
    assert statuses.count(429) == N - limit

    assert relay.stop() == 0
    c = kafka.collector([TOPIC_EVENTS, "outcomes"])
    c.drain()
    assert len(c.of(TOPIC_EVENTS, project.id)) == limit
    outcomes = c.outcomes(project.id)
    assert sum(o["quantity"] for o in outcomes if o["outcome"] == OUTCOME_ACCEPTED) == limit
    limited = [o for o in outcomes if o["outcome"] == OUTCOME_RATE_LIMITED]
    assert sum(o["quantity"] for o in limited) == N - limit
    assert all(o["reason"] == "it_quota" for o in limited)
