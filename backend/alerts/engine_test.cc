// Rule evaluation tables, run through a real (SQLite) store so the facts
// come from WriteBatch exactly as in production: new issue, regression,
// frequency windows across batch boundaries, cooldown, filters and the
// hourly cap with its summary.
#include "backend/alerts/engine.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::alerts {
namespace {

using storage::Batch;
using storage::EventRecord;
using storage::OutboxEntry;
using storage::OutboxStatus;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr int64_t kT0 = 1'800'000'000'000;  // a whole hour
constexpr int64_t kMinute = 60'000;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("tern_alerts_", getpid(), "_", counter++);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto s = storage::OpenStore("sqlite:" + (dir_ / "tern.db").string());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    auto p = store_->CreateProject("app");
    ASSERT_TRUE(p.ok());
    project_ = p->first.id;
    EngineOptions o;
    o.project_hourly_cap = 3;
    o.now_ms = [this] { return now_; };
    engine_ = std::make_unique<Engine>(std::move(o), &stats_);
    store_->SetAlertPlanner(engine_.get());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  int64_t AddRule(const std::string& json) {
    auto rule = ParseRule(json);
    EXPECT_TRUE(rule.ok()) << rule.status();
    auto stored = store_->CreateAlertRule(project_, RuleJson(*rule));
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored->id;
  }

  // One event of the issue grouped by `hash`, received at now_.
  EventRecord Event(std::string_view hash, std::string level = "error",
                    std::string environment = "production",
                    std::string release = "1.2.0") {
    EventRecord e;
    e.project_id = project_;
    std::string id = absl::StrCat(++events_);
    e.event_id = std::string(32 - id.size(), '0') + id;
    e.hashes = {std::string(hash)};
    e.issue.title = absl::StrCat("Error ", std::string(hash));
    e.issue.level = level;
    e.received_ms = now_;
    e.timestamp_ms = now_;
    e.level = level;
    e.environment = environment;
    e.release = release;
    e.payload = "{}";
    return e;
  }

  void Write(std::vector<EventRecord> events) {
    Batch b;
    b.events = std::move(events);
    auto r = store_->WriteBatch(b);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void WriteN(std::string_view hash, int n) {
    std::vector<EventRecord> events;
    for (int i = 0; i < n; ++i) events.push_back(Event(hash));
    Write(std::move(events));
  }

  // (trigger, status) of every outbox row, oldest first.
  std::vector<std::pair<std::string, std::string>> Outbox() {
    storage::OutboxQuery q;
    q.limit = 100;
    auto rows = store_->ListOutbox(q);
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::vector<std::pair<std::string, std::string>> out;
    for (auto it = rows->rbegin(); it != rows->rend(); ++it) {
      out.emplace_back(it->trigger,
                       std::string(storage::OutboxStatusName(it->status)));
    }
    return out;
  }

  int64_t IssueOf(std::string_view hash) {
    storage::IssueQuery q;
    q.project_id = project_;
    auto page = store_->ListIssues(q);
    for (const auto& i : page->issues) {
      if (i.fields.title == absl::StrCat("Error ", std::string(hash)))
        return i.id;
    }
    return 0;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Engine> engine_;
  AlertStats stats_;
  int64_t project_ = 0;
  int64_t now_ = kT0;
  int events_ = 0;
};

constexpr char kMail[] = R"("targets": [{"type": "email", "to": ["a@x.org"]}])";

TEST_F(EngineTest, NewIssueFiresOncePerIssue) {
  AddRule(
      absl::StrCat(R"({"name": "n", "trigger": "new_issue", )", kMail, "}"));
  WriteN("a", 3);  // one batch opens the issue: one row
  now_ += kMinute;
  WriteN("a", 5);
  WriteN("b", 1);
  EXPECT_THAT(Outbox(), ElementsAre(Pair("new_issue", "pending"),
                                    Pair("new_issue", "pending")));
  EXPECT_EQ(stats_.queued[KindIndex(TargetKind::kEmail)].load(), 2);
}

TEST_F(EngineTest, RegressionFiresWhenAResolvedIssueComesBack) {
  AddRule(
      absl::StrCat(R"({"name": "r", "trigger": "regression", )", kMail, "}"));
  WriteN("a", 1);
  EXPECT_TRUE(Outbox().empty());  // new, not a regression
  WriteN("a", 1);
  EXPECT_TRUE(Outbox().empty());  // unresolved: nothing came back
  ASSERT_TRUE(
      store_->SetIssueStatus(IssueOf("a"), storage::IssueStatus::kResolved)
          .ok());
  WriteN("a", 2);
  EXPECT_THAT(Outbox(), ElementsAre(Pair("regression", "pending")));
  // Resolved again within the cooldown (30 min): quiet; after it: fires.
  ASSERT_TRUE(
      store_->SetIssueStatus(IssueOf("a"), storage::IssueStatus::kResolved)
          .ok());
  now_ += 10 * kMinute;
  WriteN("a", 1);
  EXPECT_EQ(Outbox().size(), 1u);
  ASSERT_TRUE(
      store_->SetIssueStatus(IssueOf("a"), storage::IssueStatus::kResolved)
          .ok());
  now_ += 30 * kMinute;
  WriteN("a", 1);
  EXPECT_EQ(Outbox().size(), 2u);
}

TEST_F(EngineTest, FrequencyCountsAcrossBatchesInsideTheWindow) {
  AddRule(absl::StrCat(
      R"({"name": "f", "trigger": "frequency", "cooldownMinutes": 30,
          "frequency": {"count": 10, "minutes": 5}, )",
      kMail, "}"));
  // 4 batches of 3 events a minute apart: 12 > 10 only with the 4th.
  for (int i = 0; i < 3; ++i) {
    WriteN("a", 3);
    now_ += kMinute;
  }
  EXPECT_TRUE(Outbox().empty());
  WriteN("a", 3);
  EXPECT_THAT(Outbox(), ElementsAre(Pair("frequency", "pending")));
  // More inside the cooldown: nothing.
  now_ += kMinute;
  WriteN("a", 20);
  EXPECT_EQ(Outbox().size(), 1u);
}

TEST_F(EngineTest, FrequencyWindowForgetsOldEvents) {
  AddRule(absl::StrCat(
      R"({"name": "f", "trigger": "frequency", "cooldownMinutes": 0,
          "frequency": {"count": 5, "minutes": 5}, )",
      kMail, "}"));
  WriteN("a", 5);  // 5 is not more than 5
  now_ += 6 * kMinute;
  WriteN("a", 5);  // the first 5 fell out of the window
  EXPECT_TRUE(Outbox().empty());
  now_ += kMinute;
  WriteN("a", 1);  // 6 within 5 minutes
  EXPECT_EQ(Outbox().size(), 1u);
}

TEST_F(EngineTest, FrequencyOfDistinctUsers) {
  AddRule(absl::StrCat(
      R"({"name": "u", "trigger": "frequency", "cooldownMinutes": 30,
          "frequency": {"count": 2, "minutes": 10, "of": "users"}, )",
      kMail, "}"));
  auto as = [&](std::string user) {
    EventRecord e = Event("a");
    e.user_key = std::move(user);
    return e;
  };
  // Many events of two users, and some without a user: 2 is not above 2.
  Write({as("id:1"), as("id:1"), as("id:2"), as(""), as("")});
  now_ += kMinute;
  Write({as("id:2"), as("ip:10.0.0.1")});  // a third user, next batch
  EXPECT_THAT(Outbox(), ElementsAre(Pair("frequency", "pending")));
}

TEST_F(EngineTest, FiltersOnLevelEnvironmentAndRelease) {
  AddRule(absl::StrCat(
      R"({"name": "n", "trigger": "new_issue",
          "filters": {"environment": "production", "release": "1.*"}, )",
      kMail, "}"));
  Write({Event("warn", "warning")});                    // below error
  Write({Event("staging", "error", "staging")});        // other environment
  Write({Event("old", "error", "production", "0.9")});  // release not 1.*
  EXPECT_TRUE(Outbox().empty());
  Write({Event("fatal", "fatal", "production", "1.0.3")});
  EXPECT_EQ(Outbox().size(), 1u);
}

TEST_F(EngineTest, DisabledRulesAndOtherProjectsStayQuiet) {
  AddRule(absl::StrCat(R"({"name": "n", "trigger": "new_issue",
                          "enabled": false, )",
                       kMail, "}"));
  WriteN("a", 1);
  auto other = store_->CreateProject("other");
  ASSERT_TRUE(other.ok());
  EventRecord e = Event("b");
  e.project_id = other->first.id;
  Write({e});
  EXPECT_TRUE(Outbox().empty());
}

TEST_F(EngineTest, HourlyCapSuppressesAndQueuesOneSummary) {
  AddRule(
      absl::StrCat(R"({"name": "n", "trigger": "new_issue", )", kMail, "}"));
  for (int i = 0; i < 6; ++i) Write({Event(absl::StrCat("h", i))});
  // cap 3: three sent, three suppressed, one summary due at the hour's end.
  EXPECT_THAT(
      Outbox(),
      ElementsAre(Pair("new_issue", "pending"), Pair("new_issue", "pending"),
                  Pair("new_issue", "pending"), Pair("new_issue", "suppressed"),
                  Pair("summary", "pending"), Pair("new_issue", "suppressed"),
                  Pair("new_issue", "suppressed")));
  EXPECT_EQ(stats_.suppressed.load(), 3);
  storage::OutboxQuery q;
  q.status = OutboxStatus::kPending;
  auto pending = store_->ListOutbox(q);
  ASSERT_TRUE(pending.ok());
  bool found = false;
  for (const OutboxEntry& o : *pending) {
    if (o.trigger != "summary") continue;
    found = true;
    EXPECT_EQ(o.next_attempt_ms, HourEndMs(now_));
    EXPECT_EQ(o.issue_id, 0);
  }
  EXPECT_TRUE(found);
  // Nothing of the summary is due before the hour ends.
  auto due = store_->ClaimOutbox(now_, 1000, 100);
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(due->size(), 3u);
  // The next hour has room again.
  now_ = HourEndMs(now_) + 3600 * 1000;
  Write({Event("next-hour")});
  EXPECT_EQ(Outbox().back().second, "pending");
}

TEST_F(EngineTest, EveryTargetGetsARowAndDuplicatesAreSkipped) {
  const int64_t rule = AddRule(R"({"name": "n", "trigger": "new_issue",
      "targets": [{"type": "email", "to": ["a@x.org"]},
                  {"type": "webhook", "format": "slack",
                   "url": "https://hooks.example.org/x"}]})");
  Write({Event("a")});
  storage::OutboxQuery q;
  auto rows = store_->ListOutbox(q);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].target_kind, "email");
  EXPECT_EQ((*rows)[0].target_kind, "slack");
  EXPECT_EQ((*rows)[1].dedup_key,
            absl::StrCat(rule, ":", IssueOf("a"), ":new:0"));
  auto target = ParseTargetJson((*rows)[0].target_json);
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->url, "https://hooks.example.org/x");
}

}  // namespace
}  // namespace tern::alerts
