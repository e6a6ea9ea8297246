// Grouping cost per event for the shapes that are expensive: deep Java and
// native stack traces (issue 19: a 50-frame Java stack under 50 µs).
//
// BM_HashJava55 hashes shared/event-samples/sentry/java-minimal.json (55
// frames, already parsed: ComputeHashes alone); BM_AnalyzeJava55 is the
// backend's whole pass over the same event's JSON (parse, hashes, issue
// fields). BM_HashNative hashes a native sample for comparison.
// BM_HashJava55Unseen is BM_HashJava55 on frames the grouping has not seen
// before (its per-thread cache of stack-trace rule results misses on every
// frame): the first events of a service. Numbers go to bench/RESULTS.md
// ("Grouping deep stacks").
#include <string>
#include <vector>

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

void BM_HashJava55Unseen(benchmark::State& state) {
  const std::string json =
      tern::testing::ReadEventSample("sentry/java-minimal.json");
  // Copies whose module names end in "_<copy>": 512 x 55 distinct frames,
  // more than the rule cache keeps, so a copy's frames are gone from it when
  // the copy comes round again. Suffixes leave the rules' decisions alone
  // (module rules are prefixes).
  constexpr int kCopies = 512;
  std::vector<tern::protocol::JsonValue> events;
  const std::string marker = "\"module\": \"";
  for (int k = 0; k < kCopies; ++k) {
    std::string copy;
    size_t from = 0;
    for (size_t at; (at = json.find(marker, from)) != std::string::npos;) {
      size_t close = json.find('"', at + marker.size());
      copy.append(json, from, close - from);
      copy.push_back('_');
      copy.append(std::to_string(k));
      from = close;
    }
    copy.append(json, from);
    auto event = tern::protocol::ParseJson(copy);
    if (!event.ok()) {
      state.SkipWithError("sample does not parse");
      return;
    }
    events.push_back(*std::move(event));
  }
  size_t i = 0;
  for (auto _ : state) {
    auto hashes = tern::grouping::ComputeHashes(events[i++ % kCopies]);
    benchmark::DoNotOptimize(hashes);
  }
}
BENCHMARK(BM_HashJava55Unseen)->Unit(benchmark::kMicrosecond);

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
