// Fuzzes the alert rule parser (backend/alerts/rule.h), which reads API
// request bodies. Invariants:
//  - errors are InvalidArgument with a message naming a field, never a crash
//    or another code;
//  - whatever parses has its canonical JSON parse back to the same canonical
//    JSON (what the store keeps is what the engine reads);
//  - the glob matcher, fed the rule's release filter, terminates.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "backend/alerts/rule.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tern::alerts;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Rule> rule = ParseRule(input);
  if (!rule.ok()) {
    Check(rule.status().code() == absl::StatusCode::kInvalidArgument);
    Check(rule.status().message().find(": ") != std::string_view::npos);
    return 0;
  }
  Check(!rule->name.empty() && !rule->targets.empty());
  const std::string canonical = RuleJson(*rule);
  absl::StatusOr<Rule> again = ParseRule(canonical);
  Check(again.ok());
  Check(RuleJson(*again) == canonical);
  for (const Target& t : rule->targets) {
    absl::StatusOr<Target> back = ParseTargetJson(TargetJson(t));
    Check(back.ok() && back->kind == t.kind && back->url == t.url);
  }
  (void)GlobMatch(rule->release_glob, input);
  return 0;
}
