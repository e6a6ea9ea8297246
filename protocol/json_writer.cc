#include "protocol/json_writer.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tern::protocol {
namespace {

// Loads and stores through memcpy: unaligned-safe, and compiled to one move.
// Byte i of the word is bits 8i..8i+7 (little-endian: x86-64, arm64).
inline uint64_t Load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline void Store8(char* p, uint64_t w) { std::memcpy(p, &w, 8); }
inline uint32_t Load4(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
inline void Store4(char* p, uint32_t w) { std::memcpy(p, &w, 4); }

// A byte must be escaped in a JSON string if it is a control character, the
// quote or the backslash. Everything else (including UTF-8 sequences) is
// copied as is. CopyClean below finds the first such byte while copying;
// SSE2 is part of x86-64, other targets get a SWAR version.
#if defined(__SSE2__)

// One bit per byte of `x`, set where the byte needs escaping (exact).
inline uint32_t EscapeMask16(__m128i x) {
  const __m128i max_ctrl = _mm_set1_epi8(0x1f);
  // Unsigned x <= 0x1f is max(x, 0x1f) == 0x1f.
  const __m128i bad =
      _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(x, max_ctrl), max_ctrl),
                   _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
  return static_cast<uint32_t>(_mm_movemask_epi8(bad));
}

inline __m128i Load16(const char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline void Store16(char* p, __m128i x) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), x);
}

// Copies the longest prefix of [src, src + n) that needs no escaping to
// `dst` and returns its length. May write up to n bytes at `dst` (bytes past
// the returned length are scratch). Never reads outside the source: short
// strings and tails use overlapping loads rather than a byte loop, because
// most keys and values are a few bytes long and contain nothing to escape.
// The tests run in vector registers, so the callers' fast path needs few
// general registers (and no saved ones).
[[gnu::always_inline]] inline size_t CopyClean(char* dst, const char* src,
                                               size_t n) {
  if (n >= 16) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m128i x = Load16(src + i);
      Store16(dst + i, x);
      const uint32_t m = EscapeMask16(x);
      if (m != 0) return i + std::countr_zero(m);
    }
    if (i < n) {
      // The last 16 bytes, overlapping what is already known to be clean.
      const size_t back = n - 16;
      const __m128i x = Load16(src + back);
      Store16(dst + back, x);
      const uint32_t m = EscapeMask16(x) >> (i - back);
      if (m != 0) return i + std::countr_zero(m);
    }
    return n;
  }
  if (n >= 8) {
    // Bytes 0..7 and n-8..n-1 side by side: lane j >= 8 is src[n - 16 + j].
    const uint64_t lo = Load8(src), hi = Load8(src + n - 8);
    Store8(dst, lo);
    Store8(dst + n - 8, hi);
    const uint32_t m = EscapeMask16(
        _mm_set_epi64x(static_cast<int64_t>(hi), static_cast<int64_t>(lo)));
    if (m == 0) return n;
    const size_t j = std::countr_zero(m);
    return j < 8 ? j : n - 16 + j;
  }
  if (n >= 4) {
    // Lanes 0..3 are src[0..3], lanes 4..7 are src[n - 8 + j]. The zeroed
    // upper lanes would read as control characters, so they are masked off.
    const uint32_t lo = Load4(src), hi = Load4(src + n - 4);
    Store4(dst, lo);
    Store4(dst + n - 4, hi);
    const uint32_t m = EscapeMask16(_mm_cvtsi64_si128(
                           static_cast<int64_t>(lo | (uint64_t{hi} << 32)))) &
                       0xff;
    if (m == 0) return n;
    const size_t j = std::countr_zero(m);
    return j < 4 ? j : n - 8 + j;
  }
  if (n == 0) return 0;
  // 1 to 3 bytes: lanes 0, 1, 2 are src[0], src[n / 2], src[n - 1], a
  // non-decreasing map, so the lowest flagged lane is the first escape.
  const unsigned char a = src[0], b = src[n / 2], c = src[n - 1];
  dst[0] = static_cast<char>(a);
  dst[n / 2] = static_cast<char>(b);
  dst[n - 1] = static_cast<char>(c);
  const uint32_t m = EscapeMask16(_mm_cvtsi32_si128(
                         static_cast<int>(a | (b << 8) | (c << 16)))) &
                     0x7;
  if (m == 0) return n;
  const int j = std::countr_zero(m);
  return j == 0 ? 0 : j == 1 ? n / 2 : n - 1;
}

#else  // The same contract in portable SWAR.

constexpr bool NeedsEscape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}

// SWAR over 8 bytes: the high bit of each byte of the result is set where
// that byte needs escaping. Exact for the lowest flagged byte (a borrow only
// spills upwards out of a byte that is itself flagged), so countr_zero finds
// the first one; flags above it may be spurious.
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;
inline uint64_t EscapeMask8(uint64_t w) {
  const uint64_t quote = w ^ (kOnes * '"');
  const uint64_t slash = w ^ (kOnes * '\\');
  const uint64_t ctrl = (w - kOnes * 0x20) & ~w;
  const uint64_t zq = (quote - kOnes) & ~quote;
  const uint64_t zs = (slash - kOnes) & ~slash;
  return (ctrl | zq | zs) & kHighs;
}

[[gnu::always_inline]] inline size_t CopyClean(char* dst, const char* src,
                                               size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t w = Load8(src + i);
    Store8(dst + i, w);
    const uint64_t m = EscapeMask8(w);
    if (m != 0) return i + std::countr_zero(m) / 8;
  }
  if (i < n && n >= 8) {
    // The last 8 bytes, overlapping what is already known to be clean.
    const size_t back = n - 8;
    const uint64_t w = Load8(src + back);
    Store8(dst + back, w);
    const uint64_t m = EscapeMask8(w) >> (8 * (i - back));
    return m == 0 ? n : i + std::countr_zero(m) / 8;
  }
  for (; i < n; ++i) {
    if (NeedsEscape(static_cast<unsigned char>(src[i]))) return i;
    dst[i] = src[i];
  }
  return n;
}

#endif

// Writes the escape for one byte that needs it; at most 6 bytes.
char* WriteEscape(char* dst, unsigned char c) {
  char short_form = 0;
  switch (c) {
    case '"':
      short_form = '"';
      break;
    case '\\':
      short_form = '\\';
      break;
    case '\n':
      short_form = 'n';
      break;
    case '\r':
      short_form = 'r';
      break;
    case '\t':
      short_form = 't';
      break;
    case '\b':
      short_form = 'b';
      break;
    case '\f':
      short_form = 'f';
      break;
  }
  dst[0] = '\\';
  if (short_form != 0) {
    dst[1] = short_form;
    return dst + 2;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  dst[1] = 'u';
  dst[2] = '0';
  dst[3] = '0';
  dst[4] = kHex[c >> 4];
  dst[5] = kHex[c & 0xf];
  return dst + 6;
}

constexpr char kDigitPairs[] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

inline void WritePair(char* p, uint32_t v) {
  std::memcpy(p, kDigitPairs + 2 * v, 2);
}

// Decimal digits of `v` (< 10^10, an epoch second count) at `p`; returns
// the end. Two digits per step: to_chars's generic path costs more than the
// rest of a timestamp's formatting.
char* WriteDigits(char* p, uint64_t v) {
  const int n = 1 + (v >= 10) + (v >= 100) + (v >= 1000) + (v >= 10000) +
                (v >= 100000) + (v >= 1000000) + (v >= 10000000) +
                (v >= 100000000) + (v >= 1000000000);
  char* const end = p + n;
  char* t = end;
  while (v >= 100) {
    t -= 2;
    WritePair(t, static_cast<uint32_t>(v % 100));
    v /= 100;
  }
  if (v >= 10) {
    WritePair(t - 2, static_cast<uint32_t>(v));
  } else {
    t[-1] = static_cast<char>('0' + v);
  }
  return end;
}

// Writes a double that has at most six decimals and lies in [1, 2^33) in
// magnitude (the shape of epoch timestamps and durations) without the
// general shortest-digits search; to_chars is most of a normalization's
// number cost. Returns nullptr, writing nothing, for anything else.
//
// Why the digits match to_chars exactly: below 2^33 one ulp is under 1e-6,
// so at most one multiple of 1e-6 reads back as `value`. If `micros` / 1e6
// (correctly rounded, as strtod reads the decimal) is `value`, that multiple
// is it, and the shortest round-trip decimal, having no more fractional
// digits, is that same number with its trailing zeros dropped. For a
// non-integral value of at least 1, fixed notation is also shorter than
// scientific, which is the form to_chars picks.
char* WriteShortDecimal(char* dst, double value) {
  const double magnitude = std::fabs(value);
  if (!(magnitude >= 1.0 && magnitude < 8589934592.0)) return nullptr;
  const uint64_t micros = static_cast<uint64_t>(magnitude * 1e6 + 0.5);
  if (static_cast<double>(micros) / 1e6 != magnitude) return nullptr;
  const uint32_t frac = static_cast<uint32_t>(micros % 1000000);
  if (frac == 0) return nullptr;  // integral: WriteDouble has a path for it
  char* p = dst;
  *p = '-';
  p += value < 0;
  p = WriteDigits(p, micros / 1000000);
  *p++ = '.';
  WritePair(p, frac / 10000);
  WritePair(p + 2, frac / 100 % 100);
  WritePair(p + 4, frac % 100);
  p += 6;
  while (p[-1] == '0') --p;  // frac != 0: stops before the point
  return p;
}

// The longest text WriteDouble produces ("-2.2250738585072014e-308" is 24).
constexpr size_t kMaxDoubleText = 32;

// The double as JsonWriter::Double documents it, at `dst`; returns the end.
char* WriteDouble(char* dst, double value) {
  if (!std::isfinite(value)) {
    std::memcpy(dst, "null", 4);
    return dst + 4;
  }
  if (char* end = WriteShortDecimal(dst, value)) return end;
  // Integral values print as integers with ".0" below 2^53 (every such
  // double is an exact integer): 1700000000.0 as Python's repr and Relay's
  // serde_json write it, not to_chars's shorter 1.7e+09. Zero goes on to
  // to_chars, which keeps the sign of -0.0.
  if (value != 0 && std::fabs(value) < 9007199254740992.0 &&
      value == static_cast<double>(static_cast<int64_t>(value))) {
    char* end =
        std::to_chars(dst, dst + kMaxDoubleText, static_cast<int64_t>(value))
            .ptr;
    end[0] = '.';
    end[1] = '0';
    return end + 2;
  }
  char* end = std::to_chars(dst, dst + kMaxDoubleText, value).ptr;
  if (std::memchr(dst, '.', end - dst) == nullptr &&
      std::memchr(dst, 'e', end - dst) == nullptr) {
    end[0] = '.';
    end[1] = '0';
    end += 2;
  }
  return end;
}

}  // namespace

// --- JsonWriter ------------------------------------------------------------

void JsonWriter::AppendQuoted(std::string* out, std::string_view value) {
  const char* src = value.data();
  size_t left = value.size();
  size_t used = out->size();
  // Room for the string as is; each escape grows it by what it adds.
  out->resize(used + left + 2);
  char* d = out->data() + used;
  *d++ = '"';
  while (true) {
    const size_t clean = CopyClean(d, src, left);
    d += clean;
    src += clean;
    left -= clean;
    if (left == 0) break;
    used = d - out->data();
    out->resize(out->size() + 5);
    d = WriteEscape(out->data() + used, static_cast<unsigned char>(*src++));
    --left;
  }
  *d++ = '"';
  out->resize(d - out->data());
}

void JsonWriter::Key(std::string_view key) {
  Sep();
  AppendQuoted(out_, key);
  out_->push_back(':');
  need_comma_ = false;
}

void JsonWriter::String(std::string_view value) {
  Sep();
  AppendQuoted(out_, value);
}

void JsonWriter::Int(int64_t value) {
  Sep();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out_->append(buf, r.ptr - buf);
}

void JsonWriter::Uint(uint64_t value) {
  Sep();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out_->append(buf, r.ptr - buf);
}

void JsonWriter::Double(double value) {
  Sep();
  char buf[kMaxDoubleText + 2];
  out_->append(buf, WriteDouble(buf, value) - buf);
}

void JsonWriter::Bool(bool value) {
  Sep();
  out_->append(value ? "true" : "false");
}

void JsonWriter::Null() {
  Sep();
  out_->append("null");
}

void JsonWriter::Raw(std::string_view json) {
  Sep();
  out_->append(json);
}

// --- JsonBufferWriter ------------------------------------------------------

JsonBufferWriter::JsonBufferWriter(std::string* out, size_t expected_size)
    : out_(out) {
  const size_t used = out->size();
  out->resize(used + expected_size + 64);
  cur_ = out->data() + used;
  end_ = out->data() + out->size();
}

void JsonBufferWriter::Finish() {
  if (out_ == nullptr) return;
  out_->resize(cur_ - out_->data());
  out_ = nullptr;
}

void JsonBufferWriter::Grow(size_t n) {
  const size_t used = cur_ - out_->data();
  out_->resize(std::max(out_->size() * 2, used + n + 64));
  cur_ = out_->data() + used;
  end_ = out_->data() + out_->size();
}

void JsonBufferWriter::Quoted(std::string_view value, bool colon) {
  // The fast path makes no calls except in tail position, so it needs no
  // saved registers: with ~1000 strings per event the prologue mattered.
  const size_t n = value.size();
  if (static_cast<size_t>(end_ - cur_) < n + 4) [[unlikely]] {
    return QuotedSlow(value, colon);
  }
  char* d = cur_;
  *d = ',';
  d += need_comma_;
  *d++ = '"';
  const size_t clean = CopyClean(d, value.data(), n);
  if (clean != n) [[unlikely]] {
    cur_ = d + clean;
    return QuotedTail(value.data() + clean, n - clean, colon);
  }
  d += n;
  d[0] = '"';
  d[1] = ':';
  cur_ = d + 1 + colon;
}

void JsonBufferWriter::QuotedSlow(std::string_view value, bool colon) {
  Ensure(value.size() + 4);  // comma, two quotes, colon
  *cur_ = ',';
  cur_ += need_comma_;
  *cur_++ = '"';
  const size_t clean = CopyClean(cur_, value.data(), value.size());
  cur_ += clean;
  QuotedTail(value.data() + clean, value.size() - clean, colon);
}

void JsonBufferWriter::QuotedTail(const char* src, size_t left, bool colon) {
  while (left != 0) {
    Ensure(left + 8);  // this escape (6), the rest, the quote and colon
    char* d = WriteEscape(cur_, static_cast<unsigned char>(*src++));
    --left;
    const size_t clean = CopyClean(d, src, left);
    cur_ = d + clean;
    src += clean;
    left -= clean;
  }
  cur_[0] = '"';
  cur_[1] = ':';
  cur_ += 1 + colon;
}

void JsonBufferWriter::Int(int64_t value) {
  Ensure(24);
  Comma();
  cur_ = std::to_chars(cur_, cur_ + 22, value).ptr;
  need_comma_ = true;
}

void JsonBufferWriter::Uint(uint64_t value) {
  Ensure(24);
  Comma();
  cur_ = std::to_chars(cur_, cur_ + 22, value).ptr;
  need_comma_ = true;
}

void JsonBufferWriter::Double(double value) {
  Ensure(kMaxDoubleText + 4);
  Comma();
  cur_ = WriteDouble(cur_, value);
  need_comma_ = true;
}

}  // namespace tern::protocol
