// Fuzzes ParseDsn with arbitrary bytes. Every accepted DSN must format to a
// text that parses back to the same value and formats identically (the
// canonical form is a fixed point), and every rejection must be a 400.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "protocol/dsn.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tern::protocol::Dsn;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Dsn> dsn = tern::protocol::ParseDsn(text);
  if (!dsn.ok()) {
    if (dsn.status().code() != absl::StatusCode::kInvalidArgument) {
      __builtin_trap();
    }
    return 0;
  }
  if (!tern::protocol::IsValidPublicKey(dsn->public_key) ||
      dsn->project_id == 0 || (dsn->port.has_value() && *dsn->port == 0) ||
      dsn->host.empty() || dsn->path.empty() || dsn->path.front() != '/' ||
      dsn->path.back() != '/') {
    __builtin_trap();
  }
  std::string formatted = tern::protocol::FormatDsn(*dsn);
  absl::StatusOr<Dsn> again = tern::protocol::ParseDsn(formatted);
  if (!again.ok() || !(*again == *dsn)) __builtin_trap();
  if (tern::protocol::FormatDsn(*again) != formatted) __builtin_trap();
  return 0;
}
