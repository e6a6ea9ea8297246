// A one-shot or repeating timer on a worker's loop, for code outside net/
// (which may not include libuv) that needs to wake up later: the relay's
// bounded wait for project configs, periodic sweeps.
#ifndef TERN_NET_TIMER_H_
#define TERN_NET_TIMER_H_

#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "net/worker.h"

namespace tern::net {

class Timer {
 public:
  // `worker` must outlive the timer; destroy the timer only after
  // worker->Stop() returned (the handle lives in this object and is closed
  // by the worker's stop hook).
  explicit Timer(Worker* worker);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Calls `callback` on the loop thread after `timeout_ms`, then every
  // `repeat_ms` if it is not 0. Replaces a pending start; the callback itself
  // may call Start() or Stop() on its own timer. Loop thread only (or before
  // Worker::Start()). Does nothing once the worker is stopping.
  void Start(uint64_t timeout_ms, uint64_t repeat_ms,
             absl::AnyInvocable<void()> callback);

  // Cancels the pending callback, if any. Loop thread only.
  void Stop();

  // True while a callback is pending. Loop thread only.
  bool active() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net

#endif  // TERN_NET_TIMER_H_
