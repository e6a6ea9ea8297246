#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for tests:  scripts/postgres/up.sh WORKDIR [PORT]
#
#   WORKDIR   gets `uri` once the server answers: one line,
#             postgresql://postgres@127.0.0.1:PORT (no database: append
#             /DBNAME; the maintenance database "postgres" exists);
#             `server-dir`: the path of the server's own directory (below);
#             initdb.log; and, after down.sh, a copy of server.log.
#             Stop it with down.sh WORKDIR. Any earlier server of WORKDIR is
#             stopped and its cluster wiped first.
#   PORT      TCP port on 127.0.0.1; default: a free one picked at random.
#   PG_BINDIR where initdb/pg_ctl/postgres live (default: Debian's newest
#             /usr/lib/postgresql/*/bin, else PATH).
#   PG_START_TIMEOUT  seconds to wait for the server (default 60).
#   PG_KEEP_DATA=1    start the cluster that down.sh kept (PG_KEEP_DATA=1
#             there too) instead of a new one (pass the same PORT to keep the
#             URI).
#
# The cluster does not live in WORKDIR but in a directory of its own,
# /tmp/tern-postgres.XXXXXX (data/, sock/ for the unix socket, server.log),
# made fresh by this script and removed by down.sh. initdb refuses to run as
# root, so as root the server runs as the `postgres` user that Debian's
# package creates (runuser), and only that directory is handed to it: WORKDIR
# may sit anywhere root can write, e.g. a checkout under /root or in a 0700
# `mktemp -d` directory, which `postgres` cannot enter. As any other user the
# server runs as that user. Trust authentication, no password, fsync off: for
# tests only, never data that matters. Exits 1 with the reason (and the tail
# of the server log) if the server does not start.
set -euo pipefail

die() { echo "postgres/up.sh: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "$0")" && pwd)
(($# >= 1 && $# <= 2)) || die "usage: up.sh WORKDIR [PORT]"
W=$1
PORT=${2:-}
HOST=127.0.0.1
TIMEOUT=${PG_START_TIMEOUT:-60}
# Where the server's own directories are made. Not $TMPDIR: that may be
# private to the invoking user, and as root the server runs as `postgres`.
PARENT=/tmp

if [[ -z ${PG_BINDIR:-} ]]; then
  PG_BINDIR=$(shopt -s nullglob; printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  [[ -n $PG_BINDIR ]] || PG_BINDIR=$(dirname "$(command -v initdb || echo /nonexistent/initdb)")
fi
for tool in initdb pg_ctl postgres pg_isready; do
  [[ -x $PG_BINDIR/$tool ]] || die "$tool not found in $PG_BINDIR (run scripts/deps.sh)"
done

# As root, every server command runs as `postgres`.
AS=()
if ((EUID == 0)); then
  id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user"
  AS=(runuser -u postgres --)
fi

mkdir -p "$W"
W=$(cd "$W" && pwd)
[[ -w $W ]] || die "cannot write to $W"

# PG_KEEP_DATA=1 starts the cluster kept by `PG_KEEP_DATA=1 down.sh` again
# (a test that stops the store in the middle of a run and brings it back).
keep=0
if [[ ${PG_KEEP_DATA:-0} == 1 && -f $W/server-dir ]]; then
  S=$(cat "$W/server-dir")
  [[ $S == "$PARENT"/tern-postgres.* && -d $S/data ]] && keep=1
fi
# Stops an earlier server of WORKDIR and, unless it is kept, removes its
# directory.
PG_KEEP_DATA=$keep "$HERE/down.sh" "$W" >/dev/null 2>&1 || true
# data/ and sock/ in WORKDIR itself are the layout of older versions.
rm -rf "$W/uri" "$W/server.log" "$W/data" "$W/sock"
if ((keep)); then
  rm -rf "$S/sock"
else
  rm -f "$W/initdb.log" "$W/server-dir"
  S=$(mktemp -d "$PARENT/tern-postgres.XXXXXX") || die "cannot make a directory under $PARENT"
  echo "$S" >"$W/server-dir"
fi
mkdir -p "$S/sock"
if ((EUID == 0)); then
  chown -R postgres: "$S"
  chmod 0700 "$S"
  "${AS[@]}" test -w "$S" || die "user postgres cannot write to $S (check the modes of $PARENT)"
fi
# The server's tools run from its own directory: as `postgres`, the caller's
# working directory (say, a checkout under /root) may not be reachable.
cd "$S"

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    port_busy "$p" || { echo "$p"; return 0; }
  done
  return 1
}

t0=$(date +%s%N)
if ((!keep)) && ! "${AS[@]}" "$PG_BINDIR/initdb" -D "$S/data" -U postgres --auth=trust \
  --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$W/initdb.log" 2>&1; then
  cat "$W/initdb.log" >&2
  die "initdb failed"
fi

# A random free port can be taken between the probe and the bind: with no
# PORT given, try up to five.
fixed=$PORT
attempts=5
[[ -n $fixed ]] && attempts=1
for ((attempt = 1; attempt <= attempts; attempt++)); do
  if [[ -n $fixed ]]; then
    port_busy "$PORT" && die "port $PORT on $HOST is already in use"
  else
    PORT=$(pick_port) || die "no free port found"
  fi
  if "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$S/data" -l "$S/server.log" -w -t "$TIMEOUT" \
    -o "-c listen_addresses=$HOST -p $PORT -c unix_socket_directories=$S/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null 2>&1 &&
    "$PG_BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" -t 5; then
    echo "postgresql://postgres@$HOST:$PORT" >"$W/uri"
    ms=$((($(date +%s%N) - t0) / 1000000))
    what="initdb + start"
    ((keep)) && what="start of the kept cluster"
    echo "postgres/up.sh: PostgreSQL up on $HOST:$PORT in ${ms} ms ($what); URI in $W/uri, server in $S" >&2
    exit 0
  fi
  "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$S/data" -m immediate stop >/dev/null 2>&1 || true
done

echo "postgres/up.sh: the server did not start; last lines of $S/server.log:" >&2
tail -n 30 "$S/server.log" >&2 || true
exit 1
