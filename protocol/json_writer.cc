#include "protocol/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace tern::protocol {
namespace {

// 1 where a byte must be escaped in a JSON string: control characters, the
// quote and the backslash. Everything else (including UTF-8 sequences) is
// copied as is.
constexpr bool NeedsEscape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}

}  // namespace

void JsonWriter::AppendQuoted(std::string* out, std::string_view value) {
  out->push_back('"');
  const char* p = value.data();
  const char* end = p + value.size();
  while (p < end) {
    // Copy the longest run that needs no escaping in one go.
    const char* run = p;
    while (p < end && !NeedsEscape(static_cast<unsigned char>(*p))) ++p;
    out->append(run, p - run);
    if (p == end) break;
    const unsigned char c = static_cast<unsigned char>(*p++);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out->append(esc, 6);
      }
    }
  }
  out->push_back('"');
}

void JsonWriter::Key(std::string_view key) {
  Sep();
  AppendQuoted(out_, key);
  out_->push_back(':');
  after_key_ = true;
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
  if (!std::isfinite(value)) {
    out_->append("null");
    return;
  }
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out_->append(buf, r.ptr - buf);
  if (std::memchr(buf, '.', r.ptr - buf) == nullptr &&
      std::memchr(buf, 'e', r.ptr - buf) == nullptr) {
    out_->append(".0");
  }
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

}  // namespace tern::protocol
