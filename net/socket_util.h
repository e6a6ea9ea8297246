// net-internal: creating SO_REUSEPORT sockets bound at startup, so that a bad
// or busy address fails at once with a message that names it. Shared by the
// TCP listener and the UDP receiver; not for use outside net/.
#ifndef TERN_NET_SOCKET_UTIL_H_
#define TERN_NET_SOCKET_UTIL_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tern::net::internal {

// "127.0.0.1:3000" or "[::1]:3000", for error messages.
std::string FormatHostPort(std::string_view host, uint16_t port);

// Parses a numeric IPv4 or IPv6 address. InvalidArgument if it is neither.
absl::StatusOr<sockaddr_storage> ParseAddress(std::string_view host,
                                              uint16_t port);

// socket() + SO_REUSEADDR + SO_REUSEPORT + bind() (+ listen() for
// SOCK_STREAM), non-blocking and close-on-exec. `what` prefixes errors
// ("listen", "udp bind"). Returns the fd, owned by the caller.
absl::StatusOr<int> BindReusePort(std::string_view what, std::string_view host,
                                  uint16_t port, int type, int backlog);

// The port a bound socket ended up on (useful after binding port 0).
uint16_t LocalPort(int fd);

// The text form of an address's IP.
std::string IpToString(const sockaddr_storage& addr);

}  // namespace tern::net::internal

#endif  // TERN_NET_SOCKET_UTIL_H_
