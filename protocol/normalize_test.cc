#include "protocol/normalize.h"

#include <simdjson.h>

#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/http_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/json_writer.h"
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

TEST_F(NormalizeTest, RejectsBadTimestamps) {
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
    absl::Status st = Run("{\"timestamp\":" + std::string(value) + "}");
    EXPECT_EQ(HttpStatusFor(st), 400) << value;
    EXPECT_THAT(Msg(st), StartsWith("invalid_timestamp")) << value;
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

TEST_F(NormalizeTest, RejectsUnknownLevels) {
  for (std::string_view json :
       {R"({"level":"verbose"})", R"({"level":""})", R"({"level":"errors"})",
        R"({"level":"criticalx"})", R"({"level":3})", R"({"level":true})",
        R"({"level":["error"]})"}) {
    absl::Status st = Run(json);
    EXPECT_EQ(HttpStatusFor(st), 400) << json;
    EXPECT_THAT(Msg(st), StartsWith("invalid_level")) << json;
  }
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

TEST_F(NormalizeTest, RejectsOtherMessageTypes) {
  for (std::string_view json :
       {R"({"message":5})", R"({"message":["a"]})", R"({"message":true})",
        R"({"logentry":{},"message":5})"}) {
    absl::Status st = Run(json);
    EXPECT_EQ(HttpStatusFor(st), 400) << json;
    EXPECT_THAT(Msg(st), StartsWith("invalid_schema: message:")) << json;
  }
}

// --- Rule 11: schema checks --------------------------------------------------

struct SchemaCase {
  std::string json;
  std::string error;  // empty: accepted
};

TEST_F(NormalizeTest, SchemaChecks) {
  const std::vector<SchemaCase> cases = {
      // request.headers
      {R"({"request":{"headers":{"A":"1","B":null}}})", ""},
      {R"({"request":{"headers":[["A","1"],["B",null]]}})", ""},
      {R"({"request":{"headers":[]}})", ""},
      {R"({"request":{"headers":null}})", ""},
      {R"({"request":{"headers":{"A":"1","User-Agent":5}}})",
       "invalid_schema: request.headers.User-Agent: header values must be "
       "strings"},
      {R"({"request":{"headers":{"Accept":["a"]}}})",
       "invalid_schema: request.headers.Accept: header values must be "
       "strings"},
      {R"({"request":{"headers":[["A","1"],["B"]]}})",
       "invalid_schema: request.headers.1: must be a [name, value] pair of "
       "strings"},
      {R"({"request":{"headers":[["A",1]]}})",
       "invalid_schema: request.headers.0: must be a [name, value] pair"},
      {R"({"request":{"headers":["A"]}})",
       "invalid_schema: request.headers.0: must be a [name, value] pair"},
      {R"({"request":{"headers":"A: 1"}})",
       "invalid_schema: request.headers: must be an object or a list"},
      // logentry
      {R"({"logentry":{"formatted":"x"}})", ""},
      {R"({"logentry":null})", ""},
      {R"({"logentry":"x"})", "invalid_schema: logentry: must be an object"},
      {R"({"logentry":["x"]})", "invalid_schema: logentry: must be an object"},
      // user.id
      {R"({"user":{"id":"1"}})", ""},
      {R"({"user":{"id":null}})", ""},
      {R"({"user":{"id":1234}})", "invalid_schema: user.id: must be a string"},
      {R"({"user":{"id":{"a":1}}})", "invalid_schema: user.id:"},
      // fingerprint
      {R"({"fingerprint":["a","{{ default }}"]})", ""},
      {R"({"fingerprint":[]})", ""},
      {R"({"fingerprint":null})", ""},
      {R"({"fingerprint":["a",123]})",
       "invalid_schema: fingerprint.1: must be a string"},
      {R"({"fingerprint":"a"})",
       "invalid_schema: fingerprint: must be a list of strings"},
      // stacktraces
      {R"({"exception":{"values":[{"stacktrace":{"frames":[]}}]}})", ""},
      {R"({"exception":{"values":[{"stacktrace":null}]}})", ""},
      {R"({"exception":{"values":[{"type":"E"},{"stacktrace":{}}]}})",
       "invalid_schema: exception.values.1.stacktrace: must be an object with "
       "a frames list"},
      {R"({"exception":{"values":[{"stacktrace":{"frames":null}}]}})",
       "invalid_schema: exception.values.0.stacktrace:"},
      {R"({"exception":[{"stacktrace":{"frames":{}}}]})",
       "invalid_schema: exception.0.stacktrace:"},
      {R"({"exception":[{"stacktrace":[]}]})",
       "invalid_schema: exception.0.stacktrace:"},
      {R"({"threads":{"values":[{"id":1,"stacktrace":{"frames":[{}]}}]}})", ""},
      {R"({"threads":{"values":[{"id":1,"stacktrace":"x"}]}})",
       "invalid_schema: threads.values.0.stacktrace:"},
      {R"({"stacktrace":{"frames":[{"function":"f"}]}})", ""},
      {R"({"stacktrace":{"registers":{}}})",
       "invalid_schema: stacktrace: must be an object with a frames list"},
      // exception / threads / breadcrumbs containers
      {R"({"breadcrumbs":[{"message":"m"}]})", ""},
      {R"({"breadcrumbs":{"values":[{"message":"m"}]}})", ""},
      {R"({"breadcrumbs":{"values":null}})", ""},
      {R"({"breadcrumbs":null})", ""},
      {R"({"breadcrumbs":{"message":"m"}})",
       "invalid_schema: breadcrumbs: must be a list or an object with a values "
       "list"},
      {R"({"breadcrumbs":"m"})", "invalid_schema: breadcrumbs:"},
      {R"({"exception":{"values":{"type":"E"}}})",
       "invalid_schema: exception:"},
      {R"({"threads":5})", "invalid_schema: threads:"},
      // Fields of an unexpected shape that no rule reads are carried over.
      {R"({"user":"bob","request":"GET /","extra":{"headers":5}})", ""},
      {R"({"request":{"env":"x","headers":{}}})", ""},
      // Items that are not objects are carried over: nothing to check.
      {R"({"exception":{"values":[null,1]}})", ""},
      // Duplicate keys the rules read.
      {R"({"level":"error","level":"info"})",
       "invalid_schema: duplicate key level"},
      {R"({"a":1,"a":2})", ""},
  };
  for (const SchemaCase& c : cases) {
    absl::Status st = Run(c.json);
    if (c.error.empty()) {
      EXPECT_TRUE(st.ok()) << c.json << ": " << st;
    } else {
      EXPECT_EQ(HttpStatusFor(st), 400) << c.json;
      EXPECT_THAT(Msg(st), StartsWith(c.error)) << c.json;
    }
  }
}

TEST_F(NormalizeTest, ErrorDetailsQuoteBoundedValidUtf8) {
  // A long header name with multi-byte characters: the detail is cut, but
  // never inside a character.
  std::string name;
  for (int i = 0; i < 40; ++i) name += "\xc3\xa9";  // é
  absl::Status st = Run(R"({"request":{"headers":{")" + name + R"(":1}}})");
  ASSERT_EQ(HttpStatusFor(st), 400);
  const std::string detail(Msg(st));
  EXPECT_LT(detail.size(), 160u);
  EXPECT_THAT(detail, HasSubstr("...: header values must be strings"));
  EXPECT_FALSE(parser_.parse("\"" + detail + "\"").error())
      << "detail is not valid UTF-8";
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
  EXPECT_FALSE(Run(R"({"level":"x","extra":"y"})").ok());
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

// What each KNOWN-BROKEN sample must fail with (the field it names), or
// "accept" for the legacy-message samples we accept on purpose (rule 10).
const std::map<std::string, std::string>& KnownBrokenOutcomes() {
  static const auto* outcomes = new std::map<std::string, std::string>{
      {"bugsink/weird_ua.json",
       "invalid_schema: request.headers.User-Agent: header values must be "
       "strings"},
      {"bugsink/headers_as_lists.json",
       "invalid_schema: request.headers.Cache-Control: header values must be "
       "strings"},
      {"bugsink/top-level-logentry-as-str.json",
       "invalid_schema: logentry: must be an object"},
      {"bugsink/user-id-as-int.json",
       "invalid_schema: user.id: must be a string"},
      {"sentry/custom-fingerprint-int.json",
       "invalid_schema: fingerprint.1: must be a string"},
      {"bugsink/exception_no_frames.json",
       "invalid_schema: exception.values.0.stacktrace: must be an object with "
       "a frames list"},
      {"bugsink/exception_null_frames.json",
       "invalid_schema: exception.values.0.stacktrace: must be an object with "
       "a frames list"},
      {"bugsink/top-level-message.json", "accept"},
      {"bugsink/top-level-message-as-str.json", "accept"},
      {"bugsink/top-level-message-as-str-no-exception.json", "accept"},
      {"bugsink/top-level-message-no-exception.json", "accept"},
  };
  return *outcomes;
}

TEST(NormalizeCorpus, KnownBrokenListIsTheOneWeExpect) {
  std::set<std::string> expected;
  for (const auto& [path, outcome] : KnownBrokenOutcomes()) {
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
  int normalized = 0, rejected = 0, accepted_legacy = 0;
  for (const std::string& path : testing::AllEventSamples()) {
    SCOPED_TRACE(path);
    const std::string json = testing::ReadEventSample(path);
    const absl::Status st = normalizer.Normalize(json, opts, &out);
    const auto expected = KnownBrokenOutcomes().find(path);
    if (expected != KnownBrokenOutcomes().end() &&
        expected->second != "accept") {
      EXPECT_EQ(HttpStatusFor(st), 400);
      EXPECT_EQ(Msg(st), expected->second);
      ++rejected;
      continue;
    }
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

    if (broken.count(path)) {
      // The legacy-message samples: accepted, with a logentry.
      ++accepted_legacy;
      EXPECT_TRUE(doc["logentry"].is_object());
    }

    // A field the rules do not rewrite comes out value for value.
    dom::element in = in_parser.parse(json).value();
    for (std::string_view untouched :
         {"exception", "breadcrumbs", "contexts", "tags", "extra", "modules"}) {
      auto before = in[untouched];
      if (before.error()) continue;
      auto after = doc[untouched];
      ASSERT_FALSE(after.error()) << untouched;
      EXPECT_TRUE(DomEqual(before.value_unsafe(), after.value_unsafe()))
          << untouched;
    }
  }
  EXPECT_EQ(rejected, 7);
  EXPECT_EQ(accepted_legacy, 4);
  EXPECT_EQ(normalized + rejected,
            static_cast<int>(testing::AllEventSamples().size()));
  EXPECT_GE(normalized, 180);
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

}  // namespace
}  // namespace tern::protocol
