// The backend's ingest path without Kafka's network: 2 KiB error events,
// already encoded as the relay's Kafka messages, go through BatchBuilder
// (decode, grouping, session counts) and Store::WriteBatch (one transaction
// per batch of 2000) into SQLite, and into PostgreSQL when
// TERN_BENCH_POSTGRES_URI names a server (scripts/postgres/up.sh prints
// one; the benchmark creates its own database there).
//
// items_per_second is events per second of this thread's CPU (the store is
// in-process for SQLite; for PostgreSQL the server's own CPU is on the other
// core and not counted, see bench/RESULTS.md). 50 error types spread the
// events over 50 issues, so both the new-issue and the join paths run. The
// argument is the event's shape: 0 without a stack trace, 1 with one.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backend/consumer/batch_builder.h"
#include "backend/storage/store.h"
#include "bench/support/payloads.h"
#include "benchmark/benchmark.h"
#include "protocol/kafka_codec.h"

namespace {

using tern::backend::consumer::BatchBuilder;
using tern::backend::consumer::DeadLetter;
using tern::backend::consumer::TopicNames;

constexpr size_t kBatch = 2000;
constexpr int kErrorTypes = 50;

// The event with its first exception type suffixed by `variant`.
std::string Variant(const std::string& event, int variant) {
  std::string out = event;
  const size_t exception = out.find("\"exception\"");
  const size_t type = out.find("\"type\":\"", exception);
  if (exception == std::string::npos || type == std::string::npos) return out;
  const size_t end = out.find('"', type + 8);
  out.insert(end, absl::StrCat("Variant", variant));
  return out;
}

// The event with a stack trace of `frames` JavaScript frames (a bundle and
// its vendor chunk, as browser SDKs send) in its first exception: grouping
// then hashes the frames and leaves the value raw.
std::string WithStackTrace(const std::string& event, int frames) {
  constexpr std::string_view kValues = "\"exception\":{\"values\":[{";
  const size_t at = event.find(kValues);
  if (at == std::string::npos) return event;
  std::string trace = "\"stacktrace\":{\"frames\":[";
  for (int i = 0; i < frames; ++i) {
    const bool vendor = i < frames / 2;
    absl::StrAppend(&trace, i ? "," : "",
                    "{\"filename\":\"https://app.example.com/static/js/",
                    vendor ? "vendor.4f3a9c.js" : "main.8b21d0.js",
                    "\",\"abs_path\":\"https://app.example.com/static/js/",
                    vendor ? "vendor.4f3a9c.js" : "main.8b21d0.js",
                    "\",\"function\":\"",
                    vendor ? "Object.dispatch" : "handleClick", i,
                    "\",\"lineno\":", 1 + i, ",\"colno\":", 100 * i + 7,
                    ",\"in_app\":", vendor ? "false" : "true", "}");
  }
  trace += "]},";
  std::string out = event;
  out.insert(at + kValues.size(), trace);
  return out;
}

// One batch's messages, each with a fresh event id on every call. Shape 0:
// the 2 KiB event has no stack trace (its value is parameterized); shape 1:
// about 2 KiB with an 8-frame stack trace.
class Messages {
 public:
  Messages(int64_t project, int shape) : project_(project) {
    const std::string base =
        shape == 0 ? tern::bench::MakeEventJson(2048)
                   : WithStackTrace(tern::bench::MakeEventJson(800), 8);
    for (int i = 0; i < kErrorTypes; ++i) events_.push_back(Variant(base, i));
  }
  std::span<const tern::backend::kafka::Message> Next() {
    values_.clear();
    messages_.clear();
    values_.reserve(kBatch);
    for (size_t i = 0; i < kBatch; ++i) {
      tern::protocol::EventMessage m;
      m.payload = events_[i % events_.size()];
      m.start_time = 1700000000;
      const std::string hex = absl::StrCat(
          "00000000000000", absl::Hex(++counter_, absl::kZeroPad16), "00");
      m.event_id = *tern::protocol::EventId::Parse(hex);
      m.project_id = static_cast<uint64_t>(project_);
      std::string& value = values_.emplace_back();
      tern::protocol::EncodeEventMessage(m, &value);
    }
    for (size_t i = 0; i < kBatch; ++i) {
      tern::backend::kafka::Message msg;
      msg.topic = "ingest-events";
      msg.offset = static_cast<int64_t>(counter_ - kBatch + i);
      msg.value = values_[i];
      messages_.push_back(msg);
    }
    return messages_;
  }
  size_t bytes_per_event() const { return events_[0].size(); }

 private:
  int64_t project_;
  uint64_t counter_ = 0;
  std::vector<std::string> events_;
  std::vector<std::string> values_;
  std::vector<tern::backend::kafka::Message> messages_;
};

void RunIngest(benchmark::State& state, const std::string& dsn) {
  const int shape = static_cast<int>(state.range(0));
  auto store = tern::storage::OpenStore(dsn);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  // Google Benchmark calls this function several times (to size the run);
  // each call gets a project of its own in the store.
  static int runs = 0;
  auto created =
      (*store)->CreateProject(absl::StrCat("bench-", getpid(), "-", ++runs));
  if (!created.ok()) {
    state.SkipWithError(std::string(created.status().message()).c_str());
    return;
  }
  const int64_t project = created->first.id;
  Messages messages(project, shape);
  BatchBuilder builder(TopicNames{"ingest-events", "ingest-attachments",
                                  "ingest-transactions", "ingest-sessions"});
  tern::storage::Batch batch;
  std::vector<DeadLetter> dead;
  for (auto _ : state) {
    state.PauseTiming();
    auto view = messages.Next();
    state.ResumeTiming();
    builder.Build(
        view, [&](int64_t id) { return id == project; }, &batch, &dead);
    auto result = (*store)->WriteBatch(batch);
    if (!result.ok() || result->events_stored != static_cast<int64_t>(kBatch)) {
      state.SkipWithError("WriteBatch did not store the batch");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch *
                          messages.bytes_per_event());
}

void BM_IngestSqlite(benchmark::State& state) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat("tern-ingest-bench-", getpid());
  std::filesystem::create_directories(dir);
  RunIngest(state, absl::StrCat("sqlite:", (dir / "bench.db").string()));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_IngestSqlite)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_IngestPostgres(benchmark::State& state) {
  const char* uri = std::getenv("TERN_BENCH_POSTGRES_URI");
  if (uri == nullptr || *uri == '\0') {
    state.SkipWithError("TERN_BENCH_POSTGRES_URI not set");
    return;
  }
  RunIngest(state, absl::StrCat(uri, "/postgres"));
}
BENCHMARK(BM_IngestPostgres)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
