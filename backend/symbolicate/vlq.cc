#include "backend/symbolicate/vlq.h"

#include <array>

namespace tern::backend::symbolicate {
namespace {

constexpr char kDigits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// -1 for bytes outside the alphabet, so one table lookup both validates and
// decodes a digit.
constexpr std::array<int8_t, 256> MakeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kDigits[i])] = i;
  return t;
}
constexpr std::array<int8_t, 256> kTable = MakeTable();

}  // namespace

bool DecodeVlq(std::string_view in, size_t* pos, int32_t* out) {
  uint64_t value = 0;
  int shift = 0;
  size_t i = *pos;
  while (true) {
    if (i >= in.size()) return false;
    const int digit = kTable[static_cast<unsigned char>(in[i++])];
    if (digit < 0) return false;
    // 32 bits of magnitude plus the sign bit need at most 7 digits (35 bits).
    if (shift > 30) return false;
    value |= static_cast<uint64_t>(digit & 31) << shift;
    shift += 5;
    if ((digit & 32) == 0) break;
  }
  const uint64_t magnitude = value >> 1;
  if (magnitude > 0x7fffffffu) return false;
  *out = (value & 1) ? -static_cast<int32_t>(magnitude)
                     : static_cast<int32_t>(magnitude);
  *pos = i;
  return true;
}

void EncodeVlq(int32_t value, std::string* out) {
  uint64_t v =
      value < 0
          ? ((static_cast<uint64_t>(-static_cast<int64_t>(value)) << 1) | 1)
          : static_cast<uint64_t>(value) << 1;
  do {
    int digit = static_cast<int>(v & 31);
    v >>= 5;
    if (v != 0) digit |= 32;
    out->push_back(kDigits[digit]);
  } while (v != 0);
}

}  // namespace tern::backend::symbolicate
