// The pieces a Relay is made of, for relay.cc (wiring and life cycle),
// control.cc (project table sources) and metrics.cc (/metrics), which all
// read them. Internal to relay/app.
#ifndef TERN_RELAY_APP_PARTS_H_
#define TERN_RELAY_APP_PARTS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/relay_config.h"
#include "net/http_server.h"
#include "net/timer.h"
#include "net/udp_receiver.h"
#include "net/worker.h"
#include "relay/app/relay.h"
#include "relay/kafka/producer.h"
#include "relay/pipeline/pipeline.h"
#include "relay/project/project_table.h"
#include "relay/project/table_slot.h"
#include "relay/quota/quota.h"
#include "relay/quota_redis/leaser.h"
#include "relay/server/handler.h"
#include "relay/spool/spool.h"

namespace tern::relay::app {

// Sent with every 503 (backpressure, project config still pending). SDKs stop
// sending for this long; short enough that a brief Kafka hiccup does not
// silence them for minutes.
inline constexpr absl::Duration kRetryAfter = absl::Seconds(10);

// Everything one worker thread owns. Members are destroyed in reverse order:
// the worker must have been stopped before (its handles live in the server,
// receiver and handler).
struct WorkerParts {
  std::unique_ptr<net::Worker> worker;
  // The worker's spool writer (null with spool.enabled: false) and the timer
  // that seals its segments by age.
  std::unique_ptr<spool::Writer> spool_writer;
  std::unique_ptr<net::Timer> spool_timer;
  std::unique_ptr<pipeline::Pipeline> pipeline;
  std::unique_ptr<project::TableSlot> slot;
  std::unique_ptr<server::RelayHandler> handler;
  std::unique_ptr<net::HttpServer> http;
  std::unique_ptr<net::UdpReceiver> udp;
  // Flushes the pipeline's outcome buckets (outcomes.flush_interval > 0).
  std::unique_ptr<net::Timer> outcome_timer;
};

class ControlPlane;

class Relay::Impl {
 public:
  // Both in control.cc, where ControlPlane is complete.
  Impl();
  ~Impl();

  // The first table, before any worker exists (control.cc).
  absl::StatusOr<std::shared_ptr<const project::ProjectTable>>
  LoadInitialTable();
  // Starts reload and upstream machinery on `control` (control.cc). Called
  // before the control worker starts.
  absl::Status StartControlPlane();
  void Reload();
  // The control plane's counters (reloads, upstream fetches), for /metrics.
  void ForEachControlCounter(
      absl::FunctionRef<void(std::string_view name, std::string_view help,
                             uint64_t value)>
          f) const;

  bool Ready() const;
  absl::Status Shutdown();
  void StopWorkers();
  void StopAll();

  config::RelayConfig config;
  // Leases shared quotas from Redis (quotas.redis; null without). Declared
  // before the registry, whose counters point at it.
  std::unique_ptr<quota_redis::RedisLeaser> leaser;
  // Quota counters shared by every project table the relay builds.
  std::unique_ptr<quota::QuotaRegistry> quotas =
      std::make_unique<quota::QuotaRegistry>();
  // Declared before the producer so that it is destroyed after it: the
  // producer's destructor reports what it still held to the spool.
  std::unique_ptr<spool::Spool> spool;
  std::unique_ptr<kafka::Producer> producer;
  server::ServerShared shared;
  std::unique_ptr<net::Worker> control;
  std::unique_ptr<project::Publisher> publisher;
  std::unique_ptr<ControlPlane> control_plane;
  std::vector<std::unique_ptr<WorkerParts>> workers;
  uint16_t http_port = 0;
  std::optional<uint16_t> udp_port;
  std::atomic<bool> shutting_down{false};
};

}  // namespace tern::relay::app

#endif  // TERN_RELAY_APP_PARTS_H_
