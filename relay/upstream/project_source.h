// The control plane of the relay's project table: where new tables come from.
//
// Two sources feed the table (config::ProjectsSourceConfig): the projects
// file, re-read on SIGHUP (Reload) and when it changes on disk
// (net::FileWatcher), and the upstream's `POST /api/0/relays/projectconfigs/`
// (protocol/project_config.h), asked in batches for the keys the workers met
// and did not find. ProjectSource keeps the upstream cache and the last good
// file, and after every change builds one merged ProjectTable (the file wins
// on a conflict, see relay/project/project_table.h) and hands it to the
// Publisher, which swaps it into every worker's TableSlot.
//
// Threading: everything here runs on one dedicated control worker (timers,
// HTTP client, fs events, table builds), so the state needs no lock of its
// own and no worker thread ever blocks on it. Other threads only post to the
// control worker (Reload, Want); the one mutex on the way is Worker::Post's.
//
// Upstream cache, per public key (Relay's model):
//   - a config       -> served for `ttl`; after that it is re-fetched in the
//                       background while still served, and dropped once it is
//                       `ttl + stale_grace` old (the key is pending again);
//   - null (unknown) -> remembered for `negative_ttl` (403 meanwhile), then
//                       forgotten (the next request makes it pending again);
//   - pending        -> asked again on the next batch;
//   - fetch failure  -> counted, logged at most every 10 s, keys stay wanted,
//                       retried with exponential backoff (1, 3, 7, ... up to
//                       63 batch intervals).
// docs/config.md ("Project sources") states the same for operators.
#ifndef TERN_RELAY_UPSTREAM_PROJECT_SOURCE_H_
#define TERN_RELAY_UPSTREAM_PROJECT_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/projects.h"
#include "config/relay_config.h"
#include "net/counter.h"
#include "net/file_watcher.h"
#include "net/http_client.h"
#include "net/timer.h"
#include "net/worker.h"
#include "protocol/project_config.h"
#include "relay/project/project_table.h"
#include "relay/project/table_slot.h"

namespace tern::relay::upstream {

// Builds the first table, synchronously, before any worker starts: the
// projects file parsed and validated if `cfg.file` is set, an empty table if
// only an upstream is configured; upstream_enabled() is set when
// `cfg.upstream.url` is. Generation 1. Errors are the file's
// (config::LoadProjectsFile: "path:line:column: key.path: reason", NotFound
// for a missing file, ...); the relay then refuses to start.
// `quotas` (may be null: no quota enforcement) compiles every key's quotas
// with counters shared across tables.
absl::StatusOr<std::shared_ptr<const project::ProjectTable>> LoadInitialTable(
    const config::ProjectsSourceConfig& cfg,
    quota::QuotaRegistry* quotas = nullptr);

// The module's counters, one list: name, help. Feeds /metrics.
#define TERN_UPSTREAM_COUNTERS(X)                                            \
  X(reloads, "projects file reloads that were accepted")                     \
  X(reload_errors, "projects file reloads refused (the old table stays)")    \
  X(fetch_requests, "projectconfigs requests sent upstream")                 \
  X(fetch_errors,                                                            \
    "projectconfigs requests failed: transport, HTTP status or body")        \
  X(keys_fetched, "keys the upstream answered with a project config")        \
  X(keys_unknown, "keys the upstream answered unknown (null)")               \
  X(keys_pending, "keys the upstream answered pending (asked again)")        \
  X(keys_refreshed, "cached configs re-fetched after ttl")                   \
  X(keys_expired,                                                            \
    "configs dropped after ttl + stale_grace, unknowns after "               \
    "negative_ttl")                                                          \
  X(wants_dropped, "keys not queued: not a valid public key, or queue full") \
  X(tables_published, "merged tables published to the workers")

struct Counters {
#define TERN_UPSTREAM_DECLARE_COUNTER(name, help) net::Counter name;
  TERN_UPSTREAM_COUNTERS(TERN_UPSTREAM_DECLARE_COUNTER)
#undef TERN_UPSTREAM_DECLARE_COUNTER
};

// Calls f(name, help, value) for each counter, in list order; for /metrics.
template <typename F>
void ForEachCounter(const Counters& c, F&& f) {
#define TERN_UPSTREAM_VISIT_COUNTER(name, help) f(#name, help, c.name.value());
  TERN_UPSTREAM_COUNTERS(TERN_UPSTREAM_VISIT_COUNTER)
#undef TERN_UPSTREAM_VISIT_COUNTER
}

// Limits that are not in the config file; tests shrink them.
struct ProjectSourceOptions {
  // Where tables get their quota counters; null: tables without quotas.
  // Must outlive the ProjectSource and every table it builds.
  quota::QuotaRegistry* quotas = nullptr;
  // Keys per projectconfigs request (Relay sends at most 100 too).
  size_t max_batch_keys = 100;
  // Requests in flight per batch round; keys beyond wait for the next one.
  size_t max_requests_per_round = 8;
  // Keys queued or in flight at once; Want() beyond it is counted and
  // dropped (the request stays pending and wants again on its next try), so
  // a flood of random keys cannot grow the queue without bound.
  size_t max_wanted_keys = 10'000;
  // Longest public key Want() accepts (Sentry's are 32 characters).
  size_t max_key_length = 128;
  // One projectconfigs call: connect, send, read.
  uint64_t request_timeout_ms = 5'000;
};

class ProjectSource {
 public:
  // Time source for ttl decisions; absl::Now in production, a fake in tests
  // (the batch timer still ticks in real time every batch_interval, and each
  // tick reads this clock).
  using Clock = absl::AnyInvocable<absl::Time()>;

  // `control`: a worker dedicated to control work; it must outlive this
  // object, and this object must be destroyed only after control->Stop()
  // returned (its timer, watcher and HTTP client handles live here).
  // `publisher` (not owned, outlives this) was built with the table from
  // LoadInitialTable(cfg); every table built here gets the publisher's
  // current generation + 1. `clock` defaults to absl::Now.
  ProjectSource(net::Worker* control, config::ProjectsSourceConfig cfg,
                project::Publisher* publisher, Clock clock = nullptr,
                ProjectSourceOptions options = {});
  ~ProjectSource();
  ProjectSource(const ProjectSource&) = delete;
  ProjectSource& operator=(const ProjectSource&) = delete;

  // Arms the sources, on the control worker (before or after its Start();
  // waits for the result): reads the projects file again and watches it (if
  // configured), and starts the upstream batch timer (if a url is set), then
  // publishes the merged table once. Call once, from any thread but the
  // control worker's. Errors: the file's (as LoadInitialTable), the
  // watcher's ("watch DIR: ..."), Unimplemented for an https upstream (the
  // HTTP client speaks plain HTTP only), InvalidArgument for a url
  // config::ParseRelayConfig would not have accepted.
  absl::Status Start();

  // Re-reads the projects file on the control worker (SIGHUP; any thread,
  // returns at once). An accepted file is merged with the upstream cache and
  // published; a refused one (syntax, schema, or a table it cannot build) is
  // logged (spdlog warn, "path:line:column: ..."), counted in reload_errors
  // and remembered in last_reload_status(), and the old table stays. Nothing
  // happens when no file is configured.
  void Reload();

  // Queues `public_key` for the next upstream batch; any thread, returns at
  // once (posts to the control worker, or applies directly when called on
  // it). Workers call it when CheckKey said "project config pending".
  // Duplicates, keys already cached or in flight, and calls without an
  // upstream are ignored; invalid keys and keys over max_wanted_keys are
  // counted (wants_dropped) and ignored.
  void Want(std::string_view public_key);

  // Readable from any thread (relaxed atomics).
  const Counters& counters() const { return counters_; }

  // The outcome of the last Reload() or file change (OK before the first).
  // Control worker thread only (tests and admin code use Worker::RunSync).
  const absl::Status& last_reload_status() const { return last_reload_; }

 private:
  struct CacheEntry {
    // nullopt: the upstream said it does not know the key.
    std::optional<protocol::ProjectConfig> config;
    absl::Time fetched_at;
  };

  absl::Status StartOnControl();
  void ReloadOnControl();
  void WantOnControl(std::string_view public_key);
  void Tick();
  // Expires and schedules refreshes; true when the table must change.
  bool Sweep(absl::Time now);
  void SendRound();
  void OnResponse(std::vector<std::string> keys,
                  absl::StatusOr<net::HttpClientResponse> response);
  void FetchFailed(std::vector<std::string>& keys, std::string_view why);
  void PublishMerged();

  net::Worker* control_;
  const config::ProjectsSourceConfig cfg_;
  project::Publisher* publisher_;
  Clock clock_;
  const ProjectSourceOptions options_;
  Counters counters_;

  // Control worker only from here on.
  bool started_ = false;
  config::ProjectsFile file_;
  absl::Status last_reload_;
  // Parsed from cfg_.upstream.url in Start(); empty host: no upstream.
  std::string upstream_host_;
  uint16_t upstream_port_ = 80;
  std::string upstream_path_;
  absl::flat_hash_map<std::string, CacheEntry> cache_;
  // Keys to send on the next round, and keys in a request now.
  absl::flat_hash_set<std::string> wanted_;
  absl::flat_hash_set<std::string> in_flight_;
  size_t requests_in_flight_ = 0;
  // Whether the current round changed the cache, or had a failure.
  bool round_changed_ = false;
  bool round_failed_ = false;
  // Consecutive failed rounds, and ticks to skip before the next try.
  int failed_rounds_ = 0;
  int backoff_ticks_ = 0;
  // Fetch-error log throttling.
  std::optional<absl::Time> last_error_log_;
  uint64_t errors_since_log_ = 0;

  std::unique_ptr<net::FileWatcher> watcher_;
  net::Timer batch_timer_;
  net::HttpClient http_;
};

}  // namespace tern::relay::upstream

#endif  // TERN_RELAY_UPSTREAM_PROJECT_SOURCE_H_
