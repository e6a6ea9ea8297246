// UTF-8 sequence checks shared by the stages that must repair text before it
// leaves the process: the web UI's HTML escaping (invalid bytes become
// U+FFFD) and the PostgreSQL store (which refuses invalid text outright).
#ifndef TERN_COMMON_UTF8_H_
#define TERN_COMMON_UTF8_H_

#include <cstddef>
#include <string_view>

namespace tern {

// Length of the valid UTF-8 sequence at the start of `s` (1-4), or 0 when
// `s` is empty or does not start with one: overlong forms, surrogates,
// values past U+10FFFF and truncated sequences are invalid. NUL is valid
// UTF-8 and counts as a 1-byte sequence.
size_t Utf8SequenceLength(std::string_view s);

}  // namespace tern

#endif  // TERN_COMMON_UTF8_H_
