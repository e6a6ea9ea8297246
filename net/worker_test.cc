#include "net/worker.h"

#include <uv.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tern::net {
namespace {

TEST(WorkerTest, PostRunsOnLoopThreadInOrder) {
  Worker worker("test");
  ASSERT_TRUE(worker.Start().ok());
  std::vector<int> seen;
  std::atomic<bool> on_loop{true};
  for (int i = 0; i < 100; ++i) {
    worker.Post([&, i] {
      if (!worker.InLoopThread()) on_loop = false;
      seen.push_back(i);
    });
  }
  // RunSync waits, and runs after everything posted before it.
  ASSERT_TRUE(worker.RunSync([] { return absl::OkStatus(); }).ok());
  worker.Stop();
  EXPECT_TRUE(on_loop);
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST(WorkerTest, RunSyncReturnsStatus) {
  Worker worker;
  ASSERT_TRUE(worker.Start().ok());
  absl::Status s =
      worker.RunSync([] { return absl::InvalidArgumentError("nope"); });
  EXPECT_EQ(s, absl::InvalidArgumentError("nope"));
  EXPECT_FALSE(worker.Start().ok());
}

TEST(WorkerTest, StopHooksCloseHandlesAndStopIsIdempotent) {
  Worker worker;
  auto* timer = new uv_timer_t;
  ASSERT_TRUE(worker
                  .RunSync([&] {
                    uv_timer_init(worker.loop(), timer);
                    uv_timer_start(
                        timer, [](uv_timer_t*) {}, 100000, 0);
                    worker.AddStopHook([timer] {
                      uv_close(reinterpret_cast<uv_handle_t*>(timer),
                               [](uv_handle_t* h) {
                                 delete reinterpret_cast<uv_timer_t*>(h);
                               });
                    });
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(worker.Start().ok());
  worker.Stop();  // returns although the timer had 100 s left
  worker.Stop();
}

TEST(WorkerTest, StopWithoutStart) {
  Worker worker;
  bool ran = false;
  worker.AddStopHook([&] { ran = true; });
  worker.Stop();
  EXPECT_TRUE(ran);
}

TEST(WorkerTest, PostAfterStopIsDropped) {
  Worker worker;
  ASSERT_TRUE(worker.Start().ok());
  worker.Stop();
  bool ran = false;
  worker.Post([&] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_FALSE(worker.RunSync([] { return absl::OkStatus(); }).ok());
}

}  // namespace
}  // namespace tern::net
