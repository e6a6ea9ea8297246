#!/usr/bin/env bash
# Open-loop latency of relay builds or settings side by side (issue 13).
# Builds nothing.
#
#   bench/latency.sh [--rate R] [--rounds N] [--closed] NAME=BINDIR[:YAML] ...
#
# Each NAME=BINDIR is one variant: BINDIR holds tern-relay, tern-bench and
# tern-mock-kafka (e.g. build/bin of two checkouts); YAML, if given, is
# appended to the generated relay.yml (top-level keys, e.g.
# "background_nice: 0"). Per round, every variant in turn gets a fresh mock
# cluster (CPU 1) and relay (one worker, CPU 0, spool as BENCH_SPOOL says,
# default interval, in $TMPDIR), then tern-bench on CPU 1 sends 1 KiB gzip
# envelopes over 64 connections at R per second (default 30000), open
# loop, for 10 s after 3 s of warm-up: latency from the scheduled send
# time, so a stall counts for every request it delays. --closed runs closed
# loop instead (the maximum rate). Interleaving the variants round by round
# is what makes their numbers comparable on a machine whose speed drifts.
#
# Prints one line per run (p50/p90/p99/p99.9, events per relay CPU-second)
# and per variant the median of each over the rounds.
set -euo pipefail

usage() { sed -n '2,20p' "$0" >&2; exit 2; }
rate=30000 rounds=4 mode=open
variants=()
while (($#)); do
  case $1 in
    --rate) rate=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --closed) mode=closed ;;
    -h|--help) usage ;;
    *=*) variants+=("$1") ;;
    *) usage ;;
  esac
  shift
done
((${#variants[@]})) || usage
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/stack.sh
source "$here/stack.sh"
relay_pid= mock_pid= nginx_pid=
work=$(mktemp -d)
trap 'bench_stop_stack; rm -rf "$work"' EXIT

results=$work/results.txt
for ((r = 1; r <= rounds; r++)); do
  for v in "${variants[@]}"; do
    name=${v%%=*} spec=${v#*=}
    bin=${spec%%:*} yaml=
    [[ $spec == *:* ]] && yaml=${spec#*:}
    dir=$work/$name-$r
    mkdir -p "$dir"
    bench_start_mock "$bin/tern-mock-kafka" 1 "$dir"
    port=$(bench_free_port)
    "$bin/tern-bench" projects-file --projects 100 >"$dir/projects.yml"
    BENCH_RELAY_YAML=$yaml bench_start_relay "$bin/tern-relay" 0 "$dir" "$name" \
      "$port" null 1 "$bootstrap" "$dir/projects.yml"
    flags=(--endpoint=envelope --encoding=gzip --event-size=1k --connections=64 --projects=100)
    [[ $mode == open ]] && flags+=("--rate=$rate")
    taskset -c 1 "$bin/tern-bench" --port "$port" --target-pid "$relay_pid" \
      --name "$name" --json "$dir/out.json" --duration 10 --warmup 3 \
      "${flags[@]}" >"$dir/bench.txt" 2>&1
    bench_stop_stack
    python3 - "$dir/out.json" "$name" "$r" >>"$results" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lat = d["latency_ms"]
print(sys.argv[2], sys.argv[3], lat["p50"], lat["p90"], lat["p99"], lat["p99_9"],
      round(d["target"]["ok_per_cpu_s"]))
PY
    tail -n1 "$results" | awk '{printf "round %s %-12s p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f ms  %s per relay CPU-s\n", $2, $1, $3, $4, $5, $6, $7}'
  done
done
label=$mode
[[ $mode == open ]] && label="open loop at $rate/s"
echo "medians over $rounds rounds ($label):"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append([float(x) for x in f[2:]])
for name, rs in rows.items():
    med = [statistics.median(c) for c in zip(*rs)]
    print(f"  {name:<12} p50 {med[0]:.3f} p90 {med[1]:.3f} p99 {med[2]:.3f} "
          f"p99.9 {med[3]:.3f} ms  {med[4]:.0f} per relay CPU-s")
PY
