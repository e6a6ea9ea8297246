#include "config/values.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "config/yaml_tree.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::config {
namespace {

using ::testing::HasSubstr;

TEST(ParseSize, AcceptsBytesAndUnits) {
  struct Case {
    std::string_view text;
    uint64_t want;
  };
  const Case cases[] = {
      {"0", 0},
      {"1048576", 1048576},
      {"1B", 1},
      {"1KB", 1000},
      {"1kb", 1000},
      {"100MB", 100'000'000},
      {"2GB", 2'000'000'000},
      {"1TB", 1'000'000'000'000},
      {"512KiB", 512 * 1024},
      {"1MiB", 1 << 20},
      {"1mib", 1 << 20},
      {"1 MiB", 1 << 20},
      {"3GiB", 3ull << 30},
      {"1TiB", 1ull << 40},
      {"18446744073709551615", 18446744073709551615ull},
  };
  for (const Case& c : cases) {
    absl::StatusOr<uint64_t> got = ParseSize(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(ParseSize, RejectsEverythingElse) {
  for (std::string_view text :
       {"", "abc", "MiB", "-1", "+1", "1.5MiB", "1 ", "1  MiB", "1Mi", "1MiBs",
        "1 k", " 1", "1e6", "18446744073709551616", "16777216TiB", "0x10"}) {
    EXPECT_FALSE(ParseSize(text).ok()) << text;
  }
}

TEST(ParseDuration, AcceptsUnits) {
  struct Case {
    std::string_view text;
    absl::Duration want;
  };
  const Case cases[] = {
      {"0ms", absl::ZeroDuration()}, {"100ms", absl::Milliseconds(100)},
      {"10s", absl::Seconds(10)},    {"5m", absl::Minutes(5)},
      {"2h", absl::Hours(2)},        {"300s", absl::Seconds(300)},
      {"0s", absl::ZeroDuration()},
  };
  for (const Case& c : cases) {
    absl::StatusOr<absl::Duration> got = ParseDuration(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(ParseDuration, RejectsEverythingElse) {
  for (std::string_view text :
       {"", "10", "s", "1.5s", "-1s", "10 s", "10S", "10sec", "1d", "1m30s",
        "10us", "99999999999999999999s", "9223372036854775807h"}) {
    EXPECT_FALSE(ParseDuration(text).ok()) << text;
  }
}

TEST(ParseHostPort, AcceptsHostsAndPorts) {
  struct Case {
    std::string_view text;
    std::string host;
    uint16_t port;
    std::string canonical;
  };
  const Case cases[] = {
      {"127.0.0.1:3000", "127.0.0.1", 3000, "127.0.0.1:3000"},
      {"0.0.0.0:80", "0.0.0.0", 80, "0.0.0.0:80"},
      {"localhost:9092", "localhost", 9092, "localhost:9092"},
      {"kafka-1.internal.example:65535", "kafka-1.internal.example", 65535,
       "kafka-1.internal.example:65535"},
      {"[::1]:3000", "::1", 3000, "[::1]:3000"},
      {"[::]:1", "::", 1, "[::]:1"},
      {"[2001:db8::7]:443", "2001:db8::7", 443, "[2001:db8::7]:443"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<HostPort> got = ParseHostPort(c.text, false);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(got->host, c.host);
    EXPECT_EQ(got->port, c.port);
    EXPECT_EQ(got->ToString(), c.canonical);
  }
}

TEST(ParseHostPort, PortZeroOnlyWhenAllowed) {
  EXPECT_FALSE(ParseHostPort("127.0.0.1:0", false).ok());
  absl::StatusOr<HostPort> got = ParseHostPort("127.0.0.1:0", true);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->port, 0);
}

TEST(ParseHostPort, RejectsWithAReason) {
  struct Case {
    std::string_view text;
    std::string_view reason;
  };
  const Case cases[] = {
      {"127.0.0.1", "missing port"},
      {"127.0.0.1:", "invalid port"},
      {"127.0.0.1:65536", "invalid port"},
      {"127.0.0.1:http", "invalid port"},
      {"127.0.0.1:-1", "invalid port"},
      {"127.0.0.1:000080", "invalid port"},
      {":3000", "empty host"},
      {"::1:3000", "brackets"},
      {"[::1]", "missing port"},
      {"[::1:3000", "missing ']'"},
      {"[not-v6]:3000", "invalid IPv6"},
      {"bad_host:3000", "invalid host"},
      {"a..b:3000", "invalid host"},
      {"-a:3000", "invalid host"},
      {"", "missing port"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<HostPort> got = ParseHostPort(c.text, true);
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_THAT(std::string(got.status().message()),
                HasSubstr(std::string(c.reason)))
        << c.text;
  }
}

TEST(ParseYaml, SyntaxErrorNamesFileLineAndColumn) {
  absl::StatusOr<YamlNode> got = ParseYaml("a: 1\nb: [1, 2\nc: 3\n", "x.yml");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(got.status().message()),
              testing::StartsWith("x.yml:"));
}

TEST(ParseYaml, KeepsPositionsOneBased) {
  absl::StatusOr<YamlNode> got = ParseYaml("a:\n  b: hello\n", "x.yml");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kind, YamlNode::Kind::kMap);
  const YamlNode& a = got->entries[0].value;
  ASSERT_EQ(a.kind, YamlNode::Kind::kMap);
  EXPECT_EQ(a.entries[0].key.mark.line, 2);
  EXPECT_EQ(a.entries[0].key.mark.column, 3);
  EXPECT_EQ(a.entries[0].value.scalar, "hello");
}

TEST(ParseYaml, NullsAndQuotedNulls) {
  absl::StatusOr<YamlNode> got =
      ParseYaml("a:\nb: null\nc: ~\nd: \"null\"\n", "x.yml");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->entries[0].value.kind, YamlNode::Kind::kNull);
  EXPECT_EQ(got->entries[1].value.kind, YamlNode::Kind::kNull);
  EXPECT_EQ(got->entries[2].value.kind, YamlNode::Kind::kNull);
  EXPECT_EQ(got->entries[3].value.kind, YamlNode::Kind::kScalar);
}

TEST(ParseYaml, RefusesDuplicateKeysAndSecondDocuments) {
  absl::StatusOr<YamlNode> dup = ParseYaml("a: 1\nb: 2\na: 3\n", "x.yml");
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(std::string(dup.status().message()),
              HasSubstr("x.yml:3:1: duplicate key \"a\""));
  absl::StatusOr<YamlNode> two = ParseYaml("a: 1\n---\nb: 2\n", "x.yml");
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(std::string(two.status().message()),
              HasSubstr("single YAML document"));
  absl::StatusOr<YamlNode> complex_key = ParseYaml("? [a]\n: 1\n", "x.yml");
  EXPECT_FALSE(complex_key.ok());
}

TEST(ParseYaml, EmptyDocumentIsNull) {
  absl::StatusOr<YamlNode> got = ParseYaml("# only a comment\n", "x.yml");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->kind, YamlNode::Kind::kNull);
}

TEST(ParseYaml, AliasBombIsRefused) {
  // Each level doubles the node count: 2^25 nodes once expanded.
  std::string text = "a0: &a0 [x, x]\n";
  for (int i = 1; i <= 25; ++i) {
    absl::StrAppend(&text, "a", i, ": &a", i, " [*a", i - 1, ", *a", i - 1,
                    "]\n");
  }
  absl::StatusOr<YamlNode> got = ParseYaml(text, "bomb.yml");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("too large"));
}

TEST(ParseYaml, DeepNestingIsRefusedNotCrashed) {
  for (int depth : {100, 100000}) {
    const std::string text = std::string(depth, '[') + std::string(depth, ']');
    absl::StatusOr<YamlNode> got = ParseYaml(text, "deep.yml");
    ASSERT_FALSE(got.ok()) << depth;
    EXPECT_THAT(std::string(got.status().message()),
                testing::StartsWith("deep.yml:1:"));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("nesting"));
  }
}

TEST(ReadConfigFile, MissingFileIsNotFound) {
  absl::StatusOr<std::string> got = ReadConfigFile("/nonexistent/relay.yml");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("/nonexistent/relay.yml"));
}

}  // namespace
}  // namespace tern::config
