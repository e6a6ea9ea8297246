// MD5 (RFC 1321), the digest Sentry's grouping hashes are made of.
//
// Grouping hashes must be byte-for-byte Sentry's, so the digest is MD5 and
// nothing else. It is used as a fingerprint, never for security. A small
// local implementation keeps OpenSSL out of the dependency list.
#ifndef TERN_BACKEND_GROUPING_MD5_H_
#define TERN_BACKEND_GROUPING_MD5_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::grouping {

// Incremental MD5: Update() any number of times, then HexDigest() once.
class Md5 {
 public:
  Md5();
  void Update(std::string_view data);
  // The 16-byte digest. Finalizes: call once, after the last Update().
  std::array<uint8_t, 16> Digest();
  // The digest as 32 lowercase hex digits (finalizes, like Digest()).
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);

  uint32_t state_[4];
  uint64_t length_ = 0;  // bytes hashed so far
  uint8_t buffer_[64];
  size_t buffered_ = 0;
};

// md5 hex of `data` in one call.
std::string Md5Hex(std::string_view data);

}  // namespace tern::grouping

#endif  // TERN_BACKEND_GROUPING_MD5_H_
