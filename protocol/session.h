// Release-health sessions: the envelope items "session" (one update of one
// session) and "sessions" (pre-aggregated counts, what server SDKs send),
// rewritten as the JSON messages Relay used to produce on ingest-sessions
// (its SessionKafkaMessage), one per session update and one per non-zero
// status count of an aggregate group:
//
//   {"org_id":0,"project_id":1,"session_id":"<uuid>","distinct_id":"...",
//    "quantity":1,"seq":3,"received":1700000000.5,"started":1699999990.0,
//    "duration":12.5,"status":"exited","errors":0,"release":"app@1.0",
//    "environment":"production","sdk":"sentry.python/2.0","retention_days":90}
//
// Sentry no longer consumes this topic (sessions became metrics in 2022), so
// the format's reader is tern-backend; keeping Relay's shape keeps the topic
// readable by tools written for it. Two differences, written down in
// docs/protocol.md: `distinct_id` is the SDK's `did` as sent (Relay turned
// non-UUID ids into UUIDv5; nothing here needs a UUID), and org_id is 0
// (Tern has no organisations).
#ifndef TERN_PROTOCOL_SESSION_H_
#define TERN_PROTOCOL_SESSION_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tern::protocol {

// What the relay knows about the request that carried the item.
struct SessionContext {
  uint64_t project_id = 0;
  absl::Time received = absl::UnixEpoch();
  std::string_view sdk;  // sentry_client of the request, may be empty
  uint32_t retention_days = 90;
};

// At most this many messages per item; an aggregate item with more groups
// is refused (a server SDK flushes one group per started-minute).
inline constexpr size_t kMaxSessionMessages = 1000;

// Rewrites session items. Keep one per thread (it reuses its JSON parser and
// message buffers); not thread-safe.
class SessionEncoder {
 public:
  SessionEncoder();
  ~SessionEncoder();
  SessionEncoder(const SessionEncoder&) = delete;
  SessionEncoder& operator=(const SessionEncoder&) = delete;

  // Encodes the payload of a "session" (aggregates == false) or "sessions"
  // (true) item. On OK, messages() holds the messages and sessions() the
  // number of sessions they count (the sum of their quantities). Errors are
  // InvalidArgument "invalid_session: ...": not JSON, a missing or invalid
  // sid / started / attrs.release, an unknown status, negative counts, or
  // more than kMaxSessionMessages messages.
  absl::Status Encode(std::string_view json, bool aggregates,
                      const SessionContext& context);

  std::span<const std::string> messages() const {
    return {messages_.data(), used_};
  }
  uint64_t sessions() const { return sessions_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string& NextMessage();

  // A pool: strings keep their capacity from one item to the next.
  std::vector<std::string> messages_;
  size_t used_ = 0;
  std::string session_id_;
  uint64_t sessions_ = 0;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_SESSION_H_
