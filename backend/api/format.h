// How the backend API writes what the store holds: Sentry-shaped camelCase
// JSON for projects, issues and events, Sentry's issue short ids and ISO 8601
// times, the opaque pagination cursors, and the project configs served to
// relays. Pure functions with no I/O, so every detail of the wire format is
// unit-tested here and the handler only wires store calls to them.
//
// docs/api.md describes the shapes and where they differ from Sentry's.
#ifndef TERN_BACKEND_API_FORMAT_H_
#define TERN_BACKEND_API_FORMAT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "backend/storage/store.h"
#include "protocol/json_writer.h"
#include "protocol/project_config.h"

namespace tern::api {

// Sentry's base32 alphabet (Crockford's: no I, L, O, U).
inline constexpr std::string_view kBase32Alphabet =
    "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Sentry's short id of an issue: the project slug upper-cased, '-', and the
// per-project number in base32 ("backend", 33 -> "BACKEND-11"). Numbers
// below 1 are written as "0", which no stored issue has.
std::string ShortId(std::string_view slug, int64_t number);

// Milliseconds since the epoch as ISO 8601 UTC with milliseconds, the way
// Sentry's API writes dates: "2026-11-21T21:00:00.123Z".
std::string FormatTimeMs(int64_t ms);

// Pagination cursors. They are opaque to clients (docs/api.md), but plain
// text so that logs stay readable:
//   issues: "<sort value>:<issue id>"    e.g. "1763758800123:42"
//   events: "<received ms>:<event id>"  e.g. "1763758800123:0123...cdef"
// Parse* return nullopt for anything that the matching Encode* cannot
// produce (the handler answers 400).
std::string EncodeIssueCursor(const storage::IssueCursor& cursor);
std::optional<storage::IssueCursor> ParseIssueCursor(std::string_view text);
std::string EncodeEventCursor(const storage::EventCursor& cursor);
std::optional<storage::EventCursor> ParseEventCursor(std::string_view text);

// {"id": "1", "slug": "backend", "name": "Backend", "dateCreated": "..."}.
// Ids are strings, as in Sentry.
void WriteProject(protocol::JsonWriter& w, const storage::Project& project);
// WriteProject's fields and the project's grouping rules, as Sentry's
// project details name them (fingerprintingRules, groupingEnhancements).
void WriteProjectDetails(protocol::JsonWriter& w,
                         const storage::Project& project);

// One issue, camelCase like Sentry's group serializer: id (string), shortId,
// title, culprit, level, status, count (string), firstSeen, lastSeen,
// metadata {type, value, filename, function: only the non-empty ones}, and
// project {id, slug, name}. `project` is the issue's project.
void WriteIssue(protocol::JsonWriter& w, const storage::Issue& issue,
                const storage::Project& project);

// The fields of an event shown in lists: id and eventID (the 32-hex event
// id), groupID and projectID (strings), dateCreated (the event's own
// timestamp), dateReceived, level, platform, release, environment (null
// when empty), and tags [{key, value}] from the stored tags_json (pairs
// ["k", "v"]; entries of another shape are skipped).
void WriteEventSummaryFields(protocol::JsonWriter& w,
                             const storage::EventSummary& event);
// The same as a JSON object.
void WriteEventSummary(protocol::JsonWriter& w,
                       const storage::EventSummary& event);

// The latest-event answer: the summary fields, "attachments" [{id, name,
// mimetype, type, size}], and "payload": the stored event JSON embedded as a
// JSON value. A payload that does not parse as JSON (never written by the
// relay, but the store is not trusted to be clean) is embedded as a string
// instead, so the answer is always valid JSON.
void WriteStoredEvent(protocol::JsonWriter& w,
                      const storage::StoredEvent& event);

// The project config a relay receives for `project`: every key in `keys`
// (the project's keys: numericId = the key id, isEnabled = active), and
// allowedDomains merged from the keys' settings_json ("allowedDomains", or
// "allowedOrigins" as store.h names it): the union over the keys that set
// one, in key order without duplicates; Sentry's default ["*"] when none
// does. `quotas` is the union of the keys' settings "quotas" (the shape of
// protocol::QuotaConfig, read with protocol::ParseQuotasMember), in key order,
// de-duplicated by id: the first key listing an id wins. A key whose quotas
// do not parse contributes none (the API never serves a quota the relay
// would refuse; `tern-backend key set` refuses such settings up front). A
// settings_json that is not a JSON object is ignored. Keys that are not
// active still contribute: settings are the project's policy, stored on keys.
protocol::ProjectConfig ProjectConfigFor(
    const storage::Project& project, std::span<const storage::ProjectKey> keys);

}  // namespace tern::api

#endif  // TERN_BACKEND_API_FORMAT_H_
