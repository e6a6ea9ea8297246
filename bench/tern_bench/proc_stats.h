// What tern-bench reads about the machine and the target process from
// /proc: the target's CPU time (utime + stime, all threads) and memory
// (VmHWM, VmRSS), and the kernel's UDP receive-buffer drops. Results are
// meant per target CPU-second, which is why CPU time is read at the two
// ends of the measured interval.
//
// The parsers take the file's text, so tests feed them fixed strings; the
// Read* functions add the file access.
#ifndef TERN_BENCH_TERN_BENCH_PROC_STATS_H_
#define TERN_BENCH_TERN_BENCH_PROC_STATS_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"

namespace tern::bench {

// utime + stime in clock ticks from the text of /proc/PID/stat. The command
// name (field 2) may hold spaces and parentheses, so fields are counted
// from the last ')'. nullopt if the text is not in that format.
std::optional<uint64_t> ParseStatCpuTicks(std::string_view stat);

// The value in kB of `field` ("VmHWM", "VmRSS") in /proc/PID/status text.
std::optional<uint64_t> ParseStatusKb(std::string_view status,
                                      std::string_view field);

// The value of `field` ("RcvbufErrors", "InErrors") on the "Udp:" lines of
// /proc/net/snmp text (a header line of names, then a line of values).
std::optional<uint64_t> ParseSnmpUdp(std::string_view snmp,
                                     std::string_view field);

// Reads the files. Errors: NotFound when the process or file is gone,
// DataLoss when the text does not parse.
absl::StatusOr<double> ReadCpuSeconds(int pid);
absl::StatusOr<uint64_t> ReadStatusKb(int pid, std::string_view field);
absl::StatusOr<uint64_t> ReadUdpCounter(std::string_view field);

}  // namespace tern::bench

#endif  // TERN_BENCH_TERN_BENCH_PROC_STATS_H_
