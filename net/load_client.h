// Client-side primitives for load generation (tern-bench): a keep-alive
// HTTP/1.1 connection that writes pre-built requests (pipelined if the
// caller wants) and reports each response's status, a UDP datagram sender,
// and a hook that runs on every loop iteration for precise open-loop pacing.
//
// They exist apart from HttpClient because a load generator has the opposite
// needs: one request per connection and whole responses in memory are right
// for the relay's rare upstream calls, but a benchmark must reuse
// connections, never copy request bytes, and spend as little CPU per
// request as it can, or it measures itself. So requests are caller-owned
// bytes (a complete request: request line, headers and body), written with
// uv_try_write when the socket takes them at once, and responses are parsed
// only far enough to know their status (bodies are discarded).
//
// Everything here lives on one Worker's loop and is used from its thread.
// Handles are closed by the worker's stop hooks: destroy these objects only
// after Worker::Stop() returned, as with net::Timer.
#ifndef TERN_NET_LOAD_CLIENT_H_
#define TERN_NET_LOAD_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "net/worker.h"

namespace tern::net {

class LoadHttpConnection {
 public:
  struct Handlers {
    // Once per response, in request order (HTTP/1.1 answers pipelined
    // requests in order), with the response's status code.
    absl::AnyInvocable<void(int status)> on_response;
    // Once when the connection is established (OK), and once when it fails
    // or the peer closes it (Unavailable, or InvalidArgument for a response
    // llhttp cannot parse). After a failure the requests still in flight
    // are lost (the caller counts them from in_flight() before Connect()
    // again) and the connection may be reconnected with Connect().
    absl::AnyInvocable<void(absl::Status)> on_state;
  };

  // `worker` must outlive the connection.
  LoadHttpConnection(Worker* worker, Handlers handlers);
  ~LoadHttpConnection();
  LoadHttpConnection(const LoadHttpConnection&) = delete;
  LoadHttpConnection& operator=(const LoadHttpConnection&) = delete;

  // Connects to a numeric IPv4 or IPv6 address. The outcome arrives through
  // on_state. Loop thread only; only while not connected (a failed
  // connection may reconnect once on_state reported the failure).
  void Connect(std::string_view host, uint16_t port);

  // Writes one complete HTTP/1.1 request. `request` is not copied: it must
  // stay valid and unchanged until its response arrived or the connection
  // failed. Loop thread only. Returns false, having sent nothing, when the
  // connection is not connected() (the caller picks another one or waits).
  bool Send(std::string_view request);

  bool connected() const;
  // Requests written (or queued for writing) and not yet answered.
  size_t in_flight() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Sends datagrams from one connected UDP socket, in batches (sendmmsg), so
// a single core can offer several hundred thousand datagrams a second.
class LoadUdpSender {
 public:
  LoadUdpSender();
  ~LoadUdpSender();
  LoadUdpSender(const LoadUdpSender&) = delete;
  LoadUdpSender& operator=(const LoadUdpSender&) = delete;

  // Creates the socket and connects it to host:port (numeric address).
  // `send_buffer` sets SO_SNDBUF when not 0. Errors: InvalidArgument for a
  // bad address, Unavailable when the socket calls fail.
  absl::Status Open(std::string_view host, uint16_t port,
                    size_t send_buffer = 0);

  // Sends as many of `datagrams` as the kernel takes without blocking and
  // returns how many that was (0 when the socket buffer is full). A
  // refused datagram (ECONNREFUSED from an ICMP error of an earlier send,
  // e.g. nobody listens) is skipped and counted in refused().
  size_t Send(std::span<const std::string_view> datagrams);

  uint64_t refused() const { return refused_; }

 private:
  int fd_ = -1;
  uint64_t refused_ = 0;
};

// Calls a function on every iteration of the worker's loop while started
// (a libuv idle handle: the loop polls without blocking meanwhile). An
// open-loop generator uses it to send each request as close to its
// scheduled time as the loop allows, instead of at a timer's millisecond
// granularity. Stop it when nothing is due soon, or it spins a core.
class LoopSpinner {
 public:
  explicit LoopSpinner(Worker* worker);
  ~LoopSpinner();
  LoopSpinner(const LoopSpinner&) = delete;
  LoopSpinner& operator=(const LoopSpinner&) = delete;

  // Starts (or replaces) the per-iteration callback. Loop thread only. Does
  // nothing once the worker is stopping.
  void Start(absl::AnyInvocable<void()> callback);
  void Stop();
  bool active() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net

#endif  // TERN_NET_LOAD_CLIENT_H_
