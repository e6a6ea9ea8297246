// Test-only: a tiny blocking HTTP/UDP client on plain POSIX sockets, so the
// net/ tests put real bytes on the wire and read exactly what came back.
#ifndef TERN_NET_TEST_CLIENT_H_
#define TERN_NET_TEST_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>

namespace tern::net::testing {

// Connects to 127.0.0.1:port; -1 on failure. Reads time out after 5 s so a
// broken server fails the test instead of hanging it.
inline int ConnectTcp(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

class TestClient {
 public:
  explicit TestClient(uint16_t port) : fd_(ConnectTcp(port)) {}
  ~TestClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads exactly n bytes (or fewer on EOF/timeout).
  std::string ReadN(size_t n) {
    while (buf_.size() < n && Fill()) {
    }
    std::string out = buf_.substr(0, std::min(n, buf_.size()));
    buf_.erase(0, out.size());
    return out;
  }

  // Reads one response framed by Content-Length; "" on EOF/timeout.
  std::string ReadResponse() {
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return "";
    }
    size_t body_len = 0;
    std::string head = buf_.substr(0, head_end);
    if (size_t p = head.find("Content-Length: "); p != std::string::npos) {
      body_len = std::strtoul(head.c_str() + p + 16, nullptr, 10);
    }
    size_t total = head_end + 4 + body_len;
    while (buf_.size() < total) {
      if (!Fill()) return "";
    }
    std::string out = buf_.substr(0, total);
    buf_.erase(0, total);
    return out;
  }

  // True if the peer closes (EOF or reset) within the read timeout with no
  // further bytes.
  bool WaitClosed() {
    char c;
    ssize_t n = recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool Fill() {
    char tmp[16384];
    ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buf_;
};

}  // namespace tern::net::testing

#endif  // TERN_NET_TEST_CLIENT_H_
