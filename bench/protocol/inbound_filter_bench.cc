// Inbound filter cost per event, on normalized events of 1, 8 and 50 KiB
// (bench::MakeEventJson through the Normalizer, as the relay runs it).
//
// BM_InboundFilterAllOn turns every filter on (localhost, browser
// extensions, web crawlers, two release globs, three error-message globs),
// none of which matches: the worst case, since a matching event stops
// nowhere earlier. BM_InboundFilterOff is the default configuration, which
// must cost next to nothing because it never reads the event.
// BM_InboundFilterCrawlerOnly needs only request.headers.
#include <string>

#include "absl/time/time.h"
#include "bench/support/payloads.h"
#include "benchmark/benchmark.h"
#include "protocol/inbound_filter.h"
#include "protocol/normalize.h"

namespace tern::protocol {
namespace {

std::string NormalizedEvent(size_t bytes) {
  Normalizer normalizer(Normalizer::kDefaultMaxEventBytes, 42);
  NormalizeOptions opts;
  opts.received = absl::FromUnixSeconds(1726558500);
  opts.client_ip = "203.0.113.7";
  protocol::NormalizedEvent out;
  if (!normalizer.Normalize(bench::MakeEventJson(bytes), opts, &out).ok()) {
    return "";
  }
  return out.json;
}

void Run(benchmark::State& state, const InboundFilterConfig& config) {
  const std::string json = NormalizedEvent(state.range(0));
  if (json.empty()) {
    state.SkipWithError("normalize failed");
    return;
  }
  InboundFilter filter;
  if (filter.Check(config, json).has_value()) {
    state.SkipWithError("the benchmark event must not be filtered");
    return;
  }
  for (auto _ : state) {
    auto result = filter.Check(config, json);
    benchmark::DoNotOptimize(result);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(json.size()));
  state.counters["event_bytes"] = static_cast<double>(json.size());
}

void BM_InboundFilterAllOn(benchmark::State& state) {
  Run(state, InboundFilterConfig::Make(true, true, true, {"0.0.*", "*-never"},
                                       {"*ResizeObserver loop*",
                                        "ChunkLoadError: *", "Script error."}));
}
BENCHMARK(BM_InboundFilterAllOn)->Arg(1024)->Arg(8 * 1024)->Arg(50 * 1024);

void BM_InboundFilterCrawlerOnly(benchmark::State& state) {
  Run(state, InboundFilterConfig::Make(false, false, true, {}, {}));
}
BENCHMARK(BM_InboundFilterCrawlerOnly)->Arg(1024)->Arg(8 * 1024);

void BM_InboundFilterOff(benchmark::State& state) {
  Run(state, InboundFilterConfig());
}
BENCHMARK(BM_InboundFilterOff)->Arg(1024);

}  // namespace
}  // namespace tern::protocol
