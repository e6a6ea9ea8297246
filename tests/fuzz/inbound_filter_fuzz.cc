// Fuzzes the inbound filters. The first input byte picks which filters are
// on (and whether the release/message deny lists hold globs, and whether the
// first line of the rest is one more, arbitrary, glob); the rest is the
// event. Each input is filtered as is and, when the normalizer accepts it,
// once more after normalization (the relay's real order). Invariants:
//  - nothing crashes or reads out of bounds, whatever the bytes;
//  - the answer is nullopt or one of the five filter names, and only of a
//    filter that is on;
//  - with every filter off the event is not parsed;
//  - the same input gives the same answer twice (no state leaks between
//    events through the reused parser and buffers).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "protocol/inbound_filter.h"
#include "protocol/normalize.h"

namespace {

using tern::protocol::InboundFilter;
using tern::protocol::InboundFilterConfig;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool Allowed(const InboundFilterConfig& c, std::string_view name) {
  if (name == tern::protocol::kFilterLocalhost) return c.localhost;
  if (name == tern::protocol::kFilterBrowserExtensions) {
    return c.browser_extensions;
  }
  if (name == tern::protocol::kFilterWebCrawlers) return c.web_crawlers;
  if (name == tern::protocol::kFilterReleaseVersion) return !c.releases.empty();
  if (name == tern::protocol::kFilterErrorMessage) {
    return !c.error_messages.empty();
  }
  return false;
}

void RunOne(InboundFilter& filter, const InboundFilterConfig& config,
            std::string_view json) {
  const uint64_t parses = filter.parse_count();
  const std::optional<std::string_view> a = filter.Check(config, json);
  if (!config.AnyEnabled()) {
    Check(!a.has_value());
    Check(filter.parse_count() == parses);
  }
  if (a) Check(Allowed(config, *a));
  const std::optional<std::string_view> b = filter.Check(config, json);
  Check(a == b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static InboundFilter filter;
  static tern::protocol::Normalizer normalizer(
      tern::protocol::Normalizer::kDefaultMaxEventBytes, 1);
  static tern::protocol::NormalizedEvent out;

  const uint8_t flags = data[0];
  std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> releases;
  std::vector<std::string> messages;
  if (flags & 8) releases = {"1.*", "*-beta", "?.?.?", "2.[0-4].[!a-c]*"};
  if (flags & 16) {
    messages = {"*ResizeObserver*", "TypeError: *", "Script error.",
                "*a*b*c*d*"};
  }
  if (flags & 64) {
    // The first line is one more glob for both lists, so pattern
    // compilation and matching see arbitrary patterns too.
    const size_t nl = json.find('\n');
    const std::string_view pattern = json.substr(0, nl);
    // Never a null-data view: Normalizer::Normalize(std::string_view())
    // passes a null pointer to memcpy inside simdjson (reported, not ours).
    json = json.substr(nl == std::string_view::npos ? json.size() : nl + 1);
    releases.emplace_back(pattern);
    messages.emplace_back(pattern);
    // A glob of one star matches every non-empty text.
    Check(tern::protocol::Glob("*").Matches(pattern) == !pattern.empty());
  }
  const InboundFilterConfig config = InboundFilterConfig::Make(
      flags & 1, flags & 2, flags & 4, releases, messages);
  RunOne(filter, config, json);

  tern::protocol::NormalizeOptions opts;
  opts.received = absl::FromUnixSeconds(1700000000);
  opts.client_ip = (flags & 32) ? "127.0.0.1" : "203.0.113.7";
  if (normalizer.Normalize(json, opts, &out).ok()) {
    RunOne(filter, config, out.json);
  }
  return 0;
}
