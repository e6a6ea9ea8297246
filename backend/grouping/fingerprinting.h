// Server-side fingerprinting rules, per project, in Sentry's text syntax:
//
//   # a comment
//   error.type:DatabaseUnavailable -> system-down
//   stack.function:"Database::*" level:error -> database, {{ default }}
//   logger:"com.example.*" !tags.region:eu -> {{ logger }} title="Log: {{
//   logger }}"
//
// Each line is a rule: matchers (optionally negated with `!`) on the event's
// exceptions, frames, message, logger, level, tags, SDK, platform family and
// release; `->`; the fingerprint to give a matching event (literals and
// {{ variables }}, as a client fingerprint would carry) and an optional
// `title="..."` that replaces the issue title. The first matching rule wins
// and overrides the fingerprint the client sent, as in Sentry's
// apply_server_fingerprinting. docs/grouping.md lists the matchers, their
// case rules and what is not implemented (caller/callee and thread
// matchers of newer Sentry versions).
#ifndef TERN_BACKEND_GROUPING_FINGERPRINTING_H_
#define TERN_BACKEND_GROUPING_FINGERPRINTING_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/json_value.h"

namespace tern::grouping {

struct FingerprintMatcher {
  enum class Key {
    kType,
    kValue,
    kMessage,
    kLogger,
    kLevel,
    kModule,
    kPath,
    kPackage,
    kFunction,
    kFamily,
    kApp,
    kSdk,
    kRelease,
    kTag,
  };
  Key key = Key::kType;
  std::string tag;      // for kTag: the tag's name
  std::string pattern;  // a glob, or a list for family/sdk, a bool for app
  bool negated = false;
};

struct FingerprintRule {
  std::vector<FingerprintMatcher> matchers;
  std::vector<std::string> fingerprint;
  std::optional<std::string> title;  // the title="..." attribute
  int line = 0;                      // 1-based line in the rules text
};

class FingerprintingRules {
 public:
  // Parses rules in Sentry's fingerprinting syntax. InvalidArgument with
  // Sentry's message for a line that is not a rule ("Invalid syntax near
  // "..." (line L, column C)"), an unknown matcher ("Unknown matcher 'x'")
  // or attribute ("Unknown attribute 'x'"); the latter two also name the
  // line and column. Empty text gives no rules.
  static absl::StatusOr<FingerprintingRules> Parse(std::string_view text);

  // The first rule that matches `event` (a parsed event object), or null.
  const FingerprintRule* Match(const protocol::JsonValue& event) const;

  const std::vector<FingerprintRule>& rules() const { return rules_; }
  bool empty() const { return rules_.empty(); }

 private:
  std::vector<FingerprintRule> rules_;
};

// Sentry's normalize_sdk_tag: "sentry.python.flask" -> "sentry.python",
// "sentry.react" -> "sentry.javascript.react", community SDKs -> "other".
std::string NormalizeSdkTag(std::string_view sdk_name);

}  // namespace tern::grouping

#endif  // TERN_BACKEND_GROUPING_FINGERPRINTING_H_
