// Alert rules: what a project's rule says (trigger, filters, cooldown,
// targets) and the parser that turns the rule JSON of the API and the store
// into it.
//
// A rule fires for one issue on its trigger: the issue's first event
// (new_issue), an event that reopened it (regression), or more than
// `frequency_count` of its events within `frequency_window` (frequency).
// Filters look at the triggering event: its level at least min_level, its
// environment equal to `environment`, its release matching `release_glob`
// (* and ?). A rule that fired for an issue stays quiet for that issue for
// `cooldown`. docs/alerts.md shows the JSON.
//
// This file is its own CMake target (backend_alerts_rules) because the API
// validates rule bodies with it while the rest of backend/alerts renders with
// the API's formatting helpers.
#ifndef TERN_BACKEND_ALERTS_RULE_H_
#define TERN_BACKEND_ALERTS_RULE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::alerts {

enum class Trigger : uint8_t { kNewIssue, kRegression, kFrequency };
// "new_issue", "regression", "frequency".
std::string_view TriggerName(Trigger trigger);

// email: one mail to every address of `to`. The others POST JSON to `url`:
// webhook the generic body, slack/dingtalk/feishu their robot's body.
enum class TargetKind : uint8_t {
  kEmail,
  kWebhook,
  kSlack,
  kDingtalk,
  kFeishu
};
// "email", "webhook", "slack", "dingtalk", "feishu".
std::string_view TargetKindName(TargetKind kind);
std::optional<TargetKind> ParseTargetKind(std::string_view name);

struct Target {
  TargetKind kind = TargetKind::kEmail;
  std::vector<std::string> to;  // email
  std::string url;              // webhooks
  // Webhooks: when set, X-Tern-Signature: sha256=<hex HMAC-SHA256 of the
  // body with this key>.
  std::string secret;
};

struct Rule {
  std::string name;
  bool enabled = true;
  Trigger trigger = Trigger::kNewIssue;
  int64_t frequency_count = 0;  // frequency: fires above this many events
  absl::Duration frequency_window = absl::ZeroDuration();
  // frequency: count distinct users (events' user.id, email, username or
  // ip_address) instead of events.
  bool frequency_users = false;
  std::optional<int> min_level;            // LevelRank; nullopt: the config's
  std::string environment;                 // empty: any
  std::string release_glob;                // empty: any
  std::optional<absl::Duration> cooldown;  // nullopt: the config's
  std::vector<Target> targets;             // at least one
};

// Parses a rule body. InvalidArgument whose message starts with the field
// at fault ("targets[1].url: expected an http:// or https:// URL, got
// \"ftp://x\""), for bad JSON, unknown fields, wrong types and values out of
// range. Never crashes on any input.
absl::StatusOr<Rule> ParseRule(std::string_view json);

// The canonical JSON of a rule (what the store keeps and the API shows):
// every field, defaults included where the rule set them, in a fixed order.
// ParseRule(RuleJson(r)) gives r back.
std::string RuleJson(const Rule& rule);
// One target as JSON ({"type": "email", "to": [...]} or {"type":
// "webhook", "format": ..., "url": ..., "secret": ...}), the form the outbox
// keeps; ParseTargetJson reads it back (InvalidArgument as ParseRule).
std::string TargetJson(const Target& target);
absl::StatusOr<Target> ParseTargetJson(std::string_view json);

// The rank of a Sentry level: debug 0, info 1, warning 2, error 3, fatal 4
// ("warn" and "critical" as their Sentry aliases). An empty or unknown level
// counts as error, which is what Sentry assumes for an event without one.
int LevelRank(std::string_view level);
// nullopt unless `level` is one of the five names (or an alias).
std::optional<int> ParseLevel(std::string_view level);

// Shell-style match: * any run (also empty), ? one byte, everything else
// itself. Iterative, so no pattern takes more than O(|pattern| * |text|).
bool GlobMatch(std::string_view pattern, std::string_view text);

// OK for an http:// or https:// URL with a host and no whitespace or
// control characters; InvalidArgument naming what is wrong otherwise.
absl::Status CheckWebhookUrl(std::string_view url);
// OK for one mail address local@domain without spaces, angle brackets,
// commas, quotes or control characters (nothing that could break a header).
absl::Status CheckMailAddress(std::string_view address);

}  // namespace tern::alerts

#endif  // TERN_BACKEND_ALERTS_RULE_H_
