// The relay's configuration (config/relay.yml): every key, its default, and
// the loader that validates a file into a RelayConfig.
//
// The struct below IS the schema: each field's initializer is the default the
// relay runs with when the key is absent, and config/relay.yml and
// docs/config.md list the same values (a test checks the example against
// these defaults). Loading is strict: unknown keys, wrong types and values
// out of range are errors naming "file:line:column: key.path: reason", which
// is what `tern-relay check-config FILE` prints.
#ifndef TERN_CONFIG_RELAY_CONFIG_H_
#define TERN_CONFIG_RELAY_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/fields.h"
#include "config/values.h"

namespace tern::config {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;

struct ListenConfig {
  // HTTP listener (store, envelope, health, metrics). Required. Port 0 asks
  // the kernel for a free port (tests).
  HostPort http{"127.0.0.1", 3000};
  // UDP listener for legacy datagrams; empty or null in the file disables it.
  std::optional<HostPort> udp = HostPort{"127.0.0.1", 3000};
};

struct LimitsConfig {
  // Request line plus headers, per request; over it: 431 and close.
  uint64_t max_header_bytes = 16 * kKiB;
  uint64_t max_headers = 100;
  // Body of a store request and of one event item, both before and after
  // decompression.
  uint64_t max_event_size = 1 * kMiB;
  // A whole envelope request, before and after decompression.
  uint64_t max_envelope_size = 100 * kMiB;
  // One attachment item.
  uint64_t max_attachment_size = 100 * kMiB;
  uint64_t max_items_per_envelope = 1000;
  // Open connections per worker; over it new connections are closed at once.
  uint64_t max_connections_per_worker = 10000;
};

struct TimeoutsConfig {
  // Time allowed to receive a request's headers (slowloris).
  absl::Duration header_read = absl::Seconds(10);
  // A keep-alive connection with no request in flight is closed after this.
  absl::Duration idle = absl::Seconds(60);
  // SIGTERM: time to finish in-flight requests and flush the producer.
  absl::Duration shutdown = absl::Seconds(10);
  // How long a request waits for its project config from upstream before it
  // gets 503 with Retry-After.
  absl::Duration project_fetch_wait = absl::Seconds(2);
};

struct KafkaTopics {
  std::string events = "ingest-events";
  std::string attachments = "ingest-attachments";
  std::string transactions = "ingest-transactions";
  std::string sessions = "ingest-sessions";
  std::string outcomes = "outcomes";
  // Envelope items of other types, when unknown_items is forward (Tern's
  // own `item` message; no Sentry consumer reads it).
  std::string other = "ingest-other";
};

struct KafkaProducerConfig {
  // librdkafka compression.type: none, gzip, snappy, lz4 or zstd.
  std::string compression = "zstd";
  // librdkafka linger.ms (0-900000).
  uint64_t linger_ms = 5;
  // librdkafka batch.size, in bytes.
  uint64_t batch_size = 1 * kMiB;
  // Producer queue depth (messages) at which the relay stops taking events
  // (HTTP 503, UDP drops), and at which it takes them again. low < high.
  uint64_t queue_high_watermark = 100000;
  uint64_t queue_low_watermark = 50000;
  // Extra librdkafka properties, passed as written (for example
  // "security.protocol": "ssl"). Properties set by the keys above, and
  // bootstrap.servers, are refused here so a value has one source.
  std::map<std::string, std::string> extra;
};

struct KafkaConfig {
  // librdkafka bootstrap.servers: comma-separated host:port list.
  std::string bootstrap_servers = "127.0.0.1:9092";
  KafkaTopics topics;
  KafkaProducerConfig producer;
};

// What to do with envelope items the relay does not route to a topic of its
// own (anything but events, transactions, attachments, sessions, user
// reports and client reports): forward them to kafka.topics.other, or drop
// them. Either way an outcome is produced (accepted or invalid).
enum class UnknownItems { kForward, kDrop };

struct UpstreamConfig {
  // Backend base URL ("http://127.0.0.1:9000"), without a trailing slash;
  // empty disables fetching. The relay POSTs to
  // {url}/api/0/relays/projectconfigs/.
  std::string url;
  // Sent as "Authorization: Bearer {token}" when non-empty.
  std::string token;
  // Key lookups are batched into one request this often.
  absl::Duration batch_interval = absl::Milliseconds(100);
  // A fetched project config is fresh this long...
  absl::Duration ttl = absl::Seconds(300);
  // ...then still served this long while a refresh is under way.
  absl::Duration stale_grace = absl::Seconds(120);
  // A key upstream does not know is remembered as unknown this long.
  absl::Duration negative_ttl = absl::Seconds(60);
};

struct ProjectsSourceConfig {
  // The projects file (see config/projects.h). A relative path is taken from
  // the relay's working directory. Empty or null disables the file.
  std::string file = "config/projects.yml";
  UpstreamConfig upstream;
};

struct UdpConfig {
  // SO_RCVBUF asked for each UDP socket (the kernel may clamp it to
  // net.core.rmem_max).
  uint64_t recv_buffer = 8 * kMiB;
};

// The write-ahead disk spool (docs/spool.md).
enum class SpoolFsync { kNever, kInterval, kAlways };

struct SpoolConfig {
  // Off: answers go out once the producer queued the message (in memory),
  // as before the spool existed; a crash loses what was queued.
  bool enabled = true;
  // Must exist and be writable; one directory per relay. A relative path is
  // taken from the relay's working directory.
  std::string dir = "var/spool";
  // Spool size at most, and free space left on its file system; past either,
  // new requests get 503 with Retry-After.
  uint64_t max_bytes = 4096 * kMiB;
  uint64_t min_free_bytes = 256 * kMiB;
  // never: survives a relay crash; interval: power loss minus the interval;
  // always: power loss (each loop turn's answers wait for fdatasync).
  SpoolFsync fsync = SpoolFsync::kInterval;
  absl::Duration fsync_interval = absl::Milliseconds(100);
  // A segment file is sealed past this size (or 5 s after its first
  // record) and deleted once Kafka acknowledged all of it.
  uint64_t segment_bytes = 64 * kMiB;
};

struct MetricsConfig {
  // Serve GET /metrics on the HTTP listener.
  bool enabled = true;
};

// Outcomes (docs/config.md, "outcomes").
struct OutcomesConfig {
  // Outcomes that carry no event id (other than `accepted`) are summed per
  // worker over windows of this length, per (project, key, outcome, reason,
  // category), and produced as one message with `quantity` when the window
  // ends. 0 produces each outcome at once. Outcomes with an event id, and
  // `accepted` ones, are always produced at once.
  absl::Duration flush_interval = absl::Seconds(1);
};

// Where a Redis server is: redis://[[user]:password@]host[:port][/db] or
// unix://[[user]:password@]/path/to.sock[?db=N].
struct RedisAddress {
  std::string host;  // empty for a unix socket
  uint16_t port = 6379;
  std::string unix_path;  // empty for TCP
  std::string user;       // AUTH user (Redis 6 ACL); empty: default user
  std::string password;   // empty: no AUTH
  uint64_t db = 0;
};

// Parses a Redis URL as above. InvalidArgument says what is wrong.
absl::StatusOr<RedisAddress> ParseRedisUrl(std::string_view url);

// What a relay does while Redis cannot answer (docs/quotas.md).
enum class QuotaFallback {
  kLocalShare,  // admit limit / expected_relays (rounded up) per relay
  kAllow,       // admit up to the whole limit per relay, as without Redis
  kDeny,        // admit nothing beyond what was already leased
};

// Quotas shared across relays (docs/quotas.md, "Across relays").
struct RedisQuotaConfig {
  std::string url;  // as written, for logs
  RedisAddress address;
  QuotaFallback fallback = QuotaFallback::kLocalShare;
  // How many relays share the Redis: sizes slices (at most 1% of a limit
  // over all relays) and the local share of the fallback.
  uint64_t expected_relays = 1;
  // A lease that takes longer counts as Redis being away for the rest of
  // its window.
  absl::Duration timeout = absl::Milliseconds(250);
};

struct QuotasConfig {
  // Unset: every relay counts alone.
  std::optional<RedisQuotaConfig> redis;
};

struct RelayConfig {
  ListenConfig listen;
  // Worker threads, each with its own loop and sockets; 0 = one per core.
  uint64_t workers = 0;
  // Nice value added to the process's own for its background threads
  // (librdkafka's, the Kafka delivery thread, the spool thread, the control
  // loop), so a worker preempts them at once; the workers keep the
  // process's priority. 0..19; 0 = all threads alike.
  uint64_t background_nice = 10;
  LimitsConfig limits;
  TimeoutsConfig timeouts;
  KafkaConfig kafka;
  // Default drop: the relay only produces what Sentry's ingest consumers
  // read from the topics it knows; either way an outcome is recorded.
  UnknownItems unknown_items = UnknownItems::kDrop;
  ProjectsSourceConfig projects;
  UdpConfig udp;
  SpoolConfig spool;
  OutcomesConfig outcomes;
  QuotasConfig quotas;
  MetricsConfig metrics;
  LoggingConfig logging;
};

// Parses and validates the YAML text of a relay config; `filename` labels
// errors. An empty document gives every default. On error the Status is
// InvalidArgument "filename:line:column: key.path: reason" for the first
// problem found: YAML syntax, unknown keys, wrong types, values out of range,
// addresses that do not parse, queue_low_watermark >= queue_high_watermark,
// max_event_size or max_attachment_size above max_envelope_size,
// spool.segment_bytes above spool.max_bytes, extra
// producer properties that shadow a key, and no project source at all (no
// file and no upstream url).
absl::StatusOr<RelayConfig> ParseRelayConfig(std::string_view yaml,
                                             std::string_view filename);

// Reads `path` and parses it as ParseRelayConfig does, labelling errors with
// `path`. A file that cannot be read gives NotFound, PermissionDenied, ...
// naming the path. Does not read the projects file it names.
absl::StatusOr<RelayConfig> LoadRelayConfig(const std::string& path);

// "forward" / "drop", "text" / "json": the names the file uses.
std::string_view UnknownItemsName(UnknownItems value);
// "never" / "interval" / "always".
std::string_view SpoolFsyncName(SpoolFsync value);
// "local_share" / "allow" / "deny".
std::string_view QuotaFallbackName(QuotaFallback value);

}  // namespace tern::config

#endif  // TERN_CONFIG_RELAY_CONFIG_H_
