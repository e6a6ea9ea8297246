// The embedded store: one SQLite file in WAL mode, the default of
// tern-backend (no server to run).
//
// Two connections, each behind its own mutex: the writer (the consumer's
// WriteBatch, the CLI, status changes) and the reader (the API). WAL lets the
// reader see the last committed state while the writer is inside a
// transaction, so API requests never wait for a batch. Each connection keeps
// its prepared statements for its whole life. synchronous=NORMAL: a commit is
// durable once the WAL is synced at checkpoint; a power cut can lose the last
// batches, which the consumer then replays from the Kafka offsets stored with
// them (the offsets roll back together with the batches).
//
// Errors as in store.h; SQLITE_BUSY past busy_timeout (another process holds
// the file) and I/O errors are Unavailable.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "backend/storage/store_internal.h"
#include "common/status.h"

namespace tern::storage {
namespace {

using internal::ProjectString;

// Migration i brings the schema from version i to i + 1. Append only: a
// shipped migration never changes. docs/storage.md explains each index.
constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE TABLE projects (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  slug TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL,
  next_short_id INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE keys (
  id INTEGER PRIMARY KEY,
  public_key TEXT NOT NULL UNIQUE,
  project_id INTEGER NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created INTEGER NOT NULL,
  settings TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX keys_project ON keys (project_id);
CREATE TABLE issues (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  short_id INTEGER NOT NULL,
  title TEXT NOT NULL,
  culprit TEXT NOT NULL,
  level TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'unresolved',
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  times_seen INTEGER NOT NULL DEFAULT 0,
  metadata_type TEXT NOT NULL,
  metadata_value TEXT NOT NULL,
  metadata_filename TEXT NOT NULL,
  metadata_function TEXT NOT NULL,
  UNIQUE (project_id, short_id)
);
CREATE INDEX issues_last_seen ON issues (project_id, last_seen DESC, id DESC);
CREATE INDEX issues_first_seen ON issues (project_id, first_seen DESC, id DESC);
CREATE INDEX issues_times_seen ON issues (project_id, times_seen DESC, id DESC);
CREATE TABLE grouphashes (
  project_id INTEGER NOT NULL,
  hash TEXT NOT NULL,
  issue_id INTEGER NOT NULL,
  PRIMARY KEY (project_id, hash)
);
CREATE INDEX grouphashes_issue ON grouphashes (issue_id);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  issue_id INTEGER,
  is_transaction INTEGER NOT NULL,
  received INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  level TEXT NOT NULL,
  release TEXT NOT NULL,
  environment TEXT NOT NULL,
  platform TEXT NOT NULL,
  tags TEXT NOT NULL,
  payload BLOB NOT NULL,
  UNIQUE (project_id, event_id)
);
CREATE INDEX events_issue ON events (issue_id, received DESC, event_id DESC);
CREATE INDEX events_received ON events (received);
CREATE TABLE attachments (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  attachment_id TEXT NOT NULL,
  name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  type TEXT NOT NULL,
  data BLOB NOT NULL,
  UNIQUE (project_id, event_id, attachment_id)
);
CREATE TABLE session_hours (
  project_id INTEGER NOT NULL,
  release TEXT NOT NULL,
  environment TEXT NOT NULL,
  hour INTEGER NOT NULL,
  started INTEGER NOT NULL DEFAULT 0,
  healthy INTEGER NOT NULL DEFAULT 0,
  errored INTEGER NOT NULL DEFAULT 0,
  crashed INTEGER NOT NULL DEFAULT 0,
  abnormal INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, release, environment, hour)
);
CREATE INDEX session_hours_hour ON session_hours (project_id, hour);
CREATE TABLE consumer_offsets (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY (topic, partition)
);
)sql",
    R"sql(
CREATE TABLE alert_rules (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
CREATE INDEX alert_rules_project ON alert_rules (project_id);
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  rule_id INTEGER NOT NULL,
  issue_id INTEGER NOT NULL,
  dedup_key TEXT NOT NULL UNIQUE,
  cause TEXT NOT NULL,
  target_kind TEXT NOT NULL,
  target TEXT NOT NULL,
  target_index INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (status, next_attempt);
CREATE INDEX outbox_rule_issue ON outbox (rule_id, issue_id, created);
CREATE INDEX outbox_project ON outbox (project_id, created);
CREATE INDEX outbox_issue ON outbox (issue_id, created);
ALTER TABLE events ADD COLUMN user_key TEXT NOT NULL DEFAULT '';
)sql",
    R"sql(
ALTER TABLE projects ADD COLUMN fingerprinting_rules TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN stacktrace_rules TEXT NOT NULL DEFAULT '';
)sql",
    R"sql(
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE TABLE upload_chunks (
  checksum TEXT PRIMARY KEY,
  data BLOB NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX upload_chunks_created ON upload_chunks (created);
CREATE TABLE releases (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  version TEXT NOT NULL,
  created INTEGER NOT NULL,
  finalized INTEGER,
  UNIQUE (project_id, version)
);
CREATE TABLE artifact_bundles (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  checksum TEXT NOT NULL,
  debug_id TEXT NOT NULL,
  release TEXT NOT NULL,
  dist TEXT NOT NULL,
  created INTEGER NOT NULL,
  UNIQUE (project_id, checksum)
);
CREATE INDEX artifact_bundles_created ON artifact_bundles (created);
CREATE TABLE artifact_blobs (
  id INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);
CREATE TABLE artifact_files (
  id INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL,
  bundle_id INTEGER,
  blob_id INTEGER NOT NULL,
  path TEXT NOT NULL,
  type TEXT NOT NULL,
  url TEXT NOT NULL,
  debug_id TEXT NOT NULL,
  sourcemap TEXT NOT NULL,
  release TEXT NOT NULL,
  dist TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX artifact_files_debug_id ON artifact_files (project_id, debug_id, type);
CREATE INDEX artifact_files_url ON artifact_files (project_id, release, dist, url);
CREATE INDEX artifact_files_bundle ON artifact_files (bundle_id);
CREATE INDEX artifact_files_blob ON artifact_files (blob_id);
CREATE INDEX artifact_files_created ON artifact_files (created);
)sql",
};

absl::Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = absl::StrCat("sqlite: ", ToAbsl(what), ": ",
                                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return absl::UnavailableError(msg);
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// A BLOB parameter (a string binds as TEXT).
struct Blob {
  std::string_view bytes;
};

// A cached prepared statement in use: reset (and unbound) when it goes out
// of scope so the next user starts clean.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, Blob v) {
    sqlite3_bind_blob(stmt_, i, v.bytes.data(),
                      static_cast<int>(v.bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, std::optional<int64_t> v) {
    if (v) return Bind(i, *v);
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // Binds `args` to the parameters 1, 2, ... in order.
  template <typename... Args>
  Stmt& BindAll(const Args&... args) {
    [[maybe_unused]] int i = 0;  // unused for a statement without parameters
    (Bind(++i, args), ...);
    return *this;
  }

  // True while there is a row.
  absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, sqlite3_sql(stmt_));
  }
  // Runs a statement that returns no row; the number of rows it changed.
  absl::StatusOr<int64_t> Run() {
    TERN_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    return sqlite3_changes64(db_);
  }
  // Calls `f(*this)` on each row; stops at the first error.
  template <typename F>
  absl::Status ForEach(F f) {
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return absl::OkStatus();
      f(*this);
    }
  }
  // Every row, each read by `read(*this)`.
  template <typename Read>
  auto ReadAll(Read read)
      -> absl::StatusOr<std::vector<decltype(read(*this))>> {
    std::vector<decltype(read(*this))> out;
    TERN_RETURN_IF_ERROR(ForEach([&](Stmt& s) { out.push_back(read(s)); }));
    return out;
  }

  // The current row (the Row of store_internal.h).
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool Bool(int col) const { return Int(col) != 0; }
  bool IsNull(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
  }
  std::string Bytes(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One connection and its statement cache. Callers hold mu().
class Connection {
 public:
  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& path) {
    auto c = std::unique_ptr<Connection>(new Connection());
    int rc = sqlite3_open_v2(
        path.c_str(), &c->db_,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        nullptr);
    if (rc != SQLITE_OK) {
      absl::Status s = SqliteError(c->db_, rc, absl::StrCat("open ", path));
      return absl::UnavailableError(s.message());
    }
    sqlite3_extended_result_codes(c->db_, 1);
    // The busy timeout first: switching to WAL needs a lock of its own.
    TERN_RETURN_IF_ERROR(c->RunScript("PRAGMA busy_timeout = 5000"));
    TERN_RETURN_IF_ERROR(c->RunScript("PRAGMA journal_mode = WAL"));
    TERN_RETURN_IF_ERROR(c->RunScript("PRAGMA synchronous = NORMAL"));
    return c;
  }

  // Statements without parameters, not cached (pragmas, migrations).
  absl::Status RunScript(std::string_view sql) {
    std::string s(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      absl::Status st = SqliteError(db_, rc, err ? err : "exec");
      sqlite3_free(err);
      return st;
    }
    return absl::OkStatus();
  }

  // The cached statement for `sql` (prepared on first use).
  absl::StatusOr<std::unique_ptr<Stmt>> Prepare(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      sqlite3_stmt* stmt = nullptr;
      int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, sql);
      it = cache_.emplace(std::string(sql), stmt).first;
    }
    return std::make_unique<Stmt>(db_, it->second);
  }
  // The cached statement for `sql` with `args` bound to its parameters 1,
  // 2, ... in order (Stmt::Bind takes each).
  template <typename... Args>
  absl::StatusOr<std::unique_ptr<Stmt>> Query(std::string_view sql,
                                              const Args&... args) {
    TERN_ASSIGN_OR_RETURN(std::unique_ptr<Stmt> s, Prepare(sql));
    s->BindAll(args...);
    return s;
  }
  // Query for an INSERT ... RETURNING id: the new row's id.
  template <typename... Args>
  absl::StatusOr<int64_t> InsertId(std::string_view sql, const Args&... args) {
    TERN_ASSIGN_OR_RETURN(std::unique_ptr<Stmt> s, Query(sql, args...));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::InternalError("INSERT ... RETURNING gave no id");
    return s->Int(0);
  }
  // Query, for a statement that returns no row: the rows it changed.
  template <typename... Args>
  absl::StatusOr<int64_t> Run(std::string_view sql, const Args&... args) {
    TERN_ASSIGN_OR_RETURN(std::unique_ptr<Stmt> s, Query(sql, args...));
    return s->Run();
  }

  bool alive() const { return db_ != nullptr; }
  absl::Mutex& mu() { return mu_; }

 private:
  Connection() = default;
  sqlite3* db_ = nullptr;
  absl::Mutex mu_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

using Transaction = internal::Transaction<Connection>;
// Writers take the write lock up front (waiting up to busy_timeout for it),
// so a transaction that has read never fails later when it upgrades its lock.
constexpr std::string_view kBeginWrite = "BEGIN IMMEDIATE";

// The row readers of store_internal.h, for a statement.
constexpr auto ReadIssue = internal::ReadIssue<Stmt>;
constexpr auto ReadEvent = internal::ReadEvent<Stmt>;
constexpr auto ReadProject = internal::ReadProject<Stmt>;
constexpr auto ReadKey = internal::ReadKey<Stmt>;

absl::Status Migrate(Connection* c) {
  absl::MutexLock lock(&c->mu());
  Transaction tx(c);
  TERN_RETURN_IF_ERROR(tx.Begin(kBeginWrite));
  TERN_RETURN_IF_ERROR(
      c->RunScript("CREATE TABLE IF NOT EXISTS schema_version (version "
                   "INTEGER NOT NULL)"));
  int64_t version = 0;
  {
    TERN_ASSIGN_OR_RETURN(auto s,
                          c->Query("SELECT max(version) FROM schema_version"));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (row && !s->IsNull(0)) version = s->Int(0);
  }
  constexpr int64_t kLatest = std::size(kMigrations);
  TERN_RETURN_IF_ERROR(internal::CheckSchemaVersion(version, kLatest));
  for (int64_t v = version; v < kLatest; ++v) {
    TERN_RETURN_IF_ERROR(c->RunScript(kMigrations[v]));
    TERN_RETURN_IF_ERROR(
        c->Run("INSERT INTO schema_version (version) VALUES (?)", v + 1)
            .status());
  }
  return tx.Commit();
}

class SqliteStoreImpl final : public Store {
 public:
  SqliteStoreImpl(std::unique_ptr<Connection> writer,
                  std::unique_ptr<Connection> reader)
      : writer_(std::move(writer)), reader_(std::move(reader)) {}

  absl::StatusOr<BatchResult> WriteBatch(const Batch& batch) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(kBeginWrite));
    BatchResult result;

    // Every project named must exist.
    std::vector<int64_t> projects = internal::BatchProjects(batch);
    if (!projects.empty()) {
      std::string ids = "[";
      for (int64_t id : projects) {
        absl::StrAppend(&ids, ids.size() > 1 ? "," : "", id);
      }
      ids += "]";
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Query("SELECT id FROM projects WHERE id IN (SELECT "
                           "value FROM json_each(?))",
                           ids));
      absl::flat_hash_set<int64_t> found;
      TERN_RETURN_IF_ERROR(
          s->ForEach([&](Stmt& row) { found.insert(row.Int(0)); }));
      TERN_RETURN_IF_ERROR(internal::CheckProjectsFound(projects, found));
    }

    // One lookup per project of the batch's event ids and hashes.
    absl::flat_hash_map<
        int64_t, std::pair<std::vector<std::string>, std::vector<std::string>>>
        per_project;
    for (const EventRecord& e : batch.events) {
      auto& [ids, hashes] = per_project[e.project_id];
      ids.push_back(e.event_id);
      for (const std::string& h : e.hashes) hashes.push_back(h);
    }
    absl::flat_hash_set<ProjectString> stored;
    absl::flat_hash_map<ProjectString, int64_t> known;
    for (const auto& entry : per_project) {
      int64_t project = entry.first;
      const auto& [ids, hashes] = entry.second;
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Query("SELECT event_id FROM events WHERE project_id = ? "
                           "AND event_id IN (SELECT value FROM json_each(?))",
                           project, internal::JsonStringArray(ids)));
      TERN_RETURN_IF_ERROR(
          s->ForEach([&](Stmt& row) { stored.emplace(project, row.Text(0)); }));
      if (hashes.empty()) continue;
      TERN_ASSIGN_OR_RETURN(
          auto h,
          c->Query("SELECT hash, issue_id FROM grouphashes WHERE project_id "
                   "= ? AND hash IN (SELECT value FROM json_each(?))",
                   project, internal::JsonStringArray(hashes)));
      TERN_RETURN_IF_ERROR(h->ForEach([&](Stmt& row) {
        known.emplace(ProjectString(project, row.Text(0)), row.Int(1));
      }));
    }

    TERN_ASSIGN_OR_RETURN(internal::BatchPlan plan,
                          internal::PlanBatch(batch, stored, known));

    // New issues and the hashes they (or the issues joined) take.
    for (internal::PlannedIssue& issue : plan.issues) {
      if (issue.is_new) {
        const EventRecord& e = *issue.opener;
        TERN_ASSIGN_OR_RETURN(
            auto n, c->Query("UPDATE projects SET next_short_id = "
                             "next_short_id + 1 WHERE id = ? RETURNING "
                             "next_short_id - 1",
                             issue.project_id));
        TERN_ASSIGN_OR_RETURN(bool row, n->Step());
        if (!row) return absl::InternalError("project vanished mid-batch");
        int64_t short_id = n->Int(0);
        TERN_ASSIGN_OR_RETURN(
            auto s,
            c->Query("INSERT INTO issues (project_id, short_id, title, "
                     "culprit, level, status, first_seen, last_seen, "
                     "times_seen, metadata_type, metadata_value, "
                     "metadata_filename, metadata_function) VALUES (?, ?, "
                     "?, ?, ?, 'unresolved', ?, ?, 0, ?, ?, ?, ?) RETURNING "
                     "id",
                     issue.project_id, short_id, e.issue.title, e.issue.culprit,
                     e.issue.level.empty() ? e.level : e.issue.level,
                     e.received_ms, e.received_ms, e.issue.metadata_type,
                     e.issue.metadata_value, e.issue.metadata_filename,
                     e.issue.metadata_function));
        TERN_ASSIGN_OR_RETURN(row, s->Step());
        if (!row) return absl::InternalError("INSERT ... RETURNING gave no id");
        issue.issue_id = s->Int(0);
        ++result.issues_created;
      }
      for (const std::string& h : issue.new_hashes) {
        TERN_RETURN_IF_ERROR(
            c->Run("INSERT INTO grouphashes (project_id, hash, issue_id) "
                   "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                   issue.project_id, h, issue.issue_id)
                .status());
      }
    }

    // The events; ON CONFLICT keeps a duplicate from counting even if the
    // lookup above missed it.
    std::vector<bool> inserted(batch.events.size(), false);
    for (size_t i = 0; i < batch.events.size(); ++i) {
      int index = plan.event_issue[i];
      if (index == internal::BatchPlan::kDuplicate) {
        ++result.duplicates;
        continue;
      }
      const EventRecord& e = batch.events[i];
      std::optional<int64_t> issue_id;
      if (index >= 0) issue_id = plan.issues[index].issue_id;
      TERN_ASSIGN_OR_RETURN(
          int64_t changed,
          c->Run("INSERT INTO events (project_id, event_id, issue_id, "
                 "is_transaction, received, timestamp, level, release, "
                 "environment, platform, tags, payload, user_key) VALUES (?, "
                 "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                 e.project_id, e.event_id, issue_id, int64_t{e.is_transaction},
                 e.received_ms, e.timestamp_ms, e.level, e.release,
                 e.environment, e.platform, e.tags_json,
                 Blob{internal::CompressPayload(e.payload)}, e.user_key));
      if (changed == 0) {
        ++result.duplicates;
        continue;
      }
      inserted[i] = true;
      ++result.events_stored;
      for (const Attachment& a : e.attachments) {
        TERN_RETURN_IF_ERROR(
            c->Run("INSERT INTO attachments (project_id, event_id, "
                   "attachment_id, name, content_type, type, data) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   e.project_id, e.event_id, a.attachment_id, a.name,
                   a.content_type, a.attachment_type, Blob{a.data})
                .status());
      }
    }

    absl::flat_hash_set<int64_t> regressed;
    for (const internal::IssueDelta& d :
         internal::IssueDeltas(batch, plan, inserted)) {
      if (!d.is_new) {
        TERN_ASSIGN_OR_RETURN(
            int64_t reopened,
            c->Run("UPDATE issues SET status = 'unresolved' WHERE id = ? AND "
                   "status = 'resolved'",
                   d.issue_id));
        result.regressions += reopened;
        if (reopened > 0) regressed.insert(d.issue_id);
      }
      TERN_RETURN_IF_ERROR(
          c->Run("UPDATE issues SET times_seen = times_seen + ?, first_seen = "
                 "min(first_seen, ?), last_seen = max(last_seen, ?) WHERE id "
                 "= ?",
                 d.count, d.first_ms, d.last_ms, d.issue_id)
              .status());
    }

    if (AlertPlanner* planner = planner_.load(); planner != nullptr) {
      std::vector<IssueActivity> activity =
          internal::BuildActivity(batch, plan, inserted, regressed);
      if (!activity.empty()) {
        TxAlertReader reader(c);
        TERN_ASSIGN_OR_RETURN(std::vector<OutboxEntry> rows,
                              planner->Plan(activity, reader));
        for (const OutboxEntry& o : rows) {
          TERN_RETURN_IF_ERROR(InsertOutbox(c, o));
        }
      }
    }

    for (const SessionDelta& d : batch.sessions) {
      TERN_RETURN_IF_ERROR(
          c->Run("INSERT INTO session_hours (project_id, release, "
                 "environment, hour, started, healthy, errored, crashed, "
                 "abnormal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                 "(project_id, release, environment, hour) DO UPDATE SET "
                 "started = started + excluded.started, healthy = healthy + "
                 "excluded.healthy, errored = errored + excluded.errored, "
                 "crashed = crashed + excluded.crashed, abnormal = abnormal "
                 "+ excluded.abnormal",
                 d.project_id, d.release, d.environment, d.hour_s, d.started,
                 d.healthy, d.errored, d.crashed, d.abnormal)
              .status());
    }
    for (const PartitionOffset& o : batch.offsets) {
      TERN_RETURN_IF_ERROR(
          c->Run("INSERT INTO consumer_offsets (topic, partition, "
                 "next_offset) VALUES (?, ?, ?) ON CONFLICT (topic, "
                 "partition) DO UPDATE SET next_offset = "
                 "excluded.next_offset",
                 o.topic, int64_t{o.partition}, o.next_offset)
              .status());
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return result;
  }

  absl::StatusOr<std::vector<PartitionOffset>> LoadOffsets() override {
    return ReadRows(internal::ReadOffset<Stmt>,
                    absl::StrCat("SELECT ", internal::kOffsetCols,
                                 " FROM consumer_offsets ORDER BY topic, "
                                 "partition"));
  }

  absl::StatusOr<std::pair<Project, ProjectKey>> CreateProject(
      std::string_view name) override {
    TERN_ASSIGN_OR_RETURN(auto created, internal::NewProject(name));
    auto& [p, k] = created;
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(kBeginWrite));
    {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Query("INSERT INTO projects (name, slug, created) "
                           "VALUES (?, ?, ?) ON CONFLICT (slug) DO NOTHING "
                           "RETURNING id",
                           p.name, p.slug, p.created_ms));
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) {
        return absl::AlreadyExistsError(
            absl::StrCat("a project with slug '", p.slug, "' exists"));
      }
      p.id = s->Int(0);
    }
    k.project_id = p.id;
    {
      TERN_ASSIGN_OR_RETURN(
          auto s,
          c->Query("INSERT INTO keys (public_key, project_id, "
                   "active, created, settings) VALUES (?, ?, 1, ?, "
                   "?) RETURNING id",
                   k.public_key, k.project_id, k.created_ms, k.settings_json));
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) return absl::InternalError("INSERT ... RETURNING gave no id");
      k.id = s->Int(0);
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return created;
  }

  absl::StatusOr<std::vector<Project>> ListProjects() override {
    return ReadRows(ReadProject, absl::StrCat("SELECT ", internal::kProjectCols,
                                              " FROM projects ORDER BY id"));
  }

  absl::StatusOr<Project> GetProject(int64_t id) override {
    return FindProject("id", id, absl::StrCat("project ", id));
  }

  absl::StatusOr<Project> GetProjectBySlug(std::string_view slug) override {
    return FindProject("slug", slug,
                       absl::StrCat("project '", ToAbsl(slug), "'"));
  }

  absl::StatusOr<std::vector<ProjectKey>> ListKeys(
      int64_t project_id) override {
    return ReadRows(ReadKey,
                    absl::StrCat("SELECT ", internal::kKeyCols,
                                 " FROM keys WHERE ? = 0 OR project_id = ? "
                                 "ORDER BY id"),
                    project_id, project_id);
  }

  absl::StatusOr<std::vector<ProjectKey>> GetKeys(
      std::span<const std::string> public_keys) override {
    if (public_keys.empty()) return std::vector<ProjectKey>();
    std::vector<std::string> keys(public_keys.begin(), public_keys.end());
    return ReadRows(ReadKey,
                    absl::StrCat("SELECT ", internal::kKeyCols,
                                 " FROM keys WHERE public_key IN (SELECT "
                                 "value FROM json_each(?))"),
                    internal::JsonStringArray(keys));
  }

  absl::Status SetKeyActive(std::string_view public_key, bool active) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        int64_t n, c->Run("UPDATE keys SET active = ? WHERE public_key = ?",
                          int64_t{active}, public_key));
    if (n == 0) return absl::NotFoundError("no such key");
    return absl::OkStatus();
  }

  absl::Status SetProjectRules(int64_t project_id,
                               std::string_view fingerprinting_rules,
                               std::string_view stacktrace_rules) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        int64_t n, c->Run("UPDATE projects SET fingerprinting_rules = ?, "
                          "stacktrace_rules = ? WHERE id = ?",
                          fingerprinting_rules, stacktrace_rules, project_id));
    if (n == 0) return absl::NotFoundError("no such project");
    return absl::OkStatus();
  }

  absl::Status SetKeySettings(std::string_view public_key,
                              std::string_view settings_json) override {
    TERN_RETURN_IF_ERROR(internal::CheckSettingsJson(settings_json));
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        int64_t n, c->Run("UPDATE keys SET settings = ? WHERE public_key = ?",
                          settings_json, public_key));
    if (n == 0) return absl::NotFoundError("no such key");
    return absl::OkStatus();
  }

  absl::StatusOr<IssuePage> ListIssues(const IssueQuery& q) override {
    absl::string_view col = internal::IssueSortColumn(q.sort);
    // Only these fixed fragments vary; every value is a numbered parameter.
    std::string sql = absl::StrCat("SELECT ", internal::kIssueCols,
                                   " FROM issues WHERE project_id = ?1");
    if (q.status) sql += " AND status = ?2";
    if (!q.text.empty()) {
      sql += " AND (title LIKE ?3 ESCAPE '\\' OR culprit LIKE ?3 ESCAPE '\\')";
    }
    if (q.cursor) {
      absl::StrAppend(&sql, " AND (", col, " < ?4 OR (", col,
                      " = ?4 AND id < ?5))");
    }
    absl::StrAppend(&sql, " ORDER BY ", col, " DESC, id DESC LIMIT ?6");
    int limit = internal::ClampLimit(q.limit);

    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(auto s, c->Prepare(sql));
    s->Bind(1, q.project_id);
    if (q.status) s->Bind(2, IssueStatusName(*q.status));
    if (!q.text.empty()) s->Bind(3, internal::LikeContains(q.text));
    if (q.cursor) s->Bind(4, q.cursor->sort_value).Bind(5, q.cursor->id);
    s->Bind(6, int64_t{limit} + 1);
    TERN_ASSIGN_OR_RETURN(std::vector<Issue> rows, s->ReadAll(ReadIssue));
    return internal::MakeIssuePage(std::move(rows), limit, q.sort);
  }

  absl::StatusOr<Issue> GetIssue(int64_t issue_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    return GetIssueLocked(c, issue_id);
  }

  absl::Status SetIssueStatus(int64_t issue_id, IssueStatus status) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(int64_t n,
                          c->Run("UPDATE issues SET status = ? WHERE id = ?",
                                 IssueStatusName(status), issue_id));
    if (n == 0) return absl::NotFoundError(absl::StrCat("issue ", issue_id));
    return absl::OkStatus();
  }

  absl::StatusOr<EventPage> ListIssueEvents(
      int64_t issue_id, const std::optional<EventCursor>& cursor,
      int limit) override {
    limit = internal::ClampLimit(limit);
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin());
    TERN_RETURN_IF_ERROR(GetIssueLocked(c, issue_id).status());
    std::string sql = absl::StrCat("SELECT ", internal::kEventCols,
                                   " FROM events WHERE issue_id = ?1");
    if (cursor) {
      sql += " AND (received < ?2 OR (received = ?2 AND event_id < ?3))";
    }
    sql += " ORDER BY received DESC, event_id DESC LIMIT ?4";
    TERN_ASSIGN_OR_RETURN(auto s, c->Prepare(sql));
    s->Bind(1, issue_id);
    if (cursor) s->Bind(2, cursor->received_ms).Bind(3, cursor->event_id);
    s->Bind(4, int64_t{limit} + 1);
    TERN_ASSIGN_OR_RETURN(std::vector<EventSummary> rows,
                          s->ReadAll(ReadEvent));
    return internal::MakeEventPage(std::move(rows), limit);
  }

  absl::StatusOr<StoredEvent> GetLatestEvent(int64_t issue_id) override {
    return FindStoredEvent(
        absl::StrCat("issue ", issue_id, " has no stored event"),
        "issue_id = ? ORDER BY received DESC, event_id DESC LIMIT 1", issue_id);
  }

  absl::StatusOr<StoredEvent> GetEvent(int64_t project_id,
                                       std::string_view event_id) override {
    return FindStoredEvent(
        absl::StrCat("event ", ToAbsl(event_id), " not found"),
        "project_id = ? AND event_id = ?", project_id, event_id);
  }

  absl::StatusOr<Attachment> GetAttachment(
      int64_t project_id, std::string_view event_id,
      std::string_view attachment_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query("SELECT attachment_id, name, content_type, type, "
                         "data FROM attachments WHERE project_id = ? AND "
                         "event_id = ? AND attachment_id = ?",
                         project_id, event_id, attachment_id));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError("attachment not found");
    return Attachment{s->Text(0), s->Text(1), s->Text(2), s->Text(3),
                      s->Bytes(4)};
  }

  absl::StatusOr<std::vector<int64_t>> IssueHistogram(int64_t issue_id,
                                                      int64_t since_ms,
                                                      int64_t bucket_ms,
                                                      int buckets) override {
    TERN_RETURN_IF_ERROR(
        internal::CheckHistogramRange(since_ms, bucket_ms, buckets));
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin());
    TERN_RETURN_IF_ERROR(GetIssueLocked(c, issue_id).status());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query("SELECT (received - ?2) / ?3 AS b, count(*) FROM "
                         "events WHERE issue_id = ?1 AND received >= ?2 AND "
                         "received < ?4 GROUP BY b",
                         issue_id, since_ms, bucket_ms,
                         since_ms + bucket_ms * buckets));
    std::vector<int64_t> counts(buckets, 0);
    TERN_RETURN_IF_ERROR(s->ForEach([&](Stmt& row) {
      int64_t b = row.Int(0);
      if (b >= 0 && b < buckets) counts[b] = row.Int(1);
    }));
    return counts;
  }

  absl::StatusOr<std::vector<SessionRow>> ListSessions(
      int64_t project_id, int64_t since_s) override {
    return ReadRows(internal::ReadSession<Stmt>,
                    absl::StrCat("SELECT ", internal::kSessionCols,
                                 " FROM session_hours WHERE project_id = ? "
                                 "AND hour >= ? ORDER BY hour, release, "
                                 "environment"),
                    project_id, since_s);
  }

  void SetAlertPlanner(AlertPlanner* planner) override {
    planner_.store(planner);
  }

  absl::StatusOr<std::vector<AlertRule>> ListAlertRules(
      int64_t project_id) override {
    return ReadRows(internal::ReadAlertRule<Stmt>,
                    absl::StrCat("SELECT ", internal::kRuleCols,
                                 " FROM alert_rules WHERE ? = 0 OR "
                                 "project_id = ? ORDER BY id"),
                    project_id, project_id);
  }

  absl::StatusOr<AlertRule> GetAlertRule(int64_t rule_id) override {
    TERN_ASSIGN_OR_RETURN(
        std::vector<AlertRule> rows,
        ReadRows(internal::ReadAlertRule<Stmt>,
                 absl::StrCat("SELECT ", internal::kRuleCols,
                              " FROM alert_rules WHERE id = ?"),
                 rule_id));
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("rule ", rule_id));
    }
    return rows.front();
  }

  absl::StatusOr<AlertRule> CreateAlertRule(
      int64_t project_id, std::string_view definition_json) override {
    TERN_RETURN_IF_ERROR(internal::CheckRuleJson(definition_json));
    TERN_RETURN_IF_ERROR(GetProject(project_id).status());
    const int64_t now = internal::NowMs();
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        const int64_t id,
        c->InsertId("INSERT INTO alert_rules (project_id, definition, "
                    "created, updated) VALUES (?, ?, ?, ?) RETURNING id",
                    project_id, definition_json, now, now));
    return AlertRule{id, project_id, std::string(definition_json), now, now};
  }

  absl::StatusOr<AlertRule> UpdateAlertRule(
      int64_t rule_id, std::string_view definition_json) override {
    TERN_RETURN_IF_ERROR(internal::CheckRuleJson(definition_json));
    {
      Connection* c = writer_.get();
      absl::MutexLock lock(&c->mu());
      TERN_ASSIGN_OR_RETURN(
          int64_t n,
          c->Run("UPDATE alert_rules SET definition = ?, updated = ? WHERE "
                 "id = ?",
                 definition_json, internal::NowMs(), rule_id));
      if (n == 0) return absl::NotFoundError(absl::StrCat("rule ", rule_id));
    }
    return GetAlertRule(rule_id);
  }

  absl::Status DeleteAlertRule(int64_t rule_id) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        int64_t n, c->Run("DELETE FROM alert_rules WHERE id = ?", rule_id));
    if (n == 0) return absl::NotFoundError(absl::StrCat("rule ", rule_id));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<OutboxEntry>> ClaimOutbox(int64_t now_ms,
                                                       int64_t lease_ms,
                                                       int limit) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s,
        c->Query(absl::StrCat(
                     "UPDATE outbox SET status = 'sending', attempts = "
                     "attempts + 1, next_attempt = ? WHERE id IN (SELECT id "
                     "FROM outbox WHERE status IN ('pending', 'sending') AND "
                     "next_attempt <= ? ORDER BY next_attempt, id LIMIT ?) "
                     "RETURNING ",
                     internal::kOutboxCols),
                 now_ms + lease_ms, now_ms,
                 int64_t{internal::ClampLimit(limit)}));
    TERN_ASSIGN_OR_RETURN(std::vector<OutboxEntry> rows,
                          s->ReadAll(internal::ReadOutbox<Stmt>));
    std::sort(
        rows.begin(), rows.end(),
        [](const OutboxEntry& a, const OutboxEntry& b) { return a.id < b.id; });
    return rows;
  }

  absl::Status FinishOutbox(int64_t id, OutboxStatus status,
                            int64_t next_attempt_ms,
                            std::string_view error) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    const int64_t sent = status == OutboxStatus::kSent ? internal::NowMs() : 0;
    TERN_ASSIGN_OR_RETURN(
        int64_t n,
        c->Run("UPDATE outbox SET status = ?, next_attempt = ?, last_error = "
               "?, sent = ? WHERE id = ?",
               OutboxStatusName(status), next_attempt_ms, error, sent, id));
    if (n == 0) return absl::NotFoundError(absl::StrCat("outbox row ", id));
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<OutboxEntry>> ListOutbox(
      const OutboxQuery& q) override {
    const std::string status =
        q.status ? std::string(OutboxStatusName(*q.status)) : std::string();
    return ReadRows(internal::ReadOutbox<Stmt>,
                    absl::StrCat("SELECT ", internal::kOutboxCols,
                                 " FROM outbox WHERE (?1 = 0 OR project_id = "
                                 "?1) AND (?2 = 0 OR issue_id = ?2) AND (?3 "
                                 "= '' OR status = ?3) AND created >= ?4 AND "
                                 "created < ?5 ORDER BY created DESC, id "
                                 "DESC LIMIT ?6"),
                    q.project_id, q.issue_id, status, q.since_ms, q.until_ms,
                    int64_t{internal::ClampLimit(q.limit)});
  }

  absl::StatusOr<OutboxDepth> GetOutboxDepth() override {
    TERN_ASSIGN_OR_RETURN(
        auto rows,
        ReadRows(
            [](Stmt& r) {
              return OutboxDepth{r.Int(0), r.Int(1)};
            },
            "SELECT count(*), coalesce(min(created), 0) FROM outbox WHERE "
            "status IN ('pending', 'sending')"));
    return rows.empty() ? OutboxDepth() : rows.front();
  }

  absl::StatusOr<int64_t> DeleteEventsBefore(int64_t cutoff_ms,
                                             int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(kBeginWrite));
    std::vector<std::pair<int64_t, ProjectString>> doomed;
    {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Query("SELECT id, project_id, event_id FROM events "
                           "WHERE received < ? ORDER BY received LIMIT ?",
                           cutoff_ms, int64_t{limit}));
      TERN_RETURN_IF_ERROR(s->ForEach([&](Stmt& row) {
        doomed.emplace_back(row.Int(0), ProjectString(row.Int(1), row.Text(2)));
      }));
    }
    for (const auto& [id, key] : doomed) {
      TERN_RETURN_IF_ERROR(c->Run("DELETE FROM attachments WHERE project_id "
                                  "= ? AND event_id = ?",
                                  key.first, key.second)
                               .status());
      TERN_RETURN_IF_ERROR(
          c->Run("DELETE FROM events WHERE id = ?", id).status());
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return static_cast<int64_t>(doomed.size());
  }

  absl::StatusOr<int64_t> DeleteEmptyIssues(int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(kBeginWrite));
    std::vector<int64_t> doomed;
    {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Query("SELECT id FROM issues WHERE NOT EXISTS (SELECT "
                           "1 FROM events WHERE events.issue_id = issues.id) "
                           "ORDER BY id LIMIT ?",
                           int64_t{limit}));
      TERN_RETURN_IF_ERROR(
          s->ForEach([&](Stmt& row) { doomed.push_back(row.Int(0)); }));
    }
    for (int64_t id : doomed) {
      TERN_RETURN_IF_ERROR(
          c->Run("DELETE FROM grouphashes WHERE issue_id = ?", id).status());
      TERN_RETURN_IF_ERROR(
          c->Run("DELETE FROM issues WHERE id = ?", id).status());
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return static_cast<int64_t>(doomed.size());
  }

  absl::StatusOr<int64_t> DeleteOutboxBefore(int64_t cutoff_ms,
                                             int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    return c->Run(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE created "
        "< ? AND status IN ('sent', 'failed', 'suppressed') ORDER BY id "
        "LIMIT ?)",
        cutoff_ms, int64_t{limit});
  }

  // --- releases and source maps ---

  absl::StatusOr<ApiToken> CreateApiToken(std::string_view token_hash,
                                          std::string_view name,
                                          std::string_view scopes) override {
    const int64_t now = internal::NowMs();
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        const int64_t id,
        c->InsertId("INSERT INTO api_tokens (token_hash, name, scopes, "
                    "created) VALUES (?, ?, ?, ?) RETURNING id",
                    token_hash, name, scopes, now));
    return ApiToken{id, std::string(name), std::string(scopes), now};
  }

  absl::StatusOr<ApiToken> FindApiToken(std::string_view token_hash) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query("SELECT id, name, scopes, created FROM api_tokens "
                         "WHERE token_hash = ?",
                         token_hash));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError("unknown token");
    return ApiToken{s->Int(0), s->Text(1), s->Text(2), s->Int(3)};
  }

  absl::Status PutChunk(std::string_view checksum,
                        std::string_view data) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    return c
        ->Run(
            "INSERT INTO upload_chunks (checksum, data, created) VALUES "
            "(?, ?, ?) ON CONFLICT (checksum) DO NOTHING",
            checksum, Blob{data}, internal::NowMs())
        .status();
  }

  absl::StatusOr<std::vector<std::string>> MissingChunks(
      const std::vector<std::string>& checksums) override {
    std::vector<std::string> missing;
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    for (const std::string& sum : checksums) {
      TERN_ASSIGN_OR_RETURN(
          auto s,
          c->Query("SELECT 1 FROM upload_chunks WHERE checksum = ?", sum));
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) missing.push_back(sum);
    }
    return missing;
  }

  absl::StatusOr<std::string> GetChunk(std::string_view checksum) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query("SELECT data FROM upload_chunks WHERE checksum = ?",
                         checksum));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError("chunk not found");
    return s->Bytes(0);
  }

  absl::StatusOr<bool> PutArtifactBundle(const ArtifactBundle& b) override {
    TERN_RETURN_IF_ERROR(GetProject(b.project_id).status());
    const int64_t now = internal::NowMs();
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(kBeginWrite));
    TERN_ASSIGN_OR_RETURN(
        auto s,
        c->Query("INSERT INTO artifact_bundles (project_id, checksum, "
                 "debug_id, release, dist, created) VALUES (?, ?, ?, "
                 "?, ?, ?) ON CONFLICT (project_id, checksum) DO "
                 "NOTHING RETURNING id",
                 b.project_id, b.checksum, b.debug_id, b.release, b.dist, now));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return false;  // already stored; the transaction rolls back
    const int64_t bundle_id = s->Int(0);
    s.reset();
    TERN_ASSIGN_OR_RETURN(
        const int64_t blob_id,
        c->InsertId("INSERT INTO artifact_blobs (data) VALUES (?) RETURNING id",
                    Blob{b.data}));
    for (const ArtifactFile& f : b.files) {
      TERN_RETURN_IF_ERROR(
          c->Run("INSERT INTO artifact_files (project_id, bundle_id, blob_id, "
                 "path, type, url, debug_id, sourcemap, release, dist, "
                 "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 b.project_id, bundle_id, blob_id, f.path, f.type, f.url,
                 f.debug_id, f.sourcemap, b.release, b.dist, now)
              .status());
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return true;
  }

  absl::StatusOr<bool> HasArtifactBundle(int64_t project_id,
                                         std::string_view checksum) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query("SELECT 1 FROM artifact_bundles WHERE project_id = ? "
                         "AND checksum = ?",
                         project_id, checksum));
    return s->Step();
  }

  absl::Status UpsertRelease(int64_t project_id, std::string_view version,
                             std::optional<int64_t> finalized_ms) override {
    TERN_RETURN_IF_ERROR(GetProject(project_id).status());
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    return c
        ->Run(
            "INSERT INTO releases (project_id, version, created, finalized) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (project_id, version) DO "
            "UPDATE SET finalized = coalesce(excluded.finalized, "
            "releases.finalized)",
            project_id, version, internal::NowMs(), finalized_ms)
        .status();
  }

  absl::StatusOr<std::optional<Release>> GetRelease(
      int64_t project_id, std::string_view version) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query("SELECT created, finalized FROM releases WHERE "
                         "project_id = ? AND version = ?",
                         project_id, version));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return std::nullopt;
    Release r{std::string(version), s->Int(0), std::nullopt};
    if (!s->IsNull(1)) r.finalized_ms = s->Int(1);
    return r;
  }

  absl::StatusOr<int64_t> PutReleaseFile(int64_t project_id,
                                         std::string_view release,
                                         std::string_view dist,
                                         const ArtifactFile& f,
                                         std::string_view data) override {
    TERN_RETURN_IF_ERROR(UpsertRelease(project_id, release, std::nullopt));
    const int64_t now = internal::NowMs();
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(kBeginWrite));
    {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Query("SELECT 1 FROM artifact_files WHERE project_id = ? "
                           "AND release = ? AND dist = ? AND url = ? AND "
                           "bundle_id IS NULL",
                           project_id, release, dist, f.url));
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) return absl::AlreadyExistsError("release file exists");
    }
    TERN_ASSIGN_OR_RETURN(
        const int64_t blob_id,
        c->InsertId("INSERT INTO artifact_blobs (data) VALUES (?) RETURNING id",
                    Blob{data}));
    TERN_ASSIGN_OR_RETURN(
        const int64_t id,
        c->InsertId("INSERT INTO artifact_files (project_id, bundle_id, "
                    "blob_id, path, type, url, debug_id, sourcemap, "
                    "release, dist, created) VALUES (?, NULL, ?, '', ?, "
                    "?, ?, ?, ?, ?, ?) RETURNING id",
                    project_id, blob_id, f.type, f.url, f.debug_id, f.sourcemap,
                    release, dist, now));
    TERN_RETURN_IF_ERROR(tx.Commit());
    return id;
  }

  absl::StatusOr<std::vector<ArtifactFile>> FindArtifactsByDebugId(
      int64_t project_id, std::string_view debug_id,
      std::string_view type) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query("SELECT id, path, type, url, debug_id, sourcemap "
                         "FROM artifact_files WHERE project_id = ? AND "
                         "debug_id = ? AND type = ? ORDER BY id DESC LIMIT 16",
                         project_id, debug_id, type));
    return s->ReadAll([](Stmt& r) {
      return ArtifactFile{r.Int(0),  r.Text(1), r.Text(2),
                          r.Text(3), r.Text(4), r.Text(5)};
    });
  }

  absl::StatusOr<std::optional<ArtifactFile>> FindArtifactByUrl(
      int64_t project_id, std::string_view release, std::string_view dist,
      const std::vector<std::string>& urls) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    for (const std::string& url : urls) {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Query("SELECT id, path, type, url, debug_id, sourcemap "
                           "FROM artifact_files WHERE project_id = ? AND "
                           "release = ? AND dist = ? AND url = ? ORDER BY id "
                           "DESC LIMIT 1",
                           project_id, release, dist, url));
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) {
        return ArtifactFile{s->Int(0),  s->Text(1), s->Text(2),
                            s->Text(3), s->Text(4), s->Text(5)};
      }
    }
    return std::nullopt;
  }

  absl::StatusOr<ArtifactBlob> LoadArtifact(int64_t project_id,
                                            int64_t file_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query("SELECT b.data, f.path FROM artifact_files f JOIN "
                         "artifact_blobs b ON b.id = f.blob_id WHERE f.id = ? "
                         "AND f.project_id = ?",
                         file_id, project_id));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError("artifact not found");
    return ArtifactBlob{s->Bytes(0), s->Text(1)};
  }

  absl::StatusOr<int64_t> DeleteArtifactsBefore(int64_t cutoff_ms,
                                                int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(kBeginWrite));
    int64_t n = 0;
    TERN_ASSIGN_OR_RETURN(
        int64_t files,
        c->Run("DELETE FROM artifact_files WHERE id IN (SELECT id FROM "
               "artifact_files WHERE created < ? ORDER BY id LIMIT ?)",
               cutoff_ms, int64_t{limit}));
    n += files;
    TERN_ASSIGN_OR_RETURN(
        int64_t blobs,
        c->Run("DELETE FROM artifact_blobs WHERE id IN (SELECT b.id FROM "
               "artifact_blobs b WHERE NOT EXISTS (SELECT 1 FROM "
               "artifact_files f WHERE f.blob_id = b.id) LIMIT ?)",
               int64_t{limit}));
    n += blobs;
    TERN_ASSIGN_OR_RETURN(
        int64_t bundles,
        c->Run("DELETE FROM artifact_bundles WHERE id IN (SELECT a.id FROM "
               "artifact_bundles a WHERE a.created < ? AND NOT EXISTS (SELECT "
               "1 FROM artifact_files f WHERE f.bundle_id = a.id) LIMIT ?)",
               cutoff_ms, int64_t{limit}));
    n += bundles;
    TERN_ASSIGN_OR_RETURN(
        int64_t chunks,
        c->Run("DELETE FROM upload_chunks WHERE checksum IN (SELECT checksum "
               "FROM upload_chunks WHERE created < ? LIMIT ?)",
               cutoff_ms, int64_t{limit}));
    n += chunks;
    TERN_RETURN_IF_ERROR(tx.Commit());
    return n;
  }

 private:
  // The AlertReader of WriteBatch: its queries run on the writer inside the
  // batch's transaction.
  class TxAlertReader final : public AlertReader {
   public:
    explicit TxAlertReader(Connection* c) : c_(c) {}

    absl::StatusOr<std::vector<AlertRule>> Rules(int64_t project_id) override {
      TERN_ASSIGN_OR_RETURN(
          auto s, c_->Query(absl::StrCat("SELECT ", internal::kRuleCols,
                                         " FROM alert_rules WHERE project_id "
                                         "= ? ORDER BY id"),
                            project_id));
      return s->ReadAll(internal::ReadAlertRule<Stmt>);
    }
    absl::StatusOr<int64_t> CountIssueEvents(int64_t issue_id, int64_t since_ms,
                                             int64_t cap) override {
      return One(
          "SELECT count(*) FROM (SELECT 1 FROM events WHERE issue_id "
          "= ? AND received >= ? LIMIT ?)",
          issue_id, since_ms, cap);
    }
    absl::StatusOr<int64_t> CountIssueUsers(int64_t issue_id, int64_t since_ms,
                                            int64_t cap) override {
      return One(
          "SELECT count(*) FROM (SELECT DISTINCT user_key FROM events WHERE "
          "issue_id = ? AND received >= ? AND user_key != '' LIMIT ?)",
          issue_id, since_ms, cap);
    }
    absl::StatusOr<std::optional<int64_t>> LastNotified(
        int64_t rule_id, int64_t issue_id) override {
      TERN_ASSIGN_OR_RETURN(
          auto s, c_->Query("SELECT max(created) FROM outbox WHERE rule_id = "
                            "? AND issue_id = ? AND status != 'suppressed'",
                            rule_id, issue_id));
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row || s->IsNull(0)) return std::optional<int64_t>();
      return std::optional<int64_t>(s->Int(0));
    }
    absl::StatusOr<int64_t> CountNotified(int64_t project_id,
                                          int64_t since_ms) override {
      return One(
          "SELECT count(*) FROM outbox WHERE project_id = ? AND "
          "created >= ? AND target_index = 0 AND cause != 'summary' "
          "AND status != 'suppressed'",
          project_id, since_ms);
    }

   private:
    template <typename... Args>
    absl::StatusOr<int64_t> One(std::string_view sql, const Args&... args) {
      TERN_ASSIGN_OR_RETURN(auto s, c_->Query(sql, args...));
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      return row ? s->Int(0) : 0;
    }
    Connection* c_;
  };

  static absl::Status InsertOutbox(Connection* c, const OutboxEntry& o) {
    return c
        ->Run(
            "INSERT INTO outbox (project_id, rule_id, issue_id, dedup_key, "
            "cause, target_kind, target, target_index, event_id, status, "
            "attempts, next_attempt, last_error, created, sent) VALUES (?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '', ?, 0) ON CONFLICT "
            "(dedup_key) DO NOTHING",
            o.project_id, o.rule_id, o.issue_id, o.dedup_key, o.trigger,
            o.target_kind, o.target_json, o.target_index, o.event_id,
            OutboxStatusName(o.status), o.next_attempt_ms, o.created_ms)
        .status();
  }

  // Every row of `sql` (bound to `args`) on the reader, each read by `read`.
  template <typename Read, typename... Args>
  auto ReadRows(Read read, std::string_view sql, const Args&... args)
      -> absl::StatusOr<std::vector<decltype(read(std::declval<Stmt&>()))>> {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(std::unique_ptr<Stmt> s, c->Query(sql, args...));
    return s->ReadAll(read);
  }

  // The project WHERE `column` = `value` (a fixed column name), read on the
  // reader; NotFound with `not_found` as its message.
  template <typename Value>
  absl::StatusOr<Project> FindProject(absl::string_view column,
                                      const Value& value,
                                      std::string_view not_found) {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query(absl::StrCat("SELECT ", internal::kProjectCols,
                                      " FROM projects WHERE ", column, " = ?"),
                         value));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError(ToAbsl(not_found));
    return ReadProject(*s);
  }

  absl::StatusOr<Issue> GetIssueLocked(Connection* c, int64_t issue_id) {
    TERN_ASSIGN_OR_RETURN(auto s,
                          c->Query(absl::StrCat("SELECT ", internal::kIssueCols,
                                                " FROM issues WHERE id = ?"),
                                   issue_id));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError(absl::StrCat("issue ", issue_id));
    return ReadIssue(*s);
  }

  // The first event WHERE `where` (a fixed clause, bound to `args`) with its
  // payload and attachments, read in one transaction; NotFound with
  // `not_found` as its message when there is none.
  template <typename... Args>
  absl::StatusOr<StoredEvent> FindStoredEvent(std::string_view not_found,
                                              absl::string_view where,
                                              const Args&... args) {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Query(absl::StrCat("SELECT ", internal::kEventCols,
                                      ", payload FROM events WHERE ", where),
                         args...));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError(ToAbsl(not_found));
    StoredEvent out;
    out.summary = ReadEvent(*s);
    TERN_ASSIGN_OR_RETURN(out.payload,
                          internal::DecompressPayload(s->Bytes(10)));
    TERN_ASSIGN_OR_RETURN(
        auto a, c->Query("SELECT attachment_id, name, content_type, type, "
                         "length(data) FROM attachments WHERE project_id = ? "
                         "AND event_id = ? ORDER BY id",
                         out.summary.project_id, out.summary.event_id));
    TERN_RETURN_IF_ERROR(a->ForEach([&](Stmt& r) {
      out.attachments.push_back(
          {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)});
    }));
    return out;
  }

  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> reader_;
  std::atomic<AlertPlanner*> planner_{nullptr};
};

}  // namespace

namespace internal {

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(std::string_view path) {
  std::string p(path);
  TERN_ASSIGN_OR_RETURN(auto writer, Connection::Open(p));
  TERN_RETURN_IF_ERROR(Migrate(writer.get()));
  // The reader opens after the migration, so it never sees a half schema.
  TERN_ASSIGN_OR_RETURN(auto reader, Connection::Open(p));
  return std::unique_ptr<Store>(
      new SqliteStoreImpl(std::move(writer), std::move(reader)));
}

}  // namespace internal
}  // namespace tern::storage
