// Open-loop pacing without coordinated omission.
//
// A closed-loop generator sends the next request when the previous answer
// arrives, so a server that stalls for a second simply receives fewer
// requests, and the requests that would have waited during the stall are
// never measured: the stall vanishes from the percentiles ("coordinated
// omission"). An open-loop generator sends request i at a fixed scheduled
// time, start + i / rate, whatever happened before, and measures its latency
// from that scheduled time, not from when the generator managed to write it.
// If the generator falls behind (no free connection, a slow loop), the late
// requests are sent as soon as possible, each keeping its own scheduled
// time, so the time they spent waiting counts in their latency.
//
// Both classes here are pure: the clock is a parameter, so tests drive them
// with made-up times.
#ifndef TERN_BENCH_TERN_BENCH_SCHEDULE_H_
#define TERN_BENCH_TERN_BENCH_SCHEDULE_H_

#include <cstdint>
#include <optional>

#include "absl/functional/function_ref.h"

namespace tern::bench {

// The scheduled send times of an open-loop run: request i (from 0) is due at
// start_ns + floor(i * 1e9 / rate). Times are nanoseconds of any monotonic
// clock.
class OpenLoopSchedule {
 public:
  // `rate_per_second` > 0.
  OpenLoopSchedule(double rate_per_second, uint64_t start_ns);

  // The scheduled time of request `i`.
  uint64_t TimeOf(uint64_t i) const;

  // The scheduled time of the next request not yet taken.
  uint64_t next_time() const { return TimeOf(taken_); }

  // How many requests are due at `now_ns` (scheduled at or before it) and
  // not yet taken: the generator's backlog.
  uint64_t DueCount(uint64_t now_ns) const;

  // Takes the next request if it is due at `now_ns` and returns its
  // scheduled time; nullopt if it is not due yet. Requests are never
  // skipped: after a stall every missed one is returned, in order, with its
  // original time.
  std::optional<uint64_t> TakeDue(uint64_t now_ns);

  // Requests taken so far.
  uint64_t taken() const { return taken_; }

 private:
  long double rate_;
  uint64_t start_ns_;
  uint64_t taken_ = 0;
};

// Drives an OpenLoopSchedule: each Pump() reads the clock once and hands
// every due request to `send` until `send` refuses one (no connection can
// take it now), which stays due and is offered again, with the same
// scheduled time, on the next Pump(). `send(scheduled_ns)` returns true if
// it sent the request.
class Pacer {
 public:
  explicit Pacer(OpenLoopSchedule schedule) : schedule_(schedule) {}

  // Returns how many requests were sent.
  uint64_t Pump(uint64_t now_ns, absl::FunctionRef<bool(uint64_t)> send);

  const OpenLoopSchedule& schedule() const { return schedule_; }

 private:
  OpenLoopSchedule schedule_;
  std::optional<uint64_t> held_;  // refused last time, still due
};

}  // namespace tern::bench

#endif  // TERN_BENCH_TERN_BENCH_SCHEDULE_H_
