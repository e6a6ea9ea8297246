#include "backend/api/api_server.h"

#include <memory>
#include <utility>

namespace tern::api {

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(
    const ApiOptions& options, storage::Store* store, net::HttpHandler* extra) {
  std::unique_ptr<ApiServer> server(new ApiServer());
  server->handler_ = std::make_unique<ApiHandler>(
      store, ApiAuth{options.api_token, options.relay_token}, extra);
  if (options.sourcemaps.enabled) {
    server->uploads_ = std::make_unique<UploadApi>(store, options.sourcemaps);
    server->handler_->SetUploads(server->uploads_.get());
  }
  server->worker_ = std::make_unique<net::Worker>("tern-api");
  server->http_ = std::make_unique<net::HttpServer>(
      server->worker_.get(), server->handler_.get(), options.http);
  // Bound before the loop starts, so a busy address fails here, at once.
  if (absl::Status s = server->http_->Listen(options.host, options.port);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = server->worker_->Start(); !s.ok()) return s;
  return server;
}

ApiServer::~ApiServer() {
  Stop();
  // The worker is stopped: its handles are closed, so the server and then
  // the handler can go.
  http_.reset();
  handler_.reset();
}

uint16_t ApiServer::port() const { return http_->port(); }

void ApiServer::Stop() {
  if (worker_) worker_->Stop();
}

}  // namespace tern::api
