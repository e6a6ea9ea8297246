#include "relay/upstream/project_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "protocol/dsn.h"

namespace tern::relay::upstream {
namespace {

constexpr std::string_view kEndpoint = "/api/0/relays/projectconfigs/";
// Backoff after consecutive failed rounds: skip 2^n - 1 ticks, at most this.
constexpr int kMaxBackoffTicks = 63;
constexpr absl::Duration kErrorLogEvery = absl::Seconds(10);

std::string_view SV(absl::string_view s) { return {s.data(), s.size()}; }

uint64_t ToMillis(absl::Duration d) {
  return static_cast<uint64_t>(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

// Splits "http://host[:port][/prefix]" (already checked by config) into the
// HTTP client's parts.
absl::Status ParseUpstreamUrl(std::string_view url, std::string* host,
                              uint16_t* port, std::string* prefix) {
  absl::string_view rest = ToAbsl(url);
  if (absl::StartsWith(rest, "https://")) {
    return absl::UnimplementedError(absl::StrCat(
        "projects.upstream.url: https is not supported yet (the relay's HTTP "
        "client speaks plain HTTP): \"",
        rest, "\""));
  }
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "projects.upstream.url: expected http://host[:port], got \"",
        ToAbsl(url), "\""));
  }
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path =
      slash == absl::string_view::npos ? "" : rest.substr(slash);
  while (absl::ConsumeSuffix(&path, "/")) {
  }
  *port = 80;
  absl::string_view h = authority;
  if (absl::ConsumePrefix(&h, "[")) {
    // [v6]:port
    const size_t close = h.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("projects.upstream.url: bad IPv6 host");
    }
    absl::string_view after = h.substr(close + 1);
    h = h.substr(0, close);
    if (absl::ConsumePrefix(&after, ":")) {
      uint32_t p = 0;
      if (!absl::SimpleAtoi(after, &p) || p == 0 || p > 65535) {
        return absl::InvalidArgumentError("projects.upstream.url: bad port");
      }
      *port = static_cast<uint16_t>(p);
    }
  } else if (const size_t colon = h.rfind(':');
             colon != absl::string_view::npos) {
    uint32_t p = 0;
    if (!absl::SimpleAtoi(h.substr(colon + 1), &p) || p == 0 || p > 65535) {
      return absl::InvalidArgumentError("projects.upstream.url: bad port");
    }
    *port = static_cast<uint16_t>(p);
    h = h.substr(0, colon);
  }
  if (h.empty()) {
    return absl::InvalidArgumentError("projects.upstream.url: empty host");
  }
  *host = std::string(h);
  *prefix = absl::StrCat(path, ToAbsl(kEndpoint));
  return absl::OkStatus();
}

// A fetched project as the table wants it: the project's settings from
// `config`, and no keys yet (the caller adds the keys it fetched). Upstream
// origins go through the same grammar as the file's in ProjectTable::Build;
// they are lowercased here as the file's are by config. Quotas become the
// project's quotas, compiled for every key like a file project's
// (quota::CompileKeyQuotas); protocol/project_config already checked them
// by the file's rules, so the build cannot fail on them.
config::Project ToProject(const protocol::ProjectConfig& config) {
  config::Project p;
  p.id = config.project_id;
  p.slug = config.slug;
  p.allowed_origins.clear();
  for (const std::string& d : config.allowed_domains) {
    p.allowed_origins.push_back(absl::AsciiStrToLower(d));
  }
  p.quotas = config.quotas;  // one schema (config::Quota is protocol's)
  return p;
}

absl::Status WithPath(const absl::Status& s, std::string_view path) {
  return absl::Status(s.code(), absl::StrCat(ToAbsl(path), ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const project::ProjectTable>> LoadInitialTable(
    const config::ProjectsSourceConfig& cfg, quota::QuotaRegistry* quotas) {
  config::ProjectsFile file;
  if (!cfg.file.empty()) {
    TERN_ASSIGN_OR_RETURN(file, config::LoadProjectsFile(cfg.file));
  }
  project::UpstreamProjects upstream;
  upstream.enabled = !cfg.upstream.url.empty();
  absl::StatusOr<std::shared_ptr<const project::ProjectTable>> table =
      project::ProjectTable::Build(file, upstream, 1, quotas);
  if (!table.ok()) return WithPath(table.status(), cfg.file);
  return table;
}

ProjectSource::ProjectSource(net::Worker* control,
                             config::ProjectsSourceConfig cfg,
                             project::Publisher* publisher, Clock clock,
                             ProjectSourceOptions options)
    : control_(control),
      cfg_(std::move(cfg)),
      publisher_(publisher),
      clock_(clock ? std::move(clock) : Clock([] { return absl::Now(); })),
      options_(options),
      batch_timer_(control),
      http_(control) {}

ProjectSource::~ProjectSource() = default;

absl::Status ProjectSource::Start() {
  return control_->RunSync([this] { return StartOnControl(); });
}

absl::Status ProjectSource::StartOnControl() {
  if (started_) return absl::FailedPreconditionError("already started");
  started_ = true;
  if (!cfg_.upstream.url.empty()) {
    TERN_RETURN_IF_ERROR(ParseUpstreamUrl(cfg_.upstream.url, &upstream_host_,
                                          &upstream_port_, &upstream_path_));
  }
  if (!cfg_.file.empty()) {
    // Watch first, then read: a change that lands in between is seen twice
    // rather than not at all.
    watcher_ = std::make_unique<net::FileWatcher>(
        control_, cfg_.file, [this] { ReloadOnControl(); });
    TERN_RETURN_IF_ERROR(watcher_->Start());
    TERN_ASSIGN_OR_RETURN(file_, config::LoadProjectsFile(cfg_.file));
  }
  if (!upstream_host_.empty()) {
    const uint64_t every = ToMillis(cfg_.upstream.batch_interval);
    batch_timer_.Start(every, every, [this] { Tick(); });
  }
  PublishMerged();
  return absl::OkStatus();
}

void ProjectSource::Reload() {
  if (control_->InLoopThread()) {
    ReloadOnControl();
    return;
  }
  control_->Post([this] { ReloadOnControl(); });
}

void ProjectSource::ReloadOnControl() {
  if (cfg_.file.empty() || !started_) return;
  absl::StatusOr<config::ProjectsFile> file =
      config::LoadProjectsFile(cfg_.file);
  absl::Status status = file.status();
  if (status.ok()) {
    // What config accepts but the table cannot index (an origin port the
    // grammar let through) must be refused too, before it replaces file_.
    absl::StatusOr<std::shared_ptr<const project::ProjectTable>> check =
        project::ProjectTable::Build(*file, 0);
    if (!check.ok()) status = WithPath(check.status(), cfg_.file);
  }
  last_reload_ = status;
  if (!status.ok()) {
    counters_.reload_errors.Add();
    spdlog::warn("projects file refused, keeping table generation {}: {}",
                 publisher_->current()->generation(), SV(status.message()));
    return;
  }
  file_ = *std::move(file);
  counters_.reloads.Add();
  spdlog::info("projects file {} reloaded: {} projects", cfg_.file,
               file_.projects.size());
  PublishMerged();
}

void ProjectSource::Want(std::string_view public_key) {
  if (cfg_.upstream.url.empty()) return;
  if (control_->InLoopThread()) {
    WantOnControl(public_key);
    return;
  }
  control_->Post([this, key = std::string(public_key)] { WantOnControl(key); });
}

void ProjectSource::WantOnControl(std::string_view public_key) {
  if (public_key.size() > options_.max_key_length ||
      !protocol::IsValidPublicKey(public_key)) {
    counters_.wants_dropped.Add();
    return;
  }
  const absl::string_view key = ToAbsl(public_key);
  // A worker may still serve an older table: a key cached since is on its
  // way to it already.
  if (cache_.contains(key) || wanted_.contains(key) ||
      in_flight_.contains(key)) {
    return;
  }
  if (wanted_.size() + in_flight_.size() >= options_.max_wanted_keys) {
    counters_.wants_dropped.Add();
    return;
  }
  wanted_.emplace(key);
}

void ProjectSource::Tick() {
  if (Sweep(clock_())) PublishMerged();
  // One round at a time: keys wanted meanwhile wait for the next tick.
  if (requests_in_flight_ > 0) return;
  if (backoff_ticks_ > 0) {
    --backoff_ticks_;
    return;
  }
  if (!wanted_.empty()) SendRound();
}

bool ProjectSource::Sweep(absl::Time now) {
  const absl::Duration ttl = cfg_.upstream.ttl;
  const absl::Duration drop_after = ttl + cfg_.upstream.stale_grace;
  const absl::Duration negative_ttl = cfg_.upstream.negative_ttl;
  bool changed = false;
  for (auto it = cache_.begin(); it != cache_.end();) {
    const absl::Duration age = now - it->second.fetched_at;
    const bool known = it->second.config.has_value();
    if (age >= (known ? drop_after : negative_ttl)) {
      counters_.keys_expired.Add();
      changed = true;
      cache_.erase(it++);
      continue;
    }
    if (known && age >= ttl && !wanted_.contains(it->first) &&
        !in_flight_.contains(it->first)) {
      // Stale: keep serving it, and ask again.
      counters_.keys_refreshed.Add();
      wanted_.insert(it->first);
    }
    ++it;
  }
  return changed;
}

void ProjectSource::SendRound() {
  round_changed_ = false;
  round_failed_ = false;
  const size_t batch = std::max<size_t>(1, options_.max_batch_keys);
  for (size_t r = 0; r < options_.max_requests_per_round && !wanted_.empty();
       ++r) {
    protocol::ProjectConfigsRequest body;
    while (!wanted_.empty() && body.public_keys.size() < batch) {
      // flat_hash_set has no pop; extract moves the node's string out.
      auto node = wanted_.extract(wanted_.begin());
      in_flight_.insert(node.value());
      body.public_keys.push_back(std::move(node.value()));
    }
    net::HttpClientRequest req;
    req.method = "POST";
    req.host = upstream_host_;
    req.port = upstream_port_;
    req.path = upstream_path_;
    req.headers.emplace_back("Content-Type", "application/json");
    if (!cfg_.upstream.token.empty()) {
      req.headers.emplace_back("Authorization",
                               absl::StrCat("Bearer ", cfg_.upstream.token));
    }
    protocol::EncodeProjectConfigsRequest(body, &req.body);
    req.timeout_ms = options_.request_timeout_ms;
    req.max_response_bytes = protocol::kMaxProjectConfigsBytes;
    ++requests_in_flight_;
    counters_.fetch_requests.Add();
    http_.Fetch(std::move(req),
                [this, keys = std::move(body.public_keys)](
                    absl::StatusOr<net::HttpClientResponse> r) mutable {
                  OnResponse(std::move(keys), std::move(r));
                });
  }
}

void ProjectSource::FetchFailed(std::vector<std::string>& keys,
                                std::string_view why) {
  counters_.fetch_errors.Add();
  round_failed_ = true;
  for (std::string& k : keys) {
    in_flight_.erase(k);
    wanted_.insert(std::move(k));
  }
  ++errors_since_log_;
  const absl::Time now = clock_();
  if (!last_error_log_ || now - *last_error_log_ >= kErrorLogEvery) {
    spdlog::warn(
        "projectconfigs from {}: {} ({} failed requests since the last "
        "message; keys stay wanted, retrying)",
        cfg_.upstream.url, why, errors_since_log_);
    last_error_log_ = now;
    errors_since_log_ = 0;
  }
}

void ProjectSource::OnResponse(
    std::vector<std::string> keys,
    absl::StatusOr<net::HttpClientResponse> response) {
  --requests_in_flight_;
  if (!response.ok()) {
    // Cancelled: the control worker is stopping; nothing is left to retry.
    if (response.status().code() != absl::StatusCode::kCancelled) {
      FetchFailed(keys, SV(response.status().ToString()));
    }
  } else if (response->status != 200) {
    FetchFailed(
        keys,
        absl::StrCat("HTTP ", response->status, ": ",
                     absl::CHexEscape(
                         absl::string_view(response->body).substr(0, 200))));
  } else {
    absl::StatusOr<protocol::ProjectConfigsResponse> parsed =
        protocol::ParseProjectConfigsResponse(response->body);
    if (!parsed.ok()) {
      FetchFailed(
          keys, absl::StrCat("bad response body: ", parsed.status().message()));
    } else {
      const absl::Time now = clock_();
      for (std::string& k : keys) in_flight_.erase(k);
      // Keys this request asked for and the answer covered; anything else in
      // the answer is ignored.
      absl::flat_hash_set<std::string> asked(keys.begin(), keys.end());
      for (auto& [key, config] : parsed->configs) {
        if (asked.erase(key) == 0) continue;
        (config ? counters_.keys_fetched : counters_.keys_unknown).Add();
        cache_.insert_or_assign(key, CacheEntry{std::move(config), now});
        round_changed_ = true;
      }
      // Pending, and keys the answer did not mention, are asked again.
      // Entries already cached stay served meanwhile.
      counters_.keys_pending.Add(asked.size());
      for (const std::string& k : asked) wanted_.insert(k);
    }
  }
  if (requests_in_flight_ > 0) return;
  // The round is over.
  if (round_failed_) {
    ++failed_rounds_;
    backoff_ticks_ =
        std::min(kMaxBackoffTicks, (1 << std::min(failed_rounds_, 6)) - 1);
  } else if (failed_rounds_ > 0) {
    spdlog::info("projectconfigs from {}: reachable again", cfg_.upstream.url);
    failed_rounds_ = 0;
    last_error_log_.reset();
    errors_since_log_ = 0;
  }
  if (round_changed_) PublishMerged();
}

void ProjectSource::PublishMerged() {
  project::UpstreamProjects upstream;
  upstream.enabled = !cfg_.upstream.url.empty();
  // One table project per project id, with the settings of its most recent
  // fetch and every cached key that resolved to it.
  struct Group {
    const protocol::ProjectConfig* newest = nullptr;
    absl::Time newest_at = absl::InfinitePast();
    std::vector<config::ProjectKey> keys;
  };
  absl::flat_hash_map<uint64_t, Group> groups;
  for (const auto& kv : cache_) {
    // Named, not bound: clang 14 cannot capture structured bindings.
    const std::string& key = kv.first;
    const CacheEntry& entry = kv.second;
    if (!entry.config) {
      upstream.unknown_keys.push_back(key);
      continue;
    }
    const protocol::ProjectConfig& pc = *entry.config;
    auto it = std::find_if(pc.public_keys.begin(), pc.public_keys.end(),
                           [&](const protocol::ProjectKeyConfig& k) {
                             return k.public_key == key;
                           });
    if (it == pc.public_keys.end()) {
      // The project does not list the key that led to it: as Relay, the key
      // is not valid for it.
      upstream.unknown_keys.push_back(key);
      continue;
    }
    Group& g = groups[pc.project_id];
    if (g.newest == nullptr || entry.fetched_at > g.newest_at) {
      g.newest = &pc;
      g.newest_at = entry.fetched_at;
    }
    config::ProjectKey k;
    k.public_key = key;
    k.id = it->numeric_id;
    k.status = it->is_enabled ? config::KeyStatus::kActive
                              : config::KeyStatus::kDisabled;
    g.keys.push_back(std::move(k));
  }
  upstream.projects.reserve(groups.size());
  for (auto& [id, g] : groups) {
    config::Project p = ToProject(*g.newest);
    // A disabled project refuses every key (the newest fetch decides).
    if (g.newest->disabled) {
      for (config::ProjectKey& k : g.keys)
        k.status = config::KeyStatus::kDisabled;
    }
    p.keys = std::move(g.keys);
    upstream.projects.push_back(std::move(p));
  }
  const uint64_t generation = publisher_->current()->generation() + 1;
  absl::StatusOr<std::shared_ptr<const project::ProjectTable>> table =
      project::ProjectTable::Build(file_, upstream, generation,
                                   options_.quotas);
  if (!table.ok()) {
    // file_ was built once already when it was accepted, and nothing from
    // upstream fails a build; so this is a bug, not an input problem.
    spdlog::error("project table generation {} not built: {}", generation,
                  SV(table.status().message()));
    return;
  }
  if (absl::Status s = publisher_->Publish(*std::move(table)); !s.ok()) {
    spdlog::error("project table generation {} not published: {}", generation,
                  SV(s.message()));
    return;
  }
  counters_.tables_published.Add();
}

}  // namespace tern::relay::upstream
