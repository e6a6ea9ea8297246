// The HTTP/1.1 server side of one worker: a SO_REUSEPORT listener and the
// connections it accepts, parsed with llhttp.
//
// Each worker runs its own HttpServer bound to the same address; the kernel
// spreads connections over them. A connection handles one request at a time:
// pipelined requests are parsed only after the previous response was sent,
// so responses always leave in request order even when the application
// answers later (the parser pauses and socket reads stop meanwhile, which is
// also the per-connection backpressure). The application sees a request once
// its body is complete and contiguous, and answers through an HttpResponder
// it may keep and call later on the same worker loop.
//
// Limits and timeouts live in HttpServerOptions; over a limit the server
// answers the documented status (431, 413, 400, 408) with
// `{"detail": "..."}` and `Connection: close`, because the byte stream cannot
// be resynchronised, then half-closes and drains the socket briefly so the
// client reads the answer instead of a reset.
#ifndef TERN_NET_HTTP_SERVER_H_
#define TERN_NET_HTTP_SERVER_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "net/counter.h"
#include "net/worker.h"

namespace tern::net {

class HttpConnection;

// Zero bytes that follow every request body in memory, so simdjson (which
// reads up to 64 bytes past the end) can parse the body in place without a
// copy. They are not part of HttpRequest::body.
inline constexpr size_t kBodyPadding = 64;

struct HttpHeader {
  std::string_view name;
  std::string_view value;
};

// One request as the application sees it. Every view points into buffers
// owned by the connection; they stay valid until the response is sent (or
// the responder is destroyed) and are reused for the next request.
struct HttpRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view path;    // the URL before '?', not decoded
  std::string_view query;   // the raw query after '?', without it
  int http_major = 1;
  int http_minor = 1;
  std::span<const HttpHeader> headers;  // in wire order, duplicates kept
  std::optional<uint64_t> content_length;
  bool chunked = false;
  // Complete, de-chunked, contiguous; followed by kBodyPadding zero bytes.
  // Empty in OnHeaders().
  std::string_view body;
  sockaddr_storage remote_addr{};
  // The peer's IP address as text ("127.0.0.1", "::1"), formatted once per
  // connection.
  std::string_view remote_ip;

  // The first header named `name` (ASCII case-insensitive), if any.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// The way back to the client for one request. Owned by the application from
// OnRequest() on; call Send() once, on the worker's loop thread, now or
// later. If the connection died meanwhile, Send() does nothing. Destroying
// an unsent responder answers 500 so the client is never left waiting.
class HttpResponder {
 public:
  ~HttpResponder();
  HttpResponder(const HttpResponder&) = delete;
  HttpResponder& operator=(const HttpResponder&) = delete;

  // Writes the response. The server adds Content-Length, and
  // `Connection: close` when it will close (client asked, HTTP/1.0 without
  // keep-alive, or close_after set). `headers` must not contain
  // Content-Length, Transfer-Encoding or Connection, and names and values
  // must be free of CR/LF (they are written as given). Bytes are copied (or
  // written) before returning, so the arguments may die right after.
  void Send(int status, std::span<const HttpHeader> headers,
            std::string_view body, bool close_after = false);

  // False once the connection is gone or the response was sent.
  bool connected() const { return conn_ != nullptr; }

 private:
  friend class HttpConnection;
  explicit HttpResponder(HttpConnection* conn) : conn_(conn) {}
  HttpConnection* conn_;
};

// What the application decides once the headers are in, before the body is
// read.
struct HeadVerdict {
  // Bodies larger than this are answered 413 and the connection is closed.
  size_t max_body_bytes = 0;
  // Non-zero: answer this status with {"detail": reject_detail} now, without
  // reading the body (and without `100 Continue`), then close.
  int reject_status = 0;
  std::string reject_detail;
};

// The application side. Both methods run on the worker's loop thread and
// must not block it.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;

  // Called when a request's headers are complete (req.body is empty). The
  // default allows `default_max_body_bytes` from the options.
  virtual HeadVerdict OnHeaders(const HttpRequest& head,
                                size_t default_max_body_bytes) {
    HeadVerdict verdict;
    verdict.max_body_bytes = default_max_body_bytes;
    return verdict;
  }

  // Called with the complete request. `req` stays valid until the response
  // is sent; `responder` is the application's to keep and answer later.
  virtual void OnRequest(HttpRequest& req,
                         std::unique_ptr<HttpResponder> responder) = 0;
};

struct HttpServerOptions {
  // Request line + header names and values; beyond it 431 and close.
  size_t max_header_bytes = 16 * 1024;
  // Number of header fields; beyond it 431 and close.
  size_t max_header_count = 100;
  // Passed to HttpHandler::OnHeaders as the default body limit.
  size_t default_max_body_bytes = 1024 * 1024;
  // From the first byte of a request (or from accept) until its headers are
  // complete; slowloris protection. Partial request: 408 and close; nothing
  // received: close.
  uint64_t header_timeout_ms = 10'000;
  // Between keep-alive requests; close silently.
  uint64_t idle_timeout_ms = 60'000;
  // Longest pause between two reads of a body; 408 and close.
  uint64_t body_timeout_ms = 30'000;
  // Open connections per worker. Beyond it new connections are accepted and
  // closed at once (draining the backlog rather than letting it fill, which
  // would stall the other workers' SYN handling too).
  size_t max_connections = 10'000;
  // After an error response: how long to drain input before closing.
  uint64_t close_linger_ms = 1'000;
  int backlog = 1024;
  // Per-connection body buffers grown past this are released after the
  // response, so idle connections hold little memory.
  size_t keep_body_capacity = 64 * 1024;
};

// The module's counters, one list: name, help. Feeds /metrics.
#define TERN_NET_HTTP_COUNTERS(X)                                           \
  X(connections_accepted, "TCP connections accepted")                       \
  X(connections_closed, "TCP connections closed")                           \
  X(connections_rejected, "connections closed at once: max_connections")    \
  X(requests, "requests handed to the application")                         \
  X(bytes_in, "bytes read from clients")                                    \
  X(rejected_header_too_large, "431: header bytes or count over the limit") \
  X(rejected_body_too_large, "413: body over the limit")                    \
  X(rejected_malformed, "400: malformed HTTP")                              \
  X(rejected_early, "answered by the application before the body")          \
  X(timeout_header, "closed: header timeout")                               \
  X(timeout_body, "closed: body timeout")                                   \
  X(timeout_idle, "closed: keep-alive idle timeout")                        \
  X(write_errors, "closed: write failed")

struct HttpServerCounters {
#define TERN_NET_DECLARE_COUNTER(name, help) Counter name;
  TERN_NET_HTTP_COUNTERS(TERN_NET_DECLARE_COUNTER)
#undef TERN_NET_DECLARE_COUNTER
};

// Calls f(name, help, value) for each counter, in list order; for /metrics.
template <typename F>
void ForEachCounter(const HttpServerCounters& c, F&& f) {
#define TERN_NET_VISIT_COUNTER(name, help) f(#name, help, c.name.value());
  TERN_NET_HTTP_COUNTERS(TERN_NET_VISIT_COUNTER)
#undef TERN_NET_VISIT_COUNTER
}

class HttpServer {
 public:
  // `worker` and `handler` must outlive the server. Destroy the server only
  // after worker->Stop() returned (its handles live in this object).
  HttpServer(Worker* worker, HttpHandler* handler,
             HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port with SO_REUSEPORT and starts accepting on the worker's
  // loop (before Start() or, via RunSync, on a running worker). Port 0 picks
  // an ephemeral port (see port()). Errors name the address:
  // InvalidArgument for an unparsable host, Unavailable for a busy or
  // unbindable address ("listen 127.0.0.1:3000: address already in use").
  // Call once.
  absl::Status Listen(std::string_view host, uint16_t port);

  // Graceful shutdown, first step: stop accepting, close keep-alive
  // connections that sit between requests, and let requests already being
  // read or handled finish; their responses carry `Connection: close`. Safe
  // from any thread (posted to the worker). The owner then waits for
  // open_connections() to reach 0 or its shutdown timeout, and calls
  // Worker::Stop(), which closes whatever is left.
  void StopAccepting();

  // Open connections on this worker; any thread (a racy but defined read).
  uint64_t open_connections() const;

  // The bound port, after a successful Listen().
  uint16_t port() const;

  // Readable from any thread (racy but defined).
  const HttpServerCounters& counters() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net

#endif  // TERN_NET_HTTP_SERVER_H_
