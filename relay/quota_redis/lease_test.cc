#include "relay/quota_redis/lease.h"

#include <hiredis/hiredis.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "relay/quota/quota.h"

namespace tern::relay::quota_redis {
namespace {

using config::QuotaFallback;
using quota::WindowCounter;

// A reply as hiredis builds it from the bytes Redis sends.
struct Reply {
  explicit Reply(const std::string& resp) {
    redisReader* r = redisReaderCreate();
    EXPECT_EQ(redisReaderFeed(r, resp.data(), resp.size()), REDIS_OK);
    void* out = nullptr;
    EXPECT_EQ(redisReaderGetReply(r, &out), REDIS_OK);
    reply = static_cast<redisReply*>(out);
    redisReaderFree(r);
  }
  ~Reply() {
    if (reply != nullptr) freeReplyObject(reply);
  }
  redisReply* reply = nullptr;
};

// hiredis 0.14 allocates an announced array up front; the leaser's reader
// refuses one larger than kMaxReplyElements instead of allocating gigabytes
// (found by redis_reply_fuzz: "*999999990\r\n").
TEST(LeaseTest, AHugeAnnouncedArrayIsAReaderErrorNotAnAllocation) {
  redisReader* r = redisReaderCreate();
  LimitReplyElements(r);
  const std::string huge = "*999999990\r\n:1\r\n";
  ASSERT_EQ(redisReaderFeed(r, huge.data(), huge.size()), REDIS_OK);
  void* out = nullptr;
  EXPECT_EQ(redisReaderGetReply(r, &out), REDIS_ERR);
  EXPECT_EQ(out, nullptr);
  redisReaderFree(r);
  // A lease answer still reads, also nested within the bound.
  r = redisReaderCreate();
  LimitReplyElements(r);
  const std::string ok = "*2\r\n:3\r\n*1\r\n:4\r\n";
  ASSERT_EQ(redisReaderFeed(r, ok.data(), ok.size()), REDIS_OK);
  ASSERT_EQ(redisReaderGetReply(r, &out), REDIS_OK);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(static_cast<redisReply*>(out)->elements, 2u);
  freeReplyObject(out);
  redisReaderFree(r);
}

TEST(LeaseTest, SlicesFollowTheRateWithinOnePercentOverAllRelays) {
  EXPECT_EQ(MaxSlice(1000, 3), 3u);  // 10 per window over 3 relays
  EXPECT_EQ(MaxSlice(1000, 20), 1u);
  EXPECT_EQ(MaxSlice(0, 1), 1u);
  EXPECT_EQ(MaxSlice(1000000, 1), 10000u);
  // The lead time of the rate, rounded up.
  EXPECT_EQ(SliceFor(40, 0.25, 1000000, 1, 0), 10u);
  EXPECT_EQ(SliceFor(41, 0.25, 1000000, 1, 0), 11u);
  EXPECT_EQ(SliceFor(40, 1.0, 1000000, 1, 0), 40u);
  // Idle: one unit. Not measured yet: the largest slice.
  EXPECT_EQ(SliceFor(0, 0.25, 1000000, 1, 0), 1u);
  EXPECT_EQ(SliceFor(std::nan(""), 0.25, 1000000, 1, 0), 1u);
  EXPECT_EQ(SliceFor(-1, 0.25, 1000000, 2, 0), 5000u);
  // Capped by the 1% rule, whatever the rate.
  EXPECT_EQ(SliceFor(1e12, 0.25, 1000000, 4, 0), 2500u);
  // A large item still fits, but never past the limit.
  EXPECT_EQ(SliceFor(0, 0.25, 10000000, 1, 500000), 500000u);
  EXPECT_EQ(SliceFor(0, 0.25, 1000, 1, 5000), 1000u);
}

TEST(LeaseTest, WantCoversTheCreditSpentPlusASlice) {
  EXPECT_EQ(WantFor(0, 0, 5, 1000), 5u);
  EXPECT_EQ(WantFor(3, 0, 5, 1000), 8u);  // 3 admitted on credit
  EXPECT_EQ(WantFor(10, 12, 5, 1000), 5u);
  EXPECT_EQ(WantFor(999, 0, 5, 1000), 1000u);
}

TEST(LeaseTest, FallbackBudgets) {
  EXPECT_EQ(FallbackBudget(QuotaFallback::kLocalShare, 1000, 3, 0), 334u);
  EXPECT_EQ(FallbackBudget(QuotaFallback::kLocalShare, 1000, 3, 500), 500u);
  EXPECT_EQ(FallbackBudget(QuotaFallback::kLocalShare, 999, 3, 0), 333u);
  EXPECT_EQ(FallbackBudget(QuotaFallback::kAllow, 1000, 3, 0), 1000u);
  EXPECT_EQ(FallbackBudget(QuotaFallback::kDeny, 1000, 3, 7), 7u);
}

TEST(LeaseTest, KeysNameTheCounterAndTheWindow) {
  quota::CounterIdentity id;
  id.project_id = 42;
  id.quota_id = "errors-per-minute";
  id.window_seconds = 60;
  id.categories = {protocol::DataCategory::kError,
                   protocol::DataCategory::kDefault};
  EXPECT_EQ(RedisKey(id, 29000000),
            "tern:quota:42::errors-per-minute:60:error,default:29000000");
  id.public_key = "abc";
  id.categories.clear();
  EXPECT_EQ(RedisKey(id, 7), "tern:quota:42:abc:errors-per-minute:60::7");
  EXPECT_EQ(KeyTtlSeconds(60), 120u);
}

TEST(LeaseTest, EveryReplyShapeIsReadOrRefusedByName) {
  LeaseReply out;
  ReplyProblem p;
  {
    Reply r("*2\r\n:5\r\n:105\r\n");
    ASSERT_TRUE(ParseLeaseReply(r.reply, 5, &out, &p));
    EXPECT_EQ(out.granted, 5u);
    EXPECT_EQ(out.total, 105u);
  }
  {
    Reply r("*2\r\n:0\r\n:1000\r\n");  // the window is full
    ASSERT_TRUE(ParseLeaseReply(r.reply, 5, &out, &p));
    EXPECT_EQ(out.granted, 0u);
  }
  EXPECT_FALSE(ParseLeaseReply(nullptr, 5, &out, &p));
  EXPECT_EQ(p, ReplyProblem::kNoReply);
  const std::pair<std::string, ReplyProblem> bad[] = {
      {"-NOSCRIPT No matching script\r\n", ReplyProblem::kErrorReply},
      {"-ERR Error running script\r\n", ReplyProblem::kErrorReply},
      {":5\r\n", ReplyProblem::kBadShape},
      {"+OK\r\n", ReplyProblem::kBadShape},
      {"$-1\r\n", ReplyProblem::kBadShape},
      {"*-1\r\n", ReplyProblem::kBadShape},
      {"*0\r\n", ReplyProblem::kBadShape},
      {"*1\r\n:5\r\n", ReplyProblem::kBadShape},
      {"*3\r\n:1\r\n:2\r\n:3\r\n", ReplyProblem::kBadShape},
      {"*2\r\n$1\r\n5\r\n:5\r\n", ReplyProblem::kBadShape},
      {"*2\r\n:-1\r\n:5\r\n", ReplyProblem::kBadShape},
      {"*2\r\n:6\r\n:10\r\n", ReplyProblem::kBadShape},  // more than wanted
      {"*2\r\n:5\r\n:4\r\n", ReplyProblem::kBadShape},   // total < grant
      {"*2\r\n*0\r\n:4\r\n", ReplyProblem::kBadShape},
  };
  for (const auto& [resp, want] : bad) {
    Reply r(resp);
    ASSERT_NE(r.reply, nullptr) << resp;
    EXPECT_FALSE(ParseLeaseReply(r.reply, 5, &out, &p)) << resp;
    EXPECT_EQ(p, want) << resp;
  }
}

// The counter side: what a shared counter admits before, with and after its
// leases, and in fallback.
class FakeOwner final : public quota::SharedQuotas {
 public:
  void Track(const std::shared_ptr<WindowCounter>&,
             const quota::CounterIdentity&) override {}
  void Wake() override { ++wakes; }
  uint64_t InitialSlice(uint64_t limit) const override { return 3; }
  int wakes = 0;
};

TEST(SharedCounterTest, CreditThenLeasesThenFull) {
  FakeOwner owner;
  WindowCounter c;
  c.Share(&owner, 3);
  c.set_limit(1000);
  // Before any lease: the credit of one slice, and a wake at once.
  EXPECT_EQ(c.Budget(7), 3u);
  EXPECT_TRUE(c.TryAdd(7, 1, 1000));
  EXPECT_EQ(owner.wakes, 1);
  EXPECT_TRUE(c.TakeWanted());
  EXPECT_TRUE(c.TryAdd(7, 1, 1000));
  EXPECT_TRUE(c.TryAdd(7, 1, 1000));
  // Credit spent: refused, but not as a full window (the lease is coming).
  EXPECT_FALSE(c.TryAdd(7, 1, 1000));
  EXPECT_FALSE(c.Limited(7));
  EXPECT_TRUE(c.TakeWanted());
  // The lease pays back the credit and brings one slice; the credit of a
  // slice stands beyond it.
  c.Grant(7, 6, false);
  EXPECT_EQ(c.Budget(7), 9u);
  EXPECT_TRUE(c.TryAdd(7, 1, 1000));  // 4 of 6 leased: 2 left, not < 1.5
  EXPECT_FALSE(c.TakeWanted());
  EXPECT_TRUE(c.TryAdd(7, 1, 1000));  // 5: 1 left of the lease
  EXPECT_TRUE(c.TakeWanted());
  // Redis had only 1 more: full across relays; no credit beyond.
  c.Grant(7, 1, true);
  EXPECT_EQ(c.Budget(7), 7u);
  EXPECT_TRUE(c.TryAdd(7, 1, 1000));  // 6
  EXPECT_TRUE(c.TryAdd(7, 1, 1000));  // 7: all this relay holds
  EXPECT_FALSE(c.TryAdd(7, 1, 1000));
  EXPECT_TRUE(c.Limited(7));  // refused before parsing from now on
  EXPECT_FALSE(c.TakeWanted());
  // The next window starts on credit again.
  EXPECT_EQ(c.Budget(8), c.slice());
  EXPECT_TRUE(c.TryAdd(8, 1, 1000));
  EXPECT_FALSE(c.Limited(8));
}

TEST(SharedCounterTest, FallbackHoldsForItsWindowOnly) {
  FakeOwner owner;
  WindowCounter c;
  c.Share(&owner, 2);
  c.set_limit(10);
  c.Grant(3, 2, false);
  c.Fallback(3, 4);  // no credit beyond a fallback budget
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(c.TryAdd(3, 1, 10)) << i;
  EXPECT_FALSE(c.TryAdd(3, 1, 10));
  EXPECT_TRUE(c.Limited(3));  // a fallback budget is a hard one
  EXPECT_FALSE(c.InFallback(4));
  EXPECT_EQ(c.Budget(4), 2u);
}

TEST(SharedCounterTest, NeverAboveTheLimitEvenWithALargerLease) {
  FakeOwner owner;
  WindowCounter c;
  c.Share(&owner, 100);
  c.set_limit(5);
  c.Grant(1, 100, false);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(c.TryAdd(1, 1, 5));
  EXPECT_FALSE(c.TryAdd(1, 1, 5));
  EXPECT_TRUE(c.Limited(1));
}

TEST(SharedCounterTest, ALocalCounterNeverWakes) {
  WindowCounter c;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(c.TryAdd(1, 1, 3));
  EXPECT_FALSE(c.TryAdd(1, 1, 3));
  EXPECT_FALSE(c.TakeWanted());
  EXPECT_FALSE(c.shared());
}

}  // namespace
}  // namespace tern::relay::quota_redis
