#include "config/projects.h"

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/rate_limits.h"

namespace tern::config {
namespace {

using ::tern::protocol::DataCategory;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kKeyA = "0123456789abcdef0123456789abcdef";

TEST(ProjectsFile, ExampleFileParses) {
  absl::StatusOr<ProjectsFile> f =
      LoadProjectsFile(std::string(TERN_SOURCE_DIR) + "/config/projects.yml");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->default_quotas.empty());
  ASSERT_EQ(f->projects.size(), 1u);
  const Project& p = f->projects[0];
  EXPECT_EQ(p.id, 1u);
  EXPECT_EQ(p.slug, "demo");
  ASSERT_EQ(p.keys.size(), 1u);
  EXPECT_EQ(p.keys[0].public_key, kKeyA);
  EXPECT_EQ(p.keys[0].public_key.size(), 32u);
  EXPECT_EQ(p.keys[0].status, KeyStatus::kActive);
  EXPECT_EQ(p.keys[0].id, 0u);
  EXPECT_TRUE(p.keys[0].quotas.empty());
  EXPECT_THAT(p.allowed_origins, ElementsAre("*"));
  EXPECT_TRUE(p.quotas.empty());
  EXPECT_TRUE(p.scrub_data);
  EXPECT_TRUE(p.sensitive_fields.empty());
  EXPECT_TRUE(p.safe_fields.empty());
  EXPECT_FALSE(p.scrub_ip_addresses);
  EXPECT_FALSE(p.filters.localhost);
  EXPECT_FALSE(p.filters.browser_extensions);
  EXPECT_FALSE(p.filters.web_crawlers);
  EXPECT_TRUE(p.filters.releases.empty());
  EXPECT_TRUE(p.filters.error_messages.empty());
}

TEST(ProjectsFile, MinimalProjectGetsDefaults) {
  absl::StatusOr<ProjectsFile> f = ParseProjectsFile(
      "projects:\n  - id: 7\n    keys:\n      - public_key: abc\n", "p.yml");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->projects.size(), 1u);
  const Project& p = f->projects[0];
  EXPECT_EQ(p.id, 7u);
  EXPECT_EQ(p.slug, "");
  EXPECT_EQ(p.keys[0].status, KeyStatus::kActive);
  EXPECT_THAT(p.allowed_origins, ElementsAre("*"));
  EXPECT_TRUE(p.scrub_data);
  EXPECT_FALSE(p.scrub_ip_addresses);
  EXPECT_FALSE(p.filters.localhost);
}

TEST(ProjectsFile, EmptyFileHasNoProjects) {
  for (std::string_view text : {"", "projects: []\n", "projects:\n"}) {
    absl::StatusOr<ProjectsFile> f = ParseProjectsFile(text, "p.yml");
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_TRUE(f->projects.empty());
  }
}

TEST(ProjectsFile, FullProject) {
  absl::StatusOr<ProjectsFile> f = ParseProjectsFile(R"(
defaults:
  quotas:
    - id: global
      limit: 1000000
      window: 3600
projects:
  - id: 42
    slug: web-app_2
    keys:
      - public_key: AAAA1111
        status: disabled
        id: 9
        quotas:
          - {id: per-key, categories: [attachment], scope: key, limit: 0,
             window: 1, reason_code: key_quota}
      - public_key: bbbb2222
    allowed_origins: ["https://Example.com", "example.org", "*.example.net",
                      "http://*.example.io:8080", "http://localhost:3000"]
    quotas:
      - id: errors
        categories: [error, default, transaction, security, session]
        scope: project
        limit: 100
        window: 60
        reason_code: too_many.errors-1
    scrub_data: false
    sensitive_fields: [ssn]
    safe_fields: [session_id]
    scrub_ip_addresses: true
    filters:
      localhost: true
      browser_extensions: true
      web_crawlers: true
      releases: ["*-beta", "1.0.*"]
      error_messages: ["*ResizeObserver*"]
)",
                                                     "p.yml");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->default_quotas.size(), 1u);
  const Quota& g = f->default_quotas[0];
  EXPECT_EQ(g.id, "global");
  EXPECT_TRUE(g.categories.empty());
  EXPECT_EQ(g.scope, QuotaScope::kProject);
  EXPECT_EQ(g.limit, 1000000u);
  EXPECT_EQ(g.window_seconds, 3600u);
  EXPECT_EQ(g.reason_code, "");

  const Project& p = f->projects[0];
  EXPECT_EQ(p.id, 42u);
  EXPECT_EQ(p.slug, "web-app_2");
  ASSERT_EQ(p.keys.size(), 2u);
  EXPECT_EQ(p.keys[0].public_key, "AAAA1111");
  EXPECT_EQ(p.keys[0].status, KeyStatus::kDisabled);
  EXPECT_EQ(p.keys[0].id, 9u);
  ASSERT_EQ(p.keys[0].quotas.size(), 1u);
  const Quota& k = p.keys[0].quotas[0];
  EXPECT_EQ(k.id, "per-key");
  EXPECT_THAT(k.categories, ElementsAre(DataCategory::kAttachment));
  EXPECT_EQ(k.scope, QuotaScope::kKey);
  EXPECT_EQ(k.limit, 0u);
  EXPECT_EQ(k.window_seconds, 1u);
  EXPECT_EQ(k.reason_code, "key_quota");
  EXPECT_EQ(p.keys[1].status, KeyStatus::kActive);
  EXPECT_THAT(p.allowed_origins,
              ElementsAre("https://example.com", "example.org", "*.example.net",
                          "http://*.example.io:8080", "http://localhost:3000"));
  ASSERT_EQ(p.quotas.size(), 1u);
  EXPECT_THAT(p.quotas[0].categories,
              ElementsAre(DataCategory::kError, DataCategory::kDefault,
                          DataCategory::kTransaction, DataCategory::kSecurity,
                          DataCategory::kSession));
  EXPECT_EQ(p.quotas[0].reason_code, "too_many.errors-1");
  EXPECT_FALSE(p.scrub_data);
  EXPECT_THAT(p.sensitive_fields, ElementsAre("ssn"));
  EXPECT_THAT(p.safe_fields, ElementsAre("session_id"));
  EXPECT_TRUE(p.scrub_ip_addresses);
  EXPECT_TRUE(p.filters.localhost);
  EXPECT_TRUE(p.filters.browser_extensions);
  EXPECT_TRUE(p.filters.web_crawlers);
  EXPECT_THAT(p.filters.releases, ElementsAre("*-beta", "1.0.*"));
  EXPECT_THAT(p.filters.error_messages, ElementsAre("*ResizeObserver*"));
}

TEST(ProjectsFile, EmptyOriginListAllowsNone) {
  absl::StatusOr<ProjectsFile> f =
      ParseProjectsFile("projects: [{id: 1, allowed_origins: []}]\n", "p.yml");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->projects[0].allowed_origins.empty());
}

struct ErrorCase {
  std::string_view yaml;
  std::string_view want;  // the start of the message
};

TEST(ProjectsFile, ValidationErrorsNameFileLineAndKey) {
  const ErrorCase cases[] = {
      // Structure and unknown keys.
      {"project: []\n", "p.yml:1:1: unknown key \"project\""},
      {"projects: {id: 1}\n",
       "p.yml:1:11: projects: expected a list, got a map"},
      {"projects:\n  - 1\n", "p.yml:2:5: projects[0]: expected a project map"},
      {"projects:\n  - id: 1\n    slugg: x\n",
       "p.yml:3:5: projects[0]: unknown key \"slugg\""},
      {"projects:\n  - id: 1\n    keys:\n      - public_key: abc\n"
       "        state: active\n",
       "p.yml:5:9: projects[0].keys[0]: unknown key \"state\""},
      {"projects:\n  - id: 1\n    filters:\n      localhst: true\n",
       "p.yml:4:7: projects[0].filters: unknown key \"localhst\""},
      {"defaults:\n  quota: []\n", "p.yml:2:3: defaults: unknown key"},
      {"defaults:\n  quotas:\n    - {id: a, limit: 1, window: 1, windw: 2}\n",
       "p.yml:3:36: defaults.quotas[0]: unknown key \"windw\""},
      // Project ids.
      {"projects:\n  - slug: x\n",
       "p.yml:2:5: projects[0]: missing key \"id\""},
      {"projects:\n  - id: 0\n",
       "p.yml:2:9: projects[0].id: must be between 1 and"},
      {"projects:\n  - id: abc\n",
       "p.yml:2:9: projects[0].id: expected a whole number, got \"abc\""},
      {"projects:\n  - id: 5\n  - id: 6\n  - id: 5\n",
       "p.yml:4:9: projects[2].id: duplicate project id 5 (first at line 2)"},
      {"projects:\n  - id: 1\n    slug: Web App\n",
       "p.yml:3:11: projects[0].slug: expected a slug of [a-z0-9_-], got "
       "\"Web App\""},
      // Keys.
      {"projects:\n  - id: 1\n    keys:\n      - status: active\n",
       "p.yml:4:9: projects[0].keys[0]: missing key \"public_key\""},
      {"projects:\n  - id: 1\n    keys:\n      - public_key: \"not-hex!\"\n",
       "p.yml:4:21: projects[0].keys[0].public_key: expected letters and "
       "digits"},
      {"projects:\n  - id: 1\n    keys:\n      - public_key: \"\"\n",
       "p.yml:4:21: projects[0].keys[0].public_key: expected letters and "
       "digits"},
      {"projects:\n  - id: 1\n    keys:\n      - public_key: abc\n"
       "  - id: 2\n    keys:\n      - public_key: abc\n",
       "p.yml:7:21: projects[1].keys[0].public_key: duplicate public key (also "
       "in project 1 at line 4)"},
      {"projects:\n  - id: 1\n    keys:\n      - public_key: abc\n"
       "      - public_key: abc\n",
       "p.yml:5:21: projects[0].keys[1].public_key: duplicate public key"},
      {"projects:\n  - id: 1\n    keys:\n      - public_key: abc\n"
       "        status: revoked\n",
       "p.yml:5:17: projects[0].keys[0].status: expected one of active, "
       "disabled, got \"revoked\""},
      {"projects:\n  - id: 1\n    keys:\n      - public_key: abc\n"
       "        id: 0\n",
       "p.yml:5:13: projects[0].keys[0].id: must be between 1"},
      {"projects:\n  - id: 1\n    keys: [abc]\n",
       "p.yml:3:12: projects[0].keys[0]: expected a key map with public_key"},
      // Origins.
      {"projects:\n  - id: 1\n    allowed_origins: [\"https://x.com/path\"]\n",
       "p.yml:3:23: projects[0].allowed_origins[0]: expected \"*\", an origin "
       "like https://example.com"},
      {"projects:\n  - id: 1\n    allowed_origins: [\"x.*.com\"]\n",
       "p.yml:3:23: projects[0].allowed_origins[0]: expected \"*\""},
      {"projects:\n  - id: 1\n    allowed_origins: [\"http://x:\"]\n",
       "projects[0].allowed_origins[0]: expected \"*\""},
      {"projects:\n  - id: 1\n    allowed_origins: [\"http://x:0\"]\n",
       "projects[0].allowed_origins[0]: expected \"*\""},
      {"projects:\n  - id: 1\n    allowed_origins: [\"http://x:65536\"]\n",
       "projects[0].allowed_origins[0]: expected \"*\""},
      {"projects:\n  - id: 1\n    allowed_origins: [\"\"]\n",
       "projects[0].allowed_origins[0]: must not be empty"},
      {"projects:\n  - id: 1\n    allowed_origins: \"*\"\n",
       "p.yml:3:22: projects[0].allowed_origins: expected a list, got \"*\""},
      // Quotas.
      {"projects:\n  - id: 1\n    quotas:\n      - limit: 1\n        window: "
       "1\n",
       "p.yml:4:9: projects[0].quotas[0]: missing key \"id\""},
      {"projects:\n  - id: 1\n    quotas:\n      - id: \"a b\"\n",
       "p.yml:4:13: projects[0].quotas[0].id: expected a name of "
       "[A-Za-z0-9_.-]"},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        window: 1\n",
       "p.yml:4:9: projects[0].quotas[0]: missing key \"limit\""},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: 1\n",
       "p.yml:4:9: projects[0].quotas[0]: missing key \"window\""},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: -1\n"
       "        window: 1\n",
       "p.yml:5:16: projects[0].quotas[0].limit: expected a whole number"},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: 1\n"
       "        window: 0\n",
       "p.yml:6:17: projects[0].quotas[0].window: must be between 1 and"},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: 1\n"
       "        window: 60s\n",
       "p.yml:6:17: projects[0].quotas[0].window: expected a whole number"},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: 1\n"
       "        window: 1\n        scope: organization\n",
       "p.yml:7:16: projects[0].quotas[0].scope: expected one of project, key, "
       "got \"organization\""},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: 1\n"
       "        window: 1\n        categories: [error, profile]\n",
       "p.yml:7:29: projects[0].quotas[0].categories[1]: expected one of "
       "error, default, transaction, security, session, attachment, got "
       "\"profile\""},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: 1\n"
       "        window: 1\n        categories: [error, error]\n",
       "p.yml:7:29: projects[0].quotas[0].categories[1]: category \"error\" "
       "listed twice"},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: 1\n"
       "        window: 1\n        categories: error\n",
       "p.yml:7:21: projects[0].quotas[0].categories: expected a list"},
      {"projects:\n  - id: 1\n    quotas:\n      - id: q\n        limit: 1\n"
       "        window: 1\n        reason_code: \"a:b\"\n",
       "p.yml:7:22: projects[0].quotas[0].reason_code: expected a code of "
       "[A-Za-z0-9_.-]"},
      {"projects:\n  - id: 1\n    quotas:\n      - null\n",
       "p.yml:4:9: projects[0].quotas[0]: expected a quota map, got null"},
      {"defaults:\n  quotas:\n    - {id: a, limit: 1, window: 1}\n"
       "    - {id: a, limit: 2, window: 2}\n",
       "p.yml:4:8: defaults.quotas[1].id: duplicate quota id \"a\" (also at "
       "line 3)"},
      {"projects:\n  - id: 1\n    quotas:\n      - {id: a, limit: 1, window: "
       "1}\n    keys:\n      - public_key: abc\n        quotas:\n"
       "          - {id: a, limit: 1, window: 1}\n",
       "p.yml:4:10: projects[0].quotas[0].id: duplicate quota id \"a\" (also "
       "at line 8)"},
      // Scrubbing and filters.
      {"projects:\n  - id: 1\n    scrub_data: sometimes\n",
       "p.yml:3:17: projects[0].scrub_data: expected true or false"},
      {"projects:\n  - id: 1\n    scrub_ip_addresses: 1\n",
       "p.yml:3:25: projects[0].scrub_ip_addresses: expected true or false"},
      {"projects:\n  - id: 1\n    sensitive_fields: [a, [b]]\n",
       "p.yml:3:27: projects[0].sensitive_fields[1]: expected a string, got a "
       "list"},
      {"projects:\n  - id: 1\n    safe_fields: password\n",
       "p.yml:3:18: projects[0].safe_fields: expected a list"},
      {"projects:\n  - id: 1\n    filters: {web_crawlers: maybe}\n",
       "p.yml:3:29: projects[0].filters.web_crawlers: expected true or false"},
      {"projects:\n  - id: 1\n    filters: {releases: \"*-beta\"}\n",
       "p.yml:3:25: projects[0].filters.releases: expected a list"},
      {"projects:\n  - id: 1\n    filters: {error_messages: [\"\"]}\n",
       "p.yml:3:32: projects[0].filters.error_messages[0]: must not be empty"},
      // YAML itself.
      {"projects:\n  - id: 1\n    keys: [\n", "p.yml:"},
      {"projects:\n  - id: 1\n    id: 2\n", "p.yml:3:5: duplicate key \"id\""},
  };
  for (const ErrorCase& c : cases) {
    absl::StatusOr<ProjectsFile> got = ParseProjectsFile(c.yaml, "p.yml");
    ASSERT_FALSE(got.ok()) << c.yaml;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(got.status().message());
    if (c.want.starts_with("p.yml")) {
      EXPECT_THAT(message, StartsWith(std::string(c.want))) << c.yaml;
    } else {
      EXPECT_THAT(message, StartsWith("p.yml:")) << c.yaml;
      EXPECT_THAT(message, HasSubstr(std::string(c.want))) << c.yaml;
    }
  }
}

TEST(ProjectsFile, LoadNamesTheFileInErrors) {
  absl::StatusOr<ProjectsFile> missing =
      LoadProjectsFile("/nonexistent/projects.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("/nonexistent/projects.yml"));
}

TEST(ProjectsFile, EnumNames) {
  EXPECT_EQ(QuotaScopeName(QuotaScope::kProject), "project");
  EXPECT_EQ(QuotaScopeName(QuotaScope::kKey), "key");
  EXPECT_EQ(KeyStatusName(KeyStatus::kActive), "active");
  EXPECT_EQ(KeyStatusName(KeyStatus::kDisabled), "disabled");
}

}  // namespace
}  // namespace tern::config
