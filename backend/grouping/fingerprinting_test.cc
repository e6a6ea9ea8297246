// Server-side fingerprinting rules: the parser's reading of Sentry's syntax
// and errors, and each matcher's semantics (Sentry's matchers.py: which
// fields are case-insensitive, path-like or lists).
#include "backend/grouping/fingerprinting.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backend/grouping/enhancers.h"
#include "backend/grouping/grouping.h"
#include "gtest/gtest.h"
#include "protocol/json_value.h"
#include "protocol/json_writer.h"
#include "tests/support/samples.h"

namespace tern::grouping {
namespace {

FingerprintingRules Rules(std::string_view text) {
  absl::StatusOr<FingerprintingRules> r = FingerprintingRules::Parse(text);
  EXPECT_TRUE(r.ok()) << r.status() << "\n" << text;
  return r.ok() ? *std::move(r) : FingerprintingRules();
}

std::string ParseError(std::string_view text) {
  absl::StatusOr<FingerprintingRules> r = FingerprintingRules::Parse(text);
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? "" : std::string(r.status().message());
}

// The fingerprint of the first rule matching `event_json`, joined by '|',
// or "-" when none matches.
std::string Apply(const FingerprintingRules& rules,
                  std::string_view event_json) {
  absl::StatusOr<protocol::JsonValue> event = protocol::ParseJson(event_json);
  EXPECT_TRUE(event.ok()) << event_json;
  const FingerprintRule* rule = rules.Match(*event);
  if (rule == nullptr) return "-";
  std::string out;
  for (const std::string& f : rule->fingerprint) {
    if (!out.empty()) out += '|';
    out += f;
  }
  return out;
}

TEST(FingerprintingParseTest, ReadsSentrySyntax) {
  FingerprintingRules rules = Rules(
      "# a comment\n"
      "\n"
      "  error.type:DatabaseUnavailable -> system-down\n"
      "type:\"Connection Error\" !value:\"*timed out*\" -> conn, {{ default "
      "}}\n"
      "\"tags.server_name\":\"db-*\" -> db {{type}} {{  default}} "
      "title=\"DB: {{ error.value }}\"\r\n"
      "message:\"a \\\"quoted\\\" \\u00e9\\n\" -> q\n");
  ASSERT_EQ(rules.rules().size(), 4u);
  const FingerprintRule& first = rules.rules()[0];
  EXPECT_EQ(first.line, 3);
  ASSERT_EQ(first.matchers.size(), 1u);
  EXPECT_EQ(first.matchers[0].key, FingerprintMatcher::Key::kType);
  EXPECT_EQ(first.matchers[0].pattern, "DatabaseUnavailable");
  EXPECT_EQ(first.fingerprint, std::vector<std::string>{"system-down"});

  const FingerprintRule& second = rules.rules()[1];
  ASSERT_EQ(second.matchers.size(), 2u);
  EXPECT_EQ(second.matchers[0].pattern, "Connection Error");
  EXPECT_TRUE(second.matchers[1].negated);
  EXPECT_EQ(second.matchers[1].key, FingerprintMatcher::Key::kValue);
  EXPECT_EQ(second.fingerprint,
            (std::vector<std::string>{"conn", "{{ default }}"}));

  const FingerprintRule& third = rules.rules()[2];
  EXPECT_EQ(third.matchers[0].key, FingerprintMatcher::Key::kTag);
  EXPECT_EQ(third.matchers[0].tag, "server_name");
  // Every spelling of {{ default }} is normalized, other variables kept.
  EXPECT_EQ(third.fingerprint,
            (std::vector<std::string>{"db", "{{type}}", "{{ default }}"}));
  EXPECT_EQ(third.title, "DB: {{ error.value }}");

  EXPECT_EQ(rules.rules()[3].matchers[0].pattern, "a \"quoted\" \xc3\xa9\n");
}

TEST(FingerprintingParseTest, ErrorsSayWhereAsSentryDoes) {
  EXPECT_EQ(ParseError("type:a -> b\n  what is this\n"),
            "Invalid syntax near \"what is this\n\" (line 2, column 3)");
  // The context is 32 characters and "..." when longer.
  EXPECT_EQ(ParseError("type:a ->"),
            "Invalid syntax near \"type:a ->\" (line 1, column 1)");
  EXPECT_EQ(
      ParseError("type:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b -> c"),
      "Invalid syntax near \"type:aaaaaaaaaaaaaaaaaaaaaaaaaaa...\" (line 1, "
      "column 1)");
  EXPECT_EQ(ParseError("type:a\n"),
            "Invalid syntax near \"type:a\n\" (line 1, column 1)");
  EXPECT_EQ(ParseError("\n\nfoo:bar -> x"),
            "Unknown matcher 'foo' (line 3, column 1)");
  EXPECT_EQ(ParseError("type:a -> x color=\"red\""),
            "Unknown attribute 'color' (line 1, column 13)");
  EXPECT_TRUE(FingerprintingRules::Parse("").ok());
  EXPECT_TRUE(FingerprintingRules::Parse("\n  # only\n\n").ok());
}

TEST(FingerprintingParseTest, TrailingTextIsPartOfTheFingerprint) {
  // Sentry's grammar has no end-of-line comments: "#" and "x" are entries.
  FingerprintingRules rules = Rules("type:a -> b # x");
  EXPECT_EQ(rules.rules()[0].fingerprint,
            (std::vector<std::string>{"b", "#", "x"}));
  // Commas separate entries too; an unquoted entry stops at '{'.
  rules = Rules("type:a -> b,c d{{ type }}");
  EXPECT_EQ(rules.rules()[0].fingerprint,
            (std::vector<std::string>{"b", "c", "d", "{{ type }}"}));
}

TEST(FingerprintingMatchTest, ExceptionFields) {
  FingerprintingRules rules = Rules(
      "type:ValueError value:\"*invalid*\" -> both\n"
      "type:KeyError -> key\n"
      "value:\"*TIMEOUT*\" -> timeout\n");
  // Type is case-sensitive; value is not. Both must hold for ONE exception.
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"type":"ValueError",
      "value":"an INVALID thing"}]}})"),
            "both");
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"type":"valueerror",
      "value":"invalid"}]}})"),
            "-");
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"type":"ValueError",
      "value":"nope"},{"type":"Other","value":"invalid"}]}})"),
            "-");
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"type":"X","value":"a"},
      {"type":"KeyError"}]}})"),
            "key");
  EXPECT_EQ(
      Apply(rules, R"({"exception":[{"type":"X","value":"read timeout"}]})"),
      "timeout");
}

TEST(FingerprintingMatchTest, NegationNeedsAValueToNegate) {
  FingerprintingRules rules = Rules("!type:KeyError -> not-key");
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"type":"ValueError"}]}})"),
            "not-key");
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"type":"KeyError"}]}})"),
            "-");
  // No exception at all: nothing to test the matcher against.
  EXPECT_EQ(Apply(rules, R"({"message":"hi"})"), "-");
}

TEST(FingerprintingMatchTest, MessageMatchesLogentryAndExceptionValue) {
  FingerprintingRules rules = Rules("message:\"*cache MISS*\" -> cache");
  EXPECT_EQ(Apply(rules, R"({"logentry":{"formatted":"  cache miss on 7 "}})"),
            "cache");
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"type":"E",
      "value":"Cache miss"}]}})"),
            "cache");
  EXPECT_EQ(Apply(rules, R"({"logentry":{"formatted":"hit"}})"), "-");
}

TEST(FingerprintingMatchTest, FrameFields) {
  FingerprintingRules rules = Rules(
      "function:\"Database::*\" module:db app:yes -> db-frame\n"
      "path:\"**/vendor/*.js\" -> vendor\n"
      "package:\"/usr/lib/*\" -> system-lib\n");
  // All matchers of the frame group must hold for one frame.
  EXPECT_EQ(Apply(rules, R"J({"platform":"native","exception":{"values":[{
      "stacktrace":{"frames":[{"function":"Database::open(int)","module":"db",
      "in_app":true}]}}]}})J"),
            "db-frame");
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"stacktrace":{"frames":[
      {"function":"Database::open","module":"db","in_app":false}]}}]}})"),
            "-");
  // Paths: case-insensitive, '\' as '/', ** across directories; abs_path or
  // filename.
  EXPECT_EQ(Apply(rules, R"({"stacktrace":{"frames":[{"filename":"x.js",
      "abs_path":"C:\\App\\Vendor\\LIB.js"}]}})"),
            "vendor");
  // A relative package is also tried with a leading '/'.
  EXPECT_EQ(Apply(rules, R"({"threads":{"values":[{"stacktrace":{"frames":[
      {"package":"usr/lib/libc.so"}]}}]}})"),
            "system-lib");
}

TEST(FingerprintingMatchTest, EventFields) {
  FingerprintingRules rules = Rules(
      "logger:\"com.example.*\" level:ERR* -> logged\n"
      "tags.region:eu-* -> eu\n"
      "family:native,javascript -> family\n"
      "sdk:sentry.python -> python\n"
      "release:\"backend@1.*\" -> release\n");
  EXPECT_EQ(Apply(rules, R"({"logger":"com.example.db","level":"error"})"),
            "logged");
  EXPECT_EQ(Apply(rules, R"({"logger":"Com.example.db","level":"error"})"),
            "-");
  EXPECT_EQ(Apply(rules, R"({"tags":[["region","eu-west"]]})"), "eu");
  EXPECT_EQ(Apply(rules, R"({"tags":{"region":"eu-north"}})"), "eu");
  EXPECT_EQ(Apply(rules, R"({"platform":"node"})"), "family");
  EXPECT_EQ(Apply(rules, R"({"platform":"cocoa"})"), "family");
  EXPECT_EQ(Apply(rules, R"({"sdk":{"name":"sentry.python.django"}})"),
            "python");
  EXPECT_EQ(Apply(rules, R"({"release":"Backend@1.2"})"), "release");
  EXPECT_EQ(Apply(rules, R"({"platform":"python","release":"2.0"})"), "-");
}

TEST(FingerprintingMatchTest, FirstMatchingRuleWins) {
  FingerprintingRules rules = Rules(
      "type:A -> first\n"
      "type:A -> second\n");
  EXPECT_EQ(Apply(rules, R"({"exception":{"values":[{"type":"A"}]}})"),
            "first");
}

// The rules in the grouping: a match replaces the client's fingerprint and
// sets the title; no match leaves the hashes as without rules.
TEST(FingerprintingGroupingTest, RuleFingerprintAndTitle) {
  FingerprintingRules rules = Rules(
      "type:DatabaseUnavailable -> system-down title=\"DB down: {{ "
      "error.value }} ({{ nope }})\"\n"
      "type:Hybrid -> {{ type }} {{ default }}\n");
  ProjectGrouping project{&rules};
  const std::string down = R"({"exception":{"values":[{
      "type":"DatabaseUnavailable","value":"db-3"}]},"fingerprint":["mine"]})";
  absl::StatusOr<EventFacts> facts = Analyze(down, project);
  ASSERT_TRUE(facts.ok());
  absl::StatusOr<EventFacts> custom = Analyze(
      R"({"exception":{"values":[{"type":"Other"}]},"fingerprint":["system-down"]})");
  ASSERT_TRUE(custom.ok());
  // The same hash as a client fingerprint of ["system-down"].
  EXPECT_EQ(facts->hashes.ordered, custom->hashes.ordered);
  EXPECT_EQ(facts->hashes.fingerprint_rule_line, 1);
  EXPECT_EQ(facts->title, "DB down: db-3 ({{ nope }})");

  // Without rules, the client's fingerprint and the usual title.
  absl::StatusOr<EventFacts> plain = Analyze(down);
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->hashes.ordered, facts->hashes.ordered);
  EXPECT_EQ(plain->title, "DatabaseUnavailable: db-3");
  EXPECT_EQ(plain->hashes.fingerprint_rule_line, 0);

  // Hybrid: {{ type }} resolved, {{ default }} expands to the variants.
  const std::string hybrid =
      R"({"exception":{"values":[{"type":"Hybrid","value":"x"}]}})";
  absl::StatusOr<EventFacts> h = Analyze(hybrid, project);
  absl::StatusOr<EventFacts> client = Analyze(
      R"({"exception":{"values":[{"type":"Hybrid","value":"x"}]},
          "fingerprint":["Hybrid","{{ default }}"]})");
  ASSERT_TRUE(h.ok() && client.ok());
  EXPECT_EQ(h->hashes.ordered, client->hashes.ordered);
  EXPECT_EQ(h->hashes.fingerprint_rule_line, 2);
  EXPECT_EQ(h->title, "Hybrid: x");

  // No rule matches: exactly the hashes without rules.
  const std::string other = R"({"exception":{"values":[{"type":"Else"}]}})";
  EXPECT_EQ(Analyze(other, project)->hashes.ordered,
            Analyze(other)->hashes.ordered);
}

// Sentry's own fixtures (tests/sentry/grouping/fingerprint_inputs and the
// snapshots of test_fingerprinting, collected in
// testdata/sentry_fingerprinting_cases.json): per input event, its rules,
// the fingerprint values the matching rule resolves to (null: no rule
// matches) and the issue title. The values are checked through the hash: an
// event with the rules hashes as the same event with those values sent as
// its client fingerprint.
TEST(FingerprintingGroupingTest, SentryFixtures) {
  const std::string file = std::string(TERN_SOURCE_DIR) +
                           "/backend/grouping/testdata/"
                           "sentry_fingerprinting_cases.json";
  absl::StatusOr<protocol::JsonValue> cases =
      protocol::ParseJson(tern::testing::ReadFileOrDie(file));
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_GE(cases->items().size(), 30u);
  for (const protocol::JsonValue& c : cases->items()) {
    const std::string name(c["name"].string());
    SCOPED_TRACE(name);
    FingerprintingRules rules = Rules(c["rules"].string());
    std::string event;
    c["event"].AppendJson(&event);
    absl::StatusOr<protocol::JsonValue> parsed = protocol::ParseJson(event);
    ASSERT_TRUE(parsed.ok());
    absl::StatusOr<EventFacts> with_rules = Analyze(event, {&rules});
    ASSERT_TRUE(with_rules.ok()) << with_rules.status();
    const protocol::JsonValue& values = c["expected_fingerprint_values"];
    if (values.is_null()) {
      EXPECT_EQ(rules.Match(*parsed), nullptr);
      EXPECT_EQ(with_rules->hashes.ordered, Analyze(event)->hashes.ordered);
    } else {
      EXPECT_NE(rules.Match(*parsed), nullptr);
      // The same event with the expected values as its client fingerprint.
      std::string client;
      protocol::JsonWriter w(&client);
      w.BeginObject();
      w.Key("fingerprint");
      w.BeginArray();
      for (const protocol::JsonValue& v : values.items()) w.String(v.string());
      w.EndArray();
      for (const auto& [key, value] : parsed->members()) {
        if (key == "fingerprint") continue;
        w.Key(key);
        std::string raw;
        value.AppendJson(&raw);
        w.Raw(raw);
      }
      w.EndObject();
      absl::StatusOr<EventFacts> expected = Analyze(client);
      ASSERT_TRUE(expected.ok());
      EXPECT_EQ(with_rules->hashes.ordered, expected->hashes.ordered) << client;
    }
    if (c["expected_title"].is_string()) {
      EXPECT_EQ(with_rules->title, c["expected_title"].string());
    }
  }
}

// A project's stack-trace rules run after the built-in ones: `-group` takes
// a frame out of the hash, `-app` moves it to the system variant.
TEST(ProjectStacktraceRulesTest, ProjectRulesChangeTheHashes) {
  auto event = [](const std::string& helper) {
    return absl::StrCat(
        R"({"platform":"python","exception":{"values":[{"type":"E",)"
        R"("stacktrace":{"frames":[)"
        R"({"function":"main","module":"app","filename":"app.py","in_app":true},)"
        R"({"function":")",
        helper,
        R"(","module":"app.util","filename":"util.py","in_app":true},)"
        R"({"function":"fail","module":"app","filename":"app.py","in_app":true}]}}]}})");
  };
  absl::StatusOr<Enhancements> rules =
      ParseProjectStacktraceRules("stack.module:app.util -group\n");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ProjectGrouping project;
  project.stacktrace = &*rules;
  // Without the rule the helper's name is hashed; with it, it is not.
  EXPECT_NE(Analyze(event("helper_a"))->hashes.ordered,
            Analyze(event("helper_b"))->hashes.ordered);
  EXPECT_EQ(Analyze(event("helper_a"), project)->hashes.ordered,
            Analyze(event("helper_b"), project)->hashes.ordered);
  EXPECT_NE(Analyze(event("helper_a"), project)->hashes.ordered,
            Analyze(event("helper_a"))->hashes.ordered);

  // -app on every frame: the app variant no longer contributes, the system
  // one decides.
  absl::StatusOr<Enhancements> not_app =
      ParseProjectStacktraceRules("stack.module:app* -app\n");
  ASSERT_TRUE(not_app.ok()) << not_app.status();
  ProjectGrouping system;
  system.stacktrace = &*not_app;
  absl::StatusOr<GroupingHashes> h =
      ComputeHashes(*protocol::ParseJson(event("helper_a")), system);
  ASSERT_TRUE(h.ok());
  ASSERT_FALSE(h->variants.empty());
  for (const auto& [name, hash] : h->variants) {
    if (name == "app") {
      EXPECT_FALSE(hash.has_value());
    }
  }

  // Categories are refused in project rules; syntax errors name the line.
  EXPECT_FALSE(ParseProjectStacktraceRules("family:native category=x\n").ok());
  EXPECT_FALSE(ParseProjectStacktraceRules("\ncategory:x -group\n").ok());
}

TEST(NormalizeSdkTagTest, SentrysTable) {
  EXPECT_EQ(NormalizeSdkTag("sentry.python.flask"), "sentry.python");
  EXPECT_EQ(NormalizeSdkTag("sentry.javascript.react.native"),
            "sentry.javascript.react.native");
  EXPECT_EQ(NormalizeSdkTag("sentry.react"), "sentry.javascript.react");
  EXPECT_EQ(NormalizeSdkTag("sentry-go"), "sentry.go");
  EXPECT_EQ(NormalizeSdkTag("sentry.native.android.ndk"),
            "sentry.native.android");
  EXPECT_EQ(NormalizeSdkTag("sentry.cordova"), "other");
  EXPECT_EQ(NormalizeSdkTag("raven-python"), "other");
  EXPECT_EQ(NormalizeSdkTag(""), "other");
}

}  // namespace
}  // namespace tern::grouping
