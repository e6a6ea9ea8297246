#include "backend/app/backend.h"

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "admin/prometheus.h"
#include "backend/alerts/engine.h"
#include "backend/alerts/rule.h"
#include "backend/alerts/sender.h"
#include "backend/api/api_server.h"
#include "backend/consumer/ingest.h"
#include "backend/ui/ui_handler.h"
#include "net/http_server.h"
#include "spdlog/spdlog.h"

namespace tern::backend::app {
namespace {

constexpr int64_t kDayMs = 24 * 3600 * 1000;

// GET /metrics and /healthz, beside the API on the same listener.
class AdminHandler : public net::HttpHandler {
 public:
  AdminHandler(const std::atomic<const consumer::Ingest*>* ingest,
               const alerts::AlertStats* alert_stats)
      : ingest_(ingest), alert_stats_(alert_stats) {}

  void OnRequest(net::HttpRequest& req,
                 std::unique_ptr<net::HttpResponder> responder) override {
    static constexpr net::HttpHeader kText[] = {
        {"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    static constexpr net::HttpHeader kJson[] = {
        {"Content-Type", "application/json"}};
    if (req.method != "GET" && req.method != "HEAD") {
      static constexpr net::HttpHeader kAllow[] = {
          {"Content-Type", "application/json"}, {"Allow", "GET, HEAD"}};
      responder->Send(405, kAllow, R"({"detail":"method not allowed"})");
      return;
    }
    if (req.path == "/healthz") {
      responder->Send(200, kJson, R"({"status":"ok"})");
      return;
    }
    if (req.path == "/metrics") {
      responder->Send(200, kText, Render());
      return;
    }
    responder->Send(404, kJson, R"({"detail":"not found"})");
  }

 private:
  std::string Render() const {
    admin::PrometheusWriter w;
    const consumer::Ingest* ingest = ingest_->load();
    if (ingest == nullptr) return w.Take();
    const consumer::IngestStats& s = ingest->stats();
    auto counter = [&](std::string_view name, std::string_view help,
                       const std::atomic<int64_t>& value) {
      w.Counter(name, help, static_cast<uint64_t>(value.load()));
    };
    counter("backend_messages", "Kafka messages consumed", s.messages);
    counter("backend_batches", "batches stored", s.batches);
    counter("backend_events_stored", "events stored (transactions included)",
            s.events_stored);
    counter("backend_duplicates", "events already stored, ignored",
            s.duplicates);
    counter("backend_issues_created", "issues opened", s.issues_created);
    counter("backend_regressions", "resolved issues reopened", s.regressions);
    counter("backend_store_retries", "store or dead-letter retries",
            s.store_retries);
    counter("backend_commit_errors", "Kafka offset commits that failed",
            s.commit_errors);
    counter("backend_attachments_incomplete",
            "attachments dropped because chunks were missing",
            s.attachments_incomplete);
    w.Family("backend_dead_letters", "messages sent to the dead-letter topic",
             admin::PrometheusWriter::Type::kCounter);
    for (size_t i = 0; i < s.dead_letters.size(); ++i) {
      w.Sample({{"reason", consumer::DeadLetterReasonName(
                               static_cast<consumer::DeadLetterReason>(i))}},
               static_cast<double>(s.dead_letters[i].load()));
    }
    if (const symbolicate::SymbolicatorStats* sym =
            ingest->symbolicator_stats()) {
      counter("backend_symbolicated_events",
              "JavaScript events whose frames were symbolicated or got an "
              "error entry",
              sym->events);
      counter("backend_symbolicated_frames", "frames mapped to their source",
              sym->frames_mapped);
      counter("backend_symbolication_errors",
              "frames left minified with an errors entry (no map, bad map, "
              "position not mapped)",
              sym->frames_failed);
      counter("backend_symbolication_lookup_failures",
              "artifact lookups the store failed", sym->lookup_failures);
      counter("backend_sourcemap_cache_hits", "parsed map cache hits",
              sym->cache_hits);
      counter("backend_sourcemap_cache_misses", "parsed map cache misses",
              sym->cache_misses);
      counter("backend_sourcemap_cache_evictions",
              "parsed maps evicted by the memory bound", sym->cache_evictions);
      w.Gauge("backend_sourcemap_cache_bytes",
              "memory held by the parsed map cache",
              static_cast<double>(sym->cache_bytes.load()));
    }
    RenderAlerts(w);
    return w.Take();
  }

  void RenderAlerts(admin::PrometheusWriter& w) const {
    const alerts::AlertStats& a = *alert_stats_;
    auto per_kind = [&](std::string_view name, std::string_view help,
                        const alerts::AlertStats::PerKind& values) {
      w.Family(name, help, admin::PrometheusWriter::Type::kCounter);
      for (size_t i = 0; i < values.size(); ++i) {
        w.Sample({{"target",
                   alerts::TargetKindName(static_cast<alerts::TargetKind>(i))}},
                 static_cast<double>(values[i].load()));
      }
    };
    per_kind("backend_alerts_queued",
             "notifications queued in the outbox, by target kind", a.queued);
    per_kind("backend_alerts_sent", "notifications delivered, by target kind",
             a.sent);
    per_kind("backend_alerts_failed",
             "notifications given up on (max_attempts or a permanent error)",
             a.failed);
    per_kind("backend_alerts_retried",
             "delivery attempts that failed and were rescheduled", a.retried);
    w.Counter("backend_alerts_suppressed",
              "notifications held back by the project's hourly cap",
              static_cast<uint64_t>(a.suppressed.load()));
    w.Family("backend_alerts_outbox_depth",
             "notifications pending or being sent",
             admin::PrometheusWriter::Type::kGauge);
    w.Sample({}, static_cast<double>(a.outbox_depth.load()));
    w.Family("backend_alerts_outbox_oldest_age_seconds",
             "age of the oldest notification not yet sent",
             admin::PrometheusWriter::Type::kGauge);
    w.Sample({}, static_cast<double>(a.outbox_oldest_age_ms.load()) / 1000.0);
  }

  const std::atomic<const consumer::Ingest*>* ingest_;
  const alerts::AlertStats* alert_stats_;
};

// Paths outside /api/0/: /metrics and /healthz to the admin handler, every
// other one to the web UI.
class ExtraRouter : public net::HttpHandler {
 public:
  ExtraRouter(net::HttpHandler* admin, net::HttpHandler* ui)
      : admin_(admin), ui_(ui) {}

  net::HeadVerdict OnHeaders(const net::HttpRequest& head,
                             size_t default_max_body_bytes) override {
    return For(head).OnHeaders(head, default_max_body_bytes);
  }
  void OnRequest(net::HttpRequest& req,
                 std::unique_ptr<net::HttpResponder> responder) override {
    For(req).OnRequest(req, std::move(responder));
  }

 private:
  net::HttpHandler& For(const net::HttpRequest& req) {
    return req.path == "/metrics" || req.path == "/healthz" ? *admin_ : *ui_;
  }

  net::HttpHandler* admin_;
  net::HttpHandler* ui_;
};

// SQLite creates its file but not the directory; a fresh checkout has no
// var/ yet.
absl::Status MakeSqliteDirectory(const std::string& dsn) {
  if (!absl::StartsWith(dsn, "sqlite:")) return absl::OkStatus();
  const std::filesystem::path path(dsn.substr(7));
  if (!path.has_parent_path()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("store: cannot create ",
                                               path.parent_path().string(),
                                               ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::pair<int64_t, int64_t>> RunCleanup(storage::Store* store,
                                                       uint64_t days,
                                                       uint64_t batch) {
  const int64_t cutoff =
      absl::ToUnixMillis(absl::Now()) - static_cast<int64_t>(days) * kDayMs;
  const int limit = static_cast<int>(batch);
  int64_t events = 0;
  int64_t issues = 0;
  for (;;) {
    absl::StatusOr<int64_t> n = store->DeleteEventsBefore(cutoff, limit);
    if (!n.ok()) return n.status();
    events += *n;
    if (*n == 0) break;
  }
  for (;;) {
    absl::StatusOr<int64_t> n = store->DeleteEmptyIssues(limit);
    if (!n.ok()) return n.status();
    issues += *n;
    if (*n == 0) break;
  }
  // Notifications that are done age out with the events that caused them.
  for (;;) {
    absl::StatusOr<int64_t> n = store->DeleteOutboxBefore(cutoff, limit);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
  }
  // Uploaded bundles, release files and stray chunks too: a map is kept as
  // long as the events it could symbolicate (docs/sourcemaps.md).
  for (;;) {
    absl::StatusOr<int64_t> n = store->DeleteArtifactsBefore(cutoff, limit);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
  }
  return std::make_pair(events, issues);
}

struct Backend::Impl {
  config::BackendConfig config;
  std::unique_ptr<storage::Store> store;
  // Set once ingest runs, read by the admin handler on the server's thread.
  std::atomic<const consumer::Ingest*> ingest_view{nullptr};
  alerts::AlertStats alert_stats;
  AdminHandler admin{&ingest_view, &alert_stats};
  // Declared before the store's use of it ends: Stop() clears the store's
  // planner before the store goes.
  std::unique_ptr<alerts::Engine> alert_engine;
  std::unique_ptr<alerts::Sender> sender;
  std::unique_ptr<ui::UiHandler> ui;
  std::unique_ptr<ExtraRouter> extra;
  std::unique_ptr<api::ApiServer> server;
  std::unique_ptr<consumer::Ingest> ingest;

  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::thread cleanup;

  void CleanupLoop() {
    const auto interval = absl::ToChronoMilliseconds(config.retention.interval);
    std::unique_lock<std::mutex> lock(mu);
    while (!wake.wait_for(lock, interval, [this] { return stopping; })) {
      lock.unlock();
      absl::StatusOr<std::pair<int64_t, int64_t>> done = RunCleanup(
          store.get(), config.retention.days, config.retention.batch);
      if (done.ok()) {
        spdlog::info("cleanup: {} event(s) and {} issue(s) deleted",
                     done->first, done->second);
      } else {
        spdlog::error("cleanup: {}", std::string(done.status().message()));
      }
      lock.lock();
    }
  }
};

Backend::Backend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Backend::~Backend() { Stop(); }

uint16_t Backend::http_port() const { return impl_->server->port(); }

absl::StatusOr<std::unique_ptr<Backend>> Backend::Start(
    const config::BackendConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  if (absl::Status s = MakeSqliteDirectory(config.store.dsn); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::OpenStore(config.store.dsn);
  if (!store.ok()) return store.status();
  impl->store = *std::move(store);
  if (config.alerts.enabled) {
    alerts::EngineOptions engine;
    engine.default_cooldown = config.alerts.cooldown;
    engine.default_min_level = alerts::LevelRank(config.alerts.min_level);
    engine.project_hourly_cap =
        static_cast<int64_t>(config.alerts.project_hourly_cap);
    impl->alert_engine =
        std::make_unique<alerts::Engine>(std::move(engine), &impl->alert_stats);
    impl->store->SetAlertPlanner(impl->alert_engine.get());
  }

  ui::UiOptions ui_options;
  ui_options.api_token = config.auth.api_token;
  ui_options.dev_mode = config.ui.dev_mode;
  ui_options.browser_sdk_dir = config.ui.browser_sdk_dir;
  ui_options.browser_test_dsn = config.ui.browser_test_dsn;
  impl->ui =
      std::make_unique<ui::UiHandler>(impl->store.get(), std::move(ui_options));
  impl->extra = std::make_unique<ExtraRouter>(&impl->admin, impl->ui.get());
  if (config.ui.dev_mode) {
    spdlog::warn(
        "ui.dev_mode is on: the web UI is open without login from this "
        "machine");
  }

  api::ApiOptions options;
  options.host = config.listen.http.host;
  options.port = config.listen.http.port;
  options.api_token = config.auth.api_token;
  options.relay_token = config.auth.relay_token;
  options.sourcemaps = config.sourcemaps;
  absl::StatusOr<std::unique_ptr<api::ApiServer>> server =
      api::ApiServer::Start(options, impl->store.get(), impl->extra.get());
  if (!server.ok()) return server.status();
  impl->server = *std::move(server);

  absl::StatusOr<std::unique_ptr<consumer::Ingest>> ingest =
      consumer::Ingest::Start(config, impl->store.get());
  if (!ingest.ok()) {
    impl->server->Stop();
    return ingest.status();
  }
  impl->ingest = *std::move(ingest);
  if (config.alerts.enabled) {
    absl::StatusOr<std::unique_ptr<alerts::Sender>> sender =
        alerts::Sender::Start(config, impl->store.get(), &impl->alert_stats);
    if (!sender.ok()) {
      impl->ingest->Stop();
      impl->server->Stop();
      return sender.status();
    }
    impl->sender = *std::move(sender);
  }
  // Published to the admin handler, which runs on the server's thread; the
  // pointer is set once here and cleared after the server stopped.
  impl->ingest_view.store(impl->ingest.get());

  if (config.retention.days > 0 &&
      config.retention.interval > absl::ZeroDuration()) {
    Impl* raw = impl.get();
    impl->cleanup = std::thread([raw] { raw->CleanupLoop(); });
  }
  return std::unique_ptr<Backend>(new Backend(std::move(impl)));
}

void Backend::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->cleanup.joinable()) impl_->cleanup.join();
  if (impl_->sender != nullptr) impl_->sender->Stop();
  if (impl_->ingest != nullptr) impl_->ingest->Stop();
  if (impl_->server != nullptr) impl_->server->Stop();
  impl_->ingest_view.store(nullptr);
  impl_->ingest.reset();
  impl_->sender.reset();
  if (impl_->store != nullptr) impl_->store->SetAlertPlanner(nullptr);
  impl_->store.reset();
}

}  // namespace tern::backend::app
