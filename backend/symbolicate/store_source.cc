#include "backend/symbolicate/store_source.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "backend/symbolicate/bundle.h"
#include "common/status.h"

namespace tern::backend::symbolicate {
namespace {

// The cache key is the file's row id: rows are never updated, so one id
// always names the same bytes.
ArtifactRef Ref(const storage::ArtifactFile& f) {
  return ArtifactRef{absl::StrCat(f.id), f.url, f.sourcemap};
}

}  // namespace

absl::StatusOr<std::optional<ArtifactRef>> StoreArtifactSource::FindByDebugId(
    int64_t project, std::string_view debug_id, ArtifactKind kind,
    std::string_view abs_path) {
  TERN_ASSIGN_OR_RETURN(
      std::vector<storage::ArtifactFile> files,
      store_->FindArtifactsByDebugId(
          project, debug_id,
          kind == ArtifactKind::kSourceMap ? "source_map" : "minified_source"));
  if (files.empty()) return std::nullopt;
  if (kind == ArtifactKind::kMinifiedSource) {
    for (const storage::ArtifactFile& f : files) {
      if (SameFileName(f.url, abs_path)) return Ref(f);
    }
  }
  return Ref(files.front());
}

absl::StatusOr<std::optional<ArtifactRef>> StoreArtifactSource::FindByUrl(
    int64_t project, std::string_view release, std::string_view dist,
    const std::vector<std::string>& urls) {
  TERN_ASSIGN_OR_RETURN(
      std::optional<storage::ArtifactFile> f,
      store_->FindArtifactByUrl(project, release, dist, urls));
  if (!f) return std::nullopt;
  return Ref(*f);
}

absl::StatusOr<std::string> StoreArtifactSource::Load(int64_t project,
                                                      const ArtifactRef& ref) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(ref.key, &id)) {
    return absl::NotFoundError("not a stored artifact");
  }
  TERN_ASSIGN_OR_RETURN(storage::ArtifactBlob blob,
                        store_->LoadArtifact(project, id));
  if (blob.path.empty()) {
    if (blob.data.size() > max_file_bytes_) {
      return absl::InvalidArgumentError("release file over the size limit");
    }
    return std::move(blob.data);
  }
  return ReadBundleEntry(blob.data, blob.path, max_file_bytes_);
}

}  // namespace tern::backend::symbolicate
