#include "backend/symbolicate/symbolicator.h"

#include <string>

#include "absl/strings/str_replace.h"
#include "backend/symbolicate/bundle_source.h"
#include "gtest/gtest.h"
#include "protocol/json_value.h"
#include "tests/support/samples.h"

namespace tern::backend::symbolicate {
namespace {

using protocol::JsonValue;

constexpr char kCaptureBundle[] =
    "bugsink/artifact_bundles/51a5a327666cf1d11e23adfd55c3becad27ae769.zip";
constexpr char kBundledBundle[] =
    "bugsink/artifact_bundles/fc8564966f3dff67e1d59a984f97e0d6beb6debb.zip";
constexpr int64_t kProject = 7;

class SymbolicatorTest : public ::testing::Test {
 protected:
  void AddBundle(const char* path, std::string_view release = "") {
    ASSERT_TRUE(
        source_.Add(kProject, tern::testing::ReadEventSample(path), release)
            .ok());
  }

  JsonValue Process(std::string_view event) {
    std::optional<std::string> out = symbolicator_.Process(kProject, event);
    EXPECT_TRUE(out.has_value());
    absl::StatusOr<JsonValue> v = protocol::ParseJson(out.value_or("{}"));
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : JsonValue();
  }

  // The frames the bugsink samples must map to (captureException.js, as in
  // the bundle's sourcesContent), innermost last as in the event.
  static void ExpectOriginalFrames(const JsonValue& frames,
                                   std::string_view abs_path,
                                   int64_t line_shift) {
    ASSERT_EQ(frames.items().size(), 4u);
    // index.html has no map: left as it is.
    EXPECT_EQ(frames[0]["function"].string(), "onclick");
    EXPECT_FALSE(frames[0].Find("data"));
    struct Want {
      std::string_view function;
      int64_t line, col;
      std::string_view context;
    };
    const Want want[] = {
        {"captureException", 15, 5, "    foo();"},
        {"foo", 11, 5, "    bar();"},
        {"bar", 7, 29,
         "    Sentry.captureException(new Error(\"Sentry Test Error\"));"},
    };
    for (int i = 0; i < 3; ++i) {
      const JsonValue& f = frames[i + 1];
      EXPECT_EQ(f["abs_path"].string(), abs_path) << i;
      EXPECT_EQ(f["function"].string(), want[i].function) << i;
      EXPECT_EQ(f["lineno"].integer(), want[i].line - line_shift) << i;
      EXPECT_EQ(f["colno"].integer(), want[i].col) << i;
      EXPECT_EQ(f["context_line"].string(), want[i].context) << i;
      EXPECT_EQ(f["pre_context"].items().size(),
                std::min<int64_t>(5, want[i].line - line_shift - 1))
          << i;
      EXPECT_TRUE(f["data"]["symbolicated"].boolean()) << i;
      EXPECT_TRUE(f["in_app"].boolean()) << i;
    }
  }

  MemoryBundleSource source_;
  Symbolicator symbolicator_{&source_, SymbolicatorOptions()};
};

TEST_F(SymbolicatorTest, BugsinkSampleByDebugId) {
  AddBundle(kCaptureBundle);
  const std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  JsonValue out = Process(event);
  const JsonValue& exc = out["exception"]["values"][0];
  ExpectOriginalFrames(exc["stacktrace"]["frames"],
                       "file:///mnt/datacrypt/dev/mksourcemaps/"
                       "captureException.js",
                       0);
  const JsonValue& bar = exc["stacktrace"]["frames"][3];
  EXPECT_EQ(bar["filename"].string(),
            "/mnt/datacrypt/dev/mksourcemaps/captureException.js");
  EXPECT_EQ(bar["data"]["sourcemap"].string(),
            "file:///mnt/datacrypt/dev/mksourcemaps/"
            "captureException.min.js.map");
  EXPECT_EQ(bar["data"]["resolved_with"].string(), "debug-id");
  EXPECT_EQ(bar["post_context"][0].string(), "}");
  // The minified frames are kept as they came.
  const JsonValue& raw = exc["raw_stacktrace"]["frames"];
  ASSERT_EQ(raw.items().size(), 4u);
  EXPECT_EQ(raw[3]["abs_path"].string(), "");
  EXPECT_EQ(raw[3]["filename"].string(),
            "file:///mnt/datacrypt/dev/mksourcemaps/captureException.min.js");
  EXPECT_EQ(raw[3]["lineno"].integer(), 3);
  EXPECT_EQ(raw[3]["colno"].integer(), 40);
  // The inline script of index.html has no map: Sentry says so.
  ASSERT_EQ(out["errors"].items().size(), 1u);
  EXPECT_EQ(out["errors"][0]["type"].string(), "js_no_source");
  EXPECT_EQ(out["errors"][0]["url"].string(),
            "file:///mnt/datacrypt/dev/mksourcemaps/index.html");
  // Everything else of the event is untouched.
  EXPECT_EQ(out["event_id"].string(), "af4d4093e2d548bea61683abecb8ee95");
  EXPECT_EQ(out["debug_meta"]["images"][0]["type"].string(), "sourcemap");
  EXPECT_EQ(symbolicator_.stats().frames_mapped.load(), 3);
}

TEST_F(SymbolicatorTest, BugsinkMultiFileSampleByDebugId) {
  AddBundle(kBundledBundle);
  const std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle-multi-file.json");
  JsonValue out = Process(event);
  // bundled.min.js's map has no leading blank lines in its sourcesContent.
  ExpectOriginalFrames(
      out["exception"]["values"][0]["stacktrace"]["frames"],
      "file:///home/klaas/dev/mksourcemaps/captureException.js", 5);
}

TEST_F(SymbolicatorTest, ByReleaseAndTildeUrl) {
  AddBundle(kCaptureBundle, "my-project-name@2.3.12");
  std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  // No debug IDs: the release and the "~/" URL must find the files.
  event = absl::StrReplaceAll(
      event,
      {{"\"debug_meta\"", "\"no_debug_meta\""},
       {"file:///mnt/datacrypt/dev/mksourcemaps/", "https://example.com/"}});
  JsonValue out = Process(event);
  const JsonValue& frames =
      out["exception"]["values"][0]["stacktrace"]["frames"];
  ExpectOriginalFrames(frames, "https://example.com/captureException.js", 0);
  EXPECT_EQ(frames[3]["data"]["resolved_with"].string(), "release");
  EXPECT_EQ(frames[3]["data"]["sourcemap"].string(),
            "https://example.com/captureException.min.js.map");
  EXPECT_EQ(frames[3]["filename"].string(), "/captureException.js");
}

TEST_F(SymbolicatorTest, ModuleOfTheMinifiedFileIsDropped) {
  AddBundle(kCaptureBundle);
  std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  event =
      absl::StrReplaceAll(event, {{"\"function\": \"bar\",",
                                   "\"function\": \"bar\", "
                                   "\"module\": \"captureException.min\","}});
  JsonValue out = Process(event);
  const JsonValue& exc = out["exception"]["values"][0];
  EXPECT_FALSE(exc["stacktrace"]["frames"][3].Find("module"));
  EXPECT_EQ(exc["raw_stacktrace"]["frames"][3]["module"].string(),
            "captureException.min");
}

TEST_F(SymbolicatorTest, WarmCacheLoadsNothing) {
  AddBundle(kCaptureBundle);
  const std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  ASSERT_TRUE(symbolicator_.Process(kProject, event).has_value());
  const int loads = source_.loads();
  EXPECT_EQ(loads, 2);  // the map and the minified source
  ASSERT_TRUE(symbolicator_.Process(kProject, event).has_value());
  EXPECT_EQ(source_.loads(), loads);
  EXPECT_GT(symbolicator_.stats().cache_hits.load(), 0);
  symbolicator_.ClearCache();
  ASSERT_TRUE(symbolicator_.Process(kProject, event).has_value());
  EXPECT_EQ(source_.loads(), 2 * loads);
}

TEST_F(SymbolicatorTest, CacheStaysWithinItsBound) {
  AddBundle(kCaptureBundle);
  SymbolicatorOptions options;
  options.cache_bytes = 3000;  // room for the map, not for map + source
  Symbolicator small(&source_, options);
  const std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  ASSERT_TRUE(small.Process(kProject, event).has_value());
  EXPECT_LE(small.stats().cache_bytes.load(), 3000);
}

TEST_F(SymbolicatorTest, MissingMapIsAnErrorEntry) {
  // No bundle uploaded: the event is kept, with Sentry's js_no_source.
  const std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  JsonValue out = Process(event);
  const JsonValue& errors = out["errors"];
  ASSERT_EQ(errors.items().size(), 2u);
  EXPECT_EQ(errors[0]["type"].string(), "js_no_source");
  EXPECT_EQ(errors[0]["url"].string(),
            "file:///mnt/datacrypt/dev/mksourcemaps/index.html");
  EXPECT_EQ(errors[1]["type"].string(), "js_no_source");
  EXPECT_EQ(errors[1]["url"].string(),
            "file:///mnt/datacrypt/dev/mksourcemaps/captureException.min.js");
  // Frames unchanged, no raw_stacktrace.
  EXPECT_FALSE(out["exception"]["values"][0].Find("raw_stacktrace"));
  EXPECT_EQ(out["exception"]["values"][0]["stacktrace"]["frames"][3]["colno"]
                .integer(),
            40);
}

TEST_F(SymbolicatorTest, LineOutOfRangeIsAnErrorEntry) {
  AddBundle(kCaptureBundle);
  std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  event = absl::StrReplaceAll(event, {{"\"lineno\": 3", "\"lineno\": 300"}});
  JsonValue out = Process(event);
  const JsonValue& errors = out["errors"];
  ASSERT_EQ(errors.items().size(), 4u);  // index.html: js_no_source
  EXPECT_EQ(errors[1]["type"].string(), "js_invalid_sourcemap_location");
  EXPECT_EQ(errors[1]["row"].integer(), 300);
  EXPECT_EQ(errors[1]["column"].integer(), 121);
}

TEST_F(SymbolicatorTest, KeepsExistingErrors) {
  const std::string event =
      R"({"platform":"javascript","release":"r1","errors":[{"type":"x"}],)"
      R"("exception":{"values":[{"type":"E","stacktrace":{"frames":[)"
      R"({"abs_path":"https://a.com/x.js","lineno":1,"colno":2}]}}]}})";
  JsonValue out = Process(event);
  ASSERT_EQ(out["errors"].items().size(), 2u);
  EXPECT_EQ(out["errors"][0]["type"].string(), "x");
  EXPECT_EQ(out["errors"][1]["type"].string(), "js_no_source");
}

TEST_F(SymbolicatorTest, LeavesOtherEventsAlone) {
  AddBundle(kCaptureBundle);
  EXPECT_FALSE(symbolicator_.Process(kProject, "not json").has_value());
  EXPECT_FALSE(symbolicator_.Process(kProject, "[1]").has_value());
  // Python frames have no columns and are not JavaScript.
  EXPECT_FALSE(symbolicator_
                   .Process(kProject,
                            R"({"platform":"python","exception":{"values":[)"
                            R"({"stacktrace":{"frames":[{"abs_path":"a.py",)"
                            R"("lineno":1,"colno":1}]}}]}})")
                   .has_value());
  // JavaScript without a release or debug IDs: nothing to look up, no error.
  EXPECT_FALSE(symbolicator_
                   .Process(kProject,
                            R"({"platform":"node","exception":{"values":[)"
                            R"({"stacktrace":{"frames":[{"abs_path":"/a.js",)"
                            R"("lineno":1,"colno":1}]}}]}})")
                   .has_value());
  // Another project's bundles are not used.
  const std::string event = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  std::optional<std::string> other = symbolicator_.Process(kProject + 1, event);
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(other->find("js_no_source"), std::string::npos);
}

TEST_F(SymbolicatorTest, BadMapIsAnErrorEntry) {
  // A release file whose map does not parse.
  class BadMapSource : public ArtifactSource {
   public:
    absl::StatusOr<std::optional<ArtifactRef>> FindByDebugId(
        int64_t, std::string_view, ArtifactKind, std::string_view) override {
      return std::nullopt;
    }
    absl::StatusOr<std::optional<ArtifactRef>> FindByUrl(
        int64_t, std::string_view, std::string_view,
        const std::vector<std::string>& urls) override {
      return ArtifactRef{urls[0], urls[0], ""};
    }
    absl::StatusOr<std::string> Load(int64_t, const ArtifactRef& ref) override {
      if (ref.key.ends_with(".map")) return std::string("{\"version\":3,");
      return std::string("x()\n//# sourceMappingURL=x.js.map\n");
    }
  } bad;
  Symbolicator s(&bad, SymbolicatorOptions());
  std::optional<std::string> out = s.Process(
      kProject,
      R"({"platform":"javascript","release":"r1","exception":{"values":[)"
      R"({"stacktrace":{"frames":[{"abs_path":"https://a.com/x.js",)"
      R"("lineno":1,"colno":2}]}}]}})");
  ASSERT_TRUE(out.has_value());
  absl::StatusOr<JsonValue> v = protocol::ParseJson(*out);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)["errors"][0]["type"].string(), "js_invalid_source");
  EXPECT_EQ((*v)["errors"][0]["url"].string(), "https://a.com/x.js.map");
}

}  // namespace
}  // namespace tern::backend::symbolicate
