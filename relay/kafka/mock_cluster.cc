#include "relay/kafka/mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tern::relay::kafka {

// The mock cluster runs on a thread of a librdkafka handle that exists only
// to own it; that handle never produces.
struct MockCluster::Impl {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;

  ~Impl() {
    if (mc != nullptr) rd_kafka_mock_cluster_destroy(mc);
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

namespace {

absl::Status FromErr(rd_kafka_resp_err_t err, std::string_view what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  std::string msg = absl::StrCat("kafka mock: ", std::string(what), ": ",
                                 rd_kafka_err2str(err));
  // The mock answers an unknown broker id with BROKER_NOT_AVAILABLE.
  if (err == RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE ||
      err == RD_KAFKA_RESP_ERR__UNKNOWN_BROKER) {
    return absl::NotFoundError(msg);
  }
  return absl::InvalidArgumentError(msg);
}

}  // namespace

MockCluster::MockCluster(std::unique_ptr<Impl> impl, std::string bootstrap,
                         int brokers)
    : impl_(std::move(impl)),
      bootstrap_(std::move(bootstrap)),
      brokers_(brokers) {}

MockCluster::~MockCluster() = default;

absl::StatusOr<std::unique_ptr<MockCluster>> MockCluster::Create(int brokers) {
  if (brokers < 1) {
    return absl::InvalidArgumentError("kafka mock: need at least one broker");
  }
  auto impl = std::make_unique<Impl>();
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The owner handle has no bootstrap servers on purpose; keep it quiet.
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  impl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (impl->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("kafka mock: ", err));
  }
  impl->mc = rd_kafka_mock_cluster_new(impl->rk, brokers);
  if (impl->mc == nullptr) {
    return absl::InternalError("kafka mock: rd_kafka_mock_cluster_new failed");
  }
  std::string bootstrap = rd_kafka_mock_cluster_bootstraps(impl->mc);
  return std::unique_ptr<MockCluster>(
      new MockCluster(std::move(impl), std::move(bootstrap), brokers));
}

absl::Status MockCluster::CreateTopic(std::string_view topic, int partitions,
                                      int replication_factor) {
  std::string name(topic);
  return FromErr(rd_kafka_mock_topic_create(impl_->mc, name.c_str(), partitions,
                                            replication_factor),
                 absl::StrCat("create topic ", name));
}

absl::Status MockCluster::SetBrokerDown(int32_t id) {
  return FromErr(rd_kafka_mock_broker_set_down(impl_->mc, id),
                 absl::StrCat("broker ", id, " down"));
}

absl::Status MockCluster::SetBrokerUp(int32_t id) {
  return FromErr(rd_kafka_mock_broker_set_up(impl_->mc, id),
                 absl::StrCat("broker ", id, " up"));
}

absl::Status MockCluster::SetBrokerRtt(int32_t id, absl::Duration rtt) {
  return FromErr(
      rd_kafka_mock_broker_set_rtt(
          impl_->mc, id, static_cast<int>(absl::ToInt64Milliseconds(rtt))),
      absl::StrCat("broker ", id, " rtt"));
}

}  // namespace tern::relay::kafka
