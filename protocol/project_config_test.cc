#include "protocol/project_config.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

TEST(ProjectConfigsRequest, EncodesRelayShape) {
  std::string out;
  EncodeProjectConfigsRequest({{"k1", "k2"}}, &out);
  EXPECT_EQ(out, R"({"publicKeys":["k1","k2"]})");
}

TEST(ProjectConfigsRequest, RoundTrips) {
  ProjectConfigsRequest req{{"a", "b\"c", "a"}};
  std::string out;
  EncodeProjectConfigsRequest(req, &out);
  auto parsed = ParseProjectConfigsRequest(out);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, req);
}

TEST(ProjectConfigsRequest, IgnoresUnknownFields) {
  auto parsed = ParseProjectConfigsRequest(
      R"({"fullConfig": true, "publicKeys": ["k"], "noCache": false})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->public_keys, ElementsAre("k"));
}

TEST(ProjectConfigsRequest, RejectsBadShapes) {
  struct Case {
    const char* json;
    const char* message;
  } cases[] = {
      {"", "invalid JSON"},
      {"[]", "must be a JSON object"},
      {"{}", "publicKeys: missing"},
      {R"({"publicKeys": "k"})", "publicKeys: expected an array of strings"},
      {R"({"publicKeys": ["k", 3]})", "publicKeys[1]: expected a string"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseProjectConfigsRequest(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.json;
  }
}

TEST(ProjectConfigsRequest, BoundsKeyCount) {
  ProjectConfigsRequest req;
  req.public_keys.assign(kMaxProjectConfigsRequestKeys + 1, "k");
  std::string out;
  EncodeProjectConfigsRequest(req, &out);
  auto parsed = ParseProjectConfigsRequest(out);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("more than 1000"));
}

TEST(ProjectConfigsResponse, ParsesRelayShape) {
  auto parsed = ParseProjectConfigsResponse(R"({
    "configs": {
      "k1": {"projectId": 42, "slug": "backend", "disabled": false,
             "organizationId": 1, "lastChange": "2024-01-01T00:00:00Z",
             "publicKeys": [{"publicKey": "k1", "numericId": 7,
                             "isEnabled": true, "quotas": []},
                            {"publicKey": "k9", "isEnabled": false}],
             "config": {"allowedDomains": ["https://example.com", "*.a.org"],
                        "trustedRelays": []}},
      "k2": null
    },
    "pending": ["k3"],
    "unchanged": []
  })");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->configs.size(), 2u);
  EXPECT_EQ(parsed->configs[0].first, "k1");
  ASSERT_TRUE(parsed->configs[0].second.has_value());
  const ProjectConfig& p = *parsed->configs[0].second;
  EXPECT_EQ(p.project_id, 42u);
  EXPECT_EQ(p.slug, "backend");
  EXPECT_FALSE(p.disabled);
  EXPECT_THAT(p.public_keys, ElementsAre(ProjectKeyConfig{"k1", 7, true},
                                         ProjectKeyConfig{"k9", 0, false}));
  EXPECT_THAT(p.allowed_domains, ElementsAre("https://example.com", "*.a.org"));
  EXPECT_EQ(parsed->configs[1],
            (std::pair<std::string, std::optional<ProjectConfig>>{
                "k2", std::nullopt}));
  EXPECT_THAT(parsed->pending, ElementsAre("k3"));
}

TEST(ProjectConfigsResponse, DefaultsForAbsentFields) {
  auto parsed =
      ParseProjectConfigsResponse(R"({"configs": {"k": {"projectId": 1}}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ProjectConfig& p = *parsed->configs.at(0).second;
  EXPECT_EQ(p.slug, "");
  EXPECT_FALSE(p.disabled);
  EXPECT_TRUE(p.public_keys.empty());
  EXPECT_THAT(p.allowed_domains, ElementsAre("*"));
  EXPECT_TRUE(parsed->pending.empty());

  // null means absent for every optional field.
  auto nulls = ParseProjectConfigsResponse(
      R"({"configs": {"k": {"projectId": 1, "slug": null, "disabled": null,
          "publicKeys": [{"publicKey": "k", "numericId": null,
                          "isEnabled": null}],
          "config": {"allowedDomains": null}}}, "pending": null})");
  ASSERT_TRUE(nulls.ok()) << nulls.status();
  EXPECT_THAT(nulls->configs.at(0).second->public_keys,
              ElementsAre(ProjectKeyConfig{"k", 0, true}));
  EXPECT_THAT(nulls->configs.at(0).second->allowed_domains, ElementsAre("*"));

  auto empty = ParseProjectConfigsResponse("{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->configs.empty());
}

TEST(ProjectConfigsResponse, DuplicateKeyKeepsFirst) {
  auto parsed = ParseProjectConfigsResponse(
      R"({"configs": {"k": null, "k": {"projectId": 1}}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->configs.size(), 1u);
  EXPECT_FALSE(parsed->configs[0].second.has_value());
}

TEST(ProjectConfigsResponse, RoundTrips) {
  ProjectConfigsResponse resp;
  ProjectConfig p;
  p.project_id = 18446744073709551615u;
  p.slug = "s\n\"x";
  p.disabled = true;
  p.public_keys = {{"k1", 3, false}};
  p.allowed_domains = {};
  resp.configs.emplace_back("k1", p);
  resp.configs.emplace_back("k2", std::nullopt);
  resp.pending = {"k3", "k4"};
  std::string out;
  EncodeProjectConfigsResponse(resp, &out);
  auto parsed = ParseProjectConfigsResponse(out);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << out;
  EXPECT_EQ(*parsed, resp);
}

TEST(ProjectConfigsResponse, WrongTypesNameTheField) {
  struct Case {
    const char* json;
    const char* message;
  } cases[] = {
      {R"({"configs": []})", "configs: expected an object"},
      {R"({"configs": {"k": 1}})", "configs.k: expected null or an object"},
      {R"({"configs": {"k": {}}})", "configs.k.projectId: missing or zero"},
      {R"({"configs": {"k": {"projectId": 0}}})", "missing or zero"},
      {R"({"configs": {"k": {"projectId": -1}}})",
       "configs.k.projectId: expected an unsigned integer"},
      {R"({"configs": {"k": {"projectId": 1.5}}})",
       "configs.k.projectId: expected an unsigned integer"},
      {R"({"configs": {"k": {"projectId": "1"}}})",
       "configs.k.projectId: expected an unsigned integer"},
      {R"({"configs": {"k": {"projectId": 1, "slug": 2}}})",
       "configs.k.slug: expected a string"},
      {R"({"configs": {"k": {"projectId": 1, "disabled": "no"}}})",
       "configs.k.disabled: expected a boolean"},
      {R"({"configs": {"k": {"projectId": 1, "publicKeys": {}}}})",
       "configs.k.publicKeys: expected an array of objects"},
      {R"({"configs": {"k": {"projectId": 1, "publicKeys": [1]}}})",
       "configs.k.publicKeys[0]: expected an object"},
      {R"({"configs": {"k": {"projectId": 1, "publicKeys": [{}]}}})",
       "configs.k.publicKeys[0].publicKey: missing"},
      {R"({"configs": {"k": {"projectId": 1, "publicKeys":
           [{"publicKey": "k", "numericId": "7"}]}}})",
       "configs.k.publicKeys[0].numericId: expected an unsigned integer"},
      {R"({"configs": {"k": {"projectId": 1, "publicKeys":
           [{"publicKey": "k", "isEnabled": 1}]}}})",
       "configs.k.publicKeys[0].isEnabled: expected a boolean"},
      {R"({"configs": {"k": {"projectId": 1, "config": []}}})",
       "configs.k.config: expected an object"},
      {R"({"configs": {"k": {"projectId": 1,
           "config": {"allowedDomains": ["*", 1]}}}})",
       "configs.k.config.allowedDomains[1]: expected a string"},
      {R"({"pending": "k"})", "pending: expected an array of strings"},
      {R"({"pending": [null]})", "pending[0]: expected a string"},
      {"{\"configs\": {\"k\\u0001\": 1}}", "configs.k\\x01:"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseProjectConfigsResponse(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.json;
  }
}

TEST(ProjectConfigsResponse, ParsesQuotas) {
  auto parsed = ParseProjectConfigsResponse(R"({"configs": {"k": {
      "projectId": 1,
      "config": {"quotas": [
        {"id": "q1", "categories": ["error", "transaction"],
         "scope": "project", "limit": 100, "window": 60, "reasonCode": "x",
         "scopeId": "1"},
        {"id": "q.2-b_", "scope": "key", "limit": 0, "window": 1,
         "categories": null, "reasonCode": null},
        {"id": "q3", "limit": 5, "window": 3600}]}}}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ProjectConfig& p = *parsed->configs.at(0).second;
  ASSERT_EQ(p.quotas.size(), 3u);
  EXPECT_EQ(p.quotas[0],
            (QuotaConfig{"q1",
                         {DataCategory::kError, DataCategory::kTransaction},
                         QuotaScope::kProject,
                         100,
                         60,
                         "x"}));
  EXPECT_EQ(p.quotas[1],
            (QuotaConfig{"q.2-b_", {}, QuotaScope::kKey, 0, 1, ""}));
  EXPECT_EQ(p.quotas[2],
            (QuotaConfig{"q3", {}, QuotaScope::kProject, 5, 3600, ""}));
  // Absent, null or an empty list: no quotas.
  for (const char* config :
       {"{}", R"({"quotas": null})", R"({"quotas": []})"}) {
    auto none = ParseProjectConfigsResponse(absl::StrCat(
        R"({"configs": {"k": {"projectId": 1, "config": )", config, "}}}"));
    ASSERT_TRUE(none.ok()) << none.status();
    EXPECT_TRUE(none->configs.at(0).second->quotas.empty()) << config;
  }
}

TEST(ProjectConfigsResponse, QuotasRoundTrip) {
  ProjectConfigsResponse resp;
  ProjectConfig p;
  p.project_id = 3;
  p.public_keys = {{"k1", 1, true}};
  p.quotas = {{"a",
               {DataCategory::kAttachment},
               QuotaScope::kKey,
               18446744073709551615u,
               kMaxQuotaWindowSeconds,
               "big"},
              {"b", {}, QuotaScope::kProject, 0, 1, ""}};
  resp.configs.emplace_back("k1", p);
  std::string out;
  EncodeProjectConfigsResponse(resp, &out);
  EXPECT_THAT(out,
              HasSubstr(R"("quotas":[{"id":"a","categories":["attachment"],)"
                        R"("scope":"key","limit":18446744073709551615,)"
                        R"("window":316224000,"reasonCode":"big"},)"));
  auto parsed = ParseProjectConfigsResponse(out);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << out;
  EXPECT_EQ(*parsed, resp);

  // No quotas: the config carries no "quotas" member at all.
  resp.configs[0].second->quotas.clear();
  out.clear();
  EncodeProjectConfigsResponse(resp, &out);
  EXPECT_THAT(out, Not(HasSubstr("quotas")));
}

TEST(ProjectConfigsResponse, BadQuotasNameTheField) {
  struct Case {
    const char* quotas;
    const char* message;
  } cases[] = {
      {R"({})", "config.quotas: expected an array of objects"},
      {R"([1])", "config.quotas[0]: expected an object"},
      {R"([{"limit": 1, "window": 1}])", "config.quotas[0].id: missing"},
      {R"([{"id": 1, "limit": 1, "window": 1}])",
       "config.quotas[0].id: expected a string"},
      {R"([{"id": "a b", "limit": 1, "window": 1}])",
       "config.quotas[0].id: expected a name of [A-Za-z0-9_.-]"},
      {R"([{"id": "", "limit": 1, "window": 1}])",
       "config.quotas[0].id: expected a name"},
      {R"([{"id": "q", "window": 1}])", "config.quotas[0].limit: missing"},
      {R"([{"id": "q", "limit": -1, "window": 1}])",
       "config.quotas[0].limit: expected an unsigned integer"},
      {R"([{"id": "q", "limit": 1}])", "config.quotas[0].window: missing"},
      {R"([{"id": "q", "limit": 1, "window": 0}])",
       "config.quotas[0].window: expected 1..316224000 seconds"},
      {R"([{"id": "q", "limit": 1, "window": 316224001}])",
       "config.quotas[0].window: expected 1..316224000 seconds"},
      {R"([{"id": "q", "limit": 1, "window": "60"}])",
       "config.quotas[0].window: expected 1.."},
      {R"([{"id": "q", "limit": 1, "window": 1, "scope": "organization"}])",
       "config.quotas[0].scope: expected \"project\" or \"key\""},
      {R"([{"id": "q", "limit": 1, "window": 1, "categories": "error"}])",
       "config.quotas[0].categories: expected an array of category names"},
      {R"([{"id": "q", "limit": 1, "window": 1, "categories": ["profile"]}])",
       "config.quotas[0].categories[0]: expected one of error, default"},
      {R"([{"id": "q", "limit": 1, "window": 1, "categories": ["unknown"]}])",
       "config.quotas[0].categories[0]: expected one of"},
      {R"([{"id": "q", "limit": 1, "window": 1,
            "categories": ["error", "error"]}])",
       "config.quotas[0].categories[1]: category \"error\" listed twice"},
      {R"([{"id": "q", "limit": 1, "window": 1, "reasonCode": "a/b"}])",
       "config.quotas[0].reasonCode: expected a code of [A-Za-z0-9_.-]"},
      {R"([{"id": "q", "limit": 1, "window": 1, "reasonCode": ""}])",
       "config.quotas[0].reasonCode: expected a code"},
      {R"([{"id": "q", "limit": 1, "window": 1},
           {"id": "q", "limit": 2, "window": 2}])",
       "config.quotas[1].id: duplicate quota id \"q\""},
  };
  for (const Case& c : cases) {
    const std::string json = absl::StrCat(
        R"({"configs": {"k": {"projectId": 1, "config": {"quotas": )", c.quotas,
        "}}}}");
    auto parsed = ParseProjectConfigsResponse(json);
    ASSERT_FALSE(parsed.ok()) << json;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(),
                HasSubstr(absl::StrCat("configs.k.", c.message)))
        << json;
  }
}

TEST(QuotasMember, ParsesTheSameShape) {
  auto quotas = ParseQuotasMember(
      R"({"allowedOrigins": ["*"], "quotas": [{"id": "q", "limit": 3,
          "window": 3600, "scope": "project"}]})");
  ASSERT_TRUE(quotas.ok()) << quotas.status();
  EXPECT_THAT(*quotas, ElementsAre(QuotaConfig{
                           "q", {}, QuotaScope::kProject, 3, 3600, ""}));

  auto none = ParseQuotasMember("{}");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto bad = ParseQuotasMember(R"({"quotas": [{"id": "q", "limit": 1}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("quotas[0].window: missing"));

  for (const char* not_object : {"[]", "1", "nope"}) {
    auto r = ParseQuotasMember(not_object);
    ASSERT_FALSE(r.ok()) << not_object;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("settings:"));
  }
}

TEST(ProjectConfigsResponse, HostileInput) {
  // Deep nesting in an ignored field, invalid UTF-8, oversize input.
  std::string deep =
      R"({"x": )" + std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_FALSE(ParseProjectConfigsResponse(deep).ok());
  EXPECT_FALSE(ParseProjectConfigsResponse("{\"pending\": [\"\xff\"]}").ok());
  std::string big(kMaxProjectConfigsBytes + 1, ' ');
  auto parsed = ParseProjectConfigsResponse(big);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kOutOfRange);
  std::string long_key(1000, 'a');
  auto named = ParseProjectConfigsResponse(
      absl::StrCat(R"({"configs": {")", long_key, R"(": 1}})"));
  ASSERT_FALSE(named.ok());
  EXPECT_LT(named.status().message().size(), 200u);
}

}  // namespace
}  // namespace tern::protocol
