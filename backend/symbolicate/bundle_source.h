// An ArtifactSource over artifact bundles held in memory: the zips as
// uploaded plus their manifests. The unit tests, the fuzzer's seed tools and
// the benchmark symbolicate against real bundles through it, with no store;
// the backend's store-backed source (backend/storage's artifact tables)
// answers the same questions from indexed rows instead.
#ifndef TERN_BACKEND_SYMBOLICATE_BUNDLE_SOURCE_H_
#define TERN_BACKEND_SYMBOLICATE_BUNDLE_SOURCE_H_

#include <string>
#include <vector>

#include "backend/symbolicate/bundle.h"
#include "backend/symbolicate/symbolicator.h"

namespace tern::backend::symbolicate {

class MemoryBundleSource : public ArtifactSource {
 public:
  // Adds a bundle of `project`, read with ReadBundleManifest; its error when
  // the zip is not a valid bundle (nothing is added then). `release` and
  // `dist` override the manifest's when not empty (sentry-cli can send the
  // release beside the bundle).
  absl::Status Add(int64_t project, std::string zip,
                   std::string_view release = "", std::string_view dist = "");

  absl::StatusOr<std::optional<ArtifactRef>> FindByDebugId(
      int64_t project, std::string_view debug_id, ArtifactKind kind,
      std::string_view abs_path) override;
  absl::StatusOr<std::optional<ArtifactRef>> FindByUrl(
      int64_t project, std::string_view release, std::string_view dist,
      const std::vector<std::string>& urls) override;
  absl::StatusOr<std::string> Load(int64_t project,
                                   const ArtifactRef& ref) override;

  // How many Load calls were made (tests check that the cache works).
  int loads() const { return loads_; }

 private:
  struct Bundle {
    int64_t project;
    std::string zip;
    BundleManifest manifest;
  };
  ArtifactRef Ref(size_t bundle, const BundleFile& f) const;

  std::vector<Bundle> bundles_;
  int loads_ = 0;
};

}  // namespace tern::backend::symbolicate

#endif  // TERN_BACKEND_SYMBOLICATE_BUNDLE_SOURCE_H_
