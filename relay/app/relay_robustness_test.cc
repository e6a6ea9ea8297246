// The relay under hostile or unlucky conditions, end to end on loopback
// sockets: decompression bombs must not inflate memory, thousands of idle
// connections and slowloris clients must not starve real clients, and a
// graceful shutdown must deliver every event it answered 200.
#include <poll.h>
#include <sys/resource.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/thread_priority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/app/relay_test_harness.h"
#include "relay/kafka/test_consumer.h"

namespace tern::relay::app {
namespace {

using namespace tern::relay::app::testing;  // NOLINT(build/namespaces)
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

// A field of /proc/self/status in KiB ("VmHWM", "VmRSS"); -1 if absent.
int64_t ProcStatusKiB(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) {
      std::string v = line.substr(field.size() + 1);
      v = v.substr(0, v.find("kB"));
      int64_t kib;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &kib)) return kib;
    }
  }
  return -1;
}

// gzip of `zeros` zero bytes, streamed so the input never sits in memory:
// 1 GiB of zeros becomes about 1 MiB.
std::string GzipZeros(uint64_t zeros) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 31, 9,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  const std::string in(kMiB, '\0');
  std::string out;
  char buf[1 << 16];
  uint64_t left = zeros;
  int flush = Z_NO_FLUSH;
  do {
    if (z.avail_in == 0 && flush == Z_NO_FLUSH) {
      const uint64_t n = std::min<uint64_t>(left, in.size());
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      z.avail_in = static_cast<uInt>(n);
      left -= n;
      if (left == 0) flush = Z_FINISH;
    }
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    int rc = deflate(&z, flush);
    EXPECT_NE(rc, Z_STREAM_ERROR);
    out.append(buf, sizeof(buf) - z.avail_out);
    if (rc == Z_STREAM_END) break;
  } while (true);
  deflateEnd(&z);
  return out;
}

// Sends a gzip bomb of `zeros` bytes to `path` and checks that it is refused
// with 413 while the process's peak RSS grows by far less than the bomb.
void ExpectBombRefusedWithoutInflating(const std::string& path,
                                       uint64_t zeros) {
  const std::string bomb = GzipZeros(zeros);
  SCOPED_TRACE(absl::StrCat(path, ": ", zeros, " zeros in ", bomb.size(),
                            " gzip bytes"));
  auto h = RelayHarness::Start([](config::RelayConfig& c) {
    // The envelope limit is what the relay may legitimately inflate to;
    // keep it small so "inflated the bomb" and "stopped at the limit" are
    // far apart.
    c.limits.max_envelope_size = 8 * kMiB;
    c.limits.max_attachment_size = 8 * kMiB;
  });
  ASSERT_TRUE(h.ok()) << h.status();
  const std::string request =
      Post(path, AuthHeader() + "\r\nContent-Encoding: gzip\r\n", bomb);
  // Warm-up request, so buffers a first request allocates are counted in
  // the baseline, not in the bomb's growth.
  ASSERT_TRUE(RoundTrip((*h)->port(), Post(path, AuthHeader() + "\r\n",
                                           path == "/api/1/store/"
                                               ? EventJson(HexId(1))
                                               : EnvelopeWithEvent(HexId(1)))));
  // Reset the peak to the current RSS (Linux >= 4.0), so an earlier peak
  // in this process cannot hide the bomb's.
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  const int64_t rss_before = ProcStatusKiB("VmRSS");
  ASSERT_GT(rss_before, 0);
  ASSERT_LE(ProcStatusKiB("VmHWM"), rss_before + 1024)
      << "the peak RSS could not be reset";
  for (int i = 0; i < 3; ++i) {
    std::optional<HttpReply> r = RoundTrip((*h)->port(), request);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413) << r->head << r->body;
    EXPECT_THAT(r->body, HasSubstr("\"detail\""));
  }
  const int64_t growth_kib = ProcStatusKiB("VmHWM") - rss_before;
  fprintf(stderr, "%s: peak RSS grew by %lld KiB\n", path.c_str(),
          static_cast<long long>(growth_kib));
  // The bomb is zeros/1 MiB MiB; the relay may hold the compressed body, the
  // limit's worth of output and scratch. 64 MiB is far below the bomb.
  EXPECT_LT(growth_kib, 64 * 1024)
      << "peak RSS grew by " << growth_kib << " KiB";
  // Still serving.
  std::optional<HttpReply> ok = RoundTrip(
      (*h)->port(),
      Post("/api/1/store/", AuthHeader() + "\r\n", EventJson(HexId(2))));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST(RelayRobustnessTest, GzipBombOnStoreIs413WithoutInflating) {
  // 512 MiB of zeros is about 500 KiB of gzip: under the 1 MiB store limit
  // as received, far over it once inflated.
  ExpectBombRefusedWithoutInflating("/api/1/store/", 512 * kMiB);
}

TEST(RelayRobustnessTest, GzipBombOnEnvelopeIs413WithoutInflating) {
  ExpectBombRefusedWithoutInflating("/api/1/envelope/", 1024 * kMiB);
}

// Raises the soft RLIMIT_NOFILE to the hard limit and returns it.
rlim_t RaiseFdLimit() {
  rlimit rl{};
  EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  return rl.rlim_cur;
}

TEST(RelayRobustnessTest, ThousandsOfIdleConnectionsDoNotStopService) {
  const rlim_t limit = RaiseFdLimit();
  // Each connection costs two descriptors in this process (the client's and
  // the relay's); keep 256 for the relay, Kafka and the test.
  const size_t count =
      std::min<size_t>(3000, limit > 512 ? (limit - 256) / 2 : 0);
  ASSERT_GE(count, 100u) << "RLIMIT_NOFILE hard limit " << limit
                         << " is too low for this test";
  auto h = RelayHarness::Start([](config::RelayConfig& c) {
    c.timeouts.header_read = absl::Seconds(120);
    c.timeouts.idle = absl::Seconds(120);
  });
  ASSERT_TRUE(h.ok()) << h.status();
  const uint16_t port = (*h)->port();

  std::vector<std::unique_ptr<RawClient>> idle;
  idle.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    auto c = std::make_unique<RawClient>(port);
    ASSERT_TRUE(c->ok()) << "connection " << i << ": " << strerror(errno);
    // Half say nothing, half stop in the middle of their headers.
    if (i % 2 == 1) {
      ASSERT_TRUE(c->Send("POST /api/1/store/ HTTP/1.1\r\nHost: re"));
    }
    idle.push_back(std::move(c));
  }
  // All of them are the relay's (accepted, not queued in the backlog).
  ASSERT_TRUE(WaitFor([&] {
    return MetricValue((*h)->relay().Metrics(), "tern_http_open_connections") >=
           static_cast<double>(count);
  })) << (*h)->relay().Metrics();
  for (int i = 0; i < 5; ++i) {
    std::optional<HttpReply> r = RoundTrip(
        port,
        Post("/api/1/store/", AuthHeader() + "\r\n", EventJson(HexId(i))));
    ASSERT_TRUE(r.has_value()) << "request " << i << " was not answered";
    EXPECT_EQ(r->status, 200) << r->body;
  }
  // The idle ones are still open (not shed to make room): a half-sent
  // request can still be completed.
  RawClient& half = *idle[1];
  const std::string event = EventJson(HexId(99));
  ASSERT_TRUE(half.Send(absl::StrCat("lay\r\n", AuthHeader(),
                                     "\r\nContent-Length: ", event.size(),
                                     "\r\n\r\n", event)));
  std::optional<HttpReply> r = half.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST(RelayRobustnessTest, SlowHeadersGet408WhileOthersAreServed) {
  auto h = RelayHarness::Start([](config::RelayConfig& c) {
    c.timeouts.header_read = absl::Seconds(1);
  });
  ASSERT_TRUE(h.ok()) << h.status();
  const uint16_t port = (*h)->port();
  const std::string request =
      Post("/api/1/store/", AuthHeader() + "\r\nUser-Agent: slowloris/1.0\r\n",
           EventJson(HexId(7)));
  const size_t header_size = request.find("\r\n\r\n") + 4;

  std::atomic<bool> slow_done{false};
  size_t sent = 0;
  std::optional<HttpReply> slow_reply;
  bool slow_closed = false;
  std::thread slow([&] {
    RawClient c(port, absl::Seconds(30));
    if (!c.ok()) {
      slow_done = true;
      return;
    }
    // One byte per 100 ms, until the relay answers: poll's timeout paces
    // the bytes, its readiness ends the trickle.
    pollfd p{c.fd(), POLLIN, 0};
    while (sent < header_size) {
      if (!c.Send(std::string_view(request).substr(sent, 1))) break;
      ++sent;
      if (poll(&p, 1, 100) > 0) break;
    }
    slow_reply = c.Read();
    slow_closed = c.WaitClosed();
    slow_done = true;
  });

  absl::Cleanup join = [&] { slow.join(); };
  int served = 0;
  while (!slow_done) {
    std::optional<HttpReply> r =
        RoundTrip(port, Post("/api/1/store/", AuthHeader() + "\r\n",
                             EventJson(HexId(100 + served))));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    ++served;
  }
  std::move(join).Invoke();
  EXPECT_GT(served, 0);
  ASSERT_TRUE(slow_reply.has_value()) << "the slow client got no answer";
  EXPECT_EQ(slow_reply->status, 408) << slow_reply->head;
  EXPECT_TRUE(slow_reply->has_content_length);
  EXPECT_THAT(slow_reply->body, HasSubstr("\"detail\""));
  EXPECT_TRUE(slow_closed);
  // Cut off long before the headers were complete (they would take
  // header_size / 10 seconds at this pace).
  EXPECT_LT(sent, header_size);
}

// background_nice: every background thread of the relay runs that much
// below the thread that created it, the workers at its own priority.
TEST(RelayRobustnessTest, BackgroundThreadsRunBelowTheWorkers) {
  const int base = ThisThreadNice();
  const int want = std::min(19, base + 7);
  auto h = RelayHarness::Start([](config::RelayConfig& c) {
    c.workers = 2;
    c.background_nice = 7;
  });
  ASSERT_TRUE(h.ok()) << h.status();
  // The control loop lowers itself in its first closure; give it a turn.
  std::vector<ThreadInfo> threads;
  ASSERT_TRUE(WaitFor([&] {
    threads = ListThreads();
    return std::any_of(threads.begin(), threads.end(), [&](const auto& t) {
      return t.name == "tern-control" && t.nice == want;
    });
  }));
  std::map<std::string, std::vector<int>> nice_by_name;
  for (const ThreadInfo& t : threads) nice_by_name[t.name].push_back(t.nice);
  EXPECT_THAT(nice_by_name["tern-worker-0"], ::testing::ElementsAre(base));
  EXPECT_THAT(nice_by_name["tern-worker-1"], ::testing::ElementsAre(base));
  EXPECT_THAT(nice_by_name["tern-kafka-dr"], ::testing::ElementsAre(want));
  EXPECT_THAT(nice_by_name["tern-spool"], ::testing::ElementsAre(want));
  EXPECT_THAT(nice_by_name["tern-control"], ::testing::ElementsAre(want));
  // The mock cluster's own librdkafka threads share these names and keep
  // the test's priority; the relay's producer adds its own, lowered.
  EXPECT_THAT(nice_by_name["rdk:main"], ::testing::Contains(want));
  EXPECT_EQ(ThisThreadNice(), base);
}

TEST(RelayRobustnessTest, ShutdownFinishesRequestsInFlightAndDeliversThem) {
  auto h = RelayHarness::Start([](config::RelayConfig& c) {
    c.workers = 2;
    c.timeouts.shutdown = absl::Seconds(20);
  });
  ASSERT_TRUE(h.ok()) << h.status();
  RelayHarness& relay = **h;
  const uint16_t port = relay.port();

  // A request in flight when the shutdown begins: its headers were read
  // (the 100 Continue proves it), its body not yet sent.
  const std::string in_flight_id = HexId(500);
  const std::string in_flight_body = EventJson(in_flight_id);
  RawClient pending(port);
  ASSERT_TRUE(pending.ok());
  ASSERT_TRUE(pending.Send(absl::StrCat(
      "POST /api/1/store/ HTTP/1.1\r\nHost: relay\r\n", AuthHeader(),
      "\r\nExpect: 100-continue\r\nContent-Length: ", in_flight_body.size(),
      "\r\n\r\n")));
  std::optional<HttpReply> cont = pending.Read();
  ASSERT_TRUE(cont.has_value());
  ASSERT_EQ(cont->status, 100) << cont->head;

  // Load from four clients until the relay stops answering.
  std::mutex mu;
  std::set<std::string> accepted;  // ids answered 200
  std::atomic<int> other_status{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      RawClient c(port);
      for (int i = 0; !stop; ++i) {
        const std::string id = HexId(10000 * (t + 1) + i);
        if (!c.ok() || !c.Send(Post("/api/1/store/", AuthHeader() + "\r\n",
                                    EventJson(id)))) {
          return;
        }
        std::optional<HttpReply> r = c.Read();
        if (!r) return;  // closed by the shutdown
        if (r->status == 200) {
          std::lock_guard<std::mutex> lock(mu);
          accepted.insert(id);
        } else {
          ++other_status;
        }
        if (absl::AsciiStrToLower(r->Header("connection")) == "close") return;
      }
    });
  }
  // A failed assertion below returns early: stop and join the threads
  // first, or their destructors would abort the test binary.
  std::thread stopper;
  absl::Cleanup join = [&] {
    stop = true;
    if (stopper.joinable()) stopper.join();
    for (std::thread& t : clients) {
      if (t.joinable()) t.join();
    }
  };
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return accepted.size() >= 50;
  }));

  absl::Status shutdown_status;
  stopper = std::thread([&] { shutdown_status = relay.relay().Shutdown(); });
  ASSERT_TRUE(WaitFor([&] { return !relay.relay().Ready(); }));
  // Finish the in-flight request after the shutdown began.
  ASSERT_TRUE(pending.Send(in_flight_body));
  std::optional<HttpReply> r = pending.Read();
  stopper.join();
  stop = true;
  for (std::thread& t : clients) t.join();

  ASSERT_TRUE(r.has_value()) << "the in-flight request was not answered";
  EXPECT_EQ(r->status, 200) << r->head << r->body;
  EXPECT_EQ(absl::AsciiStrToLower(r->Header("connection")), "close");
  accepted.insert(in_flight_id);
  EXPECT_TRUE(shutdown_status.ok()) << shutdown_status;
  EXPECT_EQ(other_status.load(), 0);

  // New connections are refused (or closed unanswered) after Shutdown.
  RawClient late(port, absl::Seconds(2));
  if (late.ok()) {
    late.Send(
        Post("/api/1/store/", AuthHeader() + "\r\n", EventJson(HexId(1))));
    std::optional<HttpReply> late_reply = late.Read();
    EXPECT_FALSE(late_reply.has_value() && late_reply->status == 200);
  }

  auto events = kafka::testing::ReadPartition(
      relay.cluster().bootstrap_servers(), relay.config().kafka.topics.events);
  ASSERT_TRUE(events.ok()) << events.status();
  std::set<std::string> delivered;
  for (const auto& m : *events) delivered.insert(m.key);
  for (const std::string& id : accepted) {
    EXPECT_TRUE(delivered.contains(id)) << id << " answered 200, not in Kafka";
  }
}

// The projects file with project 2's quota `q` (it is the file's last
// project, so the appended lines belong to it) (every category, one hour)
// at `limit`.
// Replaces the file atomically (write, then rename), as docs/config.md asks
// of operators: the relay's file watcher may read the file at any moment,
// and an in-place rewrite can be caught half-written.
void WriteProjectsWithQuota(const std::string& path, uint64_t limit) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << kProjectsYaml
        << "    quotas:\n      - id: q\n        limit: " << limit
        << "\n        window: 3600\n";
  }
  std::filesystem::rename(tmp, path);
}

TEST(RelayRobustnessTest, ReloadUnderLoadFailsNothingAndKeepsQuotaCounts) {
  auto h = RelayHarness::Start([](config::RelayConfig& c) { c.workers = 2; });
  ASSERT_TRUE(h.ok()) << h.status();
  RelayHarness& relay = **h;
  const std::string& file = relay.config().projects.file;
  auto reloads = [&] {
    return MetricValue(relay.relay().Metrics(), "tern_projects_reloads_total");
  };
  const double start = reloads();
  ASSERT_GE(start, 0);
  WriteProjectsWithQuota(file, 1'000'000);
  relay.relay().Reload();
  ASSERT_TRUE(WaitFor([&] { return reloads() >= start + 1; }));

  // Two clients send events while the file is reloaded twenty times, the
  // quota's limit changing each time (same id and window: same counter).
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&, t] {
      RawClient c(relay.port());
      for (int i = 0; !stop && c.ok(); ++i) {
        const std::string id = HexId(1'000'000 * (t + 1) + i);
        if (!c.Send(Post("/api/2/store/", AuthHeader(kOtherKey) + "\r\n",
                         EventJson(id)))) {
          ++other;
          return;
        }
        std::optional<HttpReply> r = c.Read();
        if (r && r->status == 200) {
          ++ok;
        } else {
          ++other;
          return;
        }
      }
    });
  }
  const double before = reloads();
  for (int i = 0; i < 20; ++i) {
    WriteProjectsWithQuota(file, 1'000'000 + i);
    relay.relay().Reload();
    ASSERT_TRUE(WaitFor([&] { return reloads() >= before + i + 1; }));
  }
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(other.load(), 0) << "a request failed during the reloads";
  ASSERT_GT(ok.load(), 0);

  // The counter survived every reload. With the limit set to one more
  // than was admitted, only about one more event gets in before the 429:
  // had any reload reset the counter, all of `admitted` would get in again.
  // ("About": a worker serves the previous table until its next loop
  // iteration, so a request or two at the very start may have been served
  // before the quota existed and was not counted.)
  const int admitted = ok.load();
  ASSERT_GE(admitted, 20);
  WriteProjectsWithQuota(file, admitted + 1);
  relay.relay().Reload();
  ASSERT_TRUE(WaitFor([&] { return reloads() >= before + 21; }));
  RawClient c(relay.port());
  int extra = 0;
  std::optional<HttpReply> r;
  for (int i = 0; i <= admitted + 1; ++i) {
    ASSERT_TRUE(c.Send(Post("/api/2/store/", AuthHeader(kOtherKey) + "\r\n",
                            EventJson(HexId(5'000'000 + i)))));
    r = c.Read();
    ASSERT_TRUE(r.has_value());
    if (r->status != 200) break;
    ++extra;
  }
  EXPECT_EQ(r->status, 429) << r->head;
  EXPECT_NE(r->Header("x-sentry-rate-limits"), "");
  EXPECT_GE(extra, 1);
  EXPECT_LE(extra, 1 + admitted / 10) << "admitted " << admitted;
}

}  // namespace
}  // namespace tern::relay::app
