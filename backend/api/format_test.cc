// The API's wire details without a server: short ids, times, cursors, the
// issue/event JSON and the project configs served to relays.
#include "backend/api/format.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/json_value.h"

namespace tern::api {
namespace {

using ::testing::ElementsAre;

protocol::JsonValue Parse(const std::string& json) {
  auto v = protocol::ParseJson(json);
  EXPECT_TRUE(v.ok()) << v.status() << " in " << json;
  return v.ok() ? *std::move(v) : protocol::JsonValue();
}

TEST(ApiShortIdTest, UppercaseSlugAndSentryBase32) {
  EXPECT_EQ(ShortId("backend", 1), "BACKEND-1");
  EXPECT_EQ(ShortId("backend", 31), "BACKEND-Z");
  EXPECT_EQ(ShortId("backend", 32), "BACKEND-10");
  EXPECT_EQ(ShortId("my-app", 33), "MY-APP-11");
  // 10..17 skip I and L: 18 is J, 20 is M, 27 is V (no U).
  EXPECT_EQ(ShortId("a", 18), "A-J");
  EXPECT_EQ(ShortId("a", 20), "A-M");
  EXPECT_EQ(ShortId("a", 27), "A-V");
  EXPECT_EQ(ShortId("a", 32 * 32 * 5 + 32 * 3 + 7), "A-537");
  EXPECT_EQ(ShortId("a", 0), "A-0");
}

TEST(ApiFormatTimeTest, IsoUtcWithMilliseconds) {
  EXPECT_EQ(FormatTimeMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimeMs(1795294800123), "2026-11-21T21:00:00.123Z");
  EXPECT_EQ(FormatTimeMs(1795294800005), "2026-11-21T21:00:00.005Z");
}

TEST(ApiCursorTest, IssueCursorRoundTripsAndRejectsJunk) {
  const storage::IssueCursor c{1795294800123, 42};
  EXPECT_EQ(EncodeIssueCursor(c), "1795294800123:42");
  auto back = ParseIssueCursor(EncodeIssueCursor(c));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->sort_value, c.sort_value);
  EXPECT_EQ(back->id, c.id);
  auto negative = ParseIssueCursor("-5:3");
  ASSERT_TRUE(negative.has_value());
  EXPECT_EQ(negative->sort_value, -5);
  for (const char* bad :
       {"", ":", "1", "1:", ":1", "a:1", "1:a", "1:2:3", "+1:2", " 1:2", "1:-2",
        "99999999999999999999:1", "1:1234567890123456789", "-:1"}) {
    EXPECT_FALSE(ParseIssueCursor(bad).has_value()) << bad;
  }
}

TEST(ApiCursorTest, EventCursorRoundTripsAndRejectsJunk) {
  const storage::EventCursor c{1795294800123,
                               "0123456789abcdef0123456789abcdef"};
  const std::string text = EncodeEventCursor(c);
  EXPECT_EQ(text, "1795294800123:0123456789abcdef0123456789abcdef");
  auto back = ParseEventCursor(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->received_ms, c.received_ms);
  EXPECT_EQ(back->event_id, c.event_id);
  for (const char* bad :
       {"", "1:", "1:0123", "x:0123456789abcdef0123456789abcdef",
        "1:0123456789ABCDEF0123456789ABCDEF",
        "1:0123456789abcdef0123456789abcdeg"}) {
    EXPECT_FALSE(ParseEventCursor(bad).has_value()) << bad;
  }
}

TEST(ApiWriteIssueTest, SentryShape) {
  storage::Project project{7, "Backend", "backend", 0, "", ""};
  storage::Issue issue;
  issue.id = 123;
  issue.project_id = 7;
  issue.short_id = 33;
  issue.fields.title = "ValueError: bad \"thing\"";
  issue.fields.culprit = "app.views in index";
  issue.fields.level = "error";
  issue.fields.metadata_type = "ValueError";
  issue.fields.metadata_value = "bad \"thing\"";
  issue.fields.metadata_function = "index";
  issue.status = storage::IssueStatus::kResolved;
  issue.first_seen_ms = 1795294800123;
  issue.last_seen_ms = 1795294860000;
  issue.times_seen = 12;
  std::string out;
  protocol::JsonWriter w(&out);
  WriteIssue(w, issue, project);
  const protocol::JsonValue v = Parse(out);
  EXPECT_EQ(v["id"].string(), "123");
  EXPECT_EQ(v["shortId"].string(), "BACKEND-11");
  EXPECT_EQ(v["title"].string(), "ValueError: bad \"thing\"");
  EXPECT_EQ(v["culprit"].string(), "app.views in index");
  EXPECT_EQ(v["level"].string(), "error");
  EXPECT_EQ(v["status"].string(), "resolved");
  EXPECT_EQ(v["count"].string(), "12");
  EXPECT_EQ(v["firstSeen"].string(), "2026-11-21T21:00:00.123Z");
  EXPECT_EQ(v["lastSeen"].string(), "2026-11-21T21:01:00.000Z");
  EXPECT_EQ(v["metadata"]["type"].string(), "ValueError");
  EXPECT_EQ(v["metadata"]["value"].string(), "bad \"thing\"");
  EXPECT_EQ(v["metadata"]["function"].string(), "index");
  EXPECT_EQ(v["metadata"].Find("filename"), nullptr);  // empty: left out
  EXPECT_EQ(v["project"]["id"].string(), "7");
  EXPECT_EQ(v["project"]["slug"].string(), "backend");
  EXPECT_EQ(v["project"]["name"].string(), "Backend");
}

TEST(ApiWriteEventTest, SummaryTagsAndNulls) {
  storage::EventSummary e;
  e.project_id = 3;
  e.event_id = "0123456789abcdef0123456789abcdef";
  e.issue_id = 9;
  e.received_ms = 1795294800123;
  e.timestamp_ms = 1795294800000;
  e.level = "error";
  e.platform = "python";
  e.release = "";
  e.environment = "prod";
  e.tags_json = R"([["browser","Firefox"],["bad"],[1,2],["level","error"]])";
  std::string out;
  protocol::JsonWriter w(&out);
  WriteEventSummary(w, e);
  const protocol::JsonValue v = Parse(out);
  EXPECT_EQ(v["id"].string(), e.event_id);
  EXPECT_EQ(v["eventID"].string(), e.event_id);
  EXPECT_EQ(v["groupID"].string(), "9");
  EXPECT_EQ(v["projectID"].string(), "3");
  EXPECT_EQ(v["dateCreated"].string(), "2026-11-21T21:00:00.000Z");
  EXPECT_EQ(v["dateReceived"].string(), "2026-11-21T21:00:00.123Z");
  EXPECT_EQ(v["platform"].string(), "python");
  EXPECT_TRUE(v["release"].is_null());
  EXPECT_EQ(v["environment"].string(), "prod");
  ASSERT_EQ(v["tags"].items().size(), 2u);
  EXPECT_EQ(v["tags"][size_t{0}]["key"].string(), "browser");
  EXPECT_EQ(v["tags"][size_t{0}]["value"].string(), "Firefox");
  EXPECT_EQ(v["tags"][size_t{1}]["key"].string(), "level");

  e.tags_json = "not json";
  out.clear();
  protocol::JsonWriter w2(&out);
  WriteEventSummary(w2, e);
  EXPECT_TRUE(Parse(out)["tags"].is_array());
}

TEST(ApiWriteEventTest, PayloadEmbeddedAsJsonOrStringWhenBroken) {
  storage::StoredEvent e;
  e.summary.event_id = "0123456789abcdef0123456789abcdef";
  e.summary.tags_json = "[]";
  e.payload = R"({"message":"hi","extra":{"n":[1,2.5,"x"]}})";
  e.attachments.push_back(
      {"a1", "log.txt", "text/plain", "event.attachment", 5});
  std::string out;
  protocol::JsonWriter w(&out);
  WriteStoredEvent(w, e);
  protocol::JsonValue v = Parse(out);
  EXPECT_EQ(v["payload"]["message"].string(), "hi");
  EXPECT_EQ(v["payload"]["extra"]["n"][size_t{2}].string(), "x");
  EXPECT_NE(out.find(e.payload), std::string::npos);  // verbatim
  ASSERT_EQ(v["attachments"].items().size(), 1u);
  EXPECT_EQ(v["attachments"][size_t{0}]["name"].string(), "log.txt");
  EXPECT_EQ(v["attachments"][size_t{0}]["mimetype"].string(), "text/plain");
  EXPECT_EQ(*v["attachments"][size_t{0}]["size"].integer(), 5);

  e.payload = R"({"message": "trunc)";
  out.clear();
  protocol::JsonWriter w2(&out);
  WriteStoredEvent(w2, e);
  v = Parse(out);
  EXPECT_EQ(v["payload"].string(), e.payload);
}

TEST(ApiProjectConfigTest, AllKeysAndMergedDomains) {
  storage::Project project{5, "Web", "web", 0, "", ""};
  std::vector<storage::ProjectKey> keys(3);
  keys[0].id = 10;
  keys[0].public_key = std::string(32, 'a');
  keys[0].settings_json =
      R"({"allowedDomains":["https://a.example","*.b.example"]})";
  keys[1].id = 11;
  keys[1].public_key = std::string(32, 'b');
  keys[1].active = false;
  keys[1].settings_json =
      R"({"allowedOrigins":["*.b.example","https://c.example"]})";
  keys[2].id = 12;
  keys[2].public_key = std::string(32, 'c');
  keys[2].settings_json = "garbage";
  const protocol::ProjectConfig c = ProjectConfigFor(project, keys);
  EXPECT_EQ(c.project_id, 5u);
  EXPECT_EQ(c.slug, "web");
  EXPECT_FALSE(c.disabled);
  ASSERT_EQ(c.public_keys.size(), 3u);
  EXPECT_EQ(c.public_keys[1].public_key, keys[1].public_key);
  EXPECT_EQ(c.public_keys[1].numeric_id, 11u);
  EXPECT_FALSE(c.public_keys[1].is_enabled);
  EXPECT_TRUE(c.public_keys[0].is_enabled);
  EXPECT_THAT(c.allowed_domains, ElementsAre("https://a.example", "*.b.example",
                                             "https://c.example"));

  keys[0].settings_json = "{}";
  keys[1].settings_json = R"({"quotas":[]})";
  EXPECT_THAT(ProjectConfigFor(project, keys).allowed_domains,
              ElementsAre("*"));
}

TEST(ApiProjectConfigTest, QuotasAreTheUnionOfTheKeysById) {
  storage::Project project{5, "Web", "web", 0, "", ""};
  std::vector<storage::ProjectKey> keys(4);
  for (size_t i = 0; i < keys.size(); ++i) {
    keys[i].id = static_cast<int64_t>(10 + i);
    keys[i].public_key = std::string(32, static_cast<char>('a' + i));
  }
  keys[0].settings_json =
      R"({"quotas":[{"id":"shared","limit":5,"window":60},)"
      R"({"id":"per-key","scope":"key","limit":1,"window":1,)"
      R"("categories":["transaction"]}]})";
  // Repeats "shared" with other values (the first key's wins) and adds one.
  keys[1].settings_json =
      R"({"quotas":[{"id":"shared","limit":9,"window":9},)"
      R"({"id":"errors","limit":2,"window":3600,"reasonCode":"r"}]})";
  // Quotas the relay would refuse are not served; nor is this key's other
  // (valid) quota, since the key's list is refused as a whole.
  keys[2].settings_json = R"({"quotas":[{"id":"ok","limit":1,"window":1},)"
                          R"({"id":"bad","limit":1,"window":0}]})";
  keys[3].settings_json = "not json";
  const protocol::ProjectConfig c = ProjectConfigFor(project, keys);
  using protocol::DataCategory;
  using protocol::QuotaConfig;
  using protocol::QuotaScope;
  EXPECT_THAT(
      c.quotas,
      ElementsAre(
          QuotaConfig{"shared", {}, QuotaScope::kProject, 5, 60, ""},
          QuotaConfig{"per-key",
                      {DataCategory::kTransaction},
                      QuotaScope::kKey,
                      1,
                      1,
                      ""},
          QuotaConfig{"errors", {}, QuotaScope::kProject, 2, 3600, "r"}));
  EXPECT_EQ(c.public_keys.size(), 4u);

  for (auto& k : keys) k.settings_json = "{}";
  EXPECT_TRUE(ProjectConfigFor(project, keys).quotas.empty());
}

}  // namespace
}  // namespace tern::api
