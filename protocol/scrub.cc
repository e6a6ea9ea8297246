#include "protocol/scrub.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace tern::protocol {
namespace {

char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string LowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// Case-insensitive substring search; `needle` is lowercase. Only for keys
// too long for the stack buffer in IsSensitiveKey, which real events almost
// never have, so simplicity beats speed here.
bool ContainsFolded(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    size_t j = 0;
    while (j < needle.size() && Lower(hay[i + j]) == needle[j]) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

bool EqualsFolded(std::string_view a, std::string_view lower_b) {
  if (a.size() != lower_b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != lower_b[i]) return false;
  }
  return true;
}

// Whether `p` (with `left` bytes) starts with the lowercase `fragment`,
// ignoring case.
bool StartsFolded(const char* p, size_t left, std::string_view fragment) {
  if (left < fragment.size()) return false;
  for (size_t j = 0; j < fragment.size(); ++j) {
    if (Lower(p[j]) != fragment[j]) return false;
  }
  return true;
}

// kDefaultSensitiveFields in one pass over the key: each position is
// dispatched on its first letter to the few fragments starting with it,
// instead of 13 substring searches. Keys are short and mostly miss, so this
// is where scrubbing spends its time.
bool HasDefaultFragment(std::string_view key) {
  const size_t n = key.size();
  for (size_t i = 0; i + 4 <= n; ++i) {  // every fragment is >= 4 bytes
    const char* p = key.data() + i;
    const size_t left = n - i;
    switch (Lower(p[0])) {
      case 'a':
        if (StartsFolded(p, left, "auth") || StartsFolded(p, left, "api_key") ||
            StartsFolded(p, left, "apikey")) {
          return true;
        }
        break;
      case 'c':
        if (StartsFolded(p, left, "csrf") ||
            StartsFolded(p, left, "credentials")) {
          return true;
        }
        break;
      case 'm':
        if (StartsFolded(p, left, "mysql_pwd")) return true;
        break;
      case 'p':
        if (StartsFolded(p, left, "passw")) {
          if (StartsFolded(p + 5, left - 5, "ord") ||
              StartsFolded(p + 5, left - 5, "d")) {
            return true;
          }
        } else if (StartsFolded(p, left, "private")) {
          if (StartsFolded(p + 7, left - 7, "key") ||
              StartsFolded(p + 7, left - 7, "_key")) {
            return true;
          }
        }
        break;
      case 's':
        if (StartsFolded(p, left, "secret") ||
            StartsFolded(p, left, "session")) {
          return true;
        }
        break;
      case 't':
        if (StartsFolded(p, left, "token")) return true;
        break;
      default:
        break;
    }
  }
  return false;
}

bool LuhnValid(const char* digits, size_t n) {
  int sum = 0;
  bool dbl = false;
  for (size_t i = n; i-- > 0;) {
    int d = digits[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

}  // namespace

ScrubConfig ScrubConfig::Make(bool enabled,
                              std::span<const std::string> sensitive_fields,
                              std::span<const std::string> safe_fields,
                              bool scrub_ip_addresses) {
  ScrubConfig config;
  config.enabled = enabled;
  config.scrub_ip_addresses = scrub_ip_addresses;
  for (const std::string& f : sensitive_fields) {
    if (!f.empty()) config.sensitive_fields.push_back(LowerCopy(f));
  }
  for (const std::string& f : safe_fields) {
    if (!f.empty()) config.safe_fields.push_back(LowerCopy(f));
  }
  return config;
}

bool IsSensitiveKey(const ScrubConfig& config, std::string_view key) {
  if (HasDefaultFragment(key)) return true;
  if (config.sensitive_fields.empty()) return false;
  char buffer[128];
  if (key.size() > sizeof(buffer)) {
    for (const std::string& f : config.sensitive_fields) {
      if (ContainsFolded(key, f)) return true;
    }
    return false;
  }
  for (size_t i = 0; i < key.size(); ++i) buffer[i] = Lower(key[i]);
  const std::string_view lower(buffer, key.size());
  for (const std::string& f : config.sensitive_fields) {
    if (lower.find(f) != std::string_view::npos) return true;
  }
  return false;
}

bool IsSafeKey(const ScrubConfig& config, std::string_view key) {
  for (const std::string& f : config.safe_fields) {
    if (EqualsFolded(key, f)) return true;
  }
  return false;
}

bool IsCookieHeader(std::string_view name) {
  return EqualsFolded(name, "cookie") || EqualsFolded(name, "set-cookie");
}

bool ContainsCardNumber(std::string_view text) {
  constexpr size_t kMinDigits = 13;
  constexpr size_t kMaxDigits = 19;
  if (text.size() < kMinDigits) return false;
  // Most strings hold fewer than 13 digits in all; counting them is a loop
  // the compiler vectorizes, much cheaper than the scan below.
  size_t total = 0;
  for (const char c : text) {
    total += static_cast<unsigned char>(c - '0') < 10 ? 1 : 0;
  }
  if (total < kMinDigits) return false;
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (!IsDigit(text[i]) || (i > 0 && IsAlnum(text[i - 1]))) {
      ++i;
      continue;
    }
    // A run: digits, each group separated from the next by one space or
    // dash. It ends at the last digit.
    char digits[kMaxDigits];
    size_t count = 0;
    size_t j = i;
    bool too_long = false;
    while (true) {
      if (count < kMaxDigits) {
        digits[count] = text[j];
      } else {
        too_long = true;  // keep scanning to the end of the run
      }
      ++count;
      ++j;
      if (j < n && IsDigit(text[j])) continue;
      if (j + 1 < n && (text[j] == ' ' || text[j] == '-') &&
          IsDigit(text[j + 1])) {
        ++j;
        continue;
      }
      break;
    }
    // `j` is one past the run's last digit.
    const bool bounded = j == n || !IsAlnum(text[j]);
    if (!too_long && bounded && count >= kMinDigits &&
        LuhnValid(digits, count)) {
      return true;
    }
    i = j;
  }
  return false;
}

}  // namespace tern::protocol
