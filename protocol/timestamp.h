// Timestamps as Sentry payloads write them, parsed without absl::ParseTime
// (which costs ~450 ns a call on the bench machine, twice a whole small
// event's normalization). Shared by event normalization and session items.
#ifndef TERN_PROTOCOL_TIMESTAMP_H_
#define TERN_PROTOCOL_TIMESTAMP_H_

#include <optional>
#include <string_view>

namespace tern::protocol {

// Seconds since the Unix epoch of an RFC 3339 time
// (`YYYY-MM-DDTHH:MM:SS[.f+](Z|+-HH:MM)`, `T`/`t`/space, `Z`/`z`), or of the
// same without a zone, which Relay reads as UTC because old SDKs
// (raven-python) sent naive UTC times. nullopt when `text` is not one.
std::optional<double> ParseRfc3339(std::string_view text);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_TIMESTAMP_H_
