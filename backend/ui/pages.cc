#include "backend/ui/pages.h"

#include <algorithm>
#include <cmath>

#include "backend/alerts/rule.h"
#include "backend/api/format.h"
#include "backend/api/query.h"
#include "backend/ui/html.h"
#include "protocol/json_value.h"

namespace tern::ui {
namespace {

using protocol::JsonValue;

// The line Sentry's issue stream shows under an error's title: the
// exception value (metadata.value). Only when the title does not already
// carry it: "Type: value" titles do, while a synthetic exception (a
// captureMessage with a stack trace) is titled by its crash frame's
// function and its message would otherwise not show at all.
std::string MessageLine(const storage::Issue& i) {
  std::string_view value = i.fields.metadata_value;
  value = value.substr(0, value.find('\n'));
  // Titles cut the value to 100 characters; its first 60 bytes are in any
  // title that carries it.
  if (value.empty() ||
      i.fields.title.find(value.substr(0, 60)) != std::string::npos) {
    return "";
  }
  return Truncate(value, 200);
}

// Deliberately small: a readable table layout, no framework.
constexpr std::string_view kCss = R"css(
:root{--fg:#1d1d1f;--muted:#6b6b76;--line:#e3e3e8;--bg:#fafafb;--accent:#5b3fd1;
--err:#c2283b;--warn:#b76e00;--ok:#1f7a44;--code:#f3f3f6;--inapp:#fff7e0}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:16px;padding:10px 24px;background:#231f3a;color:#fff}
header a{color:#fff;text-decoration:none;font-weight:600}
header form{margin-left:auto}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
a{color:var(--accent)}
h1{font-size:20px;margin:8px 0 4px;word-break:break-word}
h2{font-size:15px;margin:24px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px;word-break:break-word}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;background:#f5f5f8}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}.small{font-size:12px}
.kv td:first-child{width:200px;color:var(--muted);word-break:break-all}
.kv td{word-break:break-word;white-space:pre-wrap}
.tabs{display:flex;gap:4px;flex-wrap:wrap;align-items:center;margin:12px 0}
.tabs a{padding:4px 10px;border-radius:4px;text-decoration:none;border:1px solid var(--line);background:#fff}
.tabs a.on{background:var(--accent);color:#fff;border-color:var(--accent)}
.tabs form{display:flex;gap:4px;margin-left:auto}
input[type=text],input[type=password],select{padding:5px 8px;border:1px solid #c9c9d1;border-radius:4px;font:inherit}
button{padding:5px 12px;border:1px solid #c9c9d1;border-radius:4px;background:#fff;font:inherit;cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
.level{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;color:#fff;background:var(--muted)}
.level-error,.level-fatal{background:var(--err)}.level-warning{background:var(--warn)}.level-info{background:#2f6fb7}
.status{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;border:1px solid var(--line)}
.status-resolved{color:var(--ok);border-color:var(--ok)}.status-ignored{color:var(--muted)}
.spark rect{fill:var(--accent)}
.actions{display:flex;gap:6px;margin:8px 0}
.actions form{margin:0}
.message{margin:2px 0;word-break:break-word}
.exc{background:#fff;border:1px solid var(--line);margin:8px 0;padding:8px 12px}
.frame{border-top:1px solid var(--line);padding:4px 0}
.frame .loc{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.frame.inapp{background:var(--inapp)}
.frame .badge{font-size:11px;padding:0 4px;border-radius:3px;background:var(--warn);color:#fff;margin-left:6px}
pre{margin:4px 0;background:var(--code);padding:6px 8px;overflow-x:auto;font-size:12px;white-space:pre}
pre .cur{background:#ffe08a;display:inline-block;min-width:100%}
.pager{display:flex;gap:12px;margin:12px 0}
.login{max-width:360px;margin:80px auto;background:#fff;border:1px solid var(--line);padding:24px}
.login input{width:100%;margin:8px 0}
.error{color:var(--err)}
)css";

// The text of a JSON value as shown to a user: strings as they are, other
// values as compact JSON.
std::string Text(const JsonValue& v) {
  if (v.is_string()) return std::string(v.string());
  if (v.is_null()) return "";
  std::string out;
  v.AppendJson(&out);
  return out;
}

// Sentry payloads wrap lists as {"values": [...]} but old SDKs send the
// bare array; both are read.
std::span<const JsonValue> Values(const JsonValue& v) {
  if (v.is_array()) return v.items();
  return v["values"].items();
}

std::string LevelBadge(std::string_view level) {
  std::string l = level.empty() ? "error" : std::string(level);
  // The class name is limited to letters so no payload byte reaches it.
  std::string cls;
  for (char c : l) {
    if (c >= 'a' && c <= 'z') cls.push_back(c);
  }
  return Cat("<span class=\"level level-", cls, "\">", Escape(l), "</span>");
}

std::string StatusBadge(storage::IssueStatus status) {
  const std::string_view name = storage::IssueStatusName(status);
  return Cat("<span class=\"status status-", name, "\">", name, "</span>");
}

std::string IssuesUrl(const IssuesView& v, std::string_view status,
                      std::string_view period, std::string_view cursor) {
  std::string url = Cat(
      "/projects/", api::UrlEncode(v.project.slug),
      "/?status=", api::UrlEncode(status), "&query=", api::UrlEncode(v.query),
      "&sort=", api::UrlEncode(v.sort), "&period=", api::UrlEncode(period));
  if (!cursor.empty()) Append(&url, "&cursor=", api::UrlEncode(cursor));
  return url;
}

// A key/value table from a JSON object's members (values as Text).
void AppendObjectTable(std::string* out, const JsonValue& obj) {
  Append(out, "<table class=\"kv\">");
  for (const auto& [key, value] : obj.members()) {
    Append(out, "<tr><td>", Escape(key), "</td><td>", Escape(Text(value)),
           "</td></tr>");
  }
  Append(out, "</table>");
}

// Request headers come as [[name, value], ...] or {name: value}.
void AppendPairsTable(std::string* out, const JsonValue& pairs) {
  Append(out, "<table class=\"kv\">");
  if (pairs.is_array()) {
    for (const JsonValue& p : pairs.items()) {
      Append(out, "<tr><td>", Escape(Text(p[size_t{0}])), "</td><td>",
             Escape(Text(p[size_t{1}])), "</td></tr>");
    }
  } else {
    for (const auto& [key, value] : pairs.members()) {
      Append(out, "<tr><td>", Escape(key), "</td><td>", Escape(Text(value)),
             "</td></tr>");
    }
  }
  Append(out, "</table>");
}

void AppendFrame(std::string* out, const JsonValue& f) {
  const bool in_app = f["in_app"].boolean();
  std::string file = Text(f["filename"]);
  if (file.empty()) file = Text(f["abs_path"]);
  if (file.empty()) file = Text(f["module"]);
  std::string function = Text(f["function"]);
  Append(out, "<div class=\"frame", in_app ? " inapp" : "",
         "\"><div class=\"loc\">", Escape(file.empty() ? "?" : file));
  if (!function.empty()) Append(out, " in <b>", Escape(function), "</b>");
  const std::optional<int64_t> lineno = f["lineno"].integer();
  if (lineno) {
    Append(out, " at line ", *lineno);
    if (auto col = f["colno"].integer()) Append(out, ":", *col);
  }
  if (in_app) Append(out, "<span class=\"badge\">in app</span>");
  Append(out, "</div>");
  // A frame mapped through a source map says which map (backend/symbolicate).
  if (f["data"]["symbolicated"].boolean()) {
    Append(out, "<div class=\"muted small\">source map: ",
           Escape(Text(f["data"]["sourcemap"])), " (",
           Escape(Text(f["data"]["resolved_with"])), ")</div>");
  }
  const JsonValue& context = f["context_line"];
  if (context.is_string()) {
    std::span<const JsonValue> pre = f["pre_context"].items();
    std::span<const JsonValue> post = f["post_context"].items();
    int64_t line = lineno ? *lineno - static_cast<int64_t>(pre.size()) : 0;
    auto row = [&](const JsonValue& text, bool current) {
      std::string number = lineno ? Cat(line) : "";
      while (number.size() < 5) number.insert(number.begin(), ' ');
      Append(out, current ? "<span class=\"cur\">" : "", number, "  ",
             Escape(Text(text)), current ? "</span>" : "", "\n");
      ++line;
    };
    Append(out, "<pre>");
    for (const JsonValue& t : pre) row(t, false);
    row(context, true);
    for (const JsonValue& t : post) row(t, false);
    Append(out, "</pre>");
  }
  Append(out, "</div>");
}

void AppendStacktrace(std::string* out, const JsonValue& stacktrace) {
  std::span<const JsonValue> frames = stacktrace["frames"].items();
  if (frames.empty()) return;
  // Sentry's frames run oldest call first; shown most recent first, as
  // Sentry's UI does.
  for (size_t i = frames.size(); i-- > 0;) AppendFrame(out, frames[i]);
}

void AppendException(std::string* out, const JsonValue& payload) {
  std::span<const JsonValue> chain = Values(payload["exception"]);
  if (chain.empty()) return;
  Append(out, "<h2>Exception</h2>");
  // The last exception of the chain is the one that was raised; it comes
  // first, its causes below it.
  for (size_t i = chain.size(); i-- > 0;) {
    const JsonValue& e = chain[i];
    const std::string type = Text(e["type"]);
    const std::string value = Text(e["value"]);
    Append(out, "<div class=\"exc\"><h3>",
           Escape(type.empty() ? "Error" : type), "</h3>");
    if (!value.empty()) {
      Append(out, "<div>", Escape(value), "</div>");
    }
    const JsonValue& mechanism = e["mechanism"];
    if (mechanism.is_object()) {
      Append(
          out, "<div class=\"muted small\">mechanism: ",
          Escape(Text(mechanism["type"])),
          mechanism["handled"].is_bool()
              ? (mechanism["handled"].boolean() ? ", handled" : ", unhandled")
              : "",
          "</div>");
    }
    AppendStacktrace(out, e["stacktrace"]);
    // The minified frames the source maps were applied to, behind a toggle
    // (an HTML <details>, so the page needs no script).
    if (!e["raw_stacktrace"]["frames"].items().empty()) {
      Append(out,
             "<details class=\"raw\"><summary>Show minified "
             "frames</summary>");
      AppendStacktrace(out, e["raw_stacktrace"]);
      Append(out, "</details>");
    }
    Append(out, "</div>");
  }
}

// Sentry's processing errors (`errors`): source maps that were missing or
// did not apply, and what normalization reported.
void AppendProcessingErrors(std::string* out, const JsonValue& payload) {
  std::span<const JsonValue> errors = payload["errors"].items();
  if (errors.empty()) return;
  Append(out,
         "<h2>Processing errors</h2><table><tr><th>type</th><th>where</th>"
         "<th>detail</th></tr>");
  for (const JsonValue& e : errors) {
    std::string where = Text(e["url"]);
    if (where.empty()) where = Text(e["source"]);
    if (where.empty()) where = Text(e["name"]);
    std::string detail = Text(e["reason"]);
    if (e["row"].is_number()) {
      detail = Cat("line ", Text(e["row"]), ", column ", Text(e["column"]));
    }
    Append(out, "<tr><td>", Escape(Text(e["type"])),
           "</td><td class=\"small\">", Escape(where),
           "</td><td class=\"small\">", Escape(detail), "</td></tr>");
  }
  Append(out, "</table>");
}

void AppendMessage(std::string* out, const JsonValue& payload) {
  std::string message = Text(payload["logentry"]["formatted"]);
  if (message.empty()) message = Text(payload["logentry"]["message"]);
  const JsonValue& m = payload["message"];
  if (message.empty()) {
    message = m.is_object() ? Text(m["formatted"]) : Text(m);
  }
  if (message.empty()) return;
  Append(out, "<h2>Message</h2><pre>", Escape(message), "</pre>");
}

void AppendThreads(std::string* out, const JsonValue& payload) {
  // Only when there is no exception: a thread's stack is the error's
  // context then (captureMessage with attachStacktrace).
  if (!Values(payload["exception"]).empty()) return;
  for (const JsonValue& t : Values(payload["threads"])) {
    if (t["stacktrace"]["frames"].items().empty()) continue;
    Append(out, "<h2>Thread ", Escape(Text(t["name"])), "</h2>",
           "<div class=\"exc\">");
    AppendStacktrace(out, t["stacktrace"]);
    Append(out, "</div>");
  }
  if (payload["stacktrace"].is_object()) {
    Append(out, "<h2>Stack trace</h2><div class=\"exc\">");
    AppendStacktrace(out, payload["stacktrace"]);
    Append(out, "</div>");
  }
}

void AppendTags(std::string* out, const storage::EventSummary& summary) {
  auto tags = protocol::ParseJson(summary.tags_json);
  if (!tags.ok() || tags->items().empty()) return;
  Append(out, "<h2>Tags</h2>");
  AppendPairsTable(out, *tags);
}

std::string BreadcrumbTime(const JsonValue& ts) {
  if (ts.is_number()) {
    return FormatUtc(static_cast<int64_t>(std::llround(ts.number() * 1000)));
  }
  return Text(ts);
}

void AppendBreadcrumbs(std::string* out, const JsonValue& payload) {
  std::span<const JsonValue> crumbs = Values(payload["breadcrumbs"]);
  if (crumbs.empty()) return;
  Append(out,
         "<h2>Breadcrumbs</h2><table><tr><th>time</th><th>category</th>"
         "<th>level</th><th>message</th></tr>");
  // Newest first, like the frames.
  for (size_t i = crumbs.size(); i-- > 0;) {
    const JsonValue& c = crumbs[i];
    std::string message = Text(c["message"]);
    if (c["data"].is_object()) {
      if (!message.empty()) message.push_back(' ');
      message += Text(c["data"]);
    }
    std::string category = Text(c["category"]);
    if (category.empty()) category = Text(c["type"]);
    Append(out, "<tr><td class=\"small\">",
           Escape(BreadcrumbTime(c["timestamp"])), "</td><td>",
           Escape(category), "</td><td>", Escape(Text(c["level"])),
           "</td><td class=\"small\">", Escape(message), "</td></tr>");
  }
  Append(out, "</table>");
}

void AppendRequest(std::string* out, const JsonValue& payload) {
  const JsonValue& r = payload["request"];
  if (!r.is_object()) return;
  Append(out, "<h2>Request</h2><p><b>", Escape(Text(r["method"])), "</b> ",
         Escape(Text(r["url"])), "</p>");
  std::string query = Text(r["query_string"]);
  if (!query.empty()) {
    Append(out, "<p class=\"small\">query: ", Escape(query), "</p>");
  }
  if (!r["headers"].is_null()) {
    Append(out, "<h3>Headers</h3>");
    AppendPairsTable(out, r["headers"]);
  }
  if (!r["data"].is_null()) {
    Append(out, "<h3>Body</h3><pre>", Escape(Text(r["data"])), "</pre>");
  }
}

void AppendUser(std::string* out, const JsonValue& payload) {
  const JsonValue& u = payload["user"];
  if (!u.is_object() || u.members().empty()) return;
  Append(out, "<h2>User</h2>");
  AppendObjectTable(out, u);
}

void AppendContexts(std::string* out, const JsonValue& payload) {
  const JsonValue& c = payload["contexts"];
  if (!c.is_object() || c.members().empty()) return;
  Append(out, "<h2>Contexts</h2>");
  for (const auto& [name, ctx] : c.members()) {
    Append(out, "<h3>", Escape(name), "</h3>");
    if (ctx.is_object()) {
      AppendObjectTable(out, ctx);
    } else {
      Append(out, "<pre>", Escape(Text(ctx)), "</pre>");
    }
  }
}

void AppendEvent(std::string* out, const IssueView& v) {
  const storage::StoredEvent& event = *v.event;
  const storage::EventSummary& s = event.summary;
  const std::string issue_url = Cat("/issues/", v.issue.id, "/");
  Append(out, "<h2>Event</h2><div class=\"pager\">");
  if (v.newer_event_id) {
    Append(out, "<a id=\"newer\" href=\"", issue_url,
           "?event=", api::UrlEncode(*v.newer_event_id),
           "\">&larr; Newer event</a>");
  } else {
    Append(out, "<span class=\"muted\">&larr; Newer event</span>");
  }
  if (v.older_event_id) {
    Append(out, "<a id=\"older\" href=\"", issue_url,
           "?event=", api::UrlEncode(*v.older_event_id),
           "\">Older event &rarr;</a>");
  } else {
    Append(out, "<span class=\"muted\">Older event &rarr;</span>");
  }
  Append(out, "<a href=\"", issue_url, "\">Latest</a></div>");
  Append(out, "<table class=\"kv\"><tr><td>event id</td><td>",
         Escape(s.event_id), "</td></tr><tr><td>received</td><td>",
         FormatUtc(s.received_ms), " (", Ago(s.received_ms, v.now_ms),
         ")</td></tr>");
  for (const auto& [name, value] :
       {std::pair<std::string_view, const std::string*>{"level", &s.level},
        {"platform", &s.platform},
        {"release", &s.release},
        {"environment", &s.environment}}) {
    if (value->empty()) continue;
    Append(out, "<tr><td>", name, "</td><td>", Escape(*value), "</td></tr>");
  }
  Append(out, "</table>");

  auto payload = protocol::ParseJson(event.payload);
  if (!payload.ok() || !payload->is_object()) {
    Append(out,
           "<p class=\"error\">The stored payload is not a JSON "
           "object; shown as text:</p><pre>",
           Escape(Truncate(event.payload, 20000)), "</pre>");
    return;
  }
  const JsonValue& p = *payload;
  AppendException(out, p);
  AppendProcessingErrors(out, p);
  AppendMessage(out, p);
  AppendThreads(out, p);
  AppendTags(out, s);
  AppendBreadcrumbs(out, p);
  AppendRequest(out, p);
  AppendUser(out, p);
  AppendContexts(out, p);
  if (!event.attachments.empty()) {
    Append(out,
           "<h2>Attachments</h2><table><tr><th>name</th><th>type</th>"
           "<th>size</th></tr>");
    for (const storage::AttachmentInfo& a : event.attachments) {
      Append(out, "<tr><td>", Escape(a.name), "</td><td>",
             Escape(a.content_type), "</td><td class=\"num\">", a.size,
             "</td></tr>");
    }
    Append(out, "</table>");
  }
}

// Where a notification went: the addresses or the URL, without a secret.
std::string TargetText(std::string_view target_json) {
  absl::StatusOr<alerts::Target> t = alerts::ParseTargetJson(target_json);
  if (!t.ok()) return "?";
  if (t->kind != alerts::TargetKind::kEmail) return t->url;
  std::string out;
  for (const std::string& a : t->to) Append(&out, out.empty() ? "" : ", ", a);
  return out;
}

std::string OutboxBadge(storage::OutboxStatus status) {
  const std::string_view name = storage::OutboxStatusName(status);
  return Cat("<span class=\"badge outbox-", name, "\">", name, "</span>");
}

// The notifications table of the alerts and issue pages.
void AppendNotifications(std::string* body,
                         std::span<const storage::OutboxEntry> rows,
                         bool with_issue, int64_t now_ms) {
  if (rows.empty()) {
    Append(body, "<p class=\"muted\">No notification yet.</p>");
    return;
  }
  Append(body,
         "<table id=\"notifications\"><tr><th>when</th><th>trigger"
         "</th>",
         with_issue ? "<th>issue</th>" : "",
         "<th>target</th><th>status</th><th>attempts</th><th>last error"
         "</th></tr>");
  for (const storage::OutboxEntry& o : rows) {
    Append(body, "<tr class=\"notification\"><td class=\"small\" title=\"",
           FormatUtc(o.created_ms), "\">", Ago(o.created_ms, now_ms),
           "</td><td>", Escape(o.trigger), "</td>");
    if (with_issue) {
      if (o.issue_id == 0) {
        Append(body, "<td class=\"muted\">summary</td>");
      } else {
        Append(body, "<td><a href=\"/issues/", o.issue_id, "/\">", o.issue_id,
               "</a></td>");
      }
    }
    Append(body, "<td>", Escape(o.target_kind), ": ",
           Escape(Truncate(TargetText(o.target_json), 120)), "</td><td>",
           OutboxBadge(o.status), "</td><td class=\"num\">", o.attempts,
           "</td><td class=\"small\">", Escape(Truncate(o.last_error, 200)),
           "</td></tr>");
  }
  Append(body, "</table>");
}

}  // namespace

std::string RenderLayout(std::string_view title, std::string_view body_html,
                         bool logout) {
  std::string out = Cat(
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>",
      Escape(title), " · Tern</title><style>", kCss,
      "</style></head><body><header><a href=\"/\">Tern</a>");
  if (logout) {
    Append(&out,
           "<form method=\"post\" action=\"/logout\"><button>Log "
           "out</button></form>");
  }
  Append(&out, "</header><main>", body_html, "</main></body></html>");
  return out;
}

std::string RenderLogin(std::string_view error, std::string_view next) {
  std::string body =
      "<form class=\"login\" method=\"post\" action=\"/login\"><h1>Log "
      "in</h1><p class=\"muted\">Use the backend's API token "
      "(<code>auth.api_token</code>).</p>";
  if (!error.empty()) {
    Append(&body, "<p class=\"error\">", Escape(error), "</p>");
  }
  Append(&body,
         "<input type=\"password\" name=\"token\" "
         "autocomplete=\"current-password\" placeholder=\"API "
         "token\" autofocus required>"
         "<input type=\"hidden\" name=\"next\" value=\"",
         Escape(next),
         "\"><button class=\"primary\" type=\"submit\">Log "
         "in</button></form>");
  return RenderLayout("Log in", body, false);
}

std::string RenderProjects(std::span<const storage::Project> projects,
                           bool logout) {
  std::string body = "<h1>Projects</h1>";
  if (projects.empty()) {
    Append(&body,
           "<p class=\"muted\">No project yet: <code>tern-backend project "
           "create --name NAME</code> makes one.</p>");
  } else {
    Append(&body,
           "<table><tr><th>project</th><th>slug</th><th>created</th></tr>");
    for (const storage::Project& p : projects) {
      Append(&body, "<tr><td><a href=\"/projects/", api::UrlEncode(p.slug),
             "/\">", Escape(p.name), "</a></td><td>", Escape(p.slug),
             "</td><td>", FormatUtc(p.created_ms), "</td></tr>");
    }
    Append(&body, "</table>");
  }
  return RenderLayout("Projects", body, logout);
}

std::string RenderIssues(const IssuesView& v) {
  std::string body =
      Cat("<p class=\"small\"><a href=\"/\">Projects"
          "</a> /</p><h1>",
          Escape(v.project.name), "</h1>");
  Append(&body, "<p class=\"small\"><a id=\"alerts\" href=\"/projects/",
         api::UrlEncode(v.project.slug),
         "/alerts/\">Alert rules and notifications</a></p>");
  Append(&body, "<div class=\"tabs\">");
  for (std::string_view status : {"unresolved", "resolved", "ignored", "all"}) {
    Append(&body, "<a", status == v.status ? " class=\"on\"" : "", " href=\"",
           Escape(IssuesUrl(v, status, v.period, "")), "\">", status, "</a>");
  }
  Append(&body, "<form method=\"get\" action=\"/projects/",
         api::UrlEncode(v.project.slug),
         "/\"><input type=\"hidden\" name=\"status\" value=\"",
         Escape(v.status), "\"><input type=\"hidden\" name=\"period\" value=\"",
         Escape(v.period),
         "\"><input type=\"text\" name=\"query\" placeholder=\"Search title or "
         "culprit\" value=\"",
         Escape(v.query), "\"><select name=\"sort\">");
  for (auto [value, label] :
       {std::pair<std::string_view, std::string_view>{"lastSeen", "Last seen"},
        {"firstSeen", "First seen"},
        {"count", "Events"}}) {
    Append(&body, "<option value=\"", value, "\"",
           value == v.sort ? " selected" : "", ">", label, "</option>");
  }
  Append(&body,
         "</select><button type=\"submit\">Search</button></form></div>");

  const std::string other = v.period == "24h" ? "14d" : "24h";
  Append(&body, "<table id=\"issues\"><tr><th>issue</th><th>events (",
         Escape(v.period), ", <a href=\"",
         Escape(IssuesUrl(v, v.status, other, "")), "\">", other,
         "</a>)</th><th>count</th><th>level</th><th>first "
         "seen</th><th>last seen</th></tr>");
  for (const IssueRow& row : v.rows) {
    const storage::Issue& i = row.issue;
    Append(&body, "<tr class=\"issue\"><td><a class=\"title\" href=\"/issues/",
           i.id, "/\">", Escape(Truncate(i.fields.title, 200)), "</a>");
    if (std::string message = MessageLine(i); !message.empty()) {
      Append(&body, "<div class=\"message\">", Escape(message), "</div>");
    }
    Append(&body, "<div class=\"small muted\">",
           Escape(api::ShortId(v.project.slug, i.short_id)));
    if (!i.fields.culprit.empty()) {
      Append(&body, " · ", Escape(Truncate(i.fields.culprit, 200)));
    }
    if (v.status == "all") Append(&body, " · ", StatusBadge(i.status));
    Append(&body, "</div></td><td>",
           Sparkline(row.histogram, 120, 24, v.period),
           "</td><td class=\"num\">", i.times_seen, "</td><td>",
           LevelBadge(i.fields.level),
           "</td><td class=\"small\" "
           "title=\"",
           FormatUtc(i.first_seen_ms), "\">", Ago(i.first_seen_ms, v.now_ms),
           "</td><td class=\"small\" title=\"", FormatUtc(i.last_seen_ms),
           "\">", Ago(i.last_seen_ms, v.now_ms), "</td></tr>");
  }
  Append(&body, "</table>");
  if (v.rows.empty()) {
    Append(&body, "<p class=\"muted\">No issue matches.</p>");
  }
  Append(&body, "<div class=\"pager\">");
  if (v.has_cursor) {
    Append(&body, "<a href=\"", Escape(IssuesUrl(v, v.status, v.period, "")),
           "\">First page</a>");
  }
  if (!v.next_cursor.empty()) {
    Append(&body, "<a id=\"next\" href=\"",
           Escape(IssuesUrl(v, v.status, v.period, v.next_cursor)),
           "\">Next page &rarr;</a>");
  }
  Append(&body, "</div>");
  return RenderLayout(v.project.name, body, v.logout);
}

std::string RenderIssue(const IssueView& v) {
  const storage::Issue& i = v.issue;
  std::string body = Cat(
      "<p class=\"small\"><a href=\"/\">Projects</a> / <a href=\"/projects/",
      api::UrlEncode(v.project.slug), "/\">", Escape(v.project.name), "</a> / ",
      Escape(api::ShortId(v.project.slug, i.short_id)), "</p><h1>",
      Escape(i.fields.title), "</h1>");
  if (std::string message = MessageLine(i); !message.empty()) {
    Append(&body, "<div class=\"message\">", Escape(message), "</div>");
  }
  if (!i.fields.culprit.empty()) {
    Append(&body, "<div class=\"muted\">", Escape(i.fields.culprit), "</div>");
  }
  Append(&body, "<p>", LevelBadge(i.fields.level), " ", "<span id=\"status\">",
         StatusBadge(i.status), "</span> · ", i.times_seen, " event",
         i.times_seen == 1 ? "" : "s", " · first seen ",
         Ago(i.first_seen_ms, v.now_ms), " · last seen ",
         Ago(i.last_seen_ms, v.now_ms), "</p>");
  Append(&body, "<div class=\"actions\">");
  const std::string action = Cat("/issues/", i.id, "/status");
  for (auto [status, label] :
       {std::pair<storage::IssueStatus, std::string_view>{
            storage::IssueStatus::kResolved, "Resolve"},
        {storage::IssueStatus::kUnresolved, "Unresolve"},
        {storage::IssueStatus::kIgnored, "Ignore"}}) {
    if (status == i.status) continue;
    const std::string_view name = storage::IssueStatusName(status);
    Append(&body, "<form method=\"post\" action=\"", action,
           "\"><input type=\"hidden\" name=\"status\" value=\"", name,
           "\"><button id=\"", name, "\" type=\"submit\">", label,
           "</button></form>");
  }
  Append(&body, "</div><div class=\"small muted\">last 14 days</div>",
         Sparkline(v.histogram, 280, 40, "14d"));
  Append(&body, "<h2>Alerts fired</h2>");
  AppendNotifications(&body, v.notifications, false, v.now_ms);
  if (v.event) {
    AppendEvent(&body, v);
  } else {
    Append(&body,
           "<p class=\"muted\">No event of this issue is stored any "
           "more (retention).</p>");
  }
  return RenderLayout(i.fields.title, body, v.logout);
}

std::string RenderAlerts(const AlertsView& v) {
  std::string body = Cat(
      "<p class=\"small\"><a href=\"/\">Projects</a> / <a href=\"/projects/",
      api::UrlEncode(v.project.slug), "/\">", Escape(v.project.name),
      "</a> /</p><h1>Alerts</h1><h2>Rules</h2>");
  if (v.rules.empty()) {
    Append(&body,
           "<p class=\"muted\">No rule. Add one with POST /api/0/projects/",
           Escape(v.project.slug), "/rules/ (docs/alerts.md).</p>");
  } else {
    Append(&body,
           "<table id=\"rules\"><tr><th>id</th><th>name</th><th>"
           "trigger</th><th>filters</th><th>targets</th><th>state"
           "</th></tr>");
    for (const storage::AlertRule& r : v.rules) {
      absl::StatusOr<alerts::Rule> rule = alerts::ParseRule(r.definition_json);
      Append(&body, "<tr class=\"rule\"><td class=\"num\">", r.id, "</td>");
      if (!rule.ok()) {
        Append(&body, "<td colspan=\"5\" class=\"muted\">unreadable: ",
               Escape(std::string(rule.status().message())), "</td></tr>");
        continue;
      }
      std::string trigger(alerts::TriggerName(rule->trigger));
      if (rule->trigger == alerts::Trigger::kFrequency) {
        Append(&trigger, " &gt; ", rule->frequency_count, " in ",
               absl::ToInt64Minutes(rule->frequency_window), " min");
      }
      std::string filters;
      if (rule->min_level) Append(&filters, "level &ge; ", *rule->min_level);
      if (!rule->environment.empty()) {
        Append(&filters, filters.empty() ? "" : ", ", "environment ",
               Escape(rule->environment));
      }
      if (!rule->release_glob.empty()) {
        Append(&filters, filters.empty() ? "" : ", ", "release ",
               Escape(rule->release_glob));
      }
      std::string targets;
      for (const alerts::Target& t : rule->targets) {
        Append(&targets, targets.empty() ? "" : "<br>",
               alerts::TargetKindName(t.kind), ": ",
               Escape(Truncate(TargetText(alerts::TargetJson(t)), 120)));
      }
      Append(
          &body, "<td>", Escape(rule->name), "</td><td>", trigger,
          "</td><td class=\"small\">", filters.empty() ? "default" : filters,
          "</td><td class=\"small\">", targets, "</td><td>",
          rule->enabled ? "enabled" : "<span class=\"muted\">disabled</span>",
          "</td></tr>");
    }
    Append(&body, "</table>");
  }
  Append(&body, "<h2>Recent notifications</h2>");
  AppendNotifications(&body, v.notifications, true, v.now_ms);
  return RenderLayout(Cat(v.project.name, " alerts"), body, v.logout);
}

std::string RenderError(int status, std::string_view message, bool logout) {
  return RenderLayout(Cat(status),
                      Cat("<h1>", status, "</h1><p>", Escape(message),
                          "</p><p><a href=\"/\">Projects</a></p>"),
                      logout);
}

std::string RenderBrowserTest(std::string_view dsn,
                              std::string_view import_map_json) {
  std::string body =
      "<h1>Browser SDK test</h1><p>This page loads <code>@sentry/browser"
      "</code> with the DSN below; the button throws an uncaught error, "
      "which the SDK sends to the relay. Then look for the issue in the "
      "<a href=\"/\">UI</a>.</p>";
  Append(&body, "<p>DSN: <code id=\"dsn\">", Escape(dsn), "</code></p>");
  if (import_map_json.empty()) {
    Append(&body,
           "<p class=\"error\">@sentry/browser is not installed: set "
           "<code>ui.browser_sdk_dir</code> to a node_modules directory that "
           "has it (scripts/dev.sh does).</p>");
    return RenderLayout("Browser SDK test", body, false);
  }
  if (dsn.empty()) {
    Append(&body,
           "<p class=\"error\">No DSN: set <code>ui.browser_test_dsn</code> "
           "or pass <code>?dsn=</code>.</p>");
    return RenderLayout("Browser SDK test", body, false);
  }
  // The DSN travels in a data attribute (escaped), never inside the script.
  Append(&body,
         "<p><button class=\"primary\" id=\"throw\" type=\"button\">Throw an "
         "error</button> <span id=\"state\" class=\"muted\">loading the "
         "SDK…</span></p><div id=\"config\" data-dsn=\"",
         Escape(dsn), "\"></div><script type=\"importmap\">", import_map_json,
         R"js(</script><script type="module">
import * as Sentry from "@sentry/browser";
const state = document.getElementById("state");
const dsn = document.getElementById("config").dataset.dsn;
Sentry.init({
  dsn,
  release: "tern-browser-test@1",
  environment: "dev",
  beforeSend(event) {
    state.textContent = "sending " + event.event_id;
    return event;
  },
});
window.__ternSentry = Sentry;
document.getElementById("throw").addEventListener("click", () => {
  Sentry.addBreadcrumb({category: "ui", message: "throw button clicked"});
  setTimeout(() => {
    throw new Error("Tern browser test: button clicked at " + new Date().toISOString());
  });
});
state.textContent = "ready";
state.dataset.ready = "1";
</script>)js");
  return RenderLayout("Browser SDK test", body, false);
}

}  // namespace tern::ui
