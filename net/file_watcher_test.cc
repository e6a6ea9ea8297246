#include "net/file_watcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "net/worker.h"

namespace tern::net {
namespace {

// Counts callbacks (and remembers what the file held at the last one) so a
// test can wait for the n-th.
class Calls {
 public:
  explicit Calls(std::string path = "") : path_(std::move(path)) {}

  absl::AnyInvocable<void()> Callback() {
    return [this] {
      std::string content;
      if (!path_.empty()) {
        std::ifstream in(path_);
        content.assign(std::istreambuf_iterator<char>(in), {});
      }
      absl::MutexLock lock(&mu_);
      ++count_;
      last_content_ = std::move(content);
    };
  }

  // True once at least `n` callbacks ran (bounded wait for an event).
  bool WaitFor(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n] {
      mu_.AssertHeld();
      return count_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(10));
  }

  int count() {
    absl::MutexLock lock(&mu_);
    return count_;
  }
  std::string last_content() {
    absl::MutexLock lock(&mu_);
    return last_content_;
  }

 private:
  std::string path_;
  absl::Mutex mu_;
  int count_ = 0;
  std::string last_content_;
};

class FileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tern-file-watcher-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = absl::StrCat(dir_, "/projects.yml");
    Write(path_, "v0\n");
    ASSERT_TRUE(worker_.Start().ok());
  }
  void TearDown() override {
    worker_.Stop();
    std::string cmd = absl::StrCat("rm -rf '", dir_, "'");
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  std::string Tmp() const { return absl::StrCat(dir_, "/.projects.yml.tmp"); }

  static void Write(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::trunc);
    out << content;
  }

  Worker worker_{"watch-test"};
  std::string dir_;
  std::string path_;
};

TEST_F(FileWatcherTest, WriteInPlaceGivesCallback) {
  Calls calls(path_);
  FileWatcher watcher(&worker_, path_, calls.Callback());
  ASSERT_TRUE(watcher.Start().ok());
  Write(path_, "v1\n");
  ASSERT_TRUE(calls.WaitFor(1));
  EXPECT_EQ(calls.last_content(), "v1\n");
  worker_.Stop();
}

TEST_F(FileWatcherTest, RenameOverGivesCallback) {
  Calls calls(path_);
  FileWatcher watcher(&worker_, path_, calls.Callback());
  ASSERT_TRUE(watcher.Start().ok());
  // How editors and config management save: a new file renamed over the old.
  Write(Tmp(), "renamed\n");
  ASSERT_EQ(rename(Tmp().c_str(), path_.c_str()), 0);
  ASSERT_TRUE(calls.WaitFor(1));
  EXPECT_EQ(calls.last_content(), "renamed\n");
  // The watch survives the inode change: a second save is seen too.
  const int before = calls.count();
  Write(Tmp(), "again\n");
  ASSERT_EQ(rename(Tmp().c_str(), path_.c_str()), 0);
  ASSERT_TRUE(calls.WaitFor(before + 1));
  EXPECT_EQ(calls.last_content(), "again\n");
  worker_.Stop();
}

TEST_F(FileWatcherTest, BurstOfWritesEndsWithFinalContent) {
  Calls calls(path_);
  FileWatcher watcher(&worker_, path_, calls.Callback(), /*debounce_ms=*/200);
  ASSERT_TRUE(watcher.Start().ok());
  for (int i = 1; i <= 20; ++i) Write(path_, absl::StrCat("v", i, "\n"));
  ASSERT_TRUE(calls.WaitFor(1));
  // The last callback comes after the last event, so it sees the last write
  // (however the burst was split).
  Calls marker;
  FileWatcher sentinel(&worker_, absl::StrCat(dir_, "/sentinel"),
                       marker.Callback(), 400);
  ASSERT_TRUE(sentinel.Start().ok());
  Write(absl::StrCat(dir_, "/sentinel"), "x");
  ASSERT_TRUE(marker.WaitFor(1));
  EXPECT_EQ(calls.last_content(), "v20\n");
  worker_.Stop();
}

TEST_F(FileWatcherTest, UnrelatedFileGivesNoCallback) {
  // The watcher under test fires at once; a second watcher on the unrelated
  // file fires 100 ms after the same event. libuv runs timers in due order,
  // so if the unrelated event had passed the filter, `calls` would have
  // counted before `control` does.
  Calls calls;
  Calls control;
  FileWatcher watcher(&worker_, path_, calls.Callback(), /*debounce_ms=*/0);
  FileWatcher other(&worker_, absl::StrCat(dir_, "/other.yml"),
                    control.Callback(), 100);
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_TRUE(other.Start().ok());
  Write(absl::StrCat(dir_, "/other.yml"), "unrelated\n");
  ASSERT_TRUE(control.WaitFor(1));
  EXPECT_EQ(calls.count(), 0);
  // Positive control: the same watcher does see its own file.
  Write(path_, "v1\n");
  ASSERT_TRUE(calls.WaitFor(1));
  worker_.Stop();
}

TEST_F(FileWatcherTest, ConfigMapSymlinkSwapGivesCallback) {
  // The layout of a Kubernetes ConfigMap volume:
  //   projects.yml -> ..data/projects.yml, ..data -> ..v1
  const std::string cm = absl::StrCat(dir_, "/cm");
  ASSERT_EQ(mkdir(cm.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(absl::StrCat(cm, "/..v1").c_str(), 0755), 0);
  Write(absl::StrCat(cm, "/..v1/projects.yml"), "v1\n");
  ASSERT_EQ(symlink("..v1", absl::StrCat(cm, "/..data").c_str()), 0);
  ASSERT_EQ(
      symlink("..data/projects.yml", absl::StrCat(cm, "/projects.yml").c_str()),
      0);

  Calls calls(absl::StrCat(cm, "/projects.yml"));
  FileWatcher watcher(&worker_, absl::StrCat(cm, "/projects.yml"),
                      calls.Callback());
  ASSERT_TRUE(watcher.Start().ok());
  // The kubelet's update: a new timestamped dir, a temporary symlink to it,
  // renamed over ..data.
  ASSERT_EQ(mkdir(absl::StrCat(cm, "/..v2").c_str(), 0755), 0);
  Write(absl::StrCat(cm, "/..v2/projects.yml"), "v2\n");
  ASSERT_EQ(symlink("..v2", absl::StrCat(cm, "/..data_tmp").c_str()), 0);
  ASSERT_EQ(rename(absl::StrCat(cm, "/..data_tmp").c_str(),
                   absl::StrCat(cm, "/..data").c_str()),
            0);
  ASSERT_TRUE(calls.WaitFor(1));
  EXPECT_EQ(calls.last_content(), "v2\n");
  worker_.Stop();
}

TEST_F(FileWatcherTest, MissingDirectoryIsAnError) {
  Calls calls;
  FileWatcher watcher(&worker_, absl::StrCat(dir_, "/nope/projects.yml"),
                      calls.Callback());
  absl::Status s = watcher.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find(absl::StrCat("watch ", dir_, "/nope")),
            std::string::npos)
      << s;
  FileWatcher twice(&worker_, path_, calls.Callback());
  ASSERT_TRUE(twice.Start().ok());
  EXPECT_EQ(twice.Start().code(), absl::StatusCode::kFailedPrecondition);
  worker_.Stop();
}

}  // namespace
}  // namespace tern::net
