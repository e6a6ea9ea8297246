// Base64 VLQ, the number encoding of a source map's "mappings" string
// (Source Map Revision 3, "Base64 VLQ"): each value is a run of base64 digits
// of 5 payload bits, the 6th bit saying "more digits follow", least
// significant group first, and the lowest bit of the first group the sign.
// Kept apart from the map parser so the decoder can be tested on its own
// against the known vectors of the format.
#ifndef TERN_BACKEND_SYMBOLICATE_VLQ_H_
#define TERN_BACKEND_SYMBOLICATE_VLQ_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::backend::symbolicate {

// Decodes one VLQ value from `in` starting at `*pos`; on success stores it in
// `*out`, advances `*pos` past its digits and returns true. Returns false
// (leaving `*out` unspecified) for a character outside the base64 alphabet, a
// value cut off by the end of input or by a ',' or ';', or a value that does
// not fit in 32 signed bits (no map needs more, and a bound keeps hostile
// input from shifting past the width). Pure.
bool DecodeVlq(std::string_view in, size_t* pos, int32_t* out);

// Appends `value` as VLQ to `*out`. For tests and tools that write maps.
void EncodeVlq(int32_t value, std::string* out);

}  // namespace tern::backend::symbolicate

#endif  // TERN_BACKEND_SYMBOLICATE_VLQ_H_
