// Fuzzes the backend API's query-string parsers (backend/api/query.h) and
// cursors (backend/api/format.h) with the raw bytes of a query string.
// Errors must be InvalidArgument (the API's 400); an accepted issue list
// must respect its documented limits; a cursor that parses must encode to a
// string that parses back to the same position.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "backend/api/format.h"
#include "backend/api/query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);

  auto issues = tern::api::ParseIssueListParams(raw);
  if (!issues.ok()) {
    if (issues.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();
    }
  } else if (issues->query.limit < 1 || issues->query.limit > 100) {
    __builtin_trap();
  }

  auto events = tern::api::ParseEventListParams(raw);
  if (!events.ok() &&
      events.status().code() != absl::StatusCode::kInvalidArgument) {
    __builtin_trap();
  }

  if (auto cursor = tern::api::ParseIssueCursor(raw)) {
    auto again =
        tern::api::ParseIssueCursor(tern::api::EncodeIssueCursor(*cursor));
    if (!again || again->sort_value != cursor->sort_value ||
        again->id != cursor->id) {
      __builtin_trap();
    }
  }
  if (auto cursor = tern::api::ParseEventCursor(raw)) {
    auto again =
        tern::api::ParseEventCursor(tern::api::EncodeEventCursor(*cursor));
    if (!again || again->received_ms != cursor->received_ms ||
        again->event_id != cursor->event_id) {
      __builtin_trap();
    }
  }

  auto decoded = tern::api::UrlDecode(raw);
  if (decoded.ok()) {
    auto round = tern::api::UrlDecode(tern::api::UrlEncode(*decoded));
    if (!round.ok() || *round != *decoded) __builtin_trap();
  }
  return 0;
}
