#include "net/http_server.h"

#include <sys/resource.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "net/test_client.h"

namespace tern::net {
namespace {

using testing::TestClient;

absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

std::string Ok(absl::string_view body) {
  return absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
                      "Content-Length: ", body.size(), "\r\n\r\n", body);
}

std::string OkClose(absl::string_view body) {
  return absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
                      "Content-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

std::string Error(int status, absl::string_view reason,
                  absl::string_view detail) {
  std::string body = absl::StrCat("{\"detail\":\"", detail, "\"}");
  return absl::StrCat("HTTP/1.1 ", status, " ", reason,
                      "\r\nContent-Type: application/json\r\nContent-Length: ",
                      body.size(), "\r\nConnection: close\r\n\r\n", body);
}

// Echoes "METHOD path?query [x-test] body"; paths starting with /slow are
// answered 100 ms later from a uv timer (an asynchronous application);
// /small allows 10 body bytes; /deny is rejected 401 after the headers.
class EchoHandler : public HttpHandler {
 public:
  explicit EchoHandler(Worker* worker) : worker_(worker) {}

  HeadVerdict OnHeaders(const HttpRequest& head, size_t def) override {
    if (head.path == "/deny") {
      HeadVerdict deny;
      deny.reject_status = 401;
      deny.reject_detail = "no key";
      return deny;
    }
    HeadVerdict verdict;
    verdict.max_body_bytes = head.path == "/small" ? 10 : def;
    return verdict;
  }

  void OnRequest(HttpRequest& req,
                 std::unique_ptr<HttpResponder> responder) override {
    bool padded = true;
    for (size_t i = 0; i < kBodyPadding; ++i) {
      if (req.body.data()[req.body.size() + i] != 0) padded = false;
    }
    std::string body =
        absl::StrCat(AV(req.method), " ", AV(req.path), "?", AV(req.query),
                     " [", AV(req.Header("X-TEST").value_or("-")), "] ",
                     AV(req.body), padded ? "" : " UNPADDED");
    if (req.path.starts_with("/slow")) {
      auto* d = new Delayed{{}, std::move(responder), body};
      uv_timer_init(worker_->loop(), &d->timer);
      d->timer.data = d;
      uv_timer_start(
          &d->timer,
          [](uv_timer_t* t) {
            auto* d = static_cast<Delayed*>(t->data);
            HttpHeader ct{"Content-Type", "text/plain"};
            d->responder->Send(200, {&ct, 1}, d->body);
            uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
              delete static_cast<Delayed*>(h->data);
            });
          },
          100, 0);
      return;
    }
    HttpHeader ct{"Content-Type", "text/plain"};
    responder->Send(200, {&ct, 1}, body);
  }

 private:
  struct Delayed {
    uv_timer_t timer;
    std::unique_ptr<HttpResponder> responder;
    std::string body;
  };
  Worker* worker_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    worker_ = std::make_unique<Worker>("http-test");
    handler_ = std::make_unique<EchoHandler>(worker_.get());
    server_ =
        std::make_unique<HttpServer>(worker_.get(), handler_.get(), options);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    ASSERT_NE(server_->port(), 0);
    ASSERT_TRUE(worker_->Start().ok());
  }
  void TearDown() override {
    if (worker_) worker_->Stop();
    server_.reset();
  }
  uint16_t port() const { return server_->port(); }

  std::unique_ptr<Worker> worker_;
  std::unique_ptr<EchoHandler> handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequests) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(absl::StrCat("GET /r", i,
                                    "?a=1&b=2 HTTP/1.1\r\nHost: x\r\n"
                                    "x-test: v",
                                    i, "\r\n\r\n")));
    EXPECT_EQ(c.ReadResponse(),
              Ok(absl::StrCat("GET /r", i, "?a=1&b=2 [v", i, "] ")));
  }
  ASSERT_TRUE(
      c.Send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
  EXPECT_EQ(c.ReadResponse(), Ok("POST /p? [-] hello"));
  EXPECT_EQ(server_->counters().requests.value(), 4u);
  EXPECT_EQ(server_->counters().connections_accepted.value(), 1u);
}

TEST_F(HttpServerTest, CountersAreListedForMetrics) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"));
  EXPECT_EQ(c.ReadResponse(), Ok("POST /? [-] ab"));
  std::vector<std::string> names;
  uint64_t requests = 0;
  ForEachCounter(server_->counters(),
                 [&](const char* name, const char* help, uint64_t value) {
                   names.push_back(name);
                   if (std::string_view(name) == "requests") requests = value;
                 });
  EXPECT_EQ(names.size(), 13u);
  EXPECT_EQ(names.front(), "connections_accepted");
  EXPECT_EQ(requests, 1u);
  EXPECT_GE(server_->counters().bytes_in.value(), 40u);
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrderWithAsyncFirst) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(
      c.Send("GET /slow1 HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
             "GET /slow2 HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /d?q HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("GET /slow1? [-] "));
  EXPECT_EQ(c.ReadResponse(), Ok("POST /b? [-] abc"));
  EXPECT_EQ(c.ReadResponse(), Ok("GET /slow2? [-] "));
  EXPECT_EQ(c.ReadResponse(), Ok("GET /d?q [-] "));
  EXPECT_EQ(server_->counters().requests.value(), 4u);
}

TEST_F(HttpServerTest, ChunkedBodyIsDechunkedAndPadded) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(
      c.Send("POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\n"
             "Transfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n"
             "6;ext=1\r\n world\r\n"));
  ASSERT_TRUE(c.Send("a\r\n0123456789\r\n0\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(),
            Ok("POST /api/1/envelope/? [-] hello world0123456789"));
  // The connection stays usable after a chunked body.
  ASSERT_TRUE(c.Send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("GET /next? [-] "));
}

TEST_F(HttpServerTest, LargeBodyAcrossManyReads) {
  StartServer();
  TestClient c(port());
  std::string body(300 * 1024, 'z');
  ASSERT_TRUE(c.Send(absl::StrCat(
      "POST /big HTTP/1.1\r\nContent-Length: ", body.size(), "\r\n\r\n")));
  ASSERT_TRUE(c.Send(body));
  EXPECT_EQ(c.ReadResponse(), Ok(absl::StrCat("POST /big? [-] ", body)));
}

TEST_F(HttpServerTest, ExpectContinue) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(
      c.Send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             "Expect: 100-continue\r\n\r\n"));
  EXPECT_EQ(c.ReadN(25), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.Send("hello"));
  EXPECT_EQ(c.ReadResponse(), Ok("POST /e? [-] hello"));
}

TEST_F(HttpServerTest, ExpectContinueNotSentWhenRejectedEarly) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(
      c.Send("POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             "Expect: 100-continue\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Error(401, "Unauthorized", "no key"));
  EXPECT_TRUE(c.WaitClosed());
  // Over the body limit: 413 instead of 100 Continue.
  TestClient c2(port());
  ASSERT_TRUE(
      c2.Send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
              "Expect: 100-continue\r\n\r\n"));
  EXPECT_EQ(c2.ReadResponse(),
            Error(413, "Payload Too Large", "request body too large"));
  EXPECT_TRUE(c2.WaitClosed());
}

TEST_F(HttpServerTest, ConnectionCloseClosesAfterResponse) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(
      c.Send("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), OkClose("GET /c? [-] "));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, Http10WithoutKeepAliveCloses) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), OkClose("GET /old? [-] "));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, Http10KeepAliveStaysOpen) {
  StartServer();
  TestClient c(port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse(),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
              "Content-Length: 14\r\nConnection: keep-alive\r\n\r\n"
              "GET /old? [-] ");
  }
}

TEST_F(HttpServerTest, HeaderTooLargeIs431) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(c.Send(absl::StrCat(
      "GET / HTTP/1.1\r\nX-Big: ", std::string(20000, 'a'), "\r\n\r\n")));
  EXPECT_EQ(c.ReadResponse(), Error(431, "Request Header Fields Too Large",
                                    "request line and headers too large"));
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(server_->counters().rejected_header_too_large.value(), 1u);
}

TEST_F(HttpServerTest, TooManyHeadersIs431) {
  HttpServerOptions options;
  options.max_header_count = 5;
  StartServer(options);
  TestClient c(port());
  std::string req = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 6; ++i) absl::StrAppend(&req, "H", i, ": v\r\n");
  ASSERT_TRUE(c.Send(req + "\r\n"));
  EXPECT_EQ(c.ReadResponse(), Error(431, "Request Header Fields Too Large",
                                    "too many header fields"));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, BodyOverLimitIs413AndCloses) {
  StartServer();
  {
    TestClient c(port());
    ASSERT_TRUE(c.Send(
        "POST /small HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890"));
    EXPECT_EQ(c.ReadResponse(),
              Error(413, "Payload Too Large", "request body too large"));
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    // Chunked: the limit is only known to be passed while reading.
    TestClient c(port());
    ASSERT_TRUE(
        c.Send("POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse(),
              Error(413, "Payload Too Large", "request body too large"));
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    // Exactly at the limit is fine.
    TestClient c(port());
    ASSERT_TRUE(
        c.Send("POST /small HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"));
    EXPECT_EQ(c.ReadResponse(), Ok("POST /small? [-] 0123456789"));
  }
  EXPECT_EQ(server_->counters().rejected_body_too_large.value(), 2u);
}

TEST_F(HttpServerTest, Early413IsReadableWhileTheBodyKeepsComing) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(
      c.Send("POST /small HTTP/1.1\r\nContent-Length: 4000000\r\n\r\n"));
  // The client keeps sending the body it announced; the server half-closes
  // and drains, so the 413 is not destroyed by a reset.
  std::thread sender([&] { c.Send(std::string(4000000, 'b')); });
  EXPECT_EQ(c.ReadResponse(),
            Error(413, "Payload Too Large", "request body too large"));
  sender.join();
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, MalformedIs400) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(c.Send("NOT HTTP AT ALL\r\n\r\n"));
  std::string resp = c.ReadResponse();
  EXPECT_TRUE(resp.starts_with("HTTP/1.1 400 Bad Request\r\n")) << resp;
  EXPECT_NE(resp.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(resp.find("{\"detail\":\"malformed request: "), std::string::npos);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(server_->counters().rejected_malformed.value(), 1u);

  TestClient c2(port());
  ASSERT_TRUE(c2.Send(
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"));
  EXPECT_TRUE(c2.ReadResponse().starts_with("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_TRUE(c2.WaitClosed());
}

TEST_F(HttpServerTest, SlowClientCutAtHeaderTimeout) {
  HttpServerOptions options;
  options.header_timeout_ms = 200;
  StartServer(options);
  TestClient c(port());
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\n"));
  // Trickle bytes: they must not extend the header deadline.
  for (int i = 0; i < 3; ++i) {
    usleep(50 * 1000);
    c.Send("X");
  }
  EXPECT_EQ(c.ReadResponse(),
            Error(408, "Request Timeout", "timed out reading request headers"));
  EXPECT_TRUE(c.WaitClosed());
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_GE(elapsed, std::chrono::milliseconds(190));
  // A connection that sends nothing is closed silently.
  TestClient silent(port());
  EXPECT_TRUE(silent.WaitClosed());
  EXPECT_EQ(server_->counters().timeout_header.value(), 2u);
}

TEST_F(HttpServerTest, SlowBodyCutAtBodyTimeout) {
  HttpServerOptions options;
  options.body_timeout_ms = 200;
  StartServer(options);
  TestClient c(port());
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_EQ(c.ReadResponse(),
            Error(408, "Request Timeout", "timed out reading request body"));
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(server_->counters().timeout_body.value(), 1u);
}

TEST_F(HttpServerTest, IdleKeepAliveTimeout) {
  HttpServerOptions options;
  options.idle_timeout_ms = 200;
  StartServer(options);
  TestClient c(port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("GET /? [-] "));
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(server_->counters().timeout_idle.value(), 1u);
}

TEST_F(HttpServerTest, MaxConnectionsClosesExtraConnections) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  TestClient a(port()), b(port());
  for (TestClient* c : {&a, &b}) {
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\n\r\n"));
    EXPECT_EQ(c->ReadResponse(), Ok("GET /? [-] "));
  }
  TestClient extra(port());
  ASSERT_TRUE(extra.ok());  // the kernel completes the handshake
  extra.Send("GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(extra.WaitClosed());
  EXPECT_EQ(server_->counters().connections_rejected.value(), 1u);
  // The existing ones still work.
  ASSERT_TRUE(a.Send("GET /again HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(a.ReadResponse(), Ok("GET /again? [-] "));
}

TEST_F(HttpServerTest, ThousandsOfIdleConnectionsDoNotBlockNewRequests) {
  // Both ends of every connection live in this process: lift the soft
  // descriptor limit (1024 on a stock Debian login) to the hard one.
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  lim.rlim_cur = lim.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
  ASSERT_GE(lim.rlim_cur, 4200u) << "hard RLIMIT_NOFILE too low for this test";
  StartServer();
  constexpr int kIdle = 2000;
  std::vector<std::unique_ptr<TestClient>> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<TestClient>(port()));
    ASSERT_TRUE(idle.back()->ok()) << i;
    if (i % 2 == 0) idle.back()->Send("GET / HTTP/1.1\r\n");  // half-sent
  }
  auto start = std::chrono::steady_clock::now();
  TestClient c(port());
  ASSERT_TRUE(c.Send("GET /fresh HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("GET /fresh? [-] "));
  // A liveness bound, not a speed target: generous for sanitizer builds.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(HttpServerTest, ClientGoneBeforeAsyncAnswer) {
  StartServer();
  {
    TestClient c(port());
    ASSERT_TRUE(c.Send("GET /slow HTTP/1.1\r\n\r\n"));
  }  // closed before the 100 ms answer; Send must be a no-op
  usleep(200 * 1000);
  TestClient c(port());
  ASSERT_TRUE(c.Send("GET /after HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("GET /after? [-] "));
}

TEST_F(HttpServerTest, PipelinedFloodFromAClientThatReadsLate) {
  StartServer();
  TestClient c(port());
  constexpr int kRequests = 200;
  const std::string body(64 * 1024, 'p');
  // Responses (echoing 64 KiB each) fill the socket buffers long before the
  // client reads, so the server must pause parsing and resume in order.
  std::thread sender([&] {
    for (int i = 0; i < kRequests; ++i) {
      if (!c.Send(absl::StrCat("POST /f", i, " HTTP/1.1\r\nContent-Length: ",
                               body.size(), "\r\n\r\n", body))) {
        return;
      }
    }
  });
  usleep(200 * 1000);
  for (int i = 0; i < kRequests; ++i) {
    if (c.ReadResponse() != Ok(absl::StrCat("POST /f", i, "? [-] ", body))) {
      ADD_FAILURE() << "response " << i;
      shutdown(c.fd(), SHUT_RDWR);  // unblock the sender
      break;
    }
  }
  sender.join();
}

TEST_F(HttpServerTest, RequestSentByteByByte) {
  StartServer();
  TestClient c(port());
  int one = 1;
  setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::string req =
      "POST /bytes?x=1 HTTP/1.1\r\nHost: x\r\nX-Test: split value\r\n"
      "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  for (char ch : req) {
    ASSERT_TRUE(c.Send(std::string(1, ch)));
    usleep(200);
  }
  EXPECT_EQ(c.ReadResponse(), Ok("POST /bytes?x=1 [split value] abcde"));
}

TEST_F(HttpServerTest, UpgradeIsAnsweredAsPlainHttpAndClosed) {
  StartServer();
  TestClient c(port());
  ASSERT_TRUE(c.Send(
      "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
      "\x81\x05hello"));
  EXPECT_EQ(c.ReadResponse(), OkClose("GET /ws? [-] "));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, StopAcceptingDrainsGracefully) {
  StartServer();
  TestClient idle(port());
  ASSERT_TRUE(idle.Send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(idle.ReadResponse(), Ok("GET /? [-] "));
  TestClient busy(port());
  ASSERT_TRUE(busy.Send("GET /slow HTTP/1.1\r\n\r\n"));
  // Make sure the slow request is in flight before draining.
  for (int i = 0; i < 100 && server_->counters().requests.value() < 2; ++i) {
    usleep(1000);
  }
  server_->StopAccepting();
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_EQ(busy.ReadResponse(), OkClose("GET /slow? [-] "));
  EXPECT_TRUE(busy.WaitClosed());
  for (int i = 0; i < 200 && server_->open_connections() > 0; ++i) {
    usleep(10 * 1000);
  }
  EXPECT_EQ(server_->open_connections(), 0u);
  EXPECT_EQ(testing::ConnectTcp(port()), -1);  // nobody listens any more
}

TEST(HttpServerListenTest, BusyPortIsAClearError) {
  // A plain listener without SO_REUSEPORT holds the port.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t busy = ntohs(addr.sin_port);

  Worker worker;
  EchoHandler handler(&worker);
  HttpServer server(&worker, &handler);
  absl::Status s = server.Listen("127.0.0.1", busy);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), absl::StrCat("listen 127.0.0.1:", busy,
                                      ": address already in use"));
  worker.Stop();
  close(fd);
}

TEST(HttpServerListenTest, BadAddressIsAClearError) {
  Worker worker;
  EchoHandler handler(&worker);
  HttpServer server(&worker, &handler);
  absl::Status s = server.Listen("not-an-ip", 3000);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "listen bad address not-an-ip:3000: expected a numeric IPv4 or "
            "IPv6 address");
  worker.Stop();
}

TEST(HttpServerListenTest, TwoWorkersShareAPortWithReusePort) {
  Worker w1("w1"), w2("w2");
  EchoHandler h1(&w1), h2(&w2);
  HttpServer s1(&w1, &h1), s2(&w2, &h2);
  ASSERT_TRUE(w1.Start().ok());
  ASSERT_TRUE(w2.Start().ok());
  ASSERT_TRUE(s1.Listen("127.0.0.1", 0).ok());
  absl::Status st = s2.Listen("127.0.0.1", s1.port());
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(s1.port(), s2.port());
  for (int i = 0; i < 20; ++i) {
    TestClient c(s1.port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse(), OkClose("GET /? [-] "));
  }
  w1.Stop();
  w2.Stop();
  EXPECT_EQ(s1.counters().requests.value() + s2.counters().requests.value(),
            20u);
}

}  // namespace
}  // namespace tern::net
