// Golden tests of what a notification says: the mail's text and HTML parts,
// the whole MIME message, and each webhook body, compared byte for byte with
// testdata/*.golden. TERN_UPDATE_GOLDEN=1 rewrites the files (then read the
// diff before committing it). Also RFC 2047 subjects and HMAC-SHA256.
#include "backend/alerts/render.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "backend/alerts/delivery.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::alerts {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kFirst = 1796630400000;  // 2026-12-07T08:00:00Z
constexpr int64_t kLast = 1796634000123;   // 2026-12-07T09:00:00.123Z

Notification Sample() {
  Notification n;
  n.trigger = "new_issue";
  n.rule_name = "New errors";
  n.project_slug = "backend";
  n.issue_id = 42;
  n.short_id = "BACKEND-1A";
  n.title = "ZeroDivisionError: division by zero <b>";
  n.culprit = "app.views in divide";
  n.level = "error";
  n.status = "unresolved";
  n.count = 501;
  n.first_seen_ms = kFirst;
  n.last_seen_ms = kLast;
  n.event_id = "0123456789abcdef0123456789abcdef";
  n.url = "https://tern.example.org/issues/42/";
  return n;
}

void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path =
      std::string(TERN_SOURCE_DIR) + "/backend/alerts/testdata/" + name;
  if (std::getenv("TERN_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file " << path;
  std::stringstream golden;
  golden << in.rdbuf();
  EXPECT_EQ(actual, golden.str()) << "golden file " << path;
}

TEST(RenderTest, EmailTextAndHtmlGolden) {
  Email e = RenderEmail(Sample());
  EXPECT_EQ(e.subject,
            "[Tern] New issue in backend: ZeroDivisionError: division by zero "
            "<b>");
  ExpectGolden("new_issue.txt.golden", e.text);
  ExpectGolden("new_issue.html.golden", e.html);
  // The title is escaped in HTML, and the footer carries the URL.
  EXPECT_THAT(e.html, HasSubstr("division by zero &lt;b&gt;"));
  EXPECT_THAT(e.html, Not(HasSubstr("<b>\n")));
  EXPECT_THAT(e.text, HasSubstr("Issue: https://tern.example.org/issues/42/"));
}

TEST(RenderTest, RegressionAndFrequencySubjects) {
  Notification n = Sample();
  n.trigger = "regression";
  EXPECT_EQ(RenderEmail(n).subject.substr(0, 29),
            "[Tern] Regression in backend:");
  n.trigger = "frequency";
  EXPECT_EQ(RenderEmail(n).subject.substr(0, 33),
            "[Tern] Frequent issue in backend:");
  // A title with a line break cannot break the header.
  n.title = "first\r\nBcc: evil@example.org";
  EXPECT_EQ(RenderEmail(n).subject,
            "[Tern] Frequent issue in backend: first  Bcc: evil@example.org");
}

TEST(RenderTest, SummaryGolden) {
  Notification n;
  n.trigger = "summary";
  n.rule_name = "New errors";
  n.project_slug = "backend";
  n.suppressed = 2;
  n.suppressed_issues = {"BACKEND-7 KeyError: 'user'",
                         "BACKEND-8 TimeoutError"};
  n.url = "https://tern.example.org/projects/backend/";
  Email e = RenderEmail(n);
  EXPECT_EQ(e.subject, "[Tern] 2 more alert(s) held back in backend");
  ExpectGolden("summary.txt.golden", e.text);
}

TEST(RenderTest, MimeMessageGolden) {
  MailEnvelope env;
  env.from = "tern@example.org";
  env.to = {"oncall@example.org", "dev@example.org"};
  env.message_id = "tern.7.1796634000123@example.org";
  env.date_ms = kLast;
  env.boundary = "=_tern_7.1796634000123";
  Notification n = Sample();
  n.title = "Überlauf in der Warteschlange";
  ExpectGolden("new_issue.eml.golden", BuildMimeMessage(env, RenderEmail(n)));
}

TEST(RenderTest, WebhookBodiesGolden) {
  const Notification n = Sample();
  ExpectGolden("webhook.json.golden",
               RenderWebhookBody(TargetKind::kWebhook, n, kLast));
  ExpectGolden("slack.json.golden",
               RenderWebhookBody(TargetKind::kSlack, n, kLast));
  ExpectGolden("dingtalk.json.golden",
               RenderWebhookBody(TargetKind::kDingtalk, n, kLast));
  ExpectGolden("feishu.json.golden",
               RenderWebhookBody(TargetKind::kFeishu, n, kLast));
}

TEST(Rfc2047Test, AsciiStaysPlain) {
  EXPECT_EQ(EncodeHeaderWord("[Tern] New issue"), "[Tern] New issue");
  EXPECT_EQ(EncodeHeaderWord(""), "");
}

TEST(Rfc2047Test, Utf8BecomesBase64EncodedWords) {
  // "Grüße" is 47 72 C3 BC C3 9F 65.
  EXPECT_EQ(EncodeHeaderWord("Grüße"), "=?UTF-8?B?R3LDvMOfZQ==?=");
  // Something that looks like an encoded word is encoded too.
  EXPECT_EQ(EncodeHeaderWord("=?x?="), "=?UTF-8?B?PT94Pz0=?=");
}

TEST(Rfc2047Test, LongSubjectsFoldWithoutSplittingCharacters) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "é";  // 80 bytes of 2-byte characters
  const std::string encoded = EncodeHeaderWord(text);
  size_t start = 0;
  int words = 0;
  while (start < encoded.size()) {
    size_t end = encoded.find("\r\n ", start);
    const std::string word = encoded.substr(start, end - start);
    EXPECT_LE(word.size(), 75u) << word;
    EXPECT_TRUE(word.starts_with("=?UTF-8?B?") && word.ends_with("?="));
    ++words;
    start = end == std::string::npos ? encoded.size() : end + 3;
  }
  EXPECT_EQ(words, 2);
  // 44 bytes (22 characters) in the first word, not 45: no split character.
  EXPECT_EQ(encoded.substr(0, encoded.find("?=") + 2),
            "=?UTF-8?B?" + Base64(text.substr(0, 44), false) + "?=");
}

TEST(Base64Test, KnownVectorsAndWrapping) {
  EXPECT_EQ(Base64("", false), "");
  EXPECT_EQ(Base64("f", false), "Zg==");
  EXPECT_EQ(Base64("fo", false), "Zm8=");
  EXPECT_EQ(Base64("foo", false), "Zm9v");
  EXPECT_EQ(Base64("foobar", false), "Zm9vYmFy");
  const std::string wrapped = Base64(std::string(100, 'a'), true);
  EXPECT_EQ(wrapped.find("\r\n"), 76u);
}

TEST(HmacTest, Rfc4231TestCase2) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(RobotSignTest, DingtalkUrlAndFeishuBody) {
  // Expected values computed independently with Python's hmac module.
  EXPECT_EQ(
      DingtalkSignedUrl("https://oapi.dingtalk.com/robot/send?"
                        "access_token=t",
                        "SEC000", 1796634000123),
      "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp="
      "1796634000123&sign=mG7HudKD3pPQA0zm6Q8DYLUdAc04HIyRaDO8KpWtfxY%3D");
  EXPECT_EQ(FeishuSign("SEC000", 1796634000),
            "7oTkNbC7dKpx889fkOgnn5NNyWqDbYMHQvtk+URS7og=");
  EXPECT_THAT(
      RenderWebhookBody(TargetKind::kFeishu, Sample(), 1796634000123,
                        FeishuSign("SEC000", 1796634000)),
      ::testing::StartsWith("{\"timestamp\":\"1796634000\",\"sign\":"
                            "\"7oTkNbC7dKpx889fkOgnn5NNyWqDbYMHQvtk+URS7og=\","
                            "\"msg_type\":\"text\","));
}

TEST(HmacTest, EmptyKeyAndMessage) {
  EXPECT_EQ(HmacSha256Hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

}  // namespace
}  // namespace tern::alerts
