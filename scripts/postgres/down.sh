#!/usr/bin/env bash
# Stops the server that scripts/postgres/up.sh started:  down.sh WORKDIR
# pg_ctl stop -m fast (disconnects clients, then shuts down), copies its
# server.log into WORKDIR for inspection, then removes WORKDIR/uri and the
# server's own directory (/tmp/tern-postgres.XXXXXX, named in
# WORKDIR/server-dir) with its cluster. PG_KEEP_DATA=1 keeps that directory,
# for `PG_KEEP_DATA=1 up.sh WORKDIR PORT` to start the same cluster again.
# Exits 0 when nothing was running.
set -euo pipefail

(($# == 1)) || { echo "usage: down.sh WORKDIR" >&2; exit 2; }
W=$1
PARENT=/tmp  # as in up.sh
[[ -d $W ]] || exit 0
W=$(cd "$W" && pwd)
rm -f "$W/uri"

S=
if [[ -f $W/server-dir ]]; then
  S=$(cat "$W/server-dir")
  # Only ever a directory that up.sh made.
  [[ $S == "$PARENT"/tern-postgres.* && $S != */../* ]] || S=
fi

if [[ -z ${PG_BINDIR:-} ]]; then
  PG_BINDIR=$(shopt -s nullglob; printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  [[ -n $PG_BINDIR ]] || PG_BINDIR=$(dirname "$(command -v pg_ctl || echo /nonexistent/pg_ctl)")
fi
AS=()
((EUID == 0)) && AS=(runuser -u postgres --)

# The server's own directory, and data/ in WORKDIR: the layout of older
# versions of up.sh. pg_ctl checks that the pid in postmaster.pid is a
# postmaster of this data directory, so a stale file after a reboot is
# harmless. Run from / so that `postgres` need not reach the caller's cwd.
cd /
for data in ${S:+"$S/data"} "$W/data"; do
  [[ -f $data/postmaster.pid ]] || continue
  if "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null ||
      "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
    echo "postgres/down.sh: stopped the server in ${data%/data}" >&2
  fi
done

if [[ -n $S && -d $S ]]; then
  [[ -f $S/server.log ]] && { cp "$S/server.log" "$W/server.log" || true; }
  if [[ ${PG_KEEP_DATA:-0} != 1 ]]; then
    rm -rf "$S"
  fi
fi
[[ ${PG_KEEP_DATA:-0} == 1 ]] || rm -f "$W/server-dir"
exit 0
