#include "relay/spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/thread_priority.h"
#include "gtest/gtest.h"
#include "relay/kafka/mock_cluster.h"
#include "relay/kafka/producer.h"
#include "relay/kafka/test_consumer.h"

namespace tern::relay::spool {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kTopic = "spool-events";

template <typename F>
bool WaitFor(F cond, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return cond();
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ValuesIn(const std::string& path) {
  std::vector<std::string> out;
  const std::string data = Slurp(path);
  ScanSegment(data, [&](uint64_t, size_t, const Record& r) {
    out.emplace_back(r.value);
    return true;
  });
  return out;
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tern-spool-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    producer_.reset();
    spool_.reset();
    fs::remove_all(dir_);
  }

  SpoolOptions Options() {
    SpoolOptions o;
    o.dir = dir_;
    o.min_free_bytes = 0;
    return o;
  }

  void StartCluster() {
    auto c = kafka::MockCluster::Create(1);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = *std::move(c);
    ASSERT_TRUE(cluster_->CreateTopic(kTopic, 1).ok());
  }

  // A producer whose delivery reports go to spool_, and the spool thread.
  void StartProducer(absl::Duration message_timeout = absl::Seconds(30)) {
    kafka::ProducerConfig c;
    c.bootstrap_servers = cluster_->bootstrap_servers();
    c.linger_ms = 1;
    c.properties["reconnect.backoff.ms"] = "10";
    c.properties["reconnect.backoff.max.ms"] = "100";
    c.properties["message.timeout.ms"] =
        absl::StrCat(absl::ToInt64Milliseconds(message_timeout));
    Spool* s = spool_.get();
    c.on_delivery = [s](kafka::DeliveryTag tag, const absl::Status& st) {
      s->OnDelivery(tag, st);
    };
    c.log = [](kafka::LogSeverity, std::string_view) {};
    auto p = kafka::Producer::Create(std::move(c));
    ASSERT_TRUE(p.ok()) << p.status();
    producer_ = *std::move(p);
    ASSERT_TRUE(WaitFor([&] { return producer_->Ready(); }));
    spool_->Start(producer_.get());
  }

  void Open(SpoolOptions o) {
    auto s = Spool::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = *std::move(s);
  }

  // Writes `n` messages "prefix-i" in turns of `per_turn`.
  void Write(Writer& w, int n, std::string_view prefix, int per_turn = 10) {
    pipeline::MessageMeta meta;
    meta.project_id = 1;
    meta.received = absl::Now();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(w.Send(kTopic, absl::StrCat(i),
                         absl::StrCat(std::string(prefix), "-", i), meta)
                      .ok());
      EXPECT_TRUE(w.HasUncommitted());
      if ((i + 1) % per_turn == 0 || i + 1 == n) {
        ASSERT_TRUE(w.Commit().ok());
        EXPECT_FALSE(w.HasUncommitted());
      }
    }
  }

  std::vector<std::string> Consumed() {
    auto m = kafka::testing::ReadPartition(cluster_->bootstrap_servers(),
                                           kTopic, 0, absl::Seconds(10));
    EXPECT_TRUE(m.ok()) << m.status();
    std::vector<std::string> out;
    if (m.ok()) {
      for (const auto& x : *m) out.push_back(x.value);
    }
    return out;
  }

  std::string dir_;
  std::unique_ptr<kafka::MockCluster> cluster_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<kafka::Producer> producer_;
};

TEST_F(SpoolTest, OpenNamesTheDirectoryItCannotUse) {
  SpoolOptions o = Options();
  o.dir = dir_ + "/missing";
  auto s = Spool::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(s.status()));
  EXPECT_NE(s.status().message().find(o.dir), std::string::npos);

  std::ofstream(dir_ + "/file") << "x";
  o.dir = dir_ + "/file";
  s = Spool::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not a directory"), std::string::npos);

  // Too little free space for the reserve.
  o.dir = dir_;
  o.min_free_bytes = ~0ull;
  s = Spool::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("min_free_bytes"), std::string::npos);
}

TEST_F(SpoolTest, ASecondRelayCannotShareTheDirectory) {
  Open(Options());
  auto second = Spool::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use by another tern-relay"),
            std::string::npos);
}

TEST_F(SpoolTest, WritesAheadAndKeepsEverythingWithoutAProducer) {
  Open(Options());
  auto w = spool_->NewWriter();
  Write(*w, 25, "a");
  const SpoolStats st = spool_->Stats();
  EXPECT_EQ(st.appended, 25u);
  EXPECT_EQ(st.spooled_only, 25u);
  EXPECT_EQ(st.records, 25u);
  const auto files = SegmentFiles(dir_);
  ASSERT_EQ(files.size(), 1u);
  // Every committed record is in the file already (one write per turn).
  const auto values = ValuesIn(files[0]);
  ASSERT_EQ(values.size(), 25u);
  EXPECT_EQ(values.front(), "a-0");
  EXPECT_EQ(values.back(), "a-24");
  EXPECT_EQ(st.bytes, fs::file_size(files[0]));
}

// on_thread_start runs on the spool thread, which is named, before its
// first turn.
TEST_F(SpoolTest, NamesItsThreadAndRunsOnThreadStartThere) {
  StartCluster();
  SpoolOptions o = Options();
  std::atomic<pid_t> spool_tid{0};
  o.on_thread_start = [&] { spool_tid = gettid(); };
  Open(o);
  StartProducer();
  ASSERT_TRUE(WaitFor([&] { return spool_tid.load() != 0; }));
  EXPECT_NE(spool_tid.load(), gettid());
  bool named = false;
  for (const ThreadInfo& t : ListThreads()) {
    if (t.tid == spool_tid.load()) named = t.name == "tern-spool";
  }
  EXPECT_TRUE(named);
}

TEST_F(SpoolTest, DeliversAndDeletesSegmentsOnceAcknowledged) {
  StartCluster();
  SpoolOptions o = Options();
  o.segment_bytes = 2000;  // several segments
  Open(o);
  StartProducer();
  auto w = spool_->NewWriter();
  Write(*w, 200, "m", 7);
  w->Seal();
  ASSERT_TRUE(spool_->WaitDrained(absl::Seconds(20)).ok());
  EXPECT_TRUE(SegmentFiles(dir_).empty());
  const SpoolStats st = spool_->Stats();
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.segments, 0u);
  EXPECT_EQ(st.appended, 200u);
  EXPECT_EQ(st.spooled_only, 0u);
  const auto got = Consumed();
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i], absl::StrCat("m-", i));
}

TEST_F(SpoolTest, KeepsASegmentUntilEveryRecordIsAcknowledged) {
  StartCluster();
  Open(Options());
  StartProducer();
  auto w = spool_->NewWriter();
  Write(*w, 5, "warm");
  w->Seal();
  ASSERT_TRUE(spool_->WaitDrained(absl::Seconds(20)).ok());

  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  Write(*w, 50, "held");
  w->Seal();
  // Produced but not acknowledged: the sealed segment must stay.
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(SegmentFiles(dir_).size(), 1u);
  EXPECT_EQ(spool_->Stats().records, 50u);
  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  ASSERT_TRUE(spool_->WaitDrained(absl::Seconds(30)).ok());
  EXPECT_TRUE(SegmentFiles(dir_).empty());
  const auto got = Consumed();
  ASSERT_EQ(got.size(), 55u);
  EXPECT_EQ(got[5], "held-0");
  EXPECT_EQ(got[54], "held-49");
}

TEST_F(SpoolTest, ReplaysWhatAnEarlierRunLeftOldestFirst) {
  // A run without Kafka: everything stays on disk in three segments.
  SpoolOptions o = Options();
  o.segment_bytes = 1500;
  Open(o);
  {
    auto w = spool_->NewWriter();
    Write(*w, 60, "old", 5);
  }
  const size_t segments = SegmentFiles(dir_).size();
  ASSERT_GE(segments, 3u);
  spool_.reset();

  StartCluster();
  Open(o);
  SpoolStats st = spool_->Stats();
  EXPECT_EQ(st.recovered, 60u);
  EXPECT_EQ(st.segments, segments);
  EXPECT_FALSE(st.backlog_replayed);
  StartProducer();
  auto w = spool_->NewWriter();
  ASSERT_TRUE(spool_->WaitDrained(absl::Seconds(30)).ok());
  EXPECT_TRUE(spool_->BacklogReplayed());
  EXPECT_EQ(spool_->Stats().replayed, 60u);
  const auto got = Consumed();
  ASSERT_EQ(got.size(), 60u);
  for (int i = 0; i < 60; ++i) EXPECT_EQ(got[i], absl::StrCat("old-", i));
}

TEST_F(SpoolTest, RecoversAroundATornTailAndAFlippedBit) {
  SpoolOptions o = Options();
  o.segment_bytes = 1500;
  Open(o);
  {
    auto w = spool_->NewWriter();
    Write(*w, 40, "r", 4);
  }
  spool_.reset();
  auto files = SegmentFiles(dir_);
  ASSERT_GE(files.size(), 2u);
  const size_t per_file = ValuesIn(files[0]).size();
  // Torn tail: the last record of the first file loses its last 5 bytes.
  const auto size0 = fs::file_size(files[0]);
  fs::resize_file(files[0], size0 - 5);
  // A flipped bit in the middle of the second file's first record.
  {
    std::string data = Slurp(files[1]);
    data[kFileHeader.size() + kFrameBytes + kBodyFixedBytes + 3] ^= 0x01;
    std::ofstream(files[1], std::ios::binary | std::ios::trunc) << data;
  }
  // And a file that is nothing but garbage.
  std::ofstream(dir_ + "/00000000000000ff.seg") << "not a segment at all";

  StartCluster();
  Open(o);
  const SpoolStats st = spool_->Stats();
  EXPECT_EQ(st.recovered, 40u - 2u);
  EXPECT_EQ(st.dropped[static_cast<int>(SpoolDrop::kCorrupt)], 3u);
  EXPECT_GE(st.corrupt_regions, 3u);
  // The torn file was cut back to its last good record; the garbage file,
  // holding nothing, is gone.
  EXPECT_EQ(ValuesIn(files[0]).size(), per_file - 1);
  EXPECT_FALSE(fs::exists(dir_ + "/00000000000000ff.seg"));
  StartProducer();
  ASSERT_TRUE(spool_->WaitDrained(absl::Seconds(30)).ok());
  const auto got = Consumed();
  EXPECT_EQ(got.size(), 38u);
  EXPECT_EQ(
      std::count(got.begin(), got.end(), absl::StrCat("r-", per_file - 1)), 0);
  EXPECT_EQ(std::count(got.begin(), got.end(), absl::StrCat("r-", per_file)),
            0);
  EXPECT_EQ(got.front(), "r-0");
}

TEST_F(SpoolTest, ADiskErrorRefusesTheTurnAndKeepsTheFileClean) {
  SpoolOptions o = Options();
  bool fail = false;
  o.write_fn = [&fail](int fd, const void* data, size_t size) -> ssize_t {
    if (fail) {
      // Half the batch reaches the file, then the disk is full.
      (void)::write(fd, data, size / 2);
      errno = ENOSPC;
      return -1;
    }
    return ::write(fd, data, size);
  };
  Open(o);
  auto w = spool_->NewWriter();
  Write(*w, 10, "ok");
  const auto files = SegmentFiles(dir_);
  ASSERT_EQ(files.size(), 1u);
  const auto size = fs::file_size(files[0]);

  fail = true;
  pipeline::MessageMeta meta;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(w->Send(kTopic, "k", "lost", meta).ok());
  }
  const absl::Status s = w->Commit();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("No space left"), std::string::npos) << s;
  EXPECT_FALSE(w->HasUncommitted());
  EXPECT_FALSE(spool_->Accepting());
  EXPECT_EQ(fs::file_size(files[0]), size);  // cut back: no half record
  EXPECT_EQ(ValuesIn(files[0]).size(), 10u);
  SpoolStats st = spool_->Stats();
  EXPECT_EQ(st.dropped[static_cast<int>(SpoolDrop::kDiskError)], 3u);
  EXPECT_EQ(st.appended, 10u);

  // The spool takes requests again a second after the last error.
  fail = false;
  StartCluster();
  StartProducer();
  EXPECT_TRUE(WaitFor([&] { return spool_->Accepting(); }, absl::Seconds(5)));
  Write(*w, 2, "after");
  EXPECT_EQ(ValuesIn(files[0]).size(), 12u);
}

TEST_F(SpoolTest, RefusesATurnThatWouldCrossMaxBytes) {
  SpoolOptions o = Options();
  o.max_bytes = 4096;
  Open(o);
  auto w = spool_->NewWriter();
  pipeline::MessageMeta meta;
  const std::string value(1000, 'v');
  int committed = 0;
  absl::Status s;
  for (int i = 0; i < 10 && s.ok(); ++i) {
    ASSERT_TRUE(w->Send(kTopic, "k", value, meta).ok());
    s = w->Commit();
    if (s.ok()) ++committed;
  }
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("full"), std::string::npos);
  EXPECT_EQ(committed, 3);
  const SpoolStats st = spool_->Stats();
  EXPECT_LE(st.bytes, o.max_bytes);
  EXPECT_EQ(st.dropped[static_cast<int>(SpoolDrop::kFull)], 1u);
  EXPECT_EQ(ValuesIn(SegmentFiles(dir_)[0]).size(), 3u);
}

TEST_F(SpoolTest, SpoolsOnlyWhileTheProducerIsFullThenReplays) {
  StartCluster();
  Open(Options());
  // A producer whose high watermark is tiny, so the broker's absence fills
  // it at once and the rest must wait on disk.
  kafka::ProducerConfig c;
  c.bootstrap_servers = cluster_->bootstrap_servers();
  c.linger_ms = 1;
  c.queue_high_watermark = 10;
  c.queue_low_watermark = 5;
  c.properties["reconnect.backoff.ms"] = "10";
  c.properties["reconnect.backoff.max.ms"] = "100";
  Spool* sp = spool_.get();
  c.on_delivery = [sp](kafka::DeliveryTag t, const absl::Status& st) {
    sp->OnDelivery(t, st);
  };
  c.log = [](kafka::LogSeverity, std::string_view) {};
  auto p = kafka::Producer::Create(std::move(c));
  ASSERT_TRUE(p.ok());
  producer_ = *std::move(p);
  ASSERT_TRUE(WaitFor([&] { return producer_->Ready(); }));
  spool_->Start(producer_.get());
  auto w = spool_->NewWriter();
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  Write(*w, 300, "o", 3);
  EXPECT_GT(spool_->Stats().spooled_only, 250u);
  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  // Tick seals the segment with unproduced records once the producer takes
  // messages again, and the replayer feeds them.
  ASSERT_TRUE(WaitFor(
      [&] {
        w->Tick();
        return spool_->Stats().records == 0;
      },
      absl::Seconds(30)));
  const auto got = Consumed();
  ASSERT_EQ(got.size(), 300u);
  std::vector<std::string> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_GT(spool_->Stats().replayed, 250u);
}

// One turn's commit goes to the producer as one batch; when the local queue
// fills in the middle of it, exactly the records past the limit stay on disk
// only, and the replayer delivers them later: each record once.
TEST_F(SpoolTest, ACommitBatchThatFillsTheQueueKeepsTheRestOnDisk) {
  StartCluster();
  Open(Options());
  kafka::ProducerConfig c;
  c.bootstrap_servers = cluster_->bootstrap_servers();
  c.linger_ms = 1;
  c.queue_high_watermark = 15;
  c.queue_low_watermark = 5;
  c.queue_max_messages = 20;
  c.properties["reconnect.backoff.ms"] = "10";
  c.properties["reconnect.backoff.max.ms"] = "100";
  Spool* sp = spool_.get();
  c.on_delivery = [sp](kafka::DeliveryTag t, const absl::Status& st) {
    sp->OnDelivery(t, st);
  };
  c.log = [](kafka::LogSeverity, std::string_view) {};
  auto p = kafka::Producer::Create(std::move(c));
  ASSERT_TRUE(p.ok());
  producer_ = *std::move(p);
  ASSERT_TRUE(WaitFor([&] { return producer_->Ready(); }));
  spool_->Start(producer_.get());
  auto w = spool_->NewWriter();
  ASSERT_TRUE(cluster_->SetBrokerDown(1).ok());
  Write(*w, 30, "b", /*per_turn=*/30);
  EXPECT_EQ(spool_->Stats().appended, 30u);
  EXPECT_EQ(spool_->Stats().spooled_only, 10u);
  EXPECT_EQ(producer_->Stats().produced, 20u);
  EXPECT_EQ(producer_->Stats().queue_full, 10u);
  ASSERT_TRUE(cluster_->SetBrokerUp(1).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        w->Tick();
        return spool_->Stats().records == 0;
      },
      absl::Seconds(30)));
  std::vector<std::string> got = Consumed();
  std::sort(got.begin(), got.end());
  std::vector<std::string> want;
  for (int i = 0; i < 30; ++i) want.push_back(absl::StrCat("b-", i));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace tern::relay::spool
