#include "backend/symbolicate/vlq.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tern::backend::symbolicate {
namespace {

std::vector<int32_t> DecodeAll(std::string_view s, bool* ok) {
  std::vector<int32_t> out;
  size_t pos = 0;
  *ok = true;
  while (pos < s.size()) {
    int32_t v;
    if (!DecodeVlq(s, &pos, &v)) {
      *ok = false;
      break;
    }
    out.push_back(v);
  }
  return out;
}

// The format's own examples and the digits every implementation agrees on
// (Source Map Revision 3; mozilla/source-map's base64-vlq tests).
TEST(VlqTest, KnownVectors) {
  struct Case {
    std::string_view text;
    std::vector<int32_t> values;
  };
  const Case cases[] = {
      {"A", {0}},
      {"C", {1}},
      {"D", {-1}},
      {"E", {2}},
      {"F", {-2}},
      {"e", {15}},
      {"f", {-15}},
      {"gB", {16}},
      {"hB", {-16}},
      {"2H", {123}},
      {"3H", {-123}},
      {"ggB", {512}},
      {"AAAA", {0, 0, 0, 0}},
      {"SAAS", {9, 0, 0, 9}},
      {"AAgBC", {0, 0, 16, 1}},
      {"+/////D", {2147483647}},
      {"//////D", {-2147483647}},
  };
  for (const Case& c : cases) {
    bool ok;
    EXPECT_EQ(DecodeAll(c.text, &ok), c.values) << c.text;
    EXPECT_TRUE(ok) << c.text;
  }
}

TEST(VlqTest, RoundTrip) {
  for (int64_t v = -70000; v <= 70000; v += 7) {
    std::string s;
    EncodeVlq(static_cast<int32_t>(v), &s);
    size_t pos = 0;
    int32_t back;
    ASSERT_TRUE(DecodeVlq(s, &pos, &back)) << v;
    EXPECT_EQ(back, v);
    EXPECT_EQ(pos, s.size());
  }
  for (int32_t v : {INT32_MAX, -INT32_MAX}) {
    std::string s;
    EncodeVlq(v, &s);
    size_t pos = 0;
    int32_t back;
    ASSERT_TRUE(DecodeVlq(s, &pos, &back));
    EXPECT_EQ(back, v);
  }
}

TEST(VlqTest, RejectsBadInput) {
  const std::string_view bad[] = {
      "",          // nothing
      "g",         // continuation bit with nothing after
      "!",         // outside the alphabet
      "g;",        // cut by a separator
      "gggggggB",  // more than 32 bits
      "+/////H",   // 2^31: out of int32 magnitude
  };
  for (std::string_view s : bad) {
    size_t pos = 0;
    int32_t v = 42;
    EXPECT_FALSE(DecodeVlq(s, &pos, &v)) << s;
    EXPECT_EQ(pos, 0u) << s;
  }
}

}  // namespace
}  // namespace tern::backend::symbolicate
