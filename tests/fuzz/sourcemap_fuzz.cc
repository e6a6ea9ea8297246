// Fuzzes backend/symbolicate's parsers of uploaded, untrusted input: source
// maps (regular and index maps), and artifact bundles (inputs starting with
// "PK", read as a zip with its manifest). Invariants:
//  - nothing crashes, hangs or allocates past the limits; failures are
//    InvalidArgument (OutOfRange for a bundle over a limit);
//  - a parsed map's tokens are sorted, their source and name indexes are in
//    range (or -1), and looking up a token's own position finds a token at
//    that position;
//  - symbolicating an event whose frame points into the map yields valid
//    JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backend/symbolicate/bundle.h"
#include "backend/symbolicate/sourcemap.h"
#include "backend/symbolicate/symbolicator.h"
#include "protocol/json_value.h"

namespace {

using namespace tern::backend::symbolicate;

void Check(bool ok) {
  if (!ok) std::abort();
}

// Serves the fuzz input as the map of every release file.
class InputSource : public ArtifactSource {
 public:
  explicit InputSource(std::string_view map) : map_(map) {}
  absl::StatusOr<std::optional<ArtifactRef>> FindByDebugId(
      int64_t, std::string_view, ArtifactKind, std::string_view) override {
    return std::nullopt;
  }
  absl::StatusOr<std::optional<ArtifactRef>> FindByUrl(
      int64_t, std::string_view, std::string_view,
      const std::vector<std::string>& urls) override {
    return ArtifactRef{urls[0], urls[0], "a.js.map"};
  }
  absl::StatusOr<std::string> Load(int64_t, const ArtifactRef& ref) override {
    if (ref.key.ends_with(".map")) return std::string(map_);
    return std::string("function a(){throw new Error}\n");
  }

 private:
  std::string_view map_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.starts_with("PK")) {
    BundleLimits limits;
    limits.max_file_bytes = 1 << 20;
    limits.max_total_bytes = 4 << 20;
    limits.max_files = 100;
    auto m = ReadBundleManifest(input, limits, true);
    if (!m.ok()) {
      Check(m.status().code() == absl::StatusCode::kInvalidArgument ||
            m.status().code() == absl::StatusCode::kOutOfRange);
      return 0;
    }
    for (const BundleFile& f : m->files) {
      auto entry = ReadBundleEntry(input, f.path, limits.max_file_bytes);
      Check(!entry.ok() || entry->size() == f.size);
    }
    return 0;
  }
  ParseLimits limits;
  limits.max_tokens = 1 << 16;
  auto map = SourceMap::Parse(input, limits);
  if (!map.ok()) {
    Check(map.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  const auto& tokens = map->tokens();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (i > 0) {
      const Token& p = tokens[i - 1];
      Check(p.dst_line < t.dst_line ||
            (p.dst_line == t.dst_line && p.dst_col <= t.dst_col));
    }
    Check(t.source >= -1 &&
          t.source < static_cast<int32_t>(map->sources().size()));
    Check(t.name >= -1 && t.name < static_cast<int32_t>(map->names().size()));
    if (i < 256) {
      const Token* found = map->Lookup(t.dst_line, t.dst_col);
      Check(found != nullptr && found->dst_line == t.dst_line &&
            found->dst_col == t.dst_col);
      (void)map->SourceLine(t.source, t.src_line);
    }
  }
  if (!tokens.empty()) {
    const Token& t = tokens[tokens.size() / 2];
    InputSource source(input);
    SymbolicatorOptions options;
    options.parse_limits = limits;
    Symbolicator symbolicator(&source, options);
    std::string event =
        "{\"platform\":\"javascript\",\"release\":\"r\",\"exception\":{"
        "\"values\":[{\"type\":\"E\",\"stacktrace\":{\"frames\":["
        "{\"abs_path\":\"https://x/a.js\",\"function\":\"a\",\"lineno\":" +
        std::to_string(uint64_t{t.dst_line} + 1) +
        ",\"colno\":" + std::to_string(uint64_t{t.dst_col} + 1) +
        "},{\"abs_path\":\"https://x/a.js\",\"lineno\":1,\"colno\":1}]}}]}}";
    std::optional<std::string> out = symbolicator.Process(1, event);
    Check(out.has_value());
    Check(tern::protocol::ParseJson(*out).ok());
  }
  return 0;
}
