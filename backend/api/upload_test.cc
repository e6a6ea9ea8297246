#include "backend/api/upload.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backend/storage/store.h"
#include "backend/symbolicate/sha1.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "protocol/json_value.h"
#include "tests/support/compress.h"
#include "tests/support/samples.h"

namespace tern::api {
namespace {

using backend::symbolicate::Sha1Hex;

constexpr char kToken[] = "sntrys_test_token_0123456789abcdef";
constexpr char kBundle[] =
    "bugsink/artifact_bundles/51a5a327666cf1d11e23adfd55c3becad27ae769.zip";

class UploadApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("tern_upload_", getpid(), "_", counter_++);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = storage::OpenStore("sqlite:" + (dir_ / "t.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto p = store_->CreateProject("web");
    ASSERT_TRUE(p.ok());
    project_ = p->first.id;
    ASSERT_TRUE(
        store_->CreateApiToken(Sha1Hex(kToken), "ci", "project:releases").ok());
    ASSERT_TRUE(
        store_->CreateApiToken(Sha1Hex("read-only-token"), "ro", "org:read")
            .ok());
    config_.chunk_size = 16 * 1024;  // the 40 KB bundle becomes 3 chunks
    api_ = std::make_unique<UploadApi>(store_.get(), config_);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  ApiHandler::Reply Call(std::string_view method, std::string_view path,
                         std::string_view body = "",
                         std::string_view content_type = "application/json",
                         std::string_view token = kToken) {
    auth_ = absl::StrCat("Bearer ", ToAbsl(token));
    headers_ = {{"Host", "127.0.0.1:9000"},
                {"Authorization", auth_},
                {"Content-Type", content_type}};
    body_ = std::string(body);
    net::HttpRequest req;
    req.method = method;
    req.path = path;
    req.headers = headers_;
    req.body = body_;
    EXPECT_TRUE(api_->Owns(path)) << path;
    return api_->Handle(req);
  }

  static std::string Multipart(
      const std::vector<std::pair<std::string, std::string>>& files,
      std::string_view field) {
    std::string body;
    for (const auto& [name, data] : files) {
      absl::StrAppend(&body, "--XyZ\r\nContent-Disposition: form-data; name=\"",
                      ToAbsl(field), "\"; filename=\"", name,
                      "\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                      data, "\r\n");
    }
    body += "--XyZ--\r\n";
    return body;
  }

  std::string AssembleBody(const std::string& zip,
                           std::string_view projects = "[\"web\"]") {
    std::string chunks;
    for (size_t i = 0; i < zip.size(); i += config_.chunk_size) {
      absl::StrAppend(&chunks, chunks.empty() ? "" : ",", "\"",
                      Sha1Hex(zip.substr(i, config_.chunk_size)), "\"");
    }
    return absl::StrCat("{\"checksum\":\"", Sha1Hex(zip), "\",\"chunks\":[",
                        chunks, "],\"projects\":", ToAbsl(projects),
                        ",\"version\":\"web@1.0\"}");
  }

  std::vector<std::pair<std::string, std::string>> Chunks(
      const std::string& zip) {
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t i = 0; i < zip.size(); i += config_.chunk_size) {
      std::string c = zip.substr(i, config_.chunk_size);
      out.emplace_back(Sha1Hex(c), tern::testing::Deflate(c, 31));
    }
    return out;
  }

  static protocol::JsonValue Parse(const ApiHandler::Reply& r) {
    auto v = protocol::ParseJson(r.body);
    EXPECT_TRUE(v.ok()) << r.body;
    return v.ok() ? *v : protocol::JsonValue();
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  int64_t project_ = 0;
  config::BackendSourcemapsConfig config_;
  std::unique_ptr<UploadApi> api_;
  std::string auth_, body_;
  std::vector<net::HttpHeader> headers_;
};

TEST_F(UploadApiTest, ChunkOptionsAsSentryCliReadsThem) {
  auto r = Call("GET", "/api/0/organizations/tern/chunk-upload/");
  ASSERT_EQ(r.status, 200) << r.body;
  protocol::JsonValue v = Parse(r);
  EXPECT_EQ(v["url"].string(),
            "http://127.0.0.1:9000/api/0/organizations/tern/chunk-upload/");
  EXPECT_EQ(v["chunkSize"].integer(), 16 * 1024);
  EXPECT_EQ(v["hashAlgorithm"].string(), "sha1");
  EXPECT_EQ(v["compression"][0].string(), "gzip");
  EXPECT_GT(v["chunksPerRequest"].integer().value_or(0), 0);
  EXPECT_GT(v["maxRequestSize"].integer().value_or(0), 0);
  EXPECT_GT(v["concurrency"].integer().value_or(0), 0);
}

TEST_F(UploadApiTest, AssembleReportsMissingChunksThenStores) {
  const std::string zip = tern::testing::ReadEventSample(kBundle);
  const std::string assemble = AssembleBody(zip);
  const std::string path = "/api/0/organizations/tern/artifactbundle/assemble/";
  auto r = Call("POST", path, assemble);
  ASSERT_EQ(r.status, 200) << r.body;
  protocol::JsonValue v = Parse(r);
  EXPECT_EQ(v["state"].string(), "not_found");
  ASSERT_EQ(v["missingChunks"].items().size(), 3u);

  // The first chunk only (an interrupted upload): the other two are still
  // reported missing, so the CLI sends them on its next round.
  auto chunks = Chunks(zip);
  r = Call("POST", "/api/0/organizations/tern/chunk-upload/",
           Multipart({chunks[0]}, "file_gzip"),
           "multipart/form-data; boundary=XyZ");
  ASSERT_EQ(r.status, 200) << r.body;
  v = Parse(Call("POST", path, assemble));
  EXPECT_EQ(v["state"].string(), "not_found");
  ASSERT_EQ(v["missingChunks"].items().size(), 2u);
  EXPECT_EQ(v["missingChunks"][0].string(), chunks[1].first);

  r = Call("POST", "/api/0/organizations/tern/chunk-upload/",
           Multipart({chunks[1], chunks[2]}, "file_gzip"),
           "multipart/form-data; boundary=XyZ");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Call("POST", path, assemble);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r)["state"].string(), "ok");

  auto maps = store_->FindArtifactsByDebugId(
      project_, "9b7990f8-1f25-571a-a422-03bea91eb8ab", "source_map");
  ASSERT_TRUE(maps.ok());
  ASSERT_EQ(maps->size(), 1u);
  EXPECT_EQ((*maps)[0].url, "~/captureException.min.js.map");
  auto release = store_->GetRelease(project_, "web@1.0");
  ASSERT_TRUE(release.ok() && release->has_value());
  // Asked again: already there.
  EXPECT_EQ(Parse(Call("POST", path, assemble))["state"].string(), "ok");
}

TEST_F(UploadApiTest, BadChunksAreRefused) {
  const std::string url = "/api/0/organizations/tern/chunk-upload/";
  const std::string mp = "multipart/form-data; boundary=XyZ";
  // Named by the wrong checksum.
  auto r = Call("POST", url,
                Multipart({{std::string(40, 'a'), "data"}}, "file"), mp);
  EXPECT_EQ(r.status, 400) << r.body;
  // Not gzip.
  r = Call("POST", url, Multipart({{Sha1Hex("data"), "data"}}, "file_gzip"),
           mp);
  EXPECT_EQ(r.status, 400) << r.body;
  // Larger than chunkSize.
  std::string big(config_.chunk_size + 1, 'x');
  r = Call("POST", url, Multipart({{Sha1Hex(big), big}}, "file"), mp);
  EXPECT_EQ(r.status, 413) << r.body;
  // Not multipart.
  r = Call("POST", url, "{}", "application/json");
  EXPECT_EQ(r.status, 400) << r.body;
  auto missing = store_->MissingChunks({Sha1Hex("data"), Sha1Hex(big)});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->size(), 2u);  // nothing stored
}

TEST_F(UploadApiTest, CorruptBundleAndChecksumMismatchAre400) {
  std::string zip = tern::testing::ReadEventSample(kBundle);
  zip[zip.size() / 2] ^= 0x55;  // a byte inside the compressed data
  auto chunks = Chunks(zip);
  const std::string mp = "multipart/form-data; boundary=XyZ";
  ASSERT_EQ(Call("POST", "/api/0/organizations/tern/chunk-upload/",
                 Multipart(chunks, "file_gzip"), mp)
                .status,
            200);
  const std::string path = "/api/0/organizations/tern/artifactbundle/assemble/";
  auto r = Call("POST", path, AssembleBody(zip));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Parse(r)["state"].string(), "error");
  EXPECT_FALSE(Parse(r)["detail"].string().empty());
  EXPECT_FALSE(*store_->HasArtifactBundle(project_, Sha1Hex(zip)));

  // Chunks that do not make the announced checksum.
  std::string body = AssembleBody(zip);
  const std::string wrong = std::string(40, 'e');
  body.replace(body.find(Sha1Hex(zip)), 40, wrong);
  r = Call("POST", path, body);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(Parse(r)["detail"].string().find("checksum"), std::string::npos);

  // Not a zip at all.
  const std::string junk = "this is not a zip archive";
  ASSERT_EQ(Call("POST", "/api/0/organizations/tern/chunk-upload/",
                 Multipart({{Sha1Hex(junk), junk}}, "file"), mp)
                .status,
            200);
  r = Call("POST", path,
           absl::StrCat("{\"checksum\":\"", Sha1Hex(junk), "\",\"chunks\":[\"",
                        Sha1Hex(junk), "\"],\"projects\":[\"web\"]}"));
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(UploadApiTest, OversizedBundleIs413) {
  config_.max_bundle_bytes = 20000;  // the bundle is 40 KB
  api_ = std::make_unique<UploadApi>(store_.get(), config_);
  const std::string zip = tern::testing::ReadEventSample(kBundle);
  auto r = Call("POST", "/api/0/organizations/tern/artifactbundle/assemble/",
                AssembleBody(zip));
  EXPECT_EQ(r.status, 413) << r.body;
}

TEST_F(UploadApiTest, AuthAndScope) {
  const std::string url = "/api/0/organizations/tern/chunk-upload/";
  EXPECT_EQ(Call("GET", url, "", "", "wrong-token").status, 401);
  EXPECT_EQ(Call("GET", url, "", "", "").status, 401);
  EXPECT_EQ(Call("GET", url, "", "", "read-only-token").status, 403);
  EXPECT_EQ(Call("GET", "/api/0/organizations/other/chunk-upload/").status,
            404);
  const std::string zip = tern::testing::ReadEventSample(kBundle);
  auto r = Call("POST", "/api/0/organizations/tern/artifactbundle/assemble/",
                AssembleBody(zip, "[\"nope\"]"));
  EXPECT_EQ(r.status, 404) << r.body;
}

TEST_F(UploadApiTest, ReleasesNewAndFinalize) {
  auto r = Call("POST", "/api/0/organizations/tern/releases/",
                R"({"version":"web@2.0","projects":["web"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  protocol::JsonValue v = Parse(r);
  EXPECT_EQ(v["version"].string(), "web@2.0");
  EXPECT_FALSE(v["dateCreated"].string().empty());
  EXPECT_TRUE(v["dateReleased"].is_null());
  EXPECT_EQ(v["projects"][0]["slug"].string(), "web");
  r = Call("PUT", "/api/0/organizations/tern/releases/web%402.0/",
           R"({"dateReleased":"2026-12-07T12:00:00Z"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(Parse(r)["dateReleased"].string().empty());
  EXPECT_EQ(Call("GET", "/api/0/organizations/tern/releases/nope/").status,
            404);
  EXPECT_EQ(Call("POST", "/api/0/organizations/tern/releases/",
                 R"({"version":"x","projects":["nope"]})")
                .status,
            404);
}

TEST_F(UploadApiTest, LegacyReleaseFile) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n"
      "~/app.min.js\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"header\"\r\n\r\n"
      "Sourcemap: app.min.js.map\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"app.min.js\"\r\n\r\nfunction a(){}\r\n--XyZ--\r\n";
  const std::string path = "/api/0/projects/tern/web/releases/web%401/files/";
  auto r = Call("POST", path, body, "multipart/form-data; boundary=XyZ");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Parse(r)["sha1"].string(), Sha1Hex("function a(){}"));
  EXPECT_EQ(
      Call("POST", path, body, "multipart/form-data; boundary=XyZ").status,
      409);
  auto f = store_->FindArtifactByUrl(project_, "web@1", "", {"~/app.min.js"});
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->sourcemap, "app.min.js.map");
}

TEST(MultipartTest, RejectsMalformedBodies) {
  const std::string ct = "multipart/form-data; boundary=b";
  EXPECT_FALSE(ParseMultipart("text/plain", "", 4).ok());
  EXPECT_FALSE(ParseMultipart("multipart/form-data", "--b--", 4).ok());
  EXPECT_FALSE(ParseMultipart(ct, "no delimiter", 4).ok());
  EXPECT_FALSE(ParseMultipart(ct, "--b\r\nContent-Disposition: x", 4).ok());
  EXPECT_FALSE(ParseMultipart(ct, "--b\r\n\r\nunterminated", 4).ok());
  std::string many;
  for (int i = 0; i < 5; ++i) many += "--b\r\n\r\nx\r\n";
  many += "--b--";
  EXPECT_FALSE(ParseMultipart(ct, many, 4).ok());
  auto ok = ParseMultipart(
      "multipart/form-data; boundary=\"b\"",
      "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--", 4);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].name, "a");
  EXPECT_EQ((*ok)[0].body, "1");
}

TEST(PercentDecodeTest, Cases) {
  EXPECT_EQ(PercentDecode("web%402.0"), "web@2.0");
  EXPECT_EQ(PercentDecode("a%2Fb"), "a/b");
  EXPECT_EQ(PercentDecode("plain"), "plain");
  EXPECT_FALSE(PercentDecode("bad%4").has_value());
  EXPECT_FALSE(PercentDecode("bad%zz").has_value());
  EXPECT_FALSE(PercentDecode("nul%00").has_value());
}

}  // namespace
}  // namespace tern::api
