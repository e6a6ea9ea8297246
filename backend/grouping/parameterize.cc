// Message parameterization (Sentry's parameterization.py regexes, in its
// order; the first alternative that matches at a position wins).
//
// The alternation is compiled per set of subject features: most messages
// lack an '@' or an '=', and the email alternative alone (a long character
// class tried from every position, then backtracked) was most of the regex's
// time. Leaving out alternatives that cannot match keeps every result equal.
// Results are cached per thread for the messages that recur.
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "backend/grouping/grouping.h"
#include "backend/grouping/regex.h"
#include "common/status.h"

namespace tern::grouping {
namespace {

// Features of a subject that the alternatives below need: an alternative
// whose needed characters are all absent from the subject cannot match
// anywhere in it, so leaving it out of the alternation changes no result.
enum Feature : unsigned {
  kAt = 1,       // '@'
  kColon = 2,    // ':'
  kDot = 4,      // '.'
  kDash = 8,     // '-'
  kDigit = 16,   // an ASCII digit, or any non-ASCII byte (UCP's \d)
  kParen = 32,   // '('
  kEquals = 64,  // '='
  kAllFeatures = 127,
};

struct Alternative {
  const char* name;
  // Any one of these features must be present (0: always tried).
  unsigned needs;
  std::string_view pattern;  // (?x) syntax, as in Sentry
};

// Sentry's parameterization.py regexes, in its order: the first alternative
// that matches at a position wins.
constexpr Alternative kAlternatives[] = {
    {"email", kAt,
     R"RE((?P<email>[a-zA-Z0-9.!\#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*))RE"},
    {"url", kColon, R"RE((?P<url>\b(wss?|https?|ftp)://[^\s/$.?\#].[^\s]*))RE"},
    {"hostname", kDot, R"RE((?P<hostname>
  \b
  ([a-zA-Z0-9\-]{1,63}\.)+?
  (
    (COM|NET|ORG|JP|DE|UK|FR|BR|IT|RU|ES|ME|GOV|PL|CA|AU|CN|CO|IN|NL|EDU|INFO|EU|CH|ID|AT|KR|CZ|MX|BE|TV|SE|TR|TW|AL|UA|IR|VN|CL|SK|LY|CC|TO|NO|FI|US|PT|DK|AR|HU|TK|GR|IL|NEWS|RO|MY|BIZ|IE|ZA|NZ|SG|EE|TH|IO|XYZ|PE|BG|HK|RS|LT|LINK|PH|CLUB|SI|SITE|MOBI|BY|CAT|WIKI|LA|GA|XXX|CF|HR|NG|JOBS|ONLINE|KZ|UG|GQ|AE|IS|LV|PRO|FM|TIPS|MS|SA|APP)|
    (com|net|org|jp|de|uk|fr|br|it|ru|es|me|gov|pl|ca|au|cn|co|in|nl|edu|info|eu|ch|id|at|kr|cz|mx|be|tv|se|tr|tw|al|ua|ir|vn|cl|sk|ly|cc|to|no|fi|us|pt|dk|ar|hu|tk|gr|il|news|ro|my|biz|ie|za|nz|sg|ee|th|io|xyz|pe|bg|hk|rs|lt|link|ph|club|si|site|mobi|by|cat|wiki|la|ga|xxx|cf|hr|ng|jobs|online|kz|ug|gq|ae|is|lv|pro|fm|tips|ms|sa|app)
  )
  \b
))RE"},
    {"ip", kColon | kDot, R"RE((?P<ip>
  (
    ([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|
    ([0-9a-fA-F]{1,4}:){1,7}:|
    ([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|
    ([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|
    ([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|
    ([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|
    ([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|
    [0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|
    :((:[0-9a-fA-F]{1,4}){1,7}|:)|
    fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}|
    ::(ffff(:0{1,4}){0,1}:){0,1}
    ((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}
    (25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])|
    ([0-9a-fA-F]{1,4}:){1,4}:
    ((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}
    (25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\b
  ) |
  (
    \b((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}
    (25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\b
  )
))RE"},
    {"uuid", kDash,
     R"RE((?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b))RE"},
    {"sha1", 0, R"RE((?P<sha1>\b[0-9a-fA-F]{40}\b))RE"},
    {"md5", 0, R"RE((?P<md5>\b[0-9a-fA-F]{32}\b))RE"},
    {"date", kDigit | kParen, R"RE((?P<date>
  ((?:Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s\d{1,2}\s(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s\d{2,4}\s\d{1,2}:\d{1,2}(:\d{1,2})?\s([-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z])))
  |
  (((?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s[0-3]\d,\s\d{2,4})
  |
  ((?:Sunday|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday),\s\d{2}-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2}\s\d{2}:\d{2}:\d{2}\s(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z]))
  |
  (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?([+-]?\d{2}:\d{2})?)
  |
  (\d{4}-?[01]\d-?[0-3]\d\s[0-2]\d:[0-5]\d:[0-5]\d)(\.\d+)?
  |
  (\d{1,2}:\d{2}(:\d{2})?(?: [aApP][Mm])?)
  |
  (\d{4}-[01]\d-[0-3]\d)
  |
  ([0-2]\d:[0-5]\d:[0-5]\d)
  |
  (
    (\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d\.\d+([+-][0-2]\d:[0-5]\d|Z))|
    (\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d([+-][0-2]\d:[0-5]\d|Z))|
    (\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d([+-][0-2]\d:[0-5]\d|Z))
  ) |
  (
    \b(?:(Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s+)?
    (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+
    ([\d]{1,2})\s+
    ([\d]{2}:[\d]{2}:[\d]{2})\s+
    [\d]{4}
  ) |
  (
    \b(?:(Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s+)?
    (0[1-9]|[1-2]?[\d]|3[01])\s+
    (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+
    (19[\d]{2}|[2-9][\d]{3})\s+
    (2[0-3]|[0-1][\d]):([0-5][\d])
    (?::(60|[0-5][\d]))?\s+
    ([-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z]))
  ) |
  (datetime.datetime\(.*?\))
))RE"},
    {"duration", kDigit, R"RE((?P<duration>\b(\d+ms) | (\d+(\.\d+)?s)\b))RE"},
    {"hex", kDigit, R"RE((?P<hex>\b0[xX][0-9a-fA-F]+\b))RE"},
    {"float", kDigit, R"RE((?P<float>-\d+\.\d+\b | \b\d+\.\d+\b))RE"},
    {"int", kDigit, R"RE((?P<int>-\d+\b | \b\d+\b))RE"},
    {"quoted_str", kEquals,
     R"RE((?<==)(?P<quoted_str>'([^']+)' | "([^"]+)"))RE"},
    {"bool", kEquals, R"RE((?<==)(?P<bool>True | true | False | false))RE"},
};

constexpr size_t kAlternativeCount = std::size(kAlternatives);

// The alternation of the alternatives a subject with `features` can match,
// and the capture number of each alternative's named group in it (-1 for
// those left out), in kAlternatives order.
struct Variant {
  explicit Variant(unsigned features) : regex(Compose(features), true) {
    for (size_t i = 0; i < kAlternativeCount; ++i) {
      groups[i] = Possible(kAlternatives[i], features)
                      ? regex.GroupNumber(kAlternatives[i].name)
                      : -1;
    }
  }
  static bool Possible(const Alternative& a, unsigned features) {
    return a.needs == 0 || (a.needs & features) != 0;
  }
  static std::string Compose(unsigned features) {
    std::string pattern;
    for (const Alternative& a : kAlternatives) {
      if (!Possible(a, features)) continue;
      if (!pattern.empty()) pattern += "\n|\n";
      pattern += a.pattern;
    }
    return pattern;
  }
  Regex regex;
  std::array<int, kAlternativeCount> groups;
};

// Compiled on first use per feature set (at most 128, a few in practice) and
// kept for the process; lookups after the first take no lock.
const Variant& VariantFor(unsigned features) {
  static std::array<std::atomic<const Variant*>, kAllFeatures + 1> variants{};
  static std::mutex compile;
  const Variant* v = variants[features].load(std::memory_order_acquire);
  if (v != nullptr) return *v;
  std::lock_guard<std::mutex> lock(compile);
  v = variants[features].load(std::memory_order_relaxed);
  if (v == nullptr) {
    v = new Variant(features);  // kept for the process's lifetime
    variants[features].store(v, std::memory_order_release);
  }
  return *v;
}

unsigned FeaturesOf(std::string_view subject) {
  unsigned features = 0;
  for (char c : subject) {
    switch (c) {
      case '@':
        features |= kAt;
        break;
      case ':':
        features |= kColon;
        break;
      case '.':
        features |= kDot;
        break;
      case '-':
        features |= kDash;
        break;
      case '(':
        features |= kParen;
        break;
      case '=':
        features |= kEquals;
        break;
      default:
        if ((c >= '0' && c <= '9') || static_cast<unsigned char>(c) >= 0x80) {
          features |= kDigit;
        }
    }
  }
  return features;
}

// Every match of the variant's alternation replaced by its placeholder.
std::string Substitute(const Variant& variant, std::string_view text) {
  // Replace reports the position in `groups` of the first group that took
  // part; the -1 entries (alternatives left out) never do.
  return variant.regex.Replace(
      text,
      [](std::string_view, int which, std::string* out) {
        if (which > 0) {
          out->push_back('<');
          out->append(kAlternatives[which - 1].name);
          out->push_back('>');
        }
      },
      variant.groups);
}

bool IsBlank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f' &&
        c != '\v') {
      return false;
    }
  }
  return true;
}

std::string Normalize(std::string_view message, bool every_pattern,
                      bool trim = true) {
  if (!trim) {
    const Variant& variant =
        VariantFor(every_pattern ? kAllFeatures : FeaturesOf(message));
    return Substitute(variant, message);
  }
  // The first two non-empty lines (Python's splitlines: \n, \r\n, \r and a
  // few more separators; the ASCII ones are what SDKs send).
  std::string trimmed;
  int kept = 0;
  size_t i = 0;
  while (i <= message.size() && kept < 2) {
    size_t end = message.find_first_of("\r\n\v\f\x1c\x1d\x1e", i);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(i, end - i);
    if (!IsBlank(line) && !line.empty()) {
      if (kept > 0) trimmed.push_back('\n');
      trimmed.append(line);
      ++kept;
    }
    if (end >= message.size()) break;
    i = end + ((message[end] == '\r' && end + 1 < message.size() &&
                message[end + 1] == '\n')
                   ? 2
                   : 1);
  }
  if (trimmed != message) trimmed += "...";
  const Variant& variant =
      VariantFor(every_pattern ? kAllFeatures : FeaturesOf(trimmed));
  return Substitute(variant, trimmed);
}

}  // namespace

std::string NormalizeMessageForGrouping(std::string_view message, bool trim) {
  if (!trim) return Normalize(message, /*every_pattern=*/false, /*trim=*/false);
  // The same exception values and messages recur across the events of an
  // issue, and the regex costs about 50 ns per character: a bounded cache
  // per thread answers repeats with one lookup. Long messages are rare and
  // mostly unique, so they are not kept. Emptying the whole cache when it is
  // full keeps its memory bounded (kCacheEntries * 2 * kCacheableBytes plus
  // "...") without tracking use.
  constexpr size_t kCacheEntries = 4096;
  constexpr size_t kCacheableBytes = 512;
  if (message.size() > kCacheableBytes) {
    return Normalize(message, /*every_pattern=*/false);
  }
  thread_local absl::flat_hash_map<std::string, std::string> cache;
  auto it = cache.find(ToAbsl(message));
  if (it != cache.end()) return it->second;
  if (cache.size() >= kCacheEntries) cache.clear();
  std::string normalized = Normalize(message, /*every_pattern=*/false);
  cache.emplace(std::string(message), normalized);
  return normalized;
}

namespace internal {
std::string NormalizeMessageWithEveryPattern(std::string_view message) {
  return Normalize(message, /*every_pattern=*/true);
}
}  // namespace internal

}  // namespace tern::grouping
