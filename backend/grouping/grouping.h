// Event grouping: Sentry's default grouping config `newstyle:2023-01-11`,
// reproduced exactly so that Tern assigns the same hashes (and therefore the
// same issues) as Sentry for the same events.
//
// An event yields one or more *variants* (app, system, default,
// custom_fingerprint, fallback), each a tree of grouping components whose
// contributing leaf values, concatenated in tree order, are md5-hashed. The
// algorithm, the choices made and what is not implemented are in
// docs/grouping.md.
//
// Analyze() is the backend's single pass over an event: it parses the JSON
// once and extracts everything storage needs (facts, title, culprit,
// metadata, hashes). Pure code: no I/O, no shared state other than constant
// compiled patterns and rules, safe to call from any number of threads.
// Each thread keeps a bounded cache of stack-trace rule results per frame
// (enhancers.cc); results are a function of the frame alone, so hashes do
// not depend on what a thread hashed before.
#ifndef TERN_BACKEND_GROUPING_GROUPING_H_
#define TERN_BACKEND_GROUPING_GROUPING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/json_value.h"

namespace tern::grouping {

struct GroupingHashes {
  // Variant name -> md5 hex, or nullopt when the variant exists but does not
  // contribute. App (or custom/hybrid) first, system last.
  std::vector<std::pair<std::string, std::optional<std::string>>> variants;
  // Distinct hashes in assignment order: app (or custom/hybrid) first,
  // system last. An event joins the group of the first hash already known.
  std::vector<std::string> ordered;
  // Set when a project's fingerprinting rule decided the fingerprint: the
  // rule's line, and its title="..." with the variables expanded.
  int fingerprint_rule_line = 0;
  std::optional<std::string> rule_title;
};

class FingerprintingRules;
class Enhancements;

// A project's own grouping configuration (server-side rules); null members
// are none. Owned by the caller and read only.
struct ProjectGrouping {
  const FingerprintingRules* fingerprinting = nullptr;
  // Stack-trace rules applied after the built-in ones (their decisions win
  // for the frames they match); from ParseProjectStacktraceRules.
  const Enhancements* stacktrace = nullptr;
};

// A project's stack-trace rules (Sentry's grouping enhancements text):
// Enhancements::Parse, and InvalidArgument ("rule line N: ...") for
// `category:` matchers and `category=` actions, which project rules do not
// support (categories are numbered per rule set).
absl::StatusOr<Enhancements> ParseProjectStacktraceRules(std::string_view text);

// Everything the backend stores about an event, from ONE parse.
struct EventFacts {
  std::string event_id;
  bool is_transaction = false;
  std::string level = "error";
  std::string platform, release, environment;
  std::optional<int64_t> timestamp_ms;
  // When the relay received it ("received", seconds with a fraction): finer
  // than the Kafka wrapper's whole-second start_time, so events of one second
  // keep their arrival order.
  std::optional<int64_t> received_ms;
  std::string tags_json = "[]";  // [["k","v"],..] compact
  // Who saw it, as Sentry's user tag names them: "id:<user.id>", else
  // "email:...", "username:...", "ip:<user.ip_address>"; "" without a user.
  // Alert rules count distinct users with it.
  std::string user_key;
  // Issue fields, Sentry's rules: title "Type: first line of value" (or the
  // message / transaction / "<unlabeled event>"), culprit from the crashing
  // frame (transaction first, as Sentry), metadata as Sentry stores it.
  std::string title, culprit, metadata_type, metadata_value, metadata_filename,
      metadata_function;
  GroupingHashes hashes;  // empty for transactions
};

// Parses `event_json` (a raw SDK event or the relay's normalized payload)
// and computes its facts. InvalidArgument when it is not a JSON object.
// `project` adds the project's server-side rules: a matching fingerprinting
// rule replaces the event's fingerprint and, with a title attribute, the
// issue title.
absl::StatusOr<EventFacts> Analyze(std::string_view event_json,
                                   const ProjectGrouping& project = {});

// The grouping hashes of an already parsed event. InvalidArgument when
// `event` is not an object.
absl::StatusOr<GroupingHashes> ComputeHashes(
    const protocol::JsonValue& event, const ProjectGrouping& project = {});

// {"app":"<md5>"|null,"system":...}, in the order of `hashes.variants`.
std::string HashesToJson(const GroupingHashes& hashes);

// Sentry's normalize_message_for_grouping: the first two non-empty lines
// (plus "..." when that dropped anything), with emails, URLs, hostnames, IPs,
// UUIDs, SHA1s, MD5s, dates, durations, hex, floats, ints and quoted or
// boolean values after '=' replaced by <email>, <url>, ... placeholders.
// Without `trim` every line is kept (Sentry's trim_message=False, for a
// fingerprint's {{ message }}).
std::string NormalizeMessageForGrouping(std::string_view message,
                                        bool trim = true);

namespace internal {
// NormalizeMessageForGrouping with every alternative of the alternation
// tried, whatever the message holds: the reference the per-feature
// alternations are tested against.
std::string NormalizeMessageWithEveryPattern(std::string_view message);
}  // namespace internal

// The component tree of every variant, one line per component, for
// debugging and for tests that explain a hash ("app*: exception ...").
std::string DebugDump(const protocol::JsonValue& event);

}  // namespace tern::grouping

#endif  // TERN_BACKEND_GROUPING_GROUPING_H_
