#include "backend/symbolicate/bundle.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/support/samples.h"

namespace tern::backend::symbolicate {
namespace {

constexpr char kBig[] =
    "bugsink/artifact_bundles/51a5a327666cf1d11e23adfd55c3becad27ae769.zip";
constexpr char kSmall[] =
    "bugsink/artifact_bundles/fc8564966f3dff67e1d59a984f97e0d6beb6debb.zip";

TEST(BundleTest, ReadsARealManifest) {
  std::string zip = tern::testing::ReadEventSample(kBig);
  absl::StatusOr<BundleManifest> m = ReadBundleManifest(zip, {}, true);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->debug_id, "8e8465dd-b68a-50c0-ba3c-a620964132b5");
  EXPECT_EQ(m->org, "singleorg");
  EXPECT_EQ(m->project, "foobar");
  ASSERT_EQ(m->files.size(), 4u);
  bool saw_map = false;
  for (const BundleFile& f : m->files) {
    if (f.type != "source_map") continue;
    saw_map = true;
    EXPECT_EQ(f.url, "~/captureException.min.js.map");
    EXPECT_EQ(f.debug_id, "9b7990f8-1f25-571a-a422-03bea91eb8ab");
    EXPECT_EQ(f.size, 484u);
  }
  EXPECT_TRUE(saw_map);
  absl::StatusOr<std::string> js =
      ReadBundleEntry(zip, "files/_/_/captureException.min.js", 1 << 20);
  ASSERT_TRUE(js.ok()) << js.status();
  EXPECT_NE(js->find("sourceMappingURL=captureException.min.js.map"),
            std::string::npos);
  EXPECT_EQ(ReadBundleEntry(zip, "nope", 100).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(BundleTest, LimitsAreEnforced) {
  std::string zip = tern::testing::ReadEventSample(kBig);
  BundleLimits limits;
  limits.max_file_bytes = 100000;  // bundle.tracing.min.js is 112446
  EXPECT_EQ(ReadBundleManifest(zip, limits, false).status().code(),
            absl::StatusCode::kOutOfRange);
  limits = BundleLimits();
  limits.max_total_bytes = 1000;
  EXPECT_FALSE(ReadBundleManifest(zip, limits, false).ok());
  limits = BundleLimits();
  limits.max_files = 2;
  EXPECT_FALSE(ReadBundleManifest(zip, limits, false).ok());
  EXPECT_FALSE(
      ReadBundleEntry(zip, "files/_/_/bundle.tracing.min.js", 1000).ok());
}

TEST(BundleTest, CorruptArchivesAreRefused) {
  const std::string zip = tern::testing::ReadEventSample(kSmall);
  ASSERT_TRUE(ReadBundleManifest(zip, {}, true).ok());
  EXPECT_EQ(ReadBundleManifest("", {}, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ReadBundleManifest("not a zip at all", {}, true).ok());
  EXPECT_FALSE(
      ReadBundleManifest(zip.substr(0, zip.size() / 2), {}, true).ok());
  // Every single flipped byte is either refused or still reads as a valid
  // bundle; none crashes (ASan tree) or reads a wrong length.
  int refused = 0;
  for (size_t i = 0; i < zip.size(); ++i) {
    std::string bad = zip;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    if (!ReadBundleManifest(bad, {}, true).ok()) ++refused;
  }
  EXPECT_GT(refused, static_cast<int>(zip.size() / 2));
}

TEST(BundleTest, NormalizeDebugId) {
  EXPECT_EQ(NormalizeDebugId("9B7990F8-1F25-571A-A422-03BEA91EB8AB"),
            "9b7990f8-1f25-571a-a422-03bea91eb8ab");
  EXPECT_EQ(NormalizeDebugId("9b7990f81f25571aa42203bea91eb8ab"),
            "9b7990f8-1f25-571a-a422-03bea91eb8ab");
  EXPECT_EQ(NormalizeDebugId("9b7990f8-1f25-571a-a422-03bea91eb8ab-1"),
            "9b7990f8-1f25-571a-a422-03bea91eb8ab");
  EXPECT_EQ(NormalizeDebugId("xyz"), "");
  EXPECT_EQ(NormalizeDebugId(""), "");
}

}  // namespace
}  // namespace tern::backend::symbolicate
