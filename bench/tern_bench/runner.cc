#include "bench/tern_bench/runner.h"

#include <chrono>
#include <cstdio>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/tern_bench/proc_stats.h"
#include "bench/tern_bench/schedule.h"
#include "net/load_client.h"
#include "net/timer.h"
#include "net/worker.h"

namespace tern::bench {
namespace {

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

uint64_t Ms(double seconds) {
  return seconds <= 0 ? 0 : static_cast<uint64_t>(seconds * 1000.0 + 0.5);
}

enum class Phase { kIdle, kWarmup, kMeasure, kDrain, kDone };

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kWarmup:
      return "warmup ";
    case Phase::kMeasure:
      return "measure";
    case Phase::kDrain:
      return "drain  ";
    default:
      return "       ";
  }
}

class Engine {
 public:
  Engine(const RunOptions& o, PayloadPool& pool, net::Worker* worker)
      : o_(o),
        pool_(pool),
        entry_in_flight_(pool.size(), 0),
        spinner_(worker),
        wake_timer_(worker),
        phase_timer_(worker),
        progress_timer_(worker) {
    if (o_.udp) return;
    for (uint32_t i = 0; i < o_.connections; ++i) {
      auto conn = std::make_unique<Conn>();
      Conn* c = conn.get();
      c->reconnect = std::make_unique<net::Timer>(worker);
      net::LoadHttpConnection::Handlers h;
      h.on_response = [this, c](int status) { OnResponse(c, status); };
      h.on_state = [this, c](absl::Status s) { OnState(c, std::move(s)); };
      c->conn = std::make_unique<net::LoadHttpConnection>(worker, std::move(h));
      conns_.push_back(std::move(conn));
    }
  }

  // Loop thread. `done` is fulfilled when the run is over.
  void Start(std::promise<void>* done) {
    done_ = done;
    if (o_.udp) {
      if (absl::StatusOr<uint64_t> v = ReadUdpCounter("RcvbufErrors"); v.ok()) {
        result_.udp_rcvbuf_errors_before = static_cast<int64_t>(*v);
      }
      if (absl::Status s = udp_.Open(o_.host, o_.port, o_.udp_send_buffer);
          !s.ok()) {
        error_ = s;
        Finish();
        return;
      }
    }
    phase_ = Phase::kWarmup;
    t_start_ = NowNs();
    last_tick_ = t_start_;
    for (auto& c : conns_) c->conn->Connect(o_.host, o_.port);
    if (o_.rate > 0) pacer_.emplace(OpenLoopSchedule(o_.rate, t_start_));
    if (o_.udp || pacer_) StartSpinning();
    progress_timer_.Start(1000, 1000, [this] { OnSecond(); });
    phase_timer_.Start(Ms(o_.warmup_seconds), 0, [this] { BeginMeasure(); });
  }

  RunResult TakeResult() { return std::move(result_); }
  const absl::Status& error() const { return error_; }

 private:
  struct Sent {
    uint64_t start_ns;
    uint32_t entry;
  };
  struct Conn {
    std::unique_ptr<net::LoadHttpConnection> conn;
    std::unique_ptr<net::Timer> reconnect;
    std::deque<Sent> fifo;
    bool ever_connected = false;
  };

  bool Sending() const {
    return phase_ == Phase::kWarmup || phase_ == Phase::kMeasure;
  }

  // --- sending ---

  uint32_t NextEntry() {
    const uint32_t e = static_cast<uint32_t>(next_entry_);
    next_entry_ = (next_entry_ + 1) % pool_.size();
    return e;
  }

  bool SendOn(Conn* c, uint64_t start_ns) {
    if (!c->conn->connected()) return false;
    const uint32_t e = NextEntry();
    Payload& p = pool_.at(e);
    // Entries are reused round robin; patch the id only when no earlier
    // send of this entry is still being written or answered.
    if (o_.unique_ids && entry_in_flight_[e] == 0 && !p.id_offsets.empty()) {
      PatchEventId(pool_.size() + seq_++, &p);
    }
    if (!c->conn->Send(p.bytes)) return false;
    c->fifo.push_back({start_ns, e});
    ++entry_in_flight_[e];
    ++in_flight_;
    if (phase_ == Phase::kMeasure) ++result_.sent;
    return true;
  }

  void Fill(Conn* c) {
    while (Sending() && c->conn->connected() && c->fifo.size() < o_.depth) {
      if (!SendOn(c, NowNs())) break;
    }
  }

  // Open loop: the connection with a free slot, round robin.
  bool SendScheduled(uint64_t scheduled_ns) {
    const size_t n = conns_.size();
    for (size_t i = 0; i < n; ++i) {
      Conn* c = conns_[(rr_ + i) % n].get();
      if (c->conn->connected() && c->fifo.size() < o_.depth) {
        rr_ = (rr_ + i + 1) % n;
        return SendOn(c, scheduled_ns);
      }
    }
    return false;
  }

  void StartSpinning() {
    spinner_.Start([this] { Spin(); });
  }

  void Spin() {
    if (!Sending()) {
      spinner_.Stop();
      return;
    }
    const uint64_t now = NowNs();
    if (o_.udp) {
      SpinUdp(now);
    } else {
      pacer_->Pump(now, [this](uint64_t t) { return SendScheduled(t); });
    }
    // Nothing due for a while and nothing held back: sleep on a timer
    // instead of spinning, and wake a millisecond early.
    if (pacer_ && udp_pending_.empty()) {
      const uint64_t next = pacer_->schedule().next_time();
      if (next > now + 3'000'000 && pacer_->schedule().DueCount(now) == 0) {
        spinner_.Stop();
        wake_timer_.Start((next - now) / 1'000'000 - 1, 0,
                          [this] { StartSpinning(); });
      }
    }
  }

  void SpinUdp(uint64_t now) {
    constexpr size_t kBatch = 64;
    if (pacer_) {
      pacer_->Pump(now, [this](uint64_t) {
        if (udp_pending_.size() >= kBatch) FlushUdp();
        if (udp_pending_.size() >= kBatch) return false;
        udp_pending_.push_back(pool_.at(NextEntry()).bytes);
        return true;
      });
    } else {
      while (udp_pending_.size() < kBatch) {
        udp_pending_.push_back(pool_.at(NextEntry()).bytes);
      }
    }
    FlushUdp();
  }

  void FlushUdp() {
    if (udp_pending_.empty()) return;
    const size_t n = udp_.Send(udp_pending_);
    if (n < udp_pending_.size()) ++result_.udp_would_block;
    if (phase_ == Phase::kMeasure) result_.sent += n;
    interval_count_ += n;
    udp_pending_.erase(udp_pending_.begin(), udp_pending_.begin() + n);
  }

  // --- answers ---

  void OnResponse(Conn* c, int status) {
    const uint64_t now = NowNs();
    if (c->fifo.empty()) return;  // cannot happen: in_flight counts them
    const Sent s = c->fifo.front();
    c->fifo.pop_front();
    --entry_in_flight_[s.entry];
    --in_flight_;
    const uint64_t latency = now > s.start_ns ? now - s.start_ns : 0;
    const int st = status >= 0 && status < 600 ? status : 0;
    if (phase_ == Phase::kMeasure) {
      ++result_.by_status[st];
      ++result_.answered;
      const size_t kind = static_cast<size_t>(pool_.at(s.entry).kind);
      ++result_.answered_by_kind[kind];
      if (st >= 200 && st < 300) ++result_.ok_by_kind[kind];
      result_.latency_ns.Record(latency);
    } else if (phase_ == Phase::kDrain) {
      result_.latency_ns.Record(latency);
    }
    interval_hist_.Record(latency);
    ++interval_status_[st];
    ++interval_count_;
    if (pacer_ == std::nullopt) {
      Fill(c);
    }
    if (phase_ == Phase::kDrain && in_flight_ == 0) Finish();
  }

  void OnState(Conn* c, absl::Status s) {
    if (s.ok()) {
      c->ever_connected = true;
      if (!pacer_) Fill(c);
      return;
    }
    if (c->ever_connected) {
      ++result_.connection_drops;
    } else {
      ++result_.connect_failures;
      last_connect_error_ = s;
    }
    result_.lost += c->fifo.size();
    for (const Sent& sent : c->fifo) --entry_in_flight_[sent.entry];
    in_flight_ -= c->fifo.size();
    c->fifo.clear();
    c->ever_connected = false;
    if (phase_ == Phase::kDrain && in_flight_ == 0) {
      Finish();
      return;
    }
    if (!Sending()) return;
    // Reconnect at once after a drop (the relay closes after some errors),
    // after a pause when the connect itself failed.
    const uint64_t delay = result_.connect_failures > 0 ? 100 : 0;
    c->reconnect->Start(delay, 0, [this, c] {
      if (Sending()) c->conn->Connect(o_.host, o_.port);
    });
  }

  // --- phases ---

  void BeginMeasure() {
    if (phase_ != Phase::kWarmup) return;
    phase_ = Phase::kMeasure;
    t_measure_ = NowNs();
    if (o_.target_pid) {
      if (absl::StatusOr<double> cpu = ReadCpuSeconds(o_.target_pid);
          cpu.ok()) {
        cpu_before_ = *cpu;
      } else {
        std::fprintf(stderr, "tern-bench: target: %s\n",
                     cpu.status().ToString().c_str());
      }
    }
    phase_timer_.Start(Ms(o_.duration_seconds), 0, [this] { EndMeasure(); });
  }

  void EndMeasure() {
    const uint64_t now = NowNs();
    phase_ = Phase::kDrain;
    result_.measured_seconds = static_cast<double>(now - t_measure_) / 1e9;
    if (o_.target_pid && cpu_before_ >= 0) {
      if (absl::StatusOr<double> cpu = ReadCpuSeconds(o_.target_pid);
          cpu.ok()) {
        result_.target_cpu_seconds = *cpu - cpu_before_;
      }
      if (absl::StatusOr<uint64_t> hwm = ReadStatusKb(o_.target_pid, "VmHWM");
          hwm.ok()) {
        result_.target_peak_rss_kb = static_cast<int64_t>(*hwm);
      }
    }
    if (pacer_) {
      result_.backlog_at_end = pacer_->schedule().DueCount(now);
    }
    spinner_.Stop();
    wake_timer_.Stop();
    if (o_.udp || in_flight_ == 0) {
      // UDP: give the receiver a moment to read what is queued before the
      // kernel's drop counter is read.
      phase_timer_.Start(o_.udp ? 200 : 0, 0, [this] { Finish(); });
      return;
    }
    phase_timer_.Start(Ms(o_.drain_seconds), 0, [this] { Finish(); });
  }

  void Finish() {
    if (phase_ == Phase::kDone) return;
    phase_ = Phase::kDone;
    result_.unanswered_at_end = in_flight_;
    if (o_.udp) {
      if (absl::StatusOr<uint64_t> v = ReadUdpCounter("RcvbufErrors"); v.ok()) {
        result_.udp_rcvbuf_errors_after = static_cast<int64_t>(*v);
      }
      result_.udp_refused = udp_.refused();
    }
    if (error_.ok() && !o_.udp && result_.answered == 0 &&
        result_.connect_failures > 0) {
      error_ = absl::UnavailableError(
          absl::StrCat("no connection to ", o_.host, ":", o_.port, " (",
                       last_connect_error_.message(), ")"));
    }
    spinner_.Stop();
    wake_timer_.Stop();
    phase_timer_.Stop();
    progress_timer_.Stop();
    for (auto& c : conns_) c->reconnect->Stop();
    done_->set_value();
  }

  void OnSecond() {
    const uint64_t now = NowNs();
    const double secs = static_cast<double>(now - last_tick_) / 1e9;
    last_tick_ = now;
    if (o_.target_pid && phase_ == Phase::kMeasure) {
      if (absl::StatusOr<uint64_t> rss = ReadStatusKb(o_.target_pid, "VmRSS");
          rss.ok()) {
        result_.rss.push_back(
            {static_cast<double>(now - t_measure_) / 1e9, *rss});
      }
    }
    if (o_.progress) {
      std::string line = absl::StrCat(
          "[",
          static_cast<int64_t>((now - t_start_ + 500'000'000) / 1'000'000'000),
          "s] ", PhaseName(phase_));
      char buf[160];
      const double rate = secs > 0 ? interval_count_ / secs : 0;
      if (o_.udp) {
        std::snprintf(buf, sizeof(buf), " sent %9.0f/s  would-block %llu", rate,
                      static_cast<unsigned long long>(result_.udp_would_block));
        line += buf;
      } else {
        std::snprintf(buf, sizeof(buf), " %9.0f/s  p50 %7.3f ms  p99 %7.3f ms ",
                      rate, interval_hist_.Percentile(50) / 1e6,
                      interval_hist_.Percentile(99) / 1e6);
        line += buf;
        for (int st = 0; st < 600; ++st) {
          if (interval_status_[st]) {
            absl::StrAppend(&line, " ", st == 0 ? "err" : absl::StrCat(st), ":",
                            interval_status_[st]);
          }
        }
        absl::StrAppend(&line, "  in-flight ", in_flight_);
        if (pacer_) {
          absl::StrAppend(&line, " backlog ", pacer_->schedule().DueCount(now));
        }
        if (result_.connect_failures || result_.connection_drops) {
          absl::StrAppend(&line, " conn-fail ", result_.connect_failures,
                          " drops ", result_.connection_drops);
        }
      }
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    interval_hist_.Reset();
    interval_status_.fill(0);
    interval_count_ = 0;
  }

  const RunOptions o_;
  PayloadPool& pool_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<uint16_t> entry_in_flight_;
  size_t next_entry_ = 0;
  uint64_t seq_ = 0;
  size_t rr_ = 0;
  uint64_t in_flight_ = 0;
  std::optional<Pacer> pacer_;
  net::LoadUdpSender udp_;
  std::vector<std::string_view> udp_pending_;
  net::LoopSpinner spinner_;
  net::Timer wake_timer_;
  net::Timer phase_timer_;
  net::Timer progress_timer_;
  Phase phase_ = Phase::kIdle;
  uint64_t t_start_ = 0;
  uint64_t t_measure_ = 0;
  uint64_t last_tick_ = 0;
  double cpu_before_ = -1;
  Histogram interval_hist_;
  std::array<uint64_t, 600> interval_status_{};
  uint64_t interval_count_ = 0;
  RunResult result_;
  absl::Status error_;
  absl::Status last_connect_error_;
  std::promise<void>* done_ = nullptr;
};

}  // namespace

absl::StatusOr<RunResult> Run(const RunOptions& options, PayloadPool& pool) {
  if (pool.size() == 0) return absl::InvalidArgumentError("empty pool");
  if (!options.udp && (options.connections == 0 || options.depth == 0)) {
    return absl::InvalidArgumentError("connections and depth must be >= 1");
  }
  if (options.duration_seconds <= 0) {
    return absl::InvalidArgumentError("duration must be > 0");
  }
  if (options.depth > 60000) {
    return absl::InvalidArgumentError("depth is at most 60000");
  }
  net::Worker worker("tern-bench");
  auto engine = std::make_unique<Engine>(options, pool, &worker);
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  if (absl::Status s = worker.Start(); !s.ok()) return s;
  worker.Post([&engine, &done] { engine->Start(&done); });
  finished.wait();
  worker.Stop();
  absl::Status error = engine->error();
  RunResult result = engine->TakeResult();
  engine.reset();
  if (!error.ok()) return error;
  return result;
}

}  // namespace tern::bench
