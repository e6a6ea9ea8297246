#include "net/udp_receiver.h"

#include <netinet/in.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "net/socket_util.h"

namespace tern::net {
namespace {
// absl here is built without std::string_view aliasing; bridge explicitly.
inline absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }
// libuv splits the buffer it gets from alloc_cb into slots of this size, one
// per datagram of a recvmmsg batch.
constexpr size_t kSlotBytes = 64 * 1024;
}  // namespace

class UdpReceiver::Impl {
 public:
  Impl(Worker* worker, Callback callback, UdpOptions options)
      : worker(worker),
        callback(std::move(callback)),
        options(options),
        buffer_bytes(kSlotBytes * std::clamp(options.batch, 1, 20)),
        buffer(new char[buffer_bytes]) {}

  absl::Status BindOnLoop(std::string_view host, uint16_t port);

  static void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<Impl*>(h->data);
    // One buffer for the whole batch, reused: the callback sees each
    // datagram before the next batch is read.
    *buf = uv_buf_init(self->buffer.get(), self->buffer_bytes);
  }
  static void OnRecv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf,
                     const sockaddr* addr, unsigned flags);

  Worker* worker;
  Callback callback;
  UdpOptions options;
  size_t buffer_bytes;
  std::unique_ptr<char[]> buffer;
  UdpCounters counters;
  uv_udp_t udp;
  bool bound = false;
  uint16_t port = 0;
  int granted_rcvbuf = 0;
};

void UdpReceiver::Impl::OnRecv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf,
                               const sockaddr* addr, unsigned flags) {
  auto* self = static_cast<Impl*>(h->data);
  if (nread < 0) {
    self->counters.recv_errors.Add();
    return;
  }
  // nread == 0 with no address: "nothing more" or the end of a batch
  // (UV_UDP_MMSG_FREE); our buffer is reused, so nothing to free.
  if (addr == nullptr) return;
  if (flags & UV_UDP_PARTIAL) {
    self->counters.truncated.Add();
    return;
  }
  size_t n = static_cast<size_t>(nread);
  if (n > self->options.max_datagram_bytes) {
    self->counters.too_large.Add();
    return;
  }
  self->counters.datagrams.Add();
  self->counters.bytes_in.Add(n);
  self->callback(std::string_view(buf->base, n), addr);
}

absl::Status UdpReceiver::Impl::BindOnLoop(std::string_view host,
                                           uint16_t want_port) {
  if (bound) return absl::FailedPreconditionError("already bound");
  absl::StatusOr<int> fd =
      internal::BindReusePort("udp bind", host, want_port, SOCK_DGRAM, 0);
  if (!fd.ok()) return fd.status();
  // Best effort: an unprivileged process is capped at rmem_max, which is
  // still better than the default; we report what we got.
  int want = options.rcvbuf_bytes;
  setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
  socklen_t len = sizeof(granted_rcvbuf);
  getsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &granted_rcvbuf, &len);
  port = internal::LocalPort(*fd);

  // AF_UNSPEC: libuv must not create its own socket; we open ours below.
  if (int rc =
          uv_udp_init_ex(worker->loop(), &udp, AF_UNSPEC | UV_UDP_RECVMMSG);
      rc != 0) {
    close(*fd);
    return absl::UnavailableError(
        absl::StrCat("udp bind ", internal::FormatHostPort(host, want_port),
                     ": uv_udp_init_ex: ", uv_strerror(rc)));
  }
  udp.data = this;
  auto fail = [&](std::string_view step, int rc) {
    uv_close(reinterpret_cast<uv_handle_t*>(&udp), nullptr);
    return absl::UnavailableError(
        absl::StrCat("udp bind ", internal::FormatHostPort(host, want_port),
                     ": ", AV(step), ": ", uv_strerror(rc)));
  };
  if (int rc = uv_udp_open(&udp, *fd); rc != 0) {
    close(*fd);
    return fail("uv_udp_open", rc);
  }
  if (int rc = uv_udp_recv_start(&udp, &OnAlloc, &OnRecv); rc != 0) {
    return fail("uv_udp_recv_start", rc);
  }
  bound = true;
  worker->AddStopHook([this] {
    if (bound) {
      uv_close(reinterpret_cast<uv_handle_t*>(&udp), nullptr);
      bound = false;
    }
  });
  return absl::OkStatus();
}

std::string IpToString(const sockaddr* peer) {
  sockaddr_storage addr{};
  if (peer == nullptr) return "";
  if (peer->sa_family == AF_INET) {
    std::memcpy(&addr, peer, sizeof(sockaddr_in));
  } else if (peer->sa_family == AF_INET6) {
    std::memcpy(&addr, peer, sizeof(sockaddr_in6));
  } else {
    return "";
  }
  return internal::IpToString(addr);
}

UdpReceiver::UdpReceiver(Worker* worker, Callback callback, UdpOptions options)
    : impl_(std::make_unique<Impl>(worker, std::move(callback), options)) {}

UdpReceiver::~UdpReceiver() = default;

absl::Status UdpReceiver::Bind(std::string_view host, uint16_t port) {
  std::string h(host);
  return impl_->worker->RunSync(
      [this, h, port] { return impl_->BindOnLoop(h, port); });
}

uint16_t UdpReceiver::port() const { return impl_->port; }
int UdpReceiver::granted_rcvbuf() const { return impl_->granted_rcvbuf; }
const UdpCounters& UdpReceiver::counters() const { return impl_->counters; }

}  // namespace tern::net
