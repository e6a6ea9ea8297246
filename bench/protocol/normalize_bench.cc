// Event normalization throughput, in input bytes per second.
//
// BM_Normalize is the whole stage (parse, checks, rewrite into the output
// buffer) on realistic events of 1, 8 and 50 KiB. BM_ParseOnly is simdjson's
// DOM parse of the same bytes with the same settings (unpadded input, so
// simdjson first copies it into its padded buffer): the floor the stage
// cannot go below, which shows how the time splits between parsing and
// writing. BM_NormalizeCorpus runs over every sample in shared/event-samples
// that normalizes (real SDK output of every shape and size). The *Scrubbed
// variants run the same with the default data-scrubbing rules on
// (protocol/scrub.h), IP address scrubbing included.
#include <simdjson.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/support/payloads.h"
#include "benchmark/benchmark.h"
#include "protocol/normalize.h"
#include "protocol/scrub.h"
#include "tests/support/samples.h"

namespace tern::protocol {
namespace {

NormalizeOptions BenchOptions() {
  NormalizeOptions opts;
  opts.received = absl::FromUnixSeconds(1726558500);
  opts.client_ip = "203.0.113.7";
  opts.sentry_client = "sentry.python/2.14.0";
  return opts;
}

const ScrubConfig& BenchScrub() {
  static const ScrubConfig config = [] {
    ScrubConfig c;
    c.scrub_ip_addresses = true;
    return c;
  }();
  return config;
}

void RunNormalize(benchmark::State& state, bool scrub) {
  const std::string json = bench::MakeEventJson(state.range(0));
  Normalizer normalizer(Normalizer::kDefaultMaxEventBytes, 42);
  NormalizeOptions opts = BenchOptions();
  if (scrub) opts.scrub = &BenchScrub();
  NormalizedEvent out;
  for (auto _ : state) {
    const absl::Status status = normalizer.Normalize(json, opts, &out);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(out.json.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(json.size()));
  state.counters["in_bytes"] = static_cast<double>(json.size());
}
void BM_Normalize(benchmark::State& state) { RunNormalize(state, false); }
void BM_NormalizeScrubbed(benchmark::State& state) {
  RunNormalize(state, true);
}
BENCHMARK(BM_Normalize)->Arg(1024)->Arg(8 * 1024)->Arg(50 * 1024);
BENCHMARK(BM_NormalizeScrubbed)->Arg(1024)->Arg(8 * 1024)->Arg(50 * 1024);

void BM_ParseOnly(benchmark::State& state) {
  const std::string json = bench::MakeEventJson(state.range(0));
  simdjson::dom::parser parser(Normalizer::kDefaultMaxEventBytes);
  if (parser.allocate(Normalizer::kDefaultMaxEventBytes,
                      Normalizer::kMaxDepth + 1)) {
    state.SkipWithError("allocate failed");
    return;
  }
  for (auto _ : state) {
    auto doc = parser.parse(json.data(), json.size(), true);
    if (doc.error()) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(doc.value_unsafe());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(json.size()));
}
BENCHMARK(BM_ParseOnly)->Arg(1024)->Arg(8 * 1024)->Arg(50 * 1024);

void RunNormalizeCorpus(benchmark::State& state, bool scrub) {
  Normalizer normalizer(Normalizer::kDefaultMaxEventBytes, 42);
  NormalizeOptions opts = BenchOptions();
  if (scrub) opts.scrub = &BenchScrub();
  opts.received = absl::FromUnixSeconds(1893456000);  // nothing clamps
  NormalizedEvent out;
  std::vector<std::string> events;
  int64_t bytes = 0;
  for (const std::string& path : testing::AllEventSamples()) {
    std::string json = testing::ReadEventSample(path);
    if (normalizer.Normalize(json, opts, &out).ok()) {
      bytes += static_cast<int64_t>(json.size());
      events.push_back(std::move(json));
    }
  }
  for (auto _ : state) {
    for (const std::string& json : events) {
      benchmark::DoNotOptimize(normalizer.Normalize(json, opts, &out).ok());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes);
  state.counters["events"] = static_cast<double>(events.size());
}
void BM_NormalizeCorpus(benchmark::State& state) {
  RunNormalizeCorpus(state, false);
}
void BM_NormalizeCorpusScrubbed(benchmark::State& state) {
  RunNormalizeCorpus(state, true);
}
BENCHMARK(BM_NormalizeCorpus);
BENCHMARK(BM_NormalizeCorpusScrubbed);

}  // namespace
}  // namespace tern::protocol
