"""tern-backend end to end: relay → real Kafka → backend → API.

Each test runs its own relay and backend on a topic set of its own
(conftest.Topics), and the relay fetches its projects from the backend
(POST /api/0/relays/projectconfigs/), as a deployment without a local
projects file does.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

from conftest import (
    RELAY_TOKEN,
    Topics,
    backend_bin,
    create_database,
    metric_sum,
    wait_until,
)

# ../shared beside the repository (ARCHITECTURE.md).
SHARED = Path(__file__).resolve().parents[3] / "shared"
SAMPLES = SHARED / "event-samples"
EXPECTED = json.loads((SHARED / "grouping" / "expected.json").read_text())


def known_broken() -> set[str]:
    return {l.strip() for l in (SAMPLES / "KNOWN-BROKEN").read_text().splitlines() if l.strip()}


def sentry_samples() -> list[Path]:
    broken = known_broken()
    return [p for p in sorted((SAMPLES / "sentry").glob("*.json"))
            if f"sentry/{p.name}" not in broken]


def store_auth(key: str) -> dict:
    return {
        "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}, sentry_client=tern-it/1.0",
        "Content-Type": "application/json",
    }


def start_pair(kafka_broker, relay_factory, backend_factory, store_dsn: str,
               key_settings: dict | None = None, **consumer):
    """A backend with one project ("e2e") and a relay fetching its projects
    from it. `key_settings`, when given, is set on the project's key with
    `tern-backend key set KEY --settings JSON` before either process starts."""
    topics = Topics(kafka_broker)
    backend = backend_factory(store_dsn, topics.backend_kafka(kafka_broker, **consumer))
    project = backend.create_project("e2e")
    if key_settings is not None:
        key = project["public_key"]
        r = backend.cli("key", "set", key, "--settings", json.dumps(key_settings))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"updated {key}"
    backend.start()
    relay = relay_factory(
        [],
        kafka=topics.relay_kafka(kafka_broker),
        projects_source={"file": None, "upstream": {"url": backend.base, "token": RELAY_TOKEN}},
    )
    return topics, backend, relay, project


def sample_hashes(path: Path) -> list[str]:
    """The event's hashes in assignment order, from `tern-backend hash`."""
    import subprocess

    r = subprocess.run([str(backend_bin()), "hash", str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"hash {path.name}: {r.stderr}"
    out = []
    for value in json.loads(r.stdout).values():
        if isinstance(value, str) and value not in out:
            out.append(value)
    return out


def predicted_partition(events: list[tuple[str, list[str]]]) -> set[frozenset[str]]:
    """The partition rule of shared/grouping/README.md over events in
    arrival order: join the group of the first hash already linked; a new
    group links all of the event's hashes."""
    group_of_hash: dict[str, int] = {}
    groups: list[set[str]] = []
    for event_id, hashes in events:
        group = next((group_of_hash[h] for h in hashes if h in group_of_hash), None)
        if group is None:
            groups.append(set())
            group = len(groups) - 1
            for h in hashes:
                group_of_hash[h] = group
        groups[group].add(event_id)
    return {frozenset(g) for g in groups}


def issue_event_ids(backend, issue_id: str) -> list[str]:
    ids, cursor = [], None
    for _ in range(1000):
        path = f"/api/0/issues/{issue_id}/events/"
        if cursor:
            path += f"?cursor={cursor}"
        code, headers, body = backend.request("GET", path)
        assert code == 200, body[:300]
        ids.extend(e["eventID"] for e in json.loads(body))
        link = headers.get("Link", "")
        nxt = None
        for part in link.split(","):
            if 'rel="next"' in part and 'results="true"' in part:
                nxt = part.split('cursor="')[1].split('"')[0]
        if nxt is None:
            return ids
        cursor = nxt
    raise AssertionError("event pagination did not end")


def send_samples(relay, project: dict) -> tuple[list[tuple[str, list[str]]], dict[str, str]]:
    """Sends every valid sample once, with a fresh event id; returns
    (event id, hashes) in send order and sample name -> event id."""
    sent, by_name = [], {}
    for path in sentry_samples():
        event = json.loads(path.read_text())
        event_id = uuid.uuid4().hex
        event["event_id"] = event_id
        status, _, body = relay.post(f"/api/{project['project_id']}/store/",
                                     json.dumps(event).encode(), store_auth(project["public_key"]))
        assert status == 200, f"{path.name}: {status} {body[:300]!r}"
        assert json.loads(body)["id"] == event_id
        sent.append((event_id, sample_hashes(path)))
        by_name[path.name] = event_id
    return sent, by_name


def wait_for_events(backend, project: dict, total: int) -> list[dict]:
    def counted():
        issues = backend.all_issues(project["slug"], unavailable_ok=True)
        if issues is None:
            return None
        return issues if sum(int(i["count"]) for i in issues) >= total else None

    return wait_until(counted, 120, f"{total} events counted in issues", interval=0.5)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_every_sample_lands_in_the_predicted_issue(store, request, kafka_broker, relay_factory,
                                                   backend_factory, tmp_path):
    if store == "sqlite":
        dsn = f"sqlite:{tmp_path}/tern.db"
    else:
        dsn = create_database(request.getfixturevalue("postgres_server"))
    _, backend, relay, project = start_pair(kafka_broker, relay_factory, backend_factory, dsn,
                                            batch_max_messages=50)
    sent, by_name = send_samples(relay, project)
    assert len(sent) == len(sentry_samples()) >= 150

    issues = wait_for_events(backend, project, len(sent))
    # Nothing counted twice, nothing missing.
    assert sum(int(i["count"]) for i in issues) == len(sent)
    got = {}
    for issue in issues:
        ids = issue_event_ids(backend, issue["id"])
        assert len(ids) == int(issue["count"]) == len(set(ids)), issue
        got[issue["id"]] = frozenset(ids)
        assert issue["status"] == "unresolved"
        assert issue["shortId"].startswith("E2E-")
        assert issue["title"]
    assert set(got.values()) == predicted_partition(sent)

    # The families the reference names land together; the rest alone.
    issue_of = {eid: iid for iid, ids in got.items() for eid in ids}
    families = [
        [n for n in EXPECTED if n.startswith("group_307_")],
        [n for n in EXPECTED if n.startswith("javascript-xbrowser-") and "-http-" not in n],
        [n for n in EXPECTED if n.startswith("javascript-xbrowser-http-")],
    ]
    for family in families:
        assert len(family) >= 2
        assert len({issue_of[by_name[n]] for n in family}) == 1, family
    # Every other listed sample shares its issue with no other listed one
    # (unlisted samples of the corpus may join it: the reference says
    # nothing about them, and the partition check above covers them).
    in_family = {n for f in families for n in f}
    listed_issue = {n: issue_of[by_name[n]] for n in EXPECTED if n in by_name}
    for n in listed_issue:
        if n in in_family:
            continue
        others = [m for m, i in listed_issue.items() if i == listed_issue[n] and m != n]
        assert not others, (n, others)

    # The latest event carries its full payload.
    some = issues[0]
    latest = backend.api(f"/api/0/issues/{some['id']}/events/latest/")
    assert latest["eventID"] in got[some["id"]]
    payload = latest["payload"]
    assert payload["event_id"] == latest["eventID"]


def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(kafka_broker, relay_factory,
                                                                   backend_factory, tmp_path):
    _, backend, relay, project = start_pair(
        kafka_broker, relay_factory, backend_factory, f"sqlite:{tmp_path}/tern.db",
        batch_max_messages=10, batch_max_wait="20ms")
    total = 600
    kinds = 6
    sent: list[str] = []
    errors: list[str] = []

    def send():
        for i in range(total):
            event_id = uuid.uuid4().hex
            event = {
                "event_id": event_id,
                "platform": "python",
                "level": "error",
                "exception": {"values": [{"type": f"KillError{i % kinds}", "value": f"boom {i}"}]},
            }
            status, _, body = relay.post(f"/api/{project['project_id']}/store/",
                                         json.dumps(event).encode(), store_auth(project["public_key"]))
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
                return
            sent.append(event_id)
            if i % 50 == 49:
                time.sleep(0.05)  # spread the stream over the kill and restart

    sender = threading.Thread(target=send)
    sender.start()
    try:
        wait_until(lambda: metric_sum(backend.metrics(), "tern_backend_events_stored_total") >= 60,
                   60, "some events stored before the kill")
        backend.proc.send_signal(signal.SIGKILL)
        backend.proc.wait(timeout=10)
        backend.start()
    finally:
        sender.join(timeout=300)
    assert not errors, errors
    assert len(sent) == total

    issues = wait_for_events(backend, project, total)
    assert len(issues) == kinds
    assert sum(int(i["count"]) for i in issues) == total
    seen: list[str] = []
    for issue in issues:
        ids = issue_event_ids(backend, issue["id"])
        assert len(ids) == int(issue["count"])
        seen.extend(ids)
    assert sorted(seen) == sorted(sent)
    assert backend.stop() == 0


def test_bad_messages_go_to_the_dead_letter_topic_and_ingest_goes_on(kafka_broker, relay_factory,
                                                                      backend_factory, tmp_path):
    topics, backend, relay, project = start_pair(kafka_broker, relay_factory, backend_factory,
                                                 f"sqlite:{tmp_path}/tern.db")
    producer = Producer({"bootstrap.servers": kafka_broker})
    producer.produce(topics.events, key=b"junk", value=b"\xc1 not msgpack")
    producer.produce(topics.sessions, key=b"1", value=b"{not json")
    producer.flush(30)
    event_id = uuid.uuid4().hex
    status, _, _ = relay.post(
        f"/api/{project['project_id']}/store/",
        json.dumps({"event_id": event_id, "message": "after the junk"}).encode(),
        store_auth(project["public_key"]))
    assert status == 200
    issues = wait_for_events(backend, project, 1)
    assert [i["title"] for i in issues] == ["after the junk"]

    metrics = backend.metrics()
    assert metric_sum(metrics, "tern_backend_dead_letters_total", reason="bad_message") == 1
    assert metric_sum(metrics, "tern_backend_dead_letters_total", reason="bad_session") == 1

    consumer = Consumer({"bootstrap.servers": kafka_broker, "group.id": f"it-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topics.dead_letter, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 2 and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            got.append((m.value(), dict((k, v.decode()) for k, v in m.headers())))
    consumer.close()
    reasons = sorted(h["tern-reason"] for _, h in got)
    assert reasons == ["bad_message", "bad_session"]
    values = {h["tern-reason"]: v for v, h in got}
    assert values["bad_message"] == b"\xc1 not msgpack"
    assert {h["tern-topic"] for _, h in got} == {topics.events, topics.sessions}
    assert backend.stop() == 0


QUOTA_WINDOW = 3600


def test_quota_from_key_settings_is_enforced_by_the_relay(kafka_broker, relay_factory,
                                                          backend_factory, tmp_path):
    """A quota stored in a key's settings travels through projectconfigs to
    the relay, which enforces it: three events pass, the fourth gets 429."""
    topics, backend, relay, project = start_pair(
        kafka_broker, relay_factory, backend_factory, f"sqlite:{tmp_path}/tern.db",
        key_settings={"quotas": [{"id": "q", "limit": 3, "window": QUOTA_WINDOW,
                                  "scope": "project"}]})
    # A bad quota is refused by the CLI before it reaches the store.
    bad = backend.cli("key", "set", project["public_key"], "--settings",
                      json.dumps({"quotas": [{"id": "q", "limit": 3, "window": 0}]}))
    assert bad.returncode == 1
    assert "quotas[0].window" in bad.stderr
    unknown = backend.cli("key", "set", "f" * 32, "--settings", "{}")
    assert unknown.returncode == 1 and "no such key" in unknown.stderr

    def send() -> tuple[int, dict]:
        status, headers, _ = relay.post(
            f"/api/{project['project_id']}/store/",
            json.dumps({"event_id": uuid.uuid4().hex, "message": "quota"}).encode(),
            store_auth(project["public_key"]))
        return status, {k.lower(): v for k, v in headers.items()}

    t0 = time.time()
    statuses = []
    headers: dict = {}
    # Windows are fixed and aligned to the epoch: a run that crosses an hour
    # boundary gets a second allowance, which the count below accounts for.
    for _ in range(7):
        status, headers = send()
        statuses.append(status)
        if status != 200:
            break
    windows = int(time.time()) // QUOTA_WINDOW - int(t0) // QUOTA_WINDOW + 1
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {200}, statuses
    if windows == 1:
        assert statuses == [200, 200, 200, 429]
    else:
        assert 3 <= statuses.count(200) <= 6, statuses
    assert int(headers["retry-after"]) >= 1, headers
    limits = headers["x-sentry-rate-limits"]
    assert ":project" in limits, limits
    assert int(limits.split(":", 1)[0]) >= 1, limits
    # Still limited: the relay does not forget the quota between requests.
    assert send()[0] == 429
    assert relay.stop() == 0
    assert backend.stop() == 0


def test_store_outage_pauses_ingest_and_skips_nothing(kafka_broker, relay_factory, backend_factory,
                                                    tmp_path):
    """PostgreSQL goes away in the middle of a stream and comes back: the
    consumer retries the same batch with backoff and every event is stored
    once."""
    import subprocess

    from conftest import POSTGRES_SCRIPTS

    workdir = tmp_path / "postgres"
    up, down = str(POSTGRES_SCRIPTS / "up.sh"), str(POSTGRES_SCRIPTS / "down.sh")
    try:
        r = subprocess.run([up, str(workdir)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        server = (workdir / "uri").read_text().strip()
        port = server.rsplit(":", 1)[1]
        _, backend, relay, project = start_pair(
            kafka_broker, relay_factory, backend_factory, create_database(server),
            batch_max_messages=20, retry_max_backoff="500ms")

        def send(n: int, tag: str) -> list[str]:
            ids = []
            for i in range(n):
                event_id = uuid.uuid4().hex
                status, _, _ = relay.post(
                    f"/api/{project['project_id']}/store/",
                    json.dumps({"event_id": event_id,
                                "exception": {"values": [{"type": f"Outage{tag}", "value": str(i)}]}}).encode(),
                    store_auth(project["public_key"]))
                assert status == 200
                ids.append(event_id)
            return ids

        sent = send(40, "Before")
        wait_for_events(backend, project, 40)
        # PG_KEEP_DATA=1: down.sh keeps the cluster for up.sh to start again.
        r = subprocess.run([down, str(workdir)], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PG_KEEP_DATA": "1"})
        assert r.returncode == 0, r.stderr
        sent += send(60, "During")
        wait_until(lambda: metric_sum(backend.metrics(), "tern_backend_store_retries_total") >= 2,
                   60, "the consumer retrying against the stopped store")
        assert backend.proc.poll() is None, "the backend must keep running without its store"
        r = subprocess.run([up, str(workdir), port], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PG_KEEP_DATA": "1"})
        assert r.returncode == 0, r.stderr

        issues = wait_for_events(backend, project, 100)
        assert sum(int(i["count"]) for i in issues) == 100
        seen = [eid for i in issues for eid in issue_event_ids(backend, i["id"])]
        assert sorted(seen) == sorted(sent)
        assert backend.stop() == 0
    finally:
        subprocess.run([down, str(workdir)], capture_output=True, timeout=120)
