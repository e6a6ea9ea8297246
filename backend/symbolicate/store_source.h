// The symbolicator's ArtifactSource over the store (backend/storage's
// artifact tables): debug-ID and release/URL lookups are indexed queries,
// and a file inside a bundle is read from the bundle's zip. Used by
// `tern-backend run`'s consumer; the symbolicator's cache keeps the loads
// off the per-event path once a map is warm.
#ifndef TERN_BACKEND_SYMBOLICATE_STORE_SOURCE_H_
#define TERN_BACKEND_SYMBOLICATE_STORE_SOURCE_H_

#include <cstdint>

#include "backend/storage/store.h"
#include "backend/symbolicate/symbolicator.h"

namespace tern::backend::symbolicate {

class StoreArtifactSource : public ArtifactSource {
 public:
  // `store` must outlive the source. Files larger than `max_file_bytes` are
  // refused at load (InvalidArgument: the frame gets js_invalid_source).
  StoreArtifactSource(storage::ArtifactStore* store, uint64_t max_file_bytes)
      : store_(store), max_file_bytes_(max_file_bytes) {}

  absl::StatusOr<std::optional<ArtifactRef>> FindByDebugId(
      int64_t project, std::string_view debug_id, ArtifactKind kind,
      std::string_view abs_path) override;
  absl::StatusOr<std::optional<ArtifactRef>> FindByUrl(
      int64_t project, std::string_view release, std::string_view dist,
      const std::vector<std::string>& urls) override;
  absl::StatusOr<std::string> Load(int64_t project,
                                   const ArtifactRef& ref) override;

 private:
  storage::ArtifactStore* store_;
  uint64_t max_file_bytes_;
};

}  // namespace tern::backend::symbolicate

#endif  // TERN_BACKEND_SYMBOLICATE_STORE_SOURCE_H_
