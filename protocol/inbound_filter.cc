#include "protocol/inbound_filter.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace tern::protocol {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;
using simdjson::SUCCESS;

constexpr char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

// ---------------------------------------------------------------------------
// Needles: Relay writes its built-in lists as case-insensitive regexes made of
// literals and a few classes. We keep each alternative as a lowercase string
// in which these bytes stand for the classes it uses, and search for it at
// every position (the texts are short: a user agent, an exception value).
constexpr char kSpace = '\x01';    // \s
constexpr char kBotEnd = '\x02';   // [/\s\);]
constexpr char kAnyChar = '\x03';  // . (any byte but \n)
constexpr char kDigit = '\x04';    // \d

constexpr bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

constexpr bool NeedleCharMatches(char n, char c) {
  switch (n) {
    case kSpace:
      return IsSpace(c);
    case kBotEnd:
      return c == '/' || c == ')' || c == ';' || IsSpace(c);
    case kAnyChar:
      return c != '\n';
    case kDigit:
      return c >= '0' && c <= '9';
    default:
      return n == Lower(c);
  }
}

bool NeedleAt(std::string_view text, size_t pos, std::string_view needle) {
  if (text.size() - pos < needle.size()) return false;
  for (size_t i = 0; i < needle.size(); ++i) {
    if (!NeedleCharMatches(needle[i], text[pos + i])) return false;
  }
  return true;
}

// A list of needles with two lookup tables: which needles can start with a
// byte, and which can have it second (both cases, classes expanded). At each
// position of the text the search tries only the needles whose first two
// characters are there (the AND of both masks), which is almost always none:
// a scan costs about two table lookups per byte.
template <size_t N>
class NeedleSet {
 public:
  static_assert(N <= 32, "one bit per needle");
  constexpr explicit NeedleSet(const std::array<std::string_view, N>& needles)
      : needles_(needles) {
    for (size_t i = 0; i < N; ++i) {
      const uint32_t bit = uint32_t{1} << i;
      Add(&first_, needles[i][0], bit);
      if (needles[i].size() >= 2) {
        Add(&second_, needles[i][1], bit);
      } else {
        for (uint32_t& m : second_) m |= bit;
        last_ |= bit;
      }
    }
  }

  // True when some needle occurs in `text`.
  bool FoundIn(std::string_view text) const {
    const size_t n = text.size();
    for (size_t pos = 0; pos < n; ++pos) {
      uint32_t candidates = first_[static_cast<unsigned char>(text[pos])];
      if (candidates == 0) continue;
      candidates &= pos + 1 < n
                        ? second_[static_cast<unsigned char>(text[pos + 1])]
                        : last_;
      while (candidates != 0) {
        const int i = std::countr_zero(candidates);
        candidates &= candidates - 1;
        if (NeedleAt(text, pos, needles_[i])) return true;
      }
    }
    return false;
  }

 private:
  using Table = std::array<uint32_t, 256>;

  // Marks every byte that needle character `n` matches (see
  // NeedleCharMatches).
  static constexpr void Add(Table* table, char n, uint32_t bit) {
    for (int b = 0; b < 256; ++b) {
      if (NeedleCharMatches(n, static_cast<char>(b))) (*table)[b] |= bit;
    }
  }

  std::array<std::string_view, N> needles_;
  Table first_{};
  Table second_{};
  // Needles of one character, the only ones that can match at the last byte.
  uint32_t last_ = 0;
};

// relay-filter/src/browser_extensions.rs, EXTENSION_EXC_VALUES: matched
// anywhere in the first exception's value.
constexpr std::array<std::string_view, 20> kExtensionValues = {
    "top.globals",
    "originalcreatenotification",
    "canvas\x03"
    "contentdocument",
    "myapp_removeallhighlights",
    "http://tt.epicplay.com",
    "can't\x01"
    "find\x01"
    "variable:\x01"
    "zitereader",
    "jigsaw\x01is\x01not\x01"
    "defined",
    "combosearch\x01is\x01not\x01"
    "defined",
    "http://loading.retry.widdit.com/",
    "atomicfindclose",
    "fb_xd_fragment",
    "bmi_safeaddonload",
    "ebcallbackmessagereceived",
    "_gcrweb",
    "conduitpage",
    "null\x01is\x01not\x01"
    "an\x01object\x01(evaluating\x01'elt\x03parentnode')",
    "plugin.setsuspendstate\x01is\x01not\x01"
    "a\x01"
    "function",
    "extension\x01"
    "context\x01invalidated",
    "webkit-masked-url:",
    "can't\x01"
    "access\x01"
    "dead\x01object",
};

// EXTENSION_EXC_SOURCES, unanchored alternatives: matched anywhere in the
// source (the abs_path of the first exception's last real frame).
constexpr std::array<std::string_view, 9> kExtensionSources = {
    "graph.facebook.com",
    "connect.facebook.net",
    "eatdifferent.com.woopra-ns.com",
    "static.woopra.com/js/woopra.js",
    "webkit-masked-url",
    "127.0.0.1:4001/isrunning",
    "webappstoolbarba.texthelp.com/",
    "metrics.itunes.apple.com.edgesuite.net/",
    "kaspersky-labs.com",
};

// EXTENSION_EXC_SOURCES, anchored alternatives: extension URL schemes.
constexpr std::array<std::string_view, 5> kExtensionSchemes = {
    "chrome://",           "chrome-extension://",     "moz-extension://",
    "safari-extension://", "safari-web-extension://",
};

constexpr NeedleSet kExtensionValueSet(kExtensionValues);
constexpr NeedleSet kExtensionSourceSet(kExtensionSources);

// Frames that say nothing about where the code came from
// (browser_extensions.rs, ANONYMOUS_FRAMES).
bool IsAnonymousFrame(std::string_view path) {
  return path == "<anonymous>" || path == "[native code]";
}

// relay-filter/src/web_crawlers.rs, WEB_CRAWLERS: matched anywhere in the
// User-Agent header.
constexpr std::array<std::string_view, 22> kWebCrawlers = {
    "mediapartners-google",
    "adsbot-google",
    "googlebot",
    "feedfetcher-google",
    "bingbot",
    "bingpreview",
    "baiduspider",
    "slurp",
    "sogou",
    "facebook",
    "ia_archiver",
    "bot\x02",
    "bots\x02",
    "spider\x02",
    "slack",
    "calypso\x01"
    "appcrawler",
    "pingdom",
    "lyticsbot",
    "aws\x01security\x01scanner",
    "hubspot\x01"
    "crawler",
    "bytespider",
    "better\x01uptime",
};

// ALLOWED_WEB_CRAWLERS: Slack's link unfurler is let through.
constexpr std::array<std::string_view, 1> kAllowedCrawlers = {
    "slackbot\x01"
    "1.\x04",
};

constexpr NeedleSet kWebCrawlerSet(kWebCrawlers);
constexpr NeedleSet kAllowedCrawlerSet(kAllowedCrawlers);

// ---------------------------------------------------------------------------
// Localhost (relay-filter/src/localhost.rs).

bool IsLocalIp(std::string_view ip) { return ip == "127.0.0.1" || ip == "::1"; }

// `host` equals `domain` or is a subdomain of it.
bool HostIsOrUnder(std::string_view host, std::string_view domain) {
  if (host.size() < domain.size() ||
      !EqualsIgnoreCase(host.substr(host.size() - domain.size()), domain)) {
    return false;
  }
  return host.size() == domain.size() ||
         host[host.size() - domain.size() - 1] == '.';
}

bool IsLocalHost(std::string_view host) {
  return HostIsOrUnder(host, "localhost") || HostIsOrUnder(host, "127.0.0.1") ||
         host == "[::1]";
}

enum class UrlKind { kNone, kFile, kHost };

// Reads an absolute URL the way the parts Relay looks at need: its scheme
// and, for scheme://authority URLs, the host (userinfo and port removed;
// IPv6 hosts keep their brackets). Text without a scheme is not a URL.
UrlKind ParseUrl(std::string_view url, std::string_view* host) {
  size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) return UrlKind::kNone;
  for (size_t i = 0; i < colon; ++i) {
    const char c = url[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool ok =
        alpha ||
        (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) return UrlKind::kNone;
  }
  if (EqualsIgnoreCase(url.substr(0, colon), "file")) return UrlKind::kFile;
  std::string_view rest = url.substr(colon + 1);
  if (rest.size() < 2 || rest[0] != '/' || rest[1] != '/') {
    return UrlKind::kNone;
  }
  rest.remove_prefix(2);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#\\"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    *host = close == std::string_view::npos ? authority
                                            : authority.substr(0, close + 1);
  } else {
    *host = authority.substr(0, authority.find(':'));
  }
  return UrlKind::kHost;
}

// A Host or X-Forwarded-Host value ("localhost:3000") names the local host.
bool IsLocalHostHeader(std::string_view value) {
  std::string_view host;
  if (!value.empty() && value[0] == '[') {
    host = value.substr(0, value.find(']') + 1);
  } else {
    host = value.substr(0, value.find(':'));
  }
  return EqualsIgnoreCase(host, "localhost") || host == "127.0.0.1" ||
         host == "[::1]";
}

// ---------------------------------------------------------------------------
// What one pass over the event collects. The views point into the parser's
// string buffer and live until the next parse.

struct Needs {
  bool release = false;
  bool messages = false;         // every exception's type/value, logentry
  bool first_exception = false;  // value and frames of the first exception
  bool user_ip = false;
  bool url = false;
  bool user_agent = false;
  bool local_headers = false;  // X-Forwarded-For, Host, X-Forwarded-Host
};

struct Facts {
  std::optional<std::string_view> release;
  std::optional<std::string_view> ip;
  std::optional<std::string_view> url;
  std::optional<std::string_view> user_agent;
  std::optional<std::string_view> forwarded_for;
  std::optional<std::string_view> host;
  std::optional<std::string_view> forwarded_host;
  std::optional<std::string_view> first_exception_value;
  std::optional<std::string_view> first_exception_source;
  bool message_hit = false;
};

bool AnyMatches(const std::vector<Glob>& globs, std::string_view text) {
  for (const Glob& g : globs) {
    if (g.Matches(text)) return true;
  }
  return false;
}

// Reads `v` as a string when it is one; any other type leaves `out` alone.
error_code ReadString(od::value& v, std::optional<std::string_view>* out) {
  od::json_type type;
  if (error_code e = v.type().get(type)) return e;
  if (type != od::json_type::string) return SUCCESS;
  std::string_view s;
  if (error_code e = v.get_string().get(s)) return e;
  *out = s;
  return SUCCESS;
}

bool IsType(od::value& v, od::json_type want, error_code* e) {
  od::json_type type;
  *e = v.type().get(type);
  return *e == SUCCESS && type == want;
}

class Walker {
 public:
  Walker(const Needs& needs, const InboundFilterConfig& config,
         std::string* scratch, Facts* facts)
      : needs_(needs), config_(config), scratch_(*scratch), facts_(*facts) {}

  error_code Event(od::document& doc) {
    od::object root;
    if (error_code e = doc.get_object().get(root)) return e;
    for (auto field : root) {
      std::string_view key;
      if (error_code e = field.unescaped_key().get(key)) return e;
      od::value v;
      if (error_code e = field.value().get(v)) return e;
      error_code e = SUCCESS;
      if (key == "release") {
        if (needs_.release) e = ReadString(v, &facts_.release);
      } else if (key == "user") {
        if (needs_.user_ip) e = User(v);
      } else if (key == "request") {
        if (needs_.url || needs_.user_agent || needs_.local_headers) {
          e = Request(v);
        }
      } else if (key == "exception") {
        if (needs_.messages || needs_.first_exception) e = Exceptions(v);
      } else if (key == "logentry") {
        if (needs_.messages) e = LogEntry(v);
      }
      if (e) return e;
    }
    return SUCCESS;
  }

 private:
  error_code User(od::value& user) {
    error_code e;
    if (!IsType(user, od::json_type::object, &e)) return e;
    od::object obj;
    if ((e = user.get_object().get(obj))) return e;
    for (auto field : obj) {
      std::string_view key;
      if ((e = field.unescaped_key().get(key))) return e;
      od::value v;
      if ((e = field.value().get(v))) return e;
      if (key == "ip_address" && (e = ReadString(v, &facts_.ip))) return e;
    }
    return SUCCESS;
  }

  error_code Request(od::value& request) {
    error_code e;
    if (!IsType(request, od::json_type::object, &e)) return e;
    od::object obj;
    if ((e = request.get_object().get(obj))) return e;
    for (auto field : obj) {
      std::string_view key;
      if ((e = field.unescaped_key().get(key))) return e;
      od::value v;
      if ((e = field.value().get(v))) return e;
      if (key == "url") {
        if (needs_.url && (e = ReadString(v, &facts_.url))) return e;
      } else if (key == "headers") {
        if ((e = Headers(v))) return e;
      }
    }
    return SUCCESS;
  }

  void Header(std::string_view name, std::string_view value) {
    // The first header of each name counts, as in Relay's header lookup.
    auto keep = [&](std::optional<std::string_view>* slot) {
      if (!slot->has_value()) *slot = value;
    };
    if (needs_.user_agent && EqualsIgnoreCase(name, "user-agent")) {
      keep(&facts_.user_agent);
    } else if (needs_.local_headers) {
      if (EqualsIgnoreCase(name, "x-forwarded-for")) {
        keep(&facts_.forwarded_for);
      } else if (EqualsIgnoreCase(name, "host")) {
        keep(&facts_.host);
      } else if (EqualsIgnoreCase(name, "x-forwarded-host")) {
        keep(&facts_.forwarded_host);
      }
    }
  }

  // Either {"Name": "value", ...} or [["Name", "value"], ...]; the normalizer
  // lets both through. Entries of another shape are skipped.
  error_code Headers(od::value& headers) {
    od::json_type type;
    if (error_code e = headers.type().get(type)) return e;
    if (type == od::json_type::object) {
      od::object obj;
      if (error_code e = headers.get_object().get(obj)) return e;
      for (auto field : obj) {
        std::string_view name;
        if (error_code e = field.unescaped_key().get(name)) return e;
        od::value v;
        if (error_code e = field.value().get(v)) return e;
        std::optional<std::string_view> value;
        if (error_code e = ReadString(v, &value)) return e;
        if (value) Header(name, *value);
      }
    } else if (type == od::json_type::array) {
      od::array pairs;
      if (error_code e = headers.get_array().get(pairs)) return e;
      for (auto item : pairs) {
        od::value pair;
        if (error_code e = item.get(pair)) return e;
        error_code e;
        if (!IsType(pair, od::json_type::array, &e)) {
          if (e) return e;
          continue;
        }
        od::array parts;
        if ((e = pair.get_array().get(parts))) return e;
        std::optional<std::string_view> name;
        std::optional<std::string_view> value;
        int index = 0;
        for (auto part : parts) {
          od::value p;
          if ((e = part.get(p))) return e;
          if (index == 0 && (e = ReadString(p, &name))) return e;
          if (index == 1 && (e = ReadString(p, &value))) return e;
          ++index;
        }
        if (index == 2 && name && value) Header(*name, *value);
      }
    }
    return SUCCESS;
  }

  // `exception` is a list, or an object whose `values` is one.
  error_code Exceptions(od::value& exception) {
    od::json_type type;
    if (error_code e = exception.type().get(type)) return e;
    if (type == od::json_type::array) return ExceptionList(exception);
    if (type != od::json_type::object) return SUCCESS;
    od::object obj;
    if (error_code e = exception.get_object().get(obj)) return e;
    for (auto field : obj) {
      std::string_view key;
      if (error_code e = field.unescaped_key().get(key)) return e;
      if (key != "values") continue;
      od::value v;
      if (error_code e = field.value().get(v)) return e;
      error_code e;
      if (IsType(v, od::json_type::array, &e)) return ExceptionList(v);
      return e;
    }
    return SUCCESS;
  }

  error_code ExceptionList(od::value& list) {
    od::array items;
    if (error_code e = list.get_array().get(items)) return e;
    bool first = true;
    for (auto item : items) {
      od::value v;
      if (error_code e = item.get(v)) return e;
      if (error_code e = Exception(v, first)) return e;
      first = false;
      if (!needs_.messages) break;  // only the first one is wanted
    }
    return SUCCESS;
  }

  error_code Exception(od::value& exception, bool first) {
    error_code e;
    if (!IsType(exception, od::json_type::object, &e)) return e;
    od::object obj;
    if ((e = exception.get_object().get(obj))) return e;
    std::optional<std::string_view> type;
    std::optional<std::string_view> value;
    for (auto field : obj) {
      std::string_view key;
      if ((e = field.unescaped_key().get(key))) return e;
      od::value v;
      if ((e = field.value().get(v))) return e;
      if (key == "type") {
        e = ReadString(v, &type);
      } else if (key == "value") {
        e = ReadString(v, &value);
      } else if (key == "stacktrace" && first && needs_.first_exception) {
        e = Stacktrace(v);
      }
      if (e) return e;
    }
    if (first) facts_.first_exception_value = value;
    if (needs_.messages && !facts_.message_hit) {
      // Relay's message for an exception: "Type: value", or whichever of
      // the two is non-empty.
      const std::string_view ty = type.value_or("");
      const std::string_view val = value.value_or("");
      std::string_view message;
      if (ty.empty()) {
        message = val;
      } else if (val.empty()) {
        message = ty;
      } else {
        scratch_.assign(ty);
        scratch_.append(": ");
        scratch_.append(val);
        message = scratch_;
      }
      facts_.message_hit = AnyMatches(config_.error_messages, message);
    }
    return SUCCESS;
  }

  // The source of the exception: the path of its last frame that is not
  // anonymous (Relay walks the frames from the tail).
  error_code Stacktrace(od::value& stacktrace) {
    error_code e;
    if (!IsType(stacktrace, od::json_type::object, &e)) return e;
    od::object obj;
    if ((e = stacktrace.get_object().get(obj))) return e;
    for (auto field : obj) {
      std::string_view key;
      if ((e = field.unescaped_key().get(key))) return e;
      if (key != "frames") continue;
      od::value v;
      if ((e = field.value().get(v))) return e;
      if (!IsType(v, od::json_type::array, &e)) return e;
      od::array frames;
      if ((e = v.get_array().get(frames))) return e;
      for (auto item : frames) {
        od::value frame;
        if ((e = item.get(frame))) return e;
        std::optional<std::string_view> path;
        if ((e = FramePath(frame, &path))) return e;
        if (path && !IsAnonymousFrame(*path)) {
          facts_.first_exception_source = path;
        }
      }
      return SUCCESS;
    }
    return SUCCESS;
  }

  // abs_path, or filename when the frame has no abs_path.
  error_code FramePath(od::value& frame, std::optional<std::string_view>* out) {
    error_code e;
    if (!IsType(frame, od::json_type::object, &e)) return e;
    od::object obj;
    if ((e = frame.get_object().get(obj))) return e;
    std::optional<std::string_view> abs_path;
    std::optional<std::string_view> filename;
    for (auto field : obj) {
      std::string_view key;
      if ((e = field.unescaped_key().get(key))) return e;
      od::value v;
      if ((e = field.value().get(v))) return e;
      if (key == "abs_path") {
        e = ReadString(v, &abs_path);
      } else if (key == "filename") {
        e = ReadString(v, &filename);
      }
      if (e) return e;
    }
    *out = abs_path ? abs_path : filename;
    return SUCCESS;
  }

  // Relay matches `formatted`, or `message` when there is no formatted one.
  error_code LogEntry(od::value& logentry) {
    error_code e;
    if (!IsType(logentry, od::json_type::object, &e)) return e;
    od::object obj;
    if ((e = logentry.get_object().get(obj))) return e;
    std::optional<std::string_view> formatted;
    std::optional<std::string_view> message;
    for (auto field : obj) {
      std::string_view key;
      if ((e = field.unescaped_key().get(key))) return e;
      od::value v;
      if ((e = field.value().get(v))) return e;
      if (key == "formatted") {
        e = ReadString(v, &formatted);
      } else if (key == "message") {
        e = ReadString(v, &message);
      }
      if (e) return e;
    }
    std::optional<std::string_view> text = formatted ? formatted : message;
    if (text && AnyMatches(config_.error_messages, *text)) {
      facts_.message_hit = true;
    }
    return SUCCESS;
  }

  const Needs& needs_;
  const InboundFilterConfig& config_;
  std::string& scratch_;
  Facts& facts_;
};

bool LocalhostMatches(const Facts& f) {
  if (f.ip && IsLocalIp(*f.ip)) return true;
  bool has_url = false;
  if (f.url) {
    std::string_view host;
    switch (ParseUrl(*f.url, &host)) {
      case UrlKind::kFile:
        return true;
      case UrlKind::kHost:
        has_url = true;
        if (IsLocalHost(host)) return true;
        break;
      case UrlKind::kNone:
        break;
    }
  }
  if (f.forwarded_for && IsLocalIp(*f.forwarded_for)) return true;
  // Host headers count only for events without a URL (Relay: a proxy's
  // Host may be local while the page the user saw was not).
  if (!has_url) {
    if (f.host && IsLocalHostHeader(*f.host)) return true;
    if (f.forwarded_host && IsLocalHostHeader(*f.forwarded_host)) return true;
  }
  return false;
}

bool BrowserExtensionMatches(const Facts& f) {
  if (f.first_exception_value &&
      kExtensionValueSet.FoundIn(*f.first_exception_value)) {
    return true;
  }
  if (!f.first_exception_source) return false;
  const std::string_view source = *f.first_exception_source;
  for (std::string_view scheme : kExtensionSchemes) {
    if (StartsWithIgnoreCase(source, scheme)) return true;
  }
  return kExtensionSourceSet.FoundIn(source);
}

bool WebCrawlerMatches(const Facts& f) {
  return f.user_agent && kWebCrawlerSet.FoundIn(*f.user_agent) &&
         !kAllowedCrawlerSet.FoundIn(*f.user_agent);
}

}  // namespace

// ---------------------------------------------------------------------------

Glob::Glob(std::string_view pattern) : pattern_(pattern) {
  tokens_.reserve(pattern.size());
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '*') {
      // Runs of stars match what one star matches.
      if (tokens_.empty() || tokens_.back().op != Op::kStar) {
        tokens_.push_back({Op::kStar, 0, 0});
      }
    } else if (c == '?') {
      tokens_.push_back({Op::kAnyChar, 0, 0});
    } else if (c == '[' && ParseClass(pattern, &i)) {
      // ParseClass appended the token and moved `i` to the `]`.
    } else if (c == '\\' && i + 1 < pattern.size()) {
      tokens_.push_back({Op::kLiteral, Lower(pattern[++i]), 0});
    } else {
      tokens_.push_back({Op::kLiteral, Lower(c), 0});
    }
  }
}

bool Glob::ParseClass(std::string_view pattern, size_t* at) {
  size_t i = *at + 1;
  bool negated = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negated = true;
    ++i;
  }
  CharClass members{};
  auto add = [&members](unsigned char b) {
    if (b < 128) members[b >> 6] |= uint64_t{1} << (b & 63);
  };
  bool first = true;
  for (; i < pattern.size(); ++i) {
    unsigned char lo = static_cast<unsigned char>(pattern[i]);
    if (lo == ']' && !first) {
      // Letters match in either case.
      for (unsigned char b = 'a'; b <= 'z'; ++b) {
        const unsigned char upper = b - 32;
        const bool has = ((members[b >> 6] >> (b & 63)) & 1) ||
                         ((members[upper >> 6] >> (upper & 63)) & 1);
        if (has) {
          add(b);
          add(upper);
        }
      }
      if (classes_.size() > UINT16_MAX) return false;
      tokens_.push_back({negated ? Op::kNotClass : Op::kClass, 0,
                         static_cast<uint16_t>(classes_.size())});
      classes_.push_back(members);
      *at = i;
      return true;
    }
    first = false;
    if (lo == '\\' && i + 1 < pattern.size()) {
      lo = static_cast<unsigned char>(pattern[++i]);
    }
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' &&
        pattern[i + 2] != ']') {
      unsigned char hi = static_cast<unsigned char>(pattern[i + 2]);
      i += 2;
      if (hi == '\\' && i + 1 < pattern.size()) {
        hi = static_cast<unsigned char>(pattern[++i]);
      }
      for (unsigned b = lo; b <= hi; ++b) add(static_cast<unsigned char>(b));
    } else {
      add(lo);
    }
  }
  return false;  // no closing `]`: the `[` is a literal
}

bool Glob::Matches(std::string_view text) const {
  if (text.empty()) return false;
  // Linear-space wildcard matching: on a mismatch, go back to the last star
  // and let it swallow one more byte. Only the last star needs revisiting,
  // so the worst case is O(tokens * text).
  size_t t = 0;
  size_t p = 0;
  size_t star_p = SIZE_MAX;
  size_t star_t = 0;
  auto char_end = [&](size_t at) {
    // One UTF-8 sequence: the lead byte and its continuation bytes.
    size_t end = at + 1;
    while (end < text.size() &&
           (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
      ++end;
    }
    return end;
  };
  while (t < text.size()) {
    if (p < tokens_.size()) {
      const Token& tok = tokens_[p];
      if (tok.op == Op::kStar) {
        star_p = p++;
        // When a literal follows the star, the star can only end right
        // before that literal: skip to it instead of trying every byte.
        if (p < tokens_.size() && tokens_[p].op == Op::kLiteral) {
          const char want = tokens_[p].c;
          while (t < text.size() && Lower(text[t]) != want) ++t;
          if (t == text.size()) return false;
        }
        star_t = t;
        continue;
      }
      if (tok.op == Op::kAnyChar) {
        t = char_end(t);
        ++p;
        continue;
      }
      if (tok.op == Op::kClass || tok.op == Op::kNotClass) {
        // Classes hold ASCII only: a longer character is outside every
        // class.
        const unsigned char b = static_cast<unsigned char>(text[t]);
        const CharClass& cls = classes_[tok.cls];
        const bool in = b < 128 && ((cls[b >> 6] >> (b & 63)) & 1);
        if (in == (tok.op == Op::kClass)) {
          t = char_end(t);
          ++p;
          continue;
        }
      } else if (tok.c == Lower(text[t])) {
        ++t;
        ++p;
        continue;
      }
    }
    if (star_p == SIZE_MAX) return false;
    p = star_p + 1;
    t = ++star_t;
  }
  while (p < tokens_.size() && tokens_[p].op == Op::kStar) ++p;
  return p == tokens_.size();
}

InboundFilterConfig InboundFilterConfig::Make(
    bool localhost, bool browser_extensions, bool web_crawlers,
    const std::vector<std::string>& releases,
    const std::vector<std::string>& error_messages) {
  InboundFilterConfig config;
  config.localhost = localhost;
  config.browser_extensions = browser_extensions;
  config.web_crawlers = web_crawlers;
  config.releases.reserve(releases.size());
  for (const std::string& r : releases) config.releases.emplace_back(r);
  config.error_messages.reserve(error_messages.size());
  for (const std::string& m : error_messages) {
    config.error_messages.emplace_back(m);
  }
  return config;
}

struct InboundFilter::Parser {
  od::parser parser;
};

InboundFilter::InboundFilter() : parser_(std::make_unique<Parser>()) {}

InboundFilter::~InboundFilter() = default;

std::optional<std::string_view> InboundFilter::Check(
    const InboundFilterConfig& config, std::string_view normalized_json) {
  if (!config.AnyEnabled()) return std::nullopt;

  Needs needs;
  needs.release = !config.releases.empty();
  needs.messages = !config.error_messages.empty();
  needs.first_exception = config.browser_extensions;
  needs.user_ip = config.localhost;
  needs.url = config.localhost;
  needs.local_headers = config.localhost;
  needs.user_agent = config.web_crawlers;

  // On-Demand reads up to SIMDJSON_PADDING bytes past the end; the caller's
  // buffer makes no such promise, so the event is copied (a memcpy, cheap
  // next to the parse) into a buffer that only ever grows.
  const size_t need = normalized_json.size() + simdjson::SIMDJSON_PADDING;
  if (buffer_capacity_ < need) {
    buffer_capacity_ = std::max(need, 2 * buffer_capacity_);
    buffer_ = std::make_unique<char[]>(buffer_capacity_);
  }
  if (!normalized_json.empty()) {  // an empty view may have a null data()
    std::memcpy(buffer_.get(), normalized_json.data(), normalized_json.size());
  }
  std::memset(buffer_.get() + normalized_json.size(), 0,
              simdjson::SIMDJSON_PADDING);

  ++parse_count_;
  od::document doc;
  if (parser_->parser
          .iterate(buffer_.get(), normalized_json.size(), buffer_capacity_)
          .get(doc) != SUCCESS) {
    return std::nullopt;
  }
  Facts facts;
  Walker walker(needs, config, &scratch_, &facts);
  if (walker.Event(doc) != SUCCESS) return std::nullopt;

  // Relay's order (relay-filter/src/lib.rs).
  if (facts.release && AnyMatches(config.releases, *facts.release)) {
    return kFilterReleaseVersion;
  }
  if (facts.message_hit) return kFilterErrorMessage;
  if (config.localhost && LocalhostMatches(facts)) return kFilterLocalhost;
  if (config.browser_extensions && BrowserExtensionMatches(facts)) {
    return kFilterBrowserExtensions;
  }
  if (config.web_crawlers && WebCrawlerMatches(facts)) {
    return kFilterWebCrawlers;
  }
  return std::nullopt;
}

}  // namespace tern::protocol
