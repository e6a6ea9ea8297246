// Turns one poll's worth of Kafka messages into one store batch.
//
// This is the consumer's pure part (no sockets, no database), so every rule
// about what a message becomes can be tested without Kafka:
//  - ingest-events / ingest-transactions / ingest-attachments `event`
//    messages: the payload is analysed once (backend/grouping: hashes, issue
//    fields, tags) into a storage::EventRecord, with the attachments whose
//    chunks arrived before it;
//  - `attachment_chunk` messages are kept until their event arrives (the
//    relay writes them first, on the same partition, since both are keyed by
//    the event id); while a chunk waits, its partition's stored offset stays
//    before it, so a restart reads it again instead of losing it;
//  - ingest-sessions messages (Relay's SessionKafkaMessage JSON) become
//    hourly counts per (project, release, environment);
//  - everything that cannot be decoded or stored becomes a DeadLetter with
//    a reason, never an error of the batch: bad msgpack, an event payload that
//    is not a JSON object, an unknown project, a bad session, and message
//    types the backend does not store (standalone attachments, user reports,
//    forwarded items).
// Offsets: the batch carries, per partition seen, the offset after its last
// message (or before its oldest waiting chunk).
#ifndef TERN_BACKEND_CONSUMER_BATCH_BUILDER_H_
#define TERN_BACKEND_CONSUMER_BATCH_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "backend/grouping/grouping.h"
#include "backend/kafka/client.h"
#include "backend/storage/store.h"
#include "protocol/kafka_codec.h"

namespace tern::backend::consumer {

// Why a message went to the dead-letter topic; each has a counter.
#define TERN_DEAD_LETTER_REASONS(X)                                \
  X(bad_message, "not a valid ingest message (msgpack or fields)") \
  X(bad_payload, "event payload is not a JSON object")             \
  X(unknown_project, "project id not in the store")                \
  X(bad_session, "session message is not valid session JSON")      \
  X(unsupported, "message type the backend does not store")        \
  X(store_rejected, "the store refused the event (not a transient error)")

enum class DeadLetterReason : uint8_t {
#define TERN_X(name, help) k_##name,
  TERN_DEAD_LETTER_REASONS(TERN_X)
#undef TERN_X
      kCount
};
// "bad_message", ... (the counter label and the tern-reason header).
std::string_view DeadLetterReasonName(DeadLetterReason reason);

struct DeadLetter {
  size_t index = 0;  // into the messages given to Build
  DeadLetterReason reason = DeadLetterReason::k_bad_message;
  std::string detail;
};

struct TopicNames {
  std::string events;
  std::string attachments;
  std::string transactions;
  std::string sessions;
};

// Counts of things that are not dead letters but worth seeing in /metrics.
struct BuildCounts {
  int64_t attachments_incomplete = 0;  // event arrived without all chunks
  int64_t chunks_evicted = 0;          // waiting chunks dropped (memory cap)
};

class BatchBuilder {
 public:
  // Waiting chunks above this many bytes evict the oldest attachment.
  static constexpr size_t kMaxPendingChunkBytes = 256u << 20;

  explicit BatchBuilder(TopicNames topics);
  ~BatchBuilder();
  BatchBuilder(const BatchBuilder&) = delete;
  BatchBuilder& operator=(const BatchBuilder&) = delete;

  // Builds `*batch` (cleared first) from `messages`; `*dead` gets the
  // messages that must go to the dead-letter topic instead. A project is
  // known when `project_exists(id)` says so. The batch's payloads are copies:
  // `messages` may be freed after Build returns.
  void Build(std::span<const kafka::Message> messages,
             const std::function<bool(int64_t)>& project_exists,
             storage::Batch* batch, std::vector<DeadLetter>* dead);

  // The grouping rules of a project, asked for each event of the batches
  // built afterwards (unset: none). The config's pointers must stay valid
  // until Build returns.
  void set_project_grouping(
      std::function<grouping::ProjectGrouping(int64_t)> lookup) {
    project_grouping_ = std::move(lookup);
  }

  // A step run on every event payload before it is analysed (the
  // symbolication of backend/symbolicate, so that grouping sees the original
  // frames): given the project and the payload, it returns the payload to
  // store and group instead, or nullopt to keep it. It must not fail; it is
  // called on the builder's thread. Unset: payloads are kept as they come.
  using Preprocessor = std::function<std::optional<std::string>(
      int64_t project_id, std::string_view payload)>;
  void SetPreprocessor(Preprocessor preprocess) {
    preprocess_ = std::move(preprocess);
  }

  const BuildCounts& counts() const { return counts_; }
  // For each event of the last batch built, the index of its message.
  std::span<const size_t> event_sources() const { return event_sources_; }
  // Bytes of chunks waiting for their event.
  size_t pending_chunk_bytes() const { return pending_bytes_; }

 private:
  struct PendingAttachment {
    std::string topic;
    int32_t partition = 0;
    int64_t first_offset = 0;
    uint64_t sequence = 0;  // arrival order, for eviction
    std::map<uint64_t, std::string> chunks;
  };
  // (project, event id hex, attachment id)
  using PendingKey = std::tuple<int64_t, std::string, std::string>;

  // Appends the event's record; InvalidArgument (and nothing appended) when
  // the payload is not a JSON object.
  absl::Status AddEvent(const protocol::EventMessage& event,
                        bool transaction_topic, storage::Batch* batch);
  void AddChunk(const kafka::Message& message,
                const protocol::AttachmentChunkMessage& chunk);
  // Adds the message's counts to its row; NotFound for an unknown project,
  // InvalidArgument for a bad message (nothing is counted either way).
  absl::Status AddSession(const kafka::Message& message,
                          const std::function<bool(int64_t)>& project_exists,
                          storage::Batch* batch);
  // Forgets a waiting attachment and its bytes.
  void ErasePending(std::map<PendingKey, PendingAttachment>::iterator it);
  void EvictIfNeeded();

  TopicNames topics_;
  std::function<grouping::ProjectGrouping(int64_t)> project_grouping_;
  protocol::KafkaMessageDecoder decoder_;
  protocol::KafkaMessage decoded_;
  std::map<PendingKey, PendingAttachment> pending_;
  size_t pending_bytes_ = 0;
  uint64_t sequence_ = 0;
  BuildCounts counts_;
  std::vector<size_t> event_sources_;
  Preprocessor preprocess_;
};

}  // namespace tern::backend::consumer

#endif  // TERN_BACKEND_CONSUMER_BATCH_BUILDER_H_
