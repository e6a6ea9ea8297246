#include "config/decoder.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "config/values.h"

namespace tern::config {
namespace {

// What an error says the file held instead of what was expected.
std::string Got(const YamlNode& node) {
  switch (node.kind) {
    case YamlNode::Kind::kNull:
      return "got null";
    case YamlNode::Kind::kScalar:
      return absl::StrCat("got \"", absl::CEscape(node.scalar), "\"");
    case YamlNode::Kind::kSequence:
      return "got a list";
    case YamlNode::Kind::kMap:
      return "got a map";
  }
  return "got something else";
}

}  // namespace

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return absl::StrCat(ToAbsl(parent), ".", ToAbsl(key));
}

std::string IndexPath(std::string_view parent, size_t index) {
  return absl::StrCat(ToAbsl(parent), "[", index, "]");
}

absl::Status Decoder::ErrorAt(Mark mark, std::string_view path,
                              std::string_view message) const {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename_, ":", mark.line, ":", mark.column, ": ", ToAbsl(message)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(filename_, ":", mark.line, ":", mark.column, ": ",
                   ToAbsl(path), ": ", ToAbsl(message)));
}

absl::Status Decoder::ErrorAtPath(std::string_view path,
                                  std::string_view message) const {
  std::string_view probe = path;
  while (true) {
    auto it = marks_.find(ToAbsl(probe));
    if (it != marks_.end()) return ErrorAt(it->second, path, message);
    const size_t cut = probe.find_last_of(".[");
    if (cut == std::string_view::npos) break;
    probe = probe.substr(0, cut);
  }
  return ErrorAt(Mark{}, path, message);
}

void Decoder::Remember(std::string_view path, Mark mark) {
  marks_[ToAbsl(path)] = mark;
}

absl::Status Decoder::String(const YamlNode& node, std::string_view path,
                             std::string* out) const {
  if (node.kind != YamlNode::Kind::kScalar) {
    return Error(node, path, absl::StrCat("expected a string, ", Got(node)));
  }
  *out = node.scalar;
  return absl::OkStatus();
}

absl::Status Decoder::Bool(const YamlNode& node, std::string_view path,
                           bool* out) const {
  if (node.kind == YamlNode::Kind::kScalar) {
    const std::string lower = absl::AsciiStrToLower(node.scalar);
    if (lower == "true") {
      *out = true;
      return absl::OkStatus();
    }
    if (lower == "false") {
      *out = false;
      return absl::OkStatus();
    }
  }
  return Error(node, path, absl::StrCat("expected true or false, ", Got(node)));
}

absl::Status Decoder::Uint(const YamlNode& node, std::string_view path,
                           uint64_t min, uint64_t max, uint64_t* out) const {
  uint64_t value = 0;
  const bool digits = node.kind == YamlNode::Kind::kScalar &&
                      !node.scalar.empty() &&
                      std::all_of(node.scalar.begin(), node.scalar.end(),
                                  [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || !absl::SimpleAtoi(node.scalar, &value)) {
    return Error(node, path,
                 absl::StrCat("expected a whole number, ", Got(node)));
  }
  if (value < min || value > max) {
    return Error(
        node, path,
        absl::StrCat("must be between ", min, " and ", max, ", got ", value));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status Decoder::Size(const YamlNode& node, std::string_view path,
                           uint64_t min, uint64_t max, uint64_t* out) const {
  absl::StatusOr<uint64_t> value = absl::InvalidArgumentError("");
  if (node.kind == YamlNode::Kind::kScalar) value = ParseSize(node.scalar);
  if (!value.ok()) {
    return Error(node, path,
                 absl::StrCat("expected a size like 1MiB, 512KiB, 100MB or a "
                              "byte count, ",
                              Got(node)));
  }
  if (*value < min || *value > max) {
    return Error(node, path,
                 absl::StrCat("must be between ", min, " and ", max,
                              " bytes, got ", *value));
  }
  *out = *value;
  return absl::OkStatus();
}

absl::Status Decoder::Duration(const YamlNode& node, std::string_view path,
                               absl::Duration min, absl::Duration* out) const {
  absl::StatusOr<absl::Duration> value = absl::InvalidArgumentError("");
  if (node.kind == YamlNode::Kind::kScalar) value = ParseDuration(node.scalar);
  if (!value.ok()) {
    return Error(node, path,
                 absl::StrCat("expected a duration like 100ms, 10s, 5m or 1h, ",
                              Got(node)));
  }
  if (*value < min) {
    return Error(node, path,
                 absl::StrCat("must be at least ", absl::FormatDuration(min),
                              ", got ", node.scalar));
  }
  *out = *value;
  return absl::OkStatus();
}

absl::Status Decoder::OneOf(const YamlNode& node, std::string_view path,
                            std::initializer_list<std::string_view> names,
                            int* out) const {
  if (node.kind == YamlNode::Kind::kScalar) {
    int index = 0;
    for (std::string_view name : names) {
      if (node.scalar == name) {
        *out = index;
        return absl::OkStatus();
      }
      ++index;
    }
  }
  std::vector<absl::string_view> list;
  for (std::string_view name : names) list.push_back(ToAbsl(name));
  return Error(node, path,
               absl::StrCat("expected one of ", absl::StrJoin(list, ", "), ", ",
                            Got(node)));
}

absl::Status Decoder::ExpectList(const YamlNode& node,
                                 std::string_view path) const {
  if (node.kind == YamlNode::Kind::kSequence ||
      node.kind == YamlNode::Kind::kNull) {
    return absl::OkStatus();
  }
  return Error(node, path, absl::StrCat("expected a list, ", Got(node)));
}

absl::Status Decoder::StringList(const YamlNode& node, std::string_view path,
                                 std::vector<std::string>* out) const {
  TERN_RETURN_IF_ERROR(ExpectList(node, path));
  out->clear();
  for (size_t i = 0; i < node.items.size(); ++i) {
    const YamlNode& item = node.items[i];
    std::string value;
    TERN_RETURN_IF_ERROR(String(item, IndexPath(path, i), &value));
    if (value.empty()) {
      return Error(item, IndexPath(path, i), "must not be empty");
    }
    out->push_back(std::move(value));
  }
  return absl::OkStatus();
}

absl::Status Decoder::StringMap(const YamlNode& node, std::string_view path,
                                std::map<std::string, std::string>* out) {
  if (node.kind == YamlNode::Kind::kNull) {
    out->clear();
    return absl::OkStatus();
  }
  if (node.kind != YamlNode::Kind::kMap) {
    return Error(node, path, absl::StrCat("expected a map, ", Got(node)));
  }
  out->clear();
  for (const auto& [key, value] : node.entries) {
    const std::string key_path = JoinPath(path, key.scalar);
    Remember(key_path, key.mark);
    std::string text;
    TERN_RETURN_IF_ERROR(String(value, key_path, &text));
    (*out)[key.scalar] = std::move(text);
  }
  return absl::OkStatus();
}

absl::StatusOr<MapFields> MapFields::Open(Decoder* decoder,
                                          const YamlNode& node,
                                          std::string_view path) {
  if (node.kind != YamlNode::Kind::kMap && node.kind != YamlNode::Kind::kNull) {
    return decoder->Error(node, path,
                          absl::StrCat("expected a map of keys, ", Got(node)));
  }
  return MapFields(decoder, &node, std::string(path));
}

const YamlNode* MapFields::Take(std::string_view key) {
  taken_.emplace_back(key);
  for (const auto& [k, value] : node_->entries) {
    if (k.scalar == key) {
      decoder_->Remember(PathOf(key), k.mark);
      return &value;
    }
  }
  return nullptr;
}

absl::Status MapFields::Finish() const {
  for (const auto& [key, value] : node_->entries) {
    if (std::find(taken_.begin(), taken_.end(), key.scalar) == taken_.end()) {
      return decoder_->Error(
          key, path_,
          absl::StrCat("unknown key \"", absl::CEscape(key.scalar),
                       "\" (expected one of: ", absl::StrJoin(taken_, ", "),
                       ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tern::config
