// Rule evaluation: the AlertPlanner the store runs inside every batch's
// transaction (storage/store.h). It turns the batch's issue activity (issue
// created, reopened, events counted) into outbox rows, so a notification is
// queued if and only if the batch that caused it commits.
//
// Cost on the ingest path: one indexed read of the rules per project in the
// batch; for each touched issue and frequency rule one bounded count of its
// recent events; for a rule that fires, one read for its cooldown and (once
// per project and batch) one for the hourly cap. Nothing is sent here: the
// sender (sender.h) delivers from the outbox on its own thread.
//
// What is kept where, so that several backends and restarts agree: the
// cooldown and the cap are read from the outbox itself, frequency windows
// from the events table; the engine keeps only parsed rules (a cache keyed by
// the rule's update time).
#ifndef TERN_BACKEND_ALERTS_ENGINE_H_
#define TERN_BACKEND_ALERTS_ENGINE_H_

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "backend/alerts/rule.h"
#include "backend/alerts/stats.h"
#include "backend/storage/store.h"

namespace tern::alerts {

struct EngineOptions {
  absl::Duration default_cooldown = absl::Minutes(30);
  int default_min_level = 3;  // LevelRank("error")
  int64_t project_hourly_cap = 60;
  // The clock (unix ms); tests set their own.
  std::function<int64_t()> now_ms;
};

class Engine final : public storage::AlertPlanner {
 public:
  // `stats` (may be null) must outlive the engine.
  explicit Engine(EngineOptions options, AlertStats* stats = nullptr);

  // storage::AlertPlanner. Rows come out in rule order then target order.
  // Only store errors are returned; a stored rule that no longer parses
  // (written by a newer version) is skipped.
  absl::StatusOr<std::vector<storage::OutboxEntry>> Plan(
      std::span<const storage::IssueActivity> activity,
      storage::AlertReader& reader) override;

 private:
  // The parsed form of a stored rule, nullptr when it does not parse.
  const Rule* Parsed(const storage::AlertRule& stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  EngineOptions options_;
  AlertStats* stats_;
  absl::Mutex mu_;
  struct Cached {
    int64_t updated_ms = 0;
    std::string definition;
    std::optional<Rule> rule;
  };
  // Node-based: Plan holds pointers to parsed rules while it adds others.
  absl::node_hash_map<int64_t, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

// The end of the cap's hour that `now_ms` falls in (when a summary is due).
int64_t HourEndMs(int64_t now_ms);

}  // namespace tern::alerts

#endif  // TERN_BACKEND_ALERTS_ENGINE_H_
