# Sourced by bench/run.sh and bench/wrk.sh: starting what a benchmark runs
# against, the same way in both, so their numbers stay comparable.
#
#   bench_free_port                 a free TCP port on 127.0.0.1
#   bench_start_mock BIN CPU DIR    tern-mock-kafka pinned to CPU; sets
#                                   mock_pid and bootstrap (its first stdout
#                                   line); returns 1 if it does not start
#   bench_start_relay BIN CPU DIR NAME PORT UDP WORKERS BOOTSTRAP PROJECTS
#                                   writes DIR/relay.yml (HTTP on PORT, UDP
#                                   "null" or an address, WORKERS workers,
#                                   the PROJECTS file), starts tern-relay
#                                   pinned to CPU with its log in
#                                   DIR/relay-NAME.log, waits for /ready/;
#                                   sets relay_pid; returns 1 if not ready
#   bench_stop_stack                stops (TERM, then waits for) the relay
#                                   and the mock in relay_pid and mock_pid,
#                                   and clears both

bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_start_mock() {
  local bin=$1 cpu=$2 dir=$3 _
  taskset -c "$cpu" "$bin" >"$dir/mock.out" 2>"$dir/mock.err" &
  mock_pid=$!
  bootstrap=
  for _ in $(seq 100); do
    bootstrap=$(head -n1 "$dir/mock.out" 2>/dev/null || true)
    [[ -n $bootstrap ]] && return 0
    sleep 0.1
  done
  echo "bench: mock kafka did not start" >&2
  cat "$dir/mock.err" >&2
  return 1
}

# BENCH_SPOOL (off | never | interval | always; default interval, the
# relay's default) picks the spool setting; each start gets a fresh spool
# directory in $dir/spool-$name.
bench_start_relay() {
  local bin=$1 cpu=$2 dir=$3 name=$4 port=$5 udp=$6 workers=$7 kafka=$8 projects=$9 _
  local mode=${BENCH_SPOOL:-interval} spool=("spool:")
  if [[ $mode == off ]]; then
    spool+=("  enabled: false")
  else
    rm -rf "$dir/spool-$name"
    mkdir -p "$dir/spool-$name"
    spool+=("  dir: \"$dir/spool-$name\"" "  fsync: $mode" "  min_free_bytes: 0")
  fi
  printf '%s\n' "listen:" "  http: \"127.0.0.1:$port\"" "  udp: $udp" \
    "workers: $workers" "kafka:" "  bootstrap_servers: \"$kafka\"" \
    "projects:" "  file: \"$projects\"" "${spool[@]}" "logging:" "  level: warn" >"$dir/relay.yml"
  taskset -c "$cpu" "$bin" run --config "$dir/relay.yml" >"$dir/relay-$name.log" 2>&1 &
  relay_pid=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/api/relay/healthcheck/ready/" >/dev/null && return 0
    kill -0 "$relay_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: relay not ready" >&2
  cat "$dir/relay-$name.log" >&2
  return 1
}

bench_stop_stack() {
  local pid
  for pid in $relay_pid $mock_pid; do
    if kill -TERM "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  relay_pid=
  mock_pid=
}
