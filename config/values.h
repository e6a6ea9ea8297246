// The value grammars config files share: byte sizes ("1MiB"), durations
// ("100ms") and network addresses ("127.0.0.1:3000", "[::1]:3000").
//
// They are plain functions over strings so tests can table them and so the
// relay can reuse them (for instance to print a HostPort back). Errors are
// InvalidArgument with a short reason; the schema code adds file:line and
// the key in front.
#ifndef TERN_CONFIG_VALUES_H_
#define TERN_CONFIG_VALUES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::config {

// A byte count: digits alone (bytes), or digits followed by an optional space
// and a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB
// (powers of 1024), units case-insensitive. No fractions, no sign. Errors on
// anything else and on values beyond 2^64-1.
absl::StatusOr<uint64_t> ParseSize(std::string_view text);

// A duration: digits followed by one unit: ms, s, m (minutes) or h. A unit is
// required, so "10" cannot be misread as seconds or milliseconds. Errors on
// anything else and on values that overflow int64 milliseconds.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

// A host and port to listen on or connect to.
struct HostPort {
  // A host name, an IPv4 address, or an IPv6 address WITHOUT brackets (what
  // getaddrinfo takes).
  std::string host;
  uint16_t port = 0;

  // "host:port", with brackets around an IPv6 host.
  std::string ToString() const;

  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// Parses "host:port". IPv6 hosts must be bracketed ("[::1]:3000") and must be
// valid IPv6 addresses; other hosts are IPv4 addresses or host names
// (letters, digits, '-', '.'). The port is 1-65535, or 0 when
// `allow_port_zero` (a listener asking the kernel for a free port, as tests
// do). Errors name what is wrong: missing port, bad port, empty host,
// unbracketed IPv6, invalid host.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text,
                                       bool allow_port_zero);

}  // namespace tern::config

#endif  // TERN_CONFIG_VALUES_H_
