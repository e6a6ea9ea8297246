#include "backend/api/upload.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "backend/api/format.h"
#include "backend/symbolicate/bundle.h"
#include "backend/symbolicate/sha1.h"
#include "common/http_status.h"
#include "common/status.h"
#include "protocol/decode.h"
#include "protocol/json_value.h"
#include "protocol/json_writer.h"
#include "spdlog/spdlog.h"

namespace tern::api {
namespace {

using Reply = ApiHandler::Reply;
namespace sym = backend::symbolicate;

constexpr std::string_view kPrefix = "/api/0/";
constexpr size_t kMaxAssembleBodyBytes = 1 << 20;
constexpr size_t kMaxSmallBodyBytes = 64 * 1024;
// Scopes that allow uploads, as Sentry's release endpoints accept them.
constexpr std::string_view kUploadScopes[] = {
    "project:releases", "project:write", "project:admin", "org:ci"};

Reply Json(int status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Reply Detail(int status, std::string_view detail) {
  std::string body = "{\"detail\":";
  std::string text(detail);
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  protocol::JsonWriter::AppendQuoted(&body, text);
  body += '}';
  return Json(status, std::move(body));
}

// An assemble answer: {"state", "missingChunks", "detail"?}.
Reply AssembleState(int status, std::string_view state,
                    const std::vector<std::string>& missing,
                    std::string_view detail = "") {
  std::string body;
  protocol::JsonWriter w(&body);
  w.BeginObject();
  w.Key("state");
  w.String(state);
  w.Key("missingChunks");
  w.BeginArray();
  for (const std::string& m : missing) w.String(m);
  w.EndArray();
  if (!detail.empty()) {
    std::string text(detail);
    for (char& c : text) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    w.Key("detail");
    w.String(text);
  }
  w.EndObject();
  return Json(status, std::move(body));
}

bool IsSha1Hex(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.size() <= kPrefix.size() ||
      path.substr(0, kPrefix.size()) != kPrefix) {
    return out;
  }
  std::string_view rest = path.substr(kPrefix.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  while (!rest.empty() && out.size() < 9) {
    const size_t slash = rest.find('/');
    out.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return out;
}

// The value of parameter `key` in a header like `form-data; name="x"`.
std::string HeaderParam(std::string_view header, std::string_view key) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t semi = header.find(';', pos);
    if (semi == std::string_view::npos) semi = header.size();
    std::string_view item = header.substr(pos, semi - pos);
    pos = semi + 1;
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = item.substr(0, eq);
    while (!k.empty() && k.back() == ' ') k.remove_suffix(1);
    if (!absl::EqualsIgnoreCase(ToAbsl(k), ToAbsl(key))) continue;
    std::string_view v = item.substr(eq + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    if (v.size() >= 2 && v.front() == '"') {
      const size_t end = v.find('"', 1);
      return std::string(v.substr(
          1, end == std::string_view::npos ? std::string_view::npos : end - 1));
    }
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    return std::string(v);
  }
  return "";
}

// A status's message as a std::string_view (Debian's absl::string_view
// does not convert).
std::string_view Msg(const absl::Status& s) {
  return std::string_view(s.message().data(), s.message().size());
}

}  // namespace

absl::StatusOr<std::vector<FormPart>> ParseMultipart(
    std::string_view content_type, std::string_view body, size_t max_parts) {
  if (!absl::StartsWithIgnoreCase(ToAbsl(content_type),
                                  "multipart/form-data")) {
    return absl::InvalidArgumentError("expected multipart/form-data");
  }
  const std::string boundary = HeaderParam(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) {
    return absl::InvalidArgumentError("multipart body without a boundary");
  }
  const std::string delimiter = "--" + boundary;
  std::vector<FormPart> parts;
  size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) {
    return absl::InvalidArgumentError("multipart boundary not found");
  }
  pos += delimiter.size();
  while (true) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") {
      return absl::InvalidArgumentError("malformed multipart delimiter");
    }
    pos += 2;
    const size_t head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) {
      return absl::InvalidArgumentError("multipart part without headers' end");
    }
    FormPart part;
    std::string_view head = body.substr(pos, head_end - pos);
    while (!head.empty()) {
      size_t eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      head = eol == std::string_view::npos ? "" : head.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      if (absl::EqualsIgnoreCase(ToAbsl(line.substr(0, colon)),
                                 "content-disposition")) {
        std::string_view value = line.substr(colon + 1);
        part.name = HeaderParam(value, "name");
        part.filename = HeaderParam(value, "filename");
      }
    }
    const size_t data = head_end + 4;
    const std::string end_marker = "\r\n" + delimiter;
    const size_t next = body.find(end_marker, data);
    if (next == std::string_view::npos) {
      return absl::InvalidArgumentError("multipart part not terminated");
    }
    part.body = body.substr(data, next - data);
    if (parts.size() == max_parts) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", max_parts, " multipart parts"));
    }
    parts.push_back(std::move(part));
    pos = next + end_marker.size();
  }
}

std::optional<std::string> PercentDecode(std::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (size_t i = 0; i < segment.size(); ++i) {
    char c = segment[i];
    if (c == '%') {
      if (i + 2 >= segment.size()) return std::nullopt;
      const int hi =
          absl::ascii_isxdigit(segment[i + 1])
              ? (absl::ascii_isdigit(segment[i + 1])
                     ? segment[i + 1] - '0'
                     : absl::ascii_tolower(segment[i + 1]) - 'a' + 10)
              : -1;
      const int lo =
          absl::ascii_isxdigit(segment[i + 2])
              ? (absl::ascii_isdigit(segment[i + 2])
                     ? segment[i + 2] - '0'
                     : absl::ascii_tolower(segment[i + 2]) - 'a' + 10)
              : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

UploadApi::UploadApi(storage::Store* store,
                     config::BackendSourcemapsConfig config)
    : store_(store), config_(std::move(config)) {}

bool UploadApi::Owns(std::string_view path) const {
  const std::vector<std::string_view> s = Segments(path);
  if (s.size() >= 3 && s[0] == "organizations" &&
      (s[2] == "chunk-upload" || s[2] == "artifactbundle" ||
       s[2] == "releases")) {
    return true;
  }
  return s.size() >= 4 && s[0] == "projects" && s[3] == "releases";
}

size_t UploadApi::MaxBodyBytes(std::string_view path) const {
  const std::vector<std::string_view> s = Segments(path);
  if (s.size() == 3 && s[2] == "chunk-upload") {
    // Every chunk at most chunk_size (gzip of incompressible data is a
    // little larger) plus the multipart framing.
    return std::max<size_t>(kMaxChunkRequestBytes,
                            config_.chunk_size + config_.chunk_size / 64) +
           64 * 1024;
  }
  if (!s.empty() && s.back() == "files") {
    return config_.max_file_bytes + 64 * 1024;
  }
  if (s.size() >= 3 && s[2] == "artifactbundle") return kMaxAssembleBodyBytes;
  return kMaxSmallBodyBytes;
}

Reply UploadApi::StoreError(const absl::Status& status, std::string_view what) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return Detail(404, absl::StrCat(ToAbsl(what), " not found"));
    case absl::StatusCode::kAlreadyExists:
      return Detail(409, absl::StrCat(ToAbsl(what), " already exists"));
    case absl::StatusCode::kInvalidArgument:
      return Detail(400, Msg(status));
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded: {
      Reply r = Detail(503, "the store is unavailable; retry later");
      r.retry_after = true;
      return r;
    }
    default:
      spdlog::error("upload: store error ({}): {}", std::string(what),
                    status.ToString());
      return Detail(500, "internal error");
  }
}

Reply UploadApi::Handle(const net::HttpRequest& req) {
  if (!config_.enabled) return Detail(404, "not found");
  const std::vector<std::string_view> s = Segments(req.path);
  // Auth first: a client without a token learns nothing about the routes.
  const std::string_view header = req.Header("Authorization").value_or("");
  std::string_view token;
  if (header.size() > 7 &&
      absl::EqualsIgnoreCase(ToAbsl(header.substr(0, 7)), "bearer ")) {
    token = header.substr(7);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  }
  if (token.empty() || token.size() > 256) {
    Reply r = Detail(401, "authentication credentials were not provided");
    return r;
  }
  absl::StatusOr<storage::ApiToken> t =
      store_->FindApiToken(sym::Sha1Hex(token));
  if (!t.ok()) {
    if (t.status().code() == absl::StatusCode::kNotFound) {
      return Detail(401, "invalid token");
    }
    return StoreError(t.status(), "token");
  }
  bool scoped = false;
  for (std::string_view want : kUploadScopes) {
    for (absl::string_view have : absl::StrSplit(t->scopes, ' ')) {
      if (have == ToAbsl(want)) scoped = true;
    }
  }
  if (!scoped) {
    return Detail(403, "the token lacks the project:releases scope");
  }
  const std::string_view org = s.size() > 1 ? s[1] : "";
  if (org != config_.organization) {
    return Detail(404, "organization not found");
  }
  const std::string_view method = req.method;
  if (s[0] == "organizations") {
    if (s.size() == 3 && s[2] == "chunk-upload") {
      if (method == "GET") return ChunkOptions(req, org);
      if (method == "POST") return UploadChunks(req);
      Reply r = Detail(405, "method not allowed");
      r.allow = "GET, POST";
      return r;
    }
    if (s.size() == 4 && s[2] == "artifactbundle" && s[3] == "assemble") {
      if (method != "POST") {
        Reply r = Detail(405, "method not allowed");
        r.allow = "POST";
        return r;
      }
      return Assemble(req);
    }
    if (s.size() == 3 && s[2] == "releases") {
      if (method != "POST") {
        Reply r = Detail(405, "method not allowed");
        r.allow = "POST";
        return r;
      }
      return CreateRelease(req, "");
    }
    if (s.size() == 4 && s[2] == "releases") {
      std::optional<std::string> version = PercentDecode(s[3]);
      if (!version || version->empty()) return Detail(400, "bad release");
      if (method != "GET" && method != "PUT") {
        Reply r = Detail(405, "method not allowed");
        r.allow = "GET, PUT";
        return r;
      }
      return ReleaseDetails(req, *version);
    }
    return Detail(404, "not found");
  }
  // projects/{org}/{project}/releases/[{version}/files/]
  if (s.size() == 4) {
    if (method != "POST") {
      Reply r = Detail(405, "method not allowed");
      r.allow = "POST";
      return r;
    }
    return CreateRelease(req, s[2]);
  }
  if (s.size() == 6 && s[5] == "files") {
    std::optional<std::string> version = PercentDecode(s[4]);
    if (!version || version->empty()) return Detail(400, "bad release");
    if (method != "POST") {
      Reply r = Detail(405, "method not allowed");
      r.allow = "POST";
      return r;
    }
    return ReleaseFile(req, s[2], *version);
  }
  return Detail(404, "not found");
}

Reply UploadApi::ChunkOptions(const net::HttpRequest& req,
                              std::string_view org) {
  // An absolute URL: the CLI posts chunks to exactly this address. The
  // Host header is used only when it is a plain host[:port].
  const std::string_view host = req.Header("Host").value_or("");
  const bool safe = !host.empty() && host.size() <= 255 &&
                    std::all_of(host.begin(), host.end(), [](char c) {
                      return absl::ascii_isalnum(c) || c == '.' || c == '-' ||
                             c == ':' || c == '[' || c == ']';
                    });
  std::string body;
  protocol::JsonWriter w(&body);
  w.BeginObject();
  w.Key("url");
  w.String(absl::StrCat(safe ? absl::StrCat("http://", ToAbsl(host)) : "",
                        "/api/0/organizations/", ToAbsl(org),
                        "/chunk-upload/"));
  w.Key("chunkSize");
  w.Uint(config_.chunk_size);
  w.Key("chunksPerRequest");
  w.Uint(kChunksPerRequest);
  w.Key("maxFileSize");
  w.Uint(config_.max_bundle_bytes);
  w.Key("maxRequestSize");
  w.Uint(kMaxChunkRequestBytes);
  w.Key("concurrency");
  w.Uint(1);
  w.Key("hashAlgorithm");
  w.String("sha1");
  w.Key("compression");
  w.BeginArray();
  w.String("gzip");
  w.EndArray();
  w.Key("accept");
  w.BeginArray();
  for (std::string_view a : {"artifact_bundles", "artifact_bundles_v2"}) {
    w.String(a);
  }
  w.EndArray();
  w.EndObject();
  return Json(200, std::move(body));
}

Reply UploadApi::UploadChunks(const net::HttpRequest& req) {
  absl::StatusOr<std::vector<FormPart>> parts = ParseMultipart(
      req.Header("Content-Type").value_or(""), req.body, kChunksPerRequest);
  if (!parts.ok()) return Detail(400, Msg(parts.status()));
  protocol::BodyDecoder decoder;
  std::string scratch;
  // Checked whole before anything is stored, so a bad request stores nothing.
  std::vector<std::pair<std::string, std::string>> chunks;
  for (const FormPart& part : *parts) {
    if (part.name != "file" && part.name != "file_gzip") continue;
    std::string checksum = absl::AsciiStrToLower(ToAbsl(part.filename));
    if (!IsSha1Hex(checksum)) {
      return Detail(400, "chunk file name is not a SHA-1 checksum");
    }
    std::string data;
    if (part.name == "file_gzip") {
      absl::StatusOr<std::string_view> d =
          decoder.Decode(protocol::ContentEncoding::kGzip, part.body,
                         config_.chunk_size, &scratch);
      if (!d.ok()) {
        if (HttpStatusFor(d.status()) == 413) {
          return Detail(413, "chunk larger than chunkSize");
        }
        return Detail(400, "chunk is not valid gzip");
      }
      data.assign(d->data(), d->size());
    } else {
      if (part.body.size() > config_.chunk_size) {
        return Detail(413, "chunk larger than chunkSize");
      }
      data.assign(part.body);
    }
    if (sym::Sha1Hex(data) != checksum) {
      return Detail(400,
                    absl::StrCat("checksum mismatch for chunk ", checksum));
    }
    chunks.emplace_back(std::move(checksum), std::move(data));
  }
  for (const auto& [checksum, data] : chunks) {
    if (absl::Status st = store_->PutChunk(checksum, data); !st.ok()) {
      return StoreError(st, "chunk");
    }
  }
  return Json(200, "");
}

Reply UploadApi::Assemble(const net::HttpRequest& req) {
  absl::StatusOr<protocol::JsonValue> body = protocol::ParseJson(req.body);
  if (!body.ok() || !body->is_object()) {
    return Detail(400, "body is not a JSON object");
  }
  const std::string checksum(
      absl::AsciiStrToLower(ToAbsl((*body)["checksum"].string())));
  if (!IsSha1Hex(checksum)) return Detail(400, "checksum: expected a SHA-1");
  std::vector<std::string> chunks;
  for (const protocol::JsonValue& c : (*body)["chunks"].items()) {
    std::string sum(absl::AsciiStrToLower(ToAbsl(c.string())));
    if (!IsSha1Hex(sum)) return Detail(400, "chunks: expected SHA-1s");
    chunks.push_back(std::move(sum));
  }
  // Every chunk but the last is chunk_size bytes: more chunks than the
  // bundle limit allows is refused before anything is read.
  const uint64_t max_chunks = config_.max_bundle_bytes / config_.chunk_size + 1;
  if (chunks.size() > max_chunks) {
    return AssembleState(413, "error", {},
                         absl::StrCat("bundle larger than the limit of ",
                                      config_.max_bundle_bytes, " bytes"));
  }
  std::vector<storage::Project> projects;
  for (const protocol::JsonValue& p : (*body)["projects"].items()) {
    absl::StatusOr<storage::Project> project =
        store_->GetProjectBySlug(p.string());
    if (!project.ok()) {
      if (project.status().code() == absl::StatusCode::kNotFound) {
        return AssembleState(404, "error", {},
                             "One or more projects are invalid");
      }
      return StoreError(project.status(), "project");
    }
    projects.push_back(*std::move(project));
  }
  if (projects.empty()) return Detail(400, "projects: expected a project");
  const std::string version((*body)["version"].string());
  const std::string dist((*body)["dist"].string());

  bool all_stored = true;
  for (const storage::Project& p : projects) {
    absl::StatusOr<bool> has = store_->HasArtifactBundle(p.id, checksum);
    if (!has.ok()) return StoreError(has.status(), "bundle");
    all_stored &= *has;
  }
  if (all_stored) return AssembleState(200, "ok", {});
  if (chunks.empty()) return AssembleState(200, "not_found", {checksum});

  absl::StatusOr<std::vector<std::string>> missing =
      store_->MissingChunks(chunks);
  if (!missing.ok()) return StoreError(missing.status(), "chunks");
  if (!missing->empty()) return AssembleState(200, "not_found", *missing);

  std::string data;
  for (const std::string& sum : chunks) {
    absl::StatusOr<std::string> chunk = store_->GetChunk(sum);
    if (!chunk.ok()) {
      if (chunk.status().code() == absl::StatusCode::kNotFound) {
        return AssembleState(200, "not_found", {sum});  // deleted meanwhile
      }
      return StoreError(chunk.status(), "chunk");
    }
    if (data.size() + chunk->size() > config_.max_bundle_bytes) {
      return AssembleState(413, "error", {},
                           absl::StrCat("bundle larger than the limit of ",
                                        config_.max_bundle_bytes, " bytes"));
    }
    data += *chunk;
  }
  if (sym::Sha1Hex(data) != checksum) {
    return AssembleState(400, "error", {},
                         "checksum mismatch: the chunks do not make the "
                         "bundle's checksum");
  }
  sym::BundleLimits limits;
  limits.max_file_bytes = config_.max_file_bytes;
  limits.max_total_bytes =
      std::max<uint64_t>(config_.max_bundle_bytes * 8, config_.max_file_bytes);
  absl::StatusOr<sym::BundleManifest> manifest =
      sym::ReadBundleManifest(data, limits, /*verify_contents=*/true);
  if (!manifest.ok()) {
    const int status =
        manifest.status().code() == absl::StatusCode::kOutOfRange ? 413 : 400;
    return AssembleState(status, "error", {}, Msg(manifest.status()));
  }
  storage::ArtifactBundle bundle;
  bundle.checksum = checksum;
  bundle.debug_id = manifest->debug_id;
  bundle.release = version.empty() ? manifest->release : version;
  bundle.dist = dist.empty() ? manifest->dist : dist;
  bundle.data = std::move(data);
  for (const sym::BundleFile& f : manifest->files) {
    storage::ArtifactFile& out = bundle.files.emplace_back();
    out.path = f.path;
    out.type = f.type;
    out.url = f.url;
    out.debug_id = f.debug_id;
    out.sourcemap = f.sourcemap;
  }
  for (const storage::Project& p : projects) {
    bundle.project_id = p.id;
    if (!bundle.release.empty()) {
      if (absl::Status st =
              store_->UpsertRelease(p.id, bundle.release, std::nullopt);
          !st.ok()) {
        return StoreError(st, "release");
      }
    }
    absl::StatusOr<bool> put = store_->PutArtifactBundle(bundle);
    if (!put.ok()) return StoreError(put.status(), "bundle");
  }
  return AssembleState(200, "ok", {});
}

namespace {

void WriteRelease(protocol::JsonWriter& w, const storage::Release& r,
                  const std::vector<storage::Project>& projects) {
  w.BeginObject();
  w.Key("version");
  w.String(r.version);
  w.Key("shortVersion");
  w.String(r.version);
  w.Key("dateCreated");
  w.String(FormatTimeMs(r.created_ms));
  w.Key("dateReleased");
  if (r.finalized_ms) {
    w.String(FormatTimeMs(*r.finalized_ms));
  } else {
    w.Null();
  }
  w.Key("newGroups");
  w.Int(0);
  w.Key("projects");
  w.BeginArray();
  for (const storage::Project& p : projects) {
    w.BeginObject();
    w.Key("slug");
    w.String(p.slug);
    w.Key("name");
    w.String(p.name);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

Reply UploadApi::CreateRelease(const net::HttpRequest& req,
                               std::string_view project_slug) {
  absl::StatusOr<protocol::JsonValue> body = protocol::ParseJson(req.body);
  if (!body.ok() || !body->is_object()) {
    return Detail(400, "body is not a JSON object");
  }
  const std::string version((*body)["version"].string());
  if (version.empty() || version.size() > 200 || version == "." ||
      version == ".." ||
      version.find_first_of("\n\r\t/\\") != std::string::npos) {
    return Detail(400, "version: expected a release name");
  }
  std::vector<std::string> slugs;
  if (!project_slug.empty()) slugs.emplace_back(project_slug);
  for (const protocol::JsonValue& p : (*body)["projects"].items()) {
    slugs.emplace_back(p.string());
  }
  if (slugs.empty()) return Detail(400, "projects: expected a project");
  std::optional<int64_t> finalized;
  if (const protocol::JsonValue* released = body->Find("dateReleased");
      released != nullptr && !released->is_null()) {
    finalized = absl::ToUnixMillis(absl::Now());
  }
  std::vector<storage::Project> projects;
  storage::Release release;
  for (const std::string& slug : slugs) {
    absl::StatusOr<storage::Project> p = store_->GetProjectBySlug(slug);
    if (!p.ok()) return StoreError(p.status(), "project");
    if (absl::Status st = store_->UpsertRelease(p->id, version, finalized);
        !st.ok()) {
      return StoreError(st, "release");
    }
    absl::StatusOr<std::optional<storage::Release>> r =
        store_->GetRelease(p->id, version);
    if (!r.ok()) return StoreError(r.status(), "release");
    if (*r) release = **r;
    projects.push_back(*std::move(p));
  }
  std::string out;
  protocol::JsonWriter w(&out);
  WriteRelease(w, release, projects);
  return Json(201, std::move(out));
}

Reply UploadApi::ReleaseDetails(const net::HttpRequest& req,
                                std::string_view version) {
  std::optional<int64_t> finalized;
  if (req.method == "PUT") {
    absl::StatusOr<protocol::JsonValue> body = protocol::ParseJson(req.body);
    if (!body.ok() || !body->is_object()) {
      return Detail(400, "body is not a JSON object");
    }
    if (const protocol::JsonValue* released = body->Find("dateReleased");
        released != nullptr && !released->is_null()) {
      finalized = absl::ToUnixMillis(absl::Now());
    }
  }
  // Organization-level: every project that has the release.
  absl::StatusOr<std::vector<storage::Project>> all = store_->ListProjects();
  if (!all.ok()) return StoreError(all.status(), "projects");
  std::vector<storage::Project> projects;
  std::optional<storage::Release> release;
  for (const storage::Project& p : *all) {
    absl::StatusOr<std::optional<storage::Release>> r =
        store_->GetRelease(p.id, version);
    if (!r.ok()) return StoreError(r.status(), "release");
    if (!*r) continue;
    if (finalized) {
      if (absl::Status st = store_->UpsertRelease(p.id, version, finalized);
          !st.ok()) {
        return StoreError(st, "release");
      }
      r = store_->GetRelease(p.id, version);
      if (!r.ok() || !*r) return StoreError(r.status(), "release");
    }
    if (!release) release = **r;
    projects.push_back(p);
  }
  if (!release) return Detail(404, "release not found");
  std::string out;
  protocol::JsonWriter w(&out);
  WriteRelease(w, *release, projects);
  return Json(200, std::move(out));
}

Reply UploadApi::ReleaseFile(const net::HttpRequest& req,
                             std::string_view project_slug,
                             std::string_view version) {
  absl::StatusOr<storage::Project> project =
      store_->GetProjectBySlug(project_slug);
  if (!project.ok()) return StoreError(project.status(), "project");
  absl::StatusOr<std::vector<FormPart>> parts =
      ParseMultipart(req.Header("Content-Type").value_or(""), req.body, 16);
  if (!parts.ok()) return Detail(400, Msg(parts.status()));
  const FormPart* file = nullptr;
  storage::ArtifactFile f;
  std::string dist;
  for (const FormPart& part : *parts) {
    if (part.name == "file") {
      file = &part;
      if (f.url.empty()) f.url = part.filename;
    } else if (part.name == "name") {
      f.url = std::string(part.body);
    } else if (part.name == "dist") {
      dist = std::string(part.body);
    } else if (part.name == "header") {
      const size_t colon = part.body.find(':');
      if (colon == std::string_view::npos) {
        return Detail(400, "header: expected \"Name: value\"");
      }
      std::string_view key = part.body.substr(0, colon);
      std::string_view value = part.body.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (absl::EqualsIgnoreCase(ToAbsl(key), "sourcemap") ||
          absl::EqualsIgnoreCase(ToAbsl(key), "x-sourcemap")) {
        f.sourcemap = std::string(value);
      } else if (absl::EqualsIgnoreCase(ToAbsl(key), "debug-id")) {
        f.debug_id = backend::symbolicate::NormalizeDebugId(value);
      }
    }
  }
  if (file == nullptr) return Detail(400, "file: missing");
  if (f.url.empty() || f.url.size() > 2048) {
    return Detail(400, "name: expected the file's URL");
  }
  if (file->body.size() > config_.max_file_bytes) {
    return Detail(413, "file larger than sourcemaps.max_file_bytes");
  }
  f.type =
      absl::EndsWith(ToAbsl(f.url), ".map") ? "source_map" : "minified_source";
  absl::StatusOr<int64_t> id =
      store_->PutReleaseFile(project->id, version, dist, f, file->body);
  if (!id.ok()) return StoreError(id.status(), "release file");
  std::string out;
  protocol::JsonWriter w(&out);
  w.BeginObject();
  w.Key("id");
  w.String(absl::StrCat(*id));
  w.Key("name");
  w.String(f.url);
  w.Key("dist");
  if (dist.empty()) {
    w.Null();
  } else {
    w.String(dist);
  }
  w.Key("size");
  w.Uint(file->body.size());
  w.Key("sha1");
  w.String(backend::symbolicate::Sha1Hex(file->body));
  w.Key("dateCreated");
  w.String(FormatTimeMs(absl::ToUnixMillis(absl::Now())));
  w.EndObject();
  return Json(201, std::move(out));
}

}  // namespace tern::api
