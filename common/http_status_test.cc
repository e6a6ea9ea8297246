#include "common/http_status.h"

#include "gtest/gtest.h"

namespace tern {
namespace {

TEST(HttpStatus, MapsEachHelperToItsDocumentedCode) {
  EXPECT_EQ(HttpStatusFor(absl::OkStatus()), 200);
  EXPECT_EQ(HttpStatusFor(BadRequest("x")), 400);
  EXPECT_EQ(HttpStatusFor(Unauthorized("x")), 401);
  EXPECT_EQ(HttpStatusFor(Forbidden("x")), 403);
  EXPECT_EQ(HttpStatusFor(absl::NotFoundError("x")), 404);
  EXPECT_EQ(HttpStatusFor(TooLarge("x")), 413);
  EXPECT_EQ(HttpStatusFor(UnsupportedMedia("x")), 415);
  EXPECT_EQ(HttpStatusFor(absl::ResourceExhaustedError("x")), 429);
  EXPECT_EQ(HttpStatusFor(absl::UnavailableError("x")), 503);
  EXPECT_EQ(HttpStatusFor(absl::InternalError("x")), 500);
}

TEST(HttpStatus, HelpersKeepTheDetail) {
  EXPECT_EQ(TooLarge("body over 1 MiB").message(), "body over 1 MiB");
}

}  // namespace
}  // namespace tern
