// The auth half of the pipeline: which key a request claims (auth sources)
// and whether the worker's project table accepts it for this project and
// origin. Kept apart from pipeline.cc so that file does not depend on the
// project table's layout; the interface below names only protocol types.
#ifndef TERN_RELAY_PIPELINE_KEY_CHECK_H_
#define TERN_RELAY_PIPELINE_KEY_CHECK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "protocol/auth.h"
#include "protocol/inbound_filter.h"
#include "protocol/scrub.h"
#include "relay/quota/quota.h"

namespace tern::relay::project {
class ProjectTable;
}  // namespace tern::relay::project

namespace tern::relay::pipeline {

// Who a request is, once its key has passed CheckKey.
struct KeyCheckResult {
  uint64_t project_id = 0;
  std::optional<uint64_t> key_id;  // absent when the key has no numeric id
  // sentry_client as sent; a view into the auth source or `scratch`.
  std::string_view sentry_client;
  // The key the request claims; a view into the auth source or `scratch`.
  // Set as soon as the auth parsed, also when CheckKey then fails, so a
  // pending key (Unavailable) can be fetched and the request retried.
  std::string_view public_key;
  // The key's quotas (valid while the caller holds the table); never null
  // on OK.
  const std::vector<quota::CompiledQuota>* quotas = nullptr;
  // The project's data scrubbing settings; never null on OK.
  const protocol::ScrubConfig* scrub = nullptr;
  // The project's inbound filters; never null on OK.
  const protocol::InboundFilterConfig* filters = nullptr;
};

// ExtractAuth over `sources`, then CheckKey against `table`. When the auth
// came from an envelope DSN, the DSN's project id must equal
// `url_project_id` (403 "project mismatch" otherwise) and stands in for it
// when the URL named none. `scratch` is ExtractAuth's. Errors are
// ExtractAuth's (401/400) and CheckKey's (403, or Unavailable while the
// key's project config is being fetched); `*out` is set only on OK, except
// `out->public_key` (see above).
absl::Status CheckRequestKey(const project::ProjectTable& table,
                             const protocol::AuthSources& sources,
                             uint64_t url_project_id, std::string_view origin,
                             std::string* scratch, KeyCheckResult* out);

}  // namespace tern::relay::pipeline

#endif  // TERN_RELAY_PIPELINE_KEY_CHECK_H_
