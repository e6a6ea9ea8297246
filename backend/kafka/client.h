// The backend's Kafka clients (the only place the backend includes
// librdkafka): a group consumer that hands out batches of messages and
// commits offsets only when told, and a small producer for the dead-letter
// topic.
//
// The consumer never commits on its own (enable.auto.commit and
// enable.auto.offset.store are off): the caller commits after the batch is
// durably stored, which is what makes delivery at-least-once. When
// partitions are assigned, it asks `start_offset` where to begin each one:
// the store keeps the offsets it committed with each batch, so a backend
// that died between the store's commit and Kafka's resumes exactly after
// the stored batch instead of replaying it. With no stored offset the group's
// committed offset is used, else the earliest; a stored offset past the
// partition's end (the topic was re-created) starts it from the beginning.
#ifndef TERN_BACKEND_KAFKA_CLIENT_H_
#define TERN_BACKEND_KAFKA_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::backend::kafka {

// One consumed message; the views live until the batch is cleared.
struct Message {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view key;
  std::string_view value;
};

struct TopicPartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;  // the offset of the next message to read
};

// Owns the librdkafka messages behind a batch.
class MessageBatch {
 public:
  MessageBatch() = default;
  ~MessageBatch() { Clear(); }
  MessageBatch(const MessageBatch&) = delete;
  MessageBatch& operator=(const MessageBatch&) = delete;

  std::span<const Message> messages() const { return messages_; }
  bool empty() const { return messages_.empty(); }
  // Frees the messages; views from messages() dangle after.
  void Clear();

 private:
  friend class Consumer;
  std::vector<Message> messages_;
  std::vector<void*> handles_;  // rd_kafka_message_t*
};

struct ConsumerOptions {
  std::string bootstrap_servers;
  std::string group_id;
  std::vector<std::string> topics;
  // Extra librdkafka properties (config kafka.consumer.extra).
  std::map<std::string, std::string> extra;
  // Where to start a newly assigned partition; nullopt: the group's
  // committed offset, else the earliest. Called on the polling thread.
  std::function<std::optional<int64_t>(std::string_view topic,
                                       int32_t partition)>
      start_offset;
};

class Consumer {
 public:
  // Creates the consumer and subscribes to options.topics (topics that do
  // not exist yet are waited for). InvalidArgument for a bad property.
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(
      const ConsumerOptions& options);
  ~Consumer();  // leaves the group (Close) if not done yet
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Fills `*batch` (cleared first) with up to `max_messages`, waiting at
  // most `max_wait` in total; may return an empty batch. Serves rebalances.
  // Broker errors are logged (rate-limited) and retried by librdkafka; they
  // are not returned. Called from one thread only.
  void Poll(size_t max_messages, absl::Duration max_wait, MessageBatch* batch);

  // Serves rebalances and errors without taking messages (while paused).
  void Idle(absl::Duration wait);

  // Commits `offsets` synchronously. Offsets of partitions no longer
  // assigned are skipped (another consumer owns them now). Unavailable when
  // the broker did not accept the commit.
  absl::Status Commit(std::span<const TopicPartitionOffset> offsets);

  // Stops fetching from every assigned partition (store down), and resumes.
  // Messages already fetched are discarded by pause and fetched again.
  void PauseAll();
  void ResumeAll();

  // Leaves the group and closes the connection. Idempotent.
  void Close();

 private:
  struct Impl;
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A synchronous producer for dead letters: Send queues, Flush waits until
// everything queued is acknowledged by the broker.
class DeadLetterProducer {
 public:
  static absl::StatusOr<std::unique_ptr<DeadLetterProducer>> Create(
      const std::string& bootstrap_servers,
      const std::map<std::string, std::string>& extra);
  ~DeadLetterProducer();
  DeadLetterProducer(const DeadLetterProducer&) = delete;
  DeadLetterProducer& operator=(const DeadLetterProducer&) = delete;

  // Queues `value` on `topic` with headers tern-reason, tern-detail,
  // tern-topic, tern-partition and tern-offset naming where it came from.
  absl::Status Send(std::string_view topic, const Message& origin,
                    std::string_view reason, std::string_view detail);
  // Waits until every queued message is acknowledged; Unavailable when one
  // failed or `timeout` passed (the caller does not commit then).
  absl::Status Flush(absl::Duration timeout);

 private:
  struct Impl;
  explicit DeadLetterProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::backend::kafka

#endif  // TERN_BACKEND_KAFKA_CLIENT_H_
