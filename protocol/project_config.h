// The wire format of `POST /api/0/relays/projectconfigs/`: how a relay asks
// its upstream (tern-backend) for the configs of DSN public keys it has not
// seen, and how the upstream answers. The relay's project source
// (relay/upstream) encodes requests and parses responses; the backend parses
// requests and encodes responses with the same code, so both ends agree by
// construction.
//
// The shape follows Sentry Relay's (version 2 of its endpoint), camelCase:
//   request:  {"publicKeys": ["k1", "k2", "k3"]}
//   response: {"configs": {"k1": {...project...}, "k2": null},
//              "pending": ["k3"]}
// A key under `configs` with a project is known; `null` means the upstream
// does not know the key (the relay caches that answer for a while); a key in
// `pending` is still being worked on upstream and must be asked again. A key
// that appears in neither is treated like pending by the relay.
//
// One project config:
//   {"projectId": 42, "slug": "backend", "disabled": false,
//    "publicKeys": [{"publicKey": "k1", "numericId": 7, "isEnabled": true}],
//    "config": {"allowedDomains": ["*"],
//               "quotas": [{"id": "q1", "categories": ["error"],
//                           "scope": "project", "limit": 100, "window": 60,
//                           "reasonCode": "too_many"}]}}
//
// Parsing is for untrusted bytes: input size is bounded, the parser never
// recurses on its own, unknown fields are ignored (so either side can grow
// the format first), and a field of the wrong type is InvalidArgument naming
// its path ("configs.k1.publicKeys[0].numericId: expected an unsigned
// integer"). docs/protocol.md records the choices.
#ifndef TERN_PROTOCOL_PROJECT_CONFIG_H_
#define TERN_PROTOCOL_PROJECT_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/data_category.h"

namespace tern::protocol {

enum class QuotaScope : uint8_t { kProject, kKey };
// "project" / "key".
std::string_view QuotaScopeName(QuotaScope scope);

// One rate-limit quota of a project, in Relay's shape (`config.quotas[i]`):
// the same schema and rules as a projects-file quota (config/projects.h),
// so the relay compiles both the same way.
struct QuotaConfig {
  // Names the quota's counters: [A-Za-z0-9_.-]+, unique within a project.
  std::string id;
  // Categories the quota counts ("error", "default", "transaction",
  // "security", "session", "attachment", each at most once); empty = all.
  std::vector<DataCategory> categories;
  // "project" (one counter per project, the default) or "key" (per key).
  QuotaScope scope = QuotaScope::kProject;
  // Items (bytes for attachments) admitted per window; 0 rejects everything.
  uint64_t limit = 0;
  // `window`: seconds, 1 .. kMaxQuotaWindowSeconds.
  uint64_t window_seconds = 0;
  // `reasonCode`: a token of [A-Za-z0-9_.-]; empty (absent) when not set.
  std::string reason_code;

  friend bool operator==(const QuotaConfig&, const QuotaConfig&) = default;
};

// Ten years, as the projects file: a longer window is a unit mistake.
inline constexpr uint64_t kMaxQuotaWindowSeconds = 10ull * 366 * 24 * 3600;

// One DSN key of a project, as the upstream reports it.
struct ProjectKeyConfig {
  std::string public_key;
  // Reported as key_id in outcomes; 0 when the upstream sends none.
  uint64_t numeric_id = 0;
  // A key that is not enabled is refused (403 "key disabled").
  bool is_enabled = true;

  friend bool operator==(const ProjectKeyConfig&,
                         const ProjectKeyConfig&) = default;
};

// One project as the upstream serves it to relays.
struct ProjectConfig {
  // > 0; required.
  uint64_t project_id = 0;
  // Display name; may be empty.
  std::string slug;
  // A disabled project refuses every key (the relay treats each of its keys
  // as disabled).
  bool disabled = false;
  // Every key of the project the upstream chose to list; the key that was
  // asked for is normally among them.
  std::vector<ProjectKeyConfig> public_keys;
  // `config.allowedDomains`: browser origins the project accepts, in the
  // projects file's grammar ("*", "https://example.com", "*.example.com").
  // Sentry's default is ["*"]; an absent field keeps it.
  std::vector<std::string> allowed_domains = {"*"};
  // `config.quotas`: the project's quotas; absent = none. Ids are unique
  // (a response repeating one is refused).
  std::vector<QuotaConfig> quotas;

  friend bool operator==(const ProjectConfig&, const ProjectConfig&) = default;
};

struct ProjectConfigsRequest {
  std::vector<std::string> public_keys;

  friend bool operator==(const ProjectConfigsRequest&,
                         const ProjectConfigsRequest&) = default;
};

struct ProjectConfigsResponse {
  // In the order of the JSON object; nullopt for a key the upstream does not
  // know (`null`). A key listed twice keeps its first value (as a duplicated
  // field does everywhere in this format).
  std::vector<std::pair<std::string, std::optional<ProjectConfig>>> configs;
  // Keys to ask for again later.
  std::vector<std::string> pending;

  friend bool operator==(const ProjectConfigsResponse&,
                         const ProjectConfigsResponse&) = default;
};

// Inputs above this size are refused (OutOfRange) before parsing. A response
// for one batch of 100 keys is a few tens of KiB.
inline constexpr size_t kMaxProjectConfigsBytes = 16 * 1024 * 1024;
// A request naming more keys than this is refused (InvalidArgument), so a
// backend is not asked to do unbounded work per call.
inline constexpr size_t kMaxProjectConfigsRequestKeys = 1000;

// Compact JSON of the request, appended to `*out`.
void EncodeProjectConfigsRequest(const ProjectConfigsRequest& request,
                                 std::string* out);

// Parses a request body. Errors: OutOfRange (over kMaxProjectConfigsBytes),
// InvalidArgument (not JSON, not an object, `publicKeys` missing or not an
// array of strings, more than kMaxProjectConfigsRequestKeys keys). Keys are
// returned as sent, duplicates included; checking their grammar is the
// server's business.
absl::StatusOr<ProjectConfigsRequest> ParseProjectConfigsRequest(
    std::string_view json);

// Compact JSON of the response, appended to `*out`. `configs` is written in
// vector order (a key listed twice is written twice).
void EncodeProjectConfigsResponse(const ProjectConfigsResponse& response,
                                  std::string* out);

// Parses a response body. Errors: OutOfRange (over kMaxProjectConfigsBytes),
// InvalidArgument naming the field (not JSON, not an object, `configs` not an
// object, a config that is neither null nor an object, `projectId` missing or
// zero, a field of the wrong type, `pending` not an array of strings, a
// quota that breaks a QuotaConfig rule: "configs.k1.config.quotas[0].window:
// expected 1..316224000 seconds"). Both `configs` and `pending` are optional
// (absent = empty).
absl::StatusOr<ProjectConfigsResponse> ParseProjectConfigsResponse(
    std::string_view json);

// Parses `json`, a JSON object, and returns its `quotas` member with exactly
// the rules of `config.quotas` in a response (absent or null = none). For
// stores that keep quotas in their own settings documents (tern-backend's
// per-key settings_json), so there is one quota parser. Errors:
// OutOfRange (over kMaxProjectConfigsBytes), InvalidArgument naming the
// field ("quotas[1].id: ...") or saying the input is not a JSON object.
absl::StatusOr<std::vector<QuotaConfig>> ParseQuotasMember(
    std::string_view json);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_PROJECT_CONFIG_H_
