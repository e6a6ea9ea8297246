#include "protocol/event_id.h"

#include <array>

namespace tern::protocol {
namespace {

// Hex digit values, -1 for every other byte: one load per character instead
// of three range compares (this runs for every envelope and event).
constexpr auto kHexValue = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<int8_t>(c - 'A' + 10);
  return t;
}();

// Decodes 2*n hex digits from `in` into n bytes; false on a non-hex byte.
bool DecodeHex(const char* in, size_t n, uint8_t* out) {
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const int hi = kHexValue[static_cast<uint8_t>(in[2 * i])];
    const int lo = kHexValue[static_cast<uint8_t>(in[2 * i + 1])];
    bad |= hi | lo;  // any -1 sets the sign bit
    out[i] = static_cast<uint8_t>((hi << 4) | (lo & 0xf));
  }
  return bad >= 0;
}

}  // namespace

std::optional<EventId> EventId::Parse(std::string_view text) {
  EventId id;
  uint8_t* b = id.bytes.data();
  const char* p = text.data();
  if (text.size() == 32) {
    if (!DecodeHex(p, 16, b)) return std::nullopt;
    return id;
  }
  // 8-4-4-4-12 with hyphens at 8, 13, 18 and 23.
  if (text.size() != 36 || p[8] != '-' || p[13] != '-' || p[18] != '-' ||
      p[23] != '-') {
    return std::nullopt;
  }
  if (!DecodeHex(p, 4, b) || !DecodeHex(p + 9, 2, b + 4) ||
      !DecodeHex(p + 14, 2, b + 6) || !DecodeHex(p + 19, 2, b + 8) ||
      !DecodeHex(p + 24, 6, b + 10)) {
    return std::nullopt;
  }
  return id;
}

EventId EventId::FromRandom(uint64_t hi, uint64_t lo) {
  EventId id;
  for (int i = 0; i < 8; ++i) {
    id.bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    id.bytes[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  id.bytes[6] = (id.bytes[6] & 0x0f) | 0x40;  // version 4
  id.bytes[8] = (id.bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
  return id;
}

bool EventId::IsNil() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

void EventId::WriteHex(char* out) const {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
}

std::string EventId::ToHex() const {
  std::string s(32, '\0');
  WriteHex(s.data());
  return s;
}

}  // namespace tern::protocol
