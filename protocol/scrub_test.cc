#include "protocol/scrub.h"

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace tern::protocol {
namespace {

TEST(ScrubConfig, MakeLowercasesAndDropsBlanks) {
  const std::vector<std::string> sensitive = {"Card_CVV", ""};
  const std::vector<std::string> safe = {"", "Session_Kind"};
  const ScrubConfig c = ScrubConfig::Make(true, sensitive, safe, true);
  EXPECT_TRUE(c.enabled);
  EXPECT_TRUE(c.scrub_ip_addresses);
  EXPECT_EQ(c.sensitive_fields, std::vector<std::string>{"card_cvv"});
  EXPECT_EQ(c.safe_fields, std::vector<std::string>{"session_kind"});
}

TEST(IsSensitiveKey, DefaultsMatchAsCaseInsensitiveSubstrings) {
  const ScrubConfig c;
  for (const char* key :
       {"password", "PASSWORD", "db_Password_old", "passwd", "client_secret",
        "api_key", "X-ApiKey", "Authorization", "auth", "credentials",
        "MYSQL_PWD", "privatekey", "private_key", "access_token", "sessionid",
        "csrftoken", "X-CSRF"}) {
    EXPECT_TRUE(IsSensitiveKey(c, key)) << key;
  }
  for (const char* key : {"", "user", "pass", "api", "key", "aut", "priv",
                          "browser", "os", "User-Agent", "pwd"}) {
    EXPECT_FALSE(IsSensitiveKey(c, key)) << key;
  }
}

std::string Cat(std::string_view a, std::string_view b,
                std::string_view c = {}) {
  std::string out;
  out.append(a);
  out.append(b);
  out.append(c);
  return out;
}

TEST(IsSensitiveKey, EveryDefaultFragmentAnywhereInAKey) {
  const ScrubConfig c;
  for (std::string_view f : kDefaultSensitiveFields) {
    std::string upper(f);
    for (char& ch : upper) ch = static_cast<char>(std::toupper(ch));
    EXPECT_TRUE(IsSensitiveKey(c, f)) << f;
    EXPECT_TRUE(IsSensitiveKey(c, upper)) << upper;
    EXPECT_TRUE(IsSensitiveKey(c, Cat("x", f))) << f;
    EXPECT_TRUE(IsSensitiveKey(c, Cat(f, "_y"))) << f;
    EXPECT_TRUE(IsSensitiveKey(c, Cat("a-", upper, "-b"))) << f;
  }
  // One byte short of each fragment holds no other fragment.
  for (std::string_view f : kDefaultSensitiveFields) {
    const std::string_view cut = f.substr(0, f.size() - 1);
    EXPECT_FALSE(IsSensitiveKey(c, Cat("x", cut))) << cut;
  }
}

TEST(IsSensitiveKey, ConfiguredFieldsAddToDefaults) {
  const std::vector<std::string> sensitive = {"CVV", "ssn"};
  const ScrubConfig c = ScrubConfig::Make(true, sensitive, {}, false);
  EXPECT_TRUE(IsSensitiveKey(c, "card_cvv"));
  EXPECT_TRUE(IsSensitiveKey(c, "SSN"));
  EXPECT_TRUE(IsSensitiveKey(c, "password"));
  EXPECT_FALSE(IsSensitiveKey(c, "card"));
}

TEST(IsSensitiveKey, LongKeysTakeTheSlowPathWithTheSameAnswer) {
  const std::vector<std::string> sensitive = {"needle"};
  const ScrubConfig c = ScrubConfig::Make(true, sensitive, {}, false);
  const std::string pad(300, 'x');
  EXPECT_TRUE(IsSensitiveKey(c, pad + "PassWord"));
  EXPECT_TRUE(IsSensitiveKey(c, "NEEDLE" + pad));
  EXPECT_FALSE(IsSensitiveKey(c, pad + "passwor"));
}

TEST(IsSafeKey, WholeKeyIgnoringCase) {
  const std::vector<std::string> safe = {"session_kind"};
  const ScrubConfig c = ScrubConfig::Make(true, {}, safe, false);
  EXPECT_TRUE(IsSafeKey(c, "Session_Kind"));
  EXPECT_FALSE(IsSafeKey(c, "session_kind2"));
  EXPECT_FALSE(IsSafeKey(c, "session"));
}

TEST(IsCookieHeader, CookieAndSetCookie) {
  EXPECT_TRUE(IsCookieHeader("Cookie"));
  EXPECT_TRUE(IsCookieHeader("set-cookie"));
  EXPECT_FALSE(IsCookieHeader("Cookies"));
  EXPECT_FALSE(IsCookieHeader("X-Cookie"));
}

TEST(ContainsCardNumber, LuhnValidNumbersOf13To19Digits) {
  for (const char* s : {
           "4111111111111111",            // Visa test number, 16 digits
           "4111 1111 1111 1111",         // grouped by spaces
           "4111-1111-1111-1111",         // grouped by dashes
           "card: 5500-0000-0000-0004.",  // inside text, punctuation around
           "378282246310005",             // Amex, 15
           "4222222222222",               // 13
           "6011000990139424",            // Discover
           "4000000000000000006",         // 19 digits, Luhn-valid
           "x 4111111111111111",
       }) {
    EXPECT_TRUE(ContainsCardNumber(s)) << s;
  }
}

TEST(ContainsCardNumber, RejectsNearMisses) {
  for (const char* s : {
           "",
           "4111111111111112",                                // Luhn fails
           "411111111111",                                    // 12 digits
           "40000000000000000006",                            // 20 digits
           "0000000000000000000000000000000000000000000000",  // 46 digits
           "4111 1111 1111 1111 1111 1111 1111 1111 1111",
           "a4111111111111111",            // glued to a letter
           "4111111111111111b",            // glued to a letter
           "4111  1111 1111 1111",         // double separator splits it
           "4111_1111_1111_1111",          // not a separator
           "2023-11-14T22:13:20.123456Z",  // a timestamp
           "550e8400-e29b-41d4-a716-446655440000",
       }) {
    EXPECT_FALSE(ContainsCardNumber(s)) << s;
  }
}

}  // namespace
}  // namespace tern::protocol
