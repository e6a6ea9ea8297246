#include "bench/tern_bench/payload_pool.h"

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "protocol/auth.h"
#include "protocol/decode.h"
#include "protocol/envelope.h"
#include "protocol/json_value.h"

namespace tern::bench {
namespace {

// One HTTP request of the pool, taken apart as the relay would.
struct Parsed {
  std::string request_line;
  std::map<std::string, std::string> headers;
  std::string body;  // still encoded
};

Parsed SplitRequest(std::string_view bytes) {
  Parsed p;
  const size_t end = bytes.find("\r\n\r\n");
  EXPECT_NE(end, std::string_view::npos);
  std::string_view head = bytes.substr(0, end);
  p.body = std::string(bytes.substr(end + 4));
  size_t line_end = head.find("\r\n");
  p.request_line = std::string(head.substr(0, line_end));
  while (line_end != std::string_view::npos) {
    head.remove_prefix(line_end + 2);
    line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    const size_t colon = line.find(": ");
    EXPECT_NE(colon, std::string_view::npos) << line;
    p.headers[std::string(line.substr(0, colon))] =
        std::string(line.substr(colon + 2));
  }
  return p;
}

// Decodes an envelope body and returns the event's id, checking on the way
// that the event item is valid JSON whose event_id matches the header's.
std::string CheckEnvelope(std::string_view decoded, size_t* event_size) {
  protocol::EnvelopeParser parser;
  protocol::Envelope env;
  absl::Status s = parser.Parse(decoded, {}, &env);
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return "";
  EXPECT_EQ(env.items.size(), 1u);
  if (env.items.empty()) return "";
  const protocol::EnvelopeItem& item = env.items[0];
  if (item.item_type == protocol::ItemType::kSession) {
    absl::StatusOr<protocol::JsonValue> session =
        protocol::ParseJson(item.payload);
    EXPECT_TRUE(session.ok());
    EXPECT_FALSE((*session)["sid"].string().empty());
    return "";
  }
  EXPECT_EQ(item.item_type, protocol::ItemType::kEvent);
  absl::StatusOr<protocol::JsonValue> event = protocol::ParseJson(item.payload);
  EXPECT_TRUE(event.ok()) << event.status();
  if (!event.ok()) return "";
  const std::string id((*event)["event_id"].string());
  EXPECT_TRUE(env.event_id.has_value());
  if (env.event_id) {
    EXPECT_EQ(env.event_id->ToHex(), id);
  }
  if (event_size) *event_size = item.payload.size();
  return id;
}

PayloadOptions Options(std::string encoding, size_t event_bytes) {
  PayloadOptions o;
  o.encoding = std::move(encoding);
  o.event_bytes = event_bytes;
  o.pool_size = 64;
  return o;
}

TEST(PayloadPoolTest, EnvelopesParseBackInEveryEncodingAndSize) {
  protocol::BodyDecoder decoder;
  std::string scratch;
  for (const char* encoding : {"identity", "gzip", "deflate", "zstd", "br"}) {
    for (size_t size : {size_t{1024}, size_t{8192}, size_t{51200}}) {
      SCOPED_TRACE(absl::StrCat(encoding, " ", size));
      absl::StatusOr<PayloadPool> pool =
          PayloadPool::Build(Options(encoding, size));
      ASSERT_TRUE(pool.ok()) << pool.status();
      ASSERT_EQ(pool->size(), 64u);
      std::set<std::string> ids;
      for (const Payload& p : pool->entries()) {
        Parsed req = SplitRequest(p.bytes);
        EXPECT_EQ(req.request_line.rfind("POST /api/1/envelope/", 0), 0u)
            << req.request_line;
        EXPECT_EQ(req.headers["Content-Length"], absl::StrCat(req.body.size()));
        EXPECT_EQ(p.body_offset, p.bytes.size() - req.body.size());
        const std::string coding = req.headers.count("Content-Encoding")
                                       ? req.headers["Content-Encoding"]
                                       : "identity";
        EXPECT_EQ(coding, encoding);
        absl::StatusOr<std::string_view> decoded =
            decoder.DecodeContent(coding, req.body, 1 << 20, &scratch);
        ASSERT_TRUE(decoded.ok()) << decoded.status();
        size_t event_size = 0;
        ids.insert(CheckEnvelope(*decoded, &event_size));
        // The event is the size asked for, within a few percent.
        EXPECT_LE(event_size, size);
        EXPECT_GE(event_size, size * 97 / 100);
        // Identity bodies can be re-stamped per send; compressed ones not.
        EXPECT_EQ(p.id_offsets.size(),
                  std::string_view(encoding) == "identity" ? 2u : 0u);
      }
      EXPECT_EQ(ids.size(), 64u) << "event ids must be distinct";
    }
  }
}

TEST(PayloadPoolTest, SdkShapesCarryParsableAuth) {
  // Small events go the @sentry/node way (auth in the query string, dsn in
  // the envelope header), large ones the sentry-python way (X-Sentry-Auth).
  absl::StatusOr<PayloadPool> node = PayloadPool::Build(Options("gzip", 1024));
  ASSERT_TRUE(node.ok());
  Parsed req = SplitRequest(node->entries()[0].bytes);
  const size_t q = req.request_line.find('?');
  ASSERT_NE(q, std::string::npos);
  const std::string query =
      req.request_line.substr(q + 1, req.request_line.find(' ', q) - q - 1);
  std::string scratch;
  absl::StatusOr<protocol::AuthInfo> auth =
      protocol::ParseAuthQuery(query, &scratch);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, ProjectKey(1));
  EXPECT_EQ(auth->client, "sentry.javascript.node/7.110.0");
  EXPECT_EQ(req.headers.count("X-Sentry-Auth"), 0u);

  absl::StatusOr<PayloadPool> py = PayloadPool::Build(Options("gzip", 8192));
  ASSERT_TRUE(py.ok());
  req = SplitRequest(py->entries()[0].bytes);
  auth = protocol::ParseSentryAuthHeader(req.headers["X-Sentry-Auth"]);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->public_key, ProjectKey(1));
  EXPECT_EQ(auth->client, "sentry.python/1.45.0");
}

TEST(PayloadPoolTest, StoreBodiesAreEventJson) {
  protocol::BodyDecoder decoder;
  std::string scratch;
  std::string store_scratch;
  PayloadOptions o = Options("gzip", 8192);
  o.endpoint = Endpoint::kStore;
  absl::StatusOr<PayloadPool> pool = PayloadPool::Build(o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  for (const Payload& p : pool->entries()) {
    Parsed req = SplitRequest(p.bytes);
    EXPECT_EQ(req.request_line.rfind("POST /api/1/store/ HTTP/1.1", 0), 0u);
    EXPECT_EQ(req.headers["Content-Type"], "application/json");
    absl::StatusOr<std::string_view> decoded =
        decoder.DecodeContent("gzip", req.body, 1 << 20, &scratch);
    ASSERT_TRUE(decoded.ok());
    absl::StatusOr<std::string_view> json =
        decoder.DecodeStoreBody(*decoded, 1 << 20, &store_scratch);
    ASSERT_TRUE(json.ok());
    absl::StatusOr<protocol::JsonValue> event = protocol::ParseJson(*json);
    ASSERT_TRUE(event.ok()) << event.status();
    EXPECT_EQ((*event)["event_id"].string().size(), 32u);
  }
}

TEST(PayloadPoolTest, PatchEventIdMakesEachSendUniqueAndValid) {
  absl::StatusOr<PayloadPool> pool =
      PayloadPool::Build(Options("identity", 1024));
  ASSERT_TRUE(pool.ok());
  Payload& p = pool->at(3);
  std::set<std::string> ids;
  for (uint64_t seq : {uint64_t{1000}, uint64_t{1001}, uint64_t{0xabcdef12}}) {
    PatchEventId(seq, &p);
    Parsed req = SplitRequest(p.bytes);
    ids.insert(CheckEnvelope(req.body, nullptr));
  }
  EXPECT_EQ(ids.size(), 3u);
  // The sizes did not change: Content-Length stays right.
  EXPECT_EQ(SplitRequest(p.bytes).headers["Content-Length"],
            absl::StrCat(SplitRequest(p.bytes).body.size()));
}

TEST(PayloadPoolTest, SharesAndZipfDistribution) {
  PayloadOptions o = Options("gzip", 1024);
  o.pool_size = 2000;
  o.projects = 10;
  o.invalid_key_share = 0.1;
  o.over_quota_share = 0.05;
  o.session_share = 0.2;
  absl::StatusOr<PayloadPool> pool = PayloadPool::Build(o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::map<PayloadKind, size_t> kinds;
  std::map<uint32_t, size_t> projects;
  for (const Payload& p : pool->entries()) {
    ++kinds[p.kind];
    Parsed req = SplitRequest(p.bytes);
    EXPECT_NE(req.request_line.find(absl::StrCat("/api/", p.project_id, "/")),
              std::string::npos);
    const bool has_invalid_key =
        p.bytes.find(InvalidKey()) != std::string::npos;
    EXPECT_EQ(has_invalid_key, p.kind == PayloadKind::kInvalidKey);
    if (p.kind == PayloadKind::kOverQuota) {
      EXPECT_EQ(p.project_id, OverQuotaProjectId(10));
      EXPECT_NE(p.bytes.find(ProjectKey(11)), std::string::npos);
    }
    if (p.kind == PayloadKind::kEvent || p.kind == PayloadKind::kSession) {
      ++projects[p.project_id];
    }
  }
  EXPECT_EQ(kinds[PayloadKind::kInvalidKey], 200u);
  EXPECT_EQ(kinds[PayloadKind::kOverQuota], 100u);
  EXPECT_EQ(kinds[PayloadKind::kSession], 400u);
  EXPECT_EQ(kinds[PayloadKind::kEvent], 1300u);
  // Zipf(1) over 10 projects: project k gets (1/k) / H(10) of the 1700.
  double h10 = 0;
  for (int k = 1; k <= 10; ++k) h10 += 1.0 / k;
  for (uint32_t k = 1; k <= 10; ++k) {
    const double want = 1700.0 / k / h10;
    EXPECT_NEAR(static_cast<double>(projects[k]), want, 1.0) << k;
  }
  // Kinds are shuffled, not in blocks: the first 100 hold several kinds.
  std::set<PayloadKind> head;
  for (size_t i = 0; i < 100; ++i) head.insert(pool->entries()[i].kind);
  EXPECT_GE(head.size(), 3u);
}

TEST(PayloadPoolTest, ZipfCountsAddUpExactly) {
  for (uint32_t n : {1u, 2u, 7u, 100u}) {
    for (size_t pool : {size_t{1}, size_t{10}, size_t{1023}}) {
      std::vector<size_t> counts = ZipfCounts(n, 1.2, pool);
      size_t total = 0;
      for (size_t c : counts) total += c;
      EXPECT_EQ(total, pool);
      for (size_t k = 1; k < counts.size(); ++k) {
        EXPECT_LE(counts[k], counts[k - 1] + 1) << "monotone up to rounding";
      }
    }
  }
  std::vector<size_t> counts = ZipfCounts(2, 1.0, 3000);
  EXPECT_EQ(counts[0], 2000u);
  EXPECT_EQ(counts[1], 1000u);
}

TEST(PayloadPoolTest, UdpLegacyDatagramsCarryAuthAndStoreBody) {
  protocol::BodyDecoder decoder;
  std::string scratch;
  for (const char* encoding : {"identity", "gzip"}) {
    PayloadOptions o = Options(encoding, 1024);
    o.udp = true;
    absl::StatusOr<PayloadPool> pool = PayloadPool::Build(o);
    ASSERT_TRUE(pool.ok()) << pool.status();
    for (const Payload& p : pool->entries()) {
      const size_t sep = p.bytes.find("\n\n");
      ASSERT_NE(sep, std::string::npos);
      absl::StatusOr<protocol::AuthInfo> auth = protocol::ParseSentryAuthHeader(
          std::string_view(p.bytes).substr(0, sep));
      ASSERT_TRUE(auth.ok()) << auth.status();
      EXPECT_EQ(auth->public_key, ProjectKey(1));
      absl::StatusOr<std::string_view> json = decoder.DecodeStoreBody(
          std::string_view(p.bytes).substr(sep + 2), 1 << 20, &scratch);
      ASSERT_TRUE(json.ok()) << json.status();
      EXPECT_TRUE(protocol::ParseJson(*json).ok());
      EXPECT_LT(p.bytes.size(), 2048u);
    }
  }
}

TEST(PayloadPoolTest, UdpEnvelopeDatagramsCarryTheirDsn) {
  PayloadOptions o = Options("gzip", 1024);
  o.udp = true;
  o.udp_format = UdpFormat::kEnvelope;
  o.host = "127.0.0.1:3999";
  absl::StatusOr<PayloadPool> pool = PayloadPool::Build(o);
  ASSERT_TRUE(pool.ok());
  for (const Payload& p : pool->entries()) {
    CheckEnvelope(p.bytes, nullptr);
    protocol::EnvelopeParser parser;
    protocol::Envelope env;
    ASSERT_TRUE(parser.Parse(p.bytes, {}, &env).ok());
    absl::StatusOr<protocol::AuthInfo> auth =
        protocol::ParseEnvelopeDsnAuth(env.dsn);
    ASSERT_TRUE(auth.ok()) << auth.status();
    EXPECT_EQ(auth->public_key, ProjectKey(1));
    EXPECT_EQ(auth->dsn_project_id, 1u);
  }
}

TEST(PayloadPoolTest, ProjectsFileListsEveryKey) {
  const std::string yaml = ProjectsYaml(3, 10);
  for (uint32_t id = 1; id <= 4; ++id) {
    EXPECT_NE(yaml.find(absl::StrCat("- id: ", id, "\n")), std::string::npos);
    EXPECT_NE(yaml.find(ProjectKey(id)), std::string::npos);
  }
  EXPECT_NE(yaml.find("limit: 10"), std::string::npos);
  EXPECT_EQ(yaml.find(InvalidKey()), std::string::npos);
  EXPECT_NE(ProjectKey(1), ProjectKey(2));
  EXPECT_EQ(ProjectKey(7).size(), 32u);
}

TEST(PayloadPoolTest, BadOptionsAreRefused) {
  PayloadOptions o = Options("lz4", 1024);
  EXPECT_EQ(PayloadPool::Build(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options("gzip", 1024);
  o.invalid_key_share = 0.7;
  o.over_quota_share = 0.7;
  EXPECT_FALSE(PayloadPool::Build(o).ok());
  o = Options("gzip", 1024);
  o.session_share = 0.5;
  o.endpoint = Endpoint::kStore;
  EXPECT_FALSE(PayloadPool::Build(o).ok());
  o = Options("gzip", 1024);
  o.pool_size = 0;
  EXPECT_FALSE(PayloadPool::Build(o).ok());
}

}  // namespace
}  // namespace tern::bench
