"""Releases and source maps end to end, with the real tools (issue 18):

a small JavaScript app (tests/integration/sourcemaps/app.js) is minified
twice with esbuild (two different builds), `sentry-cli sourcemaps inject`
gives each build a debug ID and `sentry-cli sourcemaps upload` sends it to
tern-backend; the real @sentry/node SDK (tests/sdk/throw_minified.js) throws
from the minified code through tern-relay and a real Kafka broker. The stored
events must show the original file, function and line, keep the minified
frames, and both builds must land in one issue.

Bad uploads are sent to the same backend: a wrong token (401), a token
without the scope (403), an unknown project (404), a bundle over
sourcemaps.max_bundle_bytes (413, with the real CLI) and a corrupt zip (400).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import zipfile

import pytest

from conftest import REPO, RELAY_TOKEN, Topics, wait_until

SDK_DIR = REPO / "tests" / "sdk"
BIN = SDK_DIR / "node_modules" / ".bin"
APP = REPO / "tests" / "integration" / "sourcemaps" / "app.js"
MAX_BUNDLE = 64 * 1024


def _tools() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (scripts/deps.sh installs nodejs)")
    for tool in ("sentry-cli", "esbuild"):
        if not (BIN / tool).exists():
            pytest.fail(f"{BIN / tool} is missing: run scripts/integration.sh (npm ci)")
    return node


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def _cli(backend, token: str, *args: str, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(SENTRY_URL=backend.base, SENTRY_AUTH_TOKEN=token, SENTRY_ORG="tern",
               SENTRY_LOG_LEVEL="info")
    env.pop("SENTRY_DSN", None)
    return _run([str(BIN / "sentry-cli"), *args], cwd=cwd, env=env)


def _http(backend, method: str, path: str, token: str, body: bytes | None = None,
          content_type: str = "application/json"):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(backend.base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _upload_chunk(backend, token: str, data: bytes) -> int:
    sha = hashlib.sha1(data).hexdigest()
    boundary = "ternboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file_gzip\"; "
            f"filename=\"{sha}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += gzip.compress(data) + f"\r\n--{boundary}--\r\n".encode()
    status, _ = _http(backend, "POST", "/api/0/organizations/tern/chunk-upload/", token, body,
                      f"multipart/form-data; boundary={boundary}")
    return status


def _assemble(backend, token: str, data: bytes, projects: list[str]):
    sha = hashlib.sha1(data).hexdigest()
    body = json.dumps({"checksum": sha, "chunks": [sha], "projects": projects}).encode()
    status, out = _http(backend, "POST", "/api/0/organizations/tern/artifactbundle/assemble/",
                        token, body)
    return status, json.loads(out)


def _build(tmp, name: str, outfile: str, *flags: str) -> "os.PathLike":
    out = tmp / name
    src = out / "src"
    src.mkdir(parents=True)
    shutil.copy(APP, src / "app.js")
    r = _run([str(BIN / "esbuild"), "src/app.js", "--bundle", "--platform=node",
              "--format=cjs", "--sourcemap", f"--outfile=dist/{outfile}", *flags], cwd=out)
    assert r.returncode == 0, r.stderr
    minified = (out / "dist" / outfile).read_text()
    # Really minified: the function names are gone from the code.
    assert "validateOrder" not in minified and "processOrder" not in minified, minified
    return out


def test_sentry_cli_upload_and_minified_node_errors(kafka_broker, relay_factory,
                                                    backend_factory, tmp_path):
    node = _tools()
    topics = Topics(kafka_broker)
    backend = backend_factory(f"sqlite:{tmp_path / 'tern.db'}",
                              topics.backend_kafka(kafka_broker),
                              sourcemaps={"organization": "tern",
                                          "max_bundle_bytes": MAX_BUNDLE})
    project = backend.create_project("web")
    r = backend.cli("token", "create", "--scope", "project:releases", "--name", "ci")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    r = backend.cli("token", "create", "--scope", "org:read")
    assert r.returncode == 0, r.stderr
    read_only = r.stdout.strip()
    backend.start()
    relay = relay_factory(
        [], kafka=topics.relay_kafka(kafka_broker),
        projects_source={"file": None, "upstream": {"url": backend.base, "token": RELAY_TOKEN}})

    # Two different minified builds of the same source.
    builds = [
        ("web@1.0", _build(tmp_path, "a", "app.min.js", "--minify")),
        ("web@2.0", _build(tmp_path, "b", "bundle.js", "--minify-identifiers",
                           "--minify-syntax", "--target=es2017",
                           "--banner:js=/* build b */")),
    ]
    debug_ids = []
    for release, root in builds:
        r = _cli(backend, token, "sourcemaps", "inject", "dist", cwd=root)
        assert r.returncode == 0, r.stdout + r.stderr
        r = _cli(backend, token, "sourcemaps", "upload", "--project", "web",
                 "--release", release, "dist", cwd=root)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "File processing complete" in r.stdout, r.stdout
        ids = {line.split("debug id ")[1].rstrip(")") for line in r.stdout.splitlines()
               if "debug id " in line}
        assert len(ids) == 1, r.stdout
        debug_ids.append(ids.pop())
    assert debug_ids[0] != debug_ids[1]

    # Throw from each minified build through the relay, one after the other,
    # so each stored event can be read as its issue's latest.
    source_lines = APP.read_text().splitlines()
    throw_line = next(n for n, l in enumerate(source_lines, 1) if "throw new Error" in l)
    call_line = next(n for n, l in enumerate(source_lines, 1) if "validateOrder(order);" in l)
    event_ids = []
    for (release, root), name, debug_id in zip(builds, ("app.min.js", "bundle.js"), debug_ids):
        env = dict(os.environ)
        env.update(SENTRY_DSN=f"http://{project['public_key']}@127.0.0.1:{relay.port}/"
                              f"{project['project_id']}",
                   TERN_RELEASE=release, TERN_APP=str(root / "dist" / name))
        r = _run([node, str(SDK_DIR / "throw_minified.js")], cwd=SDK_DIR, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        event_id = json.loads(r.stdout.strip().splitlines()[-1])["event_id"]
        event_ids.append(event_id)

        def stored():
            for i in backend.all_issues("web"):
                code, _, body = backend.request("GET", f"/api/0/issues/{i['id']}/events/latest/")
                if code == 200 and json.loads(body)["eventID"] == event_id:
                    return json.loads(body)["payload"]
            return None

        payload = wait_until(stored, 60, f"event {event_id} stored")
        assert payload["release"] == release
        exc = payload["exception"]["values"][-1]
        assert exc["value"] == "order has no items"
        frames = exc["stacktrace"]["frames"]
        top, caller = frames[-1], frames[-2]
        assert top["function"] == "validateOrder", top
        assert top["lineno"] == throw_line, top
        assert top["abs_path"].endswith("/src/app.js"), top
        assert top["context_line"].strip() == 'throw new Error("order has no items");', top
        assert top["data"]["symbolicated"] is True
        assert top["data"]["resolved_with"] == "debug-id"
        assert "module" not in top, top  # it named the minified file
        assert caller["function"] == "processOrder", caller
        assert caller["lineno"] == call_line, caller
        assert caller["abs_path"] == top["abs_path"]
        # The minified frames are kept as they came.
        raw_top = exc["raw_stacktrace"]["frames"][-1]
        assert raw_top["filename"].endswith(f"/{root.name}/dist/{name}"), raw_top
        assert raw_top["function"] != "validateOrder", raw_top
        images = payload["debug_meta"]["images"]
        assert any(i["debug_id"] == debug_id and i["type"] == "sourcemap" for i in images)

    # One issue for both builds: grouping ran on the original frames.
    issues = backend.all_issues("web")
    assert len(issues) == 1, [(i["title"], i["culprit"]) for i in issues]
    issue = issues[0]
    assert int(issue["count"]) == 2
    assert issue["metadata"]["function"] == "validateOrder", issue
    assert issue["metadata"]["filename"].endswith("src/app.js"), issue
    code, _, body = backend.request("GET", f"/api/0/issues/{issue['id']}/events/")
    assert code == 200
    assert sorted(e["eventID"] for e in json.loads(body)) == sorted(event_ids)

    # --- bad uploads -------------------------------------------------------------
    status, _ = _http(backend, "GET", "/api/0/organizations/tern/chunk-upload/", "wrong-token")
    assert status == 401
    status, _ = _http(backend, "GET", "/api/0/organizations/tern/chunk-upload/", read_only)
    assert status == 403
    status, _ = _http(backend, "GET", "/api/0/organizations/other/chunk-upload/", token)
    assert status == 404
    r = _cli(backend, "wrong-token", "sourcemaps", "upload", "--project", "web", "dist",
             cwd=builds[0][1])
    assert r.returncode != 0
    assert "(http status: 401)" in r.stderr, r.stderr
    r = _cli(backend, token, "sourcemaps", "upload", "--project", "nope", "dist",
             cwd=builds[0][1])
    assert r.returncode != 0, r.stdout
    # The assemble's 404, which the CLI words as "Release not found".
    assert "not found" in r.stderr, r.stderr
    status, answer = _assemble(backend, token, b"whatever", ["nope"])
    assert status == 404, answer

    # A bundle over max_bundle_bytes, made and sent by the real CLI.
    big = tmp_path / "big"
    (big / "dist").mkdir(parents=True)
    (big / "dist" / "huge.min.js").write_text(
        "var x=" + json.dumps(os.urandom(2 * MAX_BUNDLE).hex()) + ";\n"
        "//# sourceMappingURL=huge.min.js.map\n")
    (big / "dist" / "huge.min.js.map").write_text(json.dumps(
        {"version": 3, "sources": ["huge.js"], "names": [], "mappings": "AAAA"}))
    r = _cli(backend, token, "sourcemaps", "upload", "--project", "web",
             "--release", "web@big", "dist", cwd=big)
    assert r.returncode != 0, r.stdout
    assert "larger than the limit" in r.stdout + r.stderr, r.stdout + r.stderr

    # A corrupt zip: the chunk is fine, the archive is not; nothing is stored.
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("manifest.json", json.dumps({"files": {"files/_/_/a.js": {
            "type": "minified_source", "url": "~/a.js"}}}))
        z.writestr("files/_/_/a.js", "function a(){}" * 100)
    corrupt = bytearray(good.getvalue())
    corrupt[40] ^= 0xFF  # inside the first entry's data
    assert _upload_chunk(backend, token, bytes(corrupt)) == 200
    status, answer = _assemble(backend, token, bytes(corrupt), ["web"])
    assert status == 400 and answer["state"] == "error", answer
    assert answer["detail"], answer
    status, answer = _assemble(backend, token, bytes(corrupt), ["web"])
    assert status == 400, answer  # still refused: nothing was stored
    # The intact archive is accepted (the refusal was about the bytes).
    assert _upload_chunk(backend, token, good.getvalue()) == 200
    status, answer = _assemble(backend, token, good.getvalue(), ["web"])
    assert status == 200 and answer["state"] == "ok", answer

