#!/usr/bin/env bash
# Runs tern-relay's integration tests with real parts (tests/integration):
# a real Kafka broker, the real sentry-python and @sentry/node SDKs, raw UDP,
# and the SDK matrix (test_sdk_matrix.py: Python, Node, Go, Java and Rust
# SDKs, which it installs and builds itself under $TERN_CACHE/sdk; it needs
# go, cargo, javac and mvn besides node and npm; docs/sdk-matrix.md).
#
#   scripts/integration.sh BUILD_DIR [pytest args...]
#
#   BUILD_DIR       the CMake build tree holding bin/tern-relay (built
#                   beforehand; this script does not build). The venv goes to
#                   BUILD_DIR/venv, the broker's WORKDIR to BUILD_DIR/kafka-it.
#   pytest args     passed on, e.g. -k udp or tests/integration/test_udp.py
#                   (tests/integration is added unless a tests/ path is given)
#   TERN_RELAY_BIN  overrides BUILD_DIR/bin/tern-relay
#
# Idempotent and non-interactive. Needs Debian's python3 + python3-venv,
# nodejs + npm, and what scripts/kafka/up.sh needs (java 17, mvn on the first
# run, kcat): scripts/deps.sh installs them. The venv is made with
# /usr/bin/python3 (Debian's, whatever python3 is first on PATH) and rebuilt
# when tests/integration/requirements.txt changes; node_modules is refreshed
# with `npm ci` when tests/sdk/package-lock.json changes.
#
# The pytest session starts one broker (scripts/kafka/up.sh on a free port)
# and always stops it (down.sh); the trap below stops it too if pytest itself
# is killed. Prints "integration: N passed, M failed" and exits non-zero on any
# failure.
set -euo pipefail

die() { echo "integration.sh: $*" >&2; exit 1; }

(($# >= 1)) || die "usage: integration.sh BUILD_DIR [pytest args...]"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
BUILD=$(cd "$1" && pwd)
shift

export TERN_RELAY_BIN=${TERN_RELAY_BIN:-$BUILD/bin/tern-relay}
[[ -x $TERN_RELAY_BIN ]] || die "relay binary $TERN_RELAY_BIN not found (build the tern-relay target first)"

PY=/usr/bin/python3
[[ -x $PY ]] || die "$PY not found (apt-get install python3 python3-venv)"
command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found (apt-get install npm)"

# --- Python venv -------------------------------------------------------------
VENV=$BUILD/venv
REQ=$ROOT/tests/integration/requirements.txt
reqsum=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ $(cat "$VENV/.requirements.sha256" 2>/dev/null) != "$reqsum" ]]; then
  echo "integration.sh: creating $VENV" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-input -r "$REQ"
  echo "$reqsum" >"$VENV/.requirements.sha256"
fi

# --- @sentry/node ------------------------------------------------------------
SDK=$ROOT/tests/sdk
locksum=$(sha256sum "$SDK/package-lock.json" | cut -d' ' -f1)
if [[ $(cat "$SDK/node_modules/.package-lock.sha256" 2>/dev/null) != "$locksum" ]]; then
  echo "integration.sh: npm ci in $SDK" >&2
  (cd "$SDK" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$locksum" >"$SDK/node_modules/.package-lock.sha256"
fi

# --- run -----------------------------------------------------------------------
export PYTHONDONTWRITEBYTECODE=1
export TERN_IT_KAFKA_DIR=$BUILD/kafka-it
mkdir -p "$TERN_IT_KAFKA_DIR"
# pytest's session fixture stops the broker; this covers pytest being killed.
trap '"$ROOT/scripts/kafka/down.sh" "$TERN_IT_KAFKA_DIR" >/dev/null 2>&1 || true' EXIT

# pytest args: the test directory is added unless a test path was given.
args=("$@")
has_path=0
for a in "${args[@]}"; do
  [[ $a == tests/* || $a == */tests/integration* ]] && has_path=1
done
((has_path)) || args+=(tests/integration)

log=$BUILD/integration.log
rm -f "$BUILD/integration-junit.xml"
rc=0
(cd "$ROOT" && "$VENV/bin/python" -m pytest -p no:cacheprovider -ra \
  --junitxml="$BUILD/integration-junit.xml" "${args[@]}") 2>&1 |
  tee "$log" || rc=$?

# Counts from the JUnit report (pytest's summary line omits zero counts).
read -r passed failed < <("$VENV/bin/python" - "$BUILD/integration-junit.xml" <<'EOF' || echo "0 1"
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1)
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - bad - skipped, bad)
EOF
)
if ((rc != 0 && failed == 0)); then failed=1; fi  # pytest failed outside any test
echo "integration: $passed passed, $failed failed"
exit $rc
