#include "bench/tern_bench/schedule.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace tern::bench {
namespace {

constexpr uint64_t kStart = 1'000'000'000;

TEST(OpenLoopScheduleTest, ScheduledTimesAreEvenlySpaced) {
  OpenLoopSchedule s(1000, kStart);  // one per millisecond
  for (uint64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(s.TimeOf(i), kStart + i * 1'000'000);
  }
  // A rate that does not divide a second keeps the long-run average exact
  // (no drift from rounding each period).
  OpenLoopSchedule odd(3, 0);
  EXPECT_EQ(odd.TimeOf(3), 1'000'000'000u);
  EXPECT_EQ(odd.TimeOf(3'000'000), 1'000'000'000'000'000u);
}

TEST(OpenLoopScheduleTest, TakesOnlyWhatIsDue) {
  OpenLoopSchedule s(1000, kStart);
  EXPECT_EQ(s.TakeDue(kStart - 1), std::nullopt);
  EXPECT_EQ(s.TakeDue(kStart), kStart);
  EXPECT_EQ(s.TakeDue(kStart + 999'999), std::nullopt);
  EXPECT_EQ(s.DueCount(kStart + 999'999), 0u);
  EXPECT_EQ(s.DueCount(kStart + 1'000'000), 1u);
  EXPECT_EQ(s.TakeDue(kStart + 1'000'000), kStart + 1'000'000);
  EXPECT_EQ(s.taken(), 2u);
}

TEST(OpenLoopScheduleTest, CatchUpAfterStallKeepsEveryScheduledTime) {
  // The generator stalls for 50 ms: the 50 missed requests are all still
  // handed out, in order, with their own scheduled times (none skipped,
  // none re-stamped with the late clock).
  OpenLoopSchedule s(1000, kStart);
  const uint64_t late = kStart + 50'000'000;
  EXPECT_EQ(s.DueCount(late), 51u);
  std::vector<uint64_t> times;
  while (auto t = s.TakeDue(late)) times.push_back(*t);
  ASSERT_EQ(times.size(), 51u);
  for (uint64_t i = 0; i < times.size(); ++i) {
    EXPECT_EQ(times[i], kStart + i * 1'000'000);
  }
  EXPECT_EQ(s.DueCount(late), 0u);
}

// A fake sender with an injected clock: it accepts at most `capacity`
// requests per pump (the connections' free slots) and records what the
// latency of each request will be measured from.
struct FakeSender {
  size_t capacity = 0;
  std::vector<uint64_t> scheduled;
  bool Send(uint64_t t) {
    if (capacity == 0) return false;
    --capacity;
    scheduled.push_back(t);
    return true;
  }
};

TEST(PacerTest, RefusedRequestIsOfferedAgainWithTheSameTime) {
  Pacer pacer(OpenLoopSchedule(1000, kStart));
  FakeSender sender;
  uint64_t now = kStart + 9'500'000;  // 10 due: 0..9 ms
  sender.capacity = 4;
  EXPECT_EQ(pacer.Pump(now, [&](uint64_t t) { return sender.Send(t); }), 4u);
  // No free slot at all for a while (a stalled server): nothing is sent,
  // nothing is lost.
  now += 20'000'000;
  sender.capacity = 0;
  EXPECT_EQ(pacer.Pump(now, [&](uint64_t t) { return sender.Send(t); }), 0u);
  // Slots free up: every request due by now goes out, each with its
  // original schedule, so the stall counts in their latency.
  sender.capacity = 1000;
  EXPECT_EQ(pacer.Pump(now, [&](uint64_t t) { return sender.Send(t); }), 26u);
  ASSERT_EQ(sender.scheduled.size(), 30u);
  for (uint64_t i = 0; i < sender.scheduled.size(); ++i) {
    EXPECT_EQ(sender.scheduled[i], kStart + i * 1'000'000) << i;
    // Measured from the schedule: request 4 waited from 4 ms to 29.5 ms.
  }
  EXPECT_EQ(now - sender.scheduled[4], 25'500'000u);
}

TEST(PacerTest, NothingSentBeforeItsTime) {
  Pacer pacer(OpenLoopSchedule(100, kStart));  // every 10 ms
  FakeSender sender;
  sender.capacity = 1000;
  auto send = [&](uint64_t t) { return sender.Send(t); };
  uint64_t total = 0;
  // A clock advancing 1 ms per pump for 100 ms sends exactly 10, each at or
  // after its scheduled time.
  for (uint64_t ms = 0; ms < 100; ++ms) {
    const uint64_t now = kStart + ms * 1'000'000;
    const size_t before = sender.scheduled.size();
    total += pacer.Pump(now, send);
    for (size_t i = before; i < sender.scheduled.size(); ++i) {
      EXPECT_LE(sender.scheduled[i], now);
    }
  }
  EXPECT_EQ(total, 10u);
}

}  // namespace
}  // namespace tern::bench
