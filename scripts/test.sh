#!/usr/bin/env bash
# Runs every Tern test: installs dependencies, checks formatting, builds two
# trees and runs ctest in both.
#   build/       gcc, Release: unit tests and a one-shot run of each benchmark
#   build/fuzz/  clang, ASan+UBSan: the same unit tests plus every fuzzer for
#                TERN_FUZZ_SECONDS (default 5) over its seed corpus
#   bench smoke  bench/run.sh --smoke: a few seconds of tern-bench against the
#                Release relay, so the bench suite cannot rot (no timing checked)
#   browser      tests/browser/run.sh: the dev stack in a temp dir and headless
#                Chromium driving @sentry/browser and the web UI
#   integration  scripts/integration.sh: the Release tern-relay and
#                tern-backend against a real Kafka broker and PostgreSQL server,
#                sentry-python, @sentry/node and raw UDP, and the SDK matrix
#                (tests/integration/test_sdk_matrix.py, docs/sdk-matrix.md:
#                sentry-python 1.x/2.x, @sentry/node 8/9/11, sentry-go,
#                sentry-java, the Rust sentry crate; installed and built under
#                $TERN_CACHE/sdk, offline after the first run)
#   packaging    scripts/test-packaging.sh: the Debian packages built from a
#                clean clone, lintian, installed, run, upgraded and purged in
#                a debootstrap Debian 12 root
# Exits non-zero if anything fails. Safe to run again: builds are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
./scripts/check-format.sh

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
fuzz_seconds="${TERN_FUZZ_SECONDS:-5}"

echo "== build (Release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build build

echo "== build (clang, ASan+UBSan, fuzzers)"
CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTERN_FUZZ=ON -DTERN_SANITIZE=address,undefined -DTERN_BUILD_BENCH=OFF \
  -DTERN_FUZZ_SECONDS="$fuzz_seconds" "${launcher[@]}" >/dev/null
cmake --build build/fuzz

# ASan reports leaks at exit; UBSan findings are already fatal
# (-fno-sanitize-recover). Both print a stack on failure.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

passed=0
failed=0
run_ctest() {  # $1 = build dir
  local log rc=0
  log=$(mktemp)
  (cd "$1" && ctest --output-on-failure --timeout 900 -j2) 2>&1 | tee "$log" || rc=1
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n1 || true)
  if [[ -n "$line" ]]; then
    local total nfail
    nfail=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
  else
    failed=$((failed + 1))
    rc=1
  fi
  rm -f "$log"
  return $rc
}

status=0
echo "== tests (clang, ASan+UBSan, fuzzers)"
run_ctest build/fuzz || status=1
echo "== tests (Release)"
run_ctest build || status=1

echo "== bench smoke (bench/run.sh --smoke: tern-bench against a pinned relay)"
if TERN_BUILD_DIR=build ./bench/run.sh --smoke; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

echo "== integration tests (real Kafka, PostgreSQL, sentry-python, @sentry/node, sentry-cli, UDP, the SDK matrix)"
ilog=$(mktemp)
./scripts/integration.sh build 2>&1 | tee "$ilog" || status=1
iline=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed$' "$ilog" | tail -n1 || true)
if [[ -n "$iline" ]]; then
  read -r ipassed ifailed < <(sed -E 's/^integration: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$iline")
  passed=$((passed + ipassed))
  failed=$((failed + ifailed))
else
  failed=$((failed + 1))
  status=1
fi
rm -f "$ilog"

echo "== browser test (headless chromium: the web UI and @sentry/browser)"
blog=$(mktemp)
./tests/browser/run.sh build 2>&1 | tee "$blog" || status=1
bline=$(grep -E '^browser: [0-9]+ passed, [0-9]+ failed$' "$blog" | tail -n1 || true)
if [[ -n "$bline" ]]; then
  read -r bpassed bfailed < <(sed -E 's/^browser: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$bline")
  passed=$((passed + bpassed))
  failed=$((failed + bfailed))
else
  failed=$((failed + 1))
  status=1
fi
rm -f "$blog"

echo "== packaging (Debian packages in a debootstrap root: scripts/test-packaging.sh)"
plog=$(mktemp)
TERN_PKG_SKIP_DEPS=1 TERN_BUILD_DIR=build ./scripts/test-packaging.sh 2>&1 | tee "$plog" || status=1
pline=$(grep -E '^packaging: [0-9]+ passed, [0-9]+ failed' "$plog" | tail -n1 || true)
if [[ -n "$pline" ]]; then
  read -r ppassed pfailed < <(sed -E 's/^packaging: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$pline")
  passed=$((passed + ppassed))
  failed=$((failed + pfailed))
else
  failed=$((failed + 1))
  status=1
fi
rm -f "$plog"

echo
echo "total: $passed passed, $failed failed"
exit $status
