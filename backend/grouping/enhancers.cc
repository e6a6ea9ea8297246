#include "backend/grouping/enhancers.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <span>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tern::grouping {
namespace {

constexpr std::string_view kDefaultRules =
#include "backend/grouping/enhancement_rules.inc"
    ;

enum class Field {
  kFamily,
  kFunction,
  kModule,
  kPackage,
  kPath,
  kCategory,
  kApp,
  kType,
  kValue,
  kMechanism
};

// One pattern element of a compiled glob.
struct GlobToken {
  enum Kind : uint8_t { kChar, kAnyChar, kClass, kStar, kSlashStar };
  Kind kind = kChar;
  char c = 0;
  bool negate = false;
  std::string set;  // kClass: expanded ranges

  bool Accepts(char x, bool path_mode) const {
    switch (kind) {
      case kChar:
        return x == c;
      case kAnyChar:
        return !(path_mode && x == '/');
      case kClass:
        return (set.find(x) != std::string::npos) != negate;
      default:
        return false;
    }
  }
};

std::vector<GlobToken> CompileGlob(std::string_view p, bool path_mode) {
  std::vector<GlobToken> out;
  for (size_t pi = 0; pi < p.size();) {
    char c = p[pi];
    GlobToken t;
    t.kind = GlobToken::kChar;
    if (c == '*') {
      bool dbl = pi + 1 < p.size() && p[pi + 1] == '*';
      while (pi < p.size() && p[pi] == '*') ++pi;
      t.kind = dbl || !path_mode ? GlobToken::kStar : GlobToken::kSlashStar;
      if (out.empty() || out.back().kind != t.kind) out.push_back(t);
      continue;
    }
    if (c == '?') {
      t.kind = GlobToken::kAnyChar;
      ++pi;
    } else if (c == '[' && p.find(']', pi + 2) != std::string_view::npos) {
      size_t close = p.find(']', pi + 2);
      std::string_view body = p.substr(pi + 1, close - pi - 1);
      t.kind = GlobToken::kClass;
      size_t q = 0;
      if (body[0] == '!' || body[0] == '^') {
        t.negate = true;
        q = 1;
      }
      for (; q < body.size(); ++q) {
        if (q + 2 < body.size() && body[q + 1] == '-') {
          for (int x = static_cast<unsigned char>(body[q]);
               x <= static_cast<unsigned char>(body[q + 2]); ++x) {
            t.set.push_back(static_cast<char>(x));
          }
          q += 2;
        } else {
          t.set.push_back(body[q]);
        }
      }
      pi = close + 1;
    } else if (c == '\\' && pi + 1 < p.size()) {
      t.c = p[pi + 1];
      pi += 2;
    } else {
      t.c = c;
      ++pi;
    }
    out.push_back(std::move(t));
  }
  return out;
}

// Runs the tokens over the set of reachable value positions:
// O(tokens * value) whatever the stars (a backtracking matcher goes cubic
// on "**/*newrelic*/**" against long paths).
bool GlobSimulate(const std::vector<GlobToken>& tokens, std::string_view v,
                  bool path_mode) {
  thread_local std::vector<char> cur, next;
  cur.assign(v.size() + 1, 0);
  next.assign(v.size() + 1, 0);
  cur[0] = 1;
  size_t lo = 0;  // no reachable position before lo
  for (const GlobToken& t : tokens) {
    if (t.kind == GlobToken::kStar || t.kind == GlobToken::kSlashStar) {
      char reach = 0;
      for (size_t i = lo; i <= v.size(); ++i) {
        if (i > 0 && t.kind == GlobToken::kSlashStar && v[i - 1] == '/') {
          reach = 0;
        }
        reach |= cur[i];
        cur[i] = reach;
      }
      continue;
    }
    bool any = false;
    size_t new_lo = v.size() + 1;
    std::fill(next.begin() + lo, next.end(), 0);
    for (size_t i = lo; i < v.size(); ++i) {
      if (cur[i] && t.Accepts(v[i], path_mode)) {
        next[i + 1] = 1;
        if (!any) new_lo = i + 1;
        any = true;
      }
    }
    if (!any) return false;
    cur.swap(next);
    lo = new_lo;
  }
  return cur[v.size()] != 0;
}

// A glob with its literal prefix and suffix split off, so that most
// rule/frame pairs are rejected by two memcmp calls.
struct Glob {
  std::string pattern;
  std::string prefix, suffix;
  bool literal = false;
  bool path_mode = false;

  // Set when the only wildcards are stars that match anything: such a
  // glob is its literal pieces, found left to right (linear time).
  bool stars_only = false;
  std::vector<std::string> middle;  // pieces between prefix and suffix
  std::vector<GlobToken> tokens;
  std::vector<std::string> required;

  void Init(std::string p, bool path) {
    pattern = std::move(p);
    path_mode = path;
    size_t first = pattern.find_first_of("*?[\\");
    literal = first == std::string::npos;
    if (literal) return;
    prefix = pattern.substr(0, first);
    size_t last = pattern.find_last_of("*?[]\\");
    if (pattern[last] == '*') suffix = pattern.substr(last + 1);
    stars_only = pattern.find_first_of("?[\\") == std::string::npos;
    std::vector<std::string> pieces;
    for (size_t i = 0; i < pattern.size();) {
      size_t star = pattern.find('*', i);
      if (star == std::string::npos) star = pattern.size();
      pieces.push_back(pattern.substr(i, star - i));
      size_t run = star;
      while (run < pattern.size() && pattern[run] == '*') ++run;
      // In path mode a single star stops at '/': not a plain piece search.
      if (path_mode && run - star == 1) stars_only = false;
      i = run;
      if (run == pattern.size() && star < pattern.size()) pieces.emplace_back();
    }
    if (stars_only && pieces.size() >= 2) {
      middle.assign(pieces.begin() + 1, pieces.end() - 1);
    }
    tokens = CompileGlob(pattern, path_mode);
    // Literal runs of the pattern, which any match must contain in order:
    // a cheap rejection before the simulation.
    std::string run;
    for (const GlobToken& t : tokens) {
      if (t.kind == GlobToken::kChar) {
        run.push_back(t.c);
        continue;
      }
      if (!run.empty()) required.push_back(std::move(run));
      run.clear();
    }
    if (!run.empty()) required.push_back(std::move(run));
  }
  bool Match(std::string_view v) const {
    if (literal) return v == pattern;
    if (v.size() < prefix.size() + suffix.size() || !v.starts_with(prefix) ||
        !v.ends_with(suffix)) {
      return false;
    }
    if (!stars_only) {
      size_t pos = 0;
      for (const std::string& piece : required) {
        size_t at = v.find(piece, pos);
        if (at == std::string_view::npos) return false;
        pos = at + piece.size();
      }
      return GlobSimulate(tokens, v, path_mode);
    }
    size_t pos = prefix.size();
    size_t end = v.size() - suffix.size();
    for (const std::string& piece : middle) {
      if (piece.empty()) continue;
      size_t at = v.substr(0, end).find(piece, pos);
      if (at == std::string_view::npos) return false;
      pos = at + piece.size();
    }
    return true;
  }
  // Match("/" + v), for Sentry's path_like_match, without building the
  // string when the pattern's literal prefix settles it.
  bool MatchSlashed(std::string_view v) const {
    if (literal) {
      return pattern.size() == v.size() + 1 && pattern[0] == '/' &&
             std::string_view(pattern).substr(1) == v;
    }
    if (!prefix.empty() &&
        (prefix[0] != '/' ||
         !v.starts_with(std::string_view(prefix).substr(1)))) {
      return false;
    }
    thread_local std::string slashed;
    slashed.assign(1, '/');
    slashed.append(v);
    return Match(slashed);
  }
};

struct Matcher {
  Field field;
  Glob glob;  // lowercased for package/path
  bool negated = false;
  int offset = 0;           // -1 caller, +1 callee, 0 the frame itself
  uint8_t family_mask = 0;  // family: bits of the listed families
  int category = -2;        // category: interned id of a literal pattern
  // Matchers are tried cheapest first; all of a rule's must hold.
  int Cost() const {
    if (offset != 0) return 3;
    if (field == Field::kFamily || field == Field::kApp ||
        field == Field::kCategory) {
      return 0;
    }
    return glob.literal ? 1 : 2;
  }
};

uint8_t FamilyBit(std::string_view family) {
  if (family == "native") return 1;
  if (family == "javascript") return 2;
  return 4;
}

// Sentry's path_like_match: the value as is, or with a leading '/' added.
bool PathLikeMatch(const Glob& glob,
                   const std::optional<std::string_view>& value) {
  if (!value) return false;
  if (glob.Match(*value)) return true;
  return !value->starts_with('/') && glob.MatchSlashed(*value);
}

bool Positive(const Matcher& m, const RuleFrame& f, const RuleException& e,
              const std::vector<std::string>* categories) {
  auto field_glob = [&](const std::optional<std::string_view>& v) {
    return v.has_value() && m.glob.Match(*v);
  };
  switch (m.field) {
    case Field::kFamily:
      return (m.family_mask & f.family_bit) != 0;
    case Field::kFunction:
      return field_glob(f.function);
    case Field::kModule:
      return field_glob(f.module);
    case Field::kCategory:
      if (m.category != -2) return f.category == m.category;
      return f.category >= 0 && m.glob.Match((*categories)[f.category]);
    case Field::kPackage:
      return PathLikeMatch(m.glob, f.package);
    case Field::kPath:
      return PathLikeMatch(m.glob, f.path);
    case Field::kApp: {
      const std::string& p = m.glob.pattern;
      bool want = p == "1" || p == "yes" || p == "true" || p == "on";
      return f.in_app == want;
    }
    case Field::kType:
      return m.glob.Match(e.type);
    case Field::kValue:
      return m.glob.Match(e.value);
    case Field::kMechanism:
      return m.glob.Match(e.mechanism);
  }
  return false;
}

enum class Range { kSelf, kUp, kDown };

struct Action {
  enum Kind { kApp, kGroup, kCategory } kind;
  bool flag = false;
  Range range = Range::kSelf;
  int category = -1;
};

std::optional<Field> FieldFromKey(std::string_view key) {
  if (key == "family") return Field::kFamily;
  if (key == "function" || key == "stack.function") return Field::kFunction;
  if (key == "module" || key == "stack.module") return Field::kModule;
  if (key == "package" || key == "stack.package") return Field::kPackage;
  if (key == "path" || key == "stack.abs_path") return Field::kPath;
  if (key == "category") return Field::kCategory;
  if (key == "app") return Field::kApp;
  if (key == "type" || key == "error.type") return Field::kType;
  if (key == "value" || key == "error.value") return Field::kValue;
  if (key == "mechanism" || key == "error.mechanism") return Field::kMechanism;
  return std::nullopt;
}

// Splits a rule line into tokens: quoted values keep their spaces ("\x"
// escapes resolved), '[', ']' and '|' are tokens of their own.
std::vector<std::string> Tokenize(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool have = false;
  auto flush = [&] {
    if (have) out.push_back(cur);
    cur.clear();
    have = false;
  };
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '"') {
      have = true;
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        cur.push_back(line[i]);
      }
    } else if (c == '#' && !have) {
      break;
    } else if (c == ' ' || c == '\t') {
      flush();
    } else if ((c == '[' || c == ']' || c == '|') && !have) {
      out.emplace_back(1, c);
    } else {
      cur.push_back(c);
      have = true;
    }
  }
  flush();
  return out;
}

}  // namespace

std::string NormalizePathValue(std::string_view v) {
  std::string out;
  AppendNormalizedPathValue(v, &out);
  return out;
}

void AppendNormalizedPathValue(std::string_view v, std::string* out) {
  size_t at = out->size();
  out->resize(at + v.size());
  char* dst = out->data() + at;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '\\') c = '/';
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    dst[i] = c;
  }
}

bool IsNormalizedPathValue(std::string_view v) {
  for (char c : v) {
    if (c == '\\' || (c >= 'A' && c <= 'Z')) return false;
  }
  return true;
}

void RuleFrame::Finish() { family_bit = FamilyBit(family); }

bool GlobMatch(std::string_view pattern, std::string_view value,
               bool path_mode) {
  return GlobSimulate(CompileGlob(pattern, path_mode), value, path_mode);
}

struct Enhancements::Rule {
  std::vector<Matcher> matchers;
  std::vector<Action> actions;
  bool has_modifier = false;  // +app/-app or category=
  bool has_updater = false;   // +group/-group
  // Every matcher looks at the frame itself and at what the rules never
  // change (family, function, module, package, path): whether the rule
  // matches a frame is then known before any rule runs, from the frame
  // alone (Enhancements::MatchFrame).
  bool frame_only = false;
  // Quick per-stack rejection: the families a frame must have.
  uint8_t family_mask = 7;
  // The first byte that the frame's function (1) or module (2) must start
  // with, or that follows the leading '/' of its package (3) or path (4);
  // 0: no such matcher. Lets a rule visit only those frames.
  int anchor_field = 0;
  unsigned char anchor_byte = 0;
  // The category the frame itself must have (a literal category: matcher),
  // or -1: while no frame has it, the rule is skipped.
  int self_category = -1;

  bool Matches(const std::vector<RuleFrame>& frames, size_t idx,
               const RuleException& e,
               const std::vector<std::string>* categories) const {
    for (const Matcher& m : matchers) {
      long j = static_cast<long>(idx) + m.offset;
      if (j < 0 || j >= static_cast<long>(frames.size())) return false;
      if (Positive(m, frames[j], e, categories) == m.negated) return false;
    }
    return true;
  }
};

Enhancements::Enhancements() = default;
Enhancements::Enhancements(Enhancements&&) noexcept = default;
Enhancements& Enhancements::operator=(Enhancements&&) noexcept = default;
Enhancements::~Enhancements() = default;
size_t Enhancements::rule_count() const { return rules_.size(); }

absl::StatusOr<Enhancements> Enhancements::Parse(std::string_view text) {
  Enhancements result;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text =
        nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    std::vector<std::string> tokens = Tokenize(line);
    if (tokens.empty()) continue;
    Rule rule;
    bool seen_main = false;
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("rule line ", line_no, ": ", ToAbsl(why)));
    };
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& t = tokens[i];
      int offset = 0;
      std::vector<std::string> group;
      if (t == "[") {
        // "[ m... ] |" is the caller, "| [ m... ]" the callee.
        size_t close = i + 1;
        while (close < tokens.size() && tokens[close] != "]") ++close;
        if (close >= tokens.size()) return bad("unclosed [");
        group.assign(tokens.begin() + i + 1, tokens.begin() + close);
        if (close + 1 < tokens.size() && tokens[close + 1] == "|" &&
            !seen_main) {
          offset = -1;
          i = close + 1;
        } else if (i > 0 && tokens[i - 1] == "|") {
          offset = 1;
          i = close;
        } else {
          return bad("context matcher without |");
        }
      } else if (t == "|") {
        continue;
      } else {
        group.push_back(t);
      }
      for (const std::string& tok : group) {
        std::string_view s = tok;
        // Actions: [^v]?[+-](app|group), category=X, other k=v ignored.
        size_t p = 0;
        Range range = Range::kSelf;
        if (offset == 0 && (s[0] == '^' || s[0] == 'v') && s.size() > 1 &&
            (s[1] == '+' || s[1] == '-')) {
          range = s[0] == '^' ? Range::kUp : Range::kDown;
          p = 1;
        }
        if (offset == 0 && (s[p] == '+' || s[p] == '-')) {
          std::string_view key = s.substr(p + 1);
          Action a;
          a.flag = s[p] == '+';
          a.range = range;
          if (key == "app") {
            a.kind = Action::kApp;
            rule.has_modifier = true;
          } else if (key == "group") {
            a.kind = Action::kGroup;
            rule.has_updater = true;
          } else {
            return bad("unknown flag action");
          }
          rule.actions.push_back(std::move(a));
          continue;
        }
        size_t eq = s.find('=');
        size_t colon = s.find(':');
        if (offset == 0 && eq != std::string_view::npos &&
            (colon == std::string_view::npos || eq < colon)) {
          if (s.substr(0, eq) == "category") {
            Action a;
            a.kind = Action::kCategory;
            a.category = result.Intern(s.substr(eq + 1));
            rule.actions.push_back(std::move(a));
            rule.has_modifier = true;
          }
          continue;  // max-frames= and friends do not affect hashes here
        }
        if (colon == std::string_view::npos) return bad("not a matcher");
        Matcher m;
        m.offset = offset;
        std::string_view key = s.substr(0, colon);
        if (key.starts_with("!")) {
          m.negated = true;
          key.remove_prefix(1);
        }
        std::optional<Field> field = FieldFromKey(key);
        if (!field) return bad("unknown matcher");
        m.field = *field;
        std::string_view pattern = s.substr(colon + 1);
        if (m.field == Field::kPackage || m.field == Field::kPath) {
          m.glob.Init(NormalizePathValue(pattern), true);
        } else {
          m.glob.Init(std::string(pattern), false);
        }
        if (m.field == Field::kFamily) {
          std::string_view flags = pattern;
          while (true) {
            size_t comma = flags.find(',');
            std::string_view flag = flags.substr(0, comma);
            m.family_mask |= flag == "all" ? 7 : FamilyBit(flag);
            if (comma == std::string_view::npos) break;
            flags.remove_prefix(comma + 1);
          }
        }
        if (m.field == Field::kCategory && m.glob.literal) {
          m.category = result.Intern(m.glob.pattern);
        }
        if (offset == 0) seen_main = true;
        rule.matchers.push_back(std::move(m));
      }
    }
    if (rule.matchers.empty() || rule.actions.empty()) {
      return bad("a rule needs matchers and actions");
    }
    std::stable_sort(
        rule.matchers.begin(), rule.matchers.end(),
        [](const Matcher& a, const Matcher& b) { return a.Cost() < b.Cost(); });
    result.rules_.push_back(std::move(rule));
    Rule& added = result.rules_.back();
    added.frame_only = true;
    for (const Matcher& m : added.matchers) {
      added.frame_only &=
          m.offset == 0 &&
          (m.field == Field::kFamily || m.field == Field::kFunction ||
           m.field == Field::kModule || m.field == Field::kPackage ||
           m.field == Field::kPath);
    }
    for (const Matcher& m : added.matchers) {
      if (m.offset != 0 || m.negated) continue;
      if (m.field == Field::kFamily) added.family_mask &= m.family_mask;
      if (m.field == Field::kCategory && m.category >= 0) {
        added.self_category = m.category;
      }
      const std::string& lead = m.glob.literal ? m.glob.pattern : m.glob.prefix;
      if (added.anchor_field != 0) continue;
      if (!lead.empty() &&
          (m.field == Field::kFunction || m.field == Field::kModule)) {
        added.anchor_field = m.field == Field::kFunction ? 1 : 2;
        added.anchor_byte = static_cast<unsigned char>(lead[0]);
      } else if (lead.size() >= 2 && lead[0] == '/' &&
                 (m.field == Field::kPackage || m.field == Field::kPath)) {
        // "/x...": only values "/x..." or "x..." (matched as "/x...").
        added.anchor_field = m.field == Field::kPackage ? 3 : 4;
        added.anchor_byte = static_cast<unsigned char>(lead[1]);
      }
    }
  }
  result.IndexFrameRules();
  static std::atomic<uint64_t> serials{0};
  result.serial_ = ++serials;
  return result;
}

const Enhancements& Enhancements::Default() {
  static const Enhancements* rules = [] {
    absl::StatusOr<Enhancements> parsed = Parse(kDefaultRules);
    if (!parsed.ok()) std::abort();  // the built-in text is a constant
    return new Enhancements(*std::move(parsed));
  }();
  return *rules;
}

namespace {

template <typename F>
void ForRange(Range range, size_t idx, size_t n, F f) {
  switch (range) {
    case Range::kSelf:
      f(idx);
      break;
    case Range::kUp:
      for (size_t j = idx + 1; j < n; ++j) f(j);
      break;
    case Range::kDown:
      for (size_t j = 0; j < idx; ++j) f(j);
      break;
  }
}

}  // namespace

namespace {

// The slot of Enhancements::anchor_start_ for frames of family bit `family`
// (1, 2 or 4) and a rule's anchor: (anchor_field, anchor_byte), field 0
// (no anchor) with byte 0.
size_t AnchorSlot(uint8_t family_bit, int field, unsigned char byte) {
  size_t family = family_bit == 1 ? 0 : family_bit == 2 ? 1 : 2;
  return (family * 5 + static_cast<size_t>(field)) * 256 + byte;
}
constexpr size_t kAnchorSlots = 3 * 5 * 256;

// The byte after the leading '/' of the value as path-like matchers see it
// ("/" + value when it has none); -1 when there is none.
int PathKey(const std::optional<std::string_view>& v) {
  if (!v || v->empty()) return -1;
  if ((*v)[0] != '/') return static_cast<unsigned char>((*v)[0]);
  if (v->size() > 1) return static_cast<unsigned char>((*v)[1]);
  return -1;
}

int FirstByte(const std::optional<std::string_view>& v) {
  if (!v || v->empty()) return -1;
  return static_cast<unsigned char>((*v)[0]);
}

}  // namespace

void Enhancements::IndexFrameRules() {
  // Counting sort of (slot, rule id): ids stay in rule order per slot.
  std::vector<std::pair<size_t, uint32_t>> entries;
  for (uint32_t r = 0; r < rules_.size(); ++r) {
    const Rule& rule = rules_[r];
    if (!rule.frame_only) continue;
    for (uint8_t bit : {1, 2, 4}) {
      if ((rule.family_mask & bit) == 0) continue;
      entries.emplace_back(
          AnchorSlot(bit, rule.anchor_field,
                     rule.anchor_field == 0 ? 0 : rule.anchor_byte),
          r);
    }
  }
  anchor_start_.assign(kAnchorSlots + 1, 0);
  for (const auto& [slot, r] : entries) ++anchor_start_[slot + 1];
  for (size_t i = 0; i < kAnchorSlots; ++i) {
    anchor_start_[i + 1] += anchor_start_[i];
  }
  anchor_ids_.resize(entries.size());
  std::vector<uint32_t> fill(anchor_start_.begin(), anchor_start_.end() - 1);
  for (const auto& [slot, r] : entries) anchor_ids_[fill[slot]++] = r;
}

void Enhancements::MatchFrame(const RuleFrame& frame,
                              std::vector<uint32_t>* out) const {
  if (anchor_start_.empty()) return;  // a moved-from rule set
  size_t first = out->size();
  const RuleException none;
  auto visit = [&](int field, int byte) {
    if (byte < 0) return;
    size_t slot =
        AnchorSlot(frame.family_bit, field, static_cast<unsigned char>(byte));
    for (uint32_t i = anchor_start_[slot]; i < anchor_start_[slot + 1]; ++i) {
      uint32_t r = anchor_ids_[i];
      // A frame-only rule reads neither neighbours, categories nor the
      // exception: a dummy exception and the frame alone suffice.
      bool all = true;
      for (const Matcher& m : rules_[r].matchers) {
        if (Positive(m, frame, none, nullptr) == m.negated) {
          all = false;
          break;
        }
      }
      if (all) out->push_back(r);
    }
  };
  visit(0, 0);
  visit(1, FirstByte(frame.function));
  visit(2, FirstByte(frame.module));
  visit(3, PathKey(frame.package));
  visit(4, PathKey(frame.path));
  // Each visited slot is in rule order; merge them.
  std::sort(out->begin() + static_cast<long>(first), out->end());
}

namespace {

// What the rules that are not frame-only need of the stack: the families
// present (a rule for another family is skipped), and each frame's first
// byte of the field an anchored rule names (frames without it are passed
// over without matching).
struct StackIndex {
  uint8_t families = 0;
  // keys[i * 5 + field]: FirstByte / PathKey of frame i for anchor field
  // 1-4 (slot 0 unused).
  std::vector<int16_t> keys;

  explicit StackIndex(const std::vector<RuleFrame>& frames)
      : keys(frames.size() * 5, -1) {
    for (size_t i = 0; i < frames.size(); ++i) {
      const RuleFrame& f = frames[i];
      families |= f.family_bit;
      keys[i * 5 + 1] = static_cast<int16_t>(FirstByte(f.function));
      keys[i * 5 + 2] = static_cast<int16_t>(FirstByte(f.module));
      keys[i * 5 + 3] = static_cast<int16_t>(PathKey(f.package));
      keys[i * 5 + 4] = static_cast<int16_t>(PathKey(f.path));
    }
  }

  // Calls f(frame index) for every frame `rule` may match, in order.
  template <typename F>
  void ForCandidates(const Enhancements::Rule& rule, F f) const {
    size_t n = keys.size() / 5;
    for (size_t i = 0; i < n; ++i) {
      if (rule.anchor_field == 0 ||
          keys[i * 5 + static_cast<size_t>(rule.anchor_field)] ==
              rule.anchor_byte) {
        f(static_cast<uint32_t>(i));
      }
    }
  }
};

}  // namespace

// The frames each frame-only rule matches: frame indexes of rule r in
// frames[start[r] .. start[r + 1]), ascending.
struct Enhancements::FrameHits {
  std::vector<uint32_t> start;
  std::vector<uint32_t> frames;
};

namespace {

// Runs every rule that `want` selects, in order, over the frames: a rule's
// matching frames are all found before `act(rule, frame index)` runs for
// each, since acting may change what the rule would match. Frame-only
// rules take their frames from `hits`, the others are matched here.
template <typename Want, typename Act>
void RunRules(const std::vector<Enhancements::Rule>& rules,
              const std::vector<std::string>& categories,
              const StackIndex& index, const Enhancements::FrameHits& hits,
              const std::vector<RuleFrame>& frames,
              const RuleException& exception, Want want, Act act) {
  std::vector<size_t> matched;
  for (size_t r = 0; r < rules.size(); ++r) {
    const Enhancements::Rule& rule = rules[r];
    if (!want(rule)) continue;
    if (rule.frame_only) {
      for (uint32_t i = hits.start[r]; i < hits.start[r + 1]; ++i) {
        act(rule, hits.frames[i]);
      }
      continue;
    }
    if ((rule.family_mask & index.families) == 0) continue;
    matched.clear();
    index.ForCandidates(rule, [&](uint32_t i) {
      if (rule.Matches(frames, i, exception, &categories)) {
        matched.push_back(i);
      }
    });
    for (size_t idx : matched) act(rule, idx);
  }
}

// How many frames have each category: most category rules need one that
// no frame of the stack has, and are skipped without visiting the frames.
class CategoryCounts {
 public:
  CategoryCounts(size_t categories, const std::vector<RuleFrame>& frames)
      : count_(categories, 0) {
    for (const RuleFrame& f : frames) Add(f.category, 1);
  }
  bool MayMatch(const Enhancements::Rule& rule) const {
    return rule.self_category < 0 || count_[rule.self_category] > 0;
  }
  void Set(RuleFrame* frame, int category) {
    Add(frame->category, -1);
    frame->category = category;
    Add(category, 1);
  }

 private:
  // (A category the rules did not set, out of range, is never counted.)
  void Add(int category, int delta) {
    if (category >= 0 && static_cast<size_t>(category) < count_.size()) {
      count_[category] += delta;
    }
  }
  std::vector<int> count_;
};

// Pass 1 and pass 2 over an index and hits built by the caller: neither
// pass changes what they record (names, paths, families), so one of each
// serves both.
void Modify(const std::vector<Enhancements::Rule>& rules,
            const std::vector<std::string>& categories, const StackIndex& index,
            const Enhancements::FrameHits& hits, std::vector<RuleFrame>* frames,
            const RuleException& exception) {
  using Rule = Enhancements::Rule;
  CategoryCounts counts(categories.size(), *frames);
  RunRules(
      rules, categories, index, hits, *frames, exception,
      [&](const Rule& rule) {
        return rule.has_modifier && counts.MayMatch(rule);
      },
      [&](const Rule& rule, size_t idx) {
        for (const Action& a : rule.actions) {
          if (a.kind == Action::kCategory) {
            counts.Set(&(*frames)[idx], a.category);
          } else if (a.kind == Action::kApp) {
            ForRange(a.range, idx, frames->size(),
                     [&](size_t j) { (*frames)[j].in_app = a.flag; });
          }
        }
      });
}

void Update(const std::vector<Enhancements::Rule>& rules,
            const std::vector<std::string>& categories, const StackIndex& index,
            const Enhancements::FrameHits& hits,
            const std::vector<RuleFrame>& frames,
            const RuleException& exception,
            std::vector<std::optional<bool>>* group) {
  using Rule = Enhancements::Rule;
  group->assign(frames.size(), std::nullopt);
  const CategoryCounts counts(categories.size(), frames);
  RunRules(
      rules, categories, index, hits, frames, exception,
      [&](const Rule& rule) {
        return rule.has_updater && counts.MayMatch(rule);
      },
      [&](const Rule& rule, size_t idx) {
        for (const Action& a : rule.actions) {
          if (a.kind != Action::kGroup) continue;
          ForRange(a.range, idx, frames.size(),
                   [&](size_t j) { (*group)[j] = a.flag; });
        }
      });
}

}  // namespace

namespace {

// What MatchFrame found for recently seen frames, per thread: a service's
// events repeat the same frames, and the frame-only rules are most of the
// matching cost (about 0.6 µs per frame of a Java stack). The results are
// a pure function of the key, so hashes cannot depend on the cache.
class FrameRuleCache {
 public:
  // Bytes of keys kept before the cache starts over: some 2,000-4,000
  // frames at the typical 60-100-byte key, in one buffer per thread.
  static constexpr size_t kKeyBytes = 256 << 10;

  // The cache of the calling thread for the rules numbered `owner`; emptied
  // when the thread last used another rule set.
  static FrameRuleCache& For(uint64_t owner) {
    thread_local FrameRuleCache cache;
    if (cache.owner_ != owner) {
      cache.Clear();
      cache.owner_ = owner;
    }
    return cache;
  }

  // The key of `frame`: every field MatchFrame reads, with its presence.
  static void Key(const RuleFrame& frame, std::string* key) {
    key->assign(1, static_cast<char>(frame.family_bit));
    for (const std::optional<std::string_view>& v :
         {frame.function, frame.module, frame.package, frame.path}) {
      if (!v) {
        key->push_back('\0');
        continue;
      }
      uint32_t n = static_cast<uint32_t>(v->size());
      key->push_back('\1');
      key->append(reinterpret_cast<const char*>(&n), sizeof(n));
      key->append(*v);
    }
  }

  // The rule ids stored for `key`; false when there are none.
  bool Find(std::string_view key, std::span<const uint32_t>* rules) const {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    *rules = std::span<const uint32_t>(rules_).subspan(it->second.first,
                                                       it->second.second);
    return true;
  }
  void Insert(std::string_view key, std::span<const uint32_t> rules) {
    if (key.size() > kKeyBytes) return;  // never cached
    if (keys_.size() + key.size() > keys_.capacity()) Clear();
    // The map's keys are views of keys_, which never outgrows the capacity
    // reserved at the start: appending moves nothing.
    size_t at = keys_.size();
    keys_.append(key);
    map_.emplace(
        std::string_view(keys_).substr(at),
        std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(rules_.size()),
                                      static_cast<uint32_t>(rules.size())));
    rules_.insert(rules_.end(), rules.begin(), rules.end());
  }

 private:
  FrameRuleCache() { keys_.reserve(kKeyBytes); }
  void Clear() {
    map_.clear();
    keys_.clear();  // keeps the capacity
    rules_.clear();
  }

  uint64_t owner_ = 0;
  std::string keys_;
  std::vector<uint32_t> rules_;  // the entries' rule ids, back to back
  // key -> (first index in rules_, count)
  absl::flat_hash_map<std::string_view, std::pair<uint32_t, uint32_t>> map_;
};

}  // namespace

Enhancements::FrameHits Enhancements::Hits(
    const std::vector<RuleFrame>& frames) const {
  // (rule, frame) pairs bucketed by rule; frames come in ascending order.
  std::vector<uint32_t> rule_of, frame_of;
  FrameRuleCache& cache = FrameRuleCache::For(serial_);
  thread_local std::string key;
  for (uint32_t i = 0; i < frames.size(); ++i) {
    FrameRuleCache::Key(frames[i], &key);
    std::span<const uint32_t> known;
    if (cache.Find(key, &known)) {
      rule_of.insert(rule_of.end(), known.begin(), known.end());
    } else {
      size_t first = rule_of.size();
      MatchFrame(frames[i], &rule_of);
      cache.Insert(key, std::span<const uint32_t>(rule_of).subspan(first));
    }
    frame_of.resize(rule_of.size(), i);
  }
  FrameHits hits;
  hits.start.assign(rules_.size() + 1, 0);
  for (uint32_t r : rule_of) ++hits.start[r + 1];
  for (size_t r = 0; r < rules_.size(); ++r) {
    hits.start[r + 1] += hits.start[r];
  }
  hits.frames.resize(rule_of.size());
  std::vector<uint32_t> fill(hits.start.begin(), hits.start.end() - 1);
  for (size_t k = 0; k < rule_of.size(); ++k) {
    hits.frames[fill[rule_of[k]]++] = frame_of[k];
  }
  return hits;
}

void Enhancements::ApplyModifications(std::vector<RuleFrame>* frames,
                                      const RuleException& exception) const {
  Modify(rules_, categories_, StackIndex(*frames), Hits(*frames), frames,
         exception);
}

void Enhancements::UpdateContributions(
    const std::vector<RuleFrame>& frames, const RuleException& exception,
    std::vector<std::optional<bool>>* group) const {
  Update(rules_, categories_, StackIndex(frames), Hits(frames), frames,
         exception, group);
}

void Enhancements::Apply(std::vector<RuleFrame>* frames,
                         const RuleException& exception,
                         std::vector<std::optional<bool>>* group) const {
  StackIndex index(*frames);
  FrameHits hits = Hits(*frames);
  Modify(rules_, categories_, index, hits, frames, exception);
  Update(rules_, categories_, index, hits, *frames, exception, group);
}

std::string_view Enhancements::category_name(int id) const {
  if (id < 0 || id >= static_cast<int>(categories_.size())) return "";
  return categories_[id];
}

int Enhancements::Intern(std::string_view category) {
  for (size_t i = 0; i < categories_.size(); ++i) {
    if (categories_[i] == category) return static_cast<int>(i);
  }
  categories_.emplace_back(category);
  return static_cast<int>(categories_.size()) - 1;
}

}  // namespace tern::grouping
