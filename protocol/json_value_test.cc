#include "protocol/json_value.h"

#include <string>

#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

TEST(JsonValueTest, WalksObjectsArraysAndScalars) {
  auto value = ParseJson(
      R"({"a":{"b":[1,"two",true,null,2.5]},"s":"x\ny","big":12345678901234567})");
  ASSERT_TRUE(value.ok()) << value.status();
  const JsonValue& b = (*value)["a"]["b"];
  ASSERT_TRUE(b.is_array());
  ASSERT_EQ(b.items().size(), 5u);
  EXPECT_EQ(b[0].integer(), 1);
  EXPECT_EQ(b[1].string(), "two");
  EXPECT_TRUE(b[2].boolean());
  EXPECT_TRUE(b[3].is_null());
  EXPECT_DOUBLE_EQ(b[4].number(), 2.5);
  EXPECT_EQ(b[4].integer(), std::nullopt);
  EXPECT_EQ((*value)["s"].string(), "x\ny");
  EXPECT_EQ((*value)["big"].integer(), 12345678901234567);
  EXPECT_EQ((*value)["big"].raw_number(), "12345678901234567");
}

TEST(JsonValueTest, MissingAndMistypedLookupsAreEmpty) {
  auto value = ParseJson(R"({"a":[1],"n":3})");
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE((*value)["nope"]["deeper"][7].is_null());
  EXPECT_EQ((*value)["a"]["key"].kind(), JsonValue::Kind::kNull);
  EXPECT_EQ((*value)["n"].string(), "");
  EXPECT_TRUE((*value)["n"].items().empty());
  EXPECT_EQ((*value).Find("nope"), nullptr);
  EXPECT_EQ((*value)["a"][1].kind(), JsonValue::Kind::kNull);
}

TEST(JsonValueTest, KeepsMemberOrderAndFindsTheFirstDuplicate) {
  auto value = ParseJson(R"({"z":1,"a":2,"z":3})");
  ASSERT_TRUE(value.ok());
  ASSERT_EQ(value->members().size(), 3u);
  EXPECT_EQ(value->members()[0].first, "z");
  EXPECT_EQ(value->members()[1].first, "a");
  EXPECT_EQ((*value)["z"].integer(), 1);
}

TEST(JsonValueTest, SerializesBackToEquivalentJson) {
  const std::string input =
      R"({"a":[1,-2,"q\"uote",{"e":{}},[]],"b":null,"c":false,"d":"é\u0001"})";
  auto value = ParseJson(input);
  ASSERT_TRUE(value.ok());
  std::string out;
  value->AppendJson(&out);
  auto again = ParseJson(out);
  ASSERT_TRUE(again.ok()) << out;
  std::string out2;
  again->AppendJson(&out2);
  EXPECT_EQ(out, out2);
  EXPECT_EQ((*again)["d"].string(), "é\x01");
  EXPECT_EQ((*again)["a"][2].string(), "q\"uote");
}

TEST(JsonValueTest, RejectsBadJsonAndDeepNesting) {
  EXPECT_FALSE(ParseJson("{").ok());
  EXPECT_FALSE(ParseJson("").ok());
  EXPECT_FALSE(ParseJson(R"({"a":1,})").ok());
  std::string deep(200, '[');
  deep.append(200, ']');
  auto status = ParseJson(deep).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  std::string ok_depth(100, '[');
  ok_depth.append(100, ']');
  EXPECT_TRUE(ParseJson(ok_depth).ok());
}

TEST(JsonValueTest, IntegerOnlyForIntegralNumbersThatFit) {
  auto value = ParseJson(R"([3.0, 1e3, 1.5, 18446744073709551615, -7])");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ((*value)[0].integer(), 3);
  EXPECT_EQ((*value)[1].integer(), 1000);
  EXPECT_EQ((*value)[2].integer(), std::nullopt);
  EXPECT_EQ((*value)[3].integer(), std::nullopt);
  EXPECT_EQ((*value)[4].integer(), -7);
}

}  // namespace
}  // namespace tern::protocol
