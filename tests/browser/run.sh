#!/usr/bin/env bash
# The headless browser test of the web UI (tests/browser/ui_test.js):
# starts tern-mock-kafka, tern-backend (SQLite, ui.dev_mode on, the
# @sentry/browser packages of this folder) and tern-relay fetching projects
# from it, on free loopback ports in a temp dir, then drives Debian's
# chromium with playwright-core.
#
#   tests/browser/run.sh BUILD_DIR
#
# BUILD_DIR holds bin/tern-backend, bin/tern-relay and bin/tern-mock-kafka
# (built beforehand). Screenshots and the processes' logs go to
# BUILD_DIR/browser-artifacts/. node_modules is refreshed with `npm ci` when
# package-lock.json changes. Prints "browser: N passed, M failed" and exits
# non-zero on failure. Needs chromium, nodejs and npm (scripts/deps.sh).
set -euo pipefail

die() { echo "browser/run.sh: $*" >&2; echo "browser: 0 passed, 1 failed"; exit 1; }

(($# == 1)) || die "usage: tests/browser/run.sh BUILD_DIR"
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "$1" && pwd)
BIN=$BUILD/bin
for b in tern-backend tern-relay tern-mock-kafka; do
  [[ -x $BIN/$b ]] || die "$BIN/$b not found (build it first)"
done
[[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium not found (scripts/deps.sh installs it)"
command -v node >/dev/null || die "node not found"

locksum=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [[ $(cat "$HERE/node_modules/.package-lock.sha256" 2>/dev/null) != "$locksum" ]]; then
  echo "browser/run.sh: npm ci in $HERE" >&2
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$locksum" >"$HERE/node_modules/.package-lock.sha256"
fi

ART=$BUILD/browser-artifacts
rm -rf "$ART"
mkdir -p "$ART"
work=$(mktemp -d)
pids=()
cleanup() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  cp "$work"/*.log "$ART/" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {  # pid url
  local i
  for i in $(seq 1 300); do
    kill -0 "$1" 2>/dev/null || return 1
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

"$BIN/tern-mock-kafka" >"$work/mock.out" 2>"$work/mock-kafka.log" &
pids+=($!)
for _ in $(seq 1 300); do
  [[ -s $work/mock.out ]] && break
  sleep 0.1
done
bootstrap=$(head -n1 "$work/mock.out")
[[ -n $bootstrap ]] || die "tern-mock-kafka did not start"

backend_port=$(free_port)
relay_port=$(free_port)
api_token=browser-test-api-token-0123456789
relay_token=browser-test-relay-token-0123456789
cat >"$work/backend.yml" <<YML
listen:
  http: "127.0.0.1:$backend_port"
store:
  dsn: "sqlite:$work/tern.db"
kafka:
  bootstrap_servers: "$bootstrap"
  topics:
    dead_letter: ""
  consumer:
    batch_max_wait: 20ms
auth:
  api_token: "$api_token"
  relay_token: "$relay_token"
relay_public_address: "127.0.0.1:$relay_port"
ui:
  dev_mode: true
  browser_sdk_dir: "$HERE/node_modules"
YML
"$BIN/tern-backend" project create --name browser --config "$work/backend.yml" >"$work/project.txt"
dsn=$(sed -n 's/^dsn: //p' "$work/project.txt")
slug=$(sed -n 's/^slug: //p' "$work/project.txt")

"$BIN/tern-backend" run --config "$work/backend.yml" >"$work/backend.log" 2>&1 &
pids+=($!)
wait_http "${pids[-1]}" "http://127.0.0.1:$backend_port/healthz" || die "tern-backend did not start"

mkdir -p "$work/spool"
cat >"$work/relay.yml" <<YML
listen:
  http: "127.0.0.1:$relay_port"
  udp: "127.0.0.1:$relay_port"
kafka:
  bootstrap_servers: "$bootstrap"
spool:
  dir: "$work/spool"
projects:
  file: null
  upstream:
    url: "http://127.0.0.1:$backend_port"
    token: "$relay_token"
YML
"$BIN/tern-relay" run --config "$work/relay.yml" >"$work/relay.log" 2>&1 &
pids+=($!)
wait_http "${pids[-1]}" "http://127.0.0.1:$relay_port/api/relay/healthcheck/ready/" || die "tern-relay did not start"

rc=0
TERN_UI_URL="http://127.0.0.1:$backend_port" TERN_RELAY_URL="http://127.0.0.1:$relay_port" \
  TERN_DSN="$dsn" TERN_API_TOKEN="$api_token" TERN_PROJECT_SLUG="$slug" TERN_ARTIFACTS="$ART" \
  NODE_PATH="$HERE/node_modules" node "$HERE/ui_test.js" || rc=$?
echo "browser/run.sh: screenshots and logs in $ART" >&2
exit $rc
