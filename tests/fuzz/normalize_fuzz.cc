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
//  - scrubbing never changes whether an event is accepted;
//  - only what Relay refuses is refused (bad JSON or UTF-8, not an object,
//    a bad or mismatched event id, too large; plus duplicate validated
//    keys), never a field of the wrong type;
//  - type mutations: for an accepted object, a few of its fields (top
//    level and one level down, picked from the input's bytes) are replaced
//    by a number, null, a list, an object, a string or a boolean; every
//    such event is still accepted, unless the field was event_id.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "protocol/event_id.h"
#include "protocol/json_writer.h"
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

// The refusals Relay also makes (docs/event-normalization.md, rule 1-2,
// 11); a type problem in a field is never one of them.
bool IsRelayRefusal(std::string_view detail) {
  for (std::string_view reason :
       {"invalid_json", "invalid_utf8", "not_an_object", "invalid_event_id",
        "event_id_mismatch", "event_too_large",
        "invalid_schema: duplicate key "}) {
    if (detail.substr(0, reason.size()) == reason) return true;
  }
  return false;
}

// Returns whether the input was accepted.
bool RunOne(Normalizer& normalizer, simdjson::dom::parser& parser,
            std::string_view input, const NormalizeOptions& opts) {
  static NormalizedEvent out, again;
  const absl::Status st = normalizer.Normalize(input, opts, &out);
  if (!st.ok()) {
    Check(st.code() == absl::StatusCode::kInvalidArgument ||
          st.code() == absl::StatusCode::kOutOfRange);
    Check(IsRelayRefusal(
        std::string_view(st.message().data(), st.message().size())));
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

// `obj` with member `index` replaced by `replacement` (JSON text).
std::string Replace(simdjson::dom::object obj, size_t index,
                    std::string_view replacement) {
  std::string out = "{";
  size_t i = 0;
  for (simdjson::dom::key_value_pair m : obj) {
    if (i) out += ',';
    tern::protocol::JsonWriter::AppendQuoted(&out, m.key);
    out += ':';
    out += i == index ? std::string(replacement) : simdjson::minify(m.value);
    ++i;
  }
  out += '}';
  return out;
}

// The type mutations (see the header); `seed` picks which.
void MutateTypes(Normalizer& normalizer, simdjson::dom::parser& parser,
                 std::string_view input, const NormalizeOptions& opts,
                 uint64_t seed) {
  static constexpr std::string_view kValues[] = {"5",     "null", "[]",  "{}",
                                                 "\"s\"", "true", "-1.5"};
  simdjson::dom::parser own;  // `parser` holds the caller's document
  auto parsed = own.parse(input.data(), input.size());
  if (parsed.error() || !parsed.value_unsafe().is_object()) return;
  simdjson::dom::object top = parsed.value_unsafe().get_object().value();
  const size_t n = top.size();
  if (n == 0) return;
  for (int round = 0; round < 4; ++round) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t index = (seed >> 33) % n;
    const std::string_view value = kValues[(seed >> 17) % std::size(kValues)];
    size_t i = 0;
    std::string_view key;
    simdjson::dom::element member;
    for (simdjson::dom::key_value_pair m : top) {
      if (i++ == index) {
        key = m.key;
        member = m.value;
      }
    }
    std::string mutated;
    if ((seed & 1) && member.is_object() && member.get_object().size() > 0) {
      // One level down: replace a member of this member.
      simdjson::dom::object inner = member.get_object().value();
      mutated = Replace(top, index,
                        Replace(inner, (seed >> 45) % inner.size(), value));
    } else {
      if (key == "event_id") continue;  // Relay refuses a bad id too
      mutated = Replace(top, index, value);
    }
    static NormalizedEvent out;
    const absl::Status st = normalizer.Normalize(mutated, opts, &out);
    // Duplicate keys one level down are not checked; a mutation cannot
    // make them. Too deep cannot happen either (nothing got deeper).
    Check(st.ok());
    (void)parser;
  }
}

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
  if (accepted) {
    uint64_t seed = size;
    for (size_t i = 0; i < size && i < 64; ++i) seed = seed * 31 + data[i];
    MutateTypes(*normalizer, *parser, input, bare, seed);
  }

  NormalizeOptions full;
  full.received = absl::FromUnixMicros(1700000000123456);
  full.client_ip = "2001:db8::1";
  full.sentry_client = "raven-python/6.10.0";
  full.envelope_event_id = EventId::Parse("8a41235250127834012703406f2e03bd");
  full.is_transaction = true;
  RunOne(*normalizer, *parser, input, full);
  return 0;
}
