// Event ids: the 128-bit identifier Sentry gives every event.
//
// SDKs send them as 32 hex digits or as a hyphenated UUID, in either case;
// Kafka messages, outcomes and responses carry the 32-digit lowercase form.
// Shared by envelope headers, event normalization and the Kafka codec so the
// three agree on what a valid id is.
#ifndef TERN_PROTOCOL_EVENT_ID_H_
#define TERN_PROTOCOL_EVENT_ID_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tern::protocol {

struct EventId {
  std::array<uint8_t, 16> bytes{};

  // Parses 32 hex digits or the 36-character hyphenated UUID form (8-4-4-4-12),
  // upper or lower case. Anything else (braces, urn:uuid:, wrong length, a
  // stray character) is nullopt.
  static std::optional<EventId> Parse(std::string_view text);

  // A random version-4 UUID from two 64-bit random words (the caller owns the
  // random source, so protocol/ keeps no global state).
  static EventId FromRandom(uint64_t hi, uint64_t lo);

  // True for the all-zero id, which Sentry treats as "no id".
  bool IsNil() const;

  // The 32 lowercase hex digits, the form used on the wire.
  std::string ToHex() const;
  // Writes the same 32 digits to `out` (no terminator); for hot paths.
  void WriteHex(char* out) const;

  // The same 32 digits held by value, so a hot path can use them as a Kafka
  // key without a heap allocation: `auto key = id.HexDigits(); key.view()`.
  struct Hex {
    char digits[32];
    std::string_view view() const { return {digits, sizeof(digits)}; }
  };
  Hex HexDigits() const {
    Hex h;
    WriteHex(h.digits);
    return h;
  }

  friend bool operator==(const EventId&, const EventId&) = default;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_EVENT_ID_H_
