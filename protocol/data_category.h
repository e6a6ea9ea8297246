// Data categories: what kind of item a quota, a rate limit or an outcome is
// about.
//
// One enum for the whole project, with Sentry's own integer values (they go
// into outcome messages on Kafka) and Sentry's names (they go into
// X-Sentry-Rate-Limits and the projects file). Sentry defines more categories
// (profile = 6, replay = 7, ...); Tern does not produce them, and a decoded
// outcome may still carry such a value, so values outside the named ones are
// legal and print as "unknown".
#ifndef TERN_PROTOCOL_DATA_CATEGORY_H_
#define TERN_PROTOCOL_DATA_CATEGORY_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace tern::protocol {

enum class DataCategory : uint8_t {
  kDefault = 0,
  kError = 1,
  kTransaction = 2,
  kSecurity = 3,
  kAttachment = 4,
  kSession = 5,
  // A name we do not know (rate-limit headers) or a value we do not produce.
  // Outside Sentry's range, so it never collides with a real category.
  kUnknown = 255,
};

inline constexpr std::string_view kDataCategoryNames[] = {
    "default", "error", "transaction", "security", "attachment", "session",
};

// "default", "error", ...; "unknown" for kUnknown and any unnamed value.
constexpr std::string_view DataCategoryName(DataCategory category) {
  const size_t index = static_cast<size_t>(category);
  return index < std::size(kDataCategoryNames) ? kDataCategoryNames[index]
                                               : "unknown";
}

// The inverse of DataCategoryName for the six known names (exact,
// lowercase); anything else is kUnknown.
constexpr DataCategory DataCategoryFromName(std::string_view name) {
  for (size_t i = 0; i < std::size(kDataCategoryNames); ++i) {
    if (name == kDataCategoryNames[i]) return static_cast<DataCategory>(i);
  }
  return DataCategory::kUnknown;
}

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_DATA_CATEGORY_H_
