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

}  // namespace tern::grouping

#endif  // TERN_BACKEND_GROUPING_EVENT_FIELDS_H_
