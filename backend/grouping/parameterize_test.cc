// Message parameterization: each pattern of Sentry's parameterization.py,
// expected outputs produced by the Python regex itself.
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/grouping/grouping.h"
#include "gtest/gtest.h"

namespace tern::grouping {
namespace {

TEST(NormalizeMessageTest, EachPattern) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"hello world", "hello world"},
      {"mail foo.bar@example.com now", "mail <email> now"},
      {"see https://example.com/a?b=c done", "see <url> done"},
      {"host api.example.com down", "host <hostname> down"},
      {"from 192.168.0.1 and ::1", "from <ip> and <ip>"},
      {"id 550e8400-e29b-41d4-a716-446655440000", "id <uuid>"},
      {"sha da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha <sha1>"},
      {"md5 d41d8cd98f00b204e9800998ecf8427e", "md5 <md5>"},
      {"at 2019-04-17T22:31:45Z", "at <date>"},
      {"at 2024-01-02 now", "at <date> now"},
      {"Wed Apr 17 22:31:45 2019: x", "<date>: x"},
      // (?x) drops the space of "(?: [aApP][Mm])" in Sentry's pattern too.
      {"at 10:30 PM ok", "at <date> PM ok"},
      {"took 150ms", "took <duration>"},
      {"took 1.5s", "took <duration>"},
      {"addr 0xdeadBEEF", "addr <hex>"},
      {"pi 3.14 and -2.5", "pi <float> and <float>"},
      {"count 42 and -7", "count <int> and <int>"},
      {"version1.2.3", "version1.<float>"},
      {"abc123 456def 789", "abc123 456def <int>"},
      {"user='bob smith' x", "user=<quoted_str> x"},
      {"name=\"quoted value\" end", "name=<quoted_str> end"},
      {"flag=true y=False z=maybe", "flag=<bool> y=<bool> z=maybe"},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(NormalizeMessageForGrouping(in), out) << in;
  }
}

TEST(NormalizeMessageTest, FirstTwoNonEmptyLines) {
  EXPECT_EQ(NormalizeMessageForGrouping("line1\n\nline2\nline3"),
            "line1\nline2...");
  EXPECT_EQ(NormalizeMessageForGrouping("line1\r\nline2"), "line1\nline2...");
  EXPECT_EQ(NormalizeMessageForGrouping("trailing\n"), "trailing...");
  EXPECT_EQ(NormalizeMessageForGrouping("one line"), "one line");
  EXPECT_EQ(NormalizeMessageForGrouping("   "), "...");
  EXPECT_EQ(NormalizeMessageForGrouping(""), "");
  EXPECT_EQ(NormalizeMessageForGrouping(
                "Loading chunk 158 failed.\n(timeout: "
                "https://s1.sentry-cdn.com/_static/34f8/sentry/dist/x.js)"),
            "Loading chunk <int> failed.\n(timeout: <url>");
}

TEST(NormalizeMessageTest, InvalidUtf8DoesNotBreakMatching) {
  std::string bad = "count 42 \xff\xfe and 7";
  EXPECT_EQ(NormalizeMessageForGrouping(bad), "count <int> \xff\xfe and <int>");
}

// The alternation is compiled per set of features the message has (an '@',
// a digit, ...); leaving out the alternatives a message cannot match must
// give what the whole alternation gives. Random messages built from pieces
// of every pattern, glued with and without the feature characters.
TEST(NormalizeMessageTest, FeatureAlternationsEqualTheWholeOne) {
  const std::vector<std::string> pieces = {
      "hello",
      " ",
      "foo.bar@example.com",
      "https://example.com/a?b=c",
      "api.example.com",
      "192.168.0.1",
      "::1",
      "fe80::1%eth0",
      "550e8400-e29b-41d4-a716-446655440000",
      "deadbeefdeadbeefdeadbeefdeadbeef",
      "da39a3ee5e6b4b0d3255bfef95601890afd80709",
      "2019-04-17T22:31:45Z",
      "Wed Apr 17 22:31:45 2019",
      "10:30 PM",
      "150ms",
      "1.5s",
      "0xBEEF",
      "3.14",
      "-7",
      "42",
      "='x y'",
      "=\"q\"",
      "=true",
      "=False",
      "datetime.datetime(2020, 1, 1)",
      "datetimeXdatetime(a)",
      "@",
      ":",
      ".",
      "-",
      "=",
      "(",
      ")",
      "\xd9\xa3",
      "\xff",
      "abcdefab",
      "x",
      "\n",
      "Mon, 3 Jan"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(1, 8);
  int differing = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string message;
    for (int n = length(rng); n > 0; --n) message += pieces[pick(rng)];
    const std::string fast = NormalizeMessageForGrouping(message);
    const std::string every =
        internal::NormalizeMessageWithEveryPattern(message);
    EXPECT_EQ(fast, every) << message;
    if (fast != message) ++differing;
  }
  // The messages exercise the patterns, not only the pass-through.
  EXPECT_GT(differing, 10000);
}

TEST(NormalizeMessageTest, MessagesWithFewFeatures) {
  // Only a pattern that needs none of the features applies.
  EXPECT_EQ(
      NormalizeMessageForGrouping("hash deadbeefdeadbeefdeadbeefdeadbeef"),
      "hash <md5>");
  // Arabic-Indic three: UCP's \d matches it, as Python's does.
  EXPECT_EQ(NormalizeMessageForGrouping("n \xd9\xa3"), "n <int>");
  EXPECT_EQ(NormalizeMessageForGrouping("x=true"), "x=<bool>");
  EXPECT_EQ(NormalizeMessageForGrouping("at datetimeXdatetime(now)"),
            "at <date>");
  EXPECT_EQ(NormalizeMessageForGrouping("a@b"), "<email>");
}

}  // namespace
}  // namespace tern::grouping
