#include "protocol/auth.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/status.h"
#include "protocol/dsn.h"

namespace tern::protocol {
namespace {

constexpr std::string_view kSentryKey = "sentry_key";
constexpr std::string_view kSentryVersion = "sentry_version";
constexpr std::string_view kSentryClient = "sentry_client";

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view Trim(std::string_view s) { return TrimRight(TrimLeft(s)); }

char ToLowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// If `value` starts with the word "Sentry" (any case) followed by whitespace
// or the end, stores what follows the word in `*rest` and returns true.
bool StripSentryScheme(std::string_view value, std::string_view* rest) {
  constexpr std::string_view kWord = "sentry";
  if (value.size() < kWord.size()) return false;
  for (size_t i = 0; i < kWord.size(); ++i) {
    if (ToLowerAscii(value[i]) != kWord[i]) return false;
  }
  if (value.size() > kWord.size() && !IsSpace(value[kWord.size()])) {
    return false;
  }
  *rest = value.substr(kWord.size());
  return true;
}

// The three values we read, as raw views; `has_*` tells "absent" from "empty".
struct RawAuth {
  std::string_view key;
  std::string_view version;
  std::string_view client;
  bool has_key = false;
  bool has_version = false;
};

// "<digits>[.<digits>]" -> major. Majors too large for an int saturate; they
// are rejected as unsupported either way.
absl::Status ParseVersion(std::string_view text, int* major) {
  size_t i = 0;
  int value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (value <= 1000) value = value * 10 + (text[i] - '0');
    ++i;
  }
  size_t major_digits = i;
  bool ok = major_digits > 0;
  if (ok && i < text.size()) {
    ok = text[i] == '.' && i + 1 < text.size();
    for (++i; ok && i < text.size(); ++i) {
      ok = text[i] >= '0' && text[i] <= '9';
    }
  }
  if (!ok) {
    return BadRequest(
        "invalid sentry_version: expected a number such as 7 or 7.0");
  }
  if (value > kMaxProtocolVersion) {
    constexpr size_t kMaxEcho = 16;
    return BadRequest(
        absl::StrCat("unsupported protocol version ",
                     ToAbsl(text.substr(0, std::min(major_digits, kMaxEcho))),
                     " (the highest supported is ", kMaxProtocolVersion, ")"));
  }
  *major = value;
  return absl::OkStatus();
}

absl::StatusOr<AuthInfo> Finish(const RawAuth& raw, AuthSource source) {
  if (!raw.has_key) return Unauthorized("missing sentry_key in auth payload");
  if (!IsValidPublicKey(raw.key)) {
    return BadRequest(
        "invalid sentry_key: expected a non-empty key of letters and digits");
  }
  AuthInfo info;
  info.public_key = raw.key;
  info.client = raw.client;
  info.source = source;
  if (raw.has_version) {
    TERN_RETURN_IF_ERROR(ParseVersion(raw.version, &info.version));
  }
  return info;
}

// The pairs of the two header forms, after the optional "Sentry" word.
absl::StatusOr<AuthInfo> ParseHeaderPairs(std::string_view pairs,
                                          AuthSource source) {
  RawAuth raw;
  while (true) {
    size_t comma = pairs.find(',');
    std::string_view item = Trim(pairs.substr(0, comma));
    if (!item.empty()) {
      size_t eq = item.find('=');
      if (eq == std::string_view::npos) {
        return Unauthorized(
            "malformed auth header: expected key=value pairs separated by ','");
      }
      std::string_view name = TrimRight(item.substr(0, eq));
      std::string_view value = TrimLeft(item.substr(eq + 1));
      if (name.empty()) {
        return Unauthorized("malformed auth header: empty key before '='");
      }
      if (name == kSentryKey) {
        raw.key = value;
        raw.has_key = true;
      } else if (name == kSentryVersion) {
        raw.version = value;
        raw.has_version = true;
      } else if (name == kSentryClient) {
        raw.client = value;
      }
    }
    if (comma == std::string_view::npos) break;
    pairs.remove_prefix(comma + 1);
  }
  return Finish(raw, source);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ToLowerAscii(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes one form-urlencoded byte at s[*i], advancing *i past it. Malformed
// escapes decode to themselves, as browsers' URLSearchParams do.
char DecodeFormByte(std::string_view s, size_t* i) {
  char c = s[*i];
  if (c == '+') {
    ++*i;
    return ' ';
  }
  if (c == '%' && *i + 2 < s.size() && HexValue(s[*i + 1]) >= 0 &&
      HexValue(s[*i + 2]) >= 0) {
    char decoded =
        static_cast<char>(HexValue(s[*i + 1]) * 16 + HexValue(s[*i + 2]));
    *i += 3;
    return decoded;
  }
  ++*i;
  return c;
}

// A plain loop: find_first_of("%+") calls memchr once per input byte.
bool NeedsFormDecoding(std::string_view s) {
  for (char c : s) {
    if (c == '%' || c == '+') return true;
  }
  return false;
}

// Whether the decoded form of `raw` starts with (or, if `whole`, equals)
// `literal`, without materializing the decoded bytes.
bool DecodedMatches(std::string_view raw, std::string_view literal,
                    bool whole) {
  if (!NeedsFormDecoding(raw)) {
    return whole ? raw == literal : raw.substr(0, literal.size()) == literal;
  }
  size_t i = 0;
  for (char want : literal) {
    if (i >= raw.size() || DecodeFormByte(raw, &i) != want) return false;
  }
  return !whole || i == raw.size();
}

// Appends the decoded `raw` to `*scratch` and returns a view of it. The caller
// reserved enough capacity up front, so earlier views stay valid.
std::string_view DecodeInto(std::string_view raw, std::string* scratch) {
  size_t start = scratch->size();
  size_t i = 0;
  while (i < raw.size()) {
    // Copy the run up to the next escape in one go.
    size_t run = i;
    while (run < raw.size() && raw[run] != '%' && raw[run] != '+') ++run;
    scratch->append(raw.data() + i, run - i);
    i = run;
    if (i < raw.size()) scratch->push_back(DecodeFormByte(raw, &i));
  }
  return std::string_view(scratch->data() + start, scratch->size() - start);
}

enum class AuthParam { kKey, kVersion, kClient, kOther };

AuthParam MatchAuthParam(std::string_view name, bool escaped) {
  if (!escaped) {
    if (name == kSentryKey) return AuthParam::kKey;
    if (name == kSentryVersion) return AuthParam::kVersion;
    if (name == kSentryClient) return AuthParam::kClient;
    return AuthParam::kOther;
  }
  if (DecodedMatches(name, kSentryKey, /*whole=*/true)) return AuthParam::kKey;
  if (DecodedMatches(name, kSentryVersion, /*whole=*/true)) {
    return AuthParam::kVersion;
  }
  if (DecodedMatches(name, kSentryClient, /*whole=*/true)) {
    return AuthParam::kClient;
  }
  return AuthParam::kOther;
}

std::string_view StripQuestionMark(std::string_view query) {
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  return query;
}

}  // namespace

absl::StatusOr<AuthInfo> ParseSentryAuthHeader(std::string_view value) {
  value = TrimLeft(value);
  std::string_view pairs = value;
  StripSentryScheme(value, &pairs);
  return ParseHeaderPairs(pairs, AuthSource::kXSentryAuth);
}

bool IsSentryAuthorization(std::string_view value) {
  std::string_view rest;
  return StripSentryScheme(TrimLeft(value), &rest);
}

absl::StatusOr<AuthInfo> ParseAuthorizationHeader(std::string_view value) {
  std::string_view pairs;
  if (!StripSentryScheme(TrimLeft(value), &pairs)) {
    return Unauthorized("authorization header does not use the Sentry scheme");
  }
  return ParseHeaderPairs(pairs, AuthSource::kAuthorization);
}

bool HasSentryAuthParams(std::string_view query) {
  query = StripQuestionMark(query);
  while (true) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    if (DecodedMatches(item.substr(0, item.find('=')), "sentry_",
                       /*whole=*/false)) {
      return true;
    }
    if (amp == std::string_view::npos) return false;
    query.remove_prefix(amp + 1);
  }
}

absl::StatusOr<AuthInfo> ParseAuthQuery(std::string_view query,
                                        std::string* scratch) {
  query = StripQuestionMark(query);
  scratch->clear();
  bool reserved = false;
  RawAuth raw;
  const size_t n = query.size();
  size_t i = 0;
  while (true) {
    // One pass per parameter finds its '=' and whether its name or value
    // holds escapes, so the common escape-free case is compared and viewed
    // without a second look at the bytes.
    size_t start = i;
    size_t eq = std::string_view::npos;
    bool name_escaped = false;
    bool value_escaped = false;
    for (; i < n && query[i] != '&'; ++i) {
      char c = query[i];
      if (c == '%' || c == '+') {
        (eq == std::string_view::npos ? name_escaped : value_escaped) = true;
      } else if (c == '=' && eq == std::string_view::npos) {
        eq = i;
      }
    }
    size_t name_end = eq == std::string_view::npos ? i : eq;
    std::string_view name = query.substr(start, name_end - start);
    std::string_view value = eq == std::string_view::npos
                                 ? std::string_view()
                                 : query.substr(eq + 1, i - eq - 1);
    std::string_view* slot = nullptr;
    switch (MatchAuthParam(name, name_escaped)) {
      case AuthParam::kKey:
        slot = &raw.key;
        raw.has_key = true;
        break;
      case AuthParam::kVersion:
        slot = &raw.version;
        raw.has_version = true;
        break;
      case AuthParam::kClient:
        slot = &raw.client;
        break;
      case AuthParam::kOther:
        break;
    }
    if (slot != nullptr) {
      if (value_escaped) {
        // Decoded values are never longer than their raw form and the raw
        // forms are disjoint parts of `query`, so this one reservation holds
        // every decoded value without reallocating under earlier views.
        if (!reserved) {
          scratch->reserve(n);
          reserved = true;
        }
        *slot = DecodeInto(value, scratch);
      } else {
        *slot = value;
      }
    }
    if (i >= n) break;
    ++i;  // the '&'
  }
  return Finish(raw, AuthSource::kQueryString);
}

absl::StatusOr<AuthInfo> ParseEnvelopeDsnAuth(std::string_view dsn_text) {
  absl::StatusOr<Dsn> dsn = ParseDsn(dsn_text);
  if (!dsn.ok()) {
    return absl::Status(
        dsn.status().code(),
        absl::StrCat("envelope header dsn: ", dsn.status().message()));
  }
  AuthInfo info;
  info.public_key = dsn->public_key;
  info.source = AuthSource::kEnvelopeDsn;
  info.dsn_project_id = dsn->project_id;
  return info;
}

absl::StatusOr<AuthInfo> ExtractAuth(const AuthSources& sources,
                                     std::string* scratch) {
  bool has_header = sources.x_sentry_auth.has_value();
  bool has_authorization = sources.authorization.has_value() &&
                           IsSentryAuthorization(*sources.authorization);
  bool has_query =
      sources.query.has_value() && HasSentryAuthParams(*sources.query);
  bool has_dsn = sources.envelope_dsn.has_value();
  int count =
      int{has_header} + int{has_authorization} + int{has_query} + int{has_dsn};
  if (count == 0) return Unauthorized("missing authorization information");
  if (count > 1) return Unauthorized("multiple authorization payloads");
  if (has_header) return ParseSentryAuthHeader(*sources.x_sentry_auth);
  if (has_authorization)
    return ParseAuthorizationHeader(*sources.authorization);
  if (has_query) return ParseAuthQuery(*sources.query, scratch);
  return ParseEnvelopeDsnAuth(*sources.envelope_dsn);
}

std::string FormatSentryAuthHeader(const AuthInfo& auth) {
  std::string out = absl::StrCat("Sentry sentry_key=", ToAbsl(auth.public_key),
                                 ", sentry_version=", auth.version);
  if (!auth.client.empty()) {
    absl::StrAppend(&out, ", sentry_client=", ToAbsl(auth.client));
  }
  return out;
}

}  // namespace tern::protocol
