// Kafka message encoding and decoding: the event message at three payload
// sizes, and outcomes.
// Run: taskset -c 1 ./build/bin/kafka_codec_bench --benchmark_repetitions=5
//        --benchmark_report_aggregates_only=true
#include <string>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "protocol/kafka_codec.h"

namespace tern::protocol {
namespace {

const EventId kId = *EventId::Parse("fc6d8c0c43fc4630ad850ee518f1b9d0");

std::string Payload(size_t size) {
  std::string p(size, '\0');
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<char>('a' + i % 26);
  return p;
}

EventMessage Event(std::string_view payload) {
  EventMessage m;
  m.payload = payload;
  m.start_time = 1714564800;
  m.event_id = kId;
  m.project_id = 42;
  m.remote_addr = "203.0.113.7";
  return m;
}

void BM_EncodeEvent(benchmark::State& state) {
  const std::string payload = Payload(static_cast<size_t>(state.range(0)));
  const EventMessage m = Event(payload);
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeEventMessage(m, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_EncodeEvent)->Arg(1 << 10)->Arg(8 << 10)->Arg(50 << 10);

void BM_DecodeEvent(benchmark::State& state) {
  const std::string payload = Payload(static_cast<size_t>(state.range(0)));
  std::string bytes;
  EncodeEventMessage(Event(payload), &bytes);
  KafkaMessageDecoder decoder;
  KafkaMessage out;
  if (!decoder.Decode(bytes, &out).ok()) {
    state.SkipWithError("does not decode");
    return;
  }
  for (auto _ : state) {
    absl::Status s = decoder.Decode(bytes, &out);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(std::get<EventMessage>(out).payload.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeEvent)->Arg(1 << 10)->Arg(8 << 10)->Arg(50 << 10);

// An event with two chunked attachments, as produced ahead of
// ingest-attachments.
void BM_EncodeEventWithAttachments(benchmark::State& state) {
  const std::string payload = Payload(1 << 10);
  EventMessage m = Event(payload);
  m.attachments = {
      {.id = "0123456789abcdef0123456789abcdef",
       .name = "crash.log",
       .content_type = "text/plain",
       .attachment_type = "event.attachment",
       .chunks = 1,
       .size = 4096},
      {.id = "fedcba9876543210fedcba9876543210",
       .name = "core.dmp",
       .content_type = "application/octet-stream",
       .attachment_type = "event.minidump",
       .chunks = 3,
       .size = 3 << 20},
  };
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeEventMessage(m, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_EncodeEventWithAttachments);

OutcomeMessage Accepted() {
  OutcomeMessage m;
  m.timestamp = absl::FromUnixMicros(1714564800123456);
  m.project_id = 42;
  m.key_id = 7;
  m.event_id = kId;
  m.remote_addr = "203.0.113.7";
  m.category = DataCategory::kError;
  return m;
}

void BM_EncodeOutcome(benchmark::State& state) {
  const OutcomeMessage m = Accepted();
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeOutcome(m, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_EncodeOutcome);

void BM_DecodeOutcome(benchmark::State& state) {
  std::string json;
  EncodeOutcome(Accepted(), &json);
  OutcomeDecoder decoder;
  OutcomeMessage out;
  for (auto _ : state) {
    absl::Status s = decoder.Decode(json, &out);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_DecodeOutcome);

}  // namespace
}  // namespace tern::protocol
