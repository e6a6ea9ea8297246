// Process-wide logging set-up: spdlog's default logger writing to stderr, one
// line per event of interest, as text or as JSON lines (config logging.format).
//
// Modules log through spdlog's free functions (spdlog::info, ...). Nothing
// on the request path logs at the default level: failures there are
// counters (see /metrics); logs are for start, stop, reloads, and summaries
// of failures that repeat.
#ifndef TERN_ADMIN_LOGGING_H_
#define TERN_ADMIN_LOGGING_H_

#include <string_view>

#include "absl/status/status.h"
#include "config/fields.h"

namespace tern::admin {

// Installs the default logger. Call once at start, before threads log.
// InvalidArgument for an unknown level name (config already refuses those).
absl::Status SetUpLogging(const config::LoggingConfig& logging,
                          std::string_view name);

}  // namespace tern::admin

#endif  // TERN_ADMIN_LOGGING_H_
