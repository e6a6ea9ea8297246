// Envelope parser fuzzer.
//
// Arbitrary bytes go through both header readers (the fast scanner and
// simdjson alone): they must agree on the status, message and every field.
// Accepted envelopes must only point into the input, respect the limits, and
// survive SerializeEnvelope -> Parse with the same items.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/envelope.h"

namespace {

using tern::protocol::Envelope;
using tern::protocol::EnvelopeItem;
using tern::protocol::EnvelopeLimits;
using tern::protocol::EnvelopeParser;
using tern::protocol::OutItem;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool Within(std::string_view view, std::string_view buffer) {
  return view.empty() ||
         (view.data() >= buffer.data() &&
          view.data() + view.size() <= buffer.data() + buffer.size());
}

bool SameItem(const EnvelopeItem& a, const EnvelopeItem& b) {
  return a.type == b.type && a.item_type == b.item_type &&
         a.content_type == b.content_type && a.filename == b.filename &&
         a.attachment_type == b.attachment_type && a.payload == b.payload;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static EnvelopeParser fast(EnvelopeParser::HeaderScan::kFast);
  static EnvelopeParser slow(EnvelopeParser::HeaderScan::kSimdjsonOnly);
  static Envelope a, b, c;
  static std::string wire;
  static std::vector<OutItem> out_items;

  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // Small limits so that every limit is reachable from small inputs.
  EnvelopeLimits limits;
  limits.max_items = 8;
  limits.max_header_bytes = 256;
  limits.max_item_bytes = 1024;
  limits.max_envelope_bytes = 8192;

  const absl::Status sa = fast.Parse(input, limits, &a);
  const absl::Status sb = slow.Parse(input, limits, &b);
  Check(sa == sb);
  if (!sa.ok()) return 0;

  Check(a.header_json == b.header_json && a.event_id == b.event_id &&
        a.dsn == b.dsn && a.sent_at == b.sent_at);
  Check(a.items.size() == b.items.size() && a.items.size() <= limits.max_items);
  Check(Within(a.header_json, input));
  for (size_t i = 0; i < a.items.size(); ++i) {
    const EnvelopeItem& item = a.items[i];
    Check(SameItem(item, b.items[i]));
    Check(item.payload.data() == b.items[i].payload.data());
    Check(Within(item.payload, input) && Within(item.header_json, input));
    Check(item.payload.size() <= limits.max_item_bytes);
    Check(item.header_json.size() <= limits.max_header_bytes);
    Check(item.item_type == tern::protocol::ItemTypeFromName(item.type));
  }

  out_items.clear();
  for (const EnvelopeItem& item : a.items) {
    out_items.push_back({.type = item.type,
                         .content_type = item.content_type,
                         .filename = item.filename,
                         .attachment_type = item.attachment_type,
                         .payload = item.payload});
  }
  wire.clear();
  tern::protocol::SerializeEnvelope(a.header_json, out_items, &wire);
  const absl::Status sc = fast.Parse(wire, EnvelopeLimits(), &c);
  Check(sc.ok());
  Check(c.header_json == a.header_json && c.event_id == a.event_id &&
        c.dsn == a.dsn && c.sent_at == a.sent_at);
  Check(c.items.size() == a.items.size());
  for (size_t i = 0; i < a.items.size(); ++i) {
    Check(SameItem(c.items[i], a.items[i]));
  }
  return 0;
}
