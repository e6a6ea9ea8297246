// A parsed source map (Source Map Revision 3): the "mappings" decoded into a
// sorted token table, with "sources" (joined with "sourceRoot"), "names" and
// "sourcesContent", and index maps ("sections" with embedded "map"s)
// flattened into one table. There is no source map library for C++ in
// Debian, so this is our own; tests/fuzz/sourcemap_fuzz.cc runs it under
// ASan/UBSan.
//
// Parsing is bounded: the caller's limits cap the input size, the tokens and
// the nesting of index maps, so a hostile map gets InvalidArgument instead of
// an unbounded allocation. A parsed map is immutable and safe to share
// between threads (the symbolicator's cache hands out shared pointers).
#ifndef TERN_BACKEND_SYMBOLICATE_SOURCEMAP_H_
#define TERN_BACKEND_SYMBOLICATE_SOURCEMAP_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::backend::symbolicate {

// One mapping segment. Lines and columns are 0-based, as in the format.
struct Token {
  uint32_t dst_line = 0;
  uint32_t dst_col = 0;
  uint32_t src_line = 0;
  uint32_t src_col = 0;
  int32_t source = -1;  // index into sources(); -1: the segment maps nothing
  int32_t name = -1;    // index into names(); -1: no name
};

struct ParseLimits {
  size_t max_bytes = 64 << 20;   // the map's JSON text
  size_t max_tokens = 16 << 20;  // decoded segments, all sections together
  int max_section_depth = 2;     // index maps inside index maps
};

class SourceMap {
 public:
  // Parses a map or an index map. InvalidArgument (with the reason) for
  // input that is not JSON, not version 3, has a malformed "mappings"
  // (bad VLQ, a segment of 2 or 3 fields, an index out of range), a section
  // that refers to a "url" instead of embedding its "map", or goes past
  // `limits`.
  static absl::StatusOr<SourceMap> Parse(std::string_view json,
                                         const ParseLimits& limits = {});

  // The token that covers 0-based (line, column): the last token on `line`
  // that starts at or before `column`. A token that maps nothing (1-field
  // segment) ends the previous one, so it is returned as well (source -1).
  // nullptr when the line has no token at or before the column.
  const Token* Lookup(uint32_t line, uint32_t column) const;

  // The token just before `token` in the table (on any line), or nullptr.
  const Token* Previous(const Token* token) const;

  const std::vector<std::string>& sources() const { return sources_; }
  const std::vector<std::string>& names() const { return names_; }
  std::string_view source(int32_t index) const;  // "" when out of range
  std::string_view name(int32_t index) const;    // "" when out of range
  // The source's text from "sourcesContent"; nullopt when the map has none
  // for it (absent, null, or shorter than "sources").
  std::optional<std::string_view> source_content(int32_t index) const;
  // Line `line` (0-based) of the source's content, without its line end;
  // nullopt when there is no content or the line is past its end.
  std::optional<std::string_view> SourceLine(int32_t index,
                                             uint32_t line) const;
  // Lines in the source's content (0 without content).
  uint32_t SourceLineCount(int32_t index) const;

  const std::vector<Token>& tokens() const { return tokens_; }
  // "debug_id" (or "debugId") from the map, "" when absent.
  const std::string& debug_id() const { return debug_id_; }
  // Approximate heap bytes held, for the cache's memory bound.
  size_t memory_bytes() const { return memory_bytes_; }

 private:
  struct Content {
    bool present = false;
    std::string text;
    std::vector<uint32_t> line_starts;  // offsets of each line's first byte
  };

  std::vector<Token> tokens_;
  std::vector<std::string> sources_;
  std::vector<std::string> names_;
  std::vector<Content> contents_;
  std::string debug_id_;
  size_t memory_bytes_ = 0;

  friend class SourceMapParser;
};

}  // namespace tern::backend::symbolicate

#endif  // TERN_BACKEND_SYMBOLICATE_SOURCEMAP_H_
