#include "protocol/json_value.h"

#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "protocol/json_writer.h"
#include "simdjson.h"

namespace tern::protocol {

namespace {

constexpr size_t kMaxDepth = 128;

const JsonValue& Null() {
  static const JsonValue* const kNull = new JsonValue();
  return *kNull;
}

}  // namespace

// Copies a simdjson DOM element into the owned tree.
class JsonTreeBuilder {
 public:
  static bool Build(simdjson::dom::element element, size_t depth,
                    JsonValue* out) {
    if (depth > kMaxDepth) return false;
    switch (element.type()) {
      case simdjson::dom::element_type::NULL_VALUE:
        out->kind_ = JsonValue::Kind::kNull;
        return true;
      case simdjson::dom::element_type::BOOL:
        out->kind_ = JsonValue::Kind::kBool;
        out->bool_ = element.get_bool().value_unsafe();
        return true;
      case simdjson::dom::element_type::INT64: {
        out->kind_ = JsonValue::Kind::kNumber;
        int64_t v = element.get_int64().value_unsafe();
        out->number_ = static_cast<double>(v);
        out->text_ = absl::StrCat(v);
        return true;
      }
      case simdjson::dom::element_type::UINT64: {
        out->kind_ = JsonValue::Kind::kNumber;
        uint64_t v = element.get_uint64().value_unsafe();
        out->number_ = static_cast<double>(v);
        out->text_ = absl::StrCat(v);
        return true;
      }
      case simdjson::dom::element_type::DOUBLE: {
        out->kind_ = JsonValue::Kind::kNumber;
        out->number_ = element.get_double().value_unsafe();
        // simdjson's DOM does not keep the input text of a double; the
        // shortest round-trip form is what any JSON writer would produce.
        out->text_ = simdjson::to_string(element);
        return true;
      }
      case simdjson::dom::element_type::STRING:
        out->kind_ = JsonValue::Kind::kString;
        out->text_ = std::string(element.get_string().value_unsafe());
        return true;
      case simdjson::dom::element_type::ARRAY: {
        out->kind_ = JsonValue::Kind::kArray;
        simdjson::dom::array array = element.get_array().value_unsafe();
        out->items_.resize(array.size());
        size_t i = 0;
        for (simdjson::dom::element item : array) {
          if (!Build(item, depth + 1, &out->items_[i++])) return false;
        }
        return true;
      }
      case simdjson::dom::element_type::OBJECT: {
        out->kind_ = JsonValue::Kind::kObject;
        simdjson::dom::object object = element.get_object().value_unsafe();
        out->members_.resize(object.size());
        size_t i = 0;
        for (simdjson::dom::key_value_pair field : object) {
          JsonValue::Member& member = out->members_[i++];
          member.first = std::string(field.key);
          if (!Build(field.value, depth + 1, &member.second)) return false;
        }
        return true;
      }
    }
    return false;
  }
};

std::optional<int64_t> JsonValue::integer() const {
  if (kind_ != Kind::kNumber) return std::nullopt;
  // 2^63 as a double; anything at or above it (or NaN) does not fit.
  constexpr double kLimit = 9223372036854775808.0;
  if (!(number_ >= -kLimit && number_ < kLimit)) return std::nullopt;
  if (std::trunc(number_) != number_) return std::nullopt;
  // Integers parsed as such keep every digit; doubles convert exactly here.
  if (text_.find_first_of(".eE") == std::string::npos) {
    int64_t value = 0;
    if (absl::SimpleAtoi(text_, &value)) return value;
    return std::nullopt;
  }
  return static_cast<int64_t>(number_);
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const Member& member : members_) {
    if (member.first == key) return &member.second;
  }
  return nullptr;
}

const JsonValue& JsonValue::operator[](std::string_view key) const {
  const JsonValue* value = Find(key);
  return value != nullptr ? *value : Null();
}

const JsonValue& JsonValue::operator[](size_t index) const {
  return index < items_.size() ? items_[index] : Null();
}

void JsonValue::AppendJson(std::string* out) const {
  switch (kind_) {
    case Kind::kNull:
      out->append("null");
      return;
    case Kind::kBool:
      out->append(bool_ ? "true" : "false");
      return;
    case Kind::kNumber:
      out->append(text_);
      return;
    case Kind::kString:
      JsonWriter::AppendQuoted(out, text_);
      return;
    case Kind::kArray: {
      out->push_back('[');
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) out->push_back(',');
        items_[i].AppendJson(out);
      }
      out->push_back(']');
      return;
    }
    case Kind::kObject: {
      out->push_back('{');
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i > 0) out->push_back(',');
        JsonWriter::AppendQuoted(out, members_[i].first);
        out->push_back(':');
        members_[i].second.AppendJson(out);
      }
      out->push_back('}');
      return;
    }
  }
}

absl::StatusOr<JsonValue> ParseJson(std::string_view json) {
  // One parser per thread: its buffers are reused from call to call.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root); error) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", simdjson::error_message(error)));
  }
  JsonValue value;
  if (!JsonTreeBuilder::Build(root, 0, &value)) {
    return absl::InvalidArgumentError("invalid JSON: nested too deeply");
  }
  return value;
}

}  // namespace tern::protocol
