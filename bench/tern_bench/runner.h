// The measured run of tern-bench: drives HTTP keep-alive connections or a
// UDP socket from one net::Worker loop, closed loop (each connection keeps
// `depth` requests outstanding) or open loop at a fixed rate (latency from
// the scheduled send time: schedule.h), prints a progress line every second
// and returns the totals.
//
// Timeline: warm-up (connections open, the target's caches and producer
// batches warm; nothing recorded), then the measured interval (answers
// arriving in it are counted, their latencies recorded; the target's CPU
// time is read at both ends), then a drain of at most `drain_seconds` in
// which nothing new is sent and the latencies of the requests still in
// flight are still recorded (so a slow tail is not cut off), but not
// counted in the throughput.
#ifndef TERN_BENCH_TERN_BENCH_RUNNER_H_
#define TERN_BENCH_TERN_BENCH_RUNNER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/tern_bench/histogram.h"
#include "bench/tern_bench/payload_pool.h"

namespace tern::bench {

struct RunOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 3000;
  bool udp = false;
  uint32_t connections = 16;
  uint32_t depth = 1;  // requests outstanding per connection (pipelining)
  double rate = 0;     // requests (datagrams) per second; 0: closed loop
  double duration_seconds = 10;
  double warmup_seconds = 2;
  double drain_seconds = 2;
  int target_pid = 0;      // 0: no target measurement
  bool progress = true;    // the once-a-second line on stderr
  bool unique_ids = true;  // patch event ids per send (identity bodies)
  size_t udp_send_buffer = 4 << 20;
};

struct RssSample {
  double t;  // seconds since the measured interval began
  uint64_t rss_kb;
};

struct RunResult {
  double measured_seconds = 0;
  // Answers in the measured interval by HTTP status (index = status, 0..599).
  std::array<uint64_t, 600> by_status{};
  // Answers in the measured interval by what the request was meant to be
  // (PayloadKind) and whether the answer was 2xx.
  std::array<uint64_t, 4> ok_by_kind{};
  std::array<uint64_t, 4> answered_by_kind{};
  uint64_t sent = 0;      // requests or datagrams sent in the interval
  uint64_t answered = 0;  // answers received in the interval
  uint64_t lost = 0;      // in flight when a connection broke (any phase)
  uint64_t connect_failures = 0;
  uint64_t connection_drops = 0;
  uint64_t unanswered_at_end = 0;  // still in flight after the drain
  uint64_t backlog_at_end = 0;     // open loop: due but never sent
  uint64_t udp_would_block = 0;    // sends the socket refused (EAGAIN)
  uint64_t udp_refused = 0;        // ECONNREFUSED: nobody listening
  Histogram latency_ns;            // measured interval and drain
  // UDP: /proc/net/snmp Udp RcvbufErrors before warm-up and after drain.
  int64_t udp_rcvbuf_errors_before = -1;
  int64_t udp_rcvbuf_errors_after = -1;
  // Target process (when target_pid): CPU seconds over the measured
  // interval, VmHWM at the end, and VmRSS once a second.
  double target_cpu_seconds = -1;
  int64_t target_peak_rss_kb = -1;
  std::vector<RssSample> rss;
};

// Runs the benchmark with `pool`'s entries, round robin. Errors:
// InvalidArgument for bad options, Unavailable when no connection could be
// made at all (nothing listening).
absl::StatusOr<RunResult> Run(const RunOptions& options, PayloadPool& pool);

}  // namespace tern::bench

#endif  // TERN_BENCH_TERN_BENCH_RUNNER_H_
