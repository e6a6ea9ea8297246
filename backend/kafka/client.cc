#include "backend/kafka/client.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

namespace tern::backend::kafka {
namespace {

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)>;
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t,
                                void (*)(rd_kafka_topic_partition_list_t*)>;

ListPtr NewList(int size) {
  return ListPtr(rd_kafka_topic_partition_list_new(size),
                 rd_kafka_topic_partition_list_destroy);
}

absl::Status Set(rd_kafka_conf_t* conf, const std::string& name,
                 const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) !=
      RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka: ", name, "=", value, ": ", err));
  }
  return absl::OkStatus();
}

void LogCallback(const rd_kafka_t*, int level, const char* fac,
                 const char* buf) {
  // syslog levels: 0-3 error, 4 warning, the rest debug (librdkafka is
  // chatty at info about connection churn).
  if (level <= 3) {
    spdlog::error("librdkafka {}: {}", fac, buf);
  } else if (level == 4) {
    spdlog::warn("librdkafka {}: {}", fac, buf);
  } else {
    spdlog::debug("librdkafka {}: {}", fac, buf);
  }
}

// Broker errors repeat while a broker is down; one line per 10 s is enough.
void LogErrorRateLimited(std::string_view what, std::string_view reason) {
  static absl::Mutex mu(absl::kConstInit);
  static absl::Time last = absl::InfinitePast();
  static int suppressed = 0;
  absl::MutexLock lock(&mu);
  const absl::Time now = absl::Now();
  if (now - last < absl::Seconds(10)) {
    ++suppressed;
    return;
  }
  spdlog::warn("kafka {}: {} ({} similar suppressed)", std::string(what),
               std::string(reason), suppressed);
  last = now;
  suppressed = 0;
}

void ErrorCallback(rd_kafka_t*, int err, const char* reason, void*) {
  LogErrorRateLimited(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)),
                      reason);
}

}  // namespace

void MessageBatch::Clear() {
  for (void* handle : handles_) {
    rd_kafka_message_destroy(static_cast<rd_kafka_message_t*>(handle));
  }
  handles_.clear();
  messages_.clear();
}

struct Consumer::Impl {
  rd_kafka_t* rk = nullptr;
  ConsumerOptions options;
  std::set<std::pair<std::string, int32_t>> assigned;
  bool closed = false;

  static void RebalanceThunk(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* partitions,
                             void* opaque) {
    static_cast<Impl*>(opaque)->OnRebalance(rk, err, partitions);
  }

  void OnRebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                   rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative =
        std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < partitions->cnt; ++i) {
        rd_kafka_topic_partition_t& p = partitions->elems[i];
        std::optional<int64_t> start;
        if (options.start_offset) {
          start = options.start_offset(p.topic, p.partition);
        }
        // A stored offset past the partition's end means the topic was
        // deleted and created again (or the broker lost its data, as the
        // dev stack's in-memory broker does on every start): waiting there
        // would skip the new topic's first messages, so start over.
        int64_t low = 0;
        int64_t high = 0;
        if (start.has_value() &&
            rd_kafka_query_watermark_offsets(handle, p.topic, p.partition, &low,
                                             &high, 5000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            *start > high) {
          spdlog::warn(
              "kafka: stored offset {} of {}[{}] is past its end {}; the "
              "topic was re-created: reading it from the beginning",
              *start, p.topic, p.partition, high);
          start = RD_KAFKA_OFFSET_BEGINNING;
        }
        p.offset = start.has_value() ? *start : RD_KAFKA_OFFSET_STORED;
        assigned.emplace(p.topic, p.partition);
        spdlog::info("kafka: assigned {}[{}] from {}", p.topic, p.partition,
                     !start.has_value() ? std::string("the group's offset")
                     : *start == RD_KAFKA_OFFSET_BEGINNING
                         ? std::string("the beginning")
                         : absl::StrCat("stored offset ", *start));
      }
      if (cooperative) {
        if (rd_kafka_error_t* e =
                rd_kafka_incremental_assign(handle, partitions)) {
          spdlog::error("kafka: incremental assign: {}",
                        rd_kafka_error_string(e));
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(handle, partitions);
      }
      return;
    }
    for (int i = 0; i < partitions->cnt; ++i) {
      assigned.erase(
          {partitions->elems[i].topic, partitions->elems[i].partition});
    }
    if (cooperative) {
      if (rd_kafka_error_t* e =
              rd_kafka_incremental_unassign(handle, partitions)) {
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(handle, nullptr);
      assigned.clear();
    }
  }
};

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Consumer::~Consumer() {
  Close();
  rd_kafka_destroy(impl_->rk);
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(
    const ConsumerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ConfPtr conf(rd_kafka_conf_new(), rd_kafka_conf_destroy);
  for (const auto& [key, value] : options.extra) {
    if (auto s = Set(conf.get(), key, value); !s.ok()) return s;
  }
  const std::pair<std::string, std::string> fixed[] = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      // Messages the relay produced can be up to its message.max.bytes.
      {"fetch.message.max.bytes", "10485760"},
      {"log_level", "6"},
  };
  for (const auto& [key, value] : fixed) {
    if (auto s = Set(conf.get(), key, value); !s.ok()) return s;
  }
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), Impl::RebalanceThunk);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  char err[512];
  impl->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof err);
  if (impl->rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka: cannot create consumer: ", err));
  }
  conf.release();  // rd_kafka_new took it
  rd_kafka_poll_set_consumer(impl->rk);
  ListPtr topics = NewList(static_cast<int>(options.topics.size()));
  for (const std::string& topic : options.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(),
                                      RD_KAFKA_PARTITION_UA);
  }
  if (rd_kafka_resp_err_t e = rd_kafka_subscribe(impl->rk, topics.get());
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_destroy(impl->rk);
    return absl::InvalidArgumentError(
        absl::StrCat("kafka: subscribe: ", rd_kafka_err2str(e)));
  }
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

void Consumer::Poll(size_t max_messages, absl::Duration max_wait,
                    MessageBatch* batch) {
  batch->Clear();
  const absl::Time deadline = absl::Now() + max_wait;
  while (batch->messages_.size() < max_messages) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    rd_kafka_message_t* m =
        rd_kafka_consumer_poll(impl_->rk, left_ms > 0 ? left_ms : 0);
    if (m == nullptr) {
      if (left_ms <= 0) break;
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Topic not there yet, broker down: librdkafka retries on its own.
      LogErrorRateLimited(rd_kafka_err2name(m->err),
                          rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    Message message;
    message.topic = rd_kafka_topic_name(m->rkt);
    message.partition = m->partition;
    message.offset = m->offset;
    if (m->key != nullptr) {
      message.key =
          std::string_view(static_cast<const char*>(m->key), m->key_len);
    }
    if (m->payload != nullptr) {
      message.value =
          std::string_view(static_cast<const char*>(m->payload), m->len);
    }
    batch->messages_.push_back(message);
    batch->handles_.push_back(m);
  }
}

void Consumer::Idle(absl::Duration wait) {
  rd_kafka_message_t* m = rd_kafka_consumer_poll(
      impl_->rk, static_cast<int>(absl::ToInt64Milliseconds(wait)));
  // Paused partitions deliver nothing; anything else (an error event) is
  // only logged.
  if (m != nullptr) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      LogErrorRateLimited(rd_kafka_err2name(m->err),
                          rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
  }
}

absl::Status Consumer::Commit(std::span<const TopicPartitionOffset> offsets) {
  ListPtr list = NewList(static_cast<int>(offsets.size()));
  for (const TopicPartitionOffset& o : offsets) {
    if (!impl_->assigned.contains({o.topic, o.partition})) continue;
    rd_kafka_topic_partition_list_add(list.get(), o.topic.c_str(), o.partition)
        ->offset = o.next_offset;
  }
  if (list->cnt == 0) return absl::OkStatus();
  rd_kafka_resp_err_t e = rd_kafka_commit(impl_->rk, list.get(), 0);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("kafka: commit: ", rd_kafka_err2str(e)));
  }
  return absl::OkStatus();
}

void Consumer::PauseAll() {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(impl_->rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_pause_partitions(impl_->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
  }
}

void Consumer::ResumeAll() {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(impl_->rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_resume_partitions(impl_->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
  }
}

void Consumer::Close() {
  if (impl_->closed) return;
  impl_->closed = true;
  rd_kafka_consumer_close(impl_->rk);
}

struct DeadLetterProducer::Impl {
  rd_kafka_t* rk = nullptr;
  std::atomic<int64_t> failed{0};

  static void DeliveryThunk(rd_kafka_t*, const rd_kafka_message_t* m,
                            void* opaque) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      static_cast<Impl*>(opaque)->failed.fetch_add(1);
      LogErrorRateLimited("dead-letter delivery", rd_kafka_err2str(m->err));
    }
  }
};

DeadLetterProducer::DeadLetterProducer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

DeadLetterProducer::~DeadLetterProducer() {
  rd_kafka_flush(impl_->rk, 5000);
  rd_kafka_destroy(impl_->rk);
}

absl::StatusOr<std::unique_ptr<DeadLetterProducer>> DeadLetterProducer::Create(
    const std::string& bootstrap_servers,
    const std::map<std::string, std::string>& extra) {
  auto impl = std::make_unique<Impl>();
  ConfPtr conf(rd_kafka_conf_new(), rd_kafka_conf_destroy);
  for (const auto& [key, value] : extra) {
    // Consumer-only properties make a producer warn; pass the rest.
    if (key.rfind("security.", 0) == 0 || key.rfind("ssl.", 0) == 0 ||
        key.rfind("sasl.", 0) == 0) {
      if (auto s = Set(conf.get(), key, value); !s.ok()) return s;
    }
  }
  const std::pair<std::string, std::string> fixed[] = {
      {"bootstrap.servers", bootstrap_servers},
      {"enable.idempotence", "true"},
      {"message.max.bytes", "10485760"},
      {"linger.ms", "5"},
  };
  for (const auto& [key, value] : fixed) {
    if (auto s = Set(conf.get(), key, value); !s.ok()) return s;
  }
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), Impl::DeliveryThunk);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  char err[512];
  impl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (impl->rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka: cannot create producer: ", err));
  }
  conf.release();
  return std::unique_ptr<DeadLetterProducer>(
      new DeadLetterProducer(std::move(impl)));
}

absl::Status DeadLetterProducer::Send(std::string_view topic,
                                      const Message& origin,
                                      std::string_view reason,
                                      std::string_view detail) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(5);
  const std::string partition = absl::StrCat(origin.partition);
  const std::string offset = absl::StrCat(origin.offset);
  rd_kafka_header_add(headers, "tern-reason", -1, reason.data(),
                      static_cast<ssize_t>(reason.size()));
  rd_kafka_header_add(headers, "tern-detail", -1, detail.data(),
                      static_cast<ssize_t>(detail.size()));
  rd_kafka_header_add(headers, "tern-topic", -1, origin.topic.data(),
                      static_cast<ssize_t>(origin.topic.size()));
  rd_kafka_header_add(headers, "tern-partition", -1, partition.data(),
                      static_cast<ssize_t>(partition.size()));
  rd_kafka_header_add(headers, "tern-offset", -1, offset.data(),
                      static_cast<ssize_t>(offset.size()));
  const std::string topic_z(topic);
  rd_kafka_resp_err_t e = rd_kafka_producev(
      impl_->rk, RD_KAFKA_V_TOPIC(topic_z.c_str()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(const_cast<char*>(origin.key.data()), origin.key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(origin.value.data()),
                       origin.value.size()),
      RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(headers);  // not taken on failure
    return absl::UnavailableError(
        absl::StrCat("kafka: dead letter: ", rd_kafka_err2str(e)));
  }
  return absl::OkStatus();
}

absl::Status DeadLetterProducer::Flush(absl::Duration timeout) {
  rd_kafka_resp_err_t e = rd_kafka_flush(
      impl_->rk, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("kafka: dead letters not flushed: ", rd_kafka_err2str(e)));
  }
  if (int64_t failed = impl_->failed.exchange(0); failed > 0) {
    return absl::UnavailableError(
        absl::StrCat("kafka: ", failed, " dead letter(s) not delivered"));
  }
  return absl::OkStatus();
}

}  // namespace tern::backend::kafka
