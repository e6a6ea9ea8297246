#include "relay/project/table_slot.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace tern::relay::project {

Publisher::Publisher(std::shared_ptr<const ProjectTable> initial,
                     std::vector<Target> targets)
    : current_(std::move(initial)), targets_(std::move(targets)) {}

absl::Status Publisher::Publish(std::shared_ptr<const ProjectTable> table) {
  if (table == nullptr) {
    return absl::FailedPreconditionError("cannot publish a null project table");
  }
  // Held across the posts so that two concurrent publishes reach every
  // worker in the same order; the slots' generation check makes that a
  // belt-and-braces measure.
  absl::MutexLock lock(&mu_);
  if (table->generation() <= current_->generation()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "project table generation ", table->generation(),
        " is not newer than the published ", current_->generation()));
  }
  current_ = table;
  for (const Target& target : targets_) {
    TableSlot* slot = target.slot;
    // Each closure holds its own reference, so the table lives until every
    // worker has installed (or dropped) it.
    target.post([slot, t = table]() mutable { slot->Install(std::move(t)); });
  }
  return absl::OkStatus();
}

std::shared_ptr<const ProjectTable> Publisher::current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

}  // namespace tern::relay::project
