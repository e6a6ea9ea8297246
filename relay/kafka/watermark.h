// Hysteresis gate over a shared in-flight counter, lock-free.
//
// The producer counts in-flight messages from two sides at once: worker
// threads add in Produce(), the delivery thread subtracts in delivery
// reports. The gate turns "closed" when the count passes the high watermark
// and "open" again only once it has dropped below the low watermark, so the
// relay does not flap between 200 and 503 at the boundary. Kept apart from
// the producer so the state machine can be tested without a cluster.
#ifndef TERN_RELAY_KAFKA_WATERMARK_H_
#define TERN_RELAY_KAFKA_WATERMARK_H_

#include <atomic>
#include <cstdint>

namespace tern::relay::kafka {

class WatermarkGate {
 public:
  // Requires 0 <= low < high.
  WatermarkGate(int64_t high, int64_t low) : high_(high), low_(low) {}

  // Adds `delta` (negative to subtract) to the count and updates the gate.
  // Returns the new count. Thread-safe, lock-free, any number of threads.
  int64_t Add(int64_t delta) {
    int64_t n = count_.fetch_add(delta) + delta;
    Update();
    return n;
  }

  // Whether new work should be taken. Thread-safe, lock-free.
  bool open() const { return open_.load(std::memory_order_acquire); }
  int64_t count() const { return count_.load(std::memory_order_acquire); }

 private:
  // Re-evaluates the gate against the count, re-reading the count after
  // every flip: without the re-read, a worker that closes the gate could
  // overwrite the delivery thread's "open" after the last delivery, leaving
  // the gate closed with nothing in flight to ever reopen it. Whoever
  // changed the count last runs this after its change, so the final state
  // always matches the final count.
  void Update() {
    for (;;) {
      bool cur = open_.load();
      int64_t n = count_.load();
      bool want = cur ? n <= high_ : n < low_;
      if (want == cur) return;
      open_.compare_exchange_strong(cur, want);
    }
  }

  const int64_t high_;
  const int64_t low_;
  std::atomic<int64_t> count_{0};
  std::atomic<bool> open_{true};
};

}  // namespace tern::relay::kafka

#endif  // TERN_RELAY_KAFKA_WATERMARK_H_
