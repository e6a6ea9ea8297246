#include "protocol/event_id.h"

#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

TEST(EventId, ParsesSimpleAndHyphenatedFormsAlike) {
  auto a = EventId::Parse("fc6d8c0c43fc4630ad850ee518f1b9d0");
  auto b = EventId::Parse("FC6D8C0C-43FC-4630-AD85-0EE518F1B9D0");
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->ToHex(), "fc6d8c0c43fc4630ad850ee518f1b9d0");
}

TEST(EventId, RejectsMalformedIds) {
  for (const char* bad :
       {"", "fc6d8c0c43fc4630ad850ee518f1b9d",
        "fc6d8c0c43fc4630ad850ee518f1b9d00", "gc6d8c0c43fc4630ad850ee518f1b9d0",
        "fc6d8c0c-43fc-4630-ad85_0ee518f1b9d0",
        "{c6d8c0c-43fc-4630-ad85-0ee518f1b9d}",
        "fc6d8c0c43fc-4630-ad85-0ee518f1b9d0"}) {
    EXPECT_FALSE(EventId::Parse(bad).has_value()) << bad;
  }
}

TEST(EventId, HexDigitsMatchToHex) {
  auto id = EventId::Parse("FC6D8C0C-43FC-4630-AD85-0EE518F1B9D0");
  ASSERT_TRUE(id.has_value());
  const EventId::Hex hex = id->HexDigits();
  EXPECT_EQ(hex.view(), id->ToHex());
  EXPECT_EQ(hex.view(), "fc6d8c0c43fc4630ad850ee518f1b9d0");
}

TEST(EventId, RandomIdsAreVersion4) {
  EventId id = EventId::FromRandom(~0ull, ~0ull);
  std::string hex = id.ToHex();
  EXPECT_EQ(hex[12], '4');
  EXPECT_EQ(hex[16], 'b');
  EXPECT_FALSE(id.IsNil());
  EXPECT_TRUE(EventId().IsNil());
}

}  // namespace
}  // namespace tern::protocol
