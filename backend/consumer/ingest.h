// The backend's ingest loop: Kafka → BatchBuilder → Store, at least once.
//
// One thread polls a batch (up to kafka.consumer.batch_max_messages, or
// whatever arrived within batch_max_wait), builds the store batch, sends
// the batch's dead letters and waits for the broker to take them, writes the
// batch and its offsets in one store transaction, and only then commits the
// offsets to Kafka. A crash anywhere in between replays the batch, which
// changes nothing: events are unique per (project, event_id), and the
// partitions restart from the offsets stored with the last batch.
//
// When the store fails (down, locked, full), the loop pauses every
// partition, keeps the group membership alive, and retries the same batch
// with exponential backoff; it never skips a batch. Dead letters are logged
// once per reason per minute and counted by reason.
#ifndef TERN_BACKEND_CONSUMER_INGEST_H_
#define TERN_BACKEND_CONSUMER_INGEST_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "backend/consumer/batch_builder.h"
#include "backend/storage/store.h"
#include "backend/symbolicate/symbolicator.h"
#include "config/backend_config.h"

namespace tern::backend::consumer {

// Counters for /metrics; written by the ingest thread, read by anyone.
struct IngestStats {
  std::atomic<int64_t> messages{0};
  std::atomic<int64_t> batches{0};
  std::atomic<int64_t> events_stored{0};
  std::atomic<int64_t> duplicates{0};
  std::atomic<int64_t> issues_created{0};
  std::atomic<int64_t> regressions{0};
  std::atomic<int64_t> store_retries{0};
  std::atomic<int64_t> commit_errors{0};
  std::atomic<int64_t> attachments_incomplete{0};
  std::array<std::atomic<int64_t>,
             static_cast<size_t>(DeadLetterReason::kCount)>
      dead_letters{};
};

class Ingest {
 public:
  // Connects to Kafka (the group join happens on the ingest thread) and
  // starts the thread. `store` must outlive the Ingest. InvalidArgument for
  // a bad Kafka property.
  static absl::StatusOr<std::unique_ptr<Ingest>> Start(
      const config::BackendConfig& config, storage::Store* store);
  // Stop()s.
  ~Ingest();
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  // Finishes the batch in hand (a store retry loop gives up at once; the
  // batch is then replayed by the next start), leaves the group, joins the
  // thread. Idempotent.
  void Stop();

  const IngestStats& stats() const;
  // The symbolication stage's counters; null when sourcemaps are disabled.
  const symbolicate::SymbolicatorStats* symbolicator_stats() const;

 private:
  struct Impl;
  explicit Ingest(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::backend::consumer

#endif  // TERN_BACKEND_CONSUMER_INGEST_H_
