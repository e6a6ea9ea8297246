#!/usr/bin/env bash
# Regression test of the throwaway PostgreSQL server (up.sh, down.sh) from a
# checkout in a private directory, as root or as any other user: WORKDIR is
# PRIVATE/checkout/build/postgres, where PRIVATE is a fresh `mktemp -d`
# directory (mode 0700, like /root or a home directory). It checks that
#   - as root, the `postgres` user indeed cannot enter PRIVATE (else the
#     test would prove nothing);
#   - up.sh starts a server that answers `select 1`, running as `postgres`
#     under root and as the invoking user otherwise;
#   - PG_KEEP_DATA=1 down.sh + PG_KEEP_DATA=1 up.sh on the same port bring
#     back the same cluster (a table made before is still there);
#   - down.sh stops the server (the port no longer answers), removes the
#     server's own directory and WORKDIR/uri, keeps server.log, and a second
#     down.sh is a no-op.
# Registered as the ctest entry storage.postgres_private_dir
# (backend/storage/CMakeLists.txt). One line per step; exits non-zero on the
# first failed check, keeping PRIVATE for inspection.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
say() { printf 'postgres/smoke.sh: %s\n' "$*"; }
fail() { say "FAILED: $*"; exit 1; }

if [[ -z ${PG_BINDIR:-} ]]; then
  PG_BINDIR=$(shopt -s nullglob; printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  [[ -n $PG_BINDIR ]] || PG_BINDIR=$(dirname "$(command -v psql || echo /nonexistent/psql)")
fi
for tool in psql pg_isready; do
  [[ -x $PG_BINDIR/$tool ]] || fail "$tool not found in $PG_BINDIR (run scripts/deps.sh)"
done
export PGCONNECT_TIMEOUT=5
sql() { "$PG_BINDIR/psql" "$(cat "$W/uri")/postgres" -X -v ON_ERROR_STOP=1 -Atqc "$1"; }
answers() { "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$1" -t 3; }

PRIVATE=$(mktemp -d)
W=$PRIVATE/checkout/build/postgres
ok=0
finish() {
  local rc=$?
  "$HERE/down.sh" "$W" >/dev/null 2>&1 || rc=1
  if ((ok && rc == 0)); then
    rm -rf "$PRIVATE"
  else
    say "kept $PRIVATE for inspection"
    ((rc)) || rc=1
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

mode=$(stat -c %a "$PRIVATE")
[[ $mode == 700 ]] || fail "mktemp -d made $PRIVATE with mode $mode, not 700"
me=$(id -un)
if ((EUID == 0)); then
  want_user=postgres
  if runuser -u postgres -- test -x "$PRIVATE" 2>/dev/null; then
    fail "user postgres can enter $PRIVATE: this run would not test a private checkout"
  fi
  say "running as root; postgres cannot enter $PRIVATE (mode $mode)"
else
  want_user=$me
  say "running as $me; $PRIVATE has mode $mode"
fi

say "up.sh $W"
"$HERE/up.sh" "$W" || fail "up.sh exited $?"
[[ -s $W/uri ]] || fail "no $W/uri"
uri=$(cat "$W/uri")
port=${uri##*:}
[[ $(sql 'select 1') == 1 ]] || fail "select 1 on $uri did not return 1"
say "select 1 on $uri: 1"

S=$(cat "$W/server-dir")
[[ -d $S && $S != "$PRIVATE"/* ]] || fail "server directory $S missing or inside $PRIVATE"
pid=$(head -n1 "$S/data/postmaster.pid")
# By uid: `ps -o user=` truncates names longer than its column (8).
uid=$(ps -o uid= -p "$pid" | tr -d ' ')
user=$(id -un "$uid" 2>/dev/null || echo "$uid")
[[ $uid == "$(id -u "$want_user")" ]] || fail "postmaster $pid runs as '$user', want '$want_user'"
say "postmaster $pid runs as $user, cluster in $S"

say "restart with PG_KEEP_DATA=1 on port $port"
sql 'create table kept (n int); insert into kept values (42)'
PG_KEEP_DATA=1 "$HERE/down.sh" "$W"
! answers "$port" || fail "port $port still answers after PG_KEEP_DATA=1 down.sh"
[[ -d $S/data ]] || fail "PG_KEEP_DATA=1 down.sh removed $S/data"
PG_KEEP_DATA=1 "$HERE/up.sh" "$W" "$port" || fail "PG_KEEP_DATA=1 up.sh exited $?"
[[ $(cat "$W/uri") == "$uri" ]] || fail "URI changed to $(cat "$W/uri"), want $uri"
[[ $(sql 'select n from kept') == 42 ]] || fail "table 'kept' lost across the restart"
say "same cluster after the restart"

say "down.sh $W"
"$HERE/down.sh" "$W"
! answers "$port" || fail "port $port still answers after down.sh"
[[ ! -e $S ]] || fail "down.sh left $S"
[[ ! -e $W/uri ]] || fail "down.sh left $W/uri"
[[ -s $W/server.log ]] || fail "down.sh did not keep server.log in $W"
"$HERE/down.sh" "$W" || fail "a second down.sh exited $?"
say "OK: stopped, $S removed, server.log kept"
ok=1
