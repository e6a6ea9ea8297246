// JavaScript symbolication of one event, run by the backend's consumer
// before grouping (Sentry groups on the symbolicated frames): each frame of
// each exception's stacktrace whose platform is javascript or node is mapped
// through its source map to the original file, line, column and function,
// with context lines from the map's "sourcesContent".
//
// Where the map comes from (ArtifactSource, implemented over the store):
//  1. by debug ID: the frame's abs_path is a `code_file` of a
//     `debug_meta.images` entry of type "sourcemap"; its debug_id names the
//     map (and the minified file) in an uploaded artifact bundle;
//  2. by release: the minified file is looked up by the event's release and
//     dist under the names UrlCandidates gives for the abs_path ("~/" URL
//     matching), its map by the file's "sourcemap" header or its
//     "sourceMappingURL" comment, resolved against the abs_path.
//
// What changes in the event, as Sentry does it: a symbolicated frame gets
// the original abs_path, filename, lineno, colno, function, pre_context,
// context_line, post_context, and data {sourcemap, resolved_with,
// symbolicated} (and loses `module`, which SDKs derive from the minified
// file's name); the exception keeps its minified frames unchanged in
// `raw_stacktrace`. Problems (no map found, a map that does not parse, a
// position the map does not cover, a map without the source's content) are
// appended to the event's `errors` as Sentry's entries (js_no_source,
// js_invalid_source, js_invalid_sourcemap_location,
// js_missing_sources_content) and never fail the event.
//
// Parsed maps and minified sources are kept in a cache with a memory bound,
// shared by every call (thread-safe).
#ifndef TERN_BACKEND_SYMBOLICATE_SYMBOLICATOR_H_
#define TERN_BACKEND_SYMBOLICATE_SYMBOLICATOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "backend/symbolicate/sourcemap.h"

namespace tern::backend::symbolicate {

enum class ArtifactKind { kSourceMap, kMinifiedSource };

// A stored artifact, found but not yet loaded.
struct ArtifactRef {
  // Stable identity of the artifact's bytes (the cache key): two refs with
  // the same key must load the same bytes.
  std::string key;
  std::string url;        // as uploaded: "~/app.min.js.map" or a full URL
  std::string sourcemap;  // a minified file's "sourcemap" header; may be ""
};

// True when `url` and `abs_path` end in the same file name ("app.min.js"),
// the tie-break of ArtifactSource::FindByDebugId.
bool SameFileName(std::string_view url, std::string_view abs_path);

// Where artifacts come from. Called from the consumer's thread; an
// implementation must be thread-safe if one Symbolicator is shared.
class ArtifactSource {
 public:
  virtual ~ArtifactSource() = default;
  // The artifact of `kind` with `debug_id` (normalized, lower case with
  // dashes) in `project`'s bundles; nullopt when there is none. When more
  // than one matches (sentry-cli may list the original next to the minified
  // file under the same debug ID), the one whose URL ends in the same file
  // name as `abs_path` wins, else the newest. An error only when the lookup
  // itself failed (the store is down).
  virtual absl::StatusOr<std::optional<ArtifactRef>> FindByDebugId(
      int64_t project, std::string_view debug_id, ArtifactKind kind,
      std::string_view abs_path) = 0;
  // The first of `urls` stored for (`release`, `dist`) in `project`, as a
  // release file or in a bundle uploaded for that release; nullopt when none.
  virtual absl::StatusOr<std::optional<ArtifactRef>> FindByUrl(
      int64_t project, std::string_view release, std::string_view dist,
      const std::vector<std::string>& urls) = 0;
  // The bytes of a ref this source returned.
  virtual absl::StatusOr<std::string> Load(int64_t project,
                                           const ArtifactRef& ref) = 0;
};

struct SymbolicatorStats {
  std::atomic<int64_t> events{0};           // events with frames we looked at
  std::atomic<int64_t> frames_mapped{0};    // frames symbolicated
  std::atomic<int64_t> frames_failed{0};    // frames with an `errors` entry
  std::atomic<int64_t> lookup_failures{0};  // ArtifactSource errors (store)
  std::atomic<int64_t> cache_hits{0};
  std::atomic<int64_t> cache_misses{0};
  std::atomic<int64_t> cache_evictions{0};
  std::atomic<int64_t> cache_bytes{0};
};

struct SymbolicatorOptions {
  size_t cache_bytes = 256 << 20;  // parsed maps and sources held in memory
  size_t max_artifact_bytes = 64 << 20;
  ParseLimits parse_limits;
  int context_lines = 5;  // pre_context / post_context lines, as Sentry
};

class Symbolicator {
 public:
  // `source` must outlive the symbolicator.
  Symbolicator(ArtifactSource* source, SymbolicatorOptions options);
  ~Symbolicator();
  Symbolicator(const Symbolicator&) = delete;
  Symbolicator& operator=(const Symbolicator&) = delete;

  // Symbolicates the event `event_json` of `project`. Returns the rewritten
  // event JSON when any frame was mapped or any error entry added, nullopt
  // when the event is to be stored as it is (not JavaScript, no frames with
  // a line and column, not valid JSON: grouping deals with that). Never
  // fails: trouble is recorded in the event and in stats().
  std::optional<std::string> Process(int64_t project,
                                     std::string_view event_json);

  const SymbolicatorStats& stats() const { return stats_; }
  // Empties the cache (tests and benchmarks measure cold runs with it).
  void ClearCache();

  // A parsed map or a minified source, or why it cannot be used; what the
  // cache holds. Public for the implementation's helpers only.
  struct Entry {
    absl::Status status;  // not OK: the artifact failed to load or parse
    std::optional<SourceMap> map;
    std::string text;                   // a minified source
    std::vector<uint32_t> line_starts;  // of `text`
    size_t bytes = 0;
  };

 private:
  std::shared_ptr<const Entry> Get(int64_t project, const ArtifactRef& ref,
                                   ArtifactKind kind);
  void Put(const std::string& key, std::shared_ptr<const Entry> entry);

  friend class EventRewriter;

  ArtifactSource* source_;
  SymbolicatorOptions options_;
  SymbolicatorStats stats_;

  absl::Mutex mu_;
  struct Slot {
    std::shared_ptr<const Entry> entry;
    std::list<std::string>::iterator lru;
  };
  absl::flat_hash_map<std::string, Slot> cache_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // front: most recent
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tern::backend::symbolicate

#endif  // TERN_BACKEND_SYMBOLICATE_SYMBOLICATOR_H_
