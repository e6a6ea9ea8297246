#include "net/http_server.h"

#include <llhttp.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/socket_util.h"

namespace tern::net {
namespace {

// absl here is built without std::string_view aliasing; bridge explicitly.
inline absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

// One read buffer per server, shared by all its connections: libuv reads into
// it and the parser copies what it keeps (head bytes, body) before the next
// read, so thousands of idle connections hold no read buffer.
constexpr size_t kReadSlabBytes = 64 * 1024;
// Largest body buffer reserved from Content-Length before the bytes arrive.
constexpr size_t kMaxUpfrontBodyBytes = 1024 * 1024;

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

// {"detail":"..."} with the few escapes a detail string can need.
std::string DetailJson(std::string_view detail) {
  std::string out = "{\"detail\":\"";
  for (char c : detail) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  out += "\"}";
  return out;
}

}  // namespace

std::optional<std::string_view> HttpRequest::Header(
    std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (absl::EqualsIgnoreCase(AV(h.name), AV(name))) return h.value;
  }
  return std::nullopt;
}

class HttpConnection {
 public:
  explicit HttpConnection(HttpServer::Impl* server);

  void Start();
  void Respond(int status, std::span<const HttpHeader> headers,
               std::string_view body, bool close_after);
  void CloseNow();
  // Between requests with nothing buffered: safe to close when draining.
  bool Idle() const {
    return !in_flight_ && !closing_ && !closed_ && between_messages_ &&
           pending_.empty();
  }

  HttpConnection* prev = nullptr;
  HttpConnection* next = nullptr;
  uv_tcp_t tcp;

 private:
  // Offsets into head_, since head_ may reallocate while it fills.
  struct Span {
    uint32_t off = 0;
    uint32_t len = 0;
  };
  enum class TimerKind { kNone, kHeader, kBody, kIdle, kLinger };

  static HttpConnection* From(llhttp_t* p) {
    return static_cast<HttpConnection*>(p->data);
  }
  static const llhttp_settings_t& Settings();
  static int OnMessageBegin(llhttp_t* p);
  static int OnUrl(llhttp_t* p, const char* at, size_t len);
  static int OnHeaderField(llhttp_t* p, const char* at, size_t len);
  static int OnHeaderFieldComplete(llhttp_t* p);
  static int OnHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int OnHeaderValueComplete(llhttp_t* p);
  static int OnHeadersComplete(llhttp_t* p);
  static int OnBody(llhttp_t* p, const char* at, size_t len);
  static int OnMessageComplete(llhttp_t* p);

  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnShutdown(uv_shutdown_t* req, int status);
  static void OnTimer(uv_timer_t* t);
  static void OnClose(uv_handle_t* h);

  bool AppendHead(Span& span, const char* at, size_t len);
  // A trailer field or value of `len` bytes: counted, not kept.
  int OnTrailer(size_t len);
  int Reject(int status, std::string_view detail);
  void Feed(const char* data, size_t len);
  void Dispatch();
  void Resume();
  void HandleParseError(llhttp_errno_t err);
  void SendError(int status, std::string_view detail);
  void Write(std::string data);
  void BeginClose();
  void StartReading();
  void StopReading();
  void ArmTimer(TimerKind kind, uint64_t ms);
  bool ReserveBody(size_t n);

  HttpServer::Impl* server_;
  const HttpServerOptions& opts_;
  HttpServerCounters& counters_;
  uv_timer_t timer_;
  uv_shutdown_t shutdown_req_;
  llhttp_t parser_;
  TimerKind timer_kind_ = TimerKind::kNone;
  // The connection's one timer is re-armed lazily: ArmTimer only records the
  // deadline (loop time, ms) and touches the uv timer when it must fire
  // earlier than it is set to; a timer that fires before the deadline
  // re-arms itself for the rest. Per request the deadline moves three times
  // (header, body, idle) and almost always later, so the steady state costs
  // no timer-heap operation at all.
  uint64_t deadline_ = 0;
  uint64_t timer_due_ = 0;
  sockaddr_storage peer_{};
  std::string peer_ip_;  // peer_ as text, for HttpRequest::remote_ip

  // Current request.
  std::string head_;
  Span url_;
  std::vector<std::pair<Span, Span>> header_spans_;
  bool in_field_ = false;
  bool in_value_ = false;
  // Set once the request's headers are complete: header callbacks after that
  // are chunked-body trailers. They are not kept (the request's views point
  // into head_, which must not grow again), only counted against the header
  // limit so that a client cannot stream trailers forever.
  bool headers_complete_ = false;
  size_t trailer_bytes_ = 0;
  std::vector<HttpHeader> headers_;
  HttpRequest req_;
  std::unique_ptr<char[]> body_;  // capacity + kBodyPadding bytes
  size_t body_size_ = 0;
  size_t body_capacity_ = 0;
  size_t body_limit_ = 0;
  int reject_status_ = 0;
  std::string reject_detail_;
  bool message_ready_ = false;
  bool between_messages_ = true;  // no byte of the next request seen yet

  // Connection state.
  std::string pending_;  // unparsed input held while a request is in flight
  HttpResponder* responder_ = nullptr;
  bool in_flight_ = false;
  bool dispatching_ = false;
  bool keep_alive_ = true;
  bool reading_ = false;
  bool closing_ = false;  // response queued; draining until EOF or linger
  bool closed_ = false;   // uv_close called
  bool shutdown_started_ = false;
  int writes_pending_ = 0;
  int closes_pending_ = 0;
};

class HttpServer::Impl {
 public:
  Impl(Worker* worker, HttpHandler* handler, HttpServerOptions options)
      : worker(worker),
        handler(handler),
        options(std::move(options)),
        read_slab(new char[kReadSlabBytes]) {}

  absl::Status ListenOnLoop(std::string_view host, uint16_t port);
  void CloseAll();
  void Drain();
  void Link(HttpConnection* c) {
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    ++conn_count;
    open.store(conn_count, std::memory_order_relaxed);
  }
  void Unlink(HttpConnection* c) {
    if (c->prev) c->prev->next = c->next;
    if (c->next) c->next->prev = c->prev;
    if (conns == c) conns = c->next;
    c->prev = c->next = nullptr;
    --conn_count;
    open.store(conn_count, std::memory_order_relaxed);
  }

  static void OnConnection(uv_stream_t* server, int status);

  Worker* worker;
  HttpHandler* handler;
  HttpServerOptions options;
  HttpServerCounters counters;
  std::unique_ptr<char[]> read_slab;
  uv_tcp_t listener;
  bool listening = false;
  // Set by StopAccepting() on the caller's thread, before the drain runs on
  // the loop, so every response written after it returns carries
  // `Connection: close` (an acquire load per response; x86 makes it a plain
  // load).
  std::atomic<bool> stopping{false};
  uint16_t port = 0;
  HttpConnection* conns = nullptr;
  size_t conn_count = 0;
  std::atomic<uint64_t> open{0};  // conn_count for other threads
};

// ---- HttpResponder --------------------------------------------------------

HttpResponder::~HttpResponder() {
  if (conn_ != nullptr) {
    HttpConnection* conn = conn_;
    conn_ = nullptr;
    conn->Respond(500, {}, DetailJson("handler dropped the request"), true);
  }
}

void HttpResponder::Send(int status, std::span<const HttpHeader> headers,
                         std::string_view body, bool close_after) {
  if (conn_ == nullptr) return;
  HttpConnection* conn = conn_;
  conn_ = nullptr;
  conn->Respond(status, headers, body, close_after);
}

// ---- HttpConnection: parser callbacks --------------------------------------

const llhttp_settings_t& HttpConnection::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &OnMessageBegin;
    s.on_url = &OnUrl;
    s.on_header_field = &OnHeaderField;
    s.on_header_field_complete = &OnHeaderFieldComplete;
    s.on_header_value = &OnHeaderValue;
    s.on_header_value_complete = &OnHeaderValueComplete;
    s.on_headers_complete = &OnHeadersComplete;
    s.on_body = &OnBody;
    s.on_message_complete = &OnMessageComplete;
    return s;
  }();
  return settings;
}

HttpConnection::HttpConnection(HttpServer::Impl* server)
    : server_(server), opts_(server->options), counters_(server->counters) {
  llhttp_init(&parser_, HTTP_REQUEST, &Settings());
  parser_.data = this;
  tcp.data = this;
  timer_.data = this;
  shutdown_req_.data = this;
  header_spans_.reserve(16);
}

int HttpConnection::Reject(int status, std::string_view detail) {
  reject_status_ = status;
  reject_detail_ = std::string(detail);
  return -1;  // stops llhttp with a user error; Feed() answers
}

bool HttpConnection::AppendHead(Span& span, const char* at, size_t len) {
  head_.append(at, len);
  span.len += static_cast<uint32_t>(len);
  return head_.size() <= opts_.max_header_bytes;
}

int HttpConnection::OnMessageBegin(llhttp_t* p) {
  HttpConnection* c = From(p);
  c->head_.clear();
  c->url_ = {};
  c->header_spans_.clear();
  c->in_field_ = c->in_value_ = false;
  c->headers_complete_ = false;
  c->trailer_bytes_ = 0;
  c->body_size_ = 0;
  c->body_limit_ = 0;
  c->message_ready_ = false;
  c->req_ = HttpRequest{};
  c->between_messages_ = false;
  // The header clock starts at the request's first byte, not at each read,
  // so trickling bytes (slowloris) does not extend it.
  c->ArmTimer(TimerKind::kHeader, c->opts_.header_timeout_ms);
  return 0;
}

int HttpConnection::OnUrl(llhttp_t* p, const char* at, size_t len) {
  HttpConnection* c = From(p);
  if (c->url_.len == 0) c->url_.off = static_cast<uint32_t>(c->head_.size());
  if (!c->AppendHead(c->url_, at, len)) {
    return c->Reject(431, "request line and headers too large");
  }
  return 0;
}

int HttpConnection::OnHeaderField(llhttp_t* p, const char* at, size_t len) {
  HttpConnection* c = From(p);
  if (c->headers_complete_) return c->OnTrailer(len);
  if (!c->in_field_) {
    if (c->header_spans_.size() >= c->opts_.max_header_count) {
      return c->Reject(431, "too many header fields");
    }
    c->in_field_ = true;
    c->header_spans_.push_back(
        {Span{static_cast<uint32_t>(c->head_.size()), 0}, Span{}});
  }
  if (!c->AppendHead(c->header_spans_.back().first, at, len)) {
    return c->Reject(431, "request line and headers too large");
  }
  return 0;
}

int HttpConnection::OnHeaderFieldComplete(llhttp_t* p) {
  From(p)->in_field_ = false;
  return 0;
}

int HttpConnection::OnHeaderValue(llhttp_t* p, const char* at, size_t len) {
  HttpConnection* c = From(p);
  if (c->headers_complete_) return c->OnTrailer(len);
  if (c->header_spans_.empty()) return 0;
  Span& value = c->header_spans_.back().second;
  if (!c->in_value_) {
    c->in_value_ = true;
    value = Span{static_cast<uint32_t>(c->head_.size()), 0};
  }
  if (!c->AppendHead(value, at, len)) {
    return c->Reject(431, "request line and headers too large");
  }
  return 0;
}

int HttpConnection::OnHeaderValueComplete(llhttp_t* p) {
  From(p)->in_value_ = false;
  return 0;
}

int HttpConnection::OnTrailer(size_t len) {
  trailer_bytes_ += len;
  if (head_.size() + trailer_bytes_ > opts_.max_header_bytes) {
    return Reject(431, "request headers and trailers too large");
  }
  return 0;
}

int HttpConnection::OnHeadersComplete(llhttp_t* p) {
  HttpConnection* c = From(p);
  c->headers_complete_ = true;
  HttpRequest& req = c->req_;
  const char* base = c->head_.data();
  auto view = [base](Span s) { return std::string_view(base + s.off, s.len); };
  c->headers_.clear();
  for (const auto& [name, value] : c->header_spans_) {
    c->headers_.push_back(HttpHeader{view(name), view(value)});
  }
  req.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  std::string_view url = view(c->url_);
  if (size_t q = url.find('?'); q != std::string_view::npos) {
    req.path = url.substr(0, q);
    req.query = url.substr(q + 1);
  } else {
    req.path = url;
  }
  req.http_major = p->http_major;
  req.http_minor = p->http_minor;
  req.headers = c->headers_;
  req.chunked = (p->flags & F_CHUNKED) != 0;
  if (p->flags & F_CONTENT_LENGTH) req.content_length = p->content_length;
  req.body = std::string_view(c->body_ ? c->body_.get() : "", 0);
  req.remote_addr = c->peer_;
  req.remote_ip = c->peer_ip_;

  HeadVerdict verdict =
      c->server_->handler->OnHeaders(req, c->opts_.default_max_body_bytes);
  if (verdict.reject_status != 0) {
    c->counters_.rejected_early.Add();
    return c->Reject(verdict.reject_status, verdict.reject_detail);
  }
  c->body_limit_ = verdict.max_body_bytes;
  if (req.content_length && *req.content_length > c->body_limit_) {
    // Refused before a byte of the body is read (and before 100 Continue).
    return c->Reject(413, "request body too large");
  }
  bool has_body = req.chunked || req.content_length.value_or(0) > 0;
  if (has_body && req.content_length) {
    // Reserve what was announced, up to a cap: a client announcing 100 MiB
    // and sending nothing should not pin 100 MiB until the body timeout.
    if (!c->ReserveBody(
            std::min<uint64_t>(*req.content_length, kMaxUpfrontBodyBytes))) {
      return c->Reject(413, "request body too large");
    }
  }
  if (has_body && p->http_major == 1 && p->http_minor >= 1) {
    std::optional<std::string_view> expect = req.Header("expect");
    if (expect && absl::EqualsIgnoreCase(AV(*expect), "100-continue")) {
      c->Write("HTTP/1.1 100 Continue\r\n\r\n");
    }
  }
  if (has_body) {
    c->ArmTimer(TimerKind::kBody, c->opts_.body_timeout_ms);
  } else {
    c->ArmTimer(TimerKind::kNone, 0);
  }
  return 0;
}

bool HttpConnection::ReserveBody(size_t n) {
  if (n <= body_capacity_) return true;
  size_t cap = std::max({n, body_capacity_ * 2, size_t{4096}});
  if (n <= body_limit_) cap = std::min(cap, body_limit_);
  std::unique_ptr<char[]> grown(new (std::nothrow) char[cap + kBodyPadding]);
  if (!grown) return false;
  if (body_size_ > 0) memcpy(grown.get(), body_.get(), body_size_);
  body_ = std::move(grown);
  body_capacity_ = cap;
  return true;
}

int HttpConnection::OnBody(llhttp_t* p, const char* at, size_t len) {
  HttpConnection* c = From(p);
  if (len > c->body_limit_ - c->body_size_) {
    return c->Reject(413, "request body too large");
  }
  if (!c->ReserveBody(c->body_size_ + len)) {
    return c->Reject(413, "request body too large");
  }
  memcpy(c->body_.get() + c->body_size_, at, len);
  c->body_size_ += len;
  c->ArmTimer(TimerKind::kBody, c->opts_.body_timeout_ms);
  return 0;
}

int HttpConnection::OnMessageComplete(llhttp_t* p) {
  HttpConnection* c = From(p);
  c->message_ready_ = true;
  c->between_messages_ = true;
  // Pause so the request is dispatched outside llhttp_execute and the bytes
  // of any pipelined request stay unparsed until this one is answered.
  return HPE_PAUSED;
}

// ---- HttpConnection: request flow ------------------------------------------

void HttpConnection::Start() {
  server_->Link(this);
  uv_tcp_nodelay(&tcp, 1);
  uv_timer_init(server_->worker->loop(), &timer_);
  // Once per connection rather than once per request.
  int peer_len = sizeof(peer_);
  uv_tcp_getpeername(&tcp, reinterpret_cast<sockaddr*>(&peer_), &peer_len);
  peer_ip_ = internal::IpToString(peer_);
  ArmTimer(TimerKind::kHeader, opts_.header_timeout_ms);
  StartReading();
}

void HttpConnection::Feed(const char* data, size_t len) {
  const char* p = data;
  const char* end = data + len;
  // writes_pending_: a client that pipelines without reading its responses
  // would otherwise make us queue responses without bound; stop parsing
  // until the socket drained (OnWrite resumes).
  while (p < end && !in_flight_ && !closing_ && !closed_ &&
         writes_pending_ == 0) {
    llhttp_errno_t err = llhttp_execute(&parser_, p, end - p);
    if (err == HPE_OK) {
      p = end;
      break;
    }
    if (err == HPE_PAUSED) {
      p = llhttp_get_error_pos(&parser_);
      llhttp_resume(&parser_);
      if (message_ready_) Dispatch();
      continue;
    }
    if (err == HPE_PAUSED_UPGRADE) {
      // No protocol upgrades (or CONNECT) here: answer the request as plain
      // HTTP, drop whatever follows it and close.
      keep_alive_ = false;
      p = end;
      if (message_ready_) Dispatch();
      break;
    }
    HandleParseError(err);
    return;
  }
  if (closing_ || closed_) return;
  if (p < end) {
    pending_.assign(p, end);
  } else {
    pending_.clear();
  }
  if (in_flight_) return;
  if (writes_pending_ > 0) {
    StopReading();
    // A client that never reads is cut at the idle timeout.
    if (between_messages_) ArmTimer(TimerKind::kIdle, opts_.idle_timeout_ms);
    return;
  }
  StartReading();
  if (between_messages_ && pending_.empty()) {
    ArmTimer(TimerKind::kIdle, opts_.idle_timeout_ms);
  }
}

void HttpConnection::Dispatch() {
  message_ready_ = false;
  in_flight_ = true;
  keep_alive_ =
      keep_alive_ && llhttp_should_keep_alive(&parser_) && !parser_.upgrade;
  counters_.requests.Add();
  if (body_ == nullptr && !ReserveBody(1)) {
    CloseNow();  // out of memory for a padding buffer: nothing sane to do
    return;
  }
  memset(body_.get() + body_size_, 0, kBodyPadding);
  req_.body = std::string_view(body_.get(), body_size_);
  std::unique_ptr<HttpResponder> responder(new HttpResponder(this));
  responder_ = responder.get();
  dispatching_ = true;
  server_->handler->OnRequest(req_, std::move(responder));
  dispatching_ = false;
  // While the application holds the request: no reads (backpressure, and
  // the buffers behind the views must not change) and no timer (the
  // application bounds its own work). Done only when it did not answer at
  // once: no read callback can run during OnRequest (same thread), and for
  // the common synchronous answer this saves an epoll_ctl pair and a timer
  // stop/start per request.
  if (in_flight_ && !closed_) {
    StopReading();
    ArmTimer(TimerKind::kNone, 0);
  }
}

void HttpConnection::Respond(int status, std::span<const HttpHeader> headers,
                             std::string_view body, bool close_after) {
  if (closed_) return;
  responder_ = nullptr;
  in_flight_ = false;
  bool close = close_after || !keep_alive_ ||
               server_->stopping.load(std::memory_order_acquire);
  std::string out;
  out.reserve(128 + body.size());
  absl::StrAppend(&out, "HTTP/1.1 ", status, " ", AV(ReasonPhrase(status)),
                  "\r\n");
  for (const HttpHeader& h : headers) {
    absl::StrAppend(&out, AV(h.name), ": ", AV(h.value), "\r\n");
  }
  absl::StrAppend(&out, "Content-Length: ", body.size(), "\r\n");
  if (close) {
    out += "Connection: close\r\n";
  } else if (req_.http_major == 1 && req_.http_minor == 0) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  // A HEAD answer has the GET's headers (Content-Length included) and no
  // body (RFC 9110, 9.3.2); a body would be read as the next response.
  if (req_.method != "HEAD") out.append(body);
  Write(std::move(out));
  if (closed_) return;
  if (body_capacity_ > opts_.keep_body_capacity) {
    body_.reset();
    body_capacity_ = 0;
  }
  body_size_ = 0;
  if (close) {
    BeginClose();
  } else if (!dispatching_) {
    Resume();
  }
}

void HttpConnection::Resume() {
  std::string input = std::move(pending_);
  pending_.clear();
  Feed(input.data(), input.size());
}

void HttpConnection::HandleParseError(llhttp_errno_t err) {
  if (reject_status_ != 0) {
    int status = reject_status_;
    if (status == 431) counters_.rejected_header_too_large.Add();
    if (status == 413) counters_.rejected_body_too_large.Add();
    SendError(status, reject_detail_);
    return;
  }
  counters_.rejected_malformed.Add();
  SendError(400, absl::StrCat("malformed request: ",
                              llhttp_get_error_reason(&parser_)));
}

void HttpConnection::SendError(int status, std::string_view detail) {
  keep_alive_ = false;
  std::string body = DetailJson(detail);
  HttpHeader ct{"Content-Type", "application/json"};
  Respond(status, std::span<const HttpHeader>(&ct, 1), body, true);
}

// ---- HttpConnection: I/O ---------------------------------------------------

namespace {
struct WriteReq {
  uv_write_t req;
  std::string data;
};
}  // namespace

void HttpConnection::Write(std::string data) {
  if (closed_) return;
  uv_buf_t buf = uv_buf_init(data.data(), data.size());
  // Most responses fit the socket buffer: try a direct write first and only
  // allocate a request for what is left.
  int n = writes_pending_ == 0
              ? uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1)
              : UV_EAGAIN;
  if (n == static_cast<int>(data.size())) return;
  if (n < 0 && n != UV_EAGAIN) {
    counters_.write_errors.Add();
    CloseNow();
    return;
  }
  size_t written = n > 0 ? static_cast<size_t>(n) : 0;
  auto* w = new WriteReq;
  w->data = data.substr(written);
  w->req.data = this;
  uv_buf_t rest = uv_buf_init(w->data.data(), w->data.size());
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp), &rest, 1,
               &OnWrite) != 0) {
    delete w;
    counters_.write_errors.Add();
    CloseNow();
    return;
  }
  ++writes_pending_;
}

void HttpConnection::OnWrite(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  auto* c = static_cast<HttpConnection*>(req->data);
  delete w;
  --c->writes_pending_;
  if (c->closed_) return;  // cancelled by uv_close
  if (status < 0) {
    c->counters_.write_errors.Add();
    c->CloseNow();
    return;
  }
  if (c->writes_pending_ > 0) return;
  if (c->closing_) {
    c->BeginClose();
  } else if (!c->in_flight_ && !c->dispatching_) {
    c->Resume();  // parsing stopped for backpressure; see Feed()
  }
}

void HttpConnection::BeginClose() {
  if (closed_) return;
  if (!closing_) {
    closing_ = true;
    // Bound the flush of the last response: a client that stops reading is
    // cut after the idle timeout.
    ArmTimer(TimerKind::kLinger, opts_.idle_timeout_ms);
  }
  if (!shutdown_started_ && writes_pending_ == 0) {
    shutdown_started_ = true;
    // Half-close and drain: closing with unread input would make the kernel
    // send a reset, which can destroy the response before the client reads
    // it (typical after a 413 with the body still arriving).
    if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp),
                    &OnShutdown) != 0) {
      CloseNow();
      return;
    }
    ArmTimer(TimerKind::kLinger, opts_.close_linger_ms);
    StartReading();
  }
}

void HttpConnection::OnShutdown(uv_shutdown_t* req, int status) {
  auto* c = static_cast<HttpConnection*>(req->data);
  if (c->closed_) return;
  if (status < 0) c->CloseNow();
}

void HttpConnection::StartReading() {
  if (reading_ || closed_) return;
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp), &OnAlloc, &OnRead) ==
      0) {
    reading_ = true;
  }
}

void HttpConnection::StopReading() {
  if (!reading_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
  reading_ = false;
}

void HttpConnection::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<HttpConnection*>(h->data);
  *buf = uv_buf_init(c->server_->read_slab.get(), kReadSlabBytes);
}

void HttpConnection::OnRead(uv_stream_t* s, ssize_t nread,
                            const uv_buf_t* buf) {
  auto* c = static_cast<HttpConnection*>(s->data);
  if (nread < 0) {
    // EOF or reset. A half-sent request is simply dropped: there is nobody
    // left to answer.
    c->CloseNow();
    return;
  }
  if (nread == 0) return;
  c->counters_.bytes_in.Add(static_cast<uint64_t>(nread));
  if (c->closing_) return;  // draining after an error response
  c->Feed(buf->base, static_cast<size_t>(nread));
}

void HttpConnection::ArmTimer(TimerKind kind, uint64_t ms) {
  if (closed_) return;
  timer_kind_ = kind;
  // kNone leaves a pending uv timer in place: it fires, finds nothing to do
  // and stops (see OnTimer).
  if (kind == TimerKind::kNone) return;
  deadline_ = uv_now(server_->worker->loop()) + ms;
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)) ||
      timer_due_ > deadline_) {
    timer_due_ = deadline_;
    uv_timer_start(&timer_, &OnTimer, ms, 0);
  }
}

void HttpConnection::OnTimer(uv_timer_t* t) {
  auto* c = static_cast<HttpConnection*>(t->data);
  if (c->timer_kind_ == TimerKind::kNone) return;
  const uint64_t now = uv_now(c->server_->worker->loop());
  if (now < c->deadline_) {  // the deadline moved later since arming
    c->timer_due_ = c->deadline_;
    uv_timer_start(t, &OnTimer, c->deadline_ - now, 0);
    return;
  }
  switch (c->timer_kind_) {
    case TimerKind::kHeader:
      c->counters_.timeout_header.Add();
      if (c->between_messages_) {
        c->CloseNow();  // nothing received: nobody to answer
      } else {
        c->SendError(408, "timed out reading request headers");
      }
      break;
    case TimerKind::kBody:
      c->counters_.timeout_body.Add();
      c->SendError(408, "timed out reading request body");
      break;
    case TimerKind::kIdle:
      c->counters_.timeout_idle.Add();
      c->CloseNow();
      break;
    case TimerKind::kLinger:
      c->CloseNow();
      break;
    case TimerKind::kNone:
      break;
  }
}

void HttpConnection::CloseNow() {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  if (responder_ != nullptr) {
    responder_->conn_ = nullptr;  // its Send() becomes a no-op
    responder_ = nullptr;
  }
  server_->Unlink(this);
  counters_.connections_closed.Add();
  closes_pending_ = 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &OnClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp), &OnClose);
}

void HttpConnection::OnClose(uv_handle_t* h) {
  auto* c = static_cast<HttpConnection*>(h->data);
  if (--c->closes_pending_ == 0) delete c;
}

// ---- HttpServer ------------------------------------------------------------

void HttpServer::Impl::OnConnection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Impl*>(listener->data);
  if (status < 0 || self->stopping.load(std::memory_order_relaxed)) return;
  uv_loop_t* loop = self->worker->loop();
  if (self->conn_count >= self->options.max_connections) {
    // Accept and close at once: leaving it in the backlog would only delay
    // the client's failure and fill the queue.
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop, tcp);
    uv_accept(listener, reinterpret_cast<uv_stream_t*>(tcp));
    self->counters.connections_rejected.Add();
    uv_close(reinterpret_cast<uv_handle_t*>(tcp),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return;
  }
  auto* conn = new HttpConnection(self);
  uv_tcp_init(loop, &conn->tcp);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&conn->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), [](uv_handle_t* h) {
      delete static_cast<HttpConnection*>(h->data);
    });
    return;
  }
  self->counters.connections_accepted.Add();
  conn->Start();
}

absl::Status HttpServer::Impl::ListenOnLoop(std::string_view host,
                                            uint16_t want_port) {
  if (listening) return absl::FailedPreconditionError("already listening");
  absl::StatusOr<int> fd = internal::BindReusePort(
      "listen", host, want_port, SOCK_STREAM, options.backlog);
  if (!fd.ok()) return fd.status();
  uv_tcp_init(worker->loop(), &listener);
  listener.data = this;
  auto fail = [&](std::string_view step, int rc) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    return absl::UnavailableError(
        absl::StrCat("listen ", internal::FormatHostPort(host, want_port), ": ",
                     AV(step), ": ", uv_strerror(rc)));
  };
  if (int rc = uv_tcp_open(&listener, *fd); rc != 0) {
    close(*fd);
    return fail("uv_tcp_open", rc);
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener),
                         options.backlog, &OnConnection);
      rc != 0) {
    return fail("uv_listen", rc);
  }
  port = internal::LocalPort(*fd);
  listening = true;
  worker->AddStopHook([this] { CloseAll(); });
  return absl::OkStatus();
}

void HttpServer::Impl::Drain() {
  stopping = true;
  if (listening) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    listening = false;
  }
  for (HttpConnection* c = conns; c != nullptr;) {
    HttpConnection* next = c->next;
    if (c->Idle()) c->CloseNow();
    c = next;
  }
}

void HttpServer::Impl::CloseAll() {
  stopping = true;
  if (listening) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    listening = false;
  }
  while (conns != nullptr) conns->CloseNow();
}

HttpServer::HttpServer(Worker* worker, HttpHandler* handler,
                       HttpServerOptions options)
    : impl_(std::make_unique<Impl>(worker, handler, std::move(options))) {}

HttpServer::~HttpServer() = default;

absl::Status HttpServer::Listen(std::string_view host, uint16_t port) {
  std::string h(host);
  return impl_->worker->RunSync(
      [this, h, port] { return impl_->ListenOnLoop(h, port); });
}

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::StopAccepting() {
  impl_->stopping.store(true, std::memory_order_release);
  impl_->worker->Post([impl = impl_.get()] { impl->Drain(); });
}

uint64_t HttpServer::open_connections() const {
  return impl_->open.load(std::memory_order_relaxed);
}

const HttpServerCounters& HttpServer::counters() const {
  return impl_->counters;
}

}  // namespace tern::net
