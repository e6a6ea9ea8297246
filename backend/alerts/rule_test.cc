// The rule parser: every field, its defaults, and an error naming the field
// for each kind of bad input; globs, levels, URLs and addresses.
#include "backend/alerts/rule.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::alerts {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ErrorOf(std::string_view json) {
  absl::StatusOr<Rule> r = ParseRule(json);
  return r.ok() ? "OK" : std::string(r.status().message());
}

TEST(RuleTest, ParsesEveryField) {
  absl::StatusOr<Rule> r = ParseRule(R"({
    "name": "Spikes", "enabled": false, "trigger": "frequency",
    "frequency": {"count": 100, "minutes": 5, "of": "users"},
    "filters": {"level": "warning", "environment": "prod", "release": "2.*"},
    "cooldownMinutes": 60,
    "targets": [{"type": "email", "to": "a@x.org"},
                {"type": "webhook", "url": "https://h.example/x?y=1",
                 "format": "dingtalk", "secret": "k"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, "Spikes");
  EXPECT_FALSE(r->enabled);
  EXPECT_EQ(r->trigger, Trigger::kFrequency);
  EXPECT_EQ(r->frequency_count, 100);
  EXPECT_EQ(r->frequency_window, absl::Minutes(5));
  EXPECT_TRUE(r->frequency_users);
  EXPECT_EQ(r->min_level, 2);
  EXPECT_EQ(r->environment, "prod");
  EXPECT_EQ(r->release_glob, "2.*");
  EXPECT_EQ(r->cooldown, absl::Minutes(60));
  ASSERT_EQ(r->targets.size(), 2u);
  EXPECT_EQ(r->targets[0].to, std::vector<std::string>{"a@x.org"});
  EXPECT_EQ(r->targets[1].kind, TargetKind::kDingtalk);
  EXPECT_EQ(r->targets[1].secret, "k");
  // The canonical form parses back to the same rule.
  absl::StatusOr<Rule> again = ParseRule(RuleJson(*r));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(RuleJson(*again), RuleJson(*r));
}

TEST(RuleTest, DefaultsAreLeftToTheConfig) {
  absl::StatusOr<Rule> r = ParseRule(
      R"({"name": "n", "trigger": "new_issue",
          "targets": [{"type": "email", "to": ["a@x.org"]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->enabled);
  EXPECT_FALSE(r->min_level.has_value());
  EXPECT_FALSE(r->cooldown.has_value());
  EXPECT_EQ(RuleJson(*r),
            R"({"name":"n","enabled":true,"trigger":"new_issue","filters":{},)"
            R"("targets":[{"type":"email","to":["a@x.org"]}]})");
}

TEST(RuleTest, ErrorsNameTheField) {
  constexpr char kT[] = R"("targets": [{"type": "email", "to": ["a@x.org"]}])";
  auto rule = [&](std::string_view rest) {
    return std::string("{\"name\": \"n\", \"trigger\": \"new_issue\", ") +
           std::string(rest) + "}";
  };
  EXPECT_THAT(ErrorOf("{"), StartsWith("body: not JSON"));
  EXPECT_THAT(ErrorOf("[]"), StartsWith("body: expected a JSON object"));
  EXPECT_THAT(ErrorOf(R"({"trigger": "new_issue"})"),
              StartsWith("name: required"));
  EXPECT_THAT(ErrorOf(R"({"name": 3, "trigger": "new_issue"})"),
              StartsWith("name: expected a string"));
  EXPECT_THAT(ErrorOf(R"({"name": "n", "trigger": "often"})"),
              StartsWith("trigger: expected \"new_issue\""));
  EXPECT_THAT(ErrorOf(rule(R"("targets": [])")),
              StartsWith("targets: expected a list of 1 to 10"));
  EXPECT_THAT(ErrorOf(rule(R"("targets": [{"type": "pager"}])")),
              StartsWith("targets[0].type: expected"));
  EXPECT_THAT(ErrorOf(rule(R"("targets": [{"type": "webhook"}])")),
              StartsWith("targets[0].url: required"));
  EXPECT_THAT(
      ErrorOf(rule(R"("targets": [{"type": "webhook", "url": "file:///x"}])")),
      StartsWith("targets[0].url: expected an http:// or https:// URL, got "
                 "\"file:///x\""));
  EXPECT_THAT(ErrorOf(rule(
                  R"("targets": [{"type": "webhook", "url": "http://a b/"}])")),
              StartsWith("targets[0].url: expected a URL without spaces"));
  EXPECT_THAT(
      ErrorOf(
          rule(R"("targets": [{"type": "webhook", "url": "http://u:p@h/"}])")),
      StartsWith("targets[0].url: expected a URL without user"));
  EXPECT_THAT(ErrorOf(rule(R"("targets": [{"type": "webhook",
                              "url": "http://h/", "format": "teams"}])")),
              StartsWith("targets[0].format: expected"));
  EXPECT_THAT(ErrorOf(rule(R"("targets": [{"type": "email",
                              "to": ["a@x.org", "b@x.org\r\nBcc: c@x"]}])")),
              StartsWith("targets[0].to[1]: expected an address like"));
  EXPECT_THAT(ErrorOf(rule(R"("targets": [{"type": "email",
                              "to": ["Eve <e@x.org>"]}])")),
              StartsWith("targets[0].to[0]: expected one plain address"));
  EXPECT_THAT(ErrorOf(rule(R"("targets": [{"type": "email", "to": [],
                              "url": "http://h/"}])")),
              StartsWith("targets[0].url: not a field of an email target"));
  EXPECT_THAT(ErrorOf(rule(std::string(kT) + R"(, "cooldownMinutes": -1)")),
              StartsWith("cooldownMinutes: expected an integer from 0"));
  EXPECT_THAT(ErrorOf(rule(std::string(kT) + R"(, "filters": {"level": "x"})")),
              StartsWith("filters.level: expected debug"));
  EXPECT_THAT(ErrorOf(rule(std::string(kT) + R"(, "filters": {"os": "x"})")),
              StartsWith("filters.os: unknown field"));
  EXPECT_THAT(ErrorOf(rule(std::string(kT) + R"(, "colour": 1)")),
              StartsWith("colour: unknown field"));
  EXPECT_THAT(ErrorOf(rule(std::string(kT) + R"(, "frequency": {"count": 1})")),
              StartsWith("frequency: only for a frequency rule"));
  EXPECT_THAT(ErrorOf(R"({"name": "n", "trigger": "frequency",
                         "frequency": {"count": 0, "minutes": 5}, )" +
                      std::string(kT) + "}"),
              StartsWith("frequency.count: expected an integer from 1"));
  EXPECT_THAT(ErrorOf(R"({"name": "n", "trigger": "frequency",
                         "frequency": {"count": 5, "minutes": 1,
                                       "of": "sessions"}, )" +
                      std::string(kT) + "}"),
              StartsWith("frequency.of: expected \"events\" or \"users\""));
  EXPECT_THAT(ErrorOf(R"({"name": "n", "trigger": "frequency",
                         "frequency": {"count": 5}, )" +
                      std::string(kT) + "}"),
              StartsWith("frequency.minutes: required"));
  EXPECT_EQ(ErrorOf(rule(kT)), "OK");
}

TEST(RuleTest, Globs) {
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("1.*", "1.2.3"));
  EXPECT_FALSE(GlobMatch("1.*", "2.0"));
  EXPECT_TRUE(GlobMatch("app@?.0", "app@2.0"));
  EXPECT_FALSE(GlobMatch("app@?.0", "app@12.0"));
  EXPECT_TRUE(GlobMatch("*-rc*", "3.1-rc2"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
  // No exponential blow-up on patterns of many stars.
  EXPECT_FALSE(GlobMatch(std::string(50, '*') + "b", std::string(5000, 'a')));
}

TEST(RuleTest, Levels) {
  EXPECT_EQ(LevelRank("debug"), 0);
  EXPECT_EQ(LevelRank("info"), 1);
  EXPECT_EQ(LevelRank("warning"), 2);
  EXPECT_EQ(LevelRank("warn"), 2);
  EXPECT_EQ(LevelRank("error"), 3);
  EXPECT_EQ(LevelRank(""), 3);
  EXPECT_EQ(LevelRank("fatal"), 4);
  EXPECT_EQ(LevelRank("critical"), 4);
  EXPECT_FALSE(ParseLevel("loud").has_value());
}

TEST(RuleTest, UrlsAndAddresses) {
  EXPECT_TRUE(CheckWebhookUrl("https://hooks.slack.com/services/T/B/X").ok());
  EXPECT_TRUE(CheckWebhookUrl("http://[::1]:8080/hook").ok());
  EXPECT_TRUE(CheckWebhookUrl("http://127.0.0.1:9/").ok());
  EXPECT_FALSE(CheckWebhookUrl("http://").ok());
  EXPECT_FALSE(CheckWebhookUrl("http://:80/").ok());
  EXPECT_FALSE(CheckWebhookUrl("https://[/").ok());
  EXPECT_FALSE(CheckWebhookUrl("gopher://h/").ok());
  EXPECT_TRUE(CheckMailAddress("oncall+tern@example.org").ok());
  EXPECT_FALSE(CheckMailAddress("oncall").ok());
  EXPECT_FALSE(CheckMailAddress("@example.org").ok());
  EXPECT_FALSE(CheckMailAddress("a@").ok());
  EXPECT_FALSE(CheckMailAddress("a@b@c").ok());
  EXPECT_FALSE(CheckMailAddress("Name <a@b.org>").ok());
  EXPECT_THAT(std::string(CheckMailAddress("a@b.org\n").message()),
              HasSubstr("no spaces"));
}

TEST(RuleTest, TargetJsonRoundTrips) {
  Target t;
  t.kind = TargetKind::kFeishu;
  t.url = "https://open.feishu.cn/open-apis/bot/v2/hook/x";
  t.secret = "s";
  EXPECT_EQ(TargetJson(t),
            R"({"type":"webhook","format":"feishu","url":")"
            R"(https://open.feishu.cn/open-apis/bot/v2/hook/x","secret":"s"})");
  absl::StatusOr<Target> back = ParseTargetJson(TargetJson(t));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kind, TargetKind::kFeishu);
  EXPECT_EQ(back->url, t.url);
  EXPECT_FALSE(ParseTargetJson("{").ok());
}

}  // namespace
}  // namespace tern::alerts
