// Message parameterization (Sentry's parameterization.py regexes, in its
// order; the first alternative that matches at a position wins).
#include <string>
#include <string_view>
#include <vector>

#include "backend/grouping/grouping.h"
#include "backend/grouping/regex.h"

namespace tern::grouping {
namespace {

constexpr const char* kNames[] = {
    "email", "url",      "hostname", "ip",    "uuid", "sha1",       "md5",
    "date",  "duration", "hex",      "float", "int",  "quoted_str", "bool"};

// One alternation of named groups, (?x) syntax as in Sentry.
constexpr std::string_view kPattern = R"RE(
(?P<email>[a-zA-Z0-9.!\#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*)
|
(?P<url>\b(wss?|https?|ftp)://[^\s/$.?\#].[^\s]*)
|
(?P<hostname>
  \b
  ([a-zA-Z0-9\-]{1,63}\.)+?
  (
    (COM|NET|ORG|JP|DE|UK|FR|BR|IT|RU|ES|ME|GOV|PL|CA|AU|CN|CO|IN|NL|EDU|INFO|EU|CH|ID|AT|KR|CZ|MX|BE|TV|SE|TR|TW|AL|UA|IR|VN|CL|SK|LY|CC|TO|NO|FI|US|PT|DK|AR|HU|TK|GR|IL|NEWS|RO|MY|BIZ|IE|ZA|NZ|SG|EE|TH|IO|XYZ|PE|BG|HK|RS|LT|LINK|PH|CLUB|SI|SITE|MOBI|BY|CAT|WIKI|LA|GA|XXX|CF|HR|NG|JOBS|ONLINE|KZ|UG|GQ|AE|IS|LV|PRO|FM|TIPS|MS|SA|APP)|
    (com|net|org|jp|de|uk|fr|br|it|ru|es|me|gov|pl|ca|au|cn|co|in|nl|edu|info|eu|ch|id|at|kr|cz|mx|be|tv|se|tr|tw|al|ua|ir|vn|cl|sk|ly|cc|to|no|fi|us|pt|dk|ar|hu|tk|gr|il|news|ro|my|biz|ie|za|nz|sg|ee|th|io|xyz|pe|bg|hk|rs|lt|link|ph|club|si|site|mobi|by|cat|wiki|la|ga|xxx|cf|hr|ng|jobs|online|kz|ug|gq|ae|is|lv|pro|fm|tips|ms|sa|app)
  )
  \b
)
|
(?P<ip>
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
)
|
(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
|
(?P<sha1>\b[0-9a-fA-F]{40}\b)
|
(?P<md5>\b[0-9a-fA-F]{32}\b)
|
(?P<date>
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
)
|
(?P<duration>\b(\d+ms) | (\d+(\.\d+)?s)\b)
|
(?P<hex>\b0[xX][0-9a-fA-F]+\b)
|
(?P<float>-\d+\.\d+\b | \b\d+\.\d+\b)
|
(?P<int>-\d+\b | \b\d+\b)
|
(?<==)(?P<quoted_str>'([^']+)' | "([^"]+)")
|
(?<==)(?P<bool>True | true | False | false)
)RE";

const Regex& ParameterizationRegex() {
  static const Regex re(kPattern, /*extended=*/true);
  return re;
}

const std::vector<int>& GroupNumbers() {
  static const std::vector<int> numbers = [] {
    std::vector<int> out;
    for (const char* name : kNames) {
      out.push_back(ParameterizationRegex().GroupNumber(name));
    }
    return out;
  }();
  return numbers;
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

}  // namespace

std::string NormalizeMessageForGrouping(std::string_view message) {
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
  const std::vector<int>& groups = GroupNumbers();
  return ParameterizationRegex().Replace(
      trimmed,
      [](std::string_view, int which, std::string* out) {
        if (which > 0) {
          out->push_back('<');
          out->append(kNames[which - 1]);
          out->push_back('>');
        }
      },
      groups);
}

}  // namespace tern::grouping
