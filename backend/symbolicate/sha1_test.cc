#include "backend/symbolicate/sha1.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/support/samples.h"

namespace tern::backend::symbolicate {
namespace {

// FIPS 180-4 / RFC 3174 test vectors.
TEST(Sha1Test, StandardVectors) {
  EXPECT_EQ(Sha1Hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Sha1Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(Sha1Hex(std::string(1000000, 'a')),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1Test, IncrementalEqualsWhole) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7));
  Sha1 s;
  for (size_t i = 0; i < data.size(); i += 13) {
    s.Update(std::string_view(data).substr(i, 13));
  }
  const auto d = s.Finish();
  std::string hex;
  for (uint8_t b : d) {
    hex.push_back("0123456789abcdef"[b >> 4]);
    hex.push_back("0123456789abcdef"[b & 15]);
  }
  EXPECT_EQ(hex, Sha1Hex(data));
}

// Bugsink stores the real bundles under their SHA-1, as Sentry names them.
TEST(Sha1Test, RealBundlesAreNamedByTheirChecksum) {
  for (const char* sum : {"51a5a327666cf1d11e23adfd55c3becad27ae769",
                          "fc8564966f3dff67e1d59a984f97e0d6beb6debb"}) {
    EXPECT_EQ(Sha1Hex(tern::testing::ReadEventSample(
                  std::string("bugsink/artifact_bundles/") + sum + ".zip")),
              sum);
  }
}

}  // namespace
}  // namespace tern::backend::symbolicate
