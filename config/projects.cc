#include "config/projects.h"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "config/decoder.h"
#include "config/yaml_tree.h"
#include "protocol/dsn.h"
#include "protocol/rate_limits.h"

namespace tern::config {
namespace {

using protocol::DataCategory;

bool IsSlug(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

bool IsValidOrigin(std::string_view origin) {
  return origin == "*" || ParseOriginPattern(origin).has_value();
}

absl::Status DecodeQuota(Decoder& d, const YamlNode& node,
                         std::string_view path, Quota* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  if (node.kind == YamlNode::Kind::kNull) {
    return d.Error(node, path, "expected a quota map, got null");
  }
  const YamlNode* id = m.Take("id");
  if (id == nullptr) return d.Error(node, path, "missing key \"id\"");
  TERN_RETURN_IF_ERROR(d.String(*id, m.PathOf("id"), &out->id));
  if (!protocol::IsRateLimitToken(out->id)) {
    return d.Error(*id, m.PathOf("id"),
                   absl::StrCat("expected a name of [A-Za-z0-9_.-], got \"",
                                out->id, "\""));
  }
  TERN_RETURN_IF_ERROR(m.Field("categories", [&](const YamlNode& n, auto p) {
    TERN_RETURN_IF_ERROR(d.ExpectList(n, p));
    for (size_t i = 0; i < n.items.size(); ++i) {
      int index = 0;
      TERN_RETURN_IF_ERROR(d.OneOf(n.items[i], IndexPath(p, i),
                                   {"error", "default", "transaction",
                                    "security", "session", "attachment"},
                                   &index));
      static constexpr DataCategory kCategories[] = {
          DataCategory::kError,       DataCategory::kDefault,
          DataCategory::kTransaction, DataCategory::kSecurity,
          DataCategory::kSession,     DataCategory::kAttachment};
      for (DataCategory seen : out->categories) {
        if (seen == kCategories[index]) {
          return d.Error(n.items[i], IndexPath(p, i),
                         absl::StrCat("category \"", n.items[i].scalar,
                                      "\" listed twice"));
        }
      }
      out->categories.push_back(kCategories[index]);
    }
    return absl::OkStatus();
  }));
  TERN_RETURN_IF_ERROR(m.Field("scope", [&](const YamlNode& n, auto p) {
    int index = 0;
    TERN_RETURN_IF_ERROR(d.OneOf(n, p, {"project", "key"}, &index));
    out->scope = index == 0 ? QuotaScope::kProject : QuotaScope::kKey;
    return absl::OkStatus();
  }));
  const YamlNode* limit = m.Take("limit");
  if (limit == nullptr) {
    return d.Error(node, path, "missing key \"limit\" (0 rejects everything)");
  }
  TERN_RETURN_IF_ERROR(d.Uint(*limit, m.PathOf("limit"), 0,
                              std::numeric_limits<uint64_t>::max(),
                              &out->limit));
  const YamlNode* window = m.Take("window");
  if (window == nullptr) {
    return d.Error(node, path, "missing key \"window\" (seconds)");
  }
  // Ten years: anything longer is a unit mistake.
  TERN_RETURN_IF_ERROR(d.Uint(*window, m.PathOf("window"), 1,
                              protocol::kMaxQuotaWindowSeconds,
                              &out->window_seconds));
  TERN_RETURN_IF_ERROR(m.Field("reason_code", [&](const YamlNode& n, auto p) {
    TERN_RETURN_IF_ERROR(d.String(n, p, &out->reason_code));
    if (!protocol::IsRateLimitToken(out->reason_code)) {
      return d.Error(n, p,
                     absl::StrCat("expected a code of [A-Za-z0-9_.-], got \"",
                                  out->reason_code, "\""));
    }
    return absl::OkStatus();
  }));
  return m.Finish();
}

// Decodes a quota list; `ids` collects ids (and where each was written) so
// duplicates are refused across every list that shares one id namespace.
absl::Status DecodeQuotas(Decoder& d, const YamlNode& node,
                          std::string_view path,
                          absl::flat_hash_map<std::string, Mark>& ids,
                          std::vector<Quota>* out) {
  TERN_RETURN_IF_ERROR(d.ExpectList(node, path));
  for (size_t i = 0; i < node.items.size(); ++i) {
    Quota quota;
    const std::string item_path = IndexPath(path, i);
    TERN_RETURN_IF_ERROR(DecodeQuota(d, node.items[i], item_path, &quota));
    if (auto [it, inserted] = ids.emplace(quota.id, node.items[i].mark);
        !inserted) {
      // Keys' quotas are decoded before the project's, so "also at" may
      // point further down the file; either way both places are named.
      return d.ErrorAtPath(
          JoinPath(item_path, "id"),
          absl::StrCat("duplicate quota id \"", quota.id, "\" (also at line ",
                       it->second.line, ")"));
    }
    out->push_back(std::move(quota));
  }
  return absl::OkStatus();
}

struct KeySeen {
  uint64_t project_id;
  Mark mark;
};

class ProjectsDecoder {
 public:
  explicit ProjectsDecoder(std::string_view filename) : d_(filename) {}

  absl::Status Decode(const YamlNode& root, ProjectsFile* out) {
    TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d_, root, ""));
    TERN_RETURN_IF_ERROR(m.Field("defaults", [&](const YamlNode& n, auto p) {
      TERN_ASSIGN_OR_RETURN(MapFields dm, MapFields::Open(&d_, n, p));
      absl::flat_hash_map<std::string, Mark> ids;
      TERN_RETURN_IF_ERROR(dm.Field("quotas", [&](const YamlNode& qn, auto qp) {
        return DecodeQuotas(d_, qn, qp, ids, &out->default_quotas);
      }));
      return dm.Finish();
    }));
    TERN_RETURN_IF_ERROR(m.Field("projects", [&](const YamlNode& n, auto p) {
      TERN_RETURN_IF_ERROR(d_.ExpectList(n, p));
      for (size_t i = 0; i < n.items.size(); ++i) {
        Project project;
        TERN_RETURN_IF_ERROR(
            DecodeProject(n.items[i], IndexPath(p, i), &project));
        out->projects.push_back(std::move(project));
      }
      return absl::OkStatus();
    }));
    return m.Finish();
  }

 private:
  absl::Status DecodeProject(const YamlNode& node, const std::string& path,
                             Project* out) {
    if (node.kind != YamlNode::Kind::kMap) {
      return d_.Error(node, path, "expected a project map");
    }
    TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d_, node, path));
    const YamlNode* id = m.Take("id");
    if (id == nullptr) return d_.Error(node, path, "missing key \"id\"");
    TERN_RETURN_IF_ERROR(d_.Uint(*id, m.PathOf("id"), 1,
                                 std::numeric_limits<uint64_t>::max(),
                                 &out->id));
    if (auto [it, inserted] = project_ids_.emplace(out->id, id->mark);
        !inserted) {
      return d_.Error(*id, m.PathOf("id"),
                      absl::StrCat("duplicate project id ", out->id,
                                   " (first at line ", it->second.line, ")"));
    }
    TERN_RETURN_IF_ERROR(m.Field("slug", [&](const YamlNode& n, auto p) {
      TERN_RETURN_IF_ERROR(d_.String(n, p, &out->slug));
      if (!IsSlug(out->slug)) {
        return d_.Error(n, p,
                        absl::StrCat("expected a slug of [a-z0-9_-], got \"",
                                     out->slug, "\""));
      }
      return absl::OkStatus();
    }));
    absl::flat_hash_map<std::string, Mark> quota_ids;
    TERN_RETURN_IF_ERROR(m.Field("keys", [&](const YamlNode& n, auto p) {
      TERN_RETURN_IF_ERROR(d_.ExpectList(n, p));
      for (size_t i = 0; i < n.items.size(); ++i) {
        ProjectKey key;
        TERN_RETURN_IF_ERROR(
            DecodeKey(n.items[i], IndexPath(p, i), out->id, quota_ids, &key));
        out->keys.push_back(std::move(key));
      }
      return absl::OkStatus();
    }));
    TERN_RETURN_IF_ERROR(m.Field("allowed_origins", [&](const YamlNode& n,
                                                        auto p) {
      TERN_RETURN_IF_ERROR(d_.StringList(n, p, &out->allowed_origins));
      for (size_t i = 0; i < out->allowed_origins.size(); ++i) {
        std::string& origin = out->allowed_origins[i];
        origin = absl::AsciiStrToLower(origin);
        if (!IsValidOrigin(origin)) {
          return d_.Error(n.items[i], IndexPath(p, i),
                          absl::StrCat("expected \"*\", an origin like "
                                       "https://example.com or a pattern like "
                                       "*.example.com, got \"",
                                       n.items[i].scalar, "\""));
        }
      }
      return absl::OkStatus();
    }));
    TERN_RETURN_IF_ERROR(m.Field("quotas", [&](const YamlNode& n, auto p) {
      return DecodeQuotas(d_, n, p, quota_ids, &out->quotas);
    }));
    TERN_RETURN_IF_ERROR(m.Field("scrub_data", [&](const YamlNode& n, auto p) {
      return d_.Bool(n, p, &out->scrub_data);
    }));
    TERN_RETURN_IF_ERROR(
        m.Field("sensitive_fields", [&](const YamlNode& n, auto p) {
          return d_.StringList(n, p, &out->sensitive_fields);
        }));
    TERN_RETURN_IF_ERROR(m.Field("safe_fields", [&](const YamlNode& n, auto p) {
      return d_.StringList(n, p, &out->safe_fields);
    }));
    TERN_RETURN_IF_ERROR(
        m.Field("scrub_ip_addresses", [&](const YamlNode& n, auto p) {
          return d_.Bool(n, p, &out->scrub_ip_addresses);
        }));
    TERN_RETURN_IF_ERROR(m.Field("filters", [&](const YamlNode& n, auto p) {
      InboundFilters& f = out->filters;
      TERN_ASSIGN_OR_RETURN(MapFields fm, MapFields::Open(&d_, n, p));
      auto flag = [&](std::string_view key, bool* field) {
        return fm.Field(key, [&](const YamlNode& fn, auto fp) {
          return d_.Bool(fn, fp, field);
        });
      };
      auto globs = [&](std::string_view key, std::vector<std::string>* field) {
        return fm.Field(key, [&](const YamlNode& fn, auto fp) {
          return d_.StringList(fn, fp, field);
        });
      };
      TERN_RETURN_IF_ERROR(flag("localhost", &f.localhost));
      TERN_RETURN_IF_ERROR(flag("browser_extensions", &f.browser_extensions));
      TERN_RETURN_IF_ERROR(flag("web_crawlers", &f.web_crawlers));
      TERN_RETURN_IF_ERROR(globs("releases", &f.releases));
      TERN_RETURN_IF_ERROR(globs("error_messages", &f.error_messages));
      return fm.Finish();
    }));
    return m.Finish();
  }

  absl::Status DecodeKey(const YamlNode& node, const std::string& path,
                         uint64_t project_id,
                         absl::flat_hash_map<std::string, Mark>& quota_ids,
                         ProjectKey* out) {
    if (node.kind != YamlNode::Kind::kMap) {
      return d_.Error(node, path, "expected a key map with public_key");
    }
    TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d_, node, path));
    const YamlNode* public_key = m.Take("public_key");
    if (public_key == nullptr) {
      return d_.Error(node, path, "missing key \"public_key\"");
    }
    const std::string key_path = m.PathOf("public_key");
    TERN_RETURN_IF_ERROR(d_.String(*public_key, key_path, &out->public_key));
    if (!protocol::IsValidPublicKey(out->public_key)) {
      return d_.Error(*public_key, key_path,
                      absl::StrCat("expected letters and digits (Sentry uses "
                                   "32 hex digits), got \"",
                                   absl::CEscape(out->public_key), "\""));
    }
    if (auto [it, inserted] = public_keys_.emplace(
            out->public_key, KeySeen{project_id, public_key->mark});
        !inserted) {
      return d_.Error(*public_key, key_path,
                      absl::StrCat("duplicate public key (also in project ",
                                   it->second.project_id, " at line ",
                                   it->second.mark.line, ")"));
    }
    TERN_RETURN_IF_ERROR(m.Field("status", [&](const YamlNode& n, auto p) {
      int index = 0;
      TERN_RETURN_IF_ERROR(d_.OneOf(n, p, {"active", "disabled"}, &index));
      out->status = index == 0 ? KeyStatus::kActive : KeyStatus::kDisabled;
      return absl::OkStatus();
    }));
    TERN_RETURN_IF_ERROR(m.Field("id", [&](const YamlNode& n, auto p) {
      return d_.Uint(n, p, 1, std::numeric_limits<uint64_t>::max(), &out->id);
    }));
    TERN_RETURN_IF_ERROR(m.Field("quotas", [&](const YamlNode& n, auto p) {
      return DecodeQuotas(d_, n, p, quota_ids, &out->quotas);
    }));
    return m.Finish();
  }

  Decoder d_;
  absl::flat_hash_map<uint64_t, Mark> project_ids_;
  absl::flat_hash_map<std::string, KeySeen> public_keys_;
};

}  // namespace

std::string_view KeyStatusName(KeyStatus status) {
  return status == KeyStatus::kDisabled ? "disabled" : "active";
}

std::optional<OriginPattern> ParseOriginPattern(std::string_view entry) {
  const std::string lower = absl::AsciiStrToLower(ToAbsl(entry));
  absl::string_view rest = lower;
  OriginPattern p;
  const size_t scheme_end = rest.find("://");
  if (scheme_end != absl::string_view::npos) {
    absl::string_view scheme = rest.substr(0, scheme_end);
    if (scheme.empty() || !absl::ascii_isalpha(scheme[0])) return std::nullopt;
    for (char c : scheme) {
      if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' ||
            c == '.' || c == '-')) {
        return std::nullopt;
      }
    }
    p.scheme = std::string(scheme);
    rest.remove_prefix(scheme_end + 3);
  }
  p.subdomains = absl::ConsumePrefix(&rest, "*.");
  const size_t colon = rest.find(':');
  absl::string_view host = rest.substr(0, colon);
  if (host.empty() || host.front() == '.' || host.back() == '.' ||
      host.front() == '-' || absl::StrContains(host, "..")) {
    return std::nullopt;
  }
  for (char c : host) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
          c == '.')) {
      return std::nullopt;
    }
  }
  p.host = std::string(host);
  if (colon != absl::string_view::npos) {
    absl::string_view port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5) return std::nullopt;
    for (char c : port) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        return std::nullopt;
      }
    }
    int value = 0;
    if (!absl::SimpleAtoi(port, &value) || value < 1 || value > 65535) {
      return std::nullopt;
    }
    p.port = static_cast<uint32_t>(value);
  }
  return p;
}

absl::StatusOr<ProjectsFile> ParseProjectsFile(std::string_view yaml,
                                               std::string_view filename) {
  TERN_ASSIGN_OR_RETURN(YamlNode root, ParseYaml(yaml, filename));
  ProjectsDecoder decoder(filename);
  ProjectsFile file;
  TERN_RETURN_IF_ERROR(decoder.Decode(root, &file));
  return file;
}

absl::StatusOr<ProjectsFile> LoadProjectsFile(const std::string& path) {
  TERN_ASSIGN_OR_RETURN(std::string text, ReadConfigFile(path));
  return ParseProjectsFile(text, path);
}

}  // namespace tern::config
