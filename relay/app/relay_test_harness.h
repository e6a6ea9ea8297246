// Test-only: one whole Relay in-process, fed by librdkafka's mock cluster,
// plus a raw-socket HTTP client, for the relay's bad-input, robustness and
// fuzz tests.
//
// The tests speak to the relay the way SDKs and attackers do, with bytes on
// a loopback socket, so everything between the socket and Kafka (net/,
// relay/server, relay/pipeline, relay/kafka) is exercised. The projects file
// is written to a temp directory: project 1 (only the origin
// https://good.example) holds kKey and the disabled kDisabledKey; project 2
// (any origin) holds kOtherKey.
#ifndef TERN_RELAY_APP_RELAY_TEST_HARNESS_H_
#define TERN_RELAY_APP_RELAY_TEST_HARNESS_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "config/relay_config.h"
#include "relay/app/relay.h"
#include "relay/kafka/mock_cluster.h"

namespace tern::relay::app::testing {

using ::tern::ToAbsl;

inline constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
inline constexpr char kDisabledKey[] = "deadbeefdeadbeefdeadbeefdeadbeef";
inline constexpr char kOtherKey[] = "fedcba9876543210fedcba9876543210";

inline constexpr char kProjectsYaml[] = R"(projects:
  - id: 1
    keys:
      - public_key: 0123456789abcdef0123456789abcdef
        id: 7
      - public_key: deadbeefdeadbeefdeadbeefdeadbeef
        status: disabled
        id: 8
    allowed_origins: ["https://good.example"]
  - id: 2
    keys:
      - public_key: fedcba9876543210fedcba9876543210
        id: 9
    allowed_origins: ["*"]
)";

// Polls `cond` until it holds or `timeout` passes; for states that offer no
// notification (readiness, a counter), never as a stand-in for one.
template <typename F>
bool WaitFor(F cond, absl::Duration timeout = absl::Seconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return cond();
}

// The value of the unlabelled sample `name` in Prometheus text, or -1.
inline double MetricValue(const std::string& text, const std::string& name) {
  size_t pos = 0;
  while ((pos = text.find(name + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      const size_t start = pos + name.size() + 1;
      double v;
      if (absl::SimpleAtod(text.substr(start, text.find('\n', start) - start),
                           &v)) {
        return v;
      }
    }
    pos += name.size();
  }
  return -1;
}

// A relay on 127.0.0.1:<ephemeral> with a one-broker mock cluster.
class RelayHarness {
 public:
  using Tweak = std::function<void(config::RelayConfig&)>;

  // Starts the cluster (with the config's topics created), writes the
  // projects file, creates the relay and waits until it is Ready().
  static absl::StatusOr<std::unique_ptr<RelayHarness>> Start(
      const Tweak& tweak = {}) {
    auto h = std::unique_ptr<RelayHarness>(new RelayHarness);
    auto cluster = kafka::MockCluster::Create(1);
    if (!cluster.ok()) return cluster.status();
    h->cluster_ = *std::move(cluster);

    char dir[] = "/tmp/tern-relay-test-XXXXXX";
    if (mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp failed");
    h->dir_ = dir;
    const std::string projects = h->dir_ + "/projects.yml";
    {
      std::ofstream out(projects);
      out << kProjectsYaml;
      if (!out) return absl::InternalError("cannot write " + projects);
    }

    config::RelayConfig c;
    c.listen.http = {"127.0.0.1", 0};
    c.listen.udp = config::HostPort{"127.0.0.1", 0};
    c.workers = 1;
    c.projects.file = projects;
    c.kafka.bootstrap_servers = h->cluster_->bootstrap_servers();
    c.kafka.producer.linger_ms = 1;
    c.kafka.producer.extra["reconnect.backoff.ms"] = "10";
    c.kafka.producer.extra["reconnect.backoff.max.ms"] = "100";
    c.logging.level = "warn";
    // Each relay its own spool (a tweak may point it elsewhere, e.g. to
    // start a second relay on the first one's spool).
    c.spool.dir = h->dir_ + "/spool";
    c.spool.min_free_bytes = 0;
    if (mkdir(c.spool.dir.c_str(), 0700) != 0) {
      return absl::InternalError("cannot create " + c.spool.dir);
    }
    if (tweak) tweak(c);
    h->config_ = c;
    for (const std::string& t :
         {c.kafka.topics.events, c.kafka.topics.attachments,
          c.kafka.topics.transactions, c.kafka.topics.sessions,
          c.kafka.topics.outcomes}) {
      if (absl::Status s = h->cluster_->CreateTopic(t, 1); !s.ok()) return s;
    }
    auto relay = Relay::Create(std::move(c));
    if (!relay.ok()) return relay.status();
    h->relay_ = *std::move(relay);
    if (!WaitFor([&] { return h->relay_->Ready(); })) {
      return absl::DeadlineExceededError("the relay never became ready");
    }
    return h;
  }

  ~RelayHarness() {
    relay_.reset();
    cluster_.reset();
    RemoveFiles();
  }

  // Deletes the temp projects file, the spool and their directory (the
  // relay keeps the table it loaded). For owners that never destroy the
  // harness, at exit.
  void RemoveFiles() {
    if (dir_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    dir_.clear();
  }

  Relay& relay() { return *relay_; }
  kafka::MockCluster& cluster() { return *cluster_; }
  const config::RelayConfig& config() const { return config_; }
  uint16_t port() const { return relay_->http_port(); }

 private:
  RelayHarness() = default;
  std::unique_ptr<kafka::MockCluster> cluster_;
  std::unique_ptr<Relay> relay_;
  config::RelayConfig config_;
  std::string dir_;
};

// One parsed HTTP response.
struct HttpReply {
  int status = 0;
  std::string head;  // status line and headers, without the blank line
  std::map<std::string, std::string> headers;  // names lower-cased; last wins
  bool has_content_length = false;
  std::string body;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// Connects to 127.0.0.1:port; -1 on failure. Reads time out after
// `recv_timeout` so a relay that never answers fails the test, not hangs it.
inline int ConnectTcp(uint16_t port,
                      absl::Duration recv_timeout = absl::Seconds(10)) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv = absl::ToTimeval(recv_timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    // A signal (libFuzzer's timer, for one) interrupts connect() but not
    // the handshake: wait for it and read its result.
    bool connected = false;
    if (errno == EINTR) {
      pollfd p{fd, POLLOUT, 0};
      int rc;
      do {
        rc = poll(&p, 1, 10000);
      } while (rc < 0 && errno == EINTR);
      int err = 0;
      socklen_t len = sizeof(err);
      connected = rc == 1 &&
                  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                  err == 0;
    }
    if (!connected) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

// A blocking client on one connection: writes raw bytes, reads responses
// framed by Content-Length (the relay never answers chunked).
class RawClient {
 public:
  explicit RawClient(uint16_t port,
                     absl::Duration recv_timeout = absl::Seconds(10))
      : fd_(ConnectTcp(port, recv_timeout)) {}
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // Reads one response; nullopt on EOF, reset or timeout before it is whole.
  // A response without Content-Length has an empty body here (interim 1xx
  // responses have none), and has_content_length tells the caller.
  std::optional<HttpReply> Read() {
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    HttpReply r;
    r.head = buf_.substr(0, head_end);
    std::string_view head = r.head;
    size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    if (status_line.size() < 12 || status_line.substr(0, 9) != "HTTP/1.1 " ||
        !absl::SimpleAtoi(ToAbsl(status_line.substr(9, 3)), &r.status)) {
      r.status = -1;
    }
    while (eol != std::string_view::npos) {
      head.remove_prefix(eol + 2);
      eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name = absl::AsciiStrToLower(ToAbsl(line.substr(0, colon)));
      std::string value(
          absl::StripAsciiWhitespace(ToAbsl(line.substr(colon + 1))));
      r.headers[name] = value;
    }
    size_t body_len = 0;
    if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
      r.has_content_length = absl::SimpleAtoi(it->second, &body_len);
    }
    const size_t total = head_end + 4 + body_len;
    while (buf_.size() < total) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(head_end + 4, body_len);
    buf_.erase(0, total);
    return r;
  }

  // True if the peer closes (EOF or reset) with no further bytes before the
  // receive timeout.
  bool WaitClosed() {
    if (!buf_.empty()) return false;
    char c;
    ssize_t n;
    do {
      n = recv(fd_, &c, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // Everything until the peer closes (or the receive timeout); `closed`
  // tells which.
  std::string ReadAll(bool* closed) {
    while (Fill()) {
    }
    *closed = last_recv_ == 0 || last_errno_ == ECONNRESET;
    return std::exchange(buf_, {});
  }

 private:
  bool Fill() {
    char tmp[16384];
    ssize_t n;
    do {
      // Signals are retried; only the receive timeout (EAGAIN) ends a wait.
      n = recv(fd_, tmp, sizeof(tmp), 0);
    } while (n < 0 && errno == EINTR);
    last_recv_ = n;
    last_errno_ = n < 0 ? errno : 0;
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buf_;
  ssize_t last_recv_ = 1;
  int last_errno_ = 0;
};

// Sends one request on a new connection and reads one response.
inline std::optional<HttpReply> RoundTrip(uint16_t port,
                                          std::string_view request) {
  RawClient c(port);
  if (!c.ok() || !c.Send(request)) return std::nullopt;
  return c.Read();
}

// "X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, ..." (no CRLF).
inline std::string AuthHeader(const std::string& key = kKey, int version = 7) {
  return absl::StrCat("X-Sentry-Auth: Sentry sentry_key=", key,
                      ", sentry_version=", version,
                      ", sentry_client=tern-test/1.0");
}

// A minimal valid error event with `event_id` (32 hex).
inline std::string EventJson(const std::string& event_id) {
  return absl::StrCat(R"({"event_id":")", event_id,
                      R"(","level":"error","platform":"python",)",
                      R"("exception":{"values":[{"type":"ValueError",)",
                      R"("value":"boom"}]}})");
}

// An envelope with one event item (with explicit length).
inline std::string EnvelopeWithEvent(const std::string& event_id,
                                     const std::string& header_extra = "") {
  std::string event = EventJson(event_id);
  return absl::StrCat(R"({"event_id":")", event_id, "\"", header_extra, "}\n",
                      R"({"type":"event","length":)", event.size(), "}\n",
                      event, "\n");
}

// A complete POST with Content-Length; `headers` are extra lines, each
// ending in CRLF.
inline std::string Post(const std::string& path, const std::string& headers,
                        const std::string& body) {
  return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: relay\r\n", headers,
                      "Content-Length: ", body.size(), "\r\n\r\n", body);
}

// 32 lowercase hex digits of `n`, for distinct event ids.
inline std::string HexId(uint64_t n) {
  char buf[33];
  snprintf(buf, sizeof(buf), "%016llx%016llx", 0xabcdefULL,
           static_cast<unsigned long long>(n));
  return buf;
}

}  // namespace tern::relay::app::testing

#endif  // TERN_RELAY_APP_RELAY_TEST_HARNESS_H_
