// The backend's storage contract: what tern-backend keeps and how it asks
// for it, independent of the database underneath.
//
// Two implementations sit behind this interface: SQLite (the embedded
// default: one file, WAL) and PostgreSQL (libpq), chosen by OpenStore from
// the store DSN in config/backend.yml. Both pass the same contract tests
// (store_contract_test.cc), so the consumer, the API and the CLI never know
// which one they talk to.
//
// Writes come in batches from the Kafka consumer: WriteBatch applies a whole
// batch in one transaction, together with the Kafka offsets the batch ends
// at, so a batch is either stored with its offsets or not at all. Replaying
// a batch (after a crash between the store's commit and Kafka's) changes
// nothing: events are unique per (project, event_id) and an event that is
// already stored counts nothing again; the consumer also skips messages below
// the stored offsets, which keeps session counts exact.
//
// Every method is thread-safe (the consumer thread writes while API threads
// read). Errors: NotFound for a missing project/issue/event/key,
// InvalidArgument for a bad argument, Unavailable when the database cannot be
// reached or is busy (the caller retries with backoff), Internal otherwise.
// No argument is ever spliced into SQL text: every value is a bound parameter.
#ifndef TERN_BACKEND_STORAGE_STORE_H_
#define TERN_BACKEND_STORAGE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tern::storage {

enum class IssueStatus : uint8_t { kUnresolved, kResolved, kIgnored };
// "unresolved", "resolved", "ignored".
std::string_view IssueStatusName(IssueStatus status);
// The inverse of IssueStatusName; nullopt for anything else.
std::optional<IssueStatus> ParseIssueStatus(std::string_view name);

struct Project {
  int64_t id = 0;
  std::string name;
  std::string slug;  // lowercase name, [a-z0-9-]; unique
  int64_t created_ms = 0;
  // Server-side grouping rules in Sentry's text syntax, "" for none:
  // fingerprinting rules (Sentry's sentry:fingerprinting_rules) and
  // stack-trace rules (sentry:grouping_enhancements). The store keeps the
  // text as given; backend/api validates it first (docs/grouping.md).
  std::string fingerprinting_rules;
  std::string stacktrace_rules;
};

struct ProjectKey {
  int64_t id = 0;          // numeric key id (outcomes' key_id)
  std::string public_key;  // 32 lowercase hex
  int64_t project_id = 0;
  bool active = true;
  int64_t created_ms = 0;
  // Per-key settings as a JSON object, "{}" when none. Relays read it through
  // POST /api/0/relays/projectconfigs/: {"quotas": [...], "allowedOrigins":
  // [...]} in the shape of protocol/project_config.h.
  std::string settings_json = "{}";
};

// What a new issue is created with (the grouping code derives it from the
// event that opens the issue).
struct IssueFields {
  std::string title;
  std::string culprit;
  std::string level;  // "error", "warning", ...
  std::string metadata_type;
  std::string metadata_value;
  std::string metadata_filename;
  std::string metadata_function;
};

struct Attachment {
  std::string attachment_id;
  std::string name;
  std::string content_type;
  std::string attachment_type;  // "event.attachment", "event.minidump", ...
  std::string data;
};

// One event of a batch, already grouped.
struct EventRecord {
  int64_t project_id = 0;
  std::string event_id;  // 32 lowercase hex
  // Transactions are stored and counted but open no issue; `hashes` is
  // empty for them and issue_id stays null.
  bool is_transaction = false;
  // The grouping hashes in assignment order (app first, system last); at
  // least one for an error event. The event joins the issue of the first
  // hash already linked; a new issue links all of them.
  std::vector<std::string> hashes;
  IssueFields issue;  // used only when the event opens a new issue
  int64_t received_ms = 0;
  int64_t timestamp_ms = 0;
  std::string level;
  std::string release;
  std::string environment;
  std::string platform;
  std::string tags_json = "[]";  // JSON array of ["key","value"] pairs
  // grouping::EventFacts::user_key ("id:42", "ip:10.0.0.1"; "" for none),
  // for alert rules that count distinct users.
  std::string user_key;
  std::string payload;  // the event JSON; stored zstd-compressed
  std::vector<Attachment> attachments;
};

// Session counts to add to one (project, release, environment, hour) row.
struct SessionDelta {
  int64_t project_id = 0;
  std::string release;
  std::string environment;
  int64_t hour_s = 0;  // unix seconds, a multiple of 3600
  int64_t started = 0;
  int64_t healthy = 0;
  int64_t errored = 0;
  int64_t crashed = 0;
  int64_t abnormal = 0;
};

// The next offset to read on one partition, stored with the batch.
struct PartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;
};

struct Batch {
  std::vector<EventRecord> events;
  std::vector<SessionDelta> sessions;
  std::vector<PartitionOffset> offsets;
};

struct BatchResult {
  int64_t events_stored = 0;  // newly inserted (transactions included)
  int64_t duplicates = 0;     // already stored, ignored
  int64_t issues_created = 0;
  int64_t regressions = 0;  // resolved issues reopened by a new event
};

struct Issue {
  int64_t id = 0;
  int64_t project_id = 0;
  int64_t short_id = 0;  // 1, 2, ... per project; the API shows SLUG-<n>
  IssueFields fields;
  IssueStatus status = IssueStatus::kUnresolved;
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  int64_t times_seen = 0;
};

enum class IssueSort : uint8_t { kLastSeen, kFirstSeen, kCount };

// Keyset pagination: the position after the last issue of a page, (the
// sort key's value, id), both descending.
struct IssueCursor {
  int64_t sort_value = 0;
  int64_t id = 0;
};

struct IssueQuery {
  int64_t project_id = 0;
  std::optional<IssueStatus> status;  // nullopt: every status
  std::string text;  // case-insensitive substring of title or culprit
  IssueSort sort = IssueSort::kLastSeen;
  std::optional<IssueCursor> cursor;
  int limit = 25;  // 1..100
};

struct IssuePage {
  std::vector<Issue> issues;
  std::optional<IssueCursor> next;  // set when more issues follow
};

struct EventSummary {
  int64_t project_id = 0;
  std::string event_id;
  std::optional<int64_t> issue_id;
  int64_t received_ms = 0;
  int64_t timestamp_ms = 0;
  std::string level;
  std::string release;
  std::string environment;
  std::string platform;
  std::string tags_json;
};

// Events of an issue newest first: the position after the last one shown.
struct EventCursor {
  int64_t received_ms = 0;
  std::string event_id;
};

struct EventPage {
  std::vector<EventSummary> events;
  std::optional<EventCursor> next;
};

struct AttachmentInfo {
  std::string attachment_id;
  std::string name;
  std::string content_type;
  std::string attachment_type;
  int64_t size = 0;
};

struct StoredEvent {
  EventSummary summary;
  std::string payload;  // decompressed event JSON
  std::vector<AttachmentInfo> attachments;
};

struct SessionRow {
  std::string release;
  std::string environment;
  int64_t hour_s = 0;
  int64_t started = 0;
  int64_t healthy = 0;
  int64_t errored = 0;
  int64_t crashed = 0;
  int64_t abnormal = 0;
};

// --- alerts (backend/alerts evaluates rules; the store keeps them and the
// outbox, and runs the rules inside WriteBatch's transaction) ---

// What one batch did to one issue: the facts alert rules are evaluated on.
struct IssueActivity {
  int64_t project_id = 0;
  int64_t issue_id = 0;
  bool created = false;    // the batch opened the issue
  bool regressed = false;  // the batch reopened the issue (it was resolved)
  int64_t events = 0;      // events of the issue the batch inserted
  // The newest of those events (by received time).
  int64_t last_received_ms = 0;
  std::string event_id;
  std::string level;
  std::string environment;
  std::string release;
};

// A project's alert rule. The store keeps `definition_json` as given (a
// JSON object; backend/alerts/rule.h says what it holds).
struct AlertRule {
  int64_t id = 0;
  int64_t project_id = 0;
  std::string definition_json = "{}";
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// pending: waits for its next attempt; sending: claimed by a sender until
// next_attempt_ms (a crashed sender's claim runs out and the row is claimed
// again); sent, failed: final; suppressed: over the project's hourly cap,
// never sent itself, counted in the hour's summary.
enum class OutboxStatus : uint8_t {
  kPending,
  kSending,
  kSent,
  kFailed,
  kSuppressed
};
// "pending", "sending", "sent", "failed", "suppressed".
std::string_view OutboxStatusName(OutboxStatus status);
std::optional<OutboxStatus> ParseOutboxStatus(std::string_view name);

// One notification to one target.
struct OutboxEntry {
  int64_t id = 0;
  int64_t project_id = 0;
  int64_t rule_id = 0;   // 0: none
  int64_t issue_id = 0;  // 0: none (an hourly summary)
  // Unique: (rule, issue, trigger window, target). A second insert of the
  // same key is ignored, so a replayed or concurrent evaluation cannot
  // queue the same notification twice.
  std::string dedup_key;
  std::string trigger;       // new_issue, regression, frequency, summary
  std::string target_kind;   // email, webhook, slack, dingtalk, feishu
  std::string target_json;   // the rule's target object, as the rule has it
  int64_t target_index = 0;  // the target's place in its rule (0: first)
  std::string event_id;      // the triggering event, "" for a summary
  OutboxStatus status = OutboxStatus::kPending;
  int64_t attempts = 0;
  int64_t next_attempt_ms = 0;
  std::string last_error;
  int64_t created_ms = 0;
  int64_t sent_ms = 0;  // 0 until sent
};

struct OutboxQuery {
  int64_t project_id = 0;  // 0: every project
  int64_t issue_id = 0;    // 0: every issue
  std::optional<OutboxStatus> status;
  int64_t since_ms = 0;          // created >= since_ms
  int64_t until_ms = INT64_MAX;  // created < until_ms
  int limit = 50;                // 1..100; newest first
};

struct OutboxDepth {
  int64_t depth = 0;              // rows pending or sending
  int64_t oldest_created_ms = 0;  // the oldest of them; 0 when none
};

// The reads an AlertPlanner makes inside WriteBatch's transaction (so they
// see the batch's own events and what other backends committed before).
class AlertReader {
 public:
  virtual ~AlertReader() = default;
  // The rules of a project, by id.
  virtual absl::StatusOr<std::vector<AlertRule>> Rules(int64_t project_id) = 0;
  // Events of an issue received at or after since_ms, counted up to `cap`
  // (the answer is min(count, cap), so the query stays bounded).
  virtual absl::StatusOr<int64_t> CountIssueEvents(int64_t issue_id,
                                                   int64_t since_ms,
                                                   int64_t cap) = 0;
  // Distinct non-empty user_keys among those events, counted up to `cap`.
  virtual absl::StatusOr<int64_t> CountIssueUsers(int64_t issue_id,
                                                  int64_t since_ms,
                                                  int64_t cap) = 0;
  // created_ms of the newest outbox row of (rule, issue) that was not
  // suppressed; nullopt when there is none.
  virtual absl::StatusOr<std::optional<int64_t>> LastNotified(
      int64_t rule_id, int64_t issue_id) = 0;
  // Notifications of a project (first targets only, summaries and
  // suppressed rows excluded) created at or after since_ms.
  virtual absl::StatusOr<int64_t> CountNotified(int64_t project_id,
                                                int64_t since_ms) = 0;
};

// Turns a batch's issue activity into outbox rows (backend/alerts).
class AlertPlanner {
 public:
  virtual ~AlertPlanner() = default;
  // Called inside WriteBatch's transaction, after the batch's events and
  // issue counters are written, with every issue the batch inserted events
  // for. The rows returned are inserted in the same transaction (a row whose
  // dedup_key exists is skipped), so they commit or roll back with the
  // batch. An error fails the batch (the consumer retries it).
  virtual absl::StatusOr<std::vector<OutboxEntry>> Plan(
      std::span<const IssueActivity> activity, AlertReader& reader) = 0;
};

// --- releases and source maps (docs/sourcemaps.md) ---

// An API token for sentry-cli (`tern-backend token create`). Only its
// SHA-1 is stored (the token is 256 random bits, so a fast hash is enough);
// the token itself is shown once, at creation.
struct ApiToken {
  int64_t id = 0;
  std::string name;
  std::string scopes;  // space-separated, e.g. "project:releases"
  int64_t created_ms = 0;
};

// One file of an uploaded artifact bundle, or one legacy release file.
struct ArtifactFile {
  int64_t id = 0;         // assigned by the store
  std::string path;       // entry in the bundle's zip; "" for a release file
  std::string type;       // "minified_source", "source_map", ...; "" if unknown
  std::string url;        // "~/app.min.js" or a full URL
  std::string debug_id;   // normalized; may be ""
  std::string sourcemap;  // the file's "sourcemap" header; may be ""
};

// An artifact bundle as assembled from its chunks, with the files of its
// manifest (the API reads the manifest; the store only indexes the rows).
struct ArtifactBundle {
  int64_t project_id = 0;
  std::string checksum;  // SHA-1 of `data`, 40 hex digits
  std::string debug_id;  // the bundle's own; may be ""
  std::string release;   // "" unless uploaded for a release
  std::string dist;
  std::string data;  // the zip
  std::vector<ArtifactFile> files;
};

// A release of a project (sentry-cli `releases new` / `finalize`, or an
// upload for a version).
struct Release {
  std::string version;
  int64_t created_ms = 0;
  std::optional<int64_t> finalized_ms;
};

// A stored artifact's bytes: the file itself (release file) or the bundle's
// zip with the entry to read from it.
struct ArtifactBlob {
  std::string data;
  std::string path;  // "" when `data` is the file itself
};

// The store's part for releases and source maps: a separate interface so
// the upload API and the symbolicator depend on no more than this; every
// Store is one. Thread-safe like Store. Both real stores implement every
// method; a Store that keeps no artifacts (a test double) inherits these
// defaults, which answer Unimplemented.
class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;
  // Stores a token by its hash (40 hex digits). AlreadyExists for a hash
  // already stored.
  virtual absl::StatusOr<ApiToken> CreateApiToken(std::string_view token_hash,
                                                  std::string_view name,
                                                  std::string_view scopes) {
    return absl::UnimplementedError("no artifact storage");
  }
  // NotFound when no token has this hash.
  virtual absl::StatusOr<ApiToken> FindApiToken(std::string_view token_hash) {
    return absl::UnimplementedError("no artifact storage");
  }

  // Upload chunks, keyed by their SHA-1 (40 lowercase hex). Storing a chunk
  // that exists keeps the old row (same checksum, same bytes).
  virtual absl::Status PutChunk(std::string_view checksum,
                                std::string_view data) {
    return absl::UnimplementedError("no artifact storage");
  }
  // The checksums of `checksums` that are not stored, in their order.
  virtual absl::StatusOr<std::vector<std::string>> MissingChunks(
      const std::vector<std::string>& checksums) {
    return absl::UnimplementedError("no artifact storage");
  }
  // NotFound when the chunk is not stored.
  virtual absl::StatusOr<std::string> GetChunk(std::string_view checksum) {
    return absl::UnimplementedError("no artifact storage");
  }

  // Stores a bundle and indexes its files. False (and nothing changed) when
  // the project already has a bundle with this checksum. NotFound for an
  // unknown project.
  virtual absl::StatusOr<bool> PutArtifactBundle(const ArtifactBundle& bundle) {
    return absl::UnimplementedError("no artifact storage");
  }
  virtual absl::StatusOr<bool> HasArtifactBundle(int64_t project_id,
                                                 std::string_view checksum) {
    return absl::UnimplementedError("no artifact storage");
  }

  // Creates the release if absent; `finalized_ms` set marks it finalized.
  // NotFound for an unknown project.
  virtual absl::Status UpsertRelease(int64_t project_id,
                                     std::string_view version,
                                     std::optional<int64_t> finalized_ms) {
    return absl::UnimplementedError("no artifact storage");
  }
  // The release `version` of the project; nullopt when there is none.
  virtual absl::StatusOr<std::optional<Release>> GetRelease(
      int64_t project_id, std::string_view version) {
    return absl::UnimplementedError("no artifact storage");
  }
  // A legacy release file (POST .../releases/{version}/files/): `file.url`
  // is its name. AlreadyExists when the release has a file of that name and
  // dist; the release is created if absent.
  virtual absl::StatusOr<int64_t> PutReleaseFile(int64_t project_id,
                                                 std::string_view release,
                                                 std::string_view dist,
                                                 const ArtifactFile& file,
                                                 std::string_view data) {
    return absl::UnimplementedError("no artifact storage");
  }

  // The project's files with `debug_id` and `type`, newest upload first.
  virtual absl::StatusOr<std::vector<ArtifactFile>> FindArtifactsByDebugId(
      int64_t project_id, std::string_view debug_id, std::string_view type) {
    return absl::UnimplementedError("no artifact storage");
  }
  // The newest file stored under the first of `urls` that has one, for
  // (release, dist): release files and bundles uploaded for the release.
  virtual absl::StatusOr<std::optional<ArtifactFile>> FindArtifactByUrl(
      int64_t project_id, std::string_view release, std::string_view dist,
      const std::vector<std::string>& urls) {
    return absl::UnimplementedError("no artifact storage");
  }
  // NotFound when the file is gone (retention) or is not the project's.
  virtual absl::StatusOr<ArtifactBlob> LoadArtifact(int64_t project_id,
                                                    int64_t file_id) {
    return absl::UnimplementedError("no artifact storage");
  }
  // Retention: deletes up to `limit` bundles and release files uploaded
  // before `cutoff_ms` (with their index rows), and chunks older than it;
  // returns how many rows went. The caller loops until 0.
  virtual absl::StatusOr<int64_t> DeleteArtifactsBefore(int64_t cutoff_ms,
                                                        int limit) {
    return absl::UnimplementedError("no artifact storage");
  }
};

class Store : public ArtifactStore {
 public:
  virtual ~Store() = default;

  // --- written by the consumer ---

  // Applies the batch and stores its offsets in one transaction. Events are
  // assigned to issues with one lookup of all the batch's hashes; an event
  // already stored (same project and event_id) changes nothing. A new event
  // updates its issue's last_seen, times_seen and reopens it if it was
  // resolved (a regression). An event whose project does not exist fails the
  // whole batch with NotFound naming it (the consumer checks projects first).
  virtual absl::StatusOr<BatchResult> WriteBatch(const Batch& batch) = 0;

  // The offsets stored by WriteBatch, for every partition ever written.
  virtual absl::StatusOr<std::vector<PartitionOffset>> LoadOffsets() = 0;

  // --- projects and keys (CLI, projectconfigs) ---

  // Creates a project named `name` (1..64 chars) with a fresh random key.
  // AlreadyExists when the slug is taken.
  virtual absl::StatusOr<std::pair<Project, ProjectKey>> CreateProject(
      std::string_view name) = 0;
  virtual absl::StatusOr<std::vector<Project>> ListProjects() = 0;
  // By id or by slug; NotFound otherwise.
  virtual absl::StatusOr<Project> GetProject(int64_t id) = 0;
  virtual absl::StatusOr<Project> GetProjectBySlug(std::string_view slug) = 0;
  // Every key of a project (project_id > 0) or of all projects (0).
  virtual absl::StatusOr<std::vector<ProjectKey>> ListKeys(
      int64_t project_id) = 0;
  // The keys among `public_keys` that exist (active or not), in any order.
  virtual absl::StatusOr<std::vector<ProjectKey>> GetKeys(
      std::span<const std::string> public_keys) = 0;
  // NotFound for an unknown key.
  virtual absl::Status SetKeyActive(std::string_view public_key,
                                    bool active) = 0;
  // Replaces a key's settings_json with `settings_json`, stored as given.
  // InvalidArgument when it is not a JSON object (checked with
  // protocol::ParseJson before the database is touched); NotFound for an
  // unknown key. What the settings mean (quotas, allowed origins) is the
  // API's business (backend/api ProjectConfigFor), not the store's.
  // Replaces the project's grouping rules (see Project); NotFound for an
  // unknown project. Consumers pick the change up on their next project
  // refresh (backend/consumer).
  virtual absl::Status SetProjectRules(int64_t project_id,
                                       std::string_view fingerprinting_rules,
                                       std::string_view stacktrace_rules) = 0;
  virtual absl::Status SetKeySettings(std::string_view public_key,
                                      std::string_view settings_json) = 0;

  // --- issues and events (API) ---

  virtual absl::StatusOr<IssuePage> ListIssues(const IssueQuery& query) = 0;
  virtual absl::StatusOr<Issue> GetIssue(int64_t issue_id) = 0;
  virtual absl::Status SetIssueStatus(int64_t issue_id, IssueStatus status) = 0;
  virtual absl::StatusOr<EventPage> ListIssueEvents(
      int64_t issue_id, const std::optional<EventCursor>& cursor,
      int limit) = 0;
  // The newest event of an issue (by received time, then event id).
  virtual absl::StatusOr<StoredEvent> GetLatestEvent(int64_t issue_id) = 0;
  virtual absl::StatusOr<StoredEvent> GetEvent(int64_t project_id,
                                               std::string_view event_id) = 0;
  // One attachment of an event, with its data; NotFound when the event or
  // the attachment is not stored (any more).
  virtual absl::StatusOr<Attachment> GetAttachment(
      int64_t project_id, std::string_view event_id,
      std::string_view attachment_id) = 0;
  // Events of an issue per bucket since `since_ms`: counts[i] is the number
  // of events received in [since_ms + i*bucket_ms, since_ms + (i+1)*bucket_ms).
  virtual absl::StatusOr<std::vector<int64_t>> IssueHistogram(int64_t issue_id,
                                                              int64_t since_ms,
                                                              int64_t bucket_ms,
                                                              int buckets) = 0;
  // Session rows of a project with hour_s >= since_s, by hour then release.
  virtual absl::StatusOr<std::vector<SessionRow>> ListSessions(
      int64_t project_id, int64_t since_s) = 0;

  // --- alerts ---

  // Makes WriteBatch run `planner` in its transaction (nullptr: none, the
  // default). Set before the consumer starts; `planner` outlives the store's
  // use of it.
  virtual void SetAlertPlanner(AlertPlanner* planner) = 0;

  // Rules of a project (project_id > 0) or of all projects (0), by id.
  virtual absl::StatusOr<std::vector<AlertRule>> ListAlertRules(
      int64_t project_id) = 0;
  virtual absl::StatusOr<AlertRule> GetAlertRule(int64_t rule_id) = 0;
  // Stores a new rule (id and times set here). InvalidArgument unless
  // definition_json is a JSON object; NotFound for an unknown project.
  virtual absl::StatusOr<AlertRule> CreateAlertRule(
      int64_t project_id, std::string_view definition_json) = 0;
  // Replaces a rule's definition. NotFound for an unknown rule.
  virtual absl::StatusOr<AlertRule> UpdateAlertRule(
      int64_t rule_id, std::string_view definition_json) = 0;
  // NotFound for an unknown rule. Its outbox rows stay (history).
  virtual absl::Status DeleteAlertRule(int64_t rule_id) = 0;

  // Claims up to `limit` rows that are due (pending, or sending with a claim
  // that ran out, next_attempt_ms <= now_ms), oldest first: each becomes
  // sending with next_attempt_ms = now_ms + lease_ms and attempts + 1. Two
  // backends on one PostgreSQL never claim the same row (FOR UPDATE SKIP
  // LOCKED); SQLite has one writer.
  virtual absl::StatusOr<std::vector<OutboxEntry>> ClaimOutbox(int64_t now_ms,
                                                               int64_t lease_ms,
                                                               int limit) = 0;
  // Records the outcome of an attempt: sent (sent_ms = now), pending again
  // at next_attempt_ms (a retry), or failed; `error` is kept as last_error.
  virtual absl::Status FinishOutbox(int64_t id, OutboxStatus status,
                                    int64_t next_attempt_ms,
                                    std::string_view error) = 0;
  virtual absl::StatusOr<std::vector<OutboxEntry>> ListOutbox(
      const OutboxQuery& query) = 0;
  virtual absl::StatusOr<OutboxDepth> GetOutboxDepth() = 0;

  // --- retention ---

  // Deletes up to `limit` events received before `cutoff_ms` (with their
  // attachments) and returns how many it deleted; the caller loops until 0,
  // so no transaction grows with the table.
  virtual absl::StatusOr<int64_t> DeleteEventsBefore(int64_t cutoff_ms,
                                                     int limit) = 0;
  // Deletes up to `limit` issues that have no event left (with their
  // grouphashes) and returns how many.
  virtual absl::StatusOr<int64_t> DeleteEmptyIssues(int limit) = 0;
  // Deletes up to `limit` outbox rows in a final state (sent, failed,
  // suppressed) created before `cutoff_ms` and returns how many; pending and
  // sending rows are kept whatever their age.
  virtual absl::StatusOr<int64_t> DeleteOutboxBefore(int64_t cutoff_ms,
                                                     int limit) = 0;
};

// Opens (and creates or migrates) the store named by `dsn`:
//   "sqlite:PATH" or a plain path   → SQLite at PATH (WAL, created if absent)
//   "postgresql://..." / "postgres://..." → PostgreSQL (libpq connection URI)
// Schema migrations are applied before it returns. InvalidArgument for an
// unknown scheme, Unavailable when the server cannot be reached.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view dsn);

}  // namespace tern::storage

#endif  // TERN_BACKEND_STORAGE_STORE_H_
