#include "relay/quota_redis/leaser.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

// hiredis's libuv adapter is a header of C functions written for C
// compilers; keep its casts out of our warnings.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <hiredis/adapters/libuv.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace tern::relay::quota_redis {

// What the loop keeps per shared counter.
struct RedisLeaser::Tracked {
  std::weak_ptr<quota::WindowCounter> counter;
  quota::CounterIdentity identity;
  bool in_flight = false;
  absl::Time sent_at;
  uint64_t sent_window = 0;
  uint64_t wanted = 0;
  // Rate estimate: the count at a sample time within one window.
  uint64_t sample_window = 0;
  uint64_t sample_count = 0;
  absl::Time sample_at = absl::InfinitePast();
  double rate = -1;  // units per second, smoothed; -1 until measured
};

namespace {

constexpr uint64_t kTickMs = 25;
constexpr absl::Duration kReconnectEvery = absl::Seconds(1);

uint64_t WindowOf(absl::Time now, uint64_t window_seconds) {
  const int64_t s = absl::ToUnixSeconds(now);
  return s <= 0 ? 0 : static_cast<uint64_t>(s) / window_seconds;
}

}  // namespace

RedisLeaser::RedisLeaser(config::RedisQuotaConfig config, net::Worker* control)
    : config_(std::move(config)), control_(control) {}

RedisLeaser::~RedisLeaser() = default;

absl::Status RedisLeaser::Start() {
  async_ = std::make_unique<uv_async_t>();
  if (int rc = uv_async_init(control_->loop(), async_.get(), &OnAsync);
      rc != 0) {
    return absl::InternalError(
        absl::StrCat("uv_async_init: ", uv_strerror(rc)));
  }
  async_->data = this;
  wake_ready_.store(true, std::memory_order_release);
  timer_ = std::make_unique<net::Timer>(control_);
  timer_->Start(0, kTickMs, [this] { ScanAll(false); });
  control_->AddStopHook([this] {
    stopping_ = true;
    wake_ready_.store(false, std::memory_order_release);
    uv_close(reinterpret_cast<uv_handle_t*>(async_.get()), nullptr);
    if (ctx_ != nullptr) {
      // Runs the pending callbacks with no reply (they see stopping_) and
      // closes the adapter's poll handle on this loop.
      redisAsyncContext* ctx = ctx_;
      ctx_ = nullptr;
      redisAsyncFree(ctx);
    }
  });
  return absl::OkStatus();
}

void RedisLeaser::Track(const std::shared_ptr<quota::WindowCounter>& counter,
                        const quota::CounterIdentity& identity) {
  auto t = std::make_unique<Tracked>();
  t->counter = counter;
  t->identity = identity;
  absl::MutexLock lock(&mu_);
  incoming_.push_back(std::move(t));
}

void RedisLeaser::Wake() {
  if (wake_ready_.load(std::memory_order_acquire)) uv_async_send(async_.get());
}

uint64_t RedisLeaser::InitialSlice(uint64_t limit) const {
  return MaxSlice(limit, config_.expected_relays);
}

void RedisLeaser::OnAsync(uv_async_t* handle) {
  static_cast<RedisLeaser*>(handle->data)->ScanAll(true);
}

void RedisLeaser::AdoptNew() {
  std::vector<std::unique_ptr<Tracked>> fresh;
  {
    absl::MutexLock lock(&mu_);
    fresh.swap(incoming_);
  }
  for (auto& t : fresh) tracked_.push_back(std::move(t));
}

void RedisLeaser::ScanAll(bool wakeup) {
  if (stopping_) return;
  AdoptNew();
  const absl::Time now = absl::Now();
  if (!wakeup) {
    if (ctx_ == nullptr && now >= next_connect_) {
      next_connect_ = now + kReconnectEvery;
      connect_started_ = now;
      Connect();
    } else if (ctx_ != nullptr && !connected_ &&
               now - connect_started_ > kReconnectEvery) {
      // A refused connect can leave the context waiting for ever: libuv
      // reports the socket's error to the adapter as a poll status, which
      // the adapter ignores. Give up on it and try again.
      counters_.connect_errors.fetch_add(1, std::memory_order_relaxed);
      LogOncePerMinute("cannot connect", "no connection within 1s");
      DropConnection();
    }
    // Forget counters no table uses (and no lease waits for).
    std::erase_if(tracked_, [](const std::unique_ptr<Tracked>& t) {
      return !t->in_flight && t->counter.expired();
    });
  }
  uint64_t in_fallback = 0;
  bool stuck = false;
  const absl::Duration stuck_after =
      std::max(5 * config_.timeout, absl::Seconds(1));
  for (const auto& t : tracked_) {
    Process(*t, now);
    if (t->in_flight && now - t->sent_at > stuck_after) stuck = true;
    if (!wakeup) {
      if (auto c = t->counter.lock();
          c != nullptr &&
          c->InFallback(WindowOf(now, t->identity.window_seconds))) {
        ++in_fallback;
      }
    }
  }
  if (!wakeup) {
    counters_.fallback_active.store(in_fallback, std::memory_order_relaxed);
    counters_.tracked.store(tracked_.size(), std::memory_order_relaxed);
  }
  // A server that stopped answering (SIGSTOP, a black hole) would hold the
  // leases in flight for ever: drop it and connect afresh.
  if (stuck && ctx_ != nullptr) {
    LogOncePerMinute(
        "redis is not answering",
        absl::StrCat("no reply within ", absl::FormatDuration(stuck_after),
                     "; reconnecting"));
    DropConnection();
  }
}

void RedisLeaser::Process(Tracked& t, absl::Time now) {
  std::shared_ptr<quota::WindowCounter> c = t.counter.lock();
  if (c == nullptr) return;
  if (t.in_flight) {
    // Too slow: this window goes on without Redis.
    if (now - t.sent_at > config_.timeout && !c->InFallback(t.sent_window)) {
      counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
      EnterFallback(t, *c, t.sent_window, "lease timed out");
    }
    return;  // the want flag stays up for after the reply
  }
  if (!c->TakeWanted()) return;
  const uint64_t window = WindowOf(now, t.identity.window_seconds);
  const uint64_t limit = c->limit();
  if (c->FullShared(window) || c->InFallback(window) ||
      c->Leased(window) >= limit) {
    return;
  }
  const uint64_t count = c->Count(window);
  // Rate: units admitted since the last sample in this window.
  if (t.sample_window != window || t.sample_at == absl::InfinitePast()) {
    t.sample_window = window;
    t.sample_count = count;
    t.sample_at = now;
  } else if (const double dt = absl::ToDoubleSeconds(now - t.sample_at);
             dt >= 0.05) {
    const double inst =
        static_cast<double>(count - std::min(count, t.sample_count)) / dt;
    t.rate = t.rate < 0 ? inst : 0.5 * t.rate + 0.5 * inst;
    t.sample_count = count;
    t.sample_at = now;
  }
  // The credit of one slice beyond the leases must outlast a lease that
  // takes up to the timeout.
  const double lead =
      std::max(kSliceLeadSeconds, absl::ToDoubleSeconds(config_.timeout));
  const uint64_t slice =
      SliceFor(t.rate, lead, limit, config_.expected_relays, c->largest_item());
  c->SetSlice(slice);
  if (ctx_ == nullptr) {
    EnterFallback(t, *c, window, "redis is not connected");
    return;
  }
  const uint64_t want = WantFor(count, c->Leased(window), slice, limit);
  const std::string key = RedisKey(t.identity, window);
  const int rc = redisAsyncCommand(
      ctx_, &OnLeaseReply, &t, "EVAL %s 1 %b %llu %llu %llu", kLeaseScript,
      key.data(), key.size(), static_cast<unsigned long long>(limit),
      static_cast<unsigned long long>(want),
      static_cast<unsigned long long>(
          KeyTtlSeconds(t.identity.window_seconds)));
  if (rc != REDIS_OK) {
    EnterFallback(t, *c, window, "redis refused the command");
    return;
  }
  counters_.leases_requested.fetch_add(1, std::memory_order_relaxed);
  t.in_flight = true;
  t.sent_at = now;
  t.sent_window = window;
  t.wanted = want;
}

void RedisLeaser::OnLeaseReply(redisAsyncContext* ac, void* reply, void* priv) {
  auto* self = static_cast<RedisLeaser*>(ac->data);
  auto* t = static_cast<Tracked*>(priv);
  t->in_flight = false;
  if (self->stopping_) return;
  const absl::Time now = absl::Now();
  const auto micros =
      static_cast<uint64_t>(absl::ToInt64Microseconds(now - t->sent_at));
  LeaserCounters& k = self->counters_;
  size_t bucket = 0;
  while (bucket < kLatencyBucketsMs.size() &&
         static_cast<double>(micros) > kLatencyBucketsMs[bucket] * 1000) {
    ++bucket;
  }
  k.reply_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  k.reply_micros.fetch_add(micros, std::memory_order_relaxed);
  std::shared_ptr<quota::WindowCounter> c = t->counter.lock();
  LeaseReply lease;
  ReplyProblem problem = ReplyProblem::kNone;
  if (!ParseLeaseReply(static_cast<const redisReply*>(reply), t->wanted, &lease,
                       &problem)) {
    k.reply_problems[static_cast<size_t>(problem)].fetch_add(
        1, std::memory_order_relaxed);
    if (c != nullptr && !c->InFallback(t->sent_window)) {
      std::string why(ReplyProblemName(problem));
      const auto* r = static_cast<const redisReply*>(reply);
      if (problem == ReplyProblem::kErrorReply && r->str != nullptr) {
        why = absl::StrCat(why, ": ", absl::string_view(r->str, r->len));
      }
      self->EnterFallback(*t, *c, t->sent_window, why);
    }
    return;
  }
  if (c == nullptr) return;
  const bool full = lease.granted < t->wanted;
  c->Grant(t->sent_window, lease.granted, full);
  k.units_granted.fetch_add(lease.granted, std::memory_order_relaxed);
  if (lease.granted > 0)
    k.leases_granted.fetch_add(1, std::memory_order_relaxed);
  if (full) k.leases_denied.fetch_add(1, std::memory_order_relaxed);
  // Items may have raised the flag again while the lease was on its way.
  self->Process(*t, now);
}

void RedisLeaser::EnterFallback(Tracked& t, quota::WindowCounter& c,
                                uint64_t window, std::string_view why) {
  const uint64_t budget = FallbackBudget(
      config_.fallback, c.limit(), config_.expected_relays, c.Leased(window));
  c.Fallback(window, budget);
  counters_.fallback_windows.fetch_add(1, std::memory_order_relaxed);
  LogOncePerMinute(
      "shared quotas fall back",
      absl::StrCat(ToAbsl(why), "; quota ", t.identity.quota_id, " of project ",
                   t.identity.project_id, " admits ", budget,
                   " here until its window ends (fallback ",
                   ToAbsl(config::QuotaFallbackName(config_.fallback)), ")"));
}

void RedisLeaser::LogOncePerMinute(std::string_view what,
                                   const std::string& detail) {
  const absl::Time now = absl::Now();
  if (now - last_log_ < absl::Minutes(1)) {
    ++suppressed_logs_;
    return;
  }
  last_log_ = now;
  spdlog::warn(
      "quotas.redis {}: {}: {} ({} similar messages in the last "
      "minute not logged)",
      config_.url, what, detail, suppressed_logs_);
  suppressed_logs_ = 0;
}

void RedisLeaser::Connect() {
  const config::RedisAddress& a = config_.address;
  redisAsyncContext* ctx = a.unix_path.empty()
                               ? redisAsyncConnect(a.host.c_str(), a.port)
                               : redisAsyncConnectUnix(a.unix_path.c_str());
  if (ctx == nullptr || ctx->err != 0) {
    counters_.connect_errors.fetch_add(1, std::memory_order_relaxed);
    LogOncePerMinute("cannot connect",
                     ctx != nullptr ? std::string(ctx->errstr) : "no memory");
    if (ctx != nullptr) redisAsyncFree(ctx);
    return;
  }
  ctx->data = this;
  LimitReplyElements(ctx->c.reader);
  if (redisLibuvAttach(ctx, control_->loop()) != REDIS_OK) {
    counters_.connect_errors.fetch_add(1, std::memory_order_relaxed);
    redisAsyncFree(ctx);
    return;
  }
  redisAsyncSetConnectCallback(ctx, &OnConnect);
  redisAsyncSetDisconnectCallback(ctx, &OnDisconnect);
  ctx_ = ctx;
  // Queued until the connection is up; a refusal drops the connection.
  if (!a.password.empty()) {
    if (a.user.empty()) {
      redisAsyncCommand(ctx, &OnSetupReply, nullptr, "AUTH %b",
                        a.password.data(), a.password.size());
    } else {
      redisAsyncCommand(ctx, &OnSetupReply, nullptr, "AUTH %b %b",
                        a.user.data(), a.user.size(), a.password.data(),
                        a.password.size());
    }
  }
  if (a.db != 0) {
    redisAsyncCommand(ctx, &OnSetupReply, nullptr, "SELECT %llu",
                      static_cast<unsigned long long>(a.db));
  }
  // hiredis finishes connecting (and calls OnConnect) on the first write:
  // a PING makes a relay without traffic know at once that Redis is there.
  redisAsyncCommand(ctx, &OnSetupReply, nullptr, "PING");
}

void RedisLeaser::DropConnection() {
  if (ctx_ == nullptr) return;
  redisAsyncContext* ctx = ctx_;
  ctx_ = nullptr;
  connected_ = false;
  counters_.connected.store(0, std::memory_order_relaxed);
  // Pending leases get their callbacks with no reply: fallback.
  redisAsyncFree(ctx);
}

void RedisLeaser::OnConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisLeaser*>(ac->data);
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    self->counters_.connect_errors.fetch_add(1, std::memory_order_relaxed);
    self->LogOncePerMinute("cannot connect", std::string(ac->errstr));
    if (self->ctx_ == ac) self->ctx_ = nullptr;
    return;
  }
  self->connected_ = true;
  self->counters_.connects.fetch_add(1, std::memory_order_relaxed);
  self->counters_.connected.store(1, std::memory_order_relaxed);
}

void RedisLeaser::OnDisconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisLeaser*>(ac->data);
  if (self->ctx_ == ac) self->ctx_ = nullptr;
  self->connected_ = false;
  self->counters_.connected.store(0, std::memory_order_relaxed);
  if (status != REDIS_OK && !self->stopping_) {
    self->counters_.disconnects.fetch_add(1, std::memory_order_relaxed);
    self->LogOncePerMinute("connection lost", std::string(ac->errstr));
  }
}

void RedisLeaser::OnSetupReply(redisAsyncContext* ac, void* reply, void*) {
  auto* self = static_cast<RedisLeaser*>(ac->data);
  const auto* r = static_cast<const redisReply*>(reply);
  if (self->stopping_ || r == nullptr || r->type != REDIS_REPLY_ERROR) return;
  self->counters_.setup_errors.fetch_add(1, std::memory_order_relaxed);
  self->LogOncePerMinute("AUTH, SELECT or PING refused",
                         std::string(r->str, r->len));
  redisAsyncDisconnect(ac);
}

}  // namespace tern::relay::quota_redis
