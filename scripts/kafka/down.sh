#!/usr/bin/env bash
# Stops the broker that scripts/kafka/up.sh started:  down.sh WORKDIR
# SIGTERM (Kafka shuts down cleanly), waits up to 30 s for it to exit, then
# SIGKILL. Exits 0 if nothing was running. Removes WORKDIR/kafka.pid and
# WORKDIR/bootstrap; leaves data/ and logs/ for inspection.
set -euo pipefail

(($# == 1)) || { echo "usage: down.sh WORKDIR" >&2; exit 2; }
W=$1
pidfile=$W/kafka.pid

# Alive = exists and is not a zombie (an orphan whose parent has not reaped it
# yet still answers kill -0).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

cleanup() { rm -f "$pidfile" "$W/bootstrap"; }

[[ -f $pidfile ]] || exit 0
pid=$(cat "$pidfile")
# Only signal our broker: after a reboot the pid may belong to something else.
if ! [[ $pid =~ ^[0-9]+$ ]] || ! alive "$pid" ||
  ! grep -qa kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null; then
  cleanup
  exit 0
fi

kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 300); do
  alive "$pid" || { cleanup; echo "kafka/down.sh: stopped pid $pid" >&2; exit 0; }
  sleep 0.1
done
echo "kafka/down.sh: pid $pid still running after 30s, sending SIGKILL" >&2
kill -KILL "$pid" 2>/dev/null || true
for _ in $(seq 50); do
  alive "$pid" || break
  sleep 0.1
done
cleanup
exit 0
