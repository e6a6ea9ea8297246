"""The harness itself: the session's real broker takes a produced message and
the Collector reads it back from the beginning (no relay involved)."""

import uuid

from confluent_kafka import Producer

from conftest import TOPIC_SESSIONS


def test_broker_round_trip(kafka):
    key = f"harness-{uuid.uuid4()}".encode()
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    p.produce(TOPIC_SESSIONS, value=b'{"harness":true}', key=key)
    assert p.flush(30) == 0
    c = kafka.collector([TOPIC_SESSIONS])
    c.wait_for(lambda c: [m for m in c.messages if m.key == key], "the produced message")
    c.drain()
    got = [m for m in c.messages if m.key == key]
    assert len(got) == 1
    assert got[0].raw == b'{"harness":true}'
    assert got[0].value == {"harness": True}  # session messages are JSON
