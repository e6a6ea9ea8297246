// Grouping cost per event for the shapes that are expensive: deep Java and
// native stack traces (issue 19: a 50-frame Java stack under 50 µs).
//
// BM_HashJava55 hashes shared/event-samples/sentry/java-minimal.json (55
// frames, already parsed: ComputeHashes alone); BM_AnalyzeJava55 is the
// backend's whole pass over the same event's JSON (parse, hashes, issue
// fields). BM_HashNative hashes a native sample for comparison. Numbers go
// to bench/RESULTS.md ("Grouping deep stacks").
#include <string>

#include "backend/grouping/grouping.h"
#include "benchmark/benchmark.h"
#include "protocol/json_value.h"
#include "tests/support/samples.h"

namespace {

void Hash(benchmark::State& state, const char* sample) {
  const std::string json = tern::testing::ReadEventSample(sample);
  auto event = tern::protocol::ParseJson(json);
  if (!event.ok()) {
    state.SkipWithError("sample does not parse");
    return;
  }
  for (auto _ : state) {
    auto hashes = tern::grouping::ComputeHashes(*event);
    benchmark::DoNotOptimize(hashes);
  }
}

void BM_HashJava55(benchmark::State& state) {
  Hash(state, "sentry/java-minimal.json");
}
BENCHMARK(BM_HashJava55)->Unit(benchmark::kMicrosecond);

void BM_HashNative(benchmark::State& state) {
  Hash(state, "sentry/native2-boost.json");
}
BENCHMARK(BM_HashNative)->Unit(benchmark::kMicrosecond);

void BM_AnalyzeJava55(benchmark::State& state) {
  const std::string json =
      tern::testing::ReadEventSample("sentry/java-minimal.json");
  for (auto _ : state) {
    auto facts = tern::grouping::Analyze(json);
    benchmark::DoNotOptimize(facts);
  }
}
BENCHMARK(BM_AnalyzeJava55)->Unit(benchmark::kMicrosecond);

}  // namespace
