#include "relay/app/relay.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "common/thread_priority.h"
#include "config/projects.h"
#include "net/http_server.h"
#include "net/port_check.h"
#include "net/udp_receiver.h"
#include "net/worker.h"
#include "relay/app/metrics.h"
#include "relay/app/parts.h"
#include "relay/kafka/producer.h"
#include "relay/pipeline/pipeline.h"
#include "relay/project/project_table.h"
#include "relay/project/table_slot.h"
#include "relay/server/handler.h"
#include "spdlog/spdlog.h"

namespace tern::relay::app {
namespace {

// Attachment chunks are Sentry's 1 MiB plus msgpack framing, above
// librdkafka's (and Kafka's) default message size of about 1 MB; Sentry's
// own deployments raise the broker's limit the same way (docs/kafka.md).
constexpr std::string_view kDefaultMessageMaxBytes = "10485760";

kafka::ProducerConfig ProducerConfigFrom(const config::KafkaConfig& k) {
  kafka::ProducerConfig p;
  p.bootstrap_servers = k.bootstrap_servers;
  p.compression = k.producer.compression;
  p.linger_ms = static_cast<int>(k.producer.linger_ms);
  p.batch_size_bytes = static_cast<int>(
      std::min<uint64_t>(k.producer.batch_size, 2'000'000'000));
  p.queue_high_watermark =
      static_cast<int64_t>(k.producer.queue_high_watermark);
  p.queue_low_watermark = static_cast<int64_t>(k.producer.queue_low_watermark);
  p.properties.emplace("message.max.bytes",
                       std::string(kDefaultMessageMaxBytes));
  for (const auto& [name, value] : k.producer.extra) {
    p.properties[name] = value;
  }
  // Shutdown() flushes within timeouts.shutdown; the destructor's own wait
  // only covers a relay destroyed without Shutdown(), so keep it short.
  p.close_timeout = absl::Milliseconds(500);
  p.log = [](kafka::LogSeverity severity, std::string_view line) {
    switch (severity) {
      case kafka::LogSeverity::kInfo:
        spdlog::info("kafka: {}", line);
        break;
      case kafka::LogSeverity::kWarning:
        spdlog::warn("kafka: {}", line);
        break;
      case kafka::LogSeverity::kError:
        spdlog::error("kafka: {}", line);
        break;
    }
  };
  return p;
}

pipeline::PipelineOptions PipelineOptionsFrom(const config::RelayConfig& c) {
  pipeline::PipelineOptions o;
  o.limits.max_event_size = c.limits.max_event_size;
  o.limits.max_envelope_size = c.limits.max_envelope_size;
  o.limits.max_attachment_size = c.limits.max_attachment_size;
  o.limits.max_items_per_envelope = c.limits.max_items_per_envelope;
  o.topics.events = c.kafka.topics.events;
  o.topics.attachments = c.kafka.topics.attachments;
  o.topics.transactions = c.kafka.topics.transactions;
  o.topics.sessions = c.kafka.topics.sessions;
  o.topics.outcomes = c.kafka.topics.outcomes;
  o.topics.other = c.kafka.topics.other;
  o.forward_unknown_items = c.unknown_items == config::UnknownItems::kForward;
  o.retry_after = kRetryAfter;
  o.outcome_flush_interval = c.outcomes.flush_interval;
  return o;
}

spool::SpoolOptions SpoolOptionsFrom(const config::SpoolConfig& c) {
  spool::SpoolOptions o;
  o.dir = c.dir;
  o.max_bytes = c.max_bytes;
  o.min_free_bytes = c.min_free_bytes;
  o.segment_bytes = c.segment_bytes;
  o.fsync_interval = c.fsync_interval;
  switch (c.fsync) {
    case config::SpoolFsync::kNever:
      o.fsync = spool::FsyncMode::kNever;
      break;
    case config::SpoolFsync::kInterval:
      o.fsync = spool::FsyncMode::kInterval;
      break;
    case config::SpoolFsync::kAlways:
      o.fsync = spool::FsyncMode::kAlways;
      break;
  }
  return o;
}

// How often each worker checks whether its open segment should be sealed.
constexpr uint64_t kSpoolTickMs = 250;

net::HttpServerOptions HttpOptionsFrom(const config::RelayConfig& c) {
  net::HttpServerOptions o;
  o.max_header_bytes = c.limits.max_header_bytes;
  o.max_header_count = c.limits.max_headers;
  o.default_max_body_bytes = c.limits.max_event_size;
  o.header_timeout_ms = absl::ToInt64Milliseconds(c.timeouts.header_read);
  o.idle_timeout_ms = absl::ToInt64Milliseconds(c.timeouts.idle);
  o.max_connections = c.limits.max_connections_per_worker;
  return o;
}

}  // namespace

Relay::Relay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Relay::~Relay() { impl_->StopAll(); }

absl::StatusOr<std::unique_ptr<Relay>> Relay::Create(
    config::RelayConfig config) {
  auto impl = std::make_unique<Impl>();
  Impl& r = *impl;
  r.config = std::move(config);
  const config::RelayConfig& c = r.config;

  // Background threads run this much below the workers (background_nice).
  // Computed once here, on the thread that creates the relay: each thread
  // then sets this absolute value (capped at 19 by the call), however deep
  // its creator's chain.
  const int background_nice =
      ThisThreadNice() + static_cast<int>(c.background_nice);
  auto lower = [background_nice] {
    if (absl::Status s = LowerThisThreadPriorityTo(background_nice); !s.ok()) {
      spdlog::warn("background_nice: {}", std::string(s.message()));
    }
  };

  r.control = std::make_unique<net::Worker>("tern-control");
  // Queued before anything else, so it is the loop's first closure.
  r.control->Post(lower);
  if (c.quotas.redis.has_value()) {
    // Before the first table: its counters are made shared.
    r.leaser = std::make_unique<quota_redis::RedisLeaser>(*c.quotas.redis,
                                                          r.control.get());
    if (absl::Status s = r.leaser->Start(); !s.ok()) return s;
    r.quotas = std::make_unique<quota::QuotaRegistry>(r.leaser.get());
  }
  auto table = r.LoadInitialTable();
  if (!table.ok()) return table.status();

  // The spool first: a directory the relay cannot use stops it before any
  // socket is bound, and its backlog is found before anything is produced.
  kafka::ProducerConfig pc = ProducerConfigFrom(c.kafka);
  pc.on_thread_start = lower;
  if (c.spool.enabled) {
    spool::SpoolOptions so = SpoolOptionsFrom(c.spool);
    so.on_thread_start = lower;
    auto spool = spool::Spool::Open(std::move(so));
    if (!spool.ok()) return spool.status();
    r.spool = std::move(*spool);
    spool::Spool* sp = r.spool.get();
    pc.on_delivery = [sp](kafka::DeliveryTag tag, const absl::Status& s) {
      sp->OnDelivery(tag, s);
    };
  }
  auto producer = kafka::Producer::Create(std::move(pc));
  if (!producer.ok()) return producer.status();
  r.producer = std::move(*producer);
  if (r.spool) r.spool->Start(r.producer.get());

  r.shared.max_event_size = c.limits.max_event_size;
  r.shared.max_envelope_size = c.limits.max_envelope_size;
  r.shared.metrics_enabled = c.metrics.enabled;
  r.shared.fetch_wait = c.timeouts.project_fetch_wait;
  r.shared.retry_after = kRetryAfter;
  r.shared.ready = [&r] { return r.Ready(); };
  r.shared.metrics = [&r] { return RenderMetrics(r); };

  // SO_REUSEPORT would let this relay share a port with one already
  // running; refuse instead.
  if (absl::Status s = net::CheckPortFree("listen", c.listen.http.host,
                                          c.listen.http.port, /*udp=*/false);
      !s.ok()) {
    return s;
  }
  if (c.listen.udp) {
    if (absl::Status s = net::CheckPortFree("udp bind", c.listen.udp->host,
                                            c.listen.udp->port, /*udp=*/true);
        !s.ok()) {
      return s;
    }
  }
  size_t n = c.workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  std::vector<project::Publisher::Target> targets;
  for (size_t i = 0; i < n; ++i) {
    auto w = std::make_unique<WorkerParts>();
    w->worker = std::make_unique<net::Worker>(absl::StrCat("tern-worker-", i));
    if (r.spool) {
      w->spool_writer = r.spool->NewWriter();
      w->pipeline = std::make_unique<pipeline::Pipeline>(PipelineOptionsFrom(c),
                                                         w->spool_writer.get());
      w->spool_timer = std::make_unique<net::Timer>(w->worker.get());
      spool::Writer* writer = w->spool_writer.get();
      w->spool_timer->Start(kSpoolTickMs, kSpoolTickMs,
                            [writer] { writer->Tick(); });
    } else {
      w->pipeline = std::make_unique<pipeline::Pipeline>(PipelineOptionsFrom(c),
                                                         r.producer.get());
    }
    w->slot = std::make_unique<project::TableSlot>(*table);
    w->handler = std::make_unique<server::RelayHandler>(
        w->worker.get(), &r.shared, w->slot.get(), w->pipeline.get(),
        w->spool_writer.get());
    w->http = std::make_unique<net::HttpServer>(
        w->worker.get(), w->handler.get(), HttpOptionsFrom(c));
    // Port 0 (tests): the first worker picks a port and the others bind the
    // same one, so they share it through SO_REUSEPORT.
    const uint16_t http_port = i == 0 ? c.listen.http.port : r.http_port;
    if (absl::Status s = w->http->Listen(c.listen.http.host, http_port);
        !s.ok()) {
      return s;
    }
    if (i == 0) r.http_port = w->http->port();
    if (c.listen.udp) {
      net::UdpOptions uo;
      uo.rcvbuf_bytes =
          static_cast<int>(std::min<uint64_t>(c.udp.recv_buffer, 1u << 30));
      server::RelayHandler* h = w->handler.get();
      w->udp = std::make_unique<net::UdpReceiver>(
          w->worker.get(),
          [h](std::string_view data, const sockaddr* peer) {
            h->OnDatagram(data, peer);
          },
          uo);
      const uint16_t udp_port = i == 0 ? c.listen.udp->port : *r.udp_port;
      if (absl::Status s = w->udp->Bind(c.listen.udp->host, udp_port);
          !s.ok()) {
        return s;
      }
      if (i == 0) {
        r.udp_port = w->udp->port();
        // Linux reports twice the usable size; the kernel silently caps the
        // request at net.core.rmem_max, and a small buffer means kernel
        // drops under bursts that /metrics cannot see.
        const int granted = w->udp->granted_rcvbuf() / 2;
        if (granted < uo.rcvbuf_bytes) {
          spdlog::warn(
              "udp: receive buffer is {} bytes, not the {} asked for; raise "
              "net.core.rmem_max (sysctl) to avoid kernel drops",
              granted, uo.rcvbuf_bytes);
        }
      }
    }
    net::Worker* worker = w->worker.get();
    server::RelayHandler* handler = w->handler.get();
    if (c.outcomes.flush_interval > absl::ZeroDuration()) {
      // Checked a few times per window, so a bucket goes out within a
      // quarter window of its end.
      const uint64_t tick = static_cast<uint64_t>(std::max<int64_t>(
          1, absl::ToInt64Milliseconds(c.outcomes.flush_interval) / 4));
      w->outcome_timer = std::make_unique<net::Timer>(worker);
      w->outcome_timer->Start(tick, tick,
                              [handler] { handler->FlushOutcomes(false); });
    }
    targets.push_back(project::Publisher::Target{
        w->slot.get(), [worker, handler](absl::AnyInvocable<void() &&> fn) {
          worker->Post([fn = std::move(fn), handler]() mutable {
            std::move(fn)();
            handler->OnTableInstalled();
          });
        }});
    r.workers.push_back(std::move(w));
  }
  r.publisher =
      std::make_unique<project::Publisher>(*table, std::move(targets));
  if (absl::Status s = r.StartControlPlane(); !s.ok()) return s;
  if (absl::Status s = r.control->Start(); !s.ok()) return s;
  for (auto& w : r.workers) {
    if (absl::Status s = w->worker->Start(); !s.ok()) return s;
  }
  spdlog::info(
      "tern-relay: http {}:{}, udp {}, {} workers, kafka {}, {} projects, "
      "spool {}",
      c.listen.http.host, r.http_port,
      c.listen.udp ? absl::StrCat(c.listen.udp->host, ":", *r.udp_port)
                   : std::string("off"),
      n, c.kafka.bootstrap_servers, (*table)->project_count(),
      c.spool.enabled
          ? absl::StrCat(c.spool.dir, " (fsync ",
                         ToAbsl(config::SpoolFsyncName(c.spool.fsync)), ")")
          : std::string("off"));
  return std::unique_ptr<Relay>(new Relay(std::move(impl)));
}

uint16_t Relay::http_port() const { return impl_->http_port; }
std::optional<uint16_t> Relay::udp_port() const { return impl_->udp_port; }
void Relay::Reload() { impl_->Reload(); }
bool Relay::Ready() const { return impl_->Ready(); }
std::string Relay::Metrics() const { return RenderMetrics(*impl_); }
absl::Status Relay::Shutdown() { return impl_->Shutdown(); }

bool Relay::Impl::Ready() const {
  if (shutting_down.load(std::memory_order_relaxed) || !producer->Ready()) {
    return false;
  }
  // With a spool, a producer over its high watermark is no reason to leave
  // the load balancer: the spool takes the traffic. A backlog from the last
  // run is replayed before the relay takes new traffic.
  if (spool) return spool->Accepting() && spool->BacklogReplayed();
  return producer->Accepting();
}

absl::Status Relay::Impl::Shutdown() {
  if (shutting_down.exchange(true)) {
    return absl::FailedPreconditionError("shutdown already ran");
  }
  const absl::Time deadline = absl::Now() + config.timeouts.shutdown;
  spdlog::info("tern-relay: shutting down (up to {})",
               absl::FormatDuration(config.timeouts.shutdown));
  for (auto& w : workers) {
    w->http->StopAccepting();
    server::RelayHandler* h = w->handler.get();
    w->worker->Post([h] { h->ReleaseHeld(); });
  }
  auto open = [this] {
    uint64_t n = 0;
    for (auto& w : workers) n += w->http->open_connections();
    return n;
  };
  while (open() > 0 && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const uint64_t left_open = open();
  // The outcomes still summed in buckets go to the sink now (each worker's
  // turn hook commits them), so the flush below covers them too.
  for (auto& w : workers) {
    server::RelayHandler* h = w->handler.get();
    (void)w->worker->RunSync([h] {
      h->FlushOutcomes(true);
      return absl::OkStatus();
    });
  }
  // No worker may produce after this point, so the flush below covers
  // everything that was answered 200. (Each worker's turn hook commits its
  // last turn as the worker stops.)
  StopWorkers();
  if (spool) {
    for (auto& w : workers) w->spool_writer->Seal();
  }
  absl::Status flushed =
      producer->Flush(std::max(deadline - absl::Now(), absl::ZeroDuration()));
  if (spool) {
    // What Kafka did not take in time stays on disk for the next start:
    // not a loss, so not an error.
    absl::Status drained = spool->WaitDrained(
        std::max(deadline - absl::Now(), absl::Milliseconds(200)));
    if (!drained.ok()) {
      spdlog::warn("tern-relay: {}", std::string(drained.message()));
    }
    flushed = absl::OkStatus();
  }
  if (left_open > 0) {
    return absl::DeadlineExceededError(absl::StrCat(
        left_open, " connections still open at the shutdown timeout",
        flushed.ok() ? "" : absl::StrCat("; ", flushed.message())));
  }
  if (!flushed.ok()) return flushed;
  if (spool) {
    const spool::SpoolStats ss = spool->Stats();
    const uint64_t refused =
        ss.dropped[static_cast<int>(spool::SpoolDrop::kRefused)];
    if (refused > 0) {
      return absl::DataLossError(absl::StrCat(
          refused,
          " spooled Kafka messages were refused for good by the cluster "
          "during this run (see tern_spool_dropped_total)"));
    }
    spdlog::info("tern-relay: stopped cleanly");
    return absl::OkStatus();
  }
  // Answered 200 means queued; a message the cluster then refused for good
  // (say MSG_SIZE_TOO_LARGE from a broker with a smaller limit) was lost
  // after the answer. The exit code must say so.
  if (const kafka::ProducerStats stats = producer->Stats(); stats.failed > 0) {
    return absl::DataLossError(
        absl::StrCat(stats.failed,
                     " Kafka messages failed delivery during this run (see "
                     "tern_kafka_delivery_errors_total)"));
  }
  spdlog::info("tern-relay: stopped cleanly");
  return absl::OkStatus();
}

void Relay::Impl::StopWorkers() {
  for (auto& w : workers) w->worker->Stop();
  if (control) control->Stop();
}

void Relay::Impl::StopAll() {
  StopWorkers();
  // Workers are stopped: their handles are closed, so the servers, handlers
  // and timers can go; then the spool's thread, which replays through the
  // producer and must be joined before the producer goes (ASan caught the
  // replayer reading a freed producer); then the producer (its destructor
  // flushes, and reports what it still held to the spool), then the spool.
  workers.clear();
  if (spool) spool->Stop();
  producer.reset();
  spool.reset();
}

}  // namespace tern::relay::app
