// The sentry-cli upload API (docs/sourcemaps.md): what `sentry-cli
// sourcemaps upload` and `sentry-cli releases` talk to, answered as Sentry
// answers them so the real CLI works unchanged.
//
// Routes (under /api/0/, trailing slash optional; {org} must be the
// configured sourcemaps.organization, else 404):
//   GET  organizations/{org}/chunk-upload/     the chunking options
//   POST organizations/{org}/chunk-upload/     multipart chunks ("file" or
//        "file_gzip" parts, each named by the SHA-1 of its uncompressed bytes)
//   POST organizations/{org}/artifactbundle/assemble/
//        {checksum, chunks, projects, version?, dist?}: answers
//        {"state": "not_found", "missingChunks": [...]} until every chunk is
//        there, then assembles, checks and stores the bundle at once and
//        answers "ok" (or "error" with a detail and status 400/413)
//   POST organizations/{org}/releases/          {version, projects}
//   PUT  organizations/{org}/releases/{version}/  {dateReleased?}: finalize
//   GET  organizations/{org}/releases/{version}/
//   POST projects/{org}/{project}/releases/     {version}
//   POST projects/{org}/{project}/releases/{version}/files/  legacy release
//        file (multipart: file, name, dist?, header "Sourcemap: ..."?)
//
// Auth: `Authorization: Bearer <token>` of a token made by `tern-backend
// token create` whose scopes include project:releases (or project:write,
// project:admin, org:ci); the token's SHA-1 is looked up in the store.
// Missing or unknown: 401; a token without the scope: 403.
//
// Status codes: 400 bad JSON, bad multipart, checksum mismatch, bad zip or
// manifest (nothing is stored); 404 unknown organization, project or
// release; 413 a chunk over chunk_size, a request over the body limit, a
// bundle or file over its limit; 503 when the store is unavailable.
#ifndef TERN_BACKEND_API_UPLOAD_H_
#define TERN_BACKEND_API_UPLOAD_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "backend/api/handler.h"
#include "backend/storage/store.h"
#include "config/backend_config.h"
#include "net/http_server.h"

namespace tern::api {

// Parts sent per chunk-upload request and the request size sentry-cli is
// told to stay under.
inline constexpr size_t kChunksPerRequest = 64;
inline constexpr size_t kMaxChunkRequestBytes = 32u << 20;

class UploadApi {
 public:
  // `store` must outlive the object.
  UploadApi(storage::Store* store, config::BackendSourcemapsConfig config);

  // Whether `path` is one of the routes above (so ApiHandler hands it here).
  bool Owns(std::string_view path) const;
  // The body limit for a request to an owned path.
  size_t MaxBodyBytes(std::string_view path) const;
  // Answers one request to an owned path (auth included).
  ApiHandler::Reply Handle(const net::HttpRequest& req);

 private:
  ApiHandler::Reply ChunkOptions(const net::HttpRequest& req,
                                 std::string_view org);
  ApiHandler::Reply UploadChunks(const net::HttpRequest& req);
  ApiHandler::Reply Assemble(const net::HttpRequest& req);
  ApiHandler::Reply CreateRelease(const net::HttpRequest& req,
                                  std::string_view project_slug);
  ApiHandler::Reply ReleaseDetails(const net::HttpRequest& req,
                                   std::string_view version);
  ApiHandler::Reply ReleaseFile(const net::HttpRequest& req,
                                std::string_view project_slug,
                                std::string_view version);
  ApiHandler::Reply StoreError(const absl::Status& status,
                               std::string_view what);

  storage::Store* store_;
  config::BackendSourcemapsConfig config_;
};

// One part of a multipart/form-data body.
struct FormPart {
  std::string name;      // Content-Disposition name
  std::string filename;  // Content-Disposition filename; may be ""
  std::string_view body;
};

// Splits a multipart/form-data `body` with the boundary of `content_type`.
// The parts' bodies point into `body`. InvalidArgument for a missing
// boundary, a malformed part or more than `max_parts` parts.
absl::StatusOr<std::vector<FormPart>> ParseMultipart(
    std::string_view content_type, std::string_view body, size_t max_parts);

// %XX-decodes a path segment (a release version may hold '/', '@', '+').
// nullopt for a malformed escape or a decoded NUL.
std::optional<std::string> PercentDecode(std::string_view segment);

}  // namespace tern::api

#endif  // TERN_BACKEND_API_UPLOAD_H_
