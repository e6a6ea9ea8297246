// The final report of a tern-bench run: a human-readable table and the same
// numbers as JSON (--json FILE), which bench/run.sh reads to write
// bench/RESULTS.md.
#ifndef TERN_BENCH_TERN_BENCH_REPORT_H_
#define TERN_BENCH_TERN_BENCH_REPORT_H_

#include <string>

#include "bench/tern_bench/runner.h"

namespace tern::bench {

// What was run, echoed in the report so a JSON file stands on its own.
struct RunDescription {
  std::string scenario;  // --name, may be empty
  std::string target;    // "http://127.0.0.1:3000" or "udp://..."
  std::string endpoint;  // "envelope", "store", "udp-legacy", "udp-envelope"
  std::string encoding;
  size_t event_bytes = 0;
  double mean_body_bytes = 0;
  size_t pool_size = 0;
  uint32_t projects = 0;
  double invalid_key_share = 0;
  double over_quota_share = 0;
  double session_share = 0;
};

// Derived figures, computed once for both formats.
struct Summary {
  double requests_per_second = 0;  // answers (UDP: datagrams sent) per second
  double ok_per_second = 0;        // 2xx answers per second
  // Per target CPU-second (when the target's CPU time is known, else -1):
  // 2xx answers, and all answers (the reject path's figure). For UDP both
  // are datagrams sent per target CPU-second.
  double ok_per_cpu_second = -1;
  double requests_per_cpu_second = -1;
  double target_cpu_share = -1;  // of one core over the interval
  int64_t udp_kernel_drops = -1;
  // Soak: VmRSS of the first and last tenth of the samples (medians) and
  // the growth between them.
  int64_t rss_start_kb = -1;
  int64_t rss_end_kb = -1;
};

Summary Summarize(const RunOptions& options, const RunResult& result);

std::string FormatTable(const RunDescription& what, const RunOptions& options,
                        const RunResult& result, const Summary& summary);

std::string FormatJson(const RunDescription& what, const RunOptions& options,
                       const RunResult& result, const Summary& summary);

}  // namespace tern::bench

#endif  // TERN_BENCH_TERN_BENCH_REPORT_H_
