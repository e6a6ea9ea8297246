// A small asynchronous HTTP/1.1 client on a worker's loop, for the few
// outgoing calls the relay makes (fetching project configs from the backend)
// and for tests. One request per connection (`Connection: close`): these
// calls are rare and batched, so connection reuse is not worth its state.
//
// Responses are read whole (Content-Length, chunked, or until close) into
// memory, bounded by max_response_bytes. Hostnames are resolved with
// uv_getaddrinfo on libuv's thread pool, so the loop never blocks.
#ifndef TERN_NET_HTTP_CLIENT_H_
#define TERN_NET_HTTP_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "net/worker.h"

namespace tern::net {

struct HttpClientRequest {
  std::string method = "GET";
  std::string host;  // numeric IP or a name to resolve
  uint16_t port = 80;
  std::string path = "/";  // with the query, already encoded
  // Extra headers; Host, Content-Length and Connection are added.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The whole call: resolve, connect, write, read.
  uint64_t timeout_ms = 5'000;
  size_t max_response_bytes = 64 * 1024 * 1024;
};

struct HttpClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // de-chunked

  // The first header named `name` (ASCII case-insensitive), if any.
  std::optional<std::string_view> Header(std::string_view name) const;
};

class HttpClient {
 public:
  // Called exactly once, on the loop thread. Errors: Unavailable (resolve,
  // connect or I/O failure, or the peer closed early), DeadlineExceeded
  // (timeout_ms passed), InvalidArgument (unparsable response),
  // ResourceExhausted (response over max_response_bytes), Cancelled (the
  // worker stopped first). Any HTTP status is a successful call.
  using Callback =
      absl::AnyInvocable<void(absl::StatusOr<HttpClientResponse>) &&>;

  // `worker` must outlive the client; destroy the client only after
  // worker->Stop() returned.
  explicit HttpClient(Worker* worker);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a call. Must run on the worker's loop thread (use Worker::Post
  // from elsewhere).
  void Fetch(HttpClientRequest request, Callback done);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net

#endif  // TERN_NET_HTTP_CLIENT_H_
