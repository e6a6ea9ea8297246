// Test-only: zlib-family compression of a test's payloads (gzip bodies,
// base64(zlib) store bodies, bombs), so each test does not carry its own
// deflate loop.
#ifndef TERN_TESTS_SUPPORT_COMPRESS_H_
#define TERN_TESTS_SUPPORT_COMPRESS_H_

#include <string>
#include <string_view>

namespace tern::testing {

// `data` compressed in one call: window_bits 15 gives zlib, 31 gzip, -15
// raw deflate; `level` is zlib's (0-9). Aborts the test binary if zlib
// fails, which only a broken zlib does.
std::string Deflate(std::string_view data, int window_bits, int level = 6);

}  // namespace tern::testing

#endif  // TERN_TESTS_SUPPORT_COMPRESS_H_
