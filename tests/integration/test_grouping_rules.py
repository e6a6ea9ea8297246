"""Server-side fingerprinting rules per project (issue 17), end to end:
sentry-python -> relay -> real Kafka -> tern-backend (SQLite).

Rules are set with `tern-backend project set-rules` and through
PUT /api/0/projects/{project}/; events from differently shaped code that
match one rule form one issue named by the rule's title, events that match
none group as without rules, and a rule changed while the backend runs
applies to the events consumed after the change.
"""

from __future__ import annotations

import json

import sentry_sdk

from conftest import wait_until
from sdk_python import sentry
from test_backend import start_pair, wait_for_events


class ConnectionTrouble(Exception):
    pass


def fail_in_a():
    raise ConnectionTrouble("db-1 refused the connection")


def fail_in_b():
    raise ConnectionTrouble("db-2 timed out")


def other_failure():
    raise KeyError("user")


def capture(fn) -> str:
    try:
        fn()
    except Exception:  # noqa: BLE001 - every failure is what we send
        return sentry_sdk.capture_exception()


def dsn(relay, project) -> str:
    return f"http://{project['public_key']}@127.0.0.1:{relay.port}/{project['project_id']}"


def by_title(issues: list[dict]) -> dict[str, dict]:
    return {i["title"]: i for i in issues}


def test_rules_from_the_cli_and_the_api_decide_the_grouping(
        kafka_broker, relay_factory, backend_factory, tmp_path):
    _, backend, relay, project = start_pair(
        kafka_broker, relay_factory, backend_factory, f"sqlite:{tmp_path}/tern.db")

    # A bad file is refused with Sentry's message, line and column.
    bad = tmp_path / "bad.txt"
    bad.write_text("error.type:ConnectionTrouble -> x\n  what\n")
    r = backend.cli("project", "set-rules", "--project", "e2e", "--fingerprinting", str(bad))
    assert r.returncode == 1
    assert 'Invalid syntax near "what\n" (line 2, column 3)' in r.stderr

    rules = tmp_path / "rules.txt"
    rules.write_text(
        "# one issue for every connection problem\n"
        'error.type:ConnectionTrouble -> connection-trouble title="Connections: {{ error.type }}"\n')
    r = backend.cli("project", "set-rules", "--project", "e2e", "--fingerprinting", str(rules))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "updated e2e"
    details = backend.api("/api/0/projects/e2e/")
    assert details["fingerprintingRules"] == rules.read_text()

    with sentry(dsn(relay, project)):
        a = [capture(fail_in_a) for _ in range(3)]
        b = [capture(fail_in_b) for _ in range(2)]
        k = [capture(other_failure)]
    issues = wait_for_events(backend, project, 6)
    titles = by_title(issues)
    # Two functions, two messages, one rule: one issue with the rule's title.
    assert set(titles) == {"Connections: ConnectionTrouble", "KeyError: 'user'"}, titles
    assert int(titles["Connections: ConnectionTrouble"]["count"]) == 5
    assert int(titles["KeyError: 'user'"]["count"]) == 1
    assert len(a + b + k) == 6

    # A new rule through the API, while the backend runs: KeyErrors now get
    # their own fingerprint, connection troubles no longer match any rule.
    status, _, body = backend.request(
        "PUT", "/api/0/projects/e2e/",
        {"fingerprintingRules": "error.type:KeyError -> keys {{ default }}\n"})
    assert status == 200, body
    assert json.loads(body)["fingerprintingRules"].startswith("error.type:KeyError")

    def after_the_change() -> bool:
        # The consumer re-reads project rules every few seconds: send until
        # a KeyError lands in an issue of its own.
        with sentry(dsn(relay, project)):
            capture(other_failure)
        current = backend.all_issues("e2e")
        return len(current) == 3

    wait_until(after_the_change, 60, "a KeyError in the new rule's issue", interval=1)
    with sentry(dsn(relay, project)):
        capture(fail_in_a)
        capture(fail_in_b)
    wait_until(lambda: len(backend.all_issues("e2e")) == 5, 60,
               "the two connection troubles in issues of their own")
    titles = sorted(i["title"] for i in backend.all_issues("e2e"))
    # Without a matching rule the two functions group apart again, titled
    # as usual; the earlier issue keeps its rule title.
    assert titles.count("ConnectionTrouble: db-1 refused the connection") == 1, titles
    assert titles.count("ConnectionTrouble: db-2 timed out") == 1, titles
    assert "Connections: ConnectionTrouble" in titles

    # Stack-trace rules from the CLI: the two raising functions leave the
    # hash, so both troubles hash alike again (one new issue for both).
    st = tmp_path / "stacktrace.txt"
    st.write_text("stack.function:fail_in_* -group\n")
    r = backend.cli("project", "set-rules", "--project", "e2e", "--stacktrace", str(st))
    assert r.returncode == 0, r.stderr
    assert backend.api("/api/0/projects/e2e/")["groupingEnhancements"] == st.read_text()
    bad = tmp_path / "bad-st.txt"
    bad.write_text("family:native category=x\n")
    r = backend.cli("project", "set-rules", "--project", "e2e", "--stacktrace", str(bad))
    assert r.returncode == 1 and "category" in r.stderr

    def merged() -> bool:
        with sentry(dsn(relay, project)):
            capture(fail_in_a)
            capture(fail_in_b)
        grown = [i for i in backend.all_issues("e2e")
                 if i["title"].startswith("ConnectionTrouble: ")]
        return len(grown) == 3

    wait_until(merged, 60, "both troubles in one new issue under the stack-trace rule",
               interval=1)
    newest = [i for i in backend.all_issues("e2e")
              if i["title"].startswith("ConnectionTrouble: ")]
    assert len(newest) == 3
    assert backend.stop() == 0
