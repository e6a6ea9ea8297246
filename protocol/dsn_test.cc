#include "protocol/dsn.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/http_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kKey = "4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c";

TEST(Dsn, ParsesModernSaasDsn) {
  auto dsn = ParseDsn(
      "https://4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c@o1.ingest.example.com/42");
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  EXPECT_EQ(dsn->scheme, DsnScheme::kHttps);
  EXPECT_EQ(dsn->public_key, kKey);
  EXPECT_FALSE(dsn->secret.has_value());
  EXPECT_EQ(dsn->host, "o1.ingest.example.com");
  EXPECT_FALSE(dsn->port.has_value());
  EXPECT_EQ(dsn->path, "/");
  EXPECT_EQ(dsn->project_id, 42u);
}

TEST(Dsn, ParsesSecretPortAndPathPrefix) {
  auto dsn = ParseDsn("http://public:s3cret@localhost:9000/sentry/relay/7");
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  EXPECT_EQ(dsn->scheme, DsnScheme::kHttp);
  EXPECT_EQ(dsn->public_key, "public");
  ASSERT_TRUE(dsn->secret.has_value());
  EXPECT_EQ(*dsn->secret, "s3cret");
  EXPECT_EQ(dsn->host, "localhost");
  ASSERT_TRUE(dsn->port.has_value());
  EXPECT_EQ(*dsn->port, 9000);
  EXPECT_EQ(dsn->path, "/sentry/relay/");
  EXPECT_EQ(dsn->project_id, 7u);
}

TEST(Dsn, ParsesIpv6HostWithAndWithoutPort) {
  auto with_port = ParseDsn("http://abc@[::1]:3000/5");
  ASSERT_TRUE(with_port.ok()) << with_port.status();
  EXPECT_EQ(with_port->host, "[::1]");
  EXPECT_EQ(with_port->port, 3000);

  auto without = ParseDsn("https://abc@[2001:db8::7:1]/5");
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->host, "[2001:db8::7:1]");
  EXPECT_FALSE(without->port.has_value());
}

TEST(Dsn, ViewsPointIntoTheInput) {
  std::string text = "https://abc@host.example/1";
  auto dsn = ParseDsn(text);
  ASSERT_TRUE(dsn.ok());
  EXPECT_EQ(dsn->public_key.data(), text.data() + 8);
  EXPECT_EQ(dsn->host.data(), text.data() + 12);
}

TEST(Dsn, SchemeIsCaseInsensitiveAndFormattedLowercase) {
  auto dsn = ParseDsn("HTTPS://abc@host/1");
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  EXPECT_EQ(dsn->scheme, DsnScheme::kHttps);
  EXPECT_EQ(FormatDsn(*dsn), "https://abc@host/1");
}

TEST(Dsn, EmptySecretIsAbsent) {
  auto dsn = ParseDsn("https://abc:@host/1");
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  EXPECT_FALSE(dsn->secret.has_value());
}

TEST(Dsn, ProjectIdBoundaries) {
  auto max = ParseDsn("https://k@h/18446744073709551615");
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(max->project_id, UINT64_MAX);

  auto leading_zeros = ParseDsn("https://k@h/0007");
  ASSERT_TRUE(leading_zeros.ok()) << leading_zeros.status();
  EXPECT_EQ(leading_zeros->project_id, 7u);
  EXPECT_EQ(FormatDsn(*leading_zeros), "https://k@h/7");

  auto one = ParseDsn("https://k@h/1");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->project_id, 1u);
}

TEST(Dsn, PortBoundaries) {
  auto low = ParseDsn("https://k@h:1/1");
  ASSERT_TRUE(low.ok()) << low.status();
  EXPECT_EQ(low->port, 1);
  auto high = ParseDsn("https://k@h:65535/1");
  ASSERT_TRUE(high.ok()) << high.status();
  EXPECT_EQ(high->port, 65535);
}

TEST(Dsn, AcceptsAnyAlphanumericKey) {
  auto dsn = ParseDsn("https://MyKey123@h/1");
  ASSERT_TRUE(dsn.ok()) << dsn.status();
  EXPECT_EQ(dsn->public_key, "MyKey123");
}

TEST(Dsn, FormatRoundTrips) {
  for (std::string_view text : {
           "https://4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c@o1.ingest.example.com/42",
           "http://public:secret@localhost:9000/sentry/7",
           "http://abc@[::1]:3000/5",
           "https://abc@[2001:db8::1]/prefix/a.b_c~d-e/18446744073709551615",
           "http://abc@127.0.0.1:80/1",
       }) {
    auto dsn = ParseDsn(text);
    ASSERT_TRUE(dsn.ok()) << text << ": " << dsn.status();
    std::string formatted = FormatDsn(*dsn);
    EXPECT_EQ(formatted, text);
    auto again = ParseDsn(formatted);
    ASSERT_TRUE(again.ok()) << formatted;
    EXPECT_EQ(*again, *dsn);
  }
}

TEST(Dsn, FormatsHandBuiltDsn) {
  Dsn dsn;
  dsn.scheme = DsnScheme::kHttp;
  dsn.public_key = kKey;
  dsn.host = "127.0.0.1";
  dsn.port = 3000;
  dsn.path = "";  // same as "/"
  dsn.project_id = 1;
  EXPECT_EQ(FormatDsn(dsn),
            "http://4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c@127.0.0.1:3000/1");
}

TEST(Dsn, SchemeNames) {
  EXPECT_EQ(DsnSchemeName(DsnScheme::kHttp), "http");
  EXPECT_EQ(DsnSchemeName(DsnScheme::kHttps), "https");
}

TEST(Dsn, ValidPublicKeys) {
  EXPECT_TRUE(IsValidPublicKey(kKey));
  EXPECT_TRUE(IsValidPublicKey("a"));
  EXPECT_TRUE(IsValidPublicKey("ABCxyz09"));
  EXPECT_FALSE(IsValidPublicKey(""));
  EXPECT_FALSE(IsValidPublicKey("abc-def"));
  EXPECT_FALSE(IsValidPublicKey("abc def"));
  EXPECT_FALSE(IsValidPublicKey("abc\xc3\xa9"));
}

struct BadCase {
  std::string_view text;
  std::string_view message;  // a substring the error must contain
};

TEST(Dsn, EachMalformedPartHasItsOwnError) {
  const BadCase cases[] = {
      {"", "missing scheme"},
      {"abc@host/1", "missing scheme"},
      {"://abc@host/1", "missing scheme"},
      {"https:/abc@host/1", "missing scheme"},
      {" https://abc@host/1", "missing scheme"},
      {"ftp://abc@host/1", "unsupported scheme \"ftp\""},
      {"httpss://abc@host/1", "unsupported scheme"},
      {"https://host/1", "missing public key"},
      {"https://@host/1", "empty public key"},
      {"https://:secret@host/1", "empty public key"},
      {"https://ab-cd@host/1", "invalid public key"},
      {"https://ab%20cd@host/1", "invalid public key"},
      {"https://abc:se-cret@host/1", "invalid secret key"},
      {"https://abc@/1", "missing host"},
      {"https://abc@:80/1", "missing host"},
      {"https://abc@ho st/1", "invalid character in host"},
      {"https://abc@h@x/1", "invalid character in host"},
      {"https://abc@[::1/1", "unterminated IPv6"},
      {"https://abc@[]/1", "invalid IPv6 address"},
      {"https://abc@[1.2.3.4]/1", "invalid IPv6 address"},
      {"https://abc@[::g]/1", "invalid IPv6 address"},
      {"https://abc@[::1]x/1", "after IPv6 address"},
      {"https://abc@host:/1", "empty port"},
      {"https://abc@host:80a/1", "port must be decimal"},
      {"https://abc@host:-1/1", "port must be decimal"},
      {"https://abc@host:0/1", "port out of range"},
      {"https://abc@host:65536/1", "port out of range"},
      {"https://abc@host:99999999999999999999/1", "port out of range"},
      {"https://abc@host", "missing project id"},
      {"https://abc@host:9000", "missing project id"},
      {"https://abc@host/", "missing project id"},
      {"https://abc@host/42/", "missing project id"},
      {"https://abc@host?x=1", "missing project id"},
      {"https://abc@host/abc", "non-numeric project id"},
      {"https://abc@host/-1", "non-numeric project id"},
      {"https://abc@host/+1", "non-numeric project id"},
      {"https://abc@host/0", "project id must be non-zero"},
      {"https://abc@host/000", "project id must be non-zero"},
      {"https://abc@host/18446744073709551616", "project id out of range"},
      {"https://abc@host/42abc", "trailing characters after project id"},
      {"https://abc@host/42 ", "trailing characters after project id"},
      {"https://abc@host/42\n", "trailing characters after project id"},
      {"https://abc@host/42?x=1", "trailing query or fragment"},
      {"https://abc@host/42#frag", "trailing query or fragment"},
      {"https://abc@host/a b/42", "invalid character in path"},
      {"https://abc@host/a%2F/42", "invalid character in path"},
  };
  for (const BadCase& c : cases) {
    auto dsn = ParseDsn(c.text);
    ASSERT_FALSE(dsn.ok()) << "accepted: " << c.text;
    EXPECT_EQ(dsn.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_EQ(HttpStatusFor(dsn.status()), 400) << c.text;
    EXPECT_THAT(dsn.status().message(), HasSubstr(std::string(c.message)))
        << c.text;
  }
}

TEST(Dsn, LongSchemeIsTruncatedInTheMessage) {
  std::string text = std::string(500, 'x') + "://abc@host/1";
  auto dsn = ParseDsn(text);
  ASSERT_FALSE(dsn.ok());
  EXPECT_LT(dsn.status().message().size(), 120u);
}

}  // namespace
}  // namespace tern::protocol
