#!/usr/bin/env bash
# Starts a real Apache Kafka broker (KRaft combined mode, one node) for
# integration tests:  scripts/kafka/up.sh WORKDIR [PORT]
#
#   PORT             client port on 127.0.0.1 (default 19092); the KRaft
#                    controller listens on PORT+1
#   WORKDIR          gets server.properties, data/, logs/ (server.log,
#                    format.log), kafka.pid and, once the broker answers,
#                    bootstrap (host:port). Stop it with down.sh WORKDIR.
#   TERN_CACHE       cache root (default ~/.cache/tern), outside the git tree:
#                    the broker's jars go to $TERN_CACHE/kafka-VERSION/libs and
#                    Maven's local repository to $TERN_CACHE/m2. The first run
#                    fetches them from Maven Central; later runs reuse them.
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 60)
#   KAFKA_JAVA_OPTS      extra JVM options for the format step and the broker
#   KAFKA_PARTITIONS     partitions of each auto-created topic (default 1)
#   KAFKA_KEEP_DATA=1    restart on the data a previous run left in WORKDIR
#                        (no wipe, no format): its topics and messages stay.
#                        Without it every start is a fresh, empty cluster.
#
# Needs java 17+, mvn (first run only) and kcat on PATH: scripts/deps.sh
# installs Debian's. Non-interactive. Exits 1, with the tail of the server log,
# if the broker does not answer in time. See docs/kafka.md.
set -euo pipefail

die() { echo "kafka/up.sh: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "$0")" && pwd)
(($# >= 1 && $# <= 2)) || die "usage: up.sh WORKDIR [PORT]"
W=$1
PORT=${2:-19092}
if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1024 || PORT >= 65535)); then
  die "bad PORT '$PORT' (1024..65534)"
fi
CPORT=$((PORT + 1))
HOST=127.0.0.1
TIMEOUT=${KAFKA_START_TIMEOUT:-60}

VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")
[[ -n $VERSION ]] || die "no <kafka.version> in $HERE/pom.xml"
CACHE=${TERN_CACHE:-${HOME:?HOME is not set}/.cache/tern}
LIBS=$CACHE/kafka-$VERSION/libs

# --- tools ---------------------------------------------------------------
command -v java >/dev/null || die "java not found on PATH (run scripts/deps.sh)"
command -v kcat >/dev/null || die "kcat not found on PATH (run scripts/deps.sh)"
jver=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -1)
jmajor=${jver%%[.+-]*}
[[ $jmajor == 1 ]] && jmajor=$(echo "$jver" | cut -d. -f2) # 1.8.0_x -> 8
if ! [[ $jmajor =~ ^[0-9]+$ ]] || ((jmajor < 17)); then
  die "java 17+ needed, $(command -v java) is '${jver:-unknown}'"
fi

# --- broker classpath, fetched once per machine ---------------------------
# libs/.complete holds the hash of the POM it was fetched for, so an edited
# POM refetches and an interrupted fetch never counts as done. The lock keeps
# two concurrent first runs from fetching into the same directory.
pomsum=$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)
if [[ $(cat "$LIBS/.complete" 2>/dev/null) != "$pomsum" ]]; then
  mkdir -p "$CACHE/kafka-$VERSION"
  exec 9>"$CACHE/kafka-$VERSION/.lock"
  flock 9
  if [[ $(cat "$LIBS/.complete" 2>/dev/null) != "$pomsum" ]]; then
    command -v mvn >/dev/null || die "mvn not found on PATH (run scripts/deps.sh)"
    echo "kafka/up.sh: fetching Kafka $VERSION jars into $LIBS (first run only)" >&2
    t0=$SECONDS
    stage=$(mktemp -d "$CACHE/kafka-$VERSION/fetch.XXXXXX")
    # Run from a copy of the POM so Maven writes nothing into the git tree.
    cp "$HERE/pom.xml" "$stage/pom.xml"
    # Maven's output goes to a log shown only on failure (-q still leaves
    # colour escapes on a terminal).
    if ! mvn -B -q -Dstyle.color=never -f "$stage/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
      org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$stage/libs" >"$stage/mvn.log" 2>&1; then
      cat "$stage/mvn.log" >&2
      rm -rf "$stage"
      die "mvn could not fetch the broker classpath"
    fi
    echo "$pomsum" >"$stage/libs/.complete"
    rm -rf "$LIBS"
    mv "$stage/libs" "$LIBS"
    rm -rf "$stage"
    jars=("$LIBS"/*.jar)
    echo "kafka/up.sh: fetched ${#jars[@]} jars in $((SECONDS - t0))s" >&2
  fi
  exec 9>&-
else
  echo "kafka/up.sh: using cached Kafka $VERSION jars in $LIBS" >&2
fi

# --- workdir -------------------------------------------------------------
mkdir -p "$W"
W=$(cd "$W" && pwd)
if [[ -f $W/kafka.pid ]] && pid=$(cat "$W/kafka.pid") && kill -0 "$pid" 2>/dev/null &&
  grep -qa kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null; then
  die "a broker is already running from $W (pid $pid); run scripts/kafka/down.sh $W first"
fi
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for p in "$PORT" "$CPORT"; do
  port_busy "$p" && die "port $p on $HOST is already in use"
done
keep=0
[[ ${KAFKA_KEEP_DATA:-0} == 1 && -f $W/data/meta.properties ]] && keep=1
if ((keep)); then
  rm -rf "$W/logs" "$W/kafka.pid" "$W/bootstrap" "$W/server.properties"
else
  rm -rf "$W/data" "$W/logs" "$W/kafka.pid" "$W/bootstrap" "$W/server.properties"
fi
mkdir -p "$W/data" "$W/logs"
PARTITIONS=${KAFKA_PARTITIONS:-1}
[[ $PARTITIONS =~ ^[1-9][0-9]*$ ]] || die "bad KAFKA_PARTITIONS '$PARTITIONS'"
sed -e "s#@DATA@#$W/data#g" -e "s#@PORT@#$PORT#g" -e "s#@CONTROLLER_PORT@#$CPORT#g" \
  -e "s#^num.partitions=1\$#num.partitions=$PARTITIONS#" \
  "$HERE/server.properties" >"$W/server.properties"

# C1 only (TieredStopAtLevel=1): about half the start-up CPU on a busy 2-core
# machine; a test broker never runs long enough to gain from C2.
JOPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dkafka.logs.dir=$W/logs" "-Dlog4j.configuration=file:$HERE/log4j.properties")
# shellcheck disable=SC2206 # extra JVM options, split on spaces on purpose
JOPTS+=(${KAFKA_JAVA_OPTS:-})

# Cluster id: 16 random bytes, base64url without padding (what
# `kafka-storage.sh random-uuid` prints). Skip ids starting with '-', which
# an argument parser could take for an option.
t0=$SECONDS
if ((keep)); then
  echo "kafka/up.sh: restarting on the data in $W/data" >&2
else
  cid=-
  while [[ $cid == -* ]]; do
    cid=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  if ! java "${JOPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
    --cluster-id="$cid" --config "$W/server.properties" >"$W/logs/format.log" 2>&1; then
    cat "$W/logs/format.log" >&2
    die "formatting KRaft storage failed"
  fi
fi

# stdin/stdout/stderr all redirected, so a caller reading this script's output
# (e.g. $(up.sh ...)) does not wait for the broker to exit.
nohup java "${JOPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$W/server.properties" \
  </dev/null >"$W/logs/server.log" 2>&1 &
pid=$!
echo "$pid" >"$W/kafka.pid"

# Ready when a metadata request lists our broker. Bounded by TIMEOUT seconds.
deadline=$((SECONDS + TIMEOUT))
while ((SECONDS < deadline)); do
  # Capture first: with pipefail, grep -q closing the pipe early could fail kcat.
  meta=$(kcat -b "$HOST:$PORT" -L -m 2 2>/dev/null || true)
  if [[ $meta == *"broker 1 at $HOST:$PORT"* ]]; then
    echo "$HOST:$PORT" >"$W/bootstrap"
    echo "kafka/up.sh: Kafka $VERSION up on $HOST:$PORT (pid $pid) in $((SECONDS - t0))s" >&2
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done

if kill -0 "$pid" 2>/dev/null; then
  why="did not answer on $HOST:$PORT within ${TIMEOUT}s"
else
  why="exited before answering on $HOST:$PORT"
fi
echo "kafka/up.sh: broker $why; last lines of $W/logs/server.log:" >&2
tail -n 50 "$W/logs/server.log" >&2 || true
"$HERE/down.sh" "$W" >&2 || true
exit 1
