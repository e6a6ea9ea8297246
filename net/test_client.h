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

#include <cctype>
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

// One response split into status, head (status line and headers, without
// the blank line) and body, for tests that look at headers by name.
struct ParsedResponse {
  int status = 0;  // 0 when there was no complete response
  std::string head;
  std::string body;

  // The first header named `name` (any case), without leading spaces; ""
  // when absent.
  std::string Header(std::string_view name) const {
    auto lower = [](std::string_view in) {
      std::string out(in);
      for (char& c : out) c = static_cast<char>(std::tolower(c));
      return out;
    };
    const std::string needle = lower(std::string("\r\n").append(name)) + ":";
    const size_t at = lower(head).find(needle);
    if (at == std::string::npos) return "";
    size_t start = at + needle.size();
    while (start < head.size() && head[start] == ' ') ++start;
    return head.substr(start, head.find("\r\n", start) - start);
  }
};

// Splits what TestClient::ReadResponse returned; status 0 if it is not a
// response.
inline ParsedResponse ParseResponse(const std::string& raw) {
  ParsedResponse r;
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.size() < 12) return r;
  r.head = raw.substr(0, head_end);
  r.body = raw.substr(head_end + 4);
  r.status = std::atoi(raw.c_str() + 9);  // "HTTP/1.1 200"
  return r;
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
