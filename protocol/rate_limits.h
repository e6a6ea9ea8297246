// The X-Sentry-Rate-Limits header: how a 429 (or any response) tells an SDK
// which data to hold back, for how long, and why.
//
//   X-Sentry-Rate-Limits: 60:transaction:key,
//   2700:default;error;security:organization:org_quota
//
// Comma-separated quotas, each `retry_after:categories:scope[:reason_code
// [:namespaces]]`. The relay writes this header when its quotas reject a
// request and reads it back from upstream responses; SDKs parse it with
// ad-hoc string splitting, so what we write stays in the plain form above.
// Limits are few and short-lived per response, so RateLimit owns its strings.
#ifndef TERN_PROTOCOL_RATE_LIMITS_H_
#define TERN_PROTOCOL_RATE_LIMITS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/data_category.h"

namespace tern::protocol {

// Largest retry_after accepted or written, in seconds: 2^53, the range in
// which a double holds every whole number, so rounding up is exact and the
// value converts to an integer safely. Far beyond any real quota window.
inline constexpr double kMaxRetryAfterSeconds = 9007199254740992.0;

struct RateLimit {
  // Seconds until the SDK may send this data again. Parsed exactly as sent
  // (possibly fractional); written rounded up to whole seconds.
  double retry_after = 0;
  // Category names as sent, in order; empty means every category.
  std::vector<std::string> categories;
  // "organization", "project" or "key"; any other scope reads as "unknown"
  // (newer servers may add scopes; SDKs apply the limit all the same).
  std::string scope;
  // Why the limit applies ("org_quota", "disabled", ...); empty when absent.
  std::string reason_code;

  friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

// True when `s` is a non-empty run of [A-Za-z0-9_.-]: the grammar of names
// in X-Sentry-Rate-Limits, which quota ids and reason codes share (they
// reach SDKs in that header).
bool IsRateLimitToken(std::string_view s);

// True when `limit` covers `category` (a category name): its category list
// is empty or names it.
bool RateLimitAppliesTo(const RateLimit& limit, std::string_view category);

// The header value for `limits`, quotas joined by ", ". Each retry_after is
// rounded up to whole seconds and clamped to [0, kMaxRetryAfterSeconds] (NaN
// counts as 0); a scope other than organization/project/key is written as
// "unknown"; the reason code is written only when non-empty. Category names
// and reason codes must be tokens of [A-Za-z0-9_.-] (as ParseRateLimits
// returns them) for the value to parse back. Empty `limits` gives "".
std::string FormatRateLimits(const std::vector<RateLimit>& limits);

// Parses a header value. Spaces and tabs around quotas and fields are
// ignored, as are empty quotas (",,") and empty category names ("a;;b");
// an empty value is no limits. The fifth field (metric namespaces) is
// checked for syntax and dropped: the relay produces no metric buckets.
// Errors are InvalidArgument (400) naming the quota (1-based) and the field:
// fewer than three or more than five fields, retry_after that is empty, not
// "<digits>[.<digits>]", or above kMaxRetryAfterSeconds, a category, reason
// code or namespace that is not a [A-Za-z0-9_.-] token.
absl::StatusOr<std::vector<RateLimit>> ParseRateLimits(std::string_view value);

// The Retry-After header value for a response carrying `limits`: the longest
// retry_after, rounded up to whole seconds (clamped as in FormatRateLimits);
// 0 when `limits` is empty.
uint64_t RetryAfterSeconds(const std::vector<RateLimit>& limits);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_RATE_LIMITS_H_
