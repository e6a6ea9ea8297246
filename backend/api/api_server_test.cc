// The backend API end to end: a real SqliteStore in a temporary directory,
// filled through CreateProject + WriteBatch, served by ApiServer on a real
// socket, and asked over plain TCP (net/test_client.h).
#include "backend/api/api_server.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/test_client.h"
#include "protocol/json_value.h"
#include "protocol/json_writer.h"
#include "protocol/project_config.h"

namespace tern::api {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kApiToken[] = "api-secret-token";
constexpr char kRelayToken[] = "relay-secret-token";
constexpr int64_t kBaseMs = 1795294800000;  // 2026-11-21T21:00:00Z

// The API's answers are JSON: Json() parses the body, Detail() its "detail".
struct Response : net::testing::ParsedResponse {
  protocol::JsonValue Json() const {
    auto v = protocol::ParseJson(body);
    EXPECT_TRUE(v.ok()) << v.status() << " in " << body;
    return v.ok() ? *std::move(v) : protocol::JsonValue();
  }
  std::string Detail() const { return std::string(Json()["detail"].string()); }
};

// The cursor of the Link header's rel="next" when results="true", else "".
std::string NextCursor(const Response& r) {
  const std::string link = r.Header("Link");
  const std::string marker = "rel=\"next\"; results=\"true\"; cursor=\"";
  const size_t at = link.find(marker);
  if (at == std::string::npos) return "";
  const size_t start = at + marker.size();
  return link.substr(start, link.find('"', start) - start);
}

std::string Hex32(int n) {
  std::string s = absl::StrCat(n);
  return std::string(32 - s.size(), '0') + s;
}

std::vector<std::string> Ids(const protocol::JsonValue& list) {
  std::vector<std::string> ids;
  for (const auto& item : list.items()) ids.emplace_back(item["id"].string());
  return ids;
}

// A Store that forwards to the real one, or fails every call with `fail`
// when set: the store going away under the API.
class FlakyStore : public storage::Store {
 public:
  explicit FlakyStore(storage::Store* real) : real_(real) {}
  std::atomic<int> fail{0};  // 0: forward; else an absl::StatusCode

#define TERN_FORWARD(expr)                                            \
  if (int code = fail.load(); code != 0) {                            \
    return absl::Status(static_cast<absl::StatusCode>(code), "boom"); \
  }                                                                   \
  return real_->expr

  absl::StatusOr<storage::BatchResult> WriteBatch(
      const storage::Batch& b) override {
    TERN_FORWARD(WriteBatch(b));
  }
  absl::StatusOr<std::vector<storage::PartitionOffset>> LoadOffsets() override {
    TERN_FORWARD(LoadOffsets());
  }
  absl::StatusOr<std::pair<storage::Project, storage::ProjectKey>>
  CreateProject(std::string_view name) override {
    TERN_FORWARD(CreateProject(name));
  }
  absl::StatusOr<std::vector<storage::Project>> ListProjects() override {
    TERN_FORWARD(ListProjects());
  }
  absl::StatusOr<storage::Project> GetProject(int64_t id) override {
    TERN_FORWARD(GetProject(id));
  }
  absl::StatusOr<storage::Project> GetProjectBySlug(
      std::string_view slug) override {
    TERN_FORWARD(GetProjectBySlug(slug));
  }
  absl::StatusOr<std::vector<storage::ProjectKey>> ListKeys(
      int64_t project_id) override {
    TERN_FORWARD(ListKeys(project_id));
  }
  absl::StatusOr<std::vector<storage::ProjectKey>> GetKeys(
      std::span<const std::string> keys) override {
    TERN_FORWARD(GetKeys(keys));
  }
  absl::Status SetKeyActive(std::string_view key, bool active) override {
    TERN_FORWARD(SetKeyActive(key, active));
  }
  absl::Status SetKeySettings(std::string_view key,
                              std::string_view settings_json) override {
    TERN_FORWARD(SetKeySettings(key, settings_json));
  }
  absl::Status SetProjectRules(int64_t id, std::string_view fingerprinting,
                               std::string_view stacktrace) override {
    TERN_FORWARD(SetProjectRules(id, fingerprinting, stacktrace));
  }
  absl::StatusOr<storage::IssuePage> ListIssues(
      const storage::IssueQuery& q) override {
    TERN_FORWARD(ListIssues(q));
  }
  absl::StatusOr<storage::Issue> GetIssue(int64_t id) override {
    TERN_FORWARD(GetIssue(id));
  }
  absl::Status SetIssueStatus(int64_t id, storage::IssueStatus s) override {
    TERN_FORWARD(SetIssueStatus(id, s));
  }
  absl::StatusOr<storage::EventPage> ListIssueEvents(
      int64_t id, const std::optional<storage::EventCursor>& c,
      int limit) override {
    TERN_FORWARD(ListIssueEvents(id, c, limit));
  }
  absl::StatusOr<storage::StoredEvent> GetLatestEvent(int64_t id) override {
    TERN_FORWARD(GetLatestEvent(id));
  }
  absl::StatusOr<storage::StoredEvent> GetEvent(
      int64_t project_id, std::string_view event_id) override {
    TERN_FORWARD(GetEvent(project_id, event_id));
  }
  absl::StatusOr<storage::Attachment> GetAttachment(
      int64_t project_id, std::string_view event_id,
      std::string_view attachment_id) override {
    TERN_FORWARD(GetAttachment(project_id, event_id, attachment_id));
  }
  absl::StatusOr<std::vector<int64_t>> IssueHistogram(int64_t id,
                                                      int64_t since_ms,
                                                      int64_t bucket_ms,
                                                      int buckets) override {
    TERN_FORWARD(IssueHistogram(id, since_ms, bucket_ms, buckets));
  }
  absl::StatusOr<std::vector<storage::SessionRow>> ListSessions(
      int64_t project_id, int64_t since_s) override {
    TERN_FORWARD(ListSessions(project_id, since_s));
  }
  absl::StatusOr<int64_t> DeleteEventsBefore(int64_t cutoff_ms,
                                             int limit) override {
    TERN_FORWARD(DeleteEventsBefore(cutoff_ms, limit));
  }
  absl::StatusOr<int64_t> DeleteEmptyIssues(int limit) override {
    TERN_FORWARD(DeleteEmptyIssues(limit));
  }
  void SetAlertPlanner(storage::AlertPlanner* planner) override {
    real_->SetAlertPlanner(planner);
  }
  absl::StatusOr<std::vector<storage::AlertRule>> ListAlertRules(
      int64_t project_id) override {
    TERN_FORWARD(ListAlertRules(project_id));
  }
  absl::StatusOr<storage::AlertRule> GetAlertRule(int64_t id) override {
    TERN_FORWARD(GetAlertRule(id));
  }
  absl::StatusOr<storage::AlertRule> CreateAlertRule(
      int64_t project_id, std::string_view json) override {
    TERN_FORWARD(CreateAlertRule(project_id, json));
  }
  absl::StatusOr<storage::AlertRule> UpdateAlertRule(
      int64_t id, std::string_view json) override {
    TERN_FORWARD(UpdateAlertRule(id, json));
  }
  absl::Status DeleteAlertRule(int64_t id) override {
    TERN_FORWARD(DeleteAlertRule(id));
  }
  absl::StatusOr<std::vector<storage::OutboxEntry>> ClaimOutbox(
      int64_t now_ms, int64_t lease_ms, int limit) override {
    TERN_FORWARD(ClaimOutbox(now_ms, lease_ms, limit));
  }
  absl::Status FinishOutbox(int64_t id, storage::OutboxStatus status,
                            int64_t next_attempt_ms,
                            std::string_view error) override {
    TERN_FORWARD(FinishOutbox(id, status, next_attempt_ms, error));
  }
  absl::StatusOr<std::vector<storage::OutboxEntry>> ListOutbox(
      const storage::OutboxQuery& q) override {
    TERN_FORWARD(ListOutbox(q));
  }
  absl::StatusOr<storage::OutboxDepth> GetOutboxDepth() override {
    TERN_FORWARD(GetOutboxDepth());
  }
  absl::StatusOr<int64_t> DeleteOutboxBefore(int64_t cutoff_ms,
                                             int limit) override {
    TERN_FORWARD(DeleteOutboxBefore(cutoff_ms, limit));
  }
#undef TERN_FORWARD

 private:
  storage::Store* real_;
};

// Answers every path outside /api/0/ with 200 "ui:<path>".
class FakeUi : public net::HttpHandler {
 public:
  void OnRequest(net::HttpRequest& req,
                 std::unique_ptr<net::HttpResponder> responder) override {
    const net::HttpHeader headers[] = {{"Content-Type", "text/plain"}};
    responder->Send(200, headers, absl::StrCat("ui:", ToAbsl(req.path)));
  }
};

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tern-api-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = storage::OpenStore(absl::StrCat("sqlite:", dir_, "/db"));
    ASSERT_TRUE(store.ok()) << store.status();
    real_store_ = *std::move(store);
    store_ = std::make_unique<FlakyStore>(real_store_.get());
    auto backend = store_->CreateProject("Backend");
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = backend->first;
    backend_key_ = backend->second;
    auto web = store_->CreateProject("Web");
    ASSERT_TRUE(web.ok()) << web.status();
    web_ = web->first;
    web_key_ = web->second;
    StartServer(kApiToken, kRelayToken);
  }

  void TearDown() override {
    server_.reset();
    store_.reset();
    real_store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void StartServer(std::string api_token, std::string relay_token,
                   net::HttpHandler* extra = nullptr) {
    server_.reset();
    ApiOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.api_token = std::move(api_token);
    options.relay_token = std::move(relay_token);
    auto server = ApiServer::Start(options, store_.get(), extra);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // One request on a fresh connection; `auth` is the whole Authorization
  // value ("" for none).
  Response Call(std::string_view method, std::string_view target,
                std::string_view auth = "", std::string_view body = "",
                std::string_view extra_headers = "") {
    net::testing::TestClient client(server_->port());
    EXPECT_TRUE(client.ok());
    std::string request =
        absl::StrCat(ToAbsl(method), " ", ToAbsl(target),
                     " HTTP/1.1\r\nHost: 127.0.0.1:", server_->port(), "\r\n",
                     ToAbsl(extra_headers));
    if (!auth.empty()) {
      absl::StrAppend(&request, "Authorization: ", ToAbsl(auth), "\r\n");
    }
    absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n\r\n",
                    ToAbsl(body));
    EXPECT_TRUE(client.Send(request));
    Response r;
    static_cast<net::testing::ParsedResponse&>(r) =
        net::testing::ParseResponse(client.ReadResponse());
    EXPECT_NE(r.status, 0) << "no response to " << target;
    return r;
  }
  Response Get(std::string_view target) {
    return Call("GET", target, absl::StrCat("Bearer ", kApiToken));
  }
  Response Put(std::string_view target, std::string_view body) {
    return Call("PUT", target, absl::StrCat("Bearer ", kApiToken), body);
  }
  Response ProjectConfigs(std::string_view body) {
    return Call("POST", "/api/0/relays/projectconfigs/?version=3",
                absl::StrCat("Bearer ", kRelayToken), body);
  }

  // An error event of `project` received at kBaseMs + received_offset_ms;
  // `hash` picks its issue.
  storage::EventRecord Event(const storage::Project& project, int serial,
                             std::string hash, std::string title,
                             int64_t received_offset_ms) {
    storage::EventRecord e;
    e.project_id = project.id;
    e.event_id = Hex32(serial);
    e.hashes = {std::move(hash)};
    e.issue.title = title;
    e.issue.culprit = absl::StrCat("app.module", serial % 3, " in handler");
    e.issue.level = "error";
    e.issue.metadata_type = "ValueError";
    e.issue.metadata_value = title;
    e.issue.metadata_function = "handler";
    e.received_ms = kBaseMs + received_offset_ms;
    e.timestamp_ms = e.received_ms - 1;
    e.level = "error";
    e.platform = "python";
    e.release = "app@1.0";
    e.environment = "production";
    e.tags_json = R"([["browser","Firefox"],["server_name","web-1"]])";
    e.payload = absl::StrCat(
        R"({"event_id":")", e.event_id,
        R"(","message":"boom \"quoted\" \u00e9","extra":{"n":[1,2.5,null,true]},"serial":)",
        serial, "}");
    return e;
  }

  void Write(std::vector<storage::EventRecord> events) {
    storage::Batch batch;
    batch.events = std::move(events);
    auto result = real_store_->WriteBatch(batch);
    ASSERT_TRUE(result.ok()) << result.status();
  }

  // The issue id of `title` in the backend project (any status).
  std::string IssueId(std::string_view title) {
    const protocol::JsonValue list =
        Get("/api/0/projects/backend/issues/?status=all&limit=100").Json();
    for (const auto& item : list.items()) {
      if (item["title"].string() == title) {
        return std::string(item["id"].string());
      }
    }
    ADD_FAILURE() << "no issue titled " << title;
    return "";
  }

  std::string dir_;
  std::unique_ptr<storage::Store> real_store_;
  std::unique_ptr<FlakyStore> store_;
  std::unique_ptr<ApiServer> server_;
  storage::Project backend_, web_;
  storage::ProjectKey backend_key_, web_key_;
};

TEST_F(ApiServerTest, MissingOrWrongTokenIs401) {
  const std::string target = "/api/0/projects/";
  for (const std::string& auth :
       {std::string(), std::string("Bearer"), std::string("Bearer "),
        std::string("Bearer wrong"), absl::StrCat("Bearer ", kApiToken, "x"),
        absl::StrCat("Bearer ", std::string(kApiToken).substr(1)),
        absl::StrCat("Basic ", kApiToken), std::string(kApiToken),
        absl::StrCat("Bearer ", kRelayToken)}) {
    const Response r = Call("GET", target, auth);
    EXPECT_EQ(r.status, 401) << "auth: " << auth;
    EXPECT_THAT(r.Detail(), HasSubstr("authentication")) << auth;
    EXPECT_EQ(r.Header("WWW-Authenticate"), "Bearer");
  }
  EXPECT_EQ(Call("GET", target, absl::StrCat("bearer ", kApiToken)).status,
            200);
  EXPECT_EQ(Get(target).status, 200);
  // Every API route checks the token.
  for (const char* path :
       {"/api/0/projects/backend/issues/", "/api/0/issues/1/",
        "/api/0/issues/1/events/", "/api/0/issues/1/events/latest/"}) {
    EXPECT_EQ(Call("GET", path).status, 401) << path;
  }
  EXPECT_EQ(
      Call("PUT", "/api/0/issues/1/", "", R"({"status":"resolved"})").status,
      401);
  EXPECT_GE(server_->counters().unauthorized.value(), 14u);
}

TEST_F(ApiServerTest, ProjectConfigsTakesOnlyTheRelayToken) {
  const std::string body =
      absl::StrCat(R"({"publicKeys":[")", backend_key_.public_key, R"("]})");
  EXPECT_EQ(Call("POST", "/api/0/relays/projectconfigs/",
                 absl::StrCat("Bearer ", kApiToken), body)
                .status,
            401);
  EXPECT_EQ(Call("POST", "/api/0/relays/projectconfigs/", "", body).status,
            401);
  EXPECT_EQ(ProjectConfigs(body).status, 200);
}

TEST_F(ApiServerTest, EmptyTokensOpenNothing) {
  StartServer("", "");
  EXPECT_EQ(Call("GET", "/api/0/projects/").status, 401);
  EXPECT_EQ(Call("GET", "/api/0/projects/", "Bearer ").status, 401);
  EXPECT_EQ(Call("POST", "/api/0/relays/projectconfigs/", "Bearer ",
                 R"({"publicKeys":[]})")
                .status,
            401);
}

TEST_F(ApiServerTest, AlertRulesCrudAndValidation) {
  const std::string auth = absl::StrCat("Bearer ", kApiToken);
  const std::string base = "/api/0/projects/backend/rules/";
  EXPECT_EQ(Get(base).body, "[]");
  Response bad = Call("POST", base, auth, "{\"name\": \"x\"}");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.Detail(), "trigger: required");
  bad = Call("POST", base, auth,
             R"({"name":"x","trigger":"new_issue","targets":[{"type":)"
             R"("webhook","url":"javascript:void"}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.Detail(),
              ::testing::StartsWith("targets[0].url: expected an http://"));
  const Response created =
      Call("POST", base, auth,
           R"({"name":"New","trigger":"new_issue","targets":[{"type":)"
           R"("email","to":["a@x.org"]}]})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto json = protocol::ParseJson(created.body);
  ASSERT_TRUE(json.ok()) << created.body;
  const std::string id((*json)["id"].string());
  EXPECT_EQ((*json)["project"].string(), "backend");
  EXPECT_EQ((*json)["trigger"].string(), "new_issue");
  EXPECT_TRUE((*json)["enabled"].boolean());
  // Another project does not see it, by list or by id.
  EXPECT_EQ(Get("/api/0/projects/web/rules/").body, "[]");
  EXPECT_EQ(Get(absl::StrCat("/api/0/projects/web/rules/", id, "/")).status,
            404);
  const Response put =
      Put(absl::StrCat(base, id, "/"),
          R"({"name":"Renamed","trigger":"regression","targets":[{"type":)"
          R"("email","to":["a@x.org"]}]})");
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_THAT(put.body, HasSubstr(R"("name":"Renamed")"));
  EXPECT_EQ(Call("DELETE", absl::StrCat(base, id, "/"), auth).status, 204);
  EXPECT_EQ(Call("DELETE", absl::StrCat(base, id, "/"), auth).status, 404);
  EXPECT_EQ(Get(absl::StrCat(base, "x/")).status, 400);
  EXPECT_EQ(Call("PATCH", base, auth).status, 405);
  EXPECT_EQ(Call("GET", base).status, 401);
  EXPECT_EQ(Get("/api/0/projects/nope/rules/").status, 404);
}

TEST_F(ApiServerTest, NotificationsListTheOutbox) {
  EXPECT_EQ(Get("/api/0/projects/backend/notifications/").body, "[]");
  EXPECT_EQ(Get("/api/0/projects/backend/notifications/?status=lost").status,
            400);
  EXPECT_EQ(Get("/api/0/projects/backend/notifications/?issue=x").status, 400);
  EXPECT_EQ(Call("POST", "/api/0/projects/backend/notifications/",
                 absl::StrCat("Bearer ", kApiToken))
                .status,
            405);
}

TEST_F(ApiServerTest, UnknownRoutesAndMethods) {
  for (const char* path :
       {"/api/0/", "/api/0", "/api/0/nope/", "/api/0/projects/x/y/z/",
        "/api/0/issues/1/other/", "/api/0/issues/1/events/x/",
        "/api/0//issues/1/", "/api/0/projects/a/b/c/issues/", "/",
        "/api/1/projects/", "/favicon.ico"}) {
    const Response r = Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.Detail(), "not found") << path;
  }
  const std::pair<const char*, const char*> not_allowed[] = {
      {"/api/0/projects/", "GET"},
      {"/api/0/projects/backend/issues/", "GET"},
      {"/api/0/issues/1/", "GET, PUT"},
      {"/api/0/issues/1/events/", "GET"},
      {"/api/0/issues/1/events/latest/", "GET"},
      {"/api/0/relays/projectconfigs/", "POST"},
  };
  for (const auto& [path, allow] : not_allowed) {
    const Response r = Call("DELETE", path, absl::StrCat("Bearer ", kApiToken));
    EXPECT_EQ(r.status, 405) << path;
    EXPECT_EQ(r.Header("Allow"), allow) << path;
    EXPECT_EQ(r.Detail(), "method not allowed");
  }
  EXPECT_EQ(
      Call("POST", "/api/0/issues/1/", absl::StrCat("Bearer ", kApiToken), "{}")
          .status,
      405);
}

// GET/PUT /projects/[{org}/]{project}/: the project's grouping rules, set
// only when they parse, with Sentry's error (and where) otherwise.
TEST_F(ApiServerTest, ProjectDetailsAndFingerprintingRules) {
  Response r = Get("/api/0/projects/backend/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["slug"].string(), "backend");
  EXPECT_EQ(r.Json()["fingerprintingRules"].string(), "");
  const std::string rules = "error.type:DatabaseUnavailable -> system-down\n";
  std::string body = "{\"fingerprintingRules\":";
  protocol::JsonWriter::AppendQuoted(&body, rules);
  body += "}";
  r = Put("/api/0/projects/backend/", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["fingerprintingRules"].string(), rules);
  // Sentry's org/project form names the same project.
  r = Get("/api/0/projects/sentry/backend/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["fingerprintingRules"].string(), rules);
  auto stored = store_->GetProjectBySlug("backend");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->fingerprinting_rules, rules);

  r = Put("/api/0/projects/backend/",
          R"({"fingerprintingRules":"type:a -> b\n  oops\n"})");
  EXPECT_EQ(r.status, 400);
  // (The detail shows control characters as '?'.)
  EXPECT_EQ(r.Detail(),
            "fingerprintingRules: Invalid syntax near \"oops?\" (line 2, "
            "column 3)");
  r = Put("/api/0/projects/backend/", R"({"fingerprintingRules":3})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Detail(), "fingerprintingRules: expected a string");
  r = Put("/api/0/projects/backend/", R"({"name":"x"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Detail(),
            "name: not a field that can be set (fingerprintingRules and "
            "groupingEnhancements can)");
  // Stack-trace rules: stored when they parse; categories are refused.
  r = Put("/api/0/projects/backend/",
          R"({"groupingEnhancements":"stack.module:vendor.* -app\n"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["groupingEnhancements"].string(),
            "stack.module:vendor.* -app\n");
  EXPECT_EQ(store_->GetProjectBySlug("backend")->stacktrace_rules,
            "stack.module:vendor.* -app\n");
  r = Put("/api/0/projects/backend/",
          R"({"groupingEnhancements":"family:native category=x"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StartsWith(ToAbsl(r.Detail()),
                               "groupingEnhancements: rule line 1: "))
      << r.Detail();
  EXPECT_EQ(Put("/api/0/projects/backend/", "[").status, 400);
  // Nothing of the refused bodies was stored.
  EXPECT_EQ(store_->GetProjectBySlug("backend")->fingerprinting_rules, rules);
  // An empty text clears the rules.
  r = Put("/api/0/projects/backend/", R"({"fingerprintingRules":""})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(store_->GetProjectBySlug("backend")->fingerprinting_rules, "");

  r = Get("/api/0/projects/x/y/");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Detail(), "project not found");
  r = Call("DELETE", "/api/0/projects/backend/",
           absl::StrCat("Bearer ", kApiToken));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET, PUT");
  EXPECT_EQ(Call("GET", "/api/0/projects/backend/", "").status, 401);
}

TEST_F(ApiServerTest, ListsProjects) {
  const Response r = Get("/api/0/projects/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  const protocol::JsonValue v = r.Json();
  ASSERT_EQ(v.items().size(), 2u);
  std::map<std::string, std::string> names;
  for (const auto& p : v.items()) {
    names[std::string(p["slug"].string())] = std::string(p["name"].string());
    EXPECT_TRUE(p["dateCreated"].string().ends_with("Z"));
    EXPECT_FALSE(p["id"].string().empty());
  }
  EXPECT_EQ(names["backend"], "Backend");
  EXPECT_EQ(names["web"], "Web");
}

TEST_F(ApiServerTest, IssueListFiltersSortsAndSearches) {
  // Three issues in backend: A seen 3 times (first at 0, last at 50),
  // B once at 40, C twice (10, 20); one issue in web.
  Write({Event(backend_, 1, "hash-a", "ValueError: alpha", 0),
         Event(backend_, 2, "hash-c", "KeyError: Gamma 100%", 10),
         Event(backend_, 3, "hash-c", "KeyError: Gamma 100%", 20),
         Event(backend_, 4, "hash-b", "TypeError: beta_x", 40),
         Event(backend_, 5, "hash-a", "ValueError: alpha", 45),
         Event(backend_, 6, "hash-a", "ValueError: alpha", 50),
         Event(web_, 7, "hash-w", "web issue", 30)});
  const std::string a = IssueId("ValueError: alpha");
  const std::string b = IssueId("TypeError: beta_x");
  const std::string c = IssueId("KeyError: Gamma 100%");

  Response r = Get("/api/0/projects/backend/issues/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(Ids(r.Json()), ElementsAre(a, b, c));  // lastSeen desc
  const protocol::JsonValue first = r.Json()[size_t{0}];
  EXPECT_EQ(first["shortId"].string().substr(0, 8), "BACKEND-");
  EXPECT_EQ(first["count"].string(), "3");
  EXPECT_EQ(first["status"].string(), "unresolved");
  EXPECT_EQ(first["level"].string(), "error");
  EXPECT_EQ(first["firstSeen"].string(), "2026-11-21T21:00:00.000Z");
  EXPECT_EQ(first["lastSeen"].string(), "2026-11-21T21:00:00.050Z");
  EXPECT_EQ(first["metadata"]["type"].string(), "ValueError");
  EXPECT_EQ(first["metadata"]["function"].string(), "handler");
  EXPECT_EQ(first["project"]["slug"].string(), "backend");
  EXPECT_EQ(first["project"]["id"].string(), absl::StrCat(backend_.id));

  // By numeric id, and Sentry's /projects/{org}/{project}/issues/ form.
  EXPECT_THAT(
      Ids(Get(absl::StrCat("/api/0/projects/", backend_.id, "/issues")).Json()),
      ElementsAre(a, b, c));
  EXPECT_THAT(Ids(Get("/api/0/projects/sentry/backend/issues/").Json()),
              ElementsAre(a, b, c));
  EXPECT_EQ(Get("/api/0/projects/nope/issues/").status, 404);
  EXPECT_EQ(Get("/api/0/projects/99999/issues/").status, 404);
  EXPECT_EQ(Get("/api/0/projects/nope/issues/").Detail(), "project not found");

  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/?sort=count").Json()),
              ElementsAre(a, c, b));
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/?sort=firstSeen").Json()),
              ElementsAre(b, c, a));

  // Free text: case-insensitive substring of title or culprit; % and _ are
  // literal.
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/?query=gamma").Json()),
              ElementsAre(c));
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/?query=100%25").Json()),
              ElementsAre(c));
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/?query=bet__x").Json()),
              IsEmpty());
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/?query=beta_").Json()),
              ElementsAre(b));
  EXPECT_THAT(
      Ids(Get("/api/0/projects/backend/issues/?query=%27%3B+DROP+TABLE+issues")
              .Json()),
      IsEmpty());
  EXPECT_THAT(
      Ids(Get("/api/0/projects/backend/issues/?query=app.module").Json()),
      ElementsAre(a, b, c));

  // Status filters, and the is: token overriding status=.
  ASSERT_EQ(
      Put(absl::StrCat("/api/0/issues/", b, "/"), R"({"status":"resolved"})")
          .status,
      200);
  ASSERT_EQ(
      Put(absl::StrCat("/api/0/issues/", c, "/"), R"({"status":"ignored"})")
          .status,
      200);
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/").Json()),
              ElementsAre(a));
  EXPECT_THAT(
      Ids(Get("/api/0/projects/backend/issues/?status=resolved").Json()),
      ElementsAre(b));
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/?status=all").Json()),
              ElementsAre(a, b, c));
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/"
                      "?status=resolved&query=is%3Aignored")
                      .Json()),
              ElementsAre(c));
  EXPECT_THAT(Ids(Get("/api/0/projects/backend/issues/"
                      "?query=is:unresolved+alpha")
                      .Json()),
              ElementsAre(a));
  EXPECT_THAT(Ids(Get("/api/0/projects/web/issues/").Json()).size(), 1u);

  // Bad parameters are 400s naming the parameter.
  for (const auto& [query, param] :
       std::vector<std::pair<std::string, std::string>>{
           {"status=open", "status"},
           {"sort=priority", "sort"},
           {"limit=0", "limit"},
           {"limit=101", "limit"},
           {"query=is:open", "query"},
           {"query=%zz", "query"},
           {"cursor=garbage", "cursor"},
           {"cursor=1:2:3", "cursor"}}) {
    r = Get(absl::StrCat("/api/0/projects/backend/issues/?", query));
    EXPECT_EQ(r.status, 400) << query;
    EXPECT_THAT(r.Detail(), HasSubstr(param)) << query;
  }
}

TEST_F(ApiServerTest, IssuePaginationWalksEveryIssueOnce) {
  // 23 issues; several share a lastSeen so the id breaks ties.
  std::vector<storage::EventRecord> events;
  for (int i = 0; i < 23; ++i) {
    events.push_back(Event(backend_, i + 1, absl::StrCat("h", i),
                           absl::StrCat("issue ", i), (i % 7) * 10));
  }
  Write(std::move(events));
  for (const char* sort : {"lastSeen", "firstSeen", "count"}) {
    const Response all = Get(
        absl::StrCat("/api/0/projects/backend/issues/?limit=100&sort=", sort));
    ASSERT_EQ(all.status, 200);
    const std::vector<std::string> expected = Ids(all.Json());
    ASSERT_EQ(expected.size(), 23u);
    EXPECT_EQ(NextCursor(all), "");
    EXPECT_THAT(all.Header("Link"),
                HasSubstr("rel=\"next\"; results=\"false\""));

    std::vector<std::string> walked;
    std::string cursor;
    int pages = 0;
    do {
      const Response page = Get(
          absl::StrCat("/api/0/projects/backend/issues/?limit=5&sort=", sort,
                       "&cursor=", cursor));
      ASSERT_EQ(page.status, 200) << page.body;
      const std::string link = page.Header("Link");
      EXPECT_THAT(link, HasSubstr("rel=\"previous\""));
      EXPECT_THAT(link, HasSubstr(absl::StrCat("sort=", sort)));
      EXPECT_THAT(link, HasSubstr("<http://127.0.0.1:"));
      const std::vector<std::string> ids = Ids(page.Json());
      EXPECT_LE(ids.size(), 5u);
      walked.insert(walked.end(), ids.begin(), ids.end());
      cursor = NextCursor(page);
      ASSERT_LT(++pages, 10);
    } while (!cursor.empty());
    EXPECT_EQ(pages, 5);
    EXPECT_THAT(walked, ElementsAreArray(expected)) << sort;
    EXPECT_EQ(std::set<std::string>(walked.begin(), walked.end()).size(), 23u);
  }
}

TEST_F(ApiServerTest, IssueDetailAndBadIds) {
  Write({Event(backend_, 1, "h1", "ValueError: one", 0)});
  const std::string id = IssueId("ValueError: one");
  Response r = Get(absl::StrCat("/api/0/issues/", id, "/"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["id"].string(), id);
  EXPECT_EQ(r.Json()["shortId"].string(), "BACKEND-1");
  EXPECT_EQ(r.Json()["title"].string(), "ValueError: one");
  EXPECT_EQ(r.Json()["metadata"]["value"].string(), "ValueError: one");
  EXPECT_EQ(Get(absl::StrCat("/api/0/issues/", id)).status, 200);

  r = Get("/api/0/issues/987654/");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Detail(), "issue not found");
  for (const char* bad :
       {"abc", "0", "-1", "1e3", "12345678901234567890", "%31", "BACKEND-1"}) {
    r = Get(absl::StrCat("/api/0/issues/", bad, "/"));
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_THAT(r.Detail(), HasSubstr("issue id")) << bad;
  }
}

TEST_F(ApiServerTest, PutStatusRoundTripAndBadBodies) {
  Write({Event(backend_, 1, "h1", "ValueError: one", 0)});
  const std::string path =
      absl::StrCat("/api/0/issues/", IssueId("ValueError: one"), "/");
  for (const char* status : {"resolved", "ignored", "unresolved", "resolved"}) {
    const Response r =
        Put(path, absl::StrCat(R"({"status":")", status, R"(","other":1})"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json()["status"].string(), status);
    EXPECT_EQ(Get(path).Json()["status"].string(), status);
  }
  for (const char* body :
       {"", "not json", "[]", "\"resolved\"", "{}", R"({"status":1})",
        R"({"status":"open"})", R"({"status":null})", R"({"status":"resolved")",
        R"({"Status":"resolved"})"}) {
    const Response r = Put(path, body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_FALSE(r.Detail().empty()) << body;
  }
  // None of the bad bodies changed it.
  EXPECT_EQ(Get(path).Json()["status"].string(), "resolved");
  EXPECT_EQ(Put("/api/0/issues/987654/", R"({"status":"resolved"})").status,
            404);
}

TEST_F(ApiServerTest, EventsNewestFirstWithPagination) {
  Write({Event(backend_, 1, "h1", "ValueError: one", 0),
         Event(backend_, 2, "h1", "ValueError: one", 30),
         Event(backend_, 3, "h1", "ValueError: one", 10),
         Event(backend_, 4, "h1", "ValueError: one", 30),
         Event(backend_, 5, "h1", "ValueError: one", 20),
         Event(backend_, 6, "h2", "other", 50)});
  const std::string id = IssueId("ValueError: one");
  const std::string path = absl::StrCat("/api/0/issues/", id, "/events/");
  Response r = Get(path);
  ASSERT_EQ(r.status, 200) << r.body;
  const protocol::JsonValue all = r.Json();
  ASSERT_EQ(all.items().size(), 5u);
  // Newest first by received time; the tie at 30 ms is broken by event id.
  std::vector<std::string> order;
  for (const auto& e : all.items()) order.emplace_back(e["eventID"].string());
  EXPECT_THAT(order,
              ElementsAre(Hex32(4), Hex32(2), Hex32(5), Hex32(3), Hex32(1)));
  const protocol::JsonValue e = all[size_t{0}];
  EXPECT_EQ(e["id"].string(), Hex32(4));
  EXPECT_EQ(e["groupID"].string(), id);
  EXPECT_EQ(e["projectID"].string(), absl::StrCat(backend_.id));
  EXPECT_EQ(e["dateReceived"].string(), "2026-11-21T21:00:00.030Z");
  EXPECT_EQ(e["dateCreated"].string(), "2026-11-21T21:00:00.029Z");
  EXPECT_EQ(e["platform"].string(), "python");
  EXPECT_EQ(e["release"].string(), "app@1.0");
  EXPECT_EQ(e["environment"].string(), "production");
  ASSERT_EQ(e["tags"].items().size(), 2u);
  EXPECT_EQ(e["tags"][size_t{1}]["key"].string(), "server_name");
  EXPECT_EQ(e["tags"][size_t{1}]["value"].string(), "web-1");

  std::vector<std::string> walked;
  std::string cursor;
  int pages = 0;
  do {
    const Response page = Get(absl::StrCat(path, "?limit=2&cursor=", cursor));
    ASSERT_EQ(page.status, 200) << page.body;
    const protocol::JsonValue items = page.Json();
    for (const auto& item : items.items()) {
      walked.emplace_back(item["eventID"].string());
    }
    cursor = NextCursor(page);
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(walked, order);

  EXPECT_EQ(Get(absl::StrCat(path, "?cursor=bad")).status, 400);
  EXPECT_EQ(Get(absl::StrCat(path, "?limit=1000")).status, 400);
  EXPECT_EQ(Get("/api/0/issues/987654/events/").status, 404);
}

TEST_F(ApiServerTest, LatestEventEmbedsThePayload) {
  storage::EventRecord older = Event(backend_, 1, "h1", "ValueError: one", 0);
  storage::EventRecord newer = Event(backend_, 2, "h1", "ValueError: one", 10);
  newer.attachments.push_back(
      {"att-1", "log.txt", "text/plain", "event.attachment", "hello"});
  const std::string payload = newer.payload;
  Write({older, newer});
  const std::string id = IssueId("ValueError: one");
  const Response r = Get(absl::StrCat("/api/0/issues/", id, "/events/latest/"));
  ASSERT_EQ(r.status, 200) << r.body;
  const protocol::JsonValue v = r.Json();
  EXPECT_EQ(v["eventID"].string(), Hex32(2));
  EXPECT_EQ(v["groupID"].string(), id);
  EXPECT_EQ(v["payload"]["message"].string(), "boom \"quoted\" \xc3\xa9");
  EXPECT_EQ(*v["payload"]["serial"].integer(), 2);
  EXPECT_EQ(v["payload"]["extra"]["n"][size_t{1}].raw_number(), "2.5");
  // The stored JSON is embedded byte for byte.
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("\"payload\":", payload)));
  ASSERT_EQ(v["attachments"].items().size(), 1u);
  EXPECT_EQ(v["attachments"][size_t{0}]["name"].string(), "log.txt");
  EXPECT_EQ(v["attachments"][size_t{0}]["type"].string(), "event.attachment");
  EXPECT_EQ(*v["attachments"][size_t{0}]["size"].integer(), 5);

  EXPECT_EQ(Get("/api/0/issues/987654/events/latest/").status, 404);
  EXPECT_EQ(Get("/api/0/issues/x/events/latest/").status, 400);
}

TEST_F(ApiServerTest, ProjectConfigsForKnownUnknownAndDisabledKeys) {
  const std::string unknown(32, 'f');
  ASSERT_TRUE(store_->SetKeyActive(web_key_.public_key, false).ok());
  const std::string body =
      absl::StrCat(R"({"publicKeys":[")", backend_key_.public_key, R"(",")",
                   unknown, R"(",")", web_key_.public_key, R"(",")",
                   backend_key_.public_key, R"(","not-a-key"]})");
  const Response r = ProjectConfigs(body);
  ASSERT_EQ(r.status, 200) << r.body;
  // The relay's own parser reads the answer.
  auto parsed = protocol::ParseProjectConfigsResponse(r.body);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << r.body;
  EXPECT_THAT(parsed->pending, IsEmpty());
  ASSERT_EQ(parsed->configs.size(), 4u);  // the repeated key answered once
  std::map<std::string, std::optional<protocol::ProjectConfig>> configs(
      parsed->configs.begin(), parsed->configs.end());
  EXPECT_FALSE(configs.at(unknown).has_value());
  EXPECT_FALSE(configs.at("not-a-key").has_value());

  const auto& backend = configs.at(backend_key_.public_key);
  ASSERT_TRUE(backend.has_value());
  EXPECT_EQ(backend->project_id, static_cast<uint64_t>(backend_.id));
  EXPECT_EQ(backend->slug, "backend");
  EXPECT_FALSE(backend->disabled);
  EXPECT_THAT(backend->allowed_domains, ElementsAre("*"));
  ASSERT_EQ(backend->public_keys.size(), 1u);
  EXPECT_EQ(backend->public_keys[0].public_key, backend_key_.public_key);
  EXPECT_EQ(backend->public_keys[0].numeric_id,
            static_cast<uint64_t>(backend_key_.id));
  EXPECT_TRUE(backend->public_keys[0].is_enabled);

  const auto& web = configs.at(web_key_.public_key);
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->project_id, static_cast<uint64_t>(web_.id));
  ASSERT_EQ(web->public_keys.size(), 1u);
  EXPECT_FALSE(web->public_keys[0].is_enabled);

  EXPECT_EQ(ProjectConfigs(R"({"publicKeys":[]})").body,
            R"({"configs":{},"pending":[]})");
}

TEST_F(ApiServerTest, ProjectConfigsCarryKeySettingsQuotas) {
  ASSERT_TRUE(store_
                  ->SetKeySettings(backend_key_.public_key,
                                   R"({"quotas":[{"id":"q","limit":3,)"
                                   R"("window":3600,"scope":"project",)"
                                   R"("categories":["error"],)"
                                   R"("reasonCode":"slow_down"}]})")
                  .ok());
  const Response r = ProjectConfigs(
      absl::StrCat(R"({"publicKeys":[")", backend_key_.public_key, R"(",")",
                   web_key_.public_key, R"("]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto parsed = protocol::ParseProjectConfigsResponse(r.body);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << r.body;
  ASSERT_EQ(parsed->configs.size(), 2u);
  const auto& backend = parsed->configs[0].second;
  ASSERT_TRUE(backend.has_value());
  EXPECT_THAT(backend->quotas, ElementsAre(protocol::QuotaConfig{
                                   "q",
                                   {protocol::DataCategory::kError},
                                   protocol::QuotaScope::kProject,
                                   3,
                                   3600,
                                   "slow_down"}));
  // Another project's key carries none.
  ASSERT_TRUE(parsed->configs[1].second.has_value());
  EXPECT_THAT(parsed->configs[1].second->quotas, IsEmpty());
}

TEST_F(ApiServerTest, ProjectConfigsAtTheKeyLimit) {
  std::string body = R"({"publicKeys":[")";
  absl::StrAppend(&body, backend_key_.public_key, "\"");
  for (int i = 1; i < 1000; ++i) absl::StrAppend(&body, ",\"", Hex32(i), "\"");
  body += "]}";
  const Response r = ProjectConfigs(body);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 200);
  auto parsed = protocol::ParseProjectConfigsResponse(r.body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->configs.size(), 1000u);
  EXPECT_EQ(parsed->configs[0].first, backend_key_.public_key);
  EXPECT_TRUE(parsed->configs[0].second.has_value());
  EXPECT_EQ(std::count_if(parsed->configs.begin(), parsed->configs.end(),
                          [](const auto& c) { return !c.second.has_value(); }),
            999);
}

TEST_F(ApiServerTest, ProjectConfigsBadBodies) {
  for (const char* body : {"", "nope", "[]", "{}", R"({"publicKeys":"k"})",
                           R"({"publicKeys":[1]})", R"({"publicKeys":[)"}) {
    const Response r = ProjectConfigs(body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_FALSE(r.Detail().empty()) << body;
  }
  std::string many = R"({"publicKeys":[)";
  for (int i = 0; i < 1001; ++i) {
    absl::StrAppend(&many, i ? "," : "", "\"", Hex32(i), "\"");
  }
  many += "]}";
  EXPECT_EQ(ProjectConfigs(many).status, 400);
}

TEST_F(ApiServerTest, StoreFailuresAre503Or500) {
  Write({Event(backend_, 1, "h1", "ValueError: one", 0)});
  const std::string id = IssueId("ValueError: one");
  store_->fail = static_cast<int>(absl::StatusCode::kUnavailable);
  for (const std::string& path :
       {std::string("/api/0/projects/"),
        std::string("/api/0/projects/backend/issues/"),
        absl::StrCat("/api/0/issues/", id, "/"),
        absl::StrCat("/api/0/issues/", id, "/events/"),
        absl::StrCat("/api/0/issues/", id, "/events/latest/")}) {
    const Response r = Get(path);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_EQ(r.Header("Retry-After"), "1") << path;
    EXPECT_THAT(r.Detail(), HasSubstr("unavailable"));
  }
  EXPECT_EQ(ProjectConfigs(absl::StrCat(R"({"publicKeys":[")",
                                        backend_key_.public_key, R"("]})"))
                .status,
            503);
  EXPECT_EQ(
      Put(absl::StrCat("/api/0/issues/", id, "/"), R"({"status":"resolved"})")
          .status,
      503);
  store_->fail = static_cast<int>(absl::StatusCode::kInternal);
  Response r = Get("/api/0/projects/");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.Detail(), "internal error");  // no store detail leaks
  store_->fail = 0;
  EXPECT_EQ(Get("/api/0/projects/").status, 200);
  EXPECT_GE(server_->counters().store_unavailable.value(), 7u);
  EXPECT_EQ(server_->counters().store_errors.value(), 1u);
}

TEST_F(ApiServerTest, ExtraHandlerGetsOtherPaths) {
  FakeUi ui;
  StartServer(kApiToken, kRelayToken, &ui);
  Response r = Call("GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ui:/");
  r = Call("GET", "/issues/42/?x=1");
  EXPECT_EQ(r.body, "ui:/issues/42/");
  // /api/0/ stays the API's, known path or not.
  EXPECT_EQ(Call("GET", "/api/0/projects/").status, 401);
  EXPECT_EQ(Get("/api/0/unknown/").status, 404);
  EXPECT_EQ(Get("/api/0/unknown/").Detail(), "not found");
  StartServer(kApiToken, kRelayToken);  // `ui` dies before the fixture
}

TEST_F(ApiServerTest, StartFailsOnABadOrBusyAddress) {
  ApiOptions options;
  options.host = "not-an-address";
  options.port = 0;
  auto bad = ApiServer::Start(options, store_.get());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);

  // A listener without SO_REUSEPORT holds the port.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  options.host = "127.0.0.1";
  options.port = ntohs(addr.sin_port);
  auto busy = ApiServer::Start(options, store_.get());
  close(fd);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(busy.status().message(), HasSubstr("127.0.0.1"));
}

TEST_F(ApiServerTest, OddInputNeverBreaksTheServer) {
  Write({Event(backend_, 1, "h1", "ValueError: one", 0)});
  const std::string long_query(8000, 'a');
  for (const std::string& target :
       {std::string("/api/0/projects/backend/issues/?query=") + long_query,
        std::string("/api/0/projects/backend/issues/?&&&=&cursor"),
        std::string("/api/0/projects/backend/issues/?cursor=%00"),
        std::string("/api/0/projects/%00/issues/"),
        std::string("/api/0/projects/backend/issues/?query=%FF%FE"),
        std::string("/api/0/projects/backend/issues/?query=is:%FF%01%22"),
        std::string("/api/0/issues/1/events/?cursor=1:%30%30"),
        std::string("/api/0/projects/") + std::string(300, 'x') + "/issues/",
        std::string("/api/0/projects/backend/issues/?limit=99999999999999")}) {
    const Response r = Get(target);
    EXPECT_GE(r.status, 200) << target.substr(0, 80);
    EXPECT_LT(r.status, 500) << target.substr(0, 80);
    EXPECT_TRUE(protocol::ParseJson(r.body).ok()) << r.body.substr(0, 200);
  }
  // A Host header that could break the Link header gives a relative URL.
  net::testing::TestClient client(server_->port());
  ASSERT_TRUE(client.Send(absl::StrCat(
      "GET /api/0/projects/backend/issues/ HTTP/1.1\r\nHost: evil\"><x\r\n"
      "Authorization: Bearer ",
      kApiToken, "\r\n\r\n")));
  const std::string raw = client.ReadResponse();
  EXPECT_THAT(raw, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(raw, HasSubstr("Link: </api/0/projects/backend/issues/?"));
  EXPECT_EQ(Get("/api/0/projects/").status, 200);
}

}  // namespace
}  // namespace tern::api
