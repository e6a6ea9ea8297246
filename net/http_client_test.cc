#include "net/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "net/http_server.h"

namespace tern::net {
namespace {

absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

// Runs Fetch on the worker and waits (bounded by the call's own timeout).
absl::StatusOr<HttpClientResponse> FetchSync(Worker& worker, HttpClient& client,
                                             HttpClientRequest req) {
  std::promise<absl::StatusOr<HttpClientResponse>> done;
  auto result = done.get_future();
  worker.Post([&] {
    client.Fetch(std::move(req), [&](absl::StatusOr<HttpClientResponse> r) {
      done.set_value(std::move(r));
    });
  });
  return result.get();
}

class EchoHandler : public HttpHandler {
 public:
  void OnRequest(HttpRequest& req,
                 std::unique_ptr<HttpResponder> responder) override {
    std::string body =
        absl::StrCat(AV(req.method), " ", AV(req.path), "?", AV(req.query), " ",
                     AV(req.Header("x-a").value_or("-")), " ", AV(req.body));
    HttpHeader h{"X-Reply", "yes"};
    responder->Send(req.path == "/missing" ? 404 : 200, {&h, 1}, body);
  }
};

// A one-shot raw server on a thread: accepts one connection, reads the
// request head, writes `reply` (if any) and closes after `hold_ms`.
class RawServer {
 public:
  RawServer(std::string reply, int hold_ms) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 4);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, reply, hold_ms] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      std::string got;
      while (got.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        got.append(buf, n);
      }
      if (!reply.empty()) send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      usleep(hold_ms * 1000);
      close(c);
    });
  }
  ~RawServer() {
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
  std::thread thread_;
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(worker_.Start().ok()); }
  void TearDown() override { worker_.Stop(); }
  Worker worker_{"client"};
  HttpClient client_{&worker_};
};

TEST_F(HttpClientTest, GetAndPostAgainstOurServer) {
  Worker server_worker("server");
  EchoHandler handler;
  HttpServer server(&server_worker, &handler);
  ASSERT_TRUE(server.Listen("127.0.0.1", 0).ok());
  ASSERT_TRUE(server_worker.Start().ok());

  HttpClientRequest get;
  get.host = "127.0.0.1";
  get.port = server.port();
  get.path = "/a?b=1";
  get.headers = {{"X-A", "hdr"}};
  auto r = FetchSync(worker_, client_, get);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /a?b=1 hdr ");
  EXPECT_EQ(r->Header("x-reply").value_or(""), "yes");

  HttpClientRequest post = get;
  post.method = "POST";
  post.path = "/missing";
  post.body = "payload";
  r = FetchSync(worker_, client_, post);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "POST /missing? hdr payload");

  // A name, resolved off the loop.
  get.host = "localhost";
  r = FetchSync(worker_, client_, get);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  server_worker.Stop();
}

TEST_F(HttpClientTest, ChunkedAndCloseDelimitedResponses) {
  {
    RawServer raw(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
        0);
    HttpClientRequest req;
    req.host = "127.0.0.1";
    req.port = raw.port();
    auto r = FetchSync(worker_, client_, req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "abcdefg");
  }
  {
    RawServer raw("HTTP/1.1 201 Created\r\n\r\nuntil close", 0);
    HttpClientRequest req;
    req.host = "127.0.0.1";
    req.port = raw.port();
    auto r = FetchSync(worker_, client_, req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(r->body, "until close");
  }
}

TEST_F(HttpClientTest, Errors) {
  {
    // Truncated: Content-Length promises more than arrives.
    RawServer raw("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0);
    HttpClientRequest req;
    req.host = "127.0.0.1";
    req.port = raw.port();
    auto r = FetchSync(worker_, client_, req);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  }
  {
    RawServer raw("garbage\r\n\r\n", 0);
    HttpClientRequest req;
    req.host = "127.0.0.1";
    req.port = raw.port();
    auto r = FetchSync(worker_, client_, req);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    // Accepts and never answers.
    RawServer raw("", 600);
    HttpClientRequest req;
    req.host = "127.0.0.1";
    req.port = raw.port();
    req.timeout_ms = 200;
    auto r = FetchSync(worker_, client_, req);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(r.status().message(), absl::StrCat("GET 127.0.0.1:", raw.port(),
                                                 "/: timed out after 200 ms"));
  }
  {
    // Nobody listens: a port we bound and closed.
    uint16_t port;
    {
      RawServer raw("HTTP/1.1 204 No Content\r\n\r\n", 0);
      port = raw.port();
      HttpClientRequest req;
      req.host = "127.0.0.1";
      req.port = port;
      ASSERT_TRUE(FetchSync(worker_, client_, req).ok());
    }
    HttpClientRequest req;
    req.host = "127.0.0.1";
    req.port = port;
    auto r = FetchSync(worker_, client_, req);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(r.status().message().find("connect: connection refused"),
              std::string::npos)
        << r.status();
  }
  {
    RawServer raw(
        absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
                     std::string(5000, 'x')),
        0);
    HttpClientRequest req;
    req.host = "127.0.0.1";
    req.port = raw.port();
    req.max_response_bytes = 1000;
    auto r = FetchSync(worker_, client_, req);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  }
}

TEST(HttpClientStopTest, InFlightCallIsCancelledOnStop) {
  RawServer raw("", 300);
  Worker worker("client");
  HttpClient client(&worker);
  ASSERT_TRUE(worker.Start().ok());
  std::promise<absl::Status> done;
  auto result = done.get_future();
  worker.Post([&] {
    HttpClientRequest req;
    req.host = "127.0.0.1";
    req.port = raw.port();
    client.Fetch(std::move(req), [&](absl::StatusOr<HttpClientResponse> r) {
      done.set_value(r.status());
    });
  });
  usleep(50 * 1000);
  worker.Stop();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(0)),
            std::future_status::ready);
  EXPECT_EQ(result.get().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace tern::net
