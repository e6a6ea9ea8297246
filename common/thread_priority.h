// Scheduling priority of the calling thread, for the relay's background
// threads (librdkafka's, the delivery thread, the spool thread, the control
// loop). On a host with few cores these threads share a core with a worker
// and, at the default priority, CFS lets one of them run for milliseconds
// while a request waits: that was the relay's p99 stall (docs/performance.md).
// A higher nice value lets a woken worker preempt them at once; they still
// get the core whenever the workers are idle, which is most of the time
// below the relay's maximum rate.
//
// Linux gives each thread its own nice value (setpriority on a thread id),
// and a thread starts with its creator's. Only lowering is offered: an
// unprivileged process may always lower a thread's priority, never raise it.
#ifndef TERN_COMMON_THREAD_PRIORITY_H_
#define TERN_COMMON_THREAD_PRIORITY_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tern {

// The calling thread's nice value (-20..19).
int ThisThreadNice();

// Sets the calling thread's nice value to `nice` (clamped to 19) if that is
// higher than its current one; otherwise (or for `nice` < -20) does nothing.
// Never raises a priority, so calling it twice, or on a thread that started
// from an already-lowered one, is harmless. Errors: Internal with errno's
// text if the kernel refuses (it does not for an increase on Linux).
absl::Status LowerThisThreadPriorityTo(int nice);

// Names the calling thread (shown by top -H, ps -L, /proc; the kernel keeps
// 15 bytes). Best effort: a failure only leaves the old name.
void NameThisThread(const std::string& name);

struct ThreadInfo {
  pid_t tid = 0;
  std::string name;
  int nice = 0;
};

// Every thread of this process with its name and nice value, read from
// /proc/self/task (for tests and diagnostics; not cheap). Threads that exit
// while it reads are left out.
std::vector<ThreadInfo> ListThreads();

}  // namespace tern

#endif  // TERN_COMMON_THREAD_PRIORITY_H_
