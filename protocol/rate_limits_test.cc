#include "protocol/rate_limits.h"

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/http_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

RateLimit Limit(double retry_after, std::vector<std::string> categories,
                std::string scope, std::string reason = "") {
  RateLimit limit;
  limit.retry_after = retry_after;
  limit.categories = std::move(categories);
  limit.scope = std::move(scope);
  limit.reason_code = std::move(reason);
  return limit;
}

TEST(ParseRateLimits, ParsesWhatRelaySends) {
  auto limits = ParseRateLimits(
      "60:transaction:key, 2700:default;error;security:organization:org_quota");
  ASSERT_TRUE(limits.ok()) << limits.status();
  ASSERT_EQ(limits->size(), 2u);
  EXPECT_EQ((*limits)[0], Limit(60, {"transaction"}, "key"));
  EXPECT_EQ((*limits)[1], Limit(2700, {"default", "error", "security"},
                                "organization", "org_quota"));
}

TEST(ParseRateLimits, EmptyCategoriesMeanAll) {
  auto limits = ParseRateLimits("30::project:disabled");
  ASSERT_TRUE(limits.ok()) << limits.status();
  ASSERT_EQ(limits->size(), 1u);
  EXPECT_THAT((*limits)[0].categories, IsEmpty());
  EXPECT_EQ((*limits)[0].scope, "project");
  EXPECT_EQ((*limits)[0].reason_code, "disabled");
  EXPECT_TRUE(RateLimitAppliesTo((*limits)[0], "error"));
  EXPECT_TRUE(RateLimitAppliesTo((*limits)[0], "anything"));
}

TEST(ParseRateLimits, DecimalRetryAfterIsKeptExactly) {
  auto limits = ParseRateLimits("2.5:error:key, 0.001:session:project");
  ASSERT_TRUE(limits.ok()) << limits.status();
  ASSERT_EQ(limits->size(), 2u);
  EXPECT_DOUBLE_EQ((*limits)[0].retry_after, 2.5);
  EXPECT_DOUBLE_EQ((*limits)[1].retry_after, 0.001);
}

TEST(ParseRateLimits, UnknownScopeAndCategoriesAreKept) {
  auto limits = ParseRateLimits("10:profile;replay:global, 5:error:");
  ASSERT_TRUE(limits.ok()) << limits.status();
  ASSERT_EQ(limits->size(), 2u);
  EXPECT_THAT((*limits)[0].categories, ElementsAre("profile", "replay"));
  EXPECT_EQ((*limits)[0].scope, "unknown");
  EXPECT_EQ((*limits)[1].scope, "unknown");
}

TEST(ParseRateLimits, NamespacesAreAcceptedAndDropped) {
  auto limits = ParseRateLimits(
      "60:metric_bucket:organization:quota_exceeded:custom;spans");
  ASSERT_TRUE(limits.ok()) << limits.status();
  ASSERT_EQ(limits->size(), 1u);
  EXPECT_EQ((*limits)[0],
            Limit(60, {"metric_bucket"}, "organization", "quota_exceeded"));

  auto empty_reason = ParseRateLimits("60:metric_bucket:organization::custom");
  ASSERT_TRUE(empty_reason.ok()) << empty_reason.status();
  EXPECT_EQ((*empty_reason)[0].reason_code, "");
}

TEST(ParseRateLimits, ToleratesWhitespaceAndEmptyEntries) {
  auto limits =
      ParseRateLimits(" 60 : error ; ; transaction : key ,, \t30::project, ");
  ASSERT_TRUE(limits.ok()) << limits.status();
  ASSERT_EQ(limits->size(), 2u);
  EXPECT_EQ((*limits)[0], Limit(60, {"error", "transaction"}, "key"));
  EXPECT_EQ((*limits)[1], Limit(30, {}, "project"));
}

TEST(ParseRateLimits, EmptyValueIsNoLimits) {
  for (std::string_view value : {"", " ", ",", " , ,"}) {
    auto limits = ParseRateLimits(value);
    ASSERT_TRUE(limits.ok()) << "'" << value << "': " << limits.status();
    EXPECT_THAT(*limits, IsEmpty());
  }
}

TEST(ParseRateLimits, RetryAfterBoundaries) {
  auto zero = ParseRateLimits("0:error:key");
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ((*zero)[0].retry_after, 0.0);

  auto max = ParseRateLimits("9007199254740992:error:key");
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ((*max)[0].retry_after, kMaxRetryAfterSeconds);

  auto over = ParseRateLimits("9007199254740994:error:key");
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(over.status().message(), HasSubstr("out of range"));
}

struct BadCase {
  std::string_view value;
  std::string_view message;
};

TEST(ParseRateLimits, RejectsGarbageWith400) {
  const BadCase cases[] = {
      {"garbage", "quota 1: expected retry_after:categories:scope"},
      {"60:error", "quota 1: expected retry_after:categories:scope"},
      {"60:error:key, 30", "quota 2: expected"},
      {"60:error:key:reason:ns:extra", "too many fields"},
      {":error:key", "missing retry_after"},
      {"abc:error:key", "retry_after must be a number"},
      {"-1:error:key", "retry_after must be a number"},
      {"1e3:error:key", "retry_after must be a number"},
      {"1.:error:key", "retry_after must be a number"},
      {".5:error:key", "retry_after must be a number"},
      {"inf:error:key", "retry_after must be a number"},
      {"nan:error:key", "retry_after must be a number"},
      {"6 0:error:key", "retry_after must be a number"},
      {std::string_view("1\0:error:key", 12), "retry_after must be a number"},
      {"60:err or:key", "invalid category name"},
      {"60:error;a/b:key", "invalid category name"},
      {"60:error:key:bad reason", "invalid reason code"},
      {"60:error:key:reason:a b", "invalid namespace"},
  };
  for (const BadCase& c : cases) {
    auto limits = ParseRateLimits(c.value);
    ASSERT_FALSE(limits.ok()) << "accepted: " << c.value;
    EXPECT_EQ(HttpStatusFor(limits.status()), 400) << c.value;
    EXPECT_THAT(limits.status().message(), HasSubstr(std::string(c.message)))
        << c.value;
    EXPECT_THAT(limits.status().message(),
                HasSubstr("invalid X-Sentry-Rate-Limits"));
  }
}

TEST(ParseRateLimits, HugeRetryAfterIsOutOfRange) {
  std::string value = "1" + std::string(400, '0') + ":error:key";
  auto limits = ParseRateLimits(value);
  ASSERT_FALSE(limits.ok());
  EXPECT_THAT(limits.status().message(), HasSubstr("out of range"));
}

TEST(FormatRateLimits, WritesTheHeaderForm) {
  std::vector<RateLimit> limits = {
      Limit(60, {"transaction"}, "key"),
      Limit(2700, {"default", "error", "security"}, "organization",
            "org_quota"),
      Limit(1.2, {}, "project"),
  };
  EXPECT_EQ(FormatRateLimits(limits),
            "60:transaction:key, "
            "2700:default;error;security:organization:org_quota, "
            "2::project");
  EXPECT_EQ(FormatRateLimits({}), "");
}

TEST(FormatRateLimits, RoundsUpAndClamps) {
  EXPECT_EQ(FormatRateLimits({Limit(0.001, {}, "key")}), "1::key");
  EXPECT_EQ(FormatRateLimits({Limit(59.0, {}, "key")}), "59::key");
  EXPECT_EQ(FormatRateLimits({Limit(0, {}, "key")}), "0::key");
  EXPECT_EQ(FormatRateLimits({Limit(-5, {}, "key")}), "0::key");
  EXPECT_EQ(FormatRateLimits(
                {Limit(std::numeric_limits<double>::quiet_NaN(), {}, "key")}),
            "0::key");
  EXPECT_EQ(FormatRateLimits(
                {Limit(std::numeric_limits<double>::infinity(), {}, "key")}),
            "9007199254740992::key");
}

TEST(FormatRateLimits, UnknownScopesAreWrittenAsUnknown) {
  EXPECT_EQ(FormatRateLimits({Limit(1, {"error"}, "global")}),
            "1:error:unknown");
  EXPECT_EQ(FormatRateLimits({Limit(1, {"error"}, "")}), "1:error:unknown");
}

TEST(RateLimits, RoundTrip) {
  std::vector<RateLimit> limits = {
      Limit(60, {"transaction"}, "key"),
      Limit(2700, {"default", "error", "security"}, "organization",
            "org_quota"),
      Limit(1, {}, "project", "disabled"),
      Limit(3600, {"attachment", "session", "profile"}, "unknown"),
  };
  std::string header = FormatRateLimits(limits);
  auto parsed = ParseRateLimits(header);
  ASSERT_TRUE(parsed.ok()) << header << ": " << parsed.status();
  EXPECT_EQ(*parsed, limits);
  EXPECT_EQ(FormatRateLimits(*parsed), header);
}

TEST(RateLimits, FractionalRoundTripRoundsUp) {
  auto parsed = ParseRateLimits("2.5:error:key");
  ASSERT_TRUE(parsed.ok());
  auto again = ParseRateLimits(FormatRateLimits(*parsed));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].retry_after, 3.0);
}

TEST(RetryAfterSeconds, IsTheLongestRoundedUp) {
  EXPECT_EQ(RetryAfterSeconds({}), 0u);
  EXPECT_EQ(RetryAfterSeconds({Limit(0.5, {}, "key")}), 1u);
  EXPECT_EQ(RetryAfterSeconds({Limit(60, {"error"}, "key"),
                               Limit(120.2, {"transaction"}, "project"),
                               Limit(30, {}, "organization")}),
            121u);
  EXPECT_EQ(RetryAfterSeconds({Limit(-3, {}, "key")}), 0u);
  EXPECT_EQ(RetryAfterSeconds({Limit(1e300, {}, "key")}),
            static_cast<uint64_t>(kMaxRetryAfterSeconds));
}

TEST(RateLimitAppliesTo, MatchesListedCategoriesOnly) {
  RateLimit limit = Limit(60, {"error", "default"}, "key");
  EXPECT_TRUE(RateLimitAppliesTo(limit, "error"));
  EXPECT_TRUE(RateLimitAppliesTo(limit, "default"));
  EXPECT_FALSE(RateLimitAppliesTo(limit, "transaction"));
  EXPECT_FALSE(RateLimitAppliesTo(limit, "Error"));
}

TEST(DataCategory, NamesRoundTrip) {
  for (DataCategory c : {DataCategory::kDefault, DataCategory::kError,
                         DataCategory::kTransaction, DataCategory::kSecurity,
                         DataCategory::kAttachment, DataCategory::kSession}) {
    EXPECT_EQ(DataCategoryFromName(DataCategoryName(c)), c);
  }
  EXPECT_EQ(DataCategoryName(DataCategory::kError), "error");
  EXPECT_EQ(DataCategoryName(DataCategory::kSession), "session");
  EXPECT_EQ(DataCategoryName(DataCategory::kUnknown), "unknown");
  EXPECT_EQ(DataCategoryFromName("profile"), DataCategory::kUnknown);
  EXPECT_EQ(DataCategoryFromName("ERROR"), DataCategory::kUnknown);
  EXPECT_EQ(DataCategoryFromName(""), DataCategory::kUnknown);
}

}  // namespace
}  // namespace tern::protocol
