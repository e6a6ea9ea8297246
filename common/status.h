// Status plumbing shared by every module.
//
// Tern returns absl::Status / absl::StatusOr at module boundaries and never
// throws on the data path. These macros keep early returns short. Errors that
// end in an HTTP answer carry their status through the canonical code (see
// common/http_status.h), so a parser deep in protocol/ decides "401" once and
// the server only translates.
#ifndef TERN_COMMON_STATUS_H_
#define TERN_COMMON_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#define TERN_STATUS_CONCAT_INNER_(a, b) a##b
#define TERN_STATUS_CONCAT_(a, b) TERN_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` is not OK.
#define TERN_RETURN_IF_ERROR(expr)                                             \
  do {                                                                         \
    if (absl::Status tern_status_ = (expr); !tern_status_.ok()) [[unlikely]] { \
      return tern_status_;                                                     \
    }                                                                          \
  } while (0)

// `TERN_ASSIGN_OR_RETURN(auto x, Foo());` binds the value or returns the error.
#define TERN_ASSIGN_OR_RETURN(lhs, rexpr)                                    \
  TERN_ASSIGN_OR_RETURN_IMPL_(TERN_STATUS_CONCAT_(tern_statusor_, __LINE__), \
                              lhs, rexpr)
#define TERN_ASSIGN_OR_RETURN_IMPL_(var, lhs, rexpr) \
  auto var = (rexpr);                                \
  if (!var.ok()) [[unlikely]] {                      \
    return std::move(var).status();                  \
  }                                                  \
  lhs = std::move(var).value()

namespace tern {

// Debian's abseil is built without std::string_view aliasing, so the two
// view types do not convert implicitly. This is the one place we bridge them.
inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace tern

#endif  // TERN_COMMON_STATUS_H_
