// What the SQLite and PostgreSQL stores share and nobody else needs: payload
// compression, key and slug generation, LIKE escaping, and the pure half of
// WriteBatch (which event joins which issue), so both databases group a batch
// exactly the same way and only the SQL differs.
#ifndef TERN_BACKEND_STORAGE_STORE_INTERNAL_H_
#define TERN_BACKEND_STORAGE_STORE_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backend/storage/store.h"

namespace tern::storage::internal {

// zstd at level 1: event JSON shrinks 3-5x at a few hundred MB/s, and the
// consumer's thread is the one paying for it.
std::string CompressPayload(std::string_view json);
// DataLoss when `blob` is not a zstd frame (a corrupt row).
absl::StatusOr<std::string> DecompressPayload(std::string_view blob);

// 32 lowercase hex characters from /dev/urandom (keys are secrets, so no
// seeded PRNG). Internal when the kernel does not answer.
absl::StatusOr<std::string> NewPublicKey();

// Checks a project name (1..64 characters) and derives its slug: lowercase
// ASCII letters and digits kept, every other run of characters becomes one
// '-', none at either end. InvalidArgument when nothing is left.
absl::StatusOr<std::string> MakeSlug(std::string_view name);

// "%<text with % _ \ escaped by \>%" for `LIKE ? ESCAPE '\'`.
std::string LikeContains(std::string_view text);

// A JSON array of strings (SQLite's json_each takes a whole list as one bound
// parameter, so an IN list never changes the statement text).
std::string JsonStringArray(const std::vector<std::string>& values);

int64_t NowMs();

// (project_id, event_id) or (project_id, hash).
using ProjectString = std::pair<int64_t, std::string>;

struct PlannedIssue {
  int64_t project_id = 0;
  int64_t issue_id = 0;  // known for an existing issue; set once created
  bool is_new = false;
  const EventRecord* opener = nullptr;  // the event that opens a new issue
  // Hashes of the batch's events that no issue has yet: linked to this one.
  std::vector<std::string> new_hashes;
};

// Which issue each event of a batch goes to.
struct BatchPlan {
  static constexpr int kDuplicate = -2;    // already stored: skip it
  static constexpr int kTransaction = -1;  // stored without an issue
  // One per batch event: kDuplicate, kTransaction or an index into issues.
  std::vector<int> event_issue;
  std::vector<PlannedIssue> issues;
};

// Plans a batch from what the database holds: `stored` are the batch's events
// already stored, `known` the batch's hashes already linked to an issue. An
// event joins the issue of its first known hash (the batch's own new issues
// included, so two events opening the same issue share it); an event with no
// known hash opens a new issue. The event's unknown hashes are linked to its
// issue either way (what Sentry does, so the next event with the same app
// hash but another system hash still finds it). Repeated event ids in the
// batch after the first are duplicates. InvalidArgument for an error event
// without hashes.
absl::StatusOr<BatchPlan> PlanBatch(
    const Batch& batch, const absl::flat_hash_set<ProjectString>& stored,
    const absl::flat_hash_map<ProjectString, int64_t>& known);

// What one issue gets from the events of a batch that were really inserted.
struct IssueDelta {
  int64_t issue_id = 0;
  bool is_new = false;
  int64_t count = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
};
// `inserted[i]` tells whether batch event i was inserted. Issues with no
// inserted event are left out.
std::vector<IssueDelta> IssueDeltas(const Batch& batch, const BatchPlan& plan,
                                    const std::vector<bool>& inserted);

// The distinct project ids of a batch's events and sessions.
std::vector<int64_t> BatchProjects(const Batch& batch);

}  // namespace tern::storage::internal

#endif  // TERN_BACKEND_STORAGE_STORE_INTERNAL_H_
