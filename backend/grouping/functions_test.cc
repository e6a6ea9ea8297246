// Native function-name trimming; expected values produced by Sentry's
// trim_native_function_name (Python) for the same inputs.
#include "backend/grouping/functions.h"

#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace tern::grouping {
namespace {

TEST(TrimFunctionNameTest, NativeTable) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"std::vector<int, std::allocator<int> >::push_back(int const&)",
       "native", "std::vector<T>::push_back"},
      {"void foo::bar<baz>(int, char const*) const", "native", "foo::bar<T>"},
      {"<std::thread::local::LocalKey<T>>::with", "native",
       "std::thread::local::LocalKey<T>::with"},
      {"<T as core::convert::Into<U>>::into", "native",
       "core::convert::Into<T>::into"},
      {"core::ptr::drop_in_place::h1234567890abcdef", "native",
       "core::ptr::drop_in_place"},
      {"memcpy@GLIBC_2.2.5", "native", "memcpy"},
      {"_RtlUserThreadStart@8", "native", "_RtlUserThreadStart"},
      {"@objc ViewController.buttonTapped(_:) -> ()", "swift",
       "ViewController.buttonTapped"},
      {"closure #1 () -> () in Foo.bar() -> ()", "swift", "closure in Foo.bar"},
      {"-[NSObject doesNotRecognizeSelector:]", "cocoa",
       "-[NSObject doesNotRecognizeSelector:]"},
      {"foo() [clone .cold.1]", "native", "foo"},
      {"operator<<(std::ostream&, Foo const&)", "native", "operator<<"},
      {"Foo::operator()(int)", "native", "Foo::operator()"},
      {"main::$_0::operator()() const", "native", "main::lambda::operator()"},
      {"`anonymous namespace'::crash()", "native",
       "`anonymous namespace'::crash"},
      {"?A0x12345678::foo::bar", "native", "`anonymous namespace'::foo::bar"},
      {"<unknown>", "native", "<unknown>"},
      {"unsigned int whatever(int)", "native", "whatever"},
      {"{lambda(int)#1}::operator()(int) const", "native",
       "lambda::operator()"},
      {"Foo<Bar>::baz<Qux>()", "native", "Foo<T>::baz<T>"},
      {"static Foo.bar() throws -> Int", "swift", "Foo.bar"},
  };
  for (const auto& [in, platform, out] : cases) {
    EXPECT_EQ(TrimFunctionName(in, platform), out) << in;
  }
}

TEST(TrimFunctionNameTest, OtherPlatforms) {
  EXPECT_EQ(TrimFunctionName("Foo.Bar (System.String x)", "csharp"), "Foo.Bar");
  // Non-native platforms keep the name as sent.
  EXPECT_EQ(TrimFunctionName("foo(int)", "python"), "foo(int)");
  EXPECT_EQ(TrimFunctionName("Object.foo", "javascript"), "Object.foo");
}

TEST(TrimFunctionNameTest, Families) {
  EXPECT_EQ(BehaviorFamily("cocoa"), "native");
  EXPECT_EQ(BehaviorFamily("c"), "native");
  EXPECT_EQ(BehaviorFamily("node"), "javascript");
  EXPECT_EQ(BehaviorFamily("python"), "other");
}

TEST(TrimFunctionNameTest, HostileInputsDoNotCrash) {
  for (const char* s : {"", " ", "<<<<", ">>>", "(((", ")", "->", " -> ", "@",
                        "@1", "a@", "::h", "[clone .x",
                        "initialization "
                        "expression of",
                        "operator<", "{lambda(", "$_"}) {
    (void)TrimFunctionName(s, "native");
    (void)TrimFunctionName(s, "swift");
  }
}

}  // namespace
}  // namespace tern::grouping
