// CRC-32 (the zlib/gzip polynomial) over byte strings, for formats that
// checksum their records: the relay's disk spool (relay/spool) frames every
// record with one. libdeflate's implementation is used because it is already
// a dependency of protocol/ (content decoding) and uses the CPU's carry-less
// multiply where there is one.
#ifndef TERN_PROTOCOL_CHECKSUM_H_
#define TERN_PROTOCOL_CHECKSUM_H_

#include <cstdint>
#include <string_view>

namespace tern::protocol {

// Continues the CRC-32 `crc` over `data` (start with 0). Crc32(Crc32(0, a), b)
// equals Crc32(0, a + b). Pure; thread-safe.
uint32_t Crc32(uint32_t crc, std::string_view data);

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_CHECKSUM_H_
