// RelayHandler on a real worker, HTTP server and mock Kafka cluster: routes,
// CORS, UDP datagrams, and requests held while their key's project config is
// fetched (the control plane is played by the test: it answers want_key by
// publishing a table, or not at all).
#include "relay/server/handler.h"

#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "config/projects.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/http_server.h"
#include "net/test_client.h"
#include "net/worker.h"
#include "relay/kafka/mock_cluster.h"
#include "relay/kafka/producer.h"
#include "relay/project/project_table.h"
#include "relay/project/table_slot.h"

namespace tern::relay::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
constexpr char kLateKey[] = "fedcba9876543210fedcba9876543210";
constexpr char kUnknownKey[] = "99999999999999999999999999999999";

config::Project MakeProject(uint64_t id, std::string key,
                            std::vector<std::string> origins) {
  config::Project p;
  p.id = id;
  config::ProjectKey k;
  k.public_key = std::move(key);
  p.keys.push_back(std::move(k));
  p.allowed_origins = std::move(origins);
  return p;
}

// The file has project 1 (kKey, origin https://good.example); upstream is on,
// may contribute project 2 (kLateKey), and has declared kUnknownKey unknown.
std::shared_ptr<const project::ProjectTable> Table(uint64_t generation,
                                                   bool with_late_key) {
  config::ProjectsFile file;
  file.projects.push_back(MakeProject(1, kKey, {"https://good.example"}));
  project::UpstreamProjects upstream;
  upstream.enabled = true;
  upstream.unknown_keys.push_back(kUnknownKey);
  if (with_late_key)
    upstream.projects.push_back(MakeProject(2, kLateKey, {"*"}));
  auto t = project::ProjectTable::Build(file, upstream, generation);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : nullptr;
}

std::string Store(std::string_view key, uint64_t project,
                  std::string_view extra_headers = "") {
  const std::string body = R"({"message":"hello"})";
  return absl::StrCat("POST /api/", project,
                      "/store/ HTTP/1.1\r\nHost: x\r\nX-Sentry-Auth: Sentry "
                      "sentry_key=",
                      ToAbsl(key), ", sentry_version=7\r\n",
                      ToAbsl(extra_headers), "Content-Length: ", body.size(),
                      "\r\n\r\n", body);
}

class HandlerTest : public ::testing::Test {
 protected:
  void Start(absl::Duration fetch_wait, bool answer_wants) {
    auto cluster = kafka::MockCluster::Create(1);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    kafka::ProducerConfig pc;
    pc.bootstrap_servers = cluster_->bootstrap_servers();
    pc.linger_ms = 1;
    pc.close_timeout = absl::Milliseconds(100);
    pc.log = [](kafka::LogSeverity, std::string_view) {};
    auto producer = kafka::Producer::Create(pc);
    ASSERT_TRUE(producer.ok()) << producer.status();
    producer_ = *std::move(producer);

    pipeline::PipelineOptions po;
    po.seed = 7;
    pipeline_ = std::make_unique<pipeline::Pipeline>(po, producer_.get());
    worker_ = std::make_unique<net::Worker>("handler-test");
    auto initial = Table(1, false);
    slot_ = std::make_unique<project::TableSlot>(initial);
    shared_.fetch_wait = fetch_wait;
    shared_.ready = [this] { return ready_.load(); };
    shared_.metrics = [] { return std::string("tern_test_total 1\n"); };
    shared_.want_key = [this, answer_wants](std::string_view key) {
      {
        absl::MutexLock lock(&mu_);
        wanted_.emplace_back(key);
      }
      // The control plane answers from another thread, as the real one does.
      if (answer_wants && key == kLateKey) {
        absl::MutexLock lock(&mu_);
        answers_.emplace_back(
            [this] { EXPECT_TRUE(publisher_->Publish(Table(2, true)).ok()); });
      }
    };
    handler_ = std::make_unique<RelayHandler>(worker_.get(), &shared_,
                                              slot_.get(), pipeline_.get());
    server_ = std::make_unique<net::HttpServer>(worker_.get(), handler_.get());
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    net::Worker* w = worker_.get();
    RelayHandler* h = handler_.get();
    publisher_ = std::make_unique<project::Publisher>(
        initial, std::vector<project::Publisher::Target>{
                     {slot_.get(), [w, h](absl::AnyInvocable<void() &&> fn) {
                        w->Post([fn = std::move(fn), h]() mutable {
                          std::move(fn)();
                          h->OnTableInstalled();
                        });
                      }}});
    ASSERT_TRUE(worker_->Start().ok());
  }

  void TearDown() override {
    {
      absl::MutexLock lock(&mu_);
      for (std::thread& t : answers_) t.join();
    }
    if (worker_) worker_->Stop();
    server_.reset();
    handler_.reset();
  }

  std::string Roundtrip(std::string_view request) {
    net::testing::TestClient c(server_->port());
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(c.Send(request));
    return c.ReadResponse();
  }

  std::vector<std::string> Wanted() {
    absl::MutexLock lock(&mu_);
    return wanted_;
  }

  std::unique_ptr<kafka::MockCluster> cluster_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::unique_ptr<net::Worker> worker_;
  std::unique_ptr<project::TableSlot> slot_;
  std::unique_ptr<project::Publisher> publisher_;
  ServerShared shared_;
  std::unique_ptr<RelayHandler> handler_;
  std::unique_ptr<net::HttpServer> server_;
  std::atomic<bool> ready_{true};
  absl::Mutex mu_;
  std::vector<std::string> wanted_;
  std::vector<std::thread> answers_;
};

TEST_F(HandlerTest, PendingKeyIsHeldUntilTheTableArrives) {
  Start(absl::Seconds(20), /*answer_wants=*/true);
  const std::string r = Roundtrip(Store(kLateKey, 2));
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 ")) << r;
  EXPECT_THAT(r, HasSubstr(R"({"id":")"));
  EXPECT_EQ(Wanted(), std::vector<std::string>{kLateKey});
  EXPECT_EQ(handler_->counters().held.load(), 1u);
  EXPECT_EQ(handler_->counters().held_timeouts.load(), 0u);
  EXPECT_EQ(handler_->counters().held_now.load(), 0u);
}

TEST_F(HandlerTest, PendingKeyGets503WithRetryAfterWhenTheWaitEnds) {
  Start(absl::Milliseconds(200), /*answer_wants=*/false);
  const absl::Time start = absl::Now();
  const std::string r = Roundtrip(Store(kLateKey, 2));
  EXPECT_THAT(r, StartsWith("HTTP/1.1 503 ")) << r;
  EXPECT_THAT(r, HasSubstr("Retry-After: "));
  EXPECT_THAT(r, HasSubstr("project config pending"));
  // Held for the wait, not answered at once.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
  EXPECT_EQ(handler_->counters().held_timeouts.load(), 1u);
  EXPECT_EQ(Wanted(), std::vector<std::string>{kLateKey});
}

TEST_F(HandlerTest, KnownUnknownKeyIsRefusedWithoutWaiting) {
  Start(absl::Seconds(20), /*answer_wants=*/true);
  const std::string r = Roundtrip(Store(kUnknownKey, 1));
  EXPECT_THAT(r, StartsWith("HTTP/1.1 403 ")) << r;
  EXPECT_THAT(r, HasSubstr("unknown public key"));
  EXPECT_TRUE(Wanted().empty());
}

TEST_F(HandlerTest, RoutesMethodsAndHealth) {
  Start(absl::Seconds(1), false);
  EXPECT_THAT(Roundtrip(Store(kKey, 1)), StartsWith("HTTP/1.1 200 "));
  // Without the trailing slash too, as Relay accepts.
  EXPECT_THAT(Roundtrip(absl::StrCat(
                  "POST /api/1/store HTTP/1.1\r\nHost: x\r\nX-Sentry-Auth: "
                  "Sentry sentry_key=",
                  kKey, "\r\nContent-Length: 2\r\n\r\n{}")),
              StartsWith("HTTP/1.1 200 "));
  std::string r = Roundtrip("GET /api/1/store/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(r, HasSubstr("Allow: POST, OPTIONS"));
  r = Roundtrip(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(Roundtrip("GET /api/0/store/ HTTP/1.1\r\nHost: x\r\n\r\n"),
              StartsWith("HTTP/1.1 404 "));
  EXPECT_THAT(Roundtrip("GET /api/1/nope/ HTTP/1.1\r\nHost: x\r\n\r\n"),
              StartsWith("HTTP/1.1 404 "));
  EXPECT_THAT(Roundtrip("GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n"),
              HasSubstr(R"({"detail":"not found"})"));
  EXPECT_THAT(
      Roundtrip("GET /api/relay/healthcheck/live/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      HasSubstr(R"({"is_healthy":true})"));
  ready_ = false;
  EXPECT_THAT(
      Roundtrip(
          "GET /api/relay/healthcheck/ready/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      StartsWith("HTTP/1.1 503 "));
  ready_ = true;
  EXPECT_THAT(
      Roundtrip(
          "GET /api/relay/healthcheck/ready/ HTTP/1.1\r\nHost: x\r\n\r\n"),
      StartsWith("HTTP/1.1 200 "));
  r = Roundtrip("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(r, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(r, HasSubstr("tern_test_total 1"));
  // The handler counted what it answered.
  EXPECT_GE(handler_->counters().responses[0][2].load(), 2u);  // store 2xx
  EXPECT_GE(handler_->counters().responses[5][4].load(), 3u);  // other 4xx
}

TEST_F(HandlerTest, CorsPreflightAndResponseHeaders) {
  Start(absl::Seconds(1), false);
  const std::string key_query = absl::StrCat("?sentry_key=", kKey);
  std::string r = Roundtrip(
      absl::StrCat("OPTIONS /api/1/envelope/", key_query,
                   " HTTP/1.1\r\nHost: x\r\nOrigin: https://good.example\r\n"
                   "Access-Control-Request-Method: POST\r\n\r\n"));
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 ")) << r;
  EXPECT_THAT(r,
              HasSubstr("Access-Control-Allow-Origin: https://good.example"));
  EXPECT_THAT(r, HasSubstr("Access-Control-Allow-Methods: POST, OPTIONS"));
  EXPECT_THAT(r, HasSubstr("x-sentry-auth"));
  // Without a key the URL's project decides.
  r = Roundtrip(
      "OPTIONS /api/1/store/ HTTP/1.1\r\nHost: x\r\nOrigin: "
      "https://evil.example\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 403 ")) << r;
  EXPECT_THAT(r, Not(HasSubstr("Access-Control-Allow-Origin")));
  r = Roundtrip(
      "OPTIONS /api/77/store/ HTTP/1.1\r\nHost: x\r\nOrigin: "
      "https://good.example\r\n\r\n");
  EXPECT_THAT(r, StartsWith("HTTP/1.1 403 ")) << r;
  // The POST itself carries the CORS answer headers.
  r = Roundtrip(Store(kKey, 1, "Origin: https://good.example\r\n"));
  EXPECT_THAT(r, StartsWith("HTTP/1.1 200 ")) << r;
  EXPECT_THAT(r,
              HasSubstr("Access-Control-Allow-Origin: https://good.example"));
  EXPECT_THAT(r, HasSubstr("Access-Control-Expose-Headers: "));
  r = Roundtrip(Store(kKey, 1, "Origin: https://evil.example\r\n"));
  EXPECT_THAT(r, StartsWith("HTTP/1.1 403 ")) << r;
  EXPECT_THAT(r, Not(HasSubstr("Access-Control-Allow-Origin")));
}

TEST_F(HandlerTest, UdpDatagramsAreCountedByOutcome) {
  Start(absl::Seconds(1), false);
  auto send = [&](std::string datagram) {
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_TRUE(worker_
                    ->RunSync([&] {
                      handler_->OnDatagram(
                          datagram, reinterpret_cast<const sockaddr*>(&peer));
                      return absl::OkStatus();
                    })
                    .ok());
  };
  const std::string auth =
      absl::StrCat("Sentry sentry_key=", kKey, ", sentry_version=7");
  send(absl::StrCat(auth, "\n\n", R"({"message":"udp"})"));
  send(absl::StrCat(R"({"dsn":"http://)", kKey, R"(@h/1"})", "\n",
                    R"({"type":"event"})", "\n", R"({"message":"env"})", "\n"));
  send("no separator here");
  send(absl::StrCat("Sentry sentry_key=", kUnknownKey, "\n\n{}"));
  send(absl::StrCat("Sentry sentry_key=", kLateKey, "\n\n{}"));
  send(absl::StrCat(auth, "\n\n", "not json"));
  send("\n\n{}");
  const HandlerCounters& c = handler_->counters();
  EXPECT_EQ(c.udp_accepted.load(), 2u);
  EXPECT_EQ(c.udp_dropped[static_cast<int>(UdpDrop::kMalformed)].load(), 2u);
  EXPECT_EQ(c.udp_dropped[static_cast<int>(UdpDrop::kForbidden)].load(), 1u);
  EXPECT_EQ(c.udp_dropped[static_cast<int>(UdpDrop::kInvalid)].load(), 1u);
  // A pending key is asked for, and its datagram held for the fetch wait,
  // then dropped as project_pending (nobody answers here).
  EXPECT_EQ(Wanted(), std::vector<std::string>{kLateKey});
  EXPECT_EQ(c.udp_held.load(), 1u);
  EXPECT_EQ(c.udp_held_now.load(), 1u);
  EXPECT_EQ(c.udp_dropped[static_cast<int>(UdpDrop::kPending)].load(), 0u);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (c.udp_held_now.load() != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(c.udp_held_now.load(), 0u);
  EXPECT_EQ(c.udp_dropped[static_cast<int>(UdpDrop::kPending)].load(), 1u);
  EXPECT_EQ(c.udp_accepted.load(), 2u);
}

// The first datagrams of a project the relay has not fetched yet (a raven
// client after a relay restart) wait for its config like HTTP requests do,
// and are produced once it arrives.
TEST_F(HandlerTest, UdpDatagramOfAPendingKeyIsProducedWhenTheTableArrives) {
  Start(absl::Seconds(20), /*answer_wants=*/true);
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string datagram =
      absl::StrCat("Sentry sentry_key=", kLateKey, ", sentry_version=4\n\n",
                   R"({"message":"first after restart"})");
  ASSERT_TRUE(worker_
                  ->RunSync([&] {
                    handler_->OnDatagram(
                        datagram, reinterpret_cast<const sockaddr*>(&peer));
                    return absl::OkStatus();
                  })
                  .ok());
  const HandlerCounters& c = handler_->counters();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (c.udp_accepted.load() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(c.udp_accepted.load(), 1u);
  EXPECT_EQ(c.udp_held.load(), 1u);
  EXPECT_EQ(c.udp_held_now.load(), 0u);
  EXPECT_EQ(c.udp_dropped[static_cast<int>(UdpDrop::kPending)].load(), 0u);
  EXPECT_EQ(Wanted(), std::vector<std::string>{kLateKey});
}

// The hold is bounded: past kMaxHeldDatagrams a datagram of a pending key is
// dropped at once (counted), not queued.
TEST_F(HandlerTest, UdpHoldIsBounded) {
  Start(absl::Seconds(20), /*answer_wants=*/false);
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string datagram =
      absl::StrCat("Sentry sentry_key=", kLateKey, "\n\n{}");
  ASSERT_TRUE(worker_
                  ->RunSync([&] {
                    for (size_t i = 0; i < kMaxHeldDatagrams + 3; ++i) {
                      handler_->OnDatagram(
                          datagram, reinterpret_cast<const sockaddr*>(&peer));
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  const HandlerCounters& c = handler_->counters();
  EXPECT_EQ(c.udp_held.load(), kMaxHeldDatagrams);
  EXPECT_EQ(c.udp_held_now.load(), kMaxHeldDatagrams);
  EXPECT_EQ(c.udp_dropped[static_cast<int>(UdpDrop::kPending)].load(), 3u);
  // Shutdown drops what is still held, counted.
  ASSERT_TRUE(worker_
                  ->RunSync([&] {
                    handler_->ReleaseHeld();
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(c.udp_held_now.load(), 0u);
  EXPECT_EQ(c.udp_dropped[static_cast<int>(UdpDrop::kPending)].load(),
            kMaxHeldDatagrams + 3);
}

}  // namespace
}  // namespace tern::relay::server
