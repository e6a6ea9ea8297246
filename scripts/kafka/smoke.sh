#!/usr/bin/env bash
# Smoke test of the integration-test Kafka broker: starts one in a temp dir on
# a free port, produces 1000 messages with kcat to a new topic, consumes them
# back, checks that exactly those 1000 came back, and stops the broker (always,
# via the EXIT trap). Exits non-zero on any mismatch or failure; on failure the
# temp dir with the broker's logs is kept. One line per step. docs/kafka.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
N=1000
t_start=$SECONDS
say() { printf 'kafka/smoke.sh: %s\n' "$*"; }

W=$(mktemp -d "${TMPDIR:-/tmp}/tern-kafka-smoke.XXXXXX")
ok=0
finish() {
  local rc=$?
  say "stopping broker"
  "$HERE/down.sh" "$W" || rc=1
  if ((ok && rc == 0)); then
    rm -rf "$W"
  else
    say "FAILED; broker logs kept in $W/logs"
    ((rc)) || rc=1
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# A free port PORT with PORT+1 free too (the controller's). Ports that refuse
# a connection are free; up.sh checks again before starting.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 30000))
  if ! in_use "$p" && ! in_use $((p + 1)); then PORT=$p; break; fi
done
[[ -n $PORT ]] || { say "no free port pair found"; exit 1; }

say "starting broker in $W on 127.0.0.1:$PORT"
t0=$SECONDS
"$HERE/up.sh" "$W" "$PORT"
BS=$(cat "$W/bootstrap")
say "broker up on $BS after $((SECONDS - t0))s"

TOPIC=smoke-$$-$RANDOM
say "producing $N messages to new topic $TOPIC"
t0=$SECONDS
seq "$N" | timeout 60 kcat -b "$BS" -P -t "$TOPIC"
say "produced in $((SECONDS - t0))s"

say "consuming $TOPIC from the beginning"
t0=$SECONDS
got=$(timeout 60 kcat -b "$BS" -C -t "$TOPIC" -o beginning -e -q)
count=$(printf '%s' "$got" | grep -c '' || true)
say "consumed $count messages in $((SECONDS - t0))s"
if ((count != N)); then
  say "count mismatch: got $count, want $N"
  exit 1
fi
if [[ $got != "$(seq "$N")" ]]; then
  say "content mismatch: messages differ from 1..$N"
  exit 1
fi
say "OK: $N produced, $N consumed, same content ($((SECONDS - t_start))s so far)"
ok=1
