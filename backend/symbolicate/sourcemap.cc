#include "backend/symbolicate/sourcemap.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "backend/symbolicate/vlq.h"
#include "protocol/json_value.h"

namespace tern::backend::symbolicate {

using protocol::JsonValue;

class SourceMapParser {
 public:
  SourceMapParser(SourceMap* out, const ParseLimits& limits)
      : out_(out), limits_(limits) {}

  // Adds the map `v` to the output, its lines shifted by `line_offset` and
  // the columns of its first line by `column_offset` (index map sections).
  absl::Status Add(const JsonValue& v, int depth, uint32_t line_offset,
                   uint32_t column_offset) {
    if (!v.is_object()) {
      return absl::InvalidArgumentError("source map is not a JSON object");
    }
    const JsonValue& version = v["version"];
    if (version.integer() != 3) {
      return absl::InvalidArgumentError("source map version is not 3");
    }
    if (out_->debug_id_.empty()) {
      std::string_view id = v["debug_id"].string();
      if (id.empty()) id = v["debugId"].string();
      out_->debug_id_ = std::string(id);
    }
    if (const JsonValue* sections = v.Find("sections")) {
      return AddSections(*sections, depth, line_offset, column_offset);
    }
    return AddRegular(v, line_offset, column_offset);
  }

 private:
  absl::Status AddSections(const JsonValue& sections, int depth,
                           uint32_t line_offset, uint32_t column_offset) {
    if (depth >= limits_.max_section_depth) {
      return absl::InvalidArgumentError("index map sections nest too deep");
    }
    if (!sections.is_array()) {
      return absl::InvalidArgumentError("\"sections\" is not an array");
    }
    for (const JsonValue& section : sections.items()) {
      const JsonValue& offset = section["offset"];
      std::optional<int64_t> line = offset["line"].integer();
      std::optional<int64_t> column = offset["column"].integer();
      if (!line || !column || *line < 0 || *column < 0 ||
          *line > UINT32_MAX - line_offset || *column > UINT32_MAX) {
        return absl::InvalidArgumentError("section without a valid offset");
      }
      const JsonValue* map = section.Find("map");
      if (map == nullptr) {
        return absl::InvalidArgumentError(
            "section refers to a url; only embedded maps are supported");
      }
      // The first line of a section starts at the section's column; when the
      // section itself sits on the parent's first line, the parent's column
      // offset adds to it.
      const uint32_t l = line_offset + static_cast<uint32_t>(*line);
      const uint32_t c =
          static_cast<uint32_t>(*column) + (*line == 0 ? column_offset : 0);
      if (absl::Status s = Add(*map, depth + 1, l, c); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status AddRegular(const JsonValue& v, uint32_t line_offset,
                          uint32_t column_offset) {
    const int32_t source_base = static_cast<int32_t>(out_->sources_.size());
    const int32_t name_base = static_cast<int32_t>(out_->names_.size());
    std::string root(v["sourceRoot"].string());
    if (!root.empty() && root.back() != '/') root.push_back('/');
    const JsonValue& sources = v["sources"];
    const JsonValue& contents = v["sourcesContent"];
    for (size_t i = 0; i < sources.items().size(); ++i) {
      const JsonValue& s = sources.items()[i];
      out_->sources_.push_back(s.is_string() ? root + std::string(s.string())
                                             : std::string());
      SourceMap::Content& content = out_->contents_.emplace_back();
      const JsonValue& text = contents[i];
      if (text.is_string()) {
        content.present = true;
        content.text = std::string(text.string());
        content.line_starts.push_back(0);
        for (size_t k = 0; k < content.text.size(); ++k) {
          if (content.text[k] == '\n') {
            content.line_starts.push_back(static_cast<uint32_t>(k + 1));
          }
        }
      }
    }
    for (const JsonValue& n : v["names"].items()) {
      out_->names_.push_back(std::string(n.string()));
    }
    const int32_t source_count =
        static_cast<int32_t>(out_->sources_.size()) - source_base;
    const int32_t name_count =
        static_cast<int32_t>(out_->names_.size()) - name_base;

    const JsonValue& mappings_value = v["mappings"];
    if (!mappings_value.is_string()) {
      return absl::InvalidArgumentError("\"mappings\" is not a string");
    }
    const std::string_view m = mappings_value.string();
    uint32_t line = 0;
    int64_t col = 0;
    int64_t src = 0, src_line = 0, src_col = 0, name = 0;
    size_t pos = 0;
    bool prev_sorted = true;
    const size_t first_token = out_->tokens_.size();
    while (pos < m.size()) {
      const char c = m[pos];
      if (c == ';') {
        ++line;
        col = 0;
        ++pos;
        continue;
      }
      if (c == ',') {
        ++pos;
        continue;
      }
      int32_t fields[5];
      int n = 0;
      while (pos < m.size() && m[pos] != ',' && m[pos] != ';') {
        if (n == 5) {
          return absl::InvalidArgumentError(
              absl::StrCat("mapping segment of more than 5 fields at ", pos));
        }
        if (!DecodeVlq(m, &pos, &fields[n++])) {
          return absl::InvalidArgumentError(
              absl::StrCat("bad VLQ in \"mappings\" at ", pos));
        }
      }
      if (n != 1 && n != 4 && n != 5) {
        return absl::InvalidArgumentError(
            absl::StrCat("mapping segment of ", n, " fields"));
      }
      if (out_->tokens_.size() >= limits_.max_tokens) {
        return absl::InvalidArgumentError("source map has too many mappings");
      }
      col += fields[0];
      Token t;
      if (col < 0 || col > UINT32_MAX - column_offset) {
        return absl::InvalidArgumentError("negative column in \"mappings\"");
      }
      if (static_cast<uint64_t>(line) + line_offset > UINT32_MAX) {
        return absl::InvalidArgumentError("line out of range in \"mappings\"");
      }
      t.dst_line = line + line_offset;
      t.dst_col = static_cast<uint32_t>(col) + (line == 0 ? column_offset : 0);
      if (n >= 4) {
        src += fields[1];
        src_line += fields[2];
        src_col += fields[3];
        if (src < 0 || src >= source_count) {
          return absl::InvalidArgumentError(
              "source index out of range in \"mappings\"");
        }
        if (src_line < 0 || src_line > UINT32_MAX || src_col < 0 ||
            src_col > UINT32_MAX) {
          return absl::InvalidArgumentError(
              "negative source position in \"mappings\"");
        }
        t.source = source_base + static_cast<int32_t>(src);
        t.src_line = static_cast<uint32_t>(src_line);
        t.src_col = static_cast<uint32_t>(src_col);
        if (n == 5) {
          name += fields[4];
          if (name < 0 || name >= name_count) {
            return absl::InvalidArgumentError(
                "name index out of range in \"mappings\"");
          }
          t.name = name_base + static_cast<int32_t>(name);
        }
      }
      if (out_->tokens_.size() > first_token) {
        const Token& p = out_->tokens_.back();
        if (p.dst_line == t.dst_line && p.dst_col > t.dst_col) {
          prev_sorted = false;
        }
      }
      out_->tokens_.push_back(t);
    }
    if (!prev_sorted) {
      // Columns may legally go backwards within a line; lookups need order.
      std::stable_sort(out_->tokens_.begin() + first_token, out_->tokens_.end(),
                       [](const Token& a, const Token& b) {
                         return a.dst_line != b.dst_line
                                    ? a.dst_line < b.dst_line
                                    : a.dst_col < b.dst_col;
                       });
    }
    return absl::OkStatus();
  }

  SourceMap* out_;
  const ParseLimits& limits_;
};

absl::StatusOr<SourceMap> SourceMap::Parse(std::string_view json,
                                           const ParseLimits& limits) {
  if (json.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("source map of ", json.size(),
                     " bytes is over the limit of ", limits.max_bytes));
  }
  absl::StatusOr<JsonValue> v = protocol::ParseJson(json);
  if (!v.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("source map is not JSON: ", v.status().message()));
  }
  SourceMap map;
  SourceMapParser parser(&map, limits);
  if (absl::Status s = parser.Add(*v, 0, 0, 0); !s.ok()) return s;
  // Sections are ordered, but a hostile index map may overlap them.
  if (!std::is_sorted(map.tokens_.begin(), map.tokens_.end(),
                      [](const Token& a, const Token& b) {
                        return a.dst_line != b.dst_line
                                   ? a.dst_line < b.dst_line
                                   : a.dst_col < b.dst_col;
                      })) {
    std::stable_sort(map.tokens_.begin(), map.tokens_.end(),
                     [](const Token& a, const Token& b) {
                       return a.dst_line != b.dst_line ? a.dst_line < b.dst_line
                                                       : a.dst_col < b.dst_col;
                     });
  }
  map.tokens_.shrink_to_fit();
  size_t bytes = sizeof(SourceMap) + map.tokens_.capacity() * sizeof(Token);
  for (const std::string& s : map.sources_) bytes += s.capacity() + 32;
  for (const std::string& s : map.names_) bytes += s.capacity() + 32;
  for (const Content& c : map.contents_) {
    bytes += c.text.capacity() + c.line_starts.capacity() * 4 + sizeof(c);
  }
  map.memory_bytes_ = bytes;
  return map;
}

const Token* SourceMap::Lookup(uint32_t line, uint32_t column) const {
  auto it = std::upper_bound(
      tokens_.begin(), tokens_.end(), std::make_pair(line, column),
      [](const std::pair<uint32_t, uint32_t>& key, const Token& t) {
        return key.first != t.dst_line ? key.first < t.dst_line
                                       : key.second < t.dst_col;
      });
  if (it == tokens_.begin()) return nullptr;
  --it;
  if (it->dst_line != line) return nullptr;
  return &*it;
}

const Token* SourceMap::Previous(const Token* token) const {
  if (token == nullptr || token == tokens_.data()) return nullptr;
  return token - 1;
}

std::string_view SourceMap::source(int32_t index) const {
  if (index < 0 || static_cast<size_t>(index) >= sources_.size()) return "";
  return sources_[index];
}

std::string_view SourceMap::name(int32_t index) const {
  if (index < 0 || static_cast<size_t>(index) >= names_.size()) return "";
  return names_[index];
}

std::optional<std::string_view> SourceMap::source_content(int32_t index) const {
  if (index < 0 || static_cast<size_t>(index) >= contents_.size() ||
      !contents_[index].present) {
    return std::nullopt;
  }
  return std::string_view(contents_[index].text);
}

uint32_t SourceMap::SourceLineCount(int32_t index) const {
  if (index < 0 || static_cast<size_t>(index) >= contents_.size()) return 0;
  return static_cast<uint32_t>(contents_[index].line_starts.size());
}

std::optional<std::string_view> SourceMap::SourceLine(int32_t index,
                                                      uint32_t line) const {
  if (index < 0 || static_cast<size_t>(index) >= contents_.size()) {
    return std::nullopt;
  }
  const Content& c = contents_[index];
  if (!c.present || line >= c.line_starts.size()) return std::nullopt;
  const size_t begin = c.line_starts[line];
  size_t end = line + 1 < c.line_starts.size() ? c.line_starts[line + 1] - 1
                                               : c.text.size();
  std::string_view text(c.text);
  std::string_view out = text.substr(begin, end - begin);
  if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
  return out;
}

}  // namespace tern::backend::symbolicate
