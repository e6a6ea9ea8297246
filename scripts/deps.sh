#!/usr/bin/env bash
# Installs every Debian package Tern builds and tests with. Idempotent and
# non-interactive: a machine that already has everything costs one dpkg query.
# Why each package is here: docs/dependencies.md.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format
  # libraries
  libuv1-dev node-llhttp libsimdjson-dev libzstd-dev librdkafka-dev libabsl-dev
  libbenchmark-dev libgtest-dev libgmock-dev zlib1g-dev libdeflate-dev
  libbrotli-dev libmsgpack-dev libyaml-cpp-dev libspdlog-dev libpcre2-dev
  libsqlite3-dev libpq-dev libhiredis-dev
  # backend/symbolicate: reads sentry-cli's artifact bundles (zip archives)
  libzip-dev
  # backend/alerts: SMTP and webhook delivery (libcurl, OpenSSL flavour) and
  # the webhooks' HMAC-SHA256 (OpenSSL); tests/integration/test_alerts.py's
  # self-signed certificate is made with the openssl command
  libcurl4-openssl-dev libssl-dev openssl
  # storage contract tests and the PostgreSQL integration tests run a real
  # server (initdb and pg_ctl in a temp dir; scripts/postgres/)
  postgresql
  # shared quotas' integration tests run a real Redis (tests/integration/
  # test_redis_quotas.py starts its own; the package's service is not used)
  redis-server
  # build cache, so repeated CI runs on one machine rebuild only what changed
  ccache
  # bench/micro.sh formats results; integration tests run sentry-python from a
  # venv and @sentry/node from npm; wrk cross-checks the relay's throughput
  python3 python3-venv wrk
  # integration tests' real Kafka broker (scripts/kafka/, docs/kafka.md):
  # Java 17 runs it, Maven fetches its jars, kcat produces/consumes/probes it
  openjdk-17-jre-headless maven kcat
  # the SDK matrix compiles its sentry-java program (tests/sdk/java) with
  # Maven: javac. Go (>= 1.25) and Rust (>= 1.89) for its sentry-go and
  # sentry programs are newer than Debian 12's: they come from go.dev and
  # rustup (docs/sdk-matrix.md)
  openjdk-17-jdk-headless
  # the web UI's headless browser test (tests/browser/): playwright-core from
  # npm drives Debian's chromium, so no browser is downloaded at test time
  chromium
  # bench/run.sh's peer baseline (bench/stack.sh runs it from a config of its
  # own, unprivileged; the package's service is not started, see below)
  nginx
  # Debian packages (packaging/build-deb.sh, scripts/test-packaging.sh):
  # debhelper builds them, lintian checks them, debootstrap makes the fresh
  # Debian 12 root they are installed into, curl sends the test event
  debhelper lintian debootstrap curl
)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg-query exits 0 for removed-but-configured packages too; check status.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js for @sentry/node and @sentry/browser: Debian's nodejs and npm, unless
# a node with npm is already installed (a NodeSource nodejs bundles npm and
# conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Installing nginx would start its service on port 80; the bench never uses
# it. While apt-get runs, a policy-rc.d that forbids starting services keeps
# it (and any other package's service) down, unless the machine already has
# a policy of its own (containers usually do), which is left as it is.
guard=
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\n# tern scripts/deps.sh: no service starts during its apt-get\nexit 101\n' |
    $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  guard=1
fi
status=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
if [[ -n $guard ]]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
exit "$status"
