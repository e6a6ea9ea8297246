// The sender loop: one thread that claims due rows from the outbox, renders
// and delivers each (delivery.h), and records the outcome.
//
// A row is claimed with a lease (store.h ClaimOutbox): when the backend dies
// between the claim and FinishOutbox, the lease runs out and the row is
// claimed again, by this backend after a restart or by another one on the
// same PostgreSQL. So a crash after the server accepted a notification but
// before it was marked sent delivers it a second time, at most once per such
// crash; the mail carries the same Message-ID both times. Failures are
// retried with exponential backoff (alerts.initial_backoff doubling up to
// alerts.max_backoff) until alerts.max_attempts, then the row is failed.
#ifndef TERN_BACKEND_ALERTS_SENDER_H_
#define TERN_BACKEND_ALERTS_SENDER_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backend/alerts/delivery.h"
#include "backend/alerts/render.h"
#include "backend/alerts/stats.h"
#include "backend/storage/store.h"
#include "config/backend_config.h"

namespace tern::alerts {

// The Notification an outbox row stands for, read from the store (project,
// issue, rule; for a summary, the hour's suppressed rows). NotFound when its
// project or issue is gone (retention deleted it): nothing to say any more.
absl::StatusOr<Notification> LoadNotification(storage::Store* store,
                                              const storage::OutboxEntry& row,
                                              std::string_view base_url);

// Delivers `n` to `target` now: a mail through `smtp` or a webhook call.
// `message_key` makes the Message-ID ("tern.<key>@<from's domain>");
// `date_ms` dates the mail and the webhook body (triggeredAt).
absl::Status Deliver(const Target& target, const Notification& n,
                     const SmtpSettings& smtp, absl::Duration webhook_timeout,
                     std::string_view message_key, int64_t date_ms);

// The wait before attempt `attempts` + 1: initial * 2^(attempts - 1), at
// most `max`.
absl::Duration Backoff(int64_t attempts, absl::Duration initial,
                       absl::Duration max);

class Sender {
 public:
  // Resolves the mail password (an error names the setting) and starts the
  // thread. `store` and `stats` must outlive the sender.
  static absl::StatusOr<std::unique_ptr<Sender>> Start(
      const config::BackendConfig& config, storage::Store* store,
      AlertStats* stats);
  ~Sender();  // Stop()s
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Lets the delivery in hand finish, hands the rest of the claimed rows
  // back (pending, due now) and joins the thread. Idempotent.
  void Stop();

 private:
  Sender() = default;
  void Run();
  // One claimed row: deliver and record.
  void Handle(const storage::OutboxEntry& row);

  config::BackendAlertsConfig options_;
  SmtpSettings smtp_;
  storage::Store* store_ = nullptr;
  AlertStats* stats_ = nullptr;
  int64_t lease_ms_ = 0;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tern::alerts

#endif  // TERN_BACKEND_ALERTS_SENDER_H_
