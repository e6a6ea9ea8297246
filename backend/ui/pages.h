// The web UI's pages, rendered server-side from data the handler fetched:
// pure functions from structs to one complete HTML document each, so they
// are tested without a server (pages_test.cc).
//
// Every page is one document with its CSS inline and no script (the dev
// browser-test page aside): one round trip per view. All text from the
// store, and above all from event payloads, is hostile: it is escaped
// (html.h) whatever its field.
#ifndef TERN_BACKEND_UI_PAGES_H_
#define TERN_BACKEND_UI_PAGES_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/storage/store.h"

namespace tern::ui {

// The layout around a page's body: header with the app name and, when
// `logout` is set, the log-out button; `title` in <title> (escaped).
std::string RenderLayout(std::string_view title, std::string_view body_html,
                         bool logout);

// The login form. `error` (shown escaped) after a wrong token; `next` is the
// local path to go back to after logging in (the caller checked it is a
// local path).
std::string RenderLogin(std::string_view error, std::string_view next);

// The project list: name, slug, link to the project's issues.
std::string RenderProjects(std::span<const storage::Project> projects,
                           bool logout);

struct IssueRow {
  storage::Issue issue;
  // Events per bucket, oldest first (24 hourly or 14 daily buckets).
  std::vector<int64_t> histogram;
};

struct IssuesView {
  storage::Project project;
  std::vector<IssueRow> rows;
  // The filter as the user sees it: "unresolved", "resolved", "ignored" or
  // "all"; the raw search text; "lastSeen", "firstSeen" or "count"; the
  // sparkline period "24h" or "14d".
  std::string status = "unresolved";
  std::string query;
  std::string sort = "lastSeen";
  std::string period = "24h";
  // Set when this page was reached with a cursor (a "first page" link is
  // shown) and when another page follows (the encoded cursor of the next).
  bool has_cursor = false;
  std::string next_cursor;
  int64_t now_ms = 0;
  bool logout = false;
};

// The issues of one project: filter tabs, search, sort and period, the
// table with sparklines, and the pagination links.
std::string RenderIssues(const IssuesView& view);

struct IssueView {
  storage::Project project;
  storage::Issue issue;
  // The event shown (the latest unless one was asked for); nullopt when
  // the issue has no event left (retention).
  std::optional<storage::StoredEvent> event;
  // Neighbours in the issue's event list (newest first): the newer and the
  // older event's ids, when there are.
  std::optional<std::string> newer_event_id;
  std::optional<std::string> older_event_id;
  // Events per day over the last 14 days, oldest first.
  std::vector<int64_t> histogram;
  // The notifications alert rules queued for this issue, newest first.
  std::vector<storage::OutboxEntry> notifications;
  int64_t now_ms = 0;
  bool logout = false;
};

// One issue: header with status and the resolve / unresolve / ignore
// buttons, then the event: exception chain with frames (in-app frames
// marked, context lines), message, tags, breadcrumbs, request, user,
// contexts, and links to the newer and older events.
std::string RenderIssue(const IssueView& view);

struct AlertsView {
  storage::Project project;
  std::vector<storage::AlertRule> rules;
  // The project's recent notifications, newest first.
  std::vector<storage::OutboxEntry> notifications;
  int64_t now_ms = 0;
  bool logout = false;
};

// A project's alert rules (name, trigger, filters, targets; a rule the
// parser refuses is shown as unreadable) and its recent notifications with
// their status, attempts and last error.
std::string RenderAlerts(const AlertsView& view);

// An error page with `status` and a message (escaped).
std::string RenderError(int status, std::string_view message, bool logout);

// Dev mode's /dev/browser-test: loads @sentry/browser as ES modules through
// `import_map_json` (built by the handler from the installed packages;
// inserted as is, so the caller must produce it with a JSON writer), inits
// it with `dsn` and throws an error when the button is clicked. With an
// empty import map the page explains that the SDK is not installed.
std::string RenderBrowserTest(std::string_view dsn,
                              std::string_view import_map_json);

}  // namespace tern::ui

#endif  // TERN_BACKEND_UI_PAGES_H_
