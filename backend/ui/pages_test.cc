// The pages as pure functions: golden fragments for what each shows, and
// hostile payloads in every field an event can carry.
#include "backend/ui/pages.h"

#include <string>
#include <vector>

#include "backend/ui/html.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::ui {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1795294800000;  // 2026-11-21T21:00:00Z

// Counts non-overlapping occurrences.
size_t Count(const std::string& haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

storage::Project Demo() {
  storage::Project p;
  p.id = 1;
  p.name = "Demo";
  p.slug = "demo";
  p.created_ms = kNow - 86'400'000;
  return p;
}

storage::Issue AnIssue() {
  storage::Issue i;
  i.id = 7;
  i.project_id = 1;
  i.short_id = 33;
  i.fields.title = "ValueError: bad input";
  i.fields.culprit = "app.views in index";
  i.fields.level = "error";
  i.first_seen_ms = kNow - 2 * 3'600'000;
  i.last_seen_ms = kNow - 5 * 60'000;
  i.times_seen = 12;
  return i;
}

constexpr char kRealisticPayload[] = R"json({
  "event_id": "0123456789abcdef0123456789abcdef",
  "exception": {"values": [
    {"type": "KeyError", "value": "'id'",
     "stacktrace": {"frames": [
       {"filename": "app/db.py", "function": "load", "lineno": 10,
        "in_app": true}]}},
    {"type": "ValueError", "value": "bad input",
     "mechanism": {"type": "generic", "handled": true},
     "stacktrace": {"frames": [
       {"filename": "django/core/handlers.py", "function": "inner",
        "lineno": 55, "in_app": false},
       {"filename": "app/views.py", "function": "index", "lineno": 42,
        "colno": 5, "in_app": true,
        "pre_context": ["def index(request):", "    data = load()"],
        "context_line": "    raise ValueError('bad input')",
        "post_context": ["", "def other():"]}]}}]},
  "breadcrumbs": {"values": [
    {"timestamp": 1795294790.5, "category": "http", "level": "info",
     "message": "GET /api", "data": {"status": 200}},
    {"timestamp": "2026-11-21T20:59:55Z", "category": "ui.click",
     "message": "button#save"}]},
  "request": {"method": "POST", "url": "https://example.com/save",
              "query_string": "a=1",
              "headers": [["User-Agent", "curl/8"], ["Accept", "*/*"]]},
  "user": {"id": "42", "email": "a@example.com", "ip_address": "10.0.0.1"},
  "contexts": {"os": {"name": "Linux", "version": "6.1"},
               "runtime": {"name": "CPython", "version": "3.11.2"}}
})json";

storage::StoredEvent AnEvent(std::string payload) {
  storage::StoredEvent e;
  e.summary.project_id = 1;
  e.summary.event_id = "0123456789abcdef0123456789abcdef";
  e.summary.issue_id = 7;
  e.summary.received_ms = kNow - 5 * 60'000;
  e.summary.level = "error";
  e.summary.platform = "python";
  e.summary.release = "app@1.0";
  e.summary.environment = "production";
  e.summary.tags_json = R"([["browser","Firefox"],["server_name","web-1"]])";
  e.payload = std::move(payload);
  return e;
}

IssueView AnIssueView(std::string payload) {
  IssueView v;
  v.project = Demo();
  v.issue = AnIssue();
  v.event = AnEvent(std::move(payload));
  v.histogram = std::vector<int64_t>(14, 0);
  v.histogram[13] = 12;
  v.now_ms = kNow;
  v.logout = true;
  return v;
}

TEST(RenderIssue, ShowsTheIssueAndItsLatestEvent) {
  IssueView v = AnIssueView(kRealisticPayload);
  v.older_event_id = "fedcba9876543210fedcba9876543210";
  const std::string html = RenderIssue(v);
  EXPECT_THAT(html, HasSubstr("<title>ValueError: bad input · Tern</title>"));
  EXPECT_THAT(html, HasSubstr("<h1>ValueError: bad input</h1>"));
  EXPECT_THAT(html, HasSubstr("DEMO-11"));
  EXPECT_THAT(html, HasSubstr("<span class=\"status status-unresolved\">"));
  EXPECT_THAT(html, HasSubstr("12 events · first seen 2h ago · last seen 5m "
                              "ago"));
  // The buttons for the other two statuses, as POST forms.
  EXPECT_THAT(html, HasSubstr("<form method=\"post\" action=\"/issues/7/"
                              "status\"><input type=\"hidden\" "
                              "name=\"status\" value=\"resolved\"><button "
                              "id=\"resolved\""));
  EXPECT_THAT(html, HasSubstr("id=\"ignored\""));
  EXPECT_THAT(html, Not(HasSubstr("id=\"unresolved\"")));
  // The chain: the raised exception (last) first, then its cause.
  const size_t value_error = html.find("<h3>ValueError</h3>");
  const size_t key_error = html.find("<h3>KeyError</h3>");
  ASSERT_NE(value_error, std::string::npos);
  ASSERT_NE(key_error, std::string::npos);
  EXPECT_LT(value_error, key_error);
  EXPECT_THAT(html, HasSubstr("mechanism: generic, handled"));
  // Frames most recent first, in-app marked, with context lines numbered
  // from lineno.
  EXPECT_LT(html.find("app/views.py"), html.find("django/core/handlers.py"));
  EXPECT_THAT(html, HasSubstr("<div class=\"frame inapp\"><div class=\"loc\">"
                              "app/views.py in <b>index</b> at line 42:5<span "
                              "class=\"badge\">in app</span>"));
  EXPECT_THAT(html, HasSubstr("<div class=\"frame\"><div class=\"loc\">"
                              "django/core/handlers.py in <b>inner</b> at "
                              "line 55</div>"));
  EXPECT_THAT(html, HasSubstr("   40  def index(request):\n"
                              "   41      data = load()\n"
                              "<span class=\"cur\">   42      raise "
                              "ValueError(&#39;bad input&#39;)</span>\n"
                              "   43  \n"
                              "   44  def other():\n"));
  EXPECT_THAT(html, HasSubstr("<tr><td>browser</td><td>Firefox</td></tr>"));
  // Breadcrumbs newest first; numeric timestamps formatted.
  EXPECT_LT(html.find("button#save"), html.find("GET /api"));
  EXPECT_THAT(html, HasSubstr("2026-11-21 20:59:50 UTC"));
  EXPECT_THAT(html, HasSubstr("GET /api {&quot;status&quot;:200}"));
  EXPECT_THAT(html, HasSubstr("<b>POST</b> https://example.com/save"));
  EXPECT_THAT(html, HasSubstr("<tr><td>User-Agent</td><td>curl/8</td></tr>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>email</td><td>a@example.com</td>"));
  EXPECT_THAT(html, HasSubstr("<h3>runtime</h3>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>version</td><td>3.11.2</td></tr>"));
  // Neighbours: no newer event (greyed), an older one linked.
  EXPECT_THAT(html, HasSubstr("<span class=\"muted\">&larr; Newer event"));
  EXPECT_THAT(html, HasSubstr("<a id=\"older\" href=\"/issues/7/?event="
                              "fedcba9876543210fedcba9876543210\">"));
  EXPECT_THAT(html, HasSubstr("Log out"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
}

TEST(RenderIssue, SymbolicatedFramesWithTheMinifiedOnesBehindAToggle) {
  const std::string html = RenderIssue(AnIssueView(R"({
    "exception": {"values": [{"type": "Error", "value": "no items",
      "stacktrace": {"frames": [{"filename": "src/app.js", "function":
        "validateOrder", "lineno": 3, "colno": 11, "in_app": true,
        "context_line": "    throw new Error();",
        "data": {"sourcemap": "/srv/dist/app.min.js.map",
                 "resolved_with": "debug-id", "symbolicated": true}}]},
      "raw_stacktrace": {"frames": [{"filename": "/srv/dist/app.min.js",
        "function": "r", "lineno": 1, "colno": 88, "in_app": true}]}}]},
    "errors": [{"type": "js_no_source", "url": "/srv/runner.js"},
               {"type": "js_invalid_sourcemap_location", "row": 9,
                "column": 4, "source": "/srv/x.min.js"}]
  })"));
  const size_t original = html.find("src/app.js in <b>validateOrder</b>");
  const size_t toggle = html.find(
      "<details class=\"raw\"><summary>Show minified frames</summary>");
  const size_t minified = html.find(
      "/srv/dist/app.min.js in <b>r</b> at "
      "line 1:88");
  ASSERT_NE(original, std::string::npos);
  ASSERT_NE(toggle, std::string::npos);
  ASSERT_NE(minified, std::string::npos);
  EXPECT_LT(original, toggle);
  EXPECT_LT(toggle, minified);
  EXPECT_THAT(html, HasSubstr("source map: /srv/dist/app.min.js.map "
                              "(debug-id)"));
  EXPECT_THAT(html, HasSubstr("<h2>Processing errors</h2>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>js_no_source</td><td class=\"small\">"
                              "/srv/runner.js</td>"));
  EXPECT_THAT(html, HasSubstr("line 9, column 4"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
}

TEST(RenderIssue, ResolvedIssueOffersUnresolveAndIgnore) {
  IssueView v = AnIssueView("{}");
  v.issue.status = storage::IssueStatus::kResolved;
  const std::string html = RenderIssue(v);
  EXPECT_THAT(html, HasSubstr("status-resolved"));
  EXPECT_THAT(html, HasSubstr("id=\"unresolved\""));
  EXPECT_THAT(html, HasSubstr("id=\"ignored\""));
  EXPECT_THAT(html, Not(HasSubstr("id=\"resolved\"")));
}

TEST(RenderIssue, MessageEventsAndLegacyShapes) {
  // A bare exception array (old SDKs), a logentry, a plain stack trace.
  const std::string html = RenderIssue(AnIssueView(R"({
    "exception": [{"type": "E", "value": "v"}],
    "logentry": {"formatted": "hello 42"},
    "breadcrumbs": [{"message": "crumb", "timestamp": 1}]})"));
  EXPECT_THAT(html, HasSubstr("<h3>E</h3><div>v</div>"));
  EXPECT_THAT(html, HasSubstr("<h2>Message</h2><pre>hello 42</pre>"));
  EXPECT_THAT(html, HasSubstr("crumb"));
}

TEST(RenderIssue, PayloadThatIsNotAnObjectIsShownAsText) {
  const std::string html = RenderIssue(AnIssueView("[1, \"<b>\"]"));
  EXPECT_THAT(html, HasSubstr("not a JSON object"));
  EXPECT_THAT(html, HasSubstr("[1, &quot;&lt;b&gt;&quot;]"));
}

TEST(RenderIssue, WithoutAnEventSaysSo) {
  IssueView v = AnIssueView("{}");
  v.event.reset();
  EXPECT_THAT(RenderIssue(v), HasSubstr("No event of this issue is stored"));
}

// Every string field of an event, set to markup. The rendered page must not
// contain the markup raw anywhere, and must show it escaped.
TEST(RenderIssue, HostilePayloadIsEscapedEverywhere) {
  const std::string evil = R"(<x-evil onload=\"alert(1)\">')";
  std::string payload = R"({
    "exception": {"values": [{"type": "EVIL", "value": "EVIL",
      "mechanism": {"type": "EVIL", "handled": false},
      "stacktrace": {"frames": [{"filename": "EVIL", "function": "EVIL",
        "lineno": 3, "in_app": true, "pre_context": ["EVIL"],
        "context_line": "EVIL", "post_context": ["EVIL"]}]}}]},
    "message": "EVIL",
    "breadcrumbs": {"values": [{"timestamp": "EVIL", "category": "EVIL",
      "level": "EVIL", "message": "EVIL", "data": {"EVIL": "EVIL"}}]},
    "request": {"method": "EVIL", "url": "EVIL", "query_string": "EVIL",
                "headers": {"EVIL": "EVIL"}, "data": "EVIL"},
    "user": {"EVIL": "EVIL"},
    "contexts": {"EVIL": {"EVIL": "EVIL"}, "other": "EVIL"}})";
  for (size_t at = payload.find("EVIL"); at != std::string::npos;
       at = payload.find("EVIL", at + evil.size())) {
    payload.replace(at, 4, evil);
  }
  IssueView v = AnIssueView(payload);
  v.issue.fields.title = "<x-evil>title";
  v.issue.fields.culprit = "<x-evil>culprit";
  v.issue.fields.level = "<x-evil>";
  v.project.name = "<x-evil>project";
  v.event->summary.tags_json = R"([["<x-evil>","<x-evil>"]])";
  v.event->summary.release = "<x-evil>";
  v.event->summary.event_id = "<x-evil>";
  v.newer_event_id = "\"><x-evil>";
  v.older_event_id = "\"><x-evil>";
  v.event->attachments.push_back({"a", "<x-evil>", "<x-evil>", "t", 3});
  const std::string html = RenderIssue(v);
  EXPECT_THAT(html, Not(HasSubstr("<x-evil")));
  EXPECT_THAT(html, Not(HasSubstr("onload=\"")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  // Every payload occurrence shows as text: 27 in the payload, minus the
  // two inside the breadcrumb's data, which is shown as JSON (its quotes
  // then read \&quot;).
  EXPECT_EQ(Count(html, "&lt;x-evil onload=&quot;alert(1)&quot;&gt;&#39;"),
            25u);
  EXPECT_EQ(Count(html, "&lt;x-evil onload=\\&quot;alert(1)\\&quot;&gt;"), 2u);
  EXPECT_THAT(html, HasSubstr("&lt;x-evil&gt;title"));
  // The level's CSS class keeps only letters of the value.
  EXPECT_THAT(html, HasSubstr("class=\"level level-xevil\""));
  // Neighbour ids are URL-encoded inside the href.
  EXPECT_THAT(html, HasSubstr("?event=%22%3E%3Cx-evil%3E\""));
}

IssuesView AnIssuesView() {
  IssuesView v;
  v.project = Demo();
  IssueRow row;
  row.issue = AnIssue();
  row.histogram = std::vector<int64_t>(24, 0);
  row.histogram[23] = 3;
  v.rows.push_back(row);
  v.now_ms = kNow;
  return v;
}

TEST(RenderIssues, ShowsTheTableFiltersAndPagination) {
  IssuesView v = AnIssuesView();
  v.query = "bad";
  v.next_cursor = "1795294500000:7";
  const std::string html = RenderIssues(v);
  EXPECT_THAT(html, HasSubstr("<a class=\"title\" href=\"/issues/7/\">"
                              "ValueError: bad input</a>"));
  EXPECT_THAT(html, HasSubstr("DEMO-11 · app.views in index"));
  EXPECT_THAT(html, HasSubstr("<td class=\"num\">12</td>"));
  EXPECT_THAT(html, HasSubstr("<span class=\"level level-error\">error"));
  EXPECT_THAT(html, HasSubstr("<title>3 events in 24h</title>"));
  EXPECT_THAT(html, HasSubstr("<a class=\"on\" href=\"/projects/demo/?status="
                              "unresolved&amp;query=bad&amp;sort=lastSeen&amp;"
                              "period=24h\">unresolved</a>"));
  EXPECT_THAT(html, HasSubstr("name=\"query\" placeholder=\"Search title or "
                              "culprit\" value=\"bad\""));
  EXPECT_THAT(html, HasSubstr("<option value=\"lastSeen\" selected>"));
  EXPECT_THAT(html, HasSubstr("period=14d\">14d</a>"));
  EXPECT_THAT(html, HasSubstr("<a id=\"next\" href=\"/projects/demo/?status="
                              "unresolved&amp;query=bad&amp;sort=lastSeen&amp;"
                              "period=24h&amp;cursor=1795294500000%3A7\">"));
  EXPECT_THAT(html, Not(HasSubstr("First page")));
  v.has_cursor = true;
  v.next_cursor.clear();
  const std::string second = RenderIssues(v);
  EXPECT_THAT(second, HasSubstr("First page"));
  EXPECT_THAT(second, Not(HasSubstr("id=\"next\"")));
}

// Sentry titles a captureMessage with a synthetic stack trace by its crash
// frame's function, with no culprit; its stream shows the message
// (metadata.value) on the line below, and so do we. A "Type: value" title
// already carries the value and gets no second copy.
TEST(RenderIssues, SyntheticExceptionShowsItsMessageUnderTheTitle) {
  IssuesView v = AnIssuesView();
  v.rows[0].issue.fields.metadata_value = "bad input";
  EXPECT_THAT(RenderIssues(v), Not(HasSubstr("class=\"message\"")));
  storage::Issue& i = v.rows[0].issue;
  i.fields.title = "Object.?";
  i.fields.culprit.clear();
  i.fields.metadata_type.clear();
  i.fields.metadata_function = "Object.?";
  i.fields.metadata_value = "cache miss rate 93% on <shard> 7\nsecond line";
  const std::string html = RenderIssues(v);
  EXPECT_THAT(html, HasSubstr("Object.?</a><div class=\"message\">cache miss "
                              "rate 93% on &lt;shard&gt; 7</div>"));
  EXPECT_THAT(html, Not(HasSubstr("second line")));
  IssueView page = AnIssueView(kRealisticPayload);
  page.issue = i;
  EXPECT_THAT(RenderIssue(page),
              HasSubstr("<h1>Object.?</h1><div class=\"message\">cache miss "
                        "rate 93% on &lt;shard&gt; 7</div>"));
}

TEST(RenderIssues, HostileSearchTextAndTitlesAreEscaped) {
  IssuesView v = AnIssuesView();
  v.query = "\"><x-evil>";
  v.rows[0].issue.fields.title = "<x-evil>";
  v.rows[0].issue.fields.culprit = "<x-evil>";
  v.project.name = "<x-evil>";
  const std::string html = RenderIssues(v);
  EXPECT_THAT(html, Not(HasSubstr("<x-evil")));
  EXPECT_THAT(html, HasSubstr("value=\"&quot;&gt;&lt;x-evil&gt;\""));
  EXPECT_THAT(html, HasSubstr("query=%22%3E%3Cx-evil%3E"));
}

TEST(RenderIssues, EmptyListSaysSo) {
  IssuesView v = AnIssuesView();
  v.rows.clear();
  EXPECT_THAT(RenderIssues(v), HasSubstr("No issue matches."));
}

storage::OutboxEntry ANotification(int64_t id, std::string trigger,
                                   storage::OutboxStatus status) {
  storage::OutboxEntry o;
  o.id = id;
  o.project_id = 1;
  o.rule_id = 3;
  o.issue_id = 7;
  o.trigger = std::move(trigger);
  o.target_kind = "webhook";
  o.target_json =
      R"({"type":"webhook","format":"generic","url":"https://h.example/x",)"
      R"("secret":"do-not-show"})";
  o.status = status;
  o.attempts = 2;
  o.last_error = "webhook: HTTP 500: <oops>";
  o.created_ms = kNow - 120'000;
  return o;
}

TEST(RenderIssue, ListsTheAlertsThatFired) {
  IssueView v = AnIssueView("{}");
  const std::string none = RenderIssue(v);
  EXPECT_THAT(none, HasSubstr("<h2>Alerts fired</h2>"));
  EXPECT_THAT(none, HasSubstr("No notification yet."));
  v.notifications = {
      ANotification(2, "regression", storage::OutboxStatus::kSent),
      ANotification(1, "new_issue", storage::OutboxStatus::kFailed)};
  const std::string html = RenderIssue(v);
  EXPECT_EQ(Count(html, "<tr class=\"notification\">"), 2u);
  EXPECT_THAT(html, HasSubstr("<td>regression</td>"));
  EXPECT_THAT(html, HasSubstr("outbox-sent\">sent</span>"));
  EXPECT_THAT(html, HasSubstr("outbox-failed\">failed</span>"));
  EXPECT_THAT(html, HasSubstr("webhook: https://h.example/x"));
  EXPECT_THAT(html, HasSubstr("HTTP 500: &lt;oops&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("do-not-show")));
}

TEST(RenderAlerts, ShowsRulesAndNotifications) {
  AlertsView v;
  v.project = Demo();
  v.now_ms = kNow;
  const std::string empty = RenderAlerts(v);
  EXPECT_THAT(empty, HasSubstr("No rule."));
  EXPECT_THAT(empty, HasSubstr("No notification yet."));
  v.rules = {
      {3, 1,
       R"({"name":"Spikes <x>","trigger":"frequency","enabled":false,)"
       R"("frequency":{"count":50,"minutes":10},"filters":{"environment":)"
       R"("prod"},"targets":[{"type":"email","to":["a@x.org","b@x.org"]}]})",
       kNow, kNow},
      {4, 1, R"({"name": 1})", kNow, kNow}};
  storage::OutboxEntry summary =
      ANotification(5, "summary", storage::OutboxStatus::kPending);
  summary.issue_id = 0;
  v.notifications = {
      summary, ANotification(4, "new_issue", storage::OutboxStatus::kSent)};
  const std::string html = RenderAlerts(v);
  EXPECT_EQ(Count(html, "<tr class=\"rule\">"), 2u);
  EXPECT_THAT(html, HasSubstr("<td>Spikes &lt;x&gt;</td>"));
  EXPECT_THAT(html, HasSubstr("frequency &gt; 50 in 10 min"));
  EXPECT_THAT(html, HasSubstr("environment prod"));
  EXPECT_THAT(html, HasSubstr("email: a@x.org, b@x.org"));
  EXPECT_THAT(html, HasSubstr("disabled"));
  EXPECT_THAT(html, HasSubstr("unreadable: name: expected a string"));
  EXPECT_EQ(Count(html, "<tr class=\"notification\">"), 2u);
  EXPECT_THAT(html, HasSubstr("<td class=\"muted\">summary</td>"));
  EXPECT_THAT(html, HasSubstr("<a href=\"/issues/7/\">7</a>"));
  EXPECT_THAT(html, Not(HasSubstr("do-not-show")));
}

TEST(RenderIssues, LinksTheAlertsPage) {
  IssuesView v;
  v.project = Demo();
  EXPECT_THAT(RenderIssues(v),
              HasSubstr("<a id=\"alerts\" href=\"/projects/demo/alerts/\">"));
}

TEST(RenderProjects, LinksEachProject) {
  std::vector<storage::Project> projects = {Demo()};
  projects.push_back(Demo());
  projects[1].name = "<x-evil>";
  projects[1].slug = "a b";
  const std::string html = RenderProjects(projects, false);
  EXPECT_THAT(html, HasSubstr("<a href=\"/projects/demo/\">Demo</a>"));
  EXPECT_THAT(html, HasSubstr("<a href=\"/projects/a%20b/\">&lt;x-evil&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("Log out")));
  EXPECT_THAT(RenderProjects({}, false), HasSubstr("No project yet"));
}

TEST(RenderLogin, KeepsNextEscaped) {
  const std::string html = RenderLogin("wrong token", "/issues/1/?a=\"b\"");
  EXPECT_THAT(html, HasSubstr("<p class=\"error\">wrong token</p>"));
  EXPECT_THAT(html, HasSubstr("name=\"next\" value=\"/issues/1/?a=&quot;b"
                              "&quot;\""));
  EXPECT_THAT(html, HasSubstr("type=\"password\" name=\"token\""));
}

TEST(RenderBrowserTest, PutsTheDsnInAnAttributeOnly) {
  const std::string html =
      RenderBrowserTest("http://k@127.0.0.1:3000/1\"</script>",
                        R"({"imports":{"@sentry/browser":"/dev/sdk/x.js"}})");
  EXPECT_THAT(html, HasSubstr("data-dsn=\"http://k@127.0.0.1:3000/1&quot;"
                              "&lt;/script&gt;\""));
  EXPECT_EQ(Count(html, "</script>"), 2u);  // the import map and the module
  EXPECT_THAT(html, HasSubstr("<script type=\"importmap\">{\"imports\""));
  EXPECT_THAT(html, HasSubstr("id=\"throw\""));
  EXPECT_THAT(RenderBrowserTest("x", ""), HasSubstr("is not installed"));
  EXPECT_THAT(RenderBrowserTest("", "{}"), HasSubstr("No DSN"));
}

TEST(RenderError, EscapesTheMessage) {
  const std::string html = RenderError(404, "<x-evil>", true);
  EXPECT_THAT(html, HasSubstr("<h1>404</h1><p>&lt;x-evil&gt;</p>"));
}

}  // namespace
}  // namespace tern::ui
