#include "backend/grouping/functions.h"

#include <functional>
#include <vector>

#include "backend/grouping/event_fields.h"
#include "backend/grouping/regex.h"

namespace tern::grouping {
namespace {

// Stand-ins for tokens that confuse bracket balancing; bytes that do not
// occur in demangled names. Sentry uses private Unicode characters.
constexpr std::string_view kOpLt = "\x01";    // "<" of operator< / <<
constexpr std::string_view kOpCall = "\x02";  // operator()
constexpr std::string_view kArrow = "\x03";   // -> (operator-> and Swift)
constexpr std::string_view kAnonNs = "\x04";  // `anonymous namespace'

const Regex& LambdaRe() {
  // gcc {lambda(...)#1}, msvc lambda_<32 hex>, clang $_0.
  static const Regex re(
      R"((?:\{lambda\(.*?\)\#\d+\})|(?:\blambda_[a-f0-9]{32}\b)|(?:\$_\d+\b))");
  return re;
}
const Regex& AnonNamespaceRe() {
  static const Regex re(R"(\?A0x[a-f0-9]{8}::)");
  return re;
}
const Regex& CppTrailerRe() {
  static const Regex re(R"((\bconst\b|&)$)");
  return re;
}

void ReplaceAllInPlace(std::string* s, std::string_view from,
                       std::string_view to) {
  size_t pos = 0;
  while ((pos = s->find(from, pos)) != std::string::npos) {
    s->replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Sentry's replace_enclosed_string: drops every outermost `start`..`end`
// span, putting `replacement(inner, start_index)` in its place.
std::string ReplaceEnclosed(
    std::string_view s, char start, char end,
    const std::function<std::string(std::string_view, size_t)>& replacement) {
  if (s.find(start) == std::string_view::npos) return std::string(s);
  int depth = 0;
  std::string rv;
  size_t pair_start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == start) {
      if (depth == 0) pair_start = i;
      ++depth;
    } else if (c == end) {
      --depth;
      if (depth == 0) {
        rv += replacement(s.substr(pair_start + 1, i - pair_start - 1),
                          pair_start);
      }
    } else if (depth == 0) {
      rv.push_back(c);
    }
  }
  return rv;
}

// Concatenation without operator+ (GCC 12 reports a bogus -Wrestrict on
// chained std::string operator+).
std::string Cat(std::string_view a, std::string_view b,
                std::string_view c = {}) {
  std::string out;
  out.reserve(a.size() + b.size() + c.size());
  out.append(a);
  out.append(b);
  out.append(c);
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

std::string_view Strip(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

char Closing(char c) {
  switch (c) {
    case '(':
      return ')';
    case '{':
      return '}';
    case '[':
      return ']';
    case '<':
      return '>';
  }
  return 0;
}

// Sentry's split_func_tokens: whitespace-separated tokens, where bracketed
// groups never split.
std::vector<std::string> SplitFuncTokens(std::string_view s) {
  bool has_break = false;
  for (char c : s) {
    if (IsSpace(c) || c == '(' || c == '{' || c == '<' || c == '[') {
      has_break = true;
      break;
    }
  }
  if (!s.empty() && !has_break) return {std::string(s)};
  std::vector<std::string> rv;
  std::string buf;
  bool buf_nonempty = false;
  std::vector<char> stack;
  size_t end = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (Closing(c) != 0) {
      stack.push_back(Closing(c));
    } else if (!stack.empty() && c == stack.back()) {
      stack.pop_back();
      if (stack.empty()) {
        buf.append(s.substr(end, i + 1 - end));
        buf_nonempty = true;
        end = i + 1;
      }
    } else if (stack.empty()) {
      if (IsSpace(c)) {
        if (buf_nonempty) rv.push_back(buf);
        buf.clear();
        buf_nonempty = false;
      } else {
        buf.append(s.substr(end, i + 1 - end));
        buf_nonempty = true;
      }
      end = i + 1;
    }
  }
  if (buf_nonempty) rv.push_back(buf);
  return rv;
}

std::string ProcessGenerics(std::string_view value, size_t start) {
  if (value == "lambda" || LambdaRe().Search(value, /*anchored=*/true)) {
    return Cat("<", value, ">");
  }
  if (start > 0) return "<T>";
  // Rust: prefer the trait for blanket impls ("<T as Trait>").
  if (value.size() >= 5 && value[0] >= 'A' && value[0] <= 'Z' &&
      value.substr(1, 4) == " as ") {
    value.remove_prefix(5);
  }
  std::string inner = ReplaceEnclosed(value, '<', '>', ProcessGenerics);
  size_t as = inner.find(" as ");
  return as == std::string::npos ? inner : inner.substr(0, as);
}

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

std::string_view BehaviorFamily(std::string_view platform) {
  if (platform == "objc" || platform == "cocoa" || platform == "swift" ||
      platform == "native" || platform == "c") {
    return "native";
  }
  if (platform == "javascript" || platform == "node") return "javascript";
  return "other";
}

std::string TrimNativeFunctionName(std::string_view original,
                                   std::string_view platform) {
  if (original == "<redacted>" || original == "<unknown>") {
    return std::string(original);
  }
  std::string_view stripped = Strip(original);
  // Objective-C selectors are left alone.
  if (stripped.starts_with("[") || stripped.starts_with("+[") ||
      stripped.starts_with("-[")) {
    return std::string(stripped);
  }
  // `[clone .foo]` annotations of cloned/split functions go.
  std::string function = ReplaceEnclosed(
      stripped, '[', ']', [](std::string_view v, size_t) -> std::string {
        if (v.starts_with("clone .")) return "";
        return Cat("[", v, "]");
      });
  while (!function.empty() && IsSpace(function.back())) function.pop_back();
  // C++ trailers: "const" and "&" at the end.
  while (true) {
    if (function.ends_with("&")) {
      function.pop_back();
    } else if (function.ends_with("const") && CppTrailerRe().Search(function)) {
      function.resize(function.size() - 5);
    } else {
      break;
    }
    while (!function.empty() && IsSpace(function.back())) function.pop_back();
  }
  ReplaceAllInPlace(&function, "operator<<", Cat("operator", kOpLt, kOpLt));
  ReplaceAllInPlace(&function, "operator<", Cat("operator", kOpLt));
  ReplaceAllInPlace(&function, "operator()", Cat("operator", kOpCall));
  ReplaceAllInPlace(&function, "operator->", Cat("operator", kArrow));
  ReplaceAllInPlace(&function, " -> ", Cat(" ", kArrow, " "));
  ReplaceAllInPlace(&function, "`anonymous namespace'", kAnonNs);

  if (function.find("lambda") != std::string::npos ||
      function.find("$_") != std::string::npos) {
    function = LambdaRe().ReplaceAll(function, "lambda");
  }
  if (function.find("?A0x") != std::string::npos) {
    function = AnonNamespaceRe().ReplaceAll(function, Cat(kAnonNs, "::"));
  }
  // Argument lists go, except "(anonymous namespace)" and "(operator)".
  function = ReplaceEnclosed(
      function, '(', ')', [](std::string_view v, size_t) -> std::string {
        v = Strip(v);
        if (v == "anonymous namespace" || v == "operator") {
          return Cat("(", v, ")");
        }
        return "";
      });
  function = ReplaceEnclosed(function, '<', '>', ProcessGenerics);

  bool is_thunk = function.find("thunk for ") != std::string::npos;
  std::vector<std::string> tokens = SplitFuncTokens(function);
  if (tokens.size() > 1 && tokens.back() == "<T>") {
    tokens.pop_back();
    tokens.back() += " <T>";
  }

  std::string func_token;
  bool have_token = false;
  if (function.find("initialization expression of") != std::string::npos) {
    // Swift initializer expression.
    size_t of = tokens.size();
    for (size_t i = tokens.size(); i-- > 0;) {
      if (tokens[i] == "of") {
        of = i;
        break;
      }
    }
    if (of + 1 < tokens.size()) {
      std::string_view tok = tokens[of + 1];
      if (tok == "static" && of + 2 < tokens.size()) tok = tokens[of + 2];
      if (tok.starts_with(":")) tok.remove_prefix(1);
      func_token = Cat("initializer expression of ", tok);
      have_token = true;
    }
  } else if (!tokens.empty()) {
    size_t arrow = tokens.size();
    for (size_t i = tokens.size(); i-- > 0;) {
      if (tokens[i] == kArrow) {
        arrow = i;
        break;
      }
    }
    if (arrow < tokens.size() && arrow >= 1) {
      func_token = tokens[arrow - 1];
      if (func_token == "throws") {
        // A throwing Swift function: the name is one token further left.
        func_token = arrow >= 2 ? tokens[arrow - 2] : tokens.back();
      }
    } else {
      // No arrow (or an arrow first, where Python's index -1 wraps around
      // to the last token).
      func_token = tokens.back();
    }
    have_token = true;
  }

  if (have_token && !func_token.empty()) {
    bool has_closure = false;
    for (const auto& t : tokens) has_closure |= t == "closure";
    if (func_token.starts_with("@") &&
        (platform == "cocoa" || platform == "swift")) {
      func_token = Cat(is_thunk ? "thunk for " : "", "closure");
    } else if (has_closure && func_token != "closure") {
      func_token = Cat("closure in ", func_token);
    }
    function = func_token;
    ReplaceAllInPlace(&function, kOpLt, "<");
    ReplaceAllInPlace(&function, kOpCall, "()");
    ReplaceAllInPlace(&function, kArrow, "->");
    ReplaceAllInPlace(&function, kAnonNs, "`anonymous namespace'");
  } else {
    function = std::string(original);
  }

  // Rust hashes ("::h0123456789abcdef").
  if (function.size() >= 19) {
    std::string_view tail =
        std::string_view(function).substr(function.size() - 19);
    bool hash = tail.substr(0, 3) == "::h";
    for (size_t i = 3; hash && i < tail.size(); ++i)
      hash = IsLowerAlnum(tail[i]);
    if (hash) function.resize(function.size() - 19);
  }
  // GNU symbol versions ("@GLIBC_2.2.5" / "@@GLIBC_2.2.5").
  if (size_t at = function.find("@GLIBC_"); at != std::string::npos) {
    size_t p = at + 7;
    bool ok = p < function.size();
    for (size_t i = p; ok && i < function.size(); ++i) {
      ok = (function[i] >= '0' && function[i] <= '9') || function[i] == '.';
    }
    if (ok) {
      size_t cut = at;
      if (cut > 0 && function[cut - 1] == '@') --cut;
      function.resize(cut);
    }
  }
  // MSVC decorations: "@?name@12" / "_name@12" -> name.
  if (function.find('@') != std::string::npos) {
    // ^@?(.*?)@[0-9]+$ : the lazy group stops at the first '@' that is
    // followed only by digits to the end.
    size_t begin = function[0] == '@' ? 1 : 0;
    for (size_t at = function.find('@', begin); at != std::string::npos;
         at = function.find('@', at + 1)) {
      bool digits = at + 1 < function.size();
      for (size_t i = at + 1; digits && i < function.size(); ++i) {
        digits = function[i] >= '0' && function[i] <= '9';
      }
      if (digits) {
        function = function.substr(begin, at - begin);
        break;
      }
    }
  }
  return function;
}

std::string TrimFunctionName(std::string_view function,
                             std::string_view platform) {
  if (platform == "csharp") {
    size_t cut = function.find(" (");
    return std::string(function.substr(0, cut));
  }
  if (BehaviorFamily(platform) == "native") {
    return TrimNativeFunctionName(function, platform);
  }
  return std::string(function);
}

std::string FunctionNameForFrame(const protocol::JsonValue& frame,
                                 std::string_view platform) {
  std::string_view function = StrOr(frame, "function");
  if (!StrOr(frame, "raw_function").empty()) return std::string(function);
  if (function.empty()) return "";
  return TrimFunctionName(function, StrOr(frame, "platform", platform));
}

}  // namespace tern::grouping
