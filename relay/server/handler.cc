#include "relay/server/handler.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/status.h"
#include "protocol/json_writer.h"
#include "relay/project/project_table.h"

namespace tern::relay::server {
namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kEnvelopeType = "application/x-sentry-envelope";
// Bodies of routes that take none (health, metrics, unknown paths): enough
// for a stray form post, small enough that nobody parks memory on it.
constexpr size_t kSmallBody = 64 * 1024;
// How often held requests are checked against their deadline.
constexpr uint64_t kHoldSweepMs = 50;

// The headers browsers may send with a cross-origin store/envelope request,
// and those the SDKs read from the answer; as Relay allows them.
constexpr std::string_view kAllowHeaders =
    "x-sentry-auth, x-requested-with, x-forwarded-for, origin, referer, "
    "accept, content-type, authentication, authorization, content-encoding, "
    "transfer-encoding, sentry-trace, baggage";
constexpr std::string_view kExposeHeaders =
    "x-sentry-error, x-sentry-rate-limits, retry-after";

// What a path names. `id` is the project id of /api/{id}/...; 0 for the
// legacy /api/store/.
struct PathInfo {
  enum Kind : uint8_t { kNone, kStore, kEnvelope, kLive, kReady, kMetrics };
  Kind kind = kNone;
  uint64_t id = 0;
};

// Strips one optional trailing slash from `rest` and tells whether what is
// left equals `word`.
bool IsSegment(std::string_view rest, std::string_view word) {
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  return rest == word;
}

PathInfo ParsePath(std::string_view path) {
  PathInfo info;
  if (path == "/metrics") {
    info.kind = PathInfo::kMetrics;
    return info;
  }
  constexpr std::string_view kApi = "/api/";
  if (path.substr(0, kApi.size()) != kApi) return info;
  std::string_view rest = path.substr(kApi.size());
  constexpr std::string_view kHealth = "relay/healthcheck/";
  if (rest.substr(0, kHealth.size()) == kHealth) {
    rest.remove_prefix(kHealth.size());
    if (IsSegment(rest, "live")) info.kind = PathInfo::kLive;
    if (IsSegment(rest, "ready")) info.kind = PathInfo::kReady;
    return info;
  }
  if (IsSegment(rest, "store")) {
    info.kind = PathInfo::kStore;
    return info;
  }
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 19) return info;
  const std::string_view digits = rest.substr(0, slash);
  if (!std::all_of(digits.begin(), digits.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return info;
  }
  uint64_t id = 0;
  // A project id of 0 names no project: treat the path as unknown.
  if (!absl::SimpleAtoi(ToAbsl(digits), &id) || id == 0) return info;
  rest.remove_prefix(slash + 1);
  if (IsSegment(rest, "store")) info.kind = PathInfo::kStore;
  if (IsSegment(rest, "envelope")) info.kind = PathInfo::kEnvelope;
  if (info.kind != PathInfo::kNone) info.id = id;
  return info;
}

// The value of `name` in a query string (raw, not decoded: DSN keys are hex).
std::string_view QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string_view HeaderOr(const net::HttpRequest& req, std::string_view name) {
  return req.Header(name).value_or(std::string_view());
}

// Everything of a store or envelope request but its body, client address
// and arrival time: what the pipeline reads from the head.
pipeline::Request RequestFrom(const net::HttpRequest& head, bool envelope,
                              uint64_t url_project_id) {
  pipeline::Request pr;
  pr.route =
      envelope ? pipeline::Request::kEnvelope : pipeline::Request::kStore;
  pr.url_project_id = url_project_id;
  pr.x_sentry_auth = HeaderOr(head, "X-Sentry-Auth");
  pr.authorization = HeaderOr(head, "Authorization");
  pr.query = head.query;
  pr.content_encoding = HeaderOr(head, "Content-Encoding");
  pr.content_type = HeaderOr(head, "Content-Type");
  pr.origin = HeaderOr(head, "Origin");
  if (pr.origin.empty()) pr.origin = HeaderOr(head, "Referer");
  return pr;
}

std::string DetailBody(std::string_view detail) {
  std::string body = "{\"detail\":";
  protocol::JsonWriter::AppendQuoted(&body, detail);
  body += '}';
  return body;
}

UdpDrop DropFor(const pipeline::Response& r) {
  if (!r.pending_key.empty()) return UdpDrop::kPending;
  switch (r.status) {
    case 401:
      return UdpDrop::kAuth;
    case 403:
      return UdpDrop::kForbidden;
    case 413:
      return UdpDrop::kTooLarge;
    case 400:
    case 415:
      return UdpDrop::kInvalid;
    case 503:
      return UdpDrop::kBackpressure;
    default:
      return UdpDrop::kOther;
  }
}

}  // namespace

std::string_view UdpDropName(UdpDrop reason) {
  switch (reason) {
    case UdpDrop::kMalformed:
      return "malformed";
    case UdpDrop::kAuth:
      return "auth";
    case UdpDrop::kForbidden:
      return "forbidden";
    case UdpDrop::kPending:
      return "project_pending";
    case UdpDrop::kTooLarge:
      return "too_large";
    case UdpDrop::kInvalid:
      return "invalid";
    case UdpDrop::kBackpressure:
      return "backpressure";
    case UdpDrop::kOther:
      return "other";
    case UdpDrop::kSpoolError:
      return "spool_error";
  }
  return "other";
}

RelayHandler::RelayHandler(net::Worker* worker, const ServerShared* shared,
                           project::TableSlot* slot,
                           pipeline::Pipeline* pipeline,
                           pipeline::MessageSink* commit_sink)
    : shared_(shared),
      slot_(slot),
      pipeline_(pipeline),
      commit_sink_(commit_sink),
      hold_timer_(worker) {
  if (commit_sink_ != nullptr) {
    commit_hook_ =
        std::make_unique<net::TurnHook>(worker, [this] { CommitTurn(); });
  }
}

RelayHandler::~RelayHandler() = default;

void RelayHandler::FlushOutcomes(bool all) {
  if (pipeline_->FlushOutcomes(absl::Now(), all) == 0) return;
  // Nobody waits for these records; the hook writes them with the turn's
  // other records (or alone when the worker is idle).
  if (commit_sink_ != nullptr && commit_sink_->HasUncommitted()) {
    commit_hook_->Arm();
  }
}

net::HeadVerdict RelayHandler::OnHeaders(const net::HttpRequest& head,
                                         size_t /*default_max_body_bytes*/) {
  net::HeadVerdict verdict;
  verdict.max_body_bytes = kSmallBody;
  if (head.method != "POST") return verdict;
  const PathInfo path = ParsePath(head.path);
  if (path.kind == PathInfo::kEnvelope) {
    verdict.max_body_bytes = shared_->max_envelope_size;
  } else if (path.kind == PathInfo::kStore) {
    // A store request may carry an envelope (by content type), with the
    // envelope's limit; the pipeline applies the per-event limit inside.
    const bool envelope = absl::StartsWithIgnoreCase(
        ToAbsl(HeaderOr(head, "Content-Type")), ToAbsl(kEnvelopeType));
    verdict.max_body_bytes =
        envelope ? shared_->max_envelope_size : shared_->max_event_size;
  }
  if (path.kind == PathInfo::kStore || path.kind == PathInfo::kEnvelope) {
    RejectBeforeUpload(
        head,
        Target{path.kind == PathInfo::kStore ? kStore : kEnvelope, path.id},
        &verdict);
  }
  return verdict;
}

void RelayHandler::RejectBeforeUpload(const net::HttpRequest& head,
                                      Target target,
                                      net::HeadVerdict* verdict) {
  // Only for `Expect: 100-continue`: the client waits for our word before
  // uploading, so a refused key costs it no upload. Without Expect the body
  // is on its way anyway, and an early answer would close the connection
  // (the stream cannot be resynchronised) where a normal 401/403 keeps it.
  if (!absl::EqualsIgnoreCase(ToAbsl(HeaderOr(head, "Expect")),
                              "100-continue")) {
    return;
  }
  const absl::Status s = pipeline_->CheckAuthInHead(
      RequestFrom(head, target.route == kEnvelope, target.url_project_id),
      slot_->table());
  if (s.ok()) return;
  verdict->reject_status = HttpStatusFor(s);
  verdict->reject_detail = std::string(s.message());
}

void RelayHandler::Send(Route route, net::HttpResponder& responder, int status,
                        std::span<const net::HttpHeader> headers,
                        std::string_view body, bool close_after) {
  counters_.responses[route][std::clamp(status / 100, 0, 5)].fetch_add(
      1, std::memory_order_relaxed);
  responder.Send(status, headers, body, close_after);
}

void RelayHandler::OnRequest(net::HttpRequest& req,
                             std::unique_ptr<net::HttpResponder> responder) {
  const PathInfo path = ParsePath(req.path);
  const net::HttpHeader json[] = {{"Content-Type", kJson}};
  switch (path.kind) {
    case PathInfo::kNone:
      Send(kOther, *responder, 404, json, DetailBody("not found"));
      return;
    case PathInfo::kLive:
    case PathInfo::kReady: {
      if (req.method != "GET" && req.method != "HEAD") {
        const net::HttpHeader h[] = {{"Content-Type", kJson},
                                     {"Allow", "GET, HEAD"}};
        Send(kHealth, *responder, 405, h, DetailBody("method not allowed"));
        return;
      }
      const bool ok =
          path.kind == PathInfo::kLive || (shared_->ready && shared_->ready());
      Send(kHealth, *responder, ok ? 200 : 503, json,
           ok ? "{\"is_healthy\":true}" : "{\"is_healthy\":false}");
      return;
    }
    case PathInfo::kMetrics: {
      if (!shared_->metrics_enabled || !shared_->metrics) {
        Send(kOther, *responder, 404, json, DetailBody("not found"));
        return;
      }
      if (req.method != "GET" && req.method != "HEAD") {
        const net::HttpHeader h[] = {{"Content-Type", kJson},
                                     {"Allow", "GET, HEAD"}};
        Send(kMetrics, *responder, 405, h, DetailBody("method not allowed"));
        return;
      }
      const std::string text = shared_->metrics();
      const net::HttpHeader h[] = {
          {"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
      Send(kMetrics, *responder, 200, h, text);
      return;
    }
    case PathInfo::kStore:
    case PathInfo::kEnvelope:
      if (req.method != "POST" && req.method != "OPTIONS") {
        const net::HttpHeader h[] = {{"Content-Type", kJson},
                                     {"Allow", "POST, OPTIONS"}};
        Send(path.kind == PathInfo::kStore ? kStore : kEnvelope, *responder,
             405, h, DetailBody("method not allowed"));
        return;
      }
      {
        const Target target{
            req.method == "OPTIONS"
                ? kOptions
                : (path.kind == PathInfo::kStore ? kStore : kEnvelope),
            path.id};
        const absl::Time now = absl::Now();
        Dispatch(req, target, std::move(responder), /*retry=*/false, now,
                 now + shared_->fetch_wait);
      }
      return;
  }
}

void RelayHandler::Dispatch(net::HttpRequest& req, Target target,
                            std::unique_ptr<net::HttpResponder> responder,
                            bool retry, absl::Time now, absl::Time deadline) {
  pipeline::Response r;
  if (target.route == kOptions) {
    r = Preflight(req, target.url_project_id);
  } else {
    pipeline::Request pr =
        RequestFrom(req, target.route == kEnvelope, target.url_project_id);
    pr.client_ip = req.remote_ip;
    pr.body = req.body;
    pr.received = now;
    r = pipeline_->Handle(pr, slot_->table());
  }
  if (!r.pending_key.empty() && shared_->want_key && now < deadline) {
    Want(r.pending_key);
    if (!retry) counters_.held.fetch_add(1, std::memory_order_relaxed);
    held_.push_back(
        Held{&req, target, std::move(responder), std::move(r), deadline});
    counters_.held_now.store(held_.size(), std::memory_order_relaxed);
    StartHoldTimer();
    return;
  }
  Answer(target.route, req, std::move(responder), std::move(r));
}

void RelayHandler::StartHoldTimer() {
  if (!hold_timer_.active()) {
    hold_timer_.Start(kHoldSweepMs, kHoldSweepMs, [this] { SweepHeld(); });
  }
}

void RelayHandler::StopHoldTimerIfIdle() {
  if (held_.empty() && held_datagrams_.empty()) hold_timer_.Stop();
}

void RelayHandler::Answer(Route route, net::HttpRequest& req,
                          std::unique_ptr<net::HttpResponder> responder,
                          pipeline::Response r) {
  if (commit_sink_ != nullptr && commit_sink_->HasUncommitted()) {
    deferred_.push_back(
        Deferred{route, &req, std::move(responder), std::move(r)});
    commit_hook_->Arm();
    return;
  }
  SendPipelineResponse(route, req, *responder, r);
}

void RelayHandler::CommitTurn() {
  const absl::Status committed = commit_sink_->Commit();
  if (deferred_datagrams_ > 0) {
    if (committed.ok()) {
      counters_.udp_accepted.fetch_add(deferred_datagrams_,
                                       std::memory_order_relaxed);
    } else {
      counters_.udp_dropped[static_cast<int>(UdpDrop::kSpoolError)].fetch_add(
          deferred_datagrams_, std::memory_order_relaxed);
    }
    deferred_datagrams_ = 0;
  }
  // Swapped out first: sending an answer may run the connection's next
  // request at once, which may defer its answer to the next turn.
  std::vector<Deferred> turn;
  turn.swap(deferred_);
  for (Deferred& d : turn) {
    if (!d.responder->connected()) continue;  // d.req is gone with it
    if (!committed.ok() && d.response.status / 100 == 2) {
      pipeline::Response r;
      r.status = 503;
      r.body = DetailBody(std::string_view(committed.message().data(),
                                           committed.message().size()));
      r.headers.emplace_back(
          "Retry-After",
          absl::StrCat(absl::ToInt64Seconds(shared_->retry_after)));
      d.response = std::move(r);
    }
    SendPipelineResponse(d.route, *d.req, *d.responder, d.response);
  }
}

pipeline::Response RelayHandler::Preflight(const net::HttpRequest& req,
                                           uint64_t url_project_id) {
  pipeline::Response r;
  std::string_view origin = HeaderOr(req, "Origin");
  const project::ProjectTable& table = slot_->table();
  const std::string_view key = QueryParam(req.query, "sentry_key");
  absl::Status allowed;
  if (!key.empty()) {
    allowed = project::CheckKey(table, key, url_project_id, origin, nullptr);
    if (absl::IsUnavailable(allowed)) r.pending_key = std::string(key);
  } else if (const project::ProjectSettings* p =
                 table.FindProject(url_project_id);
             p == nullptr) {
    allowed = absl::PermissionDeniedError("unknown project");
  } else if (!project::OriginAllowed(*p, origin)) {
    allowed = absl::PermissionDeniedError("origin not allowed");
  }
  if (!allowed.ok()) {
    r.status = absl::IsUnavailable(allowed) ? 503 : 403;
    r.body = DetailBody(
        std::string_view(allowed.message().data(), allowed.message().size()));
    return r;
  }
  r.status = 200;
  r.headers.emplace_back("Access-Control-Allow-Origin",
                         origin.empty() ? "*" : std::string(origin));
  r.headers.emplace_back("Access-Control-Allow-Methods", "POST, OPTIONS");
  r.headers.emplace_back("Access-Control-Allow-Headers",
                         std::string(kAllowHeaders));
  r.headers.emplace_back("Access-Control-Max-Age", "3600");
  r.headers.emplace_back("Vary", "Origin");
  return r;
}

void RelayHandler::SendPipelineResponse(Route route,
                                        const net::HttpRequest& req,
                                        net::HttpResponder& responder,
                                        const pipeline::Response& r) {
  absl::InlinedVector<net::HttpHeader, 8> headers;
  if (!r.body.empty()) headers.push_back({"Content-Type", kJson});
  for (const auto& [name, value] : r.headers) headers.push_back({name, value});
  // Browsers read the answer of a cross-origin POST only with these; a
  // request whose origin was refused (403) gets none.
  const std::string_view origin = HeaderOr(req, "Origin");
  if (route != kOptions && !origin.empty() && r.status != 403) {
    headers.push_back({"Access-Control-Allow-Origin", origin});
    headers.push_back({"Access-Control-Expose-Headers", kExposeHeaders});
    headers.push_back({"Vary", "Origin"});
  }
  Send(route, responder, r.status, headers, r.body);
}

void RelayHandler::Want(const std::string& key) {
  if (!shared_->want_key) return;
  if (wanted_.insert(key).second) shared_->want_key(key);
}

void RelayHandler::OnTableInstalled() {
  // The control plane may have answered any of the keys we asked for; keys
  // still pending are asked for again on their next miss.
  wanted_.clear();
  if (!held_datagrams_.empty()) {
    std::deque<HeldDatagram> datagrams;
    datagrams.swap(held_datagrams_);
    held_datagram_bytes_ = 0;
    const absl::Time now = absl::Now();
    for (HeldDatagram& d : datagrams) {
      ProcessDatagram(d.data, d.split, d.client_ip, /*retry=*/true, now,
                      d.deadline);
    }
    counters_.udp_held_now.store(held_datagrams_.size(),
                                 std::memory_order_relaxed);
    StopHoldTimerIfIdle();
  }
  if (held_.empty()) return;
  std::deque<Held> held;
  held.swap(held_);
  // Counted before any of them is answered, so whoever reads the answer
  // reads the gauge without them (a request still pending is held again
  // below and counted again).
  counters_.held_now.store(0, std::memory_order_relaxed);
  const absl::Time now = absl::Now();
  for (Held& h : held) {
    if (!h.responder->connected()) continue;
    Dispatch(*h.req, h.target, std::move(h.responder), /*retry=*/true, now,
             h.deadline);
  }
  counters_.held_now.store(held_.size(), std::memory_order_relaxed);
  StopHoldTimerIfIdle();
}

void RelayHandler::SweepHeld() {
  const absl::Time now = absl::Now();
  // Datagrams are held oldest first with one fetch_wait each, so the
  // expired ones are at the front.
  while (!held_datagrams_.empty() && held_datagrams_.front().deadline <= now) {
    held_datagram_bytes_ -= held_datagrams_.front().data.size();
    held_datagrams_.pop_front();
    counters_.udp_dropped[static_cast<int>(UdpDrop::kPending)].fetch_add(
        1, std::memory_order_relaxed);
  }
  counters_.udp_held_now.store(held_datagrams_.size(),
                               std::memory_order_relaxed);
  std::deque<Held> keep;
  std::deque<Held> expired;
  for (Held& h : held_) {
    if (!h.responder->connected()) continue;
    (now < h.deadline ? keep : expired).push_back(std::move(h));
  }
  held_.swap(keep);
  // The gauge and the timeout count move before the answers go out, so
  // whoever reads an answer reads counters that include it.
  counters_.held_now.store(held_.size(), std::memory_order_relaxed);
  counters_.held_timeouts.fetch_add(expired.size(), std::memory_order_relaxed);
  for (Held& h : expired) {
    SendPipelineResponse(h.target.route, *h.req, *h.responder, h.last);
  }
  StopHoldTimerIfIdle();
}

void RelayHandler::ReleaseHeld() {
  for (Held& h : held_) h.deadline = absl::InfinitePast();
  for (HeldDatagram& d : held_datagrams_) d.deadline = absl::InfinitePast();
  SweepHeld();
}

void RelayHandler::OnDatagram(std::string_view data, const sockaddr* peer) {
  // An envelope datagram (its header's dsn is the auth), or
  // "<auth>\n\n<body>" split where the auth ends.
  size_t split = 0;
  if (data.empty() || data.front() != '{') {
    split = data.find("\n\n");
    if (split == std::string_view::npos || split == 0) {
      counters_.udp_dropped[static_cast<int>(UdpDrop::kMalformed)].fetch_add(
          1, std::memory_order_relaxed);
      return;
    }
  }
  const std::string_view ip = peer_ip_.Get(peer);
  const absl::Time now = absl::Now();
  ProcessDatagram(data, split, ip, /*retry=*/false, now,
                  now + shared_->fetch_wait);
}

void RelayHandler::ProcessDatagram(std::string_view data, size_t split,
                                   std::string_view client_ip, bool retry,
                                   absl::Time now, absl::Time deadline) {
  pipeline::Request pr;
  if (split == 0) {
    pr.route = pipeline::Request::kEnvelope;
    pr.body = data;
  } else {
    pr.route = pipeline::Request::kStore;
    pr.x_sentry_auth = data.substr(0, split);
    pr.body = data.substr(split + 2);
  }
  pr.client_ip = client_ip;
  pr.received = now;
  const pipeline::Response r = pipeline_->Handle(pr, slot_->table());
  if (r.status == 200) {
    if (commit_sink_ != nullptr && commit_sink_->HasUncommitted()) {
      // Counted once its records are on disk (CommitTurn).
      ++deferred_datagrams_;
      commit_hook_->Arm();
      return;
    }
    counters_.udp_accepted.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!r.pending_key.empty()) {
    Want(r.pending_key);
    if (shared_->want_key && now < deadline &&
        held_datagrams_.size() < kMaxHeldDatagrams &&
        held_datagram_bytes_ + data.size() <= kMaxHeldDatagramBytes) {
      if (!retry) counters_.udp_held.fetch_add(1, std::memory_order_relaxed);
      held_datagram_bytes_ += data.size();
      held_datagrams_.push_back(HeldDatagram{std::string(data), split,
                                             std::string(client_ip), deadline});
      counters_.udp_held_now.store(held_datagrams_.size(),
                                   std::memory_order_relaxed);
      StartHoldTimer();
      return;
    }
  }
  counters_.udp_dropped[static_cast<int>(DropFor(r))].fetch_add(
      1, std::memory_order_relaxed);
}

}  // namespace tern::relay::server
