// The alert stage's counters for /metrics: notifications queued, sent,
// failed and retried per target kind, those suppressed by the hourly cap,
// and the outbox's depth and oldest age as last seen by the sender.
#ifndef TERN_BACKEND_ALERTS_STATS_H_
#define TERN_BACKEND_ALERTS_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "backend/alerts/rule.h"

namespace tern::alerts {

inline constexpr size_t kTargetKinds = 5;

struct AlertStats {
  using PerKind = std::array<std::atomic<int64_t>, kTargetKinds>;
  // Queued counts rows planned inside a batch's transaction; a batch that
  // then fails and is retried counts them again (dedup keys keep the rows
  // themselves single).
  PerKind queued{};
  PerKind sent{};
  PerKind failed{};
  PerKind retried{};
  std::atomic<int64_t> suppressed{0};
  std::atomic<int64_t> outbox_depth{0};
  std::atomic<int64_t> outbox_oldest_age_ms{0};
};

inline size_t KindIndex(TargetKind kind) { return static_cast<size_t>(kind); }

}  // namespace tern::alerts

#endif  // TERN_BACKEND_ALERTS_STATS_H_
