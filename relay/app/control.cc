// The project table's sources, as the relay wires them: the projects file
// (loaded at start, reloaded on SIGHUP) and, when configured, the upstream
// fetcher. Runs on the control worker, never on a request worker.
#include "absl/strings/str_cat.h"
#include "config/projects.h"
#include "relay/app/parts.h"
#include "spdlog/spdlog.h"

namespace tern::relay::app {

class ControlPlane {
 public:
  uint64_t generation = 1;
};

Relay::Impl::Impl() = default;
Relay::Impl::~Impl() { StopAll(); }

namespace {

absl::StatusOr<std::shared_ptr<const project::ProjectTable>> BuildFromFile(
    const std::string& path, uint64_t generation) {
  config::ProjectsFile file;
  if (!path.empty()) {
    auto loaded = config::LoadProjectsFile(path);
    if (!loaded.ok()) return loaded.status();
    file = std::move(*loaded);
  }
  return project::ProjectTable::Build(file, generation);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const project::ProjectTable>>
Relay::Impl::LoadInitialTable() {
  return BuildFromFile(config.projects.file, 1);
}

absl::Status Relay::Impl::StartControlPlane() {
  control_plane = std::make_unique<ControlPlane>();
  return absl::OkStatus();
}

void Relay::Impl::Reload() {
  control->Post([this] {
    auto table =
        BuildFromFile(config.projects.file, control_plane->generation + 1);
    if (!table.ok()) {
      reload_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("reload refused, the old project table stays: {}",
                   std::string(table.status().message()));
      return;
    }
    control_plane->generation++;
    if (absl::Status s = publisher->Publish(*table); !s.ok()) {
      reload_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("reload: {}", std::string(s.message()));
      return;
    }
    reloads.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("reloaded {}: {} projects, {} keys", config.projects.file,
                 (*table)->project_count(), (*table)->key_count());
  });
}

}  // namespace tern::relay::app
