// Data scrubbing rules: the per-project settings and the matchers that the
// event normalizer (protocol/normalize.h) applies while it rewrites an event.
//
// Sentry's "data scrubber" replaces values that look like secrets with
// "[Filtered]" before an event is stored: values under keys such as
// `password` or `token`, and strings holding a payment card number. The
// settings are per project and change only when the project table does, so
// they are compiled once (lowercased, defaults merged) into a ScrubConfig,
// and the matchers below then run on every key of every event without
// allocating. docs/event-normalization.md ("Data scrubbing") lists which
// parts of an event are scrubbed and why.
#ifndef TERN_PROTOCOL_SCRUB_H_
#define TERN_PROTOCOL_SCRUB_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern::protocol {

// What replaces a scrubbed value (Sentry's and Relay's mask).
inline constexpr std::string_view kFilteredMask = "[Filtered]";

// Sentry's default sensitive key fragments, matched case-insensitively as
// substrings of a key: "password" matches `db_Password`.
inline constexpr std::string_view kDefaultSensitiveFields[] = {
    "password", "passwd",      "secret",    "api_key",    "apikey",
    "auth",     "credentials", "mysql_pwd", "privatekey", "private_key",
    "token",    "session",     "csrf"};

// One project's scrubbing settings, ready to match. Build it with Make()
// (which lowercases and drops empty entries); the matchers rely on that.
// Immutable once built; share it between threads freely.
struct ScrubConfig {
  // Scrub sensitive keys, card numbers and the Authorization/Cookie
  // headers. Sentry's "Data Scrubber" switch, on by default.
  bool enabled = true;
  // Key fragments the project adds to kDefaultSensitiveFields; lowercase,
  // matched as substrings like the defaults.
  std::vector<std::string> sensitive_fields;
  // Keys never scrubbed, whole subtree included; lowercase, matched against
  // the whole key (case-insensitively). They win over every other rule.
  std::vector<std::string> safe_fields;
  // Drop `user.ip_address` and `request.env.REMOTE_ADDR`, and do not fill in
  // `{{auto}}`. Independent of `enabled`, as in Sentry.
  bool scrub_ip_addresses = false;

  // Builds a config from the project's settings as configured (any case,
  // possibly with blanks). Called when the project table is built.
  static ScrubConfig Make(bool enabled,
                          std::span<const std::string> sensitive_fields,
                          std::span<const std::string> safe_fields,
                          bool scrub_ip_addresses);
};

// True when `key` contains a default or configured sensitive fragment,
// ignoring case. Does not look at safe_fields (see IsSafeKey). Allocates
// nothing.
bool IsSensitiveKey(const ScrubConfig& config, std::string_view key);

// True when `key` equals one of the safe fields, ignoring case.
bool IsSafeKey(const ScrubConfig& config, std::string_view key);

// True for the request headers that carry credentials whatever the key
// rules say: `Cookie` and `Set-Cookie`, ignoring case. (`Authorization`
// already matches the default fragment "auth".)
bool IsCookieHeader(std::string_view name);

// True when `text` holds a payment card number: 13 to 19 digits, optionally
// grouped by single spaces or dashes, not touching another letter or digit
// on either side, that pass the Luhn check. Allocates nothing.
bool ContainsCardNumber(std::string_view text);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_SCRUB_H_
