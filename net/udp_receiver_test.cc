#include "net/udp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tern::net {
namespace {

void SendDatagram(uint16_t port, std::string_view data) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&addr),
         sizeof(addr));
  close(fd);
}

class Collector {
 public:
  void Add(std::string_view data, const sockaddr* peer) {
    std::lock_guard<std::mutex> lock(mu_);
    got_.emplace_back(data);
    peers_ok_ = peers_ok_ && peer->sa_family == AF_INET &&
                reinterpret_cast<const sockaddr_in*>(peer)->sin_addr.s_addr ==
                    htonl(INADDR_LOOPBACK);
  }
  // Waits (bounded) for n datagrams.
  std::vector<std::string> Wait(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (got_.size() >= n) return got_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }
  bool peers_ok() {
    std::lock_guard<std::mutex> lock(mu_);
    return peers_ok_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> got_;
  bool peers_ok_ = true;
};

TEST(UdpReceiverTest, ReceivesDatagramsWithExactBytes) {
  Worker worker("udp");
  Collector col;
  UdpOptions options;
  options.max_datagram_bytes = 40000;
  UdpReceiver rx(
      &worker, [&](std::string_view d, const sockaddr* p) { col.Add(d, p); },
      options);
  ASSERT_TRUE(rx.Bind("127.0.0.1", 0).ok());
  ASSERT_TRUE(worker.Start().ok());
  EXPECT_GT(rx.granted_rcvbuf(), 0);

  std::vector<std::string> sent = {"sentry_key=abc\n\n{\"message\":\"hi\"}",
                                   std::string(30000, 'x'),
                                   std::string("bin\0ary", 7)};
  for (const auto& d : sent) SendDatagram(rx.port(), d);
  // Over max_datagram_bytes: counted, not delivered.
  SendDatagram(rx.port(), std::string(50000, 'y'));
  SendDatagram(rx.port(), "last");
  sent.push_back("last");

  std::vector<std::string> got = col.Wait(sent.size());
  EXPECT_EQ(got, sent);
  EXPECT_TRUE(col.peers_ok());
  worker.Stop();
  EXPECT_EQ(rx.counters().datagrams.value(), 4u);
  EXPECT_EQ(rx.counters().too_large.value(), 1u);
}

TEST(UdpReceiverTest, ManyDatagramsInBatches) {
  Worker worker("udp");
  Collector col;
  UdpReceiver rx(&worker,
                 [&](std::string_view d, const sockaddr* p) { col.Add(d, p); });
  ASSERT_TRUE(rx.Bind("127.0.0.1", 0).ok());
  ASSERT_TRUE(worker.Start().ok());
  constexpr int kN = 500;
  for (int i = 0; i < kN; ++i) SendDatagram(rx.port(), absl::StrCat("d", i));
  std::vector<std::string> got = col.Wait(kN);
  worker.Stop();
  ASSERT_EQ(got.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(got[i], absl::StrCat("d", i));
}

// Everything queued before the loop first polls arrives in one wake-up:
// rounds of `batch` until a round comes back short.
TEST(UdpReceiverTest, OneWakeUpDrainsSeveralRounds) {
  Worker worker("udp");
  Collector col;
  UdpOptions options;
  options.batch = 8;
  options.max_rounds = 100;
  UdpReceiver rx(
      &worker, [&](std::string_view d, const sockaddr* p) { col.Add(d, p); },
      options);
  // Bound before Start(): the datagrams wait in the socket's queue.
  ASSERT_TRUE(rx.Bind("127.0.0.1", 0).ok());
  constexpr int kN = 50;
  for (int i = 0; i < kN; ++i) SendDatagram(rx.port(), absl::StrCat("d", i));
  ASSERT_TRUE(worker.Start().ok());
  std::vector<std::string> got = col.Wait(kN);
  worker.Stop();
  ASSERT_EQ(got.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(got[i], absl::StrCat("d", i));
  EXPECT_EQ(rx.counters().wakeups.value(), 1u);
  // Six full rounds of 8, then one of 2 that ends the drain (no EAGAIN
  // round needed).
  EXPECT_EQ(rx.counters().recv_calls.value(), 7u);
  EXPECT_EQ(rx.counters().datagrams.value(), static_cast<uint64_t>(kN));
}

// max_rounds bounds one wake-up; the socket stays readable and the next
// turns read the rest, in order.
TEST(UdpReceiverTest, MaxRoundsBoundsOneWakeUp) {
  Worker worker("udp");
  Collector col;
  UdpOptions options;
  options.batch = 4;
  options.max_rounds = 2;
  UdpReceiver rx(
      &worker, [&](std::string_view d, const sockaddr* p) { col.Add(d, p); },
      options);
  ASSERT_TRUE(rx.Bind("127.0.0.1", 0).ok());
  constexpr int kN = 20;
  for (int i = 0; i < kN; ++i) SendDatagram(rx.port(), absl::StrCat("d", i));
  ASSERT_TRUE(worker.Start().ok());
  std::vector<std::string> got = col.Wait(kN);
  worker.Stop();
  ASSERT_EQ(got.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(got[i], absl::StrCat("d", i));
  // 8 + 8 + 4: the third wake-up's full round is followed by an EAGAIN one.
  EXPECT_EQ(rx.counters().wakeups.value(), 3u);
  EXPECT_EQ(rx.counters().recv_calls.value(), 6u);
}

// Each worker has its own socket on the shared port; the kernel spreads
// senders (by address and port) over them, and nothing is lost or doubled.
TEST(UdpReceiverTest, WorkersShareThePortAndSplitSenders) {
  Worker w1("u1"), w2("u2");
  Collector c1, c2;
  UdpReceiver r1(&w1,
                 [&](std::string_view d, const sockaddr* p) { c1.Add(d, p); });
  UdpReceiver r2(&w2,
                 [&](std::string_view d, const sockaddr* p) { c2.Add(d, p); });
  ASSERT_TRUE(r1.Bind("127.0.0.1", 0).ok());
  ASSERT_TRUE(r2.Bind("127.0.0.1", r1.port()).ok());
  ASSERT_TRUE(w1.Start().ok());
  ASSERT_TRUE(w2.Start().ok());
  // 32 senders, each its own socket (its own source port), 4 datagrams each.
  constexpr int kSenders = 32;
  constexpr int kEach = 4;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(r1.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int s = 0; s < kSenders; ++s) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < kEach; ++i) {
      const std::string d = absl::StrCat("s", s, "-", i);
      sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&addr),
             sizeof(addr));
    }
    close(fd);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (r1.counters().datagrams.value() + r2.counters().datagrams.value() <
             kSenders * kEach &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  w1.Stop();
  w2.Stop();
  std::vector<std::string> all = c1.Wait(0);
  const std::vector<std::string> second = c2.Wait(0);
  EXPECT_GT(c1.Wait(0).size(), 0u);
  EXPECT_GT(second.size(), 0u);
  all.insert(all.end(), second.begin(), second.end());
  std::sort(all.begin(), all.end());
  std::vector<std::string> want;
  for (int s = 0; s < kSenders; ++s) {
    for (int i = 0; i < kEach; ++i)
      want.push_back(absl::StrCat("s", s, "-", i));
  }
  std::sort(want.begin(), want.end());
  EXPECT_EQ(all, want);
}

TEST(UdpReceiverTest, TwoWorkersBindTheSamePort) {
  Worker w1("u1"), w2("u2");
  UdpReceiver r1(&w1, [](std::string_view, const sockaddr*) {});
  UdpReceiver r2(&w2, [](std::string_view, const sockaddr*) {});
  ASSERT_TRUE(r1.Bind("127.0.0.1", 0).ok());
  absl::Status s = r2.Bind("127.0.0.1", r1.port());
  EXPECT_TRUE(s.ok()) << s;
  w1.Stop();
  w2.Stop();
}

TEST(PeerIpTextTest, FormatsAgainOnlyWhenTheAddressChanges) {
  PeerIpText ip;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(1000);
  a.sin_addr.s_addr = htonl(0x7f000001);
  EXPECT_EQ(ip.Get(reinterpret_cast<sockaddr*>(&a)), "127.0.0.1");
  // Another port of the same host: the same text.
  a.sin_port = htons(2000);
  EXPECT_EQ(ip.Get(reinterpret_cast<sockaddr*>(&a)), "127.0.0.1");
  a.sin_addr.s_addr = htonl(0x0a000002);
  EXPECT_EQ(ip.Get(reinterpret_cast<sockaddr*>(&a)), "10.0.0.2");
  sockaddr_in6 b{};
  b.sin6_family = AF_INET6;
  b.sin6_addr.s6_addr[15] = 1;
  EXPECT_EQ(ip.Get(reinterpret_cast<sockaddr*>(&b)), "::1");
  b.sin6_addr.s6_addr[15] = 2;
  EXPECT_EQ(ip.Get(reinterpret_cast<sockaddr*>(&b)), "::2");
  EXPECT_EQ(ip.Get(nullptr), "");
  EXPECT_EQ(ip.Get(reinterpret_cast<sockaddr*>(&a)), "10.0.0.2");
}

TEST(UdpReceiverTest, BadAddress) {
  Worker worker;
  UdpReceiver rx(&worker, [](std::string_view, const sockaddr*) {});
  absl::Status s = rx.Bind("300.1.1.1", 3000);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  worker.Stop();
}

}  // namespace
}  // namespace tern::net
