// The web UI over a real socket: ApiServer with the UiHandler as its extra
// handler (as backend/app wires it), a real SqliteStore in a temp dir, and
// raw HTTP from net/test_client.h.
#include "backend/ui/ui_handler.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "backend/api/api_server.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/test_client.h"

namespace tern::ui {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "ui-test-api-token-0123";
constexpr int64_t kBaseMs = 1795294800000;  // 2026-11-21T21:00:00Z

struct Response : net::testing::ParsedResponse {
  // "tern_session=<id>" from Set-Cookie, for the next request's Cookie.
  std::string Cookie() const {
    const std::string set = Header("Set-Cookie");
    return set.substr(0, set.find(';'));
  }
};

std::string Hex32(int n) {
  std::string s = absl::StrCat(n);
  return std::string(32 - s.size(), '0') + s;
}

class UiHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tern-ui-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = storage::OpenStore(absl::StrCat("sqlite:", dir_, "/db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto demo = store_->CreateProject("demo");
    ASSERT_TRUE(demo.ok()) << demo.status();
    demo_ = demo->first;
    auto other = store_->CreateProject("other");
    ASSERT_TRUE(other.ok()) << other.status();
    other_ = other->first;
    Start(UiOptions{});
  }

  void TearDown() override {
    server_.reset();
    ui_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Start(UiOptions options) {
    server_.reset();
    options.api_token = kToken;
    options.now_ms = [this] { return now_ms_.load(); };
    ui_ = std::make_unique<UiHandler>(store_.get(), std::move(options));
    api::ApiOptions api;
    api.port = 0;
    api.api_token = "api-token-not-used-here";
    auto server = api::ApiServer::Start(api, store_.get(), ui_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  Response Call(std::string_view method, std::string_view target,
                std::string_view headers = "", std::string_view body = "",
                std::string host = "") {
    if (host.empty()) host = absl::StrCat("127.0.0.1:", server_->port());
    net::testing::TestClient client(server_->port());
    EXPECT_TRUE(client.ok());
    const std::string request =
        absl::StrCat(ToAbsl(method), " ", ToAbsl(target),
                     " HTTP/1.1\r\nHost: ", host, "\r\n", ToAbsl(headers),
                     "Content-Length: ", body.size(), "\r\n\r\n", ToAbsl(body));
    EXPECT_TRUE(client.Send(request));
    Response r;
    static_cast<net::testing::ParsedResponse&>(r) =
        net::testing::ParseResponse(client.ReadResponse());
    EXPECT_NE(r.status, 0) << "no response to " << target;
    return r;
  }
  Response Get(std::string_view target, std::string_view cookie = "") {
    return Call(
        "GET", target,
        cookie.empty() ? "" : absl::StrCat("Cookie: ", ToAbsl(cookie), "\r\n"));
  }
  Response Post(std::string_view target, std::string_view form,
                std::string_view cookie = "", std::string_view extra = "") {
    std::string headers = "Content-Type: application/x-www-form-urlencoded\r\n";
    if (!cookie.empty()) {
      absl::StrAppend(&headers, "Cookie: ", ToAbsl(cookie), "\r\n");
    }
    absl::StrAppend(&headers, ToAbsl(extra));
    return Call("POST", target, headers, form);
  }
  // Logs in and returns the Cookie value.
  std::string LogIn() {
    const Response r = Post("/login", absl::StrCat("token=", kToken));
    EXPECT_EQ(r.status, 303) << r.body;
    EXPECT_THAT(r.Header("Set-Cookie"), StartsWith("tern_session="));
    return r.Cookie();
  }

  // Writes `n` events of one issue (hash `hash`) to the demo project, one
  // second apart, and returns the issue id.
  int64_t WriteIssue(std::string hash, std::string title, int n,
                     int first_serial, std::string payload = "") {
    storage::Batch batch;
    for (int i = 0; i < n; ++i) {
      storage::EventRecord e;
      e.project_id = demo_.id;
      e.event_id = Hex32(first_serial + i);
      e.hashes = {hash};
      e.issue.title = title;
      e.issue.culprit = "app.views in index";
      e.issue.level = "error";
      e.received_ms = kBaseMs + (first_serial + i) * 1000;
      e.timestamp_ms = e.received_ms;
      e.level = "error";
      e.payload = payload.empty() ? absl::StrCat(R"({"message":"event )",
                                                 first_serial + i, "\"}")
                                  : payload;
      batch.events.push_back(std::move(e));
    }
    auto result = store_->WriteBatch(batch);
    EXPECT_TRUE(result.ok()) << result.status();
    storage::IssueQuery query;
    query.project_id = demo_.id;
    query.limit = 100;
    auto page = store_->ListIssues(query);
    EXPECT_TRUE(page.ok());
    for (const storage::Issue& issue : page->issues) {
      if (issue.fields.title == title) return issue.id;
    }
    ADD_FAILURE() << "no issue " << title;
    return 0;
  }

  storage::IssueStatus StatusOf(int64_t issue_id) {
    auto issue = store_->GetIssue(issue_id);
    EXPECT_TRUE(issue.ok()) << issue.status();
    return issue.ok() ? issue->status : storage::IssueStatus::kUnresolved;
  }

  std::string dir_;
  std::atomic<int64_t> now_ms_{kBaseMs + 3'600'000};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<UiHandler> ui_;
  std::unique_ptr<api::ApiServer> server_;
  storage::Project demo_, other_;
};

TEST_F(UiHandlerTest, WithoutASessionEveryPageRedirectsToLogin) {
  Response r = Get("/");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.Header("Location"), "/login?next=%2F");
  r = Get("/issues/1/?event=abc");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.Header("Location"), "/login?next=%2Fissues%2F1%2F%3Fevent%3Dabc");
  EXPECT_EQ(Get("/projects/demo/").status, 303);
  EXPECT_EQ(Get("/dev/browser-test").status, 303);
  EXPECT_EQ(Get("/", "tern_session=forged0123").status, 303);
  // The API beside it keeps its own auth; the UI never answers /api/0/.
  EXPECT_EQ(Get("/api/0/projects/").status, 401);
  // Admin paths are not the UI's (backend/app routes them elsewhere); here
  // they are just another page behind the login.
  EXPECT_EQ(Get("/metrics").status, 303);
  // The login page itself is open.
  r = Get("/login?next=%2Fprojects%2Fdemo%2F");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("name=\"next\" value=\"/projects/demo/\""));
  EXPECT_THAT(r.Header("Content-Security-Policy"),
              HasSubstr("default-src 'none'"));
}

TEST_F(UiHandlerTest, AlertsPageShowsTheProjectsRulesOnly) {
  ASSERT_TRUE(store_
                  ->CreateAlertRule(demo_.id,
                                    R"({"name":"Demo mails","trigger":)"
                                    R"("new_issue","targets":[{"type":)"
                                    R"("email","to":["a@x.org"]}]})")
                  .ok());
  ASSERT_TRUE(store_
                  ->CreateAlertRule(other_.id,
                                    R"({"name":"Other hooks","trigger":)"
                                    R"("new_issue","targets":[{"type":)"
                                    R"("email","to":["b@x.org"]}]})")
                  .ok());
  const std::string cookie = LogIn();
  const Response r = Get("/projects/demo/alerts/", cookie);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("<td>Demo mails</td>"));
  EXPECT_THAT(r.body, Not(HasSubstr("Other hooks")));
  EXPECT_EQ(Get("/projects/nope/alerts/", cookie).status, 404);
  EXPECT_EQ(Get("/projects/demo/alerts/").status, 303);  // no session
}

TEST_F(UiHandlerTest, LoginSetsAStrictHttpOnlyCookieThatOpensPages) {
  Response r = Post(
      "/login", absl::StrCat("token=", kToken, "&next=%2Fprojects%2Fdemo%2F"));
  ASSERT_EQ(r.status, 303) << r.body;
  EXPECT_EQ(r.Header("Location"), "/projects/demo/");
  const std::string set = r.Header("Set-Cookie");
  EXPECT_THAT(set, HasSubstr("; Path=/; HttpOnly; SameSite=Strict; Max-Age="));
  EXPECT_THAT(set, Not(HasSubstr(kToken)));  // a session id, not the token
  const std::string cookie = r.Cookie();
  r = Get("/", cookie);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("<a href=\"/projects/demo/\">demo</a>"));
  EXPECT_THAT(r.body, HasSubstr("Log out"));
  // Among other cookies too.
  EXPECT_EQ(Get("/", absl::StrCat("a=b; ", cookie, "; c=d")).status, 200);
  // Logged in, the login page sends you on.
  EXPECT_EQ(Get("/login", cookie).status, 303);
}

TEST_F(UiHandlerTest, WrongTokenIs401WithoutCookie) {
  for (std::string form :
       {"token=wrong", "token=", "", "token=ui-test-api-token-012",
        "token=ui-test-api-token-01234", "token=%zz"}) {
    const Response r = Post("/login", form);
    EXPECT_GE(r.status, 400) << form;
    EXPECT_EQ(r.Header("Set-Cookie"), "") << form;
  }
  EXPECT_THAT(Post("/login", "token=wrong").body, HasSubstr("wrong token"));
}

TEST_F(UiHandlerTest, NextMustBeALocalPath) {
  for (std::string next : {"%2F%2Fevil.example%2F", "https%3A%2F%2Fevil",
                           "%2F%5Cevil.example", "%2Fa%0D%0ASet-Cookie:x"}) {
    const Response r =
        Post("/login", absl::StrCat("token=", kToken, "&next=", next));
    EXPECT_EQ(r.status, 303);
    EXPECT_EQ(r.Header("Location"), "/") << next;
  }
}

TEST_F(UiHandlerTest, LogoutEndsTheSession) {
  const std::string cookie = LogIn();
  const Response r = Post("/logout", "", cookie);
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.Header("Location"), "/login");
  EXPECT_THAT(r.Header("Set-Cookie"), HasSubstr("tern_session=; "));
  EXPECT_THAT(r.Header("Set-Cookie"), HasSubstr("Max-Age=0"));
  EXPECT_EQ(Get("/", cookie).status, 303);
}

TEST_F(UiHandlerTest, SessionsExpire) {
  UiOptions options;
  options.session_ttl_ms = 60'000;
  Start(options);
  const std::string cookie = LogIn();
  EXPECT_EQ(Get("/", cookie).status, 200);
  now_ms_ += 60'000;
  EXPECT_EQ(Get("/", cookie).status, 303);
}

TEST_F(UiHandlerTest, StatusButtonsChangeTheIssue) {
  const int64_t id = WriteIssue("h1", "ValueError: one", 1, 1);
  const std::string cookie = LogIn();
  const std::string action = absl::StrCat("/issues/", id, "/status");
  Response r = Post(action, "status=resolved", cookie);
  EXPECT_EQ(r.status, 303) << r.body;
  EXPECT_EQ(r.Header("Location"), absl::StrCat("/issues/", id, "/"));
  EXPECT_EQ(StatusOf(id), storage::IssueStatus::kResolved);
  EXPECT_THAT(Get(r.Header("Location"), cookie).body,
              HasSubstr("status-resolved"));
  EXPECT_EQ(Post(action, "status=ignored", cookie).status, 303);
  EXPECT_EQ(StatusOf(id), storage::IssueStatus::kIgnored);
  EXPECT_EQ(Post(action, "status=unresolved", cookie).status, 303);
  EXPECT_EQ(StatusOf(id), storage::IssueStatus::kUnresolved);

  EXPECT_EQ(Post(action, "status=deleted", cookie).status, 400);
  EXPECT_EQ(Post(action, "", cookie).status, 400);
  EXPECT_EQ(Post("/issues/999/status", "status=resolved", cookie).status, 404);
  EXPECT_EQ(Post("/issues/x/status", "status=resolved", cookie).status, 404);
  // Without a session nothing changes.
  r = Post(action, "status=resolved");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.Header("Location"), "/login");
  EXPECT_EQ(StatusOf(id), storage::IssueStatus::kUnresolved);
}

TEST_F(UiHandlerTest, CrossSitePostsAreRefused) {
  const int64_t id = WriteIssue("h1", "ValueError: one", 1, 1);
  const std::string cookie = LogIn();
  const std::string action = absl::StrCat("/issues/", id, "/status");
  EXPECT_EQ(
      Post(action, "status=resolved", cookie, "Origin: http://evil.example\r\n")
          .status,
      403);
  EXPECT_EQ(
      Post(action, "status=resolved", cookie, "Sec-Fetch-Site: cross-site\r\n")
          .status,
      403);
  EXPECT_EQ(Post("/login", absl::StrCat("token=", kToken), "",
                 "Origin: http://evil.example\r\n")
                .status,
            403);
  EXPECT_EQ(StatusOf(id), storage::IssueStatus::kUnresolved);
  // The page's own origin is fine.
  EXPECT_EQ(Post(action, "status=resolved", cookie,
                 absl::StrCat("Origin: http://127.0.0.1:", server_->port(),
                              "\r\nSec-Fetch-Site: same-origin\r\n"))
                .status,
            303);
  EXPECT_EQ(StatusOf(id), storage::IssueStatus::kResolved);
}

TEST_F(UiHandlerTest, DevModeOpensTheLoopbackOnlyForLoopbackHosts) {
  UiOptions options;
  options.dev_mode = true;
  Start(options);
  EXPECT_EQ(Get("/").status, 200);
  EXPECT_THAT(Get("/").body, Not(HasSubstr("Log out")));
  EXPECT_EQ(Call("GET", "/", "", "", "localhost:9000").status, 200);
  // A DNS-rebinding page sends its own host name: login required.
  EXPECT_EQ(Call("GET", "/", "", "", "evil.example:9000").status, 303);
  // The login form is still there, and works.
  EXPECT_EQ(Get("/login").status, 200);
  EXPECT_THAT(Get("/", LogIn()).body, HasSubstr("Log out"));
}

TEST_F(UiHandlerTest, IssueListFiltersSearchesAndPages) {
  const int64_t a = WriteIssue("ha", "ValueError: alpha", 3, 1);
  const int64_t b = WriteIssue("hb", "KeyError: beta", 1, 10);
  ASSERT_EQ(store_->SetIssueStatus(b, storage::IssueStatus::kResolved),
            absl::OkStatus());
  const std::string cookie = LogIn();
  Response r = Get("/projects/demo/", cookie);
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("href=\"/issues/", a,
                                             "/\">ValueError: alpha</a>")));
  EXPECT_THAT(r.body, Not(HasSubstr("KeyError: beta")));
  // Three events an hour ago: the 24 h sparkline has them.
  EXPECT_THAT(r.body, HasSubstr("<title>3 events in 24h</title>"));
  EXPECT_THAT(Get("/projects/demo/?period=14d", cookie).body,
              HasSubstr("<title>3 events in 14d</title>"));
  r = Get("/projects/demo/?status=resolved", cookie);
  EXPECT_THAT(r.body, HasSubstr("KeyError: beta"));
  EXPECT_THAT(r.body, Not(HasSubstr("ValueError: alpha")));
  r = Get("/projects/demo/?status=all&query=ALPHA", cookie);
  EXPECT_THAT(r.body, HasSubstr("ValueError: alpha"));
  EXPECT_THAT(r.body, Not(HasSubstr("KeyError: beta")));
  EXPECT_EQ(Get("/projects/demo/?sort=bogus", cookie).status, 400);
  EXPECT_EQ(Get("/projects/nope/", cookie).status, 404);
  EXPECT_EQ(Get("/projects/other/", cookie).status, 200);

  // Pagination: 27 issues, 25 per page, the next link leads to the rest.
  for (int i = 0; i < 25; ++i) {
    WriteIssue(absl::StrCat("p", i), absl::StrCat("PageError: ", i), 1,
               100 + i);
  }
  r = Get("/projects/demo/?status=all", cookie);
  const std::string marker = "<a id=\"next\" href=\"";
  const size_t at = r.body.find(marker);
  ASSERT_NE(at, std::string::npos);
  std::string next = r.body.substr(at + marker.size());
  next = next.substr(0, next.find('"'));
  for (size_t amp; (amp = next.find("&amp;")) != std::string::npos;) {
    next.replace(amp, 5, "&");
  }
  r = Get(next, cookie);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("First page"));
  EXPECT_THAT(r.body, Not(HasSubstr(marker)));
  EXPECT_THAT(r.body, HasSubstr("ValueError: alpha"));  // the oldest two
  EXPECT_THAT(r.body, HasSubstr("KeyError: beta"));
}

TEST_F(UiHandlerTest, IssuePageWalksEventsBothWays) {
  const int64_t id = WriteIssue("h1", "ValueError: one", 3, 1);
  WriteIssue("h2", "ValueError: two", 1, 50);
  const std::string cookie = LogIn();
  const std::string page = absl::StrCat("/issues/", id, "/");
  // Latest: event 3, older is 2, no newer.
  Response r = Get(page, cookie);
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("<pre>event 3</pre>"));
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("id=\"older\" href=\"", page,
                                             "?event=", Hex32(2))));
  EXPECT_THAT(r.body, Not(HasSubstr("id=\"newer\"")));
  // The middle one has both neighbours.
  r = Get(absl::StrCat(page, "?event=", Hex32(2)), cookie);
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("<pre>event 2</pre>"));
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("id=\"newer\" href=\"", page,
                                             "?event=", Hex32(3))));
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("id=\"older\" href=\"", page,
                                             "?event=", Hex32(1))));
  // The oldest has no older one.
  r = Get(absl::StrCat(page, "?event=", Hex32(1)), cookie);
  EXPECT_THAT(r.body, Not(HasSubstr("id=\"older\"")));
  EXPECT_THAT(r.body, HasSubstr("id=\"newer\""));
  // Another issue's event, or none, is not shown here.
  EXPECT_EQ(Get(absl::StrCat(page, "?event=", Hex32(50)), cookie).status, 404);
  EXPECT_EQ(Get(absl::StrCat(page, "?event=nothex"), cookie).status, 404);
  EXPECT_EQ(Get("/issues/999/", cookie).status, 404);
  EXPECT_EQ(Get("/issues/0/", cookie).status, 404);
  EXPECT_EQ(Get("/issues/-1/", cookie).status, 404);
}

TEST_F(UiHandlerTest, HostileEventIsEscapedOnTheWire) {
  const int64_t id = WriteIssue(
      "h1", "<script>alert(1)</script>", 1, 1,
      R"({"exception":{"values":[{"type":"<img src=x onerror=alert(1)>",)"
      R"("value":"</pre><script>alert(2)</script>"}]},)"
      R"("user":{"<b>":"<iframe>"}})");
  const std::string cookie = LogIn();
  for (std::string target :
       {absl::StrCat("/issues/", id, "/"), std::string("/projects/demo/")}) {
    const Response r = Get(target, cookie);
    ASSERT_EQ(r.status, 200) << target;
    EXPECT_THAT(r.body, Not(HasSubstr("<script"))) << target;
    EXPECT_THAT(r.body, Not(HasSubstr("<img"))) << target;
    EXPECT_THAT(r.body, Not(HasSubstr("<iframe"))) << target;
    EXPECT_THAT(r.body, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
  }
}

TEST_F(UiHandlerTest, DevModeServesTheSdkTestPageAndOnlyTheSdk) {
  const std::string modules = absl::StrCat(dir_, "/node_modules");
  const std::string browser = absl::StrCat(modules, "/@sentry/browser");
  std::filesystem::create_directories(browser + "/build/esm");
  std::ofstream(browser + "/package.json")
      << R"({"name":"@sentry/browser","module":"build/esm/index.js"})";
  std::ofstream(browser + "/build/esm/index.js") << "export const x = 1;\n";
  std::ofstream(modules + "/secret.js") << "secret";
  UiOptions options;
  options.dev_mode = true;
  options.browser_sdk_dir = modules;
  options.browser_test_dsn = "http://k@127.0.0.1:3000/1";
  Start(options);

  Response r = Get("/dev/browser-test");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body,
              HasSubstr(R"({"imports":{"@sentry/browser":)"
                        R"("/dev/sdk/@sentry/browser/build/esm/index.js"}})"));
  EXPECT_THAT(r.body, HasSubstr("data-dsn=\"http://k@127.0.0.1:3000/1\""));
  EXPECT_THAT(r.Header("Content-Security-Policy"), HasSubstr("script-src"));
  EXPECT_THAT(Get("/dev/browser-test?dsn=http%3A%2F%2Fq%40h%3A1%2F2").body,
              HasSubstr("data-dsn=\"http://q@h:1/2\""));

  r = Get("/dev/sdk/@sentry/browser/build/esm/index.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r.body, "export const x = 1;\n");
  for (std::string bad :
       {"/dev/sdk/secret.js", "/dev/sdk/@sentry/browser/../../secret.js",
        "/dev/sdk/@sentry/browser/build/esm/missing.js",
        "/dev/sdk/@sentry/browser/package.txt",
        "/dev/sdk/@sentry/browser//build/esm/index.js",
        "/dev/sdk/@sentry/browser/%2e%2e/%2e%2e/secret.js"}) {
    EXPECT_EQ(Get(bad).status, 404) << bad;
  }

  // Not in dev mode: no such pages, even logged in.
  Start(UiOptions{});
  const std::string cookie = LogIn();
  EXPECT_EQ(Get("/dev/browser-test", cookie).status, 404);
  EXPECT_EQ(Get("/dev/sdk/@sentry/browser/build/esm/index.js", cookie).status,
            404);
}

}  // namespace
}  // namespace tern::ui
