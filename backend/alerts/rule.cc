#include "backend/alerts/rule.h"

#include <array>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "protocol/json_value.h"
#include "protocol/json_writer.h"

namespace tern::alerts {
namespace {

using protocol::JsonValue;

constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxTargets = 10;
constexpr size_t kMaxAddresses = 50;
constexpr size_t kMaxTextBytes = 2048;
constexpr int64_t kMaxMinutes = 7 * 24 * 60;
constexpr int64_t kMaxCount = 1000000;

absl::Status FieldError(std::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), ": ", message));
}

std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 80)) {
    out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  }
  if (text.size() > 80) out += "...";
  out += '"';
  return out;
}

// Fails on the first member of `object` whose key is not in `known`.
template <size_t N>
absl::Status CheckKeys(const JsonValue& object, std::string_view path,
                       const std::array<std::string_view, N>& known) {
  for (const auto& member : object.members()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || member.first == k;
    if (!ok) {
      std::string field = path.empty()
                              ? member.first
                              : absl::StrCat(ToAbsl(path), ".", member.first);
      return FieldError(field, "unknown field");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Text(const JsonValue& v, std::string_view field,
                                 bool allow_empty) {
  if (!v.is_string()) return FieldError(field, "expected a string");
  if (!allow_empty && v.string().empty()) {
    return FieldError(field, "must not be empty");
  }
  if (v.string().size() > kMaxTextBytes) {
    return FieldError(field, "longer than 2048 bytes");
  }
  return std::string(v.string());
}

absl::StatusOr<int64_t> Int(const JsonValue& v, std::string_view field,
                            int64_t min, int64_t max) {
  std::optional<int64_t> n = v.integer();
  if (!v.is_number() || !n || *n < min || *n > max) {
    return FieldError(
        field, absl::StrCat("expected an integer from ", min, " to ", max));
  }
  return *n;
}

absl::StatusOr<Target> ParseTarget(const JsonValue& v,
                                   const std::string& path) {
  if (!v.is_object()) return FieldError(path, "expected an object");
  TERN_RETURN_IF_ERROR(CheckKeys(v, path,
                                 std::array<std::string_view, 5>{
                                     "type", "to", "url", "format", "secret"}));
  Target t;
  const JsonValue* type = v.Find("type");
  if (type == nullptr) return FieldError(path + ".type", "required");
  if (!type->is_string() ||
      (type->string() != "email" && type->string() != "webhook")) {
    return FieldError(path + ".type", "expected \"email\" or \"webhook\"");
  }
  if (type->string() == "email") {
    t.kind = TargetKind::kEmail;
    for (std::string_view k : {"url", "format", "secret"}) {
      if (v.Find(k) != nullptr) {
        return FieldError(absl::StrCat(path, ".", ToAbsl(k)),
                          "not a field of an email target");
      }
    }
    const JsonValue* to = v.Find("to");
    if (to == nullptr) return FieldError(path + ".to", "required");
    if (to->is_string()) {
      t.to.emplace_back(to->string());
    } else if (to->is_array()) {
      for (const JsonValue& a : to->items()) {
        if (!a.is_string()) {
          return FieldError(path + ".to", "expected addresses as strings");
        }
        t.to.emplace_back(a.string());
      }
    } else {
      return FieldError(path + ".to", "expected an address or a list of them");
    }
    if (t.to.empty() || t.to.size() > kMaxAddresses) {
      return FieldError(path + ".to", "expected 1 to 50 addresses");
    }
    for (size_t i = 0; i < t.to.size(); ++i) {
      if (absl::Status s = CheckMailAddress(t.to[i]); !s.ok()) {
        return FieldError(absl::StrCat(path, ".to[", i, "]"), s.message());
      }
    }
    return t;
  }
  if (v.Find("to") != nullptr) {
    return FieldError(path + ".to", "not a field of a webhook target");
  }
  t.kind = TargetKind::kWebhook;
  if (const JsonValue* f = v.Find("format"); f != nullptr) {
    std::optional<TargetKind> kind =
        f->is_string() ? ParseTargetKind(f->string()) : std::nullopt;
    if (!kind || *kind == TargetKind::kEmail) {
      return FieldError(path + ".format",
                        "expected \"generic\", \"slack\", \"dingtalk\" or "
                        "\"feishu\"");
    }
    t.kind = *kind;
  }
  const JsonValue* url = v.Find("url");
  if (url == nullptr) return FieldError(path + ".url", "required");
  TERN_ASSIGN_OR_RETURN(t.url, Text(*url, path + ".url", false));
  if (absl::Status s = CheckWebhookUrl(t.url); !s.ok()) {
    return FieldError(path + ".url",
                      absl::StrCat(s.message(), ", got ", Quoted(t.url)));
  }
  if (const JsonValue* secret = v.Find("secret"); secret != nullptr) {
    TERN_ASSIGN_OR_RETURN(t.secret, Text(*secret, path + ".secret", true));
  }
  return t;
}

}  // namespace

std::string_view TriggerName(Trigger trigger) {
  switch (trigger) {
    case Trigger::kNewIssue:
      return "new_issue";
    case Trigger::kRegression:
      return "regression";
    case Trigger::kFrequency:
      return "frequency";
  }
  return "new_issue";
}

std::string_view TargetKindName(TargetKind kind) {
  switch (kind) {
    case TargetKind::kEmail:
      return "email";
    case TargetKind::kWebhook:
      return "webhook";
    case TargetKind::kSlack:
      return "slack";
    case TargetKind::kDingtalk:
      return "dingtalk";
    case TargetKind::kFeishu:
      return "feishu";
  }
  return "email";
}

std::optional<TargetKind> ParseTargetKind(std::string_view name) {
  if (name == "generic") return TargetKind::kWebhook;
  for (TargetKind k :
       {TargetKind::kEmail, TargetKind::kWebhook, TargetKind::kSlack,
        TargetKind::kDingtalk, TargetKind::kFeishu}) {
    if (TargetKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::optional<int> ParseLevel(std::string_view level) {
  if (level == "debug") return 0;
  if (level == "info" || level == "log") return 1;
  if (level == "warning" || level == "warn") return 2;
  if (level == "error") return 3;
  if (level == "fatal" || level == "critical") return 4;
  return std::nullopt;
}

int LevelRank(std::string_view level) { return ParseLevel(level).value_or(3); }

bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::Status CheckWebhookUrl(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return absl::InvalidArgumentError("expected an http:// or https:// URL");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          "expected a URL without spaces or control characters");
    }
  }
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        "expected a URL without user:password@ (use the target's secret)");
  }
  std::string_view host = authority;
  if (host.starts_with("[")) {
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) {
      return absl::InvalidArgumentError("expected a URL with a host");
    }
    host = host.substr(0, close + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError("expected a URL with a host");
  }
  return absl::OkStatus();
}

absl::Status CheckMailAddress(std::string_view address) {
  const size_t at = address.find('@');
  if (address.size() > 254 || at == std::string_view::npos || at == 0 ||
      at + 1 == address.size() ||
      address.find('@', at + 1) != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected an address like oncall@example.com, got ", Quoted(address)));
  }
  for (char c : address) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == ',' ||
        c == '"' || c == ';' || c == '(' || c == ')' || c == '\\') {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected one plain address (no spaces, brackets, quotes or "
          "commas), got ",
          Quoted(address)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Rule> ParseRule(std::string_view json) {
  absl::StatusOr<JsonValue> parsed = protocol::ParseJson(json);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body: not JSON: ", parsed.status().message()));
  }
  const JsonValue& v = *parsed;
  if (!v.is_object()) return FieldError("body", "expected a JSON object");
  // id, project and the dates are what GET shows; a PUT of a GET body
  // carries them and they are ignored.
  TERN_RETURN_IF_ERROR(
      CheckKeys(v, "",
                std::array<std::string_view, 11>{
                    "name", "enabled", "trigger", "frequency", "filters",
                    "cooldownMinutes", "targets", "id", "project",
                    "dateCreated", "dateUpdated"}));
  Rule rule;
  const JsonValue* name = v.Find("name");
  if (name == nullptr) return FieldError("name", "required");
  TERN_ASSIGN_OR_RETURN(rule.name, Text(*name, "name", false));
  if (rule.name.size() > kMaxNameBytes) {
    return FieldError("name", "longer than 200 bytes");
  }
  if (const JsonValue* e = v.Find("enabled"); e != nullptr) {
    if (!e->is_bool()) return FieldError("enabled", "expected true or false");
    rule.enabled = e->boolean();
  }
  const JsonValue* trigger = v.Find("trigger");
  if (trigger == nullptr) return FieldError("trigger", "required");
  if (!trigger->is_string()) {
    return FieldError("trigger", "expected a string");
  }
  if (trigger->string() == "new_issue") {
    rule.trigger = Trigger::kNewIssue;
  } else if (trigger->string() == "regression") {
    rule.trigger = Trigger::kRegression;
  } else if (trigger->string() == "frequency") {
    rule.trigger = Trigger::kFrequency;
  } else {
    return FieldError("trigger",
                      absl::StrCat("expected \"new_issue\", \"regression\" or "
                                   "\"frequency\", got ",
                                   Quoted(trigger->string())));
  }
  const JsonValue* frequency = v.Find("frequency");
  if (rule.trigger == Trigger::kFrequency) {
    if (frequency == nullptr) {
      return FieldError("frequency", "required for a frequency rule");
    }
    if (!frequency->is_object()) {
      return FieldError("frequency", "expected {\"count\": N, \"minutes\": M}");
    }
    TERN_RETURN_IF_ERROR(
        CheckKeys(*frequency, "frequency",
                  std::array<std::string_view, 3>{"count", "minutes", "of"}));
    if (const JsonValue* of = frequency->Find("of"); of != nullptr) {
      if (!of->is_string() ||
          (of->string() != "events" && of->string() != "users")) {
        return FieldError("frequency.of", "expected \"events\" or \"users\"");
      }
      rule.frequency_users = of->string() == "users";
    }
    const JsonValue* count = frequency->Find("count");
    const JsonValue* minutes = frequency->Find("minutes");
    if (count == nullptr) return FieldError("frequency.count", "required");
    if (minutes == nullptr) return FieldError("frequency.minutes", "required");
    TERN_ASSIGN_OR_RETURN(rule.frequency_count,
                          Int(*count, "frequency.count", 1, kMaxCount));
    TERN_ASSIGN_OR_RETURN(int64_t m,
                          Int(*minutes, "frequency.minutes", 1, kMaxMinutes));
    rule.frequency_window = absl::Minutes(m);
  } else if (frequency != nullptr && !frequency->is_null()) {
    return FieldError("frequency", "only for a frequency rule");
  }
  if (const JsonValue* f = v.Find("filters"); f != nullptr && !f->is_null()) {
    if (!f->is_object()) return FieldError("filters", "expected an object");
    TERN_RETURN_IF_ERROR(CheckKeys(
        *f, "filters",
        std::array<std::string_view, 3>{"level", "environment", "release"}));
    if (const JsonValue* l = f->Find("level"); l != nullptr) {
      std::optional<int> rank =
          l->is_string() ? ParseLevel(l->string()) : std::nullopt;
      if (!rank) {
        return FieldError("filters.level",
                          "expected debug, info, warning, error or fatal");
      }
      rule.min_level = rank;
    }
    if (const JsonValue* e = f->Find("environment"); e != nullptr) {
      TERN_ASSIGN_OR_RETURN(rule.environment,
                            Text(*e, "filters.environment", true));
    }
    if (const JsonValue* r = f->Find("release"); r != nullptr) {
      TERN_ASSIGN_OR_RETURN(rule.release_glob,
                            Text(*r, "filters.release", true));
    }
  }
  if (const JsonValue* c = v.Find("cooldownMinutes"); c != nullptr) {
    TERN_ASSIGN_OR_RETURN(int64_t m,
                          Int(*c, "cooldownMinutes", 0, kMaxMinutes));
    rule.cooldown = absl::Minutes(m);
  }
  const JsonValue* targets = v.Find("targets");
  if (targets == nullptr) return FieldError("targets", "required");
  if (!targets->is_array() || targets->items().empty() ||
      targets->items().size() > kMaxTargets) {
    return FieldError("targets", "expected a list of 1 to 10 targets");
  }
  for (size_t i = 0; i < targets->items().size(); ++i) {
    TERN_ASSIGN_OR_RETURN(
        Target t,
        ParseTarget(targets->items()[i], absl::StrCat("targets[", i, "]")));
    rule.targets.push_back(std::move(t));
  }
  return rule;
}

namespace {

void WriteTarget(protocol::JsonWriter& w, const Target& t) {
  w.BeginObject();
  w.Key("type");
  w.String(t.kind == TargetKind::kEmail ? "email" : "webhook");
  if (t.kind == TargetKind::kEmail) {
    w.Key("to");
    w.BeginArray();
    for (const std::string& a : t.to) w.String(a);
    w.EndArray();
  } else {
    w.Key("format");
    w.String(t.kind == TargetKind::kWebhook ? "generic"
                                            : TargetKindName(t.kind));
    w.Key("url");
    w.String(t.url);
    if (!t.secret.empty()) {
      w.Key("secret");
      w.String(t.secret);
    }
  }
  w.EndObject();
}

}  // namespace

std::string TargetJson(const Target& target) {
  std::string out;
  protocol::JsonWriter w(&out);
  WriteTarget(w, target);
  return out;
}

absl::StatusOr<Target> ParseTargetJson(std::string_view json) {
  absl::StatusOr<JsonValue> v = protocol::ParseJson(json);
  if (!v.ok()) return FieldError("target", "not JSON");
  return ParseTarget(*v, "target");
}

std::string RuleJson(const Rule& rule) {
  static constexpr std::string_view kLevels[] = {"debug", "info", "warning",
                                                 "error", "fatal"};
  std::string out;
  protocol::JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String(rule.name);
  w.Key("enabled");
  w.Bool(rule.enabled);
  w.Key("trigger");
  w.String(TriggerName(rule.trigger));
  if (rule.trigger == Trigger::kFrequency) {
    w.Key("frequency");
    w.BeginObject();
    w.Key("count");
    w.Int(rule.frequency_count);
    w.Key("minutes");
    w.Int(absl::ToInt64Minutes(rule.frequency_window));
    if (rule.frequency_users) {
      w.Key("of");
      w.String("users");
    }
    w.EndObject();
  }
  w.Key("filters");
  w.BeginObject();
  if (rule.min_level && *rule.min_level >= 0 && *rule.min_level <= 4) {
    w.Key("level");
    w.String(kLevels[*rule.min_level]);
  }
  if (!rule.environment.empty()) {
    w.Key("environment");
    w.String(rule.environment);
  }
  if (!rule.release_glob.empty()) {
    w.Key("release");
    w.String(rule.release_glob);
  }
  w.EndObject();
  if (rule.cooldown) {
    w.Key("cooldownMinutes");
    w.Int(absl::ToInt64Minutes(*rule.cooldown));
  }
  w.Key("targets");
  w.BeginArray();
  for (const Target& t : rule.targets) WriteTarget(w, t);
  w.EndArray();
  w.EndObject();
  return out;
}

}  // namespace tern::alerts
