#include "protocol/client_report.h"

#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

TEST(ClientReport, EachListBecomesItsOutcome) {
  ClientReportParser parser;
  ClientReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"timestamp": 1700000000.5,
        "discarded_events": [
          {"reason": "queue_overflow", "category": "error", "quantity": 23},
          {"reason": "sample_rate", "category": "transaction", "quantity": 2}],
        "rate_limited_events": [
          {"reason": "ratelimit_backoff", "category": "attachment",
           "quantity": 4096}],
        "filtered_events": [
          {"reason": "before_send", "category": "default", "quantity": 1}]})",
                         &report)
                  .ok());
  ASSERT_EQ(report.entries.size(), 4u);
  EXPECT_EQ(report.skipped, 0u);
  EXPECT_EQ(report.entries[0].outcome, Outcome::kClientDiscard);
  EXPECT_EQ(report.entries[0].reason, "queue_overflow");
  EXPECT_EQ(report.entries[0].category, DataCategory::kError);
  EXPECT_EQ(report.entries[0].quantity, 23u);
  EXPECT_EQ(report.entries[1].category, DataCategory::kTransaction);
  EXPECT_EQ(report.entries[2].outcome, Outcome::kRateLimited);
  EXPECT_EQ(report.entries[2].quantity, 4096u);
  EXPECT_EQ(report.entries[3].outcome, Outcome::kFiltered);
  EXPECT_EQ(report.entries[3].reason, "before_send");
}

TEST(ClientReport, BadEntriesAreSkippedNotFatal) {
  ClientReportParser parser;
  ClientReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"discarded_events": [
          {"reason": "x", "category": "profile", "quantity": 1},
          {"reason": "", "category": "error", "quantity": 1},
          {"reason": "x", "category": "error", "quantity": 0},
          {"reason": "x", "category": "error"},
          {"reason": "x", "category": "error", "quantity": -3},
          {"reason": "ok", "category": "session", "quantity": 99999999999}]})",
                         &report)
                  .ok());
  ASSERT_EQ(report.entries.size(), 1u);
  EXPECT_EQ(report.skipped, 5u);
  EXPECT_EQ(report.entries[0].quantity, 4294967295u);  // saturated
}

TEST(ClientReport, MalformedReportsAreErrors) {
  ClientReportParser parser;
  ClientReport report;
  EXPECT_FALSE(parser.Parse("not json", &report).ok());
  EXPECT_FALSE(parser.Parse("[]", &report).ok());
  EXPECT_FALSE(parser.Parse(R"({"discarded_events": {}})", &report).ok());
  EXPECT_FALSE(parser.Parse(R"({"discarded_events": [1]})", &report).ok());
  EXPECT_TRUE(parser.Parse(R"({"discarded_events": null})", &report).ok());
  EXPECT_TRUE(report.entries.empty());
}

TEST(ClientReport, EntriesAreCapped) {
  std::string json = R"({"discarded_events": [)";
  for (size_t i = 0; i < kMaxClientReportEntries + 10; ++i) {
    if (i > 0) json += ',';
    json += R"({"reason": "r", "category": "error", "quantity": 1})";
  }
  json += "]}";
  ClientReportParser parser;
  ClientReport report;
  ASSERT_TRUE(parser.Parse(json, &report).ok());
  EXPECT_EQ(report.entries.size(), kMaxClientReportEntries);
  EXPECT_EQ(report.skipped, 10u);
}

TEST(UserReport, EventIdIsRequired) {
  ClientReportParser parser;
  auto id = parser.UserReportEventId(
      R"({"event_id":"0123456789ABCDEF0123456789abcdef","name":"n",)"
      R"("email":"e@x","comments":"broke"})");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->ToHex(), "0123456789abcdef0123456789abcdef");
  EXPECT_FALSE(parser.UserReportEventId(R"({"comments":"x"})").ok());
  EXPECT_FALSE(parser.UserReportEventId(R"({"event_id":"nope"})").ok());
  EXPECT_FALSE(parser.UserReportEventId(R"({"event_id":7})").ok());
  EXPECT_FALSE(parser.UserReportEventId("[]").ok());
}

}  // namespace
}  // namespace tern::protocol
