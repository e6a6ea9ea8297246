#!/usr/bin/env bash
# What shared quotas through Redis cost the relay (issue 16, docs/quotas.md
# "Across relays"). Builds nothing: run bench/run.sh once (or build
# tern-relay, tern-mock-kafka and tern-bench) first.
#
#   bench/quotas.sh [SECONDS] [ROUNDS] [RATE]
#
# The main scenario's load (tern-bench: 1 KiB gzip envelopes, 64
# connections, Zipf over 100 projects), with every project under a
# project-scoped error quota (defaults.quotas; 10^9 per 60 s, so nothing is
# refused and every event takes the counting path):
#   1. cost: closed loop for SECONDS (default 15) against a fresh relay with
#      the quota counted locally ("local") and one that shares it through a
#      redis-server ("redis"), interleaved ROUNDS times (default 3) so both
#      see the same machine. Prints events per relay CPU-second of every run,
#      the medians and redis/local.
#   2. commands: open loop at RATE events/s (default 50000) for SECONDS
#      against the Redis relay: commands per second the Redis server
#      processed (INFO stats, total_commands_processed) and the relay's
#      lease requests per second (tern_quota_leases_requested_total).
# The relay is pinned to TERN_RELAY_CPU (0); tern-bench, the mock cluster and
# redis-server to TERN_LOAD_CPU (1). TERN_BUILD_DIR: default build/.
# Needs redis-server and redis-cli (scripts/deps.sh), curl, taskset, python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${TERN_BUILD_DIR:-$root/build}
bin=$build/bin
relay_cpu=${TERN_RELAY_CPU:-0}
load_cpu=${TERN_LOAD_CPU:-1}
seconds=${1:-15}
rounds=${2:-3}
rate=${3:-50000}
case $seconds$rounds$rate in *[!0-9]*) sed -n '2,24p' "$0" >&2; exit 2 ;; esac
for b in tern-relay tern-mock-kafka tern-bench; do
  [[ -x $bin/$b ]] || { echo "quotas.sh: $bin/$b missing (build it first)" >&2; exit 1; }
done
for tool in redis-server redis-cli taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "quotas.sh: $tool not found (scripts/deps.sh)" >&2; exit 1; }
done

# shellcheck source=bench/stack.sh
. "$here/stack.sh"
work=$(mktemp -d)
mock_pid=
relay_pid=
redis_pid=
cleanup() {
  bench_stop_stack
  if [[ -n $redis_pid ]] && kill -TERM "$redis_pid" 2>/dev/null; then wait "$redis_pid" 2>/dev/null || true; fi
  if [[ -n ${TERN_BENCH_KEEP:-} ]]; then echo "quotas.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

redis_port=$(bench_free_port)
mkdir -p "$work/redis"
taskset -c "$load_cpu" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
  --appendonly no --dir "$work/redis" >"$work/redis/log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null || { cat "$work/redis/log" >&2; exit 1; }

# The load's projects (tern-bench's keys), all under one shared quota.
"$bin/tern-bench" projects-file --projects 100 >"$work/projects.yml"
cat >>"$work/projects.yml" <<'YAML'
defaults:
  quotas:
    - id: bench_shared
      categories: [error, default]
      scope: project
      limit: 1000000000
      window: 60
      reason_code: bench_shared
YAML
redis_yaml=$(printf '%s\n' "quotas:" "  redis:" "    url: \"redis://127.0.0.1:$redis_port/0\"" \
  "    expected_relays: 1")
load=(--endpoint envelope --encoding gzip --event-size 1k --connections 64 --projects 100)

start() {  # start MODE NAME
  bench_start_mock "$bin/tern-mock-kafka" "$load_cpu" "$work" || return 1
  port=$(bench_free_port)
  local extra=
  [[ $1 == redis ]] && extra=$redis_yaml
  BENCH_RELAY_YAML=$extra bench_start_relay "$bin/tern-relay" "$relay_cpu" "$work" "$2" "$port" \
    null 1 "$bootstrap" "$work/projects.yml"
}
metric() { bench_metric "$port" "$1"; }
bench() {  # bench NAME JSON [flags]
  local name=$1 json=$2
  shift 2
  taskset -c "$load_cpu" "$bin/tern-bench" --port "$port" --target-pid "$relay_pid" --quiet \
    --name "$name" --json "$json" --duration "$seconds" --warmup 3 "${load[@]}" "$@" \
    >"$work/$name.txt" 2>&1 || { cat "$work/$name.txt" >&2; return 1; }
}

echo "== cost: ${rounds} rounds of ${seconds} s, local vs redis" >&2
for ((r = 1; r <= rounds; r++)); do
  for mode in local redis; do
    start "$mode" "$mode-$r"
    bench "$mode-$r" "$work/$mode-$r.json"
    if [[ $mode == redis && $(metric tern_quota_fallback_active) != 0 ]]; then
      echo "quotas.sh: the relay fell back to local counting; Redis numbers are void" >&2
      exit 1
    fi
    bench_stop_stack
    echo "round $r, $mode: $(python3 -c 'import json, sys
print("{:,.0f} events per relay CPU-second".format(json.load(open(sys.argv[1]))["target"]["ok_per_cpu_s"]))' "$work/$mode-$r.json")" >&2
  done
done

echo "== commands: open loop at $rate events/s for $seconds s, redis" >&2
start redis commands
redis_before=$(redis-cli -p "$redis_port" info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')
leases_before=$(metric tern_quota_leases_requested_total)
bench commands "$work/commands.json" --rate "$rate"
redis_after=$(redis-cli -p "$redis_port" info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')
leases_after=$(metric tern_quota_leases_requested_total)
bench_stop_stack

python3 - "$work" "$rounds" "$redis_before" "$redis_after" "$leases_before" "$leases_after" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
rb, ra, lb, la = map(int, sys.argv[3:7])
def load(name):
    return json.load(open(f"{work}/{name}.json"))
runs = {m: [load(f"{m}-{r}") for r in range(1, rounds + 1)] for m in ("local", "redis")}
med = {}
print("| quota counting | " + " | ".join(f"run {r}" for r in range(1, rounds + 1)) +
      " | median events per relay CPU-second | x local | non-2xx |")
print("|---|" + "---|" * rounds + "---|---|---|")
for m, rs in runs.items():
    eps = [x["target"]["ok_per_cpu_s"] for x in rs]
    med[m] = statistics.median(eps)
    bad = sum(x["answered"] - round(x["ok_per_s"] * x["measured_s"]) for x in rs)
    print(f"| {m} | " + " | ".join(f"{e:,.0f}" for e in eps) +
          f" | {med[m]:,.0f} | {med[m] / med['local']:.3f} | {max(bad, 0)} |")
c = load("commands")
secs = c["measured_s"] + c["load"]["warmup_s"]
print()
print(f"open loop at {c['load']['rate']:,.0f} events/s: {c['ok_per_s']:,.0f} events/s answered 2xx; "
      f"Redis processed {(ra - rb) / secs:.1f} commands/s; the relay sent "
      f"{(la - lb) / secs:.1f} lease requests/s (over {secs:.0f} s incl. warm-up)")
print(f"Redis quotas cost {100 * (1 - med['redis'] / med['local']):.1f}% per relay CPU-second "
      f"(target <= 3%)")
PY
