#include "backend/alerts/sender.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "backend/alerts/engine.h"
#include "backend/api/format.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace tern::alerts {
namespace {

constexpr int kClaimBatch = 20;
constexpr int64_t kHourMs = 3600 * 1000;
constexpr size_t kSummaryIssues = 20;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

absl::Duration Backoff(int64_t attempts, absl::Duration initial,
                       absl::Duration max) {
  absl::Duration d = initial;
  for (int64_t i = 1; i < attempts && d < max; ++i) d *= 2;
  return std::min(d, max);
}

absl::StatusOr<Notification> LoadNotification(storage::Store* store,
                                              const storage::OutboxEntry& row,
                                              std::string_view base_url) {
  Notification n;
  n.trigger = row.trigger;
  TERN_ASSIGN_OR_RETURN(storage::Project project,
                        store->GetProject(row.project_id));
  n.project_slug = project.slug;
  n.rule_name = "(deleted rule)";
  if (absl::StatusOr<storage::AlertRule> r = store->GetAlertRule(row.rule_id);
      r.ok()) {
    if (absl::StatusOr<Rule> parsed = ParseRule(r->definition_json);
        parsed.ok()) {
      n.rule_name = parsed->name;
    }
  }
  if (row.trigger == "summary") {
    storage::OutboxQuery q;
    q.project_id = row.project_id;
    q.status = storage::OutboxStatus::kSuppressed;
    q.since_ms = row.next_attempt_ms - kHourMs;
    q.until_ms = row.next_attempt_ms;
    q.limit = 100;
    // The summary's own due time is its hour's end (engine.cc); a retry
    // moves next_attempt_ms, so the hour comes from the dedup key instead.
    const size_t a = row.dedup_key.find(':', 8);
    const size_t b =
        a == std::string::npos ? a : row.dedup_key.find(':', a + 1);
    if (b != std::string::npos) {
      int64_t hour_end = 0;
      if (absl::SimpleAtoi(row.dedup_key.substr(a + 1, b - a - 1), &hour_end)) {
        q.since_ms = hour_end - kHourMs;
        q.until_ms = hour_end;
      }
    }
    TERN_ASSIGN_OR_RETURN(std::vector<storage::OutboxEntry> held,
                          store->ListOutbox(q));
    absl::flat_hash_set<int64_t> issues;
    for (const storage::OutboxEntry& h : held) {
      if (h.rule_id != row.rule_id || h.target_index != row.target_index) {
        continue;
      }
      ++n.suppressed;
      if (!issues.insert(h.issue_id).second ||
          n.suppressed_issues.size() >= kSummaryIssues) {
        continue;
      }
      if (absl::StatusOr<storage::Issue> i = store->GetIssue(h.issue_id);
          i.ok()) {
        n.suppressed_issues.push_back(absl::StrCat(
            api::ShortId(project.slug, i->short_id), " ", i->fields.title));
      }
    }
    n.url = absl::StrCat(ToAbsl(base_url), "/projects/", project.slug, "/");
    return n;
  }
  TERN_ASSIGN_OR_RETURN(storage::Issue issue, store->GetIssue(row.issue_id));
  n.issue_id = issue.id;
  n.short_id = api::ShortId(project.slug, issue.short_id);
  n.title = issue.fields.title;
  n.culprit = issue.fields.culprit;
  n.level = issue.fields.level;
  n.status = std::string(storage::IssueStatusName(issue.status));
  n.count = issue.times_seen;
  n.first_seen_ms = issue.first_seen_ms;
  n.last_seen_ms = issue.last_seen_ms;
  n.event_id = row.event_id;
  n.url = absl::StrCat(ToAbsl(base_url), "/issues/", issue.id, "/");
  return n;
}

absl::Status Deliver(const Target& target, const Notification& n,
                     const SmtpSettings& smtp, absl::Duration webhook_timeout,
                     std::string_view message_key, int64_t now_ms) {
  if (target.kind == TargetKind::kEmail) {
    MailEnvelope env;
    env.from = smtp.from;
    env.to = target.to;
    const size_t at = smtp.from.find('@');
    env.message_id = absl::StrCat(
        "tern.", ToAbsl(message_key), "@",
        at == std::string::npos ? "localhost" : smtp.from.substr(at + 1));
    env.date_ms = now_ms;
    env.boundary = absl::StrCat("=_tern_", ToAbsl(message_key));
    return SendMail(smtp, target.to, BuildMimeMessage(env, RenderEmail(n)));
  }
  // The robots check their own signature against the time of the request
  // (DingTalk allows an hour, Feishu about as much), so theirs is made now;
  // X-Tern-Signature covers the exact body either way.
  const int64_t sent_ms = absl::ToUnixMillis(absl::Now());
  WebhookRequest req;
  req.url = target.url;
  std::string feishu_sign;
  if (!target.secret.empty() && target.kind == TargetKind::kDingtalk) {
    req.url = DingtalkSignedUrl(target.url, target.secret, sent_ms);
  }
  if (!target.secret.empty() && target.kind == TargetKind::kFeishu) {
    feishu_sign = FeishuSign(target.secret, sent_ms / 1000);
  }
  req.body = RenderWebhookBody(target.kind, n, now_ms, feishu_sign);
  req.secret = target.secret;
  req.timeout = webhook_timeout;
  return PostWebhook(req);
}

absl::StatusOr<std::unique_ptr<Sender>> Sender::Start(
    const config::BackendConfig& config, storage::Store* store,
    AlertStats* stats) {
  std::unique_ptr<Sender> s(new Sender());
  s->options_ = config.alerts;
  TERN_ASSIGN_OR_RETURN(s->smtp_, ResolveMailSettings(config.mail));
  s->store_ = store;
  s->stats_ = stats;
  // Longer than one attempt can take, so a live sender never loses its
  // claim; short enough that a crashed one's rows come back soon.
  s->lease_ms_ = 2 * absl::ToInt64Milliseconds(std::max(
                         config.mail.timeout, config.alerts.webhook_timeout)) +
                 5000;
  InitDelivery();
  Sender* raw = s.get();
  s->thread_ = std::thread([raw] { raw->Run(); });
  return s;
}

Sender::~Sender() { Stop(); }

void Sender::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Sender::Handle(const storage::OutboxEntry& row) {
  const int64_t now = NowMs();
  absl::StatusOr<Target> target = ParseTargetJson(row.target_json);
  absl::Status result;
  bool permanent = false;
  size_t kind = KindIndex(TargetKind::kEmail);
  if (!target.ok()) {
    result = target.status();
    permanent = true;
  } else {
    kind = KindIndex(target->kind);
    absl::StatusOr<Notification> n =
        LoadNotification(store_, row, options_.base_url);
    if (!n.ok()) {
      result = n.status();
      // A vanished issue or project will not come back; a store hiccup
      // might.
      permanent = absl::IsNotFound(n.status());
    } else {
      // Dated when the alert fired, so every attempt sends the same bytes.
      result =
          Deliver(*target, *n, smtp_, options_.webhook_timeout,
                  absl::StrCat(row.id, ".", row.created_ms), row.created_ms);
      permanent = absl::IsInvalidArgument(result);
    }
  }
  absl::Status recorded;
  if (result.ok()) {
    ++stats_->sent[kind];
    recorded = store_->FinishOutbox(row.id, storage::OutboxStatus::kSent,
                                    row.next_attempt_ms, "");
    spdlog::info("alerts: sent notification {} ({} {}, issue {}, attempt {})",
                 row.id, row.trigger, row.target_kind, row.issue_id,
                 row.attempts);
  } else if (permanent ||
             row.attempts >= static_cast<int64_t>(options_.max_attempts)) {
    ++stats_->failed[kind];
    recorded = store_->FinishOutbox(row.id, storage::OutboxStatus::kFailed,
                                    row.next_attempt_ms,
                                    std::string(result.message()));
    spdlog::error("alerts: notification {} failed after {} attempt(s): {}",
                  row.id, row.attempts, std::string(result.message()));
  } else {
    ++stats_->retried[kind];
    const absl::Duration wait =
        Backoff(row.attempts, options_.initial_backoff, options_.max_backoff);
    recorded = store_->FinishOutbox(row.id, storage::OutboxStatus::kPending,
                                    now + absl::ToInt64Milliseconds(wait),
                                    std::string(result.message()));
    spdlog::warn(
        "alerts: notification {} attempt {} failed, retrying in {}: {}", row.id,
        row.attempts, absl::FormatDuration(wait),
        std::string(result.message()));
  }
  if (!recorded.ok()) {
    // The claim's lease runs out and the row is tried again.
    spdlog::error("alerts: cannot record notification {}: {}", row.id,
                  std::string(recorded.message()));
  }
}

void Sender::Run() {
  const auto poll = absl::ToChronoMilliseconds(options_.poll_interval);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const int64_t now = NowMs();
    absl::StatusOr<std::vector<storage::OutboxEntry>> rows =
        store_->ClaimOutbox(now, lease_ms_, kClaimBatch);
    size_t claimed = 0;
    if (!rows.ok()) {
      spdlog::warn("alerts: cannot read the outbox: {}",
                   std::string(rows.status().message()));
    } else {
      claimed = rows->size();
      for (size_t i = 0; i < rows->size(); ++i) {
        bool stop;
        {
          std::lock_guard<std::mutex> g(mu_);
          stop = stopping_;
        }
        if (stop) {
          // Not attempted: due again at once, for the next start.
          const storage::OutboxEntry& r = (*rows)[i];
          (void)store_->FinishOutbox(r.id, storage::OutboxStatus::kPending, now,
                                     r.last_error);
          continue;
        }
        Handle((*rows)[i]);
      }
    }
    if (absl::StatusOr<storage::OutboxDepth> d = store_->GetOutboxDepth();
        d.ok()) {
      stats_->outbox_depth = d->depth;
      stats_->outbox_oldest_age_ms =
          d->depth == 0 ? 0
                        : std::max<int64_t>(0, NowMs() - d->oldest_created_ms);
    }
    lock.lock();
    if (claimed < static_cast<size_t>(kClaimBatch)) {
      wake_.wait_for(lock, poll, [this] { return stopping_; });
    }
  }
}

}  // namespace tern::alerts
