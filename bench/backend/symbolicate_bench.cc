// Symbolication cost per event (issue 18: at most 50 µs warm): a JavaScript
// event with 10 minified frames into one real bundle (the bugsink
// captureException bundle of ../shared/event-samples), symbolicated by
// backend/symbolicate's Symbolicator over an in-memory bundle source.
//
// BM_Symbolicate10FramesWarm keeps the parsed-map cache between events (the
// steady state of a deployment); BM_Symbolicate10FramesCold empties it
// before every event, so each one pays the zip read, the map parse and the
// minified source's line index too. Both include parsing the event JSON and
// writing the rewritten event. Numbers go to bench/RESULTS.md.
#include <string>

#include "absl/strings/str_cat.h"
#include "backend/symbolicate/bundle_source.h"
#include "backend/symbolicate/symbolicator.h"
#include "benchmark/benchmark.h"
#include "tests/support/samples.h"

namespace {

namespace sym = tern::backend::symbolicate;

constexpr char kBundle[] =
    "bugsink/artifact_bundles/51a5a327666cf1d11e23adfd55c3becad27ae769.zip";
constexpr char kFile[] =
    "file:///mnt/datacrypt/dev/mksourcemaps/captureException.min.js";

// The bugsink event's shape with 10 frames, all in the minified file.
std::string TenFrameEvent() {
  const int columns[] = {121, 87, 40};
  const char* functions[] = {"captureException", "foo", "bar"};
  std::string frames;
  for (int i = 0; i < 10; ++i) {
    absl::StrAppend(
        &frames, i ? "," : "", "{\"filename\":\"", kFile, "\",\"function\":\"",
        functions[i % 3],
        "\",\"in_app\":true,\"lineno\":3,\"colno\":", columns[i % 3], "}");
  }
  return absl::StrCat(
      "{\"event_id\":\"af4d4093e2d548bea61683abecb8ee95\",\"platform\":"
      "\"javascript\",\"release\":\"my-project-name@2.3.12\",\"exception\":{"
      "\"values\":[{\"type\":\"Error\",\"value\":\"Sentry Test Error\","
      "\"stacktrace\":{\"frames\":[",
      frames,
      "]}}]},\"debug_meta\":{\"images\":[{\"type\":\"sourcemap\","
      "\"code_file\":\"",
      kFile, "\",\"debug_id\":\"9b7990f8-1f25-571a-a422-03bea91eb8ab\"}]}}");
}

void Run(benchmark::State& state, bool cold) {
  sym::MemoryBundleSource source;
  if (!source.Add(1, tern::testing::ReadEventSample(kBundle)).ok()) {
    state.SkipWithError("bundle does not load");
    return;
  }
  sym::SymbolicatorOptions options;
  options.cache_bytes = 64 << 20;
  sym::Symbolicator symbolicator(&source, options);
  const std::string event = TenFrameEvent();
  auto first = symbolicator.Process(1, event);
  if (!first || symbolicator.stats().frames_mapped.load() != 10) {
    state.SkipWithError("the frames did not map");
    return;
  }
  for (auto _ : state) {
    if (cold) symbolicator.ClearCache();
    auto out = symbolicator.Process(1, event);
    benchmark::DoNotOptimize(out);
  }
  state.counters["frames"] = 10;
}

void BM_Symbolicate10FramesWarm(benchmark::State& state) { Run(state, false); }
BENCHMARK(BM_Symbolicate10FramesWarm)->Unit(benchmark::kMicrosecond);

void BM_Symbolicate10FramesCold(benchmark::State& state) { Run(state, true); }
BENCHMARK(BM_Symbolicate10FramesCold)->Unit(benchmark::kMicrosecond);

}  // namespace
