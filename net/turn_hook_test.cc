#include "net/turn_hook.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "net/timer.h"

namespace tern::net {
namespace {

// Everything armed within one turn is served by one callback, after the code
// that armed it returned; arming from the callback waits for the next turn.
TEST(TurnHook, OneCallbackPerTurnAfterTheArmingCode) {
  Worker worker("turn-test");
  std::vector<int> order;
  std::atomic<int> fires{0};
  absl::Notification twice;
  TurnHook* self = nullptr;
  TurnHook hook(&worker, [&] {
    order.push_back(100 + fires.load());
    if (++fires == 1) {
      self->Arm();  // the next turn
    } else {
      twice.Notify();
    }
  });
  self = &hook;
  ASSERT_TRUE(worker.Start().ok());
  worker.Post([&] {
    hook.Arm();
    order.push_back(1);
    hook.Arm();  // already armed: no second callback
    order.push_back(2);
  });
  ASSERT_TRUE(twice.WaitForNotificationWithTimeout(absl::Seconds(10)));
  worker.Stop();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 100, 101}));
  EXPECT_EQ(fires.load(), 2);
}

// Armed from a timer on an otherwise idle loop: served without waiting for
// other I/O (the loop must not block first).
TEST(TurnHook, ArmedFromATimerFiresWithoutOtherTraffic) {
  Worker worker("turn-test");
  absl::Notification fired;
  TurnHook hook(&worker, [&] { fired.Notify(); });
  Timer timer(&worker);
  ASSERT_TRUE(worker.Start().ok());
  worker.Post([&] { timer.Start(5, 0, [&] { hook.Arm(); }); });
  EXPECT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(5)));
  worker.Stop();
}

// A hook still armed when the worker stops runs once more, so what it holds
// is served rather than dropped.
TEST(TurnHook, StopRunsAnArmedHook) {
  Worker worker("turn-test");
  std::atomic<int> fires{0};
  TurnHook hook(&worker, [&] { ++fires; });
  hook.Arm();  // before Start(): fires in the first turn or at Stop
  ASSERT_TRUE(worker.Start().ok());
  worker.Stop();
  EXPECT_EQ(fires.load(), 1);
}

}  // namespace
}  // namespace tern::net
