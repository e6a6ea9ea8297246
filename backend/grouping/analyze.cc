// Analyze(): the backend's one pass over an event, and Sentry's issue fields
// (title, culprit, metadata) next to the grouping hashes.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "backend/grouping/event_fields.h"
#include "backend/grouping/functions.h"
#include "backend/grouping/grouping.h"
#include "common/status.h"
#include "protocol/event_id.h"
#include "protocol/json_value.h"
#include "protocol/json_writer.h"
#include "protocol/timestamp.h"

namespace tern::grouping {
namespace {

using protocol::JsonValue;

// Sentry's truncatechars: at most `n` code points, the last one "..." when
// cut.
std::string TruncateChars(std::string_view s, size_t n) {
  size_t chars = 0, i = 0, cut3 = std::string_view::npos;
  for (; i < s.size(); ++i) {
    if ((s[i] & 0xC0) == 0x80) continue;
    if (chars == n - 3) cut3 = i;
    if (chars == n) break;
    ++chars;
  }
  if (i >= s.size()) return std::string(s);
  return absl::StrCat(ToAbsl(s.substr(0, cut3)), "...");
}

std::string_view FirstLine(std::string_view s) {
  size_t nl = s.find_first_of("\r\n");
  return nl == std::string_view::npos ? s : s.substr(0, nl);
}

std::string_view Strip(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' ||
                        s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' ||
                        s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Sentry's get_frame_culprit.
std::string FrameCulprit(const JsonValue& frame, std::string_view platform) {
  platform = StrOr(frame, "platform", platform);
  std::string_view function = StrOr(frame, "function");
  if (platform == "objc" || platform == "cocoa" || platform == "native") {
    return std::string(function.empty() ? "?" : function);
  }
  std::string_view fileloc = StrOr(frame, "module");
  if (fileloc.empty()) fileloc = StrOr(frame, "filename");
  if (fileloc.empty()) return "";
  if (platform == "javascript" || platform == "node") {
    return absl::StrCat(function.empty() ? "?" : ToAbsl(function), "(",
                        ToAbsl(fileloc), ")");
  }
  return absl::StrCat(ToAbsl(fileloc), " in ",
                      function.empty() ? "?" : ToAbsl(function));
}

// Sentry's generate_culprit (without the request URL fallback's query
// handling: the URL is used as sent).
std::string GenerateCulprit(const JsonValue& event, std::string_view platform) {
  const JsonValue* stacktrace = nullptr;
  std::span<const JsonValue> exceptions = ValuesOf(event["exception"]);
  if (!exceptions.empty()) {
    const JsonValue* last = LastException(event);
    if (last != nullptr && (*last)["mechanism"]["synthetic"].boolean()) {
      return "";
    }
    for (const JsonValue& e : exceptions) {
      if (!e["stacktrace"]["frames"].items().empty())
        stacktrace = &e["stacktrace"];
    }
  } else if (!event["stacktrace"]["frames"].items().empty()) {
    stacktrace = &event["stacktrace"];
  }
  std::string culprit;
  if (stacktrace != nullptr) {
    std::optional<std::string> fallback;
    std::span<const JsonValue> frames = (*stacktrace)["frames"].items();
    for (size_t i = frames.size(); i-- > 0;) {
      const JsonValue& f = frames[i];
      if (!f.is_object()) continue;
      if (f["in_app"].boolean()) {
        culprit = FrameCulprit(f, platform);
        if (!culprit.empty()) break;
      } else if (!fallback) {
        fallback = FrameCulprit(f, platform);
      }
    }
    if (culprit.empty() && fallback) culprit = *fallback;
  }
  if (culprit.empty()) culprit = std::string(StrOr(event["request"], "url"));
  return TruncateChars(culprit, 200);
}

// A point in time as events carry it (seconds since the epoch, or an RFC 3339
// string), in milliseconds; nullopt when absent or out of range.
std::optional<int64_t> TimeMs(const JsonValue& v) {
  std::optional<double> seconds;
  if (v.is_number()) {
    seconds = v.number();
  } else if (v.is_string()) {
    seconds = protocol::ParseRfc3339(v.string());
  }
  if (!seconds || !std::isfinite(*seconds) || std::fabs(*seconds) >= 1e14) {
    return std::nullopt;
  }
  return static_cast<int64_t>(std::llround(*seconds * 1000));
}

std::string TagsJson(const JsonValue& tags) {
  std::string out;
  protocol::JsonWriter w(&out);
  w.BeginArray();
  auto pair = [&](std::string_view k, const JsonValue& v) {
    if (k.empty() || v.is_null()) return;
    w.BeginArray();
    w.String(k);
    if (v.is_string()) {
      w.String(v.string());
    } else {
      std::string text;
      if (v.is_number()) {
        text = std::string(v.raw_number());
      } else if (v.is_bool()) {
        text = v.boolean() ? "True" : "False";
      } else {
        v.AppendJson(&text);
      }
      w.String(text);
    }
    w.EndArray();
  };
  if (tags.is_object()) {
    for (const auto& [k, v] : tags.members()) pair(k, v);
  } else if (tags.is_array()) {
    for (const JsonValue& t : tags.items()) {
      if (t.is_array() && t.items().size() == 2 && t[0].is_string()) {
        pair(t[0].string(), t[1]);
      } else if (t.is_string()) {
        std::string_view s = t.string();
        size_t colon = s.find(':');
        if (colon != std::string_view::npos) {
          w.BeginArray();
          w.String(s.substr(0, colon));
          w.String(s.substr(colon + 1));
          w.EndArray();
        }
      }
    }
  }
  w.EndArray();
  return out;
}

}  // namespace

absl::StatusOr<EventFacts> Analyze(std::string_view event_json,
                                   const ProjectGrouping& project) {
  TERN_ASSIGN_OR_RETURN(JsonValue event, protocol::ParseJson(event_json));
  if (!event.is_object()) {
    return absl::InvalidArgumentError("event is not a JSON object");
  }
  EventFacts facts;
  std::string_view id = StrOr(event, "event_id");
  if (auto parsed = protocol::EventId::Parse(id)) {
    facts.event_id = parsed->ToHex();
  } else {
    facts.event_id = std::string(id);
  }
  facts.is_transaction = StrOr(event, "type") == "transaction";
  facts.level = std::string(StrOr(event, "level", "error"));
  if (facts.level.empty()) facts.level = "error";
  facts.platform = std::string(StrOr(event, "platform", "other"));
  facts.release = std::string(StrOr(event, "release"));
  facts.environment = std::string(StrOr(event, "environment"));
  facts.timestamp_ms = TimeMs(event["timestamp"]);
  facts.received_ms = TimeMs(event["received"]);
  facts.tags_json = TagsJson(event["tags"]);
  {
    const protocol::JsonValue& user = event["user"];
    for (std::string_view key : {"id", "email", "username", "ip_address"}) {
      const protocol::JsonValue& v = user[key];
      std::string_view text = v.is_string()   ? v.string()
                              : v.is_number() ? v.raw_number()
                                              : std::string_view();
      if (text.empty()) continue;
      facts.user_key = absl::StrCat(key == "ip_address" ? "ip" : ToAbsl(key),
                                    ":", ToAbsl(text.substr(0, 200)));
      break;
    }
  }

  std::string_view transaction = StrOr(event, "transaction");
  if (facts.is_transaction) {
    facts.title = std::string(transaction);
    if (facts.title.empty()) facts.title = "<unlabeled transaction>";
    facts.culprit = std::string(transaction);
    return facts;
  }

  TERN_ASSIGN_OR_RETURN(facts.hashes, ComputeHashes(event, project));

  if (const JsonValue* exc = LastException(event)) {
    // ErrorEvent: type (unless synthetic) and value; crash location.
    std::string_view value = StrOr(*exc, "value");
    facts.metadata_value = TruncateChars(value, 1024);
    bool synthetic = (*exc)["mechanism"]["synthetic"].boolean();
    if (!synthetic) {
      facts.metadata_type = TruncateChars(StrOr(*exc, "type", "Error"), 128);
    }
    const JsonValue* crash = CrashFrame(event, /*named_only=*/true);
    if (crash != nullptr) {
      facts.metadata_filename = std::string(StrOr(*crash, "filename"));
      if (facts.metadata_filename.empty()) {
        facts.metadata_filename = std::string(StrOr(*crash, "abs_path"));
      }
      facts.metadata_function = FunctionNameForFrame(*crash, facts.platform);
    }
    facts.title = facts.metadata_type;
    if (!synthetic && !facts.metadata_value.empty()) {
      absl::StrAppend(&facts.title, ": ",
                      TruncateChars(FirstLine(facts.metadata_value), 100));
    }
    if (facts.title.empty()) facts.title = facts.metadata_function;
    if (facts.title.empty()) facts.title = "<unknown>";
  } else {
    // DefaultEvent: the first line of the message.
    std::string_view message;
    for (std::string_view key : {"logentry", "message"}) {
      const JsonValue& v = event[key];
      if (v.is_object()) {
        message = StrOr(v, "formatted");
        if (message.empty()) message = StrOr(v, "message");
      } else if (v.is_string()) {
        message = v.string();
      }
      if (!message.empty()) break;
    }
    message = Strip(message);
    if (!message.empty()) {
      facts.title = TruncateChars(FirstLine(message), 100);
      facts.metadata_value = facts.title;
    } else {
      facts.title = "<unlabeled event>";
    }
  }

  // A fingerprinting rule's title="..." names the issue instead (Sentry
  // stores it as the event's title).
  if (facts.hashes.rule_title) facts.title = *facts.hashes.rule_title;

  // Sentry's get_culprit: the client's culprit, else the transaction, else
  // one generated from the crashing frame.
  facts.culprit = std::string(StrOr(event, "culprit"));
  if (facts.culprit.empty()) facts.culprit = std::string(transaction);
  if (facts.culprit.empty()) {
    facts.culprit = GenerateCulprit(event, facts.platform);
  }
  return facts;
}

}  // namespace tern::grouping
