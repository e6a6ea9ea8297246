#include "backend/symbolicate/url.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace tern::backend::symbolicate {
namespace {

// absl::StrCat does not take std::string_view in Debian's abseil.
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

// Length of "scheme:" when `url` starts with a URL scheme, else 0.
size_t SchemeLength(std::string_view url) {
  for (size_t i = 0; i < url.size(); ++i) {
    const char c = url[i];
    if (c == ':') return i > 0 ? i + 1 : 0;
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) return 0;
  }
  return 0;
}

struct Parts {
  std::string_view origin;  // "scheme://host" or "~" or ""
  std::string_view path;    // starting with '/' when there is an origin
  std::string_view query;   // with its '?', or ""
};

Parts Split(std::string_view url) {
  Parts p;
  if (const size_t hash = url.find('#'); hash != std::string_view::npos) {
    url = url.substr(0, hash);
  }
  if (const size_t q = url.find('?'); q != std::string_view::npos) {
    p.query = url.substr(q);
    url = url.substr(0, q);
  }
  if (absl::StartsWith(ToAbsl(url), "~/")) {
    p.origin = url.substr(0, 1);
    p.path = url.substr(1);
    return p;
  }
  const size_t scheme = SchemeLength(url);
  if (scheme > 0 && url.substr(scheme, 2) == "//") {
    const size_t slash = url.find('/', scheme + 2);
    p.origin =
        url.substr(0, slash == std::string_view::npos ? url.size() : slash);
    p.path = slash == std::string_view::npos ? "" : url.substr(slash);
    return p;
  }
  if (scheme > 0) {
    // "app:/x" or "data:...": an opaque scheme; the rest is the path.
    p.origin = url.substr(0, scheme);
    p.path = url.substr(scheme);
    return p;
  }
  p.path = url;
  return p;
}

// Removes "." and ".." segments; keeps a leading '/'.
std::string NormalizePath(std::string_view path) {
  const bool absolute = !path.empty() && path.front() == '/';
  std::vector<absl::string_view> out;
  std::vector<absl::string_view> parts = absl::StrSplit(ToAbsl(path), '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    absl::string_view seg = parts[i];
    const bool last = i + 1 == parts.size();
    if (seg == ".") {
      if (last) out.push_back("");
      continue;
    }
    if (seg == "..") {
      if (!out.empty() && !(out.size() == 1 && out[0].empty() && absolute)) {
        out.pop_back();
      }
      if (last) out.push_back("");
      continue;
    }
    if (seg.empty() && i > 0 && !last) continue;
    out.push_back(seg);
  }
  std::string s = absl::StrJoin(out, "/");
  if (absolute && (s.empty() || s.front() != '/')) return Cat({"/", s});
  return s;
}

}  // namespace

std::vector<std::string> UrlCandidates(std::string_view url) {
  std::vector<std::string> out;
  if (url.empty()) return out;
  auto add = [&](std::string s) {
    if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end()) {
      out.push_back(std::move(s));
    }
  };
  std::string_view no_fragment = url.substr(0, url.find('#'));
  add(std::string(no_fragment));
  const Parts p = Split(url);
  add(Cat({p.origin, p.path}));
  if (p.origin == "~") return out;
  const std::string path = p.path.empty() || p.path.front() != '/'
                               ? Cat({"/", p.path})
                               : std::string(p.path);
  add(Cat({"~", path, p.query}));
  add(Cat({"~", path}));
  return out;
}

std::string JoinUrl(std::string_view base, std::string_view ref) {
  if (ref.empty()) return std::string(base);
  if (SchemeLength(ref) > 0 || absl::StartsWith(ToAbsl(ref), "~/")) {
    return std::string(ref);
  }
  const Parts b = Split(base);
  if (absl::StartsWith(ToAbsl(ref), "//")) {
    const size_t colon = b.origin.find(':');
    std::string_view scheme = colon == std::string_view::npos
                                  ? std::string_view("https:")
                                  : b.origin.substr(0, colon + 1);
    return Cat({scheme, ref});
  }
  std::string_view ref_path = ref;
  std::string_view ref_query;
  if (const size_t q = ref.find_first_of("?#"); q != std::string_view::npos) {
    ref_path = ref.substr(0, q);
    ref_query = ref.substr(q);
  }
  std::string path;
  if (!ref_path.empty() && ref_path.front() == '/') {
    path = NormalizePath(ref_path);
  } else {
    const size_t slash = b.path.rfind('/');
    std::string_view dir =
        slash == std::string_view::npos ? "" : b.path.substr(0, slash + 1);
    path = NormalizePath(Cat({dir, ref_path}));
  }
  return Cat({b.origin, path, ref_query});
}

std::string FilenameForUrl(std::string_view abs_path) {
  std::string_view s = abs_path;
  if (absl::StartsWith(ToAbsl(s), "webpack://")) {
    s.remove_prefix(10);
    // webpack://<namespace>/./src/x.js: the namespace is not part of the name.
    if (!s.empty() && s.front() != '/') {
      const size_t slash = s.find('/');
      s = slash == std::string_view::npos ? s : s.substr(slash);
    }
  } else {
    const Parts p = Split(s);
    if (!p.origin.empty()) s = p.path;
  }
  while (absl::StartsWith(ToAbsl(s), "./") ||
         absl::StartsWith(ToAbsl(s), "/.")) {
    if (absl::StartsWith(ToAbsl(s), "/./")) {
      s.remove_prefix(1);
    } else if (absl::StartsWith(ToAbsl(s), "./")) {
      s.remove_prefix(2);
    } else {
      break;
    }
  }
  if (absl::StartsWith(ToAbsl(abs_path), "webpack://") ||
      absl::StartsWith(ToAbsl(abs_path), "app://")) {
    while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  }
  return std::string(s);
}

std::string_view FindSourceMappingUrl(std::string_view source) {
  size_t end = source.size();
  while (end > 0) {
    size_t start = source.rfind('\n', end - 1);
    start = start == std::string_view::npos ? 0 : start + 1;
    std::string_view line = source.substr(start, end - start);
    while (!line.empty() &&
           (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    size_t lead = 0;
    while (lead < line.size() && (line[lead] == ' ' || line[lead] == '\t')) {
      ++lead;
    }
    line.remove_prefix(lead);
    if (line.size() > 4 && line.substr(0, 2) == "//" &&
        (line[2] == '#' || line[2] == '@') && line[3] == ' ') {
      std::string_view rest = line.substr(4);
      constexpr std::string_view kKey = "sourceMappingURL=";
      if (rest.substr(0, kKey.size()) == kKey) {
        std::string_view value = rest.substr(kKey.size());
        if (!value.empty()) return value;
      }
    }
    if (start == 0) break;
    end = start - 1;
  }
  return "";
}

}  // namespace tern::backend::symbolicate
