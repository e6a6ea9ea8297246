// Query strings of the list routes: decoding, defaults, limits, the `is:`
// token, cursors, and the Link header.
#include "backend/api/query.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::api {
namespace {

using ::testing::HasSubstr;

TEST(ApiUrlDecodeTest, EscapesAndPlus) {
  EXPECT_EQ(*UrlDecode("a+b%20c%2Fd%c3%a9"), "a b c/d\xc3\xa9");
  EXPECT_EQ(*UrlDecode(""), "");
  EXPECT_EQ(*UrlDecode("%00"), std::string(1, '\0'));
  for (const char* bad : {"%", "%2", "%zz", "a%g1", "%%"}) {
    EXPECT_FALSE(UrlDecode(bad).ok()) << bad;
  }
}

TEST(ApiUrlEncodeTest, RoundTrips) {
  const std::string text = "is:resolved a&b=c/d \"e\" <f> \xc3\xa9";
  const std::string encoded = UrlEncode(text);
  EXPECT_EQ(encoded.find_first_of(" &=<>\"/"), std::string::npos);
  EXPECT_EQ(*UrlDecode(encoded), text);
}

TEST(ApiQueryParamsTest, FirstValueWinsAndEmptyPairsSkipped) {
  auto p = QueryParams::Parse("a=1&&b&a=2&c=x%20y");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p->Get("a"), "1");
  EXPECT_EQ(*p->Get("b"), "");
  EXPECT_EQ(*p->Get("c"), "x y");
  EXPECT_FALSE(p->Get("d").has_value());
  auto bad = QueryParams::Parse("query=%zz");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("query"));
}

TEST(ApiIssueListParamsTest, Defaults) {
  auto p = ParseIssueListParams("");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->query.status, storage::IssueStatus::kUnresolved);
  EXPECT_EQ(p->query.sort, storage::IssueSort::kLastSeen);
  EXPECT_EQ(p->query.limit, 25);
  EXPECT_EQ(p->query.text, "");
  EXPECT_FALSE(p->query.cursor.has_value());
  EXPECT_EQ(p->link_query, "query=&status=unresolved&sort=lastSeen&limit=25");
}

TEST(ApiIssueListParamsTest, StatusSortLimitAndSentryNames) {
  auto p = ParseIssueListParams("status=all&sort=freq&per_page=100");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->query.status.has_value());
  EXPECT_EQ(p->query.sort, storage::IssueSort::kCount);
  EXPECT_EQ(p->query.limit, 100);
  p = ParseIssueListParams("status=ignored&sort=new&limit=1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->query.status, storage::IssueStatus::kIgnored);
  EXPECT_EQ(p->query.sort, storage::IssueSort::kFirstSeen);
  EXPECT_EQ(p->query.limit, 1);
  EXPECT_EQ(p->link_query, "query=&status=ignored&sort=firstSeen&limit=1");
}

TEST(ApiIssueListParamsTest, QueryTokens) {
  auto p = ParseIssueListParams(
      "status=unresolved&query=is%3Aresolved++Value%20Error%09x");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->query.status, storage::IssueStatus::kResolved);
  EXPECT_EQ(p->query.text, "Value Error x");
  EXPECT_THAT(p->link_query, HasSubstr("status=resolved"));
  EXPECT_THAT(p->link_query, HasSubstr("query=is%3Aresolved"));
  p = ParseIssueListParams("query=100%25+a_b");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->query.text, "100% a_b");
}

TEST(ApiIssueListParamsTest, BadInputNamesTheParameter) {
  const std::pair<const char*, const char*> cases[] = {
      {"status=open", "status"},     {"sort=priority", "sort"},
      {"limit=0", "limit"},          {"limit=101", "limit"},
      {"limit=abc", "limit"},        {"limit=-1", "limit"},
      {"per_page=1000", "per_page"}, {"cursor=abc", "cursor"},
      {"cursor=1:2:3", "cursor"},    {"query=is:open", "query"},
      {"query=%G0", "query"},
  };
  for (const auto& [raw, param] : cases) {
    auto p = ParseIssueListParams(raw);
    ASSERT_FALSE(p.ok()) << raw;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr(param)) << raw;
  }
}

TEST(ApiIssueListParamsTest, Cursor) {
  auto p = ParseIssueListParams("cursor=17%3A4");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->query.cursor.has_value());
  EXPECT_EQ(p->query.cursor->sort_value, 17);
  EXPECT_EQ(p->query.cursor->id, 4);
  // An empty cursor is the first page.
  p = ParseIssueListParams("cursor=");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->query.cursor.has_value());
}

TEST(ApiEventListParamsTest, CursorAndLimit) {
  auto p =
      ParseEventListParams("cursor=5:0123456789abcdef0123456789abcdef&limit=2");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->limit, 2);
  ASSERT_TRUE(p->cursor.has_value());
  EXPECT_EQ(p->cursor->received_ms, 5);
  EXPECT_FALSE(ParseEventListParams("cursor=5:xyz").ok());
  EXPECT_FALSE(ParseEventListParams("limit=500").ok());
}

TEST(ApiLinkHeaderTest, SentryShape) {
  EXPECT_EQ(LinkHeader("http://h/api/0/x/", "limit=2", "5:7"),
            "<http://h/api/0/x/?limit=2&cursor=>; rel=\"previous\"; "
            "results=\"false\"; cursor=\"\", "
            "<http://h/api/0/x/?limit=2&cursor=5%3A7>; rel=\"next\"; "
            "results=\"true\"; cursor=\"5:7\"");
  EXPECT_THAT(LinkHeader("/p/", "limit=2", ""),
              HasSubstr("rel=\"next\"; results=\"false\"; cursor=\"\""));
}

}  // namespace
}  // namespace tern::api
