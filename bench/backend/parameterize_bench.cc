// Message parameterization (Sentry's normalize_message_for_grouping) per
// message, for the shapes events carry: an exception value with a URL and a
// number (the ingest benchmark's), one with an email and a key=value pair,
// and a plain sentence. BM_NormalizeRepeated sends one message again and
// again (the per-thread cache answers); BM_NormalizeUnique makes each one
// distinct with a " #N" suffix (the regex runs every time), and
// BM_NormalizeEveryPattern runs the whole alternation on those same
// messages, as before the per-feature alternations: the ratio of the last
// two is what leaving out impossible patterns buys. bench/RESULTS.md.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "backend/grouping/grouping.h"
#include "benchmark/benchmark.h"

namespace {

constexpr const char* kMessages[] = {
    "Loading chunk 158 failed.\n(timeout: https://s1.sentry-cdn.com/_static/"
    "34f8a6d11b9f52ebb4e5fd949650088f/sentry/dist/passwordStrength.js)",
    "could not deliver to ops-team@example.com: status=421 retry='later'",
    "Cannot read properties of undefined (reading 'map')",
};

void BM_NormalizeRepeated(benchmark::State& state) {
  const std::string message = kMessages[state.range(0)];
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        tern::grouping::NormalizeMessageForGrouping(message));
  }
}
BENCHMARK(BM_NormalizeRepeated)
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMicrosecond);

template <std::string (*kNormalize)(std::string_view)>
void Unique(benchmark::State& state) {
  const std::string base = absl::StrCat(kMessages[state.range(0)], " #");
  uint64_t n = 0;
  std::string message;
  for (auto _ : state) {
    message = base;
    absl::StrAppend(&message, ++n);
    benchmark::DoNotOptimize(kNormalize(message));
  }
}

std::string Cached(std::string_view message) {
  return tern::grouping::NormalizeMessageForGrouping(message);
}

void BM_NormalizeUnique(benchmark::State& state) { Unique<Cached>(state); }
BENCHMARK(BM_NormalizeUnique)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

void BM_NormalizeEveryPattern(benchmark::State& state) {
  Unique<tern::grouping::internal::NormalizeMessageWithEveryPattern>(state);
}
BENCHMARK(BM_NormalizeEveryPattern)
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
