#include "relay/project/project_table.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/http_status.h"
#include "config/projects.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::relay::project {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kExampleKey = "0123456789abcdef0123456789abcdef";

config::Project MakeProject(uint64_t id, std::vector<std::string> keys,
                            std::vector<std::string> origins = {"*"}) {
  config::Project p;
  p.id = id;
  for (std::string& k : keys) {
    config::ProjectKey key;
    key.public_key = std::move(k);
    p.keys.push_back(std::move(key));
  }
  p.allowed_origins = std::move(origins);
  return p;
}

std::shared_ptr<const ProjectTable> MustBuild(const config::ProjectsFile& f,
                                              uint64_t generation = 1) {
  absl::StatusOr<std::shared_ptr<const ProjectTable>> t =
      ProjectTable::Build(f, generation);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : nullptr;
}

// A table with one project whose allowed_origins is `origins`, for the
// origin cases.
std::shared_ptr<const ProjectTable> OriginTable(
    std::vector<std::string> origins) {
  config::ProjectsFile f;
  f.projects.push_back(MakeProject(1, {"k"}, std::move(origins)));
  return MustBuild(f);
}

TEST(ProjectTable, BuildsFromExampleFile) {
  absl::StatusOr<config::ProjectsFile> f = config::LoadProjectsFile(
      std::string(TERN_SOURCE_DIR) + "/config/projects.yml");
  ASSERT_TRUE(f.ok()) << f.status();
  std::shared_ptr<const ProjectTable> t = MustBuild(*f, 7);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->generation(), 7u);
  EXPECT_EQ(t->project_count(), 1u);
  EXPECT_EQ(t->key_count(), 1u);
  const KeyInfo* k = t->FindKey(kExampleKey);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->public_key, kExampleKey);
  EXPECT_EQ(k->project_id, 1u);
  EXPECT_EQ(k->key_id, 0u);
  EXPECT_EQ(k->key_index, 0u);
  EXPECT_EQ(k->status, config::KeyStatus::kActive);
  ASSERT_NE(k->project, nullptr);
  EXPECT_EQ(k->project, t->FindProject(1));
  EXPECT_EQ(k->project->config.slug, "demo");
  EXPECT_TRUE(k->project->allow_any_origin);
  EXPECT_EQ(k->key, &k->project->config.keys[0]);
  const KeyInfo* out = nullptr;
  EXPECT_TRUE(
      CheckKey(*t, kExampleKey, 1, "https://anywhere.example", &out).ok());
  EXPECT_EQ(out, k);
}

TEST(ProjectTable, LookupsOnInlineFile) {
  config::ProjectsFile f;
  config::Quota q;
  q.id = "all";
  q.limit = 10;
  q.window_seconds = 60;
  f.default_quotas.push_back(q);
  f.projects.push_back(MakeProject(1, {"aaa", "bbb"}));
  f.projects.push_back(MakeProject(42, {"ccc"}));
  f.projects[0].keys[1].id = 9;
  f.projects[0].keys[1].status = config::KeyStatus::kDisabled;
  std::shared_ptr<const ProjectTable> t = MustBuild(f, 3);
  ASSERT_NE(t, nullptr);
  f.projects.clear();  // the table owns copies, not views into `f`
  EXPECT_EQ(t->generation(), 3u);
  EXPECT_EQ(t->project_count(), 2u);
  EXPECT_EQ(t->key_count(), 3u);
  ASSERT_EQ(t->default_quotas().size(), 1u);
  EXPECT_EQ(t->default_quotas()[0].id, "all");

  const KeyInfo* b = t->FindKey("bbb");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->project_id, 1u);
  EXPECT_EQ(b->key_id, 9u);
  EXPECT_EQ(b->key_index, 1u);
  EXPECT_EQ(b->status, config::KeyStatus::kDisabled);
  EXPECT_EQ(b->key->public_key, "bbb");

  const KeyInfo* c = t->FindKey(std::string("ccc"));  // any backing storage
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->project_id, 42u);
  EXPECT_EQ(c->project, t->FindProject(42));
  EXPECT_EQ(c->project->config.id, 42u);

  EXPECT_EQ(t->FindKey("ddd"), nullptr);
  EXPECT_EQ(t->FindKey("AAA"), nullptr);  // keys are case-sensitive
  EXPECT_EQ(t->FindKey(""), nullptr);
  EXPECT_EQ(t->FindProject(2), nullptr);
  EXPECT_EQ(t->FindProject(0), nullptr);
}

TEST(ProjectTable, EmptyFileGivesEmptyTable) {
  std::shared_ptr<const ProjectTable> t = MustBuild({}, 0);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->project_count(), 0u);
  EXPECT_EQ(t->FindKey("k"), nullptr);
  EXPECT_EQ(CheckKey(*t, "k", 1, "", nullptr).message(), "unknown public key");
}

// Build's own guards for inputs that did not come through config's
// validator (the map needs unique keys and ids).
TEST(ProjectTable, BuildRejectsWhatItCannotIndex) {
  config::ProjectsFile dup_key;
  dup_key.projects.push_back(MakeProject(1, {"k"}));
  dup_key.projects.push_back(MakeProject(2, {"k"}));
  absl::StatusOr<std::shared_ptr<const ProjectTable>> t =
      ProjectTable::Build(dup_key, 1);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("duplicate public key"));

  config::ProjectsFile dup_id;
  dup_id.projects.push_back(MakeProject(1, {"a"}));
  dup_id.projects.push_back(MakeProject(1, {"b"}));
  t = ProjectTable::Build(dup_id, 1);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("duplicate project id"));

  for (const char* bad :
       {"https://", "http://a b", "example.com:0", "example.com:65536",
        "example.com:x", "1http://a", "*.", ""}) {
    config::ProjectsFile f;
    f.projects.push_back(MakeProject(5, {"k"}, {bad}));
    t = ProjectTable::Build(f, 1);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("project 5: allowed origin"))
        << bad;
  }
}

TEST(CheckKey, EveryOutcome) {
  config::ProjectsFile f;
  f.projects.push_back(
      MakeProject(1, {"active", "off"}, {"https://app.example.com"}));
  f.projects[0].keys[1].status = config::KeyStatus::kDisabled;
  f.projects.push_back(MakeProject(2, {"other"}));
  std::shared_ptr<const ProjectTable> t = MustBuild(f);
  ASSERT_NE(t, nullptr);
  const KeyInfo* out = nullptr;

  EXPECT_TRUE(CheckKey(*t, "active", 1, "https://app.example.com", &out).ok());
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->public_key, "active");

  // No Origin header, and the legacy URL without a project id.
  EXPECT_TRUE(CheckKey(*t, "active", 1, "", &out).ok());
  EXPECT_TRUE(CheckKey(*t, "active", 0, "", &out).ok());
  EXPECT_TRUE(CheckKey(*t, "other", 0, "", nullptr).ok());

  absl::Status s = CheckKey(*t, "nope", 1, "", &out);
  EXPECT_EQ(HttpStatusFor(s), 403);
  EXPECT_EQ(s.message(), "unknown public key");
  EXPECT_EQ(out, nullptr);

  s = CheckKey(*t, "off", 1, "", &out);
  EXPECT_EQ(HttpStatusFor(s), 403);
  EXPECT_EQ(s.message(), "key disabled");
  ASSERT_NE(out, nullptr);  // known key: outcomes can name it
  EXPECT_EQ(out->public_key, "off");

  s = CheckKey(*t, "other", 1, "", &out);
  EXPECT_EQ(HttpStatusFor(s), 403);
  EXPECT_EQ(s.message(), "project mismatch");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->project_id, 2u);

  s = CheckKey(*t, "active", 1, "https://evil.example.org", &out);
  EXPECT_EQ(HttpStatusFor(s), 403);
  EXPECT_EQ(s.message(), "origin not allowed");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->project_id, 1u);

  // Checked in the documented order: disabled before mismatch before origin.
  EXPECT_EQ(
      CheckKey(*t, "off", 2, "https://evil.example.org", nullptr).message(),
      "key disabled");
  EXPECT_EQ(
      CheckKey(*t, "active", 2, "https://evil.example.org", nullptr).message(),
      "project mismatch");
}

TEST(ProjectTable, MergesUpstreamAndFileWins) {
  config::ProjectsFile f;
  f.projects.push_back(MakeProject(1, {"filekey", "shared"}));
  UpstreamProjects up;
  up.enabled = true;
  // Same id as the file's project: left out entirely.
  up.projects.push_back(MakeProject(1, {"ghost"}));
  // Its own project, but one key the file already has: that key is left out.
  up.projects.push_back(
      MakeProject(2, {"upkey", "shared"}, {"https://a.example.com", "bad/"}));
  // A duplicate id within upstream: the first one stays.
  up.projects.push_back(MakeProject(2, {"dup"}));
  up.unknown_keys = {"gone", "filekey"};
  absl::StatusOr<std::shared_ptr<const ProjectTable>> t =
      ProjectTable::Build(f, up, 3);
  ASSERT_TRUE(t.ok()) << t.status();
  const ProjectTable& table = **t;
  EXPECT_EQ(table.generation(), 3u);
  EXPECT_TRUE(table.upstream_enabled());
  EXPECT_EQ(table.project_count(), 2u);
  EXPECT_EQ(table.key_count(), 3u);  // filekey, shared (file), upkey
  EXPECT_EQ(table.FindKey("shared")->project_id, 1u);
  EXPECT_FALSE(table.FindKey("shared")->project->from_upstream);
  ASSERT_NE(table.FindKey("upkey"), nullptr);
  EXPECT_TRUE(table.FindKey("upkey")->project->from_upstream);
  EXPECT_EQ(table.FindKey("ghost"), nullptr);
  EXPECT_EQ(table.FindKey("dup"), nullptr);
  // The unparsable origin is dropped, the good one kept.
  ASSERT_EQ(table.FindProject(2)->origins.size(), 1u);
  EXPECT_FALSE(table.FindProject(2)->allow_any_origin);
  // Project 1 + project 2 + "shared" + "bad/".
  EXPECT_EQ(table.upstream_skipped(), 4u);
  // A key the file holds is never "known unknown"; keys of a left-out
  // upstream project are (final 403, not pending).
  EXPECT_TRUE(table.IsKnownUnknown("gone"));
  EXPECT_TRUE(table.IsKnownUnknown("ghost"));
  EXPECT_TRUE(table.IsKnownUnknown("dup"));
  EXPECT_FALSE(table.IsKnownUnknown("filekey"));
  EXPECT_EQ(table.unknown_key_count(), 3u);
  EXPECT_EQ(CheckKey(table, "ghost", 1, "", nullptr).message(),
            "unknown public key");
}

TEST(CheckKey, PendingOnlyWithUpstream) {
  config::ProjectsFile f;
  f.projects.push_back(MakeProject(1, {"filekey"}));
  UpstreamProjects up;
  up.enabled = true;
  config::Project fetched = MakeProject(2, {"upkey", "offkey"});
  fetched.keys[1].status = config::KeyStatus::kDisabled;
  up.projects.push_back(fetched);
  up.unknown_keys = {"gone"};
  absl::StatusOr<std::shared_ptr<const ProjectTable>> t =
      ProjectTable::Build(f, up, 1);
  ASSERT_TRUE(t.ok()) << t.status();
  const KeyInfo* out = nullptr;

  EXPECT_TRUE(CheckKey(**t, "filekey", 1, "", &out).ok());
  EXPECT_TRUE(CheckKey(**t, "upkey", 2, "", &out).ok());
  EXPECT_EQ(out->project_id, 2u);
  EXPECT_EQ(CheckKey(**t, "offkey", 2, "", &out).message(), "key disabled");

  absl::Status s = CheckKey(**t, "newkey", 2, "", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpStatusFor(s), 503);
  EXPECT_EQ(s.message(), "project config pending");
  EXPECT_EQ(out, nullptr);

  s = CheckKey(**t, "gone", 2, "", &out);
  EXPECT_EQ(HttpStatusFor(s), 403);
  EXPECT_EQ(s.message(), "unknown public key");

  // The same inputs without an upstream: an absent key is final.
  up.enabled = false;
  t = ProjectTable::Build(f, up, 2);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(CheckKey(**t, "newkey", 2, "", &out).message(),
            "unknown public key");
  // The file-only Build is the same as an upstream that is off.
  t = ProjectTable::Build(f, 3);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE((*t)->upstream_enabled());
  EXPECT_EQ(CheckKey(**t, "newkey", 1, "", &out).message(),
            "unknown public key");
}

TEST(ProjectTable, FileErrorsStillFailMergedBuild) {
  config::ProjectsFile f;
  f.projects.push_back(MakeProject(1, {"k"}));
  f.projects.push_back(MakeProject(1, {"j"}));
  UpstreamProjects up;
  up.enabled = true;
  absl::StatusOr<std::shared_ptr<const ProjectTable>> t =
      ProjectTable::Build(f, up, 1);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("duplicate project id"));
}

struct OriginCase {
  std::vector<std::string> allowed;
  std::string origin;
  bool want;
};

TEST(OriginAllowed, Table) {
  const std::vector<OriginCase> cases = {
      // No header: allowed whatever the list says.
      {{}, "", true},
      {{"https://a.com"}, "", true},
      // "*" allows everything, even what does not parse.
      {{"*"}, "https://x.org", true},
      {{"*"}, "null", true},
      {{"https://a.com", "*"}, "garbage", true},
      // An empty list allows no browser origin.
      {{}, "https://a.com", false},
      // Exact scheme://host.
      {{"https://a.com"}, "https://a.com", true},
      {{"https://a.com"}, "http://a.com", false},
      {{"https://a.com"}, "https://b.com", false},
      {{"https://a.com"}, "https://sub.a.com", false},
      {{"https://a.com"}, "https://a.com.evil.org", false},
      // Case-insensitive on both sides.
      {{"https://a.com"}, "HTTPS://A.Com", true},
      {{"HTTPS://A.COM"}, "https://a.com", true},
      // No scheme in the entry: any scheme.
      {{"a.com"}, "http://a.com", true},
      {{"a.com"}, "https://a.com", true},
      {{"a.com"}, "chrome-extension://a.com", true},
      {{"a.com"}, "https://b.a.com", false},
      // "*.host": the host itself and its subdomains, on a dot boundary.
      {{"*.a.com"}, "https://b.a.com", true},
      {{"*.a.com"}, "https://c.b.a.com", true},
      {{"*.a.com"}, "https://a.com", true},
      {{"*.a.com"}, "https://bada.com", false},
      {{"*.a.com"}, "https://a.com.evil.org", false},
      {{"*.a.com"}, "https://B.A.COM:8443", true},
      {{"https://*.a.com"}, "https://b.a.com", true},
      {{"https://*.a.com"}, "http://b.a.com", false},
      // Ports: an entry without a port allows any port; with one, it must
      // match, and a missing origin port means the scheme's default.
      {{"https://a.com"}, "https://a.com:8443", true},
      {{"a.com:8080"}, "http://a.com:8080", true},
      {{"a.com:8080"}, "http://a.com:8081", false},
      {{"a.com:8080"}, "http://a.com", false},
      {{"a.com:443"}, "https://a.com", true},
      {{"a.com:80"}, "http://a.com", true},
      {{"https://a.com:443"}, "https://a.com:443", true},
      {{"http://localhost:3000"}, "http://localhost:3000", true},
      {{"http://localhost:3000"}, "http://localhost:5173", false},
      {{"a.com:8080"}, "foo://a.com", false},  // no default port for foo
      // A Referer: path, query and fragment are ignored.
      {{"https://a.com"}, "https://a.com/page?q=1#x", true},
      {{"https://a.com"}, "https://a.com:8443/", true},
      {{"https://a.com"}, "https://a.com?x", true},
      {{"https://a.com"}, "https://evil.org/https://a.com", false},
      // Malformed origins are not allowed.
      {{"a.com"}, "null", false},
      {{"a.com"}, "a.com", false},
      {{"a.com"}, "://a.com", false},
      {{"a.com"}, "https://", false},
      {{"a.com"}, "https://:443", false},
      {{"a.com"}, "https://a.com:", false},
      {{"a.com"}, "https://a.com:0", false},
      {{"a.com"}, "https://a.com:65536", false},
      {{"a.com"}, "https://a.com:80x", false},
      {{"a.com"}, "https://user@a.com", false},
      {{"a.com"}, "https://a.com@evil.org", false},
      {{"a.com"}, "https://[::1]", false},
      {{"a.com"}, "1ttp://a.com", false},
      {{"a.com"}, "https://a com", false},
      // Several entries: any match wins.
      {{"https://a.com", "*.b.org", "c.net:81"}, "http://x.b.org", true},
      {{"https://a.com", "*.b.org", "c.net:81"}, "http://c.net:81", true},
      {{"https://a.com", "*.b.org", "c.net:81"}, "http://c.net", false},
  };
  for (const OriginCase& c : cases) {
    std::shared_ptr<const ProjectTable> t = OriginTable(c.allowed);
    ASSERT_NE(t, nullptr);
    const ProjectSettings* p = t->FindProject(1);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(OriginAllowed(*p, c.origin), c.want)
        << "origin \"" << c.origin << "\" against \""
        << testing::PrintToString(c.allowed) << "\"";
  }
}

TEST(OriginAllowed, PatternsArePrecomputed) {
  std::shared_ptr<const ProjectTable> t =
      OriginTable({"*.Example.com:8080", "HTTP://b.org"});
  ASSERT_NE(t, nullptr);
  const ProjectSettings* p = t->FindProject(1);
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->allow_any_origin);
  ASSERT_EQ(p->origins.size(), 2u);
  EXPECT_EQ(p->origins[0].scheme, "");
  EXPECT_EQ(p->origins[0].host, "example.com");
  EXPECT_TRUE(p->origins[0].subdomains);
  EXPECT_EQ(p->origins[0].port, 8080u);
  EXPECT_EQ(p->origins[1].scheme, "http");
  EXPECT_EQ(p->origins[1].host, "b.org");
  EXPECT_FALSE(p->origins[1].subdomains);
  EXPECT_EQ(p->origins[1].port, 0u);
}

}  // namespace
}  // namespace tern::relay::project
