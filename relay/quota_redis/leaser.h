// The lease client of shared quotas: one per relay, on the control loop,
// talking to Redis through hiredis's asynchronous API and its libuv adapter.
//
// Workers never wait for it. A counter that runs low raises its want flag
// and calls Wake() (a uv_async_send); the control loop then runs one lease
// script per wanting counter (at most one in flight each) and adds the grant
// to the counter's budget. A lease that fails, is refused by a broken
// connection or takes longer than `timeout` switches that counter to the
// configured fallback until its window ends; the next window tries Redis
// again. Without a connection the client reconnects every second.
#ifndef TERN_RELAY_QUOTA_REDIS_LEASER_H_
#define TERN_RELAY_QUOTA_REDIS_LEASER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/relay_config.h"
#include "net/timer.h"
#include "net/worker.h"
#include "relay/quota/quota.h"
#include "relay/quota_redis/lease.h"

struct redisAsyncContext;
struct uv_async_s;

namespace tern::relay::quota_redis {

// Bounds of the lease latency histogram, in milliseconds.
inline constexpr std::array<double, 10> kLatencyBucketsMs = {
    0.25, 0.5, 1, 2, 5, 10, 25, 100, 250, 1000};

// For /metrics; written on the control loop, read from any thread.
struct LeaserCounters {
  std::atomic<uint64_t> leases_requested{0};
  std::atomic<uint64_t> leases_granted{0};  // some units granted
  std::atomic<uint64_t> leases_denied{0};   // less than asked: window full
  std::atomic<uint64_t> units_granted{0};
  // Lease round trips: counts per bucket of kLatencyBucketsMs (not
  // cumulative; the last is above every bound), and their sum.
  std::array<std::atomic<uint64_t>, 11> reply_buckets{};
  std::atomic<uint64_t> reply_micros{0};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> connect_errors{0};
  std::atomic<uint64_t> disconnects{0};
  std::atomic<uint64_t> setup_errors{0};  // AUTH or SELECT refused
  std::atomic<uint64_t> timeouts{0};
  std::array<std::atomic<uint64_t>, kReplyProblems> reply_problems{};
  std::atomic<uint64_t> fallback_windows{0};  // counters x windows
  std::atomic<uint64_t> fallback_active{0};   // gauge, counters now
  std::atomic<uint64_t> connected{0};         // gauge, 0 or 1
  std::atomic<uint64_t> tracked{0};           // gauge, counters
};

class RedisLeaser final : public quota::SharedQuotas {
 public:
  // `control` must outlive the leaser; the leaser's handles close in the
  // control worker's stop hooks.
  RedisLeaser(config::RedisQuotaConfig config, net::Worker* control);
  ~RedisLeaser() override;
  RedisLeaser(const RedisLeaser&) = delete;
  RedisLeaser& operator=(const RedisLeaser&) = delete;

  // Sets up the wake handle and the timer and starts connecting. Call
  // before `control` starts (or on its loop). The relay serves whether or
  // not Redis answers.
  absl::Status Start();

  void Track(const std::shared_ptr<quota::WindowCounter>& counter,
             const quota::CounterIdentity& identity) override;
  void Wake() override;
  uint64_t InitialSlice(uint64_t limit) const override;

  const LeaserCounters& counters() const { return counters_; }

 private:
  struct Tracked;
  static void OnConnect(const redisAsyncContext* ac, int status);
  static void OnDisconnect(const redisAsyncContext* ac, int status);
  static void OnSetupReply(redisAsyncContext* ac, void* reply, void* priv);
  static void OnLeaseReply(redisAsyncContext* ac, void* reply, void* priv);
  static void OnAsync(uv_async_s* handle);

  void Connect();
  void DropConnection();
  void AdoptNew();
  void ScanAll(bool wakeup);
  void Process(Tracked& t, absl::Time now);
  void EnterFallback(Tracked& t, quota::WindowCounter& c, uint64_t window,
                     std::string_view why);
  void LogOncePerMinute(std::string_view what, const std::string& detail);

  const config::RedisQuotaConfig config_;
  net::Worker* const control_;
  LeaserCounters counters_;
  std::unique_ptr<uv_async_s> async_;
  std::unique_ptr<net::Timer> timer_;
  std::atomic<bool> wake_ready_{false};  // async_ is open
  bool stopping_ = false;                // loop thread

  // Loop thread only.
  redisAsyncContext* ctx_ = nullptr;
  bool connected_ = false;
  absl::Time next_connect_ = absl::InfinitePast();
  absl::Time connect_started_ = absl::InfinitePast();
  std::vector<std::unique_ptr<Tracked>> tracked_;
  absl::Time last_log_ = absl::InfinitePast();
  uint64_t suppressed_logs_ = 0;

  absl::Mutex mu_;  // new counters from table builds (any thread)
  std::vector<std::unique_ptr<Tracked>> incoming_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tern::relay::quota_redis

#endif  // TERN_RELAY_QUOTA_REDIS_LEASER_H_
