#include "net/udp_receiver.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "net/socket_util.h"

namespace tern::net {
namespace {
// One slot per datagram of a recvmmsg batch: a UDP datagram never exceeds
// this (65507 bytes of IPv4 payload, 65527 of IPv6), so MSG_TRUNC is only a
// safety net.
constexpr size_t kSlotBytes = 64 * 1024;
// Slots are spaced kSlotBytes + kSlotStagger apart. With a 64 KiB stride
// every slot would start in the same L1 and L2 cache sets, so the datagrams
// of one batch would evict each other between the kernel's copy and our
// parse; 17 cache lines of stagger put consecutive 1 KiB datagrams in
// different sets.
constexpr size_t kSlotStagger = 17 * 64;
constexpr int kMaxBatch = 1024;
}  // namespace

class UdpReceiver::Impl {
 public:
  Impl(Worker* worker, Callback callback, UdpOptions options)
      : worker(worker),
        callback(std::move(callback)),
        options(options),
        batch(std::clamp(options.batch, 1, kMaxBatch)),
        max_rounds(std::max(options.max_rounds, 1)),
        buffer(new char[(kSlotBytes + kSlotStagger) * batch]),
        iov(batch),
        msgs(batch),
        peers(batch) {
    for (int i = 0; i < batch; ++i) {
      iov[i].iov_base = buffer.get() + (kSlotBytes + kSlotStagger) * i;
      iov[i].iov_len = kSlotBytes;
      msghdr& h = msgs[i].msg_hdr;
      h.msg_iov = &iov[i];
      h.msg_iovlen = 1;
      h.msg_name = &peers[i];
    }
  }
  ~Impl() {
    // Only when the handle never took it (a failed Bind); otherwise the stop
    // hook closed it.
    if (fd >= 0) close(fd);
  }

  absl::Status BindOnLoop(std::string_view host, uint16_t port);

  static void OnReadable(uv_poll_t* h, int status, int events);
  // Rounds of recvmmsg until the socket is empty or max_rounds were read.
  void Drain();
  void Deliver(int i);

  Worker* worker;
  Callback callback;
  UdpOptions options;
  const int batch;
  const int max_rounds;
  std::unique_ptr<char[]> buffer;
  std::vector<iovec> iov;
  std::vector<mmsghdr> msgs;
  std::vector<sockaddr_storage> peers;
  UdpCounters counters;
  uv_poll_t poll;
  int fd = -1;
  bool bound = false;
  uint16_t port = 0;
  int granted_rcvbuf = 0;
};

void UdpReceiver::Impl::OnReadable(uv_poll_t* h, int status, int /*events*/) {
  auto* self = static_cast<Impl*>(h->data);
  self->counters.wakeups.Add();
  if (status < 0) {
    self->counters.recv_errors.Add();
    return;
  }
  self->Drain();
}

void UdpReceiver::Impl::Drain() {
  for (int round = 0; round < max_rounds; ++round) {
    // Both are results of the previous round; the kernel reads the length.
    for (int i = 0; i < batch; ++i) {
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      msgs[i].msg_hdr.msg_flags = 0;
    }
    const int n = recvmmsg(fd, msgs.data(), static_cast<unsigned>(batch),
                           MSG_DONTWAIT, nullptr);
    counters.recv_calls.Add();
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) counters.recv_errors.Add();
      return;
    }
    for (int i = 0; i < n; ++i) Deliver(i);
    // Short: the queue ran dry before the batch filled (or an error is
    // waiting, which the next call reports). Either way, done for this turn.
    if (n < batch) return;
  }
}

void UdpReceiver::Impl::Deliver(int i) {
  const msghdr& h = msgs[i].msg_hdr;
  if (h.msg_flags & MSG_TRUNC) {
    counters.truncated.Add();
    return;
  }
  const size_t n = msgs[i].msg_len;
  if (n > options.max_datagram_bytes) {
    counters.too_large.Add();
    return;
  }
  counters.datagrams.Add();
  counters.bytes_in.Add(n);
  const sockaddr* peer = h.msg_namelen > 0
                             ? reinterpret_cast<const sockaddr*>(&peers[i])
                             : nullptr;
  callback(std::string_view(static_cast<const char*>(iov[i].iov_base), n),
           peer);
}

absl::Status UdpReceiver::Impl::BindOnLoop(std::string_view host,
                                           uint16_t want_port) {
  if (bound || fd >= 0) return absl::FailedPreconditionError("already bound");
  absl::StatusOr<int> bound_fd =
      internal::BindReusePort("udp bind", host, want_port, SOCK_DGRAM, 0);
  if (!bound_fd.ok()) return bound_fd.status();
  fd = *bound_fd;
  // Best effort: an unprivileged process is capped at rmem_max, which is
  // still better than the default; we report what we got.
  int want = options.rcvbuf_bytes;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
  socklen_t len = sizeof(granted_rcvbuf);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted_rcvbuf, &len);
  port = internal::LocalPort(fd);

  if (int rc = uv_poll_init(worker->loop(), &poll, fd); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("udp bind ", internal::FormatHostPort(host, want_port),
                     ": uv_poll_init: ", uv_strerror(rc)));
  }
  poll.data = this;
  if (int rc = uv_poll_start(&poll, UV_READABLE, &OnReadable); rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
    return absl::UnavailableError(
        absl::StrCat("udp bind ", internal::FormatHostPort(host, want_port),
                     ": uv_poll_start: ", uv_strerror(rc)));
  }
  bound = true;
  worker->AddStopHook([this] {
    if (bound) {
      // A poll handle does not own its fd: closing the handle takes it out
      // of the loop, then the socket is ours to close.
      uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
      close(fd);
      fd = -1;
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

std::string_view PeerIpText::Get(const sockaddr* peer) {
  if (peer != nullptr && peer->sa_family == last_.ss_family) {
    if (peer->sa_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(peer);
      const auto* b = reinterpret_cast<const sockaddr_in*>(&last_);
      if (a->sin_addr.s_addr == b->sin_addr.s_addr) return text_;
    } else if (peer->sa_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(peer);
      const auto* b = reinterpret_cast<const sockaddr_in6*>(&last_);
      if (std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(in6_addr)) == 0 &&
          a->sin6_scope_id == b->sin6_scope_id) {
        return text_;
      }
    }
  }
  text_ = IpToString(peer);
  last_.ss_family = AF_UNSPEC;
  if (peer != nullptr && peer->sa_family == AF_INET) {
    std::memcpy(&last_, peer, sizeof(sockaddr_in));
  } else if (peer != nullptr && peer->sa_family == AF_INET6) {
    std::memcpy(&last_, peer, sizeof(sockaddr_in6));
  }
  return text_;
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
