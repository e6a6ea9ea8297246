#include "relay/kafka/producer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/thread_priority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/kafka/mock_cluster.h"
#include "relay/kafka/test_consumer.h"

namespace tern::relay::kafka {
namespace {

using ::testing::HasSubstr;

constexpr char kTopic[] = "ingest-events";

// Collects what the producer reports, from whichever thread reports it.
struct Recorder {
  std::mutex mu;
  std::vector<std::pair<DeliveryTag, absl::Status>> deliveries;
  std::vector<std::string> log;

  size_t delivery_count() {
    std::lock_guard<std::mutex> l(mu);
    return deliveries.size();
  }
  std::vector<std::string> log_lines() {
    std::lock_guard<std::mutex> l(mu);
    return log;
  }
};

// Polls `cond` until true or `timeout`; the mock cluster gives no other
// signal to wait on.
template <typename F>
bool WaitFor(F cond, absl::Duration timeout = absl::Seconds(10)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return cond();
}

class ProducerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = MockCluster::Create(1);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    ASSERT_TRUE(cluster_->CreateTopic(kTopic, 1).ok());
  }

  ProducerConfig Config() {
    ProducerConfig c;
    c.bootstrap_servers = cluster_->bootstrap_servers();
    c.linger_ms = 1;
    // Reconnect quickly once a test brings the broker back.
    c.properties["reconnect.backoff.ms"] = "10";
    c.properties["reconnect.backoff.max.ms"] = "100";
    c.on_delivery = [this](DeliveryTag tag, const absl::Status& status) {
      std::lock_guard<std::mutex> l(rec_.mu);
      rec_.deliveries.emplace_back(tag, status);
    };
    c.log = [this](LogSeverity, std::string_view line) {
      std::lock_guard<std::mutex> l(rec_.mu);
      rec_.log.emplace_back(line);
    };
    return c;
  }

  std::unique_ptr<Producer> MakeReady(ProducerConfig c) {
    auto p = Producer::Create(std::move(c));
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return nullptr;
    EXPECT_TRUE(WaitFor([&] { return (*p)->Ready(); }));
    return *std::move(p);
  }

  // Produces one message and waits for it, so the producer knows the topic's
  // leader and has its idempotent producer id before a fault is injected.
  void WarmUp(Producer& p) {
    ASSERT_TRUE(p.Produce(kTopic, "warm", "up", 0).ok());
    ASSERT_TRUE(p.Flush(absl::Seconds(10)).ok());
    std::lock_guard<std::mutex> l(rec_.mu);
    rec_.deliveries.clear();
  }

  std::unique_ptr<MockCluster> cluster_;
  Recorder rec_;
};

TEST_F(ProducerTest, ReadsBackExactlyWhatWasProducedInOrder) {
  auto p = MakeReady(Config());
  ASSERT_NE(p, nullptr);
  constexpr int kN = 200;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(p->Produce(kTopic, absl::StrCat("key-", i),
                           absl::StrCat("value-", i, std::string(i, 'x')), i)
                    .ok());
  }
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  auto got = testing::ReadPartition(cluster_->bootstrap_servers(), kTopic, 0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ((*got)[i].key, absl::StrCat("key-", i));
    EXPECT_EQ((*got)[i].value, absl::StrCat("value-", i, std::string(i, 'x')));
    EXPECT_EQ((*got)[i].offset, i);
  }
  ProducerStats st = p->Stats();
  EXPECT_EQ(st.produced, static_cast<uint64_t>(kN));
  EXPECT_EQ(st.delivered, static_cast<uint64_t>(kN));
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.in_flight, 0);
  EXPECT_TRUE(st.accepting);
}

TEST_F(ProducerTest, OnThreadStartRunsOnEveryThreadItStarts) {
  const int main_nice = ThisThreadNice();
  const int target = std::min(19, main_nice + 3);
  std::mutex mu;
  std::vector<pid_t> started;
  ProducerConfig c = Config();
  c.on_thread_start = [&] {
    ASSERT_TRUE(LowerThisThreadPriorityTo(target).ok());
    std::lock_guard<std::mutex> l(mu);
    started.push_back(gettid());
  };
  auto p = MakeReady(std::move(c));
  ASSERT_NE(p, nullptr);
  WarmUp(*p);
  std::vector<ThreadInfo> threads = ListThreads();
  std::lock_guard<std::mutex> l(mu);
  std::vector<std::string> names;
  for (pid_t tid : started) {
    auto it = std::find_if(threads.begin(), threads.end(),
                           [tid](const ThreadInfo& t) { return t.tid == tid; });
    // librdkafka may retire a thread (e.g. a bootstrap broker's) early.
    if (it == threads.end()) continue;
    EXPECT_EQ(it->nice, target) << it->name;
    names.push_back(it->name);
  }
  // librdkafka's main thread, a broker thread and our delivery thread.
  EXPECT_THAT(names, ::testing::Contains("tern-kafka-dr"));
  EXPECT_THAT(names, ::testing::Contains("rdk:main"));
  EXPECT_THAT(names, ::testing::Contains(::testing::StartsWith("rdk:broker")));
  // The thread that created the producer keeps its priority.
  EXPECT_EQ(ThisThreadNice(), main_nice);
}

TEST_F(ProducerTest, IsIdempotentWithAcksAllAndZstdByDefault) {
  auto p = MakeReady(Config());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p->EffectiveProperty("enable.idempotence"), "true");
  auto acks = p->EffectiveProperty("acks");
  ASSERT_TRUE(acks.ok()) << acks.status();
  EXPECT_THAT(*acks, ::testing::AnyOf("-1", "all"));
  EXPECT_EQ(*p->EffectiveProperty("compression.codec"), "zstd");
  EXPECT_EQ(*p->EffectiveProperty("queue.buffering.max.messages"),
            absl::StrCat(2 * ProducerConfig().queue_high_watermark));
  // Overrides are applied last.
  EXPECT_EQ(*p->EffectiveProperty("reconnect.backoff.max.ms"), "100");
  EXPECT_EQ(p->EffectiveProperty("no.such.property").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ProducerTest, RejectsBadConfigurationWithAClearMessage) {
  auto expect_invalid = [&](ProducerConfig c, std::string_view what) {
    auto p = Producer::Create(std::move(c));
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(std::string(what)))
        << p.status();
  };
  {
    ProducerConfig c = Config();
    c.properties["no.such.property"] = "1";
    expect_invalid(std::move(c), "no.such.property");
  }
  {
    ProducerConfig c = Config();
    c.properties["linger.ms"] = "-7";
    expect_invalid(std::move(c), "linger.ms");
  }
  {
    ProducerConfig c = Config();
    c.compression = "bogus";
    expect_invalid(std::move(c), "compression.codec");
  }
  {
    ProducerConfig c = Config();
    c.properties["enable.idempotence"] = "false";
    expect_invalid(std::move(c), "always idempotent");
  }
  {
    ProducerConfig c = Config();
    c.properties["acks"] = "1";
    expect_invalid(std::move(c), "acks=all");
  }
  {
    ProducerConfig c = Config();
    c.queue_high_watermark = 10;
    c.queue_low_watermark = 10;
    expect_invalid(std::move(c), "low < high");
  }
  {
    ProducerConfig c = Config();
    c.queue_high_watermark = 10;
    c.queue_low_watermark = 5;
    c.queue_max_messages = 10;
    expect_invalid(std::move(c), "above the high watermark");
  }
  {
    ProducerConfig c = Config();
    c.bootstrap_servers.clear();
    expect_invalid(std::move(c), "bootstrap");
  }
}

TEST_F(ProducerTest, ReadyOnlyOnceTheClusterAnswers) {
  ProducerConfig c = Config();
  // Port 1 on loopback: nothing listens, connections are refused.
  c.bootstrap_servers = "127.0.0.1:1";
  c.close_timeout = absl::Milliseconds(10);
  auto down = Producer::Create(c);
  ASSERT_TRUE(down.ok()) << down.status();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE((*down)->Ready());

  auto up = MakeReady(Config());
  ASSERT_NE(up, nullptr);
  EXPECT_TRUE(up->Ready());
}

TEST_F(ProducerTest, AcceptingFollowsWatermarksWhileTheBrokerIsDown) {
  ProducerConfig c = Config();
  c.queue_high_watermark = 10;
  c.queue_low_watermark = 5;
  auto p = MakeReady(std::move(c));
  ASSERT_NE(p, nullptr);
  WarmUp(*p);

  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(p->Produce(kTopic, "k", "v", 100 + i).ok());
  }
  EXPECT_TRUE(p->Accepting()) << "10 in flight is at, not past, the mark";
  ASSERT_TRUE(p->Produce(kTopic, "k", "v", 110).ok());
  EXPECT_FALSE(p->Accepting());
  EXPECT_EQ(p->InFlight(), 11);
  // Nothing drains while the broker is down: the gate stays closed.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(p->Accepting());
  EXPECT_FALSE(p->Stats().accepting);

  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  EXPECT_TRUE(WaitFor([&] { return p->Accepting(); }));
  EXPECT_LT(p->InFlight(), 5);
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  EXPECT_EQ(p->Stats().delivered, 12u);  // the warm-up message, then 11
  EXPECT_EQ(rec_.delivery_count(), 11u);
}

TEST_F(ProducerTest, ProduceNeverBlocksWhenTheLocalQueueIsFull) {
  ProducerConfig c = Config();
  c.queue_high_watermark = 3;
  c.queue_low_watermark = 1;
  c.queue_max_messages = 5;
  c.close_timeout = absl::Milliseconds(50);
  auto p = MakeReady(std::move(c));
  ASSERT_NE(p, nullptr);
  WarmUp(*p);
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());

  absl::Duration slowest;
  absl::Status last;
  int accepted = 0;
  for (int i = 0; i < 8; ++i) {
    absl::Time start = absl::Now();
    last = p->Produce(kTopic, "k", std::string(100, 'v'), i);
    slowest = std::max(slowest, absl::Now() - start);
    if (last.ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 5);
  EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable) << last;
  EXPECT_LT(slowest, absl::Milliseconds(50));
  EXPECT_EQ(p->Stats().queue_full, 3u);
  EXPECT_FALSE(p->Accepting());
}

// A batch over two topics: each topic's messages arrive in batch order, every
// tag comes back once, and the counters count each message.
TEST_F(ProducerTest, ProduceBatchKeepsOrderPerTopicAndEveryTag) {
  constexpr char kOther[] = "outcomes";
  ASSERT_TRUE(cluster_->CreateTopic(kOther, 1).ok());
  auto p = MakeReady(Config());
  ASSERT_NE(p, nullptr);
  constexpr int kN = 100;
  std::vector<std::string> keys, values;
  for (int i = 0; i < kN; ++i) {
    keys.push_back(absl::StrCat("key-", i));
    values.push_back(absl::StrCat("value-", i, std::string(i, 'x')));
  }
  std::vector<Producer::BatchMessage> batch;
  for (int i = 0; i < kN; ++i) {
    // Alternating, as a spool commit's event and outcome records do.
    batch.push_back({i % 2 == 0 ? kTopic : kOther, keys[i], values[i],
                     static_cast<DeliveryTag>(1000 + i)});
  }
  std::vector<absl::Status> results(kN, absl::UnknownError("unset"));
  p->ProduceBatch(batch, results);
  for (int i = 0; i < kN; ++i) EXPECT_TRUE(results[i].ok()) << i;
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  for (int t = 0; t < 2; ++t) {
    auto got = testing::ReadPartition(cluster_->bootstrap_servers(),
                                      t == 0 ? kTopic : kOther, 0);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), static_cast<size_t>(kN / 2));
    for (int k = 0; k < kN / 2; ++k) {
      EXPECT_EQ((*got)[k].key, keys[2 * k + t]);
      EXPECT_EQ((*got)[k].value, values[2 * k + t]);
    }
  }
  std::vector<DeliveryTag> tags;
  {
    std::lock_guard<std::mutex> l(rec_.mu);
    for (const auto& [tag, status] : rec_.deliveries) {
      EXPECT_TRUE(status.ok()) << status;
      tags.push_back(tag);
    }
  }
  std::sort(tags.begin(), tags.end());
  ASSERT_EQ(tags.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(tags[i], 1000u + i);
  const ProducerStats st = p->Stats();
  EXPECT_EQ(st.produced, static_cast<uint64_t>(kN));
  EXPECT_EQ(st.delivered, static_cast<uint64_t>(kN));
  EXPECT_EQ(st.in_flight, 0);
}

// Per-message results as Produce() gives them: past the local queue's limit
// the rest is Unavailable (and counted), a bad topic fails only its own
// messages, and only accepted messages are in flight.
TEST_F(ProducerTest, ProduceBatchFailsPerMessage) {
  ProducerConfig c = Config();
  c.queue_high_watermark = 3;
  c.queue_low_watermark = 1;
  c.queue_max_messages = 5;
  c.close_timeout = absl::Milliseconds(50);
  auto p = MakeReady(std::move(c));
  ASSERT_NE(p, nullptr);
  WarmUp(*p);
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  const std::string value(100, 'v');
  std::vector<Producer::BatchMessage> batch;
  for (int i = 0; i < 8; ++i) {
    batch.push_back({kTopic, "k", value, static_cast<DeliveryTag>(i)});
    if (i == 3) batch.push_back({"", "k", value, 99});
  }
  std::vector<absl::Status> results(batch.size());
  p->ProduceBatch(batch, results);
  int ok = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].topic.empty()) {
      EXPECT_EQ(results[i].code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    if (results[i].ok()) {
      ++ok;
      // Accepted ones form a prefix of the topic's messages.
      EXPECT_LE(batch[i].tag, 4u);
    } else {
      EXPECT_EQ(results[i].code(), absl::StatusCode::kUnavailable)
          << results[i];
      EXPECT_GE(batch[i].tag, 5u);
    }
  }
  EXPECT_EQ(ok, 5);
  const ProducerStats st = p->Stats();
  EXPECT_EQ(st.queue_full, 3u);
  EXPECT_EQ(st.produce_errors, 1u);
  EXPECT_EQ(st.in_flight, 5);
  EXPECT_FALSE(p->Accepting());
}

TEST_F(ProducerTest, FlushTimeoutSaysHowManyAreLeft) {
  ProducerConfig c = Config();
  c.close_timeout = absl::Milliseconds(50);
  auto p = MakeReady(std::move(c));
  ASSERT_NE(p, nullptr);
  WarmUp(*p);
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p->Produce(kTopic, "k", "v", i).ok());

  absl::Time start = absl::Now();
  absl::Status s = p->Flush(absl::Milliseconds(200));
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(s.message()), HasSubstr("3 message(s)"));
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(1));
}

TEST_F(ProducerTest, DeliveryCallbacksCarryTheirTags) {
  auto p = MakeReady(Config());
  ASSERT_NE(p, nullptr);
  std::vector<DeliveryTag> tags;
  for (int i = 0; i < 50; ++i) tags.push_back(1000 + i);
  tags.push_back(~DeliveryTag{0});  // all 64 bits survive the round trip
  for (DeliveryTag t : tags) {
    ASSERT_TRUE(p->Produce(kTopic, "k", "v", t).ok());
  }
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  std::lock_guard<std::mutex> l(rec_.mu);
  std::map<DeliveryTag, int> seen;
  for (const auto& [tag, status] : rec_.deliveries) {
    EXPECT_TRUE(status.ok()) << status;
    ++seen[tag];
  }
  ASSERT_EQ(seen.size(), tags.size());
  for (DeliveryTag t : tags) EXPECT_EQ(seen[t], 1) << t;
}

TEST_F(ProducerTest, PermanentFailuresAreCountedCalledBackAndLoggedOnce) {
  ProducerConfig c = Config();
  c.properties["message.timeout.ms"] = "300";
  c.failure_log_interval = absl::Milliseconds(100);
  auto p = MakeReady(std::move(c));
  ASSERT_NE(p, nullptr);
  WarmUp(*p);
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  for (DeliveryTag t : {7, 8, 9}) {
    ASSERT_TRUE(p->Produce(kTopic, "k", "v", t).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return rec_.delivery_count() == 3; }));
  {
    std::lock_guard<std::mutex> l(rec_.mu);
    std::map<DeliveryTag, absl::Status> by_tag(rec_.deliveries.begin(),
                                               rec_.deliveries.end());
    ASSERT_EQ(by_tag.size(), 3u);
    for (DeliveryTag t : {7, 8, 9}) {
      EXPECT_EQ(by_tag[t].code(), absl::StatusCode::kUnavailable);
      EXPECT_THAT(std::string(by_tag[t].message()),
                  HasSubstr("_MSG_TIMED_OUT"));
    }
  }
  ProducerStats st = p->Stats();
  EXPECT_EQ(st.failed, 3u);
  EXPECT_EQ(st.in_flight, 0);
  EXPECT_THAT(st.failed_by_error,
              ::testing::Contains(
                  std::pair<std::string, uint64_t>("_MSG_TIMED_OUT", 3)));
  // One summary line for the three failures, not one per message.
  auto summaries = [&] {
    int n = 0;
    for (const auto& line : rec_.log_lines()) {
      if (line.find("failed delivery") != std::string::npos) ++n;
    }
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return summaries() >= 1; }, absl::Seconds(3)));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(summaries(), 1);
  bool has_count = false;
  for (const auto& line : rec_.log_lines()) {
    if (line.find("3 message(s) failed delivery") != std::string::npos) {
      has_count = true;
    }
  }
  EXPECT_TRUE(has_count);
}

TEST_F(ProducerTest, DestructorWithInFlightMessagesReturnsInBoundedTime) {
  ProducerConfig c = Config();
  c.close_timeout = absl::Milliseconds(200);
  auto p = MakeReady(std::move(c));
  ASSERT_NE(p, nullptr);
  WarmUp(*p);
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(p->Produce(kTopic, "k", "v", i).ok());
  }
  absl::Time start = absl::Now();
  p.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // Every message still got exactly one (failed) callback.
  std::lock_guard<std::mutex> l(rec_.mu);
  ASSERT_EQ(rec_.deliveries.size(), 100u);
  for (const auto& [tag, status] : rec_.deliveries) {
    EXPECT_FALSE(status.ok()) << tag;
  }
}

TEST_F(ProducerTest, RejectsBadTopicNames) {
  auto p = MakeReady(Config());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Produce("", "k", "v", 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p->Produce(std::string(250, 't'), "k", "v", 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p->Stats().produce_errors, 2u);
  EXPECT_EQ(p->InFlight(), 0);
}

TEST_F(ProducerTest, OversizedMessageIsOutOfRange) {
  ProducerConfig c = Config();
  c.properties["message.max.bytes"] = "1000";
  auto p = MakeReady(std::move(c));
  ASSERT_NE(p, nullptr);
  absl::Status s = p->Produce(kTopic, "k", std::string(5000, 'v'), 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
  EXPECT_EQ(p->InFlight(), 0);
  EXPECT_TRUE(p->Produce(kTopic, "k", "small", 2).ok());
  EXPECT_TRUE(p->Flush(absl::Seconds(10)).ok());
}

// Workers share one producer: concurrent Produce() calls from several
// threads all arrive, each tag reported once.
TEST_F(ProducerTest, ConcurrentProducersShareOneProducer) {
  auto p = MakeReady(Config());
  ASSERT_NE(p, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::thread> workers;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        DeliveryTag tag = t * kPerThread + i;
        if (!p->Produce(kTopic, absl::StrCat(tag), absl::StrCat("v", tag), tag)
                 .ok()) {
          ++errors;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_TRUE(p->Flush(absl::Seconds(10)).ok());
  auto got = testing::ReadPartition(cluster_->bootstrap_servers(), kTopic, 0);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), static_cast<size_t>(kThreads * kPerThread));
  std::lock_guard<std::mutex> l(rec_.mu);
  std::map<DeliveryTag, int> seen;
  for (const auto& [tag, status] : rec_.deliveries) {
    EXPECT_TRUE(status.ok()) << status;
    ++seen[tag];
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(p->Stats().delivered, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(ProducerTest, FatalErrorIsLoggedAtOnceAndTurnsProduceAway) {
  auto p = MakeReady(Config());
  ASSERT_NE(p, nullptr);
  WarmUp(*p);
  EXPECT_FALSE(p->Fatal());
  p->InjectFatalErrorForTesting();
  EXPECT_EQ(p->Produce(kTopic, "k", "v", 1).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(p->Fatal());
  EXPECT_FALSE(p->Ready());
  EXPECT_TRUE(p->Stats().fatal);
  EXPECT_EQ(p->InFlight(), 0);
  EXPECT_TRUE(WaitFor([&] {
    for (const auto& line : rec_.log_lines()) {
      if (line.find("fatal error") != std::string::npos) return true;
    }
    return false;
  }));
}

TEST(MockClusterTest, ReportsBootstrapServersAndRejectsUnknownBrokers) {
  auto c = MockCluster::Create(3);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->broker_count(), 3);
  EXPECT_THAT((*c)->bootstrap_servers(), HasSubstr("127.0.0.1:"));
  EXPECT_TRUE((*c)->CreateTopic("t", 4, 3).ok());
  EXPECT_TRUE((*c)->SetBrokerDown(2).ok());
  EXPECT_TRUE((*c)->SetBrokerUp(2).ok());
  EXPECT_TRUE((*c)->SetBrokerRtt(3, absl::Milliseconds(5)).ok());
  EXPECT_EQ((*c)->SetBrokerDown(99).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(MockCluster::Create(0).ok());
}

}  // namespace
}  // namespace tern::relay::kafka
