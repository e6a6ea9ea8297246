// Where the pipeline's Kafka messages go: straight to the shared producer, or
// through the worker's disk spool first (relay/spool), which writes them
// ahead of the answer and produces them after. The pipeline knows only this
// interface, so the spool can be switched off (spool.enabled: false) without
// the pipeline noticing.
#ifndef TERN_RELAY_PIPELINE_SINK_H_
#define TERN_RELAY_PIPELINE_SINK_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "relay/kafka/producer.h"

namespace tern::relay::pipeline {

// What an outcome for a message needs, kept with it when it is spooled.
struct MessageMeta {
  uint64_t project_id = 0;
  uint64_t key_id = 0;
  uint8_t category = 0;  // protocol::DataCategory
  uint32_t quantity = 1;
  absl::Time received = absl::UnixEpoch();
};

class MessageSink {
 public:
  virtual ~MessageSink() = default;

  // Whether a new request should be taken at all (checked before parsing).
  // Lock-free; called on the worker's thread.
  virtual bool Accepting() const = 0;

  // Takes one message (copied before returning). OK means the relay owns it:
  // it will reach Kafka, or (for a spooling sink) it will once this loop
  // turn's records are committed. Errors as kafka::Producer::Produce:
  // Unavailable (answer 503 with Retry-After), OutOfRange (413),
  // InvalidArgument/Internal.
  virtual absl::Status Send(std::string_view topic, std::string_view key,
                            std::string_view value,
                            const MessageMeta& meta) = 0;

  // Group commit (a spooling sink): true while messages taken in this loop
  // turn are not yet durable. The answers of their requests must wait for
  // Commit(), which the HTTP handler calls once at the end of the turn.
  virtual bool HasUncommitted() const { return false; }

  // Makes this turn's messages durable (one write; an fdatasync too under
  // spool.fsync: always) and hands them on to Kafka. OK: every one of them
  // is safe, answer 200. Error (Unavailable, with the disk's reason): none of
  // them was kept, answer 503 with Retry-After.
  virtual absl::Status Commit() { return absl::OkStatus(); }
};

// The sink without a spool: every message goes to the producer at once.
class ProducerSink final : public MessageSink {
 public:
  // `producer` must outlive the sink.
  explicit ProducerSink(kafka::Producer* producer) : producer_(producer) {}
  bool Accepting() const override { return producer_->Accepting(); }
  absl::Status Send(std::string_view topic, std::string_view key,
                    std::string_view value, const MessageMeta&) override {
    return producer_->Produce(topic, key, value, /*tag=*/0);
  }

 private:
  kafka::Producer* producer_;
};

}  // namespace tern::relay::pipeline

#endif  // TERN_RELAY_PIPELINE_SINK_H_
