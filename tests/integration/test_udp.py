"""Raw UDP datagrams (the legacy raven transport) against tern-relay and a real
Kafka broker.

A datagram is `<X-Sentry-Auth value>\\n\\n<body>` with a JSON or
base64(zlib(JSON)) body, or an envelope (starting with `{`) whose header's
`dsn` authenticates it. UDP has no answer: good datagrams are awaited on
Kafka, bad ones on their /metrics counter (tern_udp_dropped_total{reason}),
and nothing of a bad one may reach Kafka.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
import zlib

from conftest import (
    CATEGORY_ERROR,
    OUTCOME_ACCEPTED,
    TOPIC_EVENTS,
    check_event_message,
    check_outcome,
    metric_sum,
    new_key,
    wait_until,
)


def _auth(key: str) -> bytes:
    return f"Sentry sentry_version=7, sentry_key={key}, sentry_client=raven-python/6.10.0".encode()


def _event(msg: str) -> tuple[str, bytes]:
    eid = uuid.uuid4().hex
    ev = {
        "event_id": eid,
        "message": msg,
        "level": "error",
        "platform": "python",
        "exception": {"values": [{"type": "ValueError", "value": msg}]},
    }
    return eid, json.dumps(ev).encode()


def _send(port: int, *datagrams: bytes) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))
    finally:
        s.close()


def test_udp_good_datagrams_reach_kafka(relay_factory, kafka, project):
    relay = relay_factory([project])
    json_id, json_ev = _event("udp raw json")
    zlib_id, zlib_ev = _event("udp base64 zlib")
    env_id, env_ev = _event("udp envelope")
    envelope = (
        json.dumps({"event_id": env_id, "dsn": relay.dsn(project)}).encode()
        + b"\n"
        + json.dumps({"type": "event", "length": len(env_ev)}).encode()
        + b"\n"
        + env_ev
    )
    _send(
        relay.port,
        _auth(project.key) + b"\n\n" + json_ev,
        _auth(project.key) + b"\n\n" + base64.b64encode(zlib.compress(zlib_ev)),
        envelope,
    )
    ids = {json_id, zlib_id, env_id}
    c = kafka.collector()
    c.wait_for(
        lambda c: {m.value["event_id"] for m in c.of(TOPIC_EVENTS, project.id)} >= ids,
        "the three UDP events on ingest-events",
    )
    m = relay.metrics()
    assert metric_sum(m, "tern_udp_accepted_total") == 3
    assert metric_sum(m, "tern_udp_dropped_total") == 0

    assert relay.stop() == 0
    c.drain()
    events = c.of(TOPIC_EVENTS, project.id)
    assert sorted(m.value["event_id"] for m in events) == sorted(ids)
    for msg in events:
        eid = msg.value["event_id"]
        p = check_event_message(msg, project, eid)
        assert p["type"] == "error"
        assert p["exception"]["values"][0]["type"] == "ValueError"
    outcomes = c.outcomes(project.id)
    assert sorted(o["event_id"] for o in outcomes) == sorted(ids)
    for o in outcomes:
        check_outcome(o, project, OUTCOME_ACCEPTED, CATEGORY_ERROR, o["event_id"])


def test_udp_bad_datagrams_are_counted_not_produced(relay_factory, kafka, project):
    relay = relay_factory([project])
    unknown_id, unknown_ev = _event("unknown key")
    bad_auth_id, bad_auth_ev = _event("bad auth")
    bad = {
        # reason label -> datagrams
        "malformed": [b"garbage without a separator", b"\n\n{}"],
        "forbidden": [_auth(new_key()) + b"\n\n" + unknown_ev],
        "auth": [b"NotSentry nonsense\n\n" + bad_auth_ev],
        "invalid": [
            _auth(project.key) + b"\n\n" + b"\x00\x01 not json, not base64",
            b"{not an envelope",
        ],
    }
    for datagrams in bad.values():
        for d in datagrams:
            _send(relay.port, d)

    def counted():
        m = relay.metrics()
        return all(
            metric_sum(m, "tern_udp_dropped_total", reason=reason) == len(ds) for reason, ds in bad.items()
        ) and m

    m = wait_until(counted, 20, "the bad datagrams on /metrics")
    total = sum(len(ds) for ds in bad.values())
    assert metric_sum(m, "tern_udp_dropped_total") == total
    assert metric_sum(m, "tern_udp_accepted_total") == 0
    assert metric_sum(m, "tern_udp_datagrams_total") == total

    # One good datagram last: it must be the project's only traffic on Kafka.
    good_id, good_ev = _event("udp good after bad")
    _send(relay.port, _auth(project.key) + b"\n\n" + good_ev)
    c = kafka.collector()
    c.wait_for(lambda c: c.of(TOPIC_EVENTS, project.id), "the good datagram's event")
    assert relay.stop() == 0
    c.drain()
    mine = c.for_project(project.id)
    assert sorted((m.topic, m.value["event_id"]) for m in mine) == [
        ("ingest-events", good_id),
        ("outcomes", good_id),
    ], [(m.topic, m.value) for m in mine]
    seen = {m.value.get("event_id") for m in c.messages if isinstance(m.value, dict)}
    assert not seen & {unknown_id, bad_auth_id}
