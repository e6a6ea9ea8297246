// The relay's per-request work after HTTP parsing: auth, key check, body
// decoding, normalization and production to Kafka, with one outcome per item.
//
// The input is a plain Request (views into the HTTP layer's buffers) and the
// output a plain Response, so this file knows nothing of sockets, libuv or
// llhttp and is tested without them. net/ parses the request, hands it here
// and writes the Response back.
//
// One Pipeline per worker thread: it owns the reusable state (BodyDecoder,
// EnvelopeParser, Normalizer, scratch strings) that keeps a warm worker from
// allocating, and is not thread-safe. The Producer is shared by all workers
// (it is thread-safe); the ProjectTable snapshot is passed per call, so a
// worker uses whichever snapshot it holds without any lock.
//
// Status mapping follows ARCHITECTURE.md: 401 missing/multiple/malformed
// auth, 400 protocol version > 7 or bad payload, 403 unknown or disabled key,
// project mismatch or origin not allowed, 413 too large, 415 unknown
// Content-Encoding, 503 with Retry-After under backpressure.
#ifndef TERN_RELAY_PIPELINE_PIPELINE_H_
#define TERN_RELAY_PIPELINE_PIPELINE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "protocol/client_report.h"
#include "protocol/decode.h"
#include "protocol/envelope.h"
#include "protocol/event_id.h"
#include "protocol/inbound_filter.h"
#include "protocol/kafka_codec.h"
#include "protocol/normalize.h"
#include "protocol/session.h"
#include "relay/kafka/producer.h"
#include "relay/pipeline/sink.h"
#include "relay/quota/quota.h"

// Forward declarations rather than includes: see key_check.h for why this
// header may name neither project_table.h's nor kafka_codec.h's types.
namespace tern::relay::project {
class ProjectTable;
}  // namespace tern::relay::project

namespace tern::relay::pipeline {

// One request as the HTTP layer hands it over. Every view must stay valid for
// the duration of Pipeline::Handle. For every optional header value the empty
// view means "absent": an empty X-Sentry-Auth or Authorization header carries
// no key either, so treating it as absent only changes which 401 detail the
// client sees.
struct Request {
  enum Route { kStore, kEnvelope };
  Route route = kStore;
  // The id in /api/{id}/...; 0 when the URL named none (legacy /api/store/).
  uint64_t url_project_id = 0;
  std::string_view x_sentry_auth;
  std::string_view authorization;  // whole value, whatever its scheme
  std::string_view query;          // with or without the leading '?'
  std::string_view content_encoding;
  std::string_view content_type;
  // The Origin header, or the Referer when there is no Origin.
  std::string_view origin;
  std::string_view client_ip;  // text form of the peer address
  std::string_view body;       // as received (Content-Encoding not removed)
  absl::Time received = absl::UnixEpoch();
};

// What to answer. `body` is JSON: {"id":"<32 hex>"}, {} (an accepted envelope
// that names no event id), or {"detail":"..."} for errors.
struct Response {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set (with status 503) when the request's key is not in the table yet
  // and its project config is being fetched from upstream: the caller may
  // ask for the key, hold the request for a bounded time and run it again
  // once a newer table arrives, or answer this 503 as it is.
  std::string pending_key;
};

// Size limits per endpoint (the max_event_size/max_envelope_size).
// Each bounds both the body as received and the body after decompression.
struct Limits {
  size_t max_event_size = 1 << 20;          // store bodies and each event
  size_t max_envelope_size = 100u << 20;    // envelope bodies
  size_t max_attachment_size = 100u << 20;  // one attachment item
  size_t max_items_per_envelope = 1000;
};

// Kafka topic names (from config).
struct Topics {
  std::string events = "ingest-events";
  std::string attachments = "ingest-attachments";
  std::string transactions = "ingest-transactions";
  std::string sessions = "ingest-sessions";
  std::string outcomes = "outcomes";
  std::string other = "ingest-other";
};

struct PipelineOptions {
  Limits limits;
  Topics topics;
  // Sent as Retry-After (whole seconds) with every 503.
  absl::Duration retry_after = absl::Seconds(60);
  // unknown_items: true forwards items of types the relay does not route to
  // topics.other (accepted outcome); false drops them (invalid outcome).
  bool forward_unknown_items = false;
  // Seed for attachment ids and for the ids of events sent without one; 0
  // means std::random_device (tests fix it for reproducible ids).
  uint64_t seed = 0;
  // outcomes.flush_interval: outcomes without an event id (other than
  // `accepted`) are summed over windows of this length and produced by
  // FlushOutcomes(); zero produces every outcome at once.
  absl::Duration outcome_flush_interval = absl::ZeroDuration();
};

// The reasons of `invalid` outcomes, for /metrics (the outcome messages carry
// the reason itself). The last entry counts reasons not in the list.
inline constexpr std::string_view kInvalidReasons[] = {
    "invalid_json",        "invalid_schema",
    "invalid_event_id",    "event_id_mismatch",
    "invalid_timestamp",   "invalid_level",
    "event_too_large",     "invalid_utf8",
    "duplicate_item",      "missing_event_id",
    "invalid_user_report", "unsupported_item_type",
    "invalid_session",     "other"};
inline constexpr size_t kInvalidReasonCount = std::size(kInvalidReasons);

// Per-worker counters. Only the owning worker writes them (relaxed atomics,
// so a /metrics reader on another thread reads each one without a data race;
// the set as a whole is not a consistent snapshot).
struct PipelineCounters {
  // requests[route][status / 100], status classes 1..5 used.
  std::array<std::array<std::atomic<uint64_t>, 6>, 2> requests{};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> auth_errors{0};     // 401/400 auth, 403 key
  std::atomic<uint64_t> key_pending{0};     // 503: key config being fetched
  std::atomic<uint64_t> decode_errors{0};   // content/store/envelope
  std::atomic<uint64_t> backpressure{0};    // 503 before parsing
  std::atomic<uint64_t> produce_errors{0};  // item Produce() failed
  std::atomic<uint64_t> outcome_produce_errors{0};
  // Outcomes summed into a bucket instead of produced at once, and the
  // messages the buckets became.
  std::atomic<uint64_t> outcomes_aggregated{0};
  std::atomic<uint64_t> outcome_buckets_flushed{0};
  // Items by outcome (counted also when the outcome message failed).
  std::atomic<uint64_t> items_accepted{0};
  std::atomic<uint64_t> items_invalid{0};
  std::atomic<uint64_t> items_dropped{0};       // unsupported item types
  std::atomic<uint64_t> client_reports{0};      // turned into outcomes
  std::atomic<uint64_t> items_rate_limited{0};  // refused by a quota
  std::atomic<uint64_t> items_filtered{0};      // dropped by an inbound filter
  // Requests refused unread: a quota was already full in its window.
  std::atomic<uint64_t> requests_rate_limited_early{0};
  // `invalid` outcomes by reason, indexed like kInvalidReasons.
  std::array<std::atomic<uint64_t>, kInvalidReasonCount> invalid_by_reason{};
};

// Runs requests for one worker thread. Not thread-safe; not copyable.
class Pipeline {
 public:
  // `producer` is shared and must outlive this Pipeline; messages go to it
  // directly (no spool).
  Pipeline(PipelineOptions options, kafka::Producer* producer);
  // Messages go to `sink` (the worker's spool, or a producer sink), which
  // must outlive this Pipeline.
  Pipeline(PipelineOptions options, MessageSink* sink);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Handles one request against the worker's current project table snapshot
  // and returns the answer. Never fails: every error is a Response.
  //
  // Order: backpressure (503 when !producer.Accepting(), before any parsing);
  // auth and key check; decode (413/415/400); then per item normalize and
  // produce. Auth comes from X-Sentry-Auth, Authorization: Sentry, or the
  // query string; for envelopes the envelope header `dsn` counts as a source
  // only when none of those is present (so the body is decoded and parsed
  // before auth only then). The JS SDK puts `dsn` in every envelope header
  // when a tunnel is configured, together with the normal auth header in the
  // direct case; counting it unconditionally would make every such request a
  // 401 "multiple authorization payloads".
  //
  // Store: one event; an invalid one is 400 with the normalizer's detail
  // (plus an `invalid` outcome). Envelope: 400 only when the envelope does
  // not parse; invalid items are dropped with an `invalid` outcome and the
  // answer is still 200, as in Relay.
  //
  // A Produce() failure for an item answers 503 with Retry-After (Unavailable:
  // the local queue is full) or the status of the error, never 200. Items of
  // the same request that were produced before stay produced: the client's
  // retry is safe because the idempotent producer does not duplicate within a
  // session and the backend deduplicates on (project, event_id).
  Response Handle(const Request& request, const project::ProjectTable& table);

  // Before the body is read (Expect: 100-continue): the auth and key check
  // of Handle, for a request whose head carries Sentry auth. OK when the
  // head carries none (an envelope's dsn may be the auth), when the key is
  // accepted, or when its config is still pending; else Handle's 401/400/403
  // error. `request.body` is not read.
  absl::Status CheckAuthInHead(const Request& request,
                               const project::ProjectTable& table);

  // Produces the summed outcomes of every window that ended by `now` (all
  // of them when `all`, for shutdown) as one message per bucket with its
  // quantity and the window's start as timestamp. Returns the messages
  // handed to the sink; with a spooling sink they wait for its Commit()
  // like any other. A no-op without outcome_flush_interval.
  size_t FlushOutcomes(absl::Time now, bool all);

  // Buckets waiting for FlushOutcomes.
  size_t pending_outcome_buckets() const { return outcome_buckets_.size(); }

  const PipelineCounters& counters() const { return counters_; }

  // At most this many buckets wait per worker: beyond it an outcome is
  // produced at once, so a flood of distinct keys cannot grow memory.
  static constexpr size_t kMaxOutcomeBuckets = 4096;

 private:
  struct Ctx;  // per-request state, lives on Handle's stack
  Response Run(const Request& request, const project::ProjectTable& table);
  absl::Status HandleStore(Ctx& ctx, std::string_view json);
  absl::Status HandleEnvelope(Ctx& ctx);
  // Normalizes and produces one event or transaction item (with its
  // attachments). Returns only produce errors; invalid items become outcomes
  // and OK, or when `strict` the normalizer's error.
  absl::Status ProcessEvent(
      Ctx& ctx, std::string_view json, bool is_transaction,
      const std::vector<const protocol::EnvelopeItem*>& attachments,
      bool strict);
  // Counts one item against the key's quotas; false (and the limits noted
  // in `ctx` for the 429) when a quota refuses it.
  bool AdmitItem(Ctx& ctx, protocol::DataCategory category, uint64_t quantity);
  // Gives back what AdmitItem counted for an item that was not delivered.
  void ReleaseItem(Ctx& ctx, protocol::DataCategory category,
                   uint64_t quantity);
  // The reason code of the quota that refused the last item, if it has one.
  std::optional<std::string_view> RateLimitReason() const;
  // The 429 for a request whose quota is known to be full, before parsing.
  std::optional<Response> RefuseIfLimited(Ctx& ctx, bool envelope);
  Response RateLimitedResponse(const Ctx& ctx);
  // session / sessions items, as Relay's session messages.
  absl::Status ProduceSessions(Ctx& ctx, const protocol::EnvelopeItem& item);
  // unknown_items: forward.
  absl::Status ForwardItem(Ctx& ctx, const protocol::EnvelopeItem& item);
  absl::Status ProduceStandaloneAttachment(Ctx& ctx,
                                           const protocol::EnvelopeItem& item,
                                           const protocol::EventId& event_id);
  absl::Status ProduceChunks(Ctx& ctx, std::string_view topic,
                             const protocol::EventId& event_id,
                             std::string_view id, std::string_view payload);
  // Produces one outcome message; failures are only counted (the item's own
  // fate has been decided already).
  void EmitOutcome(Ctx& ctx, protocol::Outcome outcome,
                   std::optional<std::string_view> reason,
                   std::optional<protocol::EventId> event_id,
                   protocol::DataCategory category, uint32_t quantity);
  // What an aggregated outcome is summed by. The map owns its reasons;
  // lookups go by a view of the caller's (transparent hash and equality), so
  // adding to an existing bucket allocates nothing.
  struct OutcomeKeyView {
    int64_t window = 0;  // received / outcome_flush_interval, rounded down
    uint64_t project_id = 0;
    std::optional<uint64_t> key_id;
    protocol::Outcome outcome = protocol::Outcome::kAccepted;
    protocol::DataCategory category = protocol::DataCategory::kDefault;
    std::optional<std::string_view> reason;
    friend bool operator==(const OutcomeKeyView&,
                           const OutcomeKeyView&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const OutcomeKeyView& k) {
      return H::combine(std::move(h), k.window, k.project_id, k.key_id,
                        k.outcome, k.category, k.reason);
    }
  };
  struct OutcomeKey {
    OutcomeKeyView view;  // its `reason` views `reason` below
    std::string reason;
    explicit OutcomeKey(const OutcomeKeyView& v);
    OutcomeKey(const OutcomeKey& other) : OutcomeKey(other.view) {}
    OutcomeKey& operator=(const OutcomeKey&) = delete;
  };
  struct OutcomeKeyHash {
    using is_transparent = void;
    size_t operator()(const OutcomeKeyView& k) const {
      return absl::Hash<OutcomeKeyView>{}(k);
    }
    size_t operator()(const OutcomeKey& k) const { return (*this)(k.view); }
  };
  struct OutcomeKeyEq {
    using is_transparent = void;
    static const OutcomeKeyView& V(const OutcomeKeyView& k) { return k; }
    static const OutcomeKeyView& V(const OutcomeKey& k) { return k.view; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return V(a) == V(b);
    }
  };
  // Node map: a key's view of its own string must not move with rehashing.
  using OutcomeMap =
      absl::node_hash_map<OutcomeKey, uint64_t, OutcomeKeyHash, OutcomeKeyEq>;
  void ProduceOutcome(const protocol::OutcomeMessage& m, std::string_view key,
                      const MessageMeta& meta);
  static MessageMeta Meta(uint64_t project_id, std::optional<uint64_t> key_id,
                          protocol::DataCategory category, uint32_t quantity,
                          absl::Time received);
  static MessageMeta MetaFor(const Ctx& ctx, protocol::DataCategory category,
                             uint32_t quantity);
  absl::Status ProduceItem(const Ctx& ctx, protocol::DataCategory category,
                           uint32_t quantity, std::string_view topic,
                           std::string_view key, std::string_view value);
  std::string NewAttachmentId();
  uint64_t NextRandom();

  PipelineOptions options_;
  // Set when constructed with a producer: the sink sink_ points to.
  std::unique_ptr<ProducerSink> own_sink_;
  MessageSink* sink_;
  protocol::BodyDecoder decoder_;
  protocol::EnvelopeParser parser_;
  protocol::Envelope envelope_;
  protocol::Normalizer normalizer_;
  protocol::NormalizedEvent normalized_;
  protocol::ClientReportParser client_reports_;
  protocol::ClientReport client_report_;
  protocol::SessionEncoder sessions_;
  quota::Decision decision_;
  protocol::InboundFilter inbound_filter_;
  std::vector<const protocol::EnvelopeItem*> admitted_attachments_;
  std::string auth_scratch_;
  std::string content_scratch_;
  std::string store_scratch_;
  std::string value_scratch_;
  std::string outcome_scratch_;
  std::vector<std::string> attachment_ids_;
  std::vector<protocol::ChunkedAttachment> chunked_;
  std::vector<const protocol::EnvelopeItem*> attachment_items_;
  OutcomeMap outcome_buckets_;
  uint64_t rng_state_;
  // outcome_flush_interval in whole milliseconds (at least 1); 0: off.
  const int64_t outcome_window_ms_;
  PipelineCounters counters_;
};

}  // namespace tern::relay::pipeline

#endif  // TERN_RELAY_PIPELINE_PIPELINE_H_
