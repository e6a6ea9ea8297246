#include "relay/pipeline/pipeline.h"

#include <zlib.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/kafka_codec.h"
#include "relay/kafka/mock_cluster.h"
#include "relay/kafka/producer.h"
#include "relay/kafka/test_consumer.h"
#include "relay/project/project_table.h"
#include "tests/support/compress.h"

namespace tern::relay::pipeline {

// In pipeline_test_table.cc: project_table.h cannot share a translation unit
// with kafka_codec.h (see key_check.h). Project 1 (allowed origin
// https://good.example) has `key` (key id 7) and the disabled
// `disabled_key` (id 8); project 2 (any origin) has `other_key` (id 9).
std::shared_ptr<const project::ProjectTable> MakeTestTable(
    const char* key, const char* disabled_key, const char* other_key);

namespace {

using protocol::DataCategory;
using protocol::Outcome;
using ::testing::HasSubstr;

constexpr char kKey[] = "abc123";
constexpr char kDisabledKey[] = "dead00";
constexpr char kOtherKey[] = "other9";
constexpr char kEventId[] = "0123456789abcdef0123456789abcdef";

template <typename F>
bool WaitFor(F cond, absl::Duration timeout = absl::Seconds(10)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return cond();
}

std::string Compress(std::string_view in, int window_bits) {
  return tern::testing::Deflate(in, window_bits);
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = kafka::MockCluster::Create(1);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    const Topics t;
    for (const std::string& name :
         {t.events, t.attachments, t.transactions, t.sessions, t.outcomes}) {
      ASSERT_TRUE(cluster_->CreateTopic(name, 1).ok());
    }
    producer_ = MakeProducer(kafka::ProducerConfig());
    ASSERT_NE(producer_, nullptr);

    table_ = MakeTestTable(kKey, kDisabledKey, kOtherKey);
    ASSERT_NE(table_, nullptr);

    PipelineOptions o;
    o.seed = 42;
    pipeline_ = std::make_unique<Pipeline>(std::move(o), producer_.get());
  }

  std::unique_ptr<kafka::Producer> MakeProducer(kafka::ProducerConfig c) {
    c.bootstrap_servers = cluster_->bootstrap_servers();
    c.linger_ms = 1;
    c.properties["reconnect.backoff.ms"] = "10";
    c.properties["reconnect.backoff.max.ms"] = "100";
    c.close_timeout = absl::Milliseconds(100);
    c.log = [](kafka::LogSeverity, std::string_view) {};
    auto p = kafka::Producer::Create(std::move(c));
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return nullptr;
    EXPECT_TRUE(WaitFor([&] { return (*p)->Ready(); }));
    return *std::move(p);
  }

  Request Store(std::string_view body) {
    Request r;
    r.route = Request::kStore;
    r.url_project_id = 1;
    x_auth_ = absl::StrCat("Sentry sentry_key=", kKey,
                           ", sentry_version=7, sentry_client=test/1.0");
    r.x_sentry_auth = x_auth_;
    r.client_ip = "10.0.0.1";
    r.body = body;
    r.received = absl::FromUnixSeconds(1700000000);
    return r;
  }
  Request Env(std::string_view body) {
    Request r = Store(body);
    r.route = Request::kEnvelope;
    return r;
  }

  Response Handle(const Request& r) { return pipeline_->Handle(r, *table_); }

  std::vector<kafka::testing::ConsumedMessage> Read(std::string_view topic) {
    EXPECT_TRUE(producer_->Flush(absl::Seconds(10)).ok());
    auto got =
        kafka::testing::ReadPartition(cluster_->bootstrap_servers(), topic, 0);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *std::move(got)
                    : std::vector<kafka::testing::ConsumedMessage>{};
  }

  std::vector<protocol::OutcomeMessage> Outcomes() {
    outcome_values_ = Read(Topics().outcomes);
    std::vector<protocol::OutcomeMessage> out;
    for (const auto& m : outcome_values_) {
      protocol::OutcomeMessage o;
      EXPECT_TRUE(outcome_decoder_.Decode(m.value, &o).ok()) << m.value;
      o.reason.reset();  // a view into the decoder; tests use reasons below
      out.push_back(o);
    }
    return out;
  }
  // The decoded reason of outcome `i` of the last Outcomes() read.
  std::string Reason(size_t i) {
    protocol::OutcomeMessage o;
    EXPECT_TRUE(outcome_decoder_.Decode(outcome_values_[i].value, &o).ok());
    return o.reason ? std::string(*o.reason) : "";
  }

  std::unique_ptr<kafka::MockCluster> cluster_;
  std::unique_ptr<kafka::Producer> producer_;
  std::shared_ptr<const project::ProjectTable> table_;
  std::unique_ptr<Pipeline> pipeline_;
  std::string x_auth_;
  std::vector<kafka::testing::ConsumedMessage> outcome_values_;
  protocol::KafkaMessageDecoder decoder_;
  protocol::OutcomeDecoder outcome_decoder_;
};

const std::string kEvent =
    absl::StrCat(R"({"event_id":")", kEventId,
                 R"(","level":"warn","exception":{"values":[{"type":"E",)",
                 R"("value":"boom"}]},"user":{"ip_address":"{{auto}}"}})");

TEST_F(PipelineTest, StoreJsonEventIsProducedNormalizedWithAnOutcome) {
  Response r = Handle(Store(kEvent));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, absl::StrCat(R"({"id":")", kEventId, R"("})"));

  auto events = Read(Topics().events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].key, kEventId);
  protocol::KafkaMessage msg;
  ASSERT_TRUE(decoder_.Decode(events[0].value, &msg).ok());
  const auto* ev = std::get_if<protocol::EventMessage>(&msg);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->project_id, 1u);
  EXPECT_EQ(ev->event_id.ToHex(), kEventId);
  EXPECT_EQ(ev->start_time, 1700000000u);
  EXPECT_EQ(ev->remote_addr, "10.0.0.1");
  EXPECT_TRUE(ev->attachments.empty());
  // Normalized: level rewritten, {{auto}} replaced, received added.
  EXPECT_THAT(ev->payload, HasSubstr(R"("level":"warning")"));
  EXPECT_THAT(ev->payload, HasSubstr("10.0.0.1"));
  EXPECT_THAT(ev->payload, HasSubstr(R"("received")"));

  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].outcome, Outcome::kAccepted);
  EXPECT_EQ(outcomes[0].project_id, 1u);
  EXPECT_EQ(outcomes[0].key_id, 7u);
  EXPECT_EQ(outcomes[0].category, DataCategory::kError);
  ASSERT_TRUE(outcomes[0].event_id.has_value());
  EXPECT_EQ(outcomes[0].event_id->ToHex(), kEventId);
  EXPECT_EQ(pipeline_->counters().items_accepted.load(), 1u);
  EXPECT_EQ(pipeline_->counters().requests[0][2].load(), 1u);
}

TEST_F(PipelineTest, StoreBase64ZlibBody) {
  std::string body = absl::Base64Escape(Compress(kEvent, 15));
  Response r = Handle(Store(body));
  EXPECT_EQ(r.status, 200) << r.body;
  auto events = Read(Topics().events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].key, kEventId);
}

TEST_F(PipelineTest, GzipEnvelopeWithAttachmentGoesToAttachmentsTopic) {
  const std::string attachment(10, 'A');
  std::string env = absl::StrCat(
      R"({"event_id":")", kEventId, "\"}\n", R"({"type":"event"})", "\n",
      kEvent, "\n", R"({"type":"attachment","length":10,"filename":"a.txt",)",
      R"("content_type":"text/plain"})", "\n", attachment, "\n");
  std::string gz = Compress(env, 31);
  Request req = Env(gz);
  req.content_encoding = "gzip";
  Response r = Handle(req);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, absl::StrCat(R"({"id":")", kEventId, R"("})"));

  EXPECT_TRUE(Read(Topics().events).empty());
  auto msgs = Read(Topics().attachments);
  ASSERT_EQ(msgs.size(), 2u);
  protocol::KafkaMessage chunk_msg;
  ASSERT_TRUE(decoder_.Decode(msgs[0].value, &chunk_msg).ok());
  const auto* chunk = std::get_if<protocol::AttachmentChunkMessage>(&chunk_msg);
  ASSERT_NE(chunk, nullptr);
  EXPECT_EQ(chunk->payload, attachment);
  EXPECT_EQ(chunk->chunk_index, 0u);
  EXPECT_EQ(chunk->project_id, 1u);
  EXPECT_EQ(chunk->event_id.ToHex(), kEventId);

  protocol::KafkaMessageDecoder decoder2;
  protocol::KafkaMessage ev_msg;
  ASSERT_TRUE(decoder2.Decode(msgs[1].value, &ev_msg).ok());
  const auto* ev = std::get_if<protocol::EventMessage>(&ev_msg);
  ASSERT_NE(ev, nullptr);
  ASSERT_EQ(ev->attachments.size(), 1u);
  EXPECT_EQ(ev->attachments[0].id, chunk->id);
  EXPECT_EQ(ev->attachments[0].name, "a.txt");
  EXPECT_EQ(ev->attachments[0].content_type, "text/plain");
  EXPECT_EQ(ev->attachments[0].attachment_type, "event.attachment");
  EXPECT_EQ(ev->attachments[0].chunks, 1u);
  EXPECT_EQ(ev->attachments[0].size, 10u);

  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].category, DataCategory::kError);
  EXPECT_EQ(outcomes[1].category, DataCategory::kAttachment);
  EXPECT_EQ(outcomes[1].quantity, 10u);
}

TEST_F(PipelineTest, TransactionAndSessionGoToTheirTopics) {
  std::string env = absl::StrCat(
      "{}\n", R"({"type":"transaction"})", "\n",
      R"({"type":"transaction","transaction":"/x","start_timestamp":1699999999,)",
      R"("timestamp":1700000000,"contexts":{"trace":{"trace_id":")",
      "0123456789abcdef0123456789abcdef",
      R"(","span_id":"0123456789abcdef"}}})", "\n", R"({"type":"session"})",
      "\n",
      R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341","status":"ok",)"
      R"("started":"2023-11-14T22:13:20Z","attrs":{"release":"r@1"}})",
      "\n", R"({"type":"sessions"})", "\n",
      R"({"aggregates":[{"started":"2023-11-14T22:13:00Z","exited":4,)"
      R"("crashed":1}],"attrs":{"release":"r@1"}})",
      "\n", R"({"type":"session"})", "\n", R"({"sid":"not-a-uuid"})", "\n",
      R"({"type":"client_report"})", "\n",
      R"({"discarded_events":[{"reason":"queue_overflow","category":"error",)",
      R"("quantity":3}]})", "\n", R"({"type":"check_in"})", "\n", "{}\n");
  Response r = Handle(Env(env));
  EXPECT_EQ(r.status, 200) << r.body;

  auto tx = Read(Topics().transactions);
  ASSERT_EQ(tx.size(), 1u);
  protocol::KafkaMessage msg;
  ASSERT_TRUE(decoder_.Decode(tx[0].value, &msg).ok());
  ASSERT_TRUE(std::holds_alternative<protocol::EventMessage>(msg));
  EXPECT_EQ(r.body, absl::StrCat(R"({"id":")", tx[0].key, R"("})"));

  // Relay's session messages: one per update, one per non-zero count of an
  // aggregate group; the invalid session produces none.
  auto sessions = Read(Topics().sessions);
  ASSERT_EQ(sessions.size(), 3u);
  EXPECT_EQ(sessions[0].key, "1");
  EXPECT_THAT(
      sessions[0].value,
      HasSubstr(R"("session_id":"5d52fd05-fcc9-4bf3-9dc9-267783670341")"));
  EXPECT_THAT(sessions[0].value, HasSubstr(R"("project_id":1,)"));
  EXPECT_THAT(sessions[0].value, HasSubstr(R"("sdk":"test/1.0")"));
  EXPECT_THAT(sessions[1].value, HasSubstr(R"("quantity":4,)"));
  EXPECT_THAT(sessions[2].value, HasSubstr(R"("status":"crashed")"));
  EXPECT_TRUE(Read(Topics().events).empty());

  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 6u);
  EXPECT_EQ(outcomes[0].category, DataCategory::kTransaction);
  EXPECT_EQ(outcomes[0].outcome, Outcome::kAccepted);
  EXPECT_EQ(outcomes[1].category, DataCategory::kSession);
  EXPECT_EQ(outcomes[1].outcome, Outcome::kAccepted);
  EXPECT_EQ(outcomes[1].quantity, 1u);
  EXPECT_EQ(outcomes[2].category, DataCategory::kSession);
  EXPECT_EQ(outcomes[2].quantity, 5u);  // 4 exited + 1 crashed
  EXPECT_EQ(outcomes[3].outcome, Outcome::kInvalid);
  EXPECT_EQ(Reason(3), "invalid_session");
  // The client report is not stored: its entry becomes a client_discard
  // outcome, as a processing Relay does.
  EXPECT_EQ(outcomes[4].outcome, Outcome::kClientDiscard);
  EXPECT_EQ(outcomes[4].category, DataCategory::kError);
  EXPECT_EQ(outcomes[4].quantity, 3u);
  EXPECT_EQ(Reason(4), "queue_overflow");
  EXPECT_EQ(outcomes[5].outcome, Outcome::kInvalid);  // check_in dropped
  EXPECT_EQ(Reason(5), "unsupported_item_type");
  EXPECT_EQ(pipeline_->counters().items_dropped.load(), 1u);
  EXPECT_EQ(pipeline_->counters().client_reports.load(), 1u);
}

TEST_F(PipelineTest, UserReportGoesToAttachmentsAndUnknownItemsForwardOrDrop) {
  ASSERT_TRUE(cluster_->CreateTopic(Topics().other, 1).ok());
  const std::string env = absl::StrCat(
      R"({"event_id":")", kEventId, R"("})", "\n", R"({"type":"user_report"})",
      "\n",
      R"({"event_id":"fedcba9876543210fedcba9876543210","comments":"broke"})",
      "\n", R"({"type":"user_report"})", "\n", R"({"comments":"no id"})", "\n",
      R"({"type":"check_in"})", "\n", R"({"check_in_id":"c1"})", "\n");
  // Dropped by default (unknown_items: drop).
  Response r = Handle(Env(env));
  EXPECT_EQ(r.status, 200) << r.body;
  auto reports = Read(Topics().attachments);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].key, "fedcba9876543210fedcba9876543210");
  protocol::KafkaMessage msg;
  ASSERT_TRUE(decoder_.Decode(reports[0].value, &msg).ok());
  ASSERT_TRUE(std::holds_alternative<protocol::UserReportMessage>(msg));
  EXPECT_EQ(std::get<protocol::UserReportMessage>(msg).project_id, 1u);
  EXPECT_THAT(std::string(std::get<protocol::UserReportMessage>(msg).payload),
              HasSubstr("broke"));
  EXPECT_TRUE(Read(Topics().other).empty());
  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(Reason(0), "invalid_user_report");
  EXPECT_EQ(Reason(1), "unsupported_item_type");
  EXPECT_EQ(pipeline_->counters().invalid_by_reason[10].load(), 1u);
  EXPECT_EQ(kInvalidReasons[10], "invalid_user_report");
  EXPECT_EQ(pipeline_->counters().invalid_by_reason[11].load(), 1u);

  // unknown_items: forward.
  PipelineOptions o;
  o.seed = 42;
  o.forward_unknown_items = true;
  pipeline_ = std::make_unique<Pipeline>(std::move(o), producer_.get());
  r = Handle(Env(env));
  EXPECT_EQ(r.status, 200) << r.body;
  auto other = Read(Topics().other);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].key, kEventId);
  ASSERT_TRUE(decoder_.Decode(other[0].value, &msg).ok());
  ASSERT_TRUE(std::holds_alternative<protocol::ItemMessage>(msg));
  const auto& item = std::get<protocol::ItemMessage>(msg);
  EXPECT_EQ(item.item_type, "check_in");
  EXPECT_EQ(item.payload, R"({"check_in_id":"c1"})");
  EXPECT_EQ(item.project_id, 1u);
  outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_EQ(outcomes[3].outcome, Outcome::kAccepted);
}

TEST_F(PipelineTest, EventsAreScrubbedByTheProjectsSettings) {
  // Project 1 keeps the default: scrubbing on.
  Response r = Handle(
      Store(R"({"message":"m","extra":{"db_password":"hunter2","plain":"ok"},)"
            R"("request":{"headers":{"Cookie":"a=b","Accept":"*/*"}}})"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto events = Read(Topics().events);
  ASSERT_EQ(events.size(), 1u);
  protocol::KafkaMessage msg;
  ASSERT_TRUE(decoder_.Decode(events[0].value, &msg).ok());
  const std::string payload(std::get<protocol::EventMessage>(msg).payload);
  EXPECT_THAT(payload, HasSubstr(R"("db_password":"[Filtered]")"));
  EXPECT_THAT(payload, HasSubstr(R"("plain":"ok")"));
  EXPECT_THAT(payload, ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(payload, ::testing::Not(HasSubstr("a=b")));
}

TEST_F(PipelineTest, AuthAndKeyErrors) {
  struct Case {
    std::string name;
    std::string x_auth;
    std::string authorization;
    std::string query;
    std::string origin;
    int status;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"missing", "", "", "", "", 401, "missing authorization"},
      {"multiple", absl::StrCat("Sentry sentry_key=", kKey), "",
       absl::StrCat("sentry_key=", kKey), "", 401, "multiple"},
      {"version 8",
       absl::StrCat("Sentry sentry_key=", kKey, ",sentry_version=8"), "", "",
       "", 400, "version"},
      {"unknown", "Sentry sentry_key=nosuchkey", "", "", "", 403, "unknown"},
      {"disabled", absl::StrCat("Sentry sentry_key=", kDisabledKey), "", "", "",
       403, "disabled"},
      {"mismatch", "", absl::StrCat("Sentry sentry_key=", kOtherKey), "", "",
       403, "mismatch"},
      {"origin", "", "", absl::StrCat("?sentry_key=", kKey),
       "https://evil.example", 403, "origin"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Request req = Store(kEvent);
    req.x_sentry_auth = c.x_auth;
    req.authorization = c.authorization;
    req.query = c.query;
    req.origin = c.origin;
    Response r = Handle(req);
    EXPECT_EQ(r.status, c.status) << r.body;
    EXPECT_THAT(r.body, HasSubstr(c.detail));
    EXPECT_TRUE(absl::StartsWith(r.body, R"({"detail":")")) << r.body;
  }
  // The allowed origin passes.
  Request ok = Store(kEvent);
  ok.origin = "https://good.example";
  EXPECT_EQ(Handle(ok).status, 200);
  EXPECT_EQ(pipeline_->counters().auth_errors.load(), cases.size());
}

TEST_F(PipelineTest, EnvelopeDsnIsAnAuthSourceOnlyWithoutHeaderAuth) {
  std::string env =
      absl::StrCat(R"({"dsn":"https://)", kKey, R"(@o1.ingest.example/1"})",
                   "\n", R"({"type":"event"})", "\n", kEvent, "\n");
  Request req = Env(env);
  req.x_sentry_auth = "";
  EXPECT_EQ(Handle(req).status, 200);
  // With a header too: the header wins, no "multiple payloads" 401.
  EXPECT_EQ(Handle(Env(env)).status, 200);
  // A DSN naming another project than the URL.
  req.url_project_id = 2;
  EXPECT_EQ(Handle(req).status, 403);
}

TEST_F(PipelineTest, TooLargeAndUnknownEncoding) {
  // Compressed under the limit, decompressed over it.
  const std::string big = std::string(5000, ' ') + kEvent;
  std::string gz = Compress(big, 31);
  PipelineOptions o;
  o.limits.max_event_size = gz.size() + 1;
  Pipeline small(std::move(o), producer_.get());
  Response r = small.Handle(Store(big), *table_);
  EXPECT_EQ(r.status, 413) << r.body;
  Request req = Store(gz);
  req.content_encoding = "gzip";
  r = small.Handle(req, *table_);
  EXPECT_EQ(r.status, 413) << r.body;

  Request bad = Store(kEvent);
  bad.content_encoding = "compress";
  r = Handle(bad);
  EXPECT_EQ(r.status, 415) << r.body;
  EXPECT_EQ(small.counters().decode_errors.load(), 2u);
}

TEST_F(PipelineTest, ItemLimitsMakeTheEnvelope413BeforeProducingAnything) {
  PipelineOptions o;
  o.limits.max_attachment_size = 10;
  o.limits.max_event_size = 4096;
  o.limits.max_items_per_envelope = 3;
  Pipeline p(std::move(o), producer_.get());
  const std::string event_item =
      absl::StrCat(R"({"type":"event"})", "\n", kEvent, "\n");
  auto attachment = [](size_t n) {
    return absl::StrCat(R"({"type":"attachment","filename":"a.txt"})", "\n",
                        std::string(n, 'x'), "\n");
  };
  Response r =
      p.Handle(Env(absl::StrCat("{}\n", event_item, attachment(10))), *table_);
  EXPECT_EQ(r.status, 200) << r.body;
  r = p.Handle(Env(absl::StrCat("{}\n", event_item, attachment(11))), *table_);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_THAT(r.body, HasSubstr("attachment item of 11 bytes"));
  const std::string big_event =
      absl::StrCat(R"({"type":"event"})", "\n", R"({"message":")",
                   std::string(5000, 'm'), R"("})", "\n");
  r = p.Handle(Env(absl::StrCat("{}\n", big_event)), *table_);
  EXPECT_EQ(r.status, 413) << r.body;
  r = p.Handle(Env(absl::StrCat("{}\n", attachment(1), attachment(1),
                                attachment(1), attachment(1))),
               *table_);
  EXPECT_EQ(r.status, 413) << r.body;
  // Only the first envelope's event and attachment reached Kafka.
  EXPECT_EQ(Read(Topics().attachments).size(), 2u);  // one chunk + the event
}

TEST_F(PipelineTest, InvalidJsonStoreIs400WithAnInvalidOutcome) {
  Response r = Handle(Store("{\"message\": nope}"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("invalid_json"));
  EXPECT_TRUE(Read(Topics().events).empty());
  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].outcome, Outcome::kInvalid);
  EXPECT_EQ(Reason(0), "invalid_json");
}

TEST_F(PipelineTest, EnvelopeWithInvalidEventIs200WithAnInvalidOutcome) {
  std::string env = absl::StrCat(R"({"event_id":")", kEventId, "\"}\n",
                                 R"({"type":"event"})", "\n", "[1,2]\n");
  Response r = Handle(Env(env));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, absl::StrCat(R"({"id":")", kEventId, R"("})"));
  EXPECT_TRUE(Read(Topics().events).empty());
  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].outcome, Outcome::kInvalid);
  EXPECT_EQ(Reason(0), "not_an_object");
  EXPECT_EQ(pipeline_->counters().items_invalid.load(), 1u);

  // An envelope that does not parse is a 400.
  r = Handle(Env("not json\n"));
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(PipelineTest, BackpressureAnswers503BeforeParsingAndProducesNothing) {
  kafka::ProducerConfig c;
  c.queue_high_watermark = 2;
  c.queue_low_watermark = 1;
  auto p = MakeProducer(std::move(c));
  ASSERT_NE(p, nullptr);
  // Warm up so the producer knows the leader before the broker goes down.
  ASSERT_TRUE(p->Produce("warmup", "k", "v", 0).ok());
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(p->Produce("warmup", "k", "v", 0).ok());
  ASSERT_FALSE(p->Accepting());

  PipelineOptions o;
  o.retry_after = absl::Seconds(7);
  Pipeline pipeline(std::move(o), p.get());
  Response r = pipeline.Handle(Store(kEvent), *table_);
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.headers,
              ::testing::Contains(
                  std::pair<std::string, std::string>("Retry-After", "7")));
  EXPECT_EQ(p->InFlight(), 3);  // nothing of ours was produced
  EXPECT_EQ(pipeline.counters().backpressure.load(), 1u);
  EXPECT_EQ(pipeline.counters().requests[0][5].load(), 1u);

  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  EXPECT_TRUE(Read(Topics().events).empty());
  EXPECT_TRUE(Read(Topics().outcomes).empty());
}

TEST_F(PipelineTest, ProduceFailureMidRequestIs503NotA200) {
  // Accepting() is still true at the high watermark, but the local queue
  // has room for one more message only: the attachment chunk fits, the
  // event does not.
  kafka::ProducerConfig c;
  c.queue_high_watermark = 10;
  c.queue_low_watermark = 5;
  c.queue_max_messages = 11;
  auto p = MakeProducer(std::move(c));
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->Produce("warmup", "k", "v", 0).ok());
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(p->Produce("warmup", "k", "v", 0).ok());
  }
  ASSERT_TRUE(p->Accepting());

  Pipeline pipeline(PipelineOptions(), p.get());
  std::string env =
      absl::StrCat("{}\n", R"({"type":"event"})", "\n", kEvent, "\n",
                   R"({"type":"attachment","length":3})", "\n", "abc", "\n");
  Response r = pipeline.Handle(Env(env), *table_);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(pipeline.counters().produce_errors.load(), 1u);
  EXPECT_EQ(pipeline.counters().items_accepted.load(), 0u);

  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  // The chunk produced before the failure stays produced (the retry is
  // deduplicated downstream); no event and no accepted outcome.
  EXPECT_EQ(Read(Topics().attachments).size(), 1u);
  EXPECT_TRUE(Read(Topics().events).empty());
  EXPECT_TRUE(Read(Topics().outcomes).empty());
}

TEST_F(PipelineTest, StoreWithEnvelopeContentTypeIsAnEnvelope) {
  std::string env =
      absl::StrCat("{}\n", R"({"type":"event"})", "\n", kEvent, "\n");
  Request req = Store(env);
  req.content_type = "application/x-sentry-envelope";
  Response r = Handle(req);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Read(Topics().events).size(), 1u);
}

}  // namespace
}  // namespace tern::relay::pipeline

namespace tern::relay::pipeline {
namespace {

config::Quota TestQuota(std::string id, uint64_t limit,
                        std::vector<protocol::DataCategory> categories,
                        std::string reason) {
  config::Quota q;
  q.id = std::move(id);
  q.limit = limit;
  q.window_seconds = 3600;
  q.categories = std::move(categories);
  q.reason_code = std::move(reason);
  return q;
}

class PipelineQuotaTest : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    UseQuotas(
        {TestQuota("errors", 2, {DataCategory::kError}, "too_many_errors"),
         TestQuota("bytes", 10, {DataCategory::kAttachment}, "big")});
  }
  void UseQuotas(std::vector<config::Quota> quotas) {
    config::ProjectsFile f;
    config::Project p;
    p.id = 1;
    config::ProjectKey k;
    k.public_key = kKey;
    k.id = 7;
    p.keys.push_back(k);
    p.quotas = std::move(quotas);
    f.projects.push_back(std::move(p));
    auto t = project::ProjectTable::Build(f, project::UpstreamProjects{},
                                          ++generation_, &registry_);
    ASSERT_TRUE(t.ok()) << t.status();
    table_ = *t;
  }
  uint64_t generation_ = 0;
  std::string Header(const Response& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return v;
    }
    return "";
  }
  quota::QuotaRegistry registry_;
};

std::string ErrorEvent(int i) {
  return absl::StrCat(
      R"({"event_id":")", absl::Hex(0, absl::kZeroPad16),
      absl::Hex(i, absl::kZeroPad16),
      R"(","exception":{"values":[{"type":"E","value":"x"}]}})");
}

TEST_F(PipelineQuotaTest, OverTheLimitIs429WithHeadersOutcomesAndNoKafka) {
  EXPECT_EQ(Handle(Store(ErrorEvent(1))).status, 200);
  EXPECT_EQ(Handle(Store(ErrorEvent(2))).status, 200);
  Response r = Handle(Store(ErrorEvent(3)));
  EXPECT_EQ(r.status, 429) << r.body;
  const std::string retry = Header(r, "Retry-After");
  ASSERT_FALSE(retry.empty());
  EXPECT_GE(std::stoi(retry), 1);
  EXPECT_LE(std::stoi(retry), 3600);
  EXPECT_EQ(Header(r, "X-Sentry-Rate-Limits"),
            absl::StrCat(retry, ":error:project:too_many_errors"));
  // The quota covers errors only: a store body may be a message, so the
  // next request is still parsed (and this one is not JSON).
  r = Handle(Store("not json"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(pipeline_->counters().requests_rate_limited_early.load(), 0u);

  auto events = Read(Topics().events);
  ASSERT_EQ(events.size(), 2u);
  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_EQ(outcomes[2].outcome, Outcome::kRateLimited);
  EXPECT_EQ(Reason(2), "too_many_errors");
  EXPECT_EQ(outcomes[2].category, DataCategory::kError);
  EXPECT_EQ(outcomes[3].outcome, Outcome::kInvalid);
}

TEST_F(PipelineQuotaTest, AFullQuotaCoveringTheRouteRefusesUnread) {
  // Errors and messages (what a store body carries) in one quota: once it
  // is full, store requests are refused before decoding or parsing.
  UseQuotas(
      {TestQuota("events", 1, {DataCategory::kError, DataCategory::kDefault},
                 "events_quota")});
  EXPECT_EQ(Handle(Store(ErrorEvent(1))).status, 200);
  EXPECT_EQ(Handle(Store(ErrorEvent(2))).status, 429);
  Response r = Handle(Store("not json"));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_THAT(Header(r, "X-Sentry-Rate-Limits"),
              HasSubstr(":default;error:project:events_quota"));
  // The first event filled the quota, so both later requests were refused
  // unread.
  EXPECT_EQ(pipeline_->counters().requests_rate_limited_early.load(), 2u);
  // An envelope may hold sessions too: only an all-category quota refuses
  // it unread.
  r = Handle(Env("not an envelope"));
  EXPECT_EQ(r.status, 400);
  UseQuotas({TestQuota("all", 0, {}, "blocked")});
  r = Handle(Env(
      absl::StrCat("{}\n", R"({"type":"event"})", "\n", ErrorEvent(3), "\n")));
  EXPECT_EQ(r.status, 429) << r.body;
  r = Handle(Env("not an envelope"));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(Header(r, "X-Sentry-Rate-Limits"),
            absl::StrCat(Header(r, "Retry-After"), "::project:blocked"));
}

TEST_F(PipelineQuotaTest, PartlyLimitedEnvelopeForwardsTheRestAndSays429) {
  ASSERT_EQ(Handle(Store(ErrorEvent(1))).status, 200);
  ASSERT_EQ(Handle(Store(ErrorEvent(2))).status, 200);
  // Errors are exhausted; a session and a message (category default) in the
  // same envelope still go through, and the answer names the limit.
  const std::string env = absl::StrCat(
      "{}\n", R"({"type":"event"})", "\n", ErrorEvent(3), "\n",
      R"({"type":"session"})", "\n",
      R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341","started":1,)",
      R"("attrs":{"release":"r"}})", "\n");
  Response r = Handle(Env(env));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(Read(Topics().sessions).size(), 1u);
  EXPECT_EQ(Read(Topics().events).size(), 2u);
  // A message is category default: not covered, so admitted (and the
  // quota did not refuse the request unread: it covers errors only).
  r = Handle(Store(R"({"message":"hello"})"));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(PipelineQuotaTest, AttachmentsOverTheByteQuotaStayBehind) {
  const std::string env = absl::StrCat(
      "{}\n", R"({"type":"event"})", "\n", ErrorEvent(5), "\n",
      R"({"type":"attachment","filename":"small.txt"})", "\n", "12345", "\n",
      R"({"type":"attachment","filename":"big.txt"})", "\n", "0123456789abcdef",
      "\n");
  Response r = Handle(Env(env));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_THAT(Header(r, "X-Sentry-Rate-Limits"), HasSubstr(":attachment:"));
  // The event went with the small attachment only: one chunk, then the
  // event listing one attachment.
  auto att = Read(Topics().attachments);
  ASSERT_EQ(att.size(), 2u);
  protocol::KafkaMessage msg;
  ASSERT_TRUE(decoder_.Decode(att[1].value, &msg).ok());
  ASSERT_TRUE(std::holds_alternative<protocol::EventMessage>(msg));
  ASSERT_EQ(std::get<protocol::EventMessage>(msg).attachments.size(), 1u);
  EXPECT_EQ(std::get<protocol::EventMessage>(msg).attachments[0].name,
            "small.txt");
}

TEST_F(PipelineQuotaTest, AFailedProduceGivesTheUnitsBack) {
  // A pipeline whose events cannot be produced (an empty topic name makes
  // Produce fail at once): the client is not told 200, and the quota units
  // its events took are given back, so they do not use up the window.
  PipelineOptions o;
  o.seed = 3;
  o.topics.events = "";
  Pipeline broken(std::move(o), producer_.get());
  for (int i = 0; i < 3; ++i) {
    Response r = broken.Handle(Store(ErrorEvent(100 + i)), *table_);
    EXPECT_NE(r.status, 200) << r.body;
    EXPECT_NE(r.status, 429) << r.body;
  }
  EXPECT_EQ(Handle(Store(ErrorEvent(1))).status, 200);
  EXPECT_EQ(Handle(Store(ErrorEvent(2))).status, 200);
  EXPECT_EQ(Handle(Store(ErrorEvent(3))).status, 429);
}

TEST_F(PipelineQuotaTest, FilteredEventsAre200WithAFilteredOutcomeAndNoQuota) {
  // A project with the release filter on; quotas as in the fixture (2
  // errors). Filtered events do not count against the quota.
  config::ProjectsFile f;
  config::Project p;
  p.id = 1;
  config::ProjectKey k;
  k.public_key = kKey;
  p.keys.push_back(k);
  p.filters.releases = {"*-beta"};
  p.quotas.push_back(
      TestQuota("errors", 2, {DataCategory::kError}, "too_many_errors"));
  f.projects.push_back(std::move(p));
  auto t = project::ProjectTable::Build(f, project::UpstreamProjects{}, 99,
                                        &registry_);
  ASSERT_TRUE(t.ok()) << t.status();
  table_ = *t;
  auto beta = [](int i) {
    return absl::StrCat(
        R"({"event_id":")", absl::Hex(7, absl::kZeroPad16),
        absl::Hex(i, absl::kZeroPad16),
        R"(","release":"app@2.0-beta","exception":{"values":[{"type":"E"}]}})");
  };
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Handle(Store(beta(i))).status, 200);
  EXPECT_EQ(Handle(Store(ErrorEvent(1))).status, 200);
  EXPECT_EQ(Handle(Store(ErrorEvent(2))).status, 200);
  EXPECT_EQ(Read(Topics().events).size(), 2u);
  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 7u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(outcomes[i].outcome, Outcome::kFiltered);
    EXPECT_EQ(Reason(i), "release-version");
  }
  EXPECT_EQ(pipeline_->counters().items_filtered.load(), 5u);
}

// outcomes.flush_interval: outcomes without an event id are summed per
// window and key, and produced when their window has ended.
class PipelineAggregationTest : public PipelineQuotaTest {
 protected:
  void SetUp() override {
    PipelineQuotaTest::SetUp();
    PipelineOptions o;
    o.seed = 42;
    o.outcome_flush_interval = absl::Seconds(1);
    pipeline_ = std::make_unique<Pipeline>(std::move(o), producer_.get());
    UseQuotas({TestQuota("all", 0, {}, "blocked")});
    // The first refusal is of a parsed event (its outcome has the event id
    // and goes at once); it marks the quota full, so the later requests are
    // refused unread, without an event id.
    Request first = Store(body_);
    first.received = t0_ - absl::Seconds(10);
    EXPECT_EQ(Handle(first).status, 429);
    EXPECT_EQ(pipeline_->pending_outcome_buckets(), 0u);
  }
  Response RefusedAt(absl::Time t) {
    Request r = Store(body_);
    r.received = t;
    return Handle(r);
  }
  const absl::Time t0_ = absl::FromUnixSeconds(1700000000);
  const std::string body_ = ErrorEvent(1);  // Request views it
};

TEST_F(PipelineAggregationTest,
       RefusalsAreSummedPerWindowAndFlushedOnceItEnds) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(RefusedAt(t0_ + absl::Milliseconds(200)).status, 429);
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(RefusedAt(t0_ + absl::Milliseconds(999)).status, 429);
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(RefusedAt(t0_ + absl::Milliseconds(1300)).status, 429);
  }
  EXPECT_EQ(pipeline_->counters().outcomes_aggregated.load(), 10u);
  EXPECT_EQ(pipeline_->pending_outcome_buckets(), 2u);
  // Nothing is produced before a window ends.
  EXPECT_EQ(pipeline_->FlushOutcomes(t0_ + absl::Milliseconds(999), false), 0u);
  EXPECT_EQ(pipeline_->FlushOutcomes(t0_ + absl::Seconds(1), false), 1u);
  EXPECT_EQ(pipeline_->FlushOutcomes(t0_ + absl::Milliseconds(1999), false),
            0u);
  EXPECT_EQ(pipeline_->pending_outcome_buckets(), 1u);
  // Shutdown: every bucket, ended or not.
  EXPECT_EQ(pipeline_->FlushOutcomes(t0_ + absl::Milliseconds(1500), true), 1u);
  EXPECT_EQ(pipeline_->pending_outcome_buckets(), 0u);
  EXPECT_EQ(pipeline_->FlushOutcomes(t0_ + absl::Seconds(10), true), 0u);

  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[0].event_id.has_value());  // the first refusal
  EXPECT_EQ(outcomes[0].quantity, 1u);
  outcomes.erase(outcomes.begin());
  outcome_values_.erase(outcome_values_.begin());
  EXPECT_EQ(outcomes[0].quantity, 8u);
  EXPECT_EQ(outcomes[0].timestamp, t0_);
  EXPECT_EQ(outcomes[1].quantity, 2u);
  EXPECT_EQ(outcomes[1].timestamp, t0_ + absl::Seconds(1));
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i].outcome, Outcome::kRateLimited);
    EXPECT_EQ(outcomes[i].project_id, 1u);
    EXPECT_EQ(outcomes[i].key_id, 7u);
    EXPECT_EQ(outcomes[i].category, DataCategory::kError);
    EXPECT_FALSE(outcomes[i].event_id.has_value());
    EXPECT_FALSE(outcomes[i].remote_addr.has_value());
    EXPECT_EQ(Reason(i), "blocked");
  }
  EXPECT_EQ(pipeline_->counters().outcome_buckets_flushed.load(), 2u);
}

TEST_F(PipelineAggregationTest, DistinctReasonsAndOutcomesKeepTheirOwnBuckets) {
  ASSERT_EQ(RefusedAt(t0_).status, 429);
  UseQuotas({TestQuota("all", 0, {}, "other_reason")});
  ASSERT_EQ(RefusedAt(t0_).status, 429);
  ASSERT_EQ(RefusedAt(t0_).status, 429);
  UseQuotas({});
  Request bad = Store("not json");
  bad.received = t0_;
  ASSERT_EQ(Handle(bad).status, 400);
  ASSERT_EQ(Handle(bad).status, 400);
  EXPECT_EQ(pipeline_->pending_outcome_buckets(), 3u);
  EXPECT_EQ(pipeline_->FlushOutcomes(t0_ + absl::Seconds(1), false), 3u);
  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 4u);  // the first refusal, then three buckets
  std::map<std::pair<Outcome, std::string>, uint32_t> got;
  for (size_t i = 1; i < outcomes.size(); ++i) {
    EXPECT_FALSE(outcomes[i].event_id.has_value());
    got[{outcomes[i].outcome,
         outcomes[i].outcome == Outcome::kInvalid ? "" : Reason(i)}] =
        outcomes[i].quantity;
  }
  const std::map<std::pair<Outcome, std::string>, uint32_t> want = {
      {{Outcome::kRateLimited, "blocked"}, 1},
      {{Outcome::kRateLimited, "other_reason"}, 2},
      {{Outcome::kInvalid, ""}, 2}};
  EXPECT_EQ(got, want);
}

TEST_F(PipelineAggregationTest, OutcomesWithAnEventIdAndAcceptedOnesGoAtOnce) {
  UseQuotas({});
  const std::string body = ErrorEvent(5);
  Request r = Store(body);
  r.received = t0_;
  ASSERT_EQ(Handle(r).status, 200);
  EXPECT_EQ(pipeline_->pending_outcome_buckets(), 0u);
  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 2u);  // the first refusal, then the event's
  outcomes.erase(outcomes.begin());
  EXPECT_EQ(outcomes[0].outcome, Outcome::kAccepted);
  EXPECT_TRUE(outcomes[0].event_id.has_value());
  EXPECT_EQ(outcomes[0].remote_addr, "10.0.0.1");
  EXPECT_EQ(outcomes[0].quantity, 1u);
}

TEST_F(PipelineAggregationTest, PastTheBucketCapOutcomesGoAtOnce) {
  // Windows of 100 ms, one refusal in each: every refusal needs a bucket of
  // its own (and all of them stay within the quota's hour).
  PipelineOptions o;
  o.seed = 42;
  o.outcome_flush_interval = absl::Milliseconds(100);
  pipeline_ = std::make_unique<Pipeline>(std::move(o), producer_.get());
  for (size_t i = 0; i < Pipeline::kMaxOutcomeBuckets + 3; ++i) {
    ASSERT_EQ(RefusedAt(t0_ + absl::Milliseconds(100 * static_cast<int64_t>(i)))
                  .status,
              429);
  }
  EXPECT_EQ(pipeline_->pending_outcome_buckets(), Pipeline::kMaxOutcomeBuckets);
  auto outcomes = Outcomes();
  ASSERT_EQ(outcomes.size(), 4u);  // the first refusal, then 3 past the cap
  outcomes.erase(outcomes.begin());
  for (const auto& o : outcomes) {
    EXPECT_FALSE(o.event_id.has_value());
    EXPECT_EQ(o.quantity, 1u);
    EXPECT_EQ(o.remote_addr, "10.0.0.1");  // produced as it came
  }
  EXPECT_EQ(pipeline_->FlushOutcomes(t0_, true), Pipeline::kMaxOutcomeBuckets);
}

}  // namespace
}  // namespace tern::relay::pipeline
