// A small append-only writer of compact JSON into a caller-owned std::string.
//
// Every module that produces JSON (event normalization, outcomes, API bodies)
// writes through this, so escaping and number formatting are decided once.
// The writer does not check structure (that the caller closes what it opens);
// it only guarantees that each string it writes is valid, escaped JSON text.
// Keys and values are passed as UTF-8 that the caller has already validated
// (simdjson does so for parsed input); bytes are not re-validated here.
#ifndef TERN_PROTOCOL_JSON_WRITER_H_
#define TERN_PROTOCOL_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace tern::protocol {

class JsonWriter {
 public:
  // Appends to `*out`, which must outlive the writer. Existing content is kept,
  // so a caller can reuse one buffer (clear() keeps its capacity).
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject() {
    Sep();
    out_->push_back('{');
    first_ = true;
  }
  void EndObject() {
    out_->push_back('}');
    first_ = false;
  }
  void BeginArray() {
    Sep();
    out_->push_back('[');
    first_ = true;
  }
  void EndArray() {
    out_->push_back(']');
    first_ = false;
  }

  // An object key; the next value call writes its value.
  void Key(std::string_view key);

  void String(std::string_view value);
  void Int(int64_t value);
  void Uint(uint64_t value);
  // Shortest text that reads back as the same double. Integral values keep a
  // ".0" so a float stays a float for readers that care (Python's json).
  // NaN and infinities are not JSON; they are written as null.
  void Double(double value);
  void Bool(bool value);
  void Null();
  // Splices already-valid compact JSON (e.g. a value copied from the input).
  void Raw(std::string_view json);

  // Appends `value` as a quoted, escaped JSON string to `out`; the building
  // block of String() for callers without a writer.
  static void AppendQuoted(std::string* out, std::string_view value);

 private:
  // Writes the comma between siblings; a value right after Key() needs none.
  void Sep() {
    if (after_key_) {
      after_key_ = false;
    } else if (!first_) {
      out_->push_back(',');
    }
    first_ = false;
  }

  std::string* out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_JSON_WRITER_H_
