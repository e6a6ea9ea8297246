// Fuzzes the fingerprinting rules parser (backend/grouping/fingerprinting.h),
// which reads rules text from the API and the CLI. Invariants:
//  - errors are InvalidArgument, never a crash, a hang or another code;
//  - rules that parse can be matched against events of every kind (frames,
//    exceptions, tags as pairs and as an object, threads) and a rule that
//    matches has a fingerprint or a title;
//  - the grouping with those rules still gives at least one hash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "backend/grouping/fingerprinting.h"
#include "backend/grouping/grouping.h"
#include "protocol/json_value.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr std::string_view kEvents[] = {
    R"({"platform":"python","level":"error","logger":"app.db","release":"a@1",
        "sdk":{"name":"sentry.python.django"},"tags":[["region","eu"]],
        "logentry":{"formatted":"Number 1 dog"},
        "exception":{"values":[{"type":"ValueError","value":"bad 3",
          "stacktrace":{"frames":[{"function":"f","module":"m","in_app":true,
          "abs_path":"/srv/app/x.py","filename":"x.py","package":"pkg"}]}}]}})",
    R"J({"platform":"native","tags":{"a":"b"},"threads":{"values":[
        {"stacktrace":{"frames":[{"function":"std::vector<int>::at(int)",
        "package":"C:\\lib\\x.dll"}]}}]}})J",
    R"({"message":"plain"})",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tern::grouping;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<FingerprintingRules> rules = FingerprintingRules::Parse(input);
  if (!rules.ok()) {
    Check(rules.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  for (std::string_view json : kEvents) {
    absl::StatusOr<tern::protocol::JsonValue> event =
        tern::protocol::ParseJson(json);
    Check(event.ok());
    if (const FingerprintRule* rule = rules->Match(*event)) {
      Check(!rule->fingerprint.empty() || rule->title.has_value());
    }
    absl::StatusOr<GroupingHashes> hashes = ComputeHashes(*event, {&*rules});
    Check(hashes.ok() && !hashes->ordered.empty());
  }
  return 0;
}
