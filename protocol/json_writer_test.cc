#include "protocol/json_writer.h"

#include <limits>

#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

TEST(JsonWriter, WritesNestedStructuresWithCommas) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("a");
  w.Int(-1);
  w.Key("b");
  w.BeginArray();
  w.Uint(2);
  w.Bool(true);
  w.Null();
  w.BeginObject();
  w.EndObject();
  w.EndArray();
  w.Key("c");
  w.Raw("{\"x\":1}");
  w.EndObject();
  EXPECT_EQ(out, R"({"a":-1,"b":[2,true,null,{}],"c":{"x":1}})");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  std::string out;
  JsonWriter w(&out);
  w.String(std::string_view("a\"b\\c\n\t\x01\x1f\xc3\xa9", 11));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\xc3\xa9\"");
}

TEST(JsonWriter, DoublesRoundTripAndStayFloats) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  w.Double(1.0);
  w.Double(1700000000.123456);
  w.Double(1e300);
  w.Double(std::numeric_limits<double>::quiet_NaN());
  w.EndArray();
  EXPECT_EQ(out, "[1.0,1700000000.123456,1e+300,null]");
}

TEST(JsonWriter, AppendsToExistingContent) {
  std::string out = "x=";
  JsonWriter w(&out);
  w.String("y");
  EXPECT_EQ(out, "x=\"y\"");
}

}  // namespace
}  // namespace tern::protocol
