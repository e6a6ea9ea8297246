"""The event corpus end to end: every file of ../shared/event-samples, the
KNOWN-BROKEN ones included, through the Release relay's envelope endpoint
and a real Kafka broker into the backend.

Each event must be stored (the backend counts it in an issue, under the id
it was sent with) with a non-empty title, and the relay must count no
`invalid` item: the files in KNOWN-BROKEN break Sentry's published schema,
but real SDKs send those shapes and Sentry's Relay normalizes them
(docs/event-normalization.md), so we do too. The KNOWN-BROKEN files go
through the store endpoint as well, since both endpoints share the
normalizer but not the code that feeds it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from conftest import metric_sum, wait_until
from test_backend import SAMPLES, issue_event_ids, known_broken, start_pair, store_auth


def all_samples() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*.json") if p.is_file())


def with_fresh_id(path: Path) -> tuple[str, bytes]:
    """The sample's bytes with a new event_id (several samples share one,
    and the backend deduplicates by id). The rest is carried as parsed, so
    numbers stay numbers and lists stay lists: the shapes under test."""
    event = json.loads(path.read_text())
    event_id = uuid.uuid4().hex
    event["event_id"] = event_id
    return event_id, json.dumps(event).encode()


def envelope(event_id: str, payload: bytes) -> bytes:
    header = json.dumps({"event_id": event_id}).encode()
    item = json.dumps({"type": "event", "length": len(payload)}).encode()
    return header + b"\n" + item + b"\n" + payload + b"\n"


def test_every_corpus_event_is_stored_and_none_is_invalid(kafka_broker, relay_factory,
                                                          backend_factory, tmp_path):
    _, backend, relay, project = start_pair(kafka_broker, relay_factory, backend_factory,
                                            f"sqlite:{tmp_path}/tern.db", batch_max_messages=50)
    pid, key = project["project_id"], project["public_key"]
    broken = known_broken()
    samples = all_samples()
    assert len(samples) >= 190
    assert broken and broken <= {str(p.relative_to(SAMPLES)) for p in samples}

    sent: dict[str, str] = {}  # event id -> sample
    headers = store_auth(key) | {"Content-Type": "application/x-sentry-envelope"}
    for path in samples:
        rel = str(path.relative_to(SAMPLES))
        event_id, payload = with_fresh_id(path)
        status, _, body = relay.post(f"/api/{pid}/envelope/", envelope(event_id, payload), headers)
        assert status == 200, f"{rel}: {status} {body[:300]!r}"
        assert json.loads(body)["id"] == event_id, rel
        sent[event_id] = rel
    for rel in sorted(broken):
        event_id, payload = with_fresh_id(SAMPLES / rel)
        status, _, body = relay.post(f"/api/{pid}/store/", payload, store_auth(key))
        assert status == 200, f"store {rel}: {status} {body[:300]!r}"
        assert json.loads(body)["id"] == event_id, rel
        sent[event_id] = f"store:{rel}"

    def all_counted():
        issues = backend.all_issues(project["slug"], unavailable_ok=True)
        if issues is None:
            return None
        return issues if sum(int(i["count"]) for i in issues) >= len(sent) else None

    issues = wait_until(all_counted, 180, f"{len(sent)} events counted in issues", interval=0.5)
    assert sum(int(i["count"]) for i in issues) == len(sent)

    stored: dict[str, dict] = {}
    for issue in issues:
        assert issue["title"], issue
        for event_id in issue_event_ids(backend, issue["id"]):
            stored[event_id] = issue
    missing = sorted(sent[e] for e in sent if e not in stored)
    assert not missing, f"not stored: {missing}"

    # The relay accepted every one: nothing counted as invalid, for any reason.
    metrics = relay.metrics()
    assert metric_sum(metrics, "tern_items_total", outcome="invalid") == 0
    assert metric_sum(metrics, "tern_items_total", outcome="accepted") >= len(sent)

    # The coercions show where the UI reads them.
    by_sample = {rel: stored[e] for e, rel in sent.items()}
    no_frames = by_sample["bugsink/exception_no_frames.json"]
    assert no_frames["title"] == "CapturedStacktraceFo: 4 kinds of frames"
    # Without frames and with null frames: the same exception, one issue.
    assert by_sample["bugsink/exception_null_frames.json"]["id"] == no_frames["id"]
    latest = backend.api(f"/api/0/issues/{no_frames['id']}/events/latest/")["payload"]
    assert "stacktrace" not in latest["exception"]["values"][0]
    assert latest["_meta"]["exception"]["values"]["0"]["stacktrace"]["frames"] == {
        "": {"err": ["missing_attribute"]}}
    assert {"type": "missing_attribute", "name": "exception.values.0.stacktrace.frames"} \
        in latest["errors"]

    fp = by_sample["sentry/custom-fingerprint-int.json"]
    latest = backend.api(f"/api/0/issues/{fp['id']}/events/latest/")["payload"]
    assert latest["fingerprint"] == ["celery", "123", "sentry.tasks.store.process_event"]

    # weird_ua.json shares its issue with headers_as_lists.json (the same
    # exception), so send each once more, without a timestamp (it then gets
    # the time the relay received it), to make it the issue's latest event.
    for rel, header, want in (("bugsink/weird_ua.json", "User-Agent", "5"),
                              ("bugsink/headers_as_lists.json", "Cache-Control", "max-age=0")):
        event = json.loads((SAMPLES / rel).read_text())
        event_id = uuid.uuid4().hex
        event["event_id"] = event_id
        del event["timestamp"]
        status, _, _ = relay.post(f"/api/{pid}/envelope/",
                                  envelope(event_id, json.dumps(event).encode()), headers)
        assert status == 200
        issue_id = by_sample[rel]["id"]
        latest = wait_until(
            lambda: (lambda p: p if p["event_id"] == event_id else None)(
                backend.api(f"/api/0/issues/{issue_id}/events/latest/")["payload"]),
            60, f"{rel} resent as the latest event", interval=0.5)
        assert latest["request"]["headers"][header] == want, rel
    assert metric_sum(relay.metrics(), "tern_items_total", outcome="invalid") == 0
