#include "backend/storage/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
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
  Stmt& BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
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

  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
  }
  std::string Blob(int col) {
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
    TERN_RETURN_IF_ERROR(c->Exec("PRAGMA busy_timeout = 5000"));
    TERN_RETURN_IF_ERROR(c->Exec("PRAGMA journal_mode = WAL"));
    TERN_RETURN_IF_ERROR(c->Exec("PRAGMA synchronous = NORMAL"));
    return c;
  }

  absl::Status Exec(std::string_view sql) {
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

  sqlite3* db() { return db_; }
  absl::Mutex& mu() { return mu_; }

 private:
  Connection() = default;
  sqlite3* db_ = nullptr;
  absl::Mutex mu_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// BEGIN ... COMMIT, rolled back unless Commit() ran.
class Transaction {
 public:
  explicit Transaction(Connection* c) : c_(c) {}
  ~Transaction() {
    if (open_) (void)c_->Exec("ROLLBACK");
  }
  absl::Status Begin(bool write) {
    TERN_RETURN_IF_ERROR(c_->Exec(write ? "BEGIN IMMEDIATE" : "BEGIN"));
    open_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() {
    TERN_RETURN_IF_ERROR(c_->Exec("COMMIT"));
    open_ = false;
    return absl::OkStatus();
  }

 private:
  Connection* c_;
  bool open_ = false;
};

constexpr absl::string_view kIssueCols =
    "id, project_id, short_id, title, culprit, level, status, first_seen, "
    "last_seen, times_seen, metadata_type, metadata_value, "
    "metadata_filename, metadata_function";

Issue ReadIssue(Stmt& s) {
  Issue i;
  i.id = s.Int(0);
  i.project_id = s.Int(1);
  i.short_id = s.Int(2);
  i.fields.title = s.Text(3);
  i.fields.culprit = s.Text(4);
  i.fields.level = s.Text(5);
  i.status = ParseIssueStatus(s.Text(6)).value_or(IssueStatus::kUnresolved);
  i.first_seen_ms = s.Int(7);
  i.last_seen_ms = s.Int(8);
  i.times_seen = s.Int(9);
  i.fields.metadata_type = s.Text(10);
  i.fields.metadata_value = s.Text(11);
  i.fields.metadata_filename = s.Text(12);
  i.fields.metadata_function = s.Text(13);
  return i;
}

constexpr absl::string_view kEventCols =
    "project_id, event_id, issue_id, received, timestamp, level, release, "
    "environment, platform, tags";

EventSummary ReadEvent(Stmt& s) {
  EventSummary e;
  e.project_id = s.Int(0);
  e.event_id = s.Text(1);
  if (!s.IsNull(2)) e.issue_id = s.Int(2);
  e.received_ms = s.Int(3);
  e.timestamp_ms = s.Int(4);
  e.level = s.Text(5);
  e.release = s.Text(6);
  e.environment = s.Text(7);
  e.platform = s.Text(8);
  e.tags_json = s.Text(9);
  return e;
}

constexpr absl::string_view kProjectCols = "id, name, slug, created";
Project ReadProject(Stmt& s) {
  return Project{s.Int(0), s.Text(1), s.Text(2), s.Int(3)};
}

constexpr absl::string_view kKeyCols =
    "id, public_key, project_id, active, created, settings";
ProjectKey ReadKey(Stmt& s) {
  ProjectKey k;
  k.id = s.Int(0);
  k.public_key = s.Text(1);
  k.project_id = s.Int(2);
  k.active = s.Int(3) != 0;
  k.created_ms = s.Int(4);
  k.settings_json = s.Text(5);
  return k;
}

int ClampLimit(int limit) { return std::clamp(limit, 1, 100); }

absl::Status Migrate(Connection* c) {
  absl::MutexLock lock(&c->mu());
  Transaction tx(c);
  TERN_RETURN_IF_ERROR(tx.Begin(true));
  TERN_RETURN_IF_ERROR(
      c->Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT "
              "NULL)"));
  int64_t version = 0;
  {
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare("SELECT max(version) FROM schema_version"));
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (row && !s->IsNull(0)) version = s->Int(0);
  }
  constexpr int64_t kLatest = std::size(kMigrations);
  if (version > kLatest) {
    return absl::FailedPreconditionError(
        absl::StrCat("database schema version ", version,
                     " is newer than this binary's ", kLatest));
  }
  for (int64_t v = version; v < kLatest; ++v) {
    TERN_RETURN_IF_ERROR(c->Exec(kMigrations[v]));
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare("INSERT INTO schema_version (version) VALUES (?)"));
    TERN_RETURN_IF_ERROR(s->Bind(1, v + 1).Run().status());
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
    TERN_RETURN_IF_ERROR(tx.Begin(true));
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
          auto s, c->Prepare("SELECT id FROM projects WHERE id IN (SELECT "
                             "value FROM json_each(?))"));
      s->Bind(1, ids);
      absl::flat_hash_set<int64_t> found;
      while (true) {
        TERN_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        found.insert(s->Int(0));
      }
      for (int64_t id : projects) {
        if (!found.contains(id)) {
          return absl::NotFoundError(
              absl::StrCat("project ", id, " not found"));
        }
      }
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
    for (const auto& [project, lists] : per_project) {
      TERN_ASSIGN_OR_RETURN(
          auto s,
          c->Prepare("SELECT event_id FROM events WHERE project_id = ? "
                     "AND event_id IN (SELECT value FROM json_each(?))"));
      s->Bind(1, project).Bind(2, internal::JsonStringArray(lists.first));
      while (true) {
        TERN_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        stored.emplace(project, s->Text(0));
      }
      if (lists.second.empty()) continue;
      TERN_ASSIGN_OR_RETURN(
          auto h,
          c->Prepare("SELECT hash, issue_id FROM grouphashes WHERE project_id "
                     "= ? AND hash IN (SELECT value FROM json_each(?))"));
      h->Bind(1, project).Bind(2, internal::JsonStringArray(lists.second));
      while (true) {
        TERN_ASSIGN_OR_RETURN(bool row, h->Step());
        if (!row) break;
        known.emplace(ProjectString(project, h->Text(0)), h->Int(1));
      }
    }

    TERN_ASSIGN_OR_RETURN(internal::BatchPlan plan,
                          internal::PlanBatch(batch, stored, known));

    // New issues and the hashes they (or the issues joined) take.
    for (internal::PlannedIssue& issue : plan.issues) {
      if (issue.is_new) {
        const EventRecord& e = *issue.opener;
        TERN_ASSIGN_OR_RETURN(
            auto n, c->Prepare("UPDATE projects SET next_short_id = "
                               "next_short_id + 1 WHERE id = ? RETURNING "
                               "next_short_id - 1"));
        n->Bind(1, issue.project_id);
        TERN_ASSIGN_OR_RETURN(bool row, n->Step());
        if (!row) return absl::InternalError("project vanished mid-batch");
        int64_t short_id = n->Int(0);
        TERN_ASSIGN_OR_RETURN(
            auto s,
            c->Prepare("INSERT INTO issues (project_id, short_id, title, "
                       "culprit, level, status, first_seen, last_seen, "
                       "times_seen, metadata_type, metadata_value, "
                       "metadata_filename, metadata_function) VALUES (?, ?, "
                       "?, ?, ?, 'unresolved', ?, ?, 0, ?, ?, ?, ?) RETURNING "
                       "id"));
        s->Bind(1, issue.project_id)
            .Bind(2, short_id)
            .Bind(3, e.issue.title)
            .Bind(4, e.issue.culprit)
            .Bind(5, e.issue.level.empty() ? e.level : e.issue.level)
            .Bind(6, e.received_ms)
            .Bind(7, e.received_ms)
            .Bind(8, e.issue.metadata_type)
            .Bind(9, e.issue.metadata_value)
            .Bind(10, e.issue.metadata_filename)
            .Bind(11, e.issue.metadata_function);
        TERN_ASSIGN_OR_RETURN(row, s->Step());
        if (!row) return absl::InternalError("INSERT ... RETURNING gave no id");
        issue.issue_id = s->Int(0);
        ++result.issues_created;
      }
      for (const std::string& h : issue.new_hashes) {
        TERN_ASSIGN_OR_RETURN(
            auto s, c->Prepare("INSERT INTO grouphashes (project_id, hash, "
                               "issue_id) VALUES (?, ?, ?) ON CONFLICT DO "
                               "NOTHING"));
        TERN_RETURN_IF_ERROR(s->Bind(1, issue.project_id)
                                 .Bind(2, h)
                                 .Bind(3, issue.issue_id)
                                 .Run()
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
      TERN_ASSIGN_OR_RETURN(
          auto s,
          c->Prepare("INSERT INTO events (project_id, event_id, issue_id, "
                     "is_transaction, received, timestamp, level, release, "
                     "environment, platform, tags, payload) VALUES (?, ?, ?, "
                     "?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
      s->Bind(1, e.project_id).Bind(2, e.event_id);
      if (index >= 0) {
        s->Bind(3, plan.issues[index].issue_id);
      } else {
        s->BindNull(3);
      }
      s->Bind(4, int64_t{e.is_transaction})
          .Bind(5, e.received_ms)
          .Bind(6, e.timestamp_ms)
          .Bind(7, e.level)
          .Bind(8, e.release)
          .Bind(9, e.environment)
          .Bind(10, e.platform)
          .Bind(11, e.tags_json)
          .BindBlob(12, internal::CompressPayload(e.payload));
      TERN_ASSIGN_OR_RETURN(int64_t changed, s->Run());
      if (changed == 0) {
        ++result.duplicates;
        continue;
      }
      inserted[i] = true;
      ++result.events_stored;
      for (const Attachment& a : e.attachments) {
        TERN_ASSIGN_OR_RETURN(
            auto as,
            c->Prepare("INSERT INTO attachments (project_id, event_id, "
                       "attachment_id, name, content_type, type, data) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
        TERN_RETURN_IF_ERROR(as->Bind(1, e.project_id)
                                 .Bind(2, e.event_id)
                                 .Bind(3, a.attachment_id)
                                 .Bind(4, a.name)
                                 .Bind(5, a.content_type)
                                 .Bind(6, a.attachment_type)
                                 .BindBlob(7, a.data)
                                 .Run()
                                 .status());
      }
    }

    for (const internal::IssueDelta& d :
         internal::IssueDeltas(batch, plan, inserted)) {
      if (!d.is_new) {
        TERN_ASSIGN_OR_RETURN(
            auto r, c->Prepare("UPDATE issues SET status = 'unresolved' WHERE "
                               "id = ? AND status = 'resolved'"));
        TERN_ASSIGN_OR_RETURN(int64_t reopened, r->Bind(1, d.issue_id).Run());
        result.regressions += reopened;
      }
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Prepare("UPDATE issues SET times_seen = times_seen + ?, "
                             "first_seen = min(first_seen, ?), last_seen = "
                             "max(last_seen, ?) WHERE id = ?"));
      TERN_RETURN_IF_ERROR(s->Bind(1, d.count)
                               .Bind(2, d.first_ms)
                               .Bind(3, d.last_ms)
                               .Bind(4, d.issue_id)
                               .Run()
                               .status());
    }

    for (const SessionDelta& d : batch.sessions) {
      TERN_ASSIGN_OR_RETURN(
          auto s,
          c->Prepare(
              "INSERT INTO session_hours (project_id, release, environment, "
              "hour, started, healthy, errored, crashed, abnormal) VALUES (?, "
              "?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, release, "
              "environment, hour) DO UPDATE SET started = started + "
              "excluded.started, healthy = healthy + excluded.healthy, "
              "errored = errored + excluded.errored, crashed = crashed + "
              "excluded.crashed, abnormal = abnormal + excluded.abnormal"));
      TERN_RETURN_IF_ERROR(s->Bind(1, d.project_id)
                               .Bind(2, d.release)
                               .Bind(3, d.environment)
                               .Bind(4, d.hour_s)
                               .Bind(5, d.started)
                               .Bind(6, d.healthy)
                               .Bind(7, d.errored)
                               .Bind(8, d.crashed)
                               .Bind(9, d.abnormal)
                               .Run()
                               .status());
    }
    for (const PartitionOffset& o : batch.offsets) {
      TERN_ASSIGN_OR_RETURN(
          auto s,
          c->Prepare("INSERT INTO consumer_offsets (topic, partition, "
                     "next_offset) VALUES (?, ?, ?) ON CONFLICT (topic, "
                     "partition) DO UPDATE SET next_offset = "
                     "excluded.next_offset"));
      TERN_RETURN_IF_ERROR(s->Bind(1, o.topic)
                               .Bind(2, int64_t{o.partition})
                               .Bind(3, o.next_offset)
                               .Run()
                               .status());
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return result;
  }

  absl::StatusOr<std::vector<PartitionOffset>> LoadOffsets() override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare("SELECT topic, partition, next_offset FROM "
                           "consumer_offsets ORDER BY topic, partition"));
    std::vector<PartitionOffset> out;
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back({s->Text(0), static_cast<int32_t>(s->Int(1)), s->Int(2)});
    }
    return out;
  }

  absl::StatusOr<std::pair<Project, ProjectKey>> CreateProject(
      std::string_view name) override {
    TERN_ASSIGN_OR_RETURN(std::string slug, internal::MakeSlug(name));
    TERN_ASSIGN_OR_RETURN(std::string public_key, internal::NewPublicKey());
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(true));
    Project p{0, std::string(name), slug, internal::NowMs()};
    {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Prepare("INSERT INTO projects (name, slug, created) "
                             "VALUES (?, ?, ?) ON CONFLICT (slug) DO NOTHING "
                             "RETURNING id"));
      s->Bind(1, p.name).Bind(2, p.slug).Bind(3, p.created_ms);
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) {
        return absl::AlreadyExistsError(
            absl::StrCat("a project with slug '", slug, "' exists"));
      }
      p.id = s->Int(0);
    }
    ProjectKey k;
    k.public_key = std::move(public_key);
    k.project_id = p.id;
    k.created_ms = p.created_ms;
    {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Prepare("INSERT INTO keys (public_key, project_id, "
                             "active, created, settings) VALUES (?, ?, 1, ?, "
                             "?) RETURNING id"));
      s->Bind(1, k.public_key)
          .Bind(2, k.project_id)
          .Bind(3, k.created_ms)
          .Bind(4, k.settings_json);
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) return absl::InternalError("INSERT ... RETURNING gave no id");
      k.id = s->Int(0);
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return std::make_pair(std::move(p), std::move(k));
  }

  absl::StatusOr<std::vector<Project>> ListProjects() override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare(absl::StrCat("SELECT ", kProjectCols,
                                        " FROM projects ORDER BY id")));
    std::vector<Project> out;
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ReadProject(*s));
    }
    return out;
  }

  absl::StatusOr<Project> GetProject(int64_t id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare(absl::StrCat("SELECT ", kProjectCols,
                                        " FROM projects WHERE id = ?")));
    s->Bind(1, id);
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError(absl::StrCat("project ", id));
    return ReadProject(*s);
  }

  absl::StatusOr<Project> GetProjectBySlug(std::string_view slug) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare(absl::StrCat("SELECT ", kProjectCols,
                                        " FROM projects WHERE slug = ?")));
    s->Bind(1, slug);
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) {
      return absl::NotFoundError(absl::StrCat("project '", ToAbsl(slug), "'"));
    }
    return ReadProject(*s);
  }

  absl::StatusOr<std::vector<ProjectKey>> ListKeys(
      int64_t project_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare(absl::StrCat(
                    "SELECT ", kKeyCols,
                    " FROM keys WHERE ? = 0 OR project_id = ? ORDER BY id")));
    s->Bind(1, project_id).Bind(2, project_id);
    std::vector<ProjectKey> out;
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ReadKey(*s));
    }
    return out;
  }

  absl::StatusOr<std::vector<ProjectKey>> GetKeys(
      std::span<const std::string> public_keys) override {
    std::vector<ProjectKey> out;
    if (public_keys.empty()) return out;
    std::vector<std::string> keys(public_keys.begin(), public_keys.end());
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare(absl::StrCat("SELECT ", kKeyCols,
                                        " FROM keys WHERE public_key IN "
                                        "(SELECT value FROM json_each(?))")));
    s->Bind(1, internal::JsonStringArray(keys));
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ReadKey(*s));
    }
    return out;
  }

  absl::Status SetKeyActive(std::string_view public_key, bool active) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare("UPDATE keys SET active = ? WHERE public_key = ?"));
    TERN_ASSIGN_OR_RETURN(
        int64_t n, s->Bind(1, int64_t{active}).Bind(2, public_key).Run());
    if (n == 0) return absl::NotFoundError("no such key");
    return absl::OkStatus();
  }

  absl::StatusOr<IssuePage> ListIssues(const IssueQuery& q) override {
    absl::string_view col = q.sort == IssueSort::kFirstSeen ? "first_seen"
                            : q.sort == IssueSort::kCount   ? "times_seen"
                                                            : "last_seen";
    // Only these fixed fragments vary; every value is a numbered parameter.
    std::string sql = absl::StrCat("SELECT ", kIssueCols,
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
    int limit = ClampLimit(q.limit);

    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(auto s, c->Prepare(sql));
    s->Bind(1, q.project_id);
    if (q.status) s->Bind(2, IssueStatusName(*q.status));
    if (!q.text.empty()) s->Bind(3, internal::LikeContains(q.text));
    if (q.cursor) s->Bind(4, q.cursor->sort_value).Bind(5, q.cursor->id);
    s->Bind(6, int64_t{limit} + 1);
    IssuePage page;
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      page.issues.push_back(ReadIssue(*s));
    }
    if (static_cast<int>(page.issues.size()) > limit) {
      page.issues.resize(limit);
      const Issue& last = page.issues.back();
      int64_t v = q.sort == IssueSort::kFirstSeen ? last.first_seen_ms
                  : q.sort == IssueSort::kCount   ? last.times_seen
                                                  : last.last_seen_ms;
      page.next = IssueCursor{v, last.id};
    }
    return page;
  }

  absl::StatusOr<Issue> GetIssue(int64_t issue_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    return GetIssueLocked(c, issue_id);
  }

  absl::Status SetIssueStatus(int64_t issue_id, IssueStatus status) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare("UPDATE issues SET status = ? WHERE id = ?"));
    TERN_ASSIGN_OR_RETURN(
        int64_t n, s->Bind(1, IssueStatusName(status)).Bind(2, issue_id).Run());
    if (n == 0) return absl::NotFoundError(absl::StrCat("issue ", issue_id));
    return absl::OkStatus();
  }

  absl::StatusOr<EventPage> ListIssueEvents(
      int64_t issue_id, const std::optional<EventCursor>& cursor,
      int limit) override {
    limit = ClampLimit(limit);
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(false));
    TERN_RETURN_IF_ERROR(GetIssueLocked(c, issue_id).status());
    std::string sql =
        absl::StrCat("SELECT ", kEventCols, " FROM events WHERE issue_id = ?1");
    if (cursor) {
      sql += " AND (received < ?2 OR (received = ?2 AND event_id < ?3))";
    }
    sql += " ORDER BY received DESC, event_id DESC LIMIT ?4";
    TERN_ASSIGN_OR_RETURN(auto s, c->Prepare(sql));
    s->Bind(1, issue_id);
    if (cursor) s->Bind(2, cursor->received_ms).Bind(3, cursor->event_id);
    s->Bind(4, int64_t{limit} + 1);
    EventPage page;
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      page.events.push_back(ReadEvent(*s));
    }
    if (static_cast<int>(page.events.size()) > limit) {
      page.events.resize(limit);
      page.next = EventCursor{page.events.back().received_ms,
                              page.events.back().event_id};
    }
    return page;
  }

  absl::StatusOr<StoredEvent> GetLatestEvent(int64_t issue_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(false));
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare(absl::StrCat(
                    "SELECT ", kEventCols,
                    ", payload FROM events WHERE issue_id = ? ORDER BY "
                    "received DESC, event_id DESC LIMIT 1")));
    s->Bind(1, issue_id);
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) {
      return absl::NotFoundError(
          absl::StrCat("issue ", issue_id, " has no stored event"));
    }
    return ReadStoredEvent(c, *s);
  }

  absl::StatusOr<StoredEvent> GetEvent(int64_t project_id,
                                       std::string_view event_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(false));
    TERN_ASSIGN_OR_RETURN(auto s,
                          c->Prepare(absl::StrCat(
                              "SELECT ", kEventCols,
                              ", payload FROM events WHERE project_id = ? AND "
                              "event_id = ?")));
    s->Bind(1, project_id).Bind(2, event_id);
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) {
      return absl::NotFoundError(
          absl::StrCat("event ", ToAbsl(event_id), " not found"));
    }
    return ReadStoredEvent(c, *s);
  }

  absl::StatusOr<Attachment> GetAttachment(
      int64_t project_id, std::string_view event_id,
      std::string_view attachment_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare("SELECT attachment_id, name, content_type, type, "
                           "data FROM attachments WHERE project_id = ? AND "
                           "event_id = ? AND attachment_id = ?"));
    s->Bind(1, project_id).Bind(2, event_id).Bind(3, attachment_id);
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError("attachment not found");
    return Attachment{s->Text(0), s->Text(1), s->Text(2), s->Text(3),
                      s->Blob(4)};
  }

  absl::StatusOr<std::vector<int64_t>> IssueHistogram(int64_t issue_id,
                                                      int64_t since_ms,
                                                      int64_t bucket_ms,
                                                      int buckets) override {
    if (bucket_ms <= 0 || buckets < 1 || buckets > 10000 ||
        since_ms > (int64_t{1} << 50) || bucket_ms > (int64_t{1} << 40)) {
      return absl::InvalidArgumentError("bad histogram range");
    }
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(false));
    TERN_RETURN_IF_ERROR(GetIssueLocked(c, issue_id).status());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare("SELECT (received - ?2) / ?3 AS b, count(*) FROM "
                           "events WHERE issue_id = ?1 AND received >= ?2 AND "
                           "received < ?4 GROUP BY b"));
    s->Bind(1, issue_id)
        .Bind(2, since_ms)
        .Bind(3, bucket_ms)
        .Bind(4, since_ms + bucket_ms * buckets);
    std::vector<int64_t> counts(buckets, 0);
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      int64_t b = s->Int(0);
      if (b >= 0 && b < buckets) counts[b] = s->Int(1);
    }
    return counts;
  }

  absl::StatusOr<std::vector<SessionRow>> ListSessions(
      int64_t project_id, int64_t since_s) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare("SELECT release, environment, hour, started, "
                           "healthy, errored, crashed, abnormal FROM "
                           "session_hours WHERE project_id = ? AND hour >= ? "
                           "ORDER BY hour, release, environment"));
    s->Bind(1, project_id).Bind(2, since_s);
    std::vector<SessionRow> out;
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back({s->Text(0), s->Text(1), s->Int(2), s->Int(3), s->Int(4),
                     s->Int(5), s->Int(6), s->Int(7)});
    }
    return out;
  }

  absl::StatusOr<int64_t> DeleteEventsBefore(int64_t cutoff_ms,
                                             int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(true));
    std::vector<std::pair<int64_t, ProjectString>> doomed;
    {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Prepare("SELECT id, project_id, event_id FROM events "
                             "WHERE received < ? ORDER BY received LIMIT ?"));
      s->Bind(1, cutoff_ms).Bind(2, int64_t{limit});
      while (true) {
        TERN_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        doomed.emplace_back(s->Int(0), ProjectString(s->Int(1), s->Text(2)));
      }
    }
    for (const auto& [id, key] : doomed) {
      TERN_ASSIGN_OR_RETURN(
          auto a, c->Prepare("DELETE FROM attachments WHERE project_id = ? "
                             "AND event_id = ?"));
      TERN_RETURN_IF_ERROR(
          a->Bind(1, key.first).Bind(2, key.second).Run().status());
      TERN_ASSIGN_OR_RETURN(auto e,
                            c->Prepare("DELETE FROM events WHERE id = ?"));
      TERN_RETURN_IF_ERROR(e->Bind(1, id).Run().status());
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return static_cast<int64_t>(doomed.size());
  }

  absl::StatusOr<int64_t> DeleteEmptyIssues(int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin(true));
    std::vector<int64_t> doomed;
    {
      TERN_ASSIGN_OR_RETURN(
          auto s, c->Prepare("SELECT id FROM issues WHERE NOT EXISTS (SELECT "
                             "1 FROM events WHERE events.issue_id = issues.id) "
                             "ORDER BY id LIMIT ?"));
      s->Bind(1, int64_t{limit});
      while (true) {
        TERN_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        doomed.push_back(s->Int(0));
      }
    }
    for (int64_t id : doomed) {
      TERN_ASSIGN_OR_RETURN(
          auto h, c->Prepare("DELETE FROM grouphashes WHERE issue_id = ?"));
      TERN_RETURN_IF_ERROR(h->Bind(1, id).Run().status());
      TERN_ASSIGN_OR_RETURN(auto i,
                            c->Prepare("DELETE FROM issues WHERE id = ?"));
      TERN_RETURN_IF_ERROR(i->Bind(1, id).Run().status());
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return static_cast<int64_t>(doomed.size());
  }

 private:
  absl::StatusOr<Issue> GetIssueLocked(Connection* c, int64_t issue_id) {
    TERN_ASSIGN_OR_RETURN(
        auto s, c->Prepare(absl::StrCat("SELECT ", kIssueCols,
                                        " FROM issues WHERE id = ?")));
    s->Bind(1, issue_id);
    TERN_ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return absl::NotFoundError(absl::StrCat("issue ", issue_id));
    return ReadIssue(*s);
  }

  // `s` is on a row of kEventCols + payload.
  absl::StatusOr<StoredEvent> ReadStoredEvent(Connection* c, Stmt& s) {
    StoredEvent out;
    out.summary = ReadEvent(s);
    TERN_ASSIGN_OR_RETURN(out.payload, internal::DecompressPayload(s.Blob(10)));
    TERN_ASSIGN_OR_RETURN(
        auto a, c->Prepare("SELECT attachment_id, name, content_type, type, "
                           "length(data) FROM attachments WHERE project_id = ? "
                           "AND event_id = ? ORDER BY id"));
    a->Bind(1, out.summary.project_id).Bind(2, out.summary.event_id);
    while (true) {
      TERN_ASSIGN_OR_RETURN(bool row, a->Step());
      if (!row) break;
      out.attachments.push_back(
          {a->Text(0), a->Text(1), a->Text(2), a->Text(3), a->Int(4)});
    }
    return out;
  }

  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> reader_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> SqliteStore::Open(
    std::string_view path) {
  std::string p(path);
  TERN_ASSIGN_OR_RETURN(auto writer, Connection::Open(p));
  TERN_RETURN_IF_ERROR(Migrate(writer.get()));
  // The reader opens after the migration, so it never sees a half schema.
  TERN_ASSIGN_OR_RETURN(auto reader, Connection::Open(p));
  return std::unique_ptr<Store>(
      new SqliteStoreImpl(std::move(writer), std::move(reader)));
}

}  // namespace tern::storage
