#!/usr/bin/env bash
# Measures the relay's HTTP intake with wrk: 1 KiB gzip envelopes with one
# event each, against a mock Kafka cluster. Builds nothing.
#
#   bench/wrk.sh RELAY_BINARY [SECONDS] [CONNECTIONS]
#   e.g. bench/wrk.sh build/bin/tern-relay 20 64
#
# Starts tern-mock-kafka (from TERN_MOCK_KAFKA, default: next to the relay
# binary) and the relay with a generated config (one worker, project 1 with
# the demo key), pins the relay to CPU 0 (TERN_RELAY_CPU) and wrk plus the
# mock cluster to CPU 1 (TERN_WRK_CPU), runs wrk for SECONDS (default 20)
# with CONNECTIONS (default 64) connections on TERN_WRK_THREADS threads
# (default 1), and prints events/s and events per relay CPU-second (the
# relay's utime+stime from /proc/PID/stat over the run, all its threads,
# librdkafka's included). Needs wrk, curl, taskset; TERN_RELAY_WORKERS sets
# the relay's worker count (default 1); TERN_WRK_QUOTA_LIMIT=N gives the
# project a quota of N events an hour over every category, so the rest of
# the run measures the 429 reject path. TERN_PERF=FILE also records the
# relay with `perf record` (999 Hz, self time) during the measured run into FILE and prints
# the top symbols (perf adds a little CPU of its own); TERN_PERF_CALLGRAPH=1
# records call chains as well (-g).
set -euo pipefail

if (($# < 1)); then
  sed -n '2,20p' "$0" >&2
  exit 2
fi
relay_bin=$(realpath "$1")
seconds=${2:-20}
conns=${3:-64}
here=$(cd "$(dirname "$0")" && pwd)
mock_bin=${TERN_MOCK_KAFKA:-$(dirname "$relay_bin")/tern-mock-kafka}
relay_cpu=${TERN_RELAY_CPU:-0}
wrk_cpu=${TERN_WRK_CPU:-1}
threads=${TERN_WRK_THREADS:-1}
workers=${TERN_RELAY_WORKERS:-1}
for tool in wrk curl taskset; do
  command -v "$tool" >/dev/null || { echo "wrk.sh: $tool not found" >&2; exit 1; }
done
[[ -x $relay_bin ]] || { echo "wrk.sh: $relay_bin is not executable" >&2; exit 1; }
[[ -x $mock_bin ]] || { echo "wrk.sh: $mock_bin not found (TERN_MOCK_KAFKA)" >&2; exit 1; }

work=$(mktemp -d)
mock_pid=
relay_pid=
# shellcheck source=bench/stack.sh
. "$here/stack.sh"
cleanup() {
  bench_stop_stack
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Mock Kafka; its first stdout line is the bootstrap list.
bench_start_mock "$mock_bin" "$wrk_cpu" "$work" || exit 1

# 2. The relay.
port=$(bench_free_port)
cat >"$work/projects.yml" <<EOF
projects:
  - id: 1
    keys:
      - public_key: 0123456789abcdef0123456789abcdef
    allowed_origins: ["*"]
EOF
if [[ -n ${TERN_WRK_QUOTA_LIMIT:-} ]]; then
  # The reject path: a quota over every category, full after LIMIT events,
  # so the rest of the run is answered 429 before parsing.
  cat >>"$work/projects.yml" <<EOF
    quotas:
      - id: wrk
        limit: $TERN_WRK_QUOTA_LIMIT
        window: 3600
        reason_code: wrk_quota
EOF
fi
bench_start_relay "$relay_bin" "$relay_cpu" "$work" wrk "$port" null "$workers" \
  "$bootstrap" "$work/projects.yml" || exit 1

# utime + stime of the relay, in clock ticks (fields 14 and 15; the command
# name in field 2 has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$relay_pid/stat"; }
hz=$(getconf CLK_TCK)

# Warm-up (connections, producer batches), not measured.
taskset -c "$wrk_cpu" wrk -t"$threads" -c"$conns" -d2s \
  -s "$here/wrk/envelope_1k_gzip.lua" "http://127.0.0.1:$port/api/1/envelope/" \
  >/dev/null 2>&1

perf_pid=
if [[ -n ${TERN_PERF:-} ]]; then
  perf_args=(-F 999)
  [[ -n ${TERN_PERF_CALLGRAPH:-} ]] && perf_args+=(-g)
  taskset -c "$wrk_cpu" perf record "${perf_args[@]}" -o "$TERN_PERF" -p "$relay_pid" \
    >/dev/null 2>&1 &
  perf_pid=$!
fi
before=$(cpu_ticks)
taskset -c "$wrk_cpu" wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency \
  -s "$here/wrk/envelope_1k_gzip.lua" "http://127.0.0.1:$port/api/1/envelope/" \
  | tee "$work/wrk.out"
after=$(cpu_ticks)
if [[ -n $perf_pid ]]; then
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
fi

curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics" || true

python3 - "$work/wrk.out" "$before" "$after" "$hz" "$seconds" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
before, after, hz, secs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
m = re.search(r"(\d+) requests in ([\d.]+)(m?s|m)", out)
requests = int(m.group(1))
dur = float(m.group(2)) * {"s": 1, "ms": 1e-3, "m": 60}[m.group(3)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
bad = int(bad.group(1)) if bad else 0
errors = re.search(r"Socket errors: (.*)", out)
ok = requests - bad
cpu = (after - before) / hz
print()
print(f"requests: {requests} in {dur:.2f} s, non-2xx: {bad}" +
      (f", socket errors: {errors.group(1)}" if errors else ""))
print(f"events/s (200 only): {ok / dur:,.0f}")
print(f"relay CPU: {cpu:.2f} s over the run ({cpu / dur * 100:.0f}% of one core)")
if cpu > 0:
    print(f"events per relay CPU-second: {ok / cpu:,.0f}")
    print(f"requests per relay CPU-second (any status): {requests / cpu:,.0f}")
PY
echo "relay metrics:"
grep -E '^tern_(items_total\{outcome="(accepted|rate_limited)"\}|requests_rate_limited_unread_total|http_responses_total\{route="envelope"|backpressure_rejections_total|kafka_delivered_total|kafka_queue_full_total)' \
  "$work/metrics" | grep -v ' 0$' || true
if [[ -n ${TERN_PERF:-} ]]; then
  echo "perf: top symbols (self), from $TERN_PERF:"
  perf report -i "$TERN_PERF" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -30
fi
