#include "backend/ui/html.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::ui {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Escape, ReplacesEveryHtmlSpecialCharacter) {
  EXPECT_EQ(Escape("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
  EXPECT_EQ(Escape("a & b \"c\""), "a &amp; b &quot;c&quot;");
  EXPECT_EQ(Escape("&amp;"), "&amp;amp;");  // no double-unescape trick
  EXPECT_EQ(Escape(""), "");
  EXPECT_EQ(Escape("plain text 123"), "plain text 123");
}

TEST(Escape, AttributeBreakoutsStayInside) {
  // Hostile values meant for an attribute: none of them can close the
  // quoted value or open a tag.
  for (std::string hostile :
       {"\" onmouseover=\"alert(1)", "' onfocus='x", "\"><img src=x>",
        "javascript:alert(1)\"", "</title><script>x</script>"}) {
    const std::string out = Escape(hostile);
    EXPECT_THAT(out, Not(HasSubstr("\""))) << hostile;
    EXPECT_THAT(out, Not(HasSubstr("'"))) << hostile;
    EXPECT_THAT(out, Not(HasSubstr("<"))) << hostile;
    EXPECT_THAT(out, Not(HasSubstr(">"))) << hostile;
  }
}

TEST(Escape, KeepsValidUtf8AndReplacesTheRest) {
  EXPECT_EQ(Escape("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xA6"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xA6");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Escape("a\xFF"
                   "b"),
            "a" + fffd + "b");                            // stray byte
  EXPECT_EQ(Escape("\xC3"), fffd);                        // truncated
  EXPECT_EQ(Escape("\xC0\xBC"), fffd + fffd);             // overlong '<'
  EXPECT_EQ(Escape("\xED\xA0\x80"), fffd + fffd + fffd);  // surrogate
  EXPECT_EQ(Escape("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // >10FFFF
}

TEST(Escape, ControlCharactersBecomeReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Escape(std::string("a\0b", 3)), "a" + fffd + "b");
  EXPECT_EQ(Escape("a\x1b[31mb\x7f"), "a" + fffd + "[31mb" + fffd);
  EXPECT_EQ(Escape("line1\nline2\ttab\r"), "line1\nline2\ttab\r");
}

TEST(Truncate, CutsAtCodePointsWithAnEllipsis) {
  EXPECT_EQ(Truncate("abc", 3), "abc");
  EXPECT_EQ(Truncate("abcd", 3), "abc\xE2\x80\xA6");
  EXPECT_EQ(Truncate("\xC3\xA9\xC3\xA9\xC3\xA9", 2),
            "\xC3\xA9\xC3\xA9\xE2\x80\xA6");
  EXPECT_EQ(Truncate("", 0), "");
}

TEST(Ago, RoundsDownToTheLargestUnit) {
  const int64_t now = 1'000'000'000'000;
  EXPECT_EQ(Ago(now, now), "just now");
  EXPECT_EQ(Ago(now + 5000, now), "just now");  // clock skew
  EXPECT_EQ(Ago(now - 12'000, now), "12s ago");
  EXPECT_EQ(Ago(now - 5 * 60'000 - 1, now), "5m ago");
  EXPECT_EQ(Ago(now - 3 * 3'600'000, now), "3h ago");
  EXPECT_EQ(Ago(now - 2 * 86'400'000LL, now), "2d ago");
}

TEST(FormatUtc, WritesUtc) {
  EXPECT_EQ(FormatUtc(1795294800123), "2026-11-21 21:00:00 UTC");
  EXPECT_EQ(FormatUtc(0), "1970-01-01 00:00:00 UTC");
}

TEST(Sparkline, ScalesBarsToTheMaximum) {
  const std::vector<int64_t> counts = {0, 1, 0, 4};
  const std::string svg = Sparkline(counts, 40, 20, "24h");
  EXPECT_THAT(svg, HasSubstr("<title>5 events in 24h</title>"));
  // Zero buckets draw nothing; 4 is full height, 1 is a quarter.
  EXPECT_THAT(svg, HasSubstr("<rect x=\"10.0\" y=\"15\" width=\"9.0\" "
                             "height=\"5\"/>"));
  EXPECT_THAT(svg, HasSubstr("<rect x=\"30.0\" y=\"0\" width=\"9.0\" "
                             "height=\"20\"/>"));
  EXPECT_EQ(svg.find("<rect x=\"0.0\""), std::string::npos);
  EXPECT_THAT(Sparkline({}, 10, 10, "14d"),
              HasSubstr("<title>0 events in 14d</title></svg>"));
  EXPECT_THAT(Sparkline(counts, 40, 20, "<b>"), HasSubstr("in &lt;b&gt;"));
}

TEST(Sparkline, OneEventAmongManyIsStillVisible) {
  const std::vector<int64_t> counts = {1000, 1};
  EXPECT_THAT(Sparkline(counts, 20, 20, "24h"),
              HasSubstr("y=\"19\" width=\"9.0\" height=\"1\""));
}

TEST(Cat, JoinsViewsAndIntegers) {
  std::string_view view = "v";
  EXPECT_EQ(Cat("a", view, std::string("s"), 42, int64_t{-7}), "avs42-7");
}

}  // namespace
}  // namespace tern::ui
