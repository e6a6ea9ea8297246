#include "net/http_client.h"

#include <llhttp.h>
#include <uv.h>

#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/socket_util.h"

namespace tern::net {
namespace {
// absl here is built without std::string_view aliasing; bridge explicitly.
inline absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }
}  // namespace

std::optional<std::string_view> HttpClientResponse::Header(
    std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(AV(n), AV(name))) return v;
  }
  return std::nullopt;
}

// One call. Freed once it has finished, every handle it opened is closed and
// any getaddrinfo it started has called back.
class HttpCall {
 public:
  HttpCall(HttpClient::Impl* client, HttpClientRequest req,
           HttpClient::Callback done);
  void Start();
  void Finish(absl::StatusOr<HttpClientResponse> result);

  HttpCall* prev = nullptr;
  HttpCall* next = nullptr;

 private:
  static void OnResolved(uv_getaddrinfo_t* gai, int status, addrinfo* res);
  static void OnConnect(uv_connect_t* req, int status);
  static void OnWrite(uv_write_t* req, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnTimer(uv_timer_t* t);
  static void OnClose(uv_handle_t* h);
  static int OnStatusComplete(llhttp_t* p);
  static int OnHeaderField(llhttp_t* p, const char* at, size_t len);
  static int OnHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int OnHeaderValueComplete(llhttp_t* p);
  static int OnBody(llhttp_t* p, const char* at, size_t len);
  static int OnMessageComplete(llhttp_t* p);
  static const llhttp_settings_t& Settings();

  void Connect(const sockaddr* addr);
  absl::Status Error(std::string_view what) const;
  void MaybeDelete();

  HttpClient::Impl* client_;
  HttpClientRequest req_;
  HttpClient::Callback done_;
  uv_timer_t timer_;
  uv_tcp_t tcp_;
  uv_connect_t connect_req_;
  uv_write_t write_req_;
  uv_getaddrinfo_t gai_;
  llhttp_t parser_;
  std::string out_;
  char read_buf_[16384];
  HttpClientResponse resp_;
  bool in_field_ = false;
  bool in_value_ = false;
  bool complete_ = false;
  size_t response_bytes_ = 0;
  bool tcp_open_ = false;
  bool resolving_ = false;
  bool finished_ = false;
  int closes_pending_ = 0;
};

class HttpClient::Impl {
 public:
  explicit Impl(Worker* worker) : worker(worker) {}
  void Link(HttpCall* c) {
    c->next = calls;
    if (calls) calls->prev = c;
    calls = c;
  }
  void Unlink(HttpCall* c) {
    if (c->prev) c->prev->next = c->next;
    if (c->next) c->next->prev = c->prev;
    if (calls == c) calls = c->next;
    c->prev = c->next = nullptr;
  }
  Worker* worker;
  HttpCall* calls = nullptr;
  bool stopped = false;
};

HttpCall::HttpCall(HttpClient::Impl* client, HttpClientRequest req,
                   HttpClient::Callback done)
    : client_(client), req_(std::move(req)), done_(std::move(done)) {
  llhttp_init(&parser_, HTTP_RESPONSE, &Settings());
  parser_.data = this;
  timer_.data = this;
  tcp_.data = this;
  connect_req_.data = this;
  write_req_.data = this;
  gai_.data = this;
}

const llhttp_settings_t& HttpCall::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_status_complete = &OnStatusComplete;
    s.on_header_field = &OnHeaderField;
    s.on_header_value = &OnHeaderValue;
    s.on_header_value_complete = &OnHeaderValueComplete;
    s.on_body = &OnBody;
    s.on_message_complete = &OnMessageComplete;
    return s;
  }();
  return settings;
}

absl::Status HttpCall::Error(std::string_view what) const {
  return absl::UnavailableError(absl::StrCat(
      AV(req_.method), " ", internal::FormatHostPort(req_.host, req_.port),
      AV(req_.path), ": ", AV(what)));
}

void HttpCall::Start() {
  client_->Link(this);
  uv_loop_t* loop = client_->worker->loop();
  uv_timer_init(loop, &timer_);
  uv_timer_start(&timer_, &OnTimer, req_.timeout_ms, 0);
  if (absl::StatusOr<sockaddr_storage> addr =
          internal::ParseAddress(req_.host, req_.port);
      addr.ok()) {
    Connect(reinterpret_cast<const sockaddr*>(&*addr));
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(req_.port);
  if (int rc = uv_getaddrinfo(loop, &gai_, &OnResolved, req_.host.c_str(),
                              port.c_str(), &hints);
      rc != 0) {
    Finish(Error(absl::StrCat("resolve: ", uv_strerror(rc))));
    return;
  }
  resolving_ = true;
}

void HttpCall::OnResolved(uv_getaddrinfo_t* gai, int status, addrinfo* res) {
  auto* c = static_cast<HttpCall*>(gai->data);
  c->resolving_ = false;
  if (c->finished_) {
    if (res) uv_freeaddrinfo(res);
    c->MaybeDelete();
    return;
  }
  if (status < 0 || res == nullptr) {
    c->Finish(c->Error(absl::StrCat("resolve: ", uv_strerror(status))));
  } else {
    c->Connect(res->ai_addr);
  }
  if (res) uv_freeaddrinfo(res);
}

void HttpCall::Connect(const sockaddr* addr) {
  uv_tcp_init(client_->worker->loop(), &tcp_);
  tcp_open_ = true;
  if (int rc = uv_tcp_connect(&connect_req_, &tcp_, addr, &OnConnect);
      rc != 0) {
    Finish(Error(absl::StrCat("connect: ", uv_strerror(rc))));
  }
}

void HttpCall::OnConnect(uv_connect_t* req, int status) {
  auto* c = static_cast<HttpCall*>(req->data);
  if (c->finished_) return;
  if (status < 0) {
    c->Finish(c->Error(absl::StrCat("connect: ", uv_strerror(status))));
    return;
  }
  HttpClientRequest& r = c->req_;
  c->out_ = absl::StrCat(AV(r.method), " ", AV(r.path), " HTTP/1.1\r\nHost: ",
                         internal::FormatHostPort(r.host, r.port), "\r\n");
  for (const auto& [name, value] : r.headers) {
    absl::StrAppend(&c->out_, name, ": ", value, "\r\n");
  }
  if (!r.body.empty() || r.method != "GET") {
    absl::StrAppend(&c->out_, "Content-Length: ", r.body.size(), "\r\n");
  }
  absl::StrAppend(&c->out_, "Connection: close\r\n\r\n", r.body);
  uv_buf_t buf = uv_buf_init(c->out_.data(), c->out_.size());
  auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp_);
  if (int rc = uv_write(&c->write_req_, stream, &buf, 1, &OnWrite); rc != 0) {
    c->Finish(c->Error(absl::StrCat("write: ", uv_strerror(rc))));
    return;
  }
  if (int rc = uv_read_start(stream, &OnAlloc, &OnRead); rc != 0) {
    c->Finish(c->Error(absl::StrCat("read: ", uv_strerror(rc))));
  }
}

void HttpCall::OnWrite(uv_write_t* req, int status) {
  auto* c = static_cast<HttpCall*>(req->data);
  if (c->finished_) return;
  if (status < 0) {
    c->Finish(c->Error(absl::StrCat("write: ", uv_strerror(status))));
  }
}

void HttpCall::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<HttpCall*>(h->data);
  *buf = uv_buf_init(c->read_buf_, sizeof(c->read_buf_));
}

void HttpCall::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<HttpCall*>(s->data);
  if (c->finished_) return;
  if (nread == UV_EOF) {
    // Responses without a length end at close.
    // (llhttp_finish reports our own pause from OnMessageComplete.)
    llhttp_finish(&c->parser_);
    if (c->complete_) {
      c->Finish(std::move(c->resp_));
    } else {
      c->Finish(c->Error("connection closed before the response was complete"));
    }
    return;
  }
  if (nread < 0) {
    c->Finish(c->Error(absl::StrCat("read: ", uv_strerror(nread))));
    return;
  }
  c->response_bytes_ += static_cast<size_t>(nread);
  if (c->response_bytes_ > c->req_.max_response_bytes) {
    c->Finish(absl::ResourceExhaustedError(absl::StrCat(
        "response larger than ", c->req_.max_response_bytes, " bytes")));
    return;
  }
  llhttp_errno_t err = llhttp_execute(&c->parser_, buf->base, nread);
  if (c->complete_) {
    c->Finish(std::move(c->resp_));
  } else if (err != HPE_OK) {
    c->Finish(absl::InvalidArgumentError(absl::StrCat(
        "malformed response: ", llhttp_get_error_reason(&c->parser_))));
  }
}

int HttpCall::OnStatusComplete(llhttp_t* p) {
  static_cast<HttpCall*>(p->data)->resp_.status = p->status_code;
  return 0;
}

int HttpCall::OnHeaderField(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<HttpCall*>(p->data);
  if (!c->in_field_) {
    c->in_field_ = true;
    c->in_value_ = false;
    c->resp_.headers.emplace_back();
  }
  c->resp_.headers.back().first.append(at, len);
  return 0;
}

int HttpCall::OnHeaderValue(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<HttpCall*>(p->data);
  c->in_field_ = false;
  c->in_value_ = true;
  if (!c->resp_.headers.empty()) c->resp_.headers.back().second.append(at, len);
  return 0;
}

int HttpCall::OnHeaderValueComplete(llhttp_t* p) {
  auto* c = static_cast<HttpCall*>(p->data);
  c->in_field_ = c->in_value_ = false;
  return 0;
}

int HttpCall::OnBody(llhttp_t* p, const char* at, size_t len) {
  static_cast<HttpCall*>(p->data)->resp_.body.append(at, len);
  return 0;
}

int HttpCall::OnMessageComplete(llhttp_t* p) {
  auto* c = static_cast<HttpCall*>(p->data);
  c->complete_ = true;
  return HPE_PAUSED;  // one response per connection; ignore what follows
}

void HttpCall::OnTimer(uv_timer_t* t) {
  auto* c = static_cast<HttpCall*>(t->data);
  c->Finish(absl::DeadlineExceededError(absl::StrCat(
      AV(c->req_.method), " ",
      internal::FormatHostPort(c->req_.host, c->req_.port), AV(c->req_.path),
      ": timed out after ", c->req_.timeout_ms, " ms")));
}

void HttpCall::Finish(absl::StatusOr<HttpClientResponse> result) {
  if (finished_) return;
  finished_ = true;
  client_->Unlink(this);
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&gai_));
  ++closes_pending_;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &OnClose);
  if (tcp_open_) {
    ++closes_pending_;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &OnClose);
  }
  // The callback may start new calls or drop the client's owner's state;
  // this call is already unlinked, and freed only after its close callbacks.
  std::move(done_)(std::move(result));
}

void HttpCall::OnClose(uv_handle_t* h) {
  auto* c = static_cast<HttpCall*>(h->data);
  --c->closes_pending_;
  c->MaybeDelete();
}

void HttpCall::MaybeDelete() {
  if (finished_ && closes_pending_ == 0 && !resolving_) delete this;
}

HttpClient::HttpClient(Worker* worker) : impl_(std::make_unique<Impl>(worker)) {
  Impl* impl = impl_.get();
  (void)worker->RunSync([impl, worker] {
    worker->AddStopHook([impl] {
      impl->stopped = true;
      while (impl->calls != nullptr) {
        impl->calls->Finish(absl::CancelledError("worker stopping"));
      }
    });
    return absl::OkStatus();
  });
}

HttpClient::~HttpClient() = default;

void HttpClient::Fetch(HttpClientRequest request, Callback done) {
  if (impl_->stopped) {
    std::move(done)(absl::CancelledError("worker stopping"));
    return;
  }
  auto* call = new HttpCall(impl_.get(), std::move(request), std::move(done));
  call->Start();
}

}  // namespace tern::net
