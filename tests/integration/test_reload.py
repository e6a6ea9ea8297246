"""A running relay process reloads its projects file (on SIGHUP, and on its
own when the file changes: either may win here, the test sends SIGHUP after
each write): a key added to the file is accepted afterwards, a removed one gets
403, and a broken file is refused (counted in
tern_projects_reload_errors_total) while the previous table stays in force."""

from __future__ import annotations

import json
import signal
import uuid

from conftest import TOPIC_EVENTS, Project, metric_sum, new_key, wait_until


def _store(relay, project: Project, key: str) -> tuple[int, str]:
    eid = uuid.uuid4().hex
    status, _, _ = relay.post(
        f"/api/{project.id}/store/",
        json.dumps({"event_id": eid, "message": "reload"}).encode(),
        {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}", "Content-Type": "application/json"},
    )
    return status, eid


def _write_projects(relay, projects: list[Project]) -> None:
    (relay.workdir / "projects.yml").write_text(json.dumps({"projects": [p.to_yaml_obj() for p in projects]}))


def test_projects_file_reload(relay_factory, kafka, project):
    relay = relay_factory([project])
    added = Project(id=project.id + 1, key=new_key(), key_id=project.key_id + 1)
    status, _ = _store(relay, added, added.key)
    assert status == 403

    # Add a project, drop the first one.
    _write_projects(relay, [added])
    relay.proc.send_signal(signal.SIGHUP)
    accepted = []

    def added_works():
        status, eid = _store(relay, added, added.key)
        assert status in (200, 403), status
        if status == 200:
            accepted.append(eid)
        return status == 200

    wait_until(added_works, 20, "the added key to be accepted after SIGHUP")
    status, _ = _store(relay, project, project.key)
    assert status == 403

    # A broken file is refused; the table in force stays.
    before = metric_sum(relay.metrics(), "tern_projects_reload_errors_total")
    (relay.workdir / "projects.yml").write_text("projects:\n  - id: -1\n    keys: nonsense\n")
    relay.proc.send_signal(signal.SIGHUP)
    wait_until(
        lambda: metric_sum(relay.metrics(), "tern_projects_reload_errors_total") > before,
        20,
        "the refused reload on /metrics",
    )
    status, eid = _store(relay, added, added.key)
    assert status == 200
    accepted.append(eid)
    assert relay.proc.poll() is None

    assert relay.stop() == 0
    c = kafka.collector([TOPIC_EVENTS])
    c.drain()
    assert sorted(m.value["event_id"] for m in c.of(TOPIC_EVENTS, added.id)) == sorted(accepted)
    assert c.of(TOPIC_EVENTS, project.id) == []
