// An in-process Kafka cluster for unit tests and the dev stack.
//
// Wraps librdkafka's mock cluster (rdkafka_mock.h): N brokers on loopback
// ports that speak the Kafka protocol (produce, fetch, offsets, groups,
// idempotent produce) and keep everything in memory. No Admin API, so topics
// are created here; no TLS/SASL. The cluster lives as long as this object.
// Faults (a broker down, slow responses) can be injected to test
// backpressure.
#ifndef TERN_RELAY_KAFKA_MOCK_CLUSTER_H_
#define TERN_RELAY_KAFKA_MOCK_CLUSTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::relay::kafka {

class MockCluster {
 public:
  // Starts `brokers` (>= 1) mock brokers, with ids 1..brokers. Internal on
  // failure. Thread-compatible.
  static absl::StatusOr<std::unique_ptr<MockCluster>> Create(int brokers = 1);

  // Stops the brokers; clients still connected see connection errors.
  // librdkafka 2.0.2's mock takes about one second to stop.
  ~MockCluster();

  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port,..." for bootstrap.servers. Stable for the lifetime.
  const std::string& bootstrap_servers() const { return bootstrap_; }
  int broker_count() const { return brokers_; }

  // Creates `topic` (the mock also auto-creates unknown topics with one
  // partition on first use). InvalidArgument if it exists or the arguments
  // are bad. Thread-safe (the mock serialises on its own thread).
  absl::Status CreateTopic(std::string_view topic, int partitions = 1,
                           int replication_factor = 1);

  // Takes broker `id` down (its connections close, new ones are refused) or
  // brings it back. NotFound for an unknown id. Thread-safe.
  absl::Status SetBrokerDown(int32_t id);
  absl::Status SetBrokerUp(int32_t id);

  // Delays every response of broker `id` by `rtt`. Thread-safe.
  absl::Status SetBrokerRtt(int32_t id, absl::Duration rtt);

 private:
  struct Impl;
  MockCluster(std::unique_ptr<Impl> impl, std::string bootstrap, int brokers);

  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
  int brokers_;
};

}  // namespace tern::relay::kafka

#endif  // TERN_RELAY_KAFKA_MOCK_CLUSTER_H_
