// Quotas: how many items (or attachment bytes) a project or DSN key may send
// per window, enforced across all workers without a lock.
//
// Counting follows Sentry's quotas: fixed windows aligned to the Unix epoch
// (window N covers [N * window, (N + 1) * window) seconds), one counter per
// quota and scope (the project, or one DSN key), `limit` units per window.
// A counter is one 64-bit atomic holding the window's number (low 24 bits)
// and its count (40 bits), updated with compare-and-swap, so every worker
// reads and admits against the same number and over a window the admitted
// total never exceeds the limit.
//
// An item is checked against every quota that covers its category, all or
// nothing, as Relay does: it is counted in each of them in turn, and if one
// is full the counts already taken are given back, so a rejected item counts
// against none. (Between the take and the give-back another item may see
// the higher count and be refused; that errs on the side of the limit.)
//
// Counters outlive project table reloads: a QuotaRegistry hands out the
// counter for a quota's identity (project, key for key-scoped quotas, quota
// id, window, categories), so a table built after a reload shares the
// counters of every quota that kept its identity; a changed limit applies
// to the next item with the count so far.
//
// Shared quotas (quotas.redis, docs/quotas.md): a registry given a
// SharedQuotas makes every counter shared. A shared counter admits, in each
// window, only the units its relay leased for that window from Redis (and,
// before the window's first lease arrives, a credit of one slice), on the
// same lock-free compare-and-swap; when it runs low it raises a flag and
// wakes the lease client, which fetches the next slice off the request path
// (relay/quota_redis). While Redis cannot answer, the lease client sets a
// fallback budget for the rest of the window.
#ifndef TERN_RELAY_QUOTA_QUOTA_H_
#define TERN_RELAY_QUOTA_QUOTA_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/projects.h"
#include "protocol/data_category.h"

namespace tern::relay::quota {

// The largest count a window holds (2^40 - 1, a terabyte of attachments);
// larger limits are treated as this.
inline constexpr uint64_t kMaxCount = (uint64_t{1} << 40) - 1;

class WindowCounter;

// What a shared counter's lease client needs to name its Redis key.
struct CounterIdentity {
  uint64_t project_id = 0;
  std::string public_key;  // empty for project-scoped quotas
  std::string quota_id;
  uint64_t window_seconds = 1;
  std::vector<protocol::DataCategory> categories;
};

// The lease client's side of shared counting, implemented by
// relay/quota_redis.
class SharedQuotas {
 public:
  virtual ~SharedQuotas() = default;
  // A new counter to lease for. Called by the registry under its mutex, off
  // the request path; must not call back into the registry.
  virtual void Track(const std::shared_ptr<WindowCounter>& counter,
                     const CounterIdentity& identity) = 0;
  // Some counter raised its want flag. Any thread; lock-free and cheap (the
  // request path calls it at most once per slice and counter).
  virtual void Wake() = 0;
  // The slice a new counter starts with (its first credit).
  virtual uint64_t InitialSlice(uint64_t limit) const = 0;
};

// One quota's count in the current window. Thread-safe and lock-free.
class WindowCounter {
 public:
  // Adds `n` to the count of window `window` if the result stays within
  // `limit`; a counter still holding an older window starts from 0. True
  // when added. Marks the window as limited when it is (or now is) full.
  bool TryAdd(uint64_t window, uint64_t n, uint64_t limit);
  // Gives back `n` taken by TryAdd in `window` (nothing if the window has
  // moved on since).
  void GiveBack(uint64_t window, uint64_t n);
  // The count of `window` (0 if the counter holds another window).
  uint64_t Count(uint64_t window) const;
  // Whether `n` more would fit under `limit` in `window` right now (a
  // snapshot; TryAdd is the atomic version).
  bool Fits(uint64_t window, uint64_t n, uint64_t limit) const;
  // True when an item was refused in `window` because the counter was full:
  // later requests in that window may be refused before they are parsed.
  bool Limited(uint64_t window) const;

  // --- Shared mode. Share() is called once, before the counter is used.
  void Share(SharedQuotas* owner, uint64_t slice);
  bool shared() const { return owner_ != nullptr; }
  // What this relay may admit in `window`: the fallback budget when one is
  // set for it; the units leased for it when Redis found it full; else the
  // units leased plus a credit of one slice.
  uint64_t Budget(uint64_t window) const;
  // Units leased for `window` so far (0 when none).
  uint64_t Leased(uint64_t window) const;
  // Lease client: adds `units` leased for `window` (replacing what an older
  // window had). `full`: Redis had less than was asked, so the window is
  // full across relays and this relay admits no more than it holds.
  void Grant(uint64_t window, uint64_t units, bool full);
  // Lease client: Redis cannot answer; admit up to `budget` units locally
  // until `window` ends.
  void Fallback(uint64_t window, uint64_t budget);
  bool InFallback(uint64_t window) const;
  bool FullShared(uint64_t window) const;
  // Lease client: clears the want flag; true when it was set.
  bool TakeWanted();
  // The current slice (the credit beyond the leases, and the low-water mark:
  // a lease is wanted when less than half a slice of the leases is left).
  void SetSlice(uint64_t slice);
  uint64_t slice() const { return slice_.load(std::memory_order_relaxed); }
  // The largest single item seen (attachment bytes can exceed a slice).
  uint64_t largest_item() const {
    return largest_.load(std::memory_order_relaxed);
  }
  // The quota's current limit (set by every table build that uses it).
  void set_limit(uint64_t limit) {
    limit_.store(limit, std::memory_order_relaxed);
  }
  uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kCountBits = 40;
  static constexpr uint64_t kWindowMask = (uint64_t{1} << 24) - 1;
  // Budgets: bit 63 set when valid, the window's low 23 bits above the
  // units (40 bits).
  static constexpr uint64_t kValid = uint64_t{1} << 63;
  static constexpr uint64_t kBudgetTagMask = (uint64_t{1} << 23) - 1;
  // One read of the shared state for `window`: what may be admitted (at
  // most `limit`), the units leased, and whether a refusal at `cap` means
  // the window is full (fallback, full in Redis, or all of it leased)
  // rather than a lease still on its way.
  struct SharedCap {
    uint64_t cap;
    uint64_t leased;
    bool hard;
  };
  SharedCap Shared(uint64_t window, uint64_t limit) const;
  static uint64_t PackBudget(uint64_t window, uint64_t units);
  static bool BudgetFor(uint64_t packed, uint64_t window, uint64_t* units);
  void Want();

  std::atomic<uint64_t> state_{0};
  // window + 1 of the last window found full (0: none).
  std::atomic<uint64_t> limited_{0};

  SharedQuotas* owner_ = nullptr;
  std::atomic<uint64_t> granted_{0};   // packed budget
  std::atomic<uint64_t> fallback_{0};  // packed budget
  std::atomic<uint64_t> full_{0};      // window + 1 found full in Redis
  std::atomic<uint64_t> slice_{1};
  std::atomic<uint64_t> largest_{0};
  std::atomic<uint64_t> limit_{0};
  std::atomic<bool> wanted_{false};
};

// A quota ready for the request path: its config, a category mask, and the
// shared counter.
struct CompiledQuota {
  std::string id;
  uint32_t category_mask = 0;  // bit c set: covers DataCategory c; 0 = all
  bool counts_bytes = false;   // only attachment quotas count bytes
  uint64_t limit = 0;
  uint64_t window_seconds = 1;
  config::QuotaScope scope = config::QuotaScope::kProject;
  std::string reason_code;
  std::shared_ptr<WindowCounter> counter;

  bool Covers(protocol::DataCategory category) const;
  // Every category (the quota names none).
  bool CoversAll() const { return category_mask == 0; }
  uint64_t Window(absl::Time now) const;
  // Whole seconds until `now`'s window ends (at least 1).
  uint64_t SecondsLeft(absl::Time now) const;
};

// Hands out counters by quota identity. Used when tables are built, off the
// request path (one mutex); counters live as long as some table uses them.
class QuotaRegistry {
 public:
  QuotaRegistry() = default;
  // Shared counting: every counter handed out from now on is shared through
  // `shared` (which must outlive the registry's counters).
  explicit QuotaRegistry(SharedQuotas* shared) : shared_(shared) {}

  // The counter for `quota` of `project_id` (and `public_key` when the
  // quota is key-scoped; ignored otherwise): the one already in use by a
  // live table if its identity is unchanged, else a new one.
  std::shared_ptr<WindowCounter> Counter(uint64_t project_id,
                                         std::string_view public_key,
                                         const config::Quota& quota);
  // Counters currently alive (for tests and /metrics).
  size_t live_counters() const;

 private:
  SharedQuotas* const shared_ = nullptr;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::weak_ptr<WindowCounter>> counters_
      ABSL_GUARDED_BY(mu_);
  size_t builds_since_prune_ ABSL_GUARDED_BY(mu_) = 0;
};

// The quotas that apply to one DSN key: the defaults, its project's and its
// own, in that order.
std::vector<CompiledQuota> CompileKeyQuotas(
    QuotaRegistry& registry, uint64_t project_id, std::string_view public_key,
    const std::vector<config::Quota>& defaults,
    const std::vector<config::Quota>& project,
    const std::vector<config::Quota>& key);

// The answer for one item.
struct Decision {
  bool admitted = true;
  // When refused: the quotas that are full for this item (the first refused
  // it; the others would have), and the longest time until one of them
  // frees up.
  std::vector<const CompiledQuota*> limited_by;
  uint64_t retry_after_seconds = 0;
};

// Counts `quantity` units of `category` against every quota in `quotas`
// that covers it, all or nothing (see the top of the file). `*out` is
// overwritten. Lock-free; any thread.
void Admit(std::span<const CompiledQuota> quotas,
           protocol::DataCategory category, uint64_t quantity, absl::Time now,
           Decision* out);

// Gives back `quantity` units that Admit() counted for `category` (an item
// admitted, then not delivered: its Produce failed and the client will send
// it again).
void Release(std::span<const CompiledQuota> quotas,
             protocol::DataCategory category, uint64_t quantity,
             absl::Time now);

// Before any parsing: the quota among `quotas` that was found full in its
// current window and covers every category in `categories` (a quota naming
// no category covers all), or nullptr. A request whose items can only be of
// those categories can be refused at once.
const CompiledQuota* ActiveLimit(
    std::span<const CompiledQuota> quotas,
    std::span<const protocol::DataCategory> categories, absl::Time now);

}  // namespace tern::relay::quota

#endif  // TERN_RELAY_QUOTA_QUOTA_H_
