#include "net/load_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "net/http_server.h"
#include "net/socket_util.h"
#include "net/worker.h"

namespace tern::net {
namespace {

// Answers /status/NNN with NNN; /close answers 200 and closes.
class StatusHandler : public HttpHandler {
 public:
  void OnRequest(HttpRequest& req,
                 std::unique_ptr<HttpResponder> responder) override {
    int status = 200;
    constexpr std::string_view kPrefix = "/status/";
    if (req.path.substr(0, kPrefix.size()) == kPrefix) {
      std::string_view digits = req.path.substr(kPrefix.size());
      std::from_chars(digits.data(), digits.data() + digits.size(), status);
    }
    responder->Send(status, {}, "{}", req.path == "/close");
  }
};

// A blocking socket of `type` bound to 127.0.0.1 on a free port (read it
// with internal::LocalPort), or -1 if bind fails. Blocking, unlike
// internal::BindReusePort's, so the UDP test can recv with a timeout.
int BindLoopback(int type) {
  const int fd = socket(AF_INET, type, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string Get(std::string_view path) {
  return absl::StrCat("GET ", absl::string_view(path.data(), path.size()),
                      " HTTP/1.1\r\nHost: x\r\n\r\n");
}

class LoadClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<HttpServer>(&worker_, &handler_);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
  }
  void TearDown() override {
    worker_.Stop();
    conn_.reset();
    server_.reset();
  }

  Worker worker_{"load-test"};
  StatusHandler handler_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<LoadHttpConnection> conn_;
};

TEST_F(LoadClientTest, PipelinedResponsesArriveInOrderWithTheirStatus) {
  const std::vector<std::string> requests = {
      Get("/status/200"), Get("/status/429"), Get("/status/403"),
      Get("/status/200"), Get("/status/503")};
  std::vector<int> statuses;
  std::promise<void> done;
  LoadHttpConnection::Handlers h;
  h.on_state = [&](absl::Status s) {
    ASSERT_TRUE(s.ok()) << s;
    // All five written at once: pipelined on one connection.
    for (const std::string& r : requests) EXPECT_TRUE(conn_->Send(r));
    EXPECT_EQ(conn_->in_flight(), 5u);
  };
  h.on_response = [&](int status) {
    statuses.push_back(status);
    if (statuses.size() == requests.size()) done.set_value();
  };
  conn_ = std::make_unique<LoadHttpConnection>(&worker_, std::move(h));
  ASSERT_TRUE(worker_.Start().ok());
  worker_.Post([&] { conn_->Connect("127.0.0.1", server_->port()); });
  done.get_future().wait();
  EXPECT_EQ(statuses, (std::vector<int>{200, 429, 403, 200, 503}));
  std::promise<size_t> in_flight;
  worker_.Post([&] { in_flight.set_value(conn_->in_flight()); });
  EXPECT_EQ(in_flight.get_future().get(), 0u);
}

TEST_F(LoadClientTest, PeerCloseIsReportedAndTheConnectionReconnects) {
  const std::string close_req = Get("/close");
  const std::string ok_req = Get("/status/201");
  std::vector<std::string> events;
  std::promise<void> done;
  int connects = 0;
  LoadHttpConnection::Handlers h;
  h.on_state = [&](absl::Status s) {
    if (s.ok()) {
      ++connects;
      events.push_back("connected");
      EXPECT_TRUE(conn_->Send(connects == 1 ? close_req : ok_req));
      return;
    }
    events.push_back(absl::StrCat("failed in_flight=", conn_->in_flight()));
    EXPECT_FALSE(conn_->connected());
    EXPECT_FALSE(conn_->Send(ok_req)) << "not connected: refused";
    conn_->Connect("127.0.0.1", server_->port());
  };
  h.on_response = [&](int status) {
    events.push_back(absl::StrCat("status ", status));
    if (status == 201) done.set_value();
  };
  conn_ = std::make_unique<LoadHttpConnection>(&worker_, std::move(h));
  ASSERT_TRUE(worker_.Start().ok());
  worker_.Post([&] { conn_->Connect("127.0.0.1", server_->port()); });
  done.get_future().wait();
  EXPECT_EQ(events, (std::vector<std::string>{"connected", "status 200",
                                              "failed in_flight=0", "connected",
                                              "status 201"}));
}

TEST_F(LoadClientTest, RefusedConnectIsReported) {
  // A port that was just free: bind, read it back, close.
  const int fd = BindLoopback(SOCK_STREAM);
  ASSERT_GE(fd, 0);
  const uint16_t port = internal::LocalPort(fd);
  close(fd);
  std::promise<absl::Status> state;
  LoadHttpConnection::Handlers h;
  h.on_state = [&](absl::Status s) { state.set_value(s); };
  h.on_response = [](int) { ADD_FAILURE() << "no response expected"; };
  conn_ = std::make_unique<LoadHttpConnection>(&worker_, std::move(h));
  ASSERT_TRUE(worker_.Start().ok());
  worker_.Post([&] { conn_->Connect("127.0.0.1", port); });
  absl::Status s = state.get_future().get();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

TEST(LoadUdpSenderTest, DeliversEveryDatagramInABatch) {
  const int rx = BindLoopback(SOCK_DGRAM);
  ASSERT_GE(rx, 0);
  timeval tv{5, 0};
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  LoadUdpSender sender;
  ASSERT_TRUE(sender.Open("127.0.0.1", internal::LocalPort(rx)).ok());
  std::vector<std::string> payloads;
  for (int i = 0; i < 100; ++i) payloads.push_back(absl::StrCat("dgram ", i));
  std::vector<std::string_view> views(payloads.begin(), payloads.end());
  EXPECT_EQ(sender.Send(views), 100u);
  for (int i = 0; i < 100; ++i) {
    char buf[64];
    const ssize_t n = recv(rx, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), payloads[i]);
  }
  close(rx);
  EXPECT_FALSE(LoadUdpSender().Open("not-an-ip", 1).ok());
}

TEST(LoopSpinnerTest, RunsOnEveryIterationUntilStopped) {
  Worker worker("spin-test");
  LoopSpinner spinner(&worker);
  int calls = 0;
  std::promise<int> done;
  ASSERT_TRUE(worker.Start().ok());
  worker.Post([&] {
    spinner.Start([&] {
      if (++calls == 10) {
        spinner.Stop();
        done.set_value(calls);
      }
    });
  });
  EXPECT_EQ(done.get_future().get(), 10);
  std::promise<bool> active;
  worker.Post([&] { active.set_value(spinner.active()); });
  EXPECT_FALSE(active.get_future().get());
  worker.Stop();
  EXPECT_EQ(calls, 10);
}

}  // namespace
}  // namespace tern::net
