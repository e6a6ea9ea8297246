#include "net/load_client.h"

#include <errno.h>
#include <llhttp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "net/socket_util.h"

namespace tern::net {

// ---------------------------------------------------------------------------
// LoadHttpConnection

class LoadHttpConnection::Impl {
 public:
  Impl(Worker* worker, Handlers handlers)
      : worker_(worker), handlers_(std::move(handlers)) {
    llhttp_settings_init(&settings_);
    settings_.on_message_complete = &OnMessageComplete;
    worker_->AddStopHook([this] {
      stopping_ = true;
      if (state_ == State::kConnecting || state_ == State::kConnected) {
        state_ = State::kClosing;
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
      }
    });
  }

  void Connect(std::string_view host, uint16_t port) {
    if (stopping_ || state_ != State::kIdle) return;
    auto addr = internal::ParseAddress(host, port);
    if (!addr.ok()) {
      handlers_.on_state(addr.status());
      return;
    }
    uv_tcp_init(worker_->loop(), &tcp_);
    tcp_.data = this;
    uv_tcp_nodelay(&tcp_, 1);
    connect_req_.data = this;
    state_ = State::kConnecting;
    llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
    parser_.data = this;
    if (int rc = uv_tcp_connect(&connect_req_, &tcp_,
                                reinterpret_cast<const sockaddr*>(&*addr),
                                &OnConnect);
        rc != 0) {
      Fail(absl::UnavailableError(absl::StrCat("connect: ", uv_strerror(rc))));
    }
  }

  bool Send(std::string_view request) {
    if (state_ != State::kConnected) return false;
    ++in_flight_;
    auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
    size_t done = 0;
    // The common case: the socket takes the whole request now, and no
    // write request needs to be allocated.
    if (uv_stream_get_write_queue_size(stream) == 0) {
      uv_buf_t buf = uv_buf_init(const_cast<char*>(request.data()),
                                 static_cast<unsigned>(request.size()));
      const int n = uv_try_write(stream, &buf, 1);
      if (n > 0) done = static_cast<size_t>(n);
      if (n < 0 && n != UV_EAGAIN) {
        Fail(absl::UnavailableError(absl::StrCat("write: ", uv_strerror(n))));
        return true;  // sent as far as the caller knows; lost with the rest
      }
    }
    if (done == request.size()) return true;
    auto* req = new uv_write_t;
    req->data = this;
    uv_buf_t buf = uv_buf_init(const_cast<char*>(request.data() + done),
                               static_cast<unsigned>(request.size() - done));
    if (int rc = uv_write(req, stream, &buf, 1, &OnWrite); rc != 0) {
      delete req;
      Fail(absl::UnavailableError(absl::StrCat("write: ", uv_strerror(rc))));
    }
    return true;
  }

  bool connected() const { return state_ == State::kConnected; }
  size_t in_flight() const { return in_flight_; }

 private:
  enum class State { kIdle, kConnecting, kConnected, kClosing };

  static void OnConnect(uv_connect_t* req, int status) {
    auto* self = static_cast<Impl*>(req->data);
    if (self->state_ != State::kConnecting) return;  // closed meanwhile
    if (status != 0) {
      self->Fail(absl::UnavailableError(
          absl::StrCat("connect: ", uv_strerror(status))));
      return;
    }
    auto* stream = reinterpret_cast<uv_stream_t*>(&self->tcp_);
    if (int rc = uv_read_start(stream, &OnAlloc, &OnRead); rc != 0) {
      self->Fail(
          absl::UnavailableError(absl::StrCat("read: ", uv_strerror(rc))));
      return;
    }
    self->state_ = State::kConnected;
    self->handlers_.on_state(absl::OkStatus());
  }

  static void OnWrite(uv_write_t* req, int status) {
    auto* self = static_cast<Impl*>(req->data);
    delete req;
    if (status != 0 && status != UV_ECANCELED) {
      self->Fail(
          absl::UnavailableError(absl::StrCat("write: ", uv_strerror(status))));
    }
  }

  static void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<Impl*>(h->data);
    if (self->read_buf_.empty()) self->read_buf_.resize(64 * 1024);
    *buf = uv_buf_init(self->read_buf_.data(),
                       static_cast<unsigned>(self->read_buf_.size()));
  }

  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Impl*>(s->data);
    if (nread == 0) return;
    if (nread < 0) {
      self->Fail(absl::UnavailableError(
          nread == UV_EOF ? std::string("peer closed the connection")
                          : absl::StrCat("read: ", uv_strerror(nread))));
      return;
    }
    const llhttp_errno_t err =
        llhttp_execute(&self->parser_, buf->base, static_cast<size_t>(nread));
    if (self->state_ != State::kConnected) return;  // a handler closed us
    if (err != HPE_OK) {
      self->Fail(absl::InvalidArgumentError(absl::StrCat(
          "malformed response: ", llhttp_get_error_reason(&self->parser_))));
    }
  }

  static int OnMessageComplete(llhttp_t* p) {
    auto* self = static_cast<Impl*>(p->data);
    if (self->state_ != State::kConnected) return HPE_PAUSED;
    if (self->in_flight_ > 0) --self->in_flight_;
    self->handlers_.on_response(p->status_code);
    return self->state_ == State::kConnected ? HPE_OK : HPE_PAUSED;
  }

  // Closes the handle and reports `why` once it is closed, so that the
  // caller may Connect() again from on_state.
  void Fail(absl::Status why) {
    if (state_ == State::kClosing || state_ == State::kIdle) return;
    state_ = State::kClosing;
    failure_ = std::move(why);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &OnClosed);
  }

  static void OnClosed(uv_handle_t* h) {
    auto* self = static_cast<Impl*>(h->data);
    if (self->stopping_) return;
    self->state_ = State::kIdle;
    absl::Status why = std::move(self->failure_);
    // The caller reads in_flight() in on_state to count the lost requests.
    self->handlers_.on_state(std::move(why));
    self->in_flight_ = 0;
  }

  Worker* worker_;
  Handlers handlers_;
  uv_tcp_t tcp_{};
  uv_connect_t connect_req_{};
  llhttp_t parser_{};
  llhttp_settings_t settings_{};
  std::vector<char> read_buf_;
  State state_ = State::kIdle;
  bool stopping_ = false;
  size_t in_flight_ = 0;
  absl::Status failure_;
};

LoadHttpConnection::LoadHttpConnection(Worker* worker, Handlers handlers)
    : impl_(std::make_unique<Impl>(worker, std::move(handlers))) {}
LoadHttpConnection::~LoadHttpConnection() = default;

void LoadHttpConnection::Connect(std::string_view host, uint16_t port) {
  impl_->Connect(host, port);
}
bool LoadHttpConnection::Send(std::string_view request) {
  return impl_->Send(request);
}
bool LoadHttpConnection::connected() const { return impl_->connected(); }
size_t LoadHttpConnection::in_flight() const { return impl_->in_flight(); }

// ---------------------------------------------------------------------------
// LoadUdpSender

LoadUdpSender::LoadUdpSender() = default;
LoadUdpSender::~LoadUdpSender() {
  if (fd_ >= 0) close(fd_);
}

absl::Status LoadUdpSender::Open(std::string_view host, uint16_t port,
                                 size_t send_buffer) {
  auto addr = internal::ParseAddress(host, port);
  if (!addr.ok()) return addr.status();
  if (fd_ >= 0) close(fd_);
  fd_ = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("udp socket: ", strerror(errno)));
  }
  if (send_buffer != 0) {
    int size = static_cast<int>(send_buffer);
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  const socklen_t len =
      addr->ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (connect(fd_, reinterpret_cast<const sockaddr*>(&*addr), len) != 0) {
    return absl::UnavailableError(
        absl::StrCat("udp connect ", internal::FormatHostPort(host, port), ": ",
                     strerror(errno)));
  }
  return absl::OkStatus();
}

size_t LoadUdpSender::Send(std::span<const std::string_view> datagrams) {
  constexpr size_t kBatch = 64;
  mmsghdr msgs[kBatch];
  iovec iovs[kBatch];
  size_t sent = 0;
  while (sent < datagrams.size() && fd_ >= 0) {
    const size_t n = std::min(kBatch, datagrams.size() - sent);
    for (size_t i = 0; i < n; ++i) {
      iovs[i].iov_base = const_cast<char*>(datagrams[sent + i].data());
      iovs[i].iov_len = datagrams[sent + i].size();
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int rc = sendmmsg(fd_, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
    if (rc < 0) {
      if (errno == ECONNREFUSED) {
        // An earlier datagram bounced; this one was not sent. Skip it, so
        // a missing listener shows as refusals rather than a stall.
        ++refused_;
        ++sent;
        continue;
      }
      if (errno == EINTR) continue;
      break;  // EAGAIN (buffer full) or another error: try again later
    }
    sent += static_cast<size_t>(rc);
    if (static_cast<size_t>(rc) < n) break;
  }
  return sent;
}

// ---------------------------------------------------------------------------
// LoopSpinner

class LoopSpinner::Impl {
 public:
  explicit Impl(Worker* worker) : worker_(worker) {}

  void Start(absl::AnyInvocable<void()> callback) {
    if (closed_) return;
    if (!initialized_) {
      uv_idle_init(worker_->loop(), &idle_);
      idle_.data = this;
      initialized_ = true;
      worker_->AddStopHook([this] {
        closed_ = true;
        uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
      });
    }
    callback_ = std::move(callback);
    uv_idle_start(&idle_, &OnIdle);
  }

  void Stop() {
    if (initialized_ && !closed_) uv_idle_stop(&idle_);
  }

  bool active() const {
    return initialized_ && !closed_ &&
           uv_is_active(reinterpret_cast<const uv_handle_t*>(&idle_)) != 0;
  }

 private:
  static void OnIdle(uv_idle_t* h) {
    auto* self = static_cast<Impl*>(h->data);
    if (self->callback_) self->callback_();
  }

  Worker* worker_;
  uv_idle_t idle_{};
  bool initialized_ = false;
  bool closed_ = false;
  absl::AnyInvocable<void()> callback_;
};

LoopSpinner::LoopSpinner(Worker* worker)
    : impl_(std::make_unique<Impl>(worker)) {}
LoopSpinner::~LoopSpinner() = default;
void LoopSpinner::Start(absl::AnyInvocable<void()> callback) {
  impl_->Start(std::move(callback));
}
void LoopSpinner::Stop() { impl_->Stop(); }
bool LoopSpinner::active() const { return impl_->active(); }

}  // namespace tern::net
