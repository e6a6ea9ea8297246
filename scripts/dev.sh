#!/usr/bin/env bash
# Runs the whole Tern stack on this machine, on embedded defaults:
#   1. scripts/deps.sh (Debian packages) and `npm ci` in tests/browser
#      (@sentry/browser for the dev test page, playwright-core for the tests)
#   2. a Release build in build/ (incremental after the first run)
#   3. tern-mock-kafka: librdkafka's mock cluster, a Kafka-protocol broker in
#      memory (its data is lost when it stops; the backend's store is not)
#   4. tern-backend on 127.0.0.1:9000: SQLite in var/tern.db, the web UI in
#      dev mode (open without login from 127.0.0.1), /dev/browser-test
#   5. a demo project, created once and kept in var/demo-project.txt
#   6. tern-relay on 127.0.0.1:3000, fetching projects from the backend
# then prints the DSN, the UI's URL, the API token and a curl line that sends
# a test event, and waits. Ctrl-C (or SIGTERM) stops the relay, the backend
# and the broker, in that order.
#
# Idempotent and non-interactive: a second run reuses the build, the config
# (var/backend.yml, var/relay.yml, with the tokens generated on the first
# run) and the data. Environment (for tests of this script):
#   TERN_BUILD_DIR   build tree (default build)
#   TERN_VAR_DIR     state directory (default var)
#   TERN_DEV_SKIP_BUILD=1   skip deps.sh, npm ci and the build
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${TERN_BUILD_DIR:-build}
VAR=${TERN_VAR_DIR:-var}
BACKEND_ADDR=127.0.0.1:9000
RELAY_ADDR=127.0.0.1:3000

die() { echo "dev.sh: $*" >&2; exit 1; }

if [[ ${TERN_DEV_SKIP_BUILD:-0} != 1 ]]; then
  ./scripts/deps.sh
  launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
  cmake --build "$BUILD" --target tern-relay tern-backend tern-mock-kafka
  # @sentry/browser's ES modules, served by /dev/browser-test.
  NPM_DIR=$ROOT/tests/browser
  locksum=$(sha256sum "$NPM_DIR/package-lock.json" | cut -d' ' -f1)
  if [[ $(cat "$NPM_DIR/node_modules/.package-lock.sha256" 2>/dev/null) != "$locksum" ]]; then
    echo "dev.sh: npm ci in $NPM_DIR" >&2
    (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$locksum" >"$NPM_DIR/node_modules/.package-lock.sha256"
  fi
fi

BIN=$BUILD/bin
for b in tern-relay tern-backend tern-mock-kafka; do
  [[ -x $BIN/$b ]] || die "$BIN/$b not built"
done
for addr in $BACKEND_ADDR $RELAY_ADDR; do
  if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then
    die "$addr is already in use (another dev.sh running?)"
  fi
done

mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd)

# --- tokens, kept across runs ------------------------------------------------
if [[ ! -s $VAR/tokens ]]; then
  umask 077
  {
    echo "api_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "relay_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  } >"$VAR/tokens"
  umask 022
fi
api_token=$(sed -n 's/^api_token=//p' "$VAR/tokens")
relay_token=$(sed -n 's/^relay_token=//p' "$VAR/tokens")

# --- processes ----------------------------------------------------------------
pids=()
cleanup() {
  trap - INT TERM EXIT
  # Reverse start order: the relay drains into Kafka, the backend finishes
  # its batch, then the broker goes.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "dev.sh: stopped (data kept in $VAR)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits until $2 answers HTTP 200, or the process $1 died.
wait_http() {
  local pid=$1 url=$2 i
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

"$BIN/tern-mock-kafka" >"$VAR/mock-kafka.out" 2>"$VAR/mock-kafka.log" &
pids+=($!)
for _ in $(seq 1 300); do
  [[ -s $VAR/mock-kafka.out ]] && break
  kill -0 "${pids[0]}" 2>/dev/null || break
  sleep 0.1
done
bootstrap=$(head -n1 "$VAR/mock-kafka.out" 2>/dev/null || true)
[[ -n $bootstrap ]] || { cat "$VAR/mock-kafka.log" >&2; die "tern-mock-kafka did not start"; }

# Generated every run (the bootstrap port changes); the tokens do not.
cat >"$VAR/backend.yml" <<EOF
# Written by scripts/dev.sh on every run; edit scripts/dev.sh instead.
listen:
  http: "$BACKEND_ADDR"
store:
  dsn: "sqlite:$VAR/tern.db"
kafka:
  bootstrap_servers: "$bootstrap"
  topics:
    # The mock broker only has the relay's topics.
    dead_letter: ""
auth:
  api_token: "$api_token"
  relay_token: "$relay_token"
relay_public_address: "$RELAY_ADDR"
ui:
  dev_mode: true
  browser_sdk_dir: "$ROOT/tests/browser/node_modules"
EOF

# --- demo project, once --------------------------------------------------------
if [[ ! -s $VAR/demo-project.txt ]]; then
  "$BIN/tern-backend" project create --name demo --config "$VAR/backend.yml" \
    >"$VAR/demo-project.txt.tmp"
  mv "$VAR/demo-project.txt.tmp" "$VAR/demo-project.txt"
fi
dsn=$(sed -n 's/^dsn: //p' "$VAR/demo-project.txt")
public_key=$(sed -n 's/^public_key: //p' "$VAR/demo-project.txt")
project_id=$(sed -n 's/^project_id: //p' "$VAR/demo-project.txt")
[[ -n $dsn && -n $public_key && -n $project_id ]] || die "$VAR/demo-project.txt is incomplete; delete it and rerun"
# The test page reads the DSN from the config (the ui: block ends the file).
echo "  browser_test_dsn: \"$dsn\"" >>"$VAR/backend.yml"

# The mock broker starts empty every run while the store keeps the Kafka
# offsets of the last one; the backend notices that a stored offset is past
# a partition's end and reads the new topic from its beginning.
"$BIN/tern-backend" run --config "$VAR/backend.yml" >>"$VAR/backend.log" 2>&1 &
pids+=($!)
wait_http "${pids[-1]}" "http://$BACKEND_ADDR/healthz" ||
  { tail -n 20 "$VAR/backend.log" >&2; die "tern-backend did not start (log: $VAR/backend.log)"; }

mkdir -p "$VAR/spool"
cat >"$VAR/relay.yml" <<EOF
# Written by scripts/dev.sh on every run; edit scripts/dev.sh instead.
listen:
  http: "$RELAY_ADDR"
  udp: "$RELAY_ADDR"
kafka:
  bootstrap_servers: "$bootstrap"
spool:
  dir: "$VAR/spool"
projects:
  file: null
  upstream:
    url: "http://$BACKEND_ADDR"
    token: "$relay_token"
EOF
"$BIN/tern-relay" run --config "$VAR/relay.yml" >>"$VAR/relay.log" 2>&1 &
pids+=($!)
wait_http "${pids[-1]}" "http://$RELAY_ADDR/api/relay/healthcheck/ready/" ||
  { tail -n 20 "$VAR/relay.log" >&2; die "tern-relay did not start (log: $VAR/relay.log)"; }

cat <<EOF

Tern is running (Ctrl-C stops it; data stays in $VAR).

  DSN (demo project):  $dsn
  Web UI:              http://$BACKEND_ADDR/   (dev mode: open without login
                       from this machine; /login takes the API token)
  API token:           $api_token   (also: Authorization: Bearer ... on /api/0/)
  Browser SDK page:    http://$BACKEND_ADDR/dev/browser-test
  Logs:                $VAR/backend.log, $VAR/relay.log

Send a test event:

  curl -s http://$RELAY_ADDR/api/$project_id/store/ \\
    -H 'X-Sentry-Auth: Sentry sentry_key=$public_key, sentry_version=7' \\
    -H 'Content-Type: application/json' \\
    -d '{"exception":{"values":[{"type":"ValueError","value":"hello from curl"}]}}'

Kafka is librdkafka's mock broker, in memory: what it holds is lost when
dev.sh stops (events already stored by the backend are kept).
EOF

# Exit (and clean up) when any of the three dies.
wait -n "${pids[@]}" || true
echo "dev.sh: a process exited; see $VAR/*.log" >&2
exit 1
