#include "backend/symbolicate/sourcemap.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "backend/symbolicate/bundle.h"
#include "backend/symbolicate/vlq.h"
#include "gtest/gtest.h"
#include "tests/support/samples.h"

namespace tern::backend::symbolicate {
namespace {

constexpr char kBundle[] =
    "bugsink/artifact_bundles/51a5a327666cf1d11e23adfd55c3becad27ae769.zip";

std::string BugsinkMap() {
  std::string zip = tern::testing::ReadEventSample(kBundle);
  absl::StatusOr<std::string> map =
      ReadBundleEntry(zip, "files/_/_/captureException.min.js.map", 1 << 20);
  EXPECT_TRUE(map.ok()) << map.status();
  return map.ok() ? *map : "";
}

TEST(SourceMapTest, DecodesMappingsOfARealMap) {
  absl::StatusOr<SourceMap> map = SourceMap::Parse(BugsinkMap());
  ASSERT_TRUE(map.ok()) << map.status();
  ASSERT_EQ(map->sources().size(), 1u);
  EXPECT_EQ(map->sources()[0], "captureException.js");
  EXPECT_EQ(map->debug_id(), "9b7990f8-1f25-571a-a422-03bea91eb8ab");
  ASSERT_EQ(map->names().size(), 5u);
  // ";;AAKA,SAASA,...": nothing on the first two lines (the debug-id
  // snippet), then "function bar(){" at line 3 column 0 maps to line 6.
  EXPECT_EQ(map->Lookup(0, 0), nullptr);
  const Token* first = map->Lookup(2, 0);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->src_line, 5u);
  EXPECT_EQ(first->src_col, 0u);
  // "bar" at column 9 carries the name "bar".
  const Token* bar = map->Lookup(2, 9);
  ASSERT_NE(bar, nullptr);
  EXPECT_EQ(map->name(bar->name), "bar");
  EXPECT_EQ(bar->src_line, 5u);
  EXPECT_EQ(bar->src_col, 9u);
  // Column 39 (1-based 40, the event's "bar" frame) is `new Error(...)` on
  // original line 7, column 29 (1-based).
  const Token* throw_site = map->Lookup(2, 39);
  ASSERT_NE(throw_site, nullptr);
  EXPECT_EQ(throw_site->src_line, 6u);
  EXPECT_EQ(throw_site->src_col, 28u);
  EXPECT_EQ(map->SourceLine(0, 6).value_or("?"),
            "    Sentry.captureException(new Error(\"Sentry Test Error\"));");
  EXPECT_EQ(map->SourceLine(0, 5).value_or("?"), "function bar() {");
  EXPECT_EQ(map->SourceLineCount(0), 17u);
  EXPECT_FALSE(map->SourceLine(0, 17).has_value());
  EXPECT_FALSE(map->SourceLine(1, 0).has_value());
}

TEST(SourceMapTest, SourceRootAndMissingContent) {
  absl::StatusOr<SourceMap> map = SourceMap::Parse(
      R"({"version":3,"sourceRoot":"src","sources":["a.js","b.js"],)"
      R"("sourcesContent":["x\ny"],"names":[],"mappings":"AAAA,CCCA"})");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->source(0), "src/a.js");
  EXPECT_EQ(map->source(1), "src/b.js");
  EXPECT_EQ(map->SourceLine(0, 1).value_or("?"), "y");
  EXPECT_FALSE(map->source_content(1).has_value());
  const Token* t = map->Lookup(0, 5);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->source, 1);
  EXPECT_EQ(t->src_line, 1u);
  EXPECT_EQ(t->src_col, 0u);
}

TEST(SourceMapTest, OneFieldSegmentEndsAMapping) {
  absl::StatusOr<SourceMap> map = SourceMap::Parse(
      R"({"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA,K"})");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->Lookup(0, 2)->source, 0);
  EXPECT_EQ(map->Lookup(0, 5)->source, -1);
}

TEST(SourceMapTest, UnsortedColumnsAreSorted) {
  // Second segment goes back 4 columns: still a valid map.
  std::string m;
  EncodeVlq(8, &m);
  m += "AAC,";
  EncodeVlq(-4, &m);
  m += "AAC";
  absl::StatusOr<SourceMap> map = SourceMap::Parse(absl::StrCat(
      R"({"version":3,"sources":["a.js"],"names":[],"mappings":")", m, "\"}"));
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->Lookup(0, 5)->src_col, 2u);
  EXPECT_EQ(map->Lookup(0, 9)->src_col, 1u);
}

TEST(SourceMapTest, IndexMapSectionsAreFlattened) {
  const std::string inner = BugsinkMap();
  // The real map twice: once at line 0, once at line 100 column 7, so
  // indexes of sources and names of the second section are shifted too.
  absl::StatusOr<SourceMap> map = SourceMap::Parse(absl::StrCat(
      R"({"version":3,"sections":[{"offset":{"line":0,"column":0},"map":)",
      inner, R"(},{"offset":{"line":100,"column":7},"map":)",
      R"({"version":3,"sources":["other.js"],"names":["zed"],)"
      R"("mappings":"AAAAA;AACA"}}]})"));
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->sources().size(), 2u);
  EXPECT_EQ(map->Lookup(2, 39)->src_line, 6u);
  EXPECT_EQ(map->Lookup(100, 3), nullptr);  // before the section's column
  const Token* t = map->Lookup(100, 7);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(map->source(t->source), "other.js");
  EXPECT_EQ(map->name(t->name), "zed");
  // The section's second line starts at column 0, not 7.
  const Token* t2 = map->Lookup(101, 0);
  ASSERT_NE(t2, nullptr);
  EXPECT_EQ(t2->src_line, 1u);
}

TEST(SourceMapTest, RejectsBadMaps) {
  const std::string bad[] = {
      "",
      "[]",
      R"({"version":2,"sources":[],"mappings":""})",
      R"({"version":3,"sources":[],"mappings":"AAAA"})",   // no source 0
      R"({"version":3,"sources":["a"],"mappings":"AA"})",  // 2 fields
      R"({"version":3,"sources":["a"],"mappings":"AAAAAA"})",
      R"({"version":3,"sources":["a"],"mappings":"AAAAC"})",  // no names
      R"({"version":3,"sources":["a"],"mappings":"D"})",      // column -1
      R"({"version":3,"sources":["a"],"mappings":"AA!A"})",
      R"({"version":3,"sources":["a"],"mappings":5})",
      R"({"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"x"}]})",
      R"({"version":3,"sections":[{"offset":{"line":-1,"column":0},"map":{}}]})",
      // sections nested deeper than the limit
      R"({"version":3,"sections":[{"offset":{"line":0,"column":0},"map":)"
      R"({"version":3,"sections":[{"offset":{"line":0,"column":0},"map":)"
      R"({"version":3,"sections":[]}}]}}]})",
  };
  for (const std::string& s : bad) {
    EXPECT_FALSE(SourceMap::Parse(s).ok()) << s;
  }
}

TEST(SourceMapTest, LimitsBoundTheWork) {
  ParseLimits limits;
  limits.max_tokens = 3;
  EXPECT_FALSE(
      SourceMap::Parse(R"({"version":3,"sources":["a"],"mappings":"A,A,A,A"})",
                       limits)
          .ok());
  limits.max_bytes = 10;
  EXPECT_FALSE(SourceMap::Parse(BugsinkMap(), limits).ok());
}

}  // namespace
}  // namespace tern::backend::symbolicate
