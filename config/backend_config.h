// tern-backend's configuration (config/backend.yml): every key, its default,
// and the loader that validates a file into a BackendConfig.
//
// As for the relay, the struct IS the schema: each initializer is the default
// used when the key is absent, and config/backend.yml lists the same values
// (a test loads the example and compares it with these defaults). Loading is
// strict: unknown keys, wrong types and out-of-range values are errors
// "file:line:column: key.path: reason".
#ifndef TERN_CONFIG_BACKEND_CONFIG_H_
#define TERN_CONFIG_BACKEND_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/fields.h"
#include "config/values.h"

namespace tern::config {

struct BackendListenConfig {
  // API and web UI. Port 0 asks the kernel for a free port (tests).
  HostPort http{"127.0.0.1", 9000};
};

struct BackendStoreConfig {
  // "sqlite:PATH" (the embedded default; a relative path is taken from the
  // working directory) or a libpq URI "postgresql://user@host:port/db".
  std::string dsn = "sqlite:var/tern.db";
};

struct BackendTopics {
  std::string events = "ingest-events";
  std::string attachments = "ingest-attachments";
  std::string transactions = "ingest-transactions";
  std::string sessions = "ingest-sessions";
  // Messages that cannot be decoded or stored go here, with the reason in a
  // header; empty or null disables the dead-letter topic (they are then
  // only counted and logged).
  std::string dead_letter = "ingest-dead-letter";
};

struct BackendConsumerConfig {
  // Kafka consumer group; every backend of one deployment shares it.
  std::string group_id = "tern-backend";
  // A batch closes at this many messages or after this long, whichever
  // comes first; one store transaction per batch.
  uint64_t batch_max_messages = 2000;
  absl::Duration batch_max_wait = absl::Milliseconds(100);
  // Store failures are retried with exponential backoff up to this delay;
  // the consumer pauses meanwhile and never skips a batch.
  absl::Duration retry_max_backoff = absl::Seconds(5);
  // Extra librdkafka properties, passed as written. bootstrap.servers,
  // group.id and the commit settings the consumer relies on are refused.
  std::map<std::string, std::string> extra;
};

struct BackendKafkaConfig {
  std::string bootstrap_servers = "127.0.0.1:9092";
  BackendTopics topics;
  BackendConsumerConfig consumer;
};

struct BackendAuthConfig {
  // Bearer token of the HTTP API ("Authorization: Bearer <token>").
  // Required: at least 16 characters.
  std::string api_token;
  // Bearer token relays send to POST /api/0/relays/projectconfigs/; empty
  // refuses every relay.
  std::string relay_token;
};

struct BackendRetentionConfig {
  // Events older than this many days are deleted (with their attachments),
  // then issues left without events. 0 keeps everything.
  uint64_t days = 90;
  // How often the cleanup runs inside `tern-backend run`; 0s disables it.
  absl::Duration interval = absl::Hours(1);
  // Rows deleted per statement, so no transaction grows with the table.
  uint64_t batch = 1000;
};

struct BackendUiConfig {
  // Development mode (scripts/dev.sh): the web UI skips its login for
  // requests from 127.0.0.1 and ::1 only (anyone else still logs in), and
  // the backend serves /dev/browser-test and /dev/sdk/. Never on a shared
  // host: every local user gets the UI without the token.
  bool dev_mode = false;
  // Dev mode: a node_modules directory holding @sentry/browser and its
  // dependencies (their ES modules are served under /dev/sdk/). Empty: the
  // test page says the SDK is not installed.
  std::string browser_sdk_dir;
  // Dev mode: the DSN the test page's SDK sends to (a ?dsn= query parameter
  // overrides it).
  std::string browser_test_dsn;
};

struct BackendMailConfig {
  // SMTP server for email alerts; empty disables email targets (their
  // notifications fail with "mail.host is not set").
  std::string host;
  uint64_t port = 25;
  // AUTH (PLAIN or LOGIN, whichever the server offers) when username is set.
  std::string username;
  // The password: given here, or read at start from the file password_file
  // (its first line) or the environment variable password_env. At most one
  // of the three; never logged.
  std::string password;
  std::string password_file;
  std::string password_env;
  // use_tls: STARTTLS, required (the server must offer it). use_ssl:
  // implicit TLS from the first byte (port 465). Not both.
  bool use_tls = false;
  bool use_ssl = false;
  // Envelope sender and From: header.
  std::string from = "tern@localhost";
  // Connect + whole transaction.
  absl::Duration timeout = absl::Seconds(10);
  // PEM file of the CAs that sign the server's certificate; empty: the
  // system's CA store.
  std::string ca_file;
};

struct BackendAlertsConfig {
  // Rules are evaluated and notifications sent; false: neither (the outbox
  // keeps nothing new).
  bool enabled = true;
  // Web address of this backend's UI, for the links in notifications.
  std::string base_url = "http://127.0.0.1:9000";
  // Defaults of a rule that does not set its own (docs/alerts.md).
  absl::Duration cooldown = absl::Minutes(30);
  std::string min_level = "error";
  // Notifications per project per hour; past it they are suppressed and one
  // summary per rule and target says how many at the end of the hour.
  uint64_t project_hourly_cap = 60;
  // How often the sender looks for due notifications.
  absl::Duration poll_interval = absl::Seconds(1);
  // Delivery attempts before a notification is failed; the wait between
  // them doubles from initial_backoff up to max_backoff.
  uint64_t max_attempts = 10;
  absl::Duration initial_backoff = absl::Seconds(10);
  absl::Duration max_backoff = absl::Minutes(10);
  // Connect + request + response of one webhook call.
  absl::Duration webhook_timeout = absl::Seconds(10);
};

// Releases and source maps (docs/sourcemaps.md): the sentry-cli upload API
// and the symbolication of JavaScript events before grouping.
struct BackendSourcemapsConfig {
  // false: the upload API answers 404 and events are not symbolicated.
  bool enabled = true;
  // The organization slug sentry-cli is given (--org); other slugs are 404.
  std::string organization = "tern";
  // An assembled artifact bundle (the zip), a release file, and one file
  // inside a bundle (uncompressed) may not be larger; 413 beyond.
  uint64_t max_bundle_bytes = 256ull << 20;
  uint64_t max_file_bytes = 64ull << 20;
  // Chunk size the CLI is told to use (chunk-upload options); a chunk
  // larger than this is refused with 413.
  uint64_t chunk_size = 8ull << 20;
  // Memory for parsed source maps and minified sources kept between events.
  uint64_t cache_bytes = 256ull << 20;
};

struct BackendConfig {
  BackendListenConfig listen;
  BackendStoreConfig store;
  BackendKafkaConfig kafka;
  BackendAuthConfig auth;
  BackendRetentionConfig retention;
  BackendUiConfig ui;
  BackendMailConfig mail;
  BackendAlertsConfig alerts;
  BackendSourcemapsConfig sourcemaps;
  // host:port of the relay that SDKs send to, used to print DSNs
  // (http://<key>@<relay>/<project id>).
  std::string relay_public_address = "127.0.0.1:3000";
  LoggingConfig logging;
};

// Parses and validates the YAML text of a backend config; `filename` labels
// errors. InvalidArgument "filename:line:column: key.path: reason" for the
// first problem found (including a missing or short auth.api_token).
absl::StatusOr<BackendConfig> ParseBackendConfig(std::string_view yaml,
                                                 std::string_view filename);

// Reads and parses `path`; NotFound / PermissionDenied name the file.
absl::StatusOr<BackendConfig> LoadBackendConfig(const std::string& path);

}  // namespace tern::config

#endif  // TERN_CONFIG_BACKEND_CONFIG_H_
