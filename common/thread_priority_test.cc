#include "common/thread_priority.h"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "gtest/gtest.h"

namespace tern {
namespace {

const ThreadInfo* Find(const std::vector<ThreadInfo>& all, pid_t tid) {
  auto it = std::find_if(all.begin(), all.end(),
                         [tid](const ThreadInfo& t) { return t.tid == tid; });
  return it == all.end() ? nullptr : &*it;
}

TEST(ThreadPriority, LowersOnlyTheCallingThread) {
  const int main_nice = ThisThreadNice();
  const int target = std::min(19, main_nice + 5);
  pid_t child_tid = 0;
  int child_nice = 0;
  std::vector<ThreadInfo> seen;
  std::thread t([&] {
    child_tid = gettid();
    NameThisThread("tern-prio-test");
    ASSERT_TRUE(LowerThisThreadPriorityTo(target).ok());
    child_nice = ThisThreadNice();
    seen = ListThreads();
  });
  t.join();
  EXPECT_EQ(child_nice, target);
  EXPECT_EQ(ThisThreadNice(), main_nice);
  const ThreadInfo* child = Find(seen, child_tid);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->name, "tern-prio-test");
  EXPECT_EQ(child->nice, target);
  const ThreadInfo* main = Find(seen, gettid());
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->nice, main_nice);
}

TEST(ThreadPriority, NeverRaisesAndClampsAt19) {
  const int main_nice = ThisThreadNice();
  int after_lower = 0, after_raise = 0, after_big = 0;
  std::thread t([&] {
    ASSERT_TRUE(LowerThisThreadPriorityTo(main_nice + 1).ok());
    after_lower = ThisThreadNice();
    // A lower value than now is not applied (it would need privileges and
    // would undo an operator's `nice`).
    ASSERT_TRUE(LowerThisThreadPriorityTo(main_nice - 1).ok());
    after_raise = ThisThreadNice();
    ASSERT_TRUE(LowerThisThreadPriorityTo(100).ok());
    after_big = ThisThreadNice();
  });
  t.join();
  EXPECT_EQ(after_lower, std::min(19, main_nice + 1));
  EXPECT_EQ(after_raise, after_lower);
  EXPECT_EQ(after_big, 19);
}

TEST(ThreadPriority, ThreadsInheritTheirCreatorsNice) {
  const int main_nice = ThisThreadNice();
  int grandchild = 0;
  std::thread t([&] {
    ASSERT_TRUE(LowerThisThreadPriorityTo(std::min(19, main_nice + 2)).ok());
    std::thread g([&] { grandchild = ThisThreadNice(); });
    g.join();
  });
  t.join();
  EXPECT_EQ(grandchild, std::min(19, main_nice + 2));
}

}  // namespace
}  // namespace tern
