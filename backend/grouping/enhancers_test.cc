// Stack-trace rules: glob semantics, the rule syntax, and the default
// rules' in-app and -group decisions.
#include "backend/grouping/enhancers.h"

#include <vector>

#include "gtest/gtest.h"

namespace tern::grouping {
namespace {

// The frame points to `function` and `package`: literals in these tests.
RuleFrame Native(std::string_view function, std::string_view package = "") {
  RuleFrame f;
  f.family = "native";
  f.function = function;
  if (!package.empty()) f.package = package;
  f.Finish();
  return f;
}

TEST(GlobTest, Semantics) {
  EXPECT_TRUE(GlobMatch("std::*", "std::vector<T>::push_back", false));
  EXPECT_TRUE(GlobMatch("*::operator()*", "foo::operator()", false));
  EXPECT_FALSE(GlobMatch("std::*", "core::x", false));
  // Path mode: * stays within a segment, ** crosses.
  EXPECT_TRUE(GlobMatch("/usr/lib/**", "/usr/lib/system/libc.dylib", true));
  EXPECT_FALSE(GlobMatch("/usr/lib/*", "/usr/lib/system/libc.dylib", true));
  EXPECT_TRUE(GlobMatch("**/*newrelic*/**", "/app/newrelic-agent/x.py", true));
  EXPECT_FALSE(GlobMatch("**/*newrelic*/**", "/app/newrelic.py", true));
  EXPECT_TRUE(GlobMatch("?[[]KSCrash*", "-[KSCrash install]", false));
  EXPECT_TRUE(GlobMatch("*::\\{dtor\\}", "Foo::{dtor}", false));
  EXPECT_TRUE(GlobMatch("a?c", "abc", false));
  EXPECT_FALSE(GlobMatch("a?c", "a/c", true));
}

TEST(EnhancementsTest, ParsesTheDefaultRules) {
  EXPECT_GT(Enhancements::Default().rule_count(), 300u);
  EXPECT_FALSE(Enhancements::Parse("function:foo").ok());  // no action
  EXPECT_FALSE(Enhancements::Parse("bogus:foo -app").ok());
  EXPECT_FALSE(Enhancements::Parse("[ function:foo -app").ok());
  EXPECT_TRUE(Enhancements::Parse("# comment\n\nfunction:foo -app").ok());
}

TEST(EnhancementsTest, CategoriesAndCallerRules) {
  // thread_start is a thread base: -group, and v-group takes every caller.
  std::vector<RuleFrame> frames = {
      Native("stripped_application_code"),
      Native("thread_start", "/usr/lib/system/libsystem_pthread.dylib"),
      Native("my_app_code"),
      Native("__dynamic_cast", "/usr/lib/libc++abi.dylib"),
  };
  RuleException ex;
  const Enhancements& rules = Enhancements::Default();
  rules.ApplyModifications(&frames, ex);
  EXPECT_EQ(rules.category_name(frames[1].category), "threadbase");
  EXPECT_EQ(rules.category_name(frames[3].category), "indirection");
  EXPECT_EQ(frames[2].category, -1);
  // /usr/lib is never in-app.
  EXPECT_FALSE(frames[3].in_app);
  std::vector<std::optional<bool>> group;
  rules.UpdateContributions(frames, ex, &group);
  ASSERT_EQ(group.size(), 4u);
  EXPECT_EQ(group[0], false);  // v-group of the thread base
  EXPECT_EQ(group[1], false);
  EXPECT_EQ(group[2], std::nullopt);
  EXPECT_EQ(group[3], false);
}

TEST(EnhancementsTest, DefaultNotInAppPaths) {
  const Enhancements& rules = Enhancements::Default();
  for (const char* path :
       {"/app/node_modules/react/index.js",
        "/usr/lib/python3/site-packages/django/core.py",
        "/usr/lib/python3/dist-packages/x.py", "/srv/vendor/laravel/x.php",
        "/root/go/pkg/mod/github.com/x/y.go"}) {
    RuleFrame f;
    f.family = "other";
    f.path = path;
    f.in_app = true;  // the client said so; the rules override
    f.Finish();
    std::vector<RuleFrame> frames = {f};
    rules.ApplyModifications(&frames, {});
    EXPECT_FALSE(frames[0].in_app) << path;
  }
  RuleFrame java;
  java.family = "other";
  java.module = "org.springframework.web.Foo";
  java.in_app = true;
  java.Finish();
  std::vector<RuleFrame> frames = {java};
  rules.ApplyModifications(&frames, {});
  EXPECT_FALSE(frames[0].in_app);  // a Java framework

  RuleFrame mine;
  mine.family = "other";
  mine.path = "/srv/app/views.py";
  mine.in_app = true;
  mine.Finish();
  frames = {mine};
  rules.ApplyModifications(&frames, {});
  EXPECT_TRUE(frames[0].in_app);  // no rule: the client's flag stands
}

}  // namespace
}  // namespace tern::grouping
