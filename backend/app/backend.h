// `tern-backend run`: the store, the ingest loop, the HTTP server and the
// retention schedule, started and stopped in the right order.
//
// Start order: open the store (migrations run there), start the HTTP server
// (so a bad listen address fails before anything consumes), start ingest,
// start the cleanup thread. Stop order is the reverse. Besides the API, the
// HTTP server answers GET /metrics (Prometheus text: ingest counters,
// dead letters by reason) and GET /healthz, and hands every other path
// outside /api/0/ to the web UI (backend/ui/ui_handler.h).
#ifndef TERN_BACKEND_APP_BACKEND_H_
#define TERN_BACKEND_APP_BACKEND_H_

#include <cstdint>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "backend/storage/store.h"
#include "config/backend_config.h"

namespace tern::backend::app {

class Backend {
 public:
  // Starts everything; on error nothing is left running. Errors name the
  // part that failed (store DSN, listen address, Kafka property).
  static absl::StatusOr<std::unique_ptr<Backend>> Start(
      const config::BackendConfig& config);
  ~Backend();  // Stop()s
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // The HTTP port actually bound (config port 0 picks one).
  uint16_t http_port() const;

  // Stops cleanup, ingest (the batch in hand is finished or left for replay)
  // and the HTTP server, then closes the store. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit Backend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Deletes events received more than `days` days ago, then issues with no
// event left, then finished notifications (sent, failed, suppressed) created
// before the same cutoff, `batch` rows per statement. Returns {events,
// issues} deleted.
absl::StatusOr<std::pair<int64_t, int64_t>> RunCleanup(storage::Store* store,
                                                       uint64_t days,
                                                       uint64_t batch);

}  // namespace tern::backend::app

#endif  // TERN_BACKEND_APP_BACKEND_H_
