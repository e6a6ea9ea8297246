#include "config/relay_config.h"

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "config/projects.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::config {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The documented defaults (docs/config.md, config/relay.yml), written out as
// literals so a change to a struct initializer cannot pass unnoticed.
void ExpectDocumentedDefaults(const RelayConfig& c) {
  EXPECT_EQ(c.listen.http.ToString(), "127.0.0.1:3000");
  ASSERT_TRUE(c.listen.udp.has_value());
  EXPECT_EQ(c.listen.udp->ToString(), "127.0.0.1:3000");
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.background_nice, 10u);
  EXPECT_EQ(c.limits.max_header_bytes, 16u * 1024);
  EXPECT_EQ(c.limits.max_headers, 100u);
  EXPECT_EQ(c.limits.max_event_size, 1u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_envelope_size, 100u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_attachment_size, 100u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_items_per_envelope, 1000u);
  EXPECT_EQ(c.limits.max_connections_per_worker, 10000u);
  EXPECT_EQ(c.timeouts.header_read, absl::Seconds(10));
  EXPECT_EQ(c.timeouts.idle, absl::Seconds(60));
  EXPECT_EQ(c.timeouts.shutdown, absl::Seconds(10));
  EXPECT_EQ(c.timeouts.project_fetch_wait, absl::Seconds(2));
  EXPECT_EQ(c.kafka.bootstrap_servers, "127.0.0.1:9092");
  EXPECT_EQ(c.kafka.topics.events, "ingest-events");
  EXPECT_EQ(c.kafka.topics.attachments, "ingest-attachments");
  EXPECT_EQ(c.kafka.topics.transactions, "ingest-transactions");
  EXPECT_EQ(c.kafka.topics.sessions, "ingest-sessions");
  EXPECT_EQ(c.kafka.topics.outcomes, "outcomes");
  EXPECT_EQ(c.kafka.topics.other, "ingest-other");
  EXPECT_EQ(c.kafka.producer.compression, "zstd");
  EXPECT_EQ(c.kafka.producer.linger_ms, 5u);
  EXPECT_EQ(c.kafka.producer.batch_size, 1u * 1024 * 1024);
  EXPECT_EQ(c.kafka.producer.queue_high_watermark, 100000u);
  EXPECT_EQ(c.kafka.producer.queue_low_watermark, 50000u);
  EXPECT_TRUE(c.kafka.producer.extra.empty());
  EXPECT_EQ(c.unknown_items, UnknownItems::kDrop);
  EXPECT_EQ(c.projects.file, "config/projects.yml");
  EXPECT_EQ(c.projects.upstream.url, "");
  EXPECT_EQ(c.projects.upstream.token, "");
  EXPECT_EQ(c.projects.upstream.batch_interval, absl::Milliseconds(100));
  EXPECT_EQ(c.projects.upstream.ttl, absl::Seconds(300));
  EXPECT_EQ(c.projects.upstream.stale_grace, absl::Seconds(120));
  EXPECT_EQ(c.projects.upstream.negative_ttl, absl::Seconds(60));
  EXPECT_EQ(c.udp.recv_buffer, 8u * 1024 * 1024);
  EXPECT_TRUE(c.spool.enabled);
  EXPECT_EQ(c.spool.dir, "var/spool");
  EXPECT_EQ(c.spool.max_bytes, 4096ull * 1024 * 1024);
  EXPECT_EQ(c.spool.min_free_bytes, 256ull * 1024 * 1024);
  EXPECT_EQ(c.spool.fsync, SpoolFsync::kInterval);
  EXPECT_EQ(c.spool.fsync_interval, absl::Milliseconds(100));
  EXPECT_EQ(c.spool.segment_bytes, 64ull * 1024 * 1024);
  EXPECT_EQ(c.outcomes.flush_interval, absl::Seconds(1));
  EXPECT_TRUE(c.metrics.enabled);
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.logging.format, LogFormat::kText);
}

TEST(RelayConfig, EmptyFileGivesEveryDefault) {
  for (std::string_view text : {"", "# nothing\n", "{}\n"}) {
    absl::StatusOr<RelayConfig> c = ParseRelayConfig(text, "t.yml");
    ASSERT_TRUE(c.ok()) << c.status();
    ExpectDocumentedDefaults(*c);
  }
}

TEST(RelayConfig, DefaultConstructedMatchesDocumentedDefaults) {
  const RelayConfig defaults;
  ExpectDocumentedDefaults(defaults);
}

TEST(RelayConfig, ExampleFileParsesToTheDefaults) {
  absl::StatusOr<RelayConfig> c =
      LoadRelayConfig(std::string(TERN_SOURCE_DIR) + "/config/relay.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectDocumentedDefaults(*c);
}

TEST(RelayConfig, ExampleNamesTheExampleProjectsFile) {
  absl::StatusOr<RelayConfig> c =
      LoadRelayConfig(std::string(TERN_SOURCE_DIR) + "/config/relay.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  // The path is relative to the working directory, which for the examples
  // is the repository root.
  absl::StatusOr<ProjectsFile> projects =
      LoadProjectsFile(std::string(TERN_SOURCE_DIR) + "/" + c->projects.file);
  ASSERT_TRUE(projects.ok()) << projects.status();
  EXPECT_EQ(projects->projects.size(), 1u);
}

TEST(RelayConfig, EmptySectionsKeepDefaults) {
  absl::StatusOr<RelayConfig> c = ParseRelayConfig(
      "listen:\nlimits:\ntimeouts:\nkafka:\n  producer:\nprojects:\nudp:\n"
      "metrics:\nlogging:\n",
      "t.yml");
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectDocumentedDefaults(*c);
}

// Each case sets one key away from its default and checks the field.
struct OverrideCase {
  std::string_view yaml;
  std::function<bool(const RelayConfig&)> check;
};

TEST(RelayConfig, EveryKeyCanBeSet) {
  const OverrideCase cases[] = {
      {"listen: {http: \"0.0.0.0:8080\"}",
       [](const RelayConfig& c) {
         return c.listen.http == HostPort{"0.0.0.0", 8080};
       }},
      {"listen: {http: \"[::1]:0\"}",
       [](const RelayConfig& c) {
         return c.listen.http == HostPort{"::1", 0};
       }},
      {"listen: {udp: \"[::]:3001\"}",
       [](const RelayConfig& c) {
         return c.listen.udp == HostPort{"::", 3001};
       }},
      {"listen: {udp: \"\"}",
       [](const RelayConfig& c) { return !c.listen.udp.has_value(); }},
      {"listen: {udp: null}",
       [](const RelayConfig& c) { return !c.listen.udp.has_value(); }},
      {"listen:\n  udp:\n",
       [](const RelayConfig& c) { return !c.listen.udp.has_value(); }},
      {"workers: 4", [](const RelayConfig& c) { return c.workers == 4; }},
      {"background_nice: 0",
       [](const RelayConfig& c) { return c.background_nice == 0; }},
      {"background_nice: 19",
       [](const RelayConfig& c) { return c.background_nice == 19; }},
      {"limits: {max_header_bytes: 32KiB}",
       [](const RelayConfig& c) {
         return c.limits.max_header_bytes == 32 * 1024;
       }},
      {"limits: {max_headers: 50}",
       [](const RelayConfig& c) { return c.limits.max_headers == 50; }},
      {"limits: {max_event_size: 2000000}",
       [](const RelayConfig& c) { return c.limits.max_event_size == 2000000; }},
      {"limits: {max_envelope_size: 1GiB, max_attachment_size: 512MB}",
       [](const RelayConfig& c) {
         return c.limits.max_envelope_size == (1ull << 30) &&
                c.limits.max_attachment_size == 512'000'000;
       }},
      {"limits: {max_items_per_envelope: 10}",
       [](const RelayConfig& c) {
         return c.limits.max_items_per_envelope == 10;
       }},
      {"limits: {max_connections_per_worker: 5}",
       [](const RelayConfig& c) {
         return c.limits.max_connections_per_worker == 5;
       }},
      {"timeouts: {header_read: 500ms, idle: 5m, shutdown: 1h, "
       "project_fetch_wait: 100ms}",
       [](const RelayConfig& c) {
         return c.timeouts.header_read == absl::Milliseconds(500) &&
                c.timeouts.idle == absl::Minutes(5) &&
                c.timeouts.shutdown == absl::Hours(1) &&
                c.timeouts.project_fetch_wait == absl::Milliseconds(100);
       }},
      {"kafka: {bootstrap_servers: \"a:1, b:2,[::1]:9092\"}",
       [](const RelayConfig& c) {
         return c.kafka.bootstrap_servers == "a:1, b:2,[::1]:9092";
       }},
      {"kafka: {topics: {events: e, attachments: a, transactions: t, "
       "sessions: s, outcomes: o.v2}}",
       [](const RelayConfig& c) {
         return c.kafka.topics.events == "e" &&
                c.kafka.topics.attachments == "a" &&
                c.kafka.topics.transactions == "t" &&
                c.kafka.topics.sessions == "s" &&
                c.kafka.topics.outcomes == "o.v2";
       }},
      {"kafka: {producer: {compression: lz4, linger_ms: 0, batch_size: 64KiB}}",
       [](const RelayConfig& c) {
         return c.kafka.producer.compression == "lz4" &&
                c.kafka.producer.linger_ms == 0 &&
                c.kafka.producer.batch_size == 64 * 1024;
       }},
      {"kafka: {producer: {queue_high_watermark: 10, queue_low_watermark: 0}}",
       [](const RelayConfig& c) {
         return c.kafka.producer.queue_high_watermark == 10 &&
                c.kafka.producer.queue_low_watermark == 0;
       }},
      {"kafka:\n  producer:\n    extra:\n      security.protocol: ssl\n"
       "      socket.timeout.ms: 1000\n",
       [](const RelayConfig& c) {
         return c.kafka.producer.extra.size() == 2 &&
                c.kafka.producer.extra.at("security.protocol") == "ssl" &&
                c.kafka.producer.extra.at("socket.timeout.ms") == "1000";
       }},
      {"unknown_items: forward",
       [](const RelayConfig& c) {
         return c.unknown_items == UnknownItems::kForward;
       }},
      {"projects: {file: /etc/tern/projects.yml}",
       [](const RelayConfig& c) {
         return c.projects.file == "/etc/tern/projects.yml";
       }},
      {"projects: {file: null, upstream: {url: \"http://127.0.0.1:9000/\", "
       "token: abc}}",
       [](const RelayConfig& c) {
         return c.projects.file.empty() &&
                c.projects.upstream.url == "http://127.0.0.1:9000" &&
                c.projects.upstream.token == "abc";
       }},
      {"projects: {file: \"\", upstream: {url: \"http://[::1]/sentry\"}}",
       [](const RelayConfig& c) {
         return c.projects.upstream.url == "http://[::1]/sentry";
       }},
      {"projects: {upstream: {batch_interval: 10ms, ttl: 1m, stale_grace: 0s, "
       "negative_ttl: 0ms}}",
       [](const RelayConfig& c) {
         const UpstreamConfig& u = c.projects.upstream;
         return u.batch_interval == absl::Milliseconds(10) &&
                u.ttl == absl::Minutes(1) &&
                u.stale_grace == absl::ZeroDuration() &&
                u.negative_ttl == absl::ZeroDuration();
       }},
      {"udp: {recv_buffer: 256KiB}",
       [](const RelayConfig& c) { return c.udp.recv_buffer == 256 * 1024; }},
      {"metrics: {enabled: false}",
       [](const RelayConfig& c) { return !c.metrics.enabled; }},
      {"spool: {enabled: false, dir: /var/lib/tern/spool, max_bytes: 64MiB, "
       "min_free_bytes: 0, fsync: always, fsync_interval: 1s, "
       "segment_bytes: 1MiB}",
       [](const RelayConfig& c) {
         const SpoolConfig& s = c.spool;
         return !s.enabled && s.dir == "/var/lib/tern/spool" &&
                s.max_bytes == 64 * 1024 * 1024 && s.min_free_bytes == 0 &&
                s.fsync == SpoolFsync::kAlways &&
                s.fsync_interval == absl::Seconds(1) &&
                s.segment_bytes == 1024 * 1024;
       }},
      {"outcomes: {flush_interval: 0s}",
       [](const RelayConfig& c) {
         return c.outcomes.flush_interval == absl::ZeroDuration();
       }},
      {"outcomes: {flush_interval: 250ms}",
       [](const RelayConfig& c) {
         return c.outcomes.flush_interval == absl::Milliseconds(250);
       }},
      {"quotas: {redis: {url: \"redis://u:p%40ss@10.0.0.5:6380/3\", "
       "fallback: deny, expected_relays: 12, timeout: 50ms}}",
       [](const RelayConfig& c) {
         if (!c.quotas.redis.has_value()) return false;
         const RedisQuotaConfig& r = *c.quotas.redis;
         return r.address.host == "10.0.0.5" && r.address.port == 6380 &&
                r.address.db == 3 && r.address.user == "u" &&
                r.address.password == "p@ss" &&
                r.fallback == QuotaFallback::kDeny && r.expected_relays == 12 &&
                r.timeout == absl::Milliseconds(50);
       }},
      {"quotas: {redis: {url: \"unix:///run/r.sock?db=2&password=x\"}}",
       [](const RelayConfig& c) {
         const RedisQuotaConfig& r = *c.quotas.redis;
         return r.address.unix_path == "/run/r.sock" && r.address.db == 2 &&
                r.address.password == "x" && r.address.host.empty() &&
                r.fallback == QuotaFallback::kLocalShare &&
                r.expected_relays == 1 && r.timeout == absl::Milliseconds(250);
       }},
      {"quotas: {redis: {url: \"redis://[::1]\"}}",
       [](const RelayConfig& c) {
         return c.quotas.redis->address.host == "::1" &&
                c.quotas.redis->address.port == 6379;
       }},
      {"spool: {fsync: never}",
       [](const RelayConfig& c) {
         return c.spool.fsync == SpoolFsync::kNever;
       }},
      {"logging: {level: debug, format: json}",
       [](const RelayConfig& c) {
         return c.logging.level == "debug" &&
                c.logging.format == LogFormat::kJson;
       }},
  };
  for (const OverrideCase& c : cases) {
    absl::StatusOr<RelayConfig> got = ParseRelayConfig(c.yaml, "t.yml");
    ASSERT_TRUE(got.ok()) << c.yaml << "\n" << got.status();
    EXPECT_TRUE(c.check(*got)) << c.yaml;
  }
}

// Each case: a file and the exact start of the error it must produce
// ("file:line:column: path: reason").
struct ErrorCase {
  std::string_view yaml;
  std::string_view want;
};

TEST(RelayConfig, ValidationErrorsNameFileLineAndKey) {
  const ErrorCase cases[] = {
      // Unknown keys, at every level.
      {"listen: {}\nlimts: {}\n", "t.yml:2:1: unknown key \"limts\""},
      {"limits:\n  max_event_sise: 1MiB\n",
       "t.yml:2:3: limits: unknown key \"max_event_sise\""},
      {"kafka:\n  topics:\n    event: x\n",
       "t.yml:3:5: kafka.topics: unknown key \"event\""},
      {"kafka:\n  producer:\n    lingerms: 5\n",
       "t.yml:3:5: kafka.producer: unknown key \"lingerms\""},
      {"projects:\n  upstream:\n    tll: 5s\n",
       "t.yml:3:5: projects.upstream: unknown key \"tll\""},
      {"listen:\n  https: \"127.0.0.1:443\"\n",
       "t.yml:2:3: listen: unknown key \"https\""},
      {"udp: {recvbuffer: 1}\n", "t.yml:1:7: udp: unknown key"},
      {"metrics: {enable: true}\n", "t.yml:1:11: metrics: unknown key"},
      {"logging: {lvl: info}\n", "t.yml:1:11: logging: unknown key"},
      {"timeouts:\n  read: 1s\n", "t.yml:2:3: timeouts: unknown key"},
      {"quotas: {redis: {url: \"rediss://h\"}}\n",
       "t.yml:1:23: quotas.redis.url: expected redis://"},
      {"quotas: {redis: {url: \"redis://h:0\"}}\n",
       "t.yml:1:23: quotas.redis.url: expected redis://"},
      {"quotas: {redis: {url: \"unix://rel.sock\"}}\n",
       "t.yml:1:23: quotas.redis.url: expected redis://"},
      {"quotas: {redis: {fallback: local_share}}\n",
       "t.yml:1:17: quotas.redis: url is required"},
      {"quotas: {redis: {url: \"redis://h\", fallback: open}}\n",
       "t.yml:1:46: quotas.redis.fallback:"},
      {"quotas: {redis: {url: \"redis://h\", expected_relays: 0}}\n",
       "t.yml:1:53: quotas.redis.expected_relays:"},
      {"quotas: {reds: {}}\n", "t.yml:1:10: quotas: unknown key"},
      // Wrong types.
      {"- a\n- b\n", "t.yml:1:1: expected a map of keys, got a list"},
      {"listen: \"127.0.0.1:3000\"\n",
       "t.yml:1:9: listen: expected a map of keys, got \"127.0.0.1:3000\""},
      {"listen: {http: [a]}\n",
       "t.yml:1:16: listen.http: expected a string, got a list"},
      {"workers: four\n",
       "t.yml:1:10: workers: expected a whole number, got \"four\""},
      {"workers: -1\n", "t.yml:1:10: workers: expected a whole number"},
      {"workers: 2.5\n", "t.yml:1:10: workers: expected a whole number"},
      {"workers: 5000\n",
       "t.yml:1:10: workers: must be between 0 and 1024, got 5000"},
      {"background_nice: 20\n",
       "t.yml:1:18: background_nice: must be between 0 and 19, got 20"},
      {"background_nice: -1\n",
       "t.yml:1:18: background_nice: expected a whole number"},
      {"metrics:\n  enabled: yes please\n",
       "t.yml:2:12: metrics.enabled: expected true or false, got \"yes "
       "please\""},
      {"metrics: {enabled: null}\n",
       "t.yml:1:20: metrics.enabled: expected true or false, got null"},
      {"kafka: {producer: {extra: [a]}}\n",
       "t.yml:1:27: kafka.producer.extra: expected a map, got a list"},
      {"kafka: {producer: {extra: {a: [1]}}}\n",
       "kafka.producer.extra.a: expected a string, got a list"},
      // Sizes and durations.
      {"\nlimits:\n  max_event_size: abc\n",
       "t.yml:3:19: limits.max_event_size: expected a size like 1MiB, "
       "512KiB, 100MB or a byte count, got \"abc\""},
      {"limits: {max_envelope_size: 1.5GiB}\n",
       "t.yml:1:29: limits.max_envelope_size: expected a size"},
      {"limits: {max_header_bytes: 0}\n",
       "t.yml:1:28: limits.max_header_bytes: must be between 1 and"},
      {"limits: {max_headers: 0}\n",
       "t.yml:1:23: limits.max_headers: must be between 1 and"},
      {"limits: {max_items_per_envelope: 0}\n",
       "limits.max_items_per_envelope: must be between 1"},
      {"limits: {max_connections_per_worker: 0}\n",
       "limits.max_connections_per_worker: must be between 1"},
      {"limits: {max_attachment_size: 0KiB}\n",
       "limits.max_attachment_size: must be between 1"},
      {"timeouts:\n  idle: 60\n",
       "t.yml:2:9: timeouts.idle: expected a duration like 100ms, 10s, 5m "
       "or 1h, got \"60\""},
      {"timeouts: {header_read: 0s}\n",
       "t.yml:1:25: timeouts.header_read: must be at least 1ms, got 0s"},
      {"timeouts: {shutdown: 10 s}\n",
       "timeouts.shutdown: expected a duration"},
      {"timeouts: {project_fetch_wait: 0ms}\n",
       "timeouts.project_fetch_wait: must be at least 1ms"},
      {"projects: {upstream: {ttl: 0s}}\n",
       "projects.upstream.ttl: must be at least 1ms"},
      {"projects: {upstream: {batch_interval: 0ms}}\n",
       "projects.upstream.batch_interval: must be at least 1ms"},
      {"projects: {upstream: {stale_grace: -1s}}\n",
       "projects.upstream.stale_grace: expected a duration"},
      {"projects: {upstream: {negative_ttl: forever}}\n",
       "projects.upstream.negative_ttl: expected a duration"},
      {"udp: {recv_buffer: 4GiB}\n",
       "t.yml:1:20: udp.recv_buffer: must be between 1 and 2147483647"},
      {"spool: {fsync: sometimes}\n", "spool.fsync: "},
      {"spool: {dir: \"\"}\n", "spool.dir: must not be empty"},
      {"spool: {max_bytes: 1KiB}\n", "spool.max_bytes: must be between"},
      {"spool: {fsync_interval: 0ms}\n",
       "spool.fsync_interval: must be at least 1ms"},
      {"spool: {max_bytes: 10MiB, segment_bytes: 20MiB}\n",
       "spool.segment_bytes: segment_bytes (20971520) must not exceed "
       "max_bytes (10485760)"},
      {"spool: {size: 1}\n", "spool: unknown key \"size\""},
      {"outcomes: {flush_interval: 11m}\n",
       "outcomes.flush_interval: must be at most 10m"},
      {"outcomes: {flush_interval: soon}\n",
       "outcomes.flush_interval: expected a duration"},
      {"outcomes: {mode: lossy}\n", "outcomes: unknown key \"mode\""},
      // Addresses.
      {"listen:\n  http: \"127.0.0.1\"\n",
       "t.yml:2:9: listen.http: missing port (expected host:port), got "
       "\"127.0.0.1\""},
      {"listen: {http: \"::1:3000\"}\n",
       "t.yml:1:16: listen.http: IPv6 addresses need brackets"},
      {"listen: {udp: \"127.0.0.1:99999\"}\n",
       "t.yml:1:15: listen.udp: invalid port"},
      {"listen: {http: \":3000\"}\n", "listen.http: empty host"},
      {"kafka:\n  bootstrap_servers: \"a:1,b\"\n",
       "t.yml:2:22: kafka.bootstrap_servers: missing port (expected "
       "host:port) in \"b\""},
      {"kafka: {bootstrap_servers: \"a:0\"}\n",
       "kafka.bootstrap_servers: invalid port (expected 1-65535) in \"a:0\""},
      {"kafka: {bootstrap_servers: \"\"}\n",
       "kafka.bootstrap_servers: expected host:port"},
      {"projects: {upstream: {url: \"ftp://x\"}}\n",
       "projects.upstream.url: expected a URL like http://127.0.0.1:9000 "
       "(scheme must be http), got \"ftp://x\""},
      {"projects: {upstream: {url: \"https://x\"}}\n",
       "projects.upstream.url: expected a URL like http://127.0.0.1:9000 "
       "(https is not supported yet: use http on a trusted network)"},
      {"projects: {upstream: {url: \"http://x/?a=1\"}}\n",
       "projects.upstream.url: expected a URL"},
      {"projects: {upstream: {url: \"http://u:p@x\"}}\n",
       "projects.upstream.url: expected a URL"},
      {"projects: {upstream: {url: \"http://:80\"}}\n",
       "projects.upstream.url: expected a URL"},
      // Enums.
      {"unknown_items: keep\n",
       "t.yml:1:16: unknown_items: expected one of forward, drop, got "
       "\"keep\""},
      {"kafka: {producer: {compression: brotli}}\n",
       "kafka.producer.compression: expected one of none, gzip, snappy, lz4, "
       "zstd, got \"brotli\""},
      {"logging: {level: verbose}\n",
       "t.yml:1:18: logging.level: expected one of trace, debug, info"},
      {"logging: {format: xml}\n",
       "logging.format: expected one of text, json, got \"xml\""},
      // Topics.
      {"kafka: {topics: {events: \"bad topic\"}}\n",
       "t.yml:1:26: kafka.topics.events: expected a Kafka topic name"},
      {"kafka: {topics: {outcomes: \"\"}}\n",
       "kafka.topics.outcomes: expected a Kafka topic name"},
      // Checks across keys.
      {"kafka:\n  producer:\n    queue_low_watermark: 200000\n",
       "t.yml:3:5: kafka.producer.queue_low_watermark: queue_low_watermark "
       "(200000) must be below queue_high_watermark (100000)"},
      {"kafka:\n  producer:\n    queue_high_watermark: 10\n",
       "t.yml:3:5: kafka.producer.queue_high_watermark: queue_low_watermark "
       "(50000) must be below queue_high_watermark (10)"},
      {"kafka:\n  producer:\n    queue_high_watermark: 10\n"
       "    queue_low_watermark: 10\n",
       "t.yml:4:5: kafka.producer.queue_low_watermark: "},
      {"kafka: {producer: {queue_high_watermark: 0}}\n",
       "kafka.producer.queue_high_watermark: must be between 1"},
      {"kafka:\n  producer:\n    extra:\n      linger.ms: 100\n",
       "t.yml:4:7: kafka.producer.extra.linger.ms: set by a kafka key of its "
       "own"},
      {"kafka: {producer: {extra: {bootstrap.servers: \"x:1\"}}}\n",
       "kafka.producer.extra.bootstrap.servers: set by a kafka key"},
      {"kafka: {producer: {linger_ms: 900001}}\n",
       "kafka.producer.linger_ms: must be between 0 and 900000"},
      {"limits:\n  max_event_size: 200MiB\n",
       "t.yml:2:3: limits.max_event_size: max_event_size (209715200) must not "
       "exceed max_envelope_size (104857600)"},
      {"limits:\n  max_envelope_size: 512KiB\n",
       "t.yml:1:1: limits.max_event_size: max_event_size (1048576) must not "
       "exceed max_envelope_size (524288)"},
      {"limits:\n  max_attachment_size: 1GiB\n",
       "t.yml:2:3: limits.max_attachment_size: max_attachment_size "
       "(1073741824) must not exceed"},
      {"projects:\n  file: \"\"\n",
       "t.yml:1:1: projects: no project source: set projects.file, "
       "projects.upstream.url, or both"},
      {"projects:\n  file: null\n  upstream: {url: null}\n",
       "projects: no project source"},
      // YAML itself.
      {"listen:\n  http: \"127.0.0.1:3000\n", "t.yml:2:"},
      {"limits: {max_headers: 1\nworkers: 2\n", "t.yml:"},
      {"workers: 1\nworkers: 2\n", "t.yml:2:1: duplicate key \"workers\""},
      {"a: 1\n---\nb: 2\n", "single YAML document"},
  };
  for (const ErrorCase& c : cases) {
    absl::StatusOr<RelayConfig> got = ParseRelayConfig(c.yaml, "t.yml");
    ASSERT_FALSE(got.ok()) << c.yaml;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(got.status().message());
    if (c.want.starts_with("t.yml")) {
      EXPECT_THAT(message, StartsWith(std::string(c.want))) << c.yaml;
    } else {
      EXPECT_THAT(message, StartsWith("t.yml:")) << c.yaml;
      EXPECT_THAT(message, HasSubstr(std::string(c.want))) << c.yaml;
    }
  }
}

TEST(RelayConfig, SyntaxErrorReportsItsLine) {
  absl::StatusOr<RelayConfig> got =
      ParseRelayConfig("workers: 1\nlimits:\n  max_headers: [1, 2\n", "t.yml");
  ASSERT_FALSE(got.ok());
  // yaml-cpp notices the unclosed flow sequence at the end of the input.
  EXPECT_THAT(std::string(got.status().message()), StartsWith("t.yml:"));
  absl::StatusOr<RelayConfig> tab =
      ParseRelayConfig("workers: 1\nlimits:\n\tmax_headers: 2\n", "t.yml");
  ASSERT_FALSE(tab.ok());
  EXPECT_THAT(std::string(tab.status().message()), StartsWith("t.yml:3:"));
}

TEST(RelayConfig, LoadNamesTheFileInErrors) {
  absl::StatusOr<RelayConfig> missing =
      LoadRelayConfig("/nonexistent/relay.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("/nonexistent/relay.yml"));
}

TEST(RelayConfig, EnumNames) {
  EXPECT_EQ(UnknownItemsName(UnknownItems::kForward), "forward");
  EXPECT_EQ(UnknownItemsName(UnknownItems::kDrop), "drop");
  EXPECT_EQ(LogFormatName(LogFormat::kText), "text");
  EXPECT_EQ(LogFormatName(LogFormat::kJson), "json");
}

}  // namespace
}  // namespace tern::config
