#include "backend/api/handler.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "backend/alerts/rule.h"
#include "backend/api/format.h"
#include "backend/api/query.h"
#include "backend/api/upload.h"
#include "backend/grouping/enhancers.h"
#include "backend/grouping/fingerprinting.h"
#include "backend/grouping/grouping.h"
#include "common/http_status.h"
#include "common/status.h"
#include "protocol/json_value.h"
#include "protocol/json_writer.h"
#include "protocol/project_config.h"
#include "spdlog/spdlog.h"

namespace tern::api {
namespace {

using Reply = ApiHandler::Reply;

constexpr std::string_view kPrefix = "/api/0/";
// Seconds a client waits before retrying after a 503 (the store was busy or
// unreachable; SQLite's busy timeout already waited a moment).
constexpr std::string_view kRetryAfterSeconds = "1";

bool OwnedByApi(std::string_view path) {
  return path == "/api/0" || path.substr(0, kPrefix.size()) == kPrefix;
}

Reply Detail(int status, std::string_view detail) {
  Reply r;
  r.status = status;
  r.body = "{\"detail\":";
  // Details are ASCII, but some quote the request (a query token, a parser
  // message); a byte that is not printable ASCII becomes '?', so the body is
  // valid UTF-8 JSON whatever the client sent.
  std::string text(detail);
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  protocol::JsonWriter::AppendQuoted(&r.body, text);
  r.body += '}';
  return r;
}

// The status's message as the detail.
Reply Detail(int status, const absl::Status& error) {
  return Detail(
      status, std::string_view(error.message().data(), error.message().size()));
}

Reply MethodNotAllowed(std::string_view allow) {
  Reply r = Detail(405, "method not allowed");
  r.allow = allow;
  return r;
}

// The path's segments after /api/0/, one trailing slash dropped. An empty
// segment (a doubled slash) makes the path unknown: nullopt.
std::optional<std::vector<std::string_view>> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.size() <= kPrefix.size()) return out;  // "/api/0" or "/api/0/"
  std::string_view rest = path.substr(kPrefix.size());
  if (rest.back() == '/') rest.remove_suffix(1);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    if (seg.empty() || out.size() == 8) return std::nullopt;
    out.push_back(seg);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return out;
}

// A positive decimal id of at most 18 digits (so it fits an int64).
std::optional<int64_t> ParseId(std::string_view text) {
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(),
                   [](char c) { return absl::ascii_isdigit(c); })) {
    return std::nullopt;
  }
  int64_t id = 0;
  if (!absl::SimpleAtoi(ToAbsl(text), &id) || id <= 0) return std::nullopt;
  return id;
}

// "http://<host><path>" for Link headers when the Host header is a plain
// host[:port]; otherwise just the path (a relative reference, which RFC 8288
// allows), so no client-supplied byte can break the header.
std::string BaseUrl(const net::HttpRequest& req) {
  const std::string_view host = req.Header("Host").value_or("");
  const bool safe = !host.empty() && host.size() <= 255 &&
                    std::all_of(host.begin(), host.end(), [](char c) {
                      return absl::ascii_isalnum(c) || c == '.' || c == '-' ||
                             c == ':' || c == '[' || c == ']';
                    });
  return safe ? absl::StrCat("http://", ToAbsl(host), ToAbsl(req.path))
              : std::string(req.path);
}

}  // namespace

bool TokenEquals(std::string_view given, std::string_view expected) {
  volatile unsigned char diff = given.size() != expected.size() ? 1 : 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g =
        i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff = diff | (g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

ApiHandler::ApiHandler(storage::Store* store, ApiAuth auth,
                       net::HttpHandler* extra)
    : store_(store), auth_(std::move(auth)), extra_(extra) {}

ApiHandler::~ApiHandler() = default;

net::HeadVerdict ApiHandler::OnHeaders(const net::HttpRequest& head,
                                       size_t default_max_body_bytes) {
  if (!OwnedByApi(head.path)) {
    if (extra_ != nullptr) {
      return extra_->OnHeaders(head, default_max_body_bytes);
    }
  }
  net::HeadVerdict verdict;
  verdict.max_body_bytes = kMaxApiBodyBytes;
  if (uploads_ != nullptr && uploads_->Owns(head.path)) {
    verdict.max_body_bytes = uploads_->MaxBodyBytes(head.path);
    return verdict;
  }
  if (head.method == "POST" &&
      absl::StartsWith(ToAbsl(head.path), "/api/0/relays/projectconfigs")) {
    verdict.max_body_bytes = kMaxProjectConfigsBodyBytes;
  }
  return verdict;
}

void ApiHandler::OnRequest(net::HttpRequest& req,
                           std::unique_ptr<net::HttpResponder> responder) {
  if (!OwnedByApi(req.path)) {
    if (extra_ != nullptr) {
      extra_->OnRequest(req, std::move(responder));
    } else {
      Send(*responder, req, Detail(404, "not found"));
    }
    return;
  }
  counters_.requests.Add();
  Send(*responder, req, Route(req));
}

void ApiHandler::Send(net::HttpResponder& responder,
                      const net::HttpRequest& req, const Reply& reply) {
  absl::InlinedVector<net::HttpHeader, 4> headers;
  headers.push_back({"Content-Type", "application/json"});
  if (!reply.link.empty()) headers.push_back({"Link", reply.link});
  if (!reply.allow.empty()) headers.push_back({"Allow", reply.allow});
  if (reply.retry_after) {
    headers.push_back({"Retry-After", kRetryAfterSeconds});
  }
  if (reply.status == 401) {
    headers.push_back({"WWW-Authenticate", "Bearer"});
  }
  if (reply.status < 300) {
    counters_.responses_2xx.Add();
  } else if (reply.status < 500) {
    counters_.responses_4xx.Add();
  } else {
    counters_.responses_5xx.Add();
  }
  responder.Send(reply.status, headers, reply.body);
}

Reply ApiHandler::StoreError(const absl::Status& status,
                             std::string_view what) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return Detail(404, absl::StrCat(ToAbsl(what), " not found"));
    case absl::StatusCode::kInvalidArgument:
      return Detail(400, status);
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded: {
      counters_.store_unavailable.Add();
      Reply r = Detail(503, "the store is unavailable; retry later");
      r.retry_after = true;
      return r;
    }
    default:
      // The detail stays generic: store messages can name tables and paths.
      counters_.store_errors.Add();
      spdlog::error("api: store error ({}): {}", what, status.ToString());
      return Detail(500, "internal error");
  }
}

bool ApiHandler::Authorized(const net::HttpRequest& req,
                            std::string_view token) {
  const std::string_view header = req.Header("Authorization").value_or("");
  constexpr std::string_view kBearer = "bearer ";
  bool ok = !token.empty() && header.size() > kBearer.size() &&
            absl::EqualsIgnoreCase(ToAbsl(header.substr(0, kBearer.size())),
                                   ToAbsl(kBearer));
  if (ok) {
    std::string_view given = header.substr(kBearer.size());
    while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
    while (!given.empty() && given.back() == ' ') given.remove_suffix(1);
    ok = TokenEquals(given, token);
  }
  if (!ok) counters_.unauthorized.Add();
  return ok;
}

Reply ApiHandler::Route(const net::HttpRequest& req) {
  if (uploads_ != nullptr && uploads_->Owns(req.path)) {
    Reply r = uploads_->Handle(req);
    if (r.status == 401) counters_.unauthorized.Add();
    return r;
  }
  const auto segments = Segments(req.path);
  if (!segments || segments->empty()) return Detail(404, "not found");
  const auto& s = *segments;
  const std::string_view method = req.method;
  auto unauthorized = [] {
    return Detail(401,
                  "authentication credentials were not provided or "
                  "are invalid");
  };

  if (s[0] == "projects") {
    if (s.size() == 1) {
      if (method != "GET") return MethodNotAllowed("GET");
      if (!Authorized(req, auth_.api_token)) return unauthorized();
      return ListProjects();
    }
    // /projects/{project}/ or Sentry's /projects/{org}/{project}/
    if (s.size() == 2 || (s.size() == 3 && s[2] != "rules" &&
                          s[2] != "notifications" && s[2] != "issues")) {
      if (method != "GET" && method != "PUT")
        return MethodNotAllowed("GET, PUT");
      if (!Authorized(req, auth_.api_token)) return unauthorized();
      return ProjectDetails(req, s.back());
    }
    // /projects/{project}/rules/[{id}/] and /projects/{project}/notifications/
    if (s.size() == 3 && s[2] == "rules") {
      if (method != "GET" && method != "POST") {
        return MethodNotAllowed("GET, POST");
      }
      if (!Authorized(req, auth_.api_token)) return unauthorized();
      return method == "GET" ? ListRules(s[1]) : CreateRule(req, s[1]);
    }
    if (s.size() == 4 && s[2] == "rules") {
      if (method != "GET" && method != "PUT" && method != "DELETE") {
        return MethodNotAllowed("GET, PUT, DELETE");
      }
      if (!Authorized(req, auth_.api_token)) return unauthorized();
      const std::optional<int64_t> id = ParseId(s[3]);
      if (!id) return Detail(400, "rule id: expected a positive integer");
      return RuleById(req, s[1], *id);
    }
    if (s.size() == 3 && s[2] == "notifications") {
      if (method != "GET") return MethodNotAllowed("GET");
      if (!Authorized(req, auth_.api_token)) return unauthorized();
      return ListNotifications(req, s[1]);
    }
    // /projects/{project}/issues/ or Sentry's /projects/{org}/{project}/...
    if ((s.size() == 3 || s.size() == 4) && s.back() == "issues") {
      if (method != "GET") return MethodNotAllowed("GET");
      if (!Authorized(req, auth_.api_token)) return unauthorized();
      return ListIssues(req, s[s.size() - 2]);
    }
    return Detail(404, "not found");
  }

  if (s[0] == "issues" && s.size() >= 2 && s.size() <= 4) {
    enum { kIssue, kEvents, kLatest } kind;
    if (s.size() == 2) {
      kind = kIssue;
    } else if (s[2] == "events" && s.size() == 3) {
      kind = kEvents;
    } else if (s[2] == "events" && s[3] == "latest") {
      kind = kLatest;
    } else {
      return Detail(404, "not found");
    }
    const bool put_ok = kind == kIssue && method == "PUT";
    if (method != "GET" && !put_ok) {
      return MethodNotAllowed(kind == kIssue ? "GET, PUT" : "GET");
    }
    if (!Authorized(req, auth_.api_token)) return unauthorized();
    const std::optional<int64_t> id = ParseId(s[1]);
    if (!id) return Detail(400, "issue id: expected a positive integer");
    switch (kind) {
      case kIssue:
        return put_ok ? PutIssue(req, *id) : GetIssue(*id);
      case kEvents:
        return ListEvents(req, *id);
      case kLatest:
        return LatestEvent(*id);
    }
  }

  if (s.size() == 2 && s[0] == "relays" && s[1] == "projectconfigs") {
    if (method != "POST") return MethodNotAllowed("POST");
    if (!Authorized(req, auth_.relay_token)) return unauthorized();
    return ProjectConfigs(req);
  }
  return Detail(404, "not found");
}

Reply ApiHandler::ListProjects() {
  auto projects = store_->ListProjects();
  if (!projects.ok()) return StoreError(projects.status(), "projects");
  Reply r;
  protocol::JsonWriter w(&r.body);
  w.BeginArray();
  for (const storage::Project& p : *projects) WriteProject(w, p);
  w.EndArray();
  return r;
}

Reply ApiHandler::ProjectDetails(const net::HttpRequest& req,
                                 std::string_view project_ref) {
  absl::StatusOr<storage::Project> project = FindProject(project_ref);
  if (!project.ok()) return StoreError(project.status(), "project");
  if (req.method == "PUT") {
    auto body = protocol::ParseJson(req.body);
    if (!body.ok()) {
      return Detail(400, absl::StrCat("body: ", body.status().message()));
    }
    if (!body->is_object()) return Detail(400, "body: expected a JSON object");
    std::string fingerprinting = project->fingerprinting_rules;
    std::string stacktrace = project->stacktrace_rules;
    for (const auto& [key, value] : body->members()) {
      if (key == "fingerprintingRules") {
        if (!value.is_string()) {
          return Detail(400, "fingerprintingRules: expected a string");
        }
        // Refused with Sentry's message (and where) rather than stored and
        // ignored at ingest.
        absl::StatusOr<grouping::FingerprintingRules> parsed =
            grouping::FingerprintingRules::Parse(value.string());
        if (!parsed.ok()) {
          return Detail(400, absl::StrCat("fingerprintingRules: ",
                                          parsed.status().message()));
        }
        fingerprinting = std::string(value.string());
      } else if (key == "groupingEnhancements") {
        if (!value.is_string()) {
          return Detail(400, "groupingEnhancements: expected a string");
        }
        absl::StatusOr<grouping::Enhancements> parsed =
            grouping::ParseProjectStacktraceRules(value.string());
        if (!parsed.ok()) {
          return Detail(400, absl::StrCat("groupingEnhancements: ",
                                          parsed.status().message()));
        }
        stacktrace = std::string(value.string());
      } else {
        return Detail(400, absl::StrCat(ToAbsl(key),
                                        ": not a field that can be set "
                                        "(fingerprintingRules and "
                                        "groupingEnhancements can)"));
      }
    }
    if (absl::Status st =
            store_->SetProjectRules(project->id, fingerprinting, stacktrace);
        !st.ok()) {
      return StoreError(st, "project");
    }
    project->fingerprinting_rules = std::move(fingerprinting);
    project->stacktrace_rules = std::move(stacktrace);
  }
  Reply r;
  protocol::JsonWriter w(&r.body);
  WriteProjectDetails(w, *project);
  return r;
}

Reply ApiHandler::ListIssues(const net::HttpRequest& req,
                             std::string_view project_ref) {
  auto params = ParseIssueListParams(req.query);
  if (!params.ok()) return Detail(400, params.status());
  absl::StatusOr<storage::Project> project = FindProject(project_ref);
  if (!project.ok()) return StoreError(project.status(), "project");
  params->query.project_id = project->id;
  auto page = store_->ListIssues(params->query);
  if (!page.ok()) return StoreError(page.status(), "issues");
  Reply r;
  protocol::JsonWriter w(&r.body);
  w.BeginArray();
  for (const storage::Issue& issue : page->issues) {
    WriteIssue(w, issue, *project);
  }
  w.EndArray();
  r.link = LinkHeader(BaseUrl(req), params->link_query,
                      page->next ? EncodeIssueCursor(*page->next) : "");
  return r;
}

absl::StatusOr<storage::Project> ApiHandler::FindProject(
    std::string_view project_ref) {
  // A slug may be all digits too ("2024"): an id that names no project is
  // tried as a slug.
  absl::StatusOr<storage::Project> project =
      absl::NotFoundError("no such project");
  if (const std::optional<int64_t> id = ParseId(project_ref)) {
    project = store_->GetProject(*id);
  }
  if (project.status().code() == absl::StatusCode::kNotFound) {
    project = store_->GetProjectBySlug(project_ref);
  }
  return project;
}

namespace {

// A stored rule as the API shows it: its id and times, then the rule's own
// fields (the canonical JSON the store keeps, alerts::RuleJson).
std::string RuleBody(const storage::AlertRule& rule,
                     const storage::Project& project) {
  std::string out;
  protocol::JsonWriter w(&out);
  w.BeginObject();
  w.Key("id");
  w.String(absl::StrCat(rule.id));
  w.Key("project");
  w.String(project.slug);
  w.Key("dateCreated");
  w.String(FormatTimeMs(rule.created_ms));
  w.Key("dateUpdated");
  w.String(FormatTimeMs(rule.updated_ms));
  w.EndObject();
  // Splice the definition's members in: drop our '}' and the definition's
  // '{' (a stored definition is never empty: a rule has a name).
  if (rule.definition_json.size() > 2 && rule.definition_json[0] == '{') {
    out.pop_back();
    out += ',';
    out.append(rule.definition_json, 1);
  }
  return out;
}

void WriteNotification(protocol::JsonWriter& w, const storage::OutboxEntry& o,
                       const storage::Project& project) {
  w.BeginObject();
  w.Key("id");
  w.String(absl::StrCat(o.id));
  w.Key("project");
  w.String(project.slug);
  w.Key("rule");
  if (o.rule_id == 0) {
    w.Null();
  } else {
    w.String(absl::StrCat(o.rule_id));
  }
  w.Key("issue");
  if (o.issue_id == 0) {
    w.Null();
  } else {
    w.String(absl::StrCat(o.issue_id));
  }
  w.Key("trigger");
  w.String(o.trigger);
  w.Key("targetType");
  w.String(o.target_kind);
  // Where it went, without a webhook's secret.
  w.Key("target");
  absl::StatusOr<alerts::Target> t = alerts::ParseTargetJson(o.target_json);
  if (!t.ok()) {
    w.Null();
  } else if (t->kind == alerts::TargetKind::kEmail) {
    w.String(absl::StrJoin(t->to, ", "));
  } else {
    w.String(t->url);
  }
  w.Key("eventID");
  w.String(o.event_id);
  w.Key("status");
  w.String(storage::OutboxStatusName(o.status));
  w.Key("attempts");
  w.Int(o.attempts);
  w.Key("lastError");
  w.String(o.last_error);
  w.Key("dateCreated");
  w.String(FormatTimeMs(o.created_ms));
  w.Key("dateSent");
  if (o.sent_ms == 0) {
    w.Null();
  } else {
    w.String(FormatTimeMs(o.sent_ms));
  }
  w.Key("nextAttempt");
  w.String(FormatTimeMs(o.next_attempt_ms));
  w.EndObject();
}

}  // namespace

Reply ApiHandler::ListRules(std::string_view project_ref) {
  absl::StatusOr<storage::Project> project = FindProject(project_ref);
  if (!project.ok()) return StoreError(project.status(), "project");
  auto rules = store_->ListAlertRules(project->id);
  if (!rules.ok()) return StoreError(rules.status(), "rules");
  Reply r;
  protocol::JsonWriter w(&r.body);
  w.BeginArray();
  for (const storage::AlertRule& rule : *rules) {
    w.Raw(RuleBody(rule, *project));
  }
  w.EndArray();
  return r;
}

Reply ApiHandler::CreateRule(const net::HttpRequest& req,
                             std::string_view project_ref) {
  absl::StatusOr<storage::Project> project = FindProject(project_ref);
  if (!project.ok()) return StoreError(project.status(), "project");
  absl::StatusOr<alerts::Rule> rule = alerts::ParseRule(req.body);
  if (!rule.ok()) return Detail(400, rule.status());
  auto stored = store_->CreateAlertRule(project->id, alerts::RuleJson(*rule));
  if (!stored.ok()) return StoreError(stored.status(), "rule");
  Reply r;
  r.status = 201;
  r.body = RuleBody(*stored, *project);
  return r;
}

Reply ApiHandler::RuleById(const net::HttpRequest& req,
                           std::string_view project_ref, int64_t rule_id) {
  absl::StatusOr<storage::Project> project = FindProject(project_ref);
  if (!project.ok()) return StoreError(project.status(), "project");
  auto existing = store_->GetAlertRule(rule_id);
  if (!existing.ok()) return StoreError(existing.status(), "rule");
  // Another project's rule is not found here.
  if (existing->project_id != project->id) {
    return StoreError(absl::NotFoundError("no such rule"), "rule");
  }
  Reply r;
  if (req.method == "DELETE") {
    if (absl::Status s = store_->DeleteAlertRule(rule_id); !s.ok()) {
      return StoreError(s, "rule");
    }
    r.status = 204;
    return r;
  }
  storage::AlertRule shown = *existing;
  if (req.method == "PUT") {
    absl::StatusOr<alerts::Rule> rule = alerts::ParseRule(req.body);
    if (!rule.ok()) return Detail(400, rule.status());
    auto updated = store_->UpdateAlertRule(rule_id, alerts::RuleJson(*rule));
    if (!updated.ok()) return StoreError(updated.status(), "rule");
    shown = *updated;
  }
  r.body = RuleBody(shown, *project);
  return r;
}

Reply ApiHandler::ListNotifications(const net::HttpRequest& req,
                                    std::string_view project_ref) {
  absl::StatusOr<storage::Project> project = FindProject(project_ref);
  if (!project.ok()) return StoreError(project.status(), "project");
  storage::OutboxQuery q;
  q.project_id = project->id;
  q.limit = 100;
  for (absl::string_view part : absl::StrSplit(ToAbsl(req.query), '&')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (kv.first == "status" && !kv.second.empty()) {
      q.status = storage::ParseOutboxStatus(
          std::string_view(kv.second.data(), kv.second.size()));
      if (!q.status) {
        return Detail(400,
                      "status: expected pending, sending, sent, failed or "
                      "suppressed");
      }
    } else if (kv.first == "issue" && !kv.second.empty()) {
      std::optional<int64_t> id =
          ParseId(std::string_view(kv.second.data(), kv.second.size()));
      if (!id) return Detail(400, "issue: expected a positive integer");
      q.issue_id = *id;
    }
  }
  auto rows = store_->ListOutbox(q);
  if (!rows.ok()) return StoreError(rows.status(), "notifications");
  Reply r;
  protocol::JsonWriter w(&r.body);
  w.BeginArray();
  for (const storage::OutboxEntry& o : *rows) {
    WriteNotification(w, o, *project);
  }
  w.EndArray();
  return r;
}

Reply ApiHandler::IssueReply(const storage::Issue& issue) {
  auto project = store_->GetProject(issue.project_id);
  if (!project.ok()) return StoreError(project.status(), "project");
  Reply r;
  protocol::JsonWriter w(&r.body);
  WriteIssue(w, issue, *project);
  return r;
}

Reply ApiHandler::GetIssue(int64_t issue_id) {
  auto issue = store_->GetIssue(issue_id);
  if (!issue.ok()) return StoreError(issue.status(), "issue");
  return IssueReply(*issue);
}

Reply ApiHandler::PutIssue(const net::HttpRequest& req, int64_t issue_id) {
  auto body = protocol::ParseJson(req.body);
  if (!body.ok()) {
    return Detail(400, absl::StrCat("body: ", body.status().message()));
  }
  if (!body->is_object()) return Detail(400, "body: expected a JSON object");
  const protocol::JsonValue* status_field = body->Find("status");
  if (status_field == nullptr) {
    return Detail(400, "status: required (the only field that can be set)");
  }
  const std::optional<storage::IssueStatus> status =
      status_field->is_string()
          ? storage::ParseIssueStatus(status_field->string())
          : std::nullopt;
  if (!status) {
    return Detail(400, "status: expected resolved, unresolved or ignored");
  }
  if (absl::Status s = store_->SetIssueStatus(issue_id, *status); !s.ok()) {
    return StoreError(s, "issue");
  }
  return GetIssue(issue_id);
}

Reply ApiHandler::ListEvents(const net::HttpRequest& req, int64_t issue_id) {
  auto params = ParseEventListParams(req.query);
  if (!params.ok()) return Detail(400, params.status());
  // An unknown issue is a 404, not an empty list.
  if (auto issue = store_->GetIssue(issue_id); !issue.ok()) {
    return StoreError(issue.status(), "issue");
  }
  auto page = store_->ListIssueEvents(issue_id, params->cursor, params->limit);
  if (!page.ok()) return StoreError(page.status(), "events");
  Reply r;
  protocol::JsonWriter w(&r.body);
  w.BeginArray();
  for (const storage::EventSummary& e : page->events) WriteEventSummary(w, e);
  w.EndArray();
  r.link = LinkHeader(BaseUrl(req), params->link_query,
                      page->next ? EncodeEventCursor(*page->next) : "");
  return r;
}

Reply ApiHandler::LatestEvent(int64_t issue_id) {
  if (auto issue = store_->GetIssue(issue_id); !issue.ok()) {
    return StoreError(issue.status(), "issue");
  }
  auto event = store_->GetLatestEvent(issue_id);
  if (!event.ok()) return StoreError(event.status(), "event of the issue");
  Reply r;
  protocol::JsonWriter w(&r.body);
  WriteStoredEvent(w, *event);
  return r;
}

Reply ApiHandler::ProjectConfigs(const net::HttpRequest& req) {
  auto request = protocol::ParseProjectConfigsRequest(req.body);
  if (!request.ok()) {
    return Detail(HttpStatusFor(request.status()), request.status());
  }
  counters_.projectconfigs_keys.Add(request->public_keys.size());
  auto found = store_->GetKeys(request->public_keys);
  if (!found.ok()) return StoreError(found.status(), "keys");
  absl::flat_hash_map<std::string, int64_t> project_of;
  for (const storage::ProjectKey& key : *found) {
    project_of.emplace(key.public_key, key.project_id);
  }
  // One config per project, shared by all its keys that were asked for.
  absl::flat_hash_map<int64_t, std::optional<protocol::ProjectConfig>> configs;
  protocol::ProjectConfigsResponse response;
  absl::flat_hash_set<std::string_view> seen;
  for (const std::string& key : request->public_keys) {
    // A key asked twice is answered once: JSON objects have unique keys.
    if (!seen.insert(key).second) continue;
    const auto it = project_of.find(key);
    if (it == project_of.end()) {
      response.configs.emplace_back(key, std::nullopt);
      continue;
    }
    auto [slot, inserted] = configs.try_emplace(it->second);
    if (inserted) {
      auto project = store_->GetProject(it->second);
      if (!project.ok() &&
          project.status().code() != absl::StatusCode::kNotFound) {
        return StoreError(project.status(), "project");
      }
      auto keys = store_->ListKeys(it->second);
      if (!keys.ok()) return StoreError(keys.status(), "keys");
      // A key whose project vanished meanwhile is unknown (null).
      if (project.ok()) slot->second = ProjectConfigFor(*project, *keys);
    }
    response.configs.emplace_back(key, slot->second);
  }
  Reply r;
  protocol::EncodeProjectConfigsResponse(response, &r.body);
  return r;
}

}  // namespace tern::api
