// One event loop on one thread: the unit of parallelism of the relay.
//
// Each Worker owns a libuv loop and the thread that runs it. Everything that
// lives on a worker (listeners, connections, buffers, timers) is touched only
// from that thread, so the request path takes no lock. Other threads talk to
// a worker only through Post(), which hands a closure over a mutex-protected
// queue and wakes the loop with a uv_async_t. That mutex is taken by
// producers that are off the request path (startup, config reloads,
// shutdown), never per request.
//
// Life cycle: construct, attach handles (HttpServer::Listen, UdpReceiver::Bind
// may run before Start() or through RunSync() after), Start(), ..., Stop().
// Stop() runs the stop hooks on the loop (each owner closes its handles),
// waits for every close callback and joins the thread.
#ifndef TERN_NET_WORKER_H_
#define TERN_NET_WORKER_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

// libuv stays out of public headers; callers that need the loop (tests that
// arm timers, net/ internals) include uv.h themselves.
struct uv_loop_s;
struct uv_async_s;

namespace tern::net {

class Worker {
 public:
  // Creates the loop; the thread starts in Start(). `name` shows in logs and
  // thread names (truncated to 15 bytes by the kernel).
  explicit Worker(std::string name = "tern-worker");
  // Stops the worker if it is still running.
  ~Worker();

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Spawns the loop thread. Called once; returns FailedPrecondition if the
  // worker was already started.
  absl::Status Start();

  // Runs the stop hooks on the loop thread (in registration order), closes
  // the worker's own handles, lets the loop drain every close callback and
  // joins the thread. Idempotent. Must not be called from the loop thread.
  void Stop();

  // Queues `fn` to run on the loop thread. Safe from any thread; closures run
  // in posting order. Closures posted after Stop() began are dropped
  // (destroyed without running) so nothing touches a closed loop.
  void Post(absl::AnyInvocable<void() &&> fn);

  // Runs `fn` on the loop thread and waits for its result. Before Start() (or
  // when already on the loop thread) it runs inline. Used at startup to bind
  // sockets on a running worker so that errors come back synchronously.
  absl::Status RunSync(absl::AnyInvocable<absl::Status() &&> fn);

  // Registers `hook` to run on the loop thread when Stop() begins; owners of
  // handles use it to uv_close them. Call from the loop thread or before
  // Start().
  void AddStopHook(absl::AnyInvocable<void() &&> hook);

  // The loop; use only from the loop thread (or before Start()).
  uv_loop_s* loop() { return loop_.get(); }

  // True when called from this worker's loop thread.
  bool InLoopThread() const;

  const std::string& name() const { return name_; }

 private:
  static void OnAsync(uv_async_s* handle);
  void DrainQueue();
  void RunStopHooks();

  std::string name_;
  std::unique_ptr<uv_loop_s> loop_;
  std::unique_ptr<uv_async_s> async_;
  std::thread thread_;
  std::atomic<std::thread::id> loop_thread_id_{};
  bool started_ = false;
  bool stopped_ = false;

  std::mutex mu_;  // guards queue_ and closing_; never held while running fn
  std::vector<absl::AnyInvocable<void() &&>> queue_;
  bool closing_ = false;

  std::vector<absl::AnyInvocable<void() &&>> stop_hooks_;  // loop thread only
};

}  // namespace tern::net

#endif  // TERN_NET_WORKER_H_
