// The project table's sources as the relay wires them: relay/upstream's
// ProjectSource (the projects file, reloaded on SIGHUP and when it changes,
// and the upstream's project configs) on the control worker.
#include <memory>
#include <utility>

#include "relay/app/parts.h"
#include "relay/upstream/project_source.h"

namespace tern::relay::app {

class ControlPlane {
 public:
  std::unique_ptr<upstream::ProjectSource> source;
};

Relay::Impl::Impl() = default;
Relay::Impl::~Impl() { StopAll(); }

absl::StatusOr<std::shared_ptr<const project::ProjectTable>>
Relay::Impl::LoadInitialTable() {
  return upstream::LoadInitialTable(config.projects, quotas.get());
}

absl::Status Relay::Impl::StartControlPlane() {
  control_plane = std::make_unique<ControlPlane>();
  upstream::ProjectSourceOptions options;
  options.quotas = quotas.get();
  control_plane->source = std::make_unique<upstream::ProjectSource>(
      control.get(), config.projects, publisher.get(), nullptr, options);
  upstream::ProjectSource* source = control_plane->source.get();
  if (!config.projects.upstream.url.empty()) {
    shared.want_key = [source](std::string_view key) { source->Want(key); };
  }
  return source->Start();
}

void Relay::Impl::Reload() { control_plane->source->Reload(); }

void Relay::Impl::ForEachControlCounter(
    absl::FunctionRef<void(std::string_view, std::string_view, uint64_t)> f)
    const {
  upstream::ForEachCounter(control_plane->source->counters(), f);
}

}  // namespace tern::relay::app
