"""A 3 MiB attachment from sentry-python through the real broker: its chunks
arrive on ingest-attachments in order, before the event that lists them, and
put back together they are the bytes the SDK sent."""

from __future__ import annotations

import hashlib
import os

import sentry_sdk

from conftest import (
    CATEGORY_ATTACHMENT,
    CATEGORY_DEFAULT,
    OUTCOME_ACCEPTED,
    TOPIC_ATTACHMENTS,
    TOPIC_EVENTS,
    check_event_message,
    check_outcome,
)
from sdk_python import sentry

MiB = 1024 * 1024
CHUNK = MiB  # protocol::kAttachmentChunkSize


def test_3mib_attachment_chunks_in_order(relay_factory, kafka, project):
    relay = relay_factory([project])
    # Random (incompressible) bytes, 3 MiB plus a partial fourth chunk.
    data = os.urandom(3 * MiB + 1000)
    with sentry(relay.dsn(project)) as t:
        with sentry_sdk.new_scope() as scope:
            scope.add_attachment(bytes=data, filename="big.bin", content_type="application/octet-stream")
            event_id = sentry_sdk.capture_message("tern 3 MiB attachment")
    assert [r.status for r in t.requests] == [200], [r.status for r in t.requests]

    # Wait for the event while the relay runs (chunks go first, so once the
    # event is there every chunk is too), then stop it and read to the end.
    c = kafka.collector([TOPIC_ATTACHMENTS, TOPIC_EVENTS, "outcomes"])
    c.wait_for(lambda c: c.of(TOPIC_ATTACHMENTS, project.id, "event"), "the event on ingest-attachments")
    assert relay.stop() == 0
    c.drain()

    msgs = c.of(TOPIC_ATTACHMENTS, project.id)
    assert [m.value["type"] for m in msgs] == ["attachment_chunk"] * 4 + ["event"]
    chunks, event = msgs[:4], msgs[4]
    offsets = [m.offset for m in msgs]
    assert offsets == sorted(offsets)
    assert [m.value["chunk_index"] for m in chunks] == [0, 1, 2, 3]
    assert len({m.value["id"] for m in chunks}) == 1
    for m in chunks:
        assert m.key == event_id.encode()
        assert m.value["event_id"] == event_id
        assert m.value["project_id"] == project.id
    assert [len(m.value["payload"]) for m in chunks] == [CHUNK, CHUNK, CHUNK, 1000]
    joined = b"".join(m.value["payload"] for m in chunks)
    assert hashlib.sha256(joined).hexdigest() == hashlib.sha256(data).hexdigest()

    check_event_message(event, project, event_id, attachments=1)
    a = event.value["attachments"][0]
    assert a["id"] == chunks[0].value["id"]
    assert a["name"] == "big.bin"
    assert a["chunks"] == 4
    assert a["size"] == len(data)
    assert c.of(TOPIC_EVENTS, project.id) == []

    outcomes = c.outcomes(project.id)
    assert sorted(o["category"] for o in outcomes) == [CATEGORY_DEFAULT, CATEGORY_ATTACHMENT]
    for o in outcomes:
        if o["category"] == CATEGORY_ATTACHMENT:
            check_outcome(o, project, OUTCOME_ACCEPTED, CATEGORY_ATTACHMENT, event_id, quantity=len(data))
        else:
            check_outcome(o, project, OUTCOME_ACCEPTED, CATEGORY_DEFAULT, event_id)
