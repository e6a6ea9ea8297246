#include "backend/ui/ui_handler.h"

#include <sys/random.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "backend/api/format.h"
#include "backend/api/handler.h"
#include "backend/api/query.h"
#include "backend/ui/html.h"
#include "backend/ui/pages.h"
#include "common/status.h"
#include "protocol/json_value.h"
#include "protocol/json_writer.h"
#include "spdlog/spdlog.h"

namespace tern::ui {
namespace {

using ::tern::ToAbsl;

using Reply = UiHandler::Reply;

constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr size_t kMaxFormBytes = 16 * 1024;
constexpr size_t kMaxSdkFileBytes = 16 * 1024 * 1024;
// How far back the issue page looks for the event newer than the one shown
// (the store pages events newest first, forward only).
constexpr int kNewerScanPages = 20;
constexpr int kNewerScanPageSize = 100;

// The packages @sentry/browser imports by bare name, resolved through the
// import map of /dev/browser-test to each one's "module" entry point.
constexpr std::string_view kSdkPackages[] = {
    "@sentry/browser",
    "@sentry/core",
    "@sentry-internal/browser-utils",
    "@sentry-internal/feedback",
    "@sentry-internal/replay",
    "@sentry-internal/replay-canvas",
};

std::string RandomId() {
  unsigned char bytes[24];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool IsLoopback(std::string_view ip) {
  return ip.starts_with("127.") || ip == "::1" || ip.starts_with("::ffff:127.");
}

// The Host header's name without the port.
std::string_view HostName(std::string_view host) {
  if (host.starts_with("[")) {
    const size_t end = host.find(']');
    return end == std::string_view::npos ? host : host.substr(0, end + 1);
  }
  return host.substr(0, host.find(':'));
}

bool IsLoopbackHost(std::string_view host) {
  const std::string_view name = HostName(host);
  return name == "localhost" || name == "[::1]" || name.starts_with("127.");
}

// `next` is only followed when it is a path on this server: one leading
// slash (not "//host" or "/\host"), and no control characters (it becomes
// a Location header).
bool IsLocalPath(std::string_view next) {
  if (next.empty() || next[0] != '/') return false;
  if (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) return false;
  return std::none_of(next.begin(), next.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
  });
}

Reply Page(int status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Reply Redirect(std::string location) {
  Reply r;
  r.status = 303;
  r.location = std::move(location);
  return r;
}

// The start of the first of `buckets` buckets of `bucket_ms` that end with
// the one holding `now_ms`, so the newest bar is the current hour (day).
int64_t HistogramSince(int64_t now_ms, int64_t bucket_ms, int buckets) {
  return (now_ms / bucket_ms) * bucket_ms - (buckets - 1) * bucket_ms;
}

std::string_view ContentTypeOf(std::string_view path) {
  if (path.ends_with(".js") || path.ends_with(".mjs")) {
    return "text/javascript; charset=utf-8";
  }
  if (path.ends_with(".json") || path.ends_with(".map")) {
    return "application/json";
  }
  return "";
}

std::optional<std::string> ReadSmallFile(const std::string& path,
                                         size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data;
  char buf[64 * 1024];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > max_bytes) return std::nullopt;
  }
  return data;
}

// The /dev/browser-test import map, or "" when @sentry/browser is not
// installed in `dir`. Each package's entry point is read from its
// package.json ("module"), so an upgrade of the lock file needs no change
// here.
std::string ImportMap(const std::string& dir) {
  if (dir.empty()) return "";
  std::string json;
  protocol::JsonWriter w(&json);
  w.BeginObject();
  w.Key("imports");
  w.BeginObject();
  for (std::string_view package : kSdkPackages) {
    const std::string root = Cat(dir, "/", package);
    std::optional<std::string> text =
        ReadSmallFile(Cat(root, "/package.json"), 1024 * 1024);
    if (!text) {
      if (package == kSdkPackages[0]) return "";
      continue;  // an optional dependency that is not installed
    }
    auto manifest = protocol::ParseJson(*text);
    if (!manifest.ok()) return "";
    std::string_view module = (*manifest)["module"].string();
    if (module.starts_with("./")) module.remove_prefix(2);
    if (module.empty()) return "";
    w.Key(package);
    w.String(Cat("/dev/sdk/", package, "/", module));
  }
  w.EndObject();
  w.EndObject();
  // Inside <script>: "<" never appears raw, so no "</script>" can close it.
  std::string out;
  for (char c : json) {
    if (c == '<') {
      out.append("\\u003c");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// A relative path under /dev/sdk/ that may be served: segments of
// [A-Za-z0-9._@-], none empty, "." or "..".
bool IsSafeRelativePath(std::string_view rel) {
  if (rel.empty() || rel.size() > 512) return false;
  for (absl::string_view seg : absl::StrSplit(ToAbsl(rel), '/')) {
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
          c != '_' && c != '-' && c != '@') {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

UiHandler::UiHandler(storage::Store* store, UiOptions options)
    : store_(store), options_(std::move(options)) {}

UiHandler::~UiHandler() = default;

int64_t UiHandler::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return absl::ToUnixMillis(absl::Now());
}

net::HeadVerdict UiHandler::OnHeaders(const net::HttpRequest& head,
                                      size_t default_max_body_bytes) {
  net::HeadVerdict verdict;
  verdict.max_body_bytes = std::min(default_max_body_bytes, kMaxFormBytes);
  return verdict;
}

void UiHandler::OnRequest(net::HttpRequest& req,
                          std::unique_ptr<net::HttpResponder> responder) {
  const Reply reply = Route(req);
  std::vector<net::HttpHeader> headers = {
      {"Content-Type", reply.content_type},
      {"Cache-Control", "no-store"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "same-origin"},
      {"X-Frame-Options", "DENY"},
      // Pages carry no script of their own; the dev test page needs its
      // inline module and the SDK's, and talks to the relay on another
      // port.
      {"Content-Security-Policy",
       reply.script
           ? "default-src 'self'; script-src 'self' 'unsafe-inline'; "
             "style-src 'unsafe-inline'; connect-src *; frame-ancestors "
             "'none'"
           : "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
             "data:; form-action 'self'; frame-ancestors 'none'; base-uri "
             "'none'"},
  };
  if (!reply.location.empty()) headers.push_back({"Location", reply.location});
  if (!reply.set_cookie.empty()) {
    headers.push_back({"Set-Cookie", reply.set_cookie});
  }
  responder->Send(reply.status, headers,
                  req.method == "HEAD" ? std::string_view() : reply.body);
}

std::string UiHandler::SessionOf(const net::HttpRequest& req) const {
  for (const net::HttpHeader& h : req.headers) {
    if (!absl::EqualsIgnoreCase(ToAbsl(h.name), "cookie")) continue;
    for (absl::string_view piece : absl::StrSplit(ToAbsl(h.value), ';')) {
      piece = absl::StripAsciiWhitespace(piece);
      const std::string_view part(piece.data(), piece.size());
      const size_t eq = part.find('=');
      if (eq == std::string_view::npos) continue;
      if (part.substr(0, eq) == kSessionCookie) {
        return std::string(part.substr(eq + 1));
      }
    }
  }
  return "";
}

bool UiHandler::Authorized(const net::HttpRequest& req) {
  logged_in_ = false;
  const std::string session = SessionOf(req);
  if (!session.empty()) {
    auto it = sessions_.find(session);
    if (it != sessions_.end()) {
      if (it->second > Now()) {
        logged_in_ = true;
        return true;
      }
      sessions_.erase(it);
    }
  }
  // Dev mode: the loopback peer, asking for a loopback host name (a page
  // that rebinds its own domain to 127.0.0.1 sends its own Host and is
  // refused).
  return options_.dev_mode && IsLoopback(req.remote_ip) &&
         IsLoopbackHost(req.Header("host").value_or(""));
}

bool UiHandler::SameOrigin(const net::HttpRequest& req) const {
  if (std::optional<std::string_view> site = req.Header("sec-fetch-site")) {
    if (*site != "same-origin" && *site != "none") return false;
  }
  std::optional<std::string_view> origin = req.Header("origin");
  if (!origin) return true;  // not a browser, or an old one: SameSite holds
  const std::string_view host = req.Header("host").value_or("");
  return *origin == Cat("http://", host) || *origin == Cat("https://", host);
}

Reply UiHandler::Route(const net::HttpRequest& req) {
  const std::string_view path = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  if (post && !SameOrigin(req)) {
    return Page(403, RenderError(403, "cross-site form refused", false));
  }
  if (path == "/login") {
    if (post) return Login(req);
    if (get) {
      auto params = api::QueryParams::Parse(req.query);
      std::string_view n = "/";
      if (params.ok()) n = params->Get("next").value_or("/");
      const std::string next(IsLocalPath(n) ? n : "/");
      // Only a real session skips the form: in dev mode the loopback may
      // still want to log in (and get the log-out button).
      if (Authorized(req) && logged_in_) return Redirect(next);
      return Page(200, RenderLogin("", next));
    }
    return Page(405, RenderError(405, "method not allowed", false));
  }
  if (path == "/logout" && post) return Logout(req);

  if (!Authorized(req)) {
    if (!get) return Redirect("/login");
    const std::string here =
        req.query.empty() ? std::string(path) : Cat(path, "?", req.query);
    return Redirect(
        Cat("/login?next=", api::UrlEncode(IsLocalPath(here) ? here : "/")));
  }

  std::vector<std::string_view> parts;
  for (absl::string_view p :
       absl::StrSplit(ToAbsl(path.substr(1)), '/', absl::SkipEmpty())) {
    parts.emplace_back(p.data(), p.size());
  }
  if (get && parts.empty()) return Projects();
  if (get && parts.size() == 2 && parts[0] == "projects") {
    return Issues(req, parts[1]);
  }
  if (get && parts.size() == 3 && parts[0] == "projects" &&
      parts[2] == "alerts") {
    return Alerts(parts[1]);
  }
  if (parts.size() >= 2 && parts[0] == "issues") {
    int64_t id = 0;
    if (!absl::SimpleAtoi(ToAbsl(parts[1]), &id) || id <= 0) {
      return Page(404, RenderError(404, "no such issue", logged_in_));
    }
    if (get && parts.size() == 2) return Issue(req, id);
    if (post && parts.size() == 3 && parts[2] == "status") {
      return SetStatus(req, id);
    }
  }
  if (options_.dev_mode && get) {
    if (path == "/dev/browser-test") return BrowserTest(req);
    constexpr std::string_view kSdk = "/dev/sdk/";
    if (path.starts_with(kSdk)) return SdkFile(path.substr(kSdk.size()));
  }
  return Page(404, RenderError(404, "not found", logged_in_));
}

Reply UiHandler::Login(const net::HttpRequest& req) {
  auto form = api::QueryParams::Parse(req.body);
  if (!form.ok()) return Page(400, RenderLogin("malformed form", "/"));
  const std::string_view wanted = form->Get("next").value_or("/");
  const std::string next(IsLocalPath(wanted) ? wanted : "/");
  const std::string_view token = form->Get("token").value_or("");
  if (options_.api_token.empty() ||
      !api::TokenEquals(token, options_.api_token)) {
    return Page(401, RenderLogin("wrong token", next));
  }
  const int64_t now = Now();
  if (sessions_.size() >= options_.max_sessions) {
    std::erase_if(sessions_, [now](const auto& s) { return s.second <= now; });
  }
  while (sessions_.size() >= options_.max_sessions && !sessions_.empty()) {
    // Still full: drop the session that expires first.
    auto oldest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const auto& a, const auto& b) { return a.second < b.second; });
    sessions_.erase(oldest);
  }
  const std::string id = RandomId();
  sessions_[id] = now + options_.session_ttl_ms;
  Reply r = Redirect(next);
  r.set_cookie = Cat(kSessionCookie, "=", id,
                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=",
                     options_.session_ttl_ms / 1000);
  return r;
}

Reply UiHandler::Logout(const net::HttpRequest& req) {
  sessions_.erase(SessionOf(req));
  Reply r = Redirect("/login");
  r.set_cookie =
      Cat(kSessionCookie, "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
  return r;
}

Reply UiHandler::StoreError(const absl::Status& status) {
  if (absl::IsNotFound(status)) {
    return Page(404,
                RenderError(404, std::string(status.message()), logged_in_));
  }
  spdlog::error("ui: store: {}", std::string(status.message()));
  if (absl::IsUnavailable(status)) {
    return Page(503, RenderError(503,
                                 "the store is busy or unavailable; "
                                 "try again",
                                 logged_in_));
  }
  return Page(500, RenderError(500, "internal error", logged_in_));
}

Reply UiHandler::Alerts(std::string_view slug) {
  absl::StatusOr<storage::Project> project = store_->GetProjectBySlug(slug);
  if (!project.ok()) return StoreError(project.status());
  AlertsView view;
  view.project = *std::move(project);
  absl::StatusOr<std::vector<storage::AlertRule>> rules =
      store_->ListAlertRules(view.project.id);
  if (!rules.ok()) return StoreError(rules.status());
  view.rules = *std::move(rules);
  storage::OutboxQuery q;
  q.project_id = view.project.id;
  q.limit = 50;
  absl::StatusOr<std::vector<storage::OutboxEntry>> rows =
      store_->ListOutbox(q);
  if (!rows.ok()) return StoreError(rows.status());
  view.notifications = *std::move(rows);
  view.now_ms = Now();
  view.logout = logged_in_;
  return Page(200, RenderAlerts(view));
}

Reply UiHandler::Projects() {
  absl::StatusOr<std::vector<storage::Project>> projects =
      store_->ListProjects();
  if (!projects.ok()) return StoreError(projects.status());
  return Page(200, RenderProjects(*projects, logged_in_));
}

Reply UiHandler::Issues(const net::HttpRequest& req, std::string_view slug) {
  absl::StatusOr<storage::Project> project = store_->GetProjectBySlug(slug);
  if (!project.ok()) return StoreError(project.status());
  // One parse of the query string: the list parameters, and query and
  // period read from the same parameters.
  absl::StatusOr<api::QueryParams> raw = api::QueryParams::Parse(req.query);
  absl::StatusOr<api::IssueListParams> params =
      raw.ok() ? api::ParseIssueListParams(*raw)
               : absl::StatusOr<api::IssueListParams>(raw.status());
  if (!params.ok()) {
    return Page(400, RenderError(400, std::string(params.status().message()),
                                 logged_in_));
  }
  IssuesView view;
  view.project = *std::move(project);
  view.logout = logged_in_;
  view.now_ms = Now();
  view.status = std::string(api::IssueStatusParam(params->query.status));
  view.sort = std::string(api::IssueSortName(params->query.sort));
  view.query = std::string(raw->Get("query").value_or(""));
  if (raw->Get("period").value_or("") == "14d") view.period = "14d";
  view.has_cursor = params->query.cursor.has_value();
  storage::IssueQuery query = std::move(params->query);
  query.project_id = view.project.id;
  absl::StatusOr<storage::IssuePage> page = store_->ListIssues(query);
  if (!page.ok()) return StoreError(page.status());
  if (page->next) view.next_cursor = api::EncodeIssueCursor(*page->next);
  const bool days = view.period == "14d";
  const int64_t bucket = days ? kDayMs : kHourMs;
  const int buckets = days ? 14 : 24;
  const int64_t since = HistogramSince(view.now_ms, bucket, buckets);
  for (storage::Issue& issue : page->issues) {
    absl::StatusOr<std::vector<int64_t>> histogram =
        store_->IssueHistogram(issue.id, since, bucket, buckets);
    if (!histogram.ok()) return StoreError(histogram.status());
    view.rows.push_back({std::move(issue), *std::move(histogram)});
  }
  return Page(200, RenderIssues(view));
}

Reply UiHandler::Issue(const net::HttpRequest& req, int64_t issue_id) {
  absl::StatusOr<storage::Issue> issue = store_->GetIssue(issue_id);
  if (!issue.ok()) return StoreError(issue.status());
  absl::StatusOr<storage::Project> project =
      store_->GetProject(issue->project_id);
  if (!project.ok()) return StoreError(project.status());
  IssueView view;
  view.project = *std::move(project);
  view.issue = *std::move(issue);
  view.logout = logged_in_;
  view.now_ms = Now();

  std::string wanted;
  if (auto params = api::QueryParams::Parse(req.query); params.ok()) {
    wanted = std::string(params->Get("event").value_or(""));
  }
  if (!wanted.empty()) {
    absl::StatusOr<storage::StoredEvent> event =
        store_->GetEvent(view.issue.project_id, wanted);
    if (!event.ok() && !absl::IsNotFound(event.status())) {
      return StoreError(event.status());
    }
    if (!event.ok() || event->summary.issue_id != issue_id) {
      return Page(404,
                  RenderError(404, "event of the issue not found", logged_in_));
    }
    view.event = *std::move(event);
  } else {
    absl::StatusOr<storage::StoredEvent> event =
        store_->GetLatestEvent(issue_id);
    if (event.ok()) {
      view.event = *std::move(event);
    } else if (!absl::IsNotFound(event.status())) {
      return StoreError(event.status());
    }
  }

  storage::OutboxQuery notifications;
  notifications.project_id = view.issue.project_id;
  notifications.issue_id = issue_id;
  notifications.limit = 20;
  absl::StatusOr<std::vector<storage::OutboxEntry>> fired =
      store_->ListOutbox(notifications);
  if (!fired.ok()) return StoreError(fired.status());
  view.notifications = *std::move(fired);

  if (view.event) {
    const storage::EventSummary& s = view.event->summary;
    storage::EventCursor here{s.received_ms, s.event_id};
    absl::StatusOr<storage::EventPage> older =
        store_->ListIssueEvents(issue_id, here, 1);
    if (!older.ok()) return StoreError(older.status());
    if (!older->events.empty()) {
      view.older_event_id = older->events[0].event_id;
    }
    if (!wanted.empty()) {
      // The store pages forward only (newest first): walk from the newest
      // until the event shown; the one before it is the newer neighbour.
      std::optional<storage::EventCursor> cursor;
      std::optional<std::string> previous;
      bool found = false;
      for (int i = 0; i < kNewerScanPages && !found; ++i) {
        absl::StatusOr<storage::EventPage> page =
            store_->ListIssueEvents(issue_id, cursor, kNewerScanPageSize);
        if (!page.ok()) return StoreError(page.status());
        for (const storage::EventSummary& e : page->events) {
          if (e.event_id == s.event_id) {
            found = true;
            break;
          }
          previous = e.event_id;
        }
        if (!page->next) break;
        cursor = page->next;
      }
      // Beyond the scan, "Latest" still leads back to the newest event.
      if (found) view.newer_event_id = previous;
    }
  }

  absl::StatusOr<std::vector<int64_t>> histogram = store_->IssueHistogram(
      issue_id, HistogramSince(view.now_ms, kDayMs, 14), kDayMs, 14);
  if (!histogram.ok()) return StoreError(histogram.status());
  view.histogram = *std::move(histogram);
  return Page(200, RenderIssue(view));
}

Reply UiHandler::SetStatus(const net::HttpRequest& req, int64_t issue_id) {
  auto form = api::QueryParams::Parse(req.body);
  std::optional<storage::IssueStatus> status;
  if (form.ok()) {
    status = storage::ParseIssueStatus(form->Get("status").value_or(""));
  }
  if (!status) {
    return Page(400, RenderError(400,
                                 "status: expected resolved, unresolved or "
                                 "ignored",
                                 logged_in_));
  }
  if (absl::Status s = store_->SetIssueStatus(issue_id, *status); !s.ok()) {
    return StoreError(s);
  }
  return Redirect(Cat("/issues/", issue_id, "/"));
}

Reply UiHandler::BrowserTest(const net::HttpRequest& req) {
  std::string dsn = options_.browser_test_dsn;
  if (auto params = api::QueryParams::Parse(req.query); params.ok()) {
    if (auto d = params->Get("dsn"); d && !d->empty()) dsn = std::string(*d);
  }
  Reply r =
      Page(200, RenderBrowserTest(dsn, ImportMap(options_.browser_sdk_dir)));
  r.script = true;
  return r;
}

Reply UiHandler::SdkFile(std::string_view relative) {
  const std::string_view type = ContentTypeOf(relative);
  if (options_.browser_sdk_dir.empty() || type.empty() ||
      !IsSafeRelativePath(relative)) {
    return Page(404, RenderError(404, "not found", logged_in_));
  }
  // Only the SDK's packages, not whatever else node_modules holds.
  bool allowed = false;
  for (std::string_view package : kSdkPackages) {
    if (relative.starts_with(Cat(package, "/"))) allowed = true;
  }
  std::optional<std::string> data =
      allowed ? ReadSmallFile(Cat(options_.browser_sdk_dir, "/", relative),
                              kMaxSdkFileBytes)
              : std::nullopt;
  if (!data) return Page(404, RenderError(404, "not found", logged_in_));
  Reply r;
  r.body = *std::move(data);
  r.content_type = type;
  r.script = true;
  return r;
}

}  // namespace tern::ui
