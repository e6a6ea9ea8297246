#include "protocol/project_config.h"

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "protocol/json_writer.h"

namespace tern::protocol {
namespace {

namespace dom = simdjson::dom;
using Type = dom::element_type;

// Field paths are built only on the error path, so a valid document costs no
// string work for them.
absl::Status WrongType(std::string_view path, std::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(path), ": expected ", ToAbsl(expected)));
}

// An untrusted object key as it appears in an error path: at most 64 bytes,
// C-escaped, so a message can neither grow without bound nor carry control
// characters into a log line.
std::string PathKey(std::string_view key) {
  constexpr size_t kMax = 64;
  std::string out = absl::CHexEscape(ToAbsl(key.substr(0, kMax)));
  if (key.size() > kMax) out += "...";
  return out;
}

absl::StatusOr<dom::element> ParseDocument(dom::parser& parser,
                                           std::string_view json) {
  if (json.size() > kMaxProjectConfigsBytes) {
    return absl::OutOfRangeError(absl::StrCat("project configs: ", json.size(),
                                              " bytes, the limit is ",
                                              kMaxProjectConfigsBytes));
  }
  // The caller's bytes are not padded; simdjson copies them into its own
  // padded buffer (realloc_if_needed = true).
  auto parsed = parser.parse(json.data(), json.size(), true);
  if (parsed.error() == simdjson::MEMALLOC) {
    return absl::ResourceExhaustedError(
        "project configs: out of memory for the parser");
  }
  if (parsed.error()) {
    return absl::InvalidArgumentError(
        absl::StrCat("project configs: invalid JSON: ",
                     simdjson::error_message(parsed.error())));
  }
  dom::element root = parsed.value_unsafe();
  if (root.type() != Type::OBJECT) {
    return absl::InvalidArgumentError(
        "project configs: the body must be a JSON object");
  }
  return root;
}

// The first field named `key` of `object`, or nullopt. (simdjson's at_key
// also returns the first match; spelled out to keep error handling in one
// place.)
std::optional<dom::element> Field(dom::object object, std::string_view key) {
  dom::element e;
  if (object.at_key(key).get(e) != simdjson::SUCCESS) return std::nullopt;
  return e;
}

absl::Status ReadString(dom::element e, std::string_view path,
                        std::string* out) {
  std::string_view s;
  if (e.get(s) != simdjson::SUCCESS) return WrongType(path, "a string");
  out->assign(s.data(), s.size());
  return absl::OkStatus();
}

absl::Status ReadUint(dom::element e, std::string_view path, uint64_t* out) {
  if (e.get(*out) != simdjson::SUCCESS) {
    return WrongType(path, "an unsigned integer");
  }
  return absl::OkStatus();
}

absl::Status ReadBool(dom::element e, std::string_view path, bool* out) {
  if (e.get(*out) != simdjson::SUCCESS) return WrongType(path, "a boolean");
  return absl::OkStatus();
}

// An array of strings; `path` names the array, elements are "path[i]".
absl::Status ReadStringArray(dom::element e, std::string_view path,
                             size_t max_items, std::vector<std::string>* out) {
  dom::array array;
  if (e.get(array) != simdjson::SUCCESS) {
    return WrongType(path, "an array of strings");
  }
  if (array.size() > max_items) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(path), ": more than ", max_items, " entries"));
  }
  out->clear();
  out->reserve(array.size());
  size_t i = 0;
  for (dom::element item : array) {
    std::string_view s;
    if (item.get(s) != simdjson::SUCCESS) {
      return WrongType(absl::StrCat(ToAbsl(path), "[", i, "]"), "a string");
    }
    out->emplace_back(s);
    ++i;
  }
  return absl::OkStatus();
}

absl::Status ReadKey(dom::element e, const std::string& path,
                     ProjectKeyConfig* out) {
  dom::object object;
  if (e.get(object) != simdjson::SUCCESS) return WrongType(path, "an object");
  if (auto f = Field(object, "publicKey")) {
    TERN_RETURN_IF_ERROR(ReadString(*f, path + ".publicKey", &out->public_key));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".publicKey: missing"));
  }
  if (auto f = Field(object, "numericId"); f && !f->is_null()) {
    TERN_RETURN_IF_ERROR(ReadUint(*f, path + ".numericId", &out->numeric_id));
  }
  if (auto f = Field(object, "isEnabled"); f && !f->is_null()) {
    TERN_RETURN_IF_ERROR(ReadBool(*f, path + ".isEnabled", &out->is_enabled));
  }
  return absl::OkStatus();
}

absl::Status ReadProject(dom::object object, const std::string& path,
                         ProjectConfig* out) {
  if (auto f = Field(object, "projectId")) {
    TERN_RETURN_IF_ERROR(ReadUint(*f, path + ".projectId", &out->project_id));
  }
  if (out->project_id == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".projectId: missing or zero"));
  }
  if (auto f = Field(object, "slug"); f && !f->is_null()) {
    TERN_RETURN_IF_ERROR(ReadString(*f, path + ".slug", &out->slug));
  }
  if (auto f = Field(object, "disabled"); f && !f->is_null()) {
    TERN_RETURN_IF_ERROR(ReadBool(*f, path + ".disabled", &out->disabled));
  }
  if (auto f = Field(object, "publicKeys"); f && !f->is_null()) {
    dom::array keys;
    if (f->get(keys) != simdjson::SUCCESS) {
      return WrongType(path + ".publicKeys", "an array of objects");
    }
    out->public_keys.reserve(keys.size());
    size_t i = 0;
    for (dom::element k : keys) {
      ProjectKeyConfig key;
      TERN_RETURN_IF_ERROR(
          ReadKey(k, absl::StrCat(path, ".publicKeys[", i, "]"), &key));
      out->public_keys.push_back(std::move(key));
      ++i;
    }
  }
  if (auto f = Field(object, "config"); f && !f->is_null()) {
    dom::object config;
    if (f->get(config) != simdjson::SUCCESS) {
      return WrongType(path + ".config", "an object");
    }
    if (auto d = Field(config, "allowedDomains"); d && !d->is_null()) {
      TERN_RETURN_IF_ERROR(ReadStringArray(*d, path + ".config.allowedDomains",
                                           SIZE_MAX, &out->allowed_domains));
    }
  }
  return absl::OkStatus();
}

void WriteProject(const ProjectConfig& p, JsonWriter& w) {
  w.BeginObject();
  w.Key("projectId");
  w.Uint(p.project_id);
  w.Key("slug");
  w.String(p.slug);
  w.Key("disabled");
  w.Bool(p.disabled);
  w.Key("publicKeys");
  w.BeginArray();
  for (const ProjectKeyConfig& k : p.public_keys) {
    w.BeginObject();
    w.Key("publicKey");
    w.String(k.public_key);
    w.Key("numericId");
    w.Uint(k.numeric_id);
    w.Key("isEnabled");
    w.Bool(k.is_enabled);
    w.EndObject();
  }
  w.EndArray();
  w.Key("config");
  w.BeginObject();
  w.Key("allowedDomains");
  w.BeginArray();
  for (const std::string& d : p.allowed_domains) w.String(d);
  w.EndArray();
  w.EndObject();
  w.EndObject();
}

}  // namespace

void EncodeProjectConfigsRequest(const ProjectConfigsRequest& request,
                                 std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("publicKeys");
  w.BeginArray();
  for (const std::string& k : request.public_keys) w.String(k);
  w.EndArray();
  w.EndObject();
}

absl::StatusOr<ProjectConfigsRequest> ParseProjectConfigsRequest(
    std::string_view json) {
  dom::parser parser;
  TERN_ASSIGN_OR_RETURN(dom::element root, ParseDocument(parser, json));
  dom::object top;
  [[maybe_unused]] const auto err = root.get(top);
  ProjectConfigsRequest request;
  std::optional<dom::element> keys = Field(top, "publicKeys");
  if (!keys) return absl::InvalidArgumentError("publicKeys: missing");
  TERN_RETURN_IF_ERROR(ReadStringArray(*keys, "publicKeys",
                                       kMaxProjectConfigsRequestKeys,
                                       &request.public_keys));
  return request;
}

void EncodeProjectConfigsResponse(const ProjectConfigsResponse& response,
                                  std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("configs");
  w.BeginObject();
  for (const auto& [key, config] : response.configs) {
    w.Key(key);
    if (config) {
      WriteProject(*config, w);
    } else {
      w.Null();
    }
  }
  w.EndObject();
  w.Key("pending");
  w.BeginArray();
  for (const std::string& k : response.pending) w.String(k);
  w.EndArray();
  w.EndObject();
}

absl::StatusOr<ProjectConfigsResponse> ParseProjectConfigsResponse(
    std::string_view json) {
  dom::parser parser;
  TERN_ASSIGN_OR_RETURN(dom::element root, ParseDocument(parser, json));
  dom::object top;
  [[maybe_unused]] const auto err = root.get(top);
  ProjectConfigsResponse response;
  if (auto configs = Field(top, "configs"); configs && !configs->is_null()) {
    dom::object object;
    if (configs->get(object) != simdjson::SUCCESS) {
      return WrongType("configs", "an object");
    }
    // Views into the parser's document, which outlives this loop.
    std::unordered_set<std::string_view> seen;
    for (dom::key_value_pair field : object) {
      if (!seen.insert(field.key).second) continue;
      std::optional<ProjectConfig> config;
      if (!field.value.is_null()) {
        dom::object project;
        const std::string path = absl::StrCat("configs.", PathKey(field.key));
        if (field.value.get(project) != simdjson::SUCCESS) {
          return WrongType(path, "null or an object");
        }
        config.emplace();
        TERN_RETURN_IF_ERROR(ReadProject(project, path, &*config));
      }
      response.configs.emplace_back(std::string(field.key), std::move(config));
    }
  }
  if (auto pending = Field(top, "pending"); pending && !pending->is_null()) {
    TERN_RETURN_IF_ERROR(
        ReadStringArray(*pending, "pending", SIZE_MAX, &response.pending));
  }
  return response;
}

}  // namespace tern::protocol
