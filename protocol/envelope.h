// Sentry envelopes: parsing in place and serializing.
//
// An envelope is what SDKs POST to /api/{project}/envelope/ (and what the
// store endpoint gets when the content type says so): one header line holding
// a JSON object, then items, each an item-header line (a JSON object with at
// least `type`) followed by its payload. A payload is exactly `length` bytes
// when the item header gives one (so it may hold newlines or binary data), and
// otherwise runs to the next `\n`. The relay parses every envelope it accepts
// here, so the parser never copies a payload: the result is a set of views
// into the caller's request buffer, and all reusable state (the JSON parser,
// its padded scratch buffer, the items vector) is kept across calls.
//
// Grammar details, matching Relay where Relay is clear and strict elsewhere:
//  * The envelope header is the first line, up to the first `\n` (or the end
//    of the input). It must be a JSON object (`{}` is fine); an input with no
//    `\n` is an envelope with no items.
//  * Each header line is one line: a header object that spans lines is
//    rejected (the first line is not a complete JSON object). Whitespace
//    around the object, `\r` included, is accepted as JSON allows (Relay
//    wants the `\n` right after the `}`); a `\r` ending a payload without
//    `length` stays in the payload, as in Relay.
//  * The envelope header is not checked beyond its JSON and the keys below:
//    an envelope with no items, or with a `sent_at` that is not a date, is
//    for the caller to judge.
//  * Blank lines (and other JSON whitespace) are skipped only where an item
//    header is expected: between items and at the end. The line right after an
//    item header without `length` is always that item's payload, even when it
//    is empty, so `{"type":"a"}\n\n{"type":"b"}` is two items, the first with
//    an empty payload.
//  * A length-delimited payload must be followed by `\n` or the end of the
//    input; anything else is an error. The final newline is optional.
//  * Known header keys (`type`, `length`, `content_type`, `filename`,
//    `attachment_type`; `event_id`, `dsn`, `sent_at` in the envelope header)
//    may appear at most once: a duplicate is rejected rather than resolved,
//    since two parsers resolving it differently is how requests get smuggled.
//    `null` counts as absent for every optional key. Other keys are kept as
//    they are in the raw header view, but the whole line must be valid JSON.
#ifndef TERN_PROTOCOL_ENVELOPE_H_
#define TERN_PROTOCOL_ENVELOPE_H_

#include <cstddef>
#include <cstdint>
#include <forward_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "protocol/event_id.h"

namespace tern::protocol {

// The item types the relay knows by name (Relay's ItemType). Anything else is
// kUnknown and keeps its name in EnvelopeItem::type, so newer SDK item types
// can be forwarded or dropped by policy instead of failing the envelope.
enum class ItemType : uint8_t {
  kEvent,            // "event"
  kTransaction,      // "transaction"
  kSecurity,         // "security"
  kAttachment,       // "attachment"
  kFormData,         // "form_data"
  kRawSecurity,      // "raw_security"
  kUnrealReport,     // "unreal_report"
  kUserReport,       // "user_report"
  kFeedback,         // "feedback"
  kSession,          // "session"
  kSessions,         // "sessions"
  kStatsd,           // "statsd"
  kMetricBuckets,    // "metric_buckets"
  kClientReport,     // "client_report"
  kProfile,          // "profile"
  kProfileChunk,     // "profile_chunk"
  kReplayEvent,      // "replay_event"
  kReplayRecording,  // "replay_recording"
  kReplayVideo,      // "replay_video"
  kCheckIn,          // "check_in"
  kSpan,             // "span"
  kLog,              // "log"
  kUnknown,
};

// Maps an item `type` string to its enum (exact, case-sensitive match as in
// Relay); unlisted names give kUnknown.
ItemType ItemTypeFromName(std::string_view name);
// The wire name of a known type; "" for kUnknown.
std::string_view ItemTypeName(ItemType type);

// One item of a parsed envelope. Every view is empty when its key is absent.
// Views point into the input given to EnvelopeParser::Parse, except a header
// string written with JSON escapes (`\"`, `\u00e9`, ...), whose decoded text
// lives in the owning Envelope: keep both alive while using an item.
struct EnvelopeItem {
  std::string_view header_json = {};  // the raw item-header line, without `\n`
  std::string_view type = {};         // decoded `type`
  ItemType item_type = ItemType::kUnknown;
  std::string_view content_type = {};
  std::string_view filename = {};
  std::string_view attachment_type = {};
  std::string_view payload = {};  // always a view into the input, never a copy
};

// A parsed envelope. Reuse one per thread: Parse clears it but keeps the
// capacity of `items`. Not copyable, because decoded header strings are owned
// here and a copy's views would point into the original; moving is fine.
struct Envelope {
  Envelope() = default;
  Envelope(const Envelope&) = delete;
  Envelope& operator=(const Envelope&) = delete;
  Envelope(Envelope&&) = default;
  Envelope& operator=(Envelope&&) = default;

  std::string_view header_json;     // the raw header line, without `\n`
  std::optional<EventId> event_id;  // header `event_id`, when present
  std::string_view dsn;             // header `dsn`, decoded, not validated
  // Header `sent_at`, decoded but not validated: parsing the time is up to the
  // caller that uses it for clock drift correction.
  std::string_view sent_at;
  std::vector<EnvelopeItem> items;

  // Backing store for header strings that had JSON escapes. Node-based so
  // that views stay valid when the Envelope is moved. Internal to Parse.
  std::forward_list<std::string> decoded_strings;
};

// Bounds applied while parsing; an input over any of them is rejected with
// TooLarge (HTTP 413) and a message naming the limit. The relay sets them per
// endpoint from its config.
struct EnvelopeLimits {
  size_t max_items = 1000;
  size_t max_header_bytes = 64 * 1024;  // per header line (envelope or item)
  size_t max_item_bytes = 100 * 1024 * 1024;      // per payload
  size_t max_envelope_bytes = 100 * 1024 * 1024;  // the whole input
};

// Parses envelopes. Holds the JSON parser and scratch buffers, so keep one per
// thread and reuse it; not thread-safe. Its memory grows to fit the largest
// header line seen, which max_header_bytes bounds.
class EnvelopeParser {
 public:
  // How header lines are read. Plain lines (compact JSON, ASCII strings
  // without escapes, integers, literals, shallow nesting: what SDKs send) go
  // through a small strict scanner, because simdjson's fixed cost per
  // document is most of the budget for a whole envelope (4 header lines:
  // ~180 ns in On-Demand's iterate() alone, 300 ns target). Anything else, and
  // every error, is decided by simdjson On-Demand, so both agree on what is
  // valid. kSimdjsonOnly skips the scanner; it exists so tests and the fuzzer
  // can check the two paths against each other.
  enum class HeaderScan { kFast, kSimdjsonOnly };

  explicit EnvelopeParser(HeaderScan scan = HeaderScan::kFast);
  ~EnvelopeParser();
  EnvelopeParser(const EnvelopeParser&) = delete;
  EnvelopeParser& operator=(const EnvelopeParser&) = delete;

  // Parses `input` into `*out`, replacing what `*out` held. On success the
  // views in `*out` are valid while `input` and `*out` are alive and not
  // parsed into again. On error `*out` holds a partial result that must not
  // be used. Errors:
  //  - TooLarge (413): the input, a header line, a payload or the item count
  //    is over `limits`; a declared `length` over max_item_bytes is 413 even
  //    when the input is shorter.
  //  - BadRequest (400): malformed envelope; the message says what and where
  //    (empty input, header line not a JSON object, bad item-header JSON,
  //    missing or non-string `type`, `length` not a non-negative integer,
  //    `length` past the end of the input, no newline after a
  //    length-delimited payload, duplicate key, invalid `event_id`, a known
  //    key of the wrong type).
  absl::Status Parse(std::string_view input, const EnvelopeLimits& limits,
                     Envelope* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One item to serialize. Empty views are left out of the item header, except
// `type`, which is always written (even if empty) together with an explicit
// `length`, so the payload may hold any bytes.
struct OutItem {
  std::string_view type = {};
  std::string_view content_type = {};
  std::string_view filename = {};
  std::string_view attachment_type = {};
  // Further item-header members as raw JSON text without braces, e.g.
  // `"platform":"native","custom":1`; appended verbatim after the fields
  // above. The caller guarantees it is valid and repeats none of them.
  std::string_view extra_header_fields = {};
  std::string_view payload = {};
};

// Appends an envelope to `*out` (existing content is kept, so a buffer can be
// reused): `header_json` as the first line ("{}" when empty; it must be a
// single-line JSON object, e.g. Envelope::header_json from a parse), then each
// item's header line, its payload and a `\n`. The result parses back to the
// same items with EnvelopeParser.
void SerializeEnvelope(std::string_view header_json,
                       std::span<const OutItem> items, std::string* out);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_ENVELOPE_H_
