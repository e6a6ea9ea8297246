// The UDP side of one worker: its own SO_REUSEPORT datagram socket (every
// worker binds the same address and the kernel spreads senders over them),
// with a large receive buffer, handing each datagram to a callback.
//
// The socket is watched with a libuv poll handle and read with recvmmsg(2)
// directly: on each wake-up, rounds of `batch` datagrams until the socket is
// empty (a round that comes back short, or EAGAIN) or `max_rounds` rounds
// were read. Under load one wake-up (one epoll_wait, one loop turn, one spool
// commit) then covers hundreds of datagrams instead of libuv's 32; the bound
// keeps a flood from starving the worker's HTTP connections and timers (the
// socket stays readable, so the next turn goes on where this one stopped).
//
// UDP has no way to answer or slow the sender, so everything that goes wrong
// here is a counter: truncated datagrams, datagrams over the size limit,
// socket errors. The kernel's own drops (receive buffer full) show in
// /proc/net/udp and are not visible to us; hence the large SO_RCVBUF.
#ifndef TERN_NET_UDP_RECEIVER_H_
#define TERN_NET_UDP_RECEIVER_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "net/counter.h"
#include "net/worker.h"

namespace tern::net {

struct UdpOptions {
  // Requested SO_RCVBUF; the kernel caps it at net.core.rmem_max (see
  // granted_rcvbuf()).
  int rcvbuf_bytes = 8 * 1024 * 1024;
  // Datagrams larger than this are counted (too_large) and not delivered.
  size_t max_datagram_bytes = 65507;
  // Datagrams per recvmmsg call (1..1024). Each takes a 64 KiB slot of
  // address space (a datagram can be that large), of which only the pages a
  // datagram fills are ever touched.
  int batch = 32;
  // recvmmsg calls per wake-up at most (>= 1).
  int max_rounds = 16;
};

#define TERN_NET_UDP_COUNTERS(X)                                      \
  X(datagrams, "datagrams delivered")                                 \
  X(bytes_in, "bytes delivered")                                      \
  X(truncated, "dropped: larger than the receive buffer (MSG_TRUNC)") \
  X(too_large, "dropped: over max_datagram_bytes")                    \
  X(recv_errors, "receive errors")                                    \
  X(wakeups, "wake-ups with the socket readable")                     \
  X(recv_calls, "recvmmsg calls")

struct UdpCounters {
#define TERN_NET_DECLARE_COUNTER(name, help) Counter name;
  TERN_NET_UDP_COUNTERS(TERN_NET_DECLARE_COUNTER)
#undef TERN_NET_DECLARE_COUNTER
};

// Calls f(name, help, value) for each counter, in list order; for /metrics.
template <typename F>
void ForEachCounter(const UdpCounters& c, F&& f) {
#define TERN_NET_VISIT_COUNTER(name, help) f(#name, help, c.name.value());
  TERN_NET_UDP_COUNTERS(TERN_NET_VISIT_COUNTER)
#undef TERN_NET_VISIT_COUNTER
}

// The IP address of a datagram's sender as text ("127.0.0.1", "::1"); ""
// for anything but IPv4 and IPv6.
std::string IpToString(const sockaddr* peer);

// IpToString for a stream of datagrams: the text of the last sender's IP,
// formatted again only when the address differs from the previous one (a
// host's raven clients all send from one address, so this is one compare
// per datagram instead of an inet_ntop and a string). One per worker.
class PeerIpText {
 public:
  // The view is valid until the next call.
  std::string_view Get(const sockaddr* peer);

 private:
  sockaddr_storage last_{};  // ss_family AF_UNSPEC: nothing cached
  std::string text_;
};

class UdpReceiver {
 public:
  // Called on the loop thread once per datagram, in arrival order. `data` is
  // valid only during the call (the batch buffer is reused); copy what must
  // outlive it. `peer` is null only if the kernel gave no address.
  using Callback =
      absl::AnyInvocable<void(std::string_view data, const sockaddr* peer)>;

  // `worker` must outlive the receiver; destroy the receiver only after
  // worker->Stop() returned.
  UdpReceiver(Worker* worker, Callback callback, UdpOptions options = {});
  ~UdpReceiver();
  UdpReceiver(const UdpReceiver&) = delete;
  UdpReceiver& operator=(const UdpReceiver&) = delete;

  // Binds host:port (SO_REUSEPORT, so every worker binds the same address)
  // and starts receiving. Errors as for HttpServer::Listen ("udp bind
  // 127.0.0.1:3000: address already in use"). Call once.
  absl::Status Bind(std::string_view host, uint16_t port);

  uint16_t port() const;
  // SO_RCVBUF as reported by the kernel after our request (Linux reports
  // twice the usable size).
  int granted_rcvbuf() const;
  const UdpCounters& counters() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net

#endif  // TERN_NET_UDP_RECEIVER_H_
