#include "protocol/inbound_filter.h"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "protocol/normalize.h"
#include "tests/support/samples.h"

namespace tern::protocol {
namespace {

// Escapes `s` as a JSON string literal (quotes included).
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

InboundFilterConfig Only(std::string_view which) {
  InboundFilterConfig c;
  if (which == "localhost") c.localhost = true;
  if (which == "browser-extensions") c.browser_extensions = true;
  if (which == "web-crawlers") c.web_crawlers = true;
  return c;
}

InboundFilterConfig AllOn() {
  return InboundFilterConfig::Make(true, true, true, {"0.0.0-never"},
                                   {"never matches this*"});
}

std::string WithUserAgent(std::string_view ua) {
  return absl::StrCat(
      R"({"request":{"headers":[["Accept","*/*"],["User-Agent",)", Quote(ua),
      "]]}}");
}

std::string WithExceptionValue(std::string_view value) {
  return absl::StrCat(R"({"exception":{"values":[{"type":"Error","value":)",
                      Quote(value), R"(},{"type":"Other","value":"x"}]}})");
}

// The source is the last frame; two anonymous frames follow it, as in
// Relay's tests.
std::string WithExceptionSource(std::string_view abs_path) {
  return absl::StrCat(
      R"({"exception":{"values":[{"type":"Error","value":"boom","stacktrace":{"frames":[)",
      R"({"abs_path":"https://example.com/app.js"},{"abs_path":)",
      Quote(abs_path),
      R"(},{"abs_path":"<anonymous>"},{"abs_path":"[native code]"}]}}]}})");
}

// ---------------------------------------------------------------------------
// Glob

TEST(Glob, Table) {
  struct Case {
    std::string_view pattern;
    std::string_view text;
    bool match;
  };
  const Case cases[] = {
      {"foo", "foo", true},
      {"foo", "FOO", true},
      {"FOO", "foo", true},
      {"foo", "foobar", false},
      {"foo", "xfoo", false},
      {"foo*", "foobarblub", true},
      {"*blub", "foobarblub", true},
      {"*bar*", "foobarblub", true},
      {"*bar*", "foobaRblub", true},
      {"*bar*", "fooba", false},
      {"*", "anything", true},
      {"*", "", false},  // empty text never matches (Relay)
      {"", "", false},
      {"", "x", false},
      {"*foo*", "foo\n", true},
      {"foo*bar", "foo\nbar", true},
      {"foo*\n*bar", "foo \n bar", true},
      {"1.2.*", "1.2.3", true},
      {"1.2.*", "1.3.3", false},
      {"1.2.?", "1.2.3", true},
      {"1.2.?", "1.2.34", false},
      {"?", "\xc3\xa9", true},  // one character, two bytes
      {"??", "\xc3\xa9", false},
      {"a*b*c", "abbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbd", false},
      {"a*b*c", "aXbYbZc", true},
      {"**", "x", true},
      {"\\*", "*", true},
      {"\\*", "x", false},
      {"a\\?", "a?", true},
      {"a\\?", "ab", false},
      {"1.18.[0-4].*", "1.18.4.2153-2aa83397b", true},
      {"1.18.[0-4].*", "1.18.5.2153-2aa83397b", false},
      {"1.18.[!0-4].*", "1.18.4.2153-2aa83397b", false},
      {"1.18.[!0-4].*", "1.18.5.2153-2aa83397b", true},
      {"1.18.[^0-4].*", "1.18.5.2153-2aa83397b", true},
      {"[abc]", "B", true},
      {"[A-C]x", "bX", true},
      {"[abc]", "d", false},
      {"[abc]", "[abc]", false},
      {"[]]", "]", true},
      {"[!]]", "]", false},
      {"[a\\-]", "-", true},
      {"[!a]", "\xc3\xa9", true},  // one character outside the class
      {"[!a]b",
       "\xc3\xa9"
       "b",
       true},
      {"[\xc3\xa9]", "\xc3\xa9", false},  // classes hold ASCII only
      {"[abc", "[abc", true},             // not closed: literal
      {"x[", "x[", true},
      {"!1.18.4.*", "1.18.4.2153", false},  // no negation outside []
      {"{a,b}", "{a,b}", true},             // alternatives are literal here
      {"{a,b}", "a", false},
      {"/api/0/organizations/\\{organization_slug\\}/event*",
       "/api/0/organizations/{organization_slug}/event/foobar", true},
      {"*-beta", "2.0.0-BETA", true},
      {"*-beta", "2.0.0-beta.1", false},
      {"ChunkLoadError: Loading chunk *",
       "ChunkLoadError: Loading chunk 552 failed.", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Glob(c.pattern).Matches(c.text), c.match)
        << "pattern '" << c.pattern << "' text '" << c.text << "'";
  }
}

TEST(Glob, KeepsPattern) { EXPECT_EQ(Glob("1.*").pattern(), "1.*"); }

// ---------------------------------------------------------------------------
// Defaults and the fast path

TEST(InboundFilter, DefaultsOffNeverParse) {
  InboundFilter f;
  const InboundFilterConfig off;
  EXPECT_FALSE(off.AnyEnabled());
  EXPECT_EQ(f.Check(off, R"({"user":{"ip_address":"127.0.0.1"}})"),
            std::nullopt);
  EXPECT_EQ(f.Check(off, "this is not json at all {{{"), std::nullopt);
  EXPECT_EQ(f.parse_count(), 0u);

  const InboundFilterConfig made =
      InboundFilterConfig::Make(false, false, false, {}, {});
  EXPECT_FALSE(made.AnyEnabled());
  EXPECT_EQ(f.Check(made, WithUserAgent("Googlebot")), std::nullopt);
  EXPECT_EQ(f.parse_count(), 0u);

  // One enabled filter turns parsing on.
  EXPECT_EQ(f.Check(Only("localhost"), R"({"user":{"ip_address":"::1"}})"),
            kFilterLocalhost);
  EXPECT_EQ(f.parse_count(), 1u);
}

TEST(InboundFilter, AnyEnabled) {
  EXPECT_TRUE(Only("localhost").AnyEnabled());
  EXPECT_TRUE(Only("browser-extensions").AnyEnabled());
  EXPECT_TRUE(Only("web-crawlers").AnyEnabled());
  EXPECT_TRUE(
      InboundFilterConfig::Make(false, false, false, {"1.0"}, {}).AnyEnabled());
  EXPECT_TRUE(
      InboundFilterConfig::Make(false, false, false, {}, {"x"}).AnyEnabled());
}

TEST(InboundFilter, DisabledFiltersDoNotMatch) {
  InboundFilter f;
  // Only localhost is on: crawler, extension, release and message hits are
  // ignored.
  const std::string event =
      R"({"release":"1.0","request":{"headers":{"User-Agent":"Googlebot"}},)"
      R"("exception":{"values":[{"type":"Error","value":"fb_xd_fragment"}]}})";
  EXPECT_EQ(f.Check(Only("localhost"), event), std::nullopt);
  EXPECT_EQ(f.Check(Only("web-crawlers"), event), kFilterWebCrawlers);
  EXPECT_EQ(f.Check(Only("browser-extensions"), event),
            kFilterBrowserExtensions);
}

// ---------------------------------------------------------------------------
// localhost

TEST(LocalhostFilter, Table) {
  struct Case {
    std::string event;
    bool filtered;
  };
  auto url = [](std::string_view u) {
    return absl::StrCat(R"({"request":{"url":)", Quote(u), "}}");
  };
  auto ip = [](std::string_view a) {
    return absl::StrCat(R"({"user":{"id":"1","ip_address":)", Quote(a), "}}");
  };
  auto header = [](std::string_view name, std::string_view value) {
    return absl::StrCat(R"({"request":{"headers":[[)", Quote(name), ",",
                        Quote(value), "]]}}");
  };
  const Case cases[] = {
      {ip("127.0.0.1"), true},
      {ip("::1"), true},
      {ip("133.12.12.1"), false},
      {ip("2001:db8:0:0:0:ff00:42:8329"), false},
      {ip("127.0.0.2"), false},
      {ip("127.0.0.1 "), false},
      {url("http://localhost:8080/"), true},
      {url("http://LOCALHOST/x"), true},
      {url("http://127.0.0.1:8080/"), true},
      {url("http://foo.localhost:8080/"), true},
      {url("http://foo.bar.baz.localhost/"), true},
      {url("https://user:pw@localhost/path"), true},
      {url("http://[::1]:3000/"), true},
      {url("file:///Users/Maisey/work/src/leaderboard.html"), true},
      {url("http://my.dom.com:8080/"), false},
      {url("http://123.123.123.44/"), false},
      {url("http://localhost.com/"), false},
      {url("http://foolocalhost/"), false},
      {url("http://localhostbar/"), false},
      {url("http://alocalhostgoesintoabar/"), false},
      {url("http://example.com/?next=http://localhost/"), false},
      {url("http://example.com/localhost"), false},
      {url("localhost"), false},  // not a URL
      {header("X-Forwarded-For", "127.0.0.1"), true},
      {header("x-forwarded-for", "::1"), true},
      {header("X-Forwarded-For", "203.0.113.1"), false},
      {header("Host", "localhost:3000"), true},
      {header("host", "127.0.0.1:3000"), true},
      {header("X-Forwarded-Host", "localhost:3000"), true},
      {header("Host", "localhost.sentry.io"), false},
      {header("Host", "localhost.sentry.io:3000"), false},
      {header("X-Forwarded-Host", "localhost.sentry.io:3000"), false},
      // The Host header counts only when the event has no URL.
      {R"({"request":{"url":"https://example.com/","headers":{"Host":"localhost:3000"}}})",
       false},
      {R"({"request":{"headers":{"Host":"localhost:3000"},"url":"https://example.com/"}})",
       false},
      {R"({"request":{"url":"https://example.com/","headers":{"X-Forwarded-For":"127.0.0.1"}}})",
       true},
      {"{}", false},
      {R"({"user":null,"request":null})", false},
      {R"({"user":{"ip_address":null},"request":{"url":5}})", false},
  };
  InboundFilter f;
  for (const Case& c : cases) {
    EXPECT_EQ(f.Check(Only("localhost"), c.event),
              c.filtered ? std::optional(kFilterLocalhost) : std::nullopt)
        << c.event;
  }
}

// ---------------------------------------------------------------------------
// browser-extensions

TEST(BrowserExtensionsFilter, KnownValues) {
  const std::string_view values[] = {
      "what does conduitPage even do",
      "null is not an object (evaluating 'elt.parentNode')",
      "some error on top.GLOBALS",
      "biiig problem on originalCreateNotification",
      "canvas.contentDocument",
      "canvas_contentDocument",  // the dot is a regex '.' in Relay
      "MyApp_RemoveAllHighlights",
      "http://tt.epicplay.com/not/very/good",
      "Can't find variable: ZiteReader, I wonder why?",
      "jigsaw is not defined and I'm not happy about it",
      "ComboSearch is not defined",
      "http://loading.retry.widdit.com/some/obscure/error",
      "atomicFindClose has messed up",
      "bad news, we have a fb_xd_fragment",
      "oh no! we have a case of: bmi_SafeAddOnload, again !",
      "watch out ! EBCallBackMessageReceived",
      "error _gCrWeb",
      "plugin.setSuspendState is not a function",
      "Extension context invalidated",
      "extension\tcontext invalidated",
      "useless error webkit-masked-url: please filter",
      "TypeError: can't access dead object because dead stuff smells bad",
  };
  InboundFilter f;
  for (std::string_view v : values) {
    EXPECT_EQ(f.Check(Only("browser-extensions"), WithExceptionValue(v)),
              kFilterBrowserExtensions)
        << v;
  }
}

TEST(BrowserExtensionsFilter, KnownSources) {
  const std::string_view sources[] = {
      "https://graph.facebook.com/",
      "https://connect.facebook.net/en_US/sdk.js",
      "https://eatdifferent.com.woopra-ns.com/main.js",
      "https://static.woopra.com/js/woopra.js",
      "chrome-extension://my-extension/or/something",
      "CHROME-EXTENSION://my-extension/or/something",
      "chrome://my-extension/or/something",
      "moz-extension://my-extension/or/something",
      "safari-extension://my-extension/or/something",
      "safari-web-extension://my-extension/or/something",
      "127.0.0.1:4001/isrunning",
      "webappstoolbarba.texthelp.com/",
      "http://metrics.itunes.apple.com.edgesuite.net/itunespreview/itunes/x",
      "https://fscr.kaspersky-labs.com/B-9B72-7B7/main.js",
      "webkit-masked-url:",
  };
  InboundFilter f;
  for (std::string_view s : sources) {
    EXPECT_EQ(f.Check(Only("browser-extensions"), WithExceptionSource(s)),
              kFilterBrowserExtensions)
        << s;
  }
}

TEST(BrowserExtensionsFilter, NearMisses) {
  InboundFilter f;
  const InboundFilterConfig c = Only("browser-extensions");
  EXPECT_EQ(f.Check(c, WithExceptionSource("https://some/resonable/source.js")),
            std::nullopt);
  EXPECT_EQ(f.Check(c, WithExceptionValue("some perfectly reasonable value")),
            std::nullopt);
  // Anchored schemes must start the path.
  EXPECT_EQ(f.Check(c, WithExceptionSource(
                           "https://example.com/chrome-extension://x.js")),
            std::nullopt);
  EXPECT_EQ(f.Check(c, WithExceptionValue("jigsawisnotdefined")), std::nullopt);
  EXPECT_EQ(f.Check(c, WithExceptionValue("top_GLOBALS")), std::nullopt);
  // Only the last non-anonymous frame counts: an extension frame further up
  // the stack does not.
  EXPECT_EQ(f.Check(c, R"({"exception":{"values":[{"stacktrace":{"frames":[)"
                       R"({"abs_path":"chrome-extension://abc/x.js"},)"
                       R"({"abs_path":"https://example.com/app.js"}]}}]}})"),
            std::nullopt);
  // Only the first exception counts (Relay: get_first_exception).
  EXPECT_EQ(f.Check(c, R"({"exception":{"values":[{"type":"A","value":"ok"},)"
                       R"({"type":"B","value":"fb_xd_fragment"}]}})"),
            std::nullopt);
}

TEST(BrowserExtensionsFilter, ShapesOfTheEvent) {
  InboundFilter f;
  const InboundFilterConfig c = Only("browser-extensions");
  // A bare exception list.
  EXPECT_EQ(f.Check(c, R"({"exception":[{"value":"fb_xd_fragment"}]})"),
            kFilterBrowserExtensions);
  // No abs_path: the filename stands in.
  EXPECT_EQ(f.Check(c, R"({"exception":{"values":[{"stacktrace":{"frames":[)"
                       R"({"filename":"moz-extension://x/y.js"}]}}]}})"),
            kFilterBrowserExtensions);
  // Frames in any key order, nulls and wrong types around.
  EXPECT_EQ(
      f.Check(
          c,
          R"({"exception":{"values":[{"mechanism":null,"stacktrace":{"frames":[)"
          R"({"lineno":3,"abs_path":"safari-web-extension://z/a.js","function":null},)"
          R"(5,null,{"abs_path":7}]},"value":null}]}})"),
      kFilterBrowserExtensions);
}

// ---------------------------------------------------------------------------
// web-crawlers

TEST(WebCrawlersFilter, Crawlers) {
  const std::string_view agents[] = {
      "Mediapartners-Google",
      "AdsBot-Google",
      "Googlebot",
      "FeedFetcher-Google",
      "BingBot",
      "BingPreview",
      "Baiduspider",
      "Slurp",
      "Sogou",
      "facebook",
      "ia_archiver",
      "bots ",
      "bots;",
      "bots)",
      "spider ",
      "spider;",
      "spider)",
      "Calypso AppCrawler",
      "pingdom",
      "lyticsbot",
      "AWS Security Scanner",
      "Mozilla/5.0 (Linux; Android 6.0.1; Calypso AppCrawler Build/MMB30Y; "
      "wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
      "Chrome/53.0.2785.124 Mobile Safari/537.36",
      "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
      "Slack-ImgProxy 0.19 (+https://api.slack.com/robots)",
      "Twitterbot/1.0",
      "FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)",
      "Mozilla/5.0 (compatible; Googlebot/2.1; "
      "+http://www.google.com/bot.html)",
      "AdsBot-Google (+http://www.google.com/adsbot.html)",
      "Mozilla/5.0 (compatible; HubSpot Crawler; web-crawlers@hubspot.com)",
      "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like "
      "Gecko) Mobile Safari/537.36 (compatible; Bytespider; "
      "spider-feedback@bytedance.com)",
      "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
      "GOOGLEBOT",
  };
  InboundFilter f;
  for (std::string_view ua : agents) {
    EXPECT_EQ(f.Check(Only("web-crawlers"), WithUserAgent(ua)),
              kFilterWebCrawlers)
        << ua;
  }
}

TEST(WebCrawlersFilter, Browsers) {
  const std::string_view agents[] = {
      "some user agent",
      "IE",
      "ie",
      "opera",
      "safari",
      "APIs-Google "
      "(+https://developers.google.com/webmasters/APIs-Google.html)",
      "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/41.0.2228.0 Safari/537.36",
      "Slackbot 1.0(+https://api.slack.com/robots)",  // allowed explicitly
      "robot",  // "bot" must be followed by / space ) or ;
      "spiderman",
      "",
  };
  InboundFilter f;
  for (std::string_view ua : agents) {
    EXPECT_EQ(f.Check(Only("web-crawlers"), WithUserAgent(ua)), std::nullopt)
        << ua;
  }
}

TEST(WebCrawlersFilter, HeaderShapes) {
  InboundFilter f;
  const InboundFilterConfig c = Only("web-crawlers");
  EXPECT_EQ(f.Check(c, R"({"request":{"headers":{"user-agent":"Googlebot"}}})"),
            kFilterWebCrawlers);
  EXPECT_EQ(
      f.Check(c, R"({"request":{"headers":[["USER-AGENT","Googlebot"]]}})"),
      kFilterWebCrawlers);
  // Another header holding a crawler name does not count.
  EXPECT_EQ(f.Check(c, R"({"request":{"headers":{"Referer":"Googlebot"}}})"),
            std::nullopt);
  // The first User-Agent wins.
  EXPECT_EQ(f.Check(c, R"({"request":{"headers":[["User-Agent","Firefox"],)"
                       R"(["User-Agent","Googlebot"]]}})"),
            std::nullopt);
  // Malformed entries are skipped.
  EXPECT_EQ(f.Check(c, R"({"request":{"headers":[["User-Agent"],null,5,)"
                       R"(["User-Agent",null],["User-Agent","Googlebot","x"],)"
                       R"(["User-Agent","Googlebot"]]}})"),
            kFilterWebCrawlers);
  // A user agent elsewhere (contexts, tags) is not read.
  EXPECT_EQ(f.Check(c, R"({"tags":{"User-Agent":"Googlebot"}})"), std::nullopt);
}

// ---------------------------------------------------------------------------
// release-version

TEST(ReleasesFilter, RelaysTable) {
  struct Case {
    std::string_view release;
    std::vector<std::string> blocked;
    bool filtered;
  };
  const Case cases[] = {
      {"1.2.3", {"1.3.0", "1.2.3", "1.3.1"}, true},
      {"1.2.3", {"1.3.0", "1.3.1", "1.2.3"}, true},
      {"1.2.3", {"1.3.0", "1.2.*", "1.3.1"}, true},
      {"1.2.3", {"1.3.0", "1.3.*", "1.*"}, true},
      {"1.2.3", {"*", "1.3.0", "1.3.*"}, true},
      {"1.2.3", {"1.3.0", "1.2.4", "1.3.1"}, false},
      {"1.2.3", {"1.4.0", "1.3.*", "3.*"}, false},
      {"1.2.3", {}, false},
      {"1.2.3", {"1.2.3"}, true},
      {"MyApp@1.2.3-BETA", {"*-beta"}, true},
      {"1.2.3", {"1.2"}, false},
      {"", {"*"}, false},
  };
  InboundFilter f;
  for (const Case& c : cases) {
    const InboundFilterConfig config =
        InboundFilterConfig::Make(false, false, false, c.blocked, {});
    EXPECT_EQ(
        f.Check(config, absl::StrCat(R"({"release":)", Quote(c.release), "}")),
        c.filtered ? std::optional(kFilterReleaseVersion) : std::nullopt)
        << c.release;
  }
  const InboundFilterConfig star =
      InboundFilterConfig::Make(false, false, false, {"*"}, {});
  EXPECT_EQ(f.Check(star, "{}"), std::nullopt);
  EXPECT_EQ(f.Check(star, R"({"release":null})"), std::nullopt);
  EXPECT_EQ(f.Check(star, R"({"dist":"1","release":"x"})"),
            kFilterReleaseVersion);
}

// ---------------------------------------------------------------------------
// error-message

// Relay's error_messages.rs table: (type, value, logentry.formatted,
// filtered) against two configurations, with and without globs.
TEST(ErrorMessagesFilter, RelaysTable) {
  const std::vector<std::vector<std::string>> configs = {
      {"filteredexception*", "*this is a filtered exception.", "", "this is"},
      {"filteredexception: this is a filtered exception.", "filteredexception",
       "this is a filtered exception."},
  };
  struct Case {
    std::optional<std::string_view> type;
    std::optional<std::string_view> value;
    std::string_view formatted;
    bool filtered;
  };
  const Case cases[] = {
      {"UnfilteredException", std::nullopt, "UnfilteredException", false},
      {std::nullopt, "This is an unfiltered exception.",
       "This is an unfiltered exception.", false},
      {std::nullopt, std::nullopt, "This is an unfiltered exception.", false},
      {std::nullopt, std::nullopt, "", false},
      {"UnfilteredException", "This is an unfiltered exception.",
       "UnfilteredException: This is an unfiltered exception.", false},
      {"FilteredException", std::nullopt, "FilteredException", true},
      {std::nullopt, "This is a filtered exception.",
       "This is a filtered exception.", true},
      {std::nullopt, std::nullopt, "This is a filtered exception.", true},
      {"FilteredException", "This is a filtered exception.",
       "FilteredException: This is a filtered exception.", true},
      {"OtherException", "This is a random exception.",
       "FilteredException: This is a filtered exception.", true},
      {std::nullopt, std::nullopt,
       "FilteredException: This is a filtered exception.", true},
      {"FilteredException", "This is a filtered exception.",
       "hi this is a legit log message", true},
  };
  InboundFilter f;
  for (const auto& patterns : configs) {
    const InboundFilterConfig config =
        InboundFilterConfig::Make(false, false, false, {}, patterns);
    for (const Case& c : cases) {
      std::string exc = "{";
      if (c.type) absl::StrAppend(&exc, R"("type":)", Quote(*c.type));
      if (c.value) {
        absl::StrAppend(&exc, c.type ? "," : "", R"("value":)",
                        Quote(*c.value));
      }
      exc += "}";
      const std::string event = absl::StrCat(R"({"exception":{"values":[)", exc,
                                             R"(]},"logentry":{"formatted":)",
                                             Quote(c.formatted), "}}");
      EXPECT_EQ(f.Check(config, event),
                c.filtered ? std::optional(kFilterErrorMessage) : std::nullopt)
          << patterns[0] << " / " << event;
    }
  }
}

TEST(ErrorMessagesFilter, EveryExceptionAndTheLogMessage) {
  InboundFilter f;
  const InboundFilterConfig c = InboundFilterConfig::Make(
      false, false, false, {},
      {"ChunkLoadError: Loading chunk *",
       "*Uncaught *: ChunkLoadError: Loading chunk *", "*ResizeObserver*"});
  // The second of two exceptions matches.
  EXPECT_EQ(
      f.Check(
          c,
          R"({"exception":{"values":[{"type":"Error","value":"x"},)"
          R"({"type":"ChunkLoadError","value":"Loading chunk 552 failed."}]}})"),
      kFilterErrorMessage);
  EXPECT_EQ(
      f.Check(c, R"({"logentry":{"formatted":"Error: Uncaught (in promise): )"
                 R"(ChunkLoadError: Loading chunk 175 failed."}})"),
      kFilterErrorMessage);
  // `message` counts only without `formatted`.
  EXPECT_EQ(f.Check(c, R"({"logentry":{"message":"ResizeObserver loop"}})"),
            kFilterErrorMessage);
  EXPECT_EQ(f.Check(c, R"({"logentry":{"message":"ResizeObserver loop %s",)"
                       R"("formatted":"all fine"}})"),
            std::nullopt);
  // Type and value are joined with ": "; matching is case-insensitive.
  EXPECT_EQ(
      f.Check(c, R"({"exception":[{"value":"RESIZEOBSERVER loop limit"}]})"),
      kFilterErrorMessage);
  EXPECT_EQ(
      f.Check(c, R"({"exception":[{"type":"ChunkLoadError","value":"nope"}]})"),
      std::nullopt);
  // Escaped strings are matched unescaped.
  EXPECT_EQ(f.Check(c, R"({"logentry":{"formatted":"\u0052esizeObserver"}})"),
            kFilterErrorMessage);
}

TEST(ErrorMessagesFilter, LegacyMessageThroughTheNormalizer) {
  // A string `message` reaches the filter as logentry.formatted.
  Normalizer normalizer(Normalizer::kDefaultMaxEventBytes, 7);
  NormalizedEvent out;
  NormalizeOptions opts;
  opts.received = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(
      normalizer
          .Normalize(R"({"message":"Script error.","platform":"javascript"})",
                     opts, &out)
          .ok());
  InboundFilter f;
  EXPECT_EQ(f.Check(InboundFilterConfig::Make(false, false, false, {},
                                              {"script error*"}),
                    out.json),
            kFilterErrorMessage);
}

// ---------------------------------------------------------------------------
// Order and robustness

TEST(InboundFilter, RelaysOrderDecidesTheName) {
  const std::string event =
      R"({"request":{"headers":{"User-Agent":"Googlebot"},"url":"http://localhost/"},)"
      R"("exception":{"values":[{"type":"E","value":"fb_xd_fragment"}]},)"
      R"("release":"1.0"})";
  InboundFilter f;
  EXPECT_EQ(
      f.Check(InboundFilterConfig::Make(true, true, true, {"1.*"}, {"e*"}),
              event),
      kFilterReleaseVersion);
  EXPECT_EQ(
      f.Check(InboundFilterConfig::Make(true, true, true, {"2.*"}, {"e*"}),
              event),
      kFilterErrorMessage);
  EXPECT_EQ(f.Check(InboundFilterConfig::Make(true, true, true, {}, {}), event),
            kFilterLocalhost);
  EXPECT_EQ(
      f.Check(InboundFilterConfig::Make(false, true, true, {}, {}), event),
      kFilterBrowserExtensions);
  EXPECT_EQ(
      f.Check(InboundFilterConfig::Make(false, false, true, {}, {}), event),
      kFilterWebCrawlers);
}

TEST(InboundFilter, ReadsMembersAfterThoseItStopsEarly) {
  // Browser extensions read only the first exception and the frames up to
  // the end of its stack trace; the members after them must still be seen.
  const std::string event =
      R"({"exception":{"values":[{"stacktrace":{"frames":[{"abs_path":"a.js"}],)"
      R"("registers":{"x":[1,2,{"y":3}]}},"type":"A","value":"ok"},)"
      R"({"type":"B","value":"fb_xd_fragment"}],"extra":{"k":[[]]}},)"
      R"("request":{"headers":[["User-Agent","Googlebot/2.1"]]}})";
  InboundFilter f;
  EXPECT_EQ(
      f.Check(InboundFilterConfig::Make(false, true, true, {}, {}), event),
      kFilterWebCrawlers);
  EXPECT_EQ(
      f.Check(InboundFilterConfig::Make(false, true, false, {}, {"b: fb*"}),
              event),
      kFilterErrorMessage);
}

TEST(InboundFilter, HostileInputNeverFiltersOrCrashes) {
  std::vector<std::string> inputs = {
      "",
      "null",
      "[]",
      "\"string\"",
      "{",
      "{\"release\":",
      "{\"release\":\"1.0\"",
      "{\"release\":\"1.0\",}",
      "{\"user\":{\"ip_address\":\"127.0.0.1\"",
      "{\"request\":{\"headers\":[[\"User-Agent\",\"Googlebot\"]",
      "{\"exception\":{\"values\":[{\"value\":\"fb_xd_fragment\"}",
      "{\"release\":\"\xff\xfe\"}",
      "{\"release\":\"1.0\\ud800\"}",
      std::string("{\"release\":\"1.0\0\"}", 17),
      "{\"release\":tru}",
      "{\"exception\":{\"values\":[" + std::string(5000, '[') + "]}",
      "{\"exception\":" + std::string(10000, '[') + std::string(10000, ']') +
          "}",
  };
  InboundFilter f;
  const InboundFilterConfig all =
      InboundFilterConfig::Make(true, true, true, {"*"}, {"*"});
  for (const std::string& in : inputs) {
    EXPECT_EQ(f.Check(all, in), std::nullopt) << in.substr(0, 80);
  }
  EXPECT_EQ(f.Check(all, std::string_view()), std::nullopt);
  // The filter still works after all that.
  EXPECT_EQ(f.Check(all, R"({"release":"1.0"})"), kFilterReleaseVersion);
}

TEST(InboundFilter, ReusesItsBuffersAcrossSizes) {
  InboundFilter f;
  const InboundFilterConfig c = Only("web-crawlers");
  const std::string big =
      absl::StrCat(R"({"extra":{"pad":")", std::string(200000, 'x'),
                   R"("},"request":{"headers":{"User-Agent":"Googlebot"}}})");
  EXPECT_EQ(f.Check(c, WithUserAgent("Firefox")), std::nullopt);
  EXPECT_EQ(f.Check(c, big), kFilterWebCrawlers);
  EXPECT_EQ(f.Check(c, WithUserAgent("Googlebot")), kFilterWebCrawlers);
  EXPECT_EQ(f.Check(c, WithUserAgent("Firefox")), std::nullopt);
}

// ---------------------------------------------------------------------------
// The shared corpus of real SDK events, normalized first.

class InboundFilterCorpus : public ::testing::Test {
 protected:
  // Normalized samples by path; samples the normalizer refuses are left out
  // (they never reach the filter).
  static std::map<std::string, std::string> Normalized() {
    Normalizer normalizer(Normalizer::kDefaultMaxEventBytes, 1);
    NormalizedEvent out;
    NormalizeOptions opts;
    opts.received = absl::FromUnixSeconds(1700000000);
    opts.client_ip = "203.0.113.7";
    std::map<std::string, std::string> result;
    for (const std::string& path : testing::AllEventSamples()) {
      if (normalizer.Normalize(testing::ReadEventSample(path), opts, &out)
              .ok()) {
        result[path] = out.json;
      }
    }
    return result;
  }
};

TEST_F(InboundFilterCorpus, NothingFilteredWithEveryFilterOff) {
  const auto samples = Normalized();
  ASSERT_GT(samples.size(), 50u);
  InboundFilter f;
  const InboundFilterConfig off;
  for (const auto& [path, json] : samples) {
    EXPECT_EQ(f.Check(off, json), std::nullopt) << path;
  }
  EXPECT_EQ(f.parse_count(), 0u);
}

TEST_F(InboundFilterCorpus, ExpectedHitsWithEveryFilterOn) {
  // Inspected by hand: the samples sent from a developer's machine.
  const std::map<std::string, std::string_view> expected = {
      // user.ip_address 127.0.0.1 (a local sentry-python run).
      {"bugsink/logmessage-w-params.json", kFilterLocalhost},
      {"bugsink/logmessage-w-params-dict.json", kFilterLocalhost},
      // request.url file:///... (a page opened from disk).
      {"bugsink/uglifyjs-minified-sourcemaps-in-bundle.json", kFilterLocalhost},
      {"bugsink/uglifyjs-minified-sourcemaps-in-bundle-multi-file.json",
       kFilterLocalhost},
      // request.url http://localhost:5000/ (an ASP.NET dev server).
      {"glitchtip/dotnet_divide_zero.json", kFilterLocalhost},
      {"glitchtip/dotnet_error.json", kFilterLocalhost},
      // The same, with odd headers the normalizer coerces.
      {"bugsink/weird_ua.json", kFilterLocalhost},
      {"bugsink/headers_as_lists.json", kFilterLocalhost},
  };
  const auto samples = Normalized();
  InboundFilter f;
  const InboundFilterConfig all = AllOn();
  size_t parsed = 0;
  for (const auto& [path, json] : samples) {
    const auto it = expected.find(path);
    EXPECT_EQ(f.Check(all, json),
              it == expected.end() ? std::nullopt : std::optional(it->second))
        << path;
    ++parsed;
  }
  EXPECT_EQ(f.parse_count(), parsed);
  for (const auto& [path, name] : expected) {
    EXPECT_TRUE(samples.count(path)) << path << " no longer normalizes";
  }
}

TEST_F(InboundFilterCorpus, ReleaseAndMessageGlobsOnRealEvents) {
  const auto samples = Normalized();
  const std::string& chrome =
      samples.at("sentry/javascript-xbrowser-chrome.json");
  const std::string& dotnet = samples.at("glitchtip/dotnet_error.json");
  InboundFilter f;
  // dotnet_error: System.NullReferenceException "Object reference not set to
  // an instance of an object."
  EXPECT_EQ(f.Check(InboundFilterConfig::Make(
                        false, false, false, {},
                        {"system.nullreferenceexception: object reference*"}),
                    dotnet),
            kFilterErrorMessage);
  EXPECT_EQ(f.Check(InboundFilterConfig::Make(false, false, false, {},
                                              {"object reference*"}),
                    dotnet),
            std::nullopt);
  // A JavaScript sample with a stack trace from http://localhost:4001 and no
  // request: its frames are not extension frames.
  EXPECT_EQ(f.Check(Only("browser-extensions"), chrome), std::nullopt);
  // bugsink/logmessage-w-params.json has release 1.2.0.
  const std::string& py = samples.at("bugsink/logmessage-w-params.json");
  EXPECT_EQ(
      f.Check(InboundFilterConfig::Make(false, false, false, {"1.2.*"}, {}),
              py),
      kFilterReleaseVersion);
  EXPECT_EQ(
      f.Check(InboundFilterConfig::Make(false, false, false, {"1.3.*"}, {}),
              py),
      std::nullopt);
}

}  // namespace
}  // namespace tern::protocol
