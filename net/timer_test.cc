#include "net/timer.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace tern::net {
namespace {

TEST(Timer, OneShotAndRepeatAndStop) {
  Worker worker("timer-test");
  ASSERT_TRUE(worker.Start().ok());
  Timer once(&worker);
  Timer repeat(&worker);
  absl::Notification fired;
  absl::Notification repeated;
  std::atomic<int> ticks{0};
  worker.Post([&] {
    once.Start(5, 0, [&] { fired.Notify(); });
    repeat.Start(1, 1, [&] {
      if (++ticks == 3) {
        repeat.Stop();
        repeated.Notify();
      }
    });
  });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(repeated.WaitForNotificationWithTimeout(absl::Seconds(10)));
  bool active = true;
  ASSERT_TRUE(worker
                  .RunSync([&] {
                    active = repeat.active() || once.active();
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_FALSE(active);
  EXPECT_EQ(ticks.load(), 3);
  worker.Stop();
}

TEST(Timer, RestartFromItsOwnCallbackKeepsTheNewCallback) {
  Worker worker("timer-test");
  ASSERT_TRUE(worker.Start().ok());
  Timer timer(&worker);
  absl::Notification second;
  worker.Post([&] {
    timer.Start(1, 0, [&] { timer.Start(1, 0, [&] { second.Notify(); }); });
  });
  EXPECT_TRUE(second.WaitForNotificationWithTimeout(absl::Seconds(10)));
  worker.Stop();
}

TEST(Timer, RepeatingCallbackMayRestartItselfOnce) {
  Worker worker("timer-test");
  ASSERT_TRUE(worker.Start().ok());
  Timer timer(&worker);
  absl::Notification done;
  std::atomic<int> repeats{0};
  worker.Post([&] {
    timer.Start(1, 1, [&] {
      ++repeats;
      // Replaces the running repeating callback with a one-shot.
      timer.Start(1, 0, [&] { done.Notify(); });
    });
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(repeats.load(), 1);
  worker.Stop();
}

TEST(Timer, StoppedWorkerIgnoresStart) {
  Worker worker("timer-test");
  ASSERT_TRUE(worker.Start().ok());
  Timer timer(&worker);
  ASSERT_TRUE(worker
                  .RunSync([&] {
                    timer.Start(100000, 0, [] {});
                    return absl::OkStatus();
                  })
                  .ok());
  worker.Stop();  // closes the handle through the stop hook
  // Before Start() or after Stop() the calls run inline and must not touch
  // the closed handle.
  timer.Start(1, 0, [] {});
  EXPECT_FALSE(timer.active());
}

}  // namespace
}  // namespace tern::net
