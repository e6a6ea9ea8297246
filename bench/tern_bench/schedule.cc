#include "bench/tern_bench/schedule.h"

#include <cmath>

namespace tern::bench {

OpenLoopSchedule::OpenLoopSchedule(double rate_per_second, uint64_t start_ns)
    : rate_(rate_per_second), start_ns_(start_ns) {}

uint64_t OpenLoopSchedule::TimeOf(uint64_t i) const {
  // i * 1e9 / rate rather than i * (1e9 / rate): no rounding error in the
  // period to accumulate over a long run (long double keeps i * 1e9 exact
  // up to 2^64).
  return start_ns_ +
         static_cast<uint64_t>(static_cast<long double>(i) * 1e9L / rate_);
}

uint64_t OpenLoopSchedule::DueCount(uint64_t now_ns) const {
  if (now_ns < next_time()) return 0;
  // Requests 0..k are due where TimeOf(k) <= now; estimate k, then correct
  // for rounding.
  uint64_t k = static_cast<uint64_t>(
      static_cast<long double>(now_ns - start_ns_) * rate_ / 1e9L);
  while (k > 0 && TimeOf(k) > now_ns) --k;
  while (TimeOf(k + 1) <= now_ns) ++k;
  return k + 1 - taken_;
}

std::optional<uint64_t> OpenLoopSchedule::TakeDue(uint64_t now_ns) {
  const uint64_t t = next_time();
  if (t > now_ns) return std::nullopt;
  ++taken_;
  return t;
}

uint64_t Pacer::Pump(uint64_t now_ns, absl::FunctionRef<bool(uint64_t)> send) {
  uint64_t sent = 0;
  for (;;) {
    std::optional<uint64_t> t = held_;
    held_.reset();
    if (!t) t = schedule_.TakeDue(now_ns);
    if (!t) break;
    if (!send(*t)) {
      held_ = t;
      break;
    }
    ++sent;
  }
  return sent;
}

}  // namespace tern::bench
