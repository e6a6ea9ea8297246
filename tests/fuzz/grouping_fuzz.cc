// Fuzzes the backend's one pass over an event (parse, grouping hashes, issue
// fields). Invariants:
//  - Analyze never crashes and fails only with InvalidArgument;
//  - a non-transaction event that analyzes always has at least one hash,
//    every hash is 32 lowercase hex digits, `ordered` holds exactly the
//    distinct non-null hashes with any system hash last;
//  - analyzing the same bytes twice gives the same hashes (no hidden state).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "backend/grouping/grouping.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool IsMd5(const std::string& h) {
  if (h.size() != 32) return false;
  for (char c : h) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto facts = tern::grouping::Analyze(input);
  if (!facts.ok()) {
    Check(facts.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  const tern::grouping::GroupingHashes& h = facts->hashes;
  if (facts->is_transaction) {
    Check(h.variants.empty());
    return 0;
  }
  Check(!h.ordered.empty());
  std::set<std::string> distinct;
  for (const auto& [name, hash] : h.variants) {
    if (hash) {
      Check(IsMd5(*hash));
      distinct.insert(*hash);
    }
  }
  Check(distinct.size() == h.ordered.size());
  for (const std::string& o : h.ordered) Check(distinct.contains(o));
  for (size_t i = 0; i + 1 < h.variants.size(); ++i) {
    Check(h.variants[i].first != "system");
  }
  auto again = tern::grouping::Analyze(input);
  Check(again.ok() && tern::grouping::HashesToJson(again->hashes) ==
                          tern::grouping::HashesToJson(h));
  return 0;
}
