// tern-bench: the load generator of the bench suite (docs/bench.md).
//
//   tern-bench [flags]                       run a load against a relay
//   tern-bench projects-file --projects N    print the relay projects file
//                                            the generated keys belong to
//
// Flags are listed by --help. Exit status: 0 after a run (whatever the
// answers were: the report says), 1 when the run could not happen
// (nothing listening, bad payload options), 2 for bad flags.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/tern_bench/payload_pool.h"
#include "bench/tern_bench/report.h"
#include "bench/tern_bench/runner.h"
#include "common/status.h"

namespace tern::bench {
namespace {

constexpr std::string_view kUsage = R"(usage: tern-bench [flags]
       tern-bench projects-file --projects N [--over-quota-limit L]

target
  --host ADDR              numeric address of the relay (127.0.0.1)
  --port N                 its HTTP or UDP port (3000)
  --target-pid PID         measure this process: CPU seconds (utime+stime)
                           over the measured interval, peak RSS (VmHWM),
                           VmRSS once a second
transport and load
  --udp                    send UDP datagrams instead of HTTP requests
  --udp-format F           legacy (<auth>\n\n<body>) or envelope (legacy)
  --connections N          HTTP keep-alive connections (16)
  --depth N                requests outstanding per connection; > 1
                           pipelines (1)
  --rate R                 open loop at R requests (datagrams) per second,
                           latency from the scheduled send time; 0 or
                           absent: closed loop
  --duration S             measured seconds (10)
  --warmup S               seconds before measuring (2)
  --drain S                at most this long for answers after the end (2)
payloads
  --endpoint E             envelope or store (envelope)
  --encoding E             identity, gzip, deflate, zstd or br (gzip)
  --event-size N           event JSON size: bytes, or 1k / 8k / 50k (1k)
  --projects N             projects with Zipf-distributed traffic (1)
  --zipf S                 Zipf exponent (1.0)
  --invalid-key-share F    share of requests with an unknown key (0)
  --over-quota-share F     share for the over-quota project N+1 (0)
  --session-share F        share of session envelopes (0)
  --pool N                 distinct pre-built requests (1024)
  --seed N                 payload seed (1)
  --same-ids               do not patch a fresh event id into each send
report
  --name NAME              scenario name for the report
  --json FILE              also write the report as JSON to FILE
  --quiet                  no progress line every second
)";

[[noreturn]] void Usage(std::string_view error) {
  std::fprintf(stderr, "tern-bench: %.*s\n\n%.*s",
               static_cast<int>(error.size()), error.data(),
               static_cast<int>(kUsage.size()), kUsage.data());
  std::exit(2);
}

// --name=value or --name value; booleans take no value.
struct Flags {
  std::map<std::string, std::string, std::less<>> values;

  static Flags Parse(int argc, char** argv, int first,
                     const std::vector<std::string_view>& booleans) {
    Flags f;
    for (int i = first; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
        std::exit(0);
      }
      if (arg.substr(0, 2) != "--")
        Usage(absl::StrCat("unexpected ", ToAbsl(arg)));
      arg.remove_prefix(2);
      std::string name(arg);
      std::string value;
      if (size_t eq = arg.find('='); eq != std::string_view::npos) {
        name = std::string(arg.substr(0, eq));
        value = std::string(arg.substr(eq + 1));
      } else if (std::find(booleans.begin(), booleans.end(), name) !=
                 booleans.end()) {
        value = "true";
      } else {
        if (i + 1 >= argc) Usage(absl::StrCat("--", name, " needs a value"));
        value = argv[++i];
      }
      f.values[name] = value;
    }
    return f;
  }

  std::string Str(std::string_view name, std::string_view def) {
    auto it = values.find(name);
    if (it == values.end()) return std::string(def);
    std::string v = it->second;
    values.erase(it);
    return v;
  }
  double Double(std::string_view name, double def) {
    const std::string v = Str(name, "");
    if (v.empty()) return def;
    double d = 0;
    if (!absl::SimpleAtod(v, &d))
      Usage(absl::StrCat("--", ToAbsl(name), ": not a number: ", v));
    return d;
  }
  uint64_t Uint(std::string_view name, uint64_t def) {
    const std::string v = Str(name, "");
    if (v.empty()) return def;
    uint64_t u = 0;
    if (!absl::SimpleAtoi(v, &u))
      Usage(absl::StrCat("--", ToAbsl(name), ": not a count: ", v));
    return u;
  }
  // 1024, 1k, 8K, 50k, 1m.
  uint64_t Size(std::string_view name, uint64_t def) {
    std::string v = absl::AsciiStrToLower(Str(name, ""));
    if (v.empty()) return def;
    uint64_t mult = 1;
    if (v.back() == 'k') mult = 1024;
    if (v.back() == 'm') mult = 1024 * 1024;
    if (mult != 1) v.pop_back();
    uint64_t u = 0;
    if (!absl::SimpleAtoi(v, &u))
      Usage(absl::StrCat("--", ToAbsl(name), ": not a size"));
    return u * mult;
  }
  bool Bool(std::string_view name) { return Str(name, "false") == "true"; }
  void CheckAllUsed() {
    if (!values.empty())
      Usage(absl::StrCat("unknown flag --", values.begin()->first));
  }
};

int ProjectsFile(int argc, char** argv) {
  Flags f = Flags::Parse(argc, argv, 2, {});
  const uint64_t projects = f.Uint("projects", 1);
  const uint64_t limit = f.Uint("over-quota-limit", 1);
  f.CheckAllUsed();
  if (projects == 0 || projects > 1'000'000) Usage("--projects: 1..1000000");
  const std::string yaml = ProjectsYaml(static_cast<uint32_t>(projects), limit);
  std::fwrite(yaml.data(), 1, yaml.size(), stdout);
  return 0;
}

int Main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "projects-file") {
    return ProjectsFile(argc, argv);
  }
  Flags f = Flags::Parse(argc, argv, 1, {"udp", "quiet", "same-ids"});
  RunOptions run;
  PayloadOptions pay;
  run.host = f.Str("host", "127.0.0.1");
  const uint64_t port = f.Uint("port", 3000);
  if (port == 0 || port > 65535) Usage("--port: 1..65535");
  run.port = static_cast<uint16_t>(port);
  run.target_pid = static_cast<int>(f.Uint("target-pid", 0));
  run.udp = pay.udp = f.Bool("udp");
  const std::string udp_format = f.Str("udp-format", "legacy");
  if (udp_format != "legacy" && udp_format != "envelope") {
    Usage("--udp-format: legacy or envelope");
  }
  pay.udp_format =
      udp_format == "envelope" ? UdpFormat::kEnvelope : UdpFormat::kLegacy;
  run.connections = static_cast<uint32_t>(f.Uint("connections", 16));
  run.depth = static_cast<uint32_t>(f.Uint("depth", 1));
  run.rate = f.Double("rate", 0);
  run.duration_seconds = f.Double("duration", 10);
  run.warmup_seconds = f.Double("warmup", 2);
  run.drain_seconds = f.Double("drain", 2);
  const std::string endpoint = f.Str("endpoint", "envelope");
  if (endpoint != "envelope" && endpoint != "store") {
    Usage("--endpoint: envelope or store");
  }
  pay.endpoint = endpoint == "store" ? Endpoint::kStore : Endpoint::kEnvelope;
  pay.encoding = f.Str("encoding", "gzip");
  pay.event_bytes = f.Size("event-size", 1024);
  pay.projects = static_cast<uint32_t>(f.Uint("projects", 1));
  pay.zipf_exponent = f.Double("zipf", 1.0);
  pay.invalid_key_share = f.Double("invalid-key-share", 0);
  pay.over_quota_share = f.Double("over-quota-share", 0);
  pay.session_share = f.Double("session-share", 0);
  pay.pool_size = f.Uint("pool", 1024);
  pay.seed = f.Uint("seed", 1);
  run.unique_ids = !f.Bool("same-ids");
  run.progress = !f.Bool("quiet");
  const std::string name = f.Str("name", "");
  const std::string json_path = f.Str("json", "");
  f.CheckAllUsed();
  pay.host = absl::StrCat(run.host, ":", run.port);
  if (run.rate < 0) Usage("--rate must be >= 0");

  absl::StatusOr<PayloadPool> pool = PayloadPool::Build(pay);
  if (!pool.ok()) {
    std::fprintf(stderr, "tern-bench: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  RunDescription what;
  what.scenario = name;
  what.target = absl::StrCat(run.udp ? "udp://" : "http://", pay.host);
  what.endpoint = run.udp ? absl::StrCat("udp-", udp_format) : endpoint;
  what.encoding = run.udp && pay.udp_format == UdpFormat::kLegacy &&
                          pay.encoding != "identity"
                      ? "base64(zlib)"
                  : run.udp ? "identity"
                            : pay.encoding;
  what.event_bytes = pay.event_bytes;
  what.mean_body_bytes = static_cast<double>(pool->total_body_bytes()) /
                         static_cast<double>(pool->size());
  what.pool_size = pool->size();
  what.projects = pay.projects;
  what.invalid_key_share = pay.invalid_key_share;
  what.over_quota_share = pay.over_quota_share;
  what.session_share = pay.session_share;
  std::fprintf(stderr,
               "tern-bench: %zu requests pre-built (%.0f body bytes on "
               "average) for %s\n",
               pool->size(), what.mean_body_bytes, what.target.c_str());

  absl::StatusOr<RunResult> result = Run(run, *pool);
  if (!result.ok()) {
    std::fprintf(stderr, "tern-bench: %s\n",
                 result.status().ToString().c_str());
    return 1;
  }
  const Summary summary = Summarize(run, *result);
  const std::string table = FormatTable(what, run, *result, summary);
  std::fwrite(table.data(), 1, table.size(), stdout);
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::binary | std::ios::trunc);
    out << FormatJson(what, run, *result, summary);
    if (!out) {
      std::fprintf(stderr, "tern-bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace tern::bench

int main(int argc, char** argv) { return tern::bench::Main(argc, argv); }
