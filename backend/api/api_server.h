// tern-backend's HTTP API server: one net::Worker loop thread, one
// net::HttpServer on it, and the ApiHandler (handler.h) that routes the
// Sentry-shaped API to the Store.
//
// Store calls are synchronous on the loop thread (handler.h says why that is
// acceptable); one worker is enough for an API whose clients are a web UI,
// scripts and relays fetching project configs in batches.
#ifndef TERN_BACKEND_API_API_SERVER_H_
#define TERN_BACKEND_API_API_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "backend/api/handler.h"
#include "backend/api/upload.h"
#include "backend/storage/store.h"
#include "config/backend_config.h"
#include "net/http_server.h"
#include "net/worker.h"

namespace tern::api {

struct ApiOptions {
  // Listen address; port 0 picks a free port (see ApiServer::port()).
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  // Bearer tokens (handler.h): an empty one refuses its routes with 401.
  std::string api_token;
  std::string relay_token;
  // Limits and timeouts of the HTTP connections.
  net::HttpServerOptions http;
  // The sentry-cli upload API (upload.h); disabled when not enabled.
  config::BackendSourcemapsConfig sourcemaps{.enabled = false};
};

class ApiServer {
 public:
  // Binds the address and starts the loop thread. `store` (and `extra`, the
  // handler for paths outside /api/0/, when not null) must outlive the
  // server; both are used on the server's loop thread only. Errors:
  // InvalidArgument for an unparsable host, Unavailable when the address
  // cannot be bound ("listen 127.0.0.1:9000: address already in use").
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(
      const ApiOptions& options, storage::Store* store,
      net::HttpHandler* extra = nullptr);

  // Stops the server if it is still running.
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // The bound port.
  uint16_t port() const;

  // Stops accepting and closes every connection (a request being handled
  // finishes first: it runs on the loop thread), then joins the loop
  // thread; blocks until it ended. Idempotent; not from the loop thread.
  void Stop();

  // Readable from any thread (racy but defined); for /metrics.
  const ApiCounters& counters() const { return handler_->counters(); }
  const net::HttpServerCounters& http_counters() const {
    return http_->counters();
  }

 private:
  ApiServer() = default;

  // Destruction order matters: the HTTP server's handles live on the worker
  // and point at the handler, so the worker stops first (Stop()), then the
  // server goes, then the handler.
  std::unique_ptr<UploadApi> uploads_;
  std::unique_ptr<ApiHandler> handler_;
  std::unique_ptr<net::Worker> worker_;
  std::unique_ptr<net::HttpServer> http_;
};

}  // namespace tern::api

#endif  // TERN_BACKEND_API_API_SERVER_H_
