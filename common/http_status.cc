#include "common/http_status.h"

namespace tern {

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kOutOfRange:
      return 413;
    case absl::StatusCode::kUnimplemented:
      return 415;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

absl::Status BadRequest(absl::string_view detail) {
  return absl::InvalidArgumentError(detail);
}
absl::Status Unauthorized(absl::string_view detail) {
  return absl::UnauthenticatedError(detail);
}
absl::Status Forbidden(absl::string_view detail) {
  return absl::PermissionDeniedError(detail);
}
absl::Status TooLarge(absl::string_view detail) {
  return absl::OutOfRangeError(detail);
}
absl::Status UnsupportedMedia(absl::string_view detail) {
  return absl::UnimplementedError(detail);
}

}  // namespace tern
