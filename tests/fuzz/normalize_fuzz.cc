// Fuzzes event normalization. Every input is normalized three times, with
// bare options, with every option set (client address, sentry_client, an
// envelope id, the transaction item type), and with data scrubbing on (IP
// addresses included). Invariants:
//  - errors are 400 or 413, never anything else;
//  - on success the output re-parses as one JSON object carrying the fields
//    the relay routes on, and matches what Normalize() reported;
//  - normalizing the output again with the same options succeeds and gives
//    the same bytes (the rewrite is a fixed point, so nothing it writes is
//    something it would reject or rewrite differently);
//  - scrubbing never changes whether an event is accepted.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "protocol/event_id.h"
#include "protocol/normalize.h"
#include "protocol/scrub.h"

namespace {

using tern::protocol::EventId;
using tern::protocol::NormalizedEvent;
using tern::protocol::NormalizeOptions;
using tern::protocol::Normalizer;
using tern::protocol::ScrubConfig;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Returns whether the input was accepted.
bool RunOne(Normalizer& normalizer, simdjson::dom::parser& parser,
            std::string_view input, const NormalizeOptions& opts) {
  static NormalizedEvent out, again;
  const absl::Status st = normalizer.Normalize(input, opts, &out);
  if (!st.ok()) {
    Check(st.code() == absl::StatusCode::kInvalidArgument ||
          st.code() == absl::StatusCode::kOutOfRange);
    return false;
  }
  auto parsed = parser.parse(out.json);
  Check(!parsed.error());
  simdjson::dom::element doc = parsed.value_unsafe();
  Check(doc.is_object());
  std::string_view id;
  Check(!doc["event_id"].get(id));
  Check(id == out.event_id.ToHex());
  double timestamp = 0;
  Check(!doc["timestamp"].get(timestamp));
  Check(timestamp == out.timestamp);
  Check(timestamp <= out.received + 60);
  Check(doc["received"].is_double());
  Check(doc["level"].is_string() && doc["platform"].is_string() &&
        doc["type"].is_string());
  Check(doc["message"].error() == simdjson::NO_SUCH_FIELD);
  if (opts.envelope_event_id) Check(out.event_id == *opts.envelope_event_id);

  const std::string first = out.json;
  const absl::Status st2 = normalizer.Normalize(first, opts, &again);
  Check(st2.ok());
  Check(again.json == first);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Normalizer* normalizer =
      new Normalizer(Normalizer::kDefaultMaxEventBytes, 1);
  static simdjson::dom::parser* parser = new simdjson::dom::parser();
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  NormalizeOptions bare;
  bare.received = absl::FromUnixSeconds(1700000000);
  const bool accepted = RunOne(*normalizer, *parser, input, bare);

  static const ScrubConfig* scrub = [] {
    auto* c = new ScrubConfig;
    c->scrub_ip_addresses = true;
    return c;
  }();
  NormalizeOptions scrubbed = bare;
  scrubbed.client_ip = "192.0.2.1";
  scrubbed.scrub = scrub;
  Check(RunOne(*normalizer, *parser, input, scrubbed) == accepted);

  NormalizeOptions full;
  full.received = absl::FromUnixMicros(1700000000123456);
  full.client_ip = "2001:db8::1";
  full.sentry_client = "raven-python/6.10.0";
  full.envelope_event_id = EventId::Parse("8a41235250127834012703406f2e03bd");
  full.is_transaction = true;
  RunOne(*normalizer, *parser, input, full);
  return 0;
}
