#include "config/backend_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::config {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "auth:\n  api_token: 0123456789abcdef\n";

absl::StatusOr<BackendConfig> Parse(const std::string& yaml) {
  return ParseBackendConfig(yaml, "backend.yml");
}

std::string ErrorOf(const std::string& yaml) {
  auto config = Parse(yaml);
  if (config.ok()) return "OK";
  return std::string(config.status().message());
}

TEST(BackendConfig, ExampleFileParsesToTheDefaults) {
  auto example =
      LoadBackendConfig(std::string(TERN_SOURCE_DIR) + "/config/backend.yml");
  ASSERT_TRUE(example.ok()) << example.status();
  auto defaults = Parse(std::string("auth:\n  api_token: ") +
                        "change-me-to-a-long-random-secret\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  const BackendConfig& e = *example;
  const BackendConfig& d = *defaults;
  EXPECT_EQ(e.listen.http.host, d.listen.http.host);
  EXPECT_EQ(e.listen.http.port, d.listen.http.port);
  EXPECT_EQ(e.listen.http.port, 9000);
  EXPECT_EQ(e.store.dsn, d.store.dsn);
  EXPECT_EQ(e.kafka.bootstrap_servers, d.kafka.bootstrap_servers);
  EXPECT_EQ(e.kafka.topics.events, d.kafka.topics.events);
  EXPECT_EQ(e.kafka.topics.attachments, d.kafka.topics.attachments);
  EXPECT_EQ(e.kafka.topics.transactions, d.kafka.topics.transactions);
  EXPECT_EQ(e.kafka.topics.sessions, d.kafka.topics.sessions);
  EXPECT_EQ(e.kafka.topics.dead_letter, d.kafka.topics.dead_letter);
  EXPECT_EQ(e.kafka.consumer.group_id, "tern-backend");
  EXPECT_EQ(e.kafka.consumer.batch_max_messages,
            d.kafka.consumer.batch_max_messages);
  EXPECT_EQ(e.kafka.consumer.batch_max_wait, d.kafka.consumer.batch_max_wait);
  EXPECT_EQ(e.kafka.consumer.retry_max_backoff,
            d.kafka.consumer.retry_max_backoff);
  EXPECT_TRUE(e.kafka.consumer.extra.empty());
  EXPECT_EQ(e.auth.relay_token, d.auth.relay_token);
  EXPECT_EQ(e.retention.days, d.retention.days);
  EXPECT_EQ(e.retention.interval, d.retention.interval);
  EXPECT_EQ(e.retention.batch, d.retention.batch);
  EXPECT_EQ(e.ui.dev_mode, d.ui.dev_mode);
  EXPECT_FALSE(e.ui.dev_mode);
  EXPECT_EQ(e.ui.browser_sdk_dir, d.ui.browser_sdk_dir);
  EXPECT_EQ(e.ui.browser_test_dsn, d.ui.browser_test_dsn);
  EXPECT_EQ(e.relay_public_address, d.relay_public_address);
  EXPECT_EQ(e.logging.level, d.logging.level);
  EXPECT_EQ(e.logging.format, d.logging.format);
  EXPECT_EQ(e.mail.host, d.mail.host);
  EXPECT_EQ(e.mail.port, d.mail.port);
  EXPECT_EQ(e.mail.username, d.mail.username);
  EXPECT_EQ(e.mail.password, d.mail.password);
  EXPECT_EQ(e.mail.password_file, d.mail.password_file);
  EXPECT_EQ(e.mail.password_env, d.mail.password_env);
  EXPECT_EQ(e.mail.use_tls, d.mail.use_tls);
  EXPECT_EQ(e.mail.use_ssl, d.mail.use_ssl);
  EXPECT_EQ(e.mail.from, d.mail.from);
  EXPECT_EQ(e.mail.timeout, d.mail.timeout);
  EXPECT_EQ(e.mail.ca_file, d.mail.ca_file);
  EXPECT_EQ(e.alerts.enabled, d.alerts.enabled);
  EXPECT_EQ(e.alerts.base_url, d.alerts.base_url);
  EXPECT_EQ(e.alerts.cooldown, d.alerts.cooldown);
  EXPECT_EQ(e.alerts.min_level, d.alerts.min_level);
  EXPECT_EQ(e.alerts.project_hourly_cap, d.alerts.project_hourly_cap);
  EXPECT_EQ(e.alerts.poll_interval, d.alerts.poll_interval);
  EXPECT_EQ(e.alerts.max_attempts, d.alerts.max_attempts);
  EXPECT_EQ(e.alerts.initial_backoff, d.alerts.initial_backoff);
  EXPECT_EQ(e.alerts.max_backoff, d.alerts.max_backoff);
  EXPECT_EQ(e.alerts.webhook_timeout, d.alerts.webhook_timeout);
}

TEST(BackendConfig, MailChecksTlsPasswordAndFrom) {
  const std::string auth =
      "auth:\n  api_token: change-me-to-a-long-random-secret\n";
  EXPECT_THAT(ErrorOf(auth + "mail:\n  use_tls: true\n  use_ssl: true\n"),
              HasSubstr("mail.use_ssl: use_tls (STARTTLS) and use_ssl"));
  EXPECT_THAT(ErrorOf(auth + "mail:\n  password: a\n  password_env: B\n"),
              HasSubstr("mail.password: set at most one of"));
  EXPECT_THAT(ErrorOf(auth + "mail:\n  from: nobody\n"),
              HasSubstr("mail.from: expected an address"));
  EXPECT_THAT(ErrorOf(auth + "mail:\n  port: 0\n"), HasSubstr("mail.port"));
  EXPECT_THAT(ErrorOf(auth + "alerts:\n  base_url: ftp://x\n"),
              HasSubstr("alerts.base_url: expected an http:// or https://"));
  EXPECT_THAT(ErrorOf(auth + "alerts:\n  min_level: loud\n"),
              HasSubstr("alerts.min_level"));
  EXPECT_EQ(ErrorOf(auth + "mail:\n  host: 127.0.0.1\n  port: 2525\n  "
                           "use_tls: true\n  password_env: TERN_SMTP\n"),
            "OK");
}

TEST(BackendConfig, ApiTokenIsRequiredAndLong) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("auth.api_token: expected a secret of "
                                     "at least 16 characters, got 0"));
  EXPECT_THAT(ErrorOf("auth:\n  api_token: short\n"),
              HasSubstr("backend.yml:2:"));
  EXPECT_THAT(ErrorOf(std::string(kToken) + "  relay_token: abc\n"),
              HasSubstr("auth.relay_token: expected a secret"));
  EXPECT_EQ(ErrorOf(kToken), "OK");
}

TEST(BackendConfig, ReadsEveryKey) {
  auto config =
      Parse(std::string(kToken) + R"(  relay_token: relay-secret-0123456
listen:
  http: "127.0.0.1:0"
store:
  dsn: "postgresql://tern@127.0.0.1:5433/tern"
kafka:
  bootstrap_servers: "127.0.0.1:19092,127.0.0.1:19093"
  topics:
    events: e
    dead_letter: null
  consumer:
    group_id: g
    batch_max_messages: 10
    batch_max_wait: 5ms
    retry_max_backoff: 1s
    extra:
      session.timeout.ms: 6000
retention:
  days: 0
  interval: 0s
  batch: 7
ui:
  dev_mode: true
  browser_sdk_dir: /opt/sdk/node_modules
  browser_test_dsn: "http://k@127.0.0.1:3000/1"
relay_public_address: "relay.example:3000"
logging:
  level: debug
  format: json
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen.http.port, 0);
  EXPECT_EQ(config->store.dsn, "postgresql://tern@127.0.0.1:5433/tern");
  EXPECT_EQ(config->kafka.topics.events, "e");
  EXPECT_EQ(config->kafka.topics.dead_letter, "");
  EXPECT_EQ(config->kafka.consumer.group_id, "g");
  EXPECT_EQ(config->kafka.consumer.batch_max_messages, 10u);
  EXPECT_EQ(config->kafka.consumer.batch_max_wait, absl::Milliseconds(5));
  EXPECT_EQ(config->kafka.consumer.extra.at("session.timeout.ms"), "6000");
  EXPECT_EQ(config->auth.relay_token, "relay-secret-0123456");
  EXPECT_EQ(config->retention.days, 0u);
  EXPECT_EQ(config->retention.interval, absl::ZeroDuration());
  EXPECT_EQ(config->retention.batch, 7u);
  EXPECT_TRUE(config->ui.dev_mode);
  EXPECT_EQ(config->ui.browser_sdk_dir, "/opt/sdk/node_modules");
  EXPECT_EQ(config->ui.browser_test_dsn, "http://k@127.0.0.1:3000/1");
  EXPECT_EQ(config->relay_public_address, "relay.example:3000");
  EXPECT_EQ(config->logging.format, LogFormat::kJson);
}

TEST(BackendConfig, RefusesBadValuesNamingThem) {
  const std::string t = kToken;
  EXPECT_THAT(ErrorOf(t + "store:\n  dsn: mysql://x\n"),
              HasSubstr("store.dsn: expected sqlite:PATH or postgresql://"));
  EXPECT_THAT(ErrorOf(t + "store:\n  dsn: \"sqlite:\"\n"),
              HasSubstr("store.dsn"));
  EXPECT_THAT(ErrorOf(t + "kafka:\n  topics:\n    events: \"a b\"\n"),
              HasSubstr("kafka.topics.events: expected a Kafka topic name"));
  EXPECT_THAT(
      ErrorOf(t + "kafka:\n  consumer:\n    extra:\n      group.id: x\n"),
      HasSubstr("kafka.consumer.extra.group.id: set by the backend itself"));
  EXPECT_THAT(ErrorOf(t + "kafka:\n  consumer:\n    batch_max_messages: 0\n"),
              HasSubstr("kafka.consumer.batch_max_messages"));
  EXPECT_THAT(ErrorOf(t + "listen:\n  http: nope\n"), HasSubstr("listen.http"));
  EXPECT_THAT(ErrorOf(t + "retention:\n  dayz: 3\n"),
              HasSubstr("retention: unknown key \"dayz\""));
  EXPECT_THAT(ErrorOf(t + "relay_public_address: 3000\n"),
              HasSubstr("relay_public_address"));
  EXPECT_THAT(ErrorOf(t + "ui:\n  dev_mode: maybe\n"),
              HasSubstr("ui.dev_mode"));
  EXPECT_THAT(ErrorOf(t + "ui:\n  devmode: true\n"),
              HasSubstr("ui: unknown key \"devmode\""));
  EXPECT_THAT(ErrorOf(t + "logging:\n  level: loud\n"),
              HasSubstr("logging.level"));
}

TEST(BackendConfig, MissingFileIsNamed) {
  auto config = LoadBackendConfig("/nonexistent/backend.yml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("/nonexistent/backend.yml"));
}

}  // namespace
}  // namespace tern::config
