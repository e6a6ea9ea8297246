#include "relay/upstream/project_source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/http_server.h"
#include "net/worker.h"
#include "protocol/project_config.h"
#include "relay/project/project_table.h"
#include "relay/project/table_slot.h"

namespace tern::relay::upstream {
namespace {

using project::CheckKey;
using project::ProjectTable;
using ::testing::HasSubstr;

// A projectconfigs endpoint built on the protocol/ encoder, with a scripted
// answer per key. Runs on its own worker; the test thread scripts it.
class FakeUpstream : public net::HttpHandler {
 public:
  // What the fake says for one key; a key without a script is unknown.
  struct Answer {
    enum Kind { kKnown, kUnknown, kPending, kOmit } kind = kUnknown;
    protocol::ProjectConfig config;
  };

  static Answer Known(uint64_t project_id, std::string key,
                      bool enabled = true) {
    Answer a;
    a.kind = Answer::kKnown;
    a.config.project_id = project_id;
    a.config.slug = absl::StrCat("p", project_id);
    a.config.public_keys.push_back({std::move(key), project_id * 10, enabled});
    return a;
  }
  static Answer Of(Answer::Kind kind) {
    Answer a;
    a.kind = kind;
    return a;
  }

  void Set(const std::string& key, Answer answer) {
    absl::MutexLock lock(&mu_);
    answers_[key] = std::move(answer);
  }
  // Non-zero: answer every request with this status.
  void FailWith(int status) {
    absl::MutexLock lock(&mu_);
    fail_status_ = status;
  }

  void OnRequest(net::HttpRequest& req,
                 std::unique_ptr<net::HttpResponder> responder) override {
    absl::StatusOr<protocol::ProjectConfigsRequest> parsed =
        protocol::ParseProjectConfigsRequest(req.body);
    std::string body;
    int status = 200;
    {
      absl::MutexLock lock(&mu_);
      Seen seen;
      seen.path = std::string(req.path);
      seen.auth = std::string(req.Header("authorization").value_or(""));
      if (parsed.ok()) seen.keys = parsed->public_keys;
      requests_.push_back(std::move(seen));
      if (fail_status_ != 0) {
        status = fail_status_;
        body = R"({"detail": "scripted failure"})";
      } else if (!parsed.ok()) {
        status = 400;
      } else {
        protocol::ProjectConfigsResponse resp;
        for (const std::string& k : parsed->public_keys) {
          auto it = answers_.find(k);
          const Answer a = it == answers_.end() ? Answer{} : it->second;
          switch (a.kind) {
            case Answer::kKnown:
              resp.configs.emplace_back(k, a.config);
              break;
            case Answer::kUnknown:
              resp.configs.emplace_back(k, std::nullopt);
              break;
            case Answer::kPending:
              resp.pending.push_back(k);
              break;
            case Answer::kOmit:
              break;
          }
        }
        protocol::EncodeProjectConfigsResponse(resp, &body);
      }
    }
    net::HttpHeader ct{"Content-Type", "application/json"};
    responder->Send(status, {&ct, 1}, body);
  }

  struct Seen {
    std::string path;
    std::string auth;
    std::vector<std::string> keys;
  };
  std::vector<Seen> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  // How many requests named `key`.
  int TimesAsked(const std::string& key) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const Seen& s : requests_) {
      for (const std::string& k : s.keys) n += k == key;
    }
    return n;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, Answer> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<Seen> requests_ ABSL_GUARDED_BY(mu_);
  int fail_status_ ABSL_GUARDED_BY(mu_) = 0;
};

// Polls `pred` until it holds, for at most 10 s. For state that has no event
// to wait on (counters); tables and requests are awaited the same way
// because they arrive on other threads.
bool Eventually(const std::function<bool()>& pred) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

std::string ProjectsYaml(uint64_t id, const std::string& key) {
  return absl::StrCat("projects:\n  - id: ", id, "\n    keys:\n",
                      "      - public_key: ", key, "\n");
}

class ProjectSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tern-project-source-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    server_ = std::make_unique<net::HttpServer>(&server_worker_, &upstream_);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    ASSERT_TRUE(server_worker_.Start().ok());
    ASSERT_TRUE(worker_.Start().ok());
  }

  void TearDown() override {
    control_.Stop();
    worker_.Stop();
    server_worker_.Stop();
    ASSERT_EQ(system(absl::StrCat("rm -rf '", dir_, "'").c_str()), 0);
  }

  config::ProjectsSourceConfig UpstreamOnly(std::string prefix = "") {
    config::ProjectsSourceConfig cfg;
    cfg.file.clear();
    cfg.upstream.url =
        absl::StrCat("http://127.0.0.1:", server_->port(), prefix);
    cfg.upstream.token = "s3cret";
    // Real time only paces the batches; ttls are judged by the fake clock.
    cfg.upstream.batch_interval = absl::Milliseconds(5);
    return cfg;
  }

  // Builds the initial table, the worker's slot, the publisher and the
  // source, and starts it.
  void Make(config::ProjectsSourceConfig cfg,
            ProjectSourceOptions options = {}) {
    absl::StatusOr<std::shared_ptr<const ProjectTable>> initial =
        LoadInitialTable(cfg);
    ASSERT_TRUE(initial.ok()) << initial.status();
    EXPECT_EQ((*initial)->generation(), 1u);
    slot_ = std::make_unique<project::TableSlot>(*initial);
    Observe(*initial);
    std::vector<project::Publisher::Target> targets;
    targets.push_back({slot_.get(), [this](absl::AnyInvocable<void() &&> fn) {
                         worker_.Post([this, fn = std::move(fn)]() mutable {
                           std::move(fn)();
                           Observe(slot_->shared());
                         });
                       }});
    publisher_ =
        std::make_unique<project::Publisher>(*initial, std::move(targets));
    source_ = std::make_unique<ProjectSource>(
        &control_, std::move(cfg), publisher_.get(),
        [this] { return absl::FromUnixSeconds(now_s_.load()); }, options);
    ASSERT_TRUE(control_.Start().ok());
    ASSERT_TRUE(source_->Start().ok());
  }

  // What the worker installed last.
  void Observe(std::shared_ptr<const ProjectTable> t) {
    absl::MutexLock lock(&mu_);
    seen_ = std::move(t);
  }

  // The worker's table once `pred` holds for it (nullptr after 10 s).
  std::shared_ptr<const ProjectTable> WaitForTable(
      const std::function<bool(const ProjectTable&)>& pred) {
    absl::MutexLock lock(&mu_);
    auto ready = [&] {
      mu_.AssertHeld();
      return seen_ != nullptr && pred(*seen_);
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(10))) {
      return nullptr;
    }
    return seen_;
  }

  static absl::StatusCode Code(const ProjectTable& t, std::string_view key) {
    return CheckKey(t, key, 0, "", nullptr).code();
  }
  static bool Known(const ProjectTable& t, std::string_view key) {
    return t.FindKey(key) != nullptr;
  }

  // Runs Want on the control worker so that all of `keys` are queued before
  // the next batch tick.
  void WantAll(const std::vector<std::string>& keys) {
    ASSERT_TRUE(control_
                    .RunSync([&] {
                      for (const std::string& k : keys) source_->Want(k);
                      return absl::OkStatus();
                    })
                    .ok());
  }

  void Advance(absl::Duration d) { now_s_.fetch_add(absl::ToInt64Seconds(d)); }

  std::string dir_;
  // Outlives the source and every table (members die in reverse order).
  quota::QuotaRegistry quotas_;
  FakeUpstream upstream_;
  std::atomic<int64_t> now_s_{1'700'000'000};
  net::Worker server_worker_{"fake-upstream"};
  net::Worker worker_{"worker"};
  net::Worker control_{"control"};
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<project::TableSlot> slot_;
  std::unique_ptr<project::Publisher> publisher_;
  std::unique_ptr<ProjectSource> source_;
  absl::Mutex mu_;
  std::shared_ptr<const ProjectTable> seen_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ProjectSourceTest, InitialTableWithOnlyUpstreamIsEmptyAndPending) {
  absl::StatusOr<std::shared_ptr<const ProjectTable>> t =
      LoadInitialTable(UpstreamOnly());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->generation(), 1u);
  EXPECT_EQ((*t)->key_count(), 0u);
  EXPECT_TRUE((*t)->upstream_enabled());
  EXPECT_EQ(Code(**t, "abc"), absl::StatusCode::kUnavailable);
}

TEST_F(ProjectSourceTest, InitialTableRefusesBadFileWithLine) {
  config::ProjectsSourceConfig cfg;
  cfg.file = absl::StrCat(dir_, "/projects.yml");
  WriteFile(cfg.file, "projects:\n  - id: 1\n    keys: 7\n");
  absl::StatusOr<std::shared_ptr<const ProjectTable>> t = LoadInitialTable(cfg);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr(cfg.file + ":3:"));
  cfg.file = absl::StrCat(dir_, "/missing.yml");
  EXPECT_EQ(LoadInitialTable(cfg).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ProjectSourceTest, HttpsUpstreamIsRefusedAtStart) {
  config::ProjectsSourceConfig cfg = UpstreamOnly();
  cfg.upstream.url = "https://127.0.0.1:1";
  absl::StatusOr<std::shared_ptr<const ProjectTable>> initial =
      LoadInitialTable(cfg);
  ASSERT_TRUE(initial.ok());
  project::Publisher publisher(*initial, {});
  ProjectSource source(&control_, cfg, &publisher);
  EXPECT_EQ(source.Start().code(), absl::StatusCode::kUnimplemented);
  control_.Stop();
}

TEST_F(ProjectSourceTest, ManyWantsBecomeOneBatch) {
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) {
    keys.push_back(absl::StrCat("key", i));
    upstream_.Set(keys.back(), FakeUpstream::Known(7, keys.back()));
  }
  Make(UpstreamOnly("/prefix/"));
  WantAll(keys);
  // Duplicates (from other workers, or the same one again) add nothing.
  WantAll(keys);
  auto t =
      WaitForTable([](const ProjectTable& t) { return t.key_count() == 50; });
  ASSERT_NE(t, nullptr);
  std::vector<FakeUpstream::Seen> seen = upstream_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].keys.size(), 50u);
  EXPECT_EQ(seen[0].path, "/prefix/api/0/relays/projectconfigs/");
  EXPECT_EQ(seen[0].auth, "Bearer s3cret");
  EXPECT_EQ(source_->counters().fetch_requests.value(), 1u);
  EXPECT_EQ(source_->counters().keys_fetched.value(), 50u);
  // All 50 keys resolve to one project in the table.
  EXPECT_EQ(t->project_count(), 1u);
  EXPECT_TRUE(CheckKey(*t, "key3", 7, "", nullptr).ok());
}

TEST_F(ProjectSourceTest, LargeWantSplitsIntoBatchesOfMaxKeys) {
  std::vector<std::string> keys;
  for (int i = 0; i < 25; ++i) keys.push_back(absl::StrCat("k", i));
  ProjectSourceOptions options;
  options.max_batch_keys = 10;
  Make(UpstreamOnly(), options);
  WantAll(keys);
  auto t = WaitForTable(
      [](const ProjectTable& t) { return t.unknown_key_count() == 25; });
  ASSERT_NE(t, nullptr);
  std::vector<FakeUpstream::Seen> seen = upstream_.requests();
  ASSERT_EQ(seen.size(), 3u);
  std::vector<size_t> sizes;
  for (const auto& s : seen) sizes.push_back(s.keys.size());
  EXPECT_THAT(sizes, ::testing::UnorderedElementsAre(10u, 10u, 5u));
}

TEST_F(ProjectSourceTest, KnownUnknownPendingAndDisabled) {
  FakeUpstream::Answer known = FakeUpstream::Known(10, "known");
  known.config.allowed_domains = {"HTTPS://App.Example.com", "not a/domain"};
  upstream_.Set("known", known);
  upstream_.Set("nobody", FakeUpstream::Of(FakeUpstream::Answer::kUnknown));
  upstream_.Set("later", FakeUpstream::Of(FakeUpstream::Answer::kPending));
  upstream_.Set("silent", FakeUpstream::Of(FakeUpstream::Answer::kOmit));
  upstream_.Set("keyoff", FakeUpstream::Known(11, "keyoff", false));
  FakeUpstream::Answer off = FakeUpstream::Known(12, "projoff");
  off.config.disabled = true;
  upstream_.Set("projoff", off);
  // The config of a project that does not list the key asked for.
  FakeUpstream::Answer stray = FakeUpstream::Known(13, "someoneelse");
  upstream_.Set("stray", stray);
  Make(UpstreamOnly());
  WantAll({"known", "nobody", "later", "silent", "keyoff", "projoff", "stray",
           "bad-key!"});
  auto t = WaitForTable([](const ProjectTable& t) {
    return Known(t, "known") && t.IsKnownUnknown("nobody") &&
           Known(t, "keyoff") && Known(t, "projoff");
  });
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(
      CheckKey(*t, "known", 10, "https://app.example.com", nullptr).ok());
  EXPECT_EQ(
      CheckKey(*t, "known", 10, "https://evil.example.com", nullptr).message(),
      "origin not allowed");
  EXPECT_EQ(t->FindKey("known")->key_id, 100u);
  EXPECT_TRUE(t->FindKey("known")->project->from_upstream);
  EXPECT_EQ(t->FindProject(10)->config.slug, "p10");
  absl::Status s = CheckKey(*t, "nobody", 0, "", nullptr);
  EXPECT_EQ(HttpStatusFor(s), 403);
  EXPECT_EQ(s.message(), "unknown public key");
  EXPECT_EQ(Code(*t, "later"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Code(*t, "silent"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CheckKey(*t, "keyoff", 0, "", nullptr).message(), "key disabled");
  EXPECT_EQ(CheckKey(*t, "projoff", 0, "", nullptr).message(), "key disabled");
  EXPECT_EQ(CheckKey(*t, "stray", 0, "", nullptr).message(),
            "unknown public key");
  EXPECT_EQ(source_->counters().wants_dropped.value(), 1u);  // "bad-key!"

  // Pending keys are asked again until the upstream answers.
  ASSERT_TRUE(Eventually([&] { return upstream_.TimesAsked("later") >= 3; }));
  ASSERT_TRUE(Eventually([&] { return upstream_.TimesAsked("silent") >= 3; }));
  upstream_.Set("later", FakeUpstream::Known(14, "later"));
  t = WaitForTable([](const ProjectTable& t) { return Known(t, "later"); });
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(CheckKey(*t, "later", 14, "", nullptr).ok());
  EXPECT_GE(source_->counters().keys_pending.value(), 2u);
  // Known answers are not asked again before their ttl.
  EXPECT_EQ(upstream_.TimesAsked("known"), 1);
}

TEST_F(ProjectSourceTest, UpstreamQuotasAreEnforced) {
  // One project, two keys; a project-scoped error quota and a key-scoped
  // transaction quota, as the backend serves them.
  FakeUpstream::Answer answer = FakeUpstream::Known(20, "qa");
  answer.config.public_keys.push_back({"qb", 201, true});
  answer.config.quotas = {{"errors",
                           {protocol::DataCategory::kError},
                           protocol::QuotaScope::kProject,
                           3,
                           3600,
                           "too_many"},
                          {"tx",
                           {protocol::DataCategory::kTransaction},
                           protocol::QuotaScope::kKey,
                           1,
                           60,
                           ""}};
  upstream_.Set("qa", answer);
  upstream_.Set("qb", answer);
  ProjectSourceOptions options;
  options.quotas = &quotas_;
  Make(UpstreamOnly(), options);
  WantAll({"qa", "qb"});
  auto t = WaitForTable(
      [](const ProjectTable& t) { return Known(t, "qa") && Known(t, "qb"); });
  ASSERT_NE(t, nullptr);
  const project::KeyInfo* qa = t->FindKey("qa");
  const project::KeyInfo* qb = t->FindKey("qb");
  ASSERT_EQ(qa->quotas.size(), 2u);
  EXPECT_EQ(qa->quotas[0].id, "errors");
  EXPECT_EQ(qa->quotas[0].limit, 3u);
  EXPECT_EQ(qa->quotas[0].window_seconds, 3600u);
  EXPECT_EQ(qa->quotas[1].scope, config::QuotaScope::kKey);

  const absl::Time now = absl::FromUnixSeconds(now_s_.load());
  quota::Decision d;
  // The project's error quota is shared by both keys: 3 in all, then 429.
  for (const project::KeyInfo* k : {qa, qb, qa}) {
    quota::Admit(k->quotas, protocol::DataCategory::kError, 1, now, &d);
    EXPECT_TRUE(d.admitted);
  }
  quota::Admit(qb->quotas, protocol::DataCategory::kError, 1, now, &d);
  ASSERT_FALSE(d.admitted);
  ASSERT_FALSE(d.limited_by.empty());
  EXPECT_EQ(d.limited_by[0]->id, "errors");
  EXPECT_EQ(d.limited_by[0]->reason_code, "too_many");
  EXPECT_GT(d.retry_after_seconds, 0u);
  // Other categories are not counted by it.
  quota::Admit(qa->quotas, protocol::DataCategory::kSession, 1, now, &d);
  EXPECT_TRUE(d.admitted);
  // The transaction quota counts per key.
  quota::Admit(qa->quotas, protocol::DataCategory::kTransaction, 1, now, &d);
  EXPECT_TRUE(d.admitted);
  quota::Admit(qa->quotas, protocol::DataCategory::kTransaction, 1, now, &d);
  EXPECT_FALSE(d.admitted);
  quota::Admit(qb->quotas, protocol::DataCategory::kTransaction, 1, now, &d);
  EXPECT_TRUE(d.admitted);
}

TEST_F(ProjectSourceTest, TtlRefreshThenStaleDrop) {
  upstream_.Set("k", FakeUpstream::Known(1, "k"));
  Make(UpstreamOnly());
  WantAll({"k"});
  ASSERT_NE(WaitForTable([](const ProjectTable& t) { return Known(t, "k"); }),
            nullptr);
  ASSERT_EQ(upstream_.TimesAsked("k"), 1);

  // Past ttl (300 s): re-fetched in the background, served meanwhile.
  upstream_.Set("k", FakeUpstream::Known(1, "k", /*enabled=*/false));
  Advance(absl::Seconds(301));
  auto t = WaitForTable([](const ProjectTable& t) {
    return Known(t, "k") &&
           t.FindKey("k")->status == config::KeyStatus::kDisabled;
  });
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(upstream_.TimesAsked("k"), 2);
  EXPECT_EQ(source_->counters().keys_refreshed.value(), 1u);

  // The upstream is stuck on it: stale but within ttl + stale_grace (420 s)
  // it is still served...
  upstream_.Set("k", FakeUpstream::Of(FakeUpstream::Answer::kPending));
  Advance(absl::Seconds(301));
  ASSERT_TRUE(Eventually([&] { return upstream_.TimesAsked("k") >= 4; }));
  ASSERT_NE(WaitForTable([](const ProjectTable& t) { return Known(t, "k"); }),
            nullptr);
  // ...and dropped after: the key is pending again, never guessed.
  Advance(absl::Seconds(120));
  t = WaitForTable([](const ProjectTable& t) { return !Known(t, "k"); });
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Code(*t, "k"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(source_->counters().keys_expired.value(), 1u);
}

TEST_F(ProjectSourceTest, UnknownKeysAreForgottenAfterNegativeTtl) {
  Make(UpstreamOnly());
  WantAll({"ghost"});
  auto t = WaitForTable(
      [](const ProjectTable& t) { return t.IsKnownUnknown("ghost"); });
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(HttpStatusFor(CheckKey(*t, "ghost", 0, "", nullptr)), 403);
  // A worker that still sees it as pending asks again: nothing is sent.
  WantAll({"ghost"});
  Advance(absl::Seconds(59));
  WantAll({"ghost"});
  EXPECT_EQ(upstream_.TimesAsked("ghost"), 1);
  Advance(absl::Seconds(1));
  t = WaitForTable(
      [](const ProjectTable& t) { return !t.IsKnownUnknown("ghost"); });
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Code(*t, "ghost"), absl::StatusCode::kUnavailable);
  // The next miss asks upstream again.
  WantAll({"ghost"});
  ASSERT_TRUE(Eventually([&] { return upstream_.TimesAsked("ghost") == 2; }));
}

TEST_F(ProjectSourceTest, BackendErrorsAreCountedAndRetried) {
  upstream_.FailWith(500);
  upstream_.Set("k", FakeUpstream::Known(3, "k"));
  Make(UpstreamOnly());
  WantAll({"k"});
  ASSERT_TRUE(Eventually(
      [&] { return source_->counters().fetch_errors.value() >= 3; }));
  EXPECT_GE(upstream_.TimesAsked("k"), 3);
  upstream_.FailWith(0);
  auto t = WaitForTable([](const ProjectTable& t) { return Known(t, "k"); });
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(CheckKey(*t, "k", 3, "", nullptr).ok());
}

TEST_F(ProjectSourceTest, BackendDownCountsFetchErrors) {
  // A port nobody listens on: bind, read the port, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  config::ProjectsSourceConfig cfg = UpstreamOnly();
  cfg.upstream.url = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port));
  Make(cfg);
  WantAll({"k"});
  ASSERT_TRUE(Eventually(
      [&] { return source_->counters().fetch_errors.value() >= 2; }));
  // Still pending, never guessed.
  auto t = WaitForTable([](const ProjectTable&) { return true; });
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Code(*t, "k"), absl::StatusCode::kUnavailable);
}

TEST_F(ProjectSourceTest, FileReloadGoodAndBad) {
  config::ProjectsSourceConfig cfg;
  cfg.file = absl::StrCat(dir_, "/projects.yml");
  WriteFile(cfg.file, ProjectsYaml(1, "aaa"));
  Make(cfg);
  ASSERT_NE(WaitForTable([](const ProjectTable& t) { return Known(t, "aaa"); }),
            nullptr);

  WriteFile(cfg.file, ProjectsYaml(2, "bbb"));
  source_->Reload();
  auto t = WaitForTable([](const ProjectTable& t) { return Known(t, "bbb"); });
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(Known(*t, "aaa"));
  EXPECT_FALSE(t->upstream_enabled());
  EXPECT_EQ(Code(*t, "aaa"), absl::StatusCode::kPermissionDenied);

  // A file that fails validation is refused with file:line; the old table
  // stays.
  WriteFile(cfg.file, "projects:\n  - id: 3\n    keys:\n      - status: on\n");
  const uint64_t generation = publisher_->current()->generation();
  source_->Reload();
  absl::Status reload;
  // Posted after Reload's closure, so it runs after it.
  ASSERT_TRUE(control_
                  .RunSync([&] {
                    reload = source_->last_reload_status();
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(reload.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reload.message(), HasSubstr(cfg.file + ":4:"));
  EXPECT_EQ(source_->counters().reload_errors.value(), 1u);
  EXPECT_EQ(publisher_->current()->generation(), generation);
  EXPECT_TRUE(Known(*publisher_->current(), "bbb"));
}

TEST_F(ProjectSourceTest, FileChangeReloadsWithoutSignal) {
  config::ProjectsSourceConfig cfg;
  cfg.file = absl::StrCat(dir_, "/projects.yml");
  WriteFile(cfg.file, ProjectsYaml(1, "aaa"));
  Make(cfg);
  // Saved the way editors do: a new file renamed over the old one.
  const std::string tmp = absl::StrCat(dir_, "/.projects.yml.swp");
  WriteFile(tmp, ProjectsYaml(1, "ccc"));
  ASSERT_EQ(rename(tmp.c_str(), cfg.file.c_str()), 0);
  auto t = WaitForTable([](const ProjectTable& t) { return Known(t, "ccc"); });
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(Known(*t, "aaa"));
  EXPECT_GE(source_->counters().reloads.value(), 1u);
}

TEST_F(ProjectSourceTest, FileWinsOverUpstreamAndReloadKeepsCache) {
  config::ProjectsSourceConfig cfg = UpstreamOnly();
  cfg.file = absl::StrCat(dir_, "/projects.yml");
  WriteFile(cfg.file, ProjectsYaml(5, "filekey"));
  // The upstream serves another key of the file's project 5, and a project
  // of its own.
  upstream_.Set("upfive", FakeUpstream::Known(5, "upfive"));
  upstream_.Set("upsix", FakeUpstream::Known(6, "upsix"));
  Make(cfg);
  WantAll({"upfive", "upsix"});
  auto t = WaitForTable([](const ProjectTable& t) {
    return Known(t, "upsix") && t.IsKnownUnknown("upfive");
  });
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(Known(*t, "filekey"));
  EXPECT_FALSE(t->FindProject(5)->from_upstream);
  EXPECT_EQ(CheckKey(*t, "upfive", 5, "", nullptr).message(),
            "unknown public key");

  // A reload republishes the file merged with what was fetched.
  WriteFile(cfg.file, ProjectsYaml(5, "newfilekey"));
  source_->Reload();
  t = WaitForTable(
      [](const ProjectTable& t) { return Known(t, "newfilekey"); });
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(Known(*t, "upsix"));
  EXPECT_TRUE(t->upstream_enabled());
}

}  // namespace
}  // namespace tern::relay::upstream
