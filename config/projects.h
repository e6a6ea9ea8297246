// The projects file (config/projects.yml): which projects and DSN keys the
// relay accepts, and each project's policy (quotas, data scrubbing, inbound
// filters, allowed browser origins).
//
// It is one of the relay's two project sources (the other is the backend's
// projectconfigs endpoint, see RelayConfig::projects). The relay loads it at
// start, on SIGHUP and when the file changes; a file that fails validation is
// refused with file:line and the previous table stays in force, so every
// check that can be made without traffic is made here. The quota schema is
// Sentry Relay's; issue 4 enforces it (this module only validates).
#ifndef TERN_CONFIG_PROJECTS_H_
#define TERN_CONFIG_PROJECTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/data_category.h"
#include "protocol/project_config.h"
#include "protocol/rate_limits.h"

namespace tern::config {

// One allowed_origins entry other than "*": [scheme://][*.]host[:port]. The
// grammar lives here, in one place, so what check-config accepts is exactly
// what the relay's origin matcher (relay/project) can load.
struct OriginPattern {
  // Lowercase scheme ("https"); empty when the entry named none, which
  // matches any scheme.
  std::string scheme;
  // Lowercase host without the "*." prefix.
  std::string host;
  // The entry was "*.host": matches host itself and every subdomain of it.
  bool subdomains = false;
  // 1..65535; 0 when the entry named no port, which matches any port.
  uint32_t port = 0;
};

// Parses an allowed_origins entry (any case); nullopt when it is not of the
// form above (a path, a query, a bad host, a port outside 1..65535, "*").
std::optional<OriginPattern> ParseOriginPattern(std::string_view entry);

// A quota is the same thing in the projects file and in an upstream's
// project config (protocol/project_config.h owns the schema and its rules):
// `id` names the counters, so they survive a reload that keeps it, and is
// unique within the defaults and within one project (its own quotas and all
// its keys' quotas together); empty `categories` means all of them
// (attachment quotas count bytes, the others items); `limit` 0 rejects
// everything; `window_seconds` > 0; `reason_code` is sent to SDKs in
// X-Sentry-Rate-Limits and in rate_limited outcomes.
using QuotaScope = protocol::QuotaScope;
using Quota = protocol::QuotaConfig;
using protocol::QuotaScopeName;

enum class KeyStatus { kActive, kDisabled };

// "active" / "disabled".
std::string_view KeyStatusName(KeyStatus status);

struct ProjectKey {
  // The DSN public key: letters and digits (protocol::IsValidPublicKey),
  // unique across the whole file.
  std::string public_key;
  // A disabled key is answered 403.
  KeyStatus status = KeyStatus::kActive;
  // Optional numeric id reported as key_id in outcomes; 0 when not set.
  uint64_t id = 0;
  // Quotas that apply to this key only, on top of the project's.
  std::vector<Quota> quotas;
};

struct InboundFilters {
  // Events whose user IP or URL is a loopback address or localhost.
  bool localhost = false;
  // Errors known to come from browser extensions.
  bool browser_extensions = false;
  // Events sent by known web crawlers (by user agent).
  bool web_crawlers = false;
  // Events whose release matches one of these globs ('*' wildcard).
  std::vector<std::string> releases;
  // Errors whose message matches one of these globs.
  std::vector<std::string> error_messages;
};

struct Project {
  // > 0, unique in the file; the id in the DSN and in /api/{id}/...
  uint64_t id = 0;
  // Display name: [a-z0-9_-], optional.
  std::string slug;
  std::vector<ProjectKey> keys;
  // Origins a browser may send from: "*" (any), "https://example.com"
  // (scheme, host and optional port), "example.com" (any scheme), or
  // "*.example.com" (subdomains, optionally with a scheme). Lowercased. The
  // default ["*"] is Sentry's; an empty list allows no browser origin.
  std::vector<std::string> allowed_origins = {"*"};
  std::vector<Quota> quotas;
  // Data scrubbing (on by default, as in Sentry).
  bool scrub_data = true;
  // Extra key names to scrub, and key names never to scrub.
  std::vector<std::string> sensitive_fields;
  std::vector<std::string> safe_fields;
  bool scrub_ip_addresses = false;
  InboundFilters filters;
};

struct ProjectsFile {
  // Quotas applied to every project, in addition to its own.
  std::vector<Quota> default_quotas;
  std::vector<Project> projects;
};

// Parses and validates the YAML text of a projects file; `filename` labels
// errors. An empty document is a file with no projects. Errors are
// InvalidArgument "filename:line:column: path: reason" for the first problem:
// YAML syntax, unknown keys, wrong types, a missing or zero or duplicate
// project id, an invalid or duplicate public key, an unknown key status,
// quota category or scope, a bad quota id, reason code or window, an origin
// that is not one of the forms above.
absl::StatusOr<ProjectsFile> ParseProjectsFile(std::string_view yaml,
                                               std::string_view filename);

// Reads `path` and parses it as ParseProjectsFile does, labelling errors with
// `path`; a file that cannot be read gives NotFound, PermissionDenied, ...
absl::StatusOr<ProjectsFile> LoadProjectsFile(const std::string& path);

}  // namespace tern::config

#endif  // TERN_CONFIG_PROJECTS_H_
