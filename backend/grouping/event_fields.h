// Field access on a parsed event, shared by the grouping (grouping.cc) and
// Analyze (analyze.cc) so that both read an event the same way. Only strings
// count as strings: a number where a string belongs is treated as absent
// (the relay would have dropped it).
#ifndef TERN_BACKEND_GROUPING_EVENT_FIELDS_H_
#define TERN_BACKEND_GROUPING_EVENT_FIELDS_H_

#include <optional>
#include <span>
#include <string_view>

#include "protocol/json_value.h"

namespace tern::grouping {

// The string member `key` of `obj`; nullopt when absent or not a string.
inline std::optional<std::string_view> Str(const protocol::JsonValue& obj,
                                           std::string_view key) {
  const protocol::JsonValue* v = obj.Find(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->string();
}

// Str, or `fallback`.
inline std::string_view StrOr(const protocol::JsonValue& obj,
                              std::string_view key,
                              std::string_view fallback = {}) {
  return Str(obj, key).value_or(fallback);
}

// The items of a Sentry interface that accepts both {"values": [...]} and a
// bare list.
inline std::span<const protocol::JsonValue> ValuesOf(
    const protocol::JsonValue& v) {
  if (v.is_array()) return v.items();
  return v["values"].items();
}

// The last exception value that is an object (Sentry's main exception), or
// null.
inline const protocol::JsonValue* LastException(
    const protocol::JsonValue& event) {
  std::span<const protocol::JsonValue> values = ValuesOf(event["exception"]);
  for (size_t i = values.size(); i-- > 0;) {
    if (values[i].is_object()) return &values[i];
  }
  return nullptr;
}

// The frames Sentry's get_crash_frame_from_event_data looks at: the main
// exception's, else the event's stack trace, else the only thread's.
inline std::span<const protocol::JsonValue> CrashFrames(
    const protocol::JsonValue& event) {
  if (const protocol::JsonValue* last = LastException(event)) {
    std::span<const protocol::JsonValue> frames =
        (*last)["stacktrace"]["frames"].items();
    if (!frames.empty()) return frames;
  }
  std::span<const protocol::JsonValue> frames =
      event["stacktrace"]["frames"].items();
  if (!frames.empty()) return frames;
  std::span<const protocol::JsonValue> threads = ValuesOf(event["threads"]);
  if (threads.size() == 1) return threads[0]["stacktrace"]["frames"].items();
  return {};
}

// Sentry's crash frame: the last in-app frame (as the event marks it), else
// the last frame. With `named_only` (the issue metadata's filter), frames
// without a function or with "<redacted>"/"<unknown>" are skipped. Null
// when there is none.
inline const protocol::JsonValue* CrashFrame(const protocol::JsonValue& event,
                                             bool named_only) {
  std::span<const protocol::JsonValue> frames = CrashFrames(event);
  const protocol::JsonValue* fallback = nullptr;
  for (size_t i = frames.size(); i-- > 0;) {
    const protocol::JsonValue& f = frames[i];
    if (!f.is_object()) continue;
    if (named_only) {
      std::string_view fn = StrOr(f, "function");
      if (fn.empty() || fn == "<redacted>" || fn == "<unknown>") continue;
    }
    if (f["in_app"].boolean()) return &f;
    if (fallback == nullptr) fallback = &f;
  }
  return fallback;
}

}  // namespace tern::grouping

#endif  // TERN_BACKEND_GROUPING_EVENT_FIELDS_H_
