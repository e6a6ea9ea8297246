// How a Status becomes an HTTP status code.
//
// protocol/ decides what is wrong with a request (bad auth, too large, ...)
// without knowing about HTTP servers; it picks the canonical code below and
// the relay translates with HttpStatusFor(). One table, so the contract in
// ARCHITECTURE.md (401/403/400/413/415/429/503) lives in exactly one place.
#ifndef TERN_COMMON_HTTP_STATUS_H_
#define TERN_COMMON_HTTP_STATUS_H_

#include "absl/status/status.h"

namespace tern {

// Canonical code -> HTTP status:
//   OK 200, InvalidArgument 400, Unauthenticated 401, PermissionDenied 403,
//   NotFound 404, OutOfRange 413 (payload too large), Unimplemented 415
//   (unknown content encoding), ResourceExhausted 429, Unavailable 503;
//   anything else 500.
int HttpStatusFor(const absl::Status& status);

// Helpers that build errors with the codes above, so call sites say what
// they mean ("too large") rather than which enum happens to carry it.
absl::Status BadRequest(absl::string_view detail);        // 400
absl::Status Unauthorized(absl::string_view detail);      // 401
absl::Status Forbidden(absl::string_view detail);         // 403
absl::Status TooLarge(absl::string_view detail);          // 413
absl::Status UnsupportedMedia(absl::string_view detail);  // 415

}  // namespace tern

#endif  // TERN_COMMON_HTTP_STATUS_H_
