// The relay's Kafka sink: one idempotent librdkafka producer per process,
// shared by every worker thread.
//
// Workers call Produce() from their libuv loops. It copies the message into
// librdkafka's local queue and returns at once; it never waits for the
// broker or for queue space (no RD_KAFKA_MSG_F_BLOCK). Backpressure is by
// watermarks on the number of in-flight messages (produced and not yet
// acknowledged or failed): past the high watermark Accepting() turns false
// and stays false until the count drops below the low watermark, so the
// relay answers 503 (HTTP) or counts drops (UDP) instead of queueing without
// bound. Workers read Accepting() lock-free before doing any work.
//
// Locks: none of ours on the request path. librdkafka's produce call takes
// its own internal locks (a read lock on its topic table and the partition
// queue's mutex); that is the one lock a request still takes, and it is held
// only for the enqueue.
//
// One background thread ("delivery thread", named tern-kafka-dr) serves
// librdkafka's delivery reports and error events (rd_kafka_poll), keeps the
// counters, calls the optional per-message DeliveryCallback, logs delivery
// failures as one summary line per interval (never one line per message) and
// checks the cluster's metadata until Ready().
//
// librdkafka's headers are included only in relay/kafka/*.cc; this header
// holds no librdkafka type.
#ifndef TERN_RELAY_KAFKA_PRODUCER_H_
#define TERN_RELAY_KAFKA_PRODUCER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::relay::kafka {

// Opaque per-message value handed back with the message's delivery report
// (e.g. an index into the relay's outcome bookkeeping).
using DeliveryTag = uint64_t;

// Called once per message that Produce() accepted: with OK when the broker
// acknowledged it (acks=all), or with an error (Unavailable, message naming
// librdkafka's error) when delivery failed for good (message.timeout.ms
// elapsed, the broker refused it, or the producer was destroyed with the
// message still queued). Runs on the delivery thread, or on the thread that
// runs the Producer's destructor for messages purged there; never on two
// threads at once. It must be quick and must not call Flush() or destroy the
// Producer.
using DeliveryCallback =
    std::function<void(DeliveryTag tag, const absl::Status& status)>;

enum class LogSeverity { kInfo, kWarning, kError };

// Where the producer's log lines go (the relay routes them to its logger).
// Called from the delivery thread and from librdkafka's internal threads, so
// it must be thread-safe. Default: one line on stderr.
using LogFunction =
    std::function<void(LogSeverity severity, std::string_view line)>;

struct ProducerConfig {
  // "host:port[,host:port...]".
  std::string bootstrap_servers;
  std::string client_id = "tern-relay";
  // librdkafka compression.codec: none, gzip, snappy, lz4, zstd.
  std::string compression = "zstd";
  // How long librdkafka waits to fill a batch; the throughput/latency knob.
  int linger_ms = 5;
  // Largest batch (bytes) per partition request (librdkafka batch.size).
  int batch_size_bytes = 1000000;

  // Backpressure watermarks, in messages in flight (accepted by Produce and
  // not yet acknowledged or failed). Messages rather than bytes because the
  // relay's unit of work is an item and the counter costs one atomic add;
  // bytes are bounded separately by librdkafka's queue.buffering.max.kbytes
  // (1 GiB by default, settable in `properties`), past which Produce()
  // returns Unavailable. Requires 0 <= low < high.
  int64_t queue_high_watermark = 50000;
  int64_t queue_low_watermark = 25000;
  // librdkafka's hard local queue limit (queue.buffering.max.messages). The
  // room between the high watermark and this limit absorbs requests that
  // workers had already started when Accepting() turned false. 0 means twice
  // the high watermark. Must be above the high watermark.
  int64_t queue_max_messages = 0;

  // Extra librdkafka properties, applied last (after the fields above), so
  // they can override any of them except idempotence: enable.idempotence
  // must stay true and acks must stay all/-1.
  std::map<std::string, std::string> properties;

  // Optional; see DeliveryCallback.
  DeliveryCallback on_delivery;
  // Optional; see LogFunction.
  LogFunction log;
  // Optional: runs first on every thread the producer starts (librdkafka's
  // own, through an on_thread_start interceptor, and the delivery thread),
  // on that thread. The relay lowers their priority here (background_nice).
  // Must be thread-safe and quick; it cannot fail the producer.
  std::function<void()> on_thread_start;

  // How often delivery failures and client errors are summarised in the log.
  absl::Duration failure_log_interval = absl::Seconds(10);
  // How long the destructor waits for in-flight messages before purging them
  // (each purged message gets a failure callback).
  absl::Duration close_timeout = absl::Seconds(2);
};

// A snapshot of the producer's counters (for /metrics).
struct ProducerStats {
  uint64_t produced = 0;    // accepted by Produce()
  uint64_t delivered = 0;   // acknowledged by the cluster
  uint64_t failed = 0;      // failed for good (see DeliveryCallback)
  uint64_t queue_full = 0;  // Produce() returned Unavailable: local queue full
  uint64_t produce_errors = 0;  // Produce() failed for another reason
  uint64_t client_errors = 0;   // librdkafka error events (e.g. broker down)
  int64_t in_flight = 0;        // produced - delivered - failed
  bool accepting = true;
  bool fatal = false;
  // Permanent delivery failures by librdkafka error name (e.g.
  // "_MSG_TIMED_OUT"), only the nonzero ones, sorted by name.
  std::vector<std::pair<std::string, uint64_t>> failed_by_error;
};

class Producer {
 public:
  // Validates `config`, creates the librdkafka producer (idempotent, so
  // acks=all) and starts the delivery thread. Does not wait for the cluster:
  // Ready() tells when its metadata arrived. Errors: InvalidArgument naming
  // the property and librdkafka's reason for an unknown or bad property, a
  // disallowed override, or inconsistent watermarks. Thread-compatible.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(
      ProducerConfig config);

  // Flushes for up to config.close_timeout, then purges what is left (each
  // purged message gets a failure callback), stops the delivery thread and
  // destroys the librdkafka handle. Returns in bounded time even if the
  // cluster is unreachable. No other method may run concurrently or after.
  ~Producer();

  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one message (key and value are copied) for `topic` and returns
  // at once. Thread-safe; called from any worker loop; never blocks on the
  // network or on queue space. On OK the message counts as in flight and
  // `tag` comes back through the DeliveryCallback exactly once. Errors:
  //  * Unavailable: the local queue is full (messages or bytes; counted in
  //    queue_full), or the producer hit a fatal error (see Fatal()). The
  //    relay answers 503 with Retry-After.
  //  * OutOfRange: the message is larger than message.max.bytes (413).
  //  * InvalidArgument: the topic name is empty or longer than 249 bytes.
  //  * Internal: anything else (e.g. an unknown topic).
  // Produce() does not check Accepting(): the watermark is advice for
  // workers, the hard limit is the local queue.
  absl::Status Produce(std::string_view topic, std::string_view key,
                       std::string_view value, DeliveryTag tag);

  // One message of ProduceBatch(); the views need to live only for the call.
  struct BatchMessage {
    std::string_view topic;
    std::string_view key;
    std::string_view value;
    DeliveryTag tag = 0;
  };

  // Produce() for many messages at once (a spool commit: one loop turn's
  // records), with the same per-message contract: `results[i]` is what
  // Produce() would have returned for `messages[i]`, and each OK message's
  // tag comes back exactly once. Messages are grouped by topic and each
  // group is one rd_kafka_produce_batch() call, which looks the topic up,
  // takes the clock and checks for a fatal error once per group instead of
  // once per message; within a topic the order is kept (so are per-key
  // partition orders), across topics it is not. Once the local queue is full
  // the rest of that group fails with Unavailable too. `results` must have
  // messages.size() elements. Thread-safe; never blocks.
  void ProduceBatch(std::span<const BatchMessage> messages,
                    std::span<absl::Status> results);

  // False from the moment in-flight messages exceed the high watermark until
  // they drop below the low watermark. Lock-free (one atomic load);
  // thread-safe.
  bool Accepting() const;

  // True once the cluster's metadata (broker list) has been received, until
  // a fatal error. A broker outage does not clear it: that shows up as
  // Accepting() turning false, not as the relay leaving the load balancer.
  // Thread-safe, lock-free.
  bool Ready() const;

  // True after librdkafka raised a fatal error (e.g. the idempotent
  // producer's sequence broke). Every later Produce() fails; the process must
  // replace the Producer (or exit and be restarted). Logged at once.
  // Thread-safe, lock-free.
  bool Fatal() const;

  // Test-only: raises a librdkafka fatal error as the cluster could.
  void InjectFatalErrorForTesting();

  // Waits until every in-flight message is acknowledged or failed and its
  // DeliveryCallback has returned, up to `timeout`. Returns DeadlineExceeded
  // saying how many are left. Waiting includes up to linger_ms for the last
  // batch. Thread-safe, but it blocks: never call it from a worker loop or from
  // a DeliveryCallback.
  absl::Status Flush(absl::Duration timeout);

  // Number of messages in flight now. Thread-safe, lock-free.
  int64_t InFlight() const;

  // Counter snapshot. Thread-safe, lock-free (the counters are read one by
  // one, so the snapshot is not atomic as a whole).
  ProducerStats Stats() const;

  // The value librdkafka actually uses for `name` (after defaults, our
  // settings and the overrides), e.g. for check-config or tests. NotFound
  // for an unknown property. Thread-safe.
  absl::StatusOr<std::string> EffectiveProperty(std::string_view name) const;

 private:
  struct Impl;
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::relay::kafka

#endif  // TERN_RELAY_KAFKA_PRODUCER_H_
