#include "protocol/project_config.h"

#include <simdjson.h>

#include <algorithm>
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
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "protocol/json_writer.h"
#include "protocol/rate_limits.h"

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

// `what` labels errors ("project configs", "settings").
absl::StatusOr<dom::element> ParseDocument(
    dom::parser& parser, std::string_view json,
    std::string_view what = "project configs") {
  if (json.size() > kMaxProjectConfigsBytes) {
    return absl::OutOfRangeError(absl::StrCat(ToAbsl(what), ": ", json.size(),
                                              " bytes, the limit is ",
                                              kMaxProjectConfigsBytes));
  }
  // The caller's bytes are not padded; simdjson copies them into its own
  // padded buffer (realloc_if_needed = true).
  auto parsed = parser.parse(json.data(), json.size(), true);
  if (parsed.error() == simdjson::MEMALLOC) {
    return absl::ResourceExhaustedError(
        absl::StrCat(ToAbsl(what), ": out of memory for the parser"));
  }
  if (parsed.error()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(what),
        ": invalid JSON: ", simdjson::error_message(parsed.error())));
  }
  dom::element root = parsed.value_unsafe();
  if (root.type() != Type::OBJECT) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(what), ": must be a JSON object"));
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

absl::Status ReadQuota(dom::element e, const std::string& path,
                       QuotaConfig* out) {
  dom::object object;
  if (e.get(object) != simdjson::SUCCESS) return WrongType(path, "an object");
  if (auto f = Field(object, "id"); f && !f->is_null()) {
    TERN_RETURN_IF_ERROR(ReadString(*f, path + ".id", &out->id));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, ".id: missing"));
  }
  if (!IsRateLimitToken(out->id)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".id: expected a name of [A-Za-z0-9_.-], got \"",
                     PathKey(out->id), "\""));
  }
  if (auto f = Field(object, "categories"); f && !f->is_null()) {
    const std::string cpath = path + ".categories";
    dom::array array;
    if (f->get(array) != simdjson::SUCCESS) {
      return WrongType(cpath, "an array of category names");
    }
    size_t i = 0;
    for (dom::element item : array) {
      std::string_view name;
      const DataCategory category = item.get(name) == simdjson::SUCCESS
                                        ? DataCategoryFromName(name)
                                        : DataCategory::kUnknown;
      if (category == DataCategory::kUnknown) {
        return WrongType(absl::StrCat(cpath, "[", i, "]"),
                         "one of error, default, transaction, security, "
                         "session, attachment");
      }
      if (std::find(out->categories.begin(), out->categories.end(), category) !=
          out->categories.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            cpath, "[", i, "]: category \"", ToAbsl(DataCategoryName(category)),
            "\" listed twice"));
      }
      out->categories.push_back(category);
      ++i;
    }
  }
  if (auto f = Field(object, "scope"); f && !f->is_null()) {
    std::string_view scope;
    if (f->get(scope) != simdjson::SUCCESS ||
        (scope != "project" && scope != "key")) {
      return WrongType(path + ".scope", "\"project\" or \"key\"");
    }
    out->scope = scope == "key" ? QuotaScope::kKey : QuotaScope::kProject;
  }
  if (auto f = Field(object, "limit"); f && !f->is_null()) {
    TERN_RETURN_IF_ERROR(ReadUint(*f, path + ".limit", &out->limit));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".limit: missing (0 rejects everything)"));
  }
  if (auto f = Field(object, "window"); f && !f->is_null()) {
    if (f->get(out->window_seconds) != simdjson::SUCCESS ||
        out->window_seconds == 0 ||
        out->window_seconds > kMaxQuotaWindowSeconds) {
      return WrongType(path + ".window",
                       absl::StrCat("1..", kMaxQuotaWindowSeconds, " seconds"));
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".window: missing (seconds)"));
  }
  if (auto f = Field(object, "reasonCode"); f && !f->is_null()) {
    TERN_RETURN_IF_ERROR(
        ReadString(*f, path + ".reasonCode", &out->reason_code));
    if (!IsRateLimitToken(out->reason_code)) {
      return WrongType(path + ".reasonCode", "a code of [A-Za-z0-9_.-]");
    }
  }
  return absl::OkStatus();
}

// `path` names the array ("configs.k.config.quotas").
absl::Status ReadQuotas(dom::element e, const std::string& path,
                        std::vector<QuotaConfig>* out) {
  dom::array array;
  if (e.get(array) != simdjson::SUCCESS) {
    return WrongType(path, "an array of objects");
  }
  out->clear();
  out->reserve(array.size());
  // Ids name counters, so two quotas sharing one would share a counter (the
  // projects file refuses it too). A set, not a scan: a hostile body may
  // hold hundreds of thousands of quotas.
  std::unordered_set<std::string> ids;
  size_t i = 0;
  for (dom::element item : array) {
    QuotaConfig quota;
    const std::string item_path = absl::StrCat(path, "[", i, "]");
    TERN_RETURN_IF_ERROR(ReadQuota(item, item_path, &quota));
    if (!ids.insert(quota.id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          item_path, ".id: duplicate quota id \"", quota.id, "\""));
    }
    out->push_back(std::move(quota));
    ++i;
  }
  return absl::OkStatus();
}

void WriteQuotas(const std::vector<QuotaConfig>& quotas, JsonWriter& w) {
  w.BeginArray();
  for (const QuotaConfig& q : quotas) {
    w.BeginObject();
    w.Key("id");
    w.String(q.id);
    w.Key("categories");
    w.BeginArray();
    for (DataCategory c : q.categories) w.String(DataCategoryName(c));
    w.EndArray();
    w.Key("scope");
    w.String(QuotaScopeName(q.scope));
    w.Key("limit");
    w.Uint(q.limit);
    w.Key("window");
    w.Uint(q.window_seconds);
    if (!q.reason_code.empty()) {
      w.Key("reasonCode");
      w.String(q.reason_code);
    }
    w.EndObject();
  }
  w.EndArray();
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
    if (auto q = Field(config, "quotas"); q && !q->is_null()) {
      TERN_RETURN_IF_ERROR(
          ReadQuotas(*q, path + ".config.quotas", &out->quotas));
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
  // Written only when there are some, so a project without quotas reads as
  // it did before quotas existed.
  if (!p.quotas.empty()) {
    w.Key("quotas");
    WriteQuotas(p.quotas, w);
  }
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

absl::StatusOr<std::vector<QuotaConfig>> ParseQuotasMember(
    std::string_view json) {
  dom::parser parser;
  TERN_ASSIGN_OR_RETURN(dom::element root,
                        ParseDocument(parser, json, "settings"));
  dom::object top;
  [[maybe_unused]] const auto err = root.get(top);
  std::vector<QuotaConfig> quotas;
  if (auto q = Field(top, "quotas"); q && !q->is_null()) {
    TERN_RETURN_IF_ERROR(ReadQuotas(*q, "quotas", &quotas));
  }
  return quotas;
}

std::string_view QuotaScopeName(QuotaScope scope) {
  return scope == QuotaScope::kKey ? "key" : "project";
}

}  // namespace tern::protocol
