#include "protocol/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

// The escaping rule written the obvious way, to check the vectorised one.
std::string ReferenceQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

// The double rule written the obvious way: shortest round trip, ".0" kept.
std::string ReferenceDouble(double v) {
  if (!std::isfinite(v)) return "null";
  if (v != 0 && std::fabs(v) < 9007199254740992.0 && v == std::trunc(v)) {
    return std::to_string(static_cast<int64_t>(v)) + ".0";
  }
  char buf[64];
  char* end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string WithJsonWriter(std::string_view s) {
  std::string out;
  JsonWriter w(&out);
  w.String(s);
  return out;
}

std::string WithBufferWriter(std::string_view s) {
  std::string out;
  JsonBufferWriter w(&out, 0);  // no head room: exercises growth too
  w.String(s);
  w.Finish();
  return out;
}

TEST(JsonWriter, WritesNestedStructuresWithCommas) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("a");
  w.Int(-1);
  w.Key("b");
  w.BeginArray();
  w.Uint(2);
  w.Bool(true);
  w.Null();
  w.BeginObject();
  w.EndObject();
  w.EndArray();
  w.Key("c");
  w.Raw("{\"x\":1}");
  w.EndObject();
  EXPECT_EQ(out, R"({"a":-1,"b":[2,true,null,{}],"c":{"x":1}})");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  std::string out;
  JsonWriter w(&out);
  w.String(std::string_view("a\"b\\c\n\t\x01\x1f\xc3\xa9", 11));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\xc3\xa9\"");
}

TEST(JsonWriter, DoublesRoundTripAndStayFloats) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  w.Double(1.0);
  w.Double(1700000000.123456);
  w.Double(1e300);
  w.Double(std::numeric_limits<double>::quiet_NaN());
  w.EndArray();
  EXPECT_EQ(out, "[1.0,1700000000.123456,1e+300,null]");
  out.clear();
  JsonWriter w2(&out);
  w2.BeginArray();
  w2.Double(1700000000.0);  // an epoch second stays readable
  w2.Double(-0.0);
  w2.Double(1e17);
  w2.EndArray();
  EXPECT_EQ(out, "[1700000000.0,-0.0,1e+17]");
}

TEST(JsonWriter, AppendsToExistingContent) {
  std::string out = "x=";
  JsonWriter w(&out);
  w.String("y");
  EXPECT_EQ(out, "x=\"y\"");
}

// The scan works in blocks of 16, 8 and 4 bytes with overlapping tails, so
// every length up to a few blocks, with the byte to escape at every
// position, is where an off-by-one would show.
TEST(JsonWriter, EscapesAtEveryPositionOfEveryShortLength) {
  const char kSpecials[] = {'"', '\\', '\n', '\x00', '\x1f', '\x7f'};
  for (size_t len = 0; len <= 50; ++len) {
    for (size_t pos = 0; pos <= len; ++pos) {
      for (char special : kSpecials) {
        std::string s(len, 'a');
        for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>('a' + i % 26);
        if (pos < len) s[pos] = special;
        const std::string want = ReferenceQuote(s);
        ASSERT_EQ(WithJsonWriter(s), want) << "len " << len << " pos " << pos;
        ASSERT_EQ(WithBufferWriter(s), want) << "len " << len << " pos " << pos;
      }
    }
  }
}

TEST(JsonWriter, RandomStringsMatchTheReference) {
  std::mt19937 rng(7);
  // Mostly printable bytes and UTF-8 high bytes, with a sprinkle of bytes
  // that need escaping.
  const std::string alphabet =
      std::string("abcXYZ019 /:.-\xc3\xa9\xe2\x82\xac") + "\"\\\n\t" +
      std::string(1, '\0') + "\x01";
  for (int round = 0; round < 3000; ++round) {
    const size_t len = rng() % 200;
    std::string s;
    for (size_t i = 0; i < len; ++i)
      s.push_back(alphabet[rng() % alphabet.size()]);
    const std::string want = ReferenceQuote(s);
    ASSERT_EQ(WithJsonWriter(s), want);
    ASSERT_EQ(WithBufferWriter(s), want);
  }
}

TEST(JsonWriter, DoublesMatchShortestRoundTrip) {
  std::vector<double> values = {1.0,
                                -1.0,
                                0.5,
                                -0.0,
                                0.1,
                                1.5,
                                100.0,
                                1e8,
                                123456789.5,
                                1e15,
                                9007199254740991.0,
                                9007199254740992.0,
                                -1e8,
                                1e16,
                                1e17,
                                1e21,
                                1e-7,
                                2.5e-300,
                                1.7976931348623157e308,
                                8589934591.999999,
                                8589934592.5,
                                1726558400.731,
                                1726558400.7310001,
                                0.999999,
                                1.000001,
                                4294967296.000001,
                                9.999999,
                                9.9999995};
  std::mt19937_64 rng(11);
  // Timestamps with 0 to 9 decimals (the fast path's shape and its edges).
  for (int i = 0; i < 20000; ++i) {
    const int decimals = static_cast<int>(rng() % 10);
    const double scale = std::pow(10.0, decimals);
    const double ts =
        std::round((1.6e9 + static_cast<double>(rng() % 200000000)) * scale +
                   static_cast<double>(rng() % 1000)) /
        scale;
    values.push_back(ts);
    values.push_back(-ts / 3.0);
  }
  // Arbitrary bit patterns (finite ones) across every magnitude.
  for (int i = 0; i < 20000; ++i) {
    const uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    if (std::isfinite(d)) values.push_back(d);
  }
  for (double v : values) {
    std::string a, b;
    JsonWriter(&a).Double(v);
    {
      JsonBufferWriter w(&b, 0);
      w.Double(v);
    }
    const std::string want = ReferenceDouble(v);
    ASSERT_EQ(a, want) << v;
    ASSERT_EQ(b, want) << v;
  }
}

TEST(JsonWriter, NonFiniteDoublesAreNull) {
  std::string out;
  JsonBufferWriter w(&out, 16);
  w.BeginArray();
  w.Double(std::numeric_limits<double>::infinity());
  w.Double(-std::numeric_limits<double>::infinity());
  w.Double(std::numeric_limits<double>::quiet_NaN());
  w.EndArray();
  w.Finish();
  EXPECT_EQ(out, "[null,null,null]");
}

TEST(JsonWriter, IntegersAtTheirLimits) {
  std::string out;
  JsonBufferWriter w(&out, 0);
  w.BeginArray();
  w.Int(std::numeric_limits<int64_t>::min());
  w.Int(std::numeric_limits<int64_t>::max());
  w.Uint(std::numeric_limits<uint64_t>::max());
  w.Int(0);
  w.EndArray();
  w.Finish();
  EXPECT_EQ(out,
            "[-9223372036854775808,9223372036854775807,18446744073709551615,"
            "0]");
}

// Both writers, driven by the same calls, must produce the same bytes.
template <typename Writer>
void WriteSample(Writer& w) {
  w.BeginObject();
  w.Key("event_id");
  w.String("0123456789abcdef0123456789abcdef");
  w.Key("a \"quoted\" key");
  w.BeginArray();
  w.Int(-5);
  w.Uint(7);
  w.Double(1726558400.25);
  w.Bool(false);
  w.Null();
  w.BeginArray();
  w.EndArray();
  w.BeginObject();
  w.Key("");
  w.String("");
  w.EndObject();
  w.Raw("[1,2]");
  w.EndArray();
  w.Key("long");
  w.String(std::string(1000, 'x') + "\n" + std::string(1000, 'y'));
  w.EndObject();
}

TEST(JsonBufferWriter, MatchesJsonWriterByteForByte) {
  std::string plain = "prefix:";
  JsonWriter a(&plain);
  WriteSample(a);
  for (size_t hint : {0, 1, 17, 100, 5000}) {
    std::string buffered = "prefix:";
    JsonBufferWriter b(&buffered, hint);
    WriteSample(b);
    b.Finish();
    EXPECT_EQ(buffered, plain) << "hint " << hint;
  }
}

TEST(JsonBufferWriter, DestructorTrimsAndFinishIsIdempotent) {
  std::string out;
  {
    JsonBufferWriter w(&out, 1000);
    w.BeginArray();
    w.Int(1);
    EXPECT_GT(out.size(), 4u);  // scratch space runs ahead until Finish
  }
  EXPECT_EQ(out, "[1");
  {
    JsonBufferWriter w(&out, 0);
    w.Int(2);
    w.Finish();
    w.Finish();
  }
  EXPECT_EQ(out, "[12");
}

}  // namespace
}  // namespace tern::protocol
