// The relay's project table: which DSN public keys it accepts, for which
// project, and under which policy, as one immutable snapshot built from a
// config::ProjectsFile.
//
// Every request asks the table once (CheckKey) after its auth header has been
// parsed, so lookups are O(1) hash probes over storage the table owns and
// allocate nothing. A table is never modified after Build(): a reload builds a
// new table and publishes it by pointer swap (see table_slot.h), so readers
// on the request path take no lock and a request sees one consistent table.
//
// A table merges the relay's two project sources (RelayConfig::projects):
// the local projects file and the configs fetched from the upstream's
// projectconfigs endpoint (relay/upstream keeps that cache and builds each
// new table from it). When a project id or a public key appears in both, the
// file wins: the upstream entry is left out of the table, so an operator can
// pin or override a project locally. For a key the table does not hold, the
// answer depends on the sources: with the file alone, or for a key upstream
// has declared unknown (the negative cache), it is final (403); with
// upstream enabled it is "pending" (the fetcher is asked, the request waits
// a bounded time, see CheckKey).
#ifndef TERN_RELAY_PROJECT_PROJECT_TABLE_H_
#define TERN_RELAY_PROJECT_PROJECT_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/projects.h"
#include "protocol/inbound_filter.h"
#include "protocol/scrub.h"
#include "relay/quota/quota.h"

namespace tern::relay::project {

// One entry of a project's allowed_origins, parsed once at Build time (by
// config's grammar) so the per-request check compares views and integers
// only. The "*" entry is not a pattern: it sets
// ProjectSettings::allow_any_origin.
using OriginPattern = config::OriginPattern;

// One project's settings as the request path sees them: the parsed config
// plus what Build precomputes from it.
struct ProjectSettings {
  config::Project config;
  // allowed_origins contains "*".
  bool allow_any_origin = false;
  // The other allowed_origins entries, in file order.
  std::vector<OriginPattern> origins;
  // The project came from the upstream, not from the projects file.
  bool from_upstream = false;
  // Data scrubbing, ready for the normalizer (from scrub_data,
  // sensitive_fields, safe_fields, scrub_ip_addresses).
  protocol::ScrubConfig scrub;
  // Inbound filters, compiled (globs) from config.filters.
  protocol::InboundFilterConfig filters;
};

// What the upstream source contributes to one table; relay/upstream fills it
// from its cache.
struct UpstreamProjects {
  // Whether an upstream is configured at all. Off: a key the table does not
  // hold is unknown for good (403). On: it is pending unless listed in
  // unknown_keys.
  bool enabled = false;
  // Projects fetched from the upstream, each with the keys the relay fetched
  // for it. Shaped like the file's projects but not validated by config:
  // Build drops an allowed origin it cannot parse (fewer origins, never
  // more) and leaves out a project whose id is already in the file or
  // earlier in this list (its keys become known unknowns: the file or the
  // first entry decides that project), and a key already in the table.
  std::vector<config::Project> projects;
  // Keys the upstream said it does not know, still within negative_ttl.
  std::vector<std::string> unknown_keys;
};

// What a public key resolves to. Points into the table that returned it; valid
// while the caller holds that table.
struct KeyInfo {
  // View of the key string owned by the table.
  std::string_view public_key;
  uint64_t project_id = 0;
  // The key's configured numeric id (key_id in outcomes); 0 when not set.
  uint64_t key_id = 0;
  // Position of the key in its project's `keys` list.
  size_t key_index = 0;
  config::KeyStatus status = config::KeyStatus::kActive;
  // The key's config (its quotas) and its project's settings.
  const config::ProjectKey* key = nullptr;
  const ProjectSettings* project = nullptr;
  // The quotas that apply to this key (defaults, its project's, its own),
  // with their shared counters; empty when the table was built without a
  // quota registry.
  std::vector<quota::CompiledQuota> quotas;
};

class ProjectTable {
 public:
  // Builds a snapshot from `file` (copied; the table owns everything it points
  // to). `generation` labels the snapshot (a reload counter chosen by the
  // caller; Publisher requires it to grow). Called off the request path, at
  // start and on each reload. Errors are InvalidArgument naming the project:
  // a duplicate project id or public key, or an allowed origin that is not
  // "*" or [scheme://][*.]host[:port] with a port in 1..65535. A file that
  // config::ParseProjectsFile accepted only fails on port 0 or a port above
  // 65535.
  static absl::StatusOr<std::shared_ptr<const ProjectTable>> Build(
      const config::ProjectsFile& file, uint64_t generation);

  // Builds a snapshot that merges `file` with `upstream` (see the top of
  // this file: the file wins on a conflict). Errors are the file's, as for
  // Build(file, generation); nothing from `upstream` fails a build (it is
  // network input, and one bad project must not keep every other change
  // from being published): what cannot be indexed is left out and counted in
  // upstream_skipped().
  // With `quotas`, every key gets its compiled quotas, whose counters the
  // registry shares with the previous tables (see relay/quota/quota.h).
  static absl::StatusOr<std::shared_ptr<const ProjectTable>> Build(
      const config::ProjectsFile& file, const UpstreamProjects& upstream,
      uint64_t generation, quota::QuotaRegistry* quotas = nullptr);

  ProjectTable(const ProjectTable&) = delete;
  ProjectTable& operator=(const ProjectTable&) = delete;

  // The key's entry, or nullptr when the table has no such key. Keys are
  // matched exactly (case-sensitively), as Relay does. Allocates nothing.
  const KeyInfo* FindKey(std::string_view public_key) const;

  // The project with this id, or nullptr.
  const ProjectSettings* FindProject(uint64_t project_id) const;

  // True when the upstream declared `public_key` unknown (negative cache).
  // Allocates nothing.
  bool IsKnownUnknown(std::string_view public_key) const;

  // Whether an absent key is pending (true) or final (false); see
  // UpstreamProjects::enabled.
  bool upstream_enabled() const { return upstream_enabled_; }

  uint64_t generation() const { return generation_; }
  const std::vector<config::Quota>& default_quotas() const {
    return default_quotas_;
  }
  size_t project_count() const { return projects_.size(); }
  size_t key_count() const { return keys_.size(); }
  size_t unknown_key_count() const { return unknown_keys_.size(); }
  // Upstream projects, keys and origins left out by Build (conflict with
  // the file or with each other, or an unparsable origin).
  size_t upstream_skipped() const { return upstream_skipped_; }

 private:
  ProjectTable() = default;

  uint64_t generation_ = 0;
  bool upstream_enabled_ = false;
  size_t upstream_skipped_ = 0;
  std::vector<config::Quota> default_quotas_;
  // Filled completely before keys_ and by_id_ take views and pointers into
  // it, and never changed after, so those stay valid for the table's life.
  std::vector<ProjectSettings> projects_;
  absl::flat_hash_map<absl::string_view, KeyInfo> keys_;
  absl::flat_hash_map<uint64_t, const ProjectSettings*> by_id_;
  // std::string keys with absl's transparent hash: lookups by view allocate
  // nothing.
  absl::flat_hash_set<std::string> unknown_keys_;
};

// Whether a browser request from `origin` may send to this project, following
// Sentry's is_valid_origin. `origin` is the Origin header, or when there is
// none the Referer header (anything after scheme://host[:port] -- path, query,
// fragment -- is ignored); pass "" when the request had neither.
//   - "" (no header: not a browser, or a same-origin request) -> allowed.
//   - "*" in the list -> everything allowed, even a malformed origin.
//   - otherwise the origin must parse as scheme://host[:port] (host of
//     letters, digits, '-' and '.'; no userinfo, no IPv6 literal; "null" is
//     malformed) and match an entry; malformed -> not allowed:
//       scheme: the entry's, or any when the entry has none;
//       host: equal, or with "*.example.com" example.com itself and any
//         subdomain (as in Sentry), never "badexample.com";
//       port: the entry's, or any when the entry has none; an origin without
//         a port has its scheme's default (http 80, https 443), so
//         "example.com:443" matches "https://example.com".
//     All comparisons are case-insensitive.
//   - an empty list allows no browser origin.
// Not supported (config rejects them): port wildcards ("http://localhost:*"),
// "*:port", path patterns. Allocates nothing.
bool OriginAllowed(const ProjectSettings& project, std::string_view origin);

// The auth decision of the request path, called once per request after the
// DSN key is parsed. `url_project_id` is the id in /api/{id}/...; 0 means the
// URL carried none (legacy /api/store/), and the key alone picks the project.
// Returns OK, or PermissionDenied (HTTP 403, see common/http_status.h) with
// the detail, checked in this order:
//   "unknown public key"  -- the key is not in the table and the answer is
//                            final: no upstream, or the upstream declared the
//                            key unknown (IsKnownUnknown);
//   Unavailable "project config pending" (not a 403) -- the key is not in
//                            the table, an upstream is configured and has not
//                            answered for it yet. The caller asks the
//                            fetcher (relay/upstream ProjectSource::Want),
//                            parks the request and checks again on a newer
//                            table, or answers 503 with Retry-After once
//                            timeouts.project_fetch_wait has passed. Never
//                            guessed either way;
//   "key disabled"        -- also every key of a project the upstream
//                            reports disabled;
//   "project mismatch"    -- the key belongs to another project than the URL's;
//   "origin not allowed"  -- see OriginAllowed.
// `*out` (if `out` is not null) is set to the key's entry whenever the key is
// known, also on the later errors, so outcomes can name project and key; it is
// nullptr for an unknown or pending key. Allocates nothing on success.
absl::Status CheckKey(const ProjectTable& table, std::string_view public_key,
                      uint64_t url_project_id, std::string_view origin,
                      const KeyInfo** out);

}  // namespace tern::relay::project

#endif  // TERN_RELAY_PROJECT_PROJECT_TABLE_H_
