// A counter that one thread writes and any thread may read.
//
// Each worker owns its counters, so increments need no read-modify-write
// atomics: a relaxed load and store by the owning thread is enough, and a
// /metrics reader on another thread sees a value that is at most a little
// stale. Using std::atomic keeps that racy read defined behaviour.
#ifndef TERN_NET_COUNTER_H_
#define TERN_NET_COUNTER_H_

#include <atomic>
#include <cstdint>

namespace tern::net {

class Counter {
 public:
  // Only the owning worker thread calls Add().
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n,
                 std::memory_order_relaxed);
  }
  // Any thread.
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace tern::net

#endif  // TERN_NET_COUNTER_H_
