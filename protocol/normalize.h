// Event normalization: the one rewrite every error event and transaction gets
// between decoding and Kafka.
//
// SDKs of every age send events that disagree on small things: ids with or
// without hyphens, timestamps as RFC 3339 strings or epoch numbers, `warn`
// for `warning`, the legacy `message` field, `{{auto}}` for "use my address".
// Downstream (grouping, storage, a real Sentry consumer) wants one shape, so
// the relay settles these once here: it fills in what is missing, coerces
// what Sentry's Relay coerces (numbers where text belongs, a bare string
// for a logentry, a list where `{"values": [...]}` is expected...), and
// removes what it cannot read, recording each removal in the event's
// `_meta` and `errors` as Relay does. Only what Relay refuses (not JSON,
// not an object, a bad event id...) is refused, with a 400 that says why.
// docs/event-normalization.md holds the rules and the Relay behaviour each
// one follows.
//
// The input is parsed once with simdjson into its DOM and written once, by a
// recursive serializer over that DOM, into the caller's output buffer.
// Fields the rules do not touch are carried over value for value (integers
// stay integers), in their input order; rewritten fields keep their place and
// added fields go at the end.
#ifndef TERN_PROTOCOL_NORMALIZE_H_
#define TERN_PROTOCOL_NORMALIZE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "protocol/event_id.h"
#include "protocol/scrub.h"

namespace simdjson::dom {
class parser;
}  // namespace simdjson::dom

namespace tern::protocol {

// The event's `type`, which decides its Kafka topic and how the backend
// treats it.
enum class EventType : uint8_t {
  kDefault,
  kError,
  kCsp,
  kHpkp,
  kExpectCt,
  kExpectStaple,
  kNel,
  kTransaction,
};
// The wire name ("error", "expectct", ...).
std::string_view EventTypeName(EventType type);

enum class Level : uint8_t { kFatal, kError, kWarning, kInfo, kDebug };
// The wire name ("fatal", "error", "warning", "info", "debug").
std::string_view LevelName(Level level);

// What the relay knows about the request that carried the event; none of it
// is in the payload itself.
struct NormalizeOptions {
  // When the relay received the request; becomes `received` and is the
  // reference for missing and future timestamps.
  absl::Time received = absl::UnixEpoch();
  // The client's address as text, replacing `{{auto}}`; empty when unknown
  // (then `{{auto}}` fields are dropped).
  std::string_view client_ip;
  // `sentry_client` from the auth header ("raven-python/6.10.0"); empty when
  // absent. Fills in `sdk` for old clients that do not send one.
  std::string_view sentry_client;
  // The envelope header's `event_id`, when the event came in an envelope
  // that names one. The payload's own id, if any, must match it.
  std::optional<EventId> envelope_event_id;
  // True for envelope items of type `transaction`.
  bool is_transaction = false;
  // The project's data-scrubbing settings, applied in the same pass
  // (docs/event-normalization.md, "Data scrubbing"); null scrubs nothing.
  // Not owned; must outlive the Normalize() call.
  const ScrubConfig* scrub = nullptr;
};

// The result of one Normalize() call. Reuse one instance per thread: `json`
// keeps its capacity across calls.
struct NormalizedEvent {
  // The normalized event: one compact JSON object, valid UTF-8.
  std::string json;
  EventId event_id;
  // Epoch seconds, after defaulting and clamping.
  double timestamp = 0;
  // opts.received as epoch seconds, as written in `received`.
  double received = 0;
  EventType type = EventType::kDefault;
  Level level = Level::kError;
  // One of the known platform names ("python", "other", ...); static storage.
  std::string_view platform;
};

// Rewrites events. Holds a simdjson parser (sized for the largest event the
// endpoint accepts), and a random generator for the ids of events that come
// without one. Not thread-safe: one per worker thread, reused for every
// event, so the hot path allocates nothing once warmed up.
class Normalizer {
 public:
  // Nesting deeper than this (objects and arrays, the top-level object
  // counting as 1) is rejected: real events stay far below, and the limit
  // bounds the serializer's recursion.
  static constexpr int kMaxDepth = 128;
  // Sentry's default limit for one event.
  static constexpr size_t kDefaultMaxEventBytes = 1 << 20;

  // Events longer than `max_event_bytes` are refused (413). The parser
  // reserves its buffers for that size here, so the data path never grows
  // them; resident memory follows the largest event actually seen (about 3x
  // its size, plus the output). Seeds the id generator from
  // std::random_device once, here: workers must not share a seed or they
  // would hand out the same event ids.
  explicit Normalizer(size_t max_event_bytes = kDefaultMaxEventBytes);
  // A fixed seed, for tests and fuzzing that want reproducible ids.
  Normalizer(size_t max_event_bytes, uint64_t seed);
  ~Normalizer();
  Normalizer(const Normalizer&) = delete;
  Normalizer& operator=(const Normalizer&) = delete;

  // Validates and rewrites one event payload (`json`, the decoded body of a
  // store request or an event/transaction envelope item) into `out`.
  // `json` need not be padded or NUL-terminated and is only read during the
  // call. On success `out` holds the rewritten event and the fields the relay
  // routes on. Errors (out->json is then unspecified):
  //   InvalidArgument (400) with a detail starting with the reason:
  //     "invalid_json: ...", "invalid_utf8", "not_an_object",
  //     "invalid_event_id", "event_id_mismatch",
  //     "invalid_schema: duplicate key <key>";
  //   a field of the wrong type is never an error: it is coerced, or
  //     removed with a note in the output's `_meta` and `errors`;
  //   OutOfRange (413) "event_too_large" when `json` is longer than the
  //     max_event_bytes this normalizer was built for;
  //   Internal (500) when the parser cannot get memory.
  absl::Status Normalize(std::string_view json, const NormalizeOptions& opts,
                         NormalizedEvent* out);

 private:
  // Four words of xoshiro256** state: fast, small, and good enough for ids
  // that only need to be unique.
  uint64_t NextRandom();

  std::unique_ptr<simdjson::dom::parser> parser_;
  std::array<uint64_t, 4> rng_;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_NORMALIZE_H_
