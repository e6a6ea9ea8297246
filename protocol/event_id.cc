#include "protocol/event_id.h"

namespace tern::protocol {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<EventId> EventId::Parse(std::string_view text) {
  const bool hyphenated = text.size() == 36;
  if (text.size() != 32 && !hyphenated) return std::nullopt;
  EventId id;
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (hyphenated && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (text[i] != '-') return std::nullopt;
      continue;
    }
    const int v = HexValue(text[i]);
    if (v < 0) return std::nullopt;
    id.bytes[nibble / 2] |= static_cast<uint8_t>(nibble % 2 == 0 ? v << 4 : v);
    ++nibble;
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
