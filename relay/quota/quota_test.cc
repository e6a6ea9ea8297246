#include "relay/quota/quota.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tern::relay::quota {
namespace {

using protocol::DataCategory;

config::Quota Q(std::string id, uint64_t limit, uint64_t window,
                std::vector<DataCategory> categories = {},
                config::QuotaScope scope = config::QuotaScope::kProject) {
  config::Quota q;
  q.id = std::move(id);
  q.limit = limit;
  q.window_seconds = window;
  q.categories = std::move(categories);
  q.scope = scope;
  q.reason_code = "test_quota";
  return q;
}

absl::Time At(int64_t seconds) { return absl::FromUnixSeconds(seconds); }

TEST(Quota, FixedWindowsAlignedToTheEpoch) {
  QuotaRegistry registry;
  auto quotas = CompileKeyQuotas(registry, 1, "k", {Q("q", 3, 10)}, {}, {});
  Decision d;
  for (int i = 0; i < 3; ++i) {
    Admit(quotas, DataCategory::kError, 1, At(1000), &d);
    EXPECT_TRUE(d.admitted) << i;
  }
  Admit(quotas, DataCategory::kError, 1, At(1004), &d);
  EXPECT_FALSE(d.admitted);
  ASSERT_EQ(d.limited_by.size(), 1u);
  EXPECT_EQ(d.limited_by[0]->id, "q");
  EXPECT_EQ(d.retry_after_seconds, 6u);  // the window [1000, 1010) ends
  // The next window starts from zero.
  Admit(quotas, DataCategory::kError, 1, At(1010), &d);
  EXPECT_TRUE(d.admitted);
  EXPECT_EQ(quotas[0].counter->Count(quotas[0].Window(At(1010))), 1u);
}

TEST(Quota, AllOrNothingAcrossQuotas) {
  QuotaRegistry registry;
  auto quotas = CompileKeyQuotas(registry, 1, "k",
                                 {Q("errors", 5, 60, {DataCategory::kError})},
                                 {Q("all", 2, 60)}, {});
  Decision d;
  Admit(quotas, DataCategory::kError, 1, At(60), &d);
  Admit(quotas, DataCategory::kError, 1, At(60), &d);
  ASSERT_TRUE(d.admitted);
  Admit(quotas, DataCategory::kError, 1, At(60), &d);
  EXPECT_FALSE(d.admitted);
  // Refused by "all": "errors" gave its unit back.
  EXPECT_EQ(quotas[0].counter->Count(1), 2u);
  EXPECT_EQ(quotas[1].counter->Count(1), 2u);
  ASSERT_EQ(d.limited_by.size(), 1u);
  EXPECT_EQ(d.limited_by[0]->id, "all");
}

TEST(Quota, RetryAfterIsTheLongestFullQuota) {
  QuotaRegistry registry;
  auto quotas = CompileKeyQuotas(
      registry, 1, "k", {Q("minute", 1, 60), Q("hour", 1, 3600)}, {}, {});
  Decision d;
  Admit(quotas, DataCategory::kDefault, 1, At(7200), &d);
  ASSERT_TRUE(d.admitted);
  Admit(quotas, DataCategory::kDefault, 1, At(7210), &d);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.limited_by.size(), 2u);
  EXPECT_EQ(d.retry_after_seconds, 3590u);
}

TEST(Quota, ZeroLimitCategoriesAndBytes) {
  QuotaRegistry registry;
  auto quotas =
      CompileKeyQuotas(registry, 1, "k",
                       {Q("no_sessions", 0, 60, {DataCategory::kSession}),
                        Q("bytes", 1000, 60, {DataCategory::kAttachment})},
                       {}, {});
  EXPECT_TRUE(quotas[1].counts_bytes);
  EXPECT_FALSE(quotas[0].counts_bytes);
  Decision d;
  Admit(quotas, DataCategory::kSession, 1, At(0), &d);
  EXPECT_FALSE(d.admitted);
  Admit(quotas, DataCategory::kError, 1, At(0), &d);  // no quota covers it
  EXPECT_TRUE(d.admitted);
  Admit(quotas, DataCategory::kAttachment, 800, At(0), &d);
  EXPECT_TRUE(d.admitted);
  Admit(quotas, DataCategory::kAttachment, 300, At(0), &d);
  EXPECT_FALSE(d.admitted);
  // A byte quota with room left is not "limited": a smaller one still fits.
  EXPECT_FALSE(quotas[1].counter->Limited(0));
  Admit(quotas, DataCategory::kAttachment, 200, At(0), &d);
  EXPECT_TRUE(d.admitted);
  EXPECT_TRUE(quotas[1].counter->Limited(0));  // now full
}

TEST(Quota, ActiveLimitIsRememberedForTheWindow) {
  QuotaRegistry registry;
  auto quotas = CompileKeyQuotas(
      registry, 1, "k",
      {Q("errors", 1, 60, {DataCategory::kError, DataCategory::kDefault})}, {},
      {});
  const DataCategory store[] = {DataCategory::kError, DataCategory::kDefault};
  const DataCategory any[] = {DataCategory::kError, DataCategory::kSession};
  EXPECT_EQ(ActiveLimit(quotas, store, At(0)), nullptr);
  Decision d;
  Admit(quotas, DataCategory::kError, 1, At(0), &d);  // fills it
  EXPECT_EQ(ActiveLimit(quotas, store, At(1)), &quotas[0]);
  // Sessions might still pass: not refused before parsing.
  EXPECT_EQ(ActiveLimit(quotas, any, At(1)), nullptr);
  EXPECT_EQ(ActiveLimit(quotas, store, At(60)), nullptr);  // next window
}

TEST(Quota, CountersSurviveARebuildThatKeepsTheIdentity) {
  QuotaRegistry registry;
  auto before = CompileKeyQuotas(
      registry, 7, "key1", {},
      {Q("p", 10, 60), Q("k", 10, 60, {}, config::QuotaScope::kKey)}, {});
  Decision d;
  Admit(before, DataCategory::kError, 1, At(0), &d);
  // Reload: "p" keeps its id and window but gets a new limit; "k" changes
  // its window (a new counter); another key gets its own key-scoped counter.
  auto after = CompileKeyQuotas(
      registry, 7, "key1", {},
      {Q("p", 1, 60), Q("k", 10, 30, {}, config::QuotaScope::kKey)}, {});
  auto other_key = CompileKeyQuotas(
      registry, 7, "key2", {},
      {Q("p", 1, 60), Q("k", 10, 30, {}, config::QuotaScope::kKey)}, {});
  EXPECT_EQ(after[0].counter, before[0].counter);
  EXPECT_NE(after[1].counter, before[1].counter);
  EXPECT_EQ(other_key[0].counter, after[0].counter);  // project-scoped
  EXPECT_NE(other_key[1].counter, after[1].counter);  // key-scoped
  // The new limit applies at once, with the count so far.
  Admit(after, DataCategory::kError, 1, At(1), &d);
  EXPECT_FALSE(d.admitted);
  // Counters no table uses die with the last table.
  const size_t live = registry.live_counters();
  before.clear();
  EXPECT_EQ(registry.live_counters(), live - 1);
}

// All workers push ten times the limit at once: the admitted total is the
// limit (the issue asks for ±1%; one counter per quota makes it exact).
TEST(Quota, ConcurrentAdmissionStaysAtTheLimit) {
  QuotaRegistry registry;
  constexpr uint64_t kLimit = 20000;
  auto quotas = CompileKeyQuotas(
      registry, 1, "k", {Q("errors", kLimit, 3600, {DataCategory::kError})},
      {Q("all", kLimit * 2, 3600)}, {});
  const unsigned threads = std::max(2u, std::thread::hardware_concurrency());
  std::atomic<uint64_t> admitted{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      Decision d;
      uint64_t mine = 0;
      for (uint64_t i = 0; i < kLimit * 10 / threads; ++i) {
        Admit(quotas, DataCategory::kError, 1, At(3600), &d);
        mine += d.admitted ? 1 : 0;
      }
      admitted += mine;
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(admitted.load(), kLimit);
  EXPECT_EQ(quotas[0].counter->Count(1), kLimit);
  // "all" counted exactly the admitted items: every refusal gave back.
  EXPECT_EQ(quotas[1].counter->Count(1), kLimit);
}

}  // namespace
}  // namespace tern::relay::quota
