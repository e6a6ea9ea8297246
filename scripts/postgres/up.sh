#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for tests:  scripts/postgres/up.sh WORKDIR [PORT]
#
#   WORKDIR   gets data/ (the cluster), sock/ (its unix socket), server.log,
#             and, once the server answers, `uri`: one line,
#             postgresql://postgres@127.0.0.1:PORT (no database: append
#             /DBNAME; the maintenance database "postgres" exists).
#             Stop it with down.sh WORKDIR. Any earlier cluster there is
#             stopped and wiped first.
#   PORT      TCP port on 127.0.0.1; default: a free one picked at random.
#   PG_BINDIR where initdb/pg_ctl/postgres live (default: Debian's newest
#             /usr/lib/postgresql/*/bin, else PATH).
#   PG_START_TIMEOUT  seconds to wait for the server (default 60).
#   PG_KEEP_DATA=1    start the cluster already in WORKDIR instead of a new
#             one (pass the same PORT to keep the URI).
#
# Trust authentication, no password, fsync off: for tests only, never data
# that matters. initdb refuses to run as root, so as root the server runs as
# the `postgres` user that Debian's package creates (runuser), and WORKDIR is
# handed to it. Exits 1 with the tail of the server log if it does not start.
set -euo pipefail

die() { echo "postgres/up.sh: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "$0")" && pwd)
(($# >= 1 && $# <= 2)) || die "usage: up.sh WORKDIR [PORT]"
W=$1
PORT=${2:-}
HOST=127.0.0.1
TIMEOUT=${PG_START_TIMEOUT:-60}

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

"$HERE/down.sh" "$W" >/dev/null 2>&1 || true
mkdir -p "$W"
W=$(cd "$W" && pwd)
# PG_KEEP_DATA=1 starts the cluster already in WORKDIR again (a test that
# stops the store in the middle of a run and brings it back).
keep=0
[[ ${PG_KEEP_DATA:-0} == 1 && -d $W/data ]] && keep=1
if ((keep)); then
  rm -rf "$W/sock" "$W/uri"
else
  rm -rf "$W/data" "$W/sock" "$W/uri" "$W/server.log"
fi
mkdir -p "$W/sock"
# The socket path must fit in sun_path (107 bytes).
((${#W} + 25 < 107)) || die "WORKDIR path too long for a unix socket: $W"
if ((EUID == 0)); then
  chown postgres: "$W" "$W/sock"
  # The postgres user must be able to reach WORKDIR.
  "${AS[@]}" test -w "$W" || die "user postgres cannot write to $W (check the parent directories' modes)"
fi

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
if ((!keep)) && ! "${AS[@]}" "$PG_BINDIR/initdb" -D "$W/data" -U postgres --auth=trust \
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
  if "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$W/data" -l "$W/server.log" -w -t "$TIMEOUT" \
    -o "-c listen_addresses=$HOST -p $PORT -c unix_socket_directories=$W/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null 2>&1 &&
    "$PG_BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" -t 5; then
    echo "postgresql://postgres@$HOST:$PORT" >"$W/uri"
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "postgres/up.sh: PostgreSQL up on $HOST:$PORT in ${ms} ms (initdb + start); URI in $W/uri" >&2
    exit 0
  fi
  "${AS[@]}" "$PG_BINDIR/pg_ctl" -D "$W/data" -m immediate stop >/dev/null 2>&1 || true
done

echo "postgres/up.sh: the server did not start; last lines of $W/server.log:" >&2
tail -n 30 "$W/server.log" >&2 || true
exit 1
