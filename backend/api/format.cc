#include "backend/api/format.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "protocol/json_value.h"

namespace tern::api {
namespace {

// Both parts of a cursor: "<int64>:<rest>", split at the first ':'.
std::optional<std::pair<int64_t, std::string_view>> SplitCursor(
    std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view number = text.substr(0, colon);
  // SimpleAtoi accepts a leading '+' and surrounding spaces; the encoder
  // writes neither, so neither is a cursor.
  for (size_t i = 0; i < number.size(); ++i) {
    const char c = number[i];
    if (!(absl::ascii_isdigit(c) || (i == 0 && c == '-' && number.size() > 1)))
      return std::nullopt;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(ToAbsl(number), &value)) return std::nullopt;
  return std::make_pair(value, text.substr(colon + 1));
}

bool IsLowerHex32(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

void StringOrNull(protocol::JsonWriter& w, std::string_view value) {
  if (value.empty()) {
    w.Null();
  } else {
    w.String(value);
  }
}

// Appends the string members of `settings[field]` to `out`, without
// duplicates. True when the field is an array (the key sets the list).
bool MergeDomains(const protocol::JsonValue& settings, std::string_view field,
                  std::vector<std::string>* out) {
  const protocol::JsonValue* list = settings.Find(field);
  if (list == nullptr || !list->is_array()) return false;
  for (const protocol::JsonValue& item : list->items()) {
    if (!item.is_string()) continue;
    const std::string_view domain = item.string();
    if (std::find(out->begin(), out->end(), domain) == out->end()) {
      out->emplace_back(domain);
    }
  }
  return true;
}

// id (a string, as in Sentry), slug and name: a project's members that an
// issue's "project" repeats.
void WriteProjectRefFields(protocol::JsonWriter& w,
                           const storage::Project& project) {
  w.Key("id");
  w.String(absl::StrCat(project.id));
  w.Key("slug");
  w.String(project.slug);
  w.Key("name");
  w.String(project.name);
}

}  // namespace

std::string ShortId(std::string_view slug, int64_t number) {
  std::string out = absl::AsciiStrToUpper(ToAbsl(slug));
  out += '-';
  if (number < 1) {
    out += '0';
    return out;
  }
  char digits[16];
  size_t n = 0;
  for (uint64_t v = static_cast<uint64_t>(number); v != 0; v /= 32) {
    digits[n++] = kBase32Alphabet[v % 32];
  }
  while (n > 0) out += digits[--n];
  return out;
}

std::string FormatTimeMs(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

std::string EncodeIssueCursor(const storage::IssueCursor& cursor) {
  return absl::StrCat(cursor.sort_value, ":", cursor.id);
}

std::optional<storage::IssueCursor> ParseIssueCursor(std::string_view text) {
  auto parts = SplitCursor(text);
  if (!parts) return std::nullopt;
  const std::string_view id_text = parts->second;
  if (id_text.empty() || id_text.size() > 18 ||
      !std::all_of(id_text.begin(), id_text.end(),
                   [](char c) { return absl::ascii_isdigit(c); })) {
    return std::nullopt;
  }
  storage::IssueCursor cursor;
  cursor.sort_value = parts->first;
  if (!absl::SimpleAtoi(ToAbsl(id_text), &cursor.id)) return std::nullopt;
  return cursor;
}

std::string EncodeEventCursor(const storage::EventCursor& cursor) {
  return absl::StrCat(cursor.received_ms, ":", ToAbsl(cursor.event_id));
}

std::optional<storage::EventCursor> ParseEventCursor(std::string_view text) {
  auto parts = SplitCursor(text);
  if (!parts || !IsLowerHex32(parts->second)) return std::nullopt;
  storage::EventCursor cursor;
  cursor.received_ms = parts->first;
  cursor.event_id = std::string(parts->second);
  return cursor;
}

void WriteProject(protocol::JsonWriter& w, const storage::Project& project) {
  w.BeginObject();
  WriteProjectRefFields(w, project);
  w.Key("dateCreated");
  w.String(FormatTimeMs(project.created_ms));
  w.EndObject();
}

void WriteProjectDetails(protocol::JsonWriter& w,
                         const storage::Project& project) {
  w.BeginObject();
  WriteProjectRefFields(w, project);
  w.Key("dateCreated");
  w.String(FormatTimeMs(project.created_ms));
  w.Key("fingerprintingRules");
  w.String(project.fingerprinting_rules);
  w.Key("groupingEnhancements");
  w.String(project.stacktrace_rules);
  w.EndObject();
}

void WriteIssue(protocol::JsonWriter& w, const storage::Issue& issue,
                const storage::Project& project) {
  const storage::IssueFields& f = issue.fields;
  w.BeginObject();
  w.Key("id");
  w.String(absl::StrCat(issue.id));
  w.Key("shortId");
  w.String(ShortId(project.slug, issue.short_id));
  w.Key("title");
  w.String(f.title);
  w.Key("culprit");
  w.String(f.culprit);
  w.Key("level");
  w.String(f.level);
  w.Key("status");
  w.String(storage::IssueStatusName(issue.status));
  w.Key("count");
  w.String(absl::StrCat(issue.times_seen));
  w.Key("firstSeen");
  w.String(FormatTimeMs(issue.first_seen_ms));
  w.Key("lastSeen");
  w.String(FormatTimeMs(issue.last_seen_ms));
  w.Key("metadata");
  w.BeginObject();
  const std::pair<std::string_view, const std::string*> metadata[] = {
      {"type", &f.metadata_type},
      {"value", &f.metadata_value},
      {"filename", &f.metadata_filename},
      {"function", &f.metadata_function}};
  for (const auto& [key, value] : metadata) {
    if (value->empty()) continue;
    w.Key(key);
    w.String(*value);
  }
  w.EndObject();
  w.Key("project");
  w.BeginObject();
  WriteProjectRefFields(w, project);
  w.EndObject();
  w.EndObject();
}

void WriteEventSummaryFields(protocol::JsonWriter& w,
                             const storage::EventSummary& event) {
  w.Key("id");
  w.String(event.event_id);
  w.Key("eventID");
  w.String(event.event_id);
  w.Key("groupID");
  if (event.issue_id) {
    w.String(absl::StrCat(*event.issue_id));
  } else {
    w.Null();
  }
  w.Key("projectID");
  w.String(absl::StrCat(event.project_id));
  w.Key("dateCreated");
  w.String(FormatTimeMs(event.timestamp_ms));
  w.Key("dateReceived");
  w.String(FormatTimeMs(event.received_ms));
  w.Key("level");
  StringOrNull(w, event.level);
  w.Key("platform");
  StringOrNull(w, event.platform);
  w.Key("release");
  StringOrNull(w, event.release);
  w.Key("environment");
  StringOrNull(w, event.environment);
  w.Key("tags");
  w.BeginArray();
  if (auto tags = protocol::ParseJson(event.tags_json); tags.ok()) {
    for (const protocol::JsonValue& pair : tags->items()) {
      const protocol::JsonValue& key = pair[size_t{0}];
      const protocol::JsonValue& value = pair[size_t{1}];
      if (pair.items().size() != 2 || !key.is_string() || !value.is_string())
        continue;
      w.BeginObject();
      w.Key("key");
      w.String(key.string());
      w.Key("value");
      w.String(value.string());
      w.EndObject();
    }
  }
  w.EndArray();
}

void WriteEventSummary(protocol::JsonWriter& w,
                       const storage::EventSummary& event) {
  w.BeginObject();
  WriteEventSummaryFields(w, event);
  w.EndObject();
}

void WriteStoredEvent(protocol::JsonWriter& w,
                      const storage::StoredEvent& event) {
  w.BeginObject();
  WriteEventSummaryFields(w, event.summary);
  w.Key("attachments");
  w.BeginArray();
  for (const storage::AttachmentInfo& a : event.attachments) {
    w.BeginObject();
    w.Key("id");
    w.String(a.attachment_id);
    w.Key("name");
    w.String(a.name);
    w.Key("mimetype");
    w.String(a.content_type);
    w.Key("type");
    w.String(a.attachment_type);
    w.Key("size");
    w.Int(a.size);
    w.EndObject();
  }
  w.EndArray();
  w.Key("payload");
  // Embedded verbatim when it is JSON: the relay wrote it compact, and
  // re-serializing would cost the same parse plus a second copy.
  if (protocol::ParseJson(event.payload).ok()) {
    w.Raw(event.payload);
  } else {
    w.String(event.payload);
  }
  w.EndObject();
}

protocol::ProjectConfig ProjectConfigFor(
    const storage::Project& project,
    std::span<const storage::ProjectKey> keys) {
  protocol::ProjectConfig config;
  config.project_id = static_cast<uint64_t>(project.id);
  config.slug = project.slug;
  std::vector<std::string> domains;
  bool any_domains = false;
  for (const storage::ProjectKey& key : keys) {
    protocol::ProjectKeyConfig k;
    k.public_key = key.public_key;
    k.numeric_id = key.id > 0 ? static_cast<uint64_t>(key.id) : 0;
    k.is_enabled = key.active;
    config.public_keys.push_back(std::move(k));
    auto settings = protocol::ParseJson(key.settings_json);
    if (!settings.ok() || !settings->is_object()) continue;
    // Either name counts once per key; allowedDomains (Relay's) wins.
    if (MergeDomains(*settings, "allowedDomains", &domains) ||
        MergeDomains(*settings, "allowedOrigins", &domains)) {
      any_domains = true;
    }
    // protocol's own quota parser, so what is served is exactly what the
    // relay's parser accepts: one bad quota would otherwise fail the relay's
    // whole response, every project of the batch with it.
    auto quotas = protocol::ParseQuotasMember(key.settings_json);
    if (!quotas.ok()) continue;
    for (protocol::QuotaConfig& q : *quotas) {
      const bool seen = std::any_of(
          config.quotas.begin(), config.quotas.end(),
          [&](const protocol::QuotaConfig& c) { return c.id == q.id; });
      if (!seen) config.quotas.push_back(std::move(q));
    }
  }
  if (any_domains) config.allowed_domains = std::move(domains);
  return config;
}

}  // namespace tern::api
