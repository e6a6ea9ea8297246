// Whether another process already serves an address, checked before the
// workers bind it.
//
// Workers bind their sockets with SO_REUSEPORT so the kernel spreads load
// over them; the same option would also let a second relay (same user) bind
// the very same port without an error and silently take half the traffic.
// So the relay first binds the address once WITHOUT SO_REUSEPORT: that bind
// fails if any socket, shared or not, holds the port.
#ifndef TERN_NET_PORT_CHECK_H_
#define TERN_NET_PORT_CHECK_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace tern::net {

// OK if host:port can be bound exclusively right now (the probe socket is
// closed again before returning); port 0 is always OK. Unavailable naming
// the address otherwise ("listen 127.0.0.1:3000: address already in use"),
// InvalidArgument for a host that is not a numeric address. `what` prefixes
// messages as in HttpServer::Listen ("listen", "udp bind"). A TCP probe sets
// SO_REUSEADDR, so a restart does not trip over the previous run's
// TIME_WAIT connections; a UDP probe does not (for UDP it would allow
// sharing).
absl::Status CheckPortFree(std::string_view what, std::string_view host,
                           uint16_t port, bool udp);

}  // namespace tern::net

#endif  // TERN_NET_PORT_CHECK_H_
