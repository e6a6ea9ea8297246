#include "backend/alerts/engine.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace tern::alerts {
namespace {

constexpr int64_t kHourMs = 3600 * 1000;

bool Matches(const Rule& rule, const storage::IssueActivity& a,
             int default_min_level) {
  if (LevelRank(a.level) < rule.min_level.value_or(default_min_level)) {
    return false;
  }
  if (!rule.environment.empty() && rule.environment != a.environment) {
    return false;
  }
  if (!rule.release_glob.empty() && !GlobMatch(rule.release_glob, a.release)) {
    return false;
  }
  return true;
}

}  // namespace

int64_t HourEndMs(int64_t now_ms) { return (now_ms / kHourMs + 1) * kHourMs; }

Engine::Engine(EngineOptions options, AlertStats* stats)
    : options_(std::move(options)), stats_(stats) {
  if (!options_.now_ms) {
    options_.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
  }
}

const Rule* Engine::Parsed(const storage::AlertRule& stored) {
  Cached& c = cache_[stored.id];
  if (c.updated_ms != stored.updated_ms || c.definition.empty() ||
      c.definition != stored.definition_json) {
    c.updated_ms = stored.updated_ms;
    c.definition = stored.definition_json;
    absl::StatusOr<Rule> r = ParseRule(stored.definition_json);
    c.rule = r.ok() ? std::optional<Rule>(*std::move(r)) : std::nullopt;
  }
  return c.rule ? &*c.rule : nullptr;
}

absl::StatusOr<std::vector<storage::OutboxEntry>> Engine::Plan(
    std::span<const storage::IssueActivity> activity,
    storage::AlertReader& reader) {
  absl::MutexLock lock(&mu_);
  const int64_t now = options_.now_ms();
  std::vector<storage::OutboxEntry> out;

  // Per project, in the order the batch names them.
  std::vector<int64_t> projects;
  for (const storage::IssueActivity& a : activity) {
    bool seen = false;
    for (int64_t p : projects) seen = seen || p == a.project_id;
    if (!seen) projects.push_back(a.project_id);
  }
  for (int64_t project : projects) {
    TERN_ASSIGN_OR_RETURN(std::vector<storage::AlertRule> stored,
                          reader.Rules(project));
    std::vector<std::pair<int64_t, const Rule*>> rules;
    for (const storage::AlertRule& s : stored) {
      const Rule* r = Parsed(s);
      if (r != nullptr && r->enabled) rules.emplace_back(s.id, r);
    }
    if (rules.empty()) continue;
    std::optional<int64_t> notified;  // this hour, read on the first firing
    absl::flat_hash_set<std::string> summaries;

    for (const storage::IssueActivity& a : activity) {
      if (a.project_id != project) continue;
      for (const auto& [rule_id, rule] : rules) {
        if (!Matches(*rule, a, options_.default_min_level)) continue;
        const absl::Duration cooldown =
            rule->cooldown.value_or(options_.default_cooldown);
        const int64_t cooldown_ms = absl::ToInt64Milliseconds(cooldown);
        std::string window;
        switch (rule->trigger) {
          case Trigger::kNewIssue:
            if (!a.created) continue;
            window = "new";
            break;
          case Trigger::kRegression:
            if (!a.regressed) continue;
            window = absl::StrCat("reg:", a.event_id);
            break;
          case Trigger::kFrequency: {
            const int64_t span_ms =
                absl::ToInt64Milliseconds(rule->frequency_window);
            const int64_t since = a.last_received_ms - span_ms + 1;
            TERN_ASSIGN_OR_RETURN(
                int64_t count,
                rule->frequency_users
                    ? reader.CountIssueUsers(a.issue_id, since,
                                             rule->frequency_count + 1)
                    : reader.CountIssueEvents(a.issue_id, since,
                                              rule->frequency_count + 1));
            if (count <= rule->frequency_count) continue;
            // Two backends crossing the threshold in the same cooldown
            // period build the same key, so only one row is kept.
            window = cooldown_ms > 0 ? absl::StrCat("freq:", now / cooldown_ms)
                                     : absl::StrCat("freq:", a.event_id);
            break;
          }
        }
        if (rule->trigger != Trigger::kNewIssue && cooldown_ms > 0) {
          TERN_ASSIGN_OR_RETURN(std::optional<int64_t> last,
                                reader.LastNotified(rule_id, a.issue_id));
          if (last && now - *last < cooldown_ms) continue;
        }
        if (!notified) {
          TERN_ASSIGN_OR_RETURN(int64_t n,
                                reader.CountNotified(project, now - kHourMs));
          notified = n;
        }
        const bool suppressed = *notified >= options_.project_hourly_cap;
        if (!suppressed) ++*notified;
        if (suppressed && stats_ != nullptr) ++stats_->suppressed;
        for (size_t i = 0; i < rule->targets.size(); ++i) {
          const Target& t = rule->targets[i];
          storage::OutboxEntry e;
          e.project_id = project;
          e.rule_id = rule_id;
          e.issue_id = a.issue_id;
          e.dedup_key =
              absl::StrCat(rule_id, ":", a.issue_id, ":", window, ":", i);
          e.trigger = std::string(TriggerName(rule->trigger));
          e.target_kind = std::string(TargetKindName(t.kind));
          e.target_json = TargetJson(t);
          e.target_index = static_cast<int64_t>(i);
          e.event_id = a.event_id;
          e.status = suppressed ? storage::OutboxStatus::kSuppressed
                                : storage::OutboxStatus::kPending;
          e.next_attempt_ms = now;
          e.created_ms = now;
          out.push_back(e);
          if (!suppressed) {
            if (stats_ != nullptr) ++stats_->queued[KindIndex(t.kind)];
            continue;
          }
          // One summary per rule, target and hour, sent when the hour ends;
          // the sender counts the hour's suppressed rows then.
          const int64_t hour_end = HourEndMs(now);
          storage::OutboxEntry s = e;
          s.issue_id = 0;
          s.dedup_key =
              absl::StrCat("summary:", rule_id, ":", hour_end, ":", i);
          if (!summaries.insert(s.dedup_key).second) continue;
          s.trigger = "summary";
          s.event_id.clear();
          s.status = storage::OutboxStatus::kPending;
          s.next_attempt_ms = hour_end;
          out.push_back(std::move(s));
        }
      }
    }
  }
  return out;
}

}  // namespace tern::alerts
