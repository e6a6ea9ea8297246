#include "relay/app/metrics.h"

#include <array>
#include <atomic>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "admin/prometheus.h"
#include "common/status.h"

namespace tern::relay::app {
namespace {

using ::tern::admin::PrometheusWriter;
constexpr auto kCounter = PrometheusWriter::Type::kCounter;

uint64_t Load(const std::atomic<uint64_t>& a) {
  return a.load(std::memory_order_relaxed);
}

constexpr std::array<std::string_view, 6> kStatusClass = {"0xx", "1xx", "2xx",
                                                          "3xx", "4xx", "5xx"};

}  // namespace

std::string RenderMetrics(const Relay::Impl& r) {
  PrometheusWriter w;
  const auto& workers = r.workers;

  // HTTP answers by route and status class, as the handler sent them.
  w.Family("http_responses", "HTTP responses by route and status class",
           kCounter);
  for (size_t route = 0; route < server::kRouteNames.size(); ++route) {
    for (size_t cls = 1; cls < kStatusClass.size(); ++cls) {
      uint64_t n = 0;
      for (const auto& p : workers) {
        n += Load(p->handler->counters().responses[route][cls]);
      }
      if (n == 0 && cls != 2) continue;
      w.Sample({{"route", server::kRouteNames[route]},
                {"status", kStatusClass[cls]}},
               static_cast<double>(n));
    }
  }

  // net/'s connection-level counters (limits, timeouts, malformed HTTP),
  // summed over workers in list order.
  std::vector<uint64_t> net_totals;
  for (const auto& p : workers) {
    size_t i = 0;
    net::ForEachCounter(p->http->counters(),
                        [&](std::string_view, std::string_view, uint64_t v) {
                          if (i == net_totals.size()) net_totals.push_back(0);
                          net_totals[i++] += v;
                        });
  }
  {
    size_t i = 0;
    net::ForEachCounter(
        workers.front()->http->counters(),
        [&](std::string_view name, std::string_view help, uint64_t) {
          w.Counter(absl::StrCat("http_", ToAbsl(name)), help, net_totals[i++]);
        });
  }
  uint64_t open = 0;
  for (const auto& p : workers) open += p->http->open_connections();
  w.Gauge("http_open_connections", "open HTTP connections",
          static_cast<double>(open));

  // The pipeline's view: bytes, errors, items by outcome.
  auto sum = [&](auto field) {
    uint64_t n = 0;
    for (const auto& p : workers) n += Load(p->pipeline->counters().*field);
    return n;
  };
  using PC = pipeline::PipelineCounters;
  w.Counter("bytes_in", "request bodies and datagrams received, in bytes",
            sum(&PC::bytes_in));
  w.Counter("auth_errors", "requests refused by auth or key checks (401/403)",
            sum(&PC::auth_errors));
  w.Counter("decode_errors",
            "requests refused while decoding (400/413/415 body errors)",
            sum(&PC::decode_errors));
  w.Counter("backpressure_rejections",
            "requests answered 503 because the Kafka queue is over its mark",
            sum(&PC::backpressure));
  w.Counter("key_pending",
            "requests whose key's project config was still being fetched",
            sum(&PC::key_pending));
  w.Counter("produce_errors", "items whose Produce() failed (answered 503)",
            sum(&PC::produce_errors));
  w.Counter("outcome_produce_errors", "outcome messages that failed to queue",
            sum(&PC::outcome_produce_errors));
  w.Counter("outcomes_aggregated",
            "outcomes summed into a bucket (outcomes.flush_interval)",
            sum(&PC::outcomes_aggregated));
  w.Counter("outcome_buckets_flushed",
            "outcome messages produced from the summed buckets",
            sum(&PC::outcome_buckets_flushed));
  w.Family("items", "envelope items and events by outcome", kCounter);
  w.Sample({{"outcome", "accepted"}},
           static_cast<double>(sum(&PC::items_accepted)));
  w.Sample({{"outcome", "invalid"}},
           static_cast<double>(sum(&PC::items_invalid)));
  w.Sample({{"outcome", "dropped"}},
           static_cast<double>(sum(&PC::items_dropped)));
  w.Sample({{"outcome", "rate_limited"}},
           static_cast<double>(sum(&PC::items_rate_limited)));
  w.Sample({{"outcome", "filtered"}},
           static_cast<double>(sum(&PC::items_filtered)));
  w.Counter("requests_rate_limited_unread",
            "requests answered 429 before parsing: a quota was already full",
            sum(&PC::requests_rate_limited_early));
  w.Family("invalid_outcomes", "invalid outcomes produced, by reason",
           kCounter);
  for (size_t i = 0; i < pipeline::kInvalidReasonCount; ++i) {
    uint64_t n = 0;
    for (const auto& p : workers) {
      n += Load(p->pipeline->counters().invalid_by_reason[i]);
    }
    w.Sample({{"reason", pipeline::kInvalidReasons[i]}},
             static_cast<double>(n));
  }
  w.Counter("client_reports", "client reports turned into outcomes",
            sum(&PC::client_reports));

  // Held requests (project config being fetched upstream).
  uint64_t held = 0, held_timeouts = 0, held_now = 0;
  for (const auto& p : workers) {
    held += Load(p->handler->counters().held);
    held_timeouts += Load(p->handler->counters().held_timeouts);
    held_now += Load(p->handler->counters().held_now);
  }
  w.Counter("requests_held", "requests held for a pending project config",
            held);
  w.Counter("requests_held_timeouts",
            "held requests answered 503 after the fetch wait", held_timeouts);
  w.Gauge("requests_held_now", "requests held at this moment",
          static_cast<double>(held_now));

  // UDP.
  if (workers.front()->udp) {
    uint64_t accepted = 0, udp_held = 0, udp_held_now = 0;
    std::array<uint64_t, server::kUdpDropCount> dropped{};
    for (const auto& p : workers) {
      accepted += Load(p->handler->counters().udp_accepted);
      udp_held += Load(p->handler->counters().udp_held);
      udp_held_now += Load(p->handler->counters().udp_held_now);
      for (int i = 0; i < server::kUdpDropCount; ++i) {
        dropped[i] += Load(p->handler->counters().udp_dropped[i]);
      }
    }
    uint64_t datagrams = 0, truncated = 0, too_large = 0, errors = 0;
    uint64_t wakeups = 0, recv_calls = 0;
    for (const auto& p : workers) {
      const net::UdpCounters& c = p->udp->counters();
      datagrams += c.datagrams.value();
      truncated += c.truncated.value();
      too_large += c.too_large.value();
      errors += c.recv_errors.value();
      wakeups += c.wakeups.value();
      recv_calls += c.recv_calls.value();
    }
    w.Counter("udp_datagrams", "UDP datagrams received", datagrams);
    w.Counter("udp_accepted", "UDP datagrams produced to Kafka", accepted);
    w.Counter("udp_held", "UDP datagrams held for a pending project config",
              udp_held);
    w.Gauge("udp_held_now", "UDP datagrams held at this moment",
            static_cast<double>(udp_held_now));
    w.Family("udp_dropped", "UDP datagrams dropped, by reason", kCounter);
    for (int i = 0; i < server::kUdpDropCount; ++i) {
      w.Sample(
          {{"reason", server::UdpDropName(static_cast<server::UdpDrop>(i))}},
          static_cast<double>(dropped[i]));
    }
    w.Sample({{"reason", "truncated"}}, static_cast<double>(truncated));
    w.Sample({{"reason", "datagram_too_large"}},
             static_cast<double>(too_large));
    w.Counter("udp_receive_errors", "UDP socket receive errors", errors);
    // datagrams / wakeups is the batch one loop turn (one spool commit) got.
    w.Counter("udp_wakeups", "UDP socket wake-ups (loop turns that read it)",
              wakeups);
    w.Counter("udp_recv_calls", "recvmmsg calls on the UDP sockets",
              recv_calls);
  }

  // Kafka.
  const kafka::ProducerStats k = r.producer->Stats();
  w.Gauge("kafka_queue_depth", "messages in flight to Kafka",
          static_cast<double>(k.in_flight));
  w.Gauge("kafka_accepting", "1 while the queue is under its high mark",
          k.accepting ? 1 : 0);
  w.Counter("kafka_produced", "messages handed to the producer", k.produced);
  w.Counter("kafka_delivered", "messages acknowledged by Kafka", k.delivered);
  w.Family("kafka_delivery_errors", "messages that failed for good, by error",
           kCounter);
  w.Sample({{"error", "all"}}, static_cast<double>(k.failed));
  for (const auto& [name, n] : k.failed_by_error) {
    w.Sample({{"error", name}}, static_cast<double>(n));
  }
  w.Counter("kafka_queue_full", "Produce() refused: local queue full",
            k.queue_full);
  w.Counter("kafka_client_errors", "librdkafka error events", k.client_errors);

  // Spool (docs/spool.md).
  if (r.spool) {
    const spool::SpoolStats s = r.spool->Stats();
    w.Gauge("spool_bytes", "bytes of spool segment files on disk",
            static_cast<double>(s.bytes));
    w.Gauge("spool_records", "records in spool segments on disk",
            static_cast<double>(s.records));
    w.Gauge("spool_segments", "spool segment files on disk",
            static_cast<double>(s.segments));
    w.Gauge("spool_oldest_record_age_seconds",
            "age of the oldest record on disk (0: none)", s.oldest_age_seconds);
    w.Gauge("spool_accepting", "1 while the spool takes new records",
            s.accepting ? 1 : 0);
    w.Gauge("spool_backlog_replayed",
            "1 once every record found at start is in Kafka",
            s.backlog_replayed ? 1 : 0);
    w.Counter("spool_appended", "records written to the spool", s.appended);
    w.Counter("spool_spooled_only",
              "records written while Kafka could not take them",
              s.spooled_only);
    w.Counter("spool_replayed", "records produced from disk by the replayer",
              s.replayed);
    w.Counter("spool_recovered", "good records found on disk at start",
              s.recovered);
    w.Counter("spool_corrupt_bytes", "damaged bytes skipped at start",
              s.corrupt_bytes);
    w.Family("spool_dropped",
             "records (or requests' records) the spool refused or lost, by "
             "reason",
             kCounter);
    for (int i = 0; i < spool::kSpoolDropCount; ++i) {
      w.Sample(
          {{"reason", spool::SpoolDropName(static_cast<spool::SpoolDrop>(i))}},
          static_cast<double>(s.dropped[i]));
    }
    std::array<double, spool::kFsyncBucketsMs.size()> bounds_s{};
    for (size_t i = 0; i < bounds_s.size(); ++i) {
      bounds_s[i] = spool::kFsyncBucketsMs[i] / 1000.0;
    }
    w.Histogram("spool_fsync_seconds", "fdatasync latency of spool segments",
                bounds_s, s.fsync_buckets, s.fsync_seconds_sum);
  }

  // Shared quotas (quotas.redis, docs/quotas.md).
  if (r.leaser) {
    const quota_redis::LeaserCounters& q = r.leaser->counters();
    w.Counter("quota_leases_requested", "quota leases asked of Redis",
              Load(q.leases_requested));
    w.Counter("quota_leases_granted", "quota leases that granted some units",
              Load(q.leases_granted));
    w.Counter("quota_leases_denied",
              "quota leases granted less than asked: the window is full "
              "across relays",
              Load(q.leases_denied));
    w.Counter("quota_units_granted", "quota units leased from Redis",
              Load(q.units_granted));
    w.Family("quota_redis_errors", "shared quota errors, by reason", kCounter);
    w.Sample({{"reason", "connect"}},
             static_cast<double>(Load(q.connect_errors)));
    w.Sample({{"reason", "disconnected"}},
             static_cast<double>(Load(q.disconnects)));
    w.Sample({{"reason", "auth_or_select"}},
             static_cast<double>(Load(q.setup_errors)));
    w.Sample({{"reason", "timeout"}}, static_cast<double>(Load(q.timeouts)));
    for (int i = 1; i < quota_redis::kReplyProblems; ++i) {
      w.Sample({{"reason", quota_redis::ReplyProblemName(
                               static_cast<quota_redis::ReplyProblem>(i))}},
               static_cast<double>(Load(q.reply_problems[i])));
    }
    std::array<double, quota_redis::kLatencyBucketsMs.size()> bounds_s{};
    std::array<uint64_t, quota_redis::kLatencyBucketsMs.size() + 1> cum{};
    uint64_t running = 0;
    for (size_t i = 0; i < cum.size(); ++i) {
      if (i < bounds_s.size()) {
        bounds_s[i] = quota_redis::kLatencyBucketsMs[i] / 1000.0;
      }
      running += Load(q.reply_buckets[i]);
      cum[i] = running;
    }
    w.Histogram("quota_redis_latency_seconds",
                "round trip of quota leases to Redis", bounds_s, cum,
                static_cast<double>(Load(q.reply_micros)) / 1e6);
    w.Counter("quota_redis_connects", "connections made to Redis",
              Load(q.connects));
    w.Gauge("quota_redis_connected", "1 while connected to Redis",
            static_cast<double>(Load(q.connected)));
    w.Counter("quota_fallback_windows",
              "quota windows a counter spent in the fallback (Redis away)",
              Load(q.fallback_windows));
    w.Gauge("quota_fallback_active",
            "shared quota counters in the fallback in their current window",
            static_cast<double>(Load(q.fallback_active)));
    w.Gauge("quota_shared_counters", "quota counters shared through Redis",
            static_cast<double>(Load(q.tracked)));
  }

  // Project table: reloads of the file, upstream fetches.
  r.ForEachControlCounter(
      [&](std::string_view name, std::string_view help, uint64_t value) {
        w.Counter(absl::StrCat("projects_", ToAbsl(name)), help, value);
      });
  w.Gauge("ready", "1 when /api/relay/healthcheck/ready/ answers 200",
          r.Ready() ? 1 : 0);
  return w.Take();
}

}  // namespace tern::relay::app
