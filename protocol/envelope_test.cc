#include "protocol/envelope.h"

#include <string>
#include <utility>
#include <vector>

#include "common/http_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/samples.h"

namespace tern::protocol {
namespace {

using ::testing::HasSubstr;
using namespace std::string_literals;
using HeaderScan = EnvelopeParser::HeaderScan;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

bool Within(std::string_view view, std::string_view buffer) {
  return view.data() >= buffer.data() &&
         view.data() + view.size() <= buffer.data() + buffer.size();
}

// Every test runs twice: with the fast header scanner and with simdjson
// alone, so the two paths are held to the same results and messages.
class EnvelopeTest : public ::testing::TestWithParam<HeaderScan> {
 protected:
  absl::Status Parse(std::string_view input,
                     const EnvelopeLimits& limits = EnvelopeLimits()) {
    return parser_.Parse(input, limits, &env_);
  }
  // Parses input that must be rejected and returns the message, checking
  // the HTTP status it maps to.
  std::string Reject(std::string_view input, int http_status,
                     const EnvelopeLimits& limits = EnvelopeLimits()) {
    absl::Status s = Parse(input, limits);
    EXPECT_EQ(HttpStatusFor(s), http_status) << s << "\ninput: " << input;
    return Message(s);
  }

  EnvelopeParser parser_{GetParam()};
  Envelope env_;
};

INSTANTIATE_TEST_SUITE_P(BothScanners, EnvelopeTest,
                         ::testing::Values(HeaderScan::kFast,
                                           HeaderScan::kSimdjsonOnly),
                         [](const auto& info) {
                           return info.param == HeaderScan::kFast
                                      ? std::string("Fast")
                                      : std::string("SimdjsonOnly");
                         });

// --- Real SDK shapes ---

TEST_P(EnvelopeTest, NodeSdkEnvelopeWithoutLengths) {
  const std::string session =
      R"({"sid":"7c7b6585f0b44e8bbd8f5e7b1c4a3c1d","init":true,"started":"2024-05-01T12:00:00.000Z","timestamp":"2024-05-01T12:00:00.000Z","status":"ok","errors":0,"attrs":{"release":"app@1.0.0","environment":"production"}})";
  const std::string event =
      R"({"exception":{"values":[{"type":"Error","value":"boom"}]},"level":"error","event_id":"fc6d8c0c43fc4630ad850ee518f1b9d0","platform":"node"})";
  const std::string input =
      R"({"event_id":"fc6d8c0c43fc4630ad850ee518f1b9d0","sent_at":"2024-05-01T12:00:00.123Z","sdk":{"name":"sentry.javascript.node","version":"8.9.2"}})"
      "\n"
      R"({"type":"session"})"
      "\n" +
      session + "\n" + R"({"type":"event"})" + "\n" + event + "\n";
  ASSERT_TRUE(Parse(input).ok()) << Parse(input);
  ASSERT_TRUE(env_.event_id.has_value());
  EXPECT_EQ(env_.event_id->ToHex(), "fc6d8c0c43fc4630ad850ee518f1b9d0");
  EXPECT_EQ(env_.sent_at, "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(env_.dsn, "");
  EXPECT_EQ(env_.header_json, input.substr(0, input.find('\n')));
  ASSERT_EQ(env_.items.size(), 2u);
  EXPECT_EQ(env_.items[0].item_type, ItemType::kSession);
  EXPECT_EQ(env_.items[0].type, "session");
  EXPECT_EQ(env_.items[0].header_json, R"({"type":"session"})");
  EXPECT_EQ(env_.items[0].payload, session);
  EXPECT_EQ(env_.items[1].item_type, ItemType::kEvent);
  EXPECT_EQ(env_.items[1].payload, event);
  for (const EnvelopeItem& item : env_.items) {
    EXPECT_TRUE(Within(item.payload, input));
    EXPECT_TRUE(Within(item.header_json, input));
    EXPECT_TRUE(Within(item.type, input));
  }
}

TEST_P(EnvelopeTest, PythonSdkEnvelopeWithLengths) {
  const std::string event =
      R"({"level":"error","platform":"python","message":"line one\nline two"})";
  const std::string input =
      R"({"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2024-05-01T12:00:00.000000Z","trace":{"trace_id":"4c79f60c11214eb38604f4ae0781bfb2","public_key":"49d0f7386ad645858ae85020e393bef3","sample_rate":"1.0"},"dsn":"https://49d0f7386ad645858ae85020e393bef3@o1.ingest.sentry.io/42"})"
      "\n"
      R"({"type":"event","content_type":"application/json","length":)" +
      std::to_string(event.size()) + "}\n" + event + "\n";
  ASSERT_TRUE(Parse(input).ok()) << Parse(input);
  EXPECT_EQ(env_.dsn,
            "https://49d0f7386ad645858ae85020e393bef3@o1.ingest.sentry.io/42");
  EXPECT_TRUE(Within(env_.dsn, input));
  ASSERT_EQ(env_.items.size(), 1u);
  EXPECT_EQ(env_.items[0].item_type, ItemType::kEvent);
  EXPECT_EQ(env_.items[0].content_type, "application/json");
  EXPECT_EQ(env_.items[0].payload, event);
}

TEST_P(EnvelopeTest, BinaryAttachmentWithNewlinesAndNuls) {
  std::string blob("a\nb\0c\n\n\0", 8);
  blob += std::string(1, '\xff');
  const std::string input =
      "{}\n"
      R"({"type":"attachment","length":9,"filename":"core.dmp","content_type":"application/octet-stream","attachment_type":"event.minidump"})"
      "\n" +
      blob + "\n" + R"({"type":"event","length":2})" + "\n{}";
  ASSERT_TRUE(Parse(input).ok()) << Parse(input);
  ASSERT_EQ(env_.items.size(), 2u);
  const EnvelopeItem& a = env_.items[0];
  EXPECT_EQ(a.item_type, ItemType::kAttachment);
  EXPECT_EQ(a.payload, blob);
  EXPECT_EQ(a.payload.size(), 9u);
  EXPECT_EQ(a.filename, "core.dmp");
  EXPECT_EQ(a.content_type, "application/octet-stream");
  EXPECT_EQ(a.attachment_type, "event.minidump");
  EXPECT_TRUE(Within(a.payload, input));
  EXPECT_EQ(env_.items[1].payload, "{}");
}

TEST_P(EnvelopeTest, CorpusEventAsTheEventPayload) {
  const std::string event = testing::ReadEventSample("sentry/actix.json");
  const std::string input =
      R"({"event_id":"81a7a3dc399345e8a7fbefce9958d76b"})"
      "\n"
      R"({"type":"event","length":)" +
      std::to_string(event.size()) + "}\n" + event + "\n" +
      R"({"type":"attachment","length":5,"filename":"a.txt"})" + "\nhello\n";
  ASSERT_TRUE(Parse(input).ok()) << Parse(input);
  ASSERT_EQ(env_.items.size(), 2u);
  EXPECT_EQ(env_.items[0].payload, event);
  EXPECT_EQ(env_.items[1].payload, "hello");
}

// Every corpus sample, wrapped as an event item, comes back byte for byte:
// as is with `length`, and flattened to one line without it (a payload
// without length ends at the first newline; JSON whitespace may be spaces).
TEST_P(EnvelopeTest, EveryCorpusSampleRoundTripsAsAnEventItem) {
  const std::vector<std::string> samples = testing::AllEventSamples();
  ASSERT_GT(samples.size(), 100u);
  for (const std::string& name : samples) {
    const std::string raw = testing::ReadEventSample(name);
    const std::string with_length =
        "{}\n{\"type\":\"event\",\"length\":" + std::to_string(raw.size()) +
        "}\n" + raw + "\n";
    ASSERT_TRUE(Parse(with_length).ok()) << name << ": " << Parse(with_length);
    ASSERT_EQ(env_.items.size(), 1u) << name;
    EXPECT_EQ(env_.items[0].payload, raw) << name;

    std::string flat = raw;
    for (char& c : flat) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    const std::string without = "{}\n{\"type\":\"event\"}\n" + flat + "\n";
    ASSERT_TRUE(Parse(without).ok()) << name << ": " << Parse(without);
    ASSERT_EQ(env_.items.size(), 1u) << name;
    EXPECT_EQ(env_.items[0].payload, flat) << name;
  }
}

// --- Framing ---

TEST_P(EnvelopeTest, TrailingNewlineIsOptional) {
  for (const std::string input :
       {"{}\n{\"type\":\"event\",\"length\":2}\n{}",
        "{}\n{\"type\":\"event\",\"length\":2}\n{}\n",
        "{}\n{\"type\":\"event\"}\n{}", "{}\n{\"type\":\"event\"}\n{}\n"}) {
    ASSERT_TRUE(Parse(input).ok()) << input << ": " << Parse(input);
    ASSERT_EQ(env_.items.size(), 1u) << input;
    EXPECT_EQ(env_.items[0].payload, "{}") << input;
  }
}

TEST_P(EnvelopeTest, HeaderOnlyEnvelopesHaveNoItems) {
  for (const std::string input : {"{}", "{}\n", "{}\n\n\n", "{\"a\":1}\n \n"}) {
    ASSERT_TRUE(Parse(input).ok()) << input << ": " << Parse(input);
    EXPECT_TRUE(env_.items.empty()) << input;
  }
}

TEST_P(EnvelopeTest, BlankLinesBetweenItemsAreSkipped) {
  const std::string input =
      "{}\n\n{\"type\":\"event\",\"length\":2}\n{}\n\n\r\n"
      "{\"type\":\"session\"}\nS\n\n{\"type\":\"attachment\",\"length\":1}\nA"
      "\n\n";
  ASSERT_TRUE(Parse(input).ok()) << Parse(input);
  ASSERT_EQ(env_.items.size(), 3u);
  EXPECT_EQ(env_.items[0].payload, "{}");
  EXPECT_EQ(env_.items[1].payload, "S");
  EXPECT_EQ(env_.items[2].payload, "A");
}

// The line after a header without length is that item's payload even when
// empty; it is never taken for a blank separator line.
TEST_P(EnvelopeTest, EmptyLineAfterHeaderWithoutLengthIsAnEmptyPayload) {
  ASSERT_TRUE(Parse("{}\n{\"type\":\"a\"}\n\n{\"type\":\"b\"}\nB\n").ok());
  ASSERT_EQ(env_.items.size(), 2u);
  EXPECT_EQ(env_.items[0].type, "a");
  EXPECT_EQ(env_.items[0].payload, "");
  EXPECT_EQ(env_.items[1].type, "b");
  EXPECT_EQ(env_.items[1].payload, "B");
}

TEST_P(EnvelopeTest, LastItemHeaderWithoutPayloadLine) {
  for (const std::string input :
       {"{}\n{\"type\":\"event\"}", "{}\n{\"type\":\"event\"}\n",
        "{}\n{\"type\":\"event\",\"length\":0}",
        "{}\n{\"type\":\"event\",\"length\":0}\n"}) {
    ASSERT_TRUE(Parse(input).ok()) << input << ": " << Parse(input);
    ASSERT_EQ(env_.items.size(), 1u) << input;
    EXPECT_EQ(env_.items[0].payload, "") << input;
  }
}

TEST_P(EnvelopeTest, NullOptionalKeysCountAsAbsent) {
  const std::string input =
      R"({"event_id":null,"dsn":null,"sent_at":null})"
      "\n"
      R"({"type":"attachment","length":null,"filename":null,"content_type":null,"attachment_type":null})"
      "\nline\n";
  ASSERT_TRUE(Parse(input).ok()) << Parse(input);
  EXPECT_FALSE(env_.event_id.has_value());
  EXPECT_EQ(env_.dsn, "");
  ASSERT_EQ(env_.items.size(), 1u);
  EXPECT_EQ(env_.items[0].payload, "line");
  EXPECT_EQ(env_.items[0].filename, "");
}

TEST_P(EnvelopeTest, WhitespaceAndOtherKeysAreAccepted) {
  const std::string input =
      "{ \"event_id\" : \"FC6D8C0C-43FC-4630-AD85-0EE518F1B9D0\" , \"x\" : "
      "[1, 2.5e3, -0, true, false, null, {\"y\": \"z\"}] }\r\n"
      "{\"type\":\"event\", \"length\": 3, \"platform\":\"native\","
      "\"n\":12345678901234567890123}\nabc\n";
  ASSERT_TRUE(Parse(input).ok()) << Parse(input);
  ASSERT_TRUE(env_.event_id.has_value());
  EXPECT_EQ(env_.event_id->ToHex(), "fc6d8c0c43fc4630ad850ee518f1b9d0");
  ASSERT_EQ(env_.items.size(), 1u);
  EXPECT_EQ(env_.items[0].payload, "abc");
}

TEST_P(EnvelopeTest, CrlfLineEndings) {
  const std::string input =
      "{\"event_id\":\"fc6d8c0c43fc4630ad850ee518f1b9d0\"}\r\n"
      "{\"type\":\"event\"}\r\n{\"a\":1}\r\n"
      "{\"type\":\"attachment\",\"length\":2}\r\nab\r\n";
  // The `\r` after a header line is whitespace, but a payload with a length
  // must be followed by `\n` itself.
  EXPECT_THAT(Reject(input, 400),
              HasSubstr("item[1]: missing newline after its 2-byte payload"));
  const std::string fixed = input.substr(0, input.size() - 2) + "\n";
  ASSERT_TRUE(Parse(fixed).ok()) << Parse(fixed);
  ASSERT_EQ(env_.items.size(), 2u);
  EXPECT_EQ(env_.items[0].payload, "{\"a\":1}\r");
  EXPECT_EQ(env_.items[1].payload, "ab");
}

TEST_P(EnvelopeTest, EscapedHeaderStringsAreDecoded) {
  const std::string input =
      R"({"dsn":"https:\/\/key@example.com\/1","sent_at":"2024-05-01T12:00:00Z"})"
      "\n"
      R"({"type":"attachment","length":1,"filename":"r\u00e9sum\u00e9 \"v2\".pdf","content_type":"text\/plain"})"
      "\nx\n";
  ASSERT_TRUE(Parse(input).ok()) << Parse(input);
  EXPECT_EQ(env_.dsn, "https://key@example.com/1");
  EXPECT_EQ(env_.sent_at, "2024-05-01T12:00:00Z");
  EXPECT_TRUE(Within(env_.sent_at, input));
  ASSERT_EQ(env_.items.size(), 1u);
  EXPECT_EQ(env_.items[0].filename, "r\xc3\xa9sum\xc3\xa9 \"v2\".pdf");
  EXPECT_EQ(env_.items[0].content_type, "text/plain");
  EXPECT_FALSE(Within(env_.items[0].filename, input));

  // Decoded strings live in the Envelope and survive a move.
  Envelope moved = std::move(env_);
  EXPECT_EQ(moved.dsn, "https://key@example.com/1");
  EXPECT_EQ(moved.items[0].filename, "r\xc3\xa9sum\xc3\xa9 \"v2\".pdf");
}

TEST_P(EnvelopeTest, UnknownItemTypesAreKept) {
  ASSERT_TRUE(Parse("{}\n{\"type\":\"something_new\"}\nxyz\n").ok());
  ASSERT_EQ(env_.items.size(), 1u);
  EXPECT_EQ(env_.items[0].item_type, ItemType::kUnknown);
  EXPECT_EQ(env_.items[0].type, "something_new");
  EXPECT_EQ(env_.items[0].payload, "xyz");
}

TEST_P(EnvelopeTest, ReusesItemsCapacityAndClearsState) {
  std::string big = R"({"event_id":"fc6d8c0c43fc4630ad850ee518f1b9d0"})"
                    "\n";
  for (int i = 0; i < 50; ++i) big += "{\"type\":\"event\"}\n{}\n";
  ASSERT_TRUE(Parse(big).ok());
  ASSERT_EQ(env_.items.size(), 50u);
  const EnvelopeItem* data = env_.items.data();
  const size_t capacity = env_.items.capacity();
  ASSERT_TRUE(Parse("{}\n{\"type\":\"session\"}\n{}").ok());
  EXPECT_EQ(env_.items.size(), 1u);
  EXPECT_EQ(env_.items.data(), data);
  EXPECT_EQ(env_.items.capacity(), capacity);
  EXPECT_FALSE(env_.event_id.has_value());
}

// --- Errors: 400 ---

TEST_P(EnvelopeTest, RejectsEmptyInput) {
  EXPECT_THAT(Reject("", 400), HasSubstr("empty envelope"));
}

TEST_P(EnvelopeTest, RejectsHeaderThatIsNotAnObject) {
  EXPECT_THAT(Reject("[]\n", 400), HasSubstr("envelope header is not a JSON"));
  EXPECT_THAT(Reject("\"x\"\n", 400), HasSubstr("envelope header"));
  EXPECT_THAT(Reject("42", 400), HasSubstr("envelope header"));
  EXPECT_THAT(Reject("\n{}\n", 400), HasSubstr("envelope header"));
  EXPECT_THAT(Reject("nonsense\n{\"type\":\"event\"}\n{}", 400),
              HasSubstr("envelope header is not a JSON object"));
  EXPECT_THAT(Reject("{\"a\"\n", 400),
              HasSubstr("envelope header is not valid JSON"));
  EXPECT_THAT(Reject("{\"a\":1\n}\n", 400), HasSubstr("envelope header"));
}

TEST_P(EnvelopeTest, RejectsInvalidJsonAnywhereInAHeaderLine) {
  for (const char* header :
       {R"({"type":"event","x":tru})", R"({"type":"event","x":[1,2,]})",
        R"({"type":"event","x":"\q"})", R"({"type":"event",})",
        R"({"type":"event","x":{"y"}})", R"({"type":"event","x":01})",
        R"({"type":"event","x":1.})", R"({"type":"event" "x":1})",
        R"({"type":"event","x":"a)", R"({type:"event"})",
        "{\"type\":\"ev\x01\"}", "{\"type\":\"event\",\"x\":\"\xff\"}",
        R"({"type":"event","x":1e999})"}) {
    const std::string input = "{}\n" + std::string(header) + "\n{}\n";
    EXPECT_THAT(Reject(input, 400), HasSubstr("item[0] header"))
        << "header: " << header;
  }
}

TEST_P(EnvelopeTest, RejectsDataAfterTheHeaderObject) {
  EXPECT_THAT(Reject("{} x\n", 400), HasSubstr("envelope header"));
  EXPECT_THAT(Reject("{}}\n", 400), HasSubstr("envelope header"));
  EXPECT_THAT(Reject("{}\n{\"type\":\"event\"}{}\n{}\n", 400),
              HasSubstr("item[0] header"));
}

TEST_P(EnvelopeTest, RejectsItemHeaderThatIsNotAnObject) {
  EXPECT_THAT(Reject("{}\n[\"event\"]\n{}\n", 400),
              HasSubstr("item[0] header is not a JSON object"));
  EXPECT_THAT(Reject("{}\n{\"type\":\"event\"}\n{}\nnot json\n", 400),
              HasSubstr("item[1] header is not a JSON object"));
  EXPECT_THAT(Reject("{}\n{\"type\":\"event\"}\n{}\n{\"type\"\n", 400),
              HasSubstr("item[1] header is not valid JSON"));
}

TEST_P(EnvelopeTest, RejectsMissingOrNonStringType) {
  EXPECT_THAT(Reject("{}\n{\"length\":2}\n{}\n", 400),
              HasSubstr("item[0] header: missing `type`"));
  EXPECT_THAT(Reject("{}\n{}\n{}\n", 400), HasSubstr("missing `type`"));
  EXPECT_THAT(Reject("{}\n{\"type\":1}\n{}\n", 400),
              HasSubstr("`type` must be a string"));
  EXPECT_THAT(Reject("{}\n{\"type\":null}\n{}\n", 400),
              HasSubstr("`type` must be a string"));
  EXPECT_THAT(Reject("{}\n{\"type\":[\"event\"]}\n{}\n", 400),
              HasSubstr("`type` must be a string"));
}

TEST_P(EnvelopeTest, RejectsBadLength) {
  for (const char* length : {"-1", "1.5", "2.0", "1e2", "\"2\"", "true",
                             "18446744073709551616", "[2]", "-0"}) {
    const std::string input =
        "{}\n{\"type\":\"event\",\"length\":" + std::string(length) + "}\n{}\n";
    EXPECT_THAT(Reject(input, 400),
                HasSubstr("`length` must be a non-negative integer"))
        << "length: " << length;
  }
}

TEST_P(EnvelopeTest, RejectsLengthPastTheEnd) {
  EXPECT_THAT(Reject("{}\n{\"type\":\"event\",\"length\":3}\n{}", 400),
              HasSubstr("item[0] length 3 runs past the end"));
  EXPECT_THAT(Reject("{}\n{\"type\":\"event\",\"length\":1}", 400),
              HasSubstr("runs past the end"));
}

TEST_P(EnvelopeTest, RejectsMissingNewlineAfterLengthDelimitedPayload) {
  EXPECT_THAT(
      Reject("{}\n{\"type\":\"event\",\"length\":1}\n{}\n{\"type\":\"a\"}",
             400),
      HasSubstr("item[0]: missing newline after its 1-byte payload"));
}

TEST_P(EnvelopeTest, RejectsDuplicateKnownKeys) {
  EXPECT_THAT(
      Reject("{}\n{\"type\":\"event\",\"type\":\"attachment\"}\n{}\n", 400),
      HasSubstr("duplicate key `type`"));
  EXPECT_THAT(
      Reject("{}\n{\"type\":\"event\",\"length\":2,\"length\":3}\n{}\n", 400),
      HasSubstr("duplicate key `length`"));
  EXPECT_THAT(Reject("{\"dsn\":\"a\",\"dsn\":\"b\"}\n", 400),
              HasSubstr("envelope header: duplicate key `dsn`"));
  // Escapes do not hide a duplicate.
  EXPECT_THAT(
      Reject("{}\n{\"type\":\"event\",\"typ\\u0065\":\"x\"}\n{}\n", 400),
      HasSubstr("duplicate key `type`"));
  // Unknown keys may repeat.
  EXPECT_TRUE(
      Parse("{\"x\":1,\"x\":2}\n{\"type\":\"e\",\"y\":1,\"y\":2}\n\n").ok());
}

TEST_P(EnvelopeTest, RejectsInvalidEventId) {
  EXPECT_THAT(Reject("{\"event_id\":\"not-an-id\"}\n", 400),
              HasSubstr("`event_id` is not a valid event id"));
  EXPECT_THAT(Reject("{\"event_id\":\"\"}\n", 400),
              HasSubstr("`event_id` is not a valid event id"));
  EXPECT_THAT(Reject("{\"event_id\":12}\n", 400),
              HasSubstr("`event_id` must be a string"));
  EXPECT_THAT(Reject("{\"dsn\":{}}\n", 400),
              HasSubstr("`dsn` must be a string"));
}

TEST_P(EnvelopeTest, RejectsNonStringOptionalItemKeys) {
  EXPECT_THAT(Reject("{}\n{\"type\":\"a\",\"filename\":1}\n{}\n", 400),
              HasSubstr("`filename` must be a string"));
  EXPECT_THAT(Reject("{}\n{\"type\":\"a\",\"content_type\":false}\n{}\n", 400),
              HasSubstr("`content_type` must be a string"));
  EXPECT_THAT(Reject("{}\n{\"type\":\"a\",\"attachment_type\":[]}\n{}\n", 400),
              HasSubstr("`attachment_type` must be a string"));
}

TEST_P(EnvelopeTest, RejectsDeepNesting) {
  std::string deep = "{\"x\":";
  for (int i = 0; i < 40; ++i) deep += "[";
  for (int i = 0; i < 40; ++i) deep += "]";
  deep += "}\n";
  EXPECT_THAT(Reject(deep, 400), HasSubstr("envelope header"));
  // Moderate nesting is fine.
  std::string ok = "{\"x\":";
  for (int i = 0; i < 20; ++i) ok += "[";
  for (int i = 0; i < 20; ++i) ok += "]";
  ok += "}\n";
  EXPECT_TRUE(Parse(ok).ok()) << Parse(ok);
}

// --- Limits: 413 ---

TEST_P(EnvelopeTest, EnvelopeSizeLimit) {
  const std::string input = "{}\n{\"type\":\"event\"}\n{}\n";
  EnvelopeLimits limits;
  limits.max_envelope_bytes = input.size();
  EXPECT_TRUE(Parse(input, limits).ok());
  limits.max_envelope_bytes = input.size() - 1;
  EXPECT_THAT(Reject(input, 413, limits),
              HasSubstr("exceeds max_envelope_bytes"));
}

TEST_P(EnvelopeTest, HeaderLineLimit) {
  const std::string header = R"({"type":"event","x":"0123456789"})";
  const std::string input = "{}\n" + header + "\n{}\n";
  EnvelopeLimits limits;
  limits.max_header_bytes = header.size();
  EXPECT_TRUE(Parse(input, limits).ok());
  limits.max_header_bytes = header.size() - 1;
  EXPECT_THAT(Reject(input, 413, limits),
              HasSubstr("item[0] header exceeds max_header_bytes"));
  // The envelope header too, with or without a newline after it.
  limits.max_header_bytes = 2;
  EXPECT_TRUE(Parse("{}", limits).ok());
  EXPECT_THAT(Reject("{ }", 413, limits),
              HasSubstr("envelope header exceeds max_header_bytes"));
  EXPECT_THAT(Reject("{ }\n", 413, limits),
              HasSubstr("envelope header exceeds max_header_bytes"));
}

TEST_P(EnvelopeTest, ItemSizeLimitWithLength) {
  EnvelopeLimits limits;
  limits.max_item_bytes = 4;
  EXPECT_TRUE(Parse("{}\n{\"type\":\"a\",\"length\":4}\nabcd\n", limits).ok());
  EXPECT_THAT(Reject("{}\n{\"type\":\"a\",\"length\":5}\nabcde\n", 413, limits),
              HasSubstr("item[0] length 5 exceeds max_item_bytes (4)"));
  // A declared length over the limit is 413 even when the input is shorter.
  EXPECT_THAT(Reject("{}\n{\"type\":\"a\",\"length\":999}\nab\n", 413, limits),
              HasSubstr("exceeds max_item_bytes"));
}

TEST_P(EnvelopeTest, ItemSizeLimitWithoutLength) {
  EnvelopeLimits limits;
  limits.max_item_bytes = 4;
  EXPECT_TRUE(Parse("{}\n{\"type\":\"a\"}\nabcd\n", limits).ok());
  EXPECT_TRUE(Parse("{}\n{\"type\":\"a\"}\nabcd", limits).ok());
  EXPECT_THAT(Reject("{}\n{\"type\":\"a\"}\nabcde\n", 413, limits),
              HasSubstr("item[0] payload exceeds max_item_bytes (4)"));
  EXPECT_THAT(Reject("{}\n{\"type\":\"a\"}\nabcde", 413, limits),
              HasSubstr("exceeds max_item_bytes"));
}

TEST_P(EnvelopeTest, ItemCountLimit) {
  EnvelopeLimits limits;
  limits.max_items = 2;
  const std::string two = "{}\n{\"type\":\"a\"}\n1\n{\"type\":\"b\"}\n2\n";
  EXPECT_TRUE(Parse(two, limits).ok());
  EXPECT_THAT(Reject(two + "{\"type\":\"c\"}\n3\n", 413, limits),
              HasSubstr("more than max_items (2)"));
  // Blank lines do not count as items.
  EXPECT_TRUE(Parse(two + "\n\n", limits).ok());
}

TEST_P(EnvelopeTest, DefaultLimits) {
  const EnvelopeLimits limits;
  EXPECT_EQ(limits.max_items, 1000u);
  EXPECT_EQ(limits.max_header_bytes, 64u * 1024);
  EXPECT_EQ(limits.max_item_bytes, 100u * 1024 * 1024);
  EXPECT_EQ(limits.max_envelope_bytes, 100u * 1024 * 1024);
}

// --- Serialization ---

TEST_P(EnvelopeTest, SerializeThenParseGivesBackTheItems) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  binary += "\n\n\r\n";
  std::vector<std::vector<OutItem>> shapes = {
      {},
      {{.type = "event", .payload = "{\"a\":1}"}},
      {{.type = "event", .payload = ""}},
      {{.type = "attachment",
        .content_type = "application/octet-stream",
        .filename = "dump.bin",
        .attachment_type = "event.minidump",
        .payload = binary}},
      {{.type = "attachment",
        .filename = "r\xc3\xa9sum\xc3\xa9 \"q\"\\ \n.txt",
        .payload = "\n"}},
      {{.type = "event",
        .content_type = "application/json",
        .payload = "{\"level\":\"error\"}"},
       {.type = "attachment", .filename = "a.txt", .payload = "line\n"},
       {.type = "session", .payload = "{\"sid\":\"x\"}"},
       {.type = "client_report", .payload = "{}"},
       {.type = "brand_new", .payload = binary}},
      {{.type = "event",
        .extra_header_fields = R"("platform":"native","n":[1,{"x":null}])",
        .payload = "{}"}},
  };
  for (const char* header :
       {"", "{}", R"({"event_id":"fc6d8c0c43fc4630ad850ee518f1b9d0"})",
        R"({"dsn":"https://k@h/1","sdk":{"name":"x","version":"1"}})"}) {
    for (const std::vector<OutItem>& items : shapes) {
      std::string out = "kept:";
      SerializeEnvelope(header, items, &out);
      ASSERT_EQ(out.substr(0, 5), "kept:");
      const std::string_view wire = std::string_view(out).substr(5);
      ASSERT_TRUE(Parse(wire).ok()) << Parse(wire) << "\n" << wire;
      EXPECT_EQ(env_.header_json, std::string_view(*header ? header : "{}"));
      ASSERT_EQ(env_.items.size(), items.size()) << wire;
      for (size_t i = 0; i < items.size(); ++i) {
        const EnvelopeItem& got = env_.items[i];
        EXPECT_EQ(got.type, items[i].type);
        EXPECT_EQ(got.item_type, ItemTypeFromName(items[i].type));
        EXPECT_EQ(got.content_type, items[i].content_type);
        EXPECT_EQ(got.filename, items[i].filename);
        EXPECT_EQ(got.attachment_type, items[i].attachment_type);
        EXPECT_EQ(got.payload, items[i].payload);
        EXPECT_TRUE(Within(got.payload, wire));
      }
    }
  }
}

TEST(SerializeEnvelope, WritesTypeAndExplicitLengthFirst) {
  std::string out;
  const OutItem items[] = {
      {.type = "attachment",
       .content_type = "text/plain",
       .filename = "a.txt",
       .attachment_type = "event.attachment",
       .extra_header_fields = "\"x\":1",
       .payload = "hi\n"},
      {.type = "event", .payload = ""},
  };
  SerializeEnvelope(R"({"event_id":"fc6d8c0c43fc4630ad850ee518f1b9d0"})", items,
                    &out);
  EXPECT_EQ(out,
            "{\"event_id\":\"fc6d8c0c43fc4630ad850ee518f1b9d0\"}\n"
            "{\"type\":\"attachment\",\"length\":3,\"content_type\":"
            "\"text/plain\",\"filename\":\"a.txt\",\"attachment_type\":"
            "\"event.attachment\",\"x\":1}\nhi\n\n"
            "{\"type\":\"event\",\"length\":0}\n\n");
}

TEST_P(EnvelopeTest, ParsedEnvelopeReserializesToTheSameItems) {
  const std::string input =
      "{\"event_id\":\"fc6d8c0c43fc4630ad850ee518f1b9d0\"}\n"
      "{\"type\":\"session\"}\n{\"sid\":\"1\"}\n"
      "{\"type\":\"attachment\",\"length\":3,\"filename\":\"x\"}\na\0b\n"s;
  ASSERT_TRUE(Parse(input).ok());
  std::vector<OutItem> out_items;
  for (const EnvelopeItem& item : env_.items) {
    out_items.push_back({.type = item.type,
                         .content_type = item.content_type,
                         .filename = item.filename,
                         .attachment_type = item.attachment_type,
                         .payload = item.payload});
  }
  std::string wire;
  SerializeEnvelope(env_.header_json, out_items, &wire);
  EXPECT_EQ(wire,
            "{\"event_id\":\"fc6d8c0c43fc4630ad850ee518f1b9d0\"}\n"
            "{\"type\":\"session\",\"length\":11}\n{\"sid\":\"1\"}\n"
            "{\"type\":\"attachment\",\"length\":3,\"filename\":\"x\"}\n"
            "a\0b\n"s);
}

// --- Item types ---

TEST(ItemType, NamesRoundTrip) {
  const std::vector<std::pair<std::string, ItemType>> known = {
      {"event", ItemType::kEvent},
      {"transaction", ItemType::kTransaction},
      {"security", ItemType::kSecurity},
      {"attachment", ItemType::kAttachment},
      {"form_data", ItemType::kFormData},
      {"raw_security", ItemType::kRawSecurity},
      {"unreal_report", ItemType::kUnrealReport},
      {"user_report", ItemType::kUserReport},
      {"feedback", ItemType::kFeedback},
      {"session", ItemType::kSession},
      {"sessions", ItemType::kSessions},
      {"statsd", ItemType::kStatsd},
      {"metric_buckets", ItemType::kMetricBuckets},
      {"client_report", ItemType::kClientReport},
      {"profile", ItemType::kProfile},
      {"profile_chunk", ItemType::kProfileChunk},
      {"replay_event", ItemType::kReplayEvent},
      {"replay_recording", ItemType::kReplayRecording},
      {"replay_video", ItemType::kReplayVideo},
      {"check_in", ItemType::kCheckIn},
      {"span", ItemType::kSpan},
      {"log", ItemType::kLog},
  };
  for (const auto& [name, type] : known) {
    EXPECT_EQ(ItemTypeFromName(name), type) << name;
    EXPECT_EQ(ItemTypeName(type), name);
  }
  for (const char* unknown : {"", "Event", "events", "attachment ", "x"}) {
    EXPECT_EQ(ItemTypeFromName(unknown), ItemType::kUnknown) << unknown;
  }
  EXPECT_EQ(ItemTypeName(ItemType::kUnknown), "");
}

}  // namespace
}  // namespace tern::protocol
