// A small owned, immutable JSON tree for code that walks whole documents
// outside the relay's hot path: the backend's grouping (which visits an
// event's exceptions, frames and message) and its API (request bodies).
//
// simdjson stays inside protocol/ (ARCHITECTURE.md): ParseJson parses with
// simdjson's DOM and copies the result into this tree, so callers get plain
// values that outlive the parser and need no simdjson headers. Objects keep
// their members in input order, duplicates included; Find returns the first.
// Numbers keep their input text, so an integer never loses digits.
//
// Every accessor is total: asking an array for a key, or a string for an
// item, gives an empty answer or a static null value instead of an error, so
// walking an event of unknown shape needs no checks at every step.
#ifndef TERN_PROTOCOL_JSON_VALUE_H_
#define TERN_PROTOCOL_JSON_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::protocol {

class JsonValue {
 public:
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  // false unless kBool.
  bool boolean() const { return kind_ == Kind::kBool && bool_; }
  // 0 unless kNumber.
  double number() const { return kind_ == Kind::kNumber ? number_ : 0; }
  // The number when it is integral and fits an int64; nullopt otherwise.
  std::optional<int64_t> integer() const;
  // "" unless kString.
  std::string_view string() const {
    return kind_ == Kind::kString ? std::string_view(text_) : "";
  }
  // The number's text as in the input ("12", "1.50"); "" unless kNumber.
  std::string_view raw_number() const {
    return kind_ == Kind::kNumber ? std::string_view(text_) : "";
  }
  // Empty unless kArray.
  std::span<const JsonValue> items() const { return items_; }
  // Empty unless kObject; in input order.
  std::span<const Member> members() const { return members_; }

  // The first member named `key`; nullptr when absent or not an object.
  const JsonValue* Find(std::string_view key) const;
  // Find, or a static null value.
  const JsonValue& operator[](std::string_view key) const;
  // The item at `index`, or a static null value.
  const JsonValue& operator[](size_t index) const;

  // Appends the value as compact JSON (numbers as in the input).
  void AppendJson(std::string* out) const;

 private:
  friend class JsonTreeBuilder;

  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string text_;  // a string's value or a number's text
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

// Parses one JSON document. InvalidArgument for anything that is not JSON
// or nests deeper than 128 levels (the tree is copied recursively).
absl::StatusOr<JsonValue> ParseJson(std::string_view json);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_JSON_VALUE_H_
