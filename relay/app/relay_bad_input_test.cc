// Every documented status of the relay's HTTP interface, driven with raw
// request bytes against a whole in-process Relay (mock Kafka cluster): one
// table row per status/detail, plus the connection-level behaviours a table
// row cannot show (100-continue, pipelining, Connection: close, CORS, 503
// under backpressure).
#include <zlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/app/relay_test_harness.h"
#include "relay/kafka/test_consumer.h"
#include "tests/support/compress.h"

namespace tern::relay::app {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using namespace tern::relay::app::testing;  // NOLINT(build/namespaces)

std::string Compress(std::string_view in, int window_bits) {
  return tern::testing::Deflate(in, window_bits);
}

std::string IdBody(const std::string& id) {
  return absl::StrCat(R"({"id":")", id, R"("})");
}

// One request and what the relay must answer.
struct Case {
  std::string name;
  std::string request;
  int status;
  // Substring of the {"detail": ...} body for errors; for 200 the exact body
  // when non-empty.
  std::string body;
  // (lower-case header name, substring its value must contain).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

std::vector<Case> Cases() {
  const std::string auth = AuthHeader() + "\r\n";
  const std::string store = "/api/1/store/";
  const std::string env = "/api/1/envelope/";
  const std::string id = HexId(1);
  const std::string event = EventJson(id);
  const std::string envelope = EnvelopeWithEvent(id);
  std::vector<Case> c;

  // --- accepted, one per auth source and body form ---
  c.push_back({"store json", Post(store, auth, event), 200, IdBody(id)});
  c.push_back({"store authorization header",
               Post(store,
                    absl::StrCat("Authorization: Sentry sentry_key=", kKey,
                                 ", sentry_version=7\r\n"),
                    event),
               200, IdBody(id)});
  c.push_back(
      {"store query key",
       Post(absl::StrCat(store, "?sentry_key=", kKey, "&sentry_version=7"), "",
            event),
       200, IdBody(id)});
  c.push_back({"store base64 zlib",
               Post(store, auth, absl::Base64Escape(Compress(event, 15))), 200,
               IdBody(id)});
  c.push_back(
      {"store gzip",
       Post(store, auth + "Content-Encoding: gzip\r\n", Compress(event, 31)),
       200, IdBody(id)});
  c.push_back(
      {"store deflate",
       Post(store, auth + "Content-Encoding: deflate\r\n", Compress(event, 15)),
       200, IdBody(id)});
  c.push_back(
      {"store with envelope content type",
       Post(store, auth + "Content-Type: application/x-sentry-envelope\r\n",
            envelope),
       200, IdBody(id)});
  c.push_back({"envelope", Post(env, auth, envelope), 200, IdBody(id)});
  c.push_back(
      {"envelope gzip",
       Post(env, auth + "Content-Encoding: gzip\r\n", Compress(envelope, 31)),
       200, IdBody(id)});
  c.push_back(
      {"envelope dsn header",
       Post(env, "",
            EnvelopeWithEvent(id, absl::StrCat(R"(,"dsn":"http://)", kKey,
                                               R"(@relay.example/1")"))),
       200, IdBody(id)});
  c.push_back(
      {"envelope dsn header plus auth header counts once",
       Post(env, auth,
            EnvelopeWithEvent(id, absl::StrCat(R"(,"dsn":"http://)", kKey,
                                               R"(@relay.example/1")"))),
       200, IdBody(id)});
  c.push_back({"envelope item without length",
               Post(env, auth,
                    absl::StrCat(R"({"event_id":")", id, "\"}\n",
                                 R"({"type":"event"})", "\n", event, "\n")),
               200, IdBody(id)});
  {
    // Chunked transfer encoding, the envelope split over three chunks.
    std::string chunked =
        absl::StrCat("POST ", env, " HTTP/1.1\r\nHost: relay\r\n", auth,
                     "Transfer-Encoding: chunked\r\n\r\n");
    const size_t third = envelope.size() / 3;
    for (const std::string& part :
         {envelope.substr(0, third), envelope.substr(third, third),
          envelope.substr(2 * third)}) {
      absl::StrAppend(&chunked, absl::Hex(part.size()), "\r\n", part, "\r\n");
    }
    c.push_back({"envelope chunked", chunked + "0\r\n\r\n", 200, IdBody(id)});
  }
  c.push_back({"allowed origin",
               Post(store, auth + "Origin: https://good.example\r\n", event),
               200,
               IdBody(id),
               {{"access-control-allow-origin", ""}}});
  c.push_back(
      {"any origin on a project allowing *",
       Post("/api/2/store/",
            AuthHeader(kOtherKey) + "\r\nOrigin: https://anything.example\r\n",
            event),
       200, IdBody(id)});

  // --- 401: auth missing, doubled or unreadable ---
  c.push_back(
      {"no auth", Post(store, "", event), 401, "missing authorization"});
  c.push_back({"no auth envelope without dsn", Post(env, "", envelope), 401,
               "missing authorization"});
  c.push_back({"two auth sources",
               Post(absl::StrCat(store, "?sentry_key=", kKey), auth, event),
               401, "multiple authorization"});
  c.push_back({"header and authorization",
               Post(store,
                    absl::StrCat(auth, "Authorization: Sentry sentry_key=",
                                 kKey, "\r\n"),
                    event),
               401, "multiple authorization"});
  c.push_back({"malformed auth",
               Post(store, "X-Sentry-Auth: garbage\r\n", event), 401,
               "malformed auth"});
  c.push_back({"auth without key",
               Post(store, "X-Sentry-Auth: Sentry sentry_version=7\r\n", event),
               401, "missing sentry_key"});

  // --- 400: protocol version, bad payloads, malformed HTTP ---
  c.push_back({"sentry_version 8",
               Post(store, AuthHeader(kKey, 8) + "\r\n", event), 400,
               "unsupported protocol version 8"});
  c.push_back(
      {"bad json store", Post(store, auth, "{not json"), 400, "invalid_json"});
  c.push_back({"empty store body", Post(store, auth, ""), 400, "empty"});
  c.push_back(
      {"bad base64 store", Post(store, auth, "eJ!!!notbase64"), 400, "base64"});
  c.push_back({"bad envelope header", Post(env, auth, "garbage\n{}\n"), 400,
               "envelope header"});
  c.push_back({"envelope item longer than the body",
               Post(env, auth,
                    absl::StrCat(R"({"event_id":")", id, "\"}\n",
                                 R"({"type":"event","length":9999})", "\n",
                                 event, "\n")),
               400, "length"});
  c.push_back({"corrupt gzip",
               Post(store, auth + "Content-Encoding: gzip\r\n",
                    "\x1f\x8b\x08\x00garbage-not-deflate"),
               400, "corrupt"});
  c.push_back(
      {"malformed request line", "GARBAGE\r\n\r\n", 400, "malformed request"});

  // --- 403: key and project checks ---
  c.push_back(
      {"unknown key",
       Post(store, AuthHeader("00000000000000000000000000000000") + "\r\n",
            event),
       403, "unknown public key"});
  c.push_back({"disabled key",
               Post(store, AuthHeader(kDisabledKey) + "\r\n", event), 403,
               "disabled"});
  c.push_back({"project mismatch",
               Post(store, AuthHeader(kOtherKey) + "\r\n", event), 403,
               "project mismatch"});
  c.push_back({"unknown project", Post("/api/99/store/", auth, event), 403,
               "project mismatch"});
  c.push_back(
      {"envelope dsn names another project",
       Post(env, "",
            EnvelopeWithEvent(id, absl::StrCat(R"(,"dsn":"http://)", kKey,
                                               R"(@relay.example/2")"))),
       403, "project mismatch"});
  c.push_back({"origin not allowed",
               Post(store, auth + "Origin: https://evil.example\r\n", event),
               403, "origin not allowed"});
  c.push_back(
      {"referer not allowed",
       Post(store, auth + "Referer: https://evil.example/page\r\n", event), 403,
       "origin not allowed"});

  // --- 413: too large before and after decompression ---
  c.push_back({"store body over max_event_size",
               Post(store, auth, std::string((1 << 20) + 1, ' ')), 413,
               "too large"});
  c.push_back({"gzip bomb store",
               Post(store, auth + "Content-Encoding: gzip\r\n",
                    Compress(std::string(4 << 20, '\0'), 31)),
               413, "too large"});
  c.push_back(
      {"gzip bomb base64 store",
       Post(store, auth,
            absl::Base64Escape(Compress(std::string(4 << 20, ' '), 15))),
       413, "too large"});
  c.push_back({"envelope event item over max_event_size",
               Post(env, auth,
                    absl::StrCat(R"({"event_id":")", id, "\"}\n",
                                 R"({"type":"event","length":)", (1 << 20) + 10,
                                 "}\n", R"({"a":")",
                                 std::string((1 << 20) + 2, 'x'), "\"}\n")),
               413, "over the limit"});

  // --- 415 ---
  c.push_back({"unknown content encoding",
               Post(store, auth + "Content-Encoding: x-unknown\r\n", event),
               415, "Content-Encoding"});

  // --- 431: headers over the limits ---
  c.push_back(
      {"header over max_header_bytes",
       Post(store,
            absl::StrCat(auth, "X-Big: ", std::string(20000, 'a'), "\r\n"),
            event),
       431, "too large"});
  {
    std::string many = auth;
    for (int i = 0; i < 150; ++i) absl::StrAppend(&many, "X-H", i, ": v\r\n");
    c.push_back(
        {"too many headers", Post(store, many, event), 431, "too many header"});
  }

  // --- 404 / 405 ---
  c.push_back(
      {"unknown path", Post("/api/1/nothing/", auth, event), 404, "not found"});
  c.push_back({"unknown path get",
               "GET /does-not-exist HTTP/1.1\r\nHost: relay\r\n\r\n", 404,
               "not found"});
  c.push_back({"non-numeric project", Post("/api/abc/store/", auth, event), 404,
               "not found"});
  c.push_back({"GET on store",
               absl::StrCat("GET ", store, " HTTP/1.1\r\nHost: relay\r\n", auth,
                            "\r\n"),
               405,
               "method not allowed",
               {{"allow", "POST"}}});
  c.push_back({"PUT on envelope",
               Post(env, auth, envelope).replace(0, 4, "PUT"),
               405,
               "method not allowed",
               {{"allow", "POST"}}});
  c.push_back({"POST on health",
               Post("/api/relay/healthcheck/live/", "", ""),
               405,
               "method not allowed",
               {{"allow", "GET"}}});

  // --- health and metrics ---
  c.push_back({"health live",
               "GET /api/relay/healthcheck/live/ HTTP/1.1\r\nHost: r\r\n\r\n",
               200, ""});
  c.push_back({"health ready",
               "GET /api/relay/healthcheck/ready/ HTTP/1.1\r\nHost: r\r\n\r\n",
               200, ""});
  return c;
}

class RelayBadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto h = RelayHarness::Start();
    ASSERT_TRUE(h.ok()) << h.status();
    harness_ = h->release();
  }
  static void TearDownTestSuite() {
    delete harness_;
    harness_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(harness_, nullptr); }
  uint16_t port() { return harness_->port(); }

  static RelayHarness* harness_;
};
RelayHarness* RelayBadInputTest::harness_ = nullptr;

// Checks what every answer must have: a status line, Content-Length, and a
// {"detail": ...} JSON body for errors.
void ExpectWellFormed(const HttpReply& r) {
  EXPECT_GT(r.status, 0) << r.head;
  EXPECT_TRUE(r.has_content_length) << r.head;
  if (r.status >= 400) {
    EXPECT_THAT(r.body, MatchesRegex(R"(\{ *"detail" *: *".*"\})")) << r.head;
  }
}

TEST_F(RelayBadInputTest, EachRowGetsItsDocumentedStatus) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    std::optional<HttpReply> r = RoundTrip(port(), c.request);
    ASSERT_TRUE(r.has_value()) << "no complete response";
    EXPECT_EQ(r->status, c.status) << r->head << "\r\n\r\n" << r->body;
    ExpectWellFormed(*r);
    if (c.status == 200 && !c.body.empty()) {
      EXPECT_EQ(r->body, c.body);
    } else if (!c.body.empty()) {
      EXPECT_THAT(r->body, HasSubstr(c.body));
    }
    for (const auto& [name, value] : c.headers) {
      EXPECT_TRUE(r->headers.contains(name)) << name << " missing:\n"
                                             << r->head;
      EXPECT_THAT(r->Header(name), HasSubstr(value)) << name;
    }
    if (r->status == 200 && absl::StartsWith(c.request, "POST")) {
      EXPECT_THAT(r->body, MatchesRegex(R"(\{"id":"[0-9a-f]{32}"\})"));
    }
  }
}

TEST_F(RelayBadInputTest, ChunkedTrailersDoNotDisturbTheRequest) {
  // Trailer fields after the last chunk are legal (RFC 9112 7.1.2). They
  // arrive after the head was parsed and must not move or overwrite it.
  const std::string id = HexId(30);
  const std::string envelope = EnvelopeWithEvent(id);
  const std::string request = absl::StrCat(
      "POST /api/1/envelope/ HTTP/1.1\r\nHost: relay\r\n", AuthHeader(),
      "\r\nTransfer-Encoding: chunked\r\n\r\n", absl::Hex(envelope.size()),
      "\r\n", envelope, "\r\n0\r\nX-Trailer-One: ", std::string(300, 't'),
      "\r\nX-Trailer-Two: ", std::string(3000, 'u'), "\r\n\r\n");
  std::optional<HttpReply> r = RoundTrip(port(), request);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head << "\r\n\r\n" << r->body;
  EXPECT_EQ(r->body, IdBody(id));
}

TEST_F(RelayBadInputTest, ExpectContinueGets100ThenTheAnswer) {
  const std::string id = HexId(2);
  const std::string event = EventJson(id);
  RawClient c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send(absl::StrCat(
      "POST /api/1/store/ HTTP/1.1\r\nHost: relay\r\n", AuthHeader(),
      "\r\nExpect: 100-continue\r\nContent-Length: ", event.size(),
      "\r\n\r\n")));
  std::optional<HttpReply> interim = c.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100) << interim->head;
  ASSERT_TRUE(c.Send(event));
  std::optional<HttpReply> r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head << r->body;
  EXPECT_EQ(r->body, IdBody(id));
}

TEST_F(RelayBadInputTest, ExpectContinueOnARejectedRequest) {
  // Either the rejection comes at once (without 100 Continue), or 100 and
  // then the rejection once the body is in: both are valid HTTP/1.1.
  RawClient c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.Send("POST /api/1/store/ HTTP/1.1\r\nHost: relay\r\n"
             "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
  std::optional<HttpReply> r = c.Read();
  ASSERT_TRUE(r.has_value());
  if (r->status == 100) {
    ASSERT_TRUE(c.Send("{}"));
    r = c.Read();
    ASSERT_TRUE(r.has_value());
  }
  EXPECT_EQ(r->status, 401) << r->head;
  ExpectWellFormed(*r);
}

TEST_F(RelayBadInputTest, ExpectContinueWithARefusedKeyIsAnsweredBeforeUpload) {
  // Auth in the head and a key the table refuses: the answer comes at once,
  // without 100 Continue, so the client never uploads the body.
  for (const auto& [auth, status] : std::vector<std::pair<std::string, int>>{
           {AuthHeader("ffffffffffffffffffffffffffffffff"), 403},
           {"X-Sentry-Auth: Sentry sentry_version=7", 401}}) {
    RawClient c(port());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.Send(absl::StrCat(
        "POST /api/1/envelope/ HTTP/1.1\r\nHost: relay\r\n", auth,
        "\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n")));
    std::optional<HttpReply> r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, status) << r->head;
    ExpectWellFormed(*r);
  }
  // A good key still gets 100 Continue, then its answer.
  RawClient c(port());
  ASSERT_TRUE(c.ok());
  const std::string body = EnvelopeWithEvent(HexId(9));
  ASSERT_TRUE(c.Send(absl::StrCat(
      "POST /api/1/envelope/ HTTP/1.1\r\nHost: relay\r\n", AuthHeader(),
      "\r\nExpect: 100-continue\r\nContent-Length: ", body.size(),
      "\r\n\r\n")));
  std::optional<HttpReply> r = c.Read();
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 100) << r->head;
  ASSERT_TRUE(c.Send(body));
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->head;
}

TEST_F(RelayBadInputTest, PipelinedRequestsAreAnsweredInOrder) {
  const std::string a = HexId(3), b = HexId(4);
  const std::string auth = AuthHeader() + "\r\n";
  RawClient c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send(absl::StrCat(
      Post("/api/1/store/", auth, EventJson(a)),
      Post("/api/1/envelope/", auth, EnvelopeWithEvent(b)),
      "GET /api/relay/healthcheck/live/ HTTP/1.1\r\nHost: r\r\n\r\n",
      Post("/api/1/store/", "", EventJson(a)))));
  std::optional<HttpReply> r1 = c.Read();
  std::optional<HttpReply> r2 = c.Read();
  std::optional<HttpReply> r3 = c.Read();
  std::optional<HttpReply> r4 = c.Read();
  ASSERT_TRUE(r1 && r2 && r3 && r4);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, IdBody(a));
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(r2->body, IdBody(b));
  EXPECT_EQ(r3->status, 200);
  EXPECT_EQ(r4->status, 401);
  // An error answer from the application does not poison the connection.
  ASSERT_TRUE(c.Send(Post("/api/1/store/", auth, EventJson(a))));
  std::optional<HttpReply> r5 = c.Read();
  ASSERT_TRUE(r5.has_value());
  EXPECT_EQ(r5->status, 200);
}

TEST_F(RelayBadInputTest, ConnectionCloseIsHonoured) {
  RawClient c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.Send(Post("/api/1/store/", AuthHeader() + "\r\nConnection: close\r\n",
                  EventJson(HexId(5)))));
  std::optional<HttpReply> r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(absl::AsciiStrToLower(r->Header("connection")), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(RelayBadInputTest, KeepAliveByDefault) {
  RawClient c(port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(
        Post("/api/1/store/", AuthHeader() + "\r\n", EventJson(HexId(6 + i)))));
    std::optional<HttpReply> r = c.Read();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(absl::AsciiStrToLower(r->Header("connection")), "close");
  }
}

TEST_F(RelayBadInputTest, ErrorsBeforeTheBodyCloseTheConnection) {
  // 431 cannot be resynchronised: the answer carries Connection: close.
  RawClient c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send(absl::StrCat("GET /metrics HTTP/1.1\r\nX-Big: ",
                                  std::string(20000, 'b'), "\r\n\r\n")));
  std::optional<HttpReply> r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(absl::AsciiStrToLower(r->Header("connection")), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(RelayBadInputTest, HeadResponsesCarryNoBody) {
  // RFC 9110 9.3.2: a response to HEAD has no content, even though its
  // Content-Length may say how long the GET body would be. A body here
  // would be read by the client as the start of the next response.
  RawClient c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      c.Send("HEAD /api/relay/healthcheck/live/ HTTP/1.1\r\nHost: r\r\n\r\n"
             "GET /api/relay/healthcheck/live/ HTTP/1.1\r\nHost: r\r\n"
             "Connection: close\r\n\r\n"));
  bool closed = false;
  const std::string all = c.ReadAll(&closed);
  EXPECT_TRUE(closed);
  ASSERT_TRUE(absl::StartsWith(all, "HTTP/1.1 200 ")) << all;
  const size_t first_end = all.find("\r\n\r\n");
  ASSERT_NE(first_end, std::string::npos) << all;
  EXPECT_TRUE(absl::StartsWith(all.substr(first_end + 4), "HTTP/1.1 200 "))
      << "after the HEAD response's head:\n"
      << all.substr(first_end + 4);
}

TEST_F(RelayBadInputTest, PreflightAnswersCorsHeaders) {
  for (const char* path : {"/api/1/store/", "/api/1/envelope/"}) {
    SCOPED_TRACE(path);
    std::optional<HttpReply> r = RoundTrip(
        port(), absl::StrCat("OPTIONS ", path,
                             " HTTP/1.1\r\nHost: relay\r\n"
                             "Origin: https://good.example\r\n"
                             "Access-Control-Request-Method: POST\r\n"
                             "Access-Control-Request-Headers: x-sentry-auth, "
                             "content-type\r\n\r\n"));
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->status == 200 || r->status == 204) << r->head;
    EXPECT_TRUE(r->has_content_length) << r->head;
    const std::string allow_origin = r->Header("access-control-allow-origin");
    EXPECT_TRUE(allow_origin == "https://good.example" || allow_origin == "*")
        << r->head;
    EXPECT_THAT(r->Header("access-control-allow-methods"), HasSubstr("POST"))
        << r->head;
    EXPECT_THAT(
        absl::AsciiStrToLower(r->Header("access-control-allow-headers")),
        HasSubstr("x-sentry-auth"))
        << r->head;
  }
}

TEST_F(RelayBadInputTest, MetricsIsPrometheusText) {
  // One request of each class first, so per-status counters exist.
  ASSERT_TRUE(RoundTrip(port(), Post("/api/1/store/", AuthHeader() + "\r\n",
                                     EventJson(HexId(20)))));
  ASSERT_TRUE(RoundTrip(port(), Post("/api/1/store/", "", "{}")));
  std::optional<HttpReply> r =
      RoundTrip(port(), "GET /metrics HTTP/1.1\r\nHost: r\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->Header("content-type"), HasSubstr("text/plain"));
  EXPECT_THAT(r->body, HasSubstr("# TYPE "));
  EXPECT_THAT(r->body, HasSubstr("# HELP "));
  EXPECT_GE(MetricValue(r->body, "tern_http_connections_accepted_total"), 3);
  EXPECT_GE(MetricValue(r->body, "tern_http_requests_total"), 3);
  EXPECT_GE(MetricValue(r->body, "tern_auth_errors_total"), 1);
  EXPECT_GE(MetricValue(r->body, "tern_http_open_connections"), 1);
  EXPECT_THAT(
      r->body,
      HasSubstr("tern_http_responses_total{route=\"store\",status=\"2xx\"}"));
  EXPECT_THAT(r->body, HasSubstr("tern_items_total{outcome=\"accepted\"}"));
  EXPECT_GE(MetricValue(r->body, "tern_kafka_accepting"), 1);
  // Every sample line is "name[{labels}] value".
  for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_THAT(std::string(line),
                MatchesRegex(R"([a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [0-9.e+-]+)"))
        << line;
  }
}

// Without the spool: 503 with Retry-After when the producer queue passes
// the high watermark (the broker is down so nothing drains), and 200 again
// once it drained.
TEST(RelayBackpressureTest, QueuePastHighWatermarkAnswers503ThenRecovers) {
  auto h = RelayHarness::Start([](config::RelayConfig& c) {
    c.kafka.producer.queue_high_watermark = 8;
    c.kafka.producer.queue_low_watermark = 2;
    c.spool.enabled = false;
  });
  ASSERT_TRUE(h.ok()) << h.status();
  RelayHarness& relay = **h;
  ASSERT_TRUE(relay.cluster().SetBrokerDown(1).ok());

  std::vector<std::string> accepted;
  std::optional<HttpReply> rejected;
  for (int i = 0; i < 100 && !rejected; ++i) {
    const std::string id = HexId(1000 + i);
    std::optional<HttpReply> r =
        RoundTrip(relay.port(),
                  Post("/api/1/store/", AuthHeader() + "\r\n", EventJson(id)));
    ASSERT_TRUE(r.has_value()) << i;
    if (r->status == 200) {
      EXPECT_EQ(r->body, IdBody(id));
      accepted.push_back(id);
    } else {
      rejected = std::move(r);
    }
  }
  ASSERT_TRUE(rejected.has_value()) << "never saw backpressure";
  EXPECT_EQ(rejected->status, 503) << rejected->head << rejected->body;
  EXPECT_THAT(rejected->Header("retry-after"), MatchesRegex("[0-9]+"));
  EXPECT_THAT(rejected->body, HasSubstr("\"detail\""));
  EXPECT_FALSE(relay.relay().Ready());
  EXPECT_FALSE(accepted.empty());

  ASSERT_TRUE(relay.cluster().SetBrokerUp(1).ok());
  ASSERT_TRUE(
      WaitFor([&] { return relay.relay().Ready(); }, absl::Seconds(30)));
  const std::string id = HexId(2000);
  std::optional<HttpReply> r =
      RoundTrip(relay.port(),
                Post("/api/1/store/", AuthHeader() + "\r\n", EventJson(id)));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  accepted.push_back(id);

  // Everything answered 200 reaches Kafka.
  ASSERT_TRUE(relay.relay().Shutdown().ok());
  auto events = kafka::testing::ReadPartition(
      relay.cluster().bootstrap_servers(), relay.config().kafka.topics.events);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<std::string> keys;
  for (const auto& m : *events) keys.push_back(m.key);
  for (const std::string& want : accepted) {
    EXPECT_THAT(keys, ::testing::Contains(want));
  }
}

// With the spool (the default): past the high watermark the relay keeps
// answering 200 and stays ready, the records wait on disk, and every one of
// them reaches Kafka once the broker is back.
TEST(RelaySpoolTest, AnOutageIsAbsorbedAndReplayed) {
  auto h = RelayHarness::Start([](config::RelayConfig& c) {
    c.kafka.producer.queue_high_watermark = 8;
    c.kafka.producer.queue_low_watermark = 2;
  });
  ASSERT_TRUE(h.ok()) << h.status();
  RelayHarness& relay = **h;
  ASSERT_TRUE(relay.cluster().SetBrokerDown(1).ok());
  std::vector<std::string> accepted;
  for (int i = 0; i < 100; ++i) {
    const std::string id = HexId(3000 + i);
    std::optional<HttpReply> r =
        RoundTrip(relay.port(),
                  Post("/api/1/store/", AuthHeader() + "\r\n", EventJson(id)));
    ASSERT_TRUE(r.has_value()) << i;
    ASSERT_EQ(r->status, 200) << i << r->body;
    accepted.push_back(id);
  }
  EXPECT_TRUE(relay.relay().Ready());
  std::optional<HttpReply> m =
      RoundTrip(relay.port(), "GET /metrics HTTP/1.1\r\nHost: r\r\n\r\n");
  ASSERT_TRUE(m.has_value());
  EXPECT_GE(MetricValue(m->body, "tern_spool_spooled_only_total"), 80);
  EXPECT_GE(MetricValue(m->body, "tern_spool_appended_total"), 100);
  EXPECT_GE(MetricValue(m->body, "tern_spool_records"), 100);
  EXPECT_THAT(m->body,
              HasSubstr("tern_spool_fsync_seconds_bucket{le=\"+Inf\"}"));

  ASSERT_TRUE(relay.cluster().SetBrokerUp(1).ok());
  // Outcomes go through the spool too, so wait for both topics' records.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::optional<HttpReply> mm =
            RoundTrip(relay.port(), "GET /metrics HTTP/1.1\r\nHost: r\r\n\r\n");
        return mm && MetricValue(mm->body, "tern_spool_replayed_total") >= 80;
      },
      absl::Seconds(30)));
  ASSERT_TRUE(relay.relay().Shutdown().ok());
  auto events = kafka::testing::ReadPartition(
      relay.cluster().bootstrap_servers(), relay.config().kafka.topics.events);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<std::string> keys;
  for (const auto& e : *events) keys.push_back(e.key);
  for (const std::string& want : accepted) {
    EXPECT_THAT(keys, ::testing::Contains(want));
  }
}

// A full spool answers 503 with Retry-After, never a 200 it could not write.
TEST(RelaySpoolTest, AFullSpoolAnswers503) {
  auto h = RelayHarness::Start([](config::RelayConfig& c) {
    c.kafka.producer.queue_high_watermark = 4;
    c.kafka.producer.queue_low_watermark = 2;
    c.spool.max_bytes = 16 * 1024;
  });
  ASSERT_TRUE(h.ok()) << h.status();
  RelayHarness& relay = **h;
  ASSERT_TRUE(relay.cluster().SetBrokerDown(1).ok());
  std::optional<HttpReply> rejected;
  int ok = 0;
  for (int i = 0; i < 500 && !rejected; ++i) {
    std::optional<HttpReply> r =
        RoundTrip(relay.port(), Post("/api/1/store/", AuthHeader() + "\r\n",
                                     EventJson(HexId(5000 + i))));
    ASSERT_TRUE(r.has_value());
    if (r->status == 200) {
      ++ok;
    } else {
      rejected = std::move(r);
    }
  }
  ASSERT_TRUE(rejected.has_value()) << "the spool never filled";
  EXPECT_EQ(rejected->status, 503) << rejected->body;
  EXPECT_THAT(rejected->Header("retry-after"), MatchesRegex("[0-9]+"));
  EXPECT_GT(ok, 0);
  EXPECT_FALSE(relay.relay().Ready());
}

// A relay that dies with records only on disk (here: destroyed without
// Shutdown while the broker is down) leaves them for the next relay on the
// same spool, which replays them before it reports ready.
TEST(RelaySpoolTest, TheNextRelayReplaysWhatTheLastOneLeft) {
  char tmpl[] = "/tmp/tern-spool-keep-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::vector<std::string> accepted;
  {
    auto h = RelayHarness::Start([&](config::RelayConfig& c) {
      c.spool.dir = dir;
      c.kafka.producer.queue_high_watermark = 4;
      c.kafka.producer.queue_low_watermark = 2;
    });
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE((*h)->cluster().SetBrokerDown(1).ok());
    for (int i = 0; i < 30; ++i) {
      const std::string id = HexId(7000 + i);
      std::optional<HttpReply> r = RoundTrip(
          (*h)->port(),
          Post("/api/1/store/", AuthHeader() + "\r\n", EventJson(id)));
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(r->status, 200) << r->body;
      accepted.push_back(id);
    }
  }  // relay and cluster gone, nothing delivered
  auto h =
      RelayHarness::Start([&](config::RelayConfig& c) { c.spool.dir = dir; });
  ASSERT_TRUE(h.ok()) << h.status();  // Start waits for Ready: replayed
  ASSERT_TRUE((*h)->relay().Shutdown().ok());
  auto events = kafka::testing::ReadPartition(
      (*h)->cluster().bootstrap_servers(), (*h)->config().kafka.topics.events);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<std::string> keys;
  for (const auto& e : *events) keys.push_back(e.key);
  for (const std::string& want : accepted) {
    EXPECT_THAT(keys, ::testing::Contains(want));
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace tern::relay::app
