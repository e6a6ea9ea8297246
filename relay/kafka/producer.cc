#include "relay/kafka/producer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "common/thread_priority.h"
#include "relay/kafka/watermark.h"

namespace tern::relay::kafka {
namespace {

// The delivery tag travels as librdkafka's per-message opaque pointer.
static_assert(sizeof(void*) >= sizeof(DeliveryTag));

// Kafka's own limit on topic names; Produce() needs a NUL-terminated copy and
// keeps it on the stack.
constexpr size_t kMaxTopicLength = 249;

// How long one rd_kafka_poll() on the delivery thread may wait; bounds how
// late the thread notices shutdown and how often it does its periodic work.
constexpr int kPollMs = 50;
// Metadata probe while not Ready(): short, because it delays delivery reports
// on the same thread (there are few before the cluster is known anyway).
constexpr int kMetadataTimeoutMs = 250;
constexpr absl::Duration kMetadataRetry = absl::Milliseconds(250);

// Error codes span [RD_KAFKA_RESP_ERR__BEGIN, RD_KAFKA_RESP_ERR_END_ALL);
// one atomic per code keeps failure counting lock-free.
constexpr int kErrBase = RD_KAFKA_RESP_ERR__BEGIN;
constexpr int kErrCount = RD_KAFKA_RESP_ERR_END_ALL - RD_KAFKA_RESP_ERR__BEGIN;

size_t ErrIndex(rd_kafka_resp_err_t err) {
  int i = static_cast<int>(err) - kErrBase;
  // Codes past END_ALL (newer brokers) share the last slot rather than
  // being lost.
  if (i < 0) return 0;
  if (i >= kErrCount) return kErrCount - 1;
  return static_cast<size_t>(i);
}

void StderrLog(LogSeverity severity, std::string_view line) {
  const char* level = severity == LogSeverity::kError     ? "error"
                      : severity == LogSeverity::kWarning ? "warning"
                                                          : "info";
  std::fprintf(stderr, "[kafka %s] %.*s\n", level,
               static_cast<int>(line.size()), line.data());
}

}  // namespace

struct Producer::Impl {
  explicit Impl(ProducerConfig c)
      : config(std::move(c)),
        gate(config.queue_high_watermark, config.queue_low_watermark) {}

  ProducerConfig config;
  rd_kafka_t* rk = nullptr;

  WatermarkGate gate;
  std::atomic<bool> ready{false};
  std::atomic<bool> fatal{false};
  std::atomic<bool> stop{false};
  std::thread delivery_thread;

  std::atomic<uint64_t> produced{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> queue_full{0};
  std::atomic<uint64_t> produce_errors{0};
  std::atomic<uint64_t> client_errors{0};
  std::array<std::atomic<uint64_t>, kErrCount> failed_by_error{};

  // Touched only by whichever thread runs rd_kafka_poll (the delivery thread,
  // later the destructor after joining it), so no synchronisation.
  std::string last_failure;
  std::string last_client_error;
  uint64_t logged_failed = 0;
  uint64_t logged_client_errors = 0;

  void Log(LogSeverity severity, std::string_view line) const {
    if (config.log) {
      config.log(severity, line);
    } else {
      StderrLog(severity, line);
    }
  }

  // Checks `topic`'s length and writes it NUL-terminated into `topic_z`
  // (librdkafka wants C strings). The caller counts a bad name per message.
  static absl::Status TopicName(std::string_view topic,
                                char (&topic_z)[kMaxTopicLength + 1]) {
    if (topic.empty() || topic.size() > kMaxTopicLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kafka: bad topic name length ", topic.size(), " (1..249)"));
    }
    std::memcpy(topic_z, topic.data(), topic.size());
    topic_z[topic.size()] = '\0';
    return absl::OkStatus();
  }

  // What Produce() returns for a failed enqueue, counted (any thread).
  absl::Status ProduceError(rd_kafka_resp_err_t err, std::string_view topic,
                            size_t bytes) {
    switch (err) {
      case RD_KAFKA_RESP_ERR__FATAL:
        // Mark it here too: the error event may not have been served yet.
        fatal.store(true, std::memory_order_release);
        produce_errors.fetch_add(1, std::memory_order_relaxed);
        return absl::UnavailableError("kafka producer hit a fatal error");
      case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        queue_full.fetch_add(1, std::memory_order_relaxed);
        return absl::UnavailableError("kafka producer queue is full");
      case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        produce_errors.fetch_add(1, std::memory_order_relaxed);
        return absl::OutOfRangeError(
            absl::StrCat("kafka: message of ", bytes,
                         " bytes is larger than message.max.bytes"));
      default:
        produce_errors.fetch_add(1, std::memory_order_relaxed);
        return absl::InternalError(absl::StrCat(
            "kafka: produce to '", ToAbsl(topic),
            "' failed: ", rd_kafka_err2name(err), ": ", rd_kafka_err2str(err)));
    }
  }

  // dr_msg_cb: one call per message, on the polling thread.
  void OnDelivery(const rd_kafka_message_t* m) {
    DeliveryTag tag =
        static_cast<DeliveryTag>(reinterpret_cast<uintptr_t>(m->_private));
    absl::Status status;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      delivered.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed.fetch_add(1, std::memory_order_relaxed);
      failed_by_error[ErrIndex(m->err)].fetch_add(1, std::memory_order_relaxed);
      const char* topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
      // Failures are the rare path: formatting each is affordable, logging
      // each is not (LogSummary() writes one line per interval).
      last_failure = absl::StrCat(rd_kafka_err2name(m->err), " on topic ",
                                  topic, ": ", rd_kafka_err2str(m->err));
      status = absl::UnavailableError(
          absl::StrCat("kafka delivery failed: ", last_failure));
    }
    if (config.on_delivery) config.on_delivery(tag, status);
    // Leaves the in-flight count only after its callback ran, so once
    // Flush() sees zero every outcome has been reported.
    gate.Add(-1);
  }

  void OnError(int err, const char* reason) {
    client_errors.fetch_add(1, std::memory_order_relaxed);
    last_client_error = absl::StrCat(
        rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), ": ", reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      fatal.store(true, std::memory_order_release);
      // Fatal (e.g. the idempotent producer lost its sequence): every later
      // produce fails, so say so at once, not in the next summary.
      char buf[512];
      rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
      Log(LogSeverity::kError,
          absl::StrCat("kafka producer fatal error: ", rd_kafka_err2name(orig),
                       ": ", buf));
    }
  }

  // One summary line per interval at most, whatever the failure rate.
  void LogSummary() {
    uint64_t f = failed.load(std::memory_order_relaxed);
    if (f != logged_failed) {
      Log(LogSeverity::kError,
          absl::StrCat("kafka: ", f - logged_failed,
                       " message(s) failed delivery (", f,
                       " in total); last: ", last_failure));
      logged_failed = f;
    }
    uint64_t e = client_errors.load(std::memory_order_relaxed);
    if (e != logged_client_errors) {
      Log(LogSeverity::kWarning,
          absl::StrCat("kafka: ", e - logged_client_errors,
                       " client error(s) (", e,
                       " in total); last: ", last_client_error));
      logged_client_errors = e;
    }
  }

  void ProbeMetadata() {
    const rd_kafka_metadata_t* md = nullptr;
    // all_topics=0 with no topic asks for the broker list only.
    if (rd_kafka_metadata(rk, 0, nullptr, &md, kMetadataTimeoutMs) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->broker_cnt > 0) ready.store(true, std::memory_order_release);
      rd_kafka_metadata_destroy(md);
    }
  }

  void Run() {
    absl::Time next_summary = absl::Now() + config.failure_log_interval;
    absl::Time next_probe = absl::InfinitePast();
    while (!stop.load(std::memory_order_acquire)) {
      rd_kafka_poll(rk, kPollMs);
      absl::Time now = absl::Now();
      if (!ready.load(std::memory_order_relaxed) && now >= next_probe) {
        ProbeMetadata();
        next_probe = absl::Now() + kMetadataRetry;
      }
      if (now >= next_summary) {
        LogSummary();
        next_summary = now + config.failure_log_interval;
      }
    }
  }

  // librdkafka's C callbacks; `opaque` is this Impl.
  static void DeliveryReportThunk(rd_kafka_t*, const rd_kafka_message_t* m,
                                  void* opaque) {
    static_cast<Impl*>(opaque)->OnDelivery(m);
  }

  // librdkafka's on_thread_start interceptor: runs on each of its threads
  // (main, brokers, background) as it starts.
  static rd_kafka_resp_err_t ThreadStartThunk(rd_kafka_t*,
                                              rd_kafka_thread_type_t,
                                              const char*, void* ic_opaque) {
    static_cast<Impl*>(ic_opaque)->config.on_thread_start();
    return RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  // on_new interceptor: the only place an on_thread_start one can be added.
  static rd_kafka_resp_err_t OnNewThunk(rd_kafka_t* rk, const rd_kafka_conf_t*,
                                        void* ic_opaque, char*, size_t) {
    return rd_kafka_interceptor_add_on_thread_start(
        rk, "tern-thread-start", ThreadStartThunk, ic_opaque);
  }

  static void ErrorThunk(rd_kafka_t*, int err, const char* reason,
                         void* opaque) {
    static_cast<Impl*>(opaque)->OnError(err, reason);
  }

  // Runs on librdkafka's internal threads; Log() only reads the config.
  static void LogThunk(const rd_kafka_t* rk, int level, const char* fac,
                       const char* buf) {
    auto* impl = static_cast<Impl*>(rd_kafka_opaque(rk));
    // syslog levels: 0-3 error, 4 warning, the rest info.
    LogSeverity severity = level <= 3   ? LogSeverity::kError
                           : level == 4 ? LogSeverity::kWarning
                                        : LogSeverity::kInfo;
    impl->Log(severity, absl::StrCat("librdkafka ", fac, ": ", buf));
  }
};

namespace {

absl::Status Set(rd_kafka_conf_t* conf, const std::string& name,
                 const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) !=
      RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka property '", name, "'='", value, "': ", err));
  }
  return absl::OkStatus();
}

absl::Status CheckOverride(const std::string& name, const std::string& value) {
  if (name == "enable.idempotence" && value != "true") {
    return absl::InvalidArgumentError(absl::StrCat(
        "kafka property 'enable.idempotence'='", value,
        "': the relay's producer is always idempotent; remove it"));
  }
  if ((name == "acks" || name == "request.required.acks") && value != "all" &&
      value != "-1") {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka property '", name, "'='", value,
                     "': the idempotent producer needs acks=all; remove it"));
  }
  return absl::OkStatus();
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};

}  // namespace

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(
    ProducerConfig config) {
  if (config.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError("kafka: bootstrap servers are empty");
  }
  if (config.queue_low_watermark < 0 ||
      config.queue_low_watermark >= config.queue_high_watermark) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka: queue watermarks need 0 <= low < high (low ",
                     config.queue_low_watermark, ", high ",
                     config.queue_high_watermark, ")"));
  }
  int64_t max_messages = config.queue_max_messages > 0
                             ? config.queue_max_messages
                             : 2 * config.queue_high_watermark;

  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  const std::pair<std::string, std::string> base[] = {
      {"bootstrap.servers", config.bootstrap_servers},
      {"client.id", config.client_id},
      {"compression.codec", config.compression},
      {"linger.ms", std::to_string(config.linger_ms)},
      {"batch.size", std::to_string(config.batch_size_bytes)},
      {"queue.buffering.max.messages", std::to_string(max_messages)},
      {"enable.idempotence", "true"},
      {"acks", "all"},
  };
  for (const auto& [name, value] : base) {
    TERN_RETURN_IF_ERROR(Set(conf.get(), name, value));
  }
  for (const auto& [name, value] : config.properties) {
    TERN_RETURN_IF_ERROR(CheckOverride(name, value));
    TERN_RETURN_IF_ERROR(Set(conf.get(), name, value));
  }

  // The hard queue limit (possibly overridden above) must leave room above
  // the high watermark, or Produce() would fail before Accepting() warns.
  char buf[64];
  size_t len = sizeof buf;
  if (rd_kafka_conf_get(conf.get(), "queue.buffering.max.messages", buf,
                        &len) == RD_KAFKA_CONF_OK &&
      std::strtoll(buf, nullptr, 10) <= config.queue_high_watermark) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka: queue.buffering.max.messages (", buf,
                     ") must be above the high watermark (",
                     config.queue_high_watermark, ")"));
  }

  auto impl = std::make_unique<Impl>(std::move(config));
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), Impl::DeliveryReportThunk);
  rd_kafka_conf_set_error_cb(conf.get(), Impl::ErrorThunk);
  rd_kafka_conf_set_log_cb(conf.get(), Impl::LogThunk);
  if (impl->config.on_thread_start) {
    const rd_kafka_resp_err_t ic = rd_kafka_conf_interceptor_add_on_new(
        conf.get(), "tern-thread-start", Impl::OnNewThunk, impl.get());
    if (ic != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(
          absl::StrCat("kafka: cannot add the thread-start interceptor: ",
                       rd_kafka_err2str(ic)));
    }
  }

  char err[512];
  // rd_kafka_new takes the conf only on success.
  impl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (impl->rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka: cannot create producer: ", err));
  }
  conf.release();
  Impl* raw = impl.get();
  impl->delivery_thread = std::thread([raw] {
    NameThisThread("tern-kafka-dr");
    if (raw->config.on_thread_start) raw->config.on_thread_start();
    raw->Run();
  });
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Producer::~Producer() {
  Impl& s = *impl_;
  (void)Flush(s.config.close_timeout);
  s.stop.store(true, std::memory_order_release);
  s.delivery_thread.join();
  // What could not be delivered in time fails now, with a callback each, so
  // the relay's bookkeeping sees every message exactly once. Purging also
  // keeps rd_kafka_destroy from waiting on an unreachable cluster.
  rd_kafka_purge(s.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  absl::Time deadline = absl::Now() + absl::Seconds(1);
  while (s.gate.count() > 0 && absl::Now() < deadline) {
    rd_kafka_poll(s.rk, 10);
  }
  rd_kafka_poll(s.rk, 0);
  s.LogSummary();
  rd_kafka_destroy(s.rk);
}

absl::Status Producer::Produce(std::string_view topic, std::string_view key,
                               std::string_view value, DeliveryTag tag) {
  Impl& s = *impl_;
  char topic_z[kMaxTopicLength + 1];
  if (absl::Status bad = Impl::TopicName(topic, topic_z); !bad.ok()) {
    s.produce_errors.fetch_add(1, std::memory_order_relaxed);
    return bad;
  }

  // Counted before the enqueue: the delivery report may run on the delivery
  // thread before rd_kafka_producev even returns here.
  s.gate.Add(1);
  rd_kafka_resp_err_t err = rd_kafka_producev(
      s.rk, RD_KAFKA_V_TOPIC(topic_z), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(tag))),
      RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) [[likely]] {
    s.produced.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  s.gate.Add(-1);
  return s.ProduceError(err, topic, key.size() + value.size());
}

void Producer::ProduceBatch(std::span<const BatchMessage> messages,
                            std::span<absl::Status> results) {
  Impl& s = *impl_;
  const size_t n = std::min(messages.size(), results.size());
  // Per-thread scratch, so a warm worker allocates nothing here.
  thread_local std::vector<uint8_t> taken;
  thread_local std::vector<uint32_t> group;
  thread_local std::vector<rd_kafka_message_t> rkms;
  taken.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (taken[i] != 0) continue;
    // The group of messages[i]'s topic, in order: a turn's records alternate
    // between a few topics (event, outcome), so this is a few passes.
    const std::string_view topic = messages[i].topic;
    group.clear();
    for (size_t j = i; j < n; ++j) {
      if (taken[j] == 0 && messages[j].topic == topic) {
        taken[j] = 1;
        group.push_back(static_cast<uint32_t>(j));
      }
    }
    char topic_z[kMaxTopicLength + 1];
    if (absl::Status bad = Impl::TopicName(topic, topic_z); !bad.ok()) {
      s.produce_errors.fetch_add(group.size(), std::memory_order_relaxed);
      for (uint32_t j : group) results[j] = bad;
      continue;
    }
    // An existing topic handle comes back with one more reference (the same
    // lookup rd_kafka_producev makes per message).
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(s.rk, topic_z, nullptr);
    if (rkt == nullptr) {
      const rd_kafka_resp_err_t err = rd_kafka_last_error();
      for (uint32_t j : group) {
        results[j] = s.ProduceError(
            err, topic, messages[j].key.size() + messages[j].value.size());
      }
      continue;
    }
    rkms.resize(group.size());
    for (size_t k = 0; k < group.size(); ++k) {
      const BatchMessage& m = messages[group[k]];
      rd_kafka_message_t& r = rkms[k];
      std::memset(&r, 0, sizeof(r));
      r.partition = RD_KAFKA_PARTITION_UA;
      r.payload = const_cast<char*>(m.value.data());
      r.len = m.value.size();
      r.key = const_cast<char*>(m.key.data());
      r.key_len = m.key.size();
      r._private = reinterpret_cast<void*>(static_cast<uintptr_t>(m.tag));
    }
    // Counted before the enqueue, as in Produce(): reports may come first.
    const int64_t count = static_cast<int64_t>(group.size());
    s.gate.Add(count);
    // Partition UA: the partitioner runs per message, by key, as for
    // rd_kafka_producev.
    const int good =
        rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                               rkms.data(), static_cast<int>(group.size()));
    if (good < count) s.gate.Add(good - count);
    s.produced.fetch_add(static_cast<uint64_t>(good),
                         std::memory_order_relaxed);
    for (size_t k = 0; k < group.size(); ++k) {
      const rd_kafka_resp_err_t err = rkms[k].err;
      results[group[k]] =
          err == RD_KAFKA_RESP_ERR_NO_ERROR
              ? absl::OkStatus()
              : s.ProduceError(err, topic, rkms[k].key_len + rkms[k].len);
    }
    rd_kafka_topic_destroy(rkt);
  }
}

bool Producer::Accepting() const { return impl_->gate.open(); }

bool Producer::Ready() const {
  return impl_->ready.load(std::memory_order_acquire) && !Fatal();
}

bool Producer::Fatal() const {
  return impl_->fatal.load(std::memory_order_acquire);
}

void Producer::InjectFatalErrorForTesting() {
  rd_kafka_test_fatal_error(impl_->rk,
                            RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                            "injected by a test");
}

int64_t Producer::InFlight() const { return impl_->gate.count(); }

absl::Status Producer::Flush(absl::Duration timeout) {
  // Waits on our own counter rather than calling rd_kafka_flush(), which
  // would serve delivery reports on this thread too and break the promise
  // that callbacks never run on two threads at once. A shutdown path, so
  // sleeping in small steps is fine.
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int64_t left = impl_->gate.count();
    if (left <= 0) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "kafka flush timed out with ", left, " message(s) in flight"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
}

ProducerStats Producer::Stats() const {
  const Impl& s = *impl_;
  ProducerStats st;
  st.produced = s.produced.load(std::memory_order_relaxed);
  st.delivered = s.delivered.load(std::memory_order_relaxed);
  st.failed = s.failed.load(std::memory_order_relaxed);
  st.queue_full = s.queue_full.load(std::memory_order_relaxed);
  st.produce_errors = s.produce_errors.load(std::memory_order_relaxed);
  st.client_errors = s.client_errors.load(std::memory_order_relaxed);
  st.in_flight = s.gate.count();
  st.accepting = s.gate.open();
  st.fatal = s.fatal.load(std::memory_order_relaxed);
  for (int i = 0; i < kErrCount; ++i) {
    uint64_t n = s.failed_by_error[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    st.failed_by_error.emplace_back(
        rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(i + kErrBase)), n);
  }
  std::sort(st.failed_by_error.begin(), st.failed_by_error.end());
  return st;
}

absl::StatusOr<std::string> Producer::EffectiveProperty(
    std::string_view name) const {
  std::string key(name);
  char buf[1024];
  size_t len = sizeof buf;
  const rd_kafka_conf_t* conf = rd_kafka_conf(impl_->rk);
  if (rd_kafka_conf_get(conf, key.c_str(), buf, &len) != RD_KAFKA_CONF_OK) {
    return absl::NotFoundError(
        absl::StrCat("kafka: unknown property '", key, "'"));
  }
  return std::string(buf);
}

}  // namespace tern::relay::kafka
