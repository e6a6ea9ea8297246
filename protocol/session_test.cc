#include "protocol/session.h"

#include <simdjson.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

using ::testing::HasSubstr;

SessionContext Ctx() {
  SessionContext c;
  c.project_id = 42;
  c.received = absl::FromUnixMillis(1700000000500);
  c.sdk = "sentry.python/2.0";
  return c;
}

TEST(Session, UpdateBecomesOneRelayStyleMessage) {
  SessionEncoder enc;
  ASSERT_TRUE(enc.Encode(R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341",
      "did":"user-1","seq":3,"init":false,"timestamp":"2023-11-14T22:13:30Z",
      "started":"2023-11-14T22:13:20Z","duration":12.5,"status":"exited",
      "errors":2,"attrs":{"release":"app@1.0","environment":"prod"}})",
                         false, Ctx())
                  .ok());
  ASSERT_EQ(enc.messages().size(), 1u);
  EXPECT_EQ(enc.sessions(), 1u);
  EXPECT_EQ(enc.messages()[0],
            R"({"org_id":0,"project_id":42,)"
            R"("session_id":"5d52fd05-fcc9-4bf3-9dc9-267783670341",)"
            R"("distinct_id":"user-1","quantity":1,"seq":3,)"
            R"("received":1700000000.5,"started":1700000000.0,"duration":12.5,)"
            R"("status":"exited","errors":2,"release":"app@1.0",)"
            R"("environment":"prod","sdk":"sentry.python/2.0",)"
            R"("retention_days":90})");
  // Each message is valid JSON.
  simdjson::dom::parser p;
  simdjson::dom::element e;
  EXPECT_EQ(p.parse(enc.messages()[0]).get(e), simdjson::SUCCESS);
}

TEST(Session, InitUpdateIsWrittenWithSeqZero) {
  SessionEncoder enc;
  ASSERT_TRUE(enc.Encode(R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341",
      "seq":1700000000123,"init":true,"started":"2023-11-14T22:13:20Z",
      "status":"ok","attrs":{"release":"app@1.0"}})",
                         false, Ctx())
                  .ok());
  ASSERT_EQ(enc.messages().size(), 1u);
  EXPECT_NE(enc.messages()[0].find(R"("seq":0,)"), std::string::npos)
      << enc.messages()[0];
}

TEST(Session, DefaultsForOptionalFields) {
  SessionEncoder enc;
  // The JavaScript SDKs send bare 32-digit ids; Relay writes them hyphenated.
  ASSERT_TRUE(enc.Encode(R"({"sid":"5D52FD05FCC94BF39DC9267783670341",
      "started":1699999999.25,"attrs":{"release":"r"}})",
                         false,
                         [] {
                           SessionContext c;
                           c.project_id = 1;
                           return c;
                         }())
                  .ok());
  ASSERT_EQ(enc.messages().size(), 1u);
  const std::string& m = enc.messages()[0];
  EXPECT_THAT(
      m, HasSubstr(R"("session_id":"5d52fd05-fcc9-4bf3-9dc9-267783670341")"));
  EXPECT_THAT(m, HasSubstr(R"("status":"ok")"));
  EXPECT_THAT(m, HasSubstr(R"("duration":null)"));
  EXPECT_THAT(m, HasSubstr(R"("environment":null)"));
  EXPECT_THAT(m, HasSubstr(R"("sdk":null)"));
  EXPECT_THAT(m, HasSubstr(R"("started":1699999999.25)"));
  EXPECT_THAT(
      m, HasSubstr(R"("distinct_id":"00000000-0000-0000-0000-000000000000")"));
}

TEST(Session, AggregatesExplodeIntoOneMessagePerNonZeroCount) {
  SessionEncoder enc;
  ASSERT_TRUE(enc.Encode(R"({"aggregates":[
      {"started":"2023-11-14T22:13:00Z","did":"u","exited":5,"errored":2,
       "crashed":0},
      {"started":"2023-11-14T22:14:00Z","abnormal":1,"crashed":3}],
      "attrs":{"release":"app@2","environment":"staging"}})",
                         true, Ctx())
                  .ok());
  ASSERT_EQ(enc.messages().size(), 4u);
  EXPECT_EQ(enc.sessions(), 11u);
  EXPECT_THAT(enc.messages()[0], HasSubstr(R"("quantity":5)"));
  EXPECT_THAT(enc.messages()[0], HasSubstr(R"("status":"exited","errors":0)"));
  EXPECT_THAT(enc.messages()[1], HasSubstr(R"("status":"errored","errors":1)"));
  EXPECT_THAT(enc.messages()[2], HasSubstr(R"("status":"abnormal")"));
  EXPECT_THAT(enc.messages()[3], HasSubstr(R"("quantity":3)"));
  EXPECT_THAT(enc.messages()[3], HasSubstr(R"("started":1700000040.0)"));
  // The pool is reused: a smaller item afterwards reports only its own.
  ASSERT_TRUE(enc.Encode(R"({"aggregates":[{"started":1,"exited":1}],
      "attrs":{"release":"r"}})",
                         true, Ctx())
                  .ok());
  EXPECT_EQ(enc.messages().size(), 1u);
  EXPECT_EQ(enc.sessions(), 1u);
}

TEST(Session, InvalidItemsAreRefusedWithAReason) {
  SessionEncoder enc;
  const char* bad_updates[] = {
      "nope",
      "[]",
      R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341","started":"x",)"
      R"("attrs":{"release":"r"}})",
      R"({"sid":"not-a-uuid","started":1,"attrs":{"release":"r"}})",
      R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341","started":1})",
      R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341","started":1,)"
      R"("attrs":{"release":""}})",
      R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341","started":1,)"
      R"("status":"great","attrs":{"release":"r"}})",
      R"({"sid":"5d52fd05-fcc9-4bf3-9dc9-267783670341","started":1,)"
      R"("errors":-1,"attrs":{"release":"r"}})",
  };
  for (const char* json : bad_updates) {
    absl::Status s = enc.Encode(json, false, Ctx());
    EXPECT_FALSE(s.ok()) << json;
    EXPECT_THAT(std::string(s.message()), HasSubstr("invalid_session: "));
  }
  EXPECT_FALSE(
      enc.Encode(R"({"aggregates":{},"attrs":{"release":"r"}})", true, Ctx())
          .ok());
  EXPECT_FALSE(enc.Encode(R"({"aggregates":[{"exited":1}],)"
                          R"("attrs":{"release":"r"}})",
                          true, Ctx())
                   .ok());
  EXPECT_FALSE(enc.Encode(R"({"aggregates":[{"started":1,"exited":-2}],)"
                          R"("attrs":{"release":"r"}})",
                          true, Ctx())
                   .ok());
  std::string many = R"({"attrs":{"release":"r"},"aggregates":[)";
  for (size_t i = 0; i <= kMaxSessionMessages; ++i) {
    if (i) many += ',';
    many += R"({"started":1,"exited":1})";
  }
  many += "]}";
  EXPECT_FALSE(enc.Encode(many, true, Ctx()).ok());
}

}  // namespace
}  // namespace tern::protocol
