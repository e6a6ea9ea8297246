#include "protocol/decode.h"

#include <brotli/decode.h>
#include <libdeflate.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/status.h"

namespace tern::protocol {
namespace {

// Without a size hint in the stream, the first output buffer is this many
// times the input: event JSON compresses 4-12x at SDK levels, so most bodies
// decode in one pass, and a miss costs one more pass at twice the size.
constexpr size_t kRatioGuess = 10;
// Small bodies still get a buffer worth a decompression attempt.
constexpr size_t kMinGuess = 4096;
// DEFLATE cannot expand more than 1032:1 (258-byte matches from 2 bits), so
// a gzip size trailer claiming more is a lie and is not worth allocating for.
constexpr size_t kMaxDeflateRatio = 1032;
// Base64 scratch larger than this is released after use, so one huge store
// body does not pin memory in the worker for the life of the process.
constexpr size_t kMaxRetainedScratch = size_t{1} << 20;

size_t SaturatingMul(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) {
    return std::numeric_limits<size_t>::max();
  }
  return a * b;
}

// Sets `s` to `n` bytes, keeping its first `keep` bytes. When the capacity
// has to grow, it grows to exactly `n`: std::string's own growth (resize,
// reserve) may round up to twice the old capacity, which would let a bomb
// push the allocation past the limit. Decoders return a view of the bytes
// they wrote and leave the string's size alone, so the next request's
// resize() zero-fills only what lies beyond the largest size seen (it was
// ~5 KB of memset per 500-byte gzip body).
void SizeBuffer(std::string* s, size_t n, size_t keep) {
  if (n > s->capacity()) {
    std::string bigger;
    bigger.reserve(n);
    bigger.append(s->data(), std::min(keep, s->size()));
    s->swap(bigger);
  }
  s->resize(n);
}

// The next output capacity after `cap` turned out too small: doubling keeps
// the total work of restarted decoders within twice the final size.
size_t Grow(size_t cap, size_t limit) {
  return std::min(limit, std::max(SaturatingMul(cap, 2), kMinGuess));
}

size_t GuessCapacity(size_t body_size, size_t limit) {
  return std::min(limit,
                  std::max(SaturatingMul(body_size, kRatioGuess), kMinGuess));
}

absl::Status TooLargeError(size_t limit) {
  return TooLarge(
      absl::StrCat("decoded body too large (limit ", limit, " bytes)"));
}

absl::Status CorruptError(std::string_view what) {
  return BadRequest(absl::StrCat("corrupt or truncated ", ToAbsl(what)));
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

// RFC 1950: compression method 8 with a window of at most 32 KiB, and a
// header checksum. A raw DEFLATE stream never starts this way in practice:
// the low nibble 8 would be a non-final stored block with non-zero padding.
bool HasZlibHeader(std::string_view data) {
  if (data.size() < 2) return false;
  const auto cmf = static_cast<uint8_t>(data[0]);
  const auto flg = static_cast<uint8_t>(data[1]);
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

// ---- base64 ----------------------------------------------------------------

// Maps a byte to its 6-bit value, kPad for '=', kSkip for whitespace and
// kBad for anything else. Both alphabets decode, as Relay accepts both.
constexpr uint8_t kBad = 0xff;
constexpr uint8_t kSkip = 0xfe;
constexpr uint8_t kPad = 0xfd;

constexpr std::array<uint8_t, 256> MakeBase64Table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kBad;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<uint8_t>(i);
    t['a' + i] = static_cast<uint8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<uint8_t>(52 + i);
  t['+'] = t['-'] = 62;
  t['/'] = t['_'] = 63;
  t['='] = kPad;
  for (char c : {' ', '\t', '\n', '\r', '\f', '\v'}) {
    t[static_cast<uint8_t>(c)] = kSkip;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kBase64 = MakeBase64Table();

absl::Status InvalidBase64() { return BadRequest("invalid base64"); }

// Validates `in` and returns its decoded length. Padding is optional, but
// when present it ends the data, is at most two '=' and completes the last
// quantum, so truncated or spliced text is caught instead of silently
// decoding to something shorter.
absl::StatusOr<size_t> Base64DecodedSize(std::string_view in) {
  size_t chars = 0;
  size_t pads = 0;
  for (char c : in) {
    const uint8_t v = kBase64[static_cast<uint8_t>(c)];
    if (v < 64) {
      if (pads) return InvalidBase64();
      ++chars;
    } else if (v == kPad) {
      ++pads;
    } else if (v == kBad) {
      return InvalidBase64();
    }
  }
  if (chars % 4 == 1 || pads > 2 || (pads && (chars + pads) % 4 != 0)) {
    return InvalidBase64();
  }
  return chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1);
}

// Decodes the first `n` bytes of `in` into dst, or fewer if `in` is shorter,
// and returns how many: enough to see what the payload is before choosing
// where the whole of it goes. Validation is left to the full decode.
size_t Base64Peek(std::string_view in, char* dst, size_t n) {
  uint32_t acc = 0;
  int bits = 0;
  size_t written = 0;
  for (char c : in) {
    if (written == n) break;
    const uint8_t v = kBase64[static_cast<uint8_t>(c)];
    if (v >= 64) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      dst[written++] = static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return written;
}

// Decodes and validates `in` (the rules of Base64DecodedSize) into dst,
// writing at most `cap` bytes, and returns the decoded length. Unbroken
// quanta of four alphabet characters, nearly all of a body, take the fast
// path; whitespace, padding and errors fall to the general loop. Trailing
// bits of the last quantum are ignored, as most decoders do.
absl::StatusOr<size_t> Base64DecodeInto(std::string_view in, char* dst,
                                        size_t cap) {
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const size_t n = in.size();
  size_t i = 0;
  size_t o = 0;
  while (i + 4 <= n && o + 3 <= cap) {
    const uint32_t a = kBase64[p[i]];
    const uint32_t b = kBase64[p[i + 1]];
    const uint32_t c = kBase64[p[i + 2]];
    const uint32_t d = kBase64[p[i + 3]];
    // Every marker (pad, skip, bad) has the top bits set.
    if ((a | b | c | d) >= 64) break;
    const uint32_t v = a << 18 | b << 12 | c << 6 | d;
    dst[o] = static_cast<char>(v >> 16);
    dst[o + 1] = static_cast<char>(v >> 8);
    dst[o + 2] = static_cast<char>(v);
    i += 4;
    o += 3;
  }
  uint32_t acc = 0;
  int bits = 0;
  size_t chars = 0;  // Since the fast path, which ends on a quantum.
  size_t pads = 0;
  for (; i < n; ++i) {
    const uint8_t v = kBase64[p[i]];
    if (v < 64) {
      if (pads) return InvalidBase64();
      ++chars;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        if (o == cap) return InvalidBase64();  // Caller sized dst wrongly.
        dst[o++] = static_cast<char>((acc >> bits) & 0xff);
      }
    } else if (v == kPad) {
      ++pads;
    } else if (v == kBad) {
      return InvalidBase64();
    }
  }
  if (chars % 4 == 1 || pads > 2 || (pads && (chars + pads) % 4 != 0)) {
    return InvalidBase64();
  }
  return o;
}

// Upper bound of the decoded length of `in`, without looking at it.
size_t Base64MaxDecodedSize(size_t encoded) { return encoded / 4 * 3 + 2; }

// ---- deleters for the C contexts --------------------------------------------

struct LibdeflateFree {
  void operator()(libdeflate_decompressor* d) const {
    libdeflate_free_decompressor(d);
  }
};
struct ZstdFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
struct BrotliFree {
  void operator()(BrotliDecoderState* s) const {
    BrotliDecoderDestroyInstance(s);
  }
};

enum class DeflateFormat { kGzip, kZlib, kRaw };

using LibdeflateFn = libdeflate_result (*)(libdeflate_decompressor*,
                                           const void*, size_t, void*, size_t,
                                           size_t*, size_t*);

}  // namespace

std::string_view ContentEncodingName(ContentEncoding encoding) {
  switch (encoding) {
    case ContentEncoding::kIdentity:
      return "identity";
    case ContentEncoding::kGzip:
      return "gzip";
    case ContentEncoding::kDeflate:
      return "deflate";
    case ContentEncoding::kBrotli:
      return "br";
    case ContentEncoding::kZstd:
      return "zstd";
  }
  return "identity";
}

absl::StatusOr<ContentEncoding> ParseContentEncoding(std::string_view value) {
  size_t begin = 0;
  size_t end = value.size();
  while (begin < end && (value[begin] == ' ' || value[begin] == '\t')) ++begin;
  while (end > begin && (value[end - 1] == ' ' || value[end - 1] == '\t')) {
    --end;
  }
  const absl::string_view v = ToAbsl(value.substr(begin, end - begin));
  if (v.empty() || absl::EqualsIgnoreCase(v, "identity") ||
      absl::EqualsIgnoreCase(v, "utf-8")) {
    return ContentEncoding::kIdentity;
  }
  if (absl::EqualsIgnoreCase(v, "gzip") ||
      absl::EqualsIgnoreCase(v, "x-gzip")) {
    return ContentEncoding::kGzip;
  }
  if (absl::EqualsIgnoreCase(v, "deflate")) return ContentEncoding::kDeflate;
  if (absl::EqualsIgnoreCase(v, "br")) return ContentEncoding::kBrotli;
  if (absl::EqualsIgnoreCase(v, "zstd")) return ContentEncoding::kZstd;
  // Header values are attacker-chosen: quote a bounded, escaped prefix.
  const std::string shown = absl::CHexEscape(v.substr(0, 64));
  if (absl::StrContains(v, ',')) {
    return UnsupportedMedia(absl::StrCat(
        "multiple Content-Encodings are not supported: \"", shown, "\""));
  }
  return UnsupportedMedia(
      absl::StrCat("unsupported Content-Encoding \"", shown, "\""));
}

class BodyDecoder::Impl {
 public:
  absl::StatusOr<std::string_view> Inflate(DeflateFormat format,
                                           std::string_view body, size_t limit,
                                           std::string_view what,
                                           std::string* out);
  absl::StatusOr<std::string_view> Zstd(std::string_view body, size_t limit,
                                        std::string* out);
  absl::StatusOr<std::string_view> Brotli(std::string_view body, size_t limit,
                                          std::string* out);
  absl::StatusOr<std::string_view> StoreBody(std::string_view body,
                                             size_t limit, std::string* out);

 private:
  std::unique_ptr<libdeflate_decompressor, LibdeflateFree> inflater_;
  std::unique_ptr<ZSTD_DCtx, ZstdFree> zstd_;
  std::string scratch_;
};

// libdeflate decodes whole buffers only, so output space is guessed (the gzip
// size trailer when there is one) and the member is restarted in a buffer
// twice as large when it runs out, up to `limit`. Doubling bounds the wasted
// passes by the final one, and keeps the hot path on libdeflate's fast loop
// (it is about twice as fast as zlib's streaming inflate here).
absl::StatusOr<std::string_view> BodyDecoder::Impl::Inflate(
    DeflateFormat format, std::string_view body, size_t limit,
    std::string_view what, std::string* out) {
  if (!inflater_) {
    inflater_.reset(libdeflate_alloc_decompressor());
    if (!inflater_) return absl::InternalError("cannot allocate inflater");
  }
  LibdeflateFn fn = libdeflate_deflate_decompress_ex;
  size_t cap = GuessCapacity(body.size(), limit);
  if (format == DeflateFormat::kZlib) {
    fn = libdeflate_zlib_decompress_ex;
  } else if (format == DeflateFormat::kGzip) {
    fn = libdeflate_gzip_decompress_ex;
    if (body.size() >= 18) {
      // ISIZE (size mod 2^32): exact for the usual single member; with
      // several it is only the last one's, so just a starting point.
      const auto* t =
          reinterpret_cast<const uint8_t*>(body.data() + body.size() - 4);
      const size_t isize = uint32_t{t[0]} | uint32_t{t[1]} << 8 |
                           uint32_t{t[2]} << 16 | uint32_t{t[3]} << 24;
      cap = std::min(
          {limit, isize, SaturatingMul(body.size(), kMaxDeflateRatio)});
    }
  }
  SizeBuffer(out, cap, 0);
  size_t pos = 0;
  std::string_view in = body;
  while (true) {
    size_t in_used = 0;
    size_t out_used = 0;
    const libdeflate_result r =
        fn(inflater_.get(), in.data(), in.size(), out->data() + pos, cap - pos,
           &in_used, &out_used);
    if (r == LIBDEFLATE_SUCCESS) {
      pos += out_used;
      in.remove_prefix(in_used);
      if (in.empty()) break;
      if (format != DeflateFormat::kGzip) {
        return BadRequest(absl::StrCat("trailing data after ", ToAbsl(what)));
      }
      continue;  // Next gzip member.
    }
    if (r != LIBDEFLATE_INSUFFICIENT_SPACE) return CorruptError(what);
    if (cap >= limit) return TooLargeError(limit);
    cap = Grow(cap, limit);
    SizeBuffer(out, cap, pos);
  }
  return std::string_view(out->data(), pos);
}

// One-shot ZSTD_decompressDCtx writes straight into the output, so unlike
// streaming it needs no window buffer: memory stays at the output plus the
// context, whatever window the frame declares. The frame's content size
// makes the usual case exact; otherwise the same doubling as for deflate.
absl::StatusOr<std::string_view> BodyDecoder::Impl::Zstd(std::string_view body,
                                                         size_t limit,
                                                         std::string* out) {
  if (!zstd_) {
    zstd_.reset(ZSTD_createDCtx());
    if (!zstd_) return absl::InternalError("cannot allocate zstd context");
  }
  const unsigned long long content_size =
      ZSTD_getFrameContentSize(body.data(), body.size());
  if (content_size == ZSTD_CONTENTSIZE_ERROR) return CorruptError("zstd body");
  size_t cap = GuessCapacity(body.size(), limit);
  if (content_size != ZSTD_CONTENTSIZE_UNKNOWN) {
    const size_t frame = ZSTD_findFrameCompressedSize(body.data(), body.size());
    if (ZSTD_isError(frame)) return CorruptError("zstd body");
    if (frame == body.size()) {
      // A single frame that declares more than the limit is rejected
      // without decoding; one that lies about its size fails in decoding.
      if (content_size > limit) return TooLargeError(limit);
      cap = static_cast<size_t>(content_size);
    }
  }
  while (true) {
    SizeBuffer(out, cap, 0);
    const size_t n = ZSTD_decompressDCtx(zstd_.get(), out->data(), cap,
                                         body.data(), body.size());
    if (!ZSTD_isError(n)) {
      return std::string_view(out->data(), n);
    }
    if (ZSTD_getErrorCode(n) != ZSTD_error_dstSize_tooSmall) {
      return BadRequest(absl::StrCat("corrupt or truncated zstd body: ",
                                     ZSTD_getErrorName(n)));
    }
    if (cap >= limit) return TooLargeError(limit);
    cap = Grow(cap, limit);
  }
}

// Brotli streams, so the output grows in place without restarts. The state
// is created per call: brotli 1.0 has no reset, and creating one costs far
// less than decoding even a small event. Brotli's own ring buffer grows with
// the output decoded so far (bounded by the stream's window), so it too stays
// proportional to `limit`.
absl::StatusOr<std::string_view> BodyDecoder::Impl::Brotli(
    std::string_view body, size_t limit, std::string* out) {
  std::unique_ptr<BrotliDecoderState, BrotliFree> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr));
  if (!state) return absl::InternalError("cannot allocate brotli decoder");
  size_t cap = GuessCapacity(body.size(), limit);
  SizeBuffer(out, cap, 0);
  size_t pos = 0;
  size_t avail_in = body.size();
  const auto* next_in = reinterpret_cast<const uint8_t*>(body.data());
  while (true) {
    size_t avail_out = cap - pos;
    auto* next_out = reinterpret_cast<uint8_t*>(out->data() + pos);
    const size_t in_before = avail_in;
    const BrotliDecoderResult r = BrotliDecoderDecompressStream(
        state.get(), &avail_in, &next_in, &avail_out, &next_out, nullptr);
    const size_t wrote = (cap - pos) - avail_out;
    pos += wrote;
    switch (r) {
      case BROTLI_DECODER_RESULT_SUCCESS:
        if (avail_in != 0) return BadRequest("trailing data after br body");
        return std::string_view(out->data(), pos);
      case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
        // Brotli asks for room only while it holds decoded bytes it could
        // not deliver (a stream that ends exactly at a full buffer reports
        // success), so a full buffer at the limit means too large.
        if (pos == cap) {
          if (cap >= limit) return TooLargeError(limit);
          cap = Grow(cap, limit);
          SizeBuffer(out, cap, pos);
        } else if (wrote == 0 && avail_in == in_before) {
          // Never seen with room to spare; a loop that cannot advance must
          // not spin.
          return CorruptError("br body");
        }
        break;
      case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
        return CorruptError("br body");
      case BROTLI_DECODER_RESULT_ERROR:
      default:
        return BadRequest(absl::StrCat(
            "corrupt br body: ",
            BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state.get()))));
    }
  }
}

absl::StatusOr<std::string_view> BodyDecoder::Impl::StoreBody(
    std::string_view body, size_t limit, std::string* out) {
  size_t begin = 0;
  size_t end = body.size();
  while (begin < end && IsSpace(body[begin])) ++begin;
  while (end > begin && IsSpace(body[end - 1])) --end;
  if (begin == end) return BadRequest("empty store body");
  const std::string_view text = body.substr(begin, end - begin);
  if (text[0] == '{') {
    if (text.size() > limit) return TooLargeError(limit);
    return text;
  }

  const size_t bound = Base64MaxDecodedSize(text.size());
  char head[2];
  if (Base64Peek(text, head, 2) == 2 &&
      HasZlibHeader(std::string_view(head, 2))) {
    SizeBuffer(&scratch_, bound, 0);
    auto decoded = Base64DecodeInto(text, scratch_.data(), bound);
    absl::StatusOr<std::string_view> result =
        decoded.ok() ? Inflate(DeflateFormat::kZlib,
                               std::string_view(scratch_.data(), *decoded),
                               limit, "zlib data in store body", out)
                     : decoded.status();
    if (scratch_.capacity() > kMaxRetainedScratch) {
      std::string().swap(scratch_);
    }
    return result;
  }
  // The bound overshoots by up to two bytes plus any whitespace; when that
  // would cross the limit, an exact count decides before anything grows.
  size_t room = bound;
  if (bound > limit) {
    TERN_ASSIGN_OR_RETURN(room, Base64DecodedSize(text));
    if (room > limit) return TooLargeError(limit);
  }
  SizeBuffer(out, room, 0);
  TERN_ASSIGN_OR_RETURN(const size_t n,
                        Base64DecodeInto(text, out->data(), room));
  return std::string_view(out->data(), n);
}

BodyDecoder::BodyDecoder() : impl_(std::make_unique<Impl>()) {}
BodyDecoder::~BodyDecoder() = default;
BodyDecoder::BodyDecoder(BodyDecoder&&) noexcept = default;
BodyDecoder& BodyDecoder::operator=(BodyDecoder&&) noexcept = default;

absl::StatusOr<std::string_view> BodyDecoder::DecodeContent(
    std::string_view content_encoding, std::string_view body, size_t limit,
    std::string* out) {
  TERN_ASSIGN_OR_RETURN(const ContentEncoding encoding,
                        ParseContentEncoding(content_encoding));
  return Decode(encoding, body, limit, out);
}

absl::StatusOr<std::string_view> BodyDecoder::Decode(ContentEncoding encoding,
                                                     std::string_view body,
                                                     size_t limit,
                                                     std::string* out) {
  switch (encoding) {
    case ContentEncoding::kIdentity:
      if (body.size() > limit) return TooLargeError(limit);
      return body;
    case ContentEncoding::kGzip:
      return impl_->Inflate(DeflateFormat::kGzip, body, limit, "gzip body",
                            out);
    case ContentEncoding::kDeflate:
      return impl_->Inflate(
          HasZlibHeader(body) ? DeflateFormat::kZlib : DeflateFormat::kRaw,
          body, limit, "deflate body", out);
    case ContentEncoding::kBrotli:
      return impl_->Brotli(body, limit, out);
    case ContentEncoding::kZstd:
      return impl_->Zstd(body, limit, out);
  }
  return absl::InternalError("unknown content encoding");
}

absl::StatusOr<std::string_view> BodyDecoder::DecodeStoreBody(
    std::string_view body, size_t limit, std::string* out) {
  return impl_->StoreBody(body, limit, out);
}

}  // namespace tern::protocol
