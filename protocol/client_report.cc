#include "protocol/client_report.h"

#include <simdjson.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tern::protocol {
namespace {

namespace dom = simdjson::dom;

constexpr size_t kMaxReason = 200;

struct ListKind {
  std::string_view key;
  Outcome outcome;
};
constexpr ListKind kLists[] = {
    {"discarded_events", Outcome::kClientDiscard},
    {"rate_limited_events", Outcome::kRateLimited},
    {"filtered_events", Outcome::kFiltered},
    {"filtered_sampling_events", Outcome::kFiltered},
};

}  // namespace

struct ClientReportParser::Impl {
  dom::parser parser;
};

ClientReportParser::ClientReportParser() : impl_(std::make_unique<Impl>()) {}
ClientReportParser::~ClientReportParser() = default;

absl::Status ClientReportParser::Parse(std::string_view json,
                                       ClientReport* out) {
  out->entries.clear();
  out->skipped = 0;
  dom::element root;
  if (impl_->parser.parse(json.data(), json.size()).get(root) !=
      simdjson::SUCCESS) {
    return absl::InvalidArgumentError("client report: invalid JSON");
  }
  dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("client report: not a JSON object");
  }
  for (const ListKind& kind : kLists) {
    dom::element list_value;
    if (object.at_key(kind.key).get(list_value) != simdjson::SUCCESS) continue;
    if (list_value.is_null()) continue;
    dom::array list;
    if (list_value.get(list) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(absl::StrCat(
          "client report: ", ToAbsl(kind.key), " is not an array"));
    }
    for (dom::element item : list) {
      dom::object entry;
      if (item.get(entry) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError(absl::StrCat(
            "client report: ", ToAbsl(kind.key), " holds a non-object"));
      }
      std::string_view reason;
      std::string_view category;
      uint64_t quantity = 0;
      if (entry.at_key("reason").get(reason) != simdjson::SUCCESS ||
          reason.empty() ||
          entry.at_key("category").get(category) != simdjson::SUCCESS ||
          entry.at_key("quantity").get(quantity) != simdjson::SUCCESS ||
          quantity == 0 || out->entries.size() >= kMaxClientReportEntries) {
        ++out->skipped;
        continue;
      }
      const DataCategory cat = DataCategoryFromName(category);
      if (cat == DataCategory::kUnknown) {
        ++out->skipped;
        continue;
      }
      ClientReportEntry e;
      e.outcome = kind.outcome;
      e.reason = std::string(reason.substr(0, kMaxReason));
      e.category = cat;
      e.quantity = static_cast<uint32_t>(
          std::min<uint64_t>(quantity, std::numeric_limits<uint32_t>::max()));
      out->entries.push_back(std::move(e));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<EventId> ClientReportParser::UserReportEventId(
    std::string_view json) {
  dom::element root;
  dom::object object;
  if (impl_->parser.parse(json.data(), json.size()).get(root) !=
          simdjson::SUCCESS ||
      root.get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("user report: not a JSON object");
  }
  std::string_view text;
  if (object.at_key("event_id").get(text) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("user report: no event_id");
  }
  std::optional<EventId> id = EventId::Parse(text);
  if (!id) return absl::InvalidArgumentError("user report: bad event_id");
  return *id;
}

}  // namespace tern::protocol
