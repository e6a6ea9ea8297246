// DSNs: the URL an SDK is configured with, naming where to send events and
// with which key.
//
//   {scheme}://{public_key}[:{secret}]@{host}[:{port}]{path}{project_id}
//   https://4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c@o1.ingest.example.com/sentry/42
//
// The relay meets DSNs in its config (the upstream), in the `dsn` header of an
// envelope (one of the four auth sources, see protocol/auth.h), and the
// backend prints one per project. Parsing is strict: every malformed part has
// its own message so an operator can fix a config line or an SDK option from
// the error alone.
#ifndef TERN_PROTOCOL_DSN_H_
#define TERN_PROTOCOL_DSN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tern::protocol {

// Only the two schemes an SDK can send over.
enum class DsnScheme { kHttp, kHttps };

// "http" or "https".
std::string_view DsnSchemeName(DsnScheme scheme);

// A parsed DSN. The string fields are views: after ParseDsn they point into
// the parsed text, which must outlive the Dsn; a hand-built Dsn may point
// anywhere that outlives it.
struct Dsn {
  DsnScheme scheme = DsnScheme::kHttps;
  // Non-empty, [A-Za-z0-9] only (Sentry issues 32 lowercase hex digits).
  std::string_view public_key;
  // The legacy secret key; absent in modern DSNs. An empty secret ("key:@")
  // parses as absent, as it does for URL parsers.
  std::optional<std::string_view> secret;
  // A host name or IPv4 address, or an IPv6 address with its brackets
  // ("[::1]"). Kept as written (no case folding).
  std::string_view host;
  // Absent when the DSN names none (the scheme's default applies). Never 0.
  std::optional<uint16_t> port;
  // Everything between the authority and the project id: starts and ends
  // with '/', "/" when there is no prefix, "/sentry/" for a Sentry mounted
  // under /sentry. FormatDsn writes "/" for an empty path.
  std::string_view path = "/";
  // Non-zero.
  uint64_t project_id = 0;

  friend bool operator==(const Dsn&, const Dsn&) = default;
};

// True for a non-empty key made only of [A-Za-z0-9]: what a DSN's public key
// and an auth header's sentry_key must look like. Shared with protocol/auth.h
// so both sources accept exactly the same keys.
bool IsValidPublicKey(std::string_view key);

// Parses `text`, which must be the whole DSN (no surrounding whitespace, no
// query or fragment). On success the views in the result point into `text`.
// Every error is InvalidArgument (HTTP 400: a DSN is config or an envelope
// header value) and names the part at fault: missing scheme, unsupported
// scheme, missing public key, empty or invalid public key, invalid secret,
// missing or invalid host, empty or invalid port, missing project id,
// non-numeric, zero or too large project id, invalid path, or trailing
// characters after the project id.
absl::StatusOr<Dsn> ParseDsn(std::string_view text);

// The canonical text of `dsn`: the scheme in lowercase, the port only when
// set, the project id in decimal without leading zeros. For any Dsn that
// ParseDsn returned, ParseDsn(FormatDsn(dsn)) equals it.
std::string FormatDsn(const Dsn& dsn);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_DSN_H_
