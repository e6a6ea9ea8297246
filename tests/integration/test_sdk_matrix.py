"""The real SDK matrix (issue 17): each Sentry SDK, from its own registry and
pinned in a lock file, sends an exception, a message, a breadcrumb trail, a
user, a tag set, an attachment and (where the SDK has them) a session through
tern-relay and a real Kafka broker into tern-backend (SQLite). The test then
reads what the backend stored: each issue's title, culprit, level and count,
and the latest event's breadcrumbs, user, tags, attachment and SDK.

| case        | SDK                          | program                   |
|-------------|------------------------------|---------------------------|
| python-1    | sentry-sdk 1.45.1 (PyPI)     | tests/sdk/python/send.py  |
| python-2    | sentry-sdk 2.76.0 (PyPI)     | tests/sdk/python/send.py  |
| node-8/9/11 | @sentry/node 8.55.2, 9.47.2, | tests/sdk/node/send.js    |
|             | 11.12.0 (npm)                |                           |
| go          | sentry-go v0.46.2            | tests/sdk/go/main.go      |
| java        | io.sentry:sentry 8.64.0      | tests/sdk/java/ (Java 17) |
| rust        | sentry 0.49.5 (crates.io)    | tests/sdk/rust/src/main.rs|

Every SDK is installed or built under $TERN_CACHE/sdk (default
~/.cache/tern/sdk), never in the git tree, from its lock file
(requirements-*.txt, package-lock.json, go.sum, the pom's pinned versions,
Cargo.lock). The first run needs the network; a stamp (the hash of the lock
and source files) marks a finished install or build, so later runs do no
install at all and build offline (GOPROXY=off, cargo --offline, mvn -o).
docs/sdk-matrix.md describes the matrix.

The programs all send the same scene (the order 4711 story below), so the
stored results differ only where the SDKs do: each SDK's exception is a real
error of its language, and its title and culprit are the ones Sentry's
eventtypes/culprit code gives for that SDK's event (docs/grouping.md).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest

from conftest import REPO, Collector
from test_backend import start_pair, wait_for_events

SDK_SRC = REPO / "tests" / "sdk"
CACHE = Path(os.environ.get("TERN_CACHE") or Path.home() / ".cache" / "tern") / "sdk"
# A first install downloads and builds (Rust is the long one: ~3-4 min on
# two cores); a warm one only checks its stamp.
SETUP_TIMEOUT = 900
# A download step that gets no answer (a machine without the network) fails
# at this deadline at the latest; the clients' own timeouts (set below) are
# shorter.
NETWORK_TIMEOUT = 300
RUN_TIMEOUT = 120

STEPS = ["opened the order form", "validated the order", "submitted the order"]
USER = {"id": "4711", "username": "ada", "email": "ada@example.com"}
MESSAGE = "tern matrix message: order queue is full"
ATTACHMENT = {"name": "order.txt", "mimetype": "text/plain", "size": len(b"order 4711: 3 items\n")}


# --- installing and building, once, under $TERN_CACHE ---------------------------


class SetupError(Exception):
    pass


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"{name} is not installed: {hint}")
    return path


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _fresh(stamp: Path, digest: str, *outputs: Path) -> bool:
    try:
        return stamp.read_text() == digest and all(o.exists() for o in outputs)
    except FileNotFoundError:
        return False


def _run(cmd: list[str], what: str, *, cwd: Path | None = None, env: dict | None = None,
         network: bool = False) -> None:
    """Runs one install or build step; a failure or a hang becomes a
    SetupError that says what failed and, for a step that downloads, that
    the first run needs the registry."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    timeout = NETWORK_TIMEOUT if network else SETUP_TIMEOUT
    try:
        r = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        what_more = " (a download: is the network reachable?)" if network else ""
        raise SetupError(f"{what}: no result after {timeout}s{what_more} ({' '.join(cmd)})") from None
    if r.returncode != 0:
        note = (" (this step downloads from the registry: the first run needs the network;"
                " later runs use the cache under " + str(CACHE) + ")") if network else ""
        tail = (r.stdout[-3000:] + "\n" + r.stderr[-3000:]).strip()
        raise SetupError(f"{what} failed{note}:\n$ {' '.join(cmd)}\n{tail}")


def _nice(cmd: list[str]) -> list[str]:
    # The machine's two cores are shared: builds run at a lower priority.
    return ["nice", "-n", "10", *cmd] if shutil.which("nice") else cmd


@dataclasses.dataclass
class Program:
    argv: list[str]
    env: dict


def prepare_python(major: int) -> Program:
    req = SDK_SRC / "python" / f"requirements-{major}.x.txt"
    venv = CACHE / f"python-{major}.x"
    stamp = venv / ".tern-stamp"
    digest = _digest([req])
    py = venv / "bin" / "python"
    if not _fresh(stamp, digest, py):
        base = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else _tool(
            "python3", "install python3 and python3-venv")
        shutil.rmtree(venv, ignore_errors=True)
        _run([base, "-m", "venv", str(venv)], f"python3 -m venv {venv} (apt-get install python3-venv)")
        # --no-deps: the requirements file is the whole lock, nothing unpinned
        # slips in.
        _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-input",
              "--disable-pip-version-check", "--timeout", "30", "--retries", "1",
              "--cache-dir", str(CACHE / "pip-cache"), "-r", str(req)],
             f"pip install -r {req.relative_to(REPO)}", network=True)
        stamp.write_text(digest)
    return Program([str(py), str(SDK_SRC / "python" / "send.py")], {"PYTHONDONTWRITEBYTECODE": "1"})


def prepare_node(major: int) -> Program:
    node = _tool("node", "install Node.js (scripts/deps.sh installs nodejs and npm)")
    npm = _tool("npm", "install npm (scripts/deps.sh installs it)")
    src = SDK_SRC / "node" / f"v{major}"
    files = [src / "package.json", src / "package-lock.json"]
    dest = CACHE / f"node-v{major}"
    stamp = dest / ".tern-stamp"
    digest = _digest(files)
    if not _fresh(stamp, digest, dest / "node_modules" / "@sentry" / "node" / "package.json"):
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for f in files:
            shutil.copy(f, dest / f.name)
        _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefer-offline",
              "--fetch-retries=1", "--fetch-timeout=30000",
              "--cache", str(CACHE / "npm-cache")],
             f"npm ci for {src.relative_to(REPO)}", cwd=dest, network=True)
        stamp.write_text(digest)
    return Program([node, str(SDK_SRC / "node" / "send.js")], {"TERN_SDK_DIR": str(dest)})


def prepare_go() -> Program:
    go = _tool("go", "install Go (https://go.dev/dl/)")
    src = SDK_SRC / "go"
    out = CACHE / "go" / "tern-sdk-go"
    stamp = CACHE / "go" / ".tern-stamp"
    digest = _digest([src / "go.mod", src / "go.sum", src / "main.go"])
    env = {
        "GOMODCACHE": str(CACHE / "go" / "mod"),
        "GOCACHE": str(CACHE / "go" / "build"),
        "GOPATH": str(CACHE / "go" / "path"),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly",  # go.sum is the lock: never rewritten
        "CGO_ENABLED": "0",
    }
    if not _fresh(stamp, digest, out):
        build = _nice([go, "build", "-p", "2", "-o", str(out), "."])
        try:
            _run(build, "go build (tests/sdk/go)", cwd=src, env={**env, "GOPROXY": "off"})
        except SetupError:
            # Modules not yet in GOMODCACHE come from the proxy (checked
            # against go.sum); then the build runs with GOPROXY=off again.
            _run([go, "mod", "download"], "go mod download (tests/sdk/go)", cwd=src, env=env,
                 network=True)
            _run(build, "go build (tests/sdk/go)", cwd=src, env={**env, "GOPROXY": "off"})
        stamp.write_text(digest)
    return Program([str(out)], {})


def prepare_java() -> Program:
    java = _tool("java", "install a Java 17 JDK (openjdk-17-jdk-headless)")
    mvn = _tool("mvn", "install Maven (apt-get install maven)")
    _tool("javac", "install a Java 17 JDK with javac (openjdk-17-jdk-headless)")
    src = SDK_SRC / "java"
    build = CACHE / "java-build"
    stamp = build / ".tern-stamp"
    digest = _digest([src / "pom.xml", *sorted((src / "src").rglob("*.java"))])
    cp_file = build / "classpath.txt"
    if not _fresh(stamp, digest, cp_file, build / "classes"):
        base = [mvn, "-B", "-q", f"-Dmaven.repo.local={CACHE / 'm2'}",
                f"-Dtern.build.dir={build}", "-f", str(src / "pom.xml")]
        goals = ["compile", "dependency:build-classpath", f"-Dmdep.outputFile={cp_file}"]
        try:
            _run(_nice([*base, "-o", *goals]), "mvn -o compile (tests/sdk/java)")
        except SetupError:
            # Something is not in the local repository yet: fetch it.
            _run(_nice([*base, "-Dmaven.wagon.http.retryHandler.count=1",
                        "-Dmaven.wagon.rto=30000", *goals]),
                 "mvn compile (tests/sdk/java)", network=True)
        stamp.write_text(digest)
    cp = f"{build / 'classes'}:{cp_file.read_text().strip()}"
    return Program([java, "-cp", cp, "tern.sdk.SendMatrix"], {})


def prepare_rust() -> Program:
    cargo = _tool("cargo", "install Rust with rustup (https://rustup.rs)")
    src = SDK_SRC / "rust"
    target = CACHE / "rust-target"
    out = target / "debug" / "tern-sdk-rust"
    env = {
        "CARGO_HOME": str(CACHE / "cargo-home"),
        "CARGO_TARGET_DIR": str(target),
        "CARGO_NET_RETRY": "1",
        "CARGO_HTTP_TIMEOUT": "30",
        "CARGO_TERM_COLOR": "never",
    }
    stamp = target / ".tern-stamp"
    digest = _digest([src / "Cargo.toml", src / "Cargo.lock", *sorted((src / "src").rglob("*.rs"))])
    if not _fresh(stamp, digest, out):
        manifest = ["--manifest-path", str(src / "Cargo.toml")]
        build = _nice([cargo, "build", "--offline", "--locked", "-j", "2", *manifest])
        try:
            _run(build, "cargo build --offline (tests/sdk/rust)", env=env)
        except SetupError:
            # Crates not yet under CARGO_HOME: fetch them (as Cargo.lock
            # pins them), then build offline again.
            _run([cargo, "fetch", "--locked", *manifest], "cargo fetch (tests/sdk/rust)",
                 env=env, network=True)
            _run(build, "cargo build --offline (tests/sdk/rust)", env=env)
        stamp.write_text(digest)
    return Program([str(out)], {})


# --- the matrix -------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    id: str
    prepare: Callable[[], Program]
    sdk_name: str
    sdk_version: str
    platform: str
    tag: str                   # the program's `tern.matrix` tag
    title: str                 # the exception issue's title
    culprit: str               # the exception issue's culprit
    level: str                 # the exception issue's level
    metadata: dict             # the exception issue's metadata
    message_title: str         # the message issue's title
    message_culprit: str       # the message issue's culprit
    sessions: bool             # whether the SDK sends release-health sessions
    session_end: str = "exited"  # the session's final status


NODE_TYPE_ERROR = "Cannot read properties of null (reading 'items')"

CASES = [
    Case("python-1", lambda: prepare_python(1), "sentry.python", "1.45.1", "python", "python-1",
         "ZeroDivisionError: division by zero", "__main__ in divide", "error",
         {"type": "ZeroDivisionError", "value": "division by zero", "function": "divide"},
         MESSAGE, "", True),
    Case("python-2", lambda: prepare_python(2), "sentry.python", "2.76.0", "python", "python-2",
         "ZeroDivisionError: division by zero", "__main__ in divide", "error",
         {"type": "ZeroDivisionError", "value": "division by zero", "function": "divide"},
         MESSAGE, "", True),
    Case("node-8", lambda: prepare_node(8), "sentry.javascript.node", "8.55.2", "node", "node-8",
         f"TypeError: {NODE_TYPE_ERROR}", "countItems(send)", "error",
         {"type": "TypeError", "value": NODE_TYPE_ERROR, "function": "countItems"},
         MESSAGE, "", True),
    Case("node-9", lambda: prepare_node(9), "sentry.javascript.node", "9.47.2", "node", "node-9",
         f"TypeError: {NODE_TYPE_ERROR}", "countItems(send)", "error",
         {"type": "TypeError", "value": NODE_TYPE_ERROR, "function": "countItems"},
         MESSAGE, "", True),
    Case("node-11", lambda: prepare_node(11), "sentry.javascript.node", "11.12.0", "node", "node-11",
         f"TypeError: {NODE_TYPE_ERROR}", "countItems(send)", "error",
         {"type": "TypeError", "value": NODE_TYPE_ERROR, "function": "countItems"},
         # @sentry/node 11 attaches a synthetic stack trace to captureMessage:
         # an exception without a type, mechanism.synthetic. Sentry's
         # eventtypes/error.py titles such an event by its crash frame's
         # function (the async main() that called captureMessage), and
         # culprit.py gives it no culprit; the message is metadata.value.
         "main", "", True),
    # sentry-go has no release-health sessions (no session API at all).
    Case("go", prepare_go, "sentry.go", "0.46.2", "go", "go",
         '*strconv.NumError: strconv.Atoi: parsing "three": invalid syntax',
         "main in checkOrder", "error",
         {"type": "*strconv.NumError", "value": 'strconv.Atoi: parsing "three": invalid syntax',
          "function": "checkOrder"}, MESSAGE, "", False),
    Case("java", prepare_java, "sentry.java", "8.64.0", "java", "java",
         'NumberFormatException: For input string: "three"',
         "tern.sdk.SendMatrix in parseQuantity", "error",
         {"type": "NumberFormatException", "value": 'For input string: "three"',
          "function": "parseQuantity"}, MESSAGE, "", True),
    Case("rust", prepare_rust, "sentry.rust", "0.49.5", "native", "rust",
         "panic: attempt to divide by zero", "tern_sdk_rust::divide", "fatal",
         {"type": "panic", "value": "attempt to divide by zero",
          "function": "tern_sdk_rust::divide"}, MESSAGE, "", True,
         # The panic is unhandled (mechanism.handled false): the SDK marks
         # the session crashed at once, and ending it later changes nothing.
         session_end="crashed"),
]


@pytest.fixture(scope="module")
def programs(request):
    """Installs or builds every SDK this session selected, concurrently
    (downloads overlap with the Rust build), each under $TERN_CACHE/sdk.
    Returns {case id: future of a Program}; a case waits only for its own."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec is not None and "case" in callspec.params:
            wanted.append(callspec.params["case"])
    # Rust first: it is the long one.
    wanted.sort(key=lambda c: c.id != "rust")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
    futures = {c.id: pool.submit(c.prepare) for c in wanted}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def _program(programs, case: Case) -> Program:
    try:
        return programs[case.id].result()
    except SetupError as e:
        pytest.fail(f"{case.id}: {e}", pytrace=False)


def _issue(issues: list[dict], title: str) -> dict:
    matching = [i for i in issues if i["title"] == title]
    assert len(matching) == 1, [(i["title"], i["culprit"]) for i in issues]
    return matching[0]


def _check_scene(event: dict, case: Case, event_id: str) -> dict:
    """The latest-event answer: the scene every program sets up."""
    assert event["eventID"] == event_id
    assert event["release"] is not None
    assert event["environment"] == "integration"
    assert event["platform"] == case.platform
    tags = {t["key"]: t["value"] for t in event["tags"]}
    assert tags.get("tern.matrix") == case.tag, event["tags"]
    assert tags.get("shard") == "7", event["tags"]
    p = event["payload"]
    assert isinstance(p, dict), p
    assert p["sdk"]["name"] == case.sdk_name
    assert p["sdk"]["version"] == case.sdk_version
    crumbs = p["breadcrumbs"]["values"] if isinstance(p["breadcrumbs"], dict) else p["breadcrumbs"]
    # A breadcrumb's level defaults to info (the protocol's default; the Rust
    # SDK leaves it out when it is info).
    assert [(b.get("category"), b.get("message"), b.get("level", "info")) for b in crumbs] == \
        [("matrix", s, "info") for s in STEPS], crumbs
    assert {k: p["user"].get(k) for k in USER} == USER, p["user"]
    return p


def _sessions(c: Collector, release: str) -> list[dict]:
    """The session messages (Relay's JSON) of this release; the collector
    decodes only the default topic names, this topic is the test's own."""
    out = []
    for m in c.messages:
        v = json.loads(m.raw)
        if v.get("release") == release:
            out.append(v)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sdk_matrix(case, programs, kafka_broker, relay_factory, backend_factory, tmp_path):
    program = _program(programs, case)
    topics, backend, relay, project = start_pair(
        kafka_broker, relay_factory, backend_factory, f"sqlite:{tmp_path}/tern.db")
    release = f"tern-matrix-{case.id}@{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.update(program.env)
    env.update(SENTRY_DSN=f"http://{project['public_key']}@127.0.0.1:{relay.port}/{project['project_id']}",
               TERN_RELEASE=release)
    started = time.monotonic()
    r = subprocess.run(program.argv, env=env, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode == 0, f"{case.id} program failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"{case.id}: program ran in {time.monotonic() - started:.1f}s")
    if "sdk" in out:
        assert out["sdk"] == case.sdk_version

    issues = wait_for_events(backend, project, 2)
    # Exactly the two events, one issue each.
    assert len(issues) == 2, [(i["title"], i["count"]) for i in issues]

    exc = _issue(issues, case.title)
    assert exc["culprit"] == case.culprit
    assert exc["level"] == case.level
    assert exc["count"] == "1"
    assert {k: exc["metadata"].get(k) for k in case.metadata} == case.metadata, exc["metadata"]
    latest = backend.api(f"/api/0/issues/{exc['id']}/events/latest/")
    p = _check_scene(latest, case, out["exception_id"])
    assert p["release"] == release
    assert [{k: a[k] for k in ATTACHMENT} for a in latest["attachments"]] == [ATTACHMENT]

    msg = _issue(issues, case.message_title)
    assert msg["culprit"] == case.message_culprit
    if case.message_title != MESSAGE:
        # A synthetic exception: the message is the issue's value.
        assert msg["metadata"].get("value") == MESSAGE, msg["metadata"]
        assert "type" not in msg["metadata"], msg["metadata"]
    assert msg["level"] == "warning"
    assert msg["count"] == "1"
    latest = backend.api(f"/api/0/issues/{msg['id']}/events/latest/")
    p = _check_scene(latest, case, out["message_id"])
    assert latest["attachments"] == []

    # Sessions go through the relay to Kafka's sessions topic (the backend
    # sums them per release and hour; the API does not serve them).
    c = Collector(kafka_broker, [topics.sessions])
    try:
        if case.sessions:
            def ended(c):
                mine = _sessions(c, release)
                return mine if any(v["status"] != "ok" for v in mine) else None
            mine = c.wait_for(ended, f"{case.id}'s session on {topics.sessions}")
            final = [v for v in mine if v["status"] != "ok"]
            # One session, ended once, with the exception counted as its error.
            assert len({v["session_id"] for v in mine}) == 1, mine
            assert [v["status"] for v in final] == [case.session_end], mine
            assert final[0]["errors"] == 1, mine
            assert final[0]["environment"] == "integration"
        else:
            c.drain()
            assert _sessions(c, release) == []
    finally:
        c.close()
    assert backend.stop() == 0
