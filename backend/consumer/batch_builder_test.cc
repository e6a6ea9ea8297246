#include "backend/consumer/batch_builder.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "backend/grouping/grouping.h"
#include "backend/symbolicate/bundle_source.h"
#include "backend/symbolicate/symbolicator.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/json_value.h"
#include "protocol/kafka_codec.h"
#include "tests/support/samples.h"

namespace tern::backend::consumer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kEvents[] = "ingest-events";
constexpr char kAttachments[] = "ingest-attachments";
constexpr char kTransactions[] = "ingest-transactions";
constexpr char kSessions[] = "ingest-sessions";

constexpr char kError[] =
    R"({"event_id":"0123456789abcdef0123456789abcdef","platform":"python",)"
    R"("level":"error","release":"app@1","environment":"prod",)"
    R"("timestamp":1700000000.5,"tags":[["browser","Firefox"]],)"
    R"("exception":{"values":[{"type":"ValueError","value":"bad thing"}]}})";

protocol::EventId Id(char fill) {
  protocol::EventId id;
  auto parsed = protocol::EventId::Parse(std::string(32, fill));
  EXPECT_TRUE(parsed.has_value());
  if (parsed.has_value()) id = *parsed;
  return id;
}

// Owns message values so the views in kafka::Message stay valid.
class Messages {
 public:
  explicit Messages(int64_t first_offset = 10) : next_offset_(first_offset) {}
  void Add(std::string_view topic, int32_t partition, std::string value) {
    values_.push_back(std::make_unique<std::string>(std::move(value)));
    kafka::Message m;
    m.topic = topic;
    m.partition = partition;
    m.offset = next_offset_++;
    m.value = *values_.back();
    messages_.push_back(m);
  }
  void Event(std::string_view topic, uint64_t project, char id,
             std::string_view payload,
             std::vector<protocol::ChunkedAttachment> attachments = {}) {
    protocol::EventMessage e;
    e.payload = payload;
    e.start_time = 1700000001;
    e.event_id = Id(id);
    e.project_id = project;
    e.attachments = std::move(attachments);
    std::string out;
    protocol::EncodeEventMessage(e, &out);
    Add(topic, 0, std::move(out));
  }
  void Chunk(uint64_t project, char id, std::string_view attachment,
             uint64_t index, std::string_view data) {
    protocol::AttachmentChunkMessage c;
    c.payload = data;
    c.event_id = Id(id);
    c.project_id = project;
    c.id = attachment;
    c.chunk_index = index;
    std::string out;
    protocol::EncodeAttachmentChunkMessage(c, &out);
    Add(kAttachments, 0, std::move(out));
  }
  std::span<const kafka::Message> view() const { return messages_; }
  void Clear() { messages_.clear(); }

 private:
  std::vector<std::unique_ptr<std::string>> values_;
  std::vector<kafka::Message> messages_;
  int64_t next_offset_;
};

class BatchBuilderTest : public ::testing::Test {
 protected:
  void Build(const Messages& m) {
    builder_.Build(
        m.view(), [](int64_t id) { return id == 1 || id == 2; }, &batch_,
        &dead_);
  }
  BatchBuilder builder_{
      TopicNames{kEvents, kAttachments, kTransactions, kSessions}};
  storage::Batch batch_;
  std::vector<DeadLetter> dead_;
};

TEST_F(BatchBuilderTest, ErrorEventBecomesARecordWithHashesAndIssueFields) {
  Messages m;
  m.Event(kEvents, 1, 'a', kError);
  Build(m);
  ASSERT_THAT(dead_, IsEmpty());
  ASSERT_THAT(batch_.events, SizeIs(1));
  const storage::EventRecord& e = batch_.events[0];
  EXPECT_EQ(e.project_id, 1);
  EXPECT_EQ(e.event_id, std::string(32, 'a'));  // the message's id wins
  EXPECT_FALSE(e.is_transaction);
  EXPECT_THAT(e.hashes, SizeIs(::testing::Ge(1u)));
  EXPECT_EQ(e.issue.metadata_type, "ValueError");
  EXPECT_THAT(e.issue.title, HasSubstr("ValueError"));
  EXPECT_EQ(e.level, "error");
  EXPECT_EQ(e.release, "app@1");
  EXPECT_EQ(e.environment, "prod");
  EXPECT_EQ(e.platform, "python");
  EXPECT_EQ(e.received_ms, 1700000001000);
  EXPECT_EQ(e.timestamp_ms, 1700000000500);
  EXPECT_THAT(e.tags_json, HasSubstr("Firefox"));
  EXPECT_EQ(e.payload, kError);
  ASSERT_THAT(batch_.offsets, SizeIs(1));
  EXPECT_EQ(batch_.offsets[0].topic, kEvents);
  EXPECT_EQ(batch_.offsets[0].next_offset, 11);
}

TEST_F(BatchBuilderTest, ReceivedKeepsTheRelaysMillisecondsOverStartTime) {
  // start_time is whole seconds; two events of one second would otherwise
  // tie, and "latest" would fall back to the event id.
  Messages m;
  m.Event(kEvents, 1, 'd',
          R"({"received":1700000001.375,"timestamp":1700000000.5,)"
          R"("exception":{"values":[{"type":"E","value":"v"}]}})");
  Build(m);
  ASSERT_THAT(batch_.events, SizeIs(1));
  EXPECT_EQ(batch_.events[0].received_ms, 1700000001375);
}

TEST_F(BatchBuilderTest, TransactionsOpenNoIssue) {
  Messages m;
  m.Event(kTransactions, 1, 'b',
          R"({"type":"transaction","transaction":"/x","start_timestamp":1,)"
          R"("timestamp":2,"spans":[]})");
  Build(m);
  ASSERT_THAT(dead_, IsEmpty());
  ASSERT_THAT(batch_.events, SizeIs(1));
  EXPECT_TRUE(batch_.events[0].is_transaction);
  EXPECT_THAT(batch_.events[0].hashes, IsEmpty());
}

TEST_F(BatchBuilderTest, BadMessagesBecomeDeadLettersWithReasons) {
  Messages m;
  m.Add(kEvents, 0, "\xc1 not msgpack");
  m.Event(kEvents, 1, 'c', "[1,2,3]");
  m.Event(kEvents, 99, 'd', kError);
  m.Add(kSessions, 0, "{not json");
  m.Add(kSessions, 0,
        R"({"project_id":1,"release":"r","started":1.0,"status":"odd"})");
  m.Add(kSessions, 0,
        R"({"project_id":99,"release":"r","started":1.0,"status":"ok"})");
  protocol::UserReportMessage report;
  report.project_id = 1;
  report.payload = "{}";
  std::string encoded;
  protocol::EncodeUserReportMessage(report, &encoded);
  m.Add(kAttachments, 0, encoded);
  m.Event(kEvents, 2, 'e', kError);  // a good one still goes through
  Build(m);
  std::vector<std::pair<size_t, DeadLetterReason>> got;
  for (const DeadLetter& d : dead_) got.emplace_back(d.index, d.reason);
  EXPECT_THAT(got,
              ElementsAre(std::pair{0u, DeadLetterReason::k_bad_message},
                          std::pair{1u, DeadLetterReason::k_bad_payload},
                          std::pair{2u, DeadLetterReason::k_unknown_project},
                          std::pair{3u, DeadLetterReason::k_bad_session},
                          std::pair{4u, DeadLetterReason::k_bad_session},
                          std::pair{5u, DeadLetterReason::k_unknown_project},
                          std::pair{6u, DeadLetterReason::k_unsupported}));
  EXPECT_THAT(dead_[2].detail, HasSubstr("99"));
  EXPECT_THAT(dead_[4].detail, HasSubstr("odd"));
  ASSERT_THAT(batch_.events, SizeIs(1));
  EXPECT_EQ(batch_.events[0].project_id, 2);
  // Every partition's offset moves past its dead letters too.
  for (const storage::PartitionOffset& o : batch_.offsets) {
    if (o.topic == kEvents) {
      EXPECT_EQ(o.next_offset, 18);
    }
    if (o.topic == kSessions) {
      EXPECT_EQ(o.next_offset, 16);
    }
    if (o.topic == kAttachments) {
      EXPECT_EQ(o.next_offset, 17);
    }
  }
  EXPECT_EQ(DeadLetterReasonName(DeadLetterReason::k_unknown_project),
            "unknown_project");
}

TEST_F(BatchBuilderTest, SessionsAddUpPerProjectReleaseEnvironmentAndHour) {
  Messages m;
  // 1700002800 = 472223 * 3600: an hour boundary.
  auto session = [&](std::string_view status, int seq, int errors,
                     std::string_view release, int started_offset,
                     int quantity = 1) {
    m.Add(kSessions, 0,
          absl::StrCat(R"({"project_id":1,"release":")", ToAbsl(release),
                       R"(","environment":"prod","started":)",
                       1700002800 + started_offset, R"(.5,"status":")",
                       ToAbsl(status), R"(","seq":)", seq, R"(,"errors":)",
                       errors, R"(,"quantity":)", quantity, "}"));
  };
  session("ok", 0, 0, "r1", 10);          // started
  session("exited", 3, 0, "r1", 10);      // healthy
  session("exited", 0, 2, "r1", 20);      // started + errored
  session("crashed", 5, 1, "r1", 30);     // crashed
  session("abnormal", 0, 0, "r1", 3598);  // started + abnormal
  session("errored", 0, 1, "r1", 40, 4);  // aggregate: 4 started + errored
  session("exited", 0, 0, "r2", 10);      // other release
  session("exited", 0, 0, "r1", 3600);    // next hour
  Build(m);
  ASSERT_THAT(dead_, IsEmpty());
  ASSERT_THAT(batch_.sessions, SizeIs(3));
  const storage::SessionDelta& d = batch_.sessions[0];
  EXPECT_EQ(d.project_id, 1);
  EXPECT_EQ(d.release, "r1");
  EXPECT_EQ(d.environment, "prod");
  EXPECT_EQ(d.hour_s, 1700002800);
  EXPECT_EQ(d.started, 1 + 1 + 1 + 4);
  EXPECT_EQ(d.healthy, 1);
  EXPECT_EQ(d.errored, 1 + 4);
  EXPECT_EQ(d.crashed, 1);
  EXPECT_EQ(d.abnormal, 1);
  EXPECT_EQ(batch_.sessions[1].release, "r2");
  EXPECT_EQ(batch_.sessions[2].hour_s, 1700002800 + 3600);
  EXPECT_EQ(batch_.sessions[2].healthy, 1);
}

TEST_F(BatchBuilderTest, AttachmentChunksJoinTheirEventAcrossBatches) {
  protocol::ChunkedAttachment a;
  a.id = "att-1";
  a.name = "log.txt";
  a.content_type = "text/plain";
  a.attachment_type = "event.attachment";
  a.chunks = 2;
  a.size = 6;

  Messages first;
  first.Event(kEvents, 1, 'f', kError);    // offset 10 on ingest-events
  first.Chunk(1, 'a', "att-1", 0, "abc");  // offset 11
  Build(first);
  EXPECT_THAT(batch_.events, SizeIs(1));
  EXPECT_EQ(builder_.pending_chunk_bytes(), 3u);
  // The attachments partition must restart at the waiting chunk.
  for (const storage::PartitionOffset& o : batch_.offsets) {
    if (o.topic == kAttachments) {
      EXPECT_EQ(o.next_offset, 11);
    }
  }

  Messages second(12);
  second.Chunk(1, 'a', "att-1", 1, "def");
  {
    protocol::EventMessage e;
    e.payload = kError;
    e.start_time = 1700000001;
    e.event_id = Id('a');
    e.project_id = 1;
    e.attachments = {a};
    std::string out;
    protocol::EncodeEventMessage(e, &out);
    second.Add(kAttachments, 0, std::move(out));
  }
  Build(second);
  ASSERT_THAT(dead_, IsEmpty());
  ASSERT_THAT(batch_.events, SizeIs(1));
  ASSERT_THAT(batch_.events[0].attachments, SizeIs(1));
  const storage::Attachment& got = batch_.events[0].attachments[0];
  EXPECT_EQ(got.data, "abcdef");
  EXPECT_EQ(got.name, "log.txt");
  EXPECT_EQ(got.content_type, "text/plain");
  EXPECT_EQ(got.attachment_type, "event.attachment");
  EXPECT_EQ(builder_.pending_chunk_bytes(), 0u);
  ASSERT_THAT(batch_.offsets, SizeIs(1));
  EXPECT_EQ(batch_.offsets[0].next_offset, 14);  // past both messages
}

TEST_F(BatchBuilderTest, MissingChunksDropTheAttachmentNotTheEvent) {
  protocol::ChunkedAttachment a;
  a.id = "att-2";
  a.name = "big.bin";
  a.attachment_type = "event.attachment";
  a.chunks = 3;
  Messages m;
  m.Chunk(1, 'b', "att-2", 0, "x");
  m.Chunk(1, 'b', "att-2", 2, "z");
  protocol::EventMessage e;
  e.payload = kError;
  e.event_id = Id('b');
  e.project_id = 1;
  e.attachments = {a};
  std::string out;
  protocol::EncodeEventMessage(e, &out);
  m.Add(kAttachments, 0, std::move(out));
  Build(m);
  ASSERT_THAT(batch_.events, SizeIs(1));
  EXPECT_THAT(batch_.events[0].attachments, IsEmpty());
  EXPECT_EQ(builder_.counts().attachments_incomplete, 1);
  EXPECT_EQ(builder_.pending_chunk_bytes(), 0u);
}

TEST_F(BatchBuilderTest, ReplayedChunksAreCountedOnce) {
  Messages m;
  m.Chunk(1, 'c', "att-3", 0, "12345");
  m.Chunk(1, 'c', "att-3", 0, "12345");
  Build(m);
  EXPECT_EQ(builder_.pending_chunk_bytes(), 5u);
}

}  // namespace
}  // namespace tern::backend::consumer

namespace tern::backend::consumer {
namespace {

// Symbolication runs before grouping: two different minified builds of the
// same source (the two bugsink bundles, uglifyjs output of one file with and
// without a bundled neighbour) give one issue hash once mapped, while their
// minified frames would not.
TEST(BatchBuilderSymbolicateTest, MinifiedBuildsOfOneSourceGroupTogether) {
  symbolicate::MemoryBundleSource source;
  for (const char* zip : {"bugsink/artifact_bundles/"
                          "51a5a327666cf1d11e23adfd55c3becad27ae769.zip",
                          "bugsink/artifact_bundles/"
                          "fc8564966f3dff67e1d59a984f97e0d6beb6debb.zip"}) {
    ASSERT_TRUE(source.Add(1, tern::testing::ReadEventSample(zip)).ok());
  }
  symbolicate::Symbolicator symbolicator(&source, {});
  const std::string first = tern::testing::ReadEventSample(
      "bugsink/uglifyjs-minified-sourcemaps-in-bundle.json");
  // The second build served from the same place as the first.
  const std::string second = absl::StrReplaceAll(
      tern::testing::ReadEventSample(
          "bugsink/uglifyjs-minified-sourcemaps-in-bundle-multi-file.json"),
      {{"file:///home/klaas/dev/mksourcemaps/",
        "file:///mnt/datacrypt/dev/mksourcemaps/"}});
  auto raw_first = grouping::Analyze(first);
  auto raw_second = grouping::Analyze(second);
  ASSERT_TRUE(raw_first.ok() && raw_second.ok());
  EXPECT_NE(raw_first->hashes.ordered, raw_second->hashes.ordered);

  Messages m;
  m.Event(kEvents, 1, 'a', first);
  m.Event(kEvents, 1, 'b', second);
  BatchBuilder builder{
      TopicNames{kEvents, kAttachments, kTransactions, kSessions}};
  builder.SetPreprocessor([&](int64_t project, std::string_view payload) {
    return symbolicator.Process(project, payload);
  });
  storage::Batch batch;
  std::vector<DeadLetter> dead;
  builder.Build(
      m.view(), [](int64_t id) { return id == 1; }, &batch, &dead);
  ASSERT_THAT(dead, IsEmpty());
  ASSERT_THAT(batch.events, SizeIs(2));
  EXPECT_EQ(batch.events[0].hashes, batch.events[1].hashes);
  EXPECT_NE(batch.events[0].hashes, raw_first->hashes.ordered);
  // The stored payload is the symbolicated one, minified frames kept.
  auto stored = protocol::ParseJson(batch.events[0].payload);
  ASSERT_TRUE(stored.ok());
  const protocol::JsonValue& exc = (*stored)["exception"]["values"][0];
  EXPECT_EQ(exc["stacktrace"]["frames"][3]["function"].string(), "bar");
  EXPECT_EQ(exc["stacktrace"]["frames"][3]["lineno"].integer(), 7);
  EXPECT_EQ(exc["raw_stacktrace"]["frames"][3]["colno"].integer(), 40);
  EXPECT_EQ(batch.events[0].issue.metadata_function, "bar");
  EXPECT_THAT(batch.events[0].issue.metadata_filename,
              HasSubstr("captureException.js"));
}

}  // namespace
}  // namespace tern::backend::consumer
