#include "protocol/session.h"

#include <simdjson.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "protocol/event_id.h"
#include "protocol/json_writer.h"
#include "protocol/timestamp.h"

namespace tern::protocol {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kNilUuid = "00000000-0000-0000-0000-000000000000";

// The statuses a session update may carry (Relay's SessionStatus).
bool IsUpdateStatus(std::string_view s) {
  return s == "ok" || s == "exited" || s == "crashed" || s == "abnormal" ||
         s == "errored";
}

// A session id as SDKs send it (hyphenated, or 32 bare hex digits as the
// JavaScript SDKs do, any case) in the hyphenated lowercase form Relay
// writes; false if it is neither.
bool CanonicalUuid(std::string_view s, std::string* out) {
  std::optional<EventId> id = EventId::Parse(s);
  if (!id) return false;
  const std::string hex = id->ToHex();
  *out = absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-",
                      hex.substr(12, 4), "-", hex.substr(16, 4), "-",
                      hex.substr(20));
  return true;
}

absl::Status Invalid(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid_session: ", ToAbsl(why)));
}

std::optional<double> Timestamp(dom::element e) {
  std::string_view text;
  if (e.get(text) == simdjson::SUCCESS) return ParseRfc3339(text);
  double seconds = 0;
  if (e.get(seconds) == simdjson::SUCCESS) return seconds;
  return std::nullopt;
}

struct Attrs {
  std::string_view release;
  std::optional<std::string_view> environment;
};

absl::Status ReadAttrs(dom::object root, Attrs* out) {
  dom::object attrs;
  if (root.at_key("attrs").get(attrs) != simdjson::SUCCESS) {
    return Invalid("attrs missing or not an object");
  }
  if (attrs.at_key("release").get(out->release) != simdjson::SUCCESS ||
      out->release.empty()) {
    return Invalid("attrs.release missing or not a string");
  }
  std::string_view env;
  if (attrs.at_key("environment").get(env) == simdjson::SUCCESS) {
    out->environment = env;
  }
  return absl::OkStatus();
}

}  // namespace

struct SessionEncoder::Impl {
  dom::parser parser;
};

SessionEncoder::SessionEncoder() : impl_(std::make_unique<Impl>()) {}
SessionEncoder::~SessionEncoder() = default;

std::string& SessionEncoder::NextMessage() {
  if (used_ == messages_.size()) messages_.emplace_back();
  std::string& m = messages_[used_++];
  m.clear();
  return m;
}

absl::Status SessionEncoder::Encode(std::string_view json, bool aggregates,
                                    const SessionContext& ctx) {
  used_ = 0;
  sessions_ = 0;
  dom::element root_value;
  dom::object root;
  if (impl_->parser.parse(json.data(), json.size()).get(root_value) !=
          simdjson::SUCCESS ||
      root_value.get(root) != simdjson::SUCCESS) {
    return Invalid("not a JSON object");
  }
  Attrs attrs;
  if (absl::Status s = ReadAttrs(root, &attrs); !s.ok()) return s;
  const double received =
      absl::ToDoubleSeconds(ctx.received - absl::UnixEpoch());

  struct Fields {
    std::string_view session_id = kNilUuid;
    std::string_view distinct_id = kNilUuid;
    uint64_t quantity = 1;
    uint64_t seq = 0;
    double started = 0;
    std::optional<double> duration;
    std::string_view status;
    uint64_t errors = 0;
  };
  auto write = [&](const Fields& f) {
    std::string& out = NextMessage();
    JsonWriter w(&out);
    w.BeginObject();
    w.Key("org_id");
    w.Uint(0);
    w.Key("project_id");
    w.Uint(ctx.project_id);
    w.Key("session_id");
    w.String(f.session_id);
    w.Key("distinct_id");
    w.String(f.distinct_id);
    w.Key("quantity");
    w.Uint(f.quantity);
    w.Key("seq");
    w.Uint(f.seq);
    w.Key("received");
    w.Double(received);
    w.Key("started");
    w.Double(f.started);
    w.Key("duration");
    if (f.duration) {
      w.Double(*f.duration);
    } else {
      w.Null();
    }
    w.Key("status");
    w.String(f.status);
    w.Key("errors");
    w.Uint(std::min<uint64_t>(f.errors, std::numeric_limits<uint16_t>::max()));
    w.Key("release");
    w.String(attrs.release);
    w.Key("environment");
    if (attrs.environment) {
      w.String(*attrs.environment);
    } else {
      w.Null();
    }
    w.Key("sdk");
    if (ctx.sdk.empty()) {
      w.Null();
    } else {
      w.String(ctx.sdk);
    }
    w.Key("retention_days");
    w.Uint(ctx.retention_days);
    w.EndObject();
    sessions_ += f.quantity;
  };

  if (!aggregates) {
    Fields f;
    std::string_view sid;
    if (root.at_key("sid").get(sid) != simdjson::SUCCESS ||
        !CanonicalUuid(sid, &session_id_)) {
      return Invalid("sid missing or not a UUID");
    }
    f.session_id = session_id_;
    dom::element started;
    std::optional<double> t;
    if (root.at_key("started").get(started) != simdjson::SUCCESS ||
        !(t = Timestamp(started))) {
      return Invalid("started missing or not a timestamp");
    }
    f.started = *t;
    std::string_view did;
    if (root.at_key("did").get(did) == simdjson::SUCCESS && !did.empty()) {
      f.distinct_id = did;
    }
    uint64_t seq = 0;
    if (root.at_key("seq").get(seq) == simdjson::SUCCESS) f.seq = seq;
    // Relay wrote seq 0 for a session's init update, whatever the SDK's
    // sequence: that is how a reader of the topic tells "started" apart
    // (tern-backend counts started sessions by it).
    bool init = false;
    if (root.at_key("init").get(init) == simdjson::SUCCESS && init) f.seq = 0;
    double duration = 0;
    if (root.at_key("duration").get(duration) == simdjson::SUCCESS) {
      if (duration < 0) return Invalid("negative duration");
      f.duration = duration;
    }
    f.status = "ok";
    std::string_view status;
    if (root.at_key("status").get(status) == simdjson::SUCCESS) {
      if (!IsUpdateStatus(status)) return Invalid("unknown status");
      f.status = status;
    }
    int64_t errors = 0;
    if (root.at_key("errors").get(errors) == simdjson::SUCCESS) {
      if (errors < 0) return Invalid("negative errors");
      f.errors = static_cast<uint64_t>(errors);
    }
    write(f);
    return absl::OkStatus();
  }

  dom::array groups;
  if (root.at_key("aggregates").get(groups) != simdjson::SUCCESS) {
    return Invalid("aggregates missing or not an array");
  }
  static constexpr std::string_view kCounts[] = {"exited", "errored",
                                                 "abnormal", "crashed"};
  for (dom::element g : groups) {
    dom::object group;
    dom::element started;
    std::optional<double> t;
    if (g.get(group) != simdjson::SUCCESS ||
        group.at_key("started").get(started) != simdjson::SUCCESS ||
        !(t = Timestamp(started))) {
      return Invalid("an aggregate group without a started timestamp");
    }
    Fields f;
    f.started = *t;
    std::string_view did;
    if (group.at_key("did").get(did) == simdjson::SUCCESS && !did.empty()) {
      f.distinct_id = did;
    }
    for (std::string_view status : kCounts) {
      dom::element count_value;
      if (group.at_key(status).get(count_value) != simdjson::SUCCESS) continue;
      int64_t count = 0;
      if (count_value.get(count) != simdjson::SUCCESS || count < 0) {
        return Invalid(absl::StrCat("aggregate count ", ToAbsl(status),
                                    " is not a non-negative integer"));
      }
      if (count == 0) continue;
      if (used_ >= kMaxSessionMessages) return Invalid("too many groups");
      f.status = status;
      f.quantity = static_cast<uint64_t>(count);
      f.errors = status == "exited" ? 0 : 1;
      write(f);
    }
  }
  return absl::OkStatus();
}

}  // namespace tern::protocol
