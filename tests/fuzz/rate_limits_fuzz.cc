// Fuzzes ParseRateLimits. An accepted header must format to a value that
// parses back to the same limits with each retry_after rounded up, and that
// formats identically again; rejections must be 400.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "protocol/rate_limits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tern::protocol::RateLimit;
  std::string_view value(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<RateLimit>> limits =
      tern::protocol::ParseRateLimits(value);
  if (!limits.ok()) {
    if (limits.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();
    }
    return 0;
  }
  uint64_t longest = 0;
  for (const RateLimit& limit : *limits) {
    if (!(limit.retry_after >= 0) ||
        limit.retry_after > tern::protocol::kMaxRetryAfterSeconds) {
      __builtin_trap();
    }
    uint64_t whole = static_cast<uint64_t>(std::ceil(limit.retry_after));
    if (whole > longest) longest = whole;
  }
  if (tern::protocol::RetryAfterSeconds(*limits) != longest) __builtin_trap();

  std::string header = tern::protocol::FormatRateLimits(*limits);
  absl::StatusOr<std::vector<RateLimit>> again =
      tern::protocol::ParseRateLimits(header);
  if (!again.ok() || again->size() != limits->size()) __builtin_trap();
  for (size_t i = 0; i < limits->size(); ++i) {
    const RateLimit& a = (*limits)[i];
    const RateLimit& b = (*again)[i];
    if (b.retry_after != std::ceil(a.retry_after) ||
        b.categories != a.categories || b.scope != a.scope ||
        b.reason_code != a.reason_code) {
      __builtin_trap();
    }
  }
  if (tern::protocol::FormatRateLimits(*again) != header) __builtin_trap();
  return 0;
}
