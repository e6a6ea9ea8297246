// Message parameterization: each pattern of Sentry's parameterization.py,
// expected outputs produced by the Python regex itself.
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

}  // namespace
}  // namespace tern::grouping
