#include "protocol/normalize.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/http_status.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/json_writer.h"
#include "protocol/scrub.h"
#include "tests/support/samples.h"

namespace tern::protocol {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace dom = simdjson::dom;

constexpr int64_t kReceived = 1700000000;  // 2023-11-14T22:13:20Z

// Status messages are absl::string_view, which gmock's string matchers do
// not take on Debian's abseil.
std::string Msg(const absl::Status& st) { return std::string(st.message()); }

NormalizeOptions Opts() {
  NormalizeOptions o;
  o.received = absl::FromUnixSeconds(kReceived);
  return o;
}

// Normalizes `json`, parses the output back and keeps both for assertions.
class NormalizeTest : public ::testing::Test {
 protected:
  absl::Status Run(std::string_view json,
                   const NormalizeOptions& opts = Opts()) {
    absl::Status st = normalizer_.Normalize(json, opts, &out_);
    if (st.ok()) {
      auto parsed = parser_.parse(out_.json);
      EXPECT_FALSE(parsed.error()) << "output is not JSON: " << out_.json << " "
                                   << simdjson::error_message(parsed.error());
      if (!parsed.error()) doc_ = parsed.value_unsafe();
    }
    return st;
  }
  // The output's top-level member `key`, or nullopt.
  std::optional<dom::element> Field(std::string_view key) {
    auto v = doc_.at_key(key);
    if (v.error()) return std::nullopt;
    return v.value_unsafe();
  }
  std::string Str(std::string_view pointer) {
    auto v = doc_.at_pointer(pointer);
    if (v.error() || !v.value_unsafe().is_string()) return "<not a string>";
    return std::string(std::string_view(v.value_unsafe().get_string()));
  }
  double Num(std::string_view pointer) {
    auto v = doc_.at_pointer(pointer);
    if (v.error() || !v.value_unsafe().is_number()) return std::nan("");
    return double(v.value_unsafe().get_double());
  }
  bool Has(std::string_view pointer) {
    return !doc_.at_pointer(pointer).error();
  }
  // The output's value at `pointer` as compact JSON, or "<absent>".
  std::string At(std::string_view pointer) {
    auto v = doc_.at_pointer(pointer);
    if (v.error()) return "<absent>";
    return simdjson::minify(v.value_unsafe());
  }
  // Top-level keys of the output, in order.
  std::vector<std::string> Keys() {
    std::vector<std::string> keys;
    for (dom::key_value_pair kv : dom::object(doc_)) {
      keys.emplace_back(kv.key);
    }
    return keys;
  }

  Normalizer normalizer_{Normalizer::kDefaultMaxEventBytes, 1};
  NormalizedEvent out_;
  dom::parser parser_;
  dom::element doc_;
};

// --- Rule 1: JSON, UTF-8, an object, bounded depth ---------------------------

TEST_F(NormalizeTest, AnEmptyViewWithANullPointerIsInvalidJson) {
  // std::string_view() has a null data pointer; simdjson must not see it.
  absl::Status s =
      normalizer_.Normalize(std::string_view(), NormalizeOptions(), &out_);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("invalid_json"));
}

TEST_F(NormalizeTest, RejectsInvalidJson) {
  for (std::string_view bad :
       {"", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{} x", "nul",
        "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}", "{\"a\":1e400}"}) {
    absl::Status st = Run(bad);
    EXPECT_EQ(HttpStatusFor(st), 400) << bad;
    EXPECT_THAT(Msg(st), StartsWith("invalid_json: ")) << bad;
  }
}

TEST_F(NormalizeTest, RejectsInvalidUtf8) {
  for (std::string bad :
       {std::string("{\"a\":\"\xff\"}"), std::string("{\"a\xc3\":1}"),
        std::string("{\"a\":\"\xed\xa0\x80\"}")}) {
    absl::Status st = Run(bad);
    EXPECT_EQ(HttpStatusFor(st), 400);
    EXPECT_THAT(Msg(st), StartsWith("invalid_utf8"));
  }
}

TEST_F(NormalizeTest, RejectsNonObjects) {
  for (std::string_view bad : {"[]", "[{}]", "1", "\"x\"", "null", "true"}) {
    absl::Status st = Run(bad);
    EXPECT_EQ(HttpStatusFor(st), 400) << bad;
    EXPECT_THAT(Msg(st), StartsWith("not_an_object")) << bad;
  }
}

// {"x": <levels - 1 nested containers>}: `levels` counts the top object.
std::string Nested(int levels, bool objects, bool empty_innermost) {
  std::string s = "{\"x\":";
  for (int i = 1; i < levels; ++i) s += objects ? "{\"k\":" : "[";
  if (!empty_innermost) s += "1";
  if (objects && empty_innermost) s += "{}";  // one more level, below
  for (int i = 1; i < levels; ++i) s += objects ? "}" : "]";
  return s + "}";
}

TEST_F(NormalizeTest, DepthLimitIsExact) {
  ASSERT_EQ(Normalizer::kMaxDepth, 128);
  for (bool objects : {false, true}) {
    // 128 levels pass, 129 fail, whatever the container kind.
    EXPECT_TRUE(Run(Nested(128, objects, false)).ok()) << objects;
    absl::Status st = Run(Nested(129, objects, false));
    EXPECT_EQ(HttpStatusFor(st), 400) << objects;
    EXPECT_THAT(Msg(st), HasSubstr("nested deeper than 128")) << objects;
  }
  // An empty container is a level too.
  EXPECT_TRUE(Run(Nested(128, false, false)).ok());
  std::string arrays = Nested(128, false, true);  // [[...[]...]] = 128
  EXPECT_TRUE(Run(arrays).ok());
  EXPECT_FALSE(Run(Nested(129, false, true)).ok());
  EXPECT_FALSE(Run(Nested(128, true, true)).ok());  // the {} is level 129
}

TEST_F(NormalizeTest, DepthLimitAppliesInsideCheckedFields) {
  // exception.values[0].stacktrace.frames[0].vars: levels 1..6, then deep.
  auto event = [](int vars_depth) {
    std::string vars;
    for (int i = 0; i < vars_depth; ++i) vars += "[";
    for (int i = 0; i < vars_depth; ++i) vars += "]";
    return R"({"exception":{"values":[{"stacktrace":{"frames":[{"vars":)" +
           vars + "}]}}]}}";
  };
  // Levels so far: top 1, exception 2, values 3, item 4, stacktrace 5,
  // frames 6, frame 7; vars adds vars_depth.
  EXPECT_TRUE(Run(event(128 - 7)).ok());
  EXPECT_THAT(Msg(Run(event(129 - 7))), HasSubstr("nested deeper"));
}

TEST_F(NormalizeTest, TooLargeIsRejectedBeforeParsing) {
  Normalizer small(64, 1);
  NormalizedEvent out;
  const std::string json = "{\"extra\":\"" + std::string(100, 'a') + "\"}";
  absl::Status st = small.Normalize(json, Opts(), &out);
  EXPECT_EQ(HttpStatusFor(st), 413);
  EXPECT_THAT(Msg(st), StartsWith("event_too_large"));
  EXPECT_TRUE(small.Normalize("{}", Opts(), &out).ok());
}

// --- Rule 2: event_id --------------------------------------------------------

bool IsLowerHex32(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST_F(NormalizeTest, GeneratesV4IdWhenAbsentNullOrNil) {
  std::set<std::string> seen;
  for (std::string_view json :
       {R"({})", R"({"event_id":null})",
        R"({"event_id":"00000000000000000000000000000000"})",
        R"({"event_id":"00000000-0000-0000-0000-000000000000"})"}) {
    ASSERT_TRUE(Run(json).ok()) << json;
    const std::string id = Str("/event_id");
    EXPECT_TRUE(IsLowerHex32(id)) << id;
    EXPECT_EQ(id[12], '4') << id;  // version 4
    EXPECT_NE(std::string("89ab").find(id[16]), std::string::npos) << id;
    EXPECT_EQ(out_.event_id.ToHex(), id);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 4u);  // a fresh id every time
}

TEST_F(NormalizeTest, SameSeedSameIdsDifferentSeedDifferentIds) {
  Normalizer a(1024, 99), b(1024, 99), c(1024, 100);
  NormalizedEvent oa, ob, oc;
  ASSERT_TRUE(a.Normalize("{}", Opts(), &oa).ok());
  ASSERT_TRUE(b.Normalize("{}", Opts(), &ob).ok());
  ASSERT_TRUE(c.Normalize("{}", Opts(), &oc).ok());
  EXPECT_EQ(oa.event_id, ob.event_id);
  EXPECT_NE(oa.event_id, oc.event_id);
  Normalizer entropy1(1024), entropy2(1024);
  ASSERT_TRUE(entropy1.Normalize("{}", Opts(), &oa).ok());
  ASSERT_TRUE(entropy2.Normalize("{}", Opts(), &ob).ok());
  EXPECT_NE(oa.event_id, ob.event_id);
}

TEST_F(NormalizeTest, WritesValidIdsAsLowercaseHex) {
  ASSERT_TRUE(Run(R"({"event_id":"FFF1050314A3433A823CFEDEC50F312F"})").ok());
  EXPECT_EQ(Str("/event_id"), "fff1050314a3433a823cfedec50f312f");
  ASSERT_TRUE(
      Run(R"({"event_id":"8a412352-5012-7834-0127-03406f2e03bd"})").ok());
  EXPECT_EQ(Str("/event_id"), "8a41235250127834012703406f2e03bd");
  EXPECT_EQ(out_.event_id.ToHex(), "8a41235250127834012703406f2e03bd");
}

TEST_F(NormalizeTest, RejectsMalformedIds) {
  for (std::string_view json :
       {R"({"event_id":5})", R"({"event_id":true})", R"({"event_id":{}})",
        R"({"event_id":"abc"})", R"({"event_id":""})",
        R"({"event_id":"8a41235250127834012703406f2e03bdX"})",
        R"({"event_id":"{8a412352-5012-7834-0127-03406f2e03bd}"})",
        R"({"event_id":"8a41235250127834012703406f2e03bg"})"}) {
    absl::Status st = Run(json);
    EXPECT_EQ(HttpStatusFor(st), 400) << json;
    EXPECT_THAT(Msg(st), StartsWith("invalid_event_id")) << json;
  }
}

TEST_F(NormalizeTest, EnvelopeIdMustMatchAndFillsIn) {
  const EventId env = *EventId::Parse("8a41235250127834012703406f2e03bd");
  NormalizeOptions o = Opts();
  o.envelope_event_id = env;
  ASSERT_TRUE(
      Run(R"({"event_id":"8a412352-5012-7834-0127-03406f2e03bd"})", o).ok());
  EXPECT_EQ(out_.event_id, env);
  ASSERT_TRUE(Run(R"({"level":"info"})", o).ok());  // absent: envelope's
  EXPECT_EQ(Str("/event_id"), "8a41235250127834012703406f2e03bd");
  ASSERT_TRUE(Run(R"({"event_id":"00000000000000000000000000000000"})", o)
                  .ok());  // nil counts as absent
  EXPECT_EQ(Str("/event_id"), "8a41235250127834012703406f2e03bd");
  absl::Status st =
      Run(R"({"event_id":"9a41235250127834012703406f2e03bd"})", o);
  EXPECT_EQ(HttpStatusFor(st), 400);
  EXPECT_THAT(Msg(st), StartsWith("event_id_mismatch"));
}

// --- Rules 3 and 4: received, timestamp --------------------------------------

TEST_F(NormalizeTest, ReceivedIsEpochSecondsAsAFloat) {
  NormalizeOptions o = Opts();
  o.received = absl::FromUnixMillis(1700000000250);
  ASSERT_TRUE(Run("{}", o).ok());
  EXPECT_EQ(Num("/received"), 1700000000.25);
  EXPECT_EQ(out_.received, 1700000000.25);
  EXPECT_THAT(out_.json, HasSubstr("\"received\":1700000000.25"));
  // Whole seconds stay floats on the wire.
  ASSERT_TRUE(Run("{}").ok());
  EXPECT_THAT(out_.json, HasSubstr("\"received\":1700000000.0"));
}

struct TimestampCase {
  std::string json_value;
  double want;  // epoch seconds
};

TEST_F(NormalizeTest, AcceptsRfc3339AndEpochTimestamps) {
  const double r = kReceived;
  const std::vector<TimestampCase> cases = {
      {"\"2023-11-14T22:13:20Z\"", r},
      {"\"2023-11-14T22:13:20.5Z\"", r + 0.5},
      {"\"2023-11-14T22:13:20.123456Z\"", r + 0.123456},
      {"\"2023-11-14T22:13:20.123456789Z\"", r + 0.123456789},
      {"\"2023-11-14T22:13:20.1234567891234Z\"", r + 0.123456789},
      {"\"2023-11-14T23:13:20+01:00\"", r},
      {"\"2023-11-14T16:43:20.25-05:30\"", r + 0.25},
      {"\"2023-11-14T22:13:20+00:00\"", r},
      {"\"2023-11-14t22:13:20z\"", r},
      {"\"2023-11-14 22:13:20Z\"", r},
      {"\"2023-11-14T22:13:20\"", r},  // naive: UTC
      {"\"2023-11-14T22:13:20.750\"", r + 0.75},
      {"\"2020-02-29T00:00:00Z\"", 1582934400},  // leap day
      {"\"1970-01-01T00:00:00Z\"", 0},
      {"\"1969-12-31T23:59:59Z\"", -1},
      {"\"2016-12-31T23:59:60Z\"", 1483228800},  // leap second
      {"\"0001-01-01T00:00:00Z\"", -62135596800.0},
      {"1700000000", r},
      {"1699999999.5", r - 0.5},
      {"-1", -1},
      {"0", 0},
      {"null", r},
      {"1700000060", r + 60},  // exactly 60 s ahead: kept
      {"\"2023-11-14T22:14:20Z\"", r + 60},
      {"1700000061", r},  // 61 s ahead: clamped to received
      {"\"2023-11-14T22:14:21Z\"", r},
      {"\"2023-11-14T22:14:20.000001Z\"", r},
      {"1e300", r},
      {"18446744073709551615", r},  // uint64
  };
  for (const TimestampCase& c : cases) {
    ASSERT_TRUE(Run("{\"timestamp\":" + c.json_value + "}").ok())
        << c.json_value;
    EXPECT_DOUBLE_EQ(Num("/timestamp"), c.want) << c.json_value;
    EXPECT_DOUBLE_EQ(out_.timestamp, c.want) << c.json_value;
    // Always written as a float.
    auto ts = Field("timestamp");
    ASSERT_TRUE(ts.has_value());
    EXPECT_TRUE(ts->is_double()) << out_.json;
  }
  ASSERT_TRUE(Run("{}").ok());
  EXPECT_EQ(Num("/timestamp"), r);  // absent: received
}

// Relay reads a timestamp it cannot parse as "not set" and notes it; the
// event then gets the time it was received.
TEST_F(NormalizeTest, UnreadableTimestampsBecomeReceivedWithANote) {
  for (std::string_view value : {"\"yesterday\"",
                                 "\"\"",
                                 "\"2023-11-14\"",
                                 "\"2023-11-14T22:13Z\"",
                                 "\"2023-13-01T00:00:00Z\"",
                                 "\"2023-00-01T00:00:00Z\"",
                                 "\"2023-02-29T00:00:00Z\"",
                                 "\"2023-04-31T00:00:00Z\"",
                                 "\"2023-11-14T24:00:00Z\"",
                                 "\"2023-11-14T22:60:00Z\"",
                                 "\"2023-11-14T22:13:61Z\"",
                                 "\"2023-11-14T22:13:20+0100\"",
                                 "\"2023-11-14T22:13:20+24:00\"",
                                 "\"2023-11-14T22:13:20.Z\"",
                                 "\"2023-11-14T22:13:20Zjunk\"",
                                 "\"2023-11-14T22:13:20 \"",
                                 "\"2023-11-14X22:13:20Z\"",
                                 "\"+2023-11-14T22:13:20Z\"",
                                 "\"１９７０-01-01T00:00:00Z\"",
                                 "true",
                                 "{}",
                                 "[]",
                                 "-62135596801"}) {
    ASSERT_TRUE(Run("{\"timestamp\":" + std::string(value) + "}").ok())
        << value;
    EXPECT_EQ(out_.timestamp, static_cast<double>(kReceived)) << value;
    EXPECT_EQ(Num("/timestamp"), static_cast<double>(kReceived)) << value;
    EXPECT_THAT(At("/_meta/timestamp/"),
                HasSubstr("\"err\":[[\"invalid_data\",{\"reason\":"))
        << value;
    EXPECT_EQ(Str("/errors/0/name"), "timestamp") << value;
  }
}

TEST_F(NormalizeTest, TimestampNotes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("soon")",
       R"({"timestamp":{"":{"err":[["invalid_data",{"reason":"invalid timestamp"}]],"val":"soon"}}})"},
      {"true",
       R"({"timestamp":{"":{"err":[["invalid_data",{"reason":"expected a timestamp"}]],"val":true}}})"},
      {"-62135596801",
       R"({"timestamp":{"":{"err":[["invalid_data",{"reason":"timestamp out of range"}]],"val":-62135596801}}})"},
      {"253402300800",
       R"({"timestamp":{"":{"err":[["invalid_data",{"reason":"timestamp out of range"}]],"val":253402300800}}})"},
  };
  for (const auto& [value, meta] : cases) {
    ASSERT_TRUE(Run("{\"timestamp\":" + value + "}").ok()) << value;
    EXPECT_EQ(At("/_meta"), meta) << value;
  }
}

// --- Rule 5: platform --------------------------------------------------------

TEST_F(NormalizeTest, Platform) {
  const std::map<std::string, std::string> cases = {
      {"{}", "other"},
      {R"({"platform":"python"})", "python"},
      {R"({"platform":"javascript"})", "javascript"},
      {R"({"platform":"as3"})", "as3"},
      {R"({"platform":"c"})", "c"},
      {R"({"platform":"nonsense"})", "other"},
      {R"({"platform":"Python"})", "other"},
      {R"({"platform":""})", "other"},
      {R"({"platform":5})", "other"},
      {R"({"platform":null})", "other"},
  };
  for (const auto& [json, want] : cases) {
    ASSERT_TRUE(Run(json).ok()) << json;
    EXPECT_EQ(Str("/platform"), want) << json;
    EXPECT_EQ(out_.platform, want) << json;
  }
}

// --- Rule 6: level -----------------------------------------------------------

TEST_F(NormalizeTest, LevelsAndAliases) {
  const std::map<std::string, Level> cases = {
      {"{}", Level::kError},
      {R"({"level":null})", Level::kError},
      {R"({"level":"fatal"})", Level::kFatal},
      {R"({"level":"error"})", Level::kError},
      {R"({"level":"warning"})", Level::kWarning},
      {R"({"level":"info"})", Level::kInfo},
      {R"({"level":"debug"})", Level::kDebug},
      {R"({"level":"critical"})", Level::kFatal},
      {R"({"level":"warn"})", Level::kWarning},
      {R"({"level":"log"})", Level::kInfo},
      {R"({"level":"ERROR"})", Level::kError},
      {R"({"level":"Warning"})", Level::kWarning},
      {R"({"level":"CRITICAL"})", Level::kFatal},
  };
  for (const auto& [json, want] : cases) {
    ASSERT_TRUE(Run(json).ok()) << json;
    EXPECT_EQ(out_.level, want) << json;
    EXPECT_EQ(Str("/level"), LevelName(want)) << json;
  }
}

// Python logging levels, as Relay reads them; a level Relay cannot read
// is removed with a note and the default applies.
TEST_F(NormalizeTest, IntegerAndUnknownLevels) {
  struct Case {
    std::string json;
    Level want;
    std::string meta;  // "<absent>": no note
  };
  const std::vector<Case> cases = {
      {R"({"level":10})", Level::kDebug, "<absent>"},
      {R"({"level":20})", Level::kInfo, "<absent>"},
      {R"({"level":30})", Level::kWarning, "<absent>"},
      {R"({"level":40})", Level::kError, "<absent>"},
      {R"({"level":50})", Level::kFatal, "<absent>"},
      {R"({"level":"verbose"})", Level::kError,
       R"({"level":{"":{"err":[["invalid_data",{"reason":"invalid level"}]],"val":"verbose"}}})"},
      {R"({"level":""})", Level::kError,
       R"({"level":{"":{"err":[["invalid_data",{"reason":"invalid level"}]],"val":""}}})"},
      {R"({"level":3})", Level::kError,
       R"({"level":{"":{"err":["invalid_data"],"val":3}}})"},
      {R"({"level":-40})", Level::kError,
       R"({"level":{"":{"err":["invalid_data"],"val":-40}}})"},
      {R"({"level":40.0})", Level::kError,
       R"({"level":{"":{"err":[["invalid_data",{"reason":"expected a level"}]],"val":40.0}}})"},
      {R"({"level":true})", Level::kError,
       R"({"level":{"":{"err":[["invalid_data",{"reason":"expected a level"}]],"val":true}}})"},
      {R"({"level":["error"]})", Level::kError,
       R"({"level":{"":{"err":[["invalid_data",{"reason":"expected a level"}]],"val":["error"]}}})"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(Run(c.json).ok()) << c.json;
    EXPECT_EQ(out_.level, c.want) << c.json;
    EXPECT_EQ(Str("/level"), LevelName(c.want)) << c.json;
    EXPECT_EQ(At("/_meta"), c.meta) << c.json;
  }
  // A transaction's unreadable level defaults to info, as Relay's does.
  NormalizeOptions tx = Opts();
  tx.is_transaction = true;
  ASSERT_TRUE(Run(R"({"level":"nope"})", tx).ok());
  EXPECT_EQ(out_.level, Level::kInfo);
}

// --- Rule 7: sdk from sentry_client -----------------------------------------

TEST_F(NormalizeTest, SdkFromSentryClient) {
  NormalizeOptions o = Opts();
  o.sentry_client = "raven-python/6.10.0";
  ASSERT_TRUE(Run("{}", o).ok());
  EXPECT_EQ(Str("/sdk/name"), "raven-python");
  EXPECT_EQ(Str("/sdk/version"), "6.10.0");

  o.sentry_client = "raven-js";  // no slash: all name, empty version
  ASSERT_TRUE(Run("{}", o).ok());
  EXPECT_EQ(Str("/sdk/name"), "raven-js");
  EXPECT_EQ(Str("/sdk/version"), "");

  o.sentry_client = "raven-python/6.10.0";  // null counts as absent
  ASSERT_TRUE(Run(R"({"sdk":null,"level":"info"})", o).ok());
  EXPECT_EQ(Str("/sdk/name"), "raven-python");
  EXPECT_EQ(Keys()[0], "sdk");  // in place, not duplicated

  // The payload's own sdk wins.
  ASSERT_TRUE(
      Run(R"({"sdk":{"name":"sentry.python","version":"2.1"}})", o).ok());
  EXPECT_EQ(Str("/sdk/name"), "sentry.python");
  EXPECT_EQ(Str("/sdk/version"), "2.1");

  ASSERT_TRUE(Run("{}").ok());  // no header, no sdk
  EXPECT_FALSE(Has("/sdk"));
}

// --- Rule 8: {{auto}} --------------------------------------------------------

TEST_F(NormalizeTest, AutoIpIsReplacedOrDropped) {
  const std::string json = R"({"user":{"id":"u1","ip_address":"{{auto}}"},)"
                           R"("request":{"url":"http://x/",)"
                           R"("env":{"REMOTE_ADDR":"{{auto}}","X":"y"}}})";
  NormalizeOptions o = Opts();
  o.client_ip = "203.0.113.7";
  ASSERT_TRUE(Run(json, o).ok());
  EXPECT_EQ(Str("/user/ip_address"), "203.0.113.7");
  EXPECT_EQ(Str("/user/id"), "u1");
  EXPECT_EQ(Str("/request/env/REMOTE_ADDR"), "203.0.113.7");
  EXPECT_EQ(Str("/request/env/X"), "y");

  ASSERT_TRUE(Run(json).ok());  // no client address known: dropped
  EXPECT_FALSE(Has("/user/ip_address"));
  EXPECT_FALSE(Has("/request/env/REMOTE_ADDR"));
  EXPECT_EQ(Str("/request/env/X"), "y");
  EXPECT_THAT(out_.json, HasSubstr(R"("user":{"id":"u1"})"));

  // Real addresses, and {{auto}} elsewhere, are left alone.
  ASSERT_TRUE(Run(R"({"user":{"ip_address":"10.0.0.1"},)"
                  R"("extra":{"ip_address":"{{auto}}"}})",
                  o)
                  .ok());
  EXPECT_EQ(Str("/user/ip_address"), "10.0.0.1");
  EXPECT_EQ(Str("/extra/ip_address"), "{{auto}}");
}

// --- Rule 9: type ------------------------------------------------------------

TEST_F(NormalizeTest, EventType) {
  struct Case {
    std::string json;
    bool is_transaction;
    EventType want;
  };
  const std::vector<Case> cases = {
      {"{}", false, EventType::kDefault},
      {R"({"exception":{"values":[{"type":"E"}]}})", false, EventType::kError},
      {R"({"exception":[{"type":"E"}]})", false, EventType::kError},
      {R"({"exception":{"values":[]}})", false, EventType::kDefault},
      {R"({"exception":{"values":null}})", false, EventType::kDefault},
      {R"({"type":"csp"})", false, EventType::kCsp},
      {R"({"type":"hpkp"})", false, EventType::kHpkp},
      {R"({"type":"expectct"})", false, EventType::kExpectCt},
      {R"({"type":"expectstaple"})", false, EventType::kExpectStaple},
      {R"({"type":"nel"})", false, EventType::kNel},
      {R"({"type":"default","exception":[{}]})", false, EventType::kDefault},
      {R"({"type":"error"})", false, EventType::kError},
      {R"({"type":"transaction"})", false, EventType::kDefault},
      {R"({"type":"bogus","exception":[{}]})", false, EventType::kError},
      {R"({"type":7})", false, EventType::kDefault},
      {R"({"type":"error"})", true, EventType::kTransaction},
      {"{}", true, EventType::kTransaction},
  };
  for (const Case& c : cases) {
    NormalizeOptions o = Opts();
    o.is_transaction = c.is_transaction;
    ASSERT_TRUE(Run(c.json, o).ok()) << c.json;
    EXPECT_EQ(out_.type, c.want) << c.json;
    EXPECT_EQ(Str("/type"), EventTypeName(c.want)) << c.json;
  }
}

TEST_F(NormalizeTest, TransactionsDefaultToInfoLevel) {
  NormalizeOptions o = Opts();
  o.is_transaction = true;
  ASSERT_TRUE(Run("{}", o).ok());
  EXPECT_EQ(out_.level, Level::kInfo);
  EXPECT_EQ(Str("/level"), "info");
  ASSERT_TRUE(Run(R"({"level":"warning"})", o).ok());
  EXPECT_EQ(out_.level, Level::kWarning);
}

// --- Rule 10: legacy message -------------------------------------------------

TEST_F(NormalizeTest, StringMessageBecomesLogentry) {
  ASSERT_TRUE(Run(R"({"level":"info","message":"hello \"you\"","x":1})").ok());
  EXPECT_EQ(Str("/logentry/formatted"), "hello \"you\"");
  EXPECT_FALSE(Has("/message"));
  // In the place the message had.
  EXPECT_THAT(Keys(), ::testing::ElementsAre("level", "logentry", "x",
                                             "event_id", "timestamp",
                                             "received", "platform", "type"));
}

TEST_F(NormalizeTest, ObjectMessageBecomesLogentry) {
  ASSERT_TRUE(
      Run(R"({"message":{"message":"m %s","params":["a"],"formatted":"m a"}})")
          .ok());
  EXPECT_EQ(Str("/logentry/message"), "m %s");
  EXPECT_EQ(Str("/logentry/params/0"), "a");
  EXPECT_EQ(Str("/logentry/formatted"), "m a");
  EXPECT_FALSE(Has("/message"));
}

TEST_F(NormalizeTest, LogentryWinsOverMessage) {
  ASSERT_TRUE(
      Run(R"({"message":"legacy","logentry":{"formatted":"new"}})").ok());
  EXPECT_EQ(Str("/logentry/formatted"), "new");
  EXPECT_FALSE(Has("/message"));
  ASSERT_TRUE(
      Run(R"({"logentry":{"formatted":"new"},"message":{"a":1}})").ok());
  EXPECT_FALSE(Has("/message"));
}

TEST_F(NormalizeTest, NullLogentryGivesWayToMessage) {
  ASSERT_TRUE(Run(R"({"logentry":null,"message":"m"})").ok());
  EXPECT_EQ(Str("/logentry/formatted"), "m");
  int logentries = 0;
  for (const std::string& k : Keys()) logentries += k == "logentry";
  EXPECT_EQ(logentries, 1) << out_.json;
  ASSERT_TRUE(Run(R"({"message":null})").ok());
  EXPECT_FALSE(Has("/message"));
  EXPECT_FALSE(Has("/logentry"));
}

// Relay's LogEntry from a non-object (the legacy top-level form): a string
// is `formatted`, `false` is "none", anything else its JSON text.
TEST_F(NormalizeTest, LogentryCoercions) {
  struct Case {
    std::string json;
    std::string logentry;  // the output's logentry, "<absent>": none
    std::string meta;
  };
  const std::vector<Case> cases = {
      {R"({"logentry":"x"})", R"({"formatted":"x"})", "<absent>"},
      {R"({"logentry":5})", R"({"formatted":"5"})", "<absent>"},
      {R"({"logentry":true})", R"({"formatted":"true"})", "<absent>"},
      {R"({"logentry":["x",1]})", R"({"formatted":"[\"x\",1]"})", "<absent>"},
      {R"({"logentry":false})", "<absent>", "<absent>"},
      {R"({"message":5})", R"({"formatted":"5"})", "<absent>"},
      {R"({"message":["a"]})", R"({"formatted":"[\"a\"]"})", "<absent>"},
      {R"({"message":true})", R"({"formatted":"true"})", "<absent>"},
      {R"({"message":false})", "<absent>", "<absent>"},
      {R"({"logentry":{},"message":5})", "{}", "<absent>"},
      {R"({"logentry":false,"message":"m"})", R"({"formatted":"m"})",
       "<absent>"},
      {R"({"logentry":{"message":5,"formatted":"f","params":3}})",
       R"({"formatted":"f"})",
       R"({"logentry":{"message":{"":{"err":[["invalid_data",{"reason":"expected a string"}]],"val":5}},)"
       R"("params":{"":{"err":[["invalid_data",{"reason":"expected message parameters"}]],"val":3}}}})"},
      {R"({"logentry":{"message":"m %s","params":["a"]}})",
       R"({"message":"m %s","formatted":"m a","params":["a"]})", "<absent>"},
      {R"({"logentry":{"formatted":{"a":1}}})", "{}",
       R"({"logentry":{"formatted":{"":{"err":[["invalid_data",{"reason":"expected a string"}]],"val":{"a":1}}}}})"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(Run(c.json).ok()) << c.json;
    EXPECT_EQ(At("/logentry"), c.logentry) << c.json;
    EXPECT_EQ(At("/_meta"), c.meta) << c.json;
    EXPECT_FALSE(Has("/message")) << c.json;
  }
}

// --- Rule 11: coercions and removals -----------------------------------------

// One coercion or removal: the input, a JSON pointer into the output, the
// value expected there ("<absent>": removed) and the whole `_meta` expected
// ("<absent>": nothing noted).
struct CoercionCase {
  std::string json;
  std::string pointer;
  std::string want;
  std::string meta;
};

class CoercionTest : public NormalizeTest {
 public:
  void Check(const std::vector<CoercionCase>& cases) {
    for (const CoercionCase& c : cases) {
      const absl::Status st = Run(c.json);
      ASSERT_TRUE(st.ok()) << c.json << ": " << st;
      EXPECT_EQ(At(c.pointer), c.want) << c.json << " at " << c.pointer;
      EXPECT_EQ(At("/_meta"), c.meta) << c.json;
      // Each note is also an `errors` entry, as Relay's EmitEventErrors.
      if (c.meta != "<absent>") {
        EXPECT_TRUE(Has("/errors/0/type")) << out_.json;
        EXPECT_TRUE(Has("/errors/0/name")) << out_.json;
      } else {
        EXPECT_FALSE(Has("/errors")) << out_.json;
      }
      // A second pass finds nothing more to do: same bytes.
      const std::string first = out_.json;
      NormalizedEvent again;
      ASSERT_TRUE(normalizer_.Normalize(first, Opts(), &again).ok());
      EXPECT_EQ(again.json, first) << c.json;
    }
  }
};

TEST_F(CoercionTest, UserIdAndUsernameAreLenientStrings) {
  Check({
      {R"({"user":{"id":"1"}})", "/user", R"({"id":"1"})", "<absent>"},
      {R"({"user":{"id":null}})", "/user", R"({"id":null})", "<absent>"},
      {R"({"user":{"id":1234}})", "/user", R"({"id":"1234"})", "<absent>"},
      {R"({"user":{"id":-7}})", "/user", R"({"id":"-7"})", "<absent>"},
      {R"({"user":{"id":18446744073709551615}})", "/user",
       R"({"id":"18446744073709551615"})", "<absent>"},
      {R"({"user":{"id":12.7}})", "/user", R"({"id":"12"})", "<absent>"},
      {R"({"user":{"id":-0.5}})", "/user", R"({"id":"-0"})", "<absent>"},
      {R"({"user":{"id":true}})", "/user", R"({"id":"True"})", "<absent>"},
      {R"({"user":{"username":false}})", "/user", R"({"username":"False"})",
       "<absent>"},
      {R"({"user":{"id":{"a":1},"email":"e"}})", "/user", R"({"email":"e"})",
       R"({"user":{"id":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]],"val":{"a":1}}}}})"},
      {R"({"user":{"id":[1]}})", "/user", "{}",
       R"({"user":{"id":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]],"val":[1]}}}})"},
      {R"({"user":{"id":1e300}})", "/user", "{}",
       R"({"user":{"id":{"":{"err":[["invalid_data",{"reason":"expected a number with JSON precision"}]],"val":1e+300}}}})"},
  });
}

TEST_F(CoercionTest, RequestHeaders) {
  Check({
      {R"({"request":{"headers":{"A":"1","B":null}}})", "/request/headers",
       R"({"A":"1","B":null})", "<absent>"},
      {R"({"request":{"headers":[["A","1"],["B",null]]}})", "/request/headers",
       R"([["A","1"],["B",null]])", "<absent>"},
      {R"({"request":{"headers":[]}})", "/request/headers", "[]", "<absent>"},
      {R"({"request":{"headers":null}})", "/request/headers", "null",
       "<absent>"},
      // weird_ua.json: a number where text belongs.
      {R"({"request":{"headers":{"A":"1","User-Agent":5}}})",
       "/request/headers", R"({"A":"1","User-Agent":"5"})", "<absent>"},
      {R"({"request":{"headers":{"X":true,"Y":2.5}}})", "/request/headers",
       R"({"X":"True","Y":"2"})", "<absent>"},
      // headers_as_lists.json: repeated headers, joined as HTTP does.
      {R"({"request":{"headers":{"Accept":["a"],"Via":["x","y",null]}}})",
       "/request/headers", R"({"Accept":"a","Via":"x,y"})", "<absent>"},
      {R"({"request":{"headers":[["Accept",["a","b"]]]}})", "/request/headers",
       R"([["Accept","a,b"]])", "<absent>"},
      {R"({"request":{"headers":{"Accept":["a",{},"b"]}}})", "/request/headers",
       R"({"Accept":"a,b"})",
       R"({"request":{"headers":{"Accept":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]],"val":{}}}}}})"},
      {R"({"request":{"headers":{"A":{"x":1},"B":"2"}}})", "/request/headers",
       R"({"B":"2"})",
       R"({"request":{"headers":{"A":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]],"val":{"x":1}}}}}})"},
      {R"({"request":{"headers":[["A",1]]}})", "/request/headers",
       R"([["A","1"]])", "<absent>"},
      {R"({"request":{"headers":[["A",{}]]}})", "/request/headers",
       R"([["A",null]])",
       R"({"request":{"headers":{"0":{"1":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]],"val":{}}}}}}})"},
      {R"({"request":{"headers":[["A","1"],["B"]]}})", "/request/headers",
       R"([["A","1"]])",
       R"({"request":{"headers":{"1":{"":{"err":[["invalid_data",{"reason":"expected a tuple"}]],"val":["B"]}}}}})"},
      {R"({"request":{"headers":["A"]}})", "/request/headers", "[]",
       R"({"request":{"headers":{"0":{"":{"err":[["invalid_data",{"reason":"expected a tuple"}]],"val":"A"}}}}})"},
      {R"({"request":{"headers":[[1,"x"]]}})", "/request/headers", "[]",
       R"({"request":{"headers":{"0":{"0":{"":{"err":[["invalid_data",{"reason":"expected a string"}]],"val":1}}}}}})"},
      {R"({"request":{"headers":"A: 1","url":"u"}})", "/request",
       R"({"url":"u"})",
       R"({"request":{"headers":{"":{"err":[["invalid_data",{"reason":"expected an array"}]],"val":"A: 1"}}}})"},
  });
}

TEST_F(CoercionTest, FingerprintEntriesAreLenientStrings) {
  Check({
      {R"({"fingerprint":["a","{{ default }}"]})", "/fingerprint",
       R"(["a","{{ default }}"])", "<absent>"},
      {R"({"fingerprint":[]})", "/fingerprint", "[]", "<absent>"},
      {R"({"fingerprint":null})", "/fingerprint", "null", "<absent>"},
      // custom-fingerprint-int.json.
      {R"({"fingerprint":["celery",123,"x"]})", "/fingerprint",
       R"(["celery","123","x"])", "<absent>"},
      {R"({"fingerprint":[true,false,-22,3.0,3.5,null,"d"]})", "/fingerprint",
       R"(["True","False","-22","3","3","d"])", "<absent>"},
      {R"({"fingerprint":["a",{},[1]]})", "/fingerprint", R"(["a"])",
       R"({"fingerprint":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]],"val":[{},[1]]}}})"},
      {R"({"fingerprint":[-1e100]})", "/fingerprint", "<absent>",
       R"({"fingerprint":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]],"val":[-1e+100]}}})"},
      {R"({"fingerprint":"a"})", "/fingerprint", "<absent>",
       R"({"fingerprint":{"":{"err":[["invalid_data",{"reason":"expected an array"}]],"val":"a"}}})"},
  });
}

TEST_F(CoercionTest, ValuesContainers) {
  Check({
      {R"({"breadcrumbs":[{"message":"m"}]})", "/breadcrumbs",
       R"([{"message":"m"}])", "<absent>"},
      {R"({"breadcrumbs":{"values":[{"message":"m"}]}})", "/breadcrumbs",
       R"({"values":[{"message":"m"}]})", "<absent>"},
      {R"({"breadcrumbs":{"values":null}})", "/breadcrumbs",
       R"({"values":null})", "<absent>"},
      {R"({"breadcrumbs":null})", "/breadcrumbs", "null", "<absent>"},
      // One item on its own is wrapped, as Relay's Values<T> does.
      {R"({"breadcrumbs":{"message":"m"}})", "/breadcrumbs",
       R"({"values":[{"message":"m"}]})", "<absent>"},
      {R"({"exception":{"type":"E","value":"v"}})", "/exception",
       R"({"values":[{"type":"E","value":"v"}]})", "<absent>"},
      {R"({"exception":{}})", "/exception", "<absent>", "<absent>"},
      {R"({"exception":{"values":{"type":"E"},"x":1}})", "/exception",
       R"({"values":null,"x":1})",
       R"({"exception":{"values":{"":{"err":[["invalid_data",{"reason":"expected an array"}]],"val":{"type":"E"}}}}})"},
      {R"({"breadcrumbs":"m"})", "/breadcrumbs", "<absent>",
       R"({"breadcrumbs":{"":{"err":[["invalid_data",{"reason":"expected a list or values object"}]],"val":"m"}}})"},
      {R"({"threads":5})", "/threads", "<absent>",
       R"({"threads":{"":{"err":[["invalid_data",{"reason":"expected a list or values object"}]],"val":5}}})"},
      // Items that are not objects are carried over: nothing to read.
      {R"({"exception":{"values":[null,1]}})", "/exception",
       R"({"values":[null,1]})", "<absent>"},
  });
  ASSERT_TRUE(Run(R"({"exception":{"type":"E"}})").ok());
  EXPECT_EQ(out_.type, EventType::kError);
  ASSERT_TRUE(Run(R"({"exception":{}})").ok());
  EXPECT_EQ(out_.type, EventType::kDefault);
}

TEST_F(CoercionTest, ExceptionTypeAndValue) {
  Check({
      // Relay's Exception.value is a JsonLenientString.
      {R"({"exception":[{"type":"E","value":42}]})", "/exception",
       R"([{"type":"E","value":"42"}])", "<absent>"},
      {R"({"exception":[{"type":"E","value":{"a":[1]}}]})", "/exception",
       R"([{"type":"E","value":"{\"a\":[1]}"}])", "<absent>"},
      {R"({"exception":{"values":[{"type":5,"value":true}]}})", "/exception",
       R"({"values":[{"value":"true"}]})",
       R"({"exception":{"values":{"0":{"type":{"":{"err":[["invalid_data",{"reason":"expected a string"}]],"val":5}}}}}})"},
  });
}

TEST_F(CoercionTest, StacktracesWithoutFramesAreRemoved) {
  const std::string missing =
      R"({"exception":{"values":{"0":{"stacktrace":{"frames":{"":{"err":["missing_attribute"]}}}}}}})";
  Check({
      {R"({"exception":{"values":[{"stacktrace":{"frames":[]}}]}})",
       "/exception", R"({"values":[{"stacktrace":{"frames":[]}}]})",
       "<absent>"},
      {R"({"exception":{"values":[{"stacktrace":null}]}})", "/exception",
       R"({"values":[{"stacktrace":null}]})", "<absent>"},
      // exception_no_frames.json, exception_null_frames.json: the exception
      // stays (its type and value group it), the stacktrace goes.
      {R"({"exception":{"values":[{"type":"E","stacktrace":{}}]}})",
       "/exception", R"({"values":[{"type":"E"}]})", missing},
      {R"({"exception":{"values":[{"type":"E","stacktrace":{"frames":null}}]}})",
       "/exception", R"({"values":[{"type":"E"}]})", missing},
      {R"({"exception":[{"type":"E"},{"stacktrace":{"frames":{}}}]})",
       "/exception", R"([{"type":"E"},{}])",
       R"({"exception":{"1":{"stacktrace":{"frames":{"":{"err":[["invalid_data",{"reason":"expected an array"}]],"val":{}}}}}}})"},
      {R"({"exception":[{"stacktrace":[]}]})", "/exception", "[{}]",
       R"({"exception":{"0":{"stacktrace":{"":{"err":[["invalid_data",{"reason":"expected a stacktrace"}]],"val":[]}}}}})"},
      {R"({"threads":{"values":[{"id":1,"stacktrace":{"frames":[{}]}}]}})",
       "/threads", R"({"values":[{"id":1,"stacktrace":{"frames":[{}]}}]})",
       "<absent>"},
      {R"({"threads":{"values":[{"id":1,"stacktrace":"x"}]}})", "/threads",
       R"({"values":[{"id":1}]})",
       R"({"threads":{"values":{"0":{"stacktrace":{"":{"err":[["invalid_data",{"reason":"expected a stacktrace"}]],"val":"x"}}}}}})"},
      {R"({"stacktrace":{"frames":[{"function":"f"}]}})", "/stacktrace",
       R"({"frames":[{"function":"f"}]})", "<absent>"},
      {R"({"stacktrace":{"registers":{}}})", "/stacktrace", "<absent>",
       R"({"stacktrace":{"frames":{"":{"err":["missing_attribute"]}}}})"},
  });
  ASSERT_TRUE(
      Run(R"({"exception":{"values":[{"type":"E","stacktrace":{}}]}})").ok());
  EXPECT_EQ(out_.type, EventType::kError);
  EXPECT_EQ(
      At("/errors"),
      R"([{"type":"missing_attribute","name":"exception.values.0.stacktrace.frames"}])");
}

// Relay's normalize_logentry: `message` formatted with `params` when there
// is no `formatted` (Python % and curly styles), and a lone `message`, or one
// equal to `formatted`, becomes `formatted`. Where formatting fails the
// message stands as the formatted text.
TEST_F(NormalizeTest, LogentryIsFormattedAsRelayDoes) {
  struct Case {
    std::string in;   // the logentry sent
    std::string out;  // the logentry written
  };
  const std::vector<Case> cases = {
      {R"({"message":"hello, %s!","params":["world"]})",
       R"({"message":"hello, %s!","formatted":"hello, world!","params":["world"]})"},
      {R"({"message":"hello, %(name)s!","params":{"name":"world"}})",
       R"({"message":"hello, %(name)s!","formatted":"hello, world!","params":{"name":"world"}})"},
      {R"({"message":"%d of %i, 100%%","params":[3,-4]})",
       R"({"message":"%d of %i, 100%%","formatted":"3 of -4, 100%","params":[3,-4]})"},
      {R"({"message":"hello, {}!","params":["world"]})",
       R"({"message":"hello, {}!","formatted":"hello, world!","params":["world"]})"},
      {R"({"message":"{1} {0}","params":["a","b"]})",
       R"({"message":"{1} {0}","formatted":"b a","params":["a","b"]})"},
      {R"({"message":"hi {who}","params":{"who":"you"}})",
       R"({"message":"hi {who}","formatted":"hi you","params":{"who":"you"}})"},
      // Without params, with too few, of the wrong kind or for a conversion
      // Python would refuse: the message becomes the formatted text.
      {R"({"message":"hello, %s!"})", R"({"formatted":"hello, %s!"})"},
      {R"({"message":"%s and %s","params":["a"]})",
       R"({"formatted":"%s and %s","params":["a"]})"},
      {R"({"message":"%(a)s","params":["x"]})",
       R"({"formatted":"%(a)s","params":["x"]})"},
      {R"({"message":"%d","params":["x"]})",
       R"({"formatted":"%d","params":["x"]})"},
      {R"({"message":"%5s","params":["x"]})",
       R"({"formatted":"%5s","params":["x"]})"},
      {R"({"message":"{} {}","params":[{"a":1},2]})",
       R"({"formatted":"{} {}","params":[{"a":1},2]})"},
      {R"({"message":"plain","params":["x"]})",
       R"({"formatted":"plain","params":["x"]})"},
      // A formatted text the client sent is kept; equal to the message, it
      // stays once.
      {R"({"message":"m %s","formatted":"m x","params":["y"]})",
       R"({"message":"m %s","formatted":"m x","params":["y"]})"},
      {R"({"formatted":"same","message":"same"})", R"({"formatted":"same"})"},
      {R"({"formatted":"only"})", R"({"formatted":"only"})"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(Run(absl::StrCat(R"({"logentry":)", c.in, "}")).ok()) << c.in;
    EXPECT_EQ(At("/logentry"), c.out) << c.in;
  }
  // raven-python 4 sends both the interface and a formatted `message`:
  // the interface wins (Relay checks its alias first) and is formatted.
  ASSERT_TRUE(
      Run(R"({"message":"cache miss on shard 7",)"
          R"("sentry.interfaces.Message":{"message":"cache miss on %s",)"
          R"("params":["shard 7"]}})")
          .ok());
  EXPECT_EQ(
      At("/logentry"),
      R"({"message":"cache miss on %s","formatted":"cache miss on shard 7",)"
      R"("params":["shard 7"]})");
  EXPECT_FALSE(Has("/message"));
}

TEST_F(CoercionTest, LegacyInterfaceAliases) {
  Check({
      {R"({"sentry.interfaces.Exception":{"values":[{"type":"E"}]}})",
       "/exception", R"({"values":[{"type":"E"}]})", "<absent>"},
      {R"({"sentry.interfaces.Message":{"message":"m"}})", "/logentry",
       R"({"formatted":"m"})", "<absent>"},
      {R"({"sentry.interfaces.Message":"m"})", "/logentry",
       R"({"formatted":"m"})", "<absent>"},
      {R"({"sentry.interfaces.User":{"id":1}})", "/user", R"({"id":"1"})",
       "<absent>"},
      {R"({"sentry.interfaces.Http":{"url":"u","headers":{"A":1}}})",
       "/request", R"({"url":"u","headers":{"A":"1"}})", "<absent>"},
      {R"({"sentry.interfaces.Stacktrace":{"frames":[]}})", "/stacktrace",
       R"({"frames":[]})", "<absent>"},
      {R"({"sentry.interfaces.Breadcrumbs":[{"message":"m"}]})", "/breadcrumbs",
       R"([{"message":"m"}])", "<absent>"},
      // The current name wins; the alias is dropped.
      {R"({"user":{"id":"a"},"sentry.interfaces.User":{"id":"b"}})", "/user",
       R"({"id":"a"})", "<absent>"},
      {R"({"sentry.interfaces.User":{"id":"b"},"user":{"id":"a"}})", "/user",
       R"({"id":"a"})", "<absent>"},
      // Inside an exception, as raven clients nested it.
      {R"({"exception":{"values":[{"type":"E","sentry.interfaces.Stacktrace":{"frames":[{"function":"f"}]}}]}})",
       "/exception/values/0/stacktrace", R"({"frames":[{"function":"f"}]})",
       "<absent>"},
      {R"({"exception":{"values":[{"stacktrace":{"frames":[]},"sentry.interfaces.Stacktrace":{"frames":[{"function":"f"}]}}]}})",
       "/exception/values/0", R"({"stacktrace":{"frames":[]}})", "<absent>"},
      // Aliases of fields passed through unread: renamed only.
      {R"({"sentry.interfaces.Contexts":{"os":{"name":"Linux"}}})", "/contexts",
       R"({"os":{"name":"Linux"}})", "<absent>"},
      {R"({"sentry.interfaces.Template":{"filename":"a.html","lineno":3}})",
       "/template", R"({"filename":"a.html","lineno":3})", "<absent>"},
      {R"({"sentry.interfaces.Csp":{"blocked_uri":"x"}})", "/csp",
       R"({"blocked_uri":"x"})", "<absent>"},
      {R"({"sentry.interfaces.Hpkp":{"hostname":"h"}})", "/hpkp",
       R"({"hostname":"h"})", "<absent>"},
      {R"({"sentry.interfaces.ExpectCT":{"hostname":"h"}})", "/expectct",
       R"({"hostname":"h"})", "<absent>"},
      {R"({"sentry.interfaces.ExpectStaple":{"hostname":"h"}})",
       "/expectstaple", R"({"hostname":"h"})", "<absent>"},
      {R"({"template":{"lineno":1},"sentry.interfaces.Template":{"lineno":2}})",
       "/template", R"({"lineno":1})", "<absent>"},
  });
  EXPECT_TRUE(Run(R"({"sentry.interfaces.Template":{"lineno":2}})").ok());
  EXPECT_FALSE(Has("/sentry.interfaces.Template"));
  ASSERT_TRUE(Run(R"({"sentry.interfaces.Exception":[{"type":"E"}]})").ok());
  EXPECT_EQ(out_.type, EventType::kError);
  EXPECT_FALSE(Has("/sentry.interfaces.Exception"));
  ASSERT_TRUE(
      Run(R"({"user":{"id":"a"},"sentry.interfaces.User":{"id":"b"}})").ok());
  EXPECT_EQ(Keys(), (std::vector<std::string>{"user", "event_id", "timestamp",
                                              "received", "platform", "level",
                                              "type"}));
}

TEST_F(NormalizeTest, NotesGoToErrorsAndMergeWithTheClientsMeta) {
  ASSERT_TRUE(Run(R"({"_meta":{"extra":{"":{"len":9}},"user":{"x":1}},)"
                  R"("errors":[{"type":"js_no_source"}],"user":{"id":{}}})")
                  .ok());
  EXPECT_EQ(
      At("/_meta"),
      R"({"extra":{"":{"len":9}},"user":{"id":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]],"val":{}}}}})");
  EXPECT_EQ(
      At("/errors"),
      R"([{"type":"js_no_source"},{"type":"invalid_data","name":"user.id","reason":"expected a primitive value","value":{}}])");
  // errors and _meta always come last.
  const std::vector<std::string> keys = Keys();
  ASSERT_GE(keys.size(), 2u);
  EXPECT_EQ(keys[keys.size() - 2], "errors");
  EXPECT_EQ(keys.back(), "_meta");
  // Without notes both are carried over as sent.
  ASSERT_TRUE(Run(R"({"_meta":{"a":1},"errors":"x"})").ok());
  EXPECT_EQ(At("/_meta"), R"({"a":1})");
  EXPECT_EQ(At("/errors"), R"("x")");
}

TEST_F(NormalizeTest, NoteValuesAreBounded) {
  // Relay keeps an original value only when it is small.
  const std::string big = "\"" + std::string(600, 'x') + "\"";
  ASSERT_TRUE(Run(R"({"user":{"id":[)" + big + "]}}").ok());
  EXPECT_EQ(
      At("/_meta"),
      R"({"user":{"id":{"":{"err":[["invalid_data",{"reason":"expected a primitive value"}]]}}}})");
  EXPECT_EQ(
      At("/errors"),
      R"([{"type":"invalid_data","name":"user.id","reason":"expected a primitive value"}])");
  // Many removals: the first 64 are itemized, all are removed.
  std::string many = R"({"request":{"headers":{)";
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&many, i ? "," : "", "\"H", i, "\":{}");
  }
  many += "}}}";
  ASSERT_TRUE(Run(many).ok());
  EXPECT_EQ(At("/request/headers"), "{}");
  EXPECT_TRUE(Has("/errors/63"));
  EXPECT_FALSE(Has("/errors/64"));
}

TEST_F(NormalizeTest, DuplicateKeysTheRulesReadAreRejected) {
  for (std::string_view json :
       {R"({"level":"error","level":"info"})", R"({"user":{},"user":{}})"}) {
    absl::Status st = Run(json);
    EXPECT_EQ(HttpStatusFor(st), 400) << json;
    EXPECT_THAT(Msg(st), StartsWith("invalid_schema: duplicate key")) << json;
  }
  EXPECT_TRUE(Run(R"({"a":1,"a":2})").ok());
  // Fields of an unexpected shape that no rule reads are carried over.
  ASSERT_TRUE(
      Run(R"({"user":"bob","request":"GET /","extra":{"headers":5}})").ok());
  EXPECT_EQ(At("/user"), R"("bob")");
  EXPECT_EQ(At("/request"), R"("GET /")");
  ASSERT_TRUE(Run(R"({"request":{"env":"x","headers":{}}})").ok());
  EXPECT_EQ(At("/request"), R"({"env":"x","headers":{}})");
}

// --- Rule 12: output ---------------------------------------------------------

TEST_F(NormalizeTest, RewritesInPlaceAndAppendsAtTheEnd) {
  NormalizeOptions o = Opts();
  o.sentry_client = "raven-python/6.10.0";
  ASSERT_TRUE(Run(R"({"level":"WARN","extra":{"n":[1,-2,3.5,1e2,)"
                  R"(18446744073709551615,true,null,"s\u00e9\n"]},)"
                  R"("timestamp":"2023-11-14T22:13:20Z","platform":"nope"})",
                  o)
                  .ok());
  EXPECT_EQ(out_.json,
            "{\"level\":\"warning\",\"extra\":{\"n\":[1,-2,3.5,100.0,"
            "18446744073709551615,true,null,\"s\xc3\xa9\\n\"]},"
            "\"timestamp\":1700000000.0,\"platform\":\"other\",\"event_id\":"
            "\"" +
                out_.event_id.ToHex() +
                "\",\"received\":1700000000.0,\"type\":\"default\","
                "\"sdk\":{\"name\":\"raven-python\",\"version\":\"6.10.0\"}}");
}

TEST_F(NormalizeTest, EscapedKeysAreRecognisedAndReEscaped) {
  // "lev\u0065l" is the key "level"; the writer spells it plainly.
  ASSERT_TRUE(Run(R"({"lev\u0065l":"warn","a\"b":"\u0001"})").ok());
  EXPECT_EQ(Str("/level"), "warning");
  EXPECT_THAT(out_.json, HasSubstr(R"("level":"warning","a\"b":"\u0001")"));
}

TEST_F(NormalizeTest, OutputLargerThanInputGrowsTheBuffer) {
  // 1e15 comes out as 1000000000000000.0: almost four times the input.
  std::string json = "{\"extra\":[1e15";
  for (int i = 0; i < 2000; ++i) json += ",1e15";
  json += "]}";
  ASSERT_TRUE(Run(json).ok());
  EXPECT_GT(out_.json.size(), 3 * json.size());
  EXPECT_EQ(Num("/extra/2000"), 1e15);
  EXPECT_THAT(out_.json, HasSubstr("[1000000000000000.0,"));
}

TEST_F(NormalizeTest, ReusesTheOutputBuffer) {
  const std::string big =
      "{\"extra\":\"" + std::string(5000, 'x') + "\",\"level\":\"info\"}";
  ASSERT_TRUE(Run(big).ok());
  ASSERT_TRUE(Run(R"({"level":"debug"})").ok());  // no stale bytes behind
  EXPECT_EQ(Str("/level"), "debug");
  EXPECT_LT(out_.json.size(), 300u);
  EXPECT_GE(out_.json.capacity(), 5000u);
  // A failed call leaves the next one unaffected.
  EXPECT_FALSE(Run(R"({"level":"x","level":"y"})").ok());
  ASSERT_TRUE(Run(R"({"level":"info"})").ok());
  EXPECT_EQ(Str("/level"), "info");
}

// Structural equality of two DOM values (object members in order).
bool DomEqual(dom::element a, dom::element b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case dom::element_type::OBJECT: {
      dom::object oa = a, ob = b;
      auto ia = oa.begin(), ib = ob.begin();
      for (; ia != oa.end() && ib != ob.end(); ++ia, ++ib) {
        if (ia.key() != ib.key() || !DomEqual(ia.value(), ib.value())) {
          return false;
        }
      }
      return ia == oa.end() && ib == ob.end();
    }
    case dom::element_type::ARRAY: {
      dom::array aa = a, ab = b;
      auto ia = aa.begin(), ib = ab.begin();
      for (; ia != aa.end() && ib != ab.end(); ++ia, ++ib) {
        if (!DomEqual(*ia, *ib)) return false;
      }
      return ia == aa.end() && ib == ab.end();
    }
    case dom::element_type::STRING:
      return std::string_view(a) == std::string_view(b);
    case dom::element_type::INT64:
      return int64_t(a) == int64_t(b);
    case dom::element_type::UINT64:
      return uint64_t(a) == uint64_t(b);
    case dom::element_type::DOUBLE:
      return double(a) == double(b);
    case dom::element_type::BOOL:
      return bool(a) == bool(b);
    case dom::element_type::NULL_VALUE:
      return true;
  }
  return false;
}

// --- The event corpus --------------------------------------------------------

// What each KNOWN-BROKEN sample must come out with: they break Sentry's
// published JSON schema, but real SDKs send them and Relay normalizes them,
// so each is accepted and the pointer shows the coercion (the value there,
// compact), or "<absent>" for a removal.
struct BrokenSample {
  std::string pointer;
  std::string want;
};
const std::map<std::string, BrokenSample>& KnownBrokenOutcomes() {
  static const auto* outcomes = new std::map<std::string, BrokenSample>{
      {"bugsink/weird_ua.json", {"/request/headers/User-Agent", "\"5\""}},
      {"bugsink/headers_as_lists.json",
       {"/request/headers/Cache-Control", "\"max-age=0\""}},
      {"bugsink/top-level-logentry-as-str.json",
       {"/logentry/formatted",
        "\"I'm not sure whether the GO SDK puts strings here too, but for "
        "symmetry we're able to deal with it\""}},
      {"bugsink/user-id-as-int.json", {"/user/id", "\"1234\""}},
      {"sentry/custom-fingerprint-int.json",
       {"/fingerprint",
        R"(["celery","123","sentry.tasks.store.process_event"])"}},
      {"bugsink/exception_no_frames.json",
       {"/exception/values/0/stacktrace", "<absent>"}},
      {"bugsink/exception_null_frames.json",
       {"/exception/values/0/stacktrace", "<absent>"}},
      {"bugsink/top-level-message.json", {"/message", "<absent>"}},
      {"bugsink/top-level-message-as-str.json", {"/message", "<absent>"}},
      {"bugsink/top-level-message-as-str-no-exception.json",
       {"/message", "<absent>"}},
      {"bugsink/top-level-message-no-exception.json", {"/message", "<absent>"}},
  };
  return *outcomes;
}

TEST(NormalizeCorpus, KnownBrokenListIsTheOneWeExpect) {
  std::set<std::string> expected;
  for (const auto& [path, sample] : KnownBrokenOutcomes()) {
    expected.insert(path);
  }
  EXPECT_EQ(testing::KnownBrokenSamples(), expected);
}

TEST(NormalizeCorpus, EverySampleNormalizesOrFailsAsExpected) {
  constexpr std::string_view kPlatforms[] = {
      "as3",   "c",      "cfml", "cocoa",      "csharp", "elixir", "haskell",
      "go",    "groovy", "java", "javascript", "native", "node",   "objc",
      "other", "perl",   "php",  "python",     "ruby"};
  Normalizer normalizer(Normalizer::kDefaultMaxEventBytes, 3);
  NormalizeOptions opts;
  opts.received = absl::FromUnixSeconds(1893456000);  // 2030: nothing clamps
  opts.client_ip = "198.51.100.4";
  NormalizedEvent out;
  dom::parser in_parser, out_parser;
  const std::set<std::string> broken = testing::KnownBrokenSamples();
  int normalized = 0, accepted_broken = 0;
  for (const std::string& path : testing::AllEventSamples()) {
    SCOPED_TRACE(path);
    const std::string json = testing::ReadEventSample(path);
    const absl::Status st = normalizer.Normalize(json, opts, &out);
    ASSERT_TRUE(st.ok()) << st;
    ++normalized;
    auto parsed = out_parser.parse(out.json);
    ASSERT_FALSE(parsed.error()) << "output does not re-parse";
    dom::element doc = parsed.value_unsafe();
    ASSERT_TRUE(doc.is_object());

    auto id = doc["event_id"];
    ASSERT_FALSE(id.error());
    ASSERT_TRUE(id.value_unsafe().is_string());
    EXPECT_TRUE(IsLowerHex32(std::string_view(id.value_unsafe())));
    EXPECT_TRUE(doc["timestamp"].is_double());
    EXPECT_TRUE(doc["received"].is_double());
    EXPECT_EQ(double(doc["received"]), 1893456000.0);
    const std::string_view level = doc["level"].get_string().value();
    EXPECT_THAT(level,
                ::testing::AnyOf("fatal", "error", "warning", "info", "debug"));
    const std::string_view platform = doc["platform"].get_string().value();
    EXPECT_NE(std::find(std::begin(kPlatforms), std::end(kPlatforms), platform),
              std::end(kPlatforms))
        << platform;
    EXPECT_TRUE(doc["type"].is_string());
    EXPECT_TRUE(doc["message"].error()) << "legacy message left in output";

    dom::element in = in_parser.parse(json).value();
    if (broken.count(path)) {
      ++accepted_broken;
      const BrokenSample& want = KnownBrokenOutcomes().at(path);
      auto at = doc.at_pointer(want.pointer);
      EXPECT_EQ(at.error() ? "<absent>" : simdjson::minify(at.value_unsafe()),
                want.want);
      EXPECT_TRUE(doc["logentry"].is_object() || doc["exception"].is_object() ||
                  doc["exception"].is_array());
    }
    // Only the two samples whose stacktrace has no frames need a note;
    // others carry the `_meta` their SDK sent (for trimmed breadcrumbs).
    const bool noted = path == "bugsink/exception_no_frames.json" ||
                       path == "bugsink/exception_null_frames.json";
    EXPECT_EQ(!doc["errors"].error(), noted);
    EXPECT_EQ(!doc["_meta"].error(), noted || !in["_meta"].error());
    if (noted) {
      EXPECT_EQ(
          simdjson::minify(doc["_meta"].value()),
          R"({"exception":{"values":{"0":{"stacktrace":{"frames":{"":{"err":["missing_attribute"]}}}}}}})");
    }

    // A field the rules do not rewrite comes out value for value.
    for (std::string_view untouched :
         {"exception", "breadcrumbs", "contexts", "tags", "extra", "modules"}) {
      if (noted && untouched == "exception") continue;  // stacktrace removed
      auto before = in[untouched];
      if (before.error()) continue;
      auto after = doc[untouched];
      ASSERT_FALSE(after.error()) << untouched;
      EXPECT_TRUE(DomEqual(before.value_unsafe(), after.value_unsafe()))
          << untouched;
    }
  }
  // Every sample is accepted, the KNOWN-BROKEN ones included.
  EXPECT_EQ(accepted_broken, 11);
  EXPECT_EQ(normalized, static_cast<int>(testing::AllEventSamples().size()));
  EXPECT_GE(normalized, 190);
}

TEST(NormalizeCorpus, NormalizingTwiceChangesOnlyReceived) {
  Normalizer normalizer(Normalizer::kDefaultMaxEventBytes, 5);
  NormalizeOptions first;
  first.received = absl::FromUnixSeconds(1893456000);
  first.client_ip = "198.51.100.4";
  first.sentry_client = "raven-python/6.10.0";
  NormalizeOptions second = first;
  second.received = absl::FromUnixSeconds(1893456007);
  second.client_ip = "192.0.2.99";  // {{auto}} is gone after the first pass
  NormalizedEvent once, twice, again;
  dom::parser pa, pb;
  int checked = 0;
  for (const std::string& path : testing::AllEventSamples()) {
    SCOPED_TRACE(path);
    if (!normalizer.Normalize(testing::ReadEventSample(path), first, &once)
             .ok()) {
      continue;
    }
    // Same options: byte for byte the same.
    ASSERT_TRUE(normalizer.Normalize(once.json, first, &twice).ok());
    EXPECT_EQ(twice.json, once.json);
    // A later received: only `received` differs.
    ASSERT_TRUE(normalizer.Normalize(once.json, second, &again).ok());
    EXPECT_EQ(again.event_id, once.event_id);
    EXPECT_EQ(again.timestamp, once.timestamp);
    dom::object a = pa.parse(once.json).value().get_object().value();
    dom::object b = pb.parse(again.json).value().get_object().value();
    auto ia = a.begin(), ib = b.begin();
    for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
      ASSERT_EQ(ia.key(), ib.key());
      if (ia.key() == "received") {
        EXPECT_EQ(double(ib.value()), 1893456007.0);
      } else {
        EXPECT_TRUE(DomEqual(ia.value(), ib.value())) << ia.key();
      }
    }
    EXPECT_TRUE(ia == a.end() && ib == b.end());
    ++checked;
  }
  EXPECT_GE(checked, 180);
}

// --- Data scrubbing ----------------------------------------------------------

// An independent model of what scrubbing must catch, used by the checkers
// below (deliberately written differently from protocol/scrub.cc: std::regex
// for card numbers, std::string lowering for keys).
// The project's extra sensitive fragments for the checker (lowercase).
std::vector<std::string>& TestExtraSensitive() {
  static std::vector<std::string> fields;
  return fields;
}

bool TestSensitive(std::string_view key) {
  std::string k(key);
  for (char& c : k) c = static_cast<char>(std::tolower(c));
  for (const std::string& f : TestExtraSensitive()) {
    if (k.find(f) != std::string::npos) return true;
  }
  for (const char* f : {"password", "passwd", "secret", "api_key", "apikey",
                        "auth", "credentials", "mysql_pwd", "privatekey",
                        "private_key", "token", "session", "csrf"}) {
    if (k.find(f) != std::string::npos) return true;
  }
  return false;
}

// A card number is a maximal run of digits, single spaces or dashes between
// them, not glued to a letter or digit, of 13 to 19 digits, Luhn-valid.
bool TestHasCard(std::string_view text) {
  static const std::regex kRun("\\d(?:[ -]?\\d)*");
  const std::string s(text);
  auto alnum = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0;
  };
  for (auto it = std::sregex_iterator(s.begin(), s.end(), kRun);
       it != std::sregex_iterator(); ++it) {
    const size_t begin = static_cast<size_t>(it->position());
    const size_t end = begin + static_cast<size_t>(it->length());
    if ((begin > 0 && alnum(s[begin - 1])) ||
        (end < s.size() && alnum(s[end]))) {
      continue;
    }
    std::string digits;
    for (char c : it->str()) {
      if (std::isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
    }
    if (digits.size() < 13 || digits.size() > 19) continue;
    int sum = 0;
    for (size_t i = 0; i < digits.size(); ++i) {
      int d = digits[digits.size() - 1 - i] - '0';
      if (i % 2 == 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    if (sum % 10 == 0) return true;
  }
  return false;
}

using Path = std::vector<std::string>;

bool IsIndex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

// Whether `path` (keys and array indexes from the top) lies inside a subtree
// the docs say is scrubbed, and where that subtree starts.
bool InZone(const Path& p, size_t* zone_len = nullptr) {
  size_t n = 0;
  auto at = [&](size_t i, std::string_view s) {
    return p.size() > i && p[i] == s;
  };
  if (at(0, "extra") || at(0, "contexts")) {
    n = 1;
  } else if (at(0, "request") && p.size() > 1 &&
             (p[1] == "data" || p[1] == "headers" || p[1] == "cookies" ||
              p[1] == "query_string" || p[1] == "env")) {
    n = 2;
  } else if (at(0, "user") && at(1, "data")) {
    n = 2;
  } else if (at(0, "breadcrumbs")) {
    size_t i = at(1, "values") ? 2 : 1;
    if (p.size() > i + 1 && IsIndex(p[i]) && p[i + 1] == "data") n = i + 2;
  } else if (at(0, "exception") || at(0, "threads") || at(0, "stacktrace")) {
    size_t i = 1;
    if (!at(0, "stacktrace")) {
      i = at(1, "values") ? 2 : 1;
      if (!(p.size() > i && IsIndex(p[i]) && at(i + 1, "stacktrace"))) {
        return false;
      }
      i += 2;
    }
    if (at(i, "frames") && p.size() > i + 2 && IsIndex(p[i + 1]) &&
        p[i + 2] == "vars") {
      n = i + 3;
    }
  }
  if (zone_len) *zone_len = n;
  return n != 0 && p.size() >= n;
}

// Why a value at `p` (in a zone) may be replaced by "[Filtered]".
bool MayBeFiltered(const Path& p, dom::element original) {
  if (original.is_null()) return false;
  if (p.size() == 2 && p[0] == "request" && p[1] == "cookies") return true;
  if (original.is_string() && TestHasCard(std::string_view(original))) {
    return true;
  }
  // The nearest key, ignoring array indexes.
  for (size_t i = p.size(); i-- > 0;) {
    if (IsIndex(p[i])) continue;
    if (TestSensitive(p[i])) return true;
    break;
  }
  const bool in_headers =
      p.size() >= 3 && p[0] == "request" && p[1] == "headers";
  if (in_headers) {
    std::string name = p[2];
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    if (name == "cookie" || name == "set-cookie") return true;
  }
  return false;
}

// Walks the unscrubbed output `o` and the scrubbed one `s` together and
// writes `o` again with the differences that scrubbing may make taken from
// `s`; any other difference is a test failure. Counts the replacements.
struct Merger {
  JsonWriter w;
  int filtered = 0;
  int dropped = 0;
  int rewritten_query = 0;

  void Value(Path& p, dom::element o, dom::element s) {
    if (s.is_string() && std::string_view(s) == "[Filtered]" &&
        !(o.is_string() && std::string_view(o) == "[Filtered]")) {
      EXPECT_TRUE(InZone(p)) << absl::StrJoin(p, ".");
      EXPECT_TRUE(MayBeFiltered(p, o)) << absl::StrJoin(p, ".");
      w.String("[Filtered]");
      ++filtered;
      return;
    }
    // A query string rewritten pair by pair.
    if (p.size() == 2 && p[0] == "request" &&
        (p[1] == "query_string" || p[1] == "data") && o.is_string() &&
        s.is_string() && std::string_view(o) != std::string_view(s)) {
      EXPECT_NE(std::string_view(s).find("=[Filtered]"),
                std::string_view::npos);
      w.String(std::string_view(s));
      ++rewritten_query;
      return;
    }
    ASSERT_EQ(o.type(), s.type()) << absl::StrJoin(p, ".");
    switch (o.type()) {
      case dom::element_type::OBJECT: {
        w.BeginObject();
        dom::object so = dom::object(s);
        auto sit = so.begin();
        for (dom::key_value_pair m : dom::object(o)) {
          p.emplace_back(m.key);
          const bool ip =
              (p.size() == 2 && p[0] == "user" && p[1] == "ip_address") ||
              (p.size() == 3 && p[0] == "request" && p[1] == "env" &&
               p[2] == "REMOTE_ADDR");
          if (ip && (sit == so.end() || sit.key() != m.key)) {
            ++dropped;  // scrub_ip_addresses
            p.pop_back();
            continue;
          }
          ASSERT_TRUE(sit != so.end()) << absl::StrJoin(p, ".");
          ASSERT_EQ(sit.key(), m.key) << absl::StrJoin(p, ".");
          w.Key(m.key);
          Value(p, m.value, sit.value());
          ++sit;
          p.pop_back();
        }
        EXPECT_TRUE(sit == so.end()) << absl::StrJoin(p, ".");
        w.EndObject();
        return;
      }
      case dom::element_type::ARRAY: {
        w.BeginArray();
        dom::array sa = dom::array(s);
        auto sit = sa.begin();
        size_t i = 0;
        for (dom::element item : dom::array(o)) {
          ASSERT_TRUE(sit != sa.end());
          p.push_back(std::to_string(i++));
          // A [name, value] pair: the value is judged by the name.
          if (item.is_array() && p.size() >= 3 && p[0] == "request" &&
              dom::array(item).size() == 2 &&
              dom::array(item).at(0).is_string()) {
            p.back() = std::string(std::string_view(dom::array(item).at(0)));
          }
          Value(p, item, *sit);
          p.pop_back();
          ++sit;
        }
        EXPECT_TRUE(sit == sa.end());
        w.EndArray();
        return;
      }
      case dom::element_type::STRING:
        w.String(std::string_view(o));
        return;
      case dom::element_type::INT64:
        w.Int(int64_t(o));
        return;
      case dom::element_type::UINT64:
        w.Uint(uint64_t(o));
        return;
      case dom::element_type::DOUBLE:
        w.Double(double(o));
        return;
      case dom::element_type::BOOL:
        w.Bool(bool(o));
        return;
      case dom::element_type::NULL_VALUE:
        w.Null();
        return;
    }
  }
};

// (a): nothing sensitive survives in the scrubbed subtrees of `doc`.
void ExpectNothingSensitive(Path& p, dom::element v) {
  const bool in_zone = InZone(p);
  switch (v.type()) {
    case dom::element_type::OBJECT:
      for (dom::key_value_pair m : dom::object(v)) {
        p.emplace_back(m.key);
        // The key that opens a subtree (`vars`, `data`...) is not judged.
        size_t zone_len = 0;
        if (InZone(p, &zone_len) && p.size() > zone_len &&
            TestSensitive(m.key) && !m.value.is_null()) {
          EXPECT_TRUE(m.value.is_string() &&
                      std::string_view(m.value) == "[Filtered]")
              << absl::StrJoin(p, ".");
        } else {
          ExpectNothingSensitive(p, m.value);
        }
        p.pop_back();
      }
      return;
    case dom::element_type::ARRAY: {
      size_t i = 0;
      for (dom::element item : dom::array(v)) {
        p.push_back(std::to_string(i++));
        ExpectNothingSensitive(p, item);
        p.pop_back();
      }
      return;
    }
    case dom::element_type::STRING:
      if (in_zone) {
        EXPECT_FALSE(TestHasCard(std::string_view(v)))
            << absl::StrJoin(p, ".") << ": " << std::string_view(v);
      }
      if (p == Path{"request", "query_string"}) {
        for (absl::string_view pair :
             absl::StrSplit(ToAbsl(std::string_view(v)), '&')) {
          const size_t eq = pair.find('=');
          if (eq != std::string_view::npos &&
              TestSensitive(std::string_view(pair.data(), eq))) {
            EXPECT_EQ(std::string(pair.substr(eq + 1)), "[Filtered]");
          }
        }
      }
      return;
    default:
      return;
  }
}

class ScrubTest : public NormalizeTest {
 protected:
  NormalizeOptions ScrubOpts() {
    NormalizeOptions o = Opts();
    o.client_ip = "198.51.100.4";
    o.scrub = &config_;
    return o;
  }
  // Normalizes `json` with scrubbing on and returns the output.
  std::string Scrub(std::string_view json) {
    const absl::Status st = Run(json, ScrubOpts());
    EXPECT_TRUE(st.ok()) << st;
    return out_.json;
  }
  ScrubConfig config_;
};

TEST_F(ScrubTest, NullConfigOrDisabledScrubsNothing) {
  constexpr std::string_view kEvent =
      R"({"extra":{"password":"hunter2","card":"4111111111111111"},)"
      R"("request":{"cookies":{"a":"b"},"headers":{"Cookie":"x"}}})";
  ASSERT_TRUE(Run(kEvent).ok());
  EXPECT_EQ(Str("/extra/password"), "hunter2");
  config_.enabled = false;
  Scrub(kEvent);
  EXPECT_EQ(Str("/extra/password"), "hunter2");
  EXPECT_EQ(Str("/extra/card"), "4111111111111111");
  EXPECT_EQ(Str("/request/cookies/a"), "b");
  EXPECT_EQ(Str("/request/headers/Cookie"), "x");
}

TEST_F(ScrubTest, SensitiveKeysInExtraAndContextsWholeValue) {
  Scrub(R"({"extra":{"DB_Password":"hunter2","nested":{"api_key":[1,2],)"
        R"("Access-Token":{"a":1},"ok":"fine","session":null,"n":7}},)"
        R"("contexts":{"app":{"secret":true,"app_name":"x"}},)"
        R"("tags":{"password":"kept: tags are not scrubbed"}})");
  EXPECT_EQ(Str("/extra/DB_Password"), "[Filtered]");
  EXPECT_EQ(Str("/extra/nested/api_key"), "[Filtered]");
  EXPECT_EQ(Str("/extra/nested/Access-Token"), "[Filtered]");
  EXPECT_EQ(Str("/extra/nested/ok"), "fine");
  EXPECT_TRUE(doc_.at_pointer("/extra/nested/session").is_null());
  EXPECT_EQ(Num("/extra/nested/n"), 7);
  EXPECT_EQ(Str("/contexts/app/secret"), "[Filtered]");
  EXPECT_EQ(Str("/contexts/app/app_name"), "x");
  EXPECT_EQ(Str("/tags/password"), "kept: tags are not scrubbed");
}

TEST_F(ScrubTest, CardNumbersReplaceTheWholeString) {
  Scrub(
      R"({"extra":{"note":"paid with 4111 1111 1111 1111 today",)"
      R"("list":["4111-1111-1111-1111","4111111111111112"],)"
      R"("id":"4111111111111111x"},"logentry":{"formatted":"4111111111111111"}})");
  EXPECT_EQ(Str("/extra/note"), "[Filtered]");
  EXPECT_EQ(Str("/extra/list/0"), "[Filtered]");
  EXPECT_EQ(Str("/extra/list/1"), "4111111111111112");
  EXPECT_EQ(Str("/extra/id"), "4111111111111111x");
  // Outside the scrubbed subtrees, strings are not looked at.
  EXPECT_EQ(Str("/logentry/formatted"), "4111111111111111");
}

TEST_F(ScrubTest, RequestHeadersCookiesQueryStringDataEnv) {
  Scrub(R"({"request":{"url":"https://x/?token=1","method":"POST",)"
        R"("headers":{"Authorization":"Bearer x","Cookie":"s=1",)"
        R"("User-Agent":"ua","X-Api-Key":null},)"
        R"("cookies":"sessionid=abc","query_string":"a=1&Token=2&c&password=",)"
        R"("data":{"user":"u","password":"p"},)"
        R"("env":{"SECRET_KEY":"k","SERVER_NAME":"s"}}})");
  EXPECT_EQ(Str("/request/url"), "https://x/?token=1");
  EXPECT_EQ(Str("/request/headers/Authorization"), "[Filtered]");
  EXPECT_EQ(Str("/request/headers/Cookie"), "[Filtered]");
  EXPECT_EQ(Str("/request/headers/User-Agent"), "ua");
  EXPECT_TRUE(doc_.at_pointer("/request/headers/X-Api-Key").is_null());
  EXPECT_EQ(Str("/request/cookies"), "[Filtered]");
  EXPECT_EQ(Str("/request/query_string"),
            "a=1&Token=[Filtered]&c&password=[Filtered]");
  EXPECT_EQ(Str("/request/data/user"), "u");
  EXPECT_EQ(Str("/request/data/password"), "[Filtered]");
  EXPECT_EQ(Str("/request/env/SECRET_KEY"), "[Filtered]");
  EXPECT_EQ(Str("/request/env/SERVER_NAME"), "s");
}

TEST_F(ScrubTest, HeaderAndQueryPairLists) {
  const std::string scrubbed =
      Scrub(R"({"request":{"headers":[["cookie","a=1"],["Accept","*/*"],)"
            R"(["Authorization",null]],"query_string":[["csrf","x"],)"
            R"(["q","search"]],"cookies":null}})");
  EXPECT_EQ(
      scrubbed,
      R"({"request":{"headers":[["cookie","[Filtered]"],["Accept","*/*"],)"
      R"(["Authorization",null]],"query_string":[["csrf","[Filtered]"],)"
      R"(["q","search"]],"cookies":null},"event_id":")" +
          out_.event_id.ToHex() +
          R"(","timestamp":1700000000.0,"received":1700000000.0,)"
          R"("platform":"other","level":"error","type":"default"})");
}

TEST_F(ScrubTest, BreadcrumbDataFrameVarsAndUserData) {
  Scrub(R"({"breadcrumbs":{"values":[{"message":"password=1",)"
        R"("data":{"auth":"x","url":"/"}}]},)"
        R"("exception":{"values":[{"type":"E","stacktrace":{"frames":[)"
        R"({"function":"f","vars":{"self":"<x>","secret":"s"}}]}}]},)"
        R"("threads":[{"stacktrace":{"frames":[{"vars":{"token":1}}]}}],)"
        R"("stacktrace":{"frames":[{"vars":{"passwd":"p"}}]},)"
        R"("user":{"id":"1","data":{"session_id":"abc"},"username":"token"}})");
  EXPECT_EQ(Str("/breadcrumbs/values/0/message"), "password=1");
  EXPECT_EQ(Str("/breadcrumbs/values/0/data/auth"), "[Filtered]");
  EXPECT_EQ(Str("/breadcrumbs/values/0/data/url"), "/");
  EXPECT_EQ(Str("/exception/values/0/stacktrace/frames/0/vars/secret"),
            "[Filtered]");
  EXPECT_EQ(Str("/exception/values/0/stacktrace/frames/0/vars/self"), "<x>");
  EXPECT_EQ(Str("/exception/values/0/stacktrace/frames/0/function"), "f");
  EXPECT_EQ(Str("/threads/0/stacktrace/frames/0/vars/token"), "[Filtered]");
  EXPECT_EQ(Str("/stacktrace/frames/0/vars/passwd"), "[Filtered]");
  EXPECT_EQ(Str("/user/data/session_id"), "[Filtered]");
  EXPECT_EQ(Str("/user/username"), "token");
}

TEST_F(ScrubTest, StacktraceRulesStillApply) {
  ASSERT_TRUE(
      Run(R"({"exception":[{"stacktrace":{"frames":[]}},{"stacktrace":[]}]})",
          ScrubOpts())
          .ok());
  EXPECT_EQ(At("/exception"), R"([{"stacktrace":{"frames":[]}},{}])");
  // The removed value is not kept: the scrubber does not walk _meta.
  EXPECT_EQ(
      At("/_meta"),
      R"({"exception":{"1":{"stacktrace":{"":{"err":[["invalid_data",{"reason":"expected a stacktrace"}]]}}}}})");
}

TEST_F(ScrubTest, CoercedHeadersAreScrubbed) {
  Scrub(R"({"request":{"headers":{"Authorization":["Bearer","x"],)"
        R"("X-Card":4111111111111111,"Cookie":5,"A":["1","2"]}}})");
  EXPECT_EQ(At("/request/headers"),
            R"({"Authorization":"[Filtered]","X-Card":"[Filtered]",)"
            R"("Cookie":"[Filtered]","A":"1,2"})");
  Scrub(R"({"request":{"headers":[["Authorization",1],["A",2]]}})");
  EXPECT_EQ(At("/request/headers"),
            R"([["Authorization","[Filtered]"],["A","2"]])");
}

TEST_F(ScrubTest, ProjectSensitiveAndSafeFields) {
  const std::vector<std::string> sensitive = {"CVV"};
  const std::vector<std::string> safe = {"Session_Kind", "raw"};
  config_ = ScrubConfig::Make(true, sensitive, safe, false);
  Scrub(R"({"extra":{"card_cvv":"123","session_kind":"web",)"
        R"("raw":{"password":"x","n":"4111111111111111"},"password":"y"},)"
        R"("request":{"headers":{"Cookie":"c"}}})");
  EXPECT_EQ(Str("/extra/card_cvv"), "[Filtered]");
  EXPECT_EQ(Str("/extra/session_kind"), "web");
  EXPECT_EQ(Str("/extra/raw/password"), "x");
  EXPECT_EQ(Str("/extra/raw/n"), "4111111111111111");
  EXPECT_EQ(Str("/extra/password"), "[Filtered]");
  EXPECT_EQ(Str("/request/headers/Cookie"), "[Filtered]");
}

TEST_F(ScrubTest, DepthLimitStillAppliesUnderMaskedValues) {
  // {"extra":{"password": <n levels>}}: the value is at level 3.
  auto event = [](std::string_view key, int levels) {
    std::string v;
    for (int i = 0; i < levels; ++i) v += "[";
    for (int i = 0; i < levels; ++i) v += "]";
    return absl::StrCat(R"({"extra":{")", ToAbsl(key), R"(":)", v, "}}");
  };
  for (std::string_view key : {"password", "plain"}) {
    EXPECT_TRUE(Run(event(key, 126), ScrubOpts()).ok()) << key;
    EXPECT_EQ(HttpStatusFor(Run(event(key, 127), ScrubOpts())), 400) << key;
  }
  EXPECT_TRUE(Run(R"({"request":{"cookies":[[]]}})", ScrubOpts()).ok());
}

TEST_F(ScrubTest, IpAddresses) {
  constexpr std::string_view kEvent =
      R"({"user":{"ip_address":"{{auto}}","id":"1"},)"
      R"("request":{"env":{"REMOTE_ADDR":"10.0.0.1","X":"y"}}})";
  Scrub(kEvent);
  EXPECT_EQ(Str("/user/ip_address"), "198.51.100.4");
  EXPECT_EQ(Str("/request/env/REMOTE_ADDR"), "10.0.0.1");
  config_.scrub_ip_addresses = true;
  Scrub(kEvent);
  EXPECT_FALSE(Has("/user/ip_address"));
  EXPECT_FALSE(Has("/request/env/REMOTE_ADDR"));
  EXPECT_EQ(Str("/request/env/X"), "y");
  // Independent of `enabled`.
  config_.enabled = false;
  Scrub(R"({"user":{"ip_address":"10.1.1.1"},"extra":{"token":"t"}})");
  EXPECT_FALSE(Has("/user/ip_address"));
  EXPECT_EQ(Str("/extra/token"), "t");
}

// Normalizes `json` without and with scrubbing, and checks (a) and (b) of
// the contract: nothing sensitive survives in the scrubbed subtrees, and the
// scrubbed output is the unscrubbed one with only the scrubbed values
// replaced, byte for byte. Returns the merger's counts.
Merger CheckScrubbed(const std::string& json, const ScrubConfig& config) {
  // Same seed: events without an id get the same one in both runs.
  Normalizer normalizer(Normalizer::kDefaultMaxEventBytes, 11);
  Normalizer scrubber(Normalizer::kDefaultMaxEventBytes, 11);
  NormalizeOptions opts;
  opts.received = absl::FromUnixSeconds(1893456000);
  opts.client_ip = "198.51.100.4";
  NormalizedEvent plain, scrubbed;
  std::string merged;
  Merger merger{JsonWriter(&merged)};
  if (!normalizer.Normalize(json, opts, &plain).ok()) return merger;
  opts.scrub = &config;
  const absl::Status st = scrubber.Normalize(json, opts, &scrubbed);
  EXPECT_TRUE(st.ok()) << st;
  if (!st.ok()) return merger;
  dom::parser po, ps;
  dom::element o = po.parse(plain.json).value();
  dom::element s = ps.parse(scrubbed.json).value();
  Path p;
  ExpectNothingSensitive(p, s);
  merger.Value(p, o, s);
  // Not EXPECT_EQ: a failure would print two whole events.
  EXPECT_TRUE(merged == scrubbed.json)
      << "first difference at byte "
      << std::mismatch(merged.begin(), merged.end(), scrubbed.json.begin(),
                       scrubbed.json.end())
                 .first -
             merged.begin();
  return merger;
}

TEST(ScrubCorpus, NothingSensitiveSurvivesAndNothingElseChanges) {
  ScrubConfig config;
  config.scrub_ip_addresses = true;
  int filtered = 0, dropped = 0, samples = 0;
  for (const std::string& path : testing::AllEventSamples()) {
    SCOPED_TRACE(path);
    const Merger m = CheckScrubbed(testing::ReadEventSample(path), config);
    filtered += m.filtered;
    dropped += m.dropped;
    ++samples;
  }
  // The corpus does hold secrets (Django's csrftoken and session cookies,
  // Authorization headers...) and addresses; the check must have seen them.
  EXPECT_GT(filtered, 10);
  EXPECT_GT(dropped, 3);
  std::printf("scrubbed %d values and dropped %d addresses in %d samples\n",
              filtered, dropped, samples);
}

TEST(ScrubCorpus, ProjectFieldsOnTheWholeCorpus) {
  // Fragments common in real events, so that the byte-compare sees many
  // masked values of every type at every depth.
  const std::vector<std::string> fields = {"Name", "type",    "url",
                                           "id",   "version", "v"};
  const ScrubConfig config = ScrubConfig::Make(true, fields, {}, false);
  TestExtraSensitive() = {"name", "type", "url", "id", "version", "v"};
  int filtered = 0;
  for (const std::string& path : testing::AllEventSamples()) {
    SCOPED_TRACE(path);
    filtered += CheckScrubbed(testing::ReadEventSample(path), config).filtered;
  }
  TestExtraSensitive().clear();
  EXPECT_GT(filtered, 100);
  std::printf("scrubbed %d values with project fields\n", filtered);
}

TEST(ScrubCorpus, CheckerSeesEveryRuleOnAKitchenSinkEvent) {
  const std::string event =
      R"({"extra":{"password":"a","x":{"token":{"deep":1}},"c":"5500-0000-0000-0004"},)"
      R"("contexts":{"os":{"name":"Linux","session":"s"}},)"
      R"("request":{"headers":[["Cookie","c"],["Accept","x"]],"cookies":{"a":"b"},)"
      R"("query_string":"a=b&api_key=c","env":{"REMOTE_ADDR":"10.0.0.1"},)"
      R"("data":"csrf=1&x=2"},)"
      R"("user":{"ip_address":"10.0.0.2","data":{"Secret":1}},)"
      R"("breadcrumbs":[{"data":{"auth":"x"}}],)"
      R"("exception":{"values":[{"stacktrace":{"frames":[{"vars":{"apikey":1}}]}}]}})";
  ScrubConfig config;
  config.scrub_ip_addresses = true;
  const Merger m = CheckScrubbed(event, config);
  // extra: password, token, the card; contexts.os.session; the Cookie
  // header; request.cookies; user.data.Secret; the breadcrumb's auth; the
  // frame's apikey.
  EXPECT_EQ(m.filtered, 9);
  EXPECT_EQ(m.rewritten_query, 2);
  EXPECT_EQ(m.dropped, 2);
}

}  // namespace
}  // namespace tern::protocol
