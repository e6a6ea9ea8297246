// Fuzzes the auth parsers. The first byte picks the entry point, the rest is
// the input (for ExtractAuth, split on '\n' into the four sources, an empty
// piece meaning "absent"). Invariants on success: the key is valid, the
// version is in range, views point into the input or the scratch string, and
// a header-form result formats to a header that parses back to the same key,
// version and client. Failures must be 400 or 401, nothing else.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "protocol/auth.h"
#include "protocol/dsn.h"

namespace {

using tern::protocol::AuthInfo;
using tern::protocol::AuthSource;

bool Within(std::string_view view, std::string_view buffer) {
  if (view.empty()) return true;
  return view.data() >= buffer.data() &&
         view.data() + view.size() <= buffer.data() + buffer.size();
}

void Check(const absl::StatusOr<AuthInfo>& auth, std::string_view input,
           const std::string& scratch) {
  if (!auth.ok()) {
    absl::StatusCode code = auth.status().code();
    if (code != absl::StatusCode::kInvalidArgument &&
        code != absl::StatusCode::kUnauthenticated) {
      __builtin_trap();
    }
    return;
  }
  if (!tern::protocol::IsValidPublicKey(auth->public_key) ||
      auth->version < 0 ||
      auth->version > tern::protocol::kMaxProtocolVersion) {
    __builtin_trap();
  }
  for (std::string_view view : {auth->public_key, auth->client}) {
    if (!Within(view, input) && !Within(view, scratch)) __builtin_trap();
  }
  if ((auth->source == AuthSource::kEnvelopeDsn) !=
      (auth->dsn_project_id != 0)) {
    __builtin_trap();
  }
  // Header values cannot carry ',' inside the client and lose surrounding
  // whitespace, so only results read from a header must survive formatting.
  if (auth->source == AuthSource::kXSentryAuth ||
      auth->source == AuthSource::kAuthorization) {
    std::string header = tern::protocol::FormatSentryAuthHeader(*auth);
    absl::StatusOr<AuthInfo> again =
        tern::protocol::ParseSentryAuthHeader(header);
    if (!again.ok() || again->public_key != auth->public_key ||
        again->version != auth->version || again->client != auth->client) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string scratch;
  switch (selector % 5) {
    case 0:
      Check(tern::protocol::ParseSentryAuthHeader(input), input, scratch);
      break;
    case 1:
      Check(tern::protocol::ParseAuthorizationHeader(input), input, scratch);
      break;
    case 2: {
      bool has = tern::protocol::HasSentryAuthParams(input);
      absl::StatusOr<AuthInfo> auth =
          tern::protocol::ParseAuthQuery(input, &scratch);
      // A query that parses has a sentry_key parameter, so it is a source.
      if (auth.ok() && !has) __builtin_trap();
      Check(auth, input, scratch);
      break;
    }
    case 3:
      Check(tern::protocol::ParseEnvelopeDsnAuth(input), input, scratch);
      break;
    default: {
      tern::protocol::AuthSources sources;
      std::optional<std::string_view>* slots[] = {
          &sources.x_sentry_auth, &sources.authorization, &sources.query,
          &sources.envelope_dsn};
      std::string_view rest = input;
      for (auto* slot : slots) {
        size_t nl = rest.find('\n');
        std::string_view piece = rest.substr(0, nl);
        if (!piece.empty()) *slot = piece;
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
      }
      Check(tern::protocol::ExtractAuth(sources, &scratch), input, scratch);
      break;
    }
  }
  return 0;
}
