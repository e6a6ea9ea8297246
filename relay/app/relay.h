// The whole relay as one object: what `tern-relay run` starts, and what
// in-process tests start with a config of their own.
//
// Relay::Create wires the stages in the order a request meets them: the
// project table (relay/upstream), one shared Kafka producer (relay/kafka),
// then N workers (net/), each with its own SO_REUSEPORT HTTP listener and UDP
// socket, its own Pipeline (relay/pipeline) and its own table slot
// (relay/project), and a control worker for reloads, upstream fetches and
// timers. All sockets are bound before Create returns, so a bad or busy
// address fails at once with a message naming it.
//
// Signals are not handled here (main.cc owns them): the owner calls Reload()
// on SIGHUP and Shutdown() on SIGTERM/SIGINT.
#ifndef TERN_RELAY_APP_RELAY_H_
#define TERN_RELAY_APP_RELAY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/relay_config.h"

namespace tern::relay::app {

class Relay {
 public:
  // Builds and starts everything described by `config` (already validated by
  // config::ParseRelayConfig). Errors: the projects file's (file:line),
  // Unavailable for an address that cannot be bound ("listen
  // 127.0.0.1:3000: address already in use"), the producer's for bad Kafka
  // settings. Kafka being unreachable is not an error here: the relay starts
  // and reports not-ready until the producer sees a broker.
  static absl::StatusOr<std::unique_ptr<Relay>> Create(
      config::RelayConfig config);

  // Stops whatever is still running (without the graceful wait when
  // Shutdown() was not called).
  ~Relay();

  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // The bound ports (useful when the config asked for port 0).
  uint16_t http_port() const;
  std::optional<uint16_t> udp_port() const;

  // Re-reads the projects file (SIGHUP). Returns at once; the new table
  // reaches the workers within one loop iteration each, or the old one stays
  // when the file is refused (logged with file:line, counted in /metrics).
  void Reload();

  // What GET /api/relay/healthcheck/ready/ answers: the project table is
  // loaded, the producer sees a broker and is accepting, and no shutdown has
  // begun.
  bool Ready() const;

  // Graceful stop: readiness turns false, listeners stop accepting, requests
  // in flight finish (their responses carry Connection: close), then the
  // producer is flushed; all within config.timeouts.shutdown. OK when
  // everything answered 200 was delivered; DeadlineExceeded (with counts)
  // when the timeout cut it short; DataLoss when a message failed delivery
  // for good at any time during the run. Call once, from any thread but a
  // worker's.
  absl::Status Shutdown();

  // The /metrics page (Prometheus text format 0.0.4).
  std::string Metrics() const;

  class Impl;

 private:
  explicit Relay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::relay::app

#endif  // TERN_RELAY_APP_RELAY_H_
