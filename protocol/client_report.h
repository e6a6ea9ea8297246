// Client reports: the envelope item ("client_report") in which SDKs tell the
// server what they discarded themselves (queue overflow, sample rate, rate
// limits, before_send), so the numbers show up among the project's outcomes.
//
// A processing Relay turns each entry into an outcome message; Tern does the
// same: discarded_events -> client_discard (5), rate_limited_events ->
// rate_limited (2), filtered_events and filtered_sampling_events ->
// filtered (1), each with the entry's reason, category and quantity.
//
//   {"timestamp": ..., "discarded_events":
//     [{"reason": "queue_overflow", "category": "error", "quantity": 23}]}
#ifndef TERN_PROTOCOL_CLIENT_REPORT_H_
#define TERN_PROTOCOL_CLIENT_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protocol/data_category.h"
#include "protocol/event_id.h"
#include "protocol/kafka_codec.h"

namespace tern::protocol {

struct ClientReportEntry {
  Outcome outcome = Outcome::kClientDiscard;
  std::string reason;  // as the SDK sent it, at most 200 bytes
  DataCategory category = DataCategory::kDefault;
  uint32_t quantity = 0;
};

// Entries beyond this are ignored (and counted in `skipped`): a report is a
// handful of lines; a larger one is not an SDK's.
inline constexpr size_t kMaxClientReportEntries = 256;

struct ClientReport {
  std::vector<ClientReportEntry> entries;
  // Entries left out: a category Tern does not know (profile, replay, ...),
  // a missing or empty reason, quantity 0, or more than the maximum.
  size_t skipped = 0;
};

// Parses client reports and user reports. Keep one per thread; it reuses its
// JSON parser.
class ClientReportParser {
 public:
  ClientReportParser();
  ~ClientReportParser();
  ClientReportParser(const ClientReportParser&) = delete;
  ClientReportParser& operator=(const ClientReportParser&) = delete;

  // Fills `*out` (cleared first) from the item payload. InvalidArgument when
  // the payload is not a JSON object or a known list is not an array of
  // objects; bad single entries are skipped, not fatal, as in Relay.
  // Quantities above 2^32-1 saturate.
  absl::Status Parse(std::string_view json, ClientReport* out);

  // The event a user report (envelope item "user_report": {"event_id",
  // "name", "email", "comments"}) is about. InvalidArgument when the payload
  // is not a JSON object or its event_id is missing or not an event id.
  absl::StatusOr<EventId> UserReportEventId(std::string_view json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_CLIENT_REPORT_H_
