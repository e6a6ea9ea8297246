// Sentry request authentication: which key a request claims to send with.
//
// SDKs name their DSN's public key in one of four places: the X-Sentry-Auth
// header ("Sentry sentry_key=..., sentry_version=7, sentry_client=..."), the
// Authorization header with the `Sentry` scheme (same pairs), the query
// string (?sentry_key=...&sentry_version=7, what browsers use to avoid a CORS
// preflight), or the `dsn` header of an envelope. Exactly one must be present.
// This file only reads what is claimed; whether the key exists, is enabled and
// belongs to the project in the URL is the relay's project table's business.
//
// Error codes follow Relay: a missing, duplicated or unreadable auth payload
// is Unauthenticated (401); a readable payload with a bad key value or a
// protocol version we do not speak is InvalidArgument (400).
//
// Everything here runs once per request, so the header forms do not allocate
// on success, and results are views into the caller's input.
#ifndef TERN_PROTOCOL_AUTH_H_
#define TERN_PROTOCOL_AUTH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tern::protocol {

// The highest sentry_version this relay speaks; newer clients get a 400.
inline constexpr int kMaxProtocolVersion = 7;

// Where an AuthInfo was read from.
enum class AuthSource {
  kXSentryAuth,
  kAuthorization,
  kQueryString,
  kEnvelopeDsn
};

// What a request claims. The views point into the parsed input (the header
// value, query string or DSN text), or, for query values that needed
// percent-decoding, into the caller's scratch string; either must outlive the
// AuthInfo and stay unmodified.
struct AuthInfo {
  // Non-empty, [A-Za-z0-9] only (see IsValidPublicKey in protocol/dsn.h).
  std::string_view public_key;
  // Major protocol version, 0..kMaxProtocolVersion; 7 when not given.
  int version = kMaxProtocolVersion;
  // The sentry_client value as sent ("sentry.python/2.19.0"), empty when
  // absent. Not validated: treat as untrusted bytes.
  std::string_view client;
  AuthSource source = AuthSource::kXSentryAuth;
  // The project id named by the envelope DSN; 0 for the other sources, which
  // name no project (the URL does). The relay checks it against the URL.
  uint64_t dsn_project_id = 0;

  friend bool operator==(const AuthInfo&, const AuthInfo&) = default;
};

// Parses an X-Sentry-Auth header value (also the first line of a raven UDP
// datagram). The leading "Sentry" word is optional here, as old clients
// omitted it. Pairs are separated by ',' with optional spaces or tabs around
// them, split on their first '='; sentry_key, sentry_version and
// sentry_client are read, every other key (sentry_secret, sentry_timestamp,
// unknown ones) is ignored; when a key repeats the last one wins. Errors:
//   401 a non-empty pair without '=', a pair with an empty key, no sentry_key;
//   400 sentry_key empty or not [A-Za-z0-9]; sentry_version not
//       "<digits>[.<digits>]"; sentry_version above kMaxProtocolVersion
//       ("unsupported protocol version").
absl::StatusOr<AuthInfo> ParseSentryAuthHeader(std::string_view value);

// True when an Authorization header value uses the Sentry scheme: the word
// "Sentry" in any case, then whitespace or the end. Values with any other
// scheme ("Bearer ...", "Basic ...") are not Sentry auth and are ignored by
// ExtractAuth, as Relay does.
bool IsSentryAuthorization(std::string_view value);

// Parses an `Authorization: Sentry ...` header value: the scheme is required
// (401 "authorization header does not use the Sentry scheme" without it),
// then the same pairs and errors as ParseSentryAuthHeader.
absl::StatusOr<AuthInfo> ParseAuthorizationHeader(std::string_view value);

// True when a query string (with or without its leading '?') has a parameter
// whose name starts with "sentry_", i.e. it is meant as an auth source.
bool HasSentryAuthParams(std::string_view query);

// Parses the auth parameters of a query string (with or without its leading
// '?'): '&'-separated, application/x-www-form-urlencoded ('+' is a space,
// %XX escapes; a malformed escape is kept literally). Other parameters,
// including ones without '=', are ignored. Values with escapes are decoded
// into `*scratch` (must be non-null; its previous contents are discarded),
// so the result may point into `scratch` as well as into `query`; values
// without escapes are not copied. Errors as in ParseSentryAuthHeader except
// that there is no malformed-pair case: 401 no sentry_key; 400 bad key or
// version.
absl::StatusOr<AuthInfo> ParseAuthQuery(std::string_view query,
                                        std::string* scratch);

// Reads the public key and project id out of an envelope's `dsn` header with
// ParseDsn; version is kMaxProtocolVersion and client empty, as a DSN names
// neither. Errors are ParseDsn's (400), prefixed with "envelope header dsn: ".
absl::StatusOr<AuthInfo> ParseEnvelopeDsnAuth(std::string_view dsn);

// The raw values of the four places a request can carry auth; nullopt when
// the request has no such header / query string / envelope dsn header.
struct AuthSources {
  std::optional<std::string_view> x_sentry_auth;
  // The whole Authorization header value, whatever its scheme.
  std::optional<std::string_view> authorization;
  // The request's query string, with or without its leading '?'.
  std::optional<std::string_view> query;
  std::optional<std::string_view> envelope_dsn;
};

// Picks the one auth source a request carries and parses it. Called once per
// request, after the envelope headers when the body is an envelope. A source
// counts as present when its value is set, except that an Authorization
// header only counts with the Sentry scheme and a query string only counts
// when HasSentryAuthParams. Errors:
//   401 "missing authorization information" when no source is present;
//   401 "multiple authorization payloads" when more than one is;
//   otherwise the chosen source's parse error.
// `scratch` is as for ParseAuthQuery; the result's views point into the
// chosen source's value or into `scratch`.
absl::StatusOr<AuthInfo> ExtractAuth(const AuthSources& sources,
                                     std::string* scratch);

// "Sentry sentry_key=<key>, sentry_version=<version>[, sentry_client=<client>]"
// for clients we drive ourselves (tern-bench, tests). The client must not
// contain ',' or line breaks, nor start or end with whitespace, for the header
// to parse back to the same AuthInfo.
std::string FormatSentryAuthHeader(const AuthInfo& auth);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_AUTH_H_
