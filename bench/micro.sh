#!/usr/bin/env bash
# Runs the protocol microbenchmarks pinned to one core and prints a Markdown
# table of medians (ns/op and MB/s) for bench/RESULTS.md.
#   bench/micro.sh [benchmark-binary-name ...]   (default: all of them)
# CPU 1 is used so CPU 0 keeps the machine's other work; override with
# TERN_BENCH_CPU. Repetitions: TERN_BENCH_REPS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
cpu="${TERN_BENCH_CPU:-1}"
reps="${TERN_BENCH_REPS:-5}"
benches=("$@")
if ((${#benches[@]} == 0)); then
  benches=(auth_bench envelope_bench decode_bench normalize_bench kafka_codec_bench)
fi

./scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target "${benches[@]}" >/dev/null

out=$(mktemp -d)
for b in "${benches[@]}"; do
  taskset -c "$cpu" "build/bin/$b" --benchmark_repetitions="$reps" \
    --benchmark_report_aggregates_only=true --benchmark_format=json \
    --benchmark_out="$out/$b.json" --benchmark_out_format=json >/dev/null
done

python3 - "$out" "${benches[@]}" <<'PY'
import json, sys, os
out, benches = sys.argv[1], sys.argv[2:]
print("| benchmark | median ns/op | median MB/s |")
print("|---|---:|---:|")
for b in benches:
    data = json.load(open(os.path.join(out, b + ".json")))
    for r in data["benchmarks"]:
        if r.get("aggregate_name") != "median":
            continue
        ns = r["real_time"] if r["time_unit"] == "ns" else r["real_time"] * {"us": 1e3, "ms": 1e6, "s": 1e9}[r["time_unit"]]
        bps = r.get("bytes_per_second")
        mbs = f"{bps / 1e6:,.0f}" if bps else "–"
        print(f"| {r['run_name']} | {ns:,.1f} | {mbs} |")
PY
rm -rf "$out"
