// Test-only: read back what a test produced, with a plain consumer.
//
// Uses assign() on one partition from the beginning rather than subscribe(),
// so no consumer group join is involved (the mock cluster's first join waits
// a fixed 3 s) and nothing is committed. Compiled into test binaries only.
#ifndef TERN_RELAY_KAFKA_TEST_CONSUMER_H_
#define TERN_RELAY_KAFKA_TEST_CONSUMER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tern::relay::kafka::testing {

struct ConsumedMessage {
  std::string key;
  std::string value;
  int64_t offset = 0;
};

// Reads every message of `topic`/`partition` from offset 0 up to the end as
// of the read (partition EOF). DeadlineExceeded if the end is not reached
// within `timeout`; Internal for consumer errors. Thread-compatible; each
// call uses its own short-lived consumer.
absl::StatusOr<std::vector<ConsumedMessage>> ReadPartition(
    std::string_view bootstrap_servers, std::string_view topic,
    int32_t partition = 0, absl::Duration timeout = absl::Seconds(10));

}  // namespace tern::relay::kafka::testing

#endif  // TERN_RELAY_KAFKA_TEST_CONSUMER_H_
