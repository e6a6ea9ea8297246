// Fuzzes the projectconfigs wire format (protocol/project_config.h): every
// input is parsed as a response, as a request and as a settings object whose
// `quotas` ParseQuotasMember reads. Invariants:
//  - errors are InvalidArgument (or OutOfRange for oversize input), never a
//    crash or another code;
//  - whatever parses re-encodes to JSON that parses back to the same value
//    (encode and parse agree, so the backend and the relay agree).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "protocol/project_config.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckError(const absl::Status& st) {
  Check(st.code() == absl::StatusCode::kInvalidArgument ||
        st.code() == absl::StatusCode::kOutOfRange);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tern::protocol;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto response = ParseProjectConfigsResponse(input);
  if (response.ok()) {
    std::string out;
    EncodeProjectConfigsResponse(*response, &out);
    auto again = ParseProjectConfigsResponse(out);
    Check(again.ok());
    Check(*again == *response);
  } else {
    CheckError(response.status());
  }

  auto request = ParseProjectConfigsRequest(input);
  if (request.ok()) {
    Check(request->public_keys.size() <= kMaxProjectConfigsRequestKeys);
    std::string out;
    EncodeProjectConfigsRequest(*request, &out);
    auto again = ParseProjectConfigsRequest(out);
    Check(again.ok());
    Check(*again == *request);
  } else {
    CheckError(request.status());
  }

  // The backend's per-key settings: the same quota rules as a response's.
  auto quotas = ParseQuotasMember(input);
  if (quotas.ok()) {
    for (const QuotaConfig& q : *quotas) {
      Check(!q.id.empty() && q.window_seconds >= 1 &&
            q.window_seconds <= kMaxQuotaWindowSeconds);
    }
  } else {
    CheckError(quotas.status());
  }
  return 0;
}
