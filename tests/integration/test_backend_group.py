"""Two tern-backends in one Kafka consumer group on one PostgreSQL (issue 19).

The relay keys events by event id, so one issue's events land on every
partition of a 4-partition topic and both backends see the first events of
every new issue. Two relays send 20k events of 200 issues; mid-stream a
second backend joins (a rebalance) and the first is killed with SIGKILL and
restarted (another two). Afterwards every issue exists once with exactly
the events of its type (what one backend would store), every event sent is
stored exactly once, and short ids are unique.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid

from conftest import RELAY_TOKEN, Topics, create_database, metric_sum, wait_until
from test_backend import issue_event_ids, store_auth, wait_for_events


def test_two_backends_in_one_group_through_a_rebalance_and_a_kill(
        kafka_broker, relay_factory, backend_factory, postgres_server):
    dsn = create_database(postgres_server)
    topics = Topics(kafka_broker, partitions=4)
    # One consumer config (one group id) for both backends.
    kafka = topics.backend_kafka(kafka_broker, batch_max_messages=50, batch_max_wait="20ms")
    first = backend_factory(dsn, kafka)
    project = first.create_project("group")
    first.start()
    second = backend_factory(dsn, kafka)
    # Two relays, as on two hosts, feeding the same topics.
    relays = [relay_factory(
        [], kafka=topics.relay_kafka(kafka_broker),
        projects_source={"file": None, "upstream": {"url": first.base, "token": RELAY_TOKEN}})
        for _ in range(2)]

    kinds = 200
    target = 20000
    sent: list[str] = []
    per_kind: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send(relay, offset: int):
        i = offset
        while not stop.is_set() or len(sent) < target:
            event_id = uuid.uuid4().hex
            kind = f"GroupError{i % kinds}"
            event = {"event_id": event_id, "platform": "python", "level": "error",
                     "exception": {"values": [{"type": kind, "value": f"boom {i}"}]}}
            status, _, body = relay.post(f"/api/{project['project_id']}/store/",
                                         json.dumps(event).encode(),
                                         store_auth(project["public_key"]))
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
                return
            with lock:
                sent.append(event_id)
                per_kind[kind] = per_kind.get(kind, 0) + 1
            i += 2
            if i % 20 == 0:
                time.sleep(0.01)  # a steady stream over the rebalances

    def stored(backend) -> float:
        return metric_sum(backend.metrics(), "tern_backend_events_stored_total")

    senders = [threading.Thread(target=send, args=(r, n)) for n, r in enumerate(relays)]
    for t in senders:
        t.start()
    try:
        wait_until(lambda: stored(first) >= 500, 60, "the first backend storing")
        second.start()  # joins the group: partitions move
        wait_until(lambda: stored(second) >= 200, 120,
                   "the second backend storing after the rebalance")
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        first.start()  # back into the group: partitions move again
        wait_until(lambda: stored(first) >= 200, 120,
                   "the restarted backend storing after the rebalance")
    finally:
        stop.set()
        for t in senders:
            t.join(timeout=600)
    assert not errors, errors
    total = len(sent)
    assert total >= target
    print(f"{total} events sent; stored by the restarted first backend: {stored(first)}, "
          f"by the second: {stored(second)}")

    issues = wait_for_events(second, project, total)
    # What one backend would produce: one issue per exception type, with
    # exactly the events sent of that type.
    assert len(issues) == kinds, len(issues)
    counts = {i["title"].split(":")[0]: int(i["count"]) for i in issues}
    assert counts == per_kind
    assert len({i["shortId"] for i in issues}) == kinds
    seen: list[str] = []
    for issue in issues:
        ids = issue_event_ids(second, issue["id"])
        assert len(ids) == int(issue["count"]), issue
        seen.extend(ids)
    assert sorted(seen) == sorted(sent)
    assert first.stop() == 0
    assert second.stop() == 0


def test_two_backends_through_a_store_restart_alert_once(
        kafka_broker, relay_factory, backend_factory, tmp_path):
    """Two backends in one group on a PostgreSQL of the test's own, which is
    stopped mid-stream and started again: both back off and retry, every
    event is stored once, and the alert rules (a new-issue webhook and a
    frequency webhook) notify exactly once per issue and trigger although
    both backends evaluate rules and run an outbox sender."""
    import os
    import subprocess

    from conftest import POSTGRES_SCRIPTS
    from test_alerts import ALERTS, Receiver

    workdir = tmp_path / "postgres"
    up, down = str(POSTGRES_SCRIPTS / "up.sh"), str(POSTGRES_SCRIPTS / "down.sh")
    new_hook, frequent_hook = Receiver([]), Receiver([])
    try:
        r = subprocess.run([up, str(workdir)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        server = (workdir / "uri").read_text().strip()
        port = server.rsplit(":", 1)[1]
        dsn = create_database(server)
        topics = Topics(kafka_broker, partitions=4)
        kafka = topics.backend_kafka(kafka_broker, batch_max_messages=10, batch_max_wait="20ms",
                                     retry_max_backoff="500ms")
        first = backend_factory(dsn, kafka, alerts=ALERTS)
        second = backend_factory(dsn, kafka, alerts=ALERTS)
        project = first.create_project("e2e")
        first.start()
        second.start()
        frequency = 30
        for rule in ({"name": "New", "trigger": "new_issue",
                      "targets": [{"type": "webhook", "url": new_hook.url + "/new"}]},
                     {"name": "Spike", "trigger": "frequency",
                      "frequency": {"count": frequency, "minutes": 60},
                      "targets": [{"type": "webhook", "url": frequent_hook.url + "/spike"}]}):
            status, _, body = first.request("POST", "/api/0/projects/e2e/rules/", rule)
            assert status == 201, body
        relay = relay_factory(
            [], kafka=topics.relay_kafka(kafka_broker),
            projects_source={"file": None, "upstream": {"url": first.base, "token": RELAY_TOKEN}})

        sent: list[str] = []
        per_kind: dict[str, int] = {}

        def send(n: int, kinds: list[str]) -> None:
            for i in range(n):
                event_id = uuid.uuid4().hex
                kind = kinds[i % len(kinds)]
                event = {"event_id": event_id, "platform": "python", "level": "error",
                         "exception": {"values": [{"type": kind, "value": f"boom {i}"}]}}
                status, _, body = relay.post(f"/api/{project['project_id']}/store/",
                                             json.dumps(event).encode(),
                                             store_auth(project["public_key"]))
                assert status == 200, body[:200]
                sent.append(event_id)
                per_kind[kind] = per_kind.get(kind, 0) + 1

        def stored(backend) -> float:
            return metric_sum(backend.metrics(), "tern_backend_events_stored_total")

        # Four kinds, each past the frequency threshold; both backends store.
        send(200, [f"Before{k}" for k in range(4)])

        def both_storing() -> bool:
            # The group's first rebalance can take a while: keep the stream
            # going until both backends have partitions and store.
            if stored(first) > 0 and stored(second) > 0:
                return True
            send(20, [f"Before{k}" for k in range(4)])
            return False

        wait_until(both_storing, 120, "both backends storing", interval=1)
        # PG_KEEP_DATA=1: down.sh keeps the cluster for up.sh to start again.
        r = subprocess.run([down, str(workdir)], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PG_KEEP_DATA": "1"})
        assert r.returncode == 0, r.stderr
        # During the outage: two old kinds and two new ones, each of which
        # crosses the threshold only after the restart.
        send(160, ["Before0", "Before1", "During0", "During1"])
        wait_until(lambda: all(metric_sum(b.metrics(), "tern_backend_store_retries_total") >= 1
                               for b in (first, second)),
                   60, "both consumers retrying against the stopped store")
        assert first.proc.poll() is None and second.proc.poll() is None
        r = subprocess.run([up, str(workdir), port], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PG_KEEP_DATA": "1"})
        assert r.returncode == 0, r.stderr
        send(120, ["During0", "During1", "After0"])

        total = len(sent)
        issues = wait_for_events(second, project, total)
        assert sorted(i["title"].split(":")[0] for i in issues) == sorted(per_kind)
        assert sum(int(i["count"]) for i in issues) == total
        assert len({i["shortId"] for i in issues}) == len(issues)
        seen = [eid for i in issues for eid in issue_event_ids(second, i["id"])]
        assert sorted(seen) == sorted(sent)
        by_kind = {i["title"].split(":")[0]: i for i in issues}
        for kind, count in per_kind.items():
            assert int(by_kind[kind]["count"]) == count, kind

        # Every issue notified once as new; every issue past the threshold
        # once as frequent. Wait until the outboxes are drained first, so an
        # absent duplicate means something.
        frequent = sorted(by_kind[k]["id"] for k, n in per_kind.items() if n > frequency)
        assert len(frequent) == 7  # After0 has 40: past the threshold too

        def drained() -> bool:
            rows = second.api("/api/0/projects/e2e/notifications/")
            return (len(rows) == len(issues) + len(frequent)
                    and all(r["status"] == "sent" for r in rows))

        wait_until(drained, 60, "every notification sent")
        time.sleep(1)  # a second sender that was going to send twice would have by now
        new_ids = sorted(json.loads(r["body"])["id"] for r in new_hook.requests)
        spike_ids = sorted(json.loads(r["body"])["id"] for r in frequent_hook.requests)
        assert new_ids == sorted(i["id"] for i in issues)
        assert spike_ids == frequent
        assert first.stop() == 0
        assert second.stop() == 0
    finally:
        new_hook.close()
        frequent_hook.close()
        subprocess.run([down, str(workdir)], capture_output=True, timeout=120)
