"""`tern-relay check-config FILE`: 0 for the shipped example, non-zero with
file:line for a broken file."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import REPO, relay_bin


def _check(path, cwd=REPO):
    return subprocess.run(
        [str(relay_bin()), "check-config", str(path)], cwd=cwd, capture_output=True, text=True, timeout=30
    )


def test_example_config_is_valid():
    r = _check("config/relay.yml")
    assert r.returncode == 0, r.stdout + r.stderr


BROKEN = {
    # name: (text, line of the error)
    "unknown_key": ("listen:\n  http: \"127.0.0.1:3000\"\nworkerz: 2\n", 3),
    "bad_type": ("listen:\n  http: \"127.0.0.1:3000\"\nworkers: many\n", 3),
    "bad_address": ("workers: 1\nlisten:\n  http: \"not an address\"\n", 3),
    "bad_size": ("limits:\n  max_event_size: 12 parsecs\n", 2),
    "yaml_syntax": ("listen:\n  http: \"127.0.0.1:3000\n  udp: [\n", None),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_config_names_file_and_line(tmp_path, name):
    text, line = BROKEN[name]
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    r = _check(path)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    if line is not None:
        assert f"{path}:{line}:" in out, out
    else:
        assert re.search(re.escape(str(path)) + r":\d+", out), out


def test_missing_file_is_an_error(tmp_path):
    path = tmp_path / "absent.yml"
    r = _check(path)
    assert r.returncode != 0
    assert str(path) in r.stdout + r.stderr
