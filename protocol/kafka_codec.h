// Kafka message values, in the formats Sentry's ingest consumers read.
//
// The relay produces, and the backend consumes, the same messages Relay
// writes, so a real Sentry ingest consumer can read Tern's topics and Tern's
// backend can read Relay's:
//  * ingest-events / ingest-attachments / ingest-transactions: msgpack maps
//    with string keys and a `type` tag, exactly as Relay writes them with
//    rmp_serde (named fields): `event`, `attachment_chunk` and standalone
//    `attachment` messages. Large attachments travel ahead of their event as
//    `attachment_chunk` messages; the event lists them as ChunkedAttachments.
//  * outcomes: JSON objects, one per outcome (accepted, rate limited, ...).
//
// Encoders append to a caller-owned std::string, so a producer can reuse one
// buffer. Decoders are meant for hostile input (whatever is on a topic): they
// never crash, bound their memory by the input size, check every type, and
// return BadRequest (400) with a message naming the offending key. Decoded
// byte strings are views into the message value, never copies. Both decoders
// hold reusable state: keep one per thread.
#ifndef TERN_PROTOCOL_KAFKA_CODEC_H_
#define TERN_PROTOCOL_KAFKA_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "protocol/data_category.h"
#include "protocol/event_id.h"

namespace tern::protocol {

// --- ingest messages (msgpack) ---

// Sentry's attachment chunk size: attachments are cut into pieces of at most
// this many bytes, one attachment_chunk message each.
inline constexpr size_t kAttachmentChunkSize = 1024 * 1024;

// An attachment whose bytes were sent as `chunks` attachment_chunk messages
// with the same event id and `id`. Optional fields are written as nil when
// absent; decoding also accepts them missing.
struct ChunkedAttachment {
  std::string_view id = {};
  std::string_view name = {};  // the file name
  std::optional<std::string_view> content_type = {};
  std::string_view attachment_type = {};  // e.g. "event.attachment"
  uint64_t chunks = 0;
  std::optional<uint64_t> size = {};  // total bytes
  std::optional<bool> rate_limited = {};

  friend bool operator==(const ChunkedAttachment&,
                         const ChunkedAttachment&) = default;
};

// {"type":"event","payload":<bin>,"start_time":<uint>,"event_id":<str>,
//  "project_id":<uint>,"remote_addr":<str|nil>,"attachments":[...]}
struct EventMessage {
  std::string_view payload = {};  // the event JSON
  uint64_t start_time = 0;        // unix seconds when the relay received it
  EventId event_id = {};          // written as 32 lowercase hex digits
  uint64_t project_id = 0;
  std::optional<std::string_view> remote_addr = {};
  std::vector<ChunkedAttachment> attachments = {};

  friend bool operator==(const EventMessage&, const EventMessage&) = default;
};

// {"type":"attachment_chunk","payload":<bin>,"event_id":<str>,
//  "project_id":<uint>,"id":<str>,"chunk_index":<uint>}
struct AttachmentChunkMessage {
  std::string_view payload = {};
  EventId event_id = {};
  uint64_t project_id = 0;
  std::string_view id = {};  // the attachment id, shared by all of its chunks
  uint64_t chunk_index = 0;

  friend bool operator==(const AttachmentChunkMessage&,
                         const AttachmentChunkMessage&) = default;
};

// {"type":"attachment","event_id":<str>,"project_id":<uint>,
//  "attachment":<ChunkedAttachment>}: an attachment sent without its event.
struct AttachmentMessage {
  EventId event_id = {};
  uint64_t project_id = 0;
  ChunkedAttachment attachment = {};

  friend bool operator==(const AttachmentMessage&,
                         const AttachmentMessage&) = default;
};

// {"type":"user_report","project_id":<uint>,"start_time":<uint>,
//  "payload":<bin>}: user feedback (the envelope's user_report item, JSON
// {event_id, name, email, comments}), keyed by its event id, on
// ingest-attachments, as Relay writes it.
struct UserReportMessage {
  uint64_t project_id = 0;
  uint64_t start_time = 0;
  std::string_view payload = {};

  friend bool operator==(const UserReportMessage&,
                         const UserReportMessage&) = default;
};

// {"type":"item","item_type":<str>,"payload":<bin>,"event_id":<str|nil>,
//  "project_id":<uint>,"start_time":<uint>}: an envelope item of a type the
// relay does not route, kept as it came (config `unknown_items: forward`).
// Tern's own format: Sentry has no such message; its consumers never read
// the topic it goes to.
struct ItemMessage {
  std::string_view item_type = {};
  std::string_view payload = {};
  std::optional<EventId> event_id = {};
  uint64_t project_id = 0;
  uint64_t start_time = 0;

  friend bool operator==(const ItemMessage&, const ItemMessage&) = default;
};

using KafkaMessage =
    std::variant<EventMessage, AttachmentChunkMessage, AttachmentMessage,
                 UserReportMessage, ItemMessage>;

// Append one msgpack-encoded message value to `*out` (existing content is
// kept). Fields are written in Relay's order; integers in their shortest
// msgpack form. Strings are written as given (the caller passes UTF-8).
void EncodeEventMessage(const EventMessage& message, std::string* out);
void EncodeAttachmentChunkMessage(const AttachmentChunkMessage& message,
                                  std::string* out);
void EncodeAttachmentMessage(const AttachmentMessage& message,
                             std::string* out);
void EncodeUserReportMessage(const UserReportMessage& message,
                             std::string* out);
void EncodeItemMessage(const ItemMessage& message, std::string* out);
void EncodeKafkaMessage(const KafkaMessage& message, std::string* out);

// Decodes ingest message values. Keep one per thread; not thread-safe.
class KafkaMessageDecoder {
 public:
  KafkaMessageDecoder();
  ~KafkaMessageDecoder();
  KafkaMessageDecoder(const KafkaMessageDecoder&) = delete;
  KafkaMessageDecoder& operator=(const KafkaMessageDecoder&) = delete;

  // Decodes one message value into `*out`. Payloads and strings are views
  // into `value`: they live as long as it does. When `*out` already holds an
  // EventMessage its attachments vector is reused. Unknown keys are ignored
  // (newer Relays add fields); known keys must appear once.
  // Errors, all BadRequest (400):
  //  - "malformed msgpack": truncated, invalid, trailing bytes, nesting
  //    deeper than 32, or containers that claim more elements than the
  //    value has bytes (checked before anything is allocated);
  //  - the value is not a map with string keys;
  //  - `type` missing, not a string, or not one of event/attachment_chunk/
  //    attachment/user_report/item;
  //  - a required key missing, any key of the wrong type, a string that is
  //    not UTF-8, an event_id that is not an event id.
  absl::Status Decode(std::string_view value, KafkaMessage* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// How many attachment_chunk messages a payload of `size` bytes takes: zero
// for an empty attachment (Sentry sends no chunk then), else
// ceil(size / chunk_size). A `chunk_size` of 0 means kAttachmentChunkSize.
uint64_t AttachmentChunkCount(size_t size,
                              size_t chunk_size = kAttachmentChunkSize);

// Chunk `index` of `payload` (a view into it): bytes
// [index * chunk_size, min(size, (index + 1) * chunk_size)). Empty when
// index >= AttachmentChunkCount(payload.size(), chunk_size).
std::string_view AttachmentChunk(std::string_view payload, uint64_t index,
                                 size_t chunk_size = kAttachmentChunkSize);

// --- outcomes (JSON) ---

// Sentry's outcome codes. Values outside the list (newer Sentry) decode as
// their number.
enum class Outcome : uint8_t {
  kAccepted = 0,
  kFiltered = 1,
  kRateLimited = 2,
  kInvalid = 3,
  kAbuse = 4,
  kClientDiscard = 5,
};

// An outcome's `category` is a DataCategory (protocol/data_category.h), as
// Sentry's integer; values Tern does not name decode as their number.
// {"timestamp":"2024-05-01T12:00:00.000000Z","project_id":1,"key_id":2,
//  "outcome":0,"reason":null,"event_id":"<32 hex>"|null,
//  "remote_addr":"..."|null,"category":1,"quantity":1}
struct OutcomeMessage {
  absl::Time timestamp = {};  // written in UTC with microseconds
  uint64_t project_id = 0;
  std::optional<uint64_t> key_id = {};
  Outcome outcome = Outcome::kAccepted;
  std::optional<std::string_view> reason = {};
  std::optional<EventId> event_id = {};
  std::optional<std::string_view> remote_addr = {};
  DataCategory category = DataCategory::kDefault;
  uint32_t quantity = 1;

  friend bool operator==(const OutcomeMessage&,
                         const OutcomeMessage&) = default;
};

// "2024-05-01T12:00:00.000000Z": UTC, six fractional digits (truncated), Z.
// `t` must be finite and within years 0000..9999, the range the decoder
// reads back; outside it the year digits saturate at 0000 or 9999.
std::string FormatOutcomeTimestamp(absl::Time t);

// Appends the outcome as one compact JSON object to `*out`. Every key is
// written; absent optionals are null.
void EncodeOutcome(const OutcomeMessage& message, std::string* out);

// Decodes outcome JSON. Keep one per thread; not thread-safe.
class OutcomeDecoder {
 public:
  OutcomeDecoder();
  ~OutcomeDecoder();
  OutcomeDecoder(const OutcomeDecoder&) = delete;
  OutcomeDecoder& operator=(const OutcomeDecoder&) = delete;

  // Decodes one outcome into `*out`. `reason` and `remote_addr` are views
  // into this decoder, valid until its next Decode. Required: `timestamp`
  // (RFC 3339 in UTC with a `Z`, any number of fractional digits),
  // `project_id`, `outcome`. Optional (null or missing): `key_id`, `reason`,
  // `event_id`, `remote_addr`; `category` (default 0) and `quantity`
  // (default 1), which older Relays leave out. Unknown keys are ignored.
  // Errors, all BadRequest (400): not a JSON object, invalid JSON, a
  // required key missing, a duplicate known key, or a key of the wrong type
  // or out of range (outcome and category 0..255, quantity 32-bit).
  absl::Status Decode(std::string_view json, OutcomeMessage* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_KAFKA_CODEC_H_
