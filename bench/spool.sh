#!/usr/bin/env bash
# What the spool costs and how fast it drains (issue 12, docs/spool.md).
# Builds nothing.
#
#   bench/spool.sh cost RELAY_BINARY [SECONDS] [ROUNDS]
#       bench/wrk.sh (1 KiB gzip envelopes, relay pinned to CPU 0, wrk and
#       the mock cluster to CPU 1) with spool off, fsync interval and fsync
#       always, interleaved ROUNDS times (default 3) for SECONDS each
#       (default 15), so every setting sees the same machine. Prints events
#       per relay CPU-second and p99 per run, the medians, and each median
#       as a ratio to "off".
#
#   bench/spool.sh replay RELAY_BINARY [OUTAGE_SECONDS]
#       A real broker (scripts/kafka/up.sh) and the relay (one worker, CPU 0,
#       fsync interval). The broker is stopped, wrk sends for OUTAGE_SECONDS
#       (default 10) so the spool fills, the broker is started again on its
#       data, and the relay's /metrics are read every 0.1 s until the spool
#       is empty. Prints records and bytes spooled, bytes per event, the
#       replay rate (records per second into the broker, from the first
#       delivery after the outage to an empty spool) and the outage a default spool
#       (4 GiB) absorbs at 10k events/s.
#
# Needs wrk, curl, taskset, python3; replay also java and kcat (scripts/deps.sh).
set -euo pipefail

usage() { sed -n '2,24p' "$0" >&2; exit 2; }
(($# >= 2)) || usage
mode=$1
relay_bin=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

case $mode in
cost)
  seconds=${3:-15}
  rounds=${4:-3}
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  for ((r = 1; r <= rounds; r++)); do
    for s in off interval always; do
      BENCH_SPOOL=$s "$here/wrk.sh" "$relay_bin" "$seconds" 64 >"$out/$s-$r.txt" 2>&1 ||
        { cat "$out/$s-$r.txt" >&2; exit 1; }
      echo "round $r, spool $s: $(grep 'events per relay CPU-second' "$out/$s-$r.txt")" >&2
    done
  done
  python3 - "$out" "$rounds" <<'PY'
import re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def parse(path):
    t = open(path).read()
    eps = float(re.search(r"events per relay CPU-second: ([\d,]+)", t).group(1).replace(",", ""))
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", t)
    p99ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    bad = int(re.search(r"non-2xx: (\d+)", t).group(1))
    return eps, p99ms, bad
modes = ["off", "interval", "always"]
runs = {m: [parse(f"{out}/{m}-{r}.txt") for r in range(1, rounds + 1)] for m in modes}
print("| spool | " + " | ".join(f"run {r}" for r in range(1, rounds + 1)) +
      " | median events per relay CPU-second | x off | median p99 | non-2xx |")
print("|---|" + "---|" * rounds + "---|---|---|---|")
base = statistics.median(e for e, _, _ in runs["off"])
for m in modes:
    med = statistics.median(e for e, _, _ in runs[m])
    p99 = statistics.median(p for _, p, _ in runs[m])
    cells = " | ".join(f"{e:,.0f}" for e, _, _ in runs[m])
    print(f"| {m} | {cells} | {med:,.0f} | {med / base:.2f} | {p99:.2f} ms | "
          f"{sum(b for _, _, b in runs[m])} |")
PY
  ;;
replay)
  outage=${3:-10}
  for tool in wrk curl taskset python3; do
    command -v "$tool" >/dev/null || { echo "spool.sh: $tool not found" >&2; exit 1; }
  done
  work=$(mktemp -d)
  relay_pid=
  mock_pid=
  # shellcheck source=bench/stack.sh
  . "$here/stack.sh"
  cleanup() {
    bench_stop_stack
    "$repo/scripts/kafka/down.sh" "$work/kafka" >/dev/null 2>&1 || true
    rm -rf "$work"
  }
  trap cleanup EXIT
  kport=$(python3 -c '
import socket
for p in range(20000, 30000, 2):
    try:
        a, b = socket.socket(), socket.socket()
        a.bind(("127.0.0.1", p)); b.bind(("127.0.0.1", p + 1))
        a.close(); b.close(); print(p); break
    except OSError:
        pass')
  taskset -c 1 "$repo/scripts/kafka/up.sh" "$work/kafka" "$kport" >&2
  cat >"$work/projects.yml" <<EOF
projects:
  - id: 1
    keys:
      - public_key: 0123456789abcdef0123456789abcdef
    allowed_origins: ["*"]
EOF
  port=$(bench_free_port)
  BENCH_SPOOL=interval bench_start_relay "$relay_bin" 0 "$work" replay "$port" null 1 \
    "127.0.0.1:$kport" "$work/projects.yml"
  metrics() { curl -sf "http://127.0.0.1:$port/metrics"; }
  metric() { awk -v n="$1" '$1 == n { print $2 }' <<<"$2"; }
  "$repo/scripts/kafka/down.sh" "$work/kafka" >&2
  taskset -c 1 wrk -t1 -c64 -d"${outage}s" -s "$here/wrk/envelope_1k_gzip.lua" \
    "http://127.0.0.1:$port/api/1/envelope/" >"$work/wrk.out"
  m=$(metrics)
  records=$(metric tern_spool_records "$m")
  bytes=$(metric tern_spool_bytes "$m")
  accepted=$(awk '$1 ~ /^tern_items_total\{.*outcome="accepted"/ { s += $2 } END { print s + 0 }' <<<"$m")
  echo "spooled: $records records, $bytes bytes, $accepted events accepted" >&2
  delivered0=$(metric tern_kafka_delivered_total "$m")
  KAFKA_KEEP_DATA=1 taskset -c 1 "$repo/scripts/kafka/up.sh" "$work/kafka" "$kport" >&2 &
  up_pid=$!
  # From the first delivery after the outage to an empty spool, polled every
  # 0.1 s (the broker answering is the start, whatever up.sh sees).
  t0=
  while :; do
    m=$(metrics)
    now=$(date +%s.%N)
    if [[ -z $t0 && $(metric tern_kafka_delivered_total "$m") != "$delivered0" ]]; then
      t0=$now
    fi
    left=$(metric tern_spool_records "$m")
    [[ -n $t0 && ${left%.*} -eq 0 ]] && break
    sleep 0.1
  done
  t1=$now
  wait "$up_pid"
  python3 - "$records" "$bytes" "$accepted" "$t0" "$t1" "$(metric tern_spool_replayed_total "$m")" <<'PY'
import sys
records, nbytes, accepted, t0, t1, replayed = map(float, sys.argv[1:])
secs = t1 - t0
per_event = nbytes / accepted
print(f"spooled during the outage: {records:,.0f} records ({nbytes / 2**20:,.0f} MiB) "
      f"for {accepted:,.0f} events: {per_event:,.0f} bytes per event (event + outcome)")
print(f"drained in {secs:.1f} s from the first delivery: {records / secs:,.0f} records/s "
      f"({replayed:,.0f} records replayed from disk)")
print(f"a default spool (4 GiB) absorbs {4 * 2**30 / per_event / 10000 / 60:,.1f} minutes "
      f"of outage at 10k events/s")
PY
  ;;
*) usage ;;
esac
