#include "bench/tern_bench/report.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/tern_bench/payload_pool.h"
#include "common/status.h"
#include "protocol/json_writer.h"

namespace tern::bench {
namespace {

constexpr double kPercentiles[] = {50, 90, 99, 99.9};

std::string Ms(uint64_t ns) { return absl::StrFormat("%.3f", ns / 1e6); }

// JSON string escaping for the few free-text fields (names, addresses).
std::string Quote(std::string_view s) {
  std::string out;
  protocol::JsonWriter::AppendQuoted(&out, s);
  return out;
}

std::string Num(double v) {
  if (v < 0) return "null";
  return absl::StrFormat("%.6g", v);
}

int64_t MedianRss(std::vector<RssSample> samples) {
  if (samples.empty()) return -1;
  std::sort(samples.begin(), samples.end(),
            [](const RssSample& a, const RssSample& b) {
              return a.rss_kb < b.rss_kb;
            });
  return static_cast<int64_t>(samples[samples.size() / 2].rss_kb);
}

}  // namespace

Summary Summarize(const RunOptions& options, const RunResult& r) {
  Summary s;
  const double secs = r.measured_seconds > 0 ? r.measured_seconds : 1;
  uint64_t ok = 0;
  for (int st = 200; st < 300; ++st) ok += r.by_status[st];
  const double requests =
      static_cast<double>(options.udp ? r.sent : r.answered);
  const double oks = options.udp ? requests : static_cast<double>(ok);
  s.requests_per_second = requests / secs;
  s.ok_per_second = oks / secs;
  if (r.target_cpu_seconds > 0) {
    s.ok_per_cpu_second = oks / r.target_cpu_seconds;
    s.requests_per_cpu_second = requests / r.target_cpu_seconds;
    s.target_cpu_share = r.target_cpu_seconds / secs;
  }
  if (r.udp_rcvbuf_errors_before >= 0 && r.udp_rcvbuf_errors_after >= 0) {
    s.udp_kernel_drops = r.udp_rcvbuf_errors_after - r.udp_rcvbuf_errors_before;
  }
  if (r.rss.size() >= 2) {
    const size_t tenth = std::max<size_t>(1, r.rss.size() / 10);
    s.rss_start_kb = MedianRss({r.rss.begin(), r.rss.begin() + tenth});
    s.rss_end_kb = MedianRss({r.rss.end() - tenth, r.rss.end()});
  }
  return s;
}

std::string FormatTable(const RunDescription& what, const RunOptions& o,
                        const RunResult& r, const Summary& s) {
  std::string out;
  absl::StrAppendFormat(
      &out, "\n== tern-bench%s%s: %s %s, %s, event %zu B, body %.0f B avg\n",
      what.scenario.empty() ? "" : " ", what.scenario, what.target,
      what.endpoint, what.encoding, what.event_bytes, what.mean_body_bytes);
  if (o.udp) {
    absl::StrAppendFormat(
        &out, "   load: %s, %.1f s measured after %.1f s warm-up\n",
        o.rate > 0 ? absl::StrFormat("open loop at %.0f/s", o.rate)
                   : std::string("as fast as the socket takes"),
        r.measured_seconds, o.warmup_seconds);
  } else {
    absl::StrAppendFormat(&out,
                          "   load: %u connections x depth %u, %s, %.1f s "
                          "measured after %.1f s warm-up\n",
                          o.connections, o.depth,
                          o.rate > 0
                              ? absl::StrFormat("open loop at %.0f/s", o.rate)
                              : std::string("closed loop"),
                          r.measured_seconds, o.warmup_seconds);
  }
  absl::StrAppendFormat(&out,
                        "   projects %u (Zipf), invalid-key %.3f, over-quota "
                        "%.3f, sessions %.3f, pool %zu\n",
                        what.projects, what.invalid_key_share,
                        what.over_quota_share, what.session_share,
                        what.pool_size);
  out += "\n";
  if (o.udp) {
    absl::StrAppendFormat(&out, "   datagrams sent      %12llu  (%.0f/s)\n",
                          static_cast<unsigned long long>(r.sent),
                          s.requests_per_second);
    absl::StrAppendFormat(&out,
                          "   socket would-block  %12llu   refused %llu\n",
                          static_cast<unsigned long long>(r.udp_would_block),
                          static_cast<unsigned long long>(r.udp_refused));
    if (s.udp_kernel_drops >= 0) {
      absl::StrAppendFormat(&out,
                            "   kernel rcvbuf drops %12lld  (Udp RcvbufErrors "
                            "%lld -> %lld, whole host)\n",
                            static_cast<long long>(s.udp_kernel_drops),
                            static_cast<long long>(r.udp_rcvbuf_errors_before),
                            static_cast<long long>(r.udp_rcvbuf_errors_after));
    }
  } else {
    absl::StrAppendFormat(
        &out, "   answers             %12llu  (%.0f/s; 2xx %.0f/s)\n",
        static_cast<unsigned long long>(r.answered), s.requests_per_second,
        s.ok_per_second);
    out += "   by status          ";
    for (int st = 0; st < 600; ++st) {
      if (r.by_status[st]) {
        absl::StrAppend(&out, " ", st, ":", r.by_status[st]);
      }
    }
    out += "\n   by kind (2xx/all)  ";
    for (size_t k = 0; k < 4; ++k) {
      if (r.answered_by_kind[k]) {
        absl::StrAppend(&out, " ",
                        ToAbsl(PayloadKindName(static_cast<PayloadKind>(k))),
                        ":", r.ok_by_kind[k], "/", r.answered_by_kind[k]);
      }
    }
    absl::StrAppendFormat(
        &out,
        "\n   errors              connect-fail %llu, drops %llu, lost in "
        "flight %llu, unanswered %llu, backlog %llu\n",
        static_cast<unsigned long long>(r.connect_failures),
        static_cast<unsigned long long>(r.connection_drops),
        static_cast<unsigned long long>(r.lost),
        static_cast<unsigned long long>(r.unanswered_at_end),
        static_cast<unsigned long long>(r.backlog_at_end));
    absl::StrAppendFormat(&out, "   latency (ms%s)      ",
                          o.rate > 0 ? ", from scheduled send" : "");
    for (double p : kPercentiles) {
      absl::StrAppendFormat(&out, " p%g %s", p, Ms(r.latency_ns.Percentile(p)));
    }
    absl::StrAppendFormat(
        &out, " max %s (n=%llu)\n", Ms(r.latency_ns.max()),
        static_cast<unsigned long long>(r.latency_ns.count()));
  }
  if (s.target_cpu_share >= 0) {
    absl::StrAppendFormat(&out,
                          "   target pid %d       CPU %.2f s (%.0f%% of a "
                          "core), peak RSS %.1f MiB\n",
                          o.target_pid, r.target_cpu_seconds,
                          s.target_cpu_share * 100,
                          r.target_peak_rss_kb / 1024.0);
    absl::StrAppendFormat(
        &out, "   per target CPU-s    %.0f %s, %.0f requests (any status)\n",
        s.ok_per_cpu_second, o.udp ? "datagrams" : "2xx",
        s.requests_per_cpu_second);
  }
  if (s.rss_start_kb >= 0) {
    absl::StrAppendFormat(
        &out, "   RSS start/end       %.1f / %.1f MiB (%zu samples)\n",
        s.rss_start_kb / 1024.0, s.rss_end_kb / 1024.0, r.rss.size());
  }
  return out;
}

std::string FormatJson(const RunDescription& what, const RunOptions& o,
                       const RunResult& r, const Summary& s) {
  std::string j = "{";
  absl::StrAppend(&j, "\"scenario\":", Quote(what.scenario),
                  ",\"target\":", Quote(what.target),
                  ",\"endpoint\":", Quote(what.endpoint),
                  ",\"encoding\":", Quote(what.encoding),
                  ",\"event_bytes\":", what.event_bytes,
                  ",\"mean_body_bytes\":", Num(what.mean_body_bytes),
                  ",\"pool_size\":", what.pool_size,
                  ",\"projects\":", what.projects,
                  ",\"invalid_key_share\":", Num(what.invalid_key_share),
                  ",\"over_quota_share\":", Num(what.over_quota_share),
                  ",\"session_share\":", Num(what.session_share));
  absl::StrAppend(&j, ",\"load\":{\"udp\":", o.udp ? "true" : "false",
                  ",\"connections\":", o.connections, ",\"depth\":", o.depth,
                  ",\"rate\":", o.rate > 0 ? Num(o.rate) : "null",
                  ",\"open_loop\":", o.rate > 0 ? "true" : "false",
                  ",\"duration_s\":", Num(o.duration_seconds),
                  ",\"warmup_s\":", Num(o.warmup_seconds), "}");
  absl::StrAppend(&j, ",\"measured_s\":", Num(r.measured_seconds),
                  ",\"sent\":", r.sent, ",\"answered\":", r.answered,
                  ",\"requests_per_s\":", Num(s.requests_per_second),
                  ",\"ok_per_s\":", Num(s.ok_per_second));
  j += ",\"by_status\":{";
  bool first = true;
  for (int st = 0; st < 600; ++st) {
    if (!r.by_status[st]) continue;
    absl::StrAppend(&j, first ? "" : ",", "\"",
                    st == 0 ? "error" : absl::StrCat(st),
                    "\":", r.by_status[st]);
    first = false;
  }
  j += "},\"by_kind\":{";
  first = true;
  for (size_t k = 0; k < 4; ++k) {
    if (!r.answered_by_kind[k]) continue;
    absl::StrAppend(&j, first ? "" : ",", "\"",
                    ToAbsl(PayloadKindName(static_cast<PayloadKind>(k))),
                    "\":{\"ok\":", r.ok_by_kind[k],
                    ",\"all\":", r.answered_by_kind[k], "}");
    first = false;
  }
  absl::StrAppend(&j, "},\"errors\":{\"connect_failures\":", r.connect_failures,
                  ",\"connection_drops\":", r.connection_drops,
                  ",\"lost_in_flight\":", r.lost,
                  ",\"unanswered_at_end\":", r.unanswered_at_end,
                  ",\"backlog_at_end\":", r.backlog_at_end, "}");
  const Histogram& h = r.latency_ns;
  absl::StrAppend(&j, ",\"latency_ms\":{\"count\":", h.count(),
                  ",\"from_scheduled_send\":", o.rate > 0 ? "true" : "false",
                  ",\"mean\":", Num(h.mean() / 1e6),
                  ",\"p50\":", Num(h.Percentile(50) / 1e6),
                  ",\"p90\":", Num(h.Percentile(90) / 1e6),
                  ",\"p99\":", Num(h.Percentile(99) / 1e6),
                  ",\"p99_9\":", Num(h.Percentile(99.9) / 1e6),
                  ",\"max\":", Num(h.max() / 1e6), "}");
  absl::StrAppend(
      &j, ",\"udp\":{\"would_block\":", r.udp_would_block,
      ",\"refused\":", r.udp_refused, ",\"rcvbuf_errors_before\":",
      r.udp_rcvbuf_errors_before >= 0 ? absl::StrCat(r.udp_rcvbuf_errors_before)
                                      : "null",
      ",\"rcvbuf_errors_after\":",
      r.udp_rcvbuf_errors_after >= 0 ? absl::StrCat(r.udp_rcvbuf_errors_after)
                                     : "null",
      ",\"kernel_drops\":",
      s.udp_kernel_drops >= 0 ? absl::StrCat(s.udp_kernel_drops) : "null", "}");
  absl::StrAppend(
      &j, ",\"target\":{\"pid\":", o.target_pid,
      ",\"cpu_s\":", Num(r.target_cpu_seconds),
      ",\"cpu_share\":", Num(s.target_cpu_share), ",\"peak_rss_kb\":",
      r.target_peak_rss_kb >= 0 ? absl::StrCat(r.target_peak_rss_kb) : "null",
      ",\"ok_per_cpu_s\":", Num(s.ok_per_cpu_second),
      ",\"requests_per_cpu_s\":", Num(s.requests_per_cpu_second),
      ",\"rss_start_kb\":",
      s.rss_start_kb >= 0 ? absl::StrCat(s.rss_start_kb) : "null",
      ",\"rss_end_kb\":",
      s.rss_end_kb >= 0 ? absl::StrCat(s.rss_end_kb) : "null",
      ",\"rss_samples_kb\":[");
  for (size_t i = 0; i < r.rss.size(); ++i) {
    absl::StrAppend(&j, i ? "," : "", r.rss[i].rss_kb);
  }
  j += "]}}\n";
  return j;
}

}  // namespace tern::bench
