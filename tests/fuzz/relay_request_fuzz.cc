// libFuzzer target: arbitrary bytes through the relay's whole request path.
//
// One Relay (relay/app) runs in-process for the whole session, with a mock
// Kafka cluster behind it, so every input goes socket -> net/ -> relay/server
// -> relay/pipeline -> protocol/ -> producer. Each input is written on a
// fresh loopback connection, the write side is shut, and everything the relay
// answers is read until it closes. Whatever the bytes:
//   - the process must not crash, leak or trip a sanitizer;
//   - the relay must close the connection within the receive timeout (a
//     longer wait is reported as a hang, not left to stall the fuzzer);
//   - every response must be "HTTP/1.1 <status>" with a status from the
//     documented set and (apart from 1xx) a Content-Length that frames it;
//   - the relay must still answer its health check afterwards.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "relay/app/relay_test_harness.h"

namespace {

using tern::relay::app::testing::RawClient;
using tern::relay::app::testing::RelayHarness;

// Longer than every relay timeout below, so only a real hang reaches it.
constexpr absl::Duration kReceiveTimeout = absl::Seconds(8);

// Global, so LeakSanitizer sees the long-lived relay as reachable.
RelayHarness* g_relay = nullptr;

uint16_t RelayPort() {
  static uint16_t port = [] {
    auto h = RelayHarness::Start([](tern::config::RelayConfig& c) {
      c.timeouts.header_read = absl::Milliseconds(500);
      c.timeouts.idle = absl::Milliseconds(500);
      c.limits.max_event_size = 256 * 1024;
      c.limits.max_attachment_size = 1 << 20;
      c.limits.max_envelope_size = 1 << 20;
      c.logging.level = "off";
    });
    if (!h.ok()) {
      fprintf(stderr, "cannot start the relay: %s\n",
              std::string(h.status().message()).c_str());
      abort();
    }
    g_relay = h->release();
    // The relay itself lives until exit (see g_relay); its temp files go.
    std::atexit([] { g_relay->RemoveFiles(); });
    return g_relay->port();
  }();
  return port;
}

void Diagnose();

[[noreturn]] void Fail(const char* what, std::string_view all) {
  fprintf(stderr,
          "relay_request_fuzz: %s\n--- response bytes (%zu) ---\n%.*s\n", what,
          all.size(), static_cast<int>(std::min<size_t>(all.size(), 4096)),
          all.data());
  abort();
}

bool DocumentedStatus(int status) {
  switch (status) {
    case 100:
    case 200:
    case 204:
    case 400:
    case 401:
    case 403:
    case 404:
    case 405:
    case 408:
    case 413:
    case 415:
    case 429:
    case 431:
    case 503:
      return true;
    default:
      return false;
  }
}

// Walks the responses in `all`, checking each one's status line and framing.
// `may_have_head` (the input holds "HEAD") lets a response carry no body
// despite its Content-Length, as RFC 9110 requires for HEAD: response bodies
// are JSON or Prometheus text, never "HTTP/1.1 ", so the two cannot be
// confused.
void CheckResponses(std::string_view all, bool may_have_head) {
  std::string_view rest = all;
  while (!rest.empty()) {
    if (rest.substr(0, 9) != "HTTP/1.1 ") Fail("not an HTTP/1.1 answer", all);
    const size_t head_end = rest.find("\r\n\r\n");
    if (head_end == std::string_view::npos) Fail("truncated head", all);
    int status = 0;
    if (rest.size() < 13 || rest[12] != ' ' ||
        !absl::SimpleAtoi(tern::ToAbsl(rest.substr(9, 3)), &status)) {
      Fail("bad status line", all);
    }
    if (!DocumentedStatus(status)) Fail("undocumented status", all);
    std::string_view head = rest.substr(0, head_end);
    rest.remove_prefix(head_end + 4);
    if (status < 200) continue;  // interim: no body, no Content-Length
    std::optional<size_t> length;
    size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
      pos += 2;
      std::string_view line = head.substr(pos, head.find("\r\n", pos) - pos);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      if (!absl::EqualsIgnoreCase(tern::ToAbsl(line.substr(0, colon)),
                                  "content-length")) {
        continue;
      }
      size_t n;
      if (length.has_value() ||
          !absl::SimpleAtoi(
              absl::StripAsciiWhitespace(tern::ToAbsl(line.substr(colon + 1))),
              &n)) {
        Fail("bad or repeated Content-Length", all);
      }
      length = n;
    }
    if (!length.has_value()) Fail("response without Content-Length", all);
    if (may_have_head && (rest.empty() || rest.substr(0, 9) == "HTTP/1.1 ")) {
      continue;
    }
    if (*length > rest.size()) Fail("body shorter than Content-Length", all);
    rest.remove_prefix(*length);
  }
}

void CheckStillServing() {
  std::optional<tern::relay::app::testing::HttpReply> r =
      tern::relay::app::testing::RoundTrip(
          RelayPort(),
          "GET /api/relay/healthcheck/live/ HTTP/1.1\r\nHost: r\r\n\r\n");
  if (!r.has_value() || r->status != 200) {
    fprintf(stderr, "health check: %s\n", strerror(errno));
    Diagnose();
    Fail("the relay stopped serving", r ? r->head : "");
  }
}

// On a failure: what the relay and the kernel think of its connections, so
// a hang report tells a stalled worker from a forgotten connection.
void Diagnose() {
  const std::string metrics = g_relay->relay().Metrics();
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!line.empty() && line[0] != '#' &&
        (absl::StrContains(line, "connection") ||
         absl::StrContains(line, "timeout") ||
         absl::StrContains(line, "requests_total"))) {
      fprintf(stderr, "diagnose: %.*s\n", static_cast<int>(line.size()),
              line.data());
    }
  }
  const std::string ss = absl::StrCat(
      "ss -tan '( sport = :", RelayPort(), " or dport = :", RelayPort(),
      " )' | awk 'NR > 1 {n[$1]++} END {for (s in n) print \"diagnose: \" "
      "s, n[s]}' >&2");
  if (system(ss.c_str()) != 0) fprintf(stderr, "diagnose: ss failed\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RawClient client(RelayPort(), kReceiveTimeout);
  if (!client.ok()) Fail("cannot connect", "");
  // A relay that closed early makes the rest of the write fail: fine, what
  // it answered is still checked.
  client.Send(std::string_view(reinterpret_cast<const char*>(data), size));
  client.ShutdownWrite();
  bool closed = false;
  const std::string all = client.ReadAll(&closed);
  if (!closed) {
    // Tell a stalled worker (everything late) from a stuck connection (the
    // relay serves others but forgot this one) before failing.
    const absl::Time t0 = absl::Now();
    std::optional<tern::relay::app::testing::HttpReply> health =
        tern::relay::app::testing::RoundTrip(
            RelayPort(),
            "GET /api/relay/healthcheck/live/ HTTP/1.1\r\nHost: r\r\n\r\n");
    fprintf(stderr, "hang: health check %s after %.3f s\n",
            health ? "answered" : "NOT answered",
            absl::ToDoubleSeconds(absl::Now() - t0));
    bool closed_later = false;
    const std::string more = client.ReadAll(&closed_later);
    fprintf(stderr, "hang: the connection %s %.3f s later (%zu more bytes)\n",
            closed_later ? "closed" : "was still open",
            absl::ToDoubleSeconds(absl::Now() - t0), more.size());
    Diagnose();
    Fail("no close within the receive timeout (hang)", all + more);
  }
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckResponses(all, input.find("HEAD") != std::string_view::npos);
  CheckStillServing();
  return 0;
}
