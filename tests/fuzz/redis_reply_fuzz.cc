// Redis reply fuzzer: shared quotas' reading of what Redis answers.
//
// Arbitrary bytes go through hiredis's own RESP reader, as they would off the
// socket, and every reply it builds goes through ParseLeaseReply. The reader
// may refuse the bytes (a protocol error); a reply must either parse into a
// grant no larger than was asked and a total no smaller than the grant, or
// name a problem. Also fuzzes the URL parser of quotas.redis.url with the
// same bytes.
#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/relay_config.h"
#include "relay/quota_redis/lease.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte picks how much a lease asked for.
  const uint64_t wanted = size > 0 ? data[0] : 0;
  redisReader* reader = redisReaderCreate();
  Check(reader != nullptr);
  // As the leaser's connection reads replies: arrays are bounded.
  tern::relay::quota_redis::LimitReplyElements(reader);
  if (size > 1 &&
      redisReaderFeed(reader, input.data() + 1, size - 1) == REDIS_OK) {
    for (int i = 0; i < 64; ++i) {
      void* out = nullptr;
      if (redisReaderGetReply(reader, &out) != REDIS_OK || out == nullptr) {
        break;
      }
      tern::relay::quota_redis::LeaseReply lease;
      tern::relay::quota_redis::ReplyProblem problem;
      const bool ok = tern::relay::quota_redis::ParseLeaseReply(
          static_cast<const redisReply*>(out), wanted, &lease, &problem);
      if (ok) {
        Check(problem == tern::relay::quota_redis::ReplyProblem::kNone);
        Check(lease.granted <= wanted && lease.total >= lease.granted);
      } else {
        Check(problem != tern::relay::quota_redis::ReplyProblem::kNone);
      }
      freeReplyObject(out);
    }
  }
  redisReaderFree(reader);

  auto url = tern::config::ParseRedisUrl(input);
  if (url.ok()) {
    Check(url->unix_path.empty() != url->host.empty());
    Check(url->port != 0);
  }
  return 0;
}
