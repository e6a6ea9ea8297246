#include "net/socket_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "net/port_check.h"

namespace tern::net::internal {
namespace {
// absl here is built without std::string_view aliasing; bridge explicitly.
inline absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }
}  // namespace

std::string FormatHostPort(std::string_view host, uint16_t port) {
  if (host.find(':') != std::string_view::npos) {
    return absl::StrCat("[", AV(host), "]:", port);
  }
  return absl::StrCat(AV(host), ":", port);
}

absl::StatusOr<sockaddr_storage> ParseAddress(std::string_view host,
                                              uint16_t port) {
  sockaddr_storage addr{};
  std::string h(host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return addr;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return addr;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad address ", FormatHostPort(host, port),
                   ": expected a numeric IPv4 or IPv6 address"));
}

namespace {

// socket() + options + bind() (+ listen() when backlog > 0), close-on-exec;
// errors name `what` and the address. The fd is the caller's.
absl::StatusOr<int> BindSocket(std::string_view what, std::string_view host,
                               uint16_t port, int type, bool reuse_addr,
                               bool reuse_port, int backlog) {
  absl::StatusOr<sockaddr_storage> addr = ParseAddress(host, port);
  if (!addr.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(what), " ", addr.status().message()));
  }
  auto fail = [&](int fd, int err) {
    if (fd >= 0) close(fd);
    // libuv's error names are the lower-case strerror text we want
    // ("address already in use"); UV_E* == -errno on Linux.
    return absl::UnavailableError(absl::StrCat(
        AV(what), " ", FormatHostPort(host, port), ": ", uv_strerror(-err)));
  };
  int fd = socket(addr->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(-1, errno);
  int one = 1;
  if ((reuse_addr &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) ||
      (reuse_port &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)) {
    return fail(fd, errno);
  }
  if (addr->ss_family == AF_INET6) {
    // "::" means IPv6 only; bind "0.0.0.0" separately for IPv4.
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  socklen_t len =
      addr->ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*addr), len) != 0) {
    return fail(fd, errno);
  }
  if (backlog > 0 && listen(fd, backlog) != 0) return fail(fd, errno);
  return fd;
}

}  // namespace

absl::StatusOr<int> BindReusePort(std::string_view what, std::string_view host,
                                  uint16_t port, int type, int backlog) {
  return BindSocket(what, host, port, type, /*reuse_addr=*/true,
                    /*reuse_port=*/true, type == SOCK_STREAM ? backlog : 0);
}

}  // namespace tern::net::internal

namespace tern::net {

absl::Status CheckPortFree(std::string_view what, std::string_view host,
                           uint16_t port, bool udp) {
  if (port == 0) return absl::OkStatus();
  // The exclusive probe: no SO_REUSEPORT, and for UDP no SO_REUSEADDR either
  // (it would allow sharing); for TCP SO_REUSEADDR only tolerates the last
  // run's TIME_WAIT connections, not a listener.
  absl::StatusOr<int> fd =
      internal::BindSocket(what, host, port, udp ? SOCK_DGRAM : SOCK_STREAM,
                           /*reuse_addr=*/!udp, /*reuse_port=*/false,
                           /*backlog=*/0);
  if (!fd.ok()) return fd.status();
  close(*fd);
  return absl::OkStatus();
}

}  // namespace tern::net

namespace tern::net::internal {

uint16_t LocalPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

std::string IpToString(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr,
              buf, sizeof(buf));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6,
              &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, buf,
              sizeof(buf));
  }
  return buf;
}

}  // namespace tern::net::internal
