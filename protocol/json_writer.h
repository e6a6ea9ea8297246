// Small append-only writers of compact JSON into a caller-owned std::string.
//
// Every module that produces JSON (event normalization, outcomes, API bodies)
// writes through these, so escaping and number formatting are decided once.
// The writers do not check structure (that the caller closes what it opens);
// they only guarantee that each string they write is valid, escaped JSON
// text. Keys and values are passed as UTF-8 that the caller has already
// validated (simdjson does so for parsed input); bytes are not re-validated.
//
// Two writers, one output format (byte for byte):
//  - JsonWriter keeps `*out` exact after every call, so callers may mix their
//    own appends with the writer's (the envelope serializer does).
//  - JsonBufferWriter is for hot paths that write a whole document in one go
//    (event normalization re-escapes ~470 keys and strings per 8 KiB event). It
//    writes through a raw cursor into `*out`, grown ahead of the content, so a
//    string costs one capacity check instead of three std::string appends.
#ifndef TERN_PROTOCOL_JSON_WRITER_H_
#define TERN_PROTOCOL_JSON_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
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
    need_comma_ = false;
  }
  void EndObject() {
    out_->push_back('}');
    need_comma_ = true;
  }
  void BeginArray() {
    Sep();
    out_->push_back('[');
    need_comma_ = false;
  }
  void EndArray() {
    out_->push_back(']');
    need_comma_ = true;
  }

  // An object key; the next value call writes its value.
  void Key(std::string_view key);

  void String(std::string_view value);
  void Int(int64_t value);
  void Uint(uint64_t value);
  // Shortest digits that read back as the same double. Integral values keep
  // a ".0" so a float stays a float for readers that care (Python's json),
  // and below 2^53 are written out in full (1700000000.0, not 1.7e+09), as
  // Python and Relay write them. NaN and infinities are not JSON; they are
  // written as null.
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
    if (need_comma_) out_->push_back(',');
    need_comma_ = true;
  }

  std::string* out_;
  // True once a sibling has been written at this level and no Key() is
  // pending: the next key or value needs a comma before it.
  bool need_comma_ = false;
};

// Same calls and output as JsonWriter, written through a raw cursor.
// Until Finish() (or destruction), out->size() runs ahead of the content
// (the tail is scratch space that the writer fills as it goes): do not read
// or modify `*out` in between. Finish() trims it to what was written.
class JsonBufferWriter {
 public:
  // Appends after the current content of `*out`, which must outlive the
  // writer. `expected_size` is a guess of the bytes to be written; a good
  // one saves regrowing (the writer grows the buffer as needed either way).
  JsonBufferWriter(std::string* out, size_t expected_size);
  ~JsonBufferWriter() { Finish(); }
  JsonBufferWriter(const JsonBufferWriter&) = delete;
  JsonBufferWriter& operator=(const JsonBufferWriter&) = delete;

  // Trims `*out` to the bytes written. Idempotent; no writes after it.
  void Finish();

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(std::string_view key) {
    Quoted(key, /*colon=*/true);
    need_comma_ = false;
  }
  void String(std::string_view value) {
    Quoted(value, /*colon=*/false);
    need_comma_ = true;
  }
  void Int(int64_t value);
  void Uint(uint64_t value);
  void Double(double value);
  void Bool(bool value) { value ? Literal("true", 4) : Literal("false", 5); }
  void Null() { Literal("null", 4); }
  void Raw(std::string_view json) { Literal(json.data(), json.size()); }

 private:
  void Ensure(size_t n) {
    if (static_cast<size_t>(end_ - cur_) < n) Grow(n);
  }
  void Grow(size_t n);
  // The comma between siblings, written branch-free into reserved space.
  void Comma() {
    *cur_ = ',';
    cur_ += need_comma_;
  }
  void Open(char c) {
    Ensure(2);
    Comma();
    *cur_++ = c;
    need_comma_ = false;
  }
  void Close(char c) {
    Ensure(1);
    *cur_++ = c;
    need_comma_ = true;
  }
  void Literal(const char* text, size_t n) {
    Ensure(n + 1);
    Comma();
    std::memcpy(cur_, text, n);
    cur_ += n;
    need_comma_ = true;
  }
  // Comma if needed, then `value` quoted (and a colon for a key).
  void Quoted(std::string_view value, bool colon);
  // Quoted() when the buffer must grow first.
  void QuotedSlow(std::string_view value, bool colon);
  // The rest of a string, from its first byte that needs escaping (or its
  // end), through the closing quote; the opening part is written.
  void QuotedTail(const char* src, size_t left, bool colon);

  std::string* out_;
  char* cur_;
  char* end_;
  bool need_comma_ = false;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_JSON_WRITER_H_
