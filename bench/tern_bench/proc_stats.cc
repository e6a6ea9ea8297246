#include "bench/tern_bench/proc_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace tern::bench {
namespace {

std::optional<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::optional<uint64_t> ParseStatCpuTicks(std::string_view stat) {
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // After ") ": field 3 (state) is the first; utime is field 14, stime 15.
  std::vector<absl::string_view> fields =
      absl::StrSplit(ToAbsl(stat.substr(close + 1)), ' ', absl::SkipEmpty());
  if (fields.size() < 13) return std::nullopt;
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (!absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return std::nullopt;
  }
  return utime + stime;
}

std::optional<uint64_t> ParseStatusKb(std::string_view status,
                                      std::string_view field) {
  for (absl::string_view line : absl::StrSplit(ToAbsl(status), '\n')) {
    if (!absl::StartsWith(line, ToAbsl(field)) || line.size() <= field.size() ||
        line[field.size()] != ':') {
      continue;
    }
    std::vector<absl::string_view> parts =
        absl::StrSplit(line.substr(field.size() + 1), absl::ByAnyChar(" \t"),
                       absl::SkipEmpty());
    uint64_t kb = 0;
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &kb)) return std::nullopt;
    return kb;
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseSnmpUdp(std::string_view snmp,
                                     std::string_view field) {
  std::vector<absl::string_view> names;
  for (absl::string_view line : absl::StrSplit(ToAbsl(snmp), '\n')) {
    if (!absl::StartsWith(line, "Udp:")) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line.substr(4), ' ', absl::SkipEmpty());
    if (names.empty()) {
      names = parts;
      continue;
    }
    for (size_t i = 0; i < names.size() && i < parts.size(); ++i) {
      if (names[i] != ToAbsl(field)) continue;
      uint64_t v = 0;
      if (!absl::SimpleAtoi(parts[i], &v)) return std::nullopt;
      return v;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

absl::StatusOr<double> ReadCpuSeconds(int pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  std::optional<std::string> text = ReadAll(path);
  if (!text) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
  std::optional<uint64_t> ticks = ParseStatCpuTicks(*text);
  if (!ticks) return absl::DataLossError(absl::StrCat(path, ": unparsable"));
  return static_cast<double>(*ticks) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

absl::StatusOr<uint64_t> ReadStatusKb(int pid, std::string_view field) {
  const std::string path = absl::StrCat("/proc/", pid, "/status");
  std::optional<std::string> text = ReadAll(path);
  if (!text) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
  std::optional<uint64_t> kb = ParseStatusKb(*text, field);
  if (!kb) {
    return absl::DataLossError(
        absl::StrCat(path, ": no ", ToAbsl(field), " line"));
  }
  return *kb;
}

absl::StatusOr<uint64_t> ReadUdpCounter(std::string_view field) {
  std::optional<std::string> text = ReadAll("/proc/net/snmp");
  if (!text) return absl::NotFoundError("/proc/net/snmp: cannot read");
  std::optional<uint64_t> v = ParseSnmpUdp(*text, field);
  if (!v) {
    return absl::DataLossError(
        absl::StrCat("/proc/net/snmp: no Udp ", ToAbsl(field)));
  }
  return *v;
}

}  // namespace tern::bench
