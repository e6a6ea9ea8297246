#include "backend/symbolicate/url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::backend::symbolicate {
namespace {

using ::testing::ElementsAre;

TEST(UrlTest, CandidatesForHttpUrl) {
  EXPECT_THAT(UrlCandidates("https://example.com/static/app.min.js?v=3#x"),
              ElementsAre("https://example.com/static/app.min.js?v=3",
                          "https://example.com/static/app.min.js",
                          "~/static/app.min.js?v=3", "~/static/app.min.js"));
}

TEST(UrlTest, CandidatesForFileUrlAndPath) {
  EXPECT_THAT(UrlCandidates("file:///mnt/dev/captureException.min.js"),
              ElementsAre("file:///mnt/dev/captureException.min.js",
                          "~/mnt/dev/captureException.min.js"));
  EXPECT_THAT(UrlCandidates("app:///dist/app.js"),
              ElementsAre("app:///dist/app.js", "~/dist/app.js"));
  EXPECT_THAT(UrlCandidates("/srv/app/dist/main.js"),
              ElementsAre("/srv/app/dist/main.js", "~/srv/app/dist/main.js"));
  EXPECT_THAT(UrlCandidates("~/a.js"), ElementsAre("~/a.js"));
  EXPECT_TRUE(UrlCandidates("").empty());
}

TEST(UrlTest, Join) {
  EXPECT_EQ(JoinUrl("https://h.com/static/js/app.min.js", "app.min.js.map"),
            "https://h.com/static/js/app.min.js.map");
  EXPECT_EQ(JoinUrl("https://h.com/static/js/app.min.js", "../src/a.ts"),
            "https://h.com/static/src/a.ts");
  EXPECT_EQ(JoinUrl("https://h.com/static/js/app.min.js", "/maps/a.map"),
            "https://h.com/maps/a.map");
  EXPECT_EQ(JoinUrl("https://h.com/a/b.js", "//cdn.com/x.map"),
            "https://cdn.com/x.map");
  EXPECT_EQ(JoinUrl("https://h.com/a/b.js", "webpack:///./src/x.js"),
            "webpack:///./src/x.js");
  EXPECT_EQ(JoinUrl("~/dist/app.js.map", "../src/app.js"), "~/src/app.js");
  EXPECT_EQ(JoinUrl("/srv/dist/app.js", "app.js.map"), "/srv/dist/app.js.map");
  EXPECT_EQ(JoinUrl("/srv/dist/app.js.map", "../../../../x.js"), "/x.js");
  EXPECT_EQ(JoinUrl("file:///mnt/dev/c.min.js.map", "c.js"),
            "file:///mnt/dev/c.js");
}

TEST(UrlTest, Filename) {
  EXPECT_EQ(FilenameForUrl("webpack:///./src/components/App.js"),
            "src/components/App.js");
  EXPECT_EQ(FilenameForUrl("webpack://my-app/./src/x.js"), "src/x.js");
  EXPECT_EQ(FilenameForUrl("app:///src/x.js"), "src/x.js");
  EXPECT_EQ(FilenameForUrl("https://example.com/static/app.js"),
            "/static/app.js");
  EXPECT_EQ(FilenameForUrl("/srv/src/app.js"), "/srv/src/app.js");
}

TEST(UrlTest, SourceMappingUrl) {
  EXPECT_EQ(FindSourceMappingUrl("a()\n//# sourceMappingURL=a.js.map\n"),
            "a.js.map");
  EXPECT_EQ(FindSourceMappingUrl("a()\n//@ sourceMappingURL=old.map"),
            "old.map");
  EXPECT_EQ(FindSourceMappingUrl(
                "//# sourceMappingURL=first.map\nx\n//# sourceMappingURL="
                "last.map\n//# debugId=1\n"),
            "last.map");
  EXPECT_EQ(FindSourceMappingUrl("no comment"), "");
  EXPECT_EQ(FindSourceMappingUrl(""), "");
}

}  // namespace
}  // namespace tern::backend::symbolicate
