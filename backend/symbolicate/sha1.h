// SHA-1, the checksum sentry-cli gives every upload chunk and every
// assembled artifact bundle (chunk-upload's "hashAlgorithm": "sha1"), and the
// hash under which API tokens are stored. Our own small implementation
// (FIPS 180-4), like backend/grouping's MD5, so that no crypto library is
// pulled into the upload path; its tests check the standard vectors.
#ifndef TERN_BACKEND_SYMBOLICATE_SHA1_H_
#define TERN_BACKEND_SYMBOLICATE_SHA1_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::backend::symbolicate {

class Sha1 {
 public:
  Sha1();
  void Update(std::string_view data);
  // The digest; the object must not be updated afterwards.
  std::array<uint8_t, 20> Finish();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[5];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// The SHA-1 of `data` as 40 lowercase hex digits. Pure.
std::string Sha1Hex(std::string_view data);

}  // namespace tern::backend::symbolicate

#endif  // TERN_BACKEND_SYMBOLICATE_SHA1_H_
