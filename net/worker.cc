#include "net/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread_priority.h"

namespace tern::net {

Worker::Worker(std::string name)
    : name_(std::move(name)),
      loop_(std::make_unique<uv_loop_t>()),
      async_(std::make_unique<uv_async_t>()) {
  // Both can only fail on resource exhaustion at startup (no fds), which the
  // process cannot survive anyway.
  if (int rc = uv_loop_init(loop_.get()); rc != 0) {
    fprintf(stderr, "uv_loop_init: %s\n", uv_strerror(rc));
    abort();
  }
  if (int rc = uv_async_init(loop_.get(), async_.get(), &Worker::OnAsync);
      rc != 0) {
    fprintf(stderr, "uv_async_init: %s\n", uv_strerror(rc));
    abort();
  }
  async_->data = this;
}

Worker::~Worker() { Stop(); }

absl::Status Worker::Start() {
  if (started_) return absl::FailedPreconditionError("worker already started");
  started_ = true;
  thread_ = std::thread([this] {
    loop_thread_id_.store(std::this_thread::get_id());
    NameThisThread(name_);
    uv_run(loop_.get(), UV_RUN_DEFAULT);
  });
  return absl::OkStatus();
}

bool Worker::InLoopThread() const {
  return loop_thread_id_.load() == std::this_thread::get_id();
}

void Worker::Post(absl::AnyInvocable<void() &&> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
    queue_.push_back(std::move(fn));
  }
  uv_async_send(async_.get());
}

absl::Status Worker::RunSync(absl::AnyInvocable<absl::Status() &&> fn) {
  if (!started_ || InLoopThread()) return std::move(fn)();
  std::promise<absl::Status> done;
  std::future<absl::Status> result = done.get_future();
  bool posted = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closing_) {
      queue_.push_back([&done, fn = std::move(fn)]() mutable {
        done.set_value(std::move(fn)());
      });
      posted = true;
    }
  }
  if (!posted) return absl::FailedPreconditionError("worker is stopping");
  uv_async_send(async_.get());
  return result.get();
}

void Worker::AddStopHook(absl::AnyInvocable<void() &&> hook) {
  stop_hooks_.push_back(std::move(hook));
}

void Worker::OnAsync(uv_async_t* handle) {
  static_cast<Worker*>(handle->data)->DrainQueue();
}

void Worker::DrainQueue() {
  std::vector<absl::AnyInvocable<void() &&>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(queue_);
  }
  for (auto& fn : batch) std::move(fn)();
}

void Worker::RunStopHooks() {
  // Closures still queued were posted before Stop(); run them first so a
  // RunSync caller is never left waiting.
  DrainQueue();
  auto hooks = std::move(stop_hooks_);
  for (auto& hook : hooks) std::move(hook)();
  uv_close(reinterpret_cast<uv_handle_t*>(async_.get()), nullptr);
}

void Worker::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (started_) {
    // Queue the shutdown itself, then refuse further posts; the loop exits
    // once the hooks' uv_close callbacks have all run.
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back([this] {
        {
          std::lock_guard<std::mutex> lock(mu_);
          closing_ = true;
        }
        RunStopHooks();
      });
    }
    uv_async_send(async_.get());
    thread_.join();
  } else {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    RunStopHooks();
    uv_run(loop_.get(), UV_RUN_DEFAULT);
  }
  // Anything posted between the last drain and closing_ is dropped here.
  queue_.clear();
  if (int rc = uv_loop_close(loop_.get()); rc != 0) {
    // A handle nobody closed: a bug in an owner, not a runtime condition.
    fprintf(stderr, "worker %s: uv_loop_close: %s\n", name_.c_str(),
            uv_strerror(rc));
  }
}

}  // namespace tern::net
