#!/usr/bin/env bash
# The Debian packages, end to end (docs/packaging.md):
#   1. packaging/build-deb.sh twice from a clean clone of HEAD: version V and
#      an older V~pre1 for the upgrade
#   2. the .debs: Depends from dpkg-shlibdeps, conffiles, stripped binaries
#      with their debug files in -dbgsym; lintian with no errors
#   3. a fresh Debian 12 root made by debootstrap (minbase; cached as a
#      tarball under the cache dir, so only the first run downloads it),
#      /proc and /dev mounted into it (always unmounted on exit)
#   4. `apt-get install ./tern-*.deb` of V~pre1 in it, so apt resolves the
#      runtime dependencies from Debian alone; --version, check-config, the
#      tern user, permissions, no build-tree path in the binaries
#   5. the operator's steps: api_token, ports, Kafka address; a project; the
#      units' ExecStartPre/ExecStart lines run as the tern user in the root
#      (systemd cannot run as PID 1 here) against librdkafka's mock broker
#      (tern-mock-kafka, on this host: the root shares its loopback); an
#      event sent with curl is stored and listed by the API; a key added to
#      /etc/tern/projects.yml works after the units' ExecReload (SIGHUP);
#      the packaged tern-bench's load is answered 200
#   6. an event answered while Kafka is down stays in the spool; upgrade to
#      V: the edited conffiles are kept, the SQLite store and the spool
#      survive, the spooled event is delivered and stored
#   7. systemd-analyze verify and security (offline) on both units
#   8. apt-get remove keeps configs and data; dpkg --purge removes them
# Prints "ok - ..." or "FAIL - ..." per check and finally
# "packaging: N passed, M failed"; exits non-zero on any failure.
#
# Runs as root (chroot, mount); re-executes itself with sudo otherwise.
# Environment:
#   TERN_BUILD_DIR        build tree with tern-mock-kafka (default build;
#                         built there if missing)
#   TERN_PKG_CACHE        cache for the Debian root and apt's .debs (default
#                         /var/cache/tern-test)
#   TERN_PKG_SKIP_DEPS=1  skip scripts/deps.sh (scripts/test.sh ran it)
#   TERN_PKG_KEEP=1       keep the temp dir (the root is still unmounted)
#   TERN_PKG_PREBUILT=DIR reuse DIR/new and DIR/old (the packages of a kept
#                         run) instead of building; for working on this script
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [[ $(id -u) -ne 0 ]]; then
  exec sudo --preserve-env=TERN_BUILD_DIR,TERN_PKG_CACHE,TERN_PKG_SKIP_DEPS,TERN_PKG_KEEP,TERN_PKG_PREBUILT \
    "$ROOT/scripts/test-packaging.sh" "$@"
fi
BUILD=${TERN_BUILD_DIR:-build}
CACHE=${TERN_PKG_CACHE:-/var/cache/tern-test}
SUITE=bookworm
started=$SECONDS

passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
bad() { echo "FAIL - $*"; failed=$((failed + 1)); }
# check NAME COMMAND...: one counted assertion.
check() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}
finish() {
  echo "packaging: $passed passed, $failed failed ($((SECONDS - started)) s)"
  ((failed == 0))
  exit $?
}
# fatal NAME: a step the rest depends on failed.
fatal() {
  bad "$1 (stopping here)"
  finish
}

# --- temp dir, chroot mounts and processes, undone on any exit ---------------
tmp=$(mktemp -d /tmp/tern-pkgtest.XXXXXX)
chmod 755 "$tmp"
root=$tmp/root
mounts=()
pids=()
cleanup() {
  local i p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null && wait "${pids[i]}" 2>/dev/null
  done
  # Anything still running inside the root (a child of ours) goes too.
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null ||
      echo "test-packaging.sh: cannot unmount ${mounts[i]}" >&2
  done
  if grep -qF " $root" /proc/self/mounts; then
    echo "test-packaging.sh: $root still has mounts; not deleting $tmp" >&2
  elif [[ ${TERN_PKG_KEEP:-0} == 1 ]]; then
    echo "test-packaging.sh: kept $tmp" >&2
  else
    rm -rf --one-file-system "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mount_into() {  # mount_into TARGET MOUNT-ARGS...
  local target=$1
  shift
  mkdir -p "$target"
  mount "$@" "$target" && mounts+=("$target")
}

# In the root: as root, or as the tern user from /var/lib/tern (the units'
# User= and WorkingDirectory=).
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
as_tern() {
  chroot --userspec=tern:tern "$root" /usr/bin/env -i PATH=/usr/bin:/bin \
    LANG=C.UTF-8 HOME=/var/lib/tern /bin/sh -c 'cd /var/lib/tern && exec "$@"' sh "$@"
}

# Replaces every match of the Perl regex $2 in the root's file $1 by $3 (an
# operator's edit); fails if nothing matched.
edit() {
  FROM=$2 TO=$3 perl -0777 -i -pe 'BEGIN { $n = 0 } $n += s/$ENV{FROM}/$ENV{TO}/gm; END { exit($n ? 0 : 1) }' "$root$1"
}
# Inserts the text $3 after the first match of the Perl regex $2 in $1.
insert_after() {
  FROM=$2 TO=$3 perl -0777 -i -pe 'BEGIN { $n = 0 } $n += s/($ENV{FROM})/$1$ENV{TO}/m; END { exit($n ? 0 : 1) }' "$root$1"
}

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

wait_http() {  # wait_http PID URL: until URL answers 2xx, or PID died
  local pid=$1 url=$2 i
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# The unit's LimitNOFILE=, or this machine's hard limit when that is lower
# (a container may not let even root raise it).
nofile_limit() {
  local want hard
  want=$(sed -n 's/^LimitNOFILE=//p' "$root/lib/systemd/system/$1.service")
  hard=$(ulimit -Hn)
  if [[ $hard != unlimited ]] && ((hard < want)); then echo "$hard"; else echo "$want"; fi
}
# ExecStart=, ExecStartPre= or ExecReload= of an installed unit.
unit_line() { sed -n "s/^$2=//p" "$root/lib/systemd/system/$1.service"; }

# --- 0. tools ------------------------------------------------------------------
if [[ ${TERN_PKG_SKIP_DEPS:-0} != 1 ]]; then
  ./scripts/deps.sh || fatal "scripts/deps.sh"
fi
if [[ ! -x $BUILD/bin/tern-mock-kafka ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build "$BUILD" --target tern-mock-kafka >/dev/null ||
    fatal "build tern-mock-kafka in $BUILD"
fi
MOCK_KAFKA=$(cd "$BUILD/bin" && pwd)/tern-mock-kafka

# --- 1. build twice ------------------------------------------------------------
# Both builds and every check name the commit HEAD was on at the start, so a
# commit made while this runs changes nothing here.
TERN_DEB_COMMIT=$(git rev-parse HEAD)
export TERN_DEB_COMMIT
echo "== packaging: build-deb.sh (version V)"
t=$SECONDS
if [[ -n ${TERN_PKG_PREBUILT:-} ]]; then
  # A developer's shortcut: new/ and old/ of an earlier run (TERN_PKG_KEEP=1).
  cp -r "$TERN_PKG_PREBUILT/new" "$TERN_PKG_PREBUILT/old" "$tmp/"
  ls "$tmp"/new/* >"$tmp/build-new.txt"
else
  packaging/build-deb.sh --out "$tmp/new" >"$tmp/build-new.txt" || fatal "build-deb.sh"
fi
relay_deb=$(grep -E '/tern-relay_[^_]+_amd64\.deb$' "$tmp/build-new.txt")
[[ -n $relay_deb ]] || fatal "build-deb.sh printed no tern-relay .deb"
V=$(dpkg-deb -f "$relay_deb" Version)
echo "   built $V in $((SECONDS - t)) s"
OLD_V="$V~pre1"
t=$SECONDS
if [[ -z ${TERN_PKG_PREBUILT:-} ]]; then
  # The same commit again under an older version, on the first build's tree.
  TERN_DEB_REUSE=1 TERN_DEB_VERSION=$OLD_V packaging/build-deb.sh --out "$tmp/old" >"$tmp/build-old.txt" ||
    fatal "build-deb.sh (TERN_DEB_VERSION=$OLD_V)"
fi
echo "   built $OLD_V in $((SECONDS - t)) s"
commit=$(git rev-parse --short=12 "$TERN_DEB_COMMIT")
check "$OLD_V sorts before $V" dpkg --compare-versions "$OLD_V" lt "$V"
for p in tern-relay tern-backend tern-bench; do
  check "$p: .deb and -dbgsym .deb of $V" \
    test -s "$tmp/new/${p}_${V}_amd64.deb" -a -s "$tmp/new/${p}-dbgsym_${V}_amd64.deb"
done
if git describe --tags --match 'v[0-9]*' "$TERN_DEB_COMMIT" >/dev/null 2>&1; then
  check "version $V comes from the v* tag" grep -qE '^[0-9]' <<<"$V"
else
  check "untagged version $V is 0.0.0~git<count>.<hash>" \
    test "$V" = "0.0.0~git$(git rev-list --count "$TERN_DEB_COMMIT").$(git rev-parse --short=7 "$TERN_DEB_COMMIT")"
fi

# --- 2. the .debs ----------------------------------------------------------------
deb() { echo "$tmp/new/${1}_${V}_amd64.deb"; }
# depends_ok PACKAGE LIBRARY...: each with a (>= version) from shlibdeps.
depends_ok() {
  local d p=$1
  shift
  d=$(dpkg-deb -f "$(deb "$p")" Depends)
  echo "   $p Depends: $d"
  for lib in libc6 "$@"; do
    grep -qE "(^|, )$lib \(>= [0-9]" <<<"$d" || return 1
  done
}
check "tern-relay Depends: libc6, librdkafka1, libuv1, libyaml-cpp0.7 versions (shlibdeps)" \
  depends_ok tern-relay librdkafka1 libuv1 libyaml-cpp0.7
check "tern-backend Depends: libsqlite3-0, libpq5, libpcre2-8-0 versions (shlibdeps)" \
  depends_ok tern-backend libsqlite3-0 libpq5 libpcre2-8-0
for p in tern-relay tern-backend; do
  check "$p depends on adduser" grep -qE '(^|, )adduser(,|$)' <<<"$(dpkg-deb -f "$(deb $p)" Depends)"
done
check "tern-relay conffiles: /etc/tern/relay.yml and projects.yml" \
  bash -c "dpkg-deb -I '$(deb tern-relay)' conffiles | sort | tr '\n' ' ' | grep -qx '/etc/tern/projects.yml /etc/tern/relay.yml '"
check "tern-backend conffiles: /etc/tern/backend.yml" \
  bash -c "dpkg-deb -I '$(deb tern-backend)' conffiles | grep -qx /etc/tern/backend.yml"
mkdir -p "$tmp/x"
for p in tern-relay tern-backend tern-bench; do
  dpkg-deb -x "$(deb "$p")" "$tmp/x/$p"
  dpkg-deb -x "$tmp/new/${p}-dbgsym_${V}_amd64.deb" "$tmp/x/$p-dbgsym"
  check "$p: /usr/bin/$p is stripped" \
    bash -c "! readelf -S '$tmp/x/$p/usr/bin/$p' | grep -qE '\.debug_info|\.symtab'"
  check "$p-dbgsym: debug file for its build id" \
    bash -c "id=\$(readelf -n '$tmp/x/$p/usr/bin/$p' | sed -n 's/.*Build ID: //p'); test -s '$tmp/x/$p-dbgsym/usr/lib/debug/.build-id/'\${id:0:2}/\${id:2}.debug"
done
check "the binaries hold no path of the build tree or this checkout" \
  bash -c "! grep -qaF -e '${TERN_DEB_WORKDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tern/deb-build}' -e '$ROOT/' $tmp/x/*/usr/bin/*"
for u in tern-relay tern-backend; do
  check "$u.service in /lib/systemd/system" test -s "$tmp/x/$u/lib/systemd/system/$u.service"
done

echo "== packaging: lintian"
lintian --fail-on error --tag-display-limit 0 "$tmp"/new/tern_"${V}"_amd64.changes >"$tmp/lintian.txt" 2>&1
lintian_rc=$?
sed 's/^/   /' "$tmp/lintian.txt"
check "lintian: no errors" test "$lintian_rc" -eq 0 -a "$(grep -c '^E:' "$tmp/lintian.txt")" -eq 0

# --- 3. a fresh Debian 12 root ---------------------------------------------------
# The mirror this machine's apt uses (deb822 URIs: or one-line deb), so the
# root gets the same Debian as the build: bookworm, -updates and -security.
mirror_of() {  # mirror_of REGEX-FOR-PATH
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE "https?://[^ ]+$1/?( |$)" | head -n1 | tr -d ' '
}
MIRROR=$(mirror_of '/debian')
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=$(mirror_of '/debian-security')
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
mkdir -p "$CACHE/apt-archives/partial"
base=$CACHE/$SUITE-minbase-amd64.tar
echo "== packaging: Debian root ($MIRROR; cache $base)"
(
  flock 9
  if [[ ! -s $base ]]; then
    t=$SECONDS
    new=$CACHE/root.new
    rm -rf --one-file-system "$new"
    # systemd only for systemd-analyze verify inside the root (it is not
    # started); every Debian 12 host the packages go to has it.
    debootstrap --variant=minbase --include=systemd --arch=amd64 "$SUITE" "$new" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    cat >"$new/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
EOF
    rm -rf "$new"/var/cache/apt/archives/*.deb "$new"/var/lib/apt/lists/*
    tar -C "$new" -cf "$base.tmp" . && mv "$base.tmp" "$base"
    rm -rf --one-file-system "$new"
    echo "   debootstrap: $((SECONDS - t)) s" >&2
  fi
) 9>"$CACHE/.lock" || fatal "debootstrap $SUITE"
mkdir -p "$root"
tar -C "$root" -xf "$base" || fatal "unpack $base"
mount_into "$root/proc" -t proc proc || fatal "mount /proc"
mount_into "$root/dev" --bind /dev || fatal "mount /dev"
mount_into "$root/var/cache/apt/archives" --bind "$CACHE/apt-archives" || fatal "mount apt cache"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
check "the root is Debian 12" grep -q '^12\.' "$root/etc/debian_version"
check "the root has no tern user yet" bash -c "! grep -q '^tern:' '$root/etc/passwd'"
in_root apt-get -qq -o Acquire::Retries=3 update >"$tmp/apt-update.txt" 2>&1 ||
  { cat "$tmp/apt-update.txt"; fatal "apt-get update in the root"; }

apt_install() {  # apt_install DIR-IN-ROOT LOG
  in_root /bin/sh -c "cd $1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ./tern-*.deb" >"$2" 2>&1
}
# install_or_die old|new VERSION WHAT: apt_install of that set, one check; the
# rest of the script needs it, so a failure ends the run with apt's output.
install_or_die() {
  if apt_install "/tmp/debs/$1" "$tmp/install-$1.txt"; then
    ok "apt-get install ./tern-*.deb ($2) $3"
  else
    sed 's/^/   /' "$tmp/install-$1.txt" | tail -n 30
    fatal "apt-get install ./tern-*.deb ($2)"
  fi
}
mkdir -p "$root/tmp/debs"
cp -r "$tmp/old" "$tmp/new" "$root/tmp/debs/"
# The debug packages stay out: ./tern-*.deb is what an operator installs.
rm -f "$root"/tmp/debs/*/*-dbgsym_*.deb "$root"/tmp/debs/*/*.ddeb
chmod -R a+rX "$root/tmp/debs"

# --- 4. install V~pre1 ------------------------------------------------------------
echo "== packaging: apt-get install ./tern-*.deb ($OLD_V)"
install_or_die old "$OLD_V" "resolves its dependencies from Debian"
check "tern-relay --version: $OLD_V and commit $commit" \
  test "$(in_root tern-relay --version)" = "tern-relay $OLD_V (commit $commit)"
check "tern-backend --version: $OLD_V and commit $commit" \
  test "$(in_root tern-backend --version)" = "tern-backend $OLD_V (commit $commit)"
check "tern-bench --help runs" bash -c "chroot '$root' tern-bench --help | grep -q '^usage: tern-bench'"
check "no library is missing (ldd)" \
  bash -c "! chroot '$root' ldd /usr/bin/tern-relay /usr/bin/tern-backend /usr/bin/tern-bench | grep -q 'not found'"
check "postinst made the system user tern" \
  bash -c "chroot '$root' getent passwd tern | grep -qE '^tern:x:[0-9]{3}:[0-9]+:.*:/var/lib/tern:/usr/sbin/nologin$'"
# Names as the root's passwd and group files have them (stat runs inside).
owner() { in_root stat -c %U:%G:%a "$@" | tr '\n' ' '; }
check "/var/lib/tern and its spool belong to tern" \
  test "$(owner /var/lib/tern /var/lib/tern/spool)" = "tern:tern:750 tern:tern:750 "
check "relay.yml and backend.yml: root:tern 640" \
  test "$(owner /etc/tern/relay.yml /etc/tern/backend.yml)" = "root:tern:640 root:tern:640 "
check "tern-relay check-config /etc/tern/relay.yml (as tern): ok, no warning" \
  bash -c "out=\$(chroot --userspec=tern:tern '$root' tern-relay check-config /etc/tern/relay.yml 2>&1) &&
    echo \"   \$out\" && test \"\$out\" = '/etc/tern/relay.yml: ok (/etc/tern/projects.yml: 1 projects, 1 keys)'"
check "tern-relay check-config without a FILE reads /etc/tern/relay.yml" \
  bash -c "chroot --userspec=tern:tern '$root' tern-relay check-config | grep -q '^/etc/tern/relay.yml: ok'"
check "tern-backend refuses the shipped config until auth.api_token is set" \
  bash -c "out=\$(chroot --userspec=tern:tern '$root' tern-backend project list 2>&1); rc=\$?;
    test \$rc -eq 1 && grep -q 'api_token' <<<\"\$out\""

# --- 5. run it as an operator would ------------------------------------------------
RP=$(free_port)
BP=$(free_port)
while [[ $BP == "$RP" ]]; do BP=$(free_port); done
api_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY1=0123456789abcdef0123456789abcdef
KEY2=fedcba9876543210fedcba9876543210

start_kafka() {  # sets kafka_pid and bootstrap
  "$MOCK_KAFKA" >"$tmp/kafka$1.out" 2>"$tmp/kafka$1.log" &
  kafka_pid=$!
  pids+=("$kafka_pid")
  local i
  for i in $(seq 1 100); do
    [[ -s $tmp/kafka$1.out ]] && break
    sleep 0.1
  done
  bootstrap=$(head -n1 "$tmp/kafka$1.out")
  [[ -n $bootstrap ]]
}
point_at_kafka() {
  edit /etc/tern/relay.yml '^  bootstrap_servers: .*$' "  bootstrap_servers: \"$bootstrap\"" &&
    edit /etc/tern/backend.yml '^  bootstrap_servers: .*$' "  bootstrap_servers: \"$bootstrap\""
}
# The unit's lines, as the tern user in the root, with LimitNOFILE.
start_unit() {  # start_unit UNIT LOG; sets unit_pid
  local pre
  pre=$(unit_line "$1" ExecStartPre)
  if [[ -n $pre ]]; then
    # shellcheck disable=SC2086  # the unit's words, as systemd splits them
    as_tern $pre >>"$2" 2>&1 || return 1
  fi
  # shellcheck disable=SC2046
  (ulimit -n "$(nofile_limit "$1")" || exit 1
    exec chroot --userspec=tern:tern "$root" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
      HOME=/var/lib/tern /bin/sh -c 'cd /var/lib/tern && exec "$@"' sh $(unit_line "$1" ExecStart)) >>"$2" 2>&1 &
  unit_pid=$!
  pids+=("$unit_pid")
}
stop_unit() {  # stop_unit PID: SIGTERM (systemd's stop); sets unit_rc
  unit_rc=0
  kill -TERM "$1" 2>/dev/null
  wait "$1" || unit_rc=$?
}
send_event() {  # send_event KEY MESSAGE: prints the HTTP status
  curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RP/api/1/store/" \
    -H "X-Sentry-Auth: Sentry sentry_key=$1, sentry_version=7" -H 'Content-Type: application/json' \
    -d "{\"exception\":{\"values\":[{\"type\":\"PackagingTest\",\"value\":\"$2\"}]}}"
}
issues() {
  curl -fsS -H "Authorization: Bearer $api_token" \
    "http://127.0.0.1:$BP/api/0/projects/demo/issues/?status=all"
}
listed() { issues | grep -qF "$1"; }
wait_issue() {  # wait_issue MESSAGE: until the API lists an issue with it
  local i
  for i in $(seq 1 150); do
    issues 2>/dev/null | grep -qF "$1" && return 0
    sleep 0.2
  done
  return 1
}

echo "== packaging: relay and backend from /etc/tern, as tern (relay :$RP, backend :$BP)"
check "tern-mock-kafka starts on this host" start_kafka 1
edit /etc/tern/relay.yml '^  http: "127\.0\.0\.1:3000"' "  http: \"127.0.0.1:$RP\"" &&
  edit /etc/tern/relay.yml '^  udp: "127\.0\.0\.1:3000"' "  udp: \"127.0.0.1:$RP\"" &&
  edit /etc/tern/relay.yml '^  shutdown: 10s' '  shutdown: 3s' &&
  edit /etc/tern/backend.yml '^  http: "127\.0\.0\.1:9000"' "  http: \"127.0.0.1:$BP\"" &&
  edit /etc/tern/backend.yml '^  api_token: ""' "  api_token: \"$api_token\"" &&
  edit /etc/tern/backend.yml '^    dead_letter: ingest-dead-letter' '    dead_letter: ""' &&
  edit /etc/tern/backend.yml '^relay_public_address: .*$' "relay_public_address: \"127.0.0.1:$RP\"" &&
  point_at_kafka && ok "operator edits in /etc/tern: ports, Kafka, api_token" ||
  fatal "editing /etc/tern (the example files changed?)"
check "tern-backend project create (default config /etc/tern/backend.yml)" \
  bash -c "as_out=\$(chroot --userspec=tern:tern '$root' /bin/sh -c 'cd /var/lib/tern && tern-backend project create --name demo'); echo \"\$as_out\" | grep -qx 'project_id: 1'"
check "the store is /var/lib/tern/tern.db, owned by tern" \
  test "$(in_root stat -c %U /var/lib/tern/tern.db 2>/dev/null)" = tern

start_unit tern-backend "$tmp/backend1.log"
backend_pid=$unit_pid
check "tern-backend (ExecStart) serves /healthz" wait_http "$backend_pid" "http://127.0.0.1:$BP/healthz" ||
  tail -n 20 "$tmp/backend1.log"
start_unit tern-relay "$tmp/relay1.log"
relay_pid=$unit_pid
check "tern-relay (ExecStartPre, ExecStart) is ready" \
  wait_http "$relay_pid" "http://127.0.0.1:$RP/api/relay/healthcheck/ready/" || tail -n 20 "$tmp/relay1.log"
check "the relay runs as tern" test "$(stat -c %u "/proc/$relay_pid")" = "$(in_root id -u tern)"
limit=$(nofile_limit tern-relay)
check "the relay's open-files limit is the unit's LimitNOFILE ($limit here)" \
  grep -qE "^Max open files +$limit +$limit " "/proc/$relay_pid/limits"

msg1="pkgtest-first-$RANDOM$RANDOM"
check "an event sent with curl is answered 200" test "$(send_event $KEY1 "$msg1")" = 200
check "... and stored: the API lists its issue" wait_issue "$msg1"

check "a key not in projects.yml yet gets 403" test "$(send_event $KEY2 nokey)" = 403
# tern-bench's key for its project 1 (projects-file is deterministic) joins
# too, so the packaged load generator can be pointed at the packaged relay.
bench_key=$(in_root tern-bench projects-file --projects 1 | sed -n 's/^ *- public_key: //p' | head -n1)
check "tern-bench projects-file prints a key" grep -qE '^[0-9a-f]{32}$' <<<"$bench_key"
insert_after /etc/tern/projects.yml '^        status: active .*\n' "      - public_key: $KEY2
        status: active
      - public_key: $bench_key
        status: active
" ||
  bad "add keys to /etc/tern/projects.yml"
projects_sum=$(sha256sum <"$root/etc/tern/projects.yml")
# As systemd runs it: the unit's user, MAINPID in the environment.
chroot --userspec=tern:tern "$root" /usr/bin/env -i PATH=/usr/bin:/bin MAINPID="$relay_pid" \
  /bin/sh -c "$(unit_line tern-relay ExecReload)" || bad "the unit's ExecReload line failed"
reloaded() {
  local i
  for i in $(seq 1 50); do
    [[ $(send_event $KEY2 "pkgtest-key2") == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}
check "after ExecReload (SIGHUP) the new key is accepted" reloaded
check "the relay logged the SIGHUP reload" grep -q 'SIGHUP: reloading' "$tmp/relay1.log"
# The packaged tern-bench builds its payloads from the samples compiled into
# it (no shared/ in the root): 1 s at 200 events/s, every answer a 200.
in_root tern-bench --port "$RP" --projects 1 --rate 200 --duration 1 --warmup 0 --connections 2 \
  --quiet --json /tmp/bench.json >"$tmp/bench.txt" 2>&1 || bad "tern-bench against the relay (exit $?)"
check "tern-bench in the root: its events are answered 200, nothing else" \
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["answered"] >= 150 and r["by_status"] == {"200": r["answered"]}))' "$root/tmp/bench.json"

# Kafka goes away: the relay still answers 200 and keeps the event on disk.
kill -TERM "$kafka_pid" && wait "$kafka_pid"
msg2="pkgtest-spooled-$RANDOM$RANDOM"
check "with Kafka down an event is still answered 200 (spooled)" test "$(send_event $KEY1 "$msg2")" = 200
sleep 0.5
stop_unit "$relay_pid"
echo "   tern-relay exited $unit_rc after SIGTERM with Kafka down (what it had not delivered stays in the spool)"
check "the spool in /var/lib/tern/spool holds a segment" \
  bash -c "find '$root/var/lib/tern/spool' -name '*.seg' -size +0 | grep -q ."
stop_unit "$backend_pid"
check "tern-backend stops cleanly on SIGTERM" test "$unit_rc" = 0

# --- 6. upgrade ----------------------------------------------------------------------
echo "== packaging: upgrade $OLD_V -> $V"
relay_sum=$(sha256sum <"$root/etc/tern/relay.yml")
backend_sum=$(sha256sum <"$root/etc/tern/backend.yml")
install_or_die new "$V" "over $OLD_V"
check "dpkg has $V of all three" \
  test "$(in_root dpkg-query -W -f='${Version} ' tern-relay tern-backend tern-bench)" = "$V $V $V "
check "tern-relay --version: $V" test "$(in_root tern-relay --version)" = "tern-relay $V (commit $commit)"
check "the operator's /etc/tern/projects.yml is kept" test "$(sha256sum <"$root/etc/tern/projects.yml")" = "$projects_sum"
check "the operator's relay.yml and backend.yml are kept" \
  test "$(sha256sum <"$root/etc/tern/relay.yml")$(sha256sum <"$root/etc/tern/backend.yml")" = "$relay_sum$backend_sum"
check "no .dpkg-new or .dpkg-dist left in /etc/tern" bash -c "! ls '$root/etc/tern' | grep -q dpkg"
check "the spool segment survived the upgrade" \
  bash -c "find '$root/var/lib/tern/spool' -name '*.seg' -size +0 | grep -q ."
start_kafka 2 || fatal "tern-mock-kafka (second)"
point_at_kafka || bad "point the configs at the new broker"
start_unit tern-backend "$tmp/backend2.log"
backend_pid=$unit_pid
check "$V tern-backend serves /healthz" wait_http "$backend_pid" "http://127.0.0.1:$BP/healthz" ||
  tail -n 20 "$tmp/backend2.log"
check "the SQLite store survived: the first event's issue is listed" listed "$msg1"
start_unit tern-relay "$tmp/relay2.log"
relay_pid=$unit_pid
check "$V tern-relay is ready" wait_http "$relay_pid" "http://127.0.0.1:$RP/api/relay/healthcheck/ready/" ||
  tail -n 20 "$tmp/relay2.log"
check "the spooled event is delivered after the upgrade and stored" wait_issue "$msg2"
check "the key added before the upgrade still works" test "$(send_event $KEY2 pkgtest-after)" = 200
stop_unit "$relay_pid"
check "tern-relay stops cleanly on SIGTERM (everything delivered)" test "$unit_rc" = 0
stop_unit "$backend_pid"
check "tern-backend stops cleanly on SIGTERM" test "$unit_rc" = 0
kill -TERM "$kafka_pid" && wait "$kafka_pid"

# --- 7. the units -------------------------------------------------------------------
echo "== packaging: systemd-analyze (offline; systemd is not PID 1 here)"
for u in tern-relay tern-backend; do
  if in_root systemd-analyze verify "/lib/systemd/system/$u.service" >"$tmp/verify-$u.txt" 2>&1 &&
    ! grep -q . "$tmp/verify-$u.txt"; then
    ok "systemd-analyze verify $u.service: clean"
  else
    sed 's/^/   /' "$tmp/verify-$u.txt"
    bad "systemd-analyze verify $u.service"
  fi
  in_root systemd-analyze security --offline=yes --no-pager "$u.service" >"$tmp/security-$u.txt" 2>&1
  score=$(sed -n "s/.*Overall exposure level for $u.service: \([0-9.]*\).*/\1/p" "$tmp/security-$u.txt")
  echo "   systemd-analyze security $u.service: ${score:-?} $(grep -o 'Overall exposure.*' "$tmp/security-$u.txt" | sed 's/.*: [0-9.]* //')"
  check "$u.service exposure at most 2.0 (docs/packaging.md)" \
    awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
done

# --- 8. remove, purge --------------------------------------------------------------
echo "== packaging: remove and purge"
in_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q tern-relay tern-backend tern-bench >"$tmp/remove.txt" 2>&1 ||
  bad "apt-get remove"
check "remove: the binaries and units are gone" \
  bash -c "! ls '$root'/usr/bin/tern-* '$root'/lib/systemd/system/tern-*.service 2>/dev/null | grep -q ."
check "remove: /etc/tern and the data stay" \
  test -s "$root/etc/tern/projects.yml" -a -s "$root/etc/tern/backend.yml" -a -s "$root/var/lib/tern/tern.db"
in_root dpkg --purge tern-relay tern-backend tern-bench >"$tmp/purge.txt" 2>&1 || bad "dpkg --purge"
check "purge: /etc/tern is gone" test ! -e "$root/etc/tern"
check "purge: /var/lib/tern (spool, SQLite) is gone" test ! -e "$root/var/lib/tern"
check "purge: dpkg knows no tern package" \
  bash -c "! chroot '$root' dpkg-query -W -f='\${db:Status-Status}\n' tern-relay tern-backend tern-bench 2>/dev/null | grep -qv not-installed"

echo "   packaging stage: $((SECONDS - started)) s"
finish
