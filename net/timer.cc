#include "net/timer.h"

#include <uv.h>

#include <utility>

namespace tern::net {

class Timer::Impl {
 public:
  explicit Impl(Worker* worker) : worker_(worker) {}

  void Start(uint64_t timeout_ms, uint64_t repeat_ms,
             absl::AnyInvocable<void()> callback) {
    if (closed_) return;
    if (!initialized_) {
      uv_timer_init(worker_->loop(), &timer_);
      timer_.data = this;
      initialized_ = true;
      worker_->AddStopHook([this] {
        closed_ = true;
        uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
      });
    }
    callback_ = std::move(callback);
    uv_timer_start(&timer_, &OnTimer, timeout_ms, repeat_ms);
  }

  void Stop() {
    if (initialized_ && !closed_) uv_timer_stop(&timer_);
  }

  bool active() const {
    return initialized_ && !closed_ &&
           uv_is_active(reinterpret_cast<const uv_handle_t*>(&timer_)) != 0;
  }

 private:
  static void OnTimer(uv_timer_t* t) {
    auto* self = static_cast<Impl*>(t->data);
    // The callback may call Start() (replacing itself) or Stop(); run a
    // moved-out copy, and for a repeating timer put it back only if nothing
    // replaced it and the timer still runs.
    if (!self->callback_) return;
    const bool repeating = uv_timer_get_repeat(t) != 0;
    absl::AnyInvocable<void()> cb = std::move(self->callback_);
    self->callback_ = nullptr;
    cb();
    if (repeating && !self->callback_ && !self->closed_ &&
        uv_is_active(reinterpret_cast<uv_handle_t*>(t))) {
      self->callback_ = std::move(cb);
    }
  }

  Worker* worker_;
  uv_timer_t timer_{};
  bool initialized_ = false;
  bool closed_ = false;
  absl::AnyInvocable<void()> callback_;
};

Timer::Timer(Worker* worker) : impl_(std::make_unique<Impl>(worker)) {}
Timer::~Timer() = default;

void Timer::Start(uint64_t timeout_ms, uint64_t repeat_ms,
                  absl::AnyInvocable<void()> callback) {
  impl_->Start(timeout_ms, repeat_ms, std::move(callback));
}

void Timer::Stop() { impl_->Stop(); }

bool Timer::active() const { return impl_->active(); }

}  // namespace tern::net
