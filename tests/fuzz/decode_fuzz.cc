// Fuzzes body decoding: every Content-Encoding and the legacy store body.
//
// Input layout: byte 0 picks the mode (byte % 6: identity, gzip, deflate, br,
// zstd, store body) and the limit ((byte / 6) % 4: 1 MiB, 64 KiB, 4 KiB, 100
// bytes, so boundaries are reachable with small inputs); the rest is the
// body. Beyond "no crash, no sanitizer report", it traps when a success
// returns more than `limit` bytes, when the output buffer grew past the limit,
// when a result points outside the body and the output, or when an error
// carries a code other than 400/413/415.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "protocol/decode.h"

namespace {

constexpr size_t kLimits[] = {size_t{1} << 20, size_t{64} << 10,
                              size_t{4} << 10, 100};
// std::string keeps a NUL past its capacity; anything near a doubling of the
// limit is a bug.
constexpr size_t kSlack = 64;

constexpr std::string_view kEncodings[] = {"identity", "gzip", "deflate", "br",
                                           "zstd"};

bool Within(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() &&
         inner.data() + inner.size() <= outer.data() + outer.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // One decoder for the whole run, as one worker thread keeps one: state
  // left behind by a failed decode must not leak into the next.
  static tern::protocol::BodyDecoder decoder;
  const unsigned mode = data[0] % 6;
  const size_t limit = kLimits[(data[0] / 6) % 4];
  const std::string_view body(reinterpret_cast<const char*>(data) + 1,
                              size - 1);

  std::string out;
  auto result = mode < 5
                    ? decoder.DecodeContent(kEncodings[mode], body, limit, &out)
                    : decoder.DecodeStoreBody(body, limit, &out);
  if (out.capacity() > limit + kSlack) __builtin_trap();
  if (result.ok()) {
    if (result->size() > limit) __builtin_trap();
    if (!Within(*result, body) && !Within(*result, out)) __builtin_trap();
  } else {
    switch (result.status().code()) {
      case absl::StatusCode::kInvalidArgument:  // 400
      case absl::StatusCode::kOutOfRange:       // 413
      case absl::StatusCode::kUnimplemented:    // 415
        break;
      default:
        __builtin_trap();
    }
  }
  return 0;
}
