#include "relay/kafka/test_consumer.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tern::relay::kafka::testing {
namespace {

struct Handle {
  rd_kafka_t* rk = nullptr;
  ~Handle() {
    if (rk == nullptr) return;
    // Unassign and close before destroy so nothing lingers; we never call
    // rd_kafka_assignment(), whose list would have to be destroyed or
    // rd_kafka_destroy() hangs.
    rd_kafka_assign(rk, nullptr);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};

}  // namespace

absl::StatusOr<std::vector<ConsumedMessage>> ReadPartition(
    std::string_view bootstrap_servers, std::string_view topic,
    int32_t partition, absl::Duration timeout) {
  static std::atomic<int> group_seq{0};
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // A fresh group id per reader: assign() does not join it, but the consumer
  // API wants one, and sharing one across tests would share nothing useful.
  const std::string settings[][2] = {
      {"bootstrap.servers", std::string(bootstrap_servers)},
      {"group.id", absl::StrCat("tern-test-reader-", group_seq++)},
      {"enable.auto.commit", "false"},
      {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"},
  };
  for (const auto& kv : settings) {
    if (rd_kafka_conf_set(conf, kv[0].c_str(), kv[1].c_str(), err,
                          sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InternalError(absl::StrCat("test consumer: ", err));
    }
  }
  Handle h;
  h.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (h.rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("test consumer: ", err));
  }
  rd_kafka_poll_set_consumer(h.rk);

  std::string topic_z(topic);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, topic_z.c_str(), partition)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_resp_err_t aerr = rd_kafka_assign(h.rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(
        absl::StrCat("test consumer: assign: ", rd_kafka_err2str(aerr)));
  }

  std::vector<ConsumedMessage> out;
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(h.rk, 100);
    if (m == nullptr) continue;
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
        m, rd_kafka_message_destroy);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return out;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Transient while the mock's metadata settles; keep reading.
      if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
          m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        continue;
      }
      return absl::InternalError(
          absl::StrCat("test consumer: ", rd_kafka_message_errstr(m)));
    }
    ConsumedMessage c;
    if (m->key != nullptr) {
      c.key.assign(static_cast<const char*>(m->key), m->key_len);
    }
    if (m->payload != nullptr) {
      c.value.assign(static_cast<const char*>(m->payload), m->len);
    }
    c.offset = m->offset;
    out.push_back(std::move(c));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("test consumer: no end of ", topic_z, "/", partition,
                   " after ", out.size(), " message(s)"));
}

}  // namespace tern::relay::kafka::testing
