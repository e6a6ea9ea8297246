#include "net/turn_hook.h"

#include <uv.h>

#include <utility>

namespace tern::net {

class TurnHook::Impl {
 public:
  Impl(Worker* worker, absl::AnyInvocable<void()> callback)
      : worker_(worker), callback_(std::move(callback)) {}

  void Arm() {
    if (closed_ || armed_) return;
    if (!initialized_) {
      uv_check_init(worker_->loop(), &check_);
      uv_idle_init(worker_->loop(), &idle_);
      check_.data = this;
      initialized_ = true;
      worker_->AddStopHook([this] {
        // Held answers go out (or fail) now rather than being dropped.
        if (armed_) Fire();
        closed_ = true;
        uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
      });
    }
    armed_ = true;
    // An active idle handle makes this turn's poll return at once, so the
    // check handle runs right after it however the hook was armed.
    uv_idle_start(&idle_, [](uv_idle_t*) {});
    uv_check_start(&check_, &OnCheck);
  }

  bool armed() const { return armed_; }

 private:
  static void OnCheck(uv_check_t* c) { static_cast<Impl*>(c->data)->Fire(); }

  void Fire() {
    // Disarmed first: the callback may arm the hook again for the next turn.
    armed_ = false;
    uv_check_stop(&check_);
    uv_idle_stop(&idle_);
    callback_();
  }

  Worker* worker_;
  absl::AnyInvocable<void()> callback_;
  uv_check_t check_{};
  uv_idle_t idle_{};
  bool initialized_ = false;
  bool armed_ = false;
  bool closed_ = false;
};

TurnHook::TurnHook(Worker* worker, absl::AnyInvocable<void()> callback)
    : impl_(std::make_unique<Impl>(worker, std::move(callback))) {}
TurnHook::~TurnHook() = default;

void TurnHook::Arm() { impl_->Arm(); }
bool TurnHook::armed() const { return impl_->armed(); }

}  // namespace tern::net
