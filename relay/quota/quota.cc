#include "relay/quota/quota.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tern::relay::quota {

namespace {

// Whether `n` more fit on top of `count` under `limit` (limits above
// kMaxCount count as kMaxCount).
bool FitsOn(uint64_t count, uint64_t n, uint64_t limit) {
  limit = std::min(limit, kMaxCount);
  return n <= limit - std::min(count, limit);
}

}  // namespace

bool WindowCounter::TryAdd(uint64_t window, uint64_t n, uint64_t limit) {
  limit = std::min(limit, kMaxCount);
  // What this relay may admit: the limit, or less when shared. `hard`: a
  // refusal at `cap` means the window is full (locally or across relays),
  // not that the next lease has yet to arrive.
  SharedCap s{limit, 0, true};
  if (owner_ != nullptr) {
    if (n > largest_.load(std::memory_order_relaxed)) {
      largest_.store(n, std::memory_order_relaxed);
    }
    s = Shared(window, limit);
    // The window's first item: ask for its first lease at once.
    if (!s.hard && s.leased == 0) Want();
  }
  const uint64_t cap = s.cap;
  const bool hard = s.hard;
  const uint64_t tag = window & kWindowMask;
  uint64_t old = state_.load(std::memory_order_relaxed);
  while (true) {
    const uint64_t count =
        (old >> kCountBits) == tag ? old & kMaxCount : uint64_t{0};
    if (!FitsOn(count, n, cap)) {
      // Full for this item. Remember the window as limited only when no
      // further unit fits: a large attachment refused by a byte quota that
      // still has room must not shut out small ones.
      if (count >= cap && hard) {
        limited_.store(window + 1, std::memory_order_relaxed);
      }
      if (!hard) Want();
      return false;
    }
    const uint64_t next = (tag << kCountBits) | (count + n);
    if (state_.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
      if (count + n >= cap && hard) {
        limited_.store(window + 1, std::memory_order_relaxed);
      }
      // Less than half a slice of the lease left: lease the next slice
      // before the lease and the slice of credit beyond it run out.
      if (!hard && 2 * (s.leased - std::min(s.leased, count + n)) < slice()) {
        Want();
      }
      return true;
    }
  }
}

void WindowCounter::Want() {
  if (!wanted_.load(std::memory_order_relaxed) &&
      !wanted_.exchange(true, std::memory_order_acq_rel)) {
    owner_->Wake();
  }
}

bool WindowCounter::TakeWanted() {
  return wanted_.load(std::memory_order_relaxed) &&
         wanted_.exchange(false, std::memory_order_acq_rel);
}

void WindowCounter::Share(SharedQuotas* owner, uint64_t slice) {
  owner_ = owner;
  SetSlice(slice);
}

void WindowCounter::SetSlice(uint64_t slice) {
  slice_.store(std::clamp<uint64_t>(slice, 1, kMaxCount),
               std::memory_order_relaxed);
}

uint64_t WindowCounter::PackBudget(uint64_t window, uint64_t units) {
  return kValid | ((window & kBudgetTagMask) << kCountBits) |
         std::min(units, kMaxCount);
}

bool WindowCounter::BudgetFor(uint64_t packed, uint64_t window,
                              uint64_t* units) {
  if ((packed & kValid) == 0 ||
      ((packed >> kCountBits) & kBudgetTagMask) != (window & kBudgetTagMask)) {
    return false;
  }
  *units = packed & kMaxCount;
  return true;
}

WindowCounter::SharedCap WindowCounter::Shared(uint64_t window,
                                               uint64_t limit) const {
  uint64_t fallback = 0;
  uint64_t leased = 0;
  const bool in_fallback =
      BudgetFor(fallback_.load(std::memory_order_relaxed), window, &fallback);
  BudgetFor(granted_.load(std::memory_order_relaxed), window, &leased);
  const bool full = FullShared(window);
  // One slice of credit beyond the leases: a lease that is late (or the
  // window's first, on its way) refuses nothing; the next lease asks for
  // what the credit admitted on top of its slice.
  const uint64_t budget = in_fallback ? fallback
                          : full      ? leased
                                      : std::min(leased + slice(), kMaxCount);
  return {std::min(limit, budget), leased,
          in_fallback || full || leased >= limit};
}

uint64_t WindowCounter::Budget(uint64_t window) const {
  return Shared(window, kMaxCount).cap;
}

uint64_t WindowCounter::Leased(uint64_t window) const {
  uint64_t units = 0;
  BudgetFor(granted_.load(std::memory_order_relaxed), window, &units);
  return units;
}

void WindowCounter::Grant(uint64_t window, uint64_t units, bool full) {
  uint64_t old = granted_.load(std::memory_order_relaxed);
  while (true) {
    uint64_t have = 0;
    BudgetFor(old, window, &have);
    const uint64_t next = PackBudget(window, have + std::min(units, kMaxCount));
    if (granted_.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
      break;
    }
  }
  if (full) full_.store(window + 1, std::memory_order_relaxed);
  // A refusal while the lease was on its way marked nothing (not hard), so
  // there is no limited flag to clear; a full window will be marked by the
  // next item that does not fit.
}

void WindowCounter::Fallback(uint64_t window, uint64_t budget) {
  fallback_.store(PackBudget(window, budget), std::memory_order_relaxed);
}

bool WindowCounter::InFallback(uint64_t window) const {
  uint64_t units = 0;
  return BudgetFor(fallback_.load(std::memory_order_relaxed), window, &units);
}

bool WindowCounter::FullShared(uint64_t window) const {
  return full_.load(std::memory_order_relaxed) == window + 1;
}

void WindowCounter::GiveBack(uint64_t window, uint64_t n) {
  const uint64_t tag = window & kWindowMask;
  uint64_t old = state_.load(std::memory_order_relaxed);
  while ((old >> kCountBits) == tag) {
    const uint64_t count = old & kMaxCount;
    const uint64_t next = (tag << kCountBits) | (count - std::min(count, n));
    if (state_.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
      // The window has room again.
      if (limited_.load(std::memory_order_relaxed) == window + 1) {
        limited_.store(0, std::memory_order_relaxed);
      }
      return;
    }
  }
}

uint64_t WindowCounter::Count(uint64_t window) const {
  const uint64_t v = state_.load(std::memory_order_relaxed);
  return (v >> kCountBits) == (window & kWindowMask) ? v & kMaxCount : 0;
}

bool WindowCounter::Fits(uint64_t window, uint64_t n, uint64_t limit) const {
  return FitsOn(Count(window), n, limit);
}

bool WindowCounter::Limited(uint64_t window) const {
  return limited_.load(std::memory_order_relaxed) == window + 1;
}

bool CompiledQuota::Covers(protocol::DataCategory category) const {
  const auto c = static_cast<uint32_t>(category);
  return category_mask == 0 || (c < 32 && (category_mask >> c) & 1);
}

uint64_t CompiledQuota::Window(absl::Time now) const {
  const int64_t s = absl::ToUnixSeconds(now);
  return s <= 0 ? 0 : static_cast<uint64_t>(s) / window_seconds;
}

uint64_t CompiledQuota::SecondsLeft(absl::Time now) const {
  const int64_t s = std::max<int64_t>(absl::ToUnixSeconds(now), 0);
  const uint64_t end = (Window(now) + 1) * window_seconds;
  return std::max<uint64_t>(end - static_cast<uint64_t>(s), 1);
}

std::shared_ptr<WindowCounter> QuotaRegistry::Counter(
    uint64_t project_id, std::string_view public_key,
    const config::Quota& quota) {
  std::string id = absl::StrCat(
      project_id, "|",
      quota.scope == config::QuotaScope::kKey ? ToAbsl(public_key) : "", "|",
      quota.id, "|", quota.window_seconds, "|");
  for (protocol::DataCategory c : quota.categories) {
    absl::StrAppend(&id, static_cast<int>(c), ",");
  }
  absl::MutexLock lock(&mu_);
  // Drop the entries of counters no table uses any more, now and then.
  if (++builds_since_prune_ >= 1024) {
    builds_since_prune_ = 0;
    absl::erase_if(counters_,
                   [](const auto& kv) { return kv.second.expired(); });
  }
  std::weak_ptr<WindowCounter>& slot = counters_[id];
  std::shared_ptr<WindowCounter> counter = slot.lock();
  if (counter == nullptr) {
    counter = std::make_shared<WindowCounter>();
    if (shared_ != nullptr) {
      counter->Share(shared_, shared_->InitialSlice(quota.limit));
      CounterIdentity identity;
      identity.project_id = project_id;
      if (quota.scope == config::QuotaScope::kKey) {
        identity.public_key = std::string(public_key);
      }
      identity.quota_id = quota.id;
      identity.window_seconds = std::max<uint64_t>(quota.window_seconds, 1);
      identity.categories = quota.categories;
      shared_->Track(counter, identity);
    }
    slot = counter;
  }
  counter->set_limit(quota.limit);
  return counter;
}

size_t QuotaRegistry::live_counters() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [id, weak] : counters_) n += weak.expired() ? 0 : 1;
  return n;
}

std::vector<CompiledQuota> CompileKeyQuotas(
    QuotaRegistry& registry, uint64_t project_id, std::string_view public_key,
    const std::vector<config::Quota>& defaults,
    const std::vector<config::Quota>& project,
    const std::vector<config::Quota>& key) {
  std::vector<CompiledQuota> out;
  out.reserve(defaults.size() + project.size() + key.size());
  for (const auto* list : {&defaults, &project, &key}) {
    for (const config::Quota& q : *list) {
      CompiledQuota c;
      c.id = q.id;
      for (protocol::DataCategory cat : q.categories) {
        const auto bit = static_cast<uint32_t>(cat);
        if (bit < 32) c.category_mask |= uint32_t{1} << bit;
      }
      c.counts_bytes =
          c.category_mask == (uint32_t{1} << static_cast<uint32_t>(
                                  protocol::DataCategory::kAttachment));
      c.limit = q.limit;
      c.window_seconds = std::max<uint64_t>(q.window_seconds, 1);
      c.scope = q.scope;
      c.reason_code = q.reason_code;
      c.counter = registry.Counter(project_id, public_key, q);
      out.push_back(std::move(c));
    }
  }
  return out;
}

void Admit(std::span<const CompiledQuota> quotas,
           protocol::DataCategory category, uint64_t quantity, absl::Time now,
           Decision* out) {
  out->admitted = true;
  out->limited_by.clear();
  out->retry_after_seconds = 0;
  size_t taken = 0;
  for (; taken < quotas.size(); ++taken) {
    const CompiledQuota& q = quotas[taken];
    if (!q.Covers(category)) continue;
    if (!q.counter->TryAdd(q.Window(now), quantity, q.limit)) break;
  }
  if (taken == quotas.size()) return;
  // Refused by quotas[taken]: give back what the earlier ones took, and
  // name every quota that is full for this item (for Retry-After and the
  // rate-limit header).
  out->admitted = false;
  for (size_t i = 0; i < taken; ++i) {
    const CompiledQuota& q = quotas[i];
    if (q.Covers(category)) q.counter->GiveBack(q.Window(now), quantity);
  }
  for (size_t i = taken; i < quotas.size(); ++i) {
    const CompiledQuota& q = quotas[i];
    if (!q.Covers(category)) continue;
    if (i == taken || !q.counter->Fits(q.Window(now), quantity, q.limit)) {
      out->limited_by.push_back(&q);
      out->retry_after_seconds =
          std::max(out->retry_after_seconds, q.SecondsLeft(now));
    }
  }
}

void Release(std::span<const CompiledQuota> quotas,
             protocol::DataCategory category, uint64_t quantity,
             absl::Time now) {
  for (const CompiledQuota& q : quotas) {
    if (q.Covers(category)) q.counter->GiveBack(q.Window(now), quantity);
  }
}

const CompiledQuota* ActiveLimit(
    std::span<const CompiledQuota> quotas,
    std::span<const protocol::DataCategory> categories, absl::Time now) {
  for (const CompiledQuota& q : quotas) {
    if (!q.counter->Limited(q.Window(now))) continue;
    bool covers_all = true;
    for (protocol::DataCategory c : categories) covers_all &= q.Covers(c);
    if (covers_all && !categories.empty()) return &q;
    if (q.CoversAll()) return &q;
  }
  return nullptr;
}

}  // namespace tern::relay::quota
