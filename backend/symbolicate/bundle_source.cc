#include "backend/symbolicate/bundle_source.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace tern::backend::symbolicate {

absl::Status MemoryBundleSource::Add(int64_t project, std::string zip,
                                     std::string_view release,
                                     std::string_view dist) {
  TERN_ASSIGN_OR_RETURN(BundleManifest manifest,
                        ReadBundleManifest(zip, BundleLimits{}, true));
  if (!release.empty()) manifest.release = std::string(release);
  if (!dist.empty()) manifest.dist = std::string(dist);
  bundles_.push_back(Bundle{project, std::move(zip), std::move(manifest)});
  return absl::OkStatus();
}

ArtifactRef MemoryBundleSource::Ref(size_t bundle, const BundleFile& f) const {
  return ArtifactRef{absl::StrCat(bundle, "/", f.path), f.url, f.sourcemap};
}

absl::StatusOr<std::optional<ArtifactRef>> MemoryBundleSource::FindByDebugId(
    int64_t project, std::string_view debug_id, ArtifactKind kind,
    std::string_view abs_path) {
  const std::string_view type =
      kind == ArtifactKind::kSourceMap ? "source_map" : "minified_source";
  std::optional<ArtifactRef> first;
  for (size_t b = bundles_.size(); b-- > 0;) {  // newest upload first
    if (bundles_[b].project != project) continue;
    for (const BundleFile& f : bundles_[b].manifest.files) {
      if (f.debug_id != debug_id || f.type != type) continue;
      if (kind == ArtifactKind::kSourceMap || SameFileName(f.url, abs_path)) {
        return Ref(b, f);
      }
      if (!first) first = Ref(b, f);
    }
  }
  return first;
}

absl::StatusOr<std::optional<ArtifactRef>> MemoryBundleSource::FindByUrl(
    int64_t project, std::string_view release, std::string_view dist,
    const std::vector<std::string>& urls) {
  for (const std::string& url : urls) {
    for (size_t b = bundles_.size(); b-- > 0;) {
      const Bundle& bundle = bundles_[b];
      if (bundle.project != project || bundle.manifest.release != release ||
          bundle.manifest.dist != dist) {
        continue;
      }
      for (const BundleFile& f : bundle.manifest.files) {
        if (f.url == url) return Ref(b, f);
      }
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::string> MemoryBundleSource::Load(int64_t project,
                                                     const ArtifactRef& ref) {
  ++loads_;
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(ToAbsl(ref.key), absl::MaxSplits('/', 1));
  size_t b = 0;
  if (!absl::SimpleAtoi(parts.first, &b) || b >= bundles_.size() ||
      bundles_[b].project != project) {
    return absl::NotFoundError("no such bundle");
  }
  return ReadBundleEntry(
      bundles_[b].zip,
      std::string_view(parts.second.data(), parts.second.size()),
      BundleLimits{}.max_file_bytes);
}

}  // namespace tern::backend::symbolicate
