#include "relay/kafka/watermark.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tern::relay::kafka {
namespace {

TEST(WatermarkGate, ClosesAboveHighAndReopensOnlyBelowLow) {
  WatermarkGate gate(/*high=*/10, /*low=*/5);
  EXPECT_TRUE(gate.open());
  gate.Add(10);
  EXPECT_TRUE(gate.open()) << "at the high mark is not past it";
  gate.Add(1);
  EXPECT_FALSE(gate.open());
  gate.Add(-4);  // 7: between the marks, stays closed
  EXPECT_FALSE(gate.open());
  gate.Add(-2);  // 5: at the low mark, still closed
  EXPECT_FALSE(gate.open());
  gate.Add(-1);  // 4
  EXPECT_TRUE(gate.open());
  gate.Add(5);  // 9: between the marks, stays open
  EXPECT_TRUE(gate.open());
  EXPECT_EQ(gate.count(), 9);
}

// Producers and a consumer racing on the counter must leave the gate in the
// state the final count implies (here: open, nothing in flight).
TEST(WatermarkGate, ConvergesUnderConcurrentAddsAndRemoves) {
  WatermarkGate gate(/*high=*/2, /*low=*/1);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        gate.Add(1);
        gate.Add(-1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(gate.count(), 0);
  EXPECT_TRUE(gate.open());
}

}  // namespace
}  // namespace tern::relay::kafka
