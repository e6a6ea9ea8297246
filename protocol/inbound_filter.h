// Inbound filters: the per-project rules that drop an event the project does
// not want (sent from localhost, caused by a browser extension, sent by a web
// crawler, from a release or with an error message on the project's deny
// lists) before it costs anything downstream. A filtered event is still
// answered 200 and produces a `filtered` outcome whose reason is the filter's
// name, as in Sentry.
//
// The rules, their sources in Sentry Relay (relay-filter) and where we
// differ are in docs/protocol.md, "Inbound filters". This module is pure: the
// relay builds one InboundFilterConfig per project when it loads the project
// table (patterns compiled there, once), and each worker thread owns one
// InboundFilter that it runs on every normalized event. Matching allocates
// nothing once the filter's buffers have grown to the largest event seen.
#ifndef TERN_PROTOCOL_INBOUND_FILTER_H_
#define TERN_PROTOCOL_INBOUND_FILTER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::protocol {

// The filter names, as Sentry writes them in the `reason` of a `filtered`
// outcome (Relay's FilterStatKey). Static storage.
inline constexpr std::string_view kFilterLocalhost = "localhost";
inline constexpr std::string_view kFilterBrowserExtensions =
    "browser-extensions";
inline constexpr std::string_view kFilterReleaseVersion = "release-version";
inline constexpr std::string_view kFilterErrorMessage = "error-message";
inline constexpr std::string_view kFilterWebCrawlers = "web-crawlers";

// One glob of a release or error-message deny list, compiled once. As in
// Relay's GlobPatterns: the whole text must match; `*` matches any run of
// bytes (newlines included), `?` one character (one UTF-8 sequence),
// `[abc]`, `[a-z]` one ASCII character of the class and `[!...]` (or
// `[^...]`) one character outside it; `\` makes the next pattern character
// literal (in classes too); matching ignores ASCII case; an empty text
// matches no pattern. A `[` without its `]` is literal, and so are `{` and
// `}` (Relay's alternatives are not supported).
class Glob {
 public:
  // Any string is a valid pattern; a trailing lone `\` is a literal `\`.
  explicit Glob(std::string_view pattern);

  // True when `text` matches the whole pattern. Allocates nothing; worst case
  // O(pattern * text).
  bool Matches(std::string_view text) const;

  // The pattern as given (for logs and tests).
  const std::string& pattern() const { return pattern_; }

 private:
  enum class Op : uint8_t { kLiteral, kAnyChar, kStar, kClass, kNotClass };
  struct Token {
    Op op;
    // Lowercased byte for kLiteral.
    char c;
    // Index into classes_ for kClass and kNotClass.
    uint16_t cls;
  };
  // The ASCII members of a class, one bit per byte, both cases.
  using CharClass = std::array<uint64_t, 2>;

  // Reads the class starting at pattern[*at] (a `[`), appends its token and
  // moves *at to the closing `]`; false (nothing appended) when the class
  // is not closed.
  bool ParseClass(std::string_view pattern, size_t* at);

  std::string pattern_;
  std::vector<Token> tokens_;
  std::vector<CharClass> classes_;
};

// One project's inbound filter settings, in matcher form. Built by the relay
// from config::InboundFilters when the project table is loaded, shared
// read-only by every worker after. The default value filters nothing.
struct InboundFilterConfig {
  bool localhost = false;
  bool browser_extensions = false;
  bool web_crawlers = false;
  // The event's `release` matching any of these is filtered.
  std::vector<Glob> releases;
  // Any exception ("Type: value") or the log message matching any of these
  // is filtered.
  std::vector<Glob> error_messages;

  // Compiles the string lists of a project's configuration. Empty patterns
  // are kept (they match nothing, as in Relay).
  static InboundFilterConfig Make(
      bool localhost, bool browser_extensions, bool web_crawlers,
      const std::vector<std::string>& releases,
      const std::vector<std::string>& error_messages);

  // False when no filter is on: InboundFilter::Check then answers at once,
  // without reading the event.
  bool AnyEnabled() const {
    return localhost || browser_extensions || web_crawlers ||
           !releases.empty() || !error_messages.empty();
  }
};

// Runs a project's filters over events. Owns a simdjson On-Demand parser and
// a padded copy buffer, both reused. Not thread-safe: one per worker thread.
class InboundFilter {
 public:
  InboundFilter();
  ~InboundFilter();
  InboundFilter(const InboundFilter&) = delete;
  InboundFilter& operator=(const InboundFilter&) = delete;

  // Decides whether `config` filters the event `normalized_json` (the output
  // of protocol::Normalizer: one compact JSON object). Returns the name of
  // the first filter that matches, in Relay's order (release-version,
  // error-message, localhost, browser-extensions, web-crawlers), or nullopt
  // to keep the event. With no filter enabled the event is not read at all.
  // Only the fields the enabled filters need are decoded. Input that is not
  // valid JSON or not an object is never filtered (the normalizer has
  // already refused such events; this only keeps hostile input harmless).
  // `normalized_json` is only read during the call.
  std::optional<std::string_view> Check(const InboundFilterConfig& config,
                                        std::string_view normalized_json);

  // How many events Check has parsed (tests use it to see the fast path).
  uint64_t parse_count() const { return parse_count_; }

 private:
  // The simdjson On-Demand parser. Hidden here because simdjson's
  // `ondemand` is a namespace alias, which cannot be forward-declared.
  struct Parser;
  std::unique_ptr<Parser> parser_;
  // The event copied with simdjson's padding after it.
  std::unique_ptr<char[]> buffer_;
  size_t buffer_capacity_ = 0;
  // "Type: value" of the exception being matched; keeps its capacity.
  std::string scratch_;
  uint64_t parse_count_ = 0;
};

}  // namespace tern::protocol

#endif  // TERN_PROTOCOL_INBOUND_FILTER_H_
