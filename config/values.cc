#include "config/values.h"

#include <arpa/inet.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tern::config {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Splits leading digits off `text` into `value`; false when there are none or
// they overflow uint64.
bool TakeNumber(std::string_view& text, uint64_t* value) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && IsDigit(text[i])) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    n = n * 10 + digit;
    ++i;
  }
  if (i == 0) return false;
  text.remove_prefix(i);
  *value = n;
  return true;
}

bool IsHostNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '.';
}

}  // namespace

absl::StatusOr<uint64_t> ParseSize(std::string_view text) {
  uint64_t value = 0;
  std::string_view rest = text;
  if (!TakeNumber(rest, &value)) {
    return absl::InvalidArgumentError("not a size");
  }
  if (!rest.empty() && rest.front() == ' ') {
    rest.remove_prefix(1);
    if (rest.empty()) return absl::InvalidArgumentError("missing size unit");
  }
  const std::string unit = absl::AsciiStrToLower(ToAbsl(rest));
  uint64_t multiplier = 0;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "kb") {
    multiplier = 1000;
  } else if (unit == "mb") {
    multiplier = 1000 * 1000;
  } else if (unit == "gb") {
    multiplier = 1000ull * 1000 * 1000;
  } else if (unit == "tb") {
    multiplier = 1000ull * 1000 * 1000 * 1000;
  } else if (unit == "kib") {
    multiplier = 1ull << 10;
  } else if (unit == "mib") {
    multiplier = 1ull << 20;
  } else if (unit == "gib") {
    multiplier = 1ull << 30;
  } else if (unit == "tib") {
    multiplier = 1ull << 40;
  } else {
    return absl::InvalidArgumentError("unknown size unit");
  }
  if (value > std::numeric_limits<uint64_t>::max() / multiplier) {
    return absl::InvalidArgumentError("size too large");
  }
  return value * multiplier;
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  uint64_t value = 0;
  std::string_view rest = text;
  if (!TakeNumber(rest, &value)) {
    return absl::InvalidArgumentError("not a duration");
  }
  int64_t ms_per_unit = 0;
  if (rest == "ms") {
    ms_per_unit = 1;
  } else if (rest == "s") {
    ms_per_unit = 1000;
  } else if (rest == "m") {
    ms_per_unit = 60 * 1000;
  } else if (rest == "h") {
    ms_per_unit = 3600 * 1000;
  } else {
    return absl::InvalidArgumentError(rest.empty() ? "missing duration unit"
                                                   : "unknown duration unit");
  }
  const uint64_t max =
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / ms_per_unit);
  if (value > max) return absl::InvalidArgumentError("duration too large");
  return absl::Milliseconds(static_cast<int64_t>(value) * ms_per_unit);
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text,
                                       bool allow_port_zero) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError("missing ']' after IPv6 address");
    }
    const std::string host(text.substr(1, close - 1));
    in6_addr addr;
    if (inet_pton(AF_INET6, host.c_str(), &addr) != 1) {
      return absl::InvalidArgumentError("invalid IPv6 address");
    }
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return absl::InvalidArgumentError("missing port (expected host:port)");
    }
    out.host = host;
    port_text = rest.substr(1);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError("missing port (expected host:port)");
    }
    std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(
          "IPv6 addresses need brackets, as in [::1]:3000");
    }
    if (host.empty()) {
      return absl::InvalidArgumentError(
          "empty host (use 0.0.0.0 or [::] to listen on every interface)");
    }
    for (char c : host) {
      if (!IsHostNameChar(c)) {
        return absl::InvalidArgumentError("invalid host name");
      }
    }
    if (host.front() == '.' || host.front() == '-' || host.back() == '-' ||
        host.find("..") != std::string_view::npos) {
      return absl::InvalidArgumentError("invalid host name");
    }
    out.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  uint64_t port = 0;
  std::string_view rest = port_text;
  if (!TakeNumber(rest, &port) || !rest.empty() || port > 65535 ||
      (port == 0 && !allow_port_zero) || port_text.size() > 5) {
    return absl::InvalidArgumentError(allow_port_zero
                                          ? "invalid port (expected 0-65535)"
                                          : "invalid port (expected 1-65535)");
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

}  // namespace tern::config
