// Envelope parsing and serialization.
//
// The target is a 3-item envelope (a ~1 KiB event, a small binary attachment,
// a session) parsed in at most 300 ns on one core, payloads never copied.
// Run: taskset -c 1 ./build/bin/envelope_bench --benchmark_repetitions=5
//        --benchmark_report_aggregates_only=true
#include <cstdlib>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "protocol/envelope.h"

namespace tern::protocol {
namespace {

// An error event as sentry-python sends it, padded to about 1 KiB.
std::string EventJson() {
  std::string e =
      R"({"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":"2024-05-01T12:00:00.123456Z",)"
      R"("platform":"python","level":"error","logger":"app.views","server_name":"web-1",)"
      R"("release":"app@1.4.2","environment":"production",)"
      R"("exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero",)"
      R"("mechanism":{"type":"django","handled":false},"stacktrace":{"frames":[)";
  for (int i = 0; e.size() < 900; ++i) {
    e += R"({"filename":"app/views.py","function":"handler_)" +
         std::to_string(i) +
         R"(","lineno":42,"in_app":true,"context_line":"    return a / b"},)";
  }
  e.pop_back();
  e += R"(]}}]},"sdk":{"name":"sentry.python.django","version":"2.1.1"}})";
  return e;
}

std::string SessionJson() {
  return R"({"sid":"7c7b6585f0b44e8bbd8f5e7b1c4a3c1d","did":"42","init":true,)"
         R"("started":"2024-05-01T12:00:00.000Z","timestamp":"2024-05-01T12:00:01.000Z",)"
         R"("status":"errored","errors":1,)"
         R"("attrs":{"release":"app@1.4.2","environment":"production"}})";
}

std::string Attachment() {
  std::string a(512, '\0');
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(i * 131 + 7);
  a[10] = '\n';
  return a;
}

// Envelope header and item headers the way sentry-python writes them: every
// item with `length`.
std::string ThreeItemEnvelope() {
  const std::string event = EventJson();
  const std::string attachment = Attachment();
  const std::string session = SessionJson();
  std::string env =
      R"({"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42",)"
      R"("sent_at":"2024-05-01T12:00:00.200000Z","sdk":{"name":"sentry.python.django","version":"2.1.1"}})"
      "\n";
  env += R"({"type":"event","length":)" + std::to_string(event.size()) +
         R"(,"content_type":"application/json"})" + "\n" + event + "\n";
  env +=
      R"({"type":"attachment","length":)" + std::to_string(attachment.size()) +
      R"(,"filename":"crash.log","content_type":"application/octet-stream","attachment_type":"event.attachment"})" +
      "\n" + attachment + "\n";
  env += R"({"type":"session","length":)" + std::to_string(session.size()) +
         "}\n" + session + "\n";
  return env;
}

// @sentry/node: no `length` anywhere.
std::string NodeEnvelope() {
  std::string env =
      R"({"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2024-05-01T12:00:00.200Z",)"
      R"("sdk":{"name":"sentry.javascript.node","version":"8.0.0"}})"
      "\n";
  env += "{\"type\":\"event\"}\n" + EventJson() + "\n";
  env += "{\"type\":\"session\"}\n" + SessionJson() + "\n";
  return env;
}

void RunParse(benchmark::State& state, const std::string& input,
              EnvelopeParser::HeaderScan scan) {
  EnvelopeParser parser(scan);
  Envelope env;
  const EnvelopeLimits limits;
  if (!parser.Parse(input, limits, &env).ok()) {
    state.SkipWithError("envelope does not parse");
    return;
  }
  for (auto _ : state) {
    absl::Status s = parser.Parse(input, limits, &env);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(env.items.data());
  }
  // The payloads are views into the input, not copies.
  for (const EnvelopeItem& item : env.items) {
    if (item.payload.data() < input.data() ||
        item.payload.data() + item.payload.size() >
            input.data() + input.size()) {
      state.SkipWithError("payload copied");
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(input.size()));
  state.counters["bytes"] = static_cast<double>(input.size());
}

void BM_ParseThreeItems(benchmark::State& state) {
  static const std::string input = ThreeItemEnvelope();
  RunParse(state, input, EnvelopeParser::HeaderScan::kFast);
}
BENCHMARK(BM_ParseThreeItems);

// The same envelope with every header line read by simdjson On-Demand: the
// reason the fast scanner exists.
void BM_ParseThreeItemsSimdjsonOnly(benchmark::State& state) {
  static const std::string input = ThreeItemEnvelope();
  RunParse(state, input, EnvelopeParser::HeaderScan::kSimdjsonOnly);
}
BENCHMARK(BM_ParseThreeItemsSimdjsonOnly);

void BM_ParseNodeNoLength(benchmark::State& state) {
  static const std::string input = NodeEnvelope();
  RunParse(state, input, EnvelopeParser::HeaderScan::kFast);
}
BENCHMARK(BM_ParseNodeNoLength);

void BM_SerializeThreeItems(benchmark::State& state) {
  const std::string event = EventJson();
  const std::string attachment = Attachment();
  const std::string session = SessionJson();
  const OutItem items[] = {
      {.type = "event", .content_type = "application/json", .payload = event},
      {.type = "attachment",
       .content_type = "application/octet-stream",
       .filename = "crash.log",
       .attachment_type = "event.attachment",
       .payload = attachment},
      {.type = "session", .payload = session},
  };
  const std::string header =
      R"({"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2024-05-01T12:00:00.200000Z"})";
  std::string out;
  for (auto _ : state) {
    out.clear();
    SerializeEnvelope(header, items, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_SerializeThreeItems);

}  // namespace
}  // namespace tern::protocol
