// Kafka codec fuzzer.
//
// Arbitrary bytes are decoded as an ingest message (msgpack) and as an
// outcome (JSON). Whatever decodes must re-encode to something that decodes
// to the same message, and encoding must be stable from then on.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "protocol/kafka_codec.h"

namespace {

using tern::protocol::KafkaMessage;
using tern::protocol::KafkaMessageDecoder;
using tern::protocol::OutcomeDecoder;
using tern::protocol::OutcomeMessage;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Ingest(std::string_view input) {
  static KafkaMessageDecoder first, second;
  static KafkaMessage a, b;
  static std::string encoded, reencoded;
  if (!first.Decode(input, &a).ok()) return;
  encoded.clear();
  tern::protocol::EncodeKafkaMessage(a, &encoded);
  Check(second.Decode(encoded, &b).ok());
  Check(a == b);
  reencoded.clear();
  tern::protocol::EncodeKafkaMessage(b, &reencoded);
  Check(encoded == reencoded);
}

void Outcome(std::string_view input) {
  // Two decoders: a decoded outcome's strings live in its decoder.
  static OutcomeDecoder first, second;
  OutcomeMessage a, b;
  if (!first.Decode(input, &a).ok()) return;
  static std::string encoded, reencoded;
  encoded.clear();
  tern::protocol::EncodeOutcome(a, &encoded);
  Check(second.Decode(encoded, &b).ok());
  // The wire keeps microseconds; finer input is truncated.
  a.timestamp = absl::FromUnixMicros(absl::ToUnixMicros(a.timestamp));
  Check(a == b);
  reencoded.clear();
  tern::protocol::EncodeOutcome(b, &reencoded);
  Check(encoded == reencoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Ingest(input);
  Outcome(input);
  return 0;
}
