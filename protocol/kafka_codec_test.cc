#include "protocol/kafka_codec.h"

#include <msgpack.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/http_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

using ::testing::HasSubstr;
using namespace std::string_literals;

const EventId kId = *EventId::Parse("fc6d8c0c43fc4630ad850ee518f1b9d0");

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// --- A msgpack builder for hand-made (and broken) messages ---

int Append(void* data, const char* buf, size_t len) {
  static_cast<std::string*>(data)->append(buf, len);
  return 0;
}

class Builder {
 public:
  Builder() { msgpack_packer_init(&pk_, &bytes_, Append); }
  Builder& Map(size_t n) {
    msgpack_pack_map(&pk_, n);
    return *this;
  }
  Builder& Array(size_t n) {
    msgpack_pack_array(&pk_, n);
    return *this;
  }
  Builder& Str(std::string_view s) {
    msgpack_pack_str(&pk_, s.size());
    msgpack_pack_str_body(&pk_, s.data(), s.size());
    return *this;
  }
  Builder& Bin(std::string_view s) {
    msgpack_pack_bin(&pk_, s.size());
    msgpack_pack_bin_body(&pk_, s.data(), s.size());
    return *this;
  }
  Builder& Uint(uint64_t v) {
    msgpack_pack_uint64(&pk_, v);
    return *this;
  }
  Builder& Int(int64_t v) {
    msgpack_pack_int64(&pk_, v);
    return *this;
  }
  Builder& Double(double v) {
    msgpack_pack_double(&pk_, v);
    return *this;
  }
  Builder& Bool(bool v) {
    v ? msgpack_pack_true(&pk_) : msgpack_pack_false(&pk_);
    return *this;
  }
  Builder& Nil() {
    msgpack_pack_nil(&pk_);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  msgpack_packer pk_;
};

using Writer = std::function<void(Builder&)>;
using Fields = std::vector<std::pair<std::string, Writer>>;

std::string BuildMap(const Fields& fields) {
  Builder b;
  b.Map(fields.size());
  for (const auto& [key, write] : fields) {
    b.Str(key);
    write(b);
  }
  return b.bytes();
}

Fields AttachmentFields() {
  return {
      {"id", [](Builder& b) { b.Str("att-1"); }},
      {"name", [](Builder& b) { b.Str("log.txt"); }},
      {"content_type", [](Builder& b) { b.Str("text/plain"); }},
      {"attachment_type", [](Builder& b) { b.Str("event.attachment"); }},
      {"chunks", [](Builder& b) { b.Uint(1); }},
      {"size", [](Builder& b) { b.Uint(5); }},
      {"rate_limited", [](Builder& b) { b.Bool(false); }},
  };
}

Writer MapWriter(const Fields& fields) {
  return [fields](Builder& b) {
    b.Map(fields.size());
    for (const auto& [key, write] : fields) {
      b.Str(key);
      write(b);
    }
  };
}

Fields EventFields() {
  return {
      {"type", [](Builder& b) { b.Str("event"); }},
      {"payload", [](Builder& b) { b.Bin("{\"a\":1}"); }},
      {"start_time", [](Builder& b) { b.Uint(1714564800); }},
      {"event_id",
       [](Builder& b) { b.Str("fc6d8c0c43fc4630ad850ee518f1b9d0"); }},
      {"project_id", [](Builder& b) { b.Uint(42); }},
      {"remote_addr", [](Builder& b) { b.Str("127.0.0.1"); }},
      {"attachments",
       [](Builder& b) {
         b.Array(1);
         MapWriter(AttachmentFields())(b);
       }},
  };
}

Fields ChunkFields() {
  return {
      {"type", [](Builder& b) { b.Str("attachment_chunk"); }},
      {"payload", [](Builder& b) { b.Bin("hello"); }},
      {"event_id",
       [](Builder& b) { b.Str("fc6d8c0c43fc4630ad850ee518f1b9d0"); }},
      {"project_id", [](Builder& b) { b.Uint(42); }},
      {"id", [](Builder& b) { b.Str("att-1"); }},
      {"chunk_index", [](Builder& b) { b.Uint(0); }},
  };
}

Fields StandaloneFields() {
  return {
      {"type", [](Builder& b) { b.Str("attachment"); }},
      {"event_id",
       [](Builder& b) { b.Str("fc6d8c0c43fc4630ad850ee518f1b9d0"); }},
      {"project_id", [](Builder& b) { b.Uint(42); }},
      {"attachment", MapWriter(AttachmentFields())},
  };
}

Fields Without(Fields fields, std::string_view key) {
  std::erase_if(fields, [&](const auto& f) { return f.first == key; });
  return fields;
}

Fields With(Fields fields, std::string_view key, Writer w) {
  for (auto& f : fields) {
    if (f.first == key) f.second = std::move(w);
  }
  return fields;
}

class KafkaDecodeTest : public ::testing::Test {
 protected:
  absl::Status Decode(std::string_view bytes) {
    return decoder_.Decode(bytes, &out_);
  }
  std::string Reject(std::string_view bytes) {
    absl::Status s = Decode(bytes);
    EXPECT_EQ(HttpStatusFor(s), 400) << s;
    return Message(s);
  }
  KafkaMessageDecoder decoder_;
  KafkaMessage out_;
};

// --- Golden bytes ---

// Pins the wire format. Expected bytes worked out by hand from the msgpack
// spec (https://github.com/msgpack/msgpack/blob/master/spec.md), in the
// order Relay's EventKafkaMessage declares its fields.
TEST(KafkaCodecGolden, EventMessageBytes) {
  EventMessage m;
  m.payload = "{}";
  m.start_time = 1714564800;  // 2024-05-01T12:00:00Z
  m.event_id = kId;
  m.project_id = 42;
  m.remote_addr = "127.0.0.1";
  std::string out;
  EncodeEventMessage(m, &out);
  const std::string expected =
      "\x87"  // fixmap (1000xxxx) with 7 entries
      "\xa4"
      "type"  // fixstr (101xxxxx), length 4
      "\xa5"
      "event"
      "\xa7"
      "payload"
      "\xc4\x02"
      "{}"  // bin 8: 0xc4, one length byte, then the bytes
      "\xaa"
      "start_time"
      "\xce\x66\x32\x2e\xc0"  // uint 32, big-endian 1714564800 = 0x66322ec0
      "\xa8"
      "event_id"
      "\xd9\x20"
      "fc6d8c0c43fc4630ad850ee518f1b9d0"  // str 8: 32 is too long for fixstr
      "\xaa"
      "project_id"
      "\x2a"  // positive fixint 42
      "\xab"
      "remote_addr"
      "\xa9"
      "127.0.0.1"
      "\xab"
      "attachments"
      "\x90"s;  // fixarray (1001xxxx), empty
  EXPECT_EQ(out, expected);
}

TEST(KafkaCodecGolden, StandaloneAttachmentBytes) {
  AttachmentMessage m;
  m.event_id = kId;
  m.project_id = 1;
  m.attachment.id = "1";
  m.attachment.name = "a.txt";
  m.attachment.attachment_type = "event.attachment";
  m.attachment.chunks = 0;
  m.attachment.rate_limited = true;
  std::string out;
  EncodeAttachmentMessage(m, &out);
  const std::string expected =
      "\x84"  // fixmap, 4 entries
      "\xa4"
      "type"
      "\xaa"
      "attachment"
      "\xa8"
      "event_id"
      "\xd9\x20"
      "fc6d8c0c43fc4630ad850ee518f1b9d0"
      "\xaa"
      "project_id"
      "\x01"
      "\xaa"
      "attachment"
      "\x87"  // the ChunkedAttachment: fixmap, 7 entries
      "\xa2"
      "id"
      "\xa1"
      "1"
      "\xa4"
      "name"
      "\xa5"
      "a.txt"
      "\xac"
      "content_type"
      "\xc0"  // nil
      "\xaf"
      "attachment_type"
      "\xb0"
      "event.attachment"
      "\xa6"
      "chunks"
      "\x00"  // positive fixint 0
      "\xa4"
      "size"
      "\xc0"
      "\xac"
      "rate_limited"
      "\xc3"s;  // true
  EXPECT_EQ(out, expected);
}

TEST(KafkaCodecGolden, IntegersUseTheShortestForm) {
  const std::vector<std::pair<uint64_t, std::string>> cases = {
      {0, "\x00"s},
      {127, "\x7f"s},
      {128, "\xcc\x80"s},
      {255, "\xcc\xff"s},
      {256, "\xcd\x01\x00"s},
      {65535, "\xcd\xff\xff"s},
      {65536, "\xce\x00\x01\x00\x00"s},
      {4294967295u, "\xce\xff\xff\xff\xff"s},
      {4294967296u, "\xcf\x00\x00\x00\x01\x00\x00\x00\x00"s},
      {UINT64_MAX, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"s},
  };
  for (const auto& [value, bytes] : cases) {
    AttachmentChunkMessage m;
    m.chunk_index = value;
    std::string out;
    EncodeAttachmentChunkMessage(m, &out);
    const std::string key =
        "\xab"
        "chunk_index";
    ASSERT_GE(out.size(), key.size() + bytes.size());
    EXPECT_EQ(out.substr(out.size() - bytes.size() - key.size()), key + bytes)
        << value;
  }
}

// --- Round trips ---

TEST_F(KafkaDecodeTest, EventRoundTripsForFieldCombinations) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  const std::string big(70000, 'x');  // bin 32
  const std::string mid(300, 'y');    // bin 16
  std::vector<ChunkedAttachment> attachment_sets[] = {
      {},
      {{.id = "a",
        .name = "n",
        .attachment_type = "event.attachment",
        .chunks = 1}},
      {{.id = "0123456789abcdef0123456789abcdef",
        .name = "r\xc3\xa9sum\xc3\xa9.pdf",
        .content_type = "application/pdf",
        .attachment_type = "event.attachment",
        .chunks = 3,
        .size = 2500000,
        .rate_limited = false},
       {.id = "",
        .name = "",
        .content_type = "",
        .attachment_type = "event.minidump",
        .chunks = 0,
        .size = 0,
        .rate_limited = true}},
  };
  for (std::string_view payload :
       {std::string_view(), std::string_view("{}"), std::string_view(binary),
        std::string_view(mid), std::string_view(big)}) {
    for (const auto& attachments : attachment_sets) {
      for (std::optional<std::string_view> addr :
           {std::optional<std::string_view>(),
            std::optional<std::string_view>("::1"),
            std::optional<std::string_view>("")}) {
        for (uint64_t start : {uint64_t{0}, uint64_t{1714564800}, UINT64_MAX}) {
          EventMessage m;
          m.payload = payload;
          m.start_time = start;
          m.event_id = kId;
          m.project_id = 7;
          m.remote_addr = addr;
          m.attachments = attachments;
          std::string bytes;
          EncodeEventMessage(m, &bytes);
          ASSERT_TRUE(Decode(bytes).ok()) << Decode(bytes);
          ASSERT_TRUE(std::holds_alternative<EventMessage>(out_));
          EXPECT_EQ(std::get<EventMessage>(out_), m);
          // Payload views point into the message value.
          const std::string_view got = std::get<EventMessage>(out_).payload;
          if (!got.empty()) {
            EXPECT_GE(got.data(), bytes.data());
            EXPECT_LE(got.data() + got.size(), bytes.data() + bytes.size());
          }
        }
      }
    }
  }
}

TEST_F(KafkaDecodeTest, AttachmentChunkRoundTrips) {
  for (uint64_t index : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 40}) {
    for (std::string_view payload :
         {std::string_view(), std::string_view("a\0b\n", 4)}) {
      AttachmentChunkMessage m{.payload = payload,
                               .event_id = kId,
                               .project_id = 1,
                               .id = "att-7",
                               .chunk_index = index};
      std::string bytes;
      EncodeAttachmentChunkMessage(m, &bytes);
      ASSERT_TRUE(Decode(bytes).ok()) << Decode(bytes);
      ASSERT_TRUE(std::holds_alternative<AttachmentChunkMessage>(out_));
      EXPECT_EQ(std::get<AttachmentChunkMessage>(out_), m);
    }
  }
}

TEST_F(KafkaDecodeTest, StandaloneAttachmentRoundTrips) {
  for (std::optional<uint64_t> size :
       {std::optional<uint64_t>(), std::optional<uint64_t>(0),
        std::optional<uint64_t>(1 << 20)}) {
    for (std::optional<bool> limited :
         {std::optional<bool>(), std::optional<bool>(false),
          std::optional<bool>(true)}) {
      for (std::optional<std::string_view> type :
           {std::optional<std::string_view>(),
            std::optional<std::string_view>("image/png")}) {
        AttachmentMessage m;
        m.event_id = kId;
        m.project_id = 99;
        m.attachment = {.id = "x",
                        .name = "shot.png",
                        .content_type = type,
                        .attachment_type = "event.attachment",
                        .chunks = 2,
                        .size = size,
                        .rate_limited = limited};
        std::string bytes;
        EncodeAttachmentMessage(m, &bytes);
        ASSERT_TRUE(Decode(bytes).ok()) << Decode(bytes);
        ASSERT_TRUE(std::holds_alternative<AttachmentMessage>(out_));
        EXPECT_EQ(std::get<AttachmentMessage>(out_), m);
      }
    }
  }
}

TEST_F(KafkaDecodeTest, UserReportRoundTripsAndHasRelaysKeys) {
  UserReportMessage m{.project_id = 42,
                      .start_time = 1700000000,
                      .payload = R"({"event_id":"x","comments":"it broke"})"};
  std::string bytes;
  EncodeUserReportMessage(m, &bytes);
  ASSERT_TRUE(Decode(bytes).ok()) << Decode(bytes);
  ASSERT_TRUE(std::holds_alternative<UserReportMessage>(out_));
  EXPECT_EQ(std::get<UserReportMessage>(out_), m);
  // Relay's field names, in its order, after the type tag.
  EXPECT_THAT(bytes, HasSubstr("user_report"));
  EXPECT_LT(bytes.find("project_id"), bytes.find("start_time"));
  EXPECT_LT(bytes.find("start_time"), bytes.find("payload"));
}

TEST_F(KafkaDecodeTest, ItemMessageRoundTripsWithAndWithoutEventId) {
  for (std::optional<EventId> id :
       {std::optional<EventId>(), std::optional<EventId>(kId)}) {
    ItemMessage m{.item_type = "check_in",
                  .payload = std::string_view("{\"a\":1}\0x", 9),
                  .event_id = id,
                  .project_id = 3,
                  .start_time = 1700000001};
    std::string bytes;
    EncodeItemMessage(m, &bytes);
    ASSERT_TRUE(Decode(bytes).ok()) << Decode(bytes);
    ASSERT_TRUE(std::holds_alternative<ItemMessage>(out_));
    EXPECT_EQ(std::get<ItemMessage>(out_), m);
  }
  std::string bytes;
  EncodeItemMessage({.item_type = "x", .payload = "y", .project_id = 1},
                    &bytes);
  bytes.back() = '\xc0';  // start_time: nil instead of an integer
  EXPECT_FALSE(Decode(bytes).ok());
}

TEST(KafkaCodec, EncodeKafkaMessageDispatchesAndAppends) {
  EventMessage e;
  e.event_id = kId;
  AttachmentChunkMessage c;
  c.event_id = kId;
  AttachmentMessage a;
  a.event_id = kId;
  UserReportMessage u{.project_id = 1, .payload = "{}"};
  ItemMessage i{.item_type = "check_in", .payload = "{}"};
  for (const KafkaMessage& m :
       {KafkaMessage(e), KafkaMessage(c), KafkaMessage(a), KafkaMessage(u),
        KafkaMessage(i)}) {
    std::string direct = "prefix";
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, EventMessage>) {
            EncodeEventMessage(v, &direct);
          } else if constexpr (std::is_same_v<T, AttachmentChunkMessage>) {
            EncodeAttachmentChunkMessage(v, &direct);
          } else if constexpr (std::is_same_v<T, AttachmentMessage>) {
            EncodeAttachmentMessage(v, &direct);
          } else if constexpr (std::is_same_v<T, UserReportMessage>) {
            EncodeUserReportMessage(v, &direct);
          } else {
            EncodeItemMessage(v, &direct);
          }
        },
        m);
    std::string via = "prefix";
    EncodeKafkaMessage(m, &via);
    EXPECT_EQ(via, direct);
    EXPECT_EQ(via.substr(0, 6), "prefix");
  }
}

TEST_F(KafkaDecodeTest, HandBuiltMessagesDecode) {
  // Decoded views point into the bytes, so keep them alive.
  const std::string event = BuildMap(EventFields());
  ASSERT_TRUE(Decode(event).ok()) << Decode(event);
  const EventMessage& e = std::get<EventMessage>(out_);
  EXPECT_EQ(e.payload, "{\"a\":1}");
  EXPECT_EQ(e.start_time, 1714564800u);
  EXPECT_EQ(e.event_id, kId);
  EXPECT_EQ(e.project_id, 42u);
  EXPECT_EQ(e.remote_addr, "127.0.0.1");
  ASSERT_EQ(e.attachments.size(), 1u);
  EXPECT_EQ(e.attachments[0].name, "log.txt");
  EXPECT_EQ(e.attachments[0].size, 5u);
  EXPECT_EQ(e.attachments[0].rate_limited, false);

  const std::string chunk = BuildMap(ChunkFields());
  ASSERT_TRUE(Decode(chunk).ok());
  EXPECT_EQ(std::get<AttachmentChunkMessage>(out_).payload, "hello");
  const std::string standalone = BuildMap(StandaloneFields());
  ASSERT_TRUE(Decode(standalone).ok());
  EXPECT_EQ(std::get<AttachmentMessage>(out_).attachment.id, "att-1");
}

TEST_F(KafkaDecodeTest, AcceptsOptionalKeysMissingOrNilAndUnknownKeys) {
  Fields event = Without(EventFields(), "remote_addr");
  event.push_back({"org_id", [](Builder& b) { b.Uint(1); }});
  event.push_back({"weird", [](Builder& b) {
                     b.Array(2).Map(1).Str("k").Double(1.5).Int(-3);
                   }});
  ASSERT_TRUE(Decode(BuildMap(event)).ok()) << Decode(BuildMap(event));
  EXPECT_FALSE(std::get<EventMessage>(out_).remote_addr.has_value());

  Fields attachment =
      Without(Without(Without(AttachmentFields(), "size"), "rate_limited"),
              "content_type");
  ASSERT_TRUE(Decode(BuildMap(With(StandaloneFields(), "attachment",
                                   MapWriter(attachment))))
                  .ok());
  const ChunkedAttachment& a = std::get<AttachmentMessage>(out_).attachment;
  EXPECT_FALSE(a.size.has_value());
  EXPECT_FALSE(a.rate_limited.has_value());
  EXPECT_FALSE(a.content_type.has_value());

  Fields nils = AttachmentFields();
  for (const char* key : {"size", "rate_limited", "content_type"}) {
    nils = With(nils, key, [](Builder& b) { b.Nil(); });
  }
  ASSERT_TRUE(
      Decode(BuildMap(With(StandaloneFields(), "attachment", MapWriter(nils))))
          .ok());
  EXPECT_FALSE(std::get<AttachmentMessage>(out_).attachment.size.has_value());
}

TEST_F(KafkaDecodeTest, AcceptsNonNegativeIntegersInSignedEncodings) {
  // 0xd0 = int 8; msgpack-c reports a non-negative value as unsigned.
  Fields f = With(EventFields(), "project_id", [](Builder& b) { b.Int(5); });
  std::string bytes = BuildMap(f);
  const std::string packed_int8 =
      "\xaa"
      "project_id"
      "\x05";
  ASSERT_NE(bytes.find(packed_int8), std::string::npos);
  bytes.replace(bytes.find(packed_int8), packed_int8.size(),
                "\xaa"
                "project_id"
                "\xd0\x05");
  ASSERT_TRUE(Decode(bytes).ok()) << Decode(bytes);
  EXPECT_EQ(std::get<EventMessage>(out_).project_id, 5u);
}

TEST_F(KafkaDecodeTest, ReusesTheAttachmentsVector) {
  EventMessage m;
  m.event_id = kId;
  m.attachments.resize(10, {.id = "a", .name = "b", .attachment_type = "c"});
  std::string bytes;
  EncodeEventMessage(m, &bytes);
  ASSERT_TRUE(Decode(bytes).ok());
  const ChunkedAttachment* data =
      std::get<EventMessage>(out_).attachments.data();
  m.attachments.resize(2);
  bytes.clear();
  EncodeEventMessage(m, &bytes);
  ASSERT_TRUE(Decode(bytes).ok());
  EXPECT_EQ(std::get<EventMessage>(out_).attachments.size(), 2u);
  EXPECT_EQ(std::get<EventMessage>(out_).attachments.data(), data);
}

// --- Decode errors ---

TEST_F(KafkaDecodeTest, RejectsEmptyTruncatedAndTrailingBytes) {
  EXPECT_THAT(Reject(""), HasSubstr("malformed msgpack"));
  const std::string bytes = BuildMap(EventFields());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THAT(Reject(bytes.substr(0, n)), HasSubstr("malformed msgpack"))
        << "prefix " << n;
  }
  EXPECT_THAT(Reject(bytes + "\xc0"), HasSubstr("1 trailing bytes"));
  EXPECT_THAT(Reject("\xc1"), HasSubstr("malformed msgpack"));
}

TEST_F(KafkaDecodeTest, RejectsHostileLengthsBeforeAllocating) {
  for (const std::string& bytes :
       {"\xdd\xff\xff\xff\xff"s,          // array 32 of 2^32-1 elements
        "\xdf\xff\xff\xff\xff"s,          // map 32 of 2^32-1 pairs
        "\xdb\xff\xff\xff\xff"s + "abc",  // str 32 longer than the input
        "\xc6\x00\x01\x00\x00"s + "abc",  // bin 32
        "\xc9\xff\xff\xff\xff\x01"s,      // ext 32
        "\x81\xa1k\xdd\x00\x10\x00\x00"s + std::string(100, '\xc0')}) {
    EXPECT_THAT(Reject(bytes), HasSubstr("malformed msgpack"));
  }
}

TEST_F(KafkaDecodeTest, RejectsDeepNesting) {
  auto nested = [](int depth) {
    Fields f = EventFields();
    f.push_back({"deep", [depth](Builder& b) {
                   for (int i = 0; i < depth; ++i) b.Array(1);
                   b.Nil();
                 }});
    return BuildMap(f);
  };
  EXPECT_TRUE(Decode(nested(20)).ok()) << Decode(nested(20));
  EXPECT_THAT(Reject(nested(40)), HasSubstr("nesting deeper than 32"));
}

TEST_F(KafkaDecodeTest, RejectsNonMapsAndBadTypeTags) {
  EXPECT_THAT(Reject(Builder().Array(0).bytes()),
              HasSubstr("not a msgpack map"));
  EXPECT_THAT(Reject(Builder().Str("event").bytes()),
              HasSubstr("not a msgpack map"));
  EXPECT_THAT(Reject(BuildMap(Without(EventFields(), "type"))),
              HasSubstr("missing `type`"));
  EXPECT_THAT(Reject(BuildMap(
                  With(EventFields(), "type", [](Builder& b) { b.Uint(1); }))),
              HasSubstr("`type` must be a string"));
  EXPECT_THAT(Reject(BuildMap(With(EventFields(), "type",
                                   [](Builder& b) { b.Bin("event"); }))),
              HasSubstr("`type` must be a string"));
  EXPECT_THAT(Reject(BuildMap(With(EventFields(), "type",
                                   [](Builder& b) { b.Str("profile"); }))),
              HasSubstr("unknown `type` \"profile\""));
  Fields twice = EventFields();
  twice.push_back({"type", [](Builder& b) { b.Str("event"); }});
  EXPECT_THAT(Reject(BuildMap(twice)), HasSubstr("duplicate key `type`"));
}

TEST_F(KafkaDecodeTest, RejectsNonStringKeys) {
  Builder b;
  b.Map(2).Str("type").Str("event").Uint(1).Uint(2);
  EXPECT_THAT(Reject(b.bytes()), HasSubstr("map keys must be strings"));
}

TEST_F(KafkaDecodeTest, RejectsEveryMissingRequiredKey) {
  for (const char* key :
       {"payload", "start_time", "event_id", "project_id", "attachments"}) {
    EXPECT_THAT(Reject(BuildMap(Without(EventFields(), key))),
                HasSubstr("event message: missing `"s + key + "`"));
  }
  for (const char* key :
       {"payload", "event_id", "project_id", "id", "chunk_index"}) {
    EXPECT_THAT(Reject(BuildMap(Without(ChunkFields(), key))),
                HasSubstr("attachment_chunk message: missing `"s + key + "`"));
  }
  for (const char* key : {"event_id", "project_id", "attachment"}) {
    EXPECT_THAT(Reject(BuildMap(Without(StandaloneFields(), key))),
                HasSubstr("attachment message: missing `"s + key + "`"));
  }
  for (const char* key : {"id", "name", "attachment_type", "chunks"}) {
    EXPECT_THAT(
        Reject(BuildMap(With(StandaloneFields(), "attachment",
                             MapWriter(Without(AttachmentFields(), key))))),
        HasSubstr("attachment message attachment: missing `"s + key + "`"));
  }
  // A required key given as nil counts as missing.
  EXPECT_THAT(Reject(BuildMap(With(EventFields(), "project_id",
                                   [](Builder& b) { b.Nil(); }))),
              HasSubstr("missing `project_id`"));
}

TEST_F(KafkaDecodeTest, RejectsWrongTypes) {
  struct Case {
    Fields fields;
    std::string message;
  };
  const std::vector<Case> cases = {
      {With(EventFields(), "payload", [](Builder& b) { b.Str("{}"); }),
       "`payload` must be binary"},
      {With(EventFields(), "start_time", [](Builder& b) { b.Int(-1); }),
       "`start_time` must be an unsigned integer"},
      {With(EventFields(), "start_time", [](Builder& b) { b.Double(1.0); }),
       "`start_time` must be an unsigned integer"},
      {With(EventFields(), "event_id", [](Builder& b) { b.Str("nope"); }),
       "`event_id` must be an event id"},
      {With(EventFields(), "event_id",
            [](Builder& b) { b.Bin("fc6d8c0c43fc4630ad850ee518f1b9d0"); }),
       "`event_id` must be a string"},
      {With(EventFields(), "project_id", [](Builder& b) { b.Str("42"); }),
       "`project_id` must be an unsigned integer"},
      {With(EventFields(), "remote_addr", [](Builder& b) { b.Uint(1); }),
       "`remote_addr` must be a string"},
      {With(EventFields(), "remote_addr", [](Builder& b) { b.Str("\xff"); }),
       "`remote_addr` must be UTF-8"},
      {With(EventFields(), "attachments", [](Builder& b) { b.Map(0); }),
       "`attachments` must be an array"},
      {With(EventFields(), "attachments",
            [](Builder& b) { b.Array(1).Str("x"); }),
       "event message attachments[0] is not a map"},
      {With(ChunkFields(), "chunk_index", [](Builder& b) { b.Bool(true); }),
       "`chunk_index` must be an unsigned integer"},
      {With(ChunkFields(), "id", [](Builder& b) { b.Uint(3); }),
       "`id` must be a string"},
      {With(StandaloneFields(), "attachment", [](Builder& b) { b.Str("a"); }),
       "attachment message attachment is not a map"},
      {With(StandaloneFields(), "attachment",
            MapWriter(With(AttachmentFields(), "size",
                           [](Builder& b) { b.Str("5"); }))),
       "`size` must be an unsigned integer"},
      {With(StandaloneFields(), "attachment",
            MapWriter(With(AttachmentFields(), "rate_limited",
                           [](Builder& b) { b.Uint(1); }))),
       "`rate_limited` must be a boolean"},
      {With(StandaloneFields(), "attachment",
            MapWriter(With(AttachmentFields(), "content_type",
                           [](Builder& b) { b.Bin("text/plain"); }))),
       "`content_type` must be a string"},
      {With(StandaloneFields(), "attachment",
            MapWriter(With(AttachmentFields(), "name",
                           [](Builder& b) { b.Str("a\xc3"); }))),
       "`name` must be UTF-8"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Reject(BuildMap(c.fields)), HasSubstr(c.message));
  }
}

TEST_F(KafkaDecodeTest, RejectsDuplicateKnownKeys) {
  Fields f = EventFields();
  f.push_back({"payload", [](Builder& b) { b.Bin("x"); }});
  EXPECT_THAT(Reject(BuildMap(f)),
              HasSubstr("event message: duplicate key `payload`"));
}

// --- Chunking ---

TEST(AttachmentChunks, CountsAndBoundaries) {
  EXPECT_EQ(AttachmentChunkCount(0, 4), 0u);
  EXPECT_EQ(AttachmentChunkCount(1, 4), 1u);
  EXPECT_EQ(AttachmentChunkCount(3, 4), 1u);
  EXPECT_EQ(AttachmentChunkCount(4, 4), 1u);
  EXPECT_EQ(AttachmentChunkCount(5, 4), 2u);
  EXPECT_EQ(AttachmentChunkCount(12, 4), 3u);
  EXPECT_EQ(AttachmentChunkCount(kAttachmentChunkSize), 1u);
  EXPECT_EQ(AttachmentChunkCount(kAttachmentChunkSize + 1), 2u);
  EXPECT_EQ(AttachmentChunkCount(5, 0), 1u);  // 0 means the default size
  EXPECT_EQ(kAttachmentChunkSize, 1024u * 1024u);

  const std::string payload = "abcdefghij";  // 10 bytes, chunks of 4
  EXPECT_EQ(AttachmentChunk(payload, 0, 4), "abcd");
  EXPECT_EQ(AttachmentChunk(payload, 1, 4), "efgh");
  EXPECT_EQ(AttachmentChunk(payload, 2, 4), "ij");
  EXPECT_EQ(AttachmentChunk(payload, 3, 4), "");
  EXPECT_EQ(AttachmentChunk(payload, UINT64_MAX, 4), "");
  EXPECT_EQ(AttachmentChunk(payload, 0, 0), payload);
  EXPECT_EQ(AttachmentChunk("", 0, 4), "");
  EXPECT_EQ(AttachmentChunk(payload, 1, 4).data(), payload.data() + 4);
}

TEST(AttachmentChunks, ChunksConcatenateToThePayload) {
  std::string payload(3 * kAttachmentChunkSize + 17, '\0');
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>(i * 7);
  }
  const uint64_t count = AttachmentChunkCount(payload.size());
  ASSERT_EQ(count, 4u);
  std::string joined;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string_view chunk = AttachmentChunk(payload, i);
    EXPECT_LE(chunk.size(), kAttachmentChunkSize);
    EXPECT_FALSE(chunk.empty());
    joined.append(chunk);
  }
  EXPECT_EQ(joined, payload);
}

// --- Outcomes ---

absl::Time May1Noon() {
  return absl::FromCivil(absl::CivilSecond(2024, 5, 1, 12, 0, 0),
                         absl::UTCTimeZone());
}

TEST(Outcome, GoldenJson) {
  OutcomeMessage m;
  m.timestamp = May1Noon();
  m.project_id = 1;
  m.key_id = 2;
  m.outcome = Outcome::kAccepted;
  m.event_id = kId;
  m.remote_addr = "127.0.0.1";
  m.category = DataCategory::kError;
  m.quantity = 1;
  std::string out = "x";
  EncodeOutcome(m, &out);
  EXPECT_EQ(out,
            "x{\"timestamp\":\"2024-05-01T12:00:00.000000Z\",\"project_id\":1,"
            "\"key_id\":2,\"outcome\":0,\"reason\":null,\"event_id\":"
            "\"fc6d8c0c43fc4630ad850ee518f1b9d0\",\"remote_addr\":"
            "\"127.0.0.1\",\"category\":1,\"quantity\":1}");

  OutcomeMessage r;
  r.timestamp = May1Noon() + absl::Nanoseconds(123456789);
  r.project_id = 42;
  r.outcome = Outcome::kRateLimited;
  r.reason = "key_quota \"x\"";
  r.category = DataCategory::kAttachment;
  r.quantity = 5000;
  out.clear();
  EncodeOutcome(r, &out);
  EXPECT_EQ(out,
            "{\"timestamp\":\"2024-05-01T12:00:00.123456Z\",\"project_id\":42,"
            "\"key_id\":null,\"outcome\":2,\"reason\":\"key_quota \\\"x\\\"\","
            "\"event_id\":null,\"remote_addr\":null,\"category\":4,"
            "\"quantity\":5000}");
}

TEST(Outcome, TimestampFormat) {
  EXPECT_EQ(FormatOutcomeTimestamp(May1Noon()), "2024-05-01T12:00:00.000000Z");
  EXPECT_EQ(FormatOutcomeTimestamp(May1Noon() + absl::Microseconds(1)),
            "2024-05-01T12:00:00.000001Z");
  // Truncated, not rounded.
  EXPECT_EQ(FormatOutcomeTimestamp(May1Noon() + absl::Nanoseconds(999999)),
            "2024-05-01T12:00:00.000999Z");
  EXPECT_EQ(FormatOutcomeTimestamp(absl::UnixEpoch()),
            "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatOutcomeTimestamp(absl::UnixEpoch() - absl::Microseconds(1)),
            "1969-12-31T23:59:59.999999Z");
  // Four-digit years, padded, so the decoder reads them back.
  const absl::Time early = absl::FromCivil(
      absl::CivilSecond(500, 1, 2, 3, 4, 5), absl::UTCTimeZone());
  EXPECT_EQ(FormatOutcomeTimestamp(early), "0500-01-02T03:04:05.000000Z");
  OutcomeMessage m;
  m.timestamp = early;
  std::string json;
  EncodeOutcome(m, &json);
  OutcomeDecoder decoder;
  OutcomeMessage got;
  ASSERT_TRUE(decoder.Decode(json, &got).ok()) << decoder.Decode(json, &got);
  EXPECT_EQ(got.timestamp, early);
}

TEST(Outcome, RoundTripsEveryOutcomeAndCategory) {
  OutcomeDecoder decoder;
  for (int code = 0; code <= 5; ++code) {
    for (int category = 0; category <= 5; ++category) {
      for (bool optionals : {false, true}) {
        OutcomeMessage m;
        m.timestamp = May1Noon() + absl::Microseconds(code * 1000 + category);
        m.project_id = 1000 + code;
        m.outcome = static_cast<Outcome>(code);
        m.category = static_cast<DataCategory>(category);
        m.quantity = static_cast<uint32_t>(category + 1);
        if (optionals) {
          m.key_id = UINT64_MAX;
          m.reason = "r\xc3\xa9\n";
          m.event_id = kId;
          m.remote_addr = "2001:db8::1";
        }
        std::string json;
        EncodeOutcome(m, &json);
        OutcomeMessage got;
        ASSERT_TRUE(decoder.Decode(json, &got).ok())
            << decoder.Decode(json, &got) << json;
        EXPECT_EQ(got, m) << json;
      }
    }
  }
}

TEST(Outcome, DecodesRelayStyleVariants) {
  OutcomeDecoder decoder;
  OutcomeMessage got;
  // Relay leaves optional keys out and adds others; fractions vary.
  ASSERT_TRUE(decoder
                  .Decode(R"({"timestamp":"2024-05-01T12:00:00.5Z","org_id":1,)"
                          R"("project_id":3,"outcome":1,"source":"x"})",
                          &got)
                  .ok());
  EXPECT_EQ(got.timestamp, May1Noon() + absl::Milliseconds(500));
  EXPECT_EQ(got.project_id, 3u);
  EXPECT_EQ(got.outcome, Outcome::kFiltered);
  EXPECT_FALSE(got.key_id.has_value());
  EXPECT_FALSE(got.reason.has_value());
  EXPECT_EQ(got.category, DataCategory::kDefault);
  EXPECT_EQ(got.quantity, 1u);
  ASSERT_TRUE(
      decoder
          .Decode(R"({"timestamp":"2024-05-01T12:00:00Z",)"
                  R"("project_id":3,"outcome":6,"category":12,)"
                  R"("event_id":"FC6D8C0C-43FC-4630-AD85-0EE518F1B9D0"})",
                  &got)
          .ok());
  EXPECT_EQ(got.timestamp, May1Noon());
  EXPECT_EQ(static_cast<int>(got.outcome), 6);
  EXPECT_EQ(static_cast<int>(got.category), 12);
  EXPECT_EQ(got.event_id, kId);
}

TEST(Outcome, RejectsMalformedOutcomes) {
  OutcomeDecoder decoder;
  OutcomeMessage got;
  const std::string ok_prefix =
      R"({"timestamp":"2024-05-01T12:00:00.000000Z","project_id":1,"outcome":0)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"project_id":1,"outcome":0})", "missing `timestamp`"},
      {R"({"timestamp":"2024-05-01T12:00:00Z","outcome":0})",
       "missing `project_id`"},
      {R"({"timestamp":"2024-05-01T12:00:00Z","project_id":1})",
       "missing `outcome`"},
      {R"({"timestamp":null,"project_id":1,"outcome":0})",
       "missing `timestamp`"},
      {R"({"timestamp":"2024-05-01 12:00:00","project_id":1,"outcome":0})",
       "`timestamp` must be a UTC timestamp"},
      {R"({"timestamp":"2024-05-01T12:00:00+00:00","project_id":1,"outcome":0})",
       "`timestamp` must be a UTC timestamp"},
      {R"({"timestamp":"2024-13-01T12:00:00Z","project_id":1,"outcome":0})",
       "`timestamp` must be a UTC timestamp"},
      {R"({"timestamp":"2024-05-01T12:00:00.Z","project_id":1,"outcome":0})",
       "`timestamp` must be a UTC timestamp"},
      {R"({"timestamp":1714564800,"project_id":1,"outcome":0})",
       "`timestamp` must be a string"},
      {R"({"timestamp":"2024-05-01T12:00:00Z","project_id":-1,"outcome":0})",
       "`project_id` must be an integer"},
      {R"({"timestamp":"2024-05-01T12:00:00Z","project_id":"1","outcome":0})",
       "`project_id` must be an integer"},
      {R"({"timestamp":"2024-05-01T12:00:00Z","project_id":1,"outcome":256})",
       "`outcome` must be an integer in 0..255"},
      {R"({"timestamp":"2024-05-01T12:00:00Z","project_id":1,"outcome":1.0})",
       "`outcome` must be an integer"},
      {ok_prefix + R"(,"category":300})", "`category` must be an integer"},
      {ok_prefix + R"(,"quantity":4294967296})",
       "`quantity` must be an integer in 0..4294967295"},
      {ok_prefix + R"(,"key_id":true})", "`key_id` must be an integer"},
      {ok_prefix + R"(,"reason":5})", "`reason` must be a string"},
      {ok_prefix + R"(,"event_id":"xyz"})", "`event_id` must be an event id"},
      {ok_prefix + R"(,"remote_addr":{}})", "`remote_addr` must be a string"},
      {ok_prefix + R"(,"outcome":1})", "duplicate key `outcome`"},
  };
  for (const auto& [json, message] : cases) {
    absl::Status s = decoder.Decode(json, &got);
    EXPECT_EQ(HttpStatusFor(s), 400) << json;
    EXPECT_THAT(Message(s), HasSubstr(message)) << json;
  }
}

}  // namespace
}  // namespace tern::protocol
