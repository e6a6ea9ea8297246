#include "relay/pipeline/pipeline.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/status.h"
#include "protocol/auth.h"
#include "protocol/client_report.h"
#include "protocol/json_writer.h"
#include "protocol/kafka_codec.h"
#include "protocol/rate_limits.h"
#include "relay/pipeline/key_check.h"

namespace tern::relay::pipeline {
namespace {

using protocol::DataCategory;
using protocol::EnvelopeItem;
using protocol::EventId;
using protocol::ItemType;
using protocol::Outcome;

constexpr std::string_view kEnvelopeContentType =
    "application/x-sentry-envelope";

// The reason an outcome carries for a normalizer error: the detail up to its
// first ':' ("invalid_json: ..." -> "invalid_json"), which is the stable
// token protocol/normalize.h promises; the rest is for humans.
std::string_view ReasonOf(const absl::Status& status) {
  std::string_view m(status.message().data(), status.message().size());
  return m.substr(0, m.find(':'));
}

DataCategory CategoryOf(protocol::EventType type) {
  switch (type) {
    case protocol::EventType::kTransaction:
      return DataCategory::kTransaction;
    case protocol::EventType::kDefault:
      return DataCategory::kDefault;
    case protocol::EventType::kError:
      return DataCategory::kError;
    default:
      return DataCategory::kSecurity;
  }
}

uint32_t Quantity(size_t bytes) {
  return static_cast<uint32_t>(
      std::min<size_t>(bytes, std::numeric_limits<uint32_t>::max()));
}

Response ErrorResponse(const absl::Status& status, absl::Duration retry_after) {
  Response r;
  r.status = HttpStatusFor(status);
  r.body = "{\"detail\":";
  protocol::JsonWriter::AppendQuoted(
      &r.body,
      std::string_view(status.message().data(), status.message().size()));
  r.body += '}';
  if (r.status == 503) {
    r.headers.emplace_back("Retry-After",
                           absl::StrCat(absl::ToInt64Seconds(retry_after)));
  }
  return r;
}

// The auth sources a request carries outside its body, and whether any of
// them is Sentry auth (else an envelope's dsn may be the one).
protocol::AuthSources HeadAuthSources(const Request& req, bool* header_auth) {
  protocol::AuthSources sources;
  if (!req.x_sentry_auth.empty()) sources.x_sentry_auth = req.x_sentry_auth;
  if (!req.authorization.empty()) sources.authorization = req.authorization;
  if (!req.query.empty()) sources.query = req.query;
  *header_auth = sources.x_sentry_auth.has_value() ||
                 protocol::IsSentryAuthorization(req.authorization) ||
                 protocol::HasSentryAuthParams(req.query);
  return sources;
}

}  // namespace

// Per-request state, on Handle's stack.
struct Pipeline::Ctx {
  explicit Ctx(const Request& r) : request(r), received(r.received) {}
  const Request& request;
  absl::Time received;
  uint64_t project_id = 0;
  std::optional<uint64_t> key_id;
  std::string_view sentry_client;
  std::optional<EventId> envelope_event_id;
  // The id answered in {"id": ...}: the (first) event's or transaction's.
  std::optional<EventId> response_id;
  // The project's scrubbing settings and inbound filters (null: none).
  const protocol::ScrubConfig* scrub = nullptr;
  const protocol::InboundFilterConfig* filters = nullptr;
  // The key's quotas; null or empty when it has none.
  const std::vector<quota::CompiledQuota>* quotas = nullptr;
  // Quotas that refused something in this request (each once), and the
  // longest wait among them: the 429's headers.
  std::vector<const quota::CompiledQuota*> limited;
  uint64_t retry_after = 0;
};

Pipeline::Pipeline(PipelineOptions options, kafka::Producer* producer)
    : Pipeline(std::move(options), static_cast<MessageSink*>(nullptr)) {
  own_sink_ = std::make_unique<ProducerSink>(producer);
  sink_ = own_sink_.get();
}

Pipeline::Pipeline(PipelineOptions options, MessageSink* sink)
    : options_(std::move(options)),
      sink_(sink),
      normalizer_(options_.limits.max_event_size,
                  options_.seed != 0
                      ? options_.seed
                      : (uint64_t{std::random_device{}()} << 32) ^
                            std::random_device{}()),
      rng_state_(options_.seed != 0 ? options_.seed * 0x9e3779b97f4a7c15u
                                    : (uint64_t{std::random_device{}()} << 32) ^
                                          std::random_device{}()),
      // Whole milliseconds, at least one when aggregating at all.
      outcome_window_ms_(
          options_.outcome_flush_interval > absl::ZeroDuration()
              ? std::max<int64_t>(1, absl::ToInt64Milliseconds(
                                         options_.outcome_flush_interval))
              : 0) {}

uint64_t Pipeline::NextRandom() {
  // splitmix64: attachment ids only need to be unique, not secret.
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

std::string Pipeline::NewAttachmentId() {
  uint64_t hi = NextRandom();
  return EventId::FromRandom(hi, NextRandom()).ToHex();
}

absl::Status Pipeline::CheckAuthInHead(const Request& request,
                                       const project::ProjectTable& table) {
  bool header_auth = false;
  const protocol::AuthSources sources = HeadAuthSources(request, &header_auth);
  // With no auth in the head, an envelope may still carry its dsn.
  if (!header_auth) return absl::OkStatus();
  KeyCheckResult key;
  absl::Status s = CheckRequestKey(table, sources, request.url_project_id,
                                   request.origin, &auth_scratch_, &key);
  // A pending key is not an answer yet: the request waits for its config.
  return absl::IsUnavailable(s) ? absl::OkStatus() : s;
}

Response Pipeline::Handle(const Request& request,
                          const project::ProjectTable& table) {
  Response r = Run(request, table);
  int route = request.route == Request::kEnvelope ? 1 : 0;
  int cls = std::clamp(r.status / 100, 0, 5);
  counters_.requests[route][cls].fetch_add(1, std::memory_order_relaxed);
  return r;
}

Response Pipeline::Run(const Request& req, const project::ProjectTable& table) {
  counters_.bytes_in.fetch_add(req.body.size(), std::memory_order_relaxed);
  // Before any parsing: under backpressure the cheapest answer is the right
  // one, and the client retries after Retry-After.
  if (!sink_->Accepting()) {
    counters_.backpressure.fetch_add(1, std::memory_order_relaxed);
    return ErrorResponse(absl::UnavailableError("the relay is overloaded"),
                         options_.retry_after);
  }
  const bool is_envelope =
      req.route == Request::kEnvelope ||
      absl::StartsWithIgnoreCase(
          absl::string_view(req.content_type.data(), req.content_type.size()),
          absl::string_view(kEnvelopeContentType.data(),
                            kEnvelopeContentType.size()));
  const size_t limit = is_envelope ? options_.limits.max_envelope_size
                                   : options_.limits.max_event_size;

  bool header_auth = false;
  protocol::AuthSources sources = HeadAuthSources(req, &header_auth);

  Ctx ctx(req);
  std::string_view pending_key;
  auto authenticate = [&]() -> absl::Status {
    KeyCheckResult key;
    absl::Status s = CheckRequestKey(table, sources, req.url_project_id,
                                     req.origin, &auth_scratch_, &key);
    if (absl::IsUnavailable(s)) pending_key = key.public_key;
    TERN_RETURN_IF_ERROR(s);
    ctx.project_id = key.project_id;
    ctx.key_id = key.key_id;
    ctx.quotas = key.quotas;
    ctx.scrub = key.scrub;
    ctx.filters = key.filters;
    ctx.sentry_client = key.sentry_client;
    return absl::OkStatus();
  };
  auto fail_auth = [&](const absl::Status& s) {
    if (!pending_key.empty()) {
      counters_.key_pending.fetch_add(1, std::memory_order_relaxed);
      Response r = ErrorResponse(s, options_.retry_after);
      r.pending_key = std::string(pending_key);
      return r;
    }
    counters_.auth_errors.fetch_add(1, std::memory_order_relaxed);
    return ErrorResponse(s, options_.retry_after);
  };
  auto fail_decode = [&](const absl::Status& s) {
    counters_.decode_errors.fetch_add(1, std::memory_order_relaxed);
    return ErrorResponse(s, options_.retry_after);
  };

  // Auth before decoding whenever the envelope body cannot be the source, so
  // an unauthenticated client costs no decompression.
  if (header_auth || !is_envelope) {
    if (absl::Status s = authenticate(); !s.ok()) return fail_auth(s);
    // A quota found full earlier in its window refuses the request before
    // anything is decompressed or parsed.
    if (std::optional<Response> r = RefuseIfLimited(ctx, is_envelope)) {
      return *std::move(r);
    }
  }
  if (req.body.size() > limit) {
    return fail_decode(TooLarge(absl::StrCat(
        "body of ", req.body.size(), " bytes is over the limit of ", limit)));
  }
  absl::StatusOr<std::string_view> decoded = decoder_.DecodeContent(
      req.content_encoding, req.body, limit, &content_scratch_);
  if (!decoded.ok()) return fail_decode(decoded.status());

  absl::Status result;
  if (is_envelope) {
    protocol::EnvelopeLimits limits;
    limits.max_envelope_bytes = limit;
    limits.max_item_bytes = limit;
    limits.max_items = options_.limits.max_items_per_envelope;
    if (absl::Status s = parser_.Parse(*decoded, limits, &envelope_); !s.ok()) {
      return fail_decode(s);
    }
    // As Relay: one item over its kind's limit makes the envelope 413, before
    // anything of it is produced.
    for (const EnvelopeItem& item : envelope_.items) {
      const bool attachment = item.item_type == ItemType::kAttachment;
      const bool event = item.item_type == ItemType::kEvent ||
                         item.item_type == ItemType::kTransaction;
      const size_t item_limit = attachment ? options_.limits.max_attachment_size
                                           : options_.limits.max_event_size;
      if ((attachment || event) && item.payload.size() > item_limit) {
        return fail_decode(TooLarge(absl::StrCat(
            ToAbsl(protocol::ItemTypeName(item.item_type)), " item of ",
            item.payload.size(), " bytes is over the limit of ", item_limit)));
      }
    }
    if (!header_auth) {
      if (!envelope_.dsn.empty()) sources.envelope_dsn = envelope_.dsn;
      if (absl::Status s = authenticate(); !s.ok()) return fail_auth(s);
      if (std::optional<Response> r = RefuseIfLimited(ctx, is_envelope)) {
        return *std::move(r);
      }
    }
    ctx.envelope_event_id = envelope_.event_id;
    result = HandleEnvelope(ctx);
  } else {
    absl::StatusOr<std::string_view> json =
        decoder_.DecodeStoreBody(*decoded, limit, &store_scratch_);
    if (!json.ok()) return fail_decode(json.status());
    result = HandleStore(ctx, *json);
  }
  if (!result.ok()) return ErrorResponse(result, options_.retry_after);
  if (!ctx.limited.empty()) return RateLimitedResponse(ctx);

  Response r;
  std::optional<EventId> id = ctx.response_id;
  if (!id) id = ctx.envelope_event_id;
  if (id) {
    // {"id":"<32 hex>"} built in place: one allocation, not three.
    constexpr std::string_view kOpen = "{\"id\":\"", kClose = "\"}";
    r.body.resize(kOpen.size() + 32 + kClose.size());
    char* out = r.body.data();
    std::memcpy(out, kOpen.data(), kOpen.size());
    id->WriteHex(out + kOpen.size());
    std::memcpy(out + kOpen.size() + 32, kClose.data(), kClose.size());
  } else {
    r.body = "{}";
  }
  return r;
}

absl::Status Pipeline::HandleStore(Ctx& ctx, std::string_view json) {
  attachment_items_.clear();
  return ProcessEvent(ctx, json, /*is_transaction=*/false, attachment_items_,
                      /*strict=*/true);
}

absl::Status Pipeline::HandleEnvelope(Ctx& ctx) {
  attachment_items_.clear();
  bool has_event = false;
  for (const EnvelopeItem& item : envelope_.items) {
    if (item.item_type == ItemType::kEvent) has_event = true;
    if (item.item_type == ItemType::kAttachment) {
      attachment_items_.push_back(&item);
    }
  }
  const std::vector<const EnvelopeItem*> none;
  bool event_done = false;
  for (const EnvelopeItem& item : envelope_.items) {
    absl::Status s;
    switch (item.item_type) {
      case ItemType::kEvent:
        if (event_done) {
          // Relay allows one event per envelope; the first one carries the
          // attachments and the id.
          EmitOutcome(ctx, Outcome::kInvalid, "duplicate_item",
                      ctx.envelope_event_id, DataCategory::kError, 1);
          counters_.items_invalid.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        event_done = true;
        s = ProcessEvent(ctx, item.payload, false, attachment_items_, false);
        break;
      case ItemType::kTransaction:
        s = ProcessEvent(ctx, item.payload, true, none, false);
        break;
      case ItemType::kAttachment:
        if (has_event) break;  // produced with its event
        if (!ctx.envelope_event_id) {
          // A standalone attachment is keyed and stored by its event id;
          // without one it cannot be joined to anything.
          EmitOutcome(ctx, Outcome::kInvalid, "missing_event_id", std::nullopt,
                      DataCategory::kAttachment, Quantity(item.payload.size()));
          counters_.items_invalid.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        s = ProduceStandaloneAttachment(ctx, item, *ctx.envelope_event_id);
        break;
      case ItemType::kSession:
      case ItemType::kSessions:
        s = ProduceSessions(ctx, item);
        break;
      case ItemType::kClientReport:
        // What the SDK discarded itself becomes outcomes, as a processing
        // Relay does; the item itself goes nowhere. A report that does not
        // parse is dropped without an outcome (it describes other items;
        // it is not one the client wanted stored).
        if (client_reports_.Parse(item.payload, &client_report_).ok()) {
          for (const protocol::ClientReportEntry& e : client_report_.entries) {
            EmitOutcome(ctx, e.outcome, e.reason, std::nullopt, e.category,
                        e.quantity);
          }
          counters_.client_reports.fetch_add(1, std::memory_order_relaxed);
        } else {
          counters_.items_invalid.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      case ItemType::kUserReport: {
        // User feedback, keyed by the event it is about, on the attachments
        // topic as Relay writes it.
        absl::StatusOr<EventId> id =
            client_reports_.UserReportEventId(item.payload);
        if (!id.ok()) {
          EmitOutcome(ctx, Outcome::kInvalid, "invalid_user_report",
                      ctx.envelope_event_id, DataCategory::kDefault, 1);
          counters_.items_invalid.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        protocol::UserReportMessage m;
        m.project_id = ctx.project_id;
        m.start_time = static_cast<uint64_t>(absl::ToUnixSeconds(ctx.received));
        m.payload = item.payload;
        value_scratch_.clear();
        protocol::EncodeUserReportMessage(m, &value_scratch_);
        const EventId::Hex key = id->HexDigits();
        s = ProduceItem(ctx, DataCategory::kDefault, 1,
                        options_.topics.attachments, key.view(),
                        value_scratch_);
        if (s.ok()) {
          counters_.items_accepted.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      }
      default:
        if (options_.forward_unknown_items) {
          s = ForwardItem(ctx, item);
          break;
        }
        EmitOutcome(ctx, Outcome::kInvalid, "unsupported_item_type",
                    ctx.envelope_event_id, DataCategory::kDefault, 1);
        counters_.items_dropped.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

bool Pipeline::AdmitItem(Ctx& ctx, DataCategory category, uint64_t quantity) {
  if (ctx.quotas == nullptr || ctx.quotas->empty()) return true;
  quota::Admit(*ctx.quotas, category, quantity, ctx.received, &decision_);
  if (decision_.admitted) return true;
  for (const quota::CompiledQuota* q : decision_.limited_by) {
    if (std::find(ctx.limited.begin(), ctx.limited.end(), q) ==
        ctx.limited.end()) {
      ctx.limited.push_back(q);
    }
  }
  ctx.retry_after = std::max(ctx.retry_after, decision_.retry_after_seconds);
  counters_.items_rate_limited.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void Pipeline::ReleaseItem(Ctx& ctx, DataCategory category, uint64_t quantity) {
  if (ctx.quotas != nullptr && !ctx.quotas->empty()) {
    quota::Release(*ctx.quotas, category, quantity, ctx.received);
  }
}

std::optional<std::string_view> Pipeline::RateLimitReason() const {
  // The reason of the quota that refused the last item.
  if (decision_.limited_by.empty() ||
      decision_.limited_by.front()->reason_code.empty()) {
    return std::nullopt;
  }
  return decision_.limited_by.front()->reason_code;
}

std::optional<Response> Pipeline::RefuseIfLimited(Ctx& ctx, bool envelope) {
  if (ctx.quotas == nullptr || ctx.quotas->empty()) return std::nullopt;
  // A store body is one error or message (SDKs send transactions in
  // envelopes); an envelope may hold anything, so only a quota covering
  // every category refuses it unread.
  static constexpr DataCategory kStore[] = {DataCategory::kDefault,
                                            DataCategory::kError};
  static constexpr DataCategory kAny[] = {
      DataCategory::kDefault,     DataCategory::kError,
      DataCategory::kTransaction, DataCategory::kSecurity,
      DataCategory::kAttachment,  DataCategory::kSession};
  const quota::CompiledQuota* q =
      envelope ? quota::ActiveLimit(*ctx.quotas, kAny, ctx.received)
               : quota::ActiveLimit(*ctx.quotas, kStore, ctx.received);
  if (q == nullptr) return std::nullopt;
  ctx.limited.push_back(q);
  ctx.retry_after = q->SecondsLeft(ctx.received);
  counters_.requests_rate_limited_early.fetch_add(1, std::memory_order_relaxed);
  // Unread, the request's items are unknown: one outcome stands for it,
  // in the quota's category when it names exactly one, else error.
  DataCategory category = DataCategory::kError;
  for (DataCategory c : kAny) {
    if (q->category_mask == (uint32_t{1} << static_cast<uint32_t>(c))) {
      category = c;
    }
  }
  std::optional<std::string_view> reason;
  if (!q->reason_code.empty()) reason = q->reason_code;
  EmitOutcome(ctx, Outcome::kRateLimited, reason, std::nullopt, category, 1);
  return RateLimitedResponse(ctx);
}

Response Pipeline::RateLimitedResponse(const Ctx& ctx) {
  std::vector<protocol::RateLimit> limits;
  for (const quota::CompiledQuota* q : ctx.limited) {
    protocol::RateLimit l;
    l.retry_after = static_cast<double>(q->SecondsLeft(ctx.received));
    for (size_t c = 0; c < std::size(protocol::kDataCategoryNames); ++c) {
      if ((q->category_mask >> c) & 1) {
        l.categories.emplace_back(protocol::kDataCategoryNames[c]);
      }
    }
    l.scope = q->scope == config::QuotaScope::kKey ? "key" : "project";
    l.reason_code = q->reason_code;
    limits.push_back(std::move(l));
  }
  Response r;
  r.status = 429;
  r.body = R"({"detail":"rate limited: a quota of this project is exhausted"})";
  r.headers.emplace_back("Retry-After",
                         absl::StrCat(std::max<uint64_t>(ctx.retry_after, 1)));
  r.headers.emplace_back("X-Sentry-Rate-Limits",
                         protocol::FormatRateLimits(limits));
  return r;
}

absl::Status Pipeline::ProduceSessions(Ctx& ctx, const EnvelopeItem& item) {
  protocol::SessionContext sc;
  sc.project_id = ctx.project_id;
  sc.received = ctx.received;
  sc.sdk = ctx.sentry_client;
  const bool aggregates = item.item_type == ItemType::kSessions;
  if (!AdmitItem(ctx, DataCategory::kSession, 1)) {
    EmitOutcome(ctx, Outcome::kRateLimited, RateLimitReason(), std::nullopt,
                DataCategory::kSession, 1);
    return absl::OkStatus();
  }
  absl::Cleanup release = [&] { ReleaseItem(ctx, DataCategory::kSession, 1); };
  if (absl::Status s = sessions_.Encode(item.payload, aggregates, sc);
      !s.ok()) {
    EmitOutcome(ctx, Outcome::kInvalid, ReasonOf(s), std::nullopt,
                DataCategory::kSession, 1);
    counters_.items_invalid.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  // Keyed by project, so one project's sessions stay in order on one
  // partition (the backend aggregates them per project and hour).
  const std::string key = absl::StrCat(ctx.project_id);
  for (const std::string& message : sessions_.messages()) {
    TERN_RETURN_IF_ERROR(ProduceItem(ctx, DataCategory::kSession, 1,
                                     options_.topics.sessions, key, message));
  }
  std::move(release).Cancel();
  EmitOutcome(ctx, Outcome::kAccepted, std::nullopt, std::nullopt,
              DataCategory::kSession, Quantity(sessions_.sessions()));
  counters_.items_accepted.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Pipeline::ForwardItem(Ctx& ctx, const EnvelopeItem& item) {
  protocol::ItemMessage m;
  m.item_type = item.type;
  m.payload = item.payload;
  m.event_id = ctx.envelope_event_id;
  m.project_id = ctx.project_id;
  m.start_time = static_cast<uint64_t>(absl::ToUnixSeconds(ctx.received));
  value_scratch_.clear();
  protocol::EncodeItemMessage(m, &value_scratch_);
  // Keyed like the event it belongs to, else by project, so a consumer sees
  // one project's items in order.
  const std::string key = ctx.envelope_event_id ? ctx.envelope_event_id->ToHex()
                                                : absl::StrCat(ctx.project_id);
  TERN_RETURN_IF_ERROR(ProduceItem(ctx, DataCategory::kDefault, 1,
                                   options_.topics.other, key, value_scratch_));
  EmitOutcome(ctx, Outcome::kAccepted, std::nullopt, ctx.envelope_event_id,
              DataCategory::kDefault, 1);
  counters_.items_accepted.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Pipeline::ProcessEvent(
    Ctx& ctx, std::string_view json, bool is_transaction,
    const std::vector<const EnvelopeItem*>& attachments, bool strict) {
  protocol::NormalizeOptions opts;
  opts.received = ctx.received;
  opts.client_ip = ctx.request.client_ip;
  opts.sentry_client = ctx.sentry_client;
  opts.envelope_event_id = ctx.envelope_event_id;
  opts.is_transaction = is_transaction;
  opts.scrub = ctx.scrub;
  if (absl::Status s = normalizer_.Normalize(json, opts, &normalized_);
      !s.ok()) {
    std::string_view reason = ReasonOf(s);
    EmitOutcome(
        ctx, Outcome::kInvalid, reason, ctx.envelope_event_id,
        is_transaction ? DataCategory::kTransaction : DataCategory::kError, 1);
    counters_.items_invalid.fetch_add(1, std::memory_order_relaxed);
    // The event's attachments go with it.
    for (const EnvelopeItem* a : attachments) {
      EmitOutcome(ctx, Outcome::kInvalid, reason, ctx.envelope_event_id,
                  DataCategory::kAttachment, Quantity(a->payload.size()));
      counters_.items_invalid.fetch_add(1, std::memory_order_relaxed);
    }
    return strict ? s : absl::OkStatus();
  }
  const EventId event_id = normalized_.event_id;
  if (!ctx.response_id) ctx.response_id = event_id;
  const EventId::Hex key = event_id.HexDigits();
  const DataCategory category = CategoryOf(normalized_.type);

  // Inbound filters come before quotas, as in Relay: a filtered event uses
  // no quota. It is answered 200 like an accepted one (the SDK must not
  // retry it) and gives a `filtered` outcome named after the filter, as do
  // its attachments.
  if (ctx.filters != nullptr) {
    if (std::optional<std::string_view> filter =
            inbound_filter_.Check(*ctx.filters, normalized_.json)) {
      EmitOutcome(ctx, Outcome::kFiltered, *filter, event_id, category, 1);
      for (const EnvelopeItem* a : attachments) {
        EmitOutcome(ctx, Outcome::kFiltered, *filter, event_id,
                    DataCategory::kAttachment, Quantity(a->payload.size()));
      }
      counters_.items_filtered.fetch_add(1, std::memory_order_relaxed);
      return absl::OkStatus();
    }
  }
  // Quotas: the event first (refused, it takes its attachments along, as in
  // Relay), then each attachment by its bytes; a refused attachment stays
  // behind and the event goes without it.
  if (!AdmitItem(ctx, category, 1)) {
    const std::optional<std::string_view> reason = RateLimitReason();
    EmitOutcome(ctx, Outcome::kRateLimited, reason, event_id, category, 1);
    for (const EnvelopeItem* a : attachments) {
      EmitOutcome(ctx, Outcome::kRateLimited, reason, event_id,
                  DataCategory::kAttachment, Quantity(a->payload.size()));
    }
    return absl::OkStatus();
  }
  admitted_attachments_.clear();
  for (const EnvelopeItem* a : attachments) {
    if (AdmitItem(ctx, DataCategory::kAttachment, a->payload.size())) {
      admitted_attachments_.push_back(a);
    } else {
      EmitOutcome(ctx, Outcome::kRateLimited, RateLimitReason(), event_id,
                  DataCategory::kAttachment, Quantity(a->payload.size()));
    }
  }
  // Not delivered (Produce failed, the client is told 503 and retries): the
  // units go back.
  absl::Cleanup release = [&] {
    ReleaseItem(ctx, category, 1);
    for (const EnvelopeItem* a : admitted_attachments_) {
      ReleaseItem(ctx, DataCategory::kAttachment, a->payload.size());
    }
  };

  // Attachments first, as Sentry does: the consumer must hold every chunk
  // when the event that lists them arrives.
  attachment_ids_.clear();
  for (size_t i = 0; i < admitted_attachments_.size(); ++i) {
    attachment_ids_.push_back(NewAttachmentId());
  }
  chunked_.clear();
  for (size_t i = 0; i < admitted_attachments_.size(); ++i) {
    const EnvelopeItem& a = *admitted_attachments_[i];
    TERN_RETURN_IF_ERROR(ProduceChunks(ctx, options_.topics.attachments,
                                       event_id, attachment_ids_[i],
                                       a.payload));
    protocol::ChunkedAttachment c;
    c.id = attachment_ids_[i];
    c.name = a.filename.empty() ? "Unnamed Attachment" : a.filename;
    if (!a.content_type.empty()) c.content_type = a.content_type;
    c.attachment_type =
        a.attachment_type.empty() ? "event.attachment" : a.attachment_type;
    c.chunks = protocol::AttachmentChunkCount(a.payload.size());
    c.size = a.payload.size();
    chunked_.push_back(c);
  }

  protocol::EventMessage m;
  m.payload = normalized_.json;
  m.start_time = static_cast<uint64_t>(absl::ToUnixSeconds(ctx.received));
  m.event_id = event_id;
  m.project_id = ctx.project_id;
  if (!ctx.request.client_ip.empty()) m.remote_addr = ctx.request.client_ip;
  // Lend the reusable vector to the message instead of copying it.
  m.attachments.swap(chunked_);
  value_scratch_.clear();
  protocol::EncodeEventMessage(m, &value_scratch_);
  m.attachments.swap(chunked_);

  const std::string& topic = is_transaction ? options_.topics.transactions
                             : admitted_attachments_.empty()
                                 ? options_.topics.events
                                 : options_.topics.attachments;
  TERN_RETURN_IF_ERROR(
      ProduceItem(ctx, category, 1, topic, key.view(), value_scratch_));

  std::move(release).Cancel();
  EmitOutcome(ctx, Outcome::kAccepted, std::nullopt, event_id, category, 1);
  counters_.items_accepted.fetch_add(1, std::memory_order_relaxed);
  for (const EnvelopeItem* a : admitted_attachments_) {
    EmitOutcome(ctx, Outcome::kAccepted, std::nullopt, event_id,
                DataCategory::kAttachment, Quantity(a->payload.size()));
    counters_.items_accepted.fetch_add(1, std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

absl::Status Pipeline::ProduceChunks(Ctx& ctx, std::string_view topic,
                                     const EventId& event_id,
                                     std::string_view id,
                                     std::string_view payload) {
  const EventId::Hex key = event_id.HexDigits();
  const uint64_t n = protocol::AttachmentChunkCount(payload.size());
  for (uint64_t i = 0; i < n; ++i) {
    protocol::AttachmentChunkMessage c;
    c.payload = protocol::AttachmentChunk(payload, i);
    c.event_id = event_id;
    c.project_id = ctx.project_id;
    c.id = id;
    c.chunk_index = i;
    value_scratch_.clear();
    protocol::EncodeAttachmentChunkMessage(c, &value_scratch_);
    TERN_RETURN_IF_ERROR(ProduceItem(ctx, DataCategory::kAttachment,
                                     Quantity(c.payload.size()), topic,
                                     key.view(), value_scratch_));
  }
  return absl::OkStatus();
}

absl::Status Pipeline::ProduceStandaloneAttachment(Ctx& ctx,
                                                   const EnvelopeItem& item,
                                                   const EventId& event_id) {
  if (!AdmitItem(ctx, DataCategory::kAttachment, item.payload.size())) {
    EmitOutcome(ctx, Outcome::kRateLimited, RateLimitReason(), event_id,
                DataCategory::kAttachment, Quantity(item.payload.size()));
    return absl::OkStatus();
  }
  absl::Cleanup release = [&] {
    ReleaseItem(ctx, DataCategory::kAttachment, item.payload.size());
  };
  const std::string id = NewAttachmentId();
  TERN_RETURN_IF_ERROR(ProduceChunks(ctx, options_.topics.attachments, event_id,
                                     id, item.payload));
  protocol::AttachmentMessage m;
  m.event_id = event_id;
  m.project_id = ctx.project_id;
  m.attachment.id = id;
  m.attachment.name =
      item.filename.empty() ? "Unnamed Attachment" : item.filename;
  if (!item.content_type.empty()) m.attachment.content_type = item.content_type;
  m.attachment.attachment_type =
      item.attachment_type.empty() ? "event.attachment" : item.attachment_type;
  m.attachment.chunks = protocol::AttachmentChunkCount(item.payload.size());
  m.attachment.size = item.payload.size();
  value_scratch_.clear();
  protocol::EncodeAttachmentMessage(m, &value_scratch_);
  TERN_RETURN_IF_ERROR(ProduceItem(
      ctx, DataCategory::kAttachment, 0, options_.topics.attachments,
      event_id.HexDigits().view(), value_scratch_));
  std::move(release).Cancel();
  EmitOutcome(ctx, Outcome::kAccepted, std::nullopt, event_id,
              DataCategory::kAttachment, Quantity(item.payload.size()));
  counters_.items_accepted.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

// What the spool keeps with a message for its outcome.
MessageMeta Pipeline::Meta(uint64_t project_id, std::optional<uint64_t> key_id,
                           DataCategory category, uint32_t quantity,
                           absl::Time received) {
  MessageMeta meta;
  meta.project_id = project_id;
  meta.key_id = key_id.value_or(0);
  meta.category = static_cast<uint8_t>(category);
  meta.quantity = quantity;
  meta.received = received;
  return meta;
}

MessageMeta Pipeline::MetaFor(const Ctx& ctx, DataCategory category,
                              uint32_t quantity) {
  return Meta(ctx.project_id, ctx.key_id, category, quantity, ctx.received);
}

absl::Status Pipeline::ProduceItem(const Ctx& ctx, DataCategory category,
                                   uint32_t quantity, std::string_view topic,
                                   std::string_view key,
                                   std::string_view value) {
  absl::Status s =
      sink_->Send(topic, key, value, MetaFor(ctx, category, quantity));
  if (!s.ok()) counters_.produce_errors.fetch_add(1, std::memory_order_relaxed);
  return s;
}

Pipeline::~Pipeline() = default;

void Pipeline::EmitOutcome(Ctx& ctx, Outcome outcome,
                           std::optional<std::string_view> reason,
                           std::optional<EventId> event_id,
                           DataCategory category, uint32_t quantity) {
  if (outcome == Outcome::kInvalid) {
    size_t i = 0;
    while (i + 1 < kInvalidReasonCount && kInvalidReasons[i] != reason) ++i;
    counters_.invalid_by_reason[i].fetch_add(1, std::memory_order_relaxed);
  }
  // Without an event id an outcome is a count: add it to its window's
  // bucket (Relay's outcome aggregator does the same; the client address is
  // not kept, as in its lossy mode). Not `accepted`: that one travels with
  // its item's records, so a turn whose commit fails takes both back.
  if (outcome_window_ms_ > 0 && !event_id && outcome != Outcome::kAccepted) {
    OutcomeKeyView k;
    k.window = absl::ToInt64Milliseconds(ctx.received - absl::UnixEpoch()) /
               outcome_window_ms_;
    k.project_id = ctx.project_id;
    k.key_id = ctx.key_id;
    k.outcome = outcome;
    k.category = category;
    k.reason = reason;
    auto it = outcome_buckets_.find(k);
    if (it == outcome_buckets_.end() &&
        outcome_buckets_.size() < kMaxOutcomeBuckets) {
      it = outcome_buckets_.emplace(OutcomeKey(k), 0).first;
    }
    if (it != outcome_buckets_.end()) {
      it->second += quantity;
      counters_.outcomes_aggregated.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  protocol::OutcomeMessage m;
  m.timestamp = ctx.received;
  m.project_id = ctx.project_id;
  m.key_id = ctx.key_id;
  m.outcome = outcome;
  m.reason = reason;
  m.event_id = event_id;
  if (!ctx.request.client_ip.empty()) m.remote_addr = ctx.request.client_ip;
  m.category = category;
  m.quantity = quantity;
  EventId::Hex key{};
  if (event_id) key = event_id->HexDigits();
  ProduceOutcome(m, event_id ? key.view() : std::string_view(),
                 MetaFor(ctx, category, quantity));
}

void Pipeline::ProduceOutcome(const protocol::OutcomeMessage& m,
                              std::string_view key, const MessageMeta& meta) {
  outcome_scratch_.clear();
  protocol::EncodeOutcome(m, &outcome_scratch_);
  // An outcome is accounting for an item whose fate is already decided (and
  // also counted in counters_), so a full queue here fails nothing.
  absl::Status s =
      sink_->Send(options_.topics.outcomes, key, outcome_scratch_, meta);
  if (!s.ok()) {
    counters_.outcome_produce_errors.fetch_add(1, std::memory_order_relaxed);
  }
}

Pipeline::OutcomeKey::OutcomeKey(const OutcomeKeyView& v) : view(v) {
  if (v.reason) {
    reason = std::string(*v.reason);
    view.reason = reason;
  }
}

size_t Pipeline::FlushOutcomes(absl::Time now, bool all) {
  if (outcome_buckets_.empty()) return 0;
  const int64_t interval_ms = outcome_window_ms_;
  // Windows up to this one (exclusive) have ended.
  const int64_t current =
      absl::ToInt64Milliseconds(now - absl::UnixEpoch()) / interval_ms;
  size_t produced = 0;
  for (auto it = outcome_buckets_.begin(); it != outcome_buckets_.end();) {
    const OutcomeKeyView& k = it->first.view;
    if (!all && k.window >= current) {
      ++it;
      continue;
    }
    protocol::OutcomeMessage m;
    m.timestamp =
        absl::UnixEpoch() + absl::Milliseconds(k.window * interval_ms);
    m.project_id = k.project_id;
    m.key_id = k.key_id;
    m.outcome = k.outcome;
    m.reason = k.reason;
    m.category = k.category;
    // `quantity` is 32 bits on the wire; a larger sum takes several.
    uint64_t left = it->second;
    while (left > 0) {
      const uint32_t q = static_cast<uint32_t>(
          std::min<uint64_t>(left, std::numeric_limits<uint32_t>::max()));
      m.quantity = q;
      ProduceOutcome(m, std::string_view(),
                     Meta(k.project_id, k.key_id, k.category, q, m.timestamp));
      ++produced;
      left -= q;
    }
    outcome_buckets_.erase(it++);
  }
  counters_.outcome_buckets_flushed.fetch_add(produced,
                                              std::memory_order_relaxed);
  return produced;
}

}  // namespace tern::relay::pipeline
