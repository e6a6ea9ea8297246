// The arithmetic and reply reading of shared quotas (docs/quotas.md, "Across
// relays"), kept free of I/O so that it can be tested and fuzzed alone.
//
// Each relay leases a quota's budget from Redis in slices: one atomic Lua
// script per lease adds at most the slice to the window's key, never past
// the limit, and answers what it granted and the window's new total. A slice
// covers about a quarter second of the counter's recent rate, and never more
// than 1% of the limit spread over the expected relays (but at least the
// largest item seen, so a big attachment can still fit), so that leased but
// unspent units at a window's end cost the limit at most one slice per relay.
#ifndef TERN_RELAY_QUOTA_REDIS_LEASE_H_
#define TERN_RELAY_QUOTA_REDIS_LEASE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/relay_config.h"
#include "relay/quota/quota.h"

struct redisReply;
struct redisReader;

namespace tern::relay::quota_redis {

// How far ahead a slice reaches at the counter's recent rate, at least.
inline constexpr double kSliceLeadSeconds = 0.25;

// The script every lease runs. KEYS[1]: the window's key; ARGV: limit, the
// units wanted, the key's time to live in seconds. Answers {granted, total}.
extern const char kLeaseScript[];

// The largest slice for `limit` shared by `expected_relays`: 1% of the limit
// over all relays, at least 1.
uint64_t MaxSlice(uint64_t limit, uint64_t expected_relays);

// The slice to lease next: `rate_per_second` x `lead_seconds`, within
// [1, MaxSlice] (MaxSlice while the rate is unknown, i.e. negative), raised
// to `largest_item`, and never above `limit` (nor below 1).
uint64_t SliceFor(double rate_per_second, double lead_seconds, uint64_t limit,
                  uint64_t expected_relays, uint64_t largest_item);

// Units to ask for: what the relay admitted beyond its leases in `window`
// (the credit a window starts on) plus a fresh slice, at most the limit.
uint64_t WantFor(uint64_t counted, uint64_t leased, uint64_t slice,
                 uint64_t limit);

// What a relay may admit in a window while Redis is away; `leased` is what
// it already holds for that window.
uint64_t FallbackBudget(config::QuotaFallback mode, uint64_t limit,
                        uint64_t expected_relays, uint64_t leased);

// The window's Redis key: tern:quota:{project}:{key}:{quota id}:{window
// seconds}:{categories}:{window number}, key empty for project-scoped
// quotas, categories by name joined by ',' (empty for all).
std::string RedisKey(const quota::CounterIdentity& identity, uint64_t window);

// Time to live of a window's key: the window plus a minute, so that clocks a
// little apart still meet in the same key and nothing lingers.
uint64_t KeyTtlSeconds(uint64_t window_seconds);

struct LeaseReply {
  uint64_t granted = 0;
  uint64_t total = 0;  // the window's count across relays after the grant
};

// Why a reply was not a lease (a metric label each).
enum class ReplyProblem {
  kNone,
  kNoReply,     // null: the connection went away
  kErrorReply,  // Redis said -ERR ... (script error, NOSCRIPT, OOM, auth)
  kBadShape,    // anything but an array of two non-negative integers
};
inline constexpr int kReplyProblems = 4;
std::string_view ReplyProblemName(ReplyProblem p);

// Reads the script's answer. `*problem` says why when it returns false; a
// grant above `wanted` is a bad shape (no Redis we talk to does that).
bool ParseLeaseReply(const redisReply* reply, uint64_t wanted, LeaseReply* out,
                     ReplyProblem* problem);

// The most elements an array in a Redis reply may announce. A lease answer
// has two; hiredis 0.14 (Debian 12) allocates an announced array before its
// elements arrive and has no limit of its own, so "*999999999\r\n" from a
// broken or hostile server would allocate gigabytes.
inline constexpr int kMaxReplyElements = 16;

// Makes `reader` (a redisContext's, or one from redisReaderCreate) refuse an
// array of more than kMaxReplyElements: the reader then fails with its
// out-of-memory error, which the caller counts like any bad reply. The
// reader must use hiredis's default reply functions.
void LimitReplyElements(redisReader* reader);

}  // namespace tern::relay::quota_redis

#endif  // TERN_RELAY_QUOTA_REDIS_LEASE_H_
