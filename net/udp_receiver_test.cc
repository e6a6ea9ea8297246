#include "net/udp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

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

TEST(UdpReceiverTest, BadAddress) {
  Worker worker;
  UdpReceiver rx(&worker, [](std::string_view, const sockaddr*) {});
  absl::Status s = rx.Bind("300.1.1.1", 3000);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  worker.Stop();
}

}  // namespace
}  // namespace tern::net
