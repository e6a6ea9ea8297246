#include "protocol/dsn.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/status.h"

namespace tern::protocol {
namespace {

// Character classes, one table lookup per byte: these scans run for every
// envelope that carries a dsn header.
enum CharClass : uint8_t {
  kAlnum = 1 << 0,
  // RFC 3986 "unreserved": all that a host name needs. Anything else
  // (spaces, quotes, percent escapes) is far more likely a paste error than a
  // real deployment, so it is rejected rather than carried into URLs we build.
  kUnreserved = 1 << 1,
  // Unreserved or '/', for the path prefix.
  kPath = 1 << 2,
  // RFC 3986 scheme characters, so "ftp://" is reported as an unsupported
  // scheme while "key@host/1" (no "://" after a scheme-like word) is reported
  // as a missing one.
  kScheme = 1 << 3,
  kIpv6 = 1 << 4,
};

constexpr std::array<uint8_t, 256> kCharClass = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    bool digit = c >= '0' && c <= '9';
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    uint8_t bits = 0;
    if (digit || alpha) bits |= kAlnum | kUnreserved | kPath | kScheme;
    if (c == '-' || c == '.' || c == '_' || c == '~') {
      bits |= kUnreserved | kPath;
    }
    if (c == '/') bits |= kPath;
    if (c == '+' || c == '-' || c == '.') bits |= kScheme;
    if (hex || c == ':' || c == '.') bits |= kIpv6;
    table[c] = bits;
  }
  return table;
}();

bool Is(char c, CharClass cls) {
  return (kCharClass[static_cast<unsigned char>(c)] & cls) != 0;
}

// A plain early-exit loop: a branch-free "and" of the lookups gets
// vectorized by GCC into byte gathers through the stack that stall on store
// forwarding and ran several times slower.
bool AllOf(std::string_view s, CharClass cls) {
  for (char c : s) {
    if (!Is(c, cls)) return false;
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// string_view::find_first_of calls memchr on `set` once per byte of `s`;
// this loop is several times faster for the two- and three-byte sets here.
size_t FindAnyOf(std::string_view s, std::string_view set) {
  for (size_t i = 0; i < s.size(); ++i) {
    for (char c : set) {
      if (s[i] == c) return i;
    }
  }
  return std::string_view::npos;
}

// Scheme words are bounded by kScheme but not in length; keep error
// messages short whatever the input.
std::string_view Truncated(std::string_view s) {
  constexpr size_t kMax = 32;
  return s.size() <= kMax ? s : s.substr(0, kMax);
}

absl::Status ParsePort(std::string_view text, std::optional<uint16_t>* port) {
  if (text.empty()) return BadRequest("invalid DSN: empty port after ':'");
  uint32_t value = 0;
  for (char c : text) {
    if (!IsDigit(c)) {
      return BadRequest("invalid DSN: port must be decimal digits");
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value > 65535) {
      return BadRequest("invalid DSN: port out of range (1-65535)");
    }
  }
  if (value == 0) return BadRequest("invalid DSN: port out of range (1-65535)");
  *port = static_cast<uint16_t>(value);
  return absl::OkStatus();
}

// `hostport` is the authority after the '@'.
absl::Status ParseHostPort(std::string_view hostport, Dsn* dsn) {
  if (hostport.empty()) return BadRequest("invalid DSN: missing host");
  std::string_view rest;
  if (hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return BadRequest("invalid DSN: unterminated IPv6 address in host");
    }
    std::string_view address = hostport.substr(1, close - 1);
    if (address.empty() || !AllOf(address, kIpv6) ||
        address.find(':') == std::string_view::npos) {
      return BadRequest("invalid DSN: invalid IPv6 address in host");
    }
    dsn->host = hostport.substr(0, close + 1);
    rest = hostport.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return BadRequest(
          "invalid DSN: unexpected characters after IPv6 address in host");
    }
  } else {
    size_t colon = hostport.find(':');
    dsn->host = hostport.substr(0, colon);
    if (colon != std::string_view::npos) rest = hostport.substr(colon);
    if (dsn->host.empty()) return BadRequest("invalid DSN: missing host");
    if (!AllOf(dsn->host, kUnreserved)) {
      return BadRequest("invalid DSN: invalid character in host");
    }
  }
  if (!rest.empty()) {
    TERN_RETURN_IF_ERROR(ParsePort(rest.substr(1), &dsn->port));
  }
  return absl::OkStatus();
}

// `path` is everything from the '/' that ends the authority.
absl::Status ParsePathAndProject(std::string_view path, Dsn* dsn) {
  if (FindAnyOf(path, "?#") != std::string_view::npos) {
    return BadRequest(
        "invalid DSN: trailing query or fragment (a DSN ends with the project "
        "id)");
  }
  size_t last_slash = path.rfind('/');
  dsn->path = path.substr(0, last_slash + 1);
  if (!AllOf(dsn->path, kPath)) {
    return BadRequest("invalid DSN: invalid character in path");
  }
  std::string_view id = path.substr(last_slash + 1);
  if (id.empty()) {
    return BadRequest(
        "invalid DSN: missing project id (the last path segment)");
  }
  size_t digits = 0;
  while (digits < id.size() && IsDigit(id[digits])) ++digits;
  if (digits == 0) return BadRequest("invalid DSN: non-numeric project id");
  if (digits != id.size()) {
    return BadRequest("invalid DSN: trailing characters after project id");
  }
  uint64_t value = 0;
  for (char c : id) {
    // Overflow builtins rather than a "value > (max - d) / 10" test: that
    // divides once per digit and dominated the parse.
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_add_overflow(value, static_cast<uint64_t>(c - '0'), &value)) {
      return BadRequest("invalid DSN: project id out of range");
    }
  }
  if (value == 0) return BadRequest("invalid DSN: project id must be non-zero");
  dsn->project_id = value;
  return absl::OkStatus();
}

}  // namespace

std::string_view DsnSchemeName(DsnScheme scheme) {
  return scheme == DsnScheme::kHttp ? "http" : "https";
}

bool IsValidPublicKey(std::string_view key) {
  return !key.empty() && AllOf(key, kAlnum);
}

absl::StatusOr<Dsn> ParseDsn(std::string_view text) {
  Dsn dsn;

  size_t scheme_end = 0;
  while (scheme_end < text.size() && Is(text[scheme_end], kScheme)) {
    ++scheme_end;
  }
  if (scheme_end == 0 || text.substr(scheme_end, 3) != "://") {
    return BadRequest(
        "invalid DSN: missing scheme (expected https:// or http://)");
  }
  std::string_view scheme = text.substr(0, scheme_end);
  if (absl::EqualsIgnoreCase(ToAbsl(scheme), "https")) {
    dsn.scheme = DsnScheme::kHttps;
  } else if (absl::EqualsIgnoreCase(ToAbsl(scheme), "http")) {
    dsn.scheme = DsnScheme::kHttp;
  } else {
    return BadRequest(absl::StrCat("invalid DSN: unsupported scheme \"",
                                   ToAbsl(Truncated(scheme)),
                                   "\" (expected http or https)"));
  }

  std::string_view rest = text.substr(scheme_end + 3);
  size_t authority_end = FindAnyOf(rest, "/?#");
  std::string_view authority = rest.substr(0, authority_end);

  size_t at = authority.find('@');
  if (at == std::string_view::npos) {
    return BadRequest(
        "invalid DSN: missing public key (expected {key}@ before the host)");
  }
  std::string_view userinfo = authority.substr(0, at);
  size_t colon = userinfo.find(':');
  dsn.public_key = userinfo.substr(0, colon);
  if (dsn.public_key.empty()) {
    return BadRequest("invalid DSN: empty public key");
  }
  if (!IsValidPublicKey(dsn.public_key)) {
    return BadRequest(
        "invalid DSN: invalid public key (letters and digits only)");
  }
  if (colon != std::string_view::npos && colon + 1 < userinfo.size()) {
    std::string_view secret = userinfo.substr(colon + 1);
    if (!IsValidPublicKey(secret)) {
      return BadRequest(
          "invalid DSN: invalid secret key (letters and digits only)");
    }
    dsn.secret = secret;
  }

  TERN_RETURN_IF_ERROR(ParseHostPort(authority.substr(at + 1), &dsn));

  if (authority_end == std::string_view::npos || rest[authority_end] != '/') {
    return BadRequest(
        "invalid DSN: missing project id (expected /{project_id} after the "
        "host)");
  }
  TERN_RETURN_IF_ERROR(ParsePathAndProject(rest.substr(authority_end), &dsn));
  return dsn;
}

std::string FormatDsn(const Dsn& dsn) {
  std::string out;
  std::string_view path = dsn.path.empty() ? "/" : dsn.path;
  out.reserve(32 + dsn.public_key.size() + dsn.host.size() + path.size() +
              (dsn.secret ? dsn.secret->size() : 0));
  absl::StrAppend(&out, ToAbsl(DsnSchemeName(dsn.scheme)), "://",
                  ToAbsl(dsn.public_key));
  if (dsn.secret.has_value() && !dsn.secret->empty()) {
    absl::StrAppend(&out, ":", ToAbsl(*dsn.secret));
  }
  absl::StrAppend(&out, "@", ToAbsl(dsn.host));
  if (dsn.port.has_value()) absl::StrAppend(&out, ":", *dsn.port);
  absl::StrAppend(&out, ToAbsl(path), dsn.project_id);
  return out;
}

}  // namespace tern::protocol
