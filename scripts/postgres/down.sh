#!/usr/bin/env bash
# Stops the server that scripts/postgres/up.sh started:  down.sh WORKDIR
# pg_ctl stop -m fast (disconnects clients, then shuts down), then removes
# WORKDIR/uri. Exits 0 when nothing was running. Keeps data/ and server.log
# for inspection; up.sh wipes them on the next start.
set -euo pipefail

(($# == 1)) || { echo "usage: down.sh WORKDIR" >&2; exit 2; }
W=$1
[[ -d $W ]] || exit 0
rm -f "$W/uri"
[[ -f $W/data/postmaster.pid ]] || exit 0

if [[ -z ${PG_BINDIR:-} ]]; then
  PG_BINDIR=$(shopt -s nullglob; printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  [[ -n $PG_BINDIR ]] || PG_BINDIR=$(dirname "$(command -v pg_ctl || echo /nonexistent/pg_ctl)")
fi
AS=()
((EUID == 0)) && AS=(runuser -u postgres --)

# pg_ctl checks that the pid in postmaster.pid is a postmaster of this data
# directory, so a stale file after a reboot is harmless.
if "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$W/data" status >/dev/null 2>&1; then
  "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$W/data" -m fast -w -t 30 stop >/dev/null ||
    "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$W/data" -m immediate -w stop >/dev/null
  echo "postgres/down.sh: stopped the server in $W" >&2
fi
exit 0
