// Per-request auth parsing: one of these runs for every event the relay
// accepts, so each must stay well under the 100 ns budget (one core) that
// keeps auth invisible next to body decoding. Inputs are what real SDKs send.
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "protocol/auth.h"
#include "protocol/dsn.h"

namespace tern::protocol {
namespace {

constexpr std::string_view kSentryPythonHeader =
    "Sentry sentry_key=4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c, sentry_version=7, "
    "sentry_client=sentry.python/2.19.0";
constexpr std::string_view kAuthorizationHeader =
    "Sentry sentry_key=4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c, sentry_version=7, "
    "sentry_client=sentry.javascript.node/8.40.0";
// @sentry/browser's envelope URL query, client percent-encoded.
constexpr std::string_view kBrowserQuery =
    "sentry_key=4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c&sentry_version=7&"
    "sentry_client=sentry.javascript.browser%2F8.40.0";
constexpr std::string_view kDsn =
    "https://4f1e2b7c9a0d4e8f8b6c5d4e3f2a1b0c@o450000.ingest.us.sentry.io/"
    "4504000000000000";

void BM_ParseSentryAuthHeader(benchmark::State& state) {
  for (auto _ : state) {
    std::string_view input = kSentryPythonHeader;
    benchmark::DoNotOptimize(input);
    absl::StatusOr<AuthInfo> auth = ParseSentryAuthHeader(input);
    benchmark::DoNotOptimize(auth);
  }
}
BENCHMARK(BM_ParseSentryAuthHeader);

void BM_ParseAuthorizationHeader(benchmark::State& state) {
  for (auto _ : state) {
    std::string_view input = kAuthorizationHeader;
    benchmark::DoNotOptimize(input);
    absl::StatusOr<AuthInfo> auth = ParseAuthorizationHeader(input);
    benchmark::DoNotOptimize(auth);
  }
}
BENCHMARK(BM_ParseAuthorizationHeader);

void BM_ParseAuthQuery(benchmark::State& state) {
  // One scratch per worker thread, reused across requests as the relay does,
  // so the steady state does not allocate.
  std::string scratch;
  for (auto _ : state) {
    std::string_view input = kBrowserQuery;
    benchmark::DoNotOptimize(input);
    absl::StatusOr<AuthInfo> auth = ParseAuthQuery(input, &scratch);
    benchmark::DoNotOptimize(auth);
  }
}
BENCHMARK(BM_ParseAuthQuery);

void BM_ExtractAuthFromHeader(benchmark::State& state) {
  std::string scratch;
  AuthSources sources;
  sources.x_sentry_auth = kSentryPythonHeader;
  sources.query = "page=2";
  for (auto _ : state) {
    benchmark::DoNotOptimize(sources);
    absl::StatusOr<AuthInfo> auth = ExtractAuth(sources, &scratch);
    benchmark::DoNotOptimize(auth);
  }
}
BENCHMARK(BM_ExtractAuthFromHeader);

void BM_ParseDsn(benchmark::State& state) {
  for (auto _ : state) {
    std::string_view input = kDsn;
    benchmark::DoNotOptimize(input);
    absl::StatusOr<Dsn> dsn = ParseDsn(input);
    benchmark::DoNotOptimize(dsn);
  }
}
BENCHMARK(BM_ParseDsn);

}  // namespace
}  // namespace tern::protocol
