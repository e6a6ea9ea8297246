// Artifact bundles as sentry-cli uploads them (`sentry-cli sourcemaps
// upload`): a zip archive with a manifest.json that lists each file's type
// ("minified_source", "source_map", "source"...), its URL ("~/app.min.js")
// and headers ("debug-id", "sourcemap"), plus the bundle's own debug_id and,
// for release-bound uploads, its release and dist.
//
// libzip is included here and nowhere else (ARCHITECTURE.md: one module per C
// library). Archives are read from memory; every size is checked against the
// caller's limits before anything is inflated, and libzip checks each
// entry's CRC as it is read, so a corrupt or hostile archive gets
// InvalidArgument and never an unbounded allocation.
#ifndef TERN_BACKEND_SYMBOLICATE_BUNDLE_H_
#define TERN_BACKEND_SYMBOLICATE_BUNDLE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::backend::symbolicate {

struct BundleFile {
  std::string path;       // the entry's name in the archive
  std::string type;       // "minified_source", "source_map", "source", ...
  std::string url;        // "~/app.min.js"
  std::string debug_id;   // header "debug-id", lower case; may be ""
  std::string sourcemap;  // header "sourcemap" / "x-sourcemap"; may be ""
  uint64_t size = 0;      // uncompressed bytes
};

struct BundleManifest {
  std::string debug_id;  // the bundle's; may be ""
  std::string org;
  std::string project;
  std::string release;  // may be ""
  std::string dist;     // may be ""
  std::vector<BundleFile> files;
};

struct BundleLimits {
  uint64_t max_file_bytes = 64 << 20;    // one entry, uncompressed
  uint64_t max_total_bytes = 256 << 20;  // all entries, uncompressed
  size_t max_files = 20000;
  uint64_t max_manifest_bytes = 16 << 20;
};

// Reads the archive's manifest.json and checks that every file it lists is
// in the archive within `limits`. With `verify_contents`, every listed entry
// is also inflated once (into a bounded scratch buffer) so that a bad CRC or
// a truncated stream is found now, at upload, rather than at the first event.
// InvalidArgument with the reason for a bad zip or a missing or malformed
// manifest; OutOfRange for a size or count over a limit (the API's 413).
absl::StatusOr<BundleManifest> ReadBundleManifest(std::string_view zip,
                                                  const BundleLimits& limits,
                                                  bool verify_contents);

// The uncompressed bytes of entry `path`. NotFound when the archive has no
// such entry; InvalidArgument for a bad archive, OutOfRange for an entry
// over `max_bytes`.
absl::StatusOr<std::string> ReadBundleEntry(std::string_view zip,
                                            std::string_view path,
                                            uint64_t max_bytes);

// Lower-cases a debug ID and restores its dashes when it came without them
// (32 hex digits); "" when `id` is not a UUID (an optional "-age" appendix of
// native debug IDs is dropped). Sentry compares debug IDs this way.
std::string NormalizeDebugId(std::string_view id);

}  // namespace tern::backend::symbolicate

#endif  // TERN_BACKEND_SYMBOLICATE_BUNDLE_H_
