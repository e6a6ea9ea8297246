#include "protocol/decode.h"

#include <brotli/encode.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http_status.h"

namespace tern::protocol {
namespace {

using ::testing::HasSubstr;

// Slack allowed above `limit` for a decode's output buffer: the NUL that
// std::string keeps, rounded generously. Anything near a doubling would fail.
constexpr size_t kSlack = 64;

// ---- fixtures ---------------------------------------------------------

// A python exception event as sentry-python sends it (compact JSON).
constexpr std::string_view kEventHead =
    R"j({"event_id":"5ec2c82c95d14a638d79a68099c14a32",)j"
    R"j("timestamp":1726558445.13,"platform":"python","level":"error",)j"
    R"j("logger":"sentry.safe.function","environment":"prod",)j"
    R"j("release":"d0d3f1ea630178c8f2836c2d2382dd534e9b47ac",)j"
    R"j("exception":{"values":[{"type":"HTTPError",)j"
    R"j("value":"429 Client Error: Too Many Requests for url: )j"
    R"j(https://slack.com/api/chat.postMessage",)j"
    R"j("module":"requests.exceptions",)j"
    R"j("mechanism":{"type":"logging","handled":true},)j"
    R"j("stacktrace":{"frames":[{"function":"safe_execute",)j"
    R"j("module":"sentry.utils.safe","filename":"sentry/utils/safe.py",)j"
    R"j("abs_path":"/usr/src/sentry/utils/safe.py","lineno":29,)j"
    R"j("in_app":true,"context_line":"    result = func(*args, **kwargs)",)j"
    R"j("pre_context":["    try:","        if _with_transaction:"],)j"
    R"j("post_context":["        else:"]},)j"
    R"j({"function":"raise_for_status","module":"requests.models",)j"
    R"j("filename":"requests/models.py","abs_path":)j"
    R"j("/usr/local/lib/python2.7/site-packages/requests/models.py",)j"
    R"j("lineno":940,"in_app":false,"context_line":)j"
    R"j("    raise HTTPError(http_error_msg, response=self)"}]}}]},)j"
    R"j("sdk":{"name":"sentry.python","version":"1.45.0"},)j"
    R"j("user":{"id":"42817","ip_address":"203.0.113.42"},)j"
    R"j("contexts":{"runtime":{"name":"CPython","version":"3.11.2"}})j";

// An event of at least `min_bytes`, grown with breadcrumbs that vary enough
// not to compress absurdly well.
std::string MakeEvent(size_t min_bytes) {
  std::string json(kEventHead);
  json += R"(,"breadcrumbs":{"values":[)";
  uint32_t x = 12345;
  for (int i = 0; json.size() + 3 < min_bytes || i == 0; ++i) {
    x = x * 1103515245 + 12345;
    if (i) json += ',';
    json += R"({"timestamp":)" + std::to_string(1726558400 + i) +
            R"(,"type":"http","category":"httplib","data":{"method":"GET",)"
            R"("url":"https://api.example.com/v2/orders/)" +
            std::to_string(x % 1000003) + R"(","status_code":)" +
            std::to_string(200 + (x >> 8) % 4 * 100) + "}}";
  }
  json += "]}}";
  return json;
}

std::string ZlibFamily(std::string_view data, int window_bits,
                       const char* gzip_name = nullptr) {
  z_stream zs{};
  EXPECT_EQ(
      deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY),
      Z_OK);
  gz_header header{};
  if (gzip_name) {
    header.name = reinterpret_cast<Bytef*>(const_cast<char*>(gzip_name));
    EXPECT_EQ(deflateSetHeader(&zs, &header), Z_OK);
  }
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Gzip(std::string_view data) { return ZlibFamily(data, 31); }
std::string Zlib(std::string_view data) { return ZlibFamily(data, 15); }
std::string RawDeflate(std::string_view data) { return ZlibFamily(data, -15); }

std::string Brotli(std::string_view data, int quality = 5) {
  std::string out(BrotliEncoderMaxCompressedSize(data.size()) + 16, '\0');
  size_t n = out.size();
  EXPECT_TRUE(
      BrotliEncoderCompress(quality, 22, BROTLI_MODE_GENERIC, data.size(),
                            reinterpret_cast<const uint8_t*>(data.data()), &n,
                            reinterpret_cast<uint8_t*>(out.data())));
  out.resize(n);
  return out;
}

// `with_size` false leaves the frame content size out of the header, as
// streaming compressors do.
std::string Zstd(std::string_view data, bool with_size = true) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, with_size ? 1 : 0);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n =
      ZSTD_compress2(cctx, out.data(), out.size(), data.data(), data.size());
  EXPECT_FALSE(ZSTD_isError(n));
  ZSTD_freeCCtx(cctx);
  out.resize(n);
  return out;
}

enum class Codec { kGzip, kZlib, kRaw, kBrotli, kZstd, kZstdNoSize };

struct CodecCase {
  Codec codec;
  const char* header;  // Content-Encoding value sent.
  const char* name;    // Word the 400 message must contain.
};

std::string Compress(Codec codec, std::string_view data) {
  switch (codec) {
    case Codec::kGzip:
      return Gzip(data);
    case Codec::kZlib:
      return Zlib(data);
    case Codec::kRaw:
      return RawDeflate(data);
    case Codec::kBrotli:
      return Brotli(data);
    case Codec::kZstd:
      return Zstd(data);
    case Codec::kZstdNoSize:
      return Zstd(data, false);
  }
  return {};
}

const CodecCase kCodecs[] = {
    {Codec::kGzip, "gzip", "gzip"},      {Codec::kZlib, "deflate", "deflate"},
    {Codec::kRaw, "deflate", "deflate"}, {Codec::kBrotli, "br", "br"},
    {Codec::kZstd, "zstd", "zstd"},      {Codec::kZstdNoSize, "zstd", "zstd"},
};

void PrintTo(const CodecCase& c, std::ostream* os) {
  *os << c.header << "/" << static_cast<int>(c.codec);
}

std::string CaseName(const ::testing::TestParamInfo<CodecCase>& info) {
  switch (info.param.codec) {
    case Codec::kGzip:
      return "Gzip";
    case Codec::kZlib:
      return "ZlibDeflate";
    case Codec::kRaw:
      return "RawDeflate";
    case Codec::kBrotli:
      return "Brotli";
    case Codec::kZstd:
      return "Zstd";
    case Codec::kZstdNoSize:
      return "ZstdNoContentSize";
  }
  return "Unknown";
}

// 64 MiB of zeros, compressed once per codec and shared by the bomb tests.
const std::string& Bomb(Codec codec) {
  static const std::string zeros(size_t{64} << 20, '\0');
  static std::string bombs[6];
  std::string& bomb = bombs[static_cast<int>(codec)];
  if (bomb.empty()) {
    bomb = codec == Codec::kBrotli ? Brotli(zeros, 1) : Compress(codec, zeros);
  }
  return bomb;
}

int Http(const absl::Status& s) { return HttpStatusFor(s); }

// ---- ParseContentEncoding --------------------------------------------------

TEST(ParseContentEncodingTest, IdentityForms) {
  for (std::string_view v :
       {"", "identity", "IDENTITY", " identity\t", "UTF-8", "utf-8", "  "}) {
    auto e = ParseContentEncoding(v);
    ASSERT_TRUE(e.ok()) << v;
    EXPECT_EQ(*e, ContentEncoding::kIdentity) << v;
  }
}

TEST(ParseContentEncodingTest, KnownCodingsCaseInsensitiveAndTrimmed) {
  const std::pair<std::string_view, ContentEncoding> cases[] = {
      {"gzip", ContentEncoding::kGzip},
      {"x-gzip", ContentEncoding::kGzip},
      {" GZip ", ContentEncoding::kGzip},
      {"X-GZIP", ContentEncoding::kGzip},
      {"deflate", ContentEncoding::kDeflate},
      {"\tDEFLATE", ContentEncoding::kDeflate},
      {"br", ContentEncoding::kBrotli},
      {"BR", ContentEncoding::kBrotli},
      {"zstd", ContentEncoding::kZstd},
      {"Zstd ", ContentEncoding::kZstd},
  };
  for (const auto& [value, want] : cases) {
    auto e = ParseContentEncoding(value);
    ASSERT_TRUE(e.ok()) << value;
    EXPECT_EQ(*e, want) << value;
  }
}

TEST(ParseContentEncodingTest, UnknownIs415WithValue) {
  for (std::string_view v : {"compress", "lz4", "gzipx", "x-deflate", "br2"}) {
    auto e = ParseContentEncoding(v);
    ASSERT_FALSE(e.ok()) << v;
    EXPECT_EQ(Http(e.status()), 415) << v;
    EXPECT_THAT(std::string(e.status().message()), HasSubstr(std::string(v)));
  }
}

TEST(ParseContentEncodingTest, ListsAreUnsupported) {
  for (std::string_view v : {"gzip, identity", "identity,gzip", "gzip, br"}) {
    auto e = ParseContentEncoding(v);
    ASSERT_FALSE(e.ok()) << v;
    EXPECT_EQ(Http(e.status()), 415);
    EXPECT_THAT(std::string(e.status().message()), HasSubstr("multiple"));
  }
}

TEST(ParseContentEncodingTest, HostileValueIsEscapedAndBounded) {
  const std::string value = "\x01\"evil\n" + std::string(1000, 'a');
  auto e = ParseContentEncoding(value);
  ASSERT_FALSE(e.ok());
  const std::string msg(e.status().message());
  EXPECT_LT(msg.size(), 400u);
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_EQ(msg.find('\x01'), std::string::npos);
}

TEST(ParseContentEncodingTest, Names) {
  EXPECT_EQ(ContentEncodingName(ContentEncoding::kIdentity), "identity");
  EXPECT_EQ(ContentEncodingName(ContentEncoding::kGzip), "gzip");
  EXPECT_EQ(ContentEncodingName(ContentEncoding::kDeflate), "deflate");
  EXPECT_EQ(ContentEncodingName(ContentEncoding::kBrotli), "br");
  EXPECT_EQ(ContentEncodingName(ContentEncoding::kZstd), "zstd");
}

// ---- identity --------------------------------------------------------------

TEST(DecodeContentTest, IdentityIsAViewWithoutCopy) {
  BodyDecoder decoder;
  const std::string body = MakeEvent(2000);
  for (std::string_view coding : {"", "identity", "UTF-8", "Identity "}) {
    std::string out = "untouched";
    auto r = decoder.DecodeContent(coding, body, body.size(), &out);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->data(), body.data());
    EXPECT_EQ(r->size(), body.size());
    EXPECT_EQ(out, "untouched");
  }
}

TEST(DecodeContentTest, IdentityLimitBoundary) {
  BodyDecoder decoder;
  const std::string body = MakeEvent(1000);
  std::string out;
  EXPECT_TRUE(decoder.DecodeContent("identity", body, body.size(), &out).ok());
  auto r = decoder.DecodeContent("identity", body, body.size() - 1, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 413);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("too large"));
}

TEST(DecodeContentTest, IdentityEmptyBody) {
  BodyDecoder decoder;
  std::string out;
  auto r = decoder.DecodeContent("", "", 0, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(DecodeContentTest, UnknownEncodingIs415) {
  BodyDecoder decoder;
  std::string out;
  auto r = decoder.DecodeContent("compress", "abc", 100, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 415);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("compress"));
}

// ---- every codec -----------------------------------------------------------

class CodecTest : public ::testing::TestWithParam<CodecCase> {
 protected:
  absl::StatusOr<std::string_view> Decode(std::string_view body, size_t limit) {
    return decoder_.DecodeContent(GetParam().header, body, limit, &out_);
  }
  void ExpectBadRequest(std::string_view body, size_t limit = 1 << 20) {
    auto r = Decode(body, limit);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(Http(r.status()), 400) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(GetParam().name));
  }
  std::string Compressed(std::string_view data) {
    return Compress(GetParam().codec, data);
  }

  BodyDecoder decoder_;
  std::string out_;
};

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecTest, ::testing::ValuesIn(kCodecs),
                         CaseName);

TEST_P(CodecTest, RoundTripsEventsOfManySizes) {
  for (size_t size : {size_t{1} << 10, size_t{8} << 10, size_t{50} << 10,
                      size_t{300} << 10, size_t{3} << 20}) {
    const std::string json = MakeEvent(size);
    const std::string body = Compressed(json);
    auto r = Decode(body, 4 << 20);
    ASSERT_TRUE(r.ok()) << size << ": " << r.status();
    EXPECT_EQ(r->data(), out_.data());
    EXPECT_GE(out_.size(), json.size());  // the view is its start
    EXPECT_TRUE(*r == json) << size;
  }
}

TEST_P(CodecTest, EmptyContentRoundTrips) {
  auto r = Decode(Compressed(""), 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
}

TEST_P(CodecTest, OutputExactlyAtLimitPassesOneByteOverFails) {
  for (size_t size : {size_t{1000}, size_t{8} << 10, size_t{200} << 10}) {
    const std::string json = MakeEvent(size);
    const std::string body = Compressed(json);
    auto ok = Decode(body, json.size());
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_TRUE(*ok == json);

    std::string fresh;
    auto over = decoder_.DecodeContent(GetParam().header, body, json.size() - 1,
                                       &fresh);
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(Http(over.status()), 413) << over.status();
    EXPECT_THAT(std::string(over.status().message()), HasSubstr("too large"));
    EXPECT_LE(fresh.capacity(), json.size() - 1 + kSlack);
  }
}

TEST_P(CodecTest, BombStopsAtTheLimit) {
  const std::string& bomb = Bomb(GetParam().codec);
  ASSERT_LT(bomb.size(), size_t{1} << 20);  // Really a bomb.
  for (size_t limit : {size_t{1} << 20, size_t{100000}, size_t{0}}) {
    std::string out;
    auto r = decoder_.DecodeContent(GetParam().header, bomb, limit, &out);
    ASSERT_FALSE(r.ok()) << limit;
    EXPECT_EQ(Http(r.status()), 413) << r.status();
    EXPECT_LE(out.capacity(), limit + kSlack) << limit;
  }
}

TEST_P(CodecTest, TruncatedStreamIs400) {
  const std::string body = Compressed(MakeEvent(20000));
  ExpectBadRequest(std::string_view(body).substr(0, body.size() - 1));
  ExpectBadRequest(std::string_view(body).substr(0, body.size() / 2));
  ExpectBadRequest(std::string_view(body).substr(0, 3));
  ExpectBadRequest("");
}

TEST_P(CodecTest, GarbageIs400) {
  ExpectBadRequest("this is not compressed at all, just text");
  std::string noise;
  uint32_t x = 99;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1664525 + 1013904223;
    noise.push_back(static_cast<char>(x >> 24));
  }
  ExpectBadRequest(noise);
}

TEST_P(CodecTest, CorruptedMiddleNeverExceedsLimit) {
  // Raw deflate, brotli and zstd (without its optional checksum) carry no
  // integrity check, so a flipped byte may still decode; what must hold is
  // that the result is an error or stays within the limit.
  const std::string json = MakeEvent(20000);
  std::string body = Compressed(json);
  for (size_t i = body.size() / 3; i < body.size() / 3 + 8; ++i)
    body[i] ^= 0x55;
  std::string out;
  auto r = decoder_.DecodeContent(GetParam().header, body, 30000, &out);
  if (r.ok()) {
    EXPECT_LE(r->size(), 30000u);
  } else {
    EXPECT_THAT(Http(r.status()), ::testing::AnyOf(400, 413)) << r.status();
  }
  EXPECT_LE(out.capacity(), 30000 + kSlack);
}

TEST_P(CodecTest, HighRatioBodyGrowsTheBuffer) {
  // ~100:1, far past the first guess for codecs without a size hint.
  const std::string data = std::string(600000, 'x') + MakeEvent(5000);
  const std::string body = Compressed(data);
  std::string out;
  auto r = decoder_.DecodeContent(GetParam().header, body, 1 << 20, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == data);
  EXPECT_LE(out.capacity(), (size_t{1} << 20) + kSlack);
}

TEST_P(CodecTest, TrailingGarbageIs400) {
  const std::string json = MakeEvent(5000);
  std::string body = Compressed(json) + "trailing!";
  ExpectBadRequest(body);
}

TEST_P(CodecTest, ReusesOutputCapacity) {
  const std::string big = Compressed(MakeEvent(50 << 10));
  const std::string small_json = MakeEvent(8 << 10);
  const std::string small = Compressed(small_json);
  ASSERT_TRUE(Decode(big, 1 << 20).ok());
  const size_t capacity = out_.capacity();
  const char* data = out_.data();
  for (int i = 0; i < 3; ++i) {
    auto r = Decode(small, 1 << 20);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(*r == small_json);
    EXPECT_EQ(out_.capacity(), capacity);
    EXPECT_EQ(out_.data(), data);
  }
}

// ---- codec specifics -------------------------------------------------------

TEST(DecodeContentTest, XGzipAndCaseInsensitiveHeader) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(3000);
  const std::string body = Gzip(json);
  for (std::string_view coding : {"x-gzip", "GZIP", " Gzip\t"}) {
    std::string out;
    auto r = decoder.DecodeContent(coding, body, 1 << 20, &out);
    ASSERT_TRUE(r.ok()) << coding << ": " << r.status();
    EXPECT_TRUE(*r == json);
  }
}

TEST(DecodeContentTest, GzipWithFileNameHeader) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(3000);
  const std::string body = ZlibFamily(json, 31, "event.json");
  std::string out;
  auto r = decoder.DecodeContent("gzip", body, 1 << 20, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == json);
}

TEST(DecodeContentTest, MultiMemberGzip) {
  BodyDecoder decoder;
  const std::string a = MakeEvent(20000);
  const std::string b = "tail member";
  const std::string body = Gzip(a) + Gzip("") + Gzip(b);
  std::string out;
  auto r = decoder.DecodeContent("gzip", body, 1 << 20, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == a + b);

  // The limit covers all members together, not each.
  std::string fresh;
  r = decoder.DecodeContent("gzip", body, a.size() + b.size(), &fresh);
  ASSERT_TRUE(r.ok()) << r.status();
  r = decoder.DecodeContent("gzip", body, a.size() + b.size() - 1, &fresh);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 413);
}

TEST(DecodeContentTest, GzipWithWrongSizeTrailerIsRejected) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(20000);
  std::string body = Gzip(json);
  // ISIZE claims 10 bytes: the decoder starts small and must grow, then the
  // trailer check fails.
  body[body.size() - 4] = 10;
  body[body.size() - 3] = body[body.size() - 2] = body[body.size() - 1] = 0;
  std::string out;
  auto r = decoder.DecodeContent("gzip", body, 1 << 20, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 400);
}

TEST(DecodeContentTest, GzipTrailerClaimingHugeSizeDoesNotAllocateIt) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(2000);
  std::string body = Gzip(json);
  body[body.size() - 1] = '\x7f';  // ISIZE ~2 GiB.
  std::string out;
  auto r = decoder.DecodeContent("gzip", body, 64 << 20, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 400);
  // Bounded by DEFLATE's maximum ratio, far below the claim and the limit.
  EXPECT_LE(out.capacity(), body.size() * 1032 + kSlack);
}

TEST(DecodeContentTest, DeflateAcceptsZlibAndRaw) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(10000);
  const std::string zlib = Zlib(json);
  const std::string raw = RawDeflate(json);
  ASSERT_NE(zlib.substr(2), raw);  // Different framing, same data.
  std::string out;
  auto r = decoder.DecodeContent("deflate", zlib, 1 << 20, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == json);
  r = decoder.DecodeContent("deflate", raw, 1 << 20, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == json);
}

TEST(DecodeContentTest, ZlibChecksumMismatchIs400) {
  BodyDecoder decoder;
  std::string body = Zlib(MakeEvent(10000));
  body.back() ^= 1;  // Adler-32.
  std::string out;
  auto r = decoder.DecodeContent("deflate", body, 1 << 20, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 400);
}

TEST(DecodeContentTest, GzipCrcMismatchIs400) {
  BodyDecoder decoder;
  std::string body = Gzip(MakeEvent(10000));
  body[body.size() - 8] ^= 1;  // CRC-32.
  std::string out;
  auto r = decoder.DecodeContent("gzip", body, 1 << 20, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 400);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("gzip"));
}

TEST(DecodeContentTest, ZstdMultipleAndSkippableFrames) {
  BodyDecoder decoder;
  const std::string a = MakeEvent(10000);
  const std::string b = MakeEvent(3000);
  // A skippable frame: magic 0x184D2A50, 4-byte length, payload.
  std::string skippable("\x50\x2a\x4d\x18\x03\x00\x00\x00xyz", 11);
  const std::string body = skippable + Zstd(a) + Zstd(b, false);
  std::string out;
  auto r = decoder.DecodeContent("zstd", body, 1 << 20, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == a + b);
  r = decoder.DecodeContent("zstd", body, a.size() + b.size() - 1, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 413);
}

TEST(DecodeContentTest, ZstdDeclaredSizeOverLimitIsRejectedUpFront) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(100000);
  const std::string body = Zstd(json);
  std::string out;
  auto r = decoder.DecodeContent("zstd", body, 1000, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 413);
  // Nothing was decoded, so nothing was allocated.
  EXPECT_EQ(out.capacity(), std::string().capacity());
}

TEST(DecodeContentTest, ZstdRejectsLyingContentSize) {
  BodyDecoder decoder;
  std::string body = Zstd("0123456789abcdef0123456789abcdef");
  // Single-segment frame: the content size byte follows the descriptor.
  ASSERT_EQ(static_cast<uint8_t>(body[4]) & 0xc0, 0);
  ASSERT_EQ(static_cast<uint8_t>(body[4]) & 0x20, 0x20);
  body[5] = 5;
  std::string out;
  auto r = decoder.DecodeContent("zstd", body, 1 << 20, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 400);
}

TEST(DecodeContentTest, BrotliLargeWindowIsNotAccepted) {
  // Brotli's large-window extension is not part of the HTTP coding.
  BrotliEncoderState* enc =
      BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
  BrotliEncoderSetParameter(enc, BROTLI_PARAM_LARGE_WINDOW, 1);
  BrotliEncoderSetParameter(enc, BROTLI_PARAM_LGWIN, 26);
  const std::string json = MakeEvent(5000);
  std::string body(BrotliEncoderMaxCompressedSize(json.size()) + 64, '\0');
  size_t avail_in = json.size();
  const auto* next_in = reinterpret_cast<const uint8_t*>(json.data());
  size_t avail_out = body.size();
  auto* next_out = reinterpret_cast<uint8_t*>(body.data());
  ASSERT_TRUE(BrotliEncoderCompressStream(enc, BROTLI_OPERATION_FINISH,
                                          &avail_in, &next_in, &avail_out,
                                          &next_out, nullptr));
  BrotliEncoderDestroyInstance(enc);
  body.resize(body.size() - avail_out);
  BodyDecoder decoder;
  std::string out;
  auto r = decoder.DecodeContent("br", body, 1 << 20, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 400);
}

TEST(DecodeContentTest, BrotliFlushedStreamAtExactLimit) {
  // A streaming encoder that flushes emits the data, then a separate final
  // empty meta-block: the output is full before the stream has ended.
  const std::string a = MakeEvent(3000);
  const std::string b = MakeEvent(2000);
  BrotliEncoderState* enc =
      BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
  std::string body(64 << 10, '\0');
  size_t avail_out = body.size();
  auto* next_out = reinterpret_cast<uint8_t*>(body.data());
  for (const auto& [chunk, op] :
       {std::pair<std::string_view, BrotliEncoderOperation>{
            a, BROTLI_OPERATION_FLUSH},
        {b, BROTLI_OPERATION_FLUSH},
        {"", BROTLI_OPERATION_FINISH}}) {
    size_t avail_in = chunk.size();
    const auto* next_in = reinterpret_cast<const uint8_t*>(chunk.data());
    ASSERT_TRUE(BrotliEncoderCompressStream(enc, op, &avail_in, &next_in,
                                            &avail_out, &next_out, nullptr));
    ASSERT_EQ(avail_in, 0u);
  }
  BrotliEncoderDestroyInstance(enc);
  body.resize(body.size() - avail_out);

  BodyDecoder decoder;
  for (size_t limit : {a.size() + b.size(), a.size()}) {
    std::string out;
    auto r = decoder.DecodeContent("br", body, limit, &out);
    if (limit == a.size() + b.size()) {
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_TRUE(*r == a + b);
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(Http(r.status()), 413);
    }
  }
}

TEST(DecodeContentTest, LimitZeroWithContentIs413) {
  BodyDecoder decoder;
  for (auto [coding, body] :
       {std::pair<std::string_view, std::string>{"gzip", Gzip("x")},
        {"deflate", Zlib("x")},
        {"br", Brotli("x")},
        {"zstd", Zstd("x")},
        {"zstd", Zstd("x", false)}}) {
    std::string out;
    auto r = decoder.DecodeContent(coding, body, 0, &out);
    ASSERT_FALSE(r.ok()) << coding;
    EXPECT_EQ(Http(r.status()), 413) << coding << ": " << r.status();
  }
}

TEST(DecodeContentTest, OneDecoderServesInterleavedCodings) {
  BodyDecoder decoder;
  std::string out;
  for (int round = 0; round < 3; ++round) {
    for (const CodecCase& c : kCodecs) {
      const std::string json = MakeEvent(1000 + 3000 * round);
      auto r = decoder.DecodeContent(c.header, Compress(c.codec, json), 1 << 20,
                                     &out);
      ASSERT_TRUE(r.ok()) << c.header << ": " << r.status();
      EXPECT_TRUE(*r == json);
    }
  }
}

TEST(DecodeContentTest, MovedDecoderStillWorks) {
  BodyDecoder a;
  std::string out;
  const std::string json = MakeEvent(2000);
  ASSERT_TRUE(a.DecodeContent("zstd", Zstd(json), 1 << 20, &out).ok());
  BodyDecoder b = std::move(a);
  auto r = b.DecodeContent("gzip", Gzip(json), 1 << 20, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r == json);
}

// ---- store bodies ----------------------------------------------------------

std::string Base64(std::string_view data, bool url_safe = false,
                   bool pad = true) {
  const char* alphabet =
      url_safe
          ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = uint32_t{static_cast<uint8_t>(data[i])} << 16 |
                       uint32_t{static_cast<uint8_t>(data[i + 1])} << 8 |
                       static_cast<uint8_t>(data[i + 2]);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (data.size() - i == 1) {
    const uint32_t v = uint32_t{static_cast<uint8_t>(data[i])} << 16;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (data.size() - i == 2) {
    const uint32_t v = uint32_t{static_cast<uint8_t>(data[i])} << 16 |
                       uint32_t{static_cast<uint8_t>(data[i + 1])} << 8;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

std::string WrapLines(std::string_view s, size_t width) {
  std::string out;
  for (size_t i = 0; i < s.size(); i += width) {
    out += s.substr(i, width);
    out += "\r\n";
  }
  return out;
}

TEST(DecodeStoreBodyTest, RawJsonIsATrimmedView) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(3000);
  const std::string body = " \r\n\t" + json + "\n";
  std::string out = "untouched";
  auto r = decoder.DecodeStoreBody(body, json.size(), &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data(), body.data() + 4);
  EXPECT_TRUE(*r == json);
  EXPECT_EQ(out, "untouched");

  r = decoder.DecodeStoreBody(body, json.size() - 1, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 413);
}

TEST(DecodeStoreBodyTest, Base64OfZlibJson) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(20000);
  const std::string z = Zlib(json);
  for (const std::string& body :
       {Base64(z), Base64(z, true), Base64(z, false, false),
        "  " + Base64(z) + "\n", WrapLines(Base64(z), 76)}) {
    std::string out;
    auto r = decoder.DecodeStoreBody(body, json.size(), &out);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(*r == json);
    EXPECT_EQ(r->data(), out.data());
  }
}

TEST(DecodeStoreBodyTest, Base64OfPlainJson) {
  BodyDecoder decoder;
  // Sizes 0, 1 and 2 mod 3 exercise every padding form.
  for (size_t extra : {0, 1, 2}) {
    const std::string json = MakeEvent(1000) + std::string(extra, ' ');
    for (const std::string& body : {Base64(json), Base64(json, true, false),
                                    WrapLines(Base64(json), 64)}) {
      std::string out;
      auto r = decoder.DecodeStoreBody(body, json.size(), &out);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_TRUE(*r == json) << extra;
      r = decoder.DecodeStoreBody(body, json.size() - 1, &out);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(Http(r.status()), 413);
    }
  }
}

TEST(DecodeStoreBodyTest, ZlibLimitBoundary) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(50000);
  const std::string body = Base64(Zlib(json));
  std::string out;
  EXPECT_TRUE(decoder.DecodeStoreBody(body, json.size(), &out).ok());
  std::string fresh;
  auto r = decoder.DecodeStoreBody(body, json.size() - 1, &fresh);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 413);
  EXPECT_LE(fresh.capacity(), json.size() - 1 + kSlack);
}

TEST(DecodeStoreBodyTest, ZlibBombStopsAtTheLimit) {
  BodyDecoder decoder;
  const std::string body = Base64(Bomb(Codec::kZlib));
  std::string out;
  auto r = decoder.DecodeStoreBody(body, 1 << 20, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Http(r.status()), 413);
  EXPECT_LE(out.capacity(), (size_t{1} << 20) + kSlack);
}

TEST(DecodeStoreBodyTest, InvalidBase64) {
  BodyDecoder decoder;
  for (std::string_view body :
       {"!!!!", "eyJh*GVs", "a", "abcde", "ab===", "ab=c", "abc==", "a=bc",
        "YWJj\x80", "YW Jj ="}) {
    // A large limit takes the single-pass decode, a tiny one the exact
    // count first: both must reject.
    for (size_t limit : {size_t{1} << 20, size_t{2}}) {
      std::string out;
      auto r = decoder.DecodeStoreBody(body, limit, &out);
      ASSERT_FALSE(r.ok()) << body;
      EXPECT_EQ(Http(r.status()), 400) << body;
      EXPECT_THAT(std::string(r.status().message()),
                  HasSubstr("invalid base64"))
          << body;
    }
  }
}

TEST(DecodeStoreBodyTest, InvalidBase64AfterAValidPrefix) {
  BodyDecoder decoder;
  const std::string json = MakeEvent(5000);
  // Bad characters deep inside, past the fast path's first quanta, in both
  // the zlib and the plain route.
  for (std::string body : {Base64(Zlib(json)), Base64(json)}) {
    body[body.size() / 2] = '*';
    std::string out;
    auto r = decoder.DecodeStoreBody(body, 1 << 20, &out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(Http(r.status()), 400);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("invalid base64"));
  }
}

TEST(DecodeStoreBodyTest, WhitespaceHeavyBase64AtTheLimit) {
  // The encoded text is far longer than the limit allows for, but the
  // decoded JSON fits exactly.
  BodyDecoder decoder;
  const std::string json = MakeEvent(2000);
  const std::string body = WrapLines(Base64(json), 4);
  std::string out;
  auto r = decoder.DecodeStoreBody(body, json.size(), &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == json);
  EXPECT_LE(out.capacity(), json.size() + kSlack);
}

TEST(DecodeStoreBodyTest, BadZlibIs400) {
  BodyDecoder decoder;
  const std::string z = Zlib(MakeEvent(5000));
  std::string garbage = z.substr(0, 2) + "not deflate data at all........";
  for (const std::string& payload :
       {z.substr(0, z.size() / 2), garbage, z + "trailing"}) {
    std::string out;
    auto r = decoder.DecodeStoreBody(Base64(payload), 1 << 20, &out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(Http(r.status()), 400) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("zlib"));
  }
}

TEST(DecodeStoreBodyTest, EmptyBodyIs400) {
  BodyDecoder decoder;
  for (std::string_view body : {"", "   ", "\r\n"}) {
    std::string out;
    auto r = decoder.DecodeStoreBody(body, 1 << 20, &out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(Http(r.status()), 400);
  }
}

TEST(DecodeStoreBodyTest, DecodedNonZlibBytesAreReturnedAsIs) {
  // Not JSON and not zlib: handed on, for the JSON parser to reject.
  BodyDecoder decoder;
  std::string out;
  auto r = decoder.DecodeStoreBody(Base64("hello"), 100, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "hello");
}

}  // namespace
}  // namespace tern::protocol
