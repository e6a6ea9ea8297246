#include "relay/project/table_slot.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "config/projects.h"
#include "gtest/gtest.h"
#include "relay/project/project_table.h"

namespace tern::relay::project {
namespace {

// Generation g holds the key "stable" (project 1) and the key "k<g>"
// (project 1000 + g), so a reader can tell that what it sees is one whole
// generation and not a mix.
std::shared_ptr<const ProjectTable> TableOf(uint64_t g) {
  config::ProjectsFile f;
  config::Project stable;
  stable.id = 1;
  stable.keys.emplace_back().public_key = "stable";
  f.projects.push_back(stable);
  config::Project p;
  p.id = 1000 + g;
  p.keys.emplace_back().public_key = absl::StrCat("k", g);
  f.projects.push_back(p);
  absl::StatusOr<std::shared_ptr<const ProjectTable>> t =
      ProjectTable::Build(f, g);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

// Stands in for a net::Worker: a thread that owns a TableSlot, drains a
// queue of posted closures between "callbacks", and in each callback reads
// its slot without any synchronisation.
class FakeWorker {
 public:
  explicit FakeWorker(std::shared_ptr<const ProjectTable> initial)
      : slot_(std::move(initial)) {}

  PostFn Poster() {
    return [this](absl::AnyInvocable<void() &&> fn) {
      absl::MutexLock lock(&mu_);
      queue_.push_back(std::move(fn));
    };
  }
  TableSlot* slot() { return &slot_; }

  // Reads until the slot serves `last`; records what it saw.
  void Start(uint64_t last) {
    thread_ = std::thread([this, last] { Run(last); });
  }
  void Join() { thread_.join(); }

  uint64_t reads() const { return reads_; }
  uint64_t generations_seen() const { return generations_seen_; }
  bool ok() const { return ok_; }

 private:
  void Run(uint64_t last) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    uint64_t previous = slot_.table().generation();
    while (std::chrono::steady_clock::now() < deadline) {
      // One loop iteration: run the posted closures, then "serve requests".
      std::deque<absl::AnyInvocable<void() &&>> batch;
      {
        absl::MutexLock lock(&mu_);
        batch.swap(queue_);
      }
      for (auto& fn : batch) std::move(fn)();
      for (int i = 0; i < 50; ++i) {
        const ProjectTable& t = slot_.table();
        const uint64_t g = t.generation();
        const KeyInfo* stable = t.FindKey("stable");
        const KeyInfo* own = t.FindKey(absl::StrCat("k", g));
        if (g < previous || stable == nullptr || stable->project_id != 1 ||
            own == nullptr || own->project_id != 1000 + g ||
            t.FindKey(absl::StrCat("k", g + 1)) != nullptr) {
          ok_ = false;
          return;
        }
        if (g != previous) ++generations_seen_;
        previous = g;
        ++reads_;
      }
      if (previous == last) return;
      std::this_thread::yield();
    }
    ok_ = false;  // never saw the last generation
  }

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  TableSlot slot_;  // touched only by thread_ once it runs
  std::thread thread_;
  // Written by thread_, read after Join().
  uint64_t reads_ = 0;
  uint64_t generations_seen_ = 0;
  bool ok_ = true;
};

TEST(Publisher, ReadersOnTheirOwnThreadsSeeEveryPublishInOrder) {
  constexpr uint64_t kLast = 200;
  std::shared_ptr<const ProjectTable> initial = TableOf(1);
  std::vector<std::weak_ptr<const ProjectTable>> old = {initial};
  FakeWorker a(initial);
  FakeWorker b(initial);
  auto publisher = std::make_unique<Publisher>(
      initial, std::vector<Publisher::Target>{{a.slot(), a.Poster()},
                                              {b.slot(), b.Poster()}});
  initial.reset();
  a.Start(kLast);
  b.Start(kLast);
  for (uint64_t g = 2; g <= kLast; ++g) {
    std::shared_ptr<const ProjectTable> t = TableOf(g);
    if (g < kLast) old.push_back(t);
    ASSERT_TRUE(publisher->Publish(std::move(t)).ok());
    // Let the readers interleave with the publishes rather than all of them
    // landing in one batch.
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  EXPECT_EQ(publisher->current()->generation(), kLast);
  a.Join();
  b.Join();
  EXPECT_TRUE(a.ok());
  EXPECT_TRUE(b.ok());
  EXPECT_GT(a.reads(), 0u);
  EXPECT_GT(b.reads(), 0u);
  EXPECT_GE(a.generations_seen(), 1u);
  EXPECT_GE(b.generations_seen(), 1u);
  // Both threads have stopped; reading their slots here is ordered by join.
  EXPECT_EQ(a.slot()->table().generation(), kLast);
  EXPECT_EQ(b.slot()->table().generation(), kLast);
  // Every superseded table died once the workers dropped it.
  for (const auto& w : old) EXPECT_TRUE(w.expired());
  EXPECT_EQ(a.slot()->shared().use_count(), 3);  // a, b, publisher
}

TEST(Publisher, RejectsNullAndStaleGenerations) {
  std::shared_ptr<const ProjectTable> initial = TableOf(5);
  std::vector<absl::AnyInvocable<void() &&>> posted;
  TableSlot slot(initial);
  Publisher publisher(initial,
                      {{&slot, [&posted](absl::AnyInvocable<void() &&> fn) {
                          posted.push_back(std::move(fn));
                        }}});
  EXPECT_EQ(publisher.Publish(nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(publisher.Publish(TableOf(5)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(publisher.Publish(TableOf(4)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(posted.empty());
  EXPECT_EQ(publisher.current(), initial);

  ASSERT_TRUE(publisher.Publish(TableOf(6)).ok());
  EXPECT_EQ(publisher.current()->generation(), 6u);
  ASSERT_EQ(posted.size(), 1u);
  // Nothing changes until the closure runs on the slot's thread.
  EXPECT_EQ(slot.table().generation(), 5u);
  std::move(posted[0])();
  EXPECT_EQ(slot.table().generation(), 6u);
}

TEST(TableSlot, NeverGoesBack) {
  TableSlot slot(TableOf(3));
  slot.Install(TableOf(2));
  EXPECT_EQ(slot.table().generation(), 3u);
  slot.Install(TableOf(3));
  EXPECT_EQ(slot.table().generation(), 3u);
  slot.Install(TableOf(4));
  EXPECT_EQ(slot.table().generation(), 4u);
  EXPECT_NE(slot.table().FindKey("k4"), nullptr);
}

}  // namespace
}  // namespace tern::relay::project
