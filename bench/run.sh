#!/usr/bin/env bash
# The bench suite: runs tern-bench scenarios against the Release relay and
# writes the table of bench/RESULTS.md (docs/bench.md explains every column).
#
#   bench/run.sh [options] [scenario ...]     default: every bench/scenarios/*.yml
#   bench/run.sh --smoke                      one short scenario (~3 s of load),
#                                             no RESULTS.md; for scripts/test.sh
# Options:
#   --list            list the scenarios and exit
#   --no-build        use the binaries already in the build directory
#   --no-wrk          skip the wrk cross-check
#   --results FILE    the file whose generated section is rewritten
#                     (default bench/RESULTS.md); --no-results: none
#   --duration S      override every scenario's measured seconds (quick looks)
#
# Environment: TERN_BUILD_DIR (default build/ in the checkout; configured
# Release with TERN_BUILD_BENCH=ON if it has no CMakeCache.txt),
# TERN_RELAY_CPU (0) and TERN_LOAD_CPU (1): the relay is pinned to the first
# and tern-bench plus the mock Kafka cluster to the second.
#
# Per scenario: starts tern-mock-kafka (librdkafka's mock cluster as a
# process) and a fresh relay (one worker) with a generated projects file
# (tern-bench projects-file: the keys tern-bench sends, Zipf over N
# projects, plus the over-quota project), runs tern-bench with
# --target-pid <relay> and --json, and stops both. A scenario with
# `latency-at: F` then runs again open loop at F x the closed-loop rate
# and takes p50/p99 from that run (latency from the scheduled send time);
# a UDP scenario with `drops-at: F` does the same for kernel drops.
# A scenario with `peer: STATUS` then runs the same tern-bench load against
# the peer baseline: Debian's nginx, one unprivileged process pinned to the
# relay's core, answering every request with STATUS (bench_start_nginx in
# bench/stack.sh); the row's "x nginx" is relay events (or answers) per
# relay CPU-second over nginx answers per nginx CPU-second.
# The e2e scenarios instead run a real Kafka broker (scripts/kafka/up.sh),
# one or two tern-backends on SQLite or PostgreSQL and the relay, and
# measure events stored per second and the latency until the API shows an
# event (see run_e2e).
# TERN_BENCH_KEEP=1 keeps the work directory (logs, JSON) for a look after.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${TERN_BUILD_DIR:-$root/build}
relay_cpu=${TERN_RELAY_CPU:-0}
load_cpu=${TERN_LOAD_CPU:-1}
results=$here/RESULTS.md
smoke=
do_build=1
do_wrk=1
duration_override=
scenarios=()

while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --no-build) do_build= ;;
    --no-wrk) do_wrk= ;;
    --results) results=$2; shift ;;
    --no-results) results= ;;
    --duration) duration_override=$2; shift ;;
    --list)
      for f in "$here"/scenarios/*.yml; do
        printf '%-20s %s\n' "$(basename "$f" .yml)" \
          "$(sed -n 's/^description: *//p' "$f")"
      done
      exit 0 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) scenarios+=("$1") ;;
  esac
  shift
done

if [[ -n $smoke ]]; then
  scenarios=(envelope-1k-gzip)
  results=
  do_wrk=
fi
if ((${#scenarios[@]} == 0)); then
  for f in "$here"/scenarios/*.yml; do scenarios+=("$(basename "$f" .yml)"); done
fi
for s in "${scenarios[@]}"; do
  [[ -f $here/scenarios/$s.yml ]] || { echo "run.sh: no scenario $s (bench/scenarios/$s.yml)" >&2; exit 2; }
done
for tool in taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

# --- build -------------------------------------------------------------------
if [[ -n $do_build ]]; then
  if [[ ! -f $build/CMakeCache.txt ]]; then
    launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DTERN_BUILD_BENCH=ON "${launcher[@]}" >/dev/null
  fi
  cmake --build "$build" --target tern-relay tern-mock-kafka tern-bench tern-backend
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [[ $build_type != Release ]]; then
  echo "run.sh: warning: $build is a '$build_type' build, not Release; numbers are not comparable" >&2
fi
bin=$build/bin
for b in tern-relay tern-mock-kafka tern-bench; do
  [[ -x $bin/$b ]] || { echo "run.sh: $bin/$b missing (build it, or drop --no-build)" >&2; exit 1; }
done

# shellcheck source=bench/stack.sh
. "$here/stack.sh"
work=$(mktemp -d)
# The nginx peer runs as nobody when we are root: it must reach $work/nginx.
chmod 711 "$work"
mock_pid=
relay_pid=
cleanup() {
  stop_e2e
  if [[ -n ${TERN_BENCH_KEEP:-} ]]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Reads bench/scenarios/NAME.yml (flat `key: value` lines, # comments) into
# the associative array `sc`.
declare -A sc
read_scenario() {
  sc=()
  local line key value
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%%#*}
    [[ $line =~ ^[[:space:]]*$ ]] && continue
    key=${line%%:*}
    value=${line#*:}
    key=${key//[[:space:]]/}
    value=$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' <<<"$value")
    sc[$key]=$value
  done <"$here/scenarios/$1.yml"
}

# Starts the mock cluster and the relay for the current scenario; sets
# http_port, relay_pid, mock_pid.
start_stack() {
  local name=$1
  bench_start_mock "$bin/tern-mock-kafka" "$load_cpu" "$work" || return 1
  http_port=$(bench_free_port)
  "$bin/tern-bench" projects-file --projects "${sc[projects]:-1}" \
    --over-quota-limit "${sc[over-quota-limit]:-10}" >"$work/projects.yml"
  local udp=null
  [[ ${sc[udp]:-} == true ]] && udp="\"127.0.0.1:$http_port\""
  bench_start_relay "$bin/tern-relay" "$relay_cpu" "$work" "$name" "$http_port" \
    "$udp" "${sc[relay-workers]:-1}" "$bootstrap" "$work/projects.yml"
}

# One value of the relay's /metrics (sum over label sets), 0 if absent.
metric() { bench_metric "$http_port" "$1"; }

# The tern-bench flags of the current scenario (keys that are flags).
bench_flags() {
  local key
  local -a flags=()
  for key in endpoint encoding event-size connections depth projects zipf \
             invalid-key-share over-quota-share session-share udp-format pool rate; do
    [[ -n ${sc[$key]:-} ]] && flags+=("--$key=${sc[$key]}")
  done
  [[ ${sc[udp]:-} == true ]] && flags+=(--udp)
  printf '%s\n' "${flags[@]}"
}

# Runs tern-bench once against the relay: $1 name, $2 json file, $3
# duration, $4 warmup, rest: extra flags.
run_bench() { run_bench_at "$http_port" "$relay_pid" "$@"; }

# The same against any target: $1 port, $2 pid to measure, then as above.
run_bench_at() {
  local port=$1 pid=$2 name=$3 json=$4 duration=$5 warmup=$6
  shift 6
  local -a flags
  mapfile -t flags < <(bench_flags)
  taskset -c "$load_cpu" "$bin/tern-bench" --port "$port" \
    --target-pid "$pid" --name "$name" --json "$json" \
    --duration "$duration" --warmup "$warmup" "${flags[@]}" "$@"
}

# --- e2e: relay -> real Kafka -> tern-backend(s) (SQLite or PostgreSQL) -> API --
# Scenario keys: store (sqlite | postgres: a server of its own from
# scripts/postgres/up.sh), backends (how many, in one consumer group) and
# partitions (of each topic the broker creates).
# The relay on $relay_cpu; the broker, the backend and the load share
# $load_cpu. Reported: events/s from the first send until the backend has
# stored everything the relay answered 2xx, events per CPU-second of relay
# and backend together, and the latency until the API shows an event
# (marker events sent about once a second during the run, each polled until
# the issue search finds it).
kafka_dir=
pg_dir=
backend_pids=()
bports=()
stop_e2e() {
  bench_stop_stack
  local pid
  for pid in "${backend_pids[@]}"; do
    if kill -TERM "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  backend_pids=()
  if [[ -n $kafka_dir ]]; then "$root/scripts/kafka/down.sh" "$kafka_dir" >/dev/null 2>&1 || true; fi
  kafka_dir=
  if [[ -n $pg_dir ]]; then "$root/scripts/postgres/down.sh" "$pg_dir" >/dev/null 2>&1 || true; fi
  pg_dir=
}
# User + system ticks of the processes given.
cpu_ticks() {
  local pid total=0
  for pid in "$@"; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
  echo "$total"
}
# Events stored by all backends together.
backends_stored() {
  local port total=0 n
  for port in "${bports[@]}"; do
    n=$(curl -sf "http://127.0.0.1:$port/metrics" |
      awk '$1 == "tern_backend_events_stored_total" { print $2 }')
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

run_e2e() {
  local name=$1
  [[ -x $bin/tern-backend ]] || cmake --build "$build" --target tern-backend
  kafka_dir=$work/kafka
  local kport
  kport=$(python3 -c 'import socket, random
for _ in range(200):
    p = random.randint(20000, 30000)
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError: pass')
  local partitions=${sc[partitions]:-1} backends=${sc[backends]:-1}
  KAFKA_PARTITIONS=$partitions taskset -c "$load_cpu" "$root/scripts/kafka/up.sh" \
    "$kafka_dir" "$kport" >&2 || return 1
  local bootstrap=127.0.0.1:$kport
  local store_dsn="sqlite:$work/e2e.db"
  if [[ ${sc[store]:-sqlite} == postgres ]]; then
    pg_dir=$work/postgres
    taskset -c "$load_cpu" "$root/scripts/postgres/up.sh" "$pg_dir" >&2 || return 1
    # A fresh server: its maintenance database is the backend's.
    store_dsn="$(cat "$pg_dir/uri")/postgres"
  fi
  local token=e2e-bench-token-0123456789 b bport
  bports=()
  backend_pids=()
  for b in $(seq 1 "$backends"); do
    bport=$(bench_free_port)
    bports+=("$bport")
    # One consumer group (the default group id) for every backend.
    printf '%s\n' "listen:" "  http: \"127.0.0.1:$bport\"" "store:" "  dsn: \"$store_dsn\"" \
      "kafka:" "  bootstrap_servers: \"$bootstrap\"" "auth:" "  api_token: \"$token\"" \
      "logging:" "  level: warn" >"$work/backend$b.yml"
    if ((b == 1)); then
      "$bin/tern-backend" project create --name e2e --config "$work/backend1.yml" \
        >"$work/project.txt" || return 1
    fi
    taskset -c "$load_cpu" "$bin/tern-backend" run --config "$work/backend$b.yml" \
      >"$work/backend$b.log" 2>&1 &
    backend_pids+=($!)
    local _
    for _ in $(seq 200); do
      curl -sf "http://127.0.0.1:$bport/healthz" >/dev/null && break
      sleep 0.1
    done
  done
  bport=${bports[0]}
  # tern-bench's project 1 (its key, from its projects file) is the
  # backend's project 1: the backend checks project ids, the relay keys.
  http_port=$(bench_free_port)
  "$bin/tern-bench" projects-file --projects 1 >"$work/projects.yml"
  bench_start_relay "$bin/tern-relay" "$relay_cpu" "$work" "$name" "$http_port" null 1 \
    "$bootstrap" "$work/projects.yml" || return 1
  local key
  key=$(grep -oE '[0-9a-f]{32}' "$work/projects.yml" | head -n1)

  local duration=${sc[duration]:-60}
  [[ -n $duration_override ]] && duration=$duration_override
  local b0 r0 t0
  b0=$(cpu_ticks "${backend_pids[@]}")
  r0=$(cpu_ticks "$relay_pid")
  t0=$(date +%s.%N)
  (
    for i in $(seq 1 $((duration - 2))); do
      marker="e2emarker$i$RANDOM$RANDOM"
      sent=$(date +%s.%N)
      curl -s -o /dev/null -X POST "http://127.0.0.1:$http_port/api/1/store/" \
        -H "X-Sentry-Auth: Sentry sentry_version=7, sentry_key=$key" \
        -d "{\"message\":\"$marker\"}"
      for _ in $(seq 1000); do
        if curl -s -H "Authorization: Bearer $token" \
          "http://127.0.0.1:$bport/api/0/projects/1/issues/?status=all&query=$marker" | grep -q "$marker"; then
          python3 -c 'import sys; print((float(sys.argv[2]) - float(sys.argv[1])) * 1000)' "$sent" "$(date +%s.%N)"
          break
        fi
        sleep 0.01
      done
      sleep 1
    done
  ) >"$work/latency.txt" &
  local marker_pid=$!
  if ! run_bench "$name" "$work/$name.json" "$duration" 0; then
    wait "$marker_pid" || true
    return 1
  fi
  wait "$marker_pid" || true
  local sent_ok markers
  sent_ok=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(sum(v for k, v in r["by_status"].items() if k.startswith("2")))' "$work/$name.json")
  markers=$(wc -l <"$work/latency.txt")
  local want=$((sent_ok + markers)) stored=0
  for _ in $(seq 1200); do
    stored=$(backends_stored)
    [[ ${stored:-0} -ge $want ]] && break
    sleep 0.1
  done
  local t1 b1 r1
  t1=$(date +%s.%N)
  b1=$(cpu_ticks "${backend_pids[@]}")
  r1=$(cpu_ticks "$relay_pid")
  echo "e2e: ${stored:-0} of $want events stored"
  python3 - "$name" "$work/$name.json" "$work/latency.txt" "$t0" "$t1" "${stored:-0}" "$want" \
    "$((b1 - b0))" "$((r1 - r0))" "$(getconf CLK_TCK)" >>"$rows" <<'PY'
import json, sys
name, main, lat, t0, t1, stored, want, bticks, rticks, hz = sys.argv[1:11]
r = json.load(open(main))
lats = sorted(float(l) for l in open(lat) if l.strip())
elapsed = float(t1) - float(t0)
cpu = (int(bticks) + int(rticks)) / int(hz)
stored, want = int(stored), int(want)
q = lambda p: lats[min(len(lats) - 1, int(p * len(lats)))] if lats else None
print(json.dumps({
    "scenario": name, "metric": "ok", "per_s": stored / elapsed,
    "per_cpu_s": stored / cpu if cpu else None,
    "cpu_share": None, "peak_rss_kb": r["target"]["peak_rss_kb"],
    "by_status": r["by_status"], "target": None,
    "p50": q(0.5), "p99": q(0.99),
    "latency_from": f"send until the API finds it ({len(lats)} markers under load); per CPU-s counts relay + backends (not a PostgreSQL server's)",
    "e2e_complete": stored >= want,
}))
PY
  [[ $stored -ge $want ]]
}

rows=$work/rows.jsonl
: >"$rows"
failures=0
for name in "${scenarios[@]}"; do
  read_scenario "$name"
  echo
  echo "=== $name: ${sc[description]:-}"
  if [[ -n ${sc[requires]:-} && ! -x $bin/${sc[requires]} ]]; then
    echo "$name: ${sc[requires]} not built (skipped)"
    python3 -c 'import json,sys; print(json.dumps({"scenario": sys.argv[1], "skipped": sys.argv[2] + " not built"}))' \
      "$name" "${sc[requires]}" >>"$rows"
    continue
  fi
  if [[ ${sc[e2e]:-} == true ]]; then
    # The smoke run stays relay-only (seconds, no broker).
    [[ -n $smoke ]] && continue
    run_e2e "$name" || { echo "run.sh: $name failed" >&2; failures=$((failures + 1)); }
    stop_e2e
    continue
  fi
  duration=${sc[duration]:-20}
  warmup=${sc[warmup]:-3}
  [[ -n $duration_override ]] && duration=$duration_override
  if [[ -n $smoke ]]; then duration=2; warmup=0.5; fi
  is_udp=
  [[ ${sc[udp]:-} == true ]] && is_udp=1
  # UDP: no warm-up, so the relay's accepted counter (read around the whole
  # run) covers the measured interval.
  [[ -n $is_udp ]] && warmup=0

  start_stack "$name" || { failures=$((failures + 1)); bench_stop_stack; continue; }
  accepted_before=0
  [[ -n $is_udp ]] && accepted_before=$(metric tern_udp_accepted_total)
  main_json=$work/$name.json
  if ! run_bench "$name" "$main_json" "$duration" "$warmup"; then
    echo "run.sh: $name: tern-bench failed" >&2
    failures=$((failures + 1))
    bench_stop_stack
    continue
  fi
  accepted=
  if [[ -n $is_udp ]]; then
    sleep 0.5  # let the relay drain its socket buffer
    accepted=$(( $(metric tern_udp_accepted_total) - accepted_before ))
    echo "relay: $accepted UDP datagrams accepted (produced to Kafka) during the run"
  fi

  # The second, open-loop run at a fraction of the rate just measured.
  second_json=
  fraction=${sc[latency-at]:-${sc[drops-at]:-}}
  if [[ -n $fraction && -z $smoke ]]; then
    rate=$(python3 - "$main_json" "$fraction" "${accepted:-}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
base = float(sys.argv[3]) / r["measured_s"] if sys.argv[3] else r["ok_per_s"] or r["requests_per_s"]
print(max(1, int(base * float(sys.argv[2]))))
PY
)
    echo "--- $name: open loop at ${fraction} x the closed-loop rate = $rate/s"
    second_json=$work/$name-open.json
    # A fresh relay, so quotas and buffers start as in the first run.
    bench_stop_stack
    start_stack "$name" || { failures=$((failures + 1)); bench_stop_stack; continue; }
    if ! run_bench "$name" "$second_json" "$duration" "$warmup" --rate "$rate"; then
      echo "run.sh: $name: open-loop run failed" >&2
      second_json=
      failures=$((failures + 1))
    fi
  fi
  if [[ -n $smoke ]]; then
    # The smoke run's one assertion: the suite still drives the relay end
    # to end (some 2xx answers, no failed connection).
    python3 - "$main_json" <<'PY' || { failures=$((failures + 1)); echo "run.sh: smoke: no 2xx answers" >&2; }
import json, sys
r = json.load(open(sys.argv[1]))
ok = sum(v for k, v in r["by_status"].items() if k.startswith("2"))
sys.exit(0 if ok > 0 and r["errors"]["connect_failures"] == 0 else 1)
PY
  fi
  relay_log_warnings=$(grep -c -iE 'error|warn' "$work/relay-$name.log" || true)
  bench_stop_stack

  # The peer, minutes apart from the relay in the same run, on the same
  # core, with the same load and payload pool; the relay is down by now.
  peer_json=
  if [[ -n ${sc[peer]:-} && -z $smoke ]]; then
    echo "--- $name: peer baseline, nginx answering ${sc[peer]}"
    peer_port=$(bench_free_port)
    if bench_start_nginx "$relay_cpu" "$work" "$peer_port" "${sc[peer]}"; then
      if run_bench_at "$peer_port" "$nginx_pid" "$name-nginx" \
          "$work/$name-nginx.json" "$duration" "$warmup"; then
        peer_json=$work/$name-nginx.json
      else
        echo "run.sh: $name: peer run failed" >&2
        failures=$((failures + 1))
      fi
    else
      failures=$((failures + 1))
    fi
    bench_stop_stack
  fi

  python3 - "$name" "$main_json" "${second_json:-}" "${accepted:-}" \
    "${sc[target]:-}" "${sc[target-metric]:-ok}" "${sc[soak]:-}" \
    "${sc[latency-at]:-}" "${sc[drops-at]:-}" "$relay_log_warnings" \
    "${sc[p99-target-ms]:-}" "${peer_json:-}" "${sc[peer-target]:-}" >>"$rows" <<'PY'
import json, sys
(name, main, second, accepted, target, metric, soak, lat_at, drops_at, warns,
 p99_target, peer, peer_target) = sys.argv[1:14]
r = json.load(open(main))
o = json.load(open(second)) if second else None
t = r["target"]
cpu = t["cpu_s"]
if accepted:  # UDP: what the relay took in, not what we offered
    events = int(accepted)
    per_s = events / r["measured_s"]
elif metric == "requests":
    per_s = r["requests_per_s"]
    events = r["answered"]
else:
    per_s = r["ok_per_s"]
    events = round(per_s * r["measured_s"])
row = {
    "scenario": name,
    "metric": metric,
    "per_s": per_s,
    "per_cpu_s": events / cpu if cpu else None,
    "cpu_share": t["cpu_share"],
    "peak_rss_kb": t["peak_rss_kb"],
    "by_status": r["by_status"],
    "target": float(target) if target else None,
}
lat = (o or r)["latency_ms"]
row["p50"], row["p99"] = lat["p50"], lat["p99"]
row["latency_from"] = (f"open loop at {lat_at} x max" if o and lat_at else
                       None if r["load"]["udp"] else
                       f"open loop at {r['load']['rate']:,.0f}/s" if r["load"].get("rate") else
                       "closed loop")
if o:
    row["peak_rss_kb"] = max(row["peak_rss_kb"] or 0, o["target"]["peak_rss_kb"] or 0)
if r["load"]["udp"]:
    row["p50"] = row["p99"] = None
    row["offered_per_s"] = r["requests_per_s"]
    row["kernel_drops"] = r["udp"]["kernel_drops"]
    if o:
        row["kernel_drops_at"] = {"fraction": drops_at, "rate": o["load"]["rate"],
                                  "drops": o["udp"]["kernel_drops"]}
if soak:
    row["rss_start_kb"] = t["rss_start_kb"]
    row["rss_end_kb"] = t["rss_end_kb"]
    s, e = t["rss_start_kb"], t["rss_end_kb"]
    row["soak_flat"] = bool(s and e and e <= s * 1.10 + 4096)
row["relay_log_warnings"] = int(warns)
if p99_target:
    row["p99_target_ms"] = float(p99_target)
if peer:
    # nginx answers every request with the scenario's status: all of its
    # answers count, per nginx CPU-second.
    p = json.load(open(peer))
    pcpu = p["target"]["cpu_s"]
    row["peer_status"] = sorted(p["by_status"])
    row["peer_per_cpu_s"] = p["answered"] / pcpu if pcpu else None
    if row["per_cpu_s"] and row["peer_per_cpu_s"]:
        row["x_nginx"] = row["per_cpu_s"] / row["peer_per_cpu_s"]
    if peer_target:
        row["x_nginx_target"] = float(peer_target)
print(json.dumps(row))
PY
done

# --- wrk cross-check -----------------------------------------------------------
wrk_out=
if [[ -n $do_wrk ]] && printf '%s\n' "${scenarios[@]}" | grep -qx envelope-1k-gzip; then
  if command -v wrk >/dev/null; then
    echo
    echo "=== wrk cross-check (bench/wrk.sh, same 1 KiB gzip envelope path)"
    wrk_out=$work/wrk.out
    wrk_seconds=${duration_override:-20}
    TERN_RELAY_CPU=$relay_cpu TERN_WRK_CPU=$load_cpu \
      "$here/wrk.sh" "$bin/tern-relay" "$wrk_seconds" 64 | tee "$wrk_out" || wrk_out=
  else
    echo "run.sh: wrk not installed; cross-check skipped"
  fi
fi

# --- report ------------------------------------------------------------------------
python3 - "$rows" "${results:-}" "${wrk_out:-}" "$root" <<'PY'
import datetime, json, os, re, subprocess, sys
rows_path, results, wrk_out, root = sys.argv[1:5]
rows = [json.loads(l) for l in open(rows_path) if l.strip()]

def fmt_rate(v):
    return "—" if v is None else f"{v:,.0f}"

def fmt_ms(v):
    return "—" if v is None else f"{v:.3f} ms"

commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                        capture_output=True, text=True).stdout.strip() or "unknown"
dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                       capture_output=True, text=True).stdout.strip()
if dirty:
    commit += "+dirty"
today = datetime.date.today().isoformat()
nproc = os.cpu_count()
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break

def verdict(r):
    notes = []
    if r.get("skipped"):
        return "skipped: " + r["skipped"]
    t = r.get("target")
    if t and r.get("per_cpu_s"):
        share = r["per_cpu_s"] / t
        notes.append(f"target {t:,.0f}: " + ("met" if share >= 1 else f"**missed** ({share:.1%})"))
    if r.get("peer_per_cpu_s"):
        notes.append(f"nginx {r['peer_per_cpu_s']:,.0f} answers per nginx CPU-s"
                     + (f" ({', '.join(r['peer_status'])})" if r.get("peer_status") else ""))
    if r.get("x_nginx_target") and r.get("x_nginx"):
        t = r["x_nginx_target"]
        notes.append(f"x nginx target {t:g}: " + ("met" if r["x_nginx"] >= t else "**missed**"))
    if r.get("latency_from"):
        notes.append("latency: " + r["latency_from"])
    if (r.get("p99_target_ms") and r.get("p99") is not None and
            (r.get("latency_from") or "").startswith("open loop")):
        t99 = r["p99_target_ms"]
        notes.append(f"p99 target {t99:g} ms: " + ("met" if r["p99"] <= t99 else "**missed**"))
    if r.get("metric") == "requests":
        notes.append("counts every answer (" + ", ".join(f"{k}: {v:,}" for k, v in r["by_status"].items()) + ")")
    elif r.get("by_status") and set(r["by_status"]) - {"200"}:
        notes.append("statuses " + ", ".join(f"{k}: {v:,}" for k, v in r["by_status"].items()))
    if "kernel_drops" in r:
        notes.append(f"offered {r['offered_per_s']:,.0f}/s, kernel drops {r['kernel_drops']}")
        if r.get("kernel_drops_at"):
            k = r["kernel_drops_at"]
            notes.append(f"at {k['fraction']} x max ({k['rate']:,.0f}/s): kernel drops {k['drops']}")
    if "soak_flat" in r:
        notes.append(f"RSS {r['rss_start_kb']/1024:.1f} → {r['rss_end_kb']/1024:.1f} MiB: " +
                     ("flat" if r["soak_flat"] else "**grows**"))
    if r.get("cpu_share") is not None:
        notes.append(f"relay at {r['cpu_share']:.0%} of its core")
    return "; ".join(notes)

lines = []
for r in rows:
    rss = r.get("peak_rss_kb")
    xn = r.get("x_nginx")
    lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        r["scenario"], fmt_rate(r.get("per_s")), fmt_rate(r.get("per_cpu_s")),
        "—" if xn is None else f"{xn:.2f}x",
        fmt_ms(r.get("p50")), fmt_ms(r.get("p99")),
        "—" if not rss else f"{rss/1024:.1f} MiB", verdict(r), commit, today))

print()
print("| scenario | events/s | per relay CPU-s | x nginx | p50 | p99 | peak RSS | notes | commit | date |")
print("|---|---|---|---|---|---|---|---|---|---|")
for l in lines:
    print(l)

wrk_line = None
if wrk_out and os.path.exists(wrk_out):
    text = open(wrk_out).read()
    m = re.search(r"events per relay CPU-second: ([\d,]+)", text)
    e = re.search(r"events/s \(200 only\): ([\d,]+)", text)
    p99 = re.search(r"\n\s+99%\s+([\d.]+)(us|ms|s)", text)
    if m:
        wrk_line = (f"wrk cross-check (bench/wrk.sh, 64 connections, 1 KiB gzip envelope; {commit}, {today}): "
                    f"{e.group(1) if e else '?'} events/s, {m.group(1)} events per relay CPU-second"
                    + (f", p99 {p99.group(1)} {p99.group(2)}" if p99 else "") + ".")
        print(wrk_line)

if not results:
    sys.exit(0)

BEGIN = "<!-- tern-bench:begin (generated by bench/run.sh; edit outside these markers) -->"
END = "<!-- tern-bench:end -->"
old = open(results).read() if os.path.exists(results) else ""
# Keep the rows of scenarios not run this time.
kept = {}
old_wrk = None
if BEGIN in old and END in old:
    section = old[old.index(BEGIN):old.index(END)]
    for l in section.splitlines():
        if l.startswith("wrk cross-check"):
            old_wrk = l
        m = re.match(r"\| ([a-z0-9-]+) \|", l)
        if m and m.group(1) not in ("scenario",):
            cells = l.split(" | ")
            if len(cells) == 9:  # a row from before the "x nginx" column
                cells.insert(3, "—")
            kept[m.group(1)] = " | ".join(cells)
for r, l in zip(rows, lines):
    kept[r["scenario"]] = l
order = sorted(f[:-4] for f in os.listdir(os.path.join(root, "bench", "scenarios")) if f.endswith(".yml"))
body = [BEGIN, "",
        "## tern-bench scenarios (issue 6)",
        "",
        f"- Command: `bench/run.sh` (scenarios in bench/scenarios/, docs/bench.md). Relay: Release, one "
        f"worker, pinned to CPU {os.environ.get('TERN_RELAY_CPU', '0')}; tern-bench and the mock Kafka "
        f"cluster on CPU {os.environ.get('TERN_LOAD_CPU', '1')}.",
        f"- Machine (last run): nproc {nproc}, {cpu}.",
        "- events/s: 2xx answers per second (reject scenarios: answers of any status; UDP: datagrams "
        "the relay produced to Kafka). Per relay CPU-s: the same count over the relay's utime+stime "
        "(all threads) in the measured interval. p50/p99 from tern-bench's histogram; open-loop "
        "latency is measured from the scheduled send time. x nginx: per relay CPU-s over the "
        "answers per nginx CPU-second of the peer baseline (Debian's nginx, one process on the "
        "relay's core, answering the scenario's status to the same load) in the same run.",
        "",
        "| scenario | events/s | per relay CPU-s | x nginx | p50 | p99 | peak RSS | notes | commit | date |",
        "|---|---|---|---|---|---|---|---|---|---|"]
body += [kept[s] for s in order if s in kept] + [kept[s] for s in kept if s not in order]
if wrk_line or old_wrk:
    body += ["", wrk_line or old_wrk]
body += ["", END]
block = "\n".join(body)
if BEGIN in old and END in old:
    new = old[:old.index(BEGIN)] + block + old[old.index(END) + len(END):]
else:
    new = old.rstrip("\n") + "\n\n" + block + "\n"
open(results, "w").write(new)
print(f"\nwrote {results}")
PY

if ((failures)); then
  echo "run.sh: $failures scenario run(s) failed" >&2
  exit 1
fi
