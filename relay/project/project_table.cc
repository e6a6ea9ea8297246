#include "relay/project/project_table.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/status.h"

namespace tern::relay::project {
namespace {

bool IsSchemeChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' ||
         c == '.' || c == '-';
}

bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '.';
}

bool ValidScheme(std::string_view scheme) {
  if (scheme.empty() ||
      !absl::ascii_isalpha(static_cast<unsigned char>(scheme.front()))) {
    return false;
  }
  for (char c : scheme) {
    if (!IsSchemeChar(c)) return false;
  }
  return true;
}

bool ValidHost(std::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (!IsHostChar(c)) return false;
  }
  return true;
}

// "1".."65535" -> the number; anything else (empty, signs, too long, 0,
// out of range) -> 0.
uint32_t ParsePort(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return 0;
  uint32_t port = 0;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return 0;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  return port <= 65535 ? port : 0;
}

// The port a browser leaves out for this scheme; 0 when there is none.
uint32_t DefaultPort(std::string_view scheme) {
  if (absl::EqualsIgnoreCase(ToAbsl(scheme), "http")) return 80;
  if (absl::EqualsIgnoreCase(ToAbsl(scheme), "https")) return 443;
  return 0;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(ToAbsl(a), ToAbsl(b));
}

// An Origin (or Referer) header cut into views; nothing is copied.
struct ParsedOrigin {
  std::string_view scheme;
  std::string_view host;
  // Explicit, else the scheme's default; 0 for an unknown scheme without a
  // port (it then only matches entries without a port).
  uint32_t port = 0;
};

bool ParseOrigin(std::string_view s, ParsedOrigin* out) {
  const size_t scheme_end = s.find("://");
  if (scheme_end == std::string_view::npos) return false;
  out->scheme = s.substr(0, scheme_end);
  if (!ValidScheme(out->scheme)) return false;
  std::string_view authority = s.substr(scheme_end + 3);
  // A Referer carries a path, query or fragment; only the origin part counts.
  authority = authority.substr(0, authority.find_first_of("/?#"));
  const size_t colon = authority.find(':');
  out->host = authority.substr(0, colon);
  // Rejects userinfo ('@'), IPv6 literals ('['), spaces, ...
  if (!ValidHost(out->host)) return false;
  if (colon == std::string_view::npos) {
    out->port = DefaultPort(out->scheme);
  } else {
    out->port = ParsePort(authority.substr(colon + 1));
    if (out->port == 0) return false;
  }
  return true;
}

bool HostMatches(const OriginPattern& p, std::string_view host) {
  if (EqualsIgnoreCase(host, p.host)) return true;
  if (!p.subdomains || host.size() <= p.host.size() + 1) return false;
  // "a.example.com" against "example.com": the suffix must follow a dot, so
  // "badexample.com" does not match.
  const size_t dot = host.size() - p.host.size() - 1;
  return host[dot] == '.' && EqualsIgnoreCase(host.substr(dot + 1), p.host);
}

// Parses one allowed_origins entry other than "*" with config's grammar;
// Build's own guard for tables made from hand-built files.
absl::StatusOr<OriginPattern> ParsePattern(uint64_t project_id,
                                           std::string_view entry) {
  std::optional<OriginPattern> p = config::ParseOriginPattern(entry);
  if (!p) {
    return absl::InvalidArgumentError(absl::StrCat(
        "project ", project_id, ": allowed origin \"", ToAbsl(entry),
        "\" is not \"*\" or [scheme://][*.]host[:port]"));
  }
  return *std::move(p);
}

// A project's settings with what the request path precomputes from its
// config (origins are added by Build, which knows where errors go).
ProjectSettings SettingsFor(const config::Project& project) {
  ProjectSettings settings;
  settings.config = project;
  settings.scrub = protocol::ScrubConfig::Make(
      project.scrub_data, project.sensitive_fields, project.safe_fields,
      project.scrub_ip_addresses);
  settings.filters = protocol::InboundFilterConfig::Make(
      project.filters.localhost, project.filters.browser_extensions,
      project.filters.web_crawlers, project.filters.releases,
      project.filters.error_messages);
  return settings;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ProjectTable>> ProjectTable::Build(
    const config::ProjectsFile& file, uint64_t generation) {
  return Build(file, UpstreamProjects{}, generation);
}

absl::StatusOr<std::shared_ptr<const ProjectTable>> ProjectTable::Build(
    const config::ProjectsFile& file, const UpstreamProjects& upstream,
    uint64_t generation, quota::QuotaRegistry* quotas) {
  // The constructor is private; make_shared cannot reach it.
  std::shared_ptr<ProjectTable> table(new ProjectTable());
  table->generation_ = generation;
  table->upstream_enabled_ = upstream.enabled;
  table->default_quotas_ = file.default_quotas;
  table->projects_.reserve(file.projects.size() + upstream.projects.size());
  for (const config::Project& project : file.projects) {
    ProjectSettings settings = SettingsFor(project);
    for (const std::string& entry : project.allowed_origins) {
      if (entry == "*") {
        settings.allow_any_origin = true;
        continue;
      }
      TERN_ASSIGN_OR_RETURN(OriginPattern p, ParsePattern(project.id, entry));
      settings.origins.push_back(std::move(p));
    }
    table->projects_.push_back(std::move(settings));
  }
  const size_t file_projects = table->projects_.size();
  // Upstream projects whose id the file (or an earlier upstream entry)
  // already has are left out here, before projects_ becomes final.
  absl::flat_hash_set<uint64_t> ids;
  for (const ProjectSettings& settings : table->projects_) {
    ids.insert(settings.config.id);
  }
  // Keys of upstream projects left out: final answers ("unknown public
  // key"), not pending, or the fetcher would be asked for them forever.
  std::vector<absl::string_view> orphans;
  for (const config::Project& project : upstream.projects) {
    if (project.id == 0 || !ids.insert(project.id).second) {
      ++table->upstream_skipped_;
      for (const config::ProjectKey& key : project.keys) {
        orphans.push_back(ToAbsl(key.public_key));
      }
      continue;
    }
    ProjectSettings settings = SettingsFor(project);
    settings.from_upstream = true;
    for (const std::string& entry : project.allowed_origins) {
      if (entry == "*") {
        settings.allow_any_origin = true;
        continue;
      }
      absl::StatusOr<OriginPattern> p = ParsePattern(project.id, entry);
      if (!p.ok()) {
        // Dropping an origin only narrows what the project accepts.
        ++table->upstream_skipped_;
        continue;
      }
      settings.origins.push_back(*std::move(p));
    }
    table->projects_.push_back(std::move(settings));
  }
  // projects_ is final from here: the views and pointers below stay valid.
  for (size_t p = 0; p < table->projects_.size(); ++p) {
    const ProjectSettings& settings = table->projects_[p];
    const config::Project& project = settings.config;
    const bool from_file = p < file_projects;
    if (!table->by_id_.emplace(project.id, &settings).second) {
      // Upstream duplicates were filtered above; only the file gets here.
      return absl::InvalidArgumentError(
          absl::StrCat("project ", project.id, ": duplicate project id"));
    }
    for (size_t i = 0; i < project.keys.size(); ++i) {
      const config::ProjectKey& key = project.keys[i];
      KeyInfo info;
      info.public_key = key.public_key;
      info.project_id = project.id;
      info.key_id = key.id;
      info.key_index = i;
      info.status = key.status;
      info.key = &key;
      info.project = &settings;
      if (quotas != nullptr) {
        info.quotas = quota::CompileKeyQuotas(
            *quotas, project.id, key.public_key, file.default_quotas,
            project.quotas, key.quotas);
      }
      if (!table->keys_.emplace(ToAbsl(key.public_key), info).second) {
        if (!from_file) {
          ++table->upstream_skipped_;
          continue;
        }
        return absl::InvalidArgumentError(
            absl::StrCat("project ", project.id, ": duplicate public key \"",
                         key.public_key, "\""));
      }
    }
  }
  for (const std::string& key : upstream.unknown_keys) {
    // A key the table holds is not unknown (the file wins over upstream).
    if (!table->keys_.contains(ToAbsl(key))) table->unknown_keys_.insert(key);
  }
  for (absl::string_view key : orphans) {
    if (!table->keys_.contains(key)) table->unknown_keys_.emplace(key);
  }
  return std::shared_ptr<const ProjectTable>(std::move(table));
}

const KeyInfo* ProjectTable::FindKey(std::string_view public_key) const {
  auto it = keys_.find(ToAbsl(public_key));
  return it == keys_.end() ? nullptr : &it->second;
}

const ProjectSettings* ProjectTable::FindProject(uint64_t project_id) const {
  auto it = by_id_.find(project_id);
  return it == by_id_.end() ? nullptr : it->second;
}

bool ProjectTable::IsKnownUnknown(std::string_view public_key) const {
  return unknown_keys_.contains(ToAbsl(public_key));
}

bool OriginAllowed(const ProjectSettings& project, std::string_view origin) {
  if (origin.empty() || project.allow_any_origin) return true;
  ParsedOrigin o;
  if (!ParseOrigin(origin, &o)) return false;
  for (const OriginPattern& p : project.origins) {
    if (!p.scheme.empty() && !EqualsIgnoreCase(o.scheme, p.scheme)) continue;
    if (p.port != 0 && p.port != o.port) continue;
    if (HostMatches(p, o.host)) return true;
  }
  return false;
}

absl::Status CheckKey(const ProjectTable& table, std::string_view public_key,
                      uint64_t url_project_id, std::string_view origin,
                      const KeyInfo** out) {
  const KeyInfo* info = table.FindKey(public_key);
  if (out != nullptr) *out = info;
  if (info == nullptr) {
    if (!table.upstream_enabled() || table.IsKnownUnknown(public_key)) {
      return Forbidden("unknown public key");
    }
    return absl::UnavailableError("project config pending");
  }
  if (info->status == config::KeyStatus::kDisabled) {
    return Forbidden("key disabled");
  }
  if (url_project_id != 0 && url_project_id != info->project_id) {
    return Forbidden("project mismatch");
  }
  if (!OriginAllowed(*info->project, origin)) {
    return Forbidden("origin not allowed");
  }
  return absl::OkStatus();
}

}  // namespace tern::relay::project
