// The relay's disk spool (docs/spool.md): every Kafka message the relay is
// about to acknowledge is written to a local, checksummed segment log before
// the answer goes out, and a segment is deleted only once the cluster has
// acknowledged every record in it. So an event answered 200 survives a
// broker outage (up to spool.max_bytes) and a kill -9 of the relay.
//
// Threads and locks:
//  * one Writer per worker (a pipeline::MessageSink), touched only by its
//    worker's thread. It batches one loop turn's records in memory and
//    Commit() writes them with one write() to the worker's own open segment
//    (group commit), then hands them to the producer. No lock: the only
//    shared state is atomics (byte counts, per-record delivery states).
//  * the producer's delivery thread calls OnDelivery() per message: one
//    atomic store and one atomic decrement.
//  * one spool thread (Start, named tern-spool) owns the list of segments:
//    it adopts new ones from a lock-free stack, fdatasyncs them every
//    spool.fsync_interval, watches free disk space, deletes fully
//    acknowledged segments and replays records that are on disk but not in
//    Kafka (after an outage or a restart), oldest segment first, while the
//    producer has room.
//
// Record states (one byte each, per segment): unproduced (on disk only),
// pending (handed to the producer), acked, failed (the producer gave up on
// it; replayed), dropped (refused for good by the cluster; counted).
#ifndef TERN_RELAY_SPOOL_SPOOL_H_
#define TERN_RELAY_SPOOL_SPOOL_H_

#include <sys/types.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "relay/kafka/producer.h"
#include "relay/pipeline/sink.h"
#include "relay/spool/record.h"

namespace tern::relay::spool {

enum class FsyncMode : uint8_t {
  kNever,     // survives a process crash (the page cache keeps the data)
  kInterval,  // survives power loss, minus the last fsync_interval
  kAlways,    // survives power loss: answers wait for fdatasync
};

struct SpoolOptions {
  // Must exist and be writable by the relay.
  std::string dir;
  // Bytes of segment files at most; past it new requests get 503.
  uint64_t max_bytes = 4ull << 30;
  // Free bytes the spool leaves on its file system; below it, 503.
  uint64_t min_free_bytes = 256ull << 20;
  // A segment is sealed (and a new one opened) past this size...
  uint64_t segment_bytes = 64ull << 20;
  // ... or when its first record is this old, which bounds what a restart
  // replays twice (records acknowledged but still in an undeleted segment).
  absl::Duration max_segment_age = absl::Seconds(5);
  FsyncMode fsync = FsyncMode::kInterval;
  absl::Duration fsync_interval = absl::Milliseconds(100);
  // The replayer hands records to the producer only while fewer than this
  // many messages are in flight, so fresh traffic keeps the room between it
  // and the producer's high watermark.
  int64_t replay_window = 10000;
  // Optional: runs first on the spool thread (the relay lowers its priority
  // there, background_nice).
  std::function<void()> on_thread_start;
  // Test hook: replaces ::write() for segment appends (e.g. to fail with
  // ENOSPC). Null: ::write.
  std::function<ssize_t(int fd, const void* data, size_t size)> write_fn;
};

// Records per segment at most: the record index fits the delivery tag's low
// 16 bits, and the state array stays at 64 KiB per segment.
inline constexpr uint32_t kMaxRecordsPerSegment = 1u << 16;

// Why a spooled message was dropped, or a request refused by the spool.
enum class SpoolDrop : uint8_t {
  kFull,       // 503: spool.max_bytes or min_free_bytes would be crossed
  kDiskError,  // 503: write or fdatasync failed (EIO, ENOSPC, ...)
  kTooLarge,   // 413-equivalent: a message the format cannot hold
  kRefused,    // on disk, then refused for good by the cluster
  kCorrupt,    // found damaged at start (checksum); bytes in corrupt_bytes
};
inline constexpr int kSpoolDropCount = 5;
std::string_view SpoolDropName(SpoolDrop d);

// fdatasync latency buckets (upper bounds, milliseconds) for /metrics.
inline constexpr std::array<double, 11> kFsyncBucketsMs = {
    0.1, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000};

struct SpoolStats {
  uint64_t bytes = 0;         // segment bytes on disk
  uint64_t records = 0;       // records in segments on disk
  uint64_t segments = 0;      // segment files on disk
  uint64_t appended = 0;      // records written since start
  uint64_t replayed = 0;      // records handed to the producer by the replayer
  uint64_t spooled_only = 0;  // records written while Kafka could not take them
  uint64_t recovered = 0;     // good records found at start
  uint64_t corrupt_regions = 0;
  uint64_t corrupt_bytes = 0;
  std::array<uint64_t, kSpoolDropCount> dropped{};
  double oldest_age_seconds = 0;  // of the oldest record on disk
  bool accepting = true;
  bool backlog_replayed = true;
  // Cumulative counts per kFsyncBucketsMs bucket, plus +Inf last.
  std::array<uint64_t, kFsyncBucketsMs.size() + 1> fsync_buckets{};
  uint64_t fsync_count = 0;
  double fsync_seconds_sum = 0;
};

class Writer;
struct Segment;

class Spool {
 public:
  // Checks the directory (exists, writable, enough free space, not used by
  // another relay: an exclusive lock on dir/LOCK), then recovers what a
  // previous run left: each *.seg file is scanned, a torn tail truncated at
  // the last good record, damage counted and logged with the file's name,
  // and the good records queued for replay. Errors name the path:
  // FailedPrecondition for a missing, unwritable, locked or full directory.
  static absl::StatusOr<std::unique_ptr<Spool>> Open(SpoolOptions options);

  // Stops the spool thread and closes the files; what is on disk stays for
  // the next start. Destroy after the producer (whose destructor reports
  // every message still queued) and after the writers.
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Starts the spool thread, which produces to `producer` (must outlive
  // Stop()). Call once, before any writer commits.
  void Start(kafka::Producer* producer);
  // Joins the spool thread (idempotent).
  void Stop();

  // One per worker; the writer must not outlive the spool.
  std::unique_ptr<Writer> NewWriter();

  // The producer's DeliveryCallback for every message of this spool.
  void OnDelivery(kafka::DeliveryTag tag, const absl::Status& status);

  // False when a new request must be refused (503): the spool is full, free
  // disk is below the reserve, or a write failed within the last second.
  // Lock-free.
  bool Accepting() const;

  // True once every record recovered at start has been acknowledged.
  bool BacklogReplayed() const;

  // Waits until every record on disk is acknowledged and its segment
  // deleted, up to `timeout` (DeadlineExceeded with the count left). A
  // writer's open segment is deleted only once sealed: Seal() them first.
  absl::Status WaitDrained(absl::Duration timeout);

  SpoolStats Stats() const;
  const SpoolOptions& options() const { return options_; }

 private:
  friend class Writer;
  explicit Spool(SpoolOptions options);

  absl::Status Recover();
  void Run();
  void AdoptNew();
  void SyncDirty(bool final_only);
  void CheckDisk();
  void Collect();
  void Replay();
  void Push(Segment* seg);
  void NoteDiskError(std::string_view what, int err);
  // One fdatasync's latency into the histogram (any thread).
  void NoteFsync(absl::Duration took);
  bool ProduceRecord(Segment* seg, uint32_t index, const Record& r);
  // The record's state after its produce returned `s` (its state was set to
  // pending before): false when it stays on disk for the replayer (the
  // queue is full), true when produced or dropped for good.
  bool NoteProduced(Segment* seg, uint32_t index, const absl::Status& s);

  const SpoolOptions options_;
  int lock_fd_ = -1;
  std::atomic<kafka::Producer*> producer_{nullptr};
  std::atomic<uint64_t> next_seq_{1};

  // Shared counters (any thread).
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> segments_{0};
  std::atomic<uint64_t> appended_{0};
  std::atomic<uint64_t> replayed_{0};
  std::atomic<uint64_t> spooled_only_{0};
  std::atomic<uint64_t> recovered_{0};
  std::atomic<uint64_t> corrupt_regions_{0};
  std::atomic<uint64_t> corrupt_bytes_{0};
  std::array<std::atomic<uint64_t>, kSpoolDropCount> dropped_{};
  std::atomic<int64_t> oldest_ms_{0};  // 0: no record on disk
  std::atomic<bool> disk_ok_{true};
  // Set when a turn did not fit under max_bytes, with the bytes on disk at
  // that moment; cleared once segments were deleted since.
  std::atomic<bool> full_{false};
  std::atomic<uint64_t> full_at_bytes_{0};
  std::atomic<int64_t> disk_error_ms_{0};  // last write/sync error
  std::atomic<bool> disk_error_recent_{false};
  std::atomic<int64_t> recovered_left_{0};  // recovered segments not deleted
  std::array<std::atomic<uint64_t>, kFsyncBucketsMs.size() + 1> fsync_hist_{};
  std::atomic<uint64_t> fsync_count_{0};
  std::atomic<uint64_t> fsync_ns_sum_{0};

  // Segments opened by writers, not yet adopted by the spool thread.
  std::atomic<Segment*> new_head_{nullptr};

  // Spool thread only: every segment, oldest (lowest seq) first.
  std::vector<Segment*> segments_list_;
  absl::Time last_sync_ = absl::InfinitePast();
  absl::Time last_disk_check_ = absl::InfinitePast();
  // The segment being replayed and its file's bytes.
  Segment* replay_seg_ = nullptr;
  std::string replay_buf_;
  struct ReplayItem {
    uint32_t index;
    std::string_view topic, key, value;  // into replay_buf_
  };
  std::vector<ReplayItem> replay_index_;
  size_t replay_pos_ = 0;

  std::thread thread_;
  std::mutex mu_;  // for cv_ only: the spool thread's sleep
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<bool> started_{false};
};

// A worker's spool writer. Worker thread only (or after the worker stopped).
class Writer final : public pipeline::MessageSink {
 public:
  ~Writer() override;

  bool Accepting() const override { return spool_->Accepting(); }
  // Encodes the message into this turn's batch. Never touches the disk.
  absl::Status Send(std::string_view topic, std::string_view key,
                    std::string_view value,
                    const pipeline::MessageMeta& meta) override;
  bool HasUncommitted() const override { return !batch_records_.empty(); }
  // One write() of the batch to the open segment (one fdatasync too under
  // fsync: always), then each record goes to the producer, or stays on disk
  // only when the producer is not accepting. Unavailable (and nothing of the
  // batch kept) when the spool is full or the disk fails.
  absl::Status Commit() override;

  // Call every ~250 ms on the worker: seals a segment that is old enough,
  // or that holds records the producer could not take once it can again
  // (so the replayer picks them up).
  void Tick();
  // Seals the open segment (shutdown, after the worker stopped).
  void Seal();

 private:
  friend class Spool;
  explicit Writer(Spool* spool) : spool_(spool) {}
  absl::Status OpenSegment();
  absl::Status WriteAll(int fd, std::string_view data);
  void Fail();

  // A record of this turn's batch: where its parts are in batch_.
  struct Pending {
    size_t topic_at, topic_len, key_at, key_len, value_at, value_len;
  };

  Spool* spool_;
  Segment* seg_ = nullptr;
  bool seg_has_unproduced_ = false;
  std::string batch_;
  std::vector<Pending> batch_records_;
  int64_t batch_first_ms_ = 0;
  // Commit()'s produce batch and its results, kept warm between turns.
  std::vector<kafka::Producer::BatchMessage> out_;
  std::vector<absl::Status> results_;
};

}  // namespace tern::relay::spool

#endif  // TERN_RELAY_SPOOL_SPOOL_H_
