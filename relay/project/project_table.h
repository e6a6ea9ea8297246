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
// Today the only source is the local projects file, so an unknown key is a
// final answer (403). The backend-fetched source (RelayConfig::projects) will
// add a "pending" state for keys whose config is still being fetched; that
// state belongs to the fetcher, not to this snapshot.
#ifndef TERN_RELAY_PROJECT_PROJECT_TABLE_H_
#define TERN_RELAY_PROJECT_PROJECT_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/projects.h"

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

  ProjectTable(const ProjectTable&) = delete;
  ProjectTable& operator=(const ProjectTable&) = delete;

  // The key's entry, or nullptr when the table has no such key. Keys are
  // matched exactly (case-sensitively), as Relay does. Allocates nothing.
  const KeyInfo* FindKey(std::string_view public_key) const;

  // The project with this id, or nullptr.
  const ProjectSettings* FindProject(uint64_t project_id) const;

  uint64_t generation() const { return generation_; }
  const std::vector<config::Quota>& default_quotas() const {
    return default_quotas_;
  }
  size_t project_count() const { return projects_.size(); }
  size_t key_count() const { return keys_.size(); }

 private:
  ProjectTable() = default;

  uint64_t generation_ = 0;
  std::vector<config::Quota> default_quotas_;
  // Filled completely before keys_ and by_id_ take views and pointers into
  // it, and never changed after, so those stay valid for the table's life.
  std::vector<ProjectSettings> projects_;
  absl::flat_hash_map<absl::string_view, KeyInfo> keys_;
  absl::flat_hash_map<uint64_t, const ProjectSettings*> by_id_;
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
//   "unknown public key"  -- final with a local projects file (see above);
//   "key disabled";
//   "project mismatch"    -- the key belongs to another project than the URL's;
//   "origin not allowed"  -- see OriginAllowed.
// `*out` (if `out` is not null) is set to the key's entry whenever the key is
// known, also on the later errors, so outcomes can name project and key; it is
// nullptr for an unknown key. Allocates nothing on success.
absl::Status CheckKey(const ProjectTable& table, std::string_view public_key,
                      uint64_t url_project_id, std::string_view origin,
                      const KeyInfo** out);

}  // namespace tern::relay::project

#endif  // TERN_RELAY_PROJECT_PROJECT_TABLE_H_
