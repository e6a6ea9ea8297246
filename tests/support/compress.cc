#include "tests/support/compress.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>

namespace tern::testing {

std::string Deflate(std::string_view data, int window_bits, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    std::fprintf(stderr, "tern::testing::Deflate: deflateInit2 failed\n");
    std::abort();
  }
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
    std::fprintf(stderr, "tern::testing::Deflate: deflate failed\n");
    std::abort();
  }
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace tern::testing
