// Sentry's stack-trace rules ("enhancements") of the newstyle:2023-01-11
// grouping config: rules that mark frames in-app or not (+app/-app), give
// them a category, and take frames out of the hash (-group), optionally for
// every caller (v) or callee (^) of the matching frame.
//
// Rules run in two passes, as in Sentry: ApplyModifications (in-app and
// category, every rule in order, each rule matched against the state left by
// the previous one) before the frames are hashed, then UpdateContributions
// (+group/-group) over the frame components of each variant.
//
// Most rules read only fields no rule changes (family, function, module,
// package, path of the frame itself); which of those a frame matches is
// found once per distinct frame and kept in a bounded per-thread cache, so
// a service's recurring frames cost a lookup (docs/grouping.md,
// Performance). The cache holds pure results: it cannot change a decision.
#ifndef TERN_BACKEND_GROUPING_ENHANCERS_H_
#define TERN_BACKEND_GROUPING_ENHANCERS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::grouping {

// What rules see of (and change in) one frame; frames are ordered as in the
// event, outermost caller first. Fill the fields, then call Finish(). The
// fields are views: what they point to must outlive every call that is
// given the frame (grouping keeps it in the parsed event or the stack).
struct RuleFrame {
  std::string_view family;                   // "native", "javascript", "other"
  std::optional<std::string_view> function;  // trimmed as Sentry matches it
  std::optional<std::string_view> module;
  std::optional<std::string_view> package;  // lowercased, '\\' -> '/'
  std::optional<std::string_view> path;     // abs_path or filename, same
  bool in_app = false;
  // Set by the rules: an index into Enhancements::category_name(), or -1.
  int category = -1;

  // Derived by Finish(): the family as a bit (rules are indexed by it).
  uint8_t family_bit = 0;
  void Finish();
};

// A package or path as path-like matchers compare it: ASCII-lowercased, '\\'
// turned into '/'. The form RuleFrame::package and path hold.
std::string NormalizePathValue(std::string_view value);
// Whether NormalizePathValue(value) == value (no copy is needed then).
bool IsNormalizedPathValue(std::string_view value);
// Appends NormalizePathValue(value) to `out`.
void AppendNormalizedPathValue(std::string_view value, std::string* out);

// The exception a stack trace belongs to (error.type / error.value /
// error.mechanism matchers).
struct RuleException {
  std::string_view type, value, mechanism;
};

class Enhancements {
 public:
  // Parses rules in Sentry's text syntax. InvalidArgument on a malformed line.
  static absl::StatusOr<Enhancements> Parse(std::string_view text);
  // The built-in newstyle:2023-01-11 rules, parsed once.
  static const Enhancements& Default();

  Enhancements(Enhancements&&) noexcept;
  Enhancements& operator=(Enhancements&&) noexcept;
  ~Enhancements();

  // Pass 1: sets in_app and category of `frames`.
  void ApplyModifications(std::vector<RuleFrame>* frames,
                          const RuleException& exception) const;
  // Pass 2: the +group/-group decision of the last rule that touched each
  // frame (nullopt: none did). Independent of the variant.
  void UpdateContributions(const std::vector<RuleFrame>& frames,
                           const RuleException& exception,
                           std::vector<std::optional<bool>>* group) const;

  // Both passes, as the grouping runs them on each stack trace; the frames
  // are indexed once for the two.
  void Apply(std::vector<RuleFrame>* frames, const RuleException& exception,
             std::vector<std::optional<bool>>* group) const;

  // The name of a category id set by ApplyModifications ("" for -1).
  std::string_view category_name(int id) const;
  size_t rule_count() const;

  struct Rule;
  struct FrameHits;

 private:
  Enhancements();
  int Intern(std::string_view category);
  // Builds by_anchor_ from rules_ (after parsing).
  void IndexFrameRules();
  // Appends to `out`, in rule order, the ids of the frame-only rules (see
  // Rule::frame_only) whose matchers all hold for `frame`.
  void MatchFrame(const RuleFrame& frame, std::vector<uint32_t>* out) const;
  // MatchFrame for every frame, bucketed by rule.
  FrameHits Hits(const std::vector<RuleFrame>& frames) const;

  std::vector<Rule> rules_;
  std::vector<std::string> categories_;
  // The frame-only rules a frame may match, by (family, anchor field,
  // anchor byte): slot AnchorSlot(...) holds the ids in
  // anchor_ids_[anchor_start_[slot] .. anchor_start_[slot + 1]), in order.
  std::vector<uint32_t> anchor_start_;
  std::vector<uint32_t> anchor_ids_;
  // Names this rule set in the per-thread cache of MatchFrame results
  // (unique per parse: an address could be reused by another set).
  uint64_t serial_ = 0;
};

// Glob matching as Sentry's rules use it: `*` any run of characters (in
// path mode not crossing '/'), `**` anything, `?` one character, `[...]`
// classes, `\x` a literal x.
bool GlobMatch(std::string_view pattern, std::string_view value,
               bool path_mode);

}  // namespace tern::grouping

#endif  // TERN_BACKEND_GROUPING_ENHANCERS_H_
