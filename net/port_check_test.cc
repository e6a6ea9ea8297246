#include "net/port_check.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/http_server.h"
#include "net/udp_receiver.h"
#include "net/worker.h"

namespace tern::net {
namespace {

using ::testing::HasSubstr;

class NoopHandler : public HttpHandler {
 public:
  void OnRequest(HttpRequest&, std::unique_ptr<HttpResponder> r) override {
    r->Send(200, {}, "");
  }
};

TEST(CheckPortFree, RefusesAPortHeldEvenWithReusePort) {
  Worker worker("port-check");
  NoopHandler handler;
  HttpServer server(&worker, &handler);
  ASSERT_TRUE(server.Listen("127.0.0.1", 0).ok());
  UdpReceiver udp(&worker, [](std::string_view, const sockaddr*) {});
  ASSERT_TRUE(udp.Bind("127.0.0.1", 0).ok());

  // The workers' SO_REUSEPORT sockets would let another one bind; the probe
  // must not.
  absl::Status s = CheckPortFree("listen", "127.0.0.1", server.port(), false);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("listen 127.0.0.1:" + std::to_string(server.port()) +
                        ": address already in use"));
  s = CheckPortFree("udp bind", "127.0.0.1", udp.port(), true);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;

  EXPECT_TRUE(CheckPortFree("listen", "127.0.0.1", 0, false).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(
      CheckPortFree("listen", "not-an-ip", 1234, false)));
  worker.Stop();
}

TEST(CheckPortFree, AFreePortIsFreeAndStaysBindable) {
  // Find a free port, then check it twice: the probe closes its socket.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t port = ntohs(a.sin_port);
  close(fd);
  EXPECT_TRUE(CheckPortFree("listen", "127.0.0.1", port, false).ok());
  EXPECT_TRUE(CheckPortFree("listen", "127.0.0.1", port, false).ok());
  EXPECT_TRUE(CheckPortFree("udp bind", "127.0.0.1", port, true).ok());
}

}  // namespace
}  // namespace tern::net
