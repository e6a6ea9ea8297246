"""The real sentry-python SDK against tern-relay and a real Kafka broker.

Each test sends through the SDK, stops the relay (SIGTERM flushes its
producer), reads every topic to its end and checks that each item the SDK sent
reached the right topic exactly once, in Sentry's shape, with one `accepted`
outcome per item.
"""

from __future__ import annotations

import gzip
import json
import uuid

import brotli
import sentry_sdk

from conftest import (
    CATEGORY_ATTACHMENT,
    CATEGORY_DEFAULT,
    CATEGORY_ERROR,
    CATEGORY_SESSION,
    CATEGORY_TRANSACTION,
    OUTCOME_ACCEPTED,
    TOPIC_ATTACHMENTS,
    TOPIC_EVENTS,
    TOPIC_SESSIONS,
    expected_session_messages,
    session_message_tuples,
    TOPIC_TRANSACTIONS,
    check_event_message,
    check_outcome,
)
from sdk_python import sentry


def _finish(relay, kafka):
    """Stops the relay (must exit 0) and returns a collector read to the end."""
    assert relay.stop() == 0, relay.log()[-4000:]
    c = kafka.collector()
    c.drain()
    return c


def _raise_and_capture(msg: str) -> str:
    try:
        raise ZeroDivisionError(msg)
    except ZeroDivisionError:
        return sentry_sdk.capture_exception()


def test_exception_and_message_gzip(relay_factory, kafka, project):
    relay = relay_factory([project])
    with sentry(relay.dsn(project), _experiments={"transport_compression_algo": "gzip"}) as t:
        exc_id = _raise_and_capture("tern python gzip")
        msg_id = sentry_sdk.capture_message("tern python message", level="warning")
    assert exc_id and msg_id and exc_id != msg_id

    assert [r.status for r in t.requests] == [200, 200]
    for r in t.requests:
        assert r.headers.get("Content-Encoding") == "gzip"
        assert r.body[:2] == b"\x1f\x8b"
        assert gzip.decompress(r.body).startswith(b"{")

    c = _finish(relay, kafka)
    events = c.of(TOPIC_EVENTS, project.id)
    assert sorted(m.value["event_id"] for m in events) == sorted([exc_id, msg_id])
    by_id = {m.value["event_id"]: m for m in events}

    p = check_event_message(by_id[exc_id], project, exc_id)
    assert p["type"] == "error"
    assert p["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert p["exception"]["values"][-1]["value"] == "tern python gzip"
    assert p["environment"] == "integration"

    p = check_event_message(by_id[msg_id], project, msg_id)
    assert p["type"] == "default"
    assert p["level"] == "warning"
    text = (p.get("logentry") or {}).get("formatted") or (p.get("logentry") or {}).get("message") or p.get("message")
    assert text == "tern python message"

    outcomes = c.outcomes(project.id)
    assert len(outcomes) == 2, outcomes
    by_eid = {o["event_id"]: o for o in outcomes}
    check_outcome(by_eid[exc_id], project, OUTCOME_ACCEPTED, CATEGORY_ERROR, exc_id)
    check_outcome(by_eid[msg_id], project, OUTCOME_ACCEPTED, CATEGORY_DEFAULT, msg_id)

    for topic in (TOPIC_ATTACHMENTS, TOPIC_TRANSACTIONS, TOPIC_SESSIONS):
        assert c.of(topic, project.id) == [], topic


def test_brotli_body(relay_factory, kafka, project):
    relay = relay_factory([project])
    with sentry(relay.dsn(project), _experiments={"transport_compression_algo": "br"}) as t:
        exc_id = _raise_and_capture("tern python brotli")

    assert [r.status for r in t.requests] == [200]
    r = t.requests[0]
    # The body really is brotli: not gzip, and brotli-decodes to the envelope.
    assert r.headers.get("Content-Encoding") == "br"
    assert r.body[:2] != b"\x1f\x8b"
    header_line = brotli.decompress(r.body).split(b"\n", 1)[0]
    assert json.loads(header_line)["event_id"] == exc_id

    c = _finish(relay, kafka)
    events = c.of(TOPIC_EVENTS, project.id)
    assert len(events) == 1
    p = check_event_message(events[0], project, exc_id)
    assert p["exception"]["values"][-1]["value"] == "tern python brotli"
    outcomes = c.outcomes(project.id)
    assert len(outcomes) == 1
    check_outcome(outcomes[0], project, OUTCOME_ACCEPTED, CATEGORY_ERROR, exc_id)


def test_uncompressed_body(relay_factory, kafka, project):
    relay = relay_factory([project])
    with sentry(relay.dsn(project), _experiments={"transport_compression_level": 0}) as t:
        msg_id = sentry_sdk.capture_message("tern python plain")
    assert [r.status for r in t.requests] == [200]
    assert "Content-Encoding" not in t.requests[0].headers
    c = _finish(relay, kafka)
    events = c.of(TOPIC_EVENTS, project.id)
    assert [m.value["event_id"] for m in events] == [msg_id]
    check_event_message(events[0], project, msg_id)
    assert len(c.outcomes(project.id, OUTCOME_ACCEPTED)) == 1


def test_session(relay_factory, kafka, project):
    relay = relay_factory([project])
    release = f"tern-it@{uuid.uuid4().hex[:8]}"
    with sentry(relay.dsn(project), release=release) as t:
        sentry_sdk.get_isolation_scope().start_session(session_mode="application")
        exc_id = _raise_and_capture("tern python session error")
        sentry_sdk.get_isolation_scope().end_session()

    assert all(r.status == 200 for r in t.requests), [r.status for r in t.requests]
    sent_sessions = t.items("session") + t.items("sessions")
    assert sent_sessions, "the SDK sent no session item"

    c = _finish(relay, kafka)
    got = c.of(TOPIC_SESSIONS, project.id)
    # Relay's session messages, keyed by the project id, one per update (or
    # per aggregate count).
    assert sorted(session_message_tuples(got)) == sorted(expected_session_messages(sent_sessions))
    for m in got:
        assert m.key == str(project.id).encode()
        assert m.value["project_id"] == project.id
        assert m.value["release"] == release
        assert m.value["sdk"].startswith("sentry.python/"), m.value
    assert any(m.value["errors"] >= 1 for m in got)

    session_outcomes = c.outcomes(project.id, category=CATEGORY_SESSION)
    assert len(session_outcomes) == len(sent_sessions)
    for o in session_outcomes:
        check_outcome(o, project, OUTCOME_ACCEPTED, CATEGORY_SESSION, None)

    events = c.of(TOPIC_EVENTS, project.id)
    assert [m.value["event_id"] for m in events] == [exc_id]
    assert len(c.outcomes(project.id, category=CATEGORY_ERROR)) == 1


def test_event_with_attachment(relay_factory, kafka, project):
    relay = relay_factory([project])
    data = b"tern attachment\n" * 100
    with sentry(relay.dsn(project)) as t:
        with sentry_sdk.new_scope() as scope:
            scope.add_attachment(bytes=data, filename="notes.txt", content_type="text/plain")
            msg_id = sentry_sdk.capture_message("tern python with attachment", level="error")

    assert [r.status for r in t.requests] == [200]
    assert [i.type for i in t.requests[0].items] == ["event", "attachment"]

    c = _finish(relay, kafka)
    assert c.of(TOPIC_EVENTS, project.id) == []
    msgs = c.of(TOPIC_ATTACHMENTS, project.id)
    assert [m.value["type"] for m in msgs] == ["attachment_chunk", "event"]
    chunk, event = msgs
    assert chunk.key == msg_id.encode()
    assert chunk.value["event_id"] == msg_id
    assert chunk.value["chunk_index"] == 0
    assert chunk.value["payload"] == data

    check_event_message(event, project, msg_id, attachments=1)
    a = event.value["attachments"][0]
    assert a["id"] == chunk.value["id"]
    assert a["name"] == "notes.txt"
    assert a["content_type"] == "text/plain"
    assert a["attachment_type"] == "event.attachment"
    assert a["chunks"] == 1
    assert a["size"] == len(data)

    outcomes = c.outcomes(project.id)
    assert len(outcomes) == 2, outcomes
    by_cat = {o["category"]: o for o in outcomes}
    check_outcome(by_cat[CATEGORY_DEFAULT], project, OUTCOME_ACCEPTED, CATEGORY_DEFAULT, msg_id)
    check_outcome(by_cat[CATEGORY_ATTACHMENT], project, OUTCOME_ACCEPTED, CATEGORY_ATTACHMENT, msg_id, quantity=len(data))


def test_transaction(relay_factory, kafka, project):
    relay = relay_factory([project])
    with sentry(relay.dsn(project), traces_sample_rate=1.0) as t:
        with sentry_sdk.start_transaction(name="tern-it-transaction", op="test"):
            with sentry_sdk.start_span(op="child", name="tern child span"):
                pass

    assert [r.status for r in t.requests] == [200]
    sent = t.items("transaction")
    assert len(sent) == 1
    tx_id = json.loads(sent[0].payload)["event_id"]

    c = _finish(relay, kafka)
    assert c.of(TOPIC_EVENTS, project.id) == []
    txs = c.of(TOPIC_TRANSACTIONS, project.id)
    assert len(txs) == 1
    p = check_event_message(txs[0], project, tx_id)
    assert p["type"] == "transaction"
    assert p["transaction"] == "tern-it-transaction"
    assert [s["op"] for s in p["spans"]] == ["child"]

    outcomes = c.outcomes(project.id)
    assert len(outcomes) == 1
    check_outcome(outcomes[0], project, OUTCOME_ACCEPTED, CATEGORY_TRANSACTION, tx_id)


OUTCOME_CLIENT_DISCARD = 5


def test_client_report(relay_factory, kafka, project):
    """sentry-python reports what it dropped itself (here: before_send) in a
    client_report item; the relay turns it into a client_discard outcome."""
    relay = relay_factory([project])

    def before_send(event, hint):
        return None if (event.get("tags") or {}).get("drop") == "yes" else event

    with sentry(relay.dsn(project), send_client_reports=True, before_send=before_send) as t:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("drop", "yes")
            sentry_sdk.capture_message("dropped by before_send")
        kept = sentry_sdk.capture_message("kept")

    assert all(r.status == 200 for r in t.requests), [r.status for r in t.requests]
    reports = [json.loads(i.payload) for i in t.items("client_report")]
    discarded = [d for r in reports for d in r.get("discarded_events", [])]
    assert discarded == [{"reason": "before_send", "category": "error", "quantity": 1}], reports

    c = _finish(relay, kafka)
    assert [m.value["event_id"] for m in c.of(TOPIC_EVENTS, project.id)] == [kept]
    discards = c.outcomes(project.id, outcome=OUTCOME_CLIENT_DISCARD)
    assert len(discards) == 1, c.outcomes(project.id)
    o = discards[0]
    assert o["reason"] == "before_send"
    assert o["category"] == CATEGORY_ERROR
    assert o["quantity"] == 1
    assert o["key_id"] == project.key_id
    accepted = c.outcomes(project.id, outcome=OUTCOME_ACCEPTED)
    assert [o["event_id"] for o in accepted] == [kept]
    assert len(c.outcomes(project.id)) == 2
