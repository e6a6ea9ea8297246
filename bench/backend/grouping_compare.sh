#!/usr/bin/env bash
# Compares two grouping_bench binaries in the same run (bench/RESULTS.md,
# "Grouping deep stacks"): ROUNDS rounds, each running OLD then NEW pinned
# to CPU 1, then the median CPU time per benchmark and binary and their
# ratio. On a shared machine only the ratio of the same rounds is stable.
#
# Usage: bench/backend/grouping_compare.sh OLD_BIN NEW_BIN [ROUNDS]
set -euo pipefail
old=$1
new=$2
rounds=${3:-5}
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
for _ in $(seq "$rounds"); do
  for which in old new; do
    taskset -c 1 "${!which}" --benchmark_min_time=0.5 2>/dev/null |
      awk -v w="$which" '/^BM_/ {print w, $1, $4}' >>"$runs"
  done
done
python3 - "$runs" <<'PY'
import collections, statistics, sys
t = collections.defaultdict(list)
for line in open(sys.argv[1]):
    which, name, cpu = line.split()
    t[(name, which)].append(float(cpu))
for name in sorted({k[0] for k in t}):
    old, new = t.get((name, "old"), []), t.get((name, "new"), [])
    if not old or not new:
        print(f"{name:22s} only in one binary")
        continue
    mo, mn = statistics.median(old), statistics.median(new)
    print(f"{name:22s} old {mo:7.1f} us  new {mn:7.1f} us  new/old {mn / mo:.3f}"
          f"  runs old {old} new {new}")
PY
