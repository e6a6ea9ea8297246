"""Two tern-backends in one Kafka consumer group on one PostgreSQL (issue 19).

The relay keys events by event id, so one issue's events land on every
partition of a 4-partition topic and both backends see the first events of
every new issue. Mid-stream a second backend joins (a rebalance) and the
first is killed with SIGKILL and restarted (another two). Afterwards every
issue exists once, its count equals its events, every event sent is stored
exactly once, and short ids are unique.
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
    kafka = topics.backend_kafka(kafka_broker, batch_max_messages=10, batch_max_wait="20ms")
    first = backend_factory(dsn, kafka)
    project = first.create_project("group")
    first.start()
    second = backend_factory(dsn, kafka)
    relay = relay_factory(
        [], kafka=topics.relay_kafka(kafka_broker),
        projects_source={"file": None, "upstream": {"url": first.base, "token": RELAY_TOKEN}})

    kinds = 8
    sent: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def send():
        i = 0
        while not stop.is_set() or i < 200:
            event_id = uuid.uuid4().hex
            event = {"event_id": event_id, "platform": "python", "level": "error",
                     "exception": {"values": [{"type": f"GroupError{i % kinds}",
                                               "value": f"boom {i}"}]}}
            status, _, body = relay.post(f"/api/{project['project_id']}/store/",
                                         json.dumps(event).encode(),
                                         store_auth(project["public_key"]))
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
                return
            sent.append(event_id)
            i += 1
            if i % 10 == 0:
                time.sleep(0.03)  # a steady stream over the rebalances

    def stored(backend) -> float:
        return metric_sum(backend.metrics(), "tern_backend_events_stored_total")

    sender = threading.Thread(target=send)
    sender.start()
    try:
        wait_until(lambda: stored(first) >= 50, 60, "the first backend storing")
        second.start()  # joins the group: partitions move
        wait_until(lambda: stored(second) >= 20, 120,
                   "the second backend storing after the rebalance")
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        first.start()  # back into the group: partitions move again
        wait_until(lambda: stored(first) >= 20, 120,
                   "the restarted backend storing after the rebalance")
    finally:
        stop.set()
        sender.join(timeout=300)
    assert not errors, errors
    total = len(sent)
    print(f"{total} events sent; stored by the restarted first backend: {stored(first)}, "
          f"by the second: {stored(second)}")

    issues = wait_for_events(second, project, total)
    assert len(issues) == kinds, sorted(i["title"] for i in issues)
    # One issue per exception type (the title is its opening event's).
    assert sorted(i["title"].split(":")[0] for i in issues) == sorted(
        f"GroupError{k}" for k in range(kinds))
    assert sum(int(i["count"]) for i in issues) == total
    assert len({i["shortId"] for i in issues}) == kinds
    seen: list[str] = []
    for issue in issues:
        ids = issue_event_ids(second, issue["id"])
        assert len(ids) == int(issue["count"]), issue
        seen.extend(ids)
    assert sorted(seen) == sorted(sent)
    assert first.stop() == 0
    assert second.stop() == 0
