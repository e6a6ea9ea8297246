"""Shared fixtures for tern-relay's integration tests with real parts.

One real Apache Kafka broker (scripts/kafka/up.sh) serves the whole pytest
session; it is started on a free port pair and always stopped at the end
(down.sh in the fixture's finalizer, so a failing or interrupted run stops it
too). Each test starts its own tern-relay process(es) with a projects file of
its own: project ids are random per test, so tests that share the broker never
see each other's messages (everything the relay writes carries the project id:
event/attachment messages and outcomes in their body, sessions in their key).

Environment:
  TERN_RELAY_BIN        the relay binary (default: <repo>/build/bin/tern-relay)
  TERN_KAFKA_BOOTSTRAP  use this running broker instead of starting one
                        (host:port); topics are still created if missing
  TERN_IT_KAFKA_DIR     WORKDIR for up.sh/down.sh (default: a pytest tmp dir)

Waiting is always "until a condition holds or a deadline passes"; nothing
sleeps to let something happen.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

import msgpack
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[2]
KAFKA_SCRIPTS = REPO / "scripts" / "kafka"

TOPIC_EVENTS = "ingest-events"
TOPIC_ATTACHMENTS = "ingest-attachments"
TOPIC_TRANSACTIONS = "ingest-transactions"
TOPIC_SESSIONS = "ingest-sessions"
TOPIC_OUTCOMES = "outcomes"
ALL_TOPICS = (
    TOPIC_EVENTS,
    TOPIC_ATTACHMENTS,
    TOPIC_TRANSACTIONS,
    TOPIC_SESSIONS,
    TOPIC_OUTCOMES,
)
MSGPACK_TOPICS = (TOPIC_EVENTS, TOPIC_ATTACHMENTS, TOPIC_TRANSACTIONS)

# Outcome codes and data categories (protocol/kafka_codec.h,
# protocol/data_category.h).
OUTCOME_ACCEPTED = 0
OUTCOME_FILTERED = 1
OUTCOME_RATE_LIMITED = 2
OUTCOME_INVALID = 3
CATEGORY_DEFAULT = 0
CATEGORY_ERROR = 1
CATEGORY_TRANSACTION = 2
CATEGORY_ATTACHMENT = 4
CATEGORY_SESSION = 5

BROKER_START_TIMEOUT = 300  # covers a first fetch of the broker's jars
RELAY_READY_TIMEOUT = 30
KAFKA_WAIT_TIMEOUT = 30


def relay_bin() -> Path:
    return Path(os.environ.get("TERN_RELAY_BIN") or REPO / "build" / "bin" / "tern-relay")


# --- ports -------------------------------------------------------------------


def _port_free(port: int, kind: int) -> bool:
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _candidate_ports() -> range:
    """Ports below the kernel's ephemeral range.

    Outgoing connections take their local port from the ephemeral range
    (ip_local_port_range), so a port below it is never taken, or left in
    TIME_WAIT, by a client connection: on a machine where a load test just
    ran, most ephemeral ports are, and a port the kernel hands out for
    bind(0) can be taken by the next connect() before the server binds it.
    """
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    if low > 12000:
        return range(10000, low - 1)
    return range(1024, 65534)


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 right now.

    The relay cannot report a port 0 it bound to the outside, so the tests
    choose one, at random from below the ephemeral range.
    """
    ports = _candidate_ports()
    for _ in range(1000):
        port = random.choice(ports)
        if _port_free(port, socket.SOCK_STREAM) and _port_free(port, socket.SOCK_DGRAM):
            return port
    raise RuntimeError("no free TCP+UDP port found")


def free_port_pair() -> int:
    """A port p with p and p+1 free for TCP (Kafka client + controller)."""
    ports = _candidate_ports()
    for _ in range(1000):
        p = random.choice(ports)
        if _port_free(p, socket.SOCK_STREAM) and _port_free(p + 1, socket.SOCK_STREAM):
            return p
    raise RuntimeError("no free port pair found")


# --- waiting -----------------------------------------------------------------


def wait_until(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Polls `cond` until it returns a truthy value or `timeout` passes.

    Only for states that offer no notification (readiness, a counter on
    /metrics); raises AssertionError naming `what` at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- Kafka ---------------------------------------------------------------------


@dataclasses.dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    raw: bytes
    value: Any  # msgpack map (ingest-*), parsed JSON (outcomes, sessions)

    @property
    def project_id(self) -> int | None:
        if self.topic == TOPIC_SESSIONS:
            try:
                return int(self.key.decode()) if self.key else None
            except ValueError:
                return None
        if isinstance(self.value, dict):
            pid = self.value.get("project_id")
            return pid if isinstance(pid, int) else None
        return None


def decode_value(topic: str, raw: bytes | None) -> Any:
    """msgpack map (ingest-*) or JSON (outcomes, sessions).

    A value that does not decode (not the relay's: another producer on a
    shared broker) stays raw bytes; it carries no project id, so no test
    query matches it, and a test that expects the relay's shape fails on it.
    """
    if raw is None:
        return None
    try:
        if topic in MSGPACK_TOPICS:
            return msgpack.unpackb(raw, raw=False)
        if topic in (TOPIC_OUTCOMES, TOPIC_SESSIONS):
            return json.loads(raw)
    except (ValueError, msgpack.UnpackException):
        return raw
    return raw


class Collector:
    """Reads the relay's topics from the beginning and keeps what it read.

    Partitions are assigned directly (no consumer group join), starting at
    OFFSET_BEGINNING, so nothing produced before the collector existed is
    missed. `wait_for` polls until a condition on the collected messages
    holds (with a deadline); `drain` reads up to the current end of every
    partition, which after the relay exited is everything it produced.
    """

    def __init__(self, bootstrap: str, topics: Iterable[str] = ALL_TOPICS):
        self.topics = tuple(topics)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"tern-it-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                # Chunk messages are ~1 MiB each.
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
            }
        )
        md = self.consumer.list_topics(timeout=10)
        self.partitions: list[TopicPartition] = []
        for t in self.topics:
            tmd = md.topics.get(t)
            if tmd is None or tmd.error is not None:
                raise AssertionError(f"topic {t} is missing on the broker: {tmd and tmd.error}")
            for p in sorted(tmd.partitions):
                self.partitions.append(TopicPartition(t, p, OFFSET_BEGINNING))
        self.consumer.assign(self.partitions)
        self.messages: list[Message] = []

    def close(self) -> None:
        self.consumer.close()

    def _poll(self, timeout: float) -> int:
        got = 0
        for m in self.consumer.consume(num_messages=1000, timeout=timeout):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            self.messages.append(
                Message(
                    topic=m.topic(),
                    partition=m.partition(),
                    offset=m.offset(),
                    key=m.key(),
                    raw=m.value(),
                    value=decode_value(m.topic(), m.value()),
                )
            )
            got += 1
        return got

    def wait_for(self, cond: Callable[["Collector"], Any], what: str, timeout: float = KAFKA_WAIT_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = cond(self)
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; collected: {self.summary()}"
                )
            self._poll(min(0.5, left))

    def drain(self, timeout: float = KAFKA_WAIT_TIMEOUT) -> None:
        """Reads until every assigned partition is at its current end."""
        ends = {}
        for tp in self.partitions:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            ends[(tp.topic, tp.partition)] = high

        def done() -> bool:
            positions = self.consumer.position(
                [TopicPartition(t, p) for (t, p) in ends]
            )
            for tp in positions:
                high = ends[(tp.topic, tp.partition)]
                if high > 0 and (tp.offset < 0 or tp.offset < high):
                    return False
            return True

        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"drain timed out; ends={ends}")
            self._poll(min(0.5, left))

    # --- queries ---

    def of(self, topic: str, project_id: int | None = None, type_: str | None = None) -> list[Message]:
        out = []
        for m in self.messages:
            if m.topic != topic:
                continue
            if project_id is not None and m.project_id != project_id:
                continue
            if type_ is not None and (not isinstance(m.value, dict) or m.value.get("type") != type_):
                continue
            out.append(m)
        return out

    def for_project(self, project_id: int) -> list[Message]:
        return [m for m in self.messages if m.project_id == project_id]

    def outcomes(self, project_id: int, outcome: int | None = None, category: int | None = None) -> list[dict]:
        out = []
        for m in self.of(TOPIC_OUTCOMES, project_id):
            o = m.value
            if outcome is not None and o.get("outcome") != outcome:
                continue
            if category is not None and o.get("category") != category:
                continue
            out.append(o)
        return out

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for m in self.messages:
            counts[m.topic] = counts.get(m.topic, 0) + 1
        return json.dumps(counts)


class Kafka:
    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self._collectors: list[Collector] = []

    def collector(self, topics: Iterable[str] = ALL_TOPICS) -> Collector:
        c = Collector(self.bootstrap, topics)
        self._collectors.append(c)
        return c

    def close_collectors(self) -> None:
        while self._collectors:
            self._collectors.pop().close()


def create_topics(bootstrap: str) -> None:
    """Creates the relay's topics up front with one partition each, so they
    exist before any relay starts. Their size limit is the broker's
    (message.max.bytes in scripts/kafka/server.properties): 1 MiB attachment
    chunks need more than Kafka's default, and the tests check the shipped
    broker config rather than a test-only topic override. Existing topics are
    left as they are."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    new = [
        NewTopic(
            t,
            num_partitions=1,
            replication_factor=1,
        )
        for t in ALL_TOPICS
        if t not in existing
    ]
    if not new:
        return
    for topic, fut in admin.create_topics(new, operation_timeout=30).items():
        try:
            fut.result(timeout=60)
        except Exception as e:  # noqa: BLE001 - a concurrent creation is fine
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    wait_until(
        lambda: all(t in admin.list_topics(timeout=10).topics for t in ALL_TOPICS),
        30,
        "topics to be listed",
    )


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory) -> Iterable[str]:
    """host:port of a real broker, started for this session and stopped after."""
    bootstrap = os.environ.get("TERN_KAFKA_BOOTSTRAP")
    if bootstrap:
        create_topics(bootstrap)
        yield bootstrap
        return
    workdir = Path(os.environ.get("TERN_IT_KAFKA_DIR") or tmp_path_factory.mktemp("kafka"))
    up, down = KAFKA_SCRIPTS / "up.sh", KAFKA_SCRIPTS / "down.sh"
    try:
        last = None
        for _ in range(3):
            port = free_port_pair()
            r = subprocess.run(
                [str(up), str(workdir), str(port)],
                capture_output=True,
                text=True,
                timeout=BROKER_START_TIMEOUT,
            )
            sys.stderr.write(r.stderr)
            if r.returncode == 0:
                break
            last = r
            if "already in use" not in r.stderr:
                break  # not a port race: retrying will not help
        else:
            r = last
        if r is None or r.returncode != 0:
            raise RuntimeError(f"scripts/kafka/up.sh failed:\n{r.stdout}\n{r.stderr}")
        bootstrap = (workdir / "bootstrap").read_text().strip()
        create_topics(bootstrap)
        yield bootstrap
    finally:
        subprocess.run([str(down), str(workdir)], timeout=60, check=False)


@pytest.fixture
def kafka(kafka_broker) -> Iterable[Kafka]:
    k = Kafka(kafka_broker)
    yield k
    k.close_collectors()


# --- projects ------------------------------------------------------------------


@dataclasses.dataclass
class Project:
    id: int
    key: str
    key_id: int
    extra_keys: dict[str, dict] = dataclasses.field(default_factory=dict)
    # The project's quotas, as the projects file writes them.
    quotas: list[dict] = dataclasses.field(default_factory=list)

    def to_yaml_obj(self) -> dict:
        keys = [{"public_key": self.key, "id": self.key_id}]
        for k, attrs in self.extra_keys.items():
            keys.append({"public_key": k, **attrs})
        return {"id": self.id, "keys": keys, "allowed_origins": ["*"], "quotas": self.quotas}


def new_key() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def project() -> Project:
    """A project with a random id and key, so tests on one broker never mix."""
    return Project(id=random.randint(10**6, 2**31 - 1), key=new_key(), key_id=random.randint(1, 10**6))


# --- the relay process -----------------------------------------------------------


class Relay:
    """One tern-relay process with a config and projects file of its own."""

    def __init__(self, workdir: Path, bootstrap: str, projects: list[Project],
                 launcher: list[str] | None = None, **overrides):
        """`launcher`, when given, is a command the relay's argv is appended
        to (e.g. one that mounts a file system for it first)."""
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.projects = projects
        self.bootstrap = bootstrap
        self.launcher = list(launcher or [])
        self.overrides = overrides
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path = workdir / "relay.log"
        self.returncode: int | None = None

    def _write_config(self) -> Path:
        projects_file = self.workdir / "projects.yml"
        # JSON is YAML: the relay's loader reads it as such.
        projects_file.write_text(json.dumps({"projects": [p.to_yaml_obj() for p in self.projects]}, indent=2))
        overrides = dict(self.overrides)
        producer = {"linger_ms": 1}
        producer.update(overrides.pop("producer", {}))
        # Each relay its own spool, kept across restarts of this Relay (a
        # restart replays what the last run left).
        spool = {"dir": str(self.workdir / "spool")}
        spool.update(overrides.pop("spool", {}))
        Path(spool["dir"]).mkdir(parents=True, exist_ok=True)
        config = {
            "listen": {"http": f"127.0.0.1:{self.port}", "udp": f"127.0.0.1:{self.port}"},
            "workers": overrides.pop("workers", 2),
            "kafka": {"bootstrap_servers": self.bootstrap, "producer": producer},
            "spool": spool,
            # projects_source= replaces the projects file (an upstream).
            "projects": overrides.pop("projects_source", {"file": str(projects_file)}),
            "logging": {"level": "info"},
        }
        for k, v in overrides.items():
            config[k] = v
        path = self.workdir / "relay.yml"
        path.write_text(json.dumps(config, indent=2))
        return path

    def spawn(self) -> None:
        """Starts the process on a fresh free port without waiting for it."""
        binary = relay_bin()
        if not binary.exists():
            raise AssertionError(f"relay binary {binary} not found (set TERN_RELAY_BIN)")
        self.port = free_port()
        config = self._write_config()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.launcher, str(binary), "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
        )
        log.close()

    def start(self) -> "Relay":
        """spawn() and wait until /ready/ answers 200."""
        last_log = ""
        for _ in range(3):  # a chosen port can be taken before the relay binds it
            self.spawn()
            try:
                self._wait_ready()
                return self
            except _Exited:
                last_log = self.log()
                if "in use" not in last_log:
                    break
        raise AssertionError(f"relay did not start:\n{last_log[-4000:]}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + RELAY_READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise _Exited()
            try:
                status, _, _ = self.get("/api/relay/healthcheck/ready/")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(
            f"relay not ready after {RELAY_READY_TIMEOUT}s:\n{self.log()[-4000:]}"
        )

    # --- HTTP ---

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def dsn(self, project: Project, key: str | None = None) -> str:
        return f"http://{key or project.key}@127.0.0.1:{self.port}/{project.id}"

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body: bytes, headers: dict | None = None):
        return self.request("POST", path, body, headers)

    def metrics(self) -> dict[str, float]:
        """GET /metrics as {'name{labels}': value}."""
        status, _, body = self.get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return parse_metrics(body.decode())

    # --- process ---

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        if self.proc is None:
            return self.returncode or 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"relay did not exit {timeout}s after SIGTERM:\n{self.log()[-4000:]}")
        return self.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class _Exited(Exception):
    pass


def parse_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def metric_sum(metrics: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for k, v in metrics.items():
        n, _, rest = k.partition("{")
        if n != name:
            continue
        if all(f'{lk}="{lv}"' in rest for lk, lv in labels.items()):
            total += v
    return total


@pytest.fixture
def relay_factory(kafka_broker, tmp_path, request):
    """start(projects, **config_overrides) -> a running Relay; every relay
    still running at teardown is killed, and its log printed on failure."""
    relays: list[Relay] = []

    def start(projects: list[Project], **overrides) -> Relay:
        r = Relay(tmp_path / f"relay{len(relays)}", kafka_broker, projects, **overrides)
        relays.append(r)
        return r.start()

    yield start
    for r in relays:
        r.kill()
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            sys.stderr.write(f"--- {r.log_path} ---\n{r.log()[-6000:]}\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


# --- assertions shared by the test modules --------------------------------------


def check_event_message(msg: Message, project: Project, event_id: str, attachments: int = 0) -> dict:
    """Asserts Sentry's `event` msgpack shape; returns the parsed payload."""
    v = msg.value
    assert isinstance(v, dict), v
    assert v["type"] == "event"
    assert v["event_id"] == event_id
    assert msg.key == event_id.encode()
    assert v["project_id"] == project.id
    assert v["remote_addr"] == "127.0.0.1"
    assert isinstance(v["start_time"], int) and abs(v["start_time"] - time.time()) < 600
    assert isinstance(v["payload"], bytes)
    payload = json.loads(v["payload"])
    assert payload["event_id"] == event_id
    assert isinstance(v["attachments"], list) and len(v["attachments"]) == attachments
    return payload


def check_outcome(o: dict, project: Project, outcome: int, category: int, event_id: str | None, quantity: int = 1):
    assert o["project_id"] == project.id
    assert o["key_id"] == project.key_id
    assert o["outcome"] == outcome
    assert o["category"] == category
    assert o["event_id"] == event_id
    assert o["quantity"] == quantity
    assert o["remote_addr"] == "127.0.0.1"
    assert isinstance(o["timestamp"], str) and o["timestamp"].endswith("Z")
    if outcome == OUTCOME_ACCEPTED:
        assert o["reason"] is None


SESSION_MESSAGE_KEYS = {
    "org_id", "project_id", "session_id", "distinct_id", "quantity", "seq",
    "received", "started", "duration", "status", "errors", "release",
    "environment", "sdk", "retention_days",
}
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def expected_session_messages(items) -> list[tuple]:
    """What the relay must write to ingest-sessions for the SDK's session
    items (Relay's session messages, docs/protocol.md): one per "session"
    update, one per non-zero status count of each "sessions" aggregate group.
    Each as (session_id, status, quantity, errors > 0, release)."""
    out = []
    for item in items:
        s = json.loads(item.payload)
        release = (s.get("attrs") or {}).get("release")
        if item.type == "session":
            # Relay writes the id hyphenated; JS SDKs send 32 bare digits.
            sid = str(uuid.UUID(s["sid"]))
            out.append((sid, s.get("status", "ok"), 1,
                        s.get("errors", 0) > 0, release))
            continue
        for group in s["aggregates"]:
            for status in ("exited", "errored", "abnormal", "crashed"):
                n = group.get(status, 0)
                if n:
                    out.append((NIL_UUID, status, n, status != "exited", release))
    return out


def session_message_tuples(messages) -> list[tuple]:
    """The same tuple for each message on ingest-sessions, after checking the
    message has exactly Relay's keys."""
    out = []
    for m in messages:
        v = m.value
        assert isinstance(v, dict), m.raw
        assert set(v) == SESSION_MESSAGE_KEYS, sorted(v)
        assert v["org_id"] == 0 and v["retention_days"] == 90
        assert v["received"] >= v["started"] - 60, v
        out.append((v["session_id"], v["status"], v["quantity"],
                    v["errors"] > 0, v["release"]))
    return out


# --- tern-backend ----------------------------------------------------------------

POSTGRES_SCRIPTS = REPO / "scripts" / "postgres"
BACKEND_READY_TIMEOUT = 30
API_TOKEN = "it-api-token-0123456789"
RELAY_TOKEN = "it-relay-token-0123456789"


def backend_bin() -> Path:
    return Path(os.environ.get("TERN_BACKEND_BIN") or relay_bin().parent / "tern-backend")


class Topics:
    """A topic set of its own for one relay + backend pair, so a backend
    that reads its topics from the beginning sees only its test's messages."""

    def __init__(self, bootstrap: str, partitions: int = 1):
        tag = uuid.uuid4().hex[:10]
        self.events = f"it-{tag}-events"
        self.attachments = f"it-{tag}-attachments"
        self.transactions = f"it-{tag}-transactions"
        self.sessions = f"it-{tag}-sessions"
        self.outcomes = f"it-{tag}-outcomes"
        self.other = f"it-{tag}-other"
        self.dead_letter = f"it-{tag}-dead-letter"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        names = [self.events, self.attachments, self.transactions, self.sessions,
                 self.outcomes, self.other, self.dead_letter]
        for _, fut in admin.create_topics(
                [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names],
                operation_timeout=30).items():
            fut.result(timeout=60)

    def relay_kafka(self, bootstrap: str) -> dict:
        return {
            "bootstrap_servers": bootstrap,
            "producer": {"linger_ms": 1},
            "topics": {
                "events": self.events, "attachments": self.attachments,
                "transactions": self.transactions, "sessions": self.sessions,
                "outcomes": self.outcomes, "other": self.other,
            },
        }

    def backend_kafka(self, bootstrap: str, **consumer) -> dict:
        return {
            "bootstrap_servers": bootstrap,
            "topics": {
                "events": self.events, "attachments": self.attachments,
                "transactions": self.transactions, "sessions": self.sessions,
                "dead_letter": self.dead_letter,
            },
            "consumer": {"group_id": f"it-{uuid.uuid4().hex[:8]}", **consumer},
        }


class Backend:
    """One tern-backend process with a config of its own."""

    def __init__(self, workdir: Path, store_dsn: str, kafka: dict, **overrides):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "backend.log"
        self.config_path = workdir / "backend.yml"
        self.store_dsn = store_dsn
        self.kafka = kafka
        self.overrides = overrides

    def write_config(self) -> Path:
        config = {
            "listen": {"http": f"127.0.0.1:{self.port}"},
            "store": {"dsn": self.store_dsn},
            "kafka": self.kafka,
            "auth": {"api_token": API_TOKEN, "relay_token": RELAY_TOKEN},
            "logging": {"level": "info"},
        }
        config.update(self.overrides)
        self.config_path.write_text(json.dumps(config, indent=2))
        return self.config_path

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        if self.port == 0:
            self.port = free_port()
        self.write_config()
        return subprocess.run([str(backend_bin()), *args, "--config", str(self.config_path)],
                              capture_output=True, text=True, timeout=60, cwd=self.workdir)

    def create_project(self, name: str) -> dict:
        r = self.cli("project", "create", "--name", name)
        assert r.returncode == 0, r.stderr
        out = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines())
        out["project_id"] = int(out["project_id"])
        return out

    def start(self) -> "Backend":
        binary = backend_bin()
        if not binary.exists():
            raise AssertionError(f"backend binary {binary} not found (set TERN_BACKEND_BIN)")
        last = ""
        for _ in range(3):
            self.port = free_port()
            self.write_config()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([str(binary), "run", "--config", str(self.config_path)],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir)
            log.close()
            deadline = time.monotonic() + BACKEND_READY_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    status, _, _ = self.request("GET", "/healthz")
                    if status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            last = self.log()
            self.kill()
            if "in use" not in last:
                break
        raise AssertionError(f"backend did not start:\n{last[-4000:]}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: Any = None, token: str | None = API_TOKEN):
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def api(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, f"GET {path}: {status} {body[:500]!r}"
        return json.loads(body)

    def all_issues(self, project: str | int, status: str = "all",
                   unavailable_ok: bool = False) -> list[dict] | None:
        """Every issue of a project, following the Link header's next cursor.
        With unavailable_ok, a 503 (the store reconnecting) gives None."""
        out, cursor = [], None
        for _ in range(1000):
            path = f"/api/0/projects/{project}/issues/?status={status}&limit=100"
            if cursor:
                path += f"&cursor={urllib.parse.quote(cursor)}"
            code, headers, body = self.request("GET", path)
            if code == 503 and unavailable_ok:
                return None
            assert code == 200, f"GET {path}: {code} {body[:300]!r}"
            out.extend(json.loads(body))
            nxt = _next_cursor(headers.get("Link", ""))
            if nxt is None:
                return out
            cursor = nxt
        raise AssertionError("issue pagination did not end")

    def metrics(self) -> dict[str, float]:
        status, _, body = self.request("GET", "/metrics", token=None)
        assert status == 200
        return parse_metrics(body.decode())

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"backend did not exit {timeout}s after SIGTERM:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _next_cursor(link: str) -> str | None:
    """The cursor of rel="next" when results="true" (Sentry's Link header)."""
    for part in link.split(","):
        if 'rel="next"' in part and 'results="true"' in part:
            for attr in part.split(";"):
                attr = attr.strip()
                if attr.startswith('cursor="'):
                    return attr[len('cursor="'):-1]
    return None


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterable[str]:
    """URI of a real PostgreSQL server (scripts/postgres/up.sh), without a
    database name; stopped at the end of the session."""
    # pytest's tmp dirs are private (0700): up.sh keeps the cluster in a
    # directory of its own, so the server can run as `postgres` under root.
    workdir = tmp_path_factory.mktemp("postgres")
    up, down = POSTGRES_SCRIPTS / "up.sh", POSTGRES_SCRIPTS / "down.sh"
    try:
        r = subprocess.run([str(up), str(workdir)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"postgres/up.sh failed:\n{r.stdout}\n{r.stderr}"
        yield (workdir / "uri").read_text().strip()
    finally:
        subprocess.run([str(down), str(workdir)], capture_output=True, timeout=120)


def create_database(server_uri: str) -> str:
    """A fresh database on the test server; returns its URI."""
    name = f"it_{uuid.uuid4().hex[:12]}"
    r = subprocess.run(["psql", f"{server_uri}/postgres", "-v", "ON_ERROR_STOP=1", "-qc",
                        f"CREATE DATABASE {name}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return f"{server_uri}/{name}"


@pytest.fixture
def backend_factory(kafka_broker, tmp_path, request):
    """start(store_dsn, kafka, **overrides) -> a Backend (not started);
    every backend still running at teardown is killed, its log printed on
    failure."""
    backends: list[Backend] = []

    def make(store_dsn: str, kafka: dict, **overrides) -> Backend:
        b = Backend(tmp_path / f"backend{len(backends)}", store_dsn, kafka, **overrides)
        backends.append(b)
        return b

    yield make
    for b in backends:
        b.kill()
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            sys.stderr.write(f"--- {b.log_path} ---\n{b.log()[-6000:]}\n")
