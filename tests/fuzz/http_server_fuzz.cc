// libFuzzer target: arbitrary bytes on a real connection to an HttpServer.
//
// The server runs on its own worker for the whole fuzzing session; each
// input is written on a fresh loopback connection, the write side is shut,
// and everything the server answers is read until it closes. Whatever the
// bytes, the server must not crash, leak or hang, and every answer must be
// an HTTP/1.1 status line.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "net/http_server.h"
#include "net/test_client.h"

namespace {

class FuzzHandler : public tern::net::HttpHandler {
 public:
  tern::net::HeadVerdict OnHeaders(const tern::net::HttpRequest& head,
                                   size_t def) override {
    tern::net::HeadVerdict v;
    v.max_body_bytes = 4096;
    if (head.path == "/deny") {
      v.reject_status = 401;
      v.reject_detail = "denied";
    }
    return v;
  }
  void OnRequest(tern::net::HttpRequest& req,
                 std::unique_ptr<tern::net::HttpResponder> r) override {
    if (req.path == "/drop") return;  // destroyed unsent: 500
    std::string body(req.body);
    for (const auto& h : req.headers) body.append(h.name).append(h.value);
    r->Send(200, {}, body);
  }
};

// Globals, so LeakSanitizer sees the long-lived server as reachable.
tern::net::Worker* g_worker = nullptr;
FuzzHandler* g_handler = nullptr;
tern::net::HttpServer* g_server = nullptr;

uint16_t ServerPort() {
  static uint16_t port = [] {
    tern::net::HttpServerOptions options;
    options.header_timeout_ms = 200;
    options.body_timeout_ms = 200;
    options.idle_timeout_ms = 200;
    options.max_header_bytes = 2048;
    options.max_header_count = 20;
    g_worker = new tern::net::Worker("fuzz");
    g_handler = new FuzzHandler;
    g_server = new tern::net::HttpServer(g_worker, g_handler, options);
    if (!g_server->Listen("127.0.0.1", 0).ok() || !g_worker->Start().ok()) {
      fprintf(stderr, "cannot start the server\n");
      abort();
    }
    return g_server->port();
  }();
  return port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tern::net::testing::TestClient client(ServerPort());
  if (!client.ok()) return 0;
  client.Send(std::string_view(reinterpret_cast<const char*>(data), size));
  shutdown(client.fd(), SHUT_WR);
  std::string all;
  for (;;) {
    std::string chunk = client.ReadN(1);
    if (chunk.empty()) break;
    all += chunk;
  }
  if (!all.empty() && all.rfind("HTTP/1.1 ", 0) != 0) {
    fprintf(stderr, "not an HTTP answer: %s\n", all.c_str());
    abort();
  }
  return 0;
}
