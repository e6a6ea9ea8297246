#include "protocol/rate_limits.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/status.h"

namespace tern::protocol {
namespace {

constexpr std::string_view kUnknown = "unknown";
constexpr std::string_view kScopes[] = {"organization", "project", "key"};

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view NormalizeScope(std::string_view scope) {
  for (std::string_view known : kScopes) {
    if (scope == known) return known;
  }
  return kUnknown;
}

// ceil(seconds) clamped to [0, kMaxRetryAfterSeconds], NaN as 0.
uint64_t WholeSeconds(double seconds) {
  if (!(seconds > 0)) return 0;
  if (seconds >= kMaxRetryAfterSeconds) {
    return static_cast<uint64_t>(kMaxRetryAfterSeconds);
  }
  return static_cast<uint64_t>(std::ceil(seconds));
}

absl::Status FieldError(size_t quota, std::string_view what) {
  return BadRequest(absl::StrCat("invalid X-Sentry-Rate-Limits: quota ", quota,
                                 ": ", ToAbsl(what)));
}

absl::Status ParseRetryAfter(std::string_view text, size_t quota, double* out) {
  if (text.empty()) return FieldError(quota, "missing retry_after");
  size_t i = 0;
  while (i < text.size() && IsDigit(text[i])) ++i;
  bool ok = i > 0;
  if (ok && i < text.size()) {
    ok = text[i] == '.' && i + 1 < text.size();
    for (++i; ok && i < text.size(); ++i) ok = IsDigit(text[i]);
  }
  if (!ok) {
    return FieldError(quota,
                      "retry_after must be a number of seconds such as 60 or "
                      "2.5");
  }
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value, std::chars_format::fixed);
  if (ec == std::errc::result_out_of_range || value > kMaxRetryAfterSeconds) {
    return FieldError(quota, "retry_after out of range");
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    return FieldError(quota, "retry_after is not a number");
  }
  *out = value;
  return absl::OkStatus();
}

// Splits a ';'-separated list of tokens, skipping empty entries. `out` may be
// null to only validate.
absl::Status ParseTokenList(std::string_view list, size_t quota,
                            std::string_view what,
                            std::vector<std::string>* out) {
  while (true) {
    size_t semi = list.find(';');
    std::string_view name = Trim(list.substr(0, semi));
    if (!name.empty()) {
      if (!IsRateLimitToken(name)) {
        return FieldError(
            quota, absl::StrCat("invalid ", ToAbsl(what),
                                " (letters, digits, '_', '.', '-' only)"));
      }
      if (out != nullptr) out->emplace_back(name);
    }
    if (semi == std::string_view::npos) break;
    list.remove_prefix(semi + 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<RateLimit> ParseQuota(std::string_view quota, size_t index) {
  std::string_view fields[5];
  size_t count = 0;
  while (true) {
    size_t colon = quota.find(':');
    if (count == 5) {
      return FieldError(index, "too many fields (at most 5)");
    }
    fields[count++] = Trim(quota.substr(0, colon));
    if (colon == std::string_view::npos) break;
    quota.remove_prefix(colon + 1);
  }
  if (count < 3) {
    return FieldError(index,
                      "expected retry_after:categories:scope[:reason_code]");
  }
  RateLimit limit;
  TERN_RETURN_IF_ERROR(ParseRetryAfter(fields[0], index, &limit.retry_after));
  TERN_RETURN_IF_ERROR(
      ParseTokenList(fields[1], index, "category name", &limit.categories));
  limit.scope = std::string(NormalizeScope(fields[2]));
  if (count > 3 && !fields[3].empty()) {
    if (!IsRateLimitToken(fields[3])) {
      return FieldError(index,
                        "invalid reason code (letters, digits, '_', '.', '-' "
                        "only)");
    }
    limit.reason_code = std::string(fields[3]);
  }
  if (count > 4) {
    TERN_RETURN_IF_ERROR(
        ParseTokenList(fields[4], index, "namespace", /*out=*/nullptr));
  }
  return limit;
}

}  // namespace

// Names in this header are identifiers; restricting them to this set keeps a
// garbled header from being read as a limit on a category nobody sends.
bool IsRateLimitToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

bool RateLimitAppliesTo(const RateLimit& limit, std::string_view category) {
  if (limit.categories.empty()) return true;
  for (const std::string& name : limit.categories) {
    if (name == category) return true;
  }
  return false;
}

std::string FormatRateLimits(const std::vector<RateLimit>& limits) {
  std::string out;
  for (const RateLimit& limit : limits) {
    if (!out.empty()) out += ", ";
    absl::StrAppend(&out, WholeSeconds(limit.retry_after), ":");
    for (size_t i = 0; i < limit.categories.size(); ++i) {
      if (i > 0) out += ';';
      out += limit.categories[i];
    }
    absl::StrAppend(&out, ":", ToAbsl(NormalizeScope(limit.scope)));
    if (!limit.reason_code.empty()) {
      absl::StrAppend(&out, ":", limit.reason_code);
    }
  }
  return out;
}

absl::StatusOr<std::vector<RateLimit>> ParseRateLimits(std::string_view value) {
  std::vector<RateLimit> limits;
  size_t index = 0;
  while (true) {
    size_t comma = value.find(',');
    std::string_view quota = Trim(value.substr(0, comma));
    ++index;
    if (!quota.empty()) {
      TERN_ASSIGN_OR_RETURN(RateLimit limit, ParseQuota(quota, index));
      limits.push_back(std::move(limit));
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return limits;
}

uint64_t RetryAfterSeconds(const std::vector<RateLimit>& limits) {
  uint64_t longest = 0;
  for (const RateLimit& limit : limits) {
    longest = std::max(longest, WholeSeconds(limit.retry_after));
  }
  return longest;
}

}  // namespace tern::protocol
