#include "backend/grouping/fingerprinting.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "backend/grouping/enhancers.h"
#include "backend/grouping/event_fields.h"
#include "backend/grouping/functions.h"
#include "common/status.h"

namespace tern::grouping {
namespace {

using protocol::JsonValue;
using Key = FingerprintMatcher::Key;

// --- parsing
// ------------------------------------------------------------------
//
// A hand-written reading of Sentry's PEG grammar (fingerprinting/parser.py):
//
//   line        = _ (comment / rule / empty) newline?
//   rule        = _ matcher+ _ "->" _ fp_value+
//   matcher     = _ "!"? (key / quoted_key) ":" (quoted / \S+)
//   fp_value    = _ (key "=" quoted / quoted / {{\s*\S+\s*}} / [^\s{,]+) _ ","?
//   _           = " "*
//
// A line that is not a rule fails the whole text at its first non-space
// character, which is where Sentry's parser reports the error.

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
         c == '-';
}
bool IsSpaceChar(char c) {
  // Python's \s (ASCII): space, \t, \n, \r, \f, \v.
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

std::string_view StripView(std::string_view s) {
  while (!s.empty() && IsSpaceChar(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpaceChar(s.back())) s.remove_suffix(1);
  return s;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Sentry's unescape_string (Python's unicode-escape): \n, \t, \\, \", \xNN,
// \uNNNN, ...; an unknown escape stays as written.
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    const char c = s[i + 1];
    auto hex = [&](size_t digits) -> std::optional<uint32_t> {
      if (i + 2 + digits > s.size()) return std::nullopt;
      uint32_t v = 0;
      for (size_t k = 0; k < digits; ++k) {
        const char h = s[i + 2 + k];
        if (!std::isxdigit(static_cast<unsigned char>(h))) return std::nullopt;
        v = v * 16 + (std::isdigit(static_cast<unsigned char>(h))
                          ? h - '0'
                          : (std::tolower(h) - 'a' + 10));
      }
      return v;
    };
    const char* simple = nullptr;
    switch (c) {
      case 'n':
        simple = "\n";
        break;
      case 't':
        simple = "\t";
        break;
      case 'r':
        simple = "\r";
        break;
      case 'a':
        simple = "\a";
        break;
      case 'b':
        simple = "\b";
        break;
      case 'f':
        simple = "\f";
        break;
      case 'v':
        simple = "\v";
        break;
      case '\\':
        simple = "\\";
        break;
      case '"':
        simple = "\"";
        break;
      case '\'':
        simple = "'";
        break;
      default:
        break;
    }
    if (simple != nullptr) {
      out += simple;
      ++i;
      continue;
    }
    const size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (digits > 0) {
      if (std::optional<uint32_t> cp = hex(digits);
          cp && *cp <= 0x10FFFF && (*cp < 0xD800 || *cp > 0xDFFF)) {
        AppendUtf8(*cp, &out);
        i += 1 + digits;
        continue;
      }
    }
    out.push_back('\\');  // unknown or malformed: kept
  }
  return out;
}

struct Cursor {
  std::string_view text;
  size_t pos = 0;

  bool AtLineEnd() const {
    return pos >= text.size() || text[pos] == '\n' || text[pos] == '\r';
  }
  void Spaces() {
    while (pos < text.size() && text[pos] == ' ') ++pos;
  }
  bool Literal(std::string_view s) {
    if (text.substr(pos).starts_with(s)) {
      pos += s.size();
      return true;
    }
    return false;
  }
  // A Sentry `quoted`: "..." with backslash escapes; unescaped.
  std::optional<std::string> Quoted() {
    if (pos >= text.size() || text[pos] != '"') return std::nullopt;
    size_t i = pos + 1;
    while (i < text.size() && text[i] != '"') {
      if (text[i] == '\\') {
        if (i + 1 >= text.size()) return std::nullopt;
        ++i;
      }
      ++i;
    }
    if (i >= text.size()) return std::nullopt;
    std::string value = Unescape(text.substr(pos + 1, i - pos - 1));
    pos = i + 1;
    return value;
  }
  std::string_view Key() {
    size_t i = pos;
    while (i < text.size() && IsKeyChar(text[i])) ++i;
    std::string_view k = text.substr(pos, i - pos);
    pos = i;
    return k;
  }
};

// Where `pos` is, as Sentry reports it (1-based line and column).
std::pair<int, int> LineColumn(std::string_view text, size_t pos) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, static_cast<int>(pos - line_start) + 1};
}

absl::Status SyntaxError(std::string_view text, size_t pos) {
  std::string context(text.substr(pos, 33));
  if (context.size() == 33) context = context.substr(0, 32) + "...";
  auto [line, column] = LineColumn(text, pos);
  return absl::InvalidArgumentError(absl::StrCat("Invalid syntax near \"",
                                                 context, "\" (line ", line,
                                                 ", column ", column, ")"));
}

std::optional<Key> MatcherKey(std::string_view name) {
  static constexpr std::pair<std::string_view, Key> kKeys[] = {
      {"error.type", Key::kType},
      {"type", Key::kType},
      {"error.value", Key::kValue},
      {"value", Key::kValue},
      {"stack.module", Key::kModule},
      {"module", Key::kModule},
      {"stack.abs_path", Key::kPath},
      {"path", Key::kPath},
      {"stack.package", Key::kPackage},
      {"package", Key::kPackage},
      {"stack.function", Key::kFunction},
      {"function", Key::kFunction},
      {"message", Key::kMessage},
      {"logger", Key::kLogger},
      {"level", Key::kLevel},
      {"family", Key::kFamily},
      {"app", Key::kApp},
      {"sdk", Key::kSdk},
      {"release", Key::kRelease},
  };
  for (const auto& [n, k] : kKeys) {
    if (n == name) return k;
  }
  return std::nullopt;
}

// Where Python's re.match(r"\{\{\s*\S+\s*\}\}", text[pos:]) ends, or
// nullopt. \S+ is greedy: the whole run of non-space characters when spaces
// and "}}" follow it, else the longest prefix of the run followed by "}}".
std::optional<size_t> VariableEnd(std::string_view text, size_t pos) {
  if (!text.substr(pos).starts_with("{{")) return std::nullopt;
  size_t i = pos + 2;
  while (i < text.size() && IsSpaceChar(text[i])) ++i;
  const size_t run = i;
  while (i < text.size() && !IsSpaceChar(text[i])) ++i;
  const size_t run_end = i;
  if (run_end == run) return std::nullopt;
  while (i < text.size() && IsSpaceChar(text[i])) ++i;
  if (text.substr(i).starts_with("}}")) return i + 2;
  for (size_t k = run_end - 1; k > run; --k) {
    if (text.substr(k, 2) == "}}" && k + 2 <= run_end) return k + 2;
  }
  return std::nullopt;
}

// One line's rule, or why not. `semantic` is set for errors that Sentry
// raises after a successful parse (unknown matcher or attribute).
struct LineResult {
  std::optional<FingerprintRule> rule;
  std::optional<absl::Status> semantic;
};

LineResult ParseRule(Cursor& c, int line) {
  LineResult result;
  FingerprintRule rule;
  rule.line = line;
  // matcher+
  while (true) {
    const size_t start = c.pos;
    c.Spaces();
    const size_t matcher_at = c.pos;
    const bool negated = c.Literal("!");
    std::string key;
    if (c.pos < c.text.size() && c.text[c.pos] == '"') {
      // quoted_key: "[a-zA-Z0-9_.:-]+"
      size_t i = c.pos + 1;
      while (i < c.text.size() && (IsKeyChar(c.text[i]) || c.text[i] == ':')) {
        ++i;
      }
      if (i == c.pos + 1 || i >= c.text.size() || c.text[i] != '"') {
        c.pos = start;
        break;
      }
      key = std::string(c.text.substr(c.pos + 1, i - c.pos - 1));
      c.pos = i + 1;
    } else {
      key = std::string(c.Key());
    }
    if (key.empty() || !c.Literal(":")) {
      c.pos = start;
      break;
    }
    std::string pattern;
    if (std::optional<std::string> q = c.Quoted()) {
      pattern = std::move(*q);
    } else {
      size_t i = c.pos;
      while (i < c.text.size() && !IsSpaceChar(c.text[i])) ++i;
      if (i == c.pos) {
        c.pos = start;
        break;
      }
      pattern = std::string(c.text.substr(c.pos, i - c.pos));
      c.pos = i;
    }
    FingerprintMatcher m;
    m.negated = negated;
    m.pattern = std::move(pattern);
    if (key.starts_with("tags.")) {
      m.key = Key::kTag;
      m.tag = key.substr(5);
    } else if (std::optional<Key> k = MatcherKey(key)) {
      m.key = *k;
    } else if (!result.semantic) {
      auto [l, col] = LineColumn(c.text, matcher_at);
      result.semantic = absl::InvalidArgumentError(absl::StrCat(
          "Unknown matcher '", key, "' (line ", l, ", column ", col, ")"));
    }
    rule.matchers.push_back(std::move(m));
  }
  if (rule.matchers.empty()) return {};
  c.Spaces();
  if (!c.Literal("->")) return {};
  // fp_value+
  while (true) {
    const size_t start = c.pos;
    c.Spaces();
    const size_t value_at = c.pos;
    std::optional<std::string> value;
    // fp_attribute: key "=" quoted
    {
      Cursor probe = c;
      std::string_view k = probe.Key();
      if (!k.empty() && probe.Literal("=")) {
        if (std::optional<std::string> q = probe.Quoted()) {
          c = probe;
          if (k == "title") {
            rule.title = std::move(*q);
          } else if (!result.semantic) {
            auto [l, col] = LineColumn(c.text, value_at);
            result.semantic = absl::InvalidArgumentError(
                absl::StrCat("Unknown attribute '", ToAbsl(k), "' (line ", l,
                             ", column ", col, ")"));
          }
          value = std::string();  // consumed, not a fingerprint entry
        }
      }
    }
    bool entry = false;
    if (!value) {
      if ((value = c.Quoted())) {
        entry = true;
      } else if (std::optional<size_t> end = VariableEnd(c.text, c.pos)) {
        value = std::string(c.text.substr(c.pos, *end - c.pos));
        c.pos = *end;
        entry = true;
      }
      if (!value) {
        size_t i = c.pos;
        while (i < c.text.size() && !IsSpaceChar(c.text[i]) &&
               c.text[i] != '{' && c.text[i] != ',') {
          ++i;
        }
        if (i > c.pos) {
          value = std::string(c.text.substr(c.pos, i - c.pos));
          c.pos = i;
          entry = true;
        }
      }
    }
    if (!value) {
      c.pos = start;
      break;
    }
    if (entry) {
      // Sentry normalizes every spelling of {{ default }}.
      std::string_view v = *value;
      if (v.starts_with("{{") && v.ends_with("}}")) {
        std::string_view inner = StripView(v.substr(2, v.size() - 4));
        if (inner == "default") *value = "{{ default }}";
      }
      rule.fingerprint.push_back(std::move(*value));
    }
    c.Spaces();
    c.Literal(",");
  }
  if (rule.fingerprint.empty() && !rule.title) return {};
  // Sentry's grammar needs one fp_value; a lone title="..." is one.
  result.rule = std::move(rule);
  return result;
}

// --- matching
// -----------------------------------------------------------------

// Sentry's glob_match with its options.
bool Glob(std::string_view pattern, std::string_view value, bool ignorecase,
          bool path) {
  if (!ignorecase && !path) return GlobMatch(pattern, value, false);
  std::string p(pattern), v(value);
  if (ignorecase) {
    absl::AsciiStrToLower(&p);
    absl::AsciiStrToLower(&v);
  }
  if (path) {
    std::replace(p.begin(), p.end(), '\\', '/');
    std::replace(v.begin(), v.end(), '\\', '/');
  }
  return GlobMatch(p, v, path);
}

// Sentry's _positive_path_match: case-insensitive, `**` across '/', and a
// relative value also tried with a leading '/'.
bool PathMatch(std::string_view pattern, std::optional<std::string_view> v) {
  if (!v) return false;
  if (Glob(pattern, *v, true, true)) return true;
  return !v->starts_with("/") &&
         Glob(pattern, absl::StrCat("/", ToAbsl(*v)), true, true);
}

std::optional<bool> BoolFromString(std::string_view s) {
  std::string l = absl::AsciiStrToLower(ToAbsl(s));
  if (l == "yes" || l == "true" || l == "1" || l == "on") return true;
  if (l == "no" || l == "false" || l == "0" || l == "off") return false;
  return std::nullopt;
}

bool ListMatch(std::string_view pattern, std::string_view value) {
  while (true) {
    const size_t comma = pattern.find(',');
    const std::string_view flag = pattern.substr(0, comma);
    if (flag == "all" || flag == value) return true;
    if (comma == std::string_view::npos) return false;
    pattern.remove_prefix(comma + 1);
  }
}

// One set of values a group of matchers is tried against (one exception,
// one frame, ...); absent fields are nullopt.
struct Values {
  std::optional<std::string_view> type, value, message, logger, level, module,
      abs_path, filename, package, release, family, sdk;
  std::optional<std::string> function;
  std::optional<bool> app;
  const JsonValue* tags = nullptr;  // the event's tags
};

std::optional<std::string_view> Present(const JsonValue& obj,
                                        std::string_view key) {
  std::optional<std::string_view> v = Str(obj, key);
  if (v && v->empty()) return std::nullopt;
  return v;
}

// The event's values by match type, computed on first use.
class EventValues {
 public:
  explicit EventValues(const JsonValue& event) : event_(event) {}

  enum Type {
    kToplevel,
    kLogInfo,
    kExceptions,
    kFrames,
    kTags,
    kSdk,
    kFamily,
    kRelease
  };

  const std::vector<Values>& Get(Type t) {
    std::optional<std::vector<Values>>& slot = cache_[t];
    if (!slot) slot = Compute(t);
    return *slot;
  }

 private:
  std::vector<Values> Compute(Type t) {
    std::vector<Values> out;
    switch (t) {
      case kToplevel: {
        const JsonValue& logentry = event_["logentry"];
        if (std::optional<std::string_view> m =
                logentry.is_object() ? Present(logentry, "formatted")
                                     : std::nullopt) {
          Values v;
          v.message = StripView(*m);
          out.push_back(v);
        }
        for (const Values& e : Get(kExceptions)) out.push_back(e);
        break;
      }
      case kLogInfo: {
        Values v;
        v.logger = Present(event_, "logger");
        v.level = Present(event_, "level");
        if (v.logger || v.level) out.push_back(v);
        break;
      }
      case kExceptions:
        for (const JsonValue& e : ValuesOf(event_["exception"])) {
          if (!e.is_object()) continue;
          Values v;
          v.type = Str(e, "type");
          if (std::optional<std::string_view> value = Present(e, "value")) {
            v.value = StripView(*value);
          }
          out.push_back(v);
        }
        break;
      case kFrames: {
        const std::string_view platform = StrOr(event_, "platform");
        auto push = [&](const JsonValue& st) {
          for (const JsonValue& f : st["frames"].items()) {
            if (!f.is_object()) continue;
            Values v;
            std::string fn = FunctionNameForFrame(f, platform);
            v.function = fn.empty() ? "<unknown>" : fn;
            v.filename = Present(f, "filename");
            v.abs_path = Present(f, "abs_path");
            if (!v.abs_path) v.abs_path = v.filename;
            v.module = Present(f, "module");
            v.package = Present(f, "package");
            const JsonValue* in_app = f.Find("in_app");
            if (in_app != nullptr && in_app->is_bool()) {
              v.app = in_app->boolean();
            }
            out.push_back(std::move(v));
          }
        };
        // Sentry's find_stack_frames: exceptions, the event's stack trace,
        // then threads.
        for (const JsonValue& e : ValuesOf(event_["exception"])) {
          push(e["stacktrace"]);
        }
        push(event_["stacktrace"]);
        for (const JsonValue& th : ValuesOf(event_["threads"])) {
          push(th["stacktrace"]);
        }
        break;
      }
      case kTags: {
        Values v;
        v.tags = &event_["tags"];
        out.push_back(v);
        break;
      }
      case kSdk: {
        sdk_ = NormalizeSdkTag(StrOr(event_["sdk"], "name"));
        Values v;
        v.sdk = sdk_;
        out.push_back(v);
        break;
      }
      case kFamily: {
        Values v;
        v.family = BehaviorFamily(StrOr(event_, "platform"));
        out.push_back(v);
        break;
      }
      case kRelease: {
        Values v;
        if (std::optional<std::string_view> r = Present(event_, "release")) {
          v.release = StripView(*r);
        }
        out.push_back(v);
        break;
      }
    }
    return out;
  }

  const JsonValue& event_;
  std::optional<std::vector<Values>> cache_[8];
  std::string sdk_;
};

EventValues::Type TypeOf(Key k) {
  switch (k) {
    case Key::kMessage:
      return EventValues::kToplevel;
    case Key::kLogger:
    case Key::kLevel:
      return EventValues::kLogInfo;
    case Key::kType:
    case Key::kValue:
      return EventValues::kExceptions;
    case Key::kTag:
      return EventValues::kTags;
    case Key::kSdk:
      return EventValues::kSdk;
    case Key::kFamily:
      return EventValues::kFamily;
    case Key::kRelease:
      return EventValues::kRelease;
    default:
      return EventValues::kFrames;
  }
}

// The tag's value in the event's tags (a list of pairs or an object).
std::optional<std::string_view> TagValue(const JsonValue* tags,
                                         std::string_view name) {
  if (tags == nullptr) return std::nullopt;
  std::optional<std::string_view> found;
  if (tags->is_object()) {
    if (const JsonValue* v = tags->Find(name); v && v->is_string()) {
      found = v->string();
    }
  } else {
    for (const JsonValue& pair : tags->items()) {
      std::span<const JsonValue> kv = pair.items();
      if (kv.size() == 2 && kv[0].is_string() && kv[0].string() == name &&
          kv[1].is_string()) {
        found = kv[1].string();
        break;
      }
    }
  }
  if (found) found = StripView(*found);
  return found;
}

bool PositiveMatch(const FingerprintMatcher& m, const Values& v) {
  const std::string_view p = m.pattern;
  auto glob = [&](std::optional<std::string_view> value, bool ignorecase) {
    return value && Glob(p, *value, ignorecase, false);
  };
  switch (m.key) {
    case Key::kPath:
      return PathMatch(p, v.abs_path) ||
             (v.filename != v.abs_path && PathMatch(p, v.filename));
    case Key::kMessage:
      return glob(v.message, true) || glob(v.value, true);
    case Key::kPackage:
      return PathMatch(p, v.package);
    case Key::kRelease:
      return PathMatch(p, v.release);
    case Key::kFamily:
      return v.family && ListMatch(p, *v.family);
    case Key::kSdk:
      return v.sdk && ListMatch(p, *v.sdk);
    case Key::kApp:
      return v.app && BoolFromString(p) == *v.app;
    case Key::kLevel:
      return glob(v.level, true);
    case Key::kValue:
      return glob(v.value, true);
    case Key::kType:
      return glob(v.type, false);
    case Key::kLogger:
      return glob(v.logger, false);
    case Key::kModule:
      return glob(v.module, false);
    case Key::kFunction:
      return v.function && Glob(p, *v.function, false, false);
    case Key::kTag:
      return glob(TagValue(v.tags, m.tag), false);
  }
  return false;
}

bool RuleMatches(const FingerprintRule& rule, EventValues& values) {
  // Matchers grouped by match type, in order of first appearance: each
  // group must hold for one value set of its type.
  bool done[8] = {};
  for (size_t i = 0; i < rule.matchers.size(); ++i) {
    const EventValues::Type t = TypeOf(rule.matchers[i].key);
    if (done[t]) continue;
    done[t] = true;
    bool any = false;
    for (const Values& v : values.Get(t)) {
      bool all = true;
      for (size_t j = i; j < rule.matchers.size() && all; ++j) {
        const FingerprintMatcher& m = rule.matchers[j];
        if (TypeOf(m.key) != t) continue;
        all = PositiveMatch(m, v) != m.negated;
      }
      if (all) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<FingerprintingRules> FingerprintingRules::Parse(
    std::string_view text) {
  FingerprintingRules out;
  Cursor c{text, 0};
  int line = 1;
  while (c.pos < text.size()) {
    c.Spaces();
    if (c.pos < text.size() && text[c.pos] == '#') {
      while (!c.AtLineEnd()) ++c.pos;
    } else if (!c.AtLineEnd()) {
      const size_t at = c.pos;
      LineResult r = ParseRule(c, line);
      if (!r.rule || !c.AtLineEnd()) return SyntaxError(text, at);
      if (r.semantic) return *r.semantic;
      out.rules_.push_back(std::move(*r.rule));
    }
    if (c.pos < text.size()) {
      if (text[c.pos] == '\n') ++line;
      ++c.pos;  // the newline
    }
  }
  return out;
}

const FingerprintRule* FingerprintingRules::Match(
    const protocol::JsonValue& event) const {
  if (rules_.empty() || !event.is_object()) return nullptr;
  EventValues values(event);
  for (const FingerprintRule& rule : rules_) {
    if (RuleMatches(rule, values)) return &rule;
  }
  return nullptr;
}

std::string NormalizeSdkTag(std::string_view sdk_name) {
  static constexpr std::string_view kKnown[] = {
      "sentry.cocoa",
      "sentry.dart",
      "sentry.dotnet",
      "sentry.elixir",
      "sentry.go",
      "sentry.java",
      "sentry.javascript.angular",
      "sentry.javascript.browser",
      "sentry.javascript.capacitor",
      "sentry.javascript.cordova",
      "sentry.javascript.deno",
      "sentry.javascript.electron",
      "sentry.javascript.ember",
      "sentry.javascript.gatsby",
      "sentry.javascript.miniapp",
      "sentry.javascript.nextjs",
      "sentry.javascript.node",
      "sentry.javascript.node.experimental",
      "sentry.javascript.node.hapi",
      "sentry.javascript.raycast",
      "sentry.javascript.react",
      "sentry.javascript.react.native",
      "sentry.javascript.remix",
      "sentry.javascript.serverless",
      "sentry.javascript.sfcc",
      "sentry.javascript.svelte",
      "sentry.javascript.sveltekit",
      "sentry.javascript.vue",
      "sentry.kubernetes",
      "sentry.lua",
      "sentry.native.android",
      "sentry.native.dotnet",
      "sentry.native.unity",
      "sentry.native.unreal",
      "sentry.objc",
      "sentry.perl",
      "sentry.php",
      "sentry.python",
      "sentry.ruby",
      "sentry.rust",
      "sentry.swift",
  };
  static constexpr std::pair<std::string_view, std::string_view> kSynonyms[] = {
      {"sentry.android", "sentry.native.android"},
      // Sentry's table has this typo; its result is then "other".
      {"sentry.cordova", "sentery.javascript.cordova"},
      {"sentry.electron", "sentry.javascript.electron"},
      {"sentry.javascript.angular.ivy", "sentry.javascript.angular"},
      {"sentry.javascript.react.expo", "sentry.javascript.react"},
      {"sentry.javascript.react.native.expo", "sentry.javascript.react.native"},
      {"sentry.laravel", "sentry.php.laravel"},
      {"sentry.react", "sentry.javascript.react"},
      {"sentry.symfony", "sentry.php.symfony"},
      {"sentry.unity", "sentry.native.unity"},
      {"sentrydotnet", "sentry.dotnet"},
  };
  if (!sdk_name.starts_with("sentry")) return "other";
  // re.sub(r"[\W_]+", ".", tag): runs of non-word characters and '_' -> '.'
  // (ASCII reading: letters and digits are the word characters kept).
  std::string tag;
  bool in_run = false;
  for (char c : sdk_name) {
    const bool word = std::isalnum(static_cast<unsigned char>(c)) ||
                      static_cast<unsigned char>(c) >= 0x80;
    if (word) {
      tag.push_back(c);
      in_run = false;
    } else if (!in_run) {
      tag.push_back('.');
      in_run = true;
    }
  }
  for (const auto& [from, to] : kSynonyms) {
    if (tag == from) {
      tag = std::string(to);
      break;
    }
  }
  if (!tag.starts_with("sentry.")) return "other";
  std::vector<std::string> parts = absl::StrSplit(tag, '.');
  if (parts.size() > 1 && parts[1] != "javascript" && parts[1] != "native") {
    tag = absl::StrCat(parts[0], ".", parts[1]);
  } else if (parts.size() > 1 && parts[1] == "native") {
    tag = parts.size() > 2
              ? absl::StrCat(parts[0], ".", parts[1], ".", parts[2])
              : absl::StrCat(parts[0], ".", parts[1]);
  }
  for (std::string_view known : kKnown) {
    if (tag == known) return tag;
  }
  return "other";
}

}  // namespace tern::grouping
