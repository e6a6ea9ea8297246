#include "protocol/checksum.h"

#include <libdeflate.h>

namespace tern::protocol {

uint32_t Crc32(uint32_t crc, std::string_view data) {
  return libdeflate_crc32(crc, data.data(), data.size());
}

}  // namespace tern::protocol
