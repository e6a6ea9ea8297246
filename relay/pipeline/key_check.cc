#include "relay/pipeline/key_check.h"

#include "absl/status/statusor.h"
#include "common/http_status.h"
#include "relay/project/project_table.h"

namespace tern::relay::pipeline {

absl::Status CheckRequestKey(const project::ProjectTable& table,
                             const protocol::AuthSources& sources,
                             uint64_t url_project_id, std::string_view origin,
                             std::string* scratch, KeyCheckResult* out) {
  absl::StatusOr<protocol::AuthInfo> auth =
      protocol::ExtractAuth(sources, scratch);
  if (!auth.ok()) return auth.status();
  out->public_key = auth->public_key;
  uint64_t project_id = url_project_id;
  if (auth->dsn_project_id != 0) {
    // CheckKey compares the key's project with the URL's; a DSN naming a
    // third project would otherwise go unnoticed.
    if (project_id != 0 && project_id != auth->dsn_project_id) {
      return Forbidden("project mismatch");
    }
    project_id = auth->dsn_project_id;
  }
  const project::KeyInfo* key = nullptr;
  if (absl::Status s =
          project::CheckKey(table, auth->public_key, project_id, origin, &key);
      !s.ok()) {
    return s;
  }
  out->project_id = key->project_id;
  out->key_id.reset();
  if (key->key_id != 0) out->key_id = key->key_id;
  out->sentry_client = auth->client;
  out->quotas = &key->quotas;
  out->scrub = &key->project->scrub;
  out->filters = &key->project->filters;
  return absl::OkStatus();
}

}  // namespace tern::relay::pipeline
