#include "protocol/auth.h"

#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/http_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Counts heap allocations so the "allocation-free on success" contract of the
// header parsers is tested rather than assumed.
namespace {
size_t g_allocations = 0;
}  // namespace

// GCC pairs the malloc in operator new with the free in operator delete and
// flags the replacement itself as a mismatch; the pairing is the point here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace tern::protocol {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kKey = "4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c";

// A failed parse with the HTTP status and a message fragment we expect.
void ExpectError(const absl::StatusOr<AuthInfo>& result, int http_status,
                 std::string_view fragment, std::string_view input) {
  ASSERT_FALSE(result.ok()) << "accepted: " << input;
  EXPECT_EQ(HttpStatusFor(result.status()), http_status)
      << input << ": " << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr(std::string(fragment)))
      << input;
}

bool PointsInto(std::string_view view, std::string_view buffer) {
  return view.data() >= buffer.data() &&
         view.data() + view.size() <= buffer.data() + buffer.size();
}

TEST(SentryAuthHeader, ParsesSentryPython) {
  std::string value =
      "Sentry sentry_key=4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c, sentry_version=7, "
      "sentry_client=sentry.python/2.19.0";
  auto auth = ParseSentryAuthHeader(value);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, kKey);
  EXPECT_EQ(auth->version, 7);
  EXPECT_EQ(auth->client, "sentry.python/2.19.0");
  EXPECT_EQ(auth->source, AuthSource::kXSentryAuth);
  EXPECT_EQ(auth->dsn_project_id, 0u);
  EXPECT_TRUE(PointsInto(auth->public_key, value));
  EXPECT_TRUE(PointsInto(auth->client, value));
}

TEST(SentryAuthHeader, ParsesJavaStyleWithoutSpaces) {
  auto auth = ParseSentryAuthHeader(
      "Sentry sentry_version=7,sentry_client=sentry.java.android/7.14.0,"
      "sentry_key=abc123");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, "abc123");
  EXPECT_EQ(auth->client, "sentry.java.android/7.14.0");
}

TEST(SentryAuthHeader, ParsesRavenPythonIgnoringSecretAndTimestamp) {
  auto auth = ParseSentryAuthHeader(
      "Sentry sentry_timestamp=1329096377.43, "
      "sentry_client=raven-python/6.10.0, "
      "sentry_version=6, sentry_key=public, sentry_secret=secret");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, "public");
  EXPECT_EQ(auth->version, 6);
  EXPECT_EQ(auth->client, "raven-python/6.10.0");
}

TEST(SentryAuthHeader, SentryWordIsOptionalAndCaseInsensitive) {
  for (std::string_view value :
       {"sentry_key=abc, sentry_version=7", "SENTRY sentry_key=abc",
        "sentry\tsentry_key=abc", "  Sentry   sentry_key=abc"}) {
    auto auth = ParseSentryAuthHeader(value);
    ASSERT_TRUE(auth.ok()) << value << ": " << auth.status();
    EXPECT_EQ(auth->public_key, "abc") << value;
  }
}

TEST(SentryAuthHeader, ToleratesSpacesEmptyItemsAndTrailingComma) {
  auto auth = ParseSentryAuthHeader(
      "Sentry  sentry_key = abc ,\t sentry_version=7 ,, sentry_client= x/1 ,");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, "abc");
  EXPECT_EQ(auth->version, 7);
  EXPECT_EQ(auth->client, "x/1");
}

TEST(SentryAuthHeader, SplitsEachPairOnItsFirstEquals) {
  auto auth = ParseSentryAuthHeader("Sentry sentry_key=abc, sentry_client=a=b");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->client, "a=b");
}

TEST(SentryAuthHeader, LastRepeatedKeyWinsAndUnknownKeysAreIgnored) {
  auto auth = ParseSentryAuthHeader(
      "Sentry sentry_key=first, foo=bar, sentry_key=second, Sentry_Key=nope");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, "second");
}

TEST(SentryAuthHeader, VersionForms) {
  struct Case {
    std::string_view version;
    int major;
  };
  for (const Case& c : {Case{"7", 7}, Case{"7.0", 7}, Case{"7.12", 7},
                        Case{"2.0", 2}, Case{"0", 0}, Case{"007", 7}}) {
    std::string value = "Sentry sentry_key=abc, sentry_version=";
    value += c.version;
    auto auth = ParseSentryAuthHeader(value);
    ASSERT_TRUE(auth.ok()) << value << ": " << auth.status();
    EXPECT_EQ(auth->version, c.major) << value;
  }
  auto absent = ParseSentryAuthHeader("Sentry sentry_key=abc");
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(absent->version, 7);
}

TEST(SentryAuthHeader, RejectsNewerAndMalformedVersionsWith400) {
  for (std::string_view version : {"8", "8.0", "10", "99999999999999999999"}) {
    std::string value = "Sentry sentry_key=abc, sentry_version=";
    value += version;
    ExpectError(ParseSentryAuthHeader(value), 400,
                "unsupported protocol version", value);
  }
  for (std::string_view version :
       {"", "abc", "7.", ".7", "7.x", "-1", "7.0.1", "v7", "7 7"}) {
    std::string value = "Sentry sentry_key=abc, sentry_version=";
    value += version;
    ExpectError(ParseSentryAuthHeader(value), 400, "invalid sentry_version",
                value);
  }
}

TEST(SentryAuthHeader, UnsupportedVersionMessageIsBounded) {
  std::string value =
      "Sentry sentry_key=abc, sentry_version=" + std::string(1000, '9');
  auto auth = ParseSentryAuthHeader(value);
  ASSERT_FALSE(auth.ok());
  EXPECT_LT(auth.status().message().size(), 100u);
}

TEST(SentryAuthHeader, BadKeyValuesAre400) {
  for (std::string_view value :
       {"Sentry sentry_key=", "Sentry sentry_key= , sentry_version=7",
        "Sentry sentry_key=ab-cd", "Sentry sentry_key=ab cd",
        "Sentry sentry_key=\"abc\""}) {
    ExpectError(ParseSentryAuthHeader(value), 400, "invalid sentry_key", value);
  }
}

TEST(SentryAuthHeader, MalformedPayloadsAre401) {
  ExpectError(ParseSentryAuthHeader("Sentry sentry_version=7"), 401,
              "missing sentry_key", "no key");
  ExpectError(ParseSentryAuthHeader("Sentry"), 401, "missing sentry_key",
              "Sentry");
  ExpectError(ParseSentryAuthHeader(""), 401, "missing sentry_key", "empty");
  ExpectError(ParseSentryAuthHeader("Sentry sentry_key"), 401,
              "expected key=value", "no equals");
  ExpectError(ParseSentryAuthHeader("Sentry sentry_key=abc, garbage"), 401,
              "expected key=value", "garbage pair");
  ExpectError(ParseSentryAuthHeader("Bearer abc"), 401, "expected key=value",
              "bearer");
  ExpectError(ParseSentryAuthHeader("Sentry =abc"), 401, "empty key",
              "empty key");
  ExpectError(ParseSentryAuthHeader("Sentry sentry_key=abc,  = x"), 401,
              "empty key", "empty key later");
}

TEST(SentryAuthHeader, DoesNotAllocateOnSuccess) {
  std::string value =
      "Sentry sentry_key=4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c, sentry_version=7, "
      "sentry_client=sentry.python/2.19.0";
  size_t before = g_allocations;
  auto auth = ParseSentryAuthHeader(value);
  size_t after = g_allocations;
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(after, before);

  // The counter does see allocations: an error builds its message.
  before = g_allocations;
  auto error = ParseSentryAuthHeader("Sentry sentry_version=7");
  EXPECT_FALSE(error.ok());
  EXPECT_GT(g_allocations, before);
}

TEST(AuthorizationHeader, RecognizesOnlyTheSentryScheme) {
  EXPECT_TRUE(IsSentryAuthorization("Sentry sentry_key=abc"));
  EXPECT_TRUE(IsSentryAuthorization("sentry sentry_key=abc"));
  EXPECT_TRUE(IsSentryAuthorization("SeNtRy\tsentry_key=abc"));
  EXPECT_TRUE(IsSentryAuthorization("Sentry"));
  EXPECT_FALSE(IsSentryAuthorization("Bearer abc"));
  EXPECT_FALSE(IsSentryAuthorization("Basic dXNlcjpwYXNz"));
  EXPECT_FALSE(IsSentryAuthorization("Sentryx sentry_key=abc"));
  EXPECT_FALSE(IsSentryAuthorization("sentry_key=abc"));
  EXPECT_FALSE(IsSentryAuthorization("Sentr"));
  EXPECT_FALSE(IsSentryAuthorization(""));
}

TEST(AuthorizationHeader, ParsesSentryScheme) {
  std::string value =
      "sentry sentry_key=abc123, sentry_version=7.0, "
      "sentry_client=sentry.javascript.node/8.40.0";
  auto auth = ParseAuthorizationHeader(value);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, "abc123");
  EXPECT_EQ(auth->version, 7);
  EXPECT_EQ(auth->client, "sentry.javascript.node/8.40.0");
  EXPECT_EQ(auth->source, AuthSource::kAuthorization);
}

TEST(AuthorizationHeader, RequiresTheSchemeAnd401sWithout) {
  for (std::string_view value :
       {"sentry_key=abc", "Bearer abc", "Sentryx sentry_key=abc", ""}) {
    ExpectError(ParseAuthorizationHeader(value), 401, "Sentry scheme", value);
  }
  ExpectError(ParseAuthorizationHeader("Sentry sentry_key=abc, oops"), 401,
              "expected key=value", "bad pair");
  ExpectError(ParseAuthorizationHeader("Sentry sentry_key=a.b"), 400,
              "invalid sentry_key", "bad key");
  ExpectError(
      ParseAuthorizationHeader("Sentry sentry_key=abc,sentry_version=9"), 400,
      "unsupported protocol version", "v9");
}

TEST(AuthQuery, DetectsSentryParams) {
  EXPECT_TRUE(HasSentryAuthParams("sentry_key=abc"));
  EXPECT_TRUE(HasSentryAuthParams("?sentry_key=abc"));
  EXPECT_TRUE(HasSentryAuthParams("foo=1&sentry_version=7"));
  EXPECT_TRUE(HasSentryAuthParams("sentry%5Fkey=abc"));
  EXPECT_TRUE(HasSentryAuthParams("sentry_"));
  EXPECT_FALSE(HasSentryAuthParams(""));
  EXPECT_FALSE(HasSentryAuthParams("?"));
  EXPECT_FALSE(HasSentryAuthParams("foo=sentry_key&bar=1"));
  EXPECT_FALSE(HasSentryAuthParams("sentry=1"));
  EXPECT_FALSE(HasSentryAuthParams("xsentry_key=1"));
}

TEST(AuthQuery, ParsesBrowserQueryAndDecodesClient) {
  std::string query =
      "sentry_key=4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c&sentry_version=7&"
      "sentry_client=sentry.javascript.browser%2F8.40.0";
  std::string scratch;
  auto auth = ParseAuthQuery(query, &scratch);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, kKey);
  EXPECT_EQ(auth->version, 7);
  EXPECT_EQ(auth->client, "sentry.javascript.browser/8.40.0");
  EXPECT_EQ(auth->source, AuthSource::kQueryString);
  EXPECT_TRUE(PointsInto(auth->public_key, query));
  EXPECT_TRUE(PointsInto(auth->client, scratch));
}

TEST(AuthQuery, DecodedViewsSurviveSeveralDecodedValues) {
  std::string query =
      "?a=1&sentry_key=%61bc&sentry_version=%37&sentry_client=x+y%2Fz&b";
  std::string scratch = "stale";
  scratch.shrink_to_fit();
  auto auth = ParseAuthQuery(query, &scratch);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, "abc");
  EXPECT_EQ(auth->version, 7);
  EXPECT_EQ(auth->client, "x y/z");
  EXPECT_TRUE(PointsInto(auth->public_key, scratch));
  EXPECT_TRUE(PointsInto(auth->client, scratch));
}

TEST(AuthQuery, EncodedParameterNamesMatch) {
  std::string scratch;
  auto auth = ParseAuthQuery("sentry%5fkey=abc", &scratch);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, "abc");
}

TEST(AuthQuery, MalformedEscapesAreKeptLiterally) {
  std::string scratch;
  auto auth =
      ParseAuthQuery("sentry_key=abc&sentry_client=a%zz%4&x=%", &scratch);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->client, "a%zz%4");
  ExpectError(ParseAuthQuery("sentry_key=ab%zz", &scratch), 400,
              "invalid sentry_key", "bad escape in key");
}

TEST(AuthQuery, Errors) {
  std::string scratch;
  ExpectError(ParseAuthQuery("sentry_version=7", &scratch), 401,
              "missing sentry_key", "no key");
  ExpectError(ParseAuthQuery("", &scratch), 401, "missing sentry_key", "empty");
  ExpectError(ParseAuthQuery("sentry_key", &scratch), 400, "invalid sentry_key",
              "key without equals");
  ExpectError(ParseAuthQuery("sentry_key=", &scratch), 400,
              "invalid sentry_key", "empty key");
  ExpectError(ParseAuthQuery("sentry_key=a%2Db", &scratch), 400,
              "invalid sentry_key", "decoded dash");
  ExpectError(ParseAuthQuery("sentry_key=abc&sentry_version=8", &scratch), 400,
              "unsupported protocol version", "v8");
  ExpectError(ParseAuthQuery("sentry_key=abc&sentry_version=x", &scratch), 400,
              "invalid sentry_version", "vx");
}

TEST(EnvelopeDsnAuth, TakesKeyAndProjectFromTheDsn) {
  std::string dsn = "https://abc123@o1.ingest.example.com/sentry/42";
  auto auth = ParseEnvelopeDsnAuth(dsn);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, "abc123");
  EXPECT_TRUE(PointsInto(auth->public_key, dsn));
  EXPECT_EQ(auth->version, 7);
  EXPECT_EQ(auth->client, "");
  EXPECT_EQ(auth->source, AuthSource::kEnvelopeDsn);
  EXPECT_EQ(auth->dsn_project_id, 42u);
}

TEST(EnvelopeDsnAuth, BadDsnIs400WithContext) {
  ExpectError(ParseEnvelopeDsnAuth("https://host/42"), 400,
              "envelope header dsn: invalid DSN: missing public key", "no key");
  ExpectError(ParseEnvelopeDsnAuth("https://a-b@host/42"), 400,
              "invalid public key", "bad key");
}

TEST(ExtractAuth, NoSourceIs401) {
  std::string scratch;
  AuthSources none;
  ExpectError(ExtractAuth(none, &scratch), 401,
              "missing authorization information", "none");

  AuthSources ignored;
  ignored.authorization = "Bearer token";
  ignored.query = "foo=bar";
  ExpectError(ExtractAuth(ignored, &scratch), 401,
              "missing authorization information", "non-sentry sources");
}

TEST(ExtractAuth, PicksEachSingleSource) {
  std::string scratch;
  {
    AuthSources s;
    s.x_sentry_auth = "Sentry sentry_key=aaa";
    s.authorization = "Bearer token";  // another scheme: not a source
    s.query = "page=2";                // no sentry_ params: not a source
    auto auth = ExtractAuth(s, &scratch);
    ASSERT_TRUE(auth.ok()) << auth.status();
    EXPECT_EQ(auth->public_key, "aaa");
    EXPECT_EQ(auth->source, AuthSource::kXSentryAuth);
  }
  {
    AuthSources s;
    s.authorization = "Sentry sentry_key=bbb";
    auto auth = ExtractAuth(s, &scratch);
    ASSERT_TRUE(auth.ok()) << auth.status();
    EXPECT_EQ(auth->public_key, "bbb");
    EXPECT_EQ(auth->source, AuthSource::kAuthorization);
  }
  {
    AuthSources s;
    s.query = "?sentry_key=ccc&sentry_client=a%2Fb";
    auto auth = ExtractAuth(s, &scratch);
    ASSERT_TRUE(auth.ok()) << auth.status();
    EXPECT_EQ(auth->public_key, "ccc");
    EXPECT_EQ(auth->client, "a/b");
    EXPECT_EQ(auth->source, AuthSource::kQueryString);
  }
  {
    AuthSources s;
    s.envelope_dsn = "https://ddd@host/9";
    auto auth = ExtractAuth(s, &scratch);
    ASSERT_TRUE(auth.ok()) << auth.status();
    EXPECT_EQ(auth->public_key, "ddd");
    EXPECT_EQ(auth->dsn_project_id, 9u);
    EXPECT_EQ(auth->source, AuthSource::kEnvelopeDsn);
  }
}

TEST(ExtractAuth, MoreThanOneSourceIs401) {
  std::string scratch;
  const std::string_view header = "Sentry sentry_key=aaa";
  const std::string_view query = "sentry_key=aaa";
  const std::string_view dsn = "https://aaa@host/1";
  for (int mask = 0; mask < 16; ++mask) {
    if (__builtin_popcount(mask) < 2) continue;
    AuthSources s;
    if (mask & 1) s.x_sentry_auth = header;
    if (mask & 2) s.authorization = header;
    if (mask & 4) s.query = query;
    if (mask & 8) s.envelope_dsn = dsn;
    ExpectError(ExtractAuth(s, &scratch), 401,
                "multiple authorization payloads", std::to_string(mask));
  }
}

TEST(ExtractAuth, PassesOnTheChosenSourcesError) {
  std::string scratch;
  AuthSources malformed;
  malformed.x_sentry_auth = "Sentry nonsense";
  ExpectError(ExtractAuth(malformed, &scratch), 401, "expected key=value",
              "malformed");

  AuthSources empty_header;
  empty_header.x_sentry_auth = "";
  ExpectError(ExtractAuth(empty_header, &scratch), 401, "missing sentry_key",
              "empty header");

  AuthSources newer;
  newer.authorization = "Sentry sentry_key=abc, sentry_version=8";
  ExpectError(ExtractAuth(newer, &scratch), 400, "unsupported protocol version",
              "newer");

  AuthSources bad_dsn;
  bad_dsn.envelope_dsn = "not a dsn";
  ExpectError(ExtractAuth(bad_dsn, &scratch), 400, "envelope header dsn",
              "bad dsn");
}

TEST(FormatSentryAuthHeader, RoundTrips) {
  AuthInfo info;
  info.public_key = kKey;
  info.version = 7;
  info.client = "tern-bench/1.0";
  std::string header = FormatSentryAuthHeader(info);
  EXPECT_EQ(header,
            "Sentry sentry_key=4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c, "
            "sentry_version=7, sentry_client=tern-bench/1.0");
  auto parsed = ParseSentryAuthHeader(header);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, info);

  info.client = "";
  info.version = 5;
  header = FormatSentryAuthHeader(info);
  EXPECT_EQ(header,
            "Sentry sentry_key=4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c, "
            "sentry_version=5");
  parsed = ParseSentryAuthHeader(header);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, info);
}

}  // namespace
}  // namespace tern::protocol
