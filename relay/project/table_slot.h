// How a new ProjectTable reaches the workers without a lock on the request
// path.
//
// Each worker thread owns one TableSlot: a plain std::shared_ptr to the table
// it currently serves from. Only the owning thread ever reads or writes its
// slot, so reading it is an ordinary load with no synchronisation, no atomic
// and no lock; there is nothing shared to race on. A reload builds a new table
// on a control thread and hands it to the Publisher, which posts one closure
// per worker (through a callback the relay supplies, normally Worker::Post)
// that assigns the slot on that worker's own thread. The hand-over itself is
// the post queue's mutex, taken by the control thread and by the loop when it
// drains posts, never by a request.
//
// Publication latency: a worker switches at its next loop iteration (the post
// wakes the loop; the closure runs between callbacks), so within one
// iteration per worker; workers switch independently, so for that moment two
// workers may serve different generations. A callback never sees its slot
// change under it. A request that spans several callbacks (a body arriving in
// pieces) and must keep one table copies the shared_ptr (an atomic count
// increment, not a lock). The old table is freed on whichever thread drops
// the last reference to it: the last worker to switch, or a request that
// still held a copy.
#ifndef TERN_RELAY_PROJECT_TABLE_SLOT_H_
#define TERN_RELAY_PROJECT_TABLE_SLOT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "relay/project/project_table.h"

namespace tern::relay::project {

// One worker's current table. Not thread-safe by design: construct it before
// the worker starts (or on the worker), then touch it only from the worker's
// thread. It must outlive every closure the Publisher posted to that worker
// (a worker that is stopped drops its pending closures, see net/worker.h).
class TableSlot {
 public:
  // `initial` must not be null (an empty file gives an empty table), so the
  // request path never checks for "no table".
  explicit TableSlot(std::shared_ptr<const ProjectTable> initial)
      : table_(std::move(initial)) {}

  TableSlot(const TableSlot&) = delete;
  TableSlot& operator=(const TableSlot&) = delete;

  // The table to serve from; valid until this thread returns to its loop.
  // Owning thread only.
  const ProjectTable& table() const { return *table_; }

  // A reference that keeps the table alive across callbacks. Owning thread
  // only.
  const std::shared_ptr<const ProjectTable>& shared() const { return table_; }

  // Installs `table` if it is newer than the current one; an older or equal
  // generation is ignored, so a late closure can never roll a worker back.
  // `table` must not be null. Owning thread only; the Publisher's closures
  // call it.
  void Install(std::shared_ptr<const ProjectTable> table) {
    if (table->generation() > table_->generation()) table_ = std::move(table);
  }

 private:
  std::shared_ptr<const ProjectTable> table_;
};

// Runs a closure on one worker's thread, soon, in posting order; for a real
// worker `[w](auto fn) { w->Post(std::move(fn)); }`. It may drop the closure
// (a stopping worker does); the slot then keeps its table.
using PostFn = std::function<void(absl::AnyInvocable<void() &&>)>;

class Publisher {
 public:
  struct Target {
    TableSlot* slot;  // not owned; see TableSlot for its lifetime
    PostFn post;
  };

  // `initial` is the table the slots were constructed with (not null).
  Publisher(std::shared_ptr<const ProjectTable> initial,
            std::vector<Target> targets);

  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Hands `table` to every worker: posts one closure per target that installs
  // it on that worker's thread, and returns without waiting for them. Safe
  // from any thread (reload paths are off the request path, so a mutex here is
  // fine). FailedPrecondition when `table` is null or its generation is not
  // greater than the last published one (the slots would ignore it).
  absl::Status Publish(std::shared_ptr<const ProjectTable> table);

  // The last published table (or the initial one), for the control plane
  // (admin endpoints, a reload that diffs against it). Any thread.
  std::shared_ptr<const ProjectTable> current() const;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const ProjectTable> current_ ABSL_GUARDED_BY(mu_);
  const std::vector<Target> targets_;
};

}  // namespace tern::relay::project

#endif  // TERN_RELAY_PROJECT_TABLE_SLOT_H_
