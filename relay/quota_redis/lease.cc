#include "relay/quota_redis/lease.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "protocol/data_category.h"

namespace tern::relay::quota_redis {

const char kLeaseScript[] =
    "local used = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "local grant = tonumber(ARGV[2]) "
    "local room = tonumber(ARGV[1]) - used "
    "if room < grant then grant = room end "
    "if grant < 0 then grant = 0 end "
    "if grant > 0 then "
    "redis.call('INCRBY', KEYS[1], grant) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) "
    "end "
    "return {grant, used + grant}";

uint64_t MaxSlice(uint64_t limit, uint64_t expected_relays) {
  const uint64_t relays = std::max<uint64_t>(expected_relays, 1);
  return std::max<uint64_t>(limit / 100 / relays, 1);
}

uint64_t SliceFor(double rate_per_second, double lead_seconds, uint64_t limit,
                  uint64_t expected_relays, uint64_t largest_item) {
  const uint64_t max_slice = MaxSlice(limit, expected_relays);
  double want = rate_per_second < 0 ? static_cast<double>(max_slice)
                                    : rate_per_second * lead_seconds;
  if (!(want >= 1)) want = 1;  // also NaN
  uint64_t slice = want >= static_cast<double>(max_slice)
                       ? max_slice
                       : static_cast<uint64_t>(std::ceil(want));
  slice = std::max(slice, largest_item);
  return std::clamp<uint64_t>(slice, 1, std::max<uint64_t>(limit, 1));
}

uint64_t WantFor(uint64_t counted, uint64_t leased, uint64_t slice,
                 uint64_t limit) {
  const uint64_t over = counted > leased ? counted - leased : 0;
  return std::min(over + slice, std::max<uint64_t>(limit, 1));
}

uint64_t FallbackBudget(config::QuotaFallback mode, uint64_t limit,
                        uint64_t expected_relays, uint64_t leased) {
  switch (mode) {
    case config::QuotaFallback::kAllow:
      return limit;
    case config::QuotaFallback::kDeny:
      return leased;
    case config::QuotaFallback::kLocalShare: {
      const uint64_t relays = std::max<uint64_t>(expected_relays, 1);
      const uint64_t share = limit / relays + (limit % relays != 0 ? 1 : 0);
      return std::max(share, leased);
    }
  }
  return leased;
}

std::string RedisKey(const quota::CounterIdentity& identity, uint64_t window) {
  std::string categories;
  for (protocol::DataCategory c : identity.categories) {
    if (!categories.empty()) categories.push_back(',');
    absl::StrAppend(&categories, ToAbsl(protocol::DataCategoryName(c)));
  }
  return absl::StrCat("tern:quota:", identity.project_id, ":",
                      ToAbsl(identity.public_key), ":",
                      ToAbsl(identity.quota_id), ":", identity.window_seconds,
                      ":", categories, ":", window);
}

uint64_t KeyTtlSeconds(uint64_t window_seconds) { return window_seconds + 60; }

std::string_view ReplyProblemName(ReplyProblem p) {
  switch (p) {
    case ReplyProblem::kNone:
      return "none";
    case ReplyProblem::kNoReply:
      return "no_reply";
    case ReplyProblem::kErrorReply:
      return "error_reply";
    case ReplyProblem::kBadShape:
      return "bad_reply";
  }
  return "?";
}

bool ParseLeaseReply(const redisReply* reply, uint64_t wanted, LeaseReply* out,
                     ReplyProblem* problem) {
  *problem = ReplyProblem::kNone;
  if (reply == nullptr) {
    *problem = ReplyProblem::kNoReply;
    return false;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    *problem = ReplyProblem::kErrorReply;
    return false;
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element == nullptr) {
    *problem = ReplyProblem::kBadShape;
    return false;
  }
  const redisReply* g = reply->element[0];
  const redisReply* t = reply->element[1];
  if (g == nullptr || t == nullptr || g->type != REDIS_REPLY_INTEGER ||
      t->type != REDIS_REPLY_INTEGER || g->integer < 0 || t->integer < 0 ||
      static_cast<uint64_t>(g->integer) > wanted || t->integer < g->integer) {
    *problem = ReplyProblem::kBadShape;
    return false;
  }
  out->granted = static_cast<uint64_t>(g->integer);
  out->total = static_cast<uint64_t>(t->integer);
  return true;
}

namespace {

// hiredis's own reply functions, read from the first reader limited.
const redisReplyObjectFunctions* default_reply_functions = nullptr;

void* CreateBoundedArray(const redisReadTask* task, int elements) {
  if (elements > kMaxReplyElements) return nullptr;  // the reader's OOM error
  return default_reply_functions->createArray(task, elements);
}

}  // namespace

void LimitReplyElements(redisReader* reader) {
  // One table for every reader: they all start from hiredis's defaults.
  static redisReplyObjectFunctions* const bounded = [reader] {
    default_reply_functions = reader->fn;
    auto* table = new redisReplyObjectFunctions(*reader->fn);
    table->createArray = &CreateBoundedArray;
    return table;
  }();
  reader->fn = bounded;
}

}  // namespace tern::relay::quota_redis
