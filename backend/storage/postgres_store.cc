// The server store: PostgreSQL through libpq, for a backend whose data
// should live on a database server (several API hosts, managed backups).
//
// Two connections, each behind its own mutex: the writer (the consumer's
// WriteBatch, the CLI, status changes) and the reader (the API), so API
// requests never queue behind a batch. WriteBatch is one transaction that
// inserts the batch's events with multi-row INSERT ... ON CONFLICT DO
// NOTHING RETURNING, which tells which events were new. Every value is a
// bound parameter (PQexecParams).
//
// A lost connection makes the call fail with Unavailable (the consumer
// retries the batch, the API answers 503); the next call reconnects.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "backend/storage/store_internal.h"
#include "common/status.h"
#include "common/utf8.h"

namespace tern::storage {
namespace {

using internal::ProjectString;

// Migration i brings the schema from version i to i + 1. Append only. The
// same tables as SQLite's (sqlite_store.cc); docs/storage.md explains them.
constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE TABLE projects (
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL,
  slug TEXT NOT NULL UNIQUE,
  created BIGINT NOT NULL,
  next_short_id BIGINT NOT NULL DEFAULT 1
);
CREATE TABLE keys (
  id BIGSERIAL PRIMARY KEY,
  public_key TEXT NOT NULL UNIQUE,
  project_id BIGINT NOT NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  created BIGINT NOT NULL,
  settings TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX keys_project ON keys (project_id);
CREATE TABLE issues (
  id BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL,
  short_id BIGINT NOT NULL,
  title TEXT NOT NULL,
  culprit TEXT NOT NULL,
  level TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'unresolved',
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  times_seen BIGINT NOT NULL DEFAULT 0,
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
  project_id BIGINT NOT NULL,
  hash TEXT NOT NULL,
  issue_id BIGINT NOT NULL,
  PRIMARY KEY (project_id, hash)
);
CREATE INDEX grouphashes_issue ON grouphashes (issue_id);
CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  issue_id BIGINT,
  is_transaction BOOLEAN NOT NULL,
  received BIGINT NOT NULL,
  timestamp BIGINT NOT NULL,
  level TEXT NOT NULL,
  release TEXT NOT NULL,
  environment TEXT NOT NULL,
  platform TEXT NOT NULL,
  tags TEXT NOT NULL,
  payload BYTEA NOT NULL,
  UNIQUE (project_id, event_id)
);
CREATE INDEX events_issue ON events (issue_id, received DESC, event_id DESC);
CREATE INDEX events_received ON events (received);
CREATE TABLE attachments (
  id BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  attachment_id TEXT NOT NULL,
  name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  type TEXT NOT NULL,
  data BYTEA NOT NULL,
  UNIQUE (project_id, event_id, attachment_id)
);
CREATE TABLE session_hours (
  project_id BIGINT NOT NULL,
  release TEXT NOT NULL,
  environment TEXT NOT NULL,
  hour BIGINT NOT NULL,
  started BIGINT NOT NULL DEFAULT 0,
  healthy BIGINT NOT NULL DEFAULT 0,
  errored BIGINT NOT NULL DEFAULT 0,
  crashed BIGINT NOT NULL DEFAULT 0,
  abnormal BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, release, environment, hour)
);
CREATE INDEX session_hours_hour ON session_hours (project_id, hour);
CREATE TABLE consumer_offsets (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset BIGINT NOT NULL,
  PRIMARY KEY (topic, partition)
);
)sql",
    R"sql(
CREATE TABLE alert_rules (
  id BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL,
  definition TEXT NOT NULL,
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL
);
CREATE INDEX alert_rules_project ON alert_rules (project_id);
CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL,
  rule_id BIGINT NOT NULL,
  issue_id BIGINT NOT NULL,
  dedup_key TEXT NOT NULL UNIQUE,
  cause TEXT NOT NULL,
  target_kind TEXT NOT NULL,
  target TEXT NOT NULL,
  target_index BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt BIGINT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  created BIGINT NOT NULL,
  sent BIGINT NOT NULL DEFAULT 0
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
  id BIGSERIAL PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created BIGINT NOT NULL
);
CREATE TABLE upload_chunks (
  checksum TEXT PRIMARY KEY,
  data BYTEA NOT NULL,
  created BIGINT NOT NULL
);
CREATE INDEX upload_chunks_created ON upload_chunks (created);
CREATE TABLE releases (
  id BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL,
  version TEXT NOT NULL,
  created BIGINT NOT NULL,
  finalized BIGINT,
  UNIQUE (project_id, version)
);
CREATE TABLE artifact_bundles (
  id BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL,
  checksum TEXT NOT NULL,
  debug_id TEXT NOT NULL,
  release TEXT NOT NULL,
  dist TEXT NOT NULL,
  created BIGINT NOT NULL,
  UNIQUE (project_id, checksum)
);
CREATE INDEX artifact_bundles_created ON artifact_bundles (created);
CREATE TABLE artifact_blobs (
  id BIGSERIAL PRIMARY KEY,
  data BYTEA NOT NULL
);
CREATE TABLE artifact_files (
  id BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL,
  bundle_id BIGINT,
  blob_id BIGINT NOT NULL,
  path TEXT NOT NULL,
  type TEXT NOT NULL,
  url TEXT NOT NULL,
  debug_id TEXT NOT NULL,
  sourcemap TEXT NOT NULL,
  release TEXT NOT NULL,
  dist TEXT NOT NULL,
  created BIGINT NOT NULL
);
CREATE INDEX artifact_files_debug_id ON artifact_files (project_id, debug_id, type);
CREATE INDEX artifact_files_url ON artifact_files (project_id, release, dist, url);
CREATE INDEX artifact_files_bundle ON artifact_files (bundle_id);
CREATE INDEX artifact_files_blob ON artifact_files (blob_id);
CREATE INDEX artifact_files_created ON artifact_files (created);
)sql",
};

// Taken (per transaction) while migrating, so backends starting together do
// not both create the tables. Any constant works; this spells "tern".
constexpr int64_t kMigrationLock = 0x7465726e;

// Rows per multi-row INSERT: 14 parameters a row stays far below libpq's
// 65535-parameter limit.
constexpr size_t kRowsPerInsert = 500;

// PostgreSQL refuses text that is not UTF-8 or holds a NUL byte, and libpq
// sends text parameters up to their first NUL. One bad title would make its
// batch fail on every retry and stall the consumer, so text is made valid
// first: NULs are dropped and each invalid byte becomes U+FFFD. SQLite stores
// the bytes as they are. Valid text (nearly all of it) is returned as is.
// The length of the valid sequence at value[i], 0 when it is not valid or
// is NUL (PostgreSQL refuses NUL in text too).
size_t ValidUtf8At(std::string_view value, size_t i) {
  return value[i] == '\0' ? 0 : Utf8SequenceLength(value.substr(i));
}

// How many leading bytes of `value` are valid text (all of them, nearly
// always).
size_t ValidUtf8Prefix(std::string_view value) {
  size_t i = 0;
  while (i < value.size()) {
    size_t len = ValidUtf8At(value, i);
    if (len == 0) break;
    i += len;
  }
  return i;
}

std::string ValidUtf8(std::string value) {
  size_t i = ValidUtf8Prefix(value);
  if (i == value.size()) return value;
  std::string out = value.substr(0, i);
  while (i < value.size()) {
    size_t len = ValidUtf8At(value, i);
    if (len > 0) {
      out.append(value, i, len);
      i += len;
      continue;
    }
    if (value[i] != '\0') out.append("\xEF\xBF\xBD");
    ++i;
  }
  return out;
}

// Query parameters, numbered in the order they are added. Everything goes as
// text except bytea, which goes binary (no escaping, no size blow-up).
class Params {
 public:
  std::string Add(std::string value) {
    values_.push_back(ValidUtf8(std::move(value)));
    null_.push_back(false);
    formats_.push_back(0);
    return absl::StrCat("$", values_.size());
  }
  std::string Add(std::string_view value) { return Add(std::string(value)); }
  std::string Add(const char* value) { return Add(std::string(value)); }
  std::string Add(int64_t value) { return Add(absl::StrCat(value)); }
  std::string Add(bool value) { return Add(std::string(value ? "t" : "f")); }
  std::string AddBinary(std::string_view value) {
    values_.emplace_back(value);
    null_.push_back(false);
    formats_.push_back(1);
    return absl::StrCat("$", values_.size());
  }
  std::string AddNull() {
    std::string p = Add(std::string());
    null_.back() = true;
    return p;
  }

  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> Values() const {
    std::vector<const char*> out;
    for (size_t i = 0; i < values_.size(); ++i) {
      out.push_back(null_[i] ? nullptr : values_[i].c_str());
    }
    return out;
  }
  std::vector<int> Lengths() const {
    std::vector<int> out;
    for (const std::string& v : values_)
      out.push_back(static_cast<int>(v.size()));
    return out;
  }
  const int* Formats() const { return formats_.data(); }

 private:
  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<int> formats_;
};

// A PostgreSQL array literal of text ({"a","b"}), one parameter for a whole
// list (`= ANY($1::text[])`, unnest).
std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const std::string& v : values) {
    if (out.size() > 1) out.push_back(',');
    out.push_back('"');
    for (char c : v) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::string IntArray(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (int64_t v : values) {
    absl::StrAppend(&out, out.size() > 1 ? "," : "", v);
  }
  out.push_back('}');
  return out;
}

// Rows in COPY's binary format (the "PGCOPY" header, then per row a field
// count and each field's length and bytes, big-endian), so a batch's events
// reach the server without one bound parameter per value: binding and
// parsing 6,500 parameters per 500 rows was half the server's time per
// INSERT (bench/RESULTS.md). Text is made valid UTF-8 as Params does.
class CopyRows {
 public:
  CopyRows() { data_.assign("PGCOPY\n\377\r\n\0", 11).append(8, '\0'); }

  // Starts a row of `fields` fields; exactly that many Add* calls follow.
  void Row(int16_t fields) {
    Int16(fields);
    ++rows_;
  }
  void AddInt64(int64_t v) {
    Int32(8);
    for (int shift = 56; shift >= 0; shift -= 8) {
      data_.push_back(static_cast<char>((static_cast<uint64_t>(v) >> shift)));
    }
  }
  void AddBool(bool v) {
    Int32(1);
    data_.push_back(v ? 1 : 0);
  }
  // Valid text (nearly all) goes in without a copy of its own.
  void AddText(std::string_view v) {
    if (ValidUtf8Prefix(v) == v.size()) {
      AddBytes(v);
    } else {
      AddBytes(ValidUtf8(std::string(v)));
    }
  }
  void AddBytes(std::string_view v) {
    Int32(static_cast<int32_t>(v.size()));
    data_.append(v);
  }
  void AddNull() { Int32(-1); }

  size_t rows() const { return rows_; }
  // The whole stream, with its trailer.
  const std::string& Finish() {
    Int16(-1);
    return data_;
  }

 private:
  void Int16(int16_t v) {
    data_.push_back(static_cast<char>(static_cast<uint16_t>(v) >> 8));
    data_.push_back(static_cast<char>(v & 0xFF));
  }
  void Int32(int32_t v) {
    const uint32_t u = static_cast<uint32_t>(v);
    for (int shift = 24; shift >= 0; shift -= 8) {
      data_.push_back(static_cast<char>(u >> shift));
    }
  }

  std::string data_;
  size_t rows_ = 0;
};

class Result {
 public:
  explicit Result(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  bool IsNull(int row, int col) const {
    return PQgetisnull(r_.get(), row, col) != 0;
  }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col),
                       PQgetlength(r_.get(), row, col));
  }
  int64_t Int(int row, int col) const {
    int64_t v = 0;
    (void)absl::SimpleAtoi(PQgetvalue(r_.get(), row, col), &v);
    return v;
  }
  bool Bool(int row, int col) const {
    return PQgetvalue(r_.get(), row, col)[0] == 't';
  }
  // A bytea column, which text results send hex-escaped.
  std::string Bytes(int row, int col) const {
    size_t n = 0;
    unsigned char* p = PQunescapeBytea(
        reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col)),
        &n);
    if (p == nullptr) return std::string();
    std::string out(reinterpret_cast<char*>(p), n);
    PQfreemem(p);
    return out;
  }
  // Rows changed by INSERT/UPDATE/DELETE.
  int64_t Changed() const {
    int64_t v = 0;
    (void)absl::SimpleAtoi(PQcmdTuples(r_.get()), &v);
    return v;
  }

  // One row of the result (the Row of store_internal.h).
  class Row {
   public:
    Row(const Result& r, int row) : r_(r), row_(row) {}
    int64_t Int(int col) const { return r_.Int(row_, col); }
    bool Bool(int col) const { return r_.Bool(row_, col); }
    bool IsNull(int col) const { return r_.IsNull(row_, col); }
    std::string Text(int col) const { return r_.Text(row_, col); }

   private:
    const Result& r_;
    int row_;
  };
  Row row(int i) const { return Row(*this, i); }
  // Every row, each read by `read(row)`.
  template <typename Read>
  auto ReadAll(Read read) const -> std::vector<decltype(read(row(0)))> {
    std::vector<decltype(read(row(0)))> out;
    for (int i = 0; i < rows(); ++i) out.push_back(read(row(i)));
    return out;
  }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

// One connection, (re)connected on demand. Callers hold mu().
class Connection {
 public:
  explicit Connection(std::string uri) : uri_(std::move(uri)) {}
  ~Connection() { Drop(); }

  absl::Status Connect() {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) {
      return absl::OkStatus();
    }
    Drop();
    // Defaults first: settings in the URI itself win over them.
    const char* keys[] = {"connect_timeout", "application_name",
                          "client_encoding", "dbname", nullptr};
    const char* values[] = {"10", "tern-backend", "UTF8", uri_.c_str(),
                            nullptr};
    conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
      std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
      Drop();
      while (!why.empty() && why.back() == '\n') why.pop_back();
      return absl::UnavailableError(absl::StrCat("postgres: connect: ", why));
    }
    // Notices ("relation ... already exists, skipping") would go to stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    return absl::OkStatus();
  }

  absl::StatusOr<Result> Exec(std::string_view sql,
                              const Params& params = Params()) {
    TERN_RETURN_IF_ERROR(Connect());
    std::string text(sql);
    std::vector<const char*> values = params.Values();
    std::vector<int> lengths = params.Lengths();
    PGresult* raw =
        PQexecParams(conn_, text.c_str(), params.size(), nullptr, values.data(),
                     lengths.data(), params.Formats(), /*resultFormat=*/0);
    ExecStatusType st = PQresultStatus(raw);
    if (raw != nullptr && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
      return Result(raw);
    }
    return Failure(raw, sql);
  }

  // Several statements without parameters (a migration): PQexec, since
  // PQexecParams takes exactly one statement.
  absl::Status RunScript(std::string_view sql) {
    TERN_RETURN_IF_ERROR(Connect());
    std::string text(sql);
    PGresult* raw = PQexec(conn_, text.c_str());
    if (raw != nullptr && PQresultStatus(raw) == PGRES_COMMAND_OK) {
      PQclear(raw);
      return absl::OkStatus();
    }
    return Failure(raw, sql);
  }

  absl::Status Run(std::string_view sql, const Params& params = Params()) {
    return Exec(sql, params).status();
  }

  // `sql` is a COPY ... FROM STDIN (FORMAT binary) statement; `data` its
  // whole input (CopyRows::Finish).
  absl::Status Copy(std::string_view sql, std::string_view data) {
    TERN_RETURN_IF_ERROR(Connect());
    std::string text(sql);
    PGresult* raw = PQexec(conn_, text.c_str());
    if (raw == nullptr || PQresultStatus(raw) != PGRES_COPY_IN) {
      return Failure(raw, sql);
    }
    PQclear(raw);
    // libpq buffers what it is given; 1 MiB pieces keep each call bounded.
    constexpr size_t kPiece = 1 << 20;
    bool sent = true;
    for (size_t at = 0; at < data.size() && sent; at += kPiece) {
      const size_t n = std::min(kPiece, data.size() - at);
      sent = PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) == 1;
    }
    // On a failed send the COPY is ended with an error so the server's
    // answer (and the connection's state) says why.
    if (PQputCopyEnd(conn_, sent ? nullptr : "tern: send failed") != 1) {
      return Failure(nullptr, sql);
    }
    absl::Status status = absl::OkStatus();
    while ((raw = PQgetResult(conn_)) != nullptr) {
      if (status.ok() && PQresultStatus(raw) != PGRES_COMMAND_OK) {
        status = Failure(raw, sql);
        if (conn_ == nullptr) return status;  // dropped: nothing to drain
        continue;
      }
      PQclear(raw);
    }
    return status;
  }

  bool alive() const { return conn_ != nullptr; }
  absl::Mutex& mu() { return mu_; }

 private:
  void Drop() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  absl::Status Failure(PGresult* raw, std::string_view sql);

  std::string uri_;
  PGconn* conn_ = nullptr;
  absl::Mutex mu_;
};

// A dead connection, a server going down, too many clients and
// serialization failures are worth retrying: Unavailable (and a dead
// connection is dropped, so the next call reconnects). A unique violation is
// AlreadyExists; anything else Internal. Frees `raw`.
absl::Status Connection::Failure(PGresult* raw, std::string_view sql) {
  std::string msg = raw != nullptr ? PQresultErrorMessage(raw) : "";
  if (msg.empty()) msg = PQerrorMessage(conn_);
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  const char* field =
      raw != nullptr ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  std::string state = field != nullptr ? field : "";
  PQclear(raw);
  bool dead = PQstatus(conn_) != CONNECTION_OK;
  if (dead) Drop();
  std::string what = absl::StrCat("postgres: ", msg, " [", state,
                                  "] in: ", ToAbsl(sql.substr(0, 80)));
  if (dead || state.starts_with("08") || state.starts_with("53") ||
      state.starts_with("57") || state == "40001" || state == "40P01" ||
      state == "55P03") {
    return absl::UnavailableError(what);
  }
  if (state == "23505") return absl::AlreadyExistsError(what);
  return absl::InternalError(what);
}

using Transaction = internal::Transaction<Connection>;

// The row readers of store_internal.h, for a result row.
constexpr auto ReadIssue = internal::ReadIssue<Result::Row>;
constexpr auto ReadEvent = internal::ReadEvent<Result::Row>;
constexpr auto ReadProject = internal::ReadProject<Result::Row>;
constexpr auto ReadKey = internal::ReadKey<Result::Row>;

// INSERTs rows 0..n-1 in multi-row statements of up to kRowsPerInsert rows
// each: `head` ("INSERT INTO t (columns) VALUES "), the rows' "(...)" from
// `row(k, params)`, then `tail` (ON CONFLICT, RETURNING). `done(result)`
// sees the result of each statement.
template <typename RowFn, typename DoneFn>
absl::Status InsertRows(Connection* c, std::string_view head, size_t n,
                        RowFn row, std::string_view tail, DoneFn done) {
  for (size_t start = 0; start < n; start += kRowsPerInsert) {
    size_t end = std::min(n, start + kRowsPerInsert);
    Params p;
    std::string sql(head);
    for (size_t k = start; k < end; ++k) {
      absl::StrAppend(&sql, k > start ? ", " : "", row(k, p));
    }
    sql.append(tail);
    TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
    done(r);
  }
  return absl::OkStatus();
}

absl::Status Migrate(Connection* c) {
  absl::MutexLock lock(&c->mu());
  Transaction tx(c);
  TERN_RETURN_IF_ERROR(tx.Begin());
  {
    Params p;
    std::string sql = absl::StrCat("SELECT pg_advisory_xact_lock(",
                                   p.Add(kMigrationLock), "::bigint)");
    TERN_RETURN_IF_ERROR(c->Run(sql, p));
  }
  TERN_RETURN_IF_ERROR(c->Run(
      "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)"));
  TERN_ASSIGN_OR_RETURN(Result r,
                        c->Exec("SELECT max(version) FROM schema_version"));
  int64_t version = r.rows() > 0 && !r.IsNull(0, 0) ? r.Int(0, 0) : 0;
  constexpr int64_t kLatest = std::size(kMigrations);
  TERN_RETURN_IF_ERROR(internal::CheckSchemaVersion(version, kLatest));
  for (int64_t v = version; v < kLatest; ++v) {
    TERN_RETURN_IF_ERROR(c->RunScript(kMigrations[v]));
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO schema_version (version) VALUES (", p.Add(v + 1), ")");
    TERN_RETURN_IF_ERROR(c->Run(sql, p));
  }
  return tx.Commit();
}

class PostgresStoreImpl final : public Store {
 public:
  explicit PostgresStoreImpl(const std::string& uri)
      : writer_(std::make_unique<Connection>(uri)),
        reader_(std::make_unique<Connection>(uri)) {}

  Connection* writer() { return writer_.get(); }

  absl::StatusOr<BatchResult> WriteBatch(const Batch& batch) override {
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin());
    BatchResult result;

    // Every project must exist. Locking the project rows (in id order, so
    // two batches cannot deadlock) serializes batches of the same project
    // across backends: without it two backends could both find a hash
    // unknown and open two issues for it.
    std::vector<int64_t> projects = internal::BatchProjects(batch);
    if (!projects.empty()) {
      Params p;
      std::string sql = absl::StrCat("SELECT id FROM projects WHERE id = ANY(",
                                     p.Add(IntArray(projects)),
                                     "::bigint[]) ORDER BY id FOR UPDATE");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      absl::flat_hash_set<int64_t> found;
      for (int i = 0; i < r.rows(); ++i) found.insert(r.Int(i, 0));
      TERN_RETURN_IF_ERROR(internal::CheckProjectsFound(projects, found));
    }

    // One lookup of the batch's event ids and one of its hashes.
    absl::flat_hash_set<ProjectString> stored;
    absl::flat_hash_map<ProjectString, int64_t> known;
    if (!batch.events.empty()) {
      std::vector<int64_t> ep, hp;
      std::vector<std::string> ids, hashes;
      for (const EventRecord& e : batch.events) {
        ep.push_back(e.project_id);
        ids.push_back(e.event_id);
        for (const std::string& h : e.hashes) {
          hp.push_back(e.project_id);
          hashes.push_back(h);
        }
      }
      Params p;
      std::string sql = absl::StrCat(
          "SELECT e.project_id, e.event_id FROM events e JOIN unnest(",
          p.Add(IntArray(ep)), "::bigint[], ", p.Add(TextArray(ids)),
          "::text[]) AS u(p, id) ON e.project_id = u.p AND e.event_id = u.id");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      for (int i = 0; i < r.rows(); ++i) {
        stored.emplace(r.Int(i, 0), r.Text(i, 1));
      }
      if (!hashes.empty()) {
        Params q;
        std::string hsql = absl::StrCat(
            "SELECT g.project_id, g.hash, g.issue_id FROM grouphashes g JOIN "
            "unnest(",
            q.Add(IntArray(hp)), "::bigint[], ", q.Add(TextArray(hashes)),
            "::text[]) AS u(p, h) ON g.project_id = u.p AND g.hash = u.h");
        TERN_ASSIGN_OR_RETURN(Result h, c->Exec(hsql, q));
        for (int i = 0; i < h.rows(); ++i) {
          known.emplace(ProjectString(h.Int(i, 0), h.Text(i, 1)), h.Int(i, 2));
        }
      }
    }

    TERN_ASSIGN_OR_RETURN(internal::BatchPlan plan,
                          internal::PlanBatch(batch, stored, known));
    TERN_RETURN_IF_ERROR(CreateIssues(c, plan, &result));

    // The events, in multi-row INSERTs; RETURNING names the ones that were
    // new (ON CONFLICT keeps a duplicate the lookup missed from counting).
    std::vector<bool> inserted(batch.events.size(), false);
    std::vector<size_t> todo;
    for (size_t i = 0; i < batch.events.size(); ++i) {
      if (plan.event_issue[i] == internal::BatchPlan::kDuplicate) {
        ++result.duplicates;
      } else {
        todo.push_back(i);
      }
    }
    absl::flat_hash_map<ProjectString, size_t> index_of;
    for (size_t i : todo) {
      const EventRecord& e = batch.events[i];
      index_of.emplace(ProjectString(e.project_id, e.event_id), i);
    }
    TERN_RETURN_IF_ERROR(
        InsertEvents(c, batch, plan, todo, [&](int64_t p, std::string id) {
          auto it = index_of.find(ProjectString(p, std::move(id)));
          if (it != index_of.end()) inserted[it->second] = true;
        }));
    std::vector<std::pair<const EventRecord*, const Attachment*>> attachments;
    for (size_t i : todo) {
      if (!inserted[i]) {
        ++result.duplicates;
        continue;
      }
      ++result.events_stored;
      for (const Attachment& a : batch.events[i].attachments) {
        attachments.emplace_back(&batch.events[i], &a);
      }
    }
    TERN_RETURN_IF_ERROR(InsertRows(
        c,
        "INSERT INTO attachments (project_id, event_id, attachment_id, name, "
        "content_type, type, data) VALUES ",
        attachments.size(),
        [&](size_t k, Params& p) {
          const auto& [e, a] = attachments[k];
          return absl::StrCat(
              "(", p.Add(e->project_id), ", ", p.Add(e->event_id), ", ",
              p.Add(a->attachment_id), ", ", p.Add(a->name), ", ",
              p.Add(a->content_type), ", ", p.Add(a->attachment_type), ", ",
              p.AddBinary(a->data), "::bytea)");
        },
        " ON CONFLICT DO NOTHING", [](const Result&) {}));

    // Issue counters, and regressions of the resolved issues among them.
    std::vector<int64_t> ids, counts, firsts, lasts, existing;
    for (const internal::IssueDelta& d :
         internal::IssueDeltas(batch, plan, inserted)) {
      ids.push_back(d.issue_id);
      counts.push_back(d.count);
      firsts.push_back(d.first_ms);
      lasts.push_back(d.last_ms);
      if (!d.is_new) existing.push_back(d.issue_id);
    }
    absl::flat_hash_set<int64_t> regressed;
    if (!existing.empty()) {
      Params p;
      std::string sql = absl::StrCat(
          "UPDATE issues SET status = 'unresolved' WHERE id = ANY(",
          p.Add(IntArray(existing)),
          "::bigint[]) AND status = 'resolved' RETURNING id");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      result.regressions += r.rows();
      for (int i = 0; i < r.rows(); ++i) regressed.insert(r.Int(i, 0));
    }
    if (!ids.empty()) {
      Params p;
      std::string sql = absl::StrCat(
          "UPDATE issues i SET times_seen = i.times_seen + u.n, first_seen = "
          "LEAST(i.first_seen, u.f), last_seen = GREATEST(i.last_seen, u.l) "
          "FROM unnest(",
          p.Add(IntArray(ids)), "::bigint[], ", p.Add(IntArray(counts)),
          "::bigint[], ", p.Add(IntArray(firsts)), "::bigint[], ",
          p.Add(IntArray(lasts)),
          "::bigint[]) AS u(id, n, f, l) WHERE i.id = u.id");
      TERN_RETURN_IF_ERROR(c->Run(sql, p));
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

    TERN_RETURN_IF_ERROR(AddSessions(c, batch.sessions));
    TERN_RETURN_IF_ERROR(StoreOffsets(c, batch.offsets));
    TERN_RETURN_IF_ERROR(tx.Commit());
    return result;
  }

  absl::StatusOr<std::vector<PartitionOffset>> LoadOffsets() override {
    TERN_ASSIGN_OR_RETURN(
        Result r, Read(absl::StrCat("SELECT ", internal::kOffsetCols,
                                    " FROM consumer_offsets ORDER BY topic, "
                                    "partition")));
    return r.ReadAll(internal::ReadOffset<Result::Row>);
  }

  absl::StatusOr<std::pair<Project, ProjectKey>> CreateProject(
      std::string_view name) override {
    TERN_ASSIGN_OR_RETURN(auto created, internal::NewProject(name));
    auto& [project, k] = created;
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin());
    {
      Params p;
      std::string sql =
          absl::StrCat("INSERT INTO projects (name, slug, created) VALUES (",
                       p.Add(project.name), ", ", p.Add(project.slug), ", ",
                       p.Add(project.created_ms),
                       ") ON CONFLICT (slug) DO NOTHING RETURNING id");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      if (r.rows() == 0) {
        return absl::AlreadyExistsError(
            absl::StrCat("a project with slug '", project.slug, "' exists"));
      }
      project.id = r.Int(0, 0);
    }
    k.project_id = project.id;
    {
      Params p;
      std::string sql = absl::StrCat(
          "INSERT INTO keys (public_key, project_id, active, created, "
          "settings) VALUES (",
          p.Add(k.public_key), ", ", p.Add(k.project_id), ", TRUE, ",
          p.Add(k.created_ms), ", ", p.Add(k.settings_json), ") RETURNING id");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      if (r.rows() != 1) return absl::InternalError("INSERT gave no id");
      k.id = r.Int(0, 0);
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return created;
  }

  absl::StatusOr<std::vector<Project>> ListProjects() override {
    TERN_ASSIGN_OR_RETURN(Result r,
                          Read(absl::StrCat("SELECT ", internal::kProjectCols,
                                            " FROM projects ORDER BY id")));
    return r.ReadAll(ReadProject);
  }

  absl::StatusOr<Project> GetProject(int64_t id) override {
    Params p;
    return FindProject(absl::StrCat("id = ", p.Add(id), "::bigint"), p,
                       absl::StrCat("project ", id));
  }

  absl::StatusOr<Project> GetProjectBySlug(std::string_view slug) override {
    Params p;
    return FindProject(absl::StrCat("slug = ", p.Add(slug)), p,
                       absl::StrCat("project '", ToAbsl(slug), "'"));
  }

  absl::StatusOr<std::vector<ProjectKey>> ListKeys(
      int64_t project_id) override {
    Params p;
    std::string id = p.Add(project_id);
    std::string sql = absl::StrCat(
        "SELECT ", internal::kKeyCols, " FROM keys WHERE ", id,
        "::bigint = 0 OR project_id = ", id, "::bigint ORDER BY id");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    return r.ReadAll(ReadKey);
  }

  absl::StatusOr<std::vector<ProjectKey>> GetKeys(
      std::span<const std::string> public_keys) override {
    if (public_keys.empty()) return std::vector<ProjectKey>();
    Params p;
    std::string sql = absl::StrCat(
        "SELECT ", internal::kKeyCols, " FROM keys WHERE public_key = ANY(",
        p.Add(TextArray({public_keys.begin(), public_keys.end()})),
        "::text[])");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    return r.ReadAll(ReadKey);
  }

  absl::Status SetKeyActive(std::string_view public_key, bool active) override {
    Params p;
    std::string sql =
        absl::StrCat("UPDATE keys SET active = ", p.Add(active),
                     "::boolean WHERE public_key = ", p.Add(public_key));
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.Changed() == 0) return absl::NotFoundError("no such key");
    return absl::OkStatus();
  }

  absl::Status SetProjectRules(int64_t project_id,
                               std::string_view fingerprinting_rules,
                               std::string_view stacktrace_rules) override {
    Params p;
    std::string sql =
        absl::StrCat("UPDATE projects SET fingerprinting_rules = ",
                     p.Add(fingerprinting_rules),
                     ", stacktrace_rules = ", p.Add(stacktrace_rules),
                     " WHERE id = ", p.Add(project_id), "::bigint");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.Changed() == 0) return absl::NotFoundError("no such project");
    return absl::OkStatus();
  }

  absl::Status SetKeySettings(std::string_view public_key,
                              std::string_view settings_json) override {
    TERN_RETURN_IF_ERROR(internal::CheckSettingsJson(settings_json));
    Params p;
    std::string sql =
        absl::StrCat("UPDATE keys SET settings = ", p.Add(settings_json),
                     " WHERE public_key = ", p.Add(public_key));
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.Changed() == 0) return absl::NotFoundError("no such key");
    return absl::OkStatus();
  }

  absl::StatusOr<IssuePage> ListIssues(const IssueQuery& q) override {
    absl::string_view col = internal::IssueSortColumn(q.sort);
    int limit = internal::ClampLimit(q.limit);
    // Only these fixed fragments vary; every value is a parameter.
    Params p;
    std::string sql = absl::StrCat(
        "SELECT ", internal::kIssueCols,
        " FROM issues WHERE project_id = ", p.Add(q.project_id), "::bigint");
    if (q.status) {
      absl::StrAppend(&sql,
                      " AND status = ", p.Add(IssueStatusName(*q.status)));
    }
    if (!q.text.empty()) {
      std::string like = p.Add(internal::LikeContains(q.text));
      absl::StrAppend(&sql, " AND (title ILIKE ", like, " ESCAPE '\\' OR ",
                      "culprit ILIKE ", like, " ESCAPE '\\')");
    }
    if (q.cursor) {
      std::string v = p.Add(q.cursor->sort_value);
      std::string id = p.Add(q.cursor->id);
      absl::StrAppend(&sql, " AND (", col, ", id) < (", v, "::bigint, ", id,
                      "::bigint)");
    }
    absl::StrAppend(&sql, " ORDER BY ", col, " DESC, id DESC LIMIT ",
                    p.Add(int64_t{limit} + 1));
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    return internal::MakeIssuePage(r.ReadAll(ReadIssue), limit, q.sort);
  }

  absl::StatusOr<Issue> GetIssue(int64_t issue_id) override {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    return GetIssueLocked(c, issue_id);
  }

  absl::Status SetIssueStatus(int64_t issue_id, IssueStatus status) override {
    Params p;
    std::string sql = absl::StrCat(
        "UPDATE issues SET status = ", p.Add(IssueStatusName(status)),
        " WHERE id = ", p.Add(issue_id), "::bigint");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.Changed() == 0) {
      return absl::NotFoundError(absl::StrCat("issue ", issue_id));
    }
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
    Params p;
    std::string sql = absl::StrCat(
        "SELECT ", internal::kEventCols,
        " FROM events WHERE issue_id = ", p.Add(issue_id), "::bigint");
    if (cursor) {
      std::string t = p.Add(cursor->received_ms);
      std::string id = p.Add(cursor->event_id);
      absl::StrAppend(&sql, " AND (received, event_id) < (", t, "::bigint, ",
                      id, "::text)");
    }
    absl::StrAppend(&sql, " ORDER BY received DESC, event_id DESC LIMIT ",
                    p.Add(int64_t{limit} + 1));
    TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
    TERN_RETURN_IF_ERROR(tx.Commit());
    return internal::MakeEventPage(r.ReadAll(ReadEvent), limit);
  }

  absl::StatusOr<StoredEvent> GetLatestEvent(int64_t issue_id) override {
    Params p;
    std::string sql =
        absl::StrCat("SELECT ", internal::kEventCols,
                     ", payload FROM events WHERE issue_id = ", p.Add(issue_id),
                     "::bigint ORDER BY received DESC, event_id DESC LIMIT 1");
    return FindStoredEvent(
        sql, p, absl::StrCat("issue ", issue_id, " has no stored event"));
  }

  absl::StatusOr<StoredEvent> GetEvent(int64_t project_id,
                                       std::string_view event_id) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT ", internal::kEventCols,
        ", payload FROM events WHERE project_id = ", p.Add(project_id),
        "::bigint AND event_id = ", p.Add(event_id));
    return FindStoredEvent(
        sql, p, absl::StrCat("event ", ToAbsl(event_id), " not found"));
  }

  absl::StatusOr<Attachment> GetAttachment(
      int64_t project_id, std::string_view event_id,
      std::string_view attachment_id) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT attachment_id, name, content_type, type, data FROM "
        "attachments WHERE project_id = ",
        p.Add(project_id), "::bigint AND event_id = ", p.Add(event_id),
        " AND attachment_id = ", p.Add(attachment_id));
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    if (r.rows() == 0) return absl::NotFoundError("attachment not found");
    return Attachment{r.Text(0, 0), r.Text(0, 1), r.Text(0, 2), r.Text(0, 3),
                      r.Bytes(0, 4)};
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
    Params p;
    std::string id = p.Add(issue_id);
    std::string since = p.Add(since_ms);
    std::string bucket = p.Add(bucket_ms);
    std::string until = p.Add(since_ms + bucket_ms * buckets);
    std::string sql = absl::StrCat(
        "SELECT (received - ", since, "::bigint) / ", bucket,
        "::bigint AS b, count(*) FROM events WHERE issue_id = ", id,
        "::bigint AND received >= ", since, "::bigint AND received < ", until,
        "::bigint GROUP BY b");
    TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
    std::vector<int64_t> counts(buckets, 0);
    for (int i = 0; i < r.rows(); ++i) {
      int64_t b = r.Int(i, 0);
      if (b >= 0 && b < buckets) counts[b] = r.Int(i, 1);
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return counts;
  }

  absl::StatusOr<std::vector<SessionRow>> ListSessions(
      int64_t project_id, int64_t since_s) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT ", internal::kSessionCols,
        " FROM session_hours WHERE project_id = ", p.Add(project_id),
        "::bigint AND hour >= ", p.Add(since_s),
        "::bigint ORDER BY hour, release, environment");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    return r.ReadAll(internal::ReadSession<Result::Row>);
  }

  void SetAlertPlanner(AlertPlanner* planner) override {
    planner_.store(planner);
  }

  absl::StatusOr<std::vector<AlertRule>> ListAlertRules(
      int64_t project_id) override {
    Params p;
    std::string id = p.Add(project_id);
    std::string sql = absl::StrCat(
        "SELECT ", internal::kRuleCols, " FROM alert_rules WHERE ", id,
        "::bigint = 0 OR project_id = ", id, "::bigint ORDER BY id");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    return r.ReadAll(internal::ReadAlertRule<Result::Row>);
  }

  absl::StatusOr<AlertRule> GetAlertRule(int64_t rule_id) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT ", internal::kRuleCols,
        " FROM alert_rules WHERE id = ", p.Add(rule_id), "::bigint");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    if (r.rows() == 0) {
      return absl::NotFoundError(absl::StrCat("rule ", rule_id));
    }
    return internal::ReadAlertRule(r.row(0));
  }

  absl::StatusOr<AlertRule> CreateAlertRule(
      int64_t project_id, std::string_view definition_json) override {
    TERN_RETURN_IF_ERROR(internal::CheckRuleJson(definition_json));
    TERN_RETURN_IF_ERROR(GetProject(project_id).status());
    const int64_t now = internal::NowMs();
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO alert_rules (project_id, definition, created, updated) "
        "VALUES (",
        p.Add(project_id), "::bigint, ", p.Add(definition_json), ", ",
        p.Add(now), "::bigint, ", p.Add(now), "::bigint) RETURNING id");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.rows() != 1) return absl::InternalError("INSERT gave no id");
    return AlertRule{r.Int(0, 0), project_id, std::string(definition_json), now,
                     now};
  }

  absl::StatusOr<AlertRule> UpdateAlertRule(
      int64_t rule_id, std::string_view definition_json) override {
    TERN_RETURN_IF_ERROR(internal::CheckRuleJson(definition_json));
    Params p;
    std::string sql = absl::StrCat(
        "UPDATE alert_rules SET definition = ", p.Add(definition_json),
        ", updated = ", p.Add(internal::NowMs()),
        "::bigint WHERE id = ", p.Add(rule_id), "::bigint RETURNING ",
        internal::kRuleCols);
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.rows() == 0) {
      return absl::NotFoundError(absl::StrCat("rule ", rule_id));
    }
    return internal::ReadAlertRule(r.row(0));
  }

  absl::Status DeleteAlertRule(int64_t rule_id) override {
    Params p;
    std::string sql = absl::StrCat(
        "DELETE FROM alert_rules WHERE id = ", p.Add(rule_id), "::bigint");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.Changed() == 0) {
      return absl::NotFoundError(absl::StrCat("rule ", rule_id));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<OutboxEntry>> ClaimOutbox(int64_t now_ms,
                                                       int64_t lease_ms,
                                                       int limit) override {
    // SKIP LOCKED: rows another backend is claiming right now are passed
    // over instead of waited for, and never claimed by both.
    Params p;
    std::string sql = absl::StrCat(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, "
        "next_attempt = ",
        p.Add(now_ms + lease_ms),
        "::bigint WHERE id IN (SELECT id FROM outbox WHERE status IN "
        "('pending', 'sending') AND next_attempt <= ",
        p.Add(now_ms), "::bigint ORDER BY next_attempt, id LIMIT ",
        p.Add(int64_t{internal::ClampLimit(limit)}),
        " FOR UPDATE SKIP LOCKED) RETURNING ", internal::kOutboxCols);
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    std::vector<OutboxEntry> rows =
        r.ReadAll(internal::ReadOutbox<Result::Row>);
    std::sort(
        rows.begin(), rows.end(),
        [](const OutboxEntry& a, const OutboxEntry& b) { return a.id < b.id; });
    return rows;
  }

  absl::Status FinishOutbox(int64_t id, OutboxStatus status,
                            int64_t next_attempt_ms,
                            std::string_view error) override {
    const int64_t sent = status == OutboxStatus::kSent ? internal::NowMs() : 0;
    Params p;
    std::string sql = absl::StrCat(
        "UPDATE outbox SET status = ", p.Add(OutboxStatusName(status)),
        ", next_attempt = ", p.Add(next_attempt_ms),
        "::bigint, last_error = ", p.Add(error), ", sent = ", p.Add(sent),
        "::bigint WHERE id = ", p.Add(id), "::bigint");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.Changed() == 0) {
      return absl::NotFoundError(absl::StrCat("outbox row ", id));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<OutboxEntry>> ListOutbox(
      const OutboxQuery& q) override {
    Params p;
    std::string sql =
        absl::StrCat("SELECT ", internal::kOutboxCols,
                     " FROM outbox WHERE created >= ", p.Add(q.since_ms),
                     "::bigint AND created < ", p.Add(q.until_ms), "::bigint");
    if (q.project_id != 0) {
      absl::StrAppend(&sql, " AND project_id = ", p.Add(q.project_id),
                      "::bigint");
    }
    if (q.issue_id != 0) {
      absl::StrAppend(&sql, " AND issue_id = ", p.Add(q.issue_id), "::bigint");
    }
    if (q.status) {
      absl::StrAppend(&sql,
                      " AND status = ", p.Add(OutboxStatusName(*q.status)));
    }
    absl::StrAppend(&sql, " ORDER BY created DESC, id DESC LIMIT ",
                    p.Add(int64_t{internal::ClampLimit(q.limit)}));
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    return r.ReadAll(internal::ReadOutbox<Result::Row>);
  }

  absl::StatusOr<OutboxDepth> GetOutboxDepth() override {
    TERN_ASSIGN_OR_RETURN(
        Result r, Read("SELECT count(*), coalesce(min(created), 0) FROM "
                       "outbox WHERE status IN ('pending', 'sending')"));
    if (r.rows() == 0) return OutboxDepth();
    return OutboxDepth{r.Int(0, 0), r.Int(0, 1)};
  }

  absl::StatusOr<int64_t> DeleteEventsBefore(int64_t cutoff_ms,
                                             int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Params p;
    // One statement, so one implicit transaction: the events and their
    // attachments go together.
    std::string sql = absl::StrCat(
        "WITH doomed AS (DELETE FROM events WHERE id IN (SELECT id FROM "
        "events WHERE received < ",
        p.Add(cutoff_ms), "::bigint ORDER BY received LIMIT ",
        p.Add(int64_t{limit}),
        ") RETURNING project_id, event_id), gone AS (DELETE FROM attachments "
        "a USING doomed d WHERE a.project_id = d.project_id AND a.event_id = "
        "d.event_id) SELECT count(*) FROM doomed");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    return r.rows() > 0 ? r.Int(0, 0) : 0;
  }

  absl::StatusOr<int64_t> DeleteEmptyIssues(int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Params p;
    std::string sql = absl::StrCat(
        "WITH doomed AS (DELETE FROM issues WHERE id IN (SELECT id FROM "
        "issues i WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.issue_id "
        "= i.id) ORDER BY id LIMIT ",
        p.Add(int64_t{limit}),
        ") RETURNING id), gone AS (DELETE FROM grouphashes g USING doomed d "
        "WHERE g.issue_id = d.id) SELECT count(*) FROM doomed");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    return r.rows() > 0 ? r.Int(0, 0) : 0;
  }

  // --- releases and source maps ---

  absl::StatusOr<ApiToken> CreateApiToken(std::string_view token_hash,
                                          std::string_view name,
                                          std::string_view scopes) override {
    const int64_t now = internal::NowMs();
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO api_tokens (token_hash, name, scopes, created) VALUES (",
        p.Add(token_hash), ", ", p.Add(name), ", ", p.Add(scopes), ", ",
        p.Add(now), "::bigint) RETURNING id");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    if (r.rows() != 1) return absl::InternalError("INSERT gave no id");
    return ApiToken{r.Int(0, 0), std::string(name), std::string(scopes), now};
  }

  absl::StatusOr<ApiToken> FindApiToken(std::string_view token_hash) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT id, name, scopes, created FROM api_tokens WHERE token_hash = ",
        p.Add(token_hash));
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    if (r.rows() == 0) return absl::NotFoundError("unknown token");
    return ApiToken{r.Int(0, 0), r.Text(0, 1), r.Text(0, 2), r.Int(0, 3)};
  }

  absl::Status PutChunk(std::string_view checksum,
                        std::string_view data) override {
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO upload_chunks (checksum, data, created) VALUES (",
        p.Add(checksum), ", ", p.AddBinary(data), "::bytea, ",
        p.Add(internal::NowMs()),
        "::bigint) ON CONFLICT (checksum) DO NOTHING");
    return Write(sql, p).status();
  }

  absl::StatusOr<std::vector<std::string>> MissingChunks(
      const std::vector<std::string>& checksums) override {
    Params p;
    std::string sql =
        absl::StrCat("SELECT checksum FROM upload_chunks WHERE checksum = ANY(",
                     p.Add(TextArray(checksums)), "::text[])");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    absl::flat_hash_set<std::string> have;
    for (int i = 0; i < r.rows(); ++i) have.insert(r.Text(i, 0));
    std::vector<std::string> missing;
    for (const std::string& sum : checksums) {
      if (!have.contains(sum)) missing.push_back(sum);
    }
    return missing;
  }

  absl::StatusOr<std::string> GetChunk(std::string_view checksum) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT data FROM upload_chunks WHERE checksum = ", p.Add(checksum));
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    if (r.rows() == 0) return absl::NotFoundError("chunk not found");
    return r.Bytes(0, 0);
  }

  absl::StatusOr<bool> PutArtifactBundle(const ArtifactBundle& b) override {
    TERN_RETURN_IF_ERROR(GetProject(b.project_id).status());
    const int64_t now = internal::NowMs();
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin());
    int64_t bundle_id = 0, blob_id = 0;
    {
      Params p;
      std::string sql = absl::StrCat(
          "INSERT INTO artifact_bundles (project_id, checksum, debug_id, "
          "release, dist, created) VALUES (",
          p.Add(b.project_id), "::bigint, ", p.Add(b.checksum), ", ",
          p.Add(b.debug_id), ", ", p.Add(b.release), ", ", p.Add(b.dist), ", ",
          p.Add(now),
          "::bigint) ON CONFLICT (project_id, checksum) DO NOTHING RETURNING "
          "id");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      if (r.rows() == 0) return false;
      bundle_id = r.Int(0, 0);
    }
    {
      Params p;
      std::string sql =
          absl::StrCat("INSERT INTO artifact_blobs (data) VALUES (",
                       p.AddBinary(b.data), "::bytea) RETURNING id");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      if (r.rows() != 1) return absl::InternalError("INSERT gave no id");
      blob_id = r.Int(0, 0);
    }
    for (const ArtifactFile& f : b.files) {
      Params p;
      std::string sql = absl::StrCat(
          "INSERT INTO artifact_files (project_id, bundle_id, blob_id, path, "
          "type, url, debug_id, sourcemap, release, dist, created) VALUES (",
          p.Add(b.project_id), "::bigint, ", p.Add(bundle_id), "::bigint, ",
          p.Add(blob_id), "::bigint, ", p.Add(f.path), ", ", p.Add(f.type),
          ", ", p.Add(f.url), ", ", p.Add(f.debug_id), ", ", p.Add(f.sourcemap),
          ", ", p.Add(b.release), ", ", p.Add(b.dist), ", ", p.Add(now),
          "::bigint)");
      TERN_RETURN_IF_ERROR(c->Exec(sql, p).status());
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return true;
  }

  absl::StatusOr<bool> HasArtifactBundle(int64_t project_id,
                                         std::string_view checksum) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT 1 FROM artifact_bundles WHERE project_id = ", p.Add(project_id),
        "::bigint AND checksum = ", p.Add(checksum));
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    return r.rows() > 0;
  }

  absl::Status UpsertRelease(int64_t project_id, std::string_view version,
                             std::optional<int64_t> finalized_ms) override {
    TERN_RETURN_IF_ERROR(GetProject(project_id).status());
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO releases (project_id, version, created, finalized) "
        "VALUES (",
        p.Add(project_id), "::bigint, ", p.Add(version), ", ",
        p.Add(internal::NowMs()), "::bigint, ",
        finalized_ms ? p.Add(*finalized_ms) : p.AddNull(),
        "::bigint) ON CONFLICT (project_id, version) DO UPDATE SET finalized "
        "= coalesce(excluded.finalized, releases.finalized)");
    return Write(sql, p).status();
  }

  absl::StatusOr<std::optional<Release>> GetRelease(
      int64_t project_id, std::string_view version) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT created, finalized FROM releases WHERE project_id = ",
        p.Add(project_id), "::bigint AND version = ", p.Add(version));
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    if (r.rows() == 0) return std::nullopt;
    Release out{std::string(version), r.Int(0, 0), std::nullopt};
    if (!r.IsNull(0, 1)) out.finalized_ms = r.Int(0, 1);
    return out;
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
    TERN_RETURN_IF_ERROR(tx.Begin());
    {
      Params p;
      // Serializes uploads of the same name, so the check below holds.
      std::string sql =
          absl::StrCat("SELECT pg_advisory_xact_lock(hashtext(",
                       p.Add(absl::StrCat(project_id, "\n", ToAbsl(release),
                                          "\n", ToAbsl(dist), "\n", f.url)),
                       "))");
      TERN_RETURN_IF_ERROR(c->Exec(sql, p).status());
    }
    {
      Params p;
      std::string sql = absl::StrCat(
          "SELECT 1 FROM artifact_files WHERE project_id = ", p.Add(project_id),
          "::bigint AND release = ", p.Add(release),
          " AND dist = ", p.Add(dist), " AND url = ", p.Add(f.url),
          " AND bundle_id IS NULL");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      if (r.rows() > 0) return absl::AlreadyExistsError("release file exists");
    }
    int64_t blob_id = 0;
    {
      Params p;
      std::string sql =
          absl::StrCat("INSERT INTO artifact_blobs (data) VALUES (",
                       p.AddBinary(data), "::bytea) RETURNING id");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      if (r.rows() != 1) return absl::InternalError("INSERT gave no id");
      blob_id = r.Int(0, 0);
    }
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO artifact_files (project_id, bundle_id, blob_id, path, "
        "type, url, debug_id, sourcemap, release, dist, created) VALUES (",
        p.Add(project_id), "::bigint, NULL, ", p.Add(blob_id), "::bigint, '', ",
        p.Add(f.type), ", ", p.Add(f.url), ", ", p.Add(f.debug_id), ", ",
        p.Add(f.sourcemap), ", ", p.Add(release), ", ", p.Add(dist), ", ",
        p.Add(now), "::bigint) RETURNING id");
    TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
    if (r.rows() != 1) return absl::InternalError("INSERT gave no id");
    const int64_t id = r.Int(0, 0);
    TERN_RETURN_IF_ERROR(tx.Commit());
    return id;
  }

  absl::StatusOr<std::vector<ArtifactFile>> FindArtifactsByDebugId(
      int64_t project_id, std::string_view debug_id,
      std::string_view type) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT id, path, type, url, debug_id, sourcemap FROM artifact_files "
        "WHERE project_id = ",
        p.Add(project_id), "::bigint AND debug_id = ", p.Add(debug_id),
        " AND type = ", p.Add(type), " ORDER BY id DESC LIMIT 16");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    std::vector<ArtifactFile> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(ArtifactFile{r.Int(i, 0), r.Text(i, 1), r.Text(i, 2),
                                 r.Text(i, 3), r.Text(i, 4), r.Text(i, 5)});
    }
    return out;
  }

  absl::StatusOr<std::optional<ArtifactFile>> FindArtifactByUrl(
      int64_t project_id, std::string_view release, std::string_view dist,
      const std::vector<std::string>& urls) override {
    if (urls.empty()) return std::nullopt;
    Params p;
    // One round trip: the candidates in their order of preference.
    std::string sql = absl::StrCat(
        "SELECT f.id, f.path, f.type, f.url, f.debug_id, f.sourcemap FROM "
        "artifact_files f JOIN unnest(",
        p.Add(TextArray(urls)),
        "::text[]) WITH ORDINALITY AS u(url, n) ON f.url = u.url WHERE "
        "f.project_id = ",
        p.Add(project_id), "::bigint AND f.release = ", p.Add(release),
        " AND f.dist = ", p.Add(dist), " ORDER BY u.n, f.id DESC LIMIT 1");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    if (r.rows() == 0) return std::nullopt;
    return ArtifactFile{r.Int(0, 0),  r.Text(0, 1), r.Text(0, 2),
                        r.Text(0, 3), r.Text(0, 4), r.Text(0, 5)};
  }

  absl::StatusOr<ArtifactBlob> LoadArtifact(int64_t project_id,
                                            int64_t file_id) override {
    Params p;
    std::string sql = absl::StrCat(
        "SELECT b.data, f.path FROM artifact_files f JOIN artifact_blobs b ON "
        "b.id = f.blob_id WHERE f.id = ",
        p.Add(file_id), "::bigint AND f.project_id = ", p.Add(project_id),
        "::bigint");
    TERN_ASSIGN_OR_RETURN(Result r, Read(sql, p));
    if (r.rows() == 0) return absl::NotFoundError("artifact not found");
    return ArtifactBlob{r.Bytes(0, 0), r.Text(0, 1)};
  }

  absl::StatusOr<int64_t> DeleteArtifactsBefore(int64_t cutoff_ms,
                                                int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Connection* c = writer_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin());
    int64_t n = 0;
    // Each statement takes the cutoff as $1 (when it uses one) and the
    // limit as its last parameter.
    struct Step {
      std::string_view sql;
      bool cutoff;
    };
    constexpr Step kSteps[] = {
        {"DELETE FROM artifact_files WHERE id IN (SELECT id FROM "
         "artifact_files WHERE created < $1::bigint ORDER BY id LIMIT "
         "$2::bigint)",
         true},
        {"DELETE FROM artifact_blobs WHERE id IN (SELECT b.id FROM "
         "artifact_blobs b WHERE NOT EXISTS (SELECT 1 FROM artifact_files f "
         "WHERE f.blob_id = b.id) LIMIT $1::bigint)",
         false},
        {"DELETE FROM artifact_bundles WHERE id IN (SELECT a.id FROM "
         "artifact_bundles a WHERE a.created < $1::bigint AND NOT EXISTS "
         "(SELECT 1 FROM artifact_files f WHERE f.bundle_id = a.id) LIMIT "
         "$2::bigint)",
         true},
        {"DELETE FROM upload_chunks WHERE checksum IN (SELECT checksum FROM "
         "upload_chunks WHERE created < $1::bigint LIMIT $2::bigint)",
         true},
    };
    for (const Step& step : kSteps) {
      Params p;
      if (step.cutoff) p.Add(cutoff_ms);
      p.Add(int64_t{limit});
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(step.sql, p));
      n += r.Changed();
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return n;
  }

 private:
  // One statement on the reader (or the writer), under its mutex.
  absl::StatusOr<Result> Read(std::string_view sql,
                              const Params& p = Params()) {
    absl::MutexLock lock(&reader_->mu());
    return reader_->Exec(sql, p);
  }
  absl::StatusOr<Result> Write(std::string_view sql, const Params& p) {
    absl::MutexLock lock(&writer_->mu());
    return writer_->Exec(sql, p);
  }

  // The project WHERE `where` (its values in `p`); NotFound with `not_found`
  // as its message.
  absl::StatusOr<Project> FindProject(std::string_view where, const Params& p,
                                      std::string_view not_found) {
    TERN_ASSIGN_OR_RETURN(
        Result r, Read(absl::StrCat("SELECT ", internal::kProjectCols,
                                    " FROM projects WHERE ", ToAbsl(where)),
                       p));
    if (r.rows() == 0) return absl::NotFoundError(ToAbsl(not_found));
    return ReadProject(r.row(0));
  }

  // The event of the first row of `sql` (internal::kEventCols + payload, values
  // in `p`) with its attachments, read in one transaction; NotFound with
  // `not_found` as its message when there is no row.
  absl::StatusOr<StoredEvent> FindStoredEvent(std::string_view sql,
                                              const Params& p,
                                              std::string_view not_found) {
    Connection* c = reader_.get();
    absl::MutexLock lock(&c->mu());
    Transaction tx(c);
    TERN_RETURN_IF_ERROR(tx.Begin());
    TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
    if (r.rows() == 0) return absl::NotFoundError(ToAbsl(not_found));
    StoredEvent e;
    e.summary = ReadEvent(r.row(0));
    TERN_ASSIGN_OR_RETURN(e.payload,
                          internal::DecompressPayload(r.Bytes(0, 10)));
    Params q;
    std::string attachments = absl::StrCat(
        "SELECT attachment_id, name, content_type, type, octet_length(data) "
        "FROM attachments WHERE project_id = ",
        q.Add(e.summary.project_id),
        "::bigint AND event_id = ", q.Add(e.summary.event_id), " ORDER BY id");
    TERN_ASSIGN_OR_RETURN(Result a, c->Exec(attachments, q));
    for (int i = 0; i < a.rows(); ++i) {
      e.attachments.push_back({a.Text(i, 0), a.Text(i, 1), a.Text(i, 2),
                               a.Text(i, 3), a.Int(i, 4)});
    }
    TERN_RETURN_IF_ERROR(tx.Commit());
    return e;
  }

  // Inserts the batch's events `todo` (indexes into batch.events): COPY into
  // a session-local staging table, then one INSERT ... SELECT whose
  // ON CONFLICT keeps a duplicate the lookup missed (another backend's
  // concurrent batch) from counting. `inserted(project, event_id)` is called
  // for each row that was new.
  template <typename Inserted>
  absl::Status InsertEvents(Connection* c, const Batch& batch,
                            const internal::BatchPlan& plan,
                            const std::vector<size_t>& todo,
                            Inserted inserted) {
    if (todo.empty()) return absl::OkStatus();
    // ON COMMIT DELETE ROWS: each transaction starts with it empty (a rolled
    // back one leaves nothing either). IF NOT EXISTS: a reconnect gives a new
    // session without it.
    TERN_RETURN_IF_ERROR(c->Run(
        "CREATE TEMP TABLE IF NOT EXISTS events_in (ord BIGINT NOT NULL, "
        "project_id BIGINT NOT NULL, event_id TEXT NOT NULL, issue_id BIGINT, "
        "is_transaction BOOLEAN NOT NULL, received BIGINT NOT NULL, "
        "timestamp BIGINT NOT NULL, level TEXT NOT NULL, release TEXT NOT "
        "NULL, environment TEXT NOT NULL, platform TEXT NOT NULL, tags TEXT "
        "NOT NULL, payload BYTEA NOT NULL, user_key TEXT NOT NULL) ON COMMIT "
        "DELETE ROWS"));
    CopyRows rows;
    for (size_t k = 0; k < todo.size(); ++k) {
      const EventRecord& e = batch.events[todo[k]];
      const int index = plan.event_issue[todo[k]];
      rows.Row(14);
      rows.AddInt64(static_cast<int64_t>(k));
      rows.AddInt64(e.project_id);
      rows.AddText(e.event_id);
      if (index >= 0) {
        rows.AddInt64(plan.issues[index].issue_id);
      } else {
        rows.AddNull();
      }
      rows.AddBool(e.is_transaction);
      rows.AddInt64(e.received_ms);
      rows.AddInt64(e.timestamp_ms);
      rows.AddText(e.level);
      rows.AddText(e.release);
      rows.AddText(e.environment);
      rows.AddText(e.platform);
      rows.AddText(e.tags_json);
      rows.AddBytes(internal::CompressPayload(e.payload));
      rows.AddText(e.user_key);
    }
    TERN_RETURN_IF_ERROR(c->Copy(
        "COPY events_in (ord, project_id, event_id, issue_id, is_transaction, "
        "received, timestamp, level, release, environment, platform, tags, "
        "payload, user_key) FROM STDIN (FORMAT binary)",
        rows.Finish()));
    // ORDER BY ord: the events' ids follow the batch's order, as the
    // multi-row INSERT gave them.
    TERN_ASSIGN_OR_RETURN(
        Result r,
        c->Exec("INSERT INTO events (project_id, event_id, issue_id, "
                "is_transaction, received, timestamp, level, release, "
                "environment, platform, tags, payload, user_key) SELECT "
                "project_id, event_id, issue_id, is_transaction, received, "
                "timestamp, level, release, environment, platform, tags, "
                "payload, user_key FROM events_in ORDER BY ord ON CONFLICT "
                "(project_id, event_id) DO NOTHING RETURNING project_id, "
                "event_id"));
    for (int row = 0; row < r.rows(); ++row) {
      inserted(r.Int(row, 0), r.Text(row, 1));
    }
    return absl::OkStatus();
  }

  // Gives every new issue of the plan its short id and row, then links the
  // plan's new hashes.
  absl::Status CreateIssues(Connection* c, internal::BatchPlan& plan,
                            BatchResult* result) {
    // Short ids: one counter bump per project for all its new issues.
    std::map<int64_t, std::vector<internal::PlannedIssue*>> fresh;
    for (internal::PlannedIssue& issue : plan.issues) {
      if (issue.is_new) fresh[issue.project_id].push_back(&issue);
    }
    for (auto& entry : fresh) {
      int64_t project = entry.first;
      const std::vector<internal::PlannedIssue*>& issues = entry.second;
      Params p;
      std::string n = p.Add(static_cast<int64_t>(issues.size()));
      std::string sql =
          absl::StrCat("UPDATE projects SET next_short_id = next_short_id + ",
                       n, "::bigint WHERE id = ", p.Add(project),
                       "::bigint RETURNING next_short_id - ", n, "::bigint");
      TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
      if (r.rows() != 1) return absl::InternalError("project vanished");
      int64_t short_id = r.Int(0, 0);
      absl::flat_hash_map<int64_t, internal::PlannedIssue*> by_short;
      TERN_RETURN_IF_ERROR(InsertRows(
          c,
          "INSERT INTO issues (project_id, short_id, title, culprit, level, "
          "status, first_seen, last_seen, times_seen, metadata_type, "
          "metadata_value, metadata_filename, metadata_function) VALUES ",
          issues.size(),
          [&](size_t k, Params& q) {
            const EventRecord& e = *issues[k]->opener;
            int64_t sid = short_id + static_cast<int64_t>(k);
            by_short.emplace(sid, issues[k]);
            return absl::StrCat(
                "(", q.Add(project), "::bigint, ", q.Add(sid), "::bigint, ",
                q.Add(e.issue.title), ", ", q.Add(e.issue.culprit), ", ",
                q.Add(e.issue.level.empty() ? e.level : e.issue.level),
                ", 'unresolved', ", q.Add(e.received_ms), "::bigint, ",
                q.Add(e.received_ms), "::bigint, 0, ",
                q.Add(e.issue.metadata_type), ", ",
                q.Add(e.issue.metadata_value), ", ",
                q.Add(e.issue.metadata_filename), ", ",
                q.Add(e.issue.metadata_function), ")");
          },
          " RETURNING id, short_id",
          [&](const Result& inserted) {
            for (int row = 0; row < inserted.rows(); ++row) {
              auto it = by_short.find(inserted.Int(row, 1));
              if (it != by_short.end()) {
                it->second->issue_id = inserted.Int(row, 0);
              }
            }
          }));
      result->issues_created += static_cast<int64_t>(issues.size());
    }
    std::vector<int64_t> hp, hi;
    std::vector<std::string> hashes;
    for (const internal::PlannedIssue& issue : plan.issues) {
      for (const std::string& h : issue.new_hashes) {
        hp.push_back(issue.project_id);
        hashes.push_back(h);
        hi.push_back(issue.issue_id);
      }
    }
    if (hashes.empty()) return absl::OkStatus();
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO grouphashes (project_id, hash, issue_id) SELECT * FROM "
        "unnest(",
        p.Add(IntArray(hp)), "::bigint[], ", p.Add(TextArray(hashes)),
        "::text[], ", p.Add(IntArray(hi)),
        "::bigint[]) ON CONFLICT DO NOTHING");
    return c->Run(sql, p);
  }

  // Adds the deltas (summed per row first: one INSERT ... ON CONFLICT may
  // not touch a row twice).
  absl::Status AddSessions(Connection* c,
                           const std::vector<SessionDelta>& deltas) {
    if (deltas.empty()) return absl::OkStatus();
    std::map<std::tuple<int64_t, std::string, std::string, int64_t>,
             SessionDelta>
        sums;
    for (const SessionDelta& d : deltas) {
      auto [it, fresh] = sums.try_emplace(
          std::make_tuple(d.project_id, d.release, d.environment, d.hour_s), d);
      if (fresh) continue;
      it->second.started += d.started;
      it->second.healthy += d.healthy;
      it->second.errored += d.errored;
      it->second.crashed += d.crashed;
      it->second.abnormal += d.abnormal;
    }
    std::vector<int64_t> project, hour, started, healthy, errored, crashed,
        abnormal;
    std::vector<std::string> release, environment;
    for (const auto& [key, d] : sums) {
      project.push_back(d.project_id);
      release.push_back(d.release);
      environment.push_back(d.environment);
      hour.push_back(d.hour_s);
      started.push_back(d.started);
      healthy.push_back(d.healthy);
      errored.push_back(d.errored);
      crashed.push_back(d.crashed);
      abnormal.push_back(d.abnormal);
    }
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO session_hours (project_id, release, environment, hour, "
        "started, healthy, errored, crashed, abnormal) SELECT * FROM unnest(",
        p.Add(IntArray(project)), "::bigint[], ", p.Add(TextArray(release)),
        "::text[], ", p.Add(TextArray(environment)), "::text[], ",
        p.Add(IntArray(hour)), "::bigint[], ", p.Add(IntArray(started)),
        "::bigint[], ", p.Add(IntArray(healthy)), "::bigint[], ",
        p.Add(IntArray(errored)), "::bigint[], ", p.Add(IntArray(crashed)),
        "::bigint[], ", p.Add(IntArray(abnormal)),
        "::bigint[]) ON CONFLICT (project_id, release, environment, hour) DO "
        "UPDATE SET started = session_hours.started + excluded.started, "
        "healthy = session_hours.healthy + excluded.healthy, errored = "
        "session_hours.errored + excluded.errored, crashed = "
        "session_hours.crashed + excluded.crashed, abnormal = "
        "session_hours.abnormal + excluded.abnormal");
    return c->Run(sql, p);
  }

  absl::Status StoreOffsets(Connection* c,
                            const std::vector<PartitionOffset>& offsets) {
    if (offsets.empty()) return absl::OkStatus();
    // The last offset given for a partition wins.
    std::map<std::pair<std::string, int32_t>, int64_t> last;
    for (const PartitionOffset& o : offsets) {
      last[{o.topic, o.partition}] = o.next_offset;
    }
    std::vector<std::string> topics;
    std::vector<int64_t> partitions, next;
    for (const auto& [key, offset] : last) {
      topics.push_back(key.first);
      partitions.push_back(key.second);
      next.push_back(offset);
    }
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO consumer_offsets (topic, partition, next_offset) SELECT * "
        "FROM unnest(",
        p.Add(TextArray(topics)), "::text[], ", p.Add(IntArray(partitions)),
        "::integer[], ", p.Add(IntArray(next)),
        "::bigint[]) ON CONFLICT (topic, partition) DO UPDATE SET "
        "next_offset = excluded.next_offset");
    return c->Run(sql, p);
  }

  absl::StatusOr<int64_t> DeleteOutboxBefore(int64_t cutoff_ms,
                                             int limit) override {
    if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
    Params p;
    std::string sql = absl::StrCat(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE created "
        "< ",
        p.Add(cutoff_ms),
        "::bigint AND status IN ('sent', 'failed', 'suppressed') ORDER BY id "
        "LIMIT ",
        p.Add(int64_t{limit}), ")");
    TERN_ASSIGN_OR_RETURN(Result r, Write(sql, p));
    return r.Changed();
  }

  // The AlertReader of WriteBatch: its queries run on the writer inside the
  // batch's transaction.
  class TxAlertReader final : public AlertReader {
   public:
    explicit TxAlertReader(Connection* c) : c_(c) {}

    absl::StatusOr<std::vector<AlertRule>> Rules(int64_t project_id) override {
      Params p;
      std::string sql = absl::StrCat("SELECT ", internal::kRuleCols,
                                     " FROM alert_rules WHERE project_id "
                                     "= ",
                                     p.Add(project_id), "::bigint ORDER BY id");
      TERN_ASSIGN_OR_RETURN(Result r, c_->Exec(sql, p));
      return r.ReadAll(internal::ReadAlertRule<Result::Row>);
    }
    absl::StatusOr<int64_t> CountIssueEvents(int64_t issue_id, int64_t since_ms,
                                             int64_t cap) override {
      Params p;
      std::string sql = absl::StrCat(
          "SELECT count(*) FROM (SELECT 1 FROM events WHERE issue_id = ",
          p.Add(issue_id), "::bigint AND received >= ", p.Add(since_ms),
          "::bigint LIMIT ", p.Add(cap), ") AS recent");
      return One(sql, p);
    }
    absl::StatusOr<int64_t> CountIssueUsers(int64_t issue_id, int64_t since_ms,
                                            int64_t cap) override {
      Params p;
      std::string sql = absl::StrCat(
          "SELECT count(*) FROM (SELECT DISTINCT user_key FROM events WHERE "
          "issue_id = ",
          p.Add(issue_id), "::bigint AND received >= ", p.Add(since_ms),
          "::bigint AND user_key != '' LIMIT ", p.Add(cap), ") AS users");
      return One(sql, p);
    }
    absl::StatusOr<std::optional<int64_t>> LastNotified(
        int64_t rule_id, int64_t issue_id) override {
      Params p;
      std::string sql = absl::StrCat(
          "SELECT max(created) FROM outbox WHERE rule_id = ", p.Add(rule_id),
          "::bigint AND issue_id = ", p.Add(issue_id),
          "::bigint AND status != 'suppressed'");
      TERN_ASSIGN_OR_RETURN(Result r, c_->Exec(sql, p));
      if (r.rows() == 0 || r.IsNull(0, 0)) return std::optional<int64_t>();
      return std::optional<int64_t>(r.Int(0, 0));
    }
    absl::StatusOr<int64_t> CountNotified(int64_t project_id,
                                          int64_t since_ms) override {
      Params p;
      std::string sql = absl::StrCat(
          "SELECT count(*) FROM outbox WHERE project_id = ", p.Add(project_id),
          "::bigint AND created >= ", p.Add(since_ms),
          "::bigint AND target_index = 0 AND cause != 'summary' AND status "
          "!= 'suppressed'");
      return One(sql, p);
    }

   private:
    absl::StatusOr<int64_t> One(const std::string& sql, const Params& p) {
      TERN_ASSIGN_OR_RETURN(Result r, c_->Exec(sql, p));
      return r.rows() > 0 ? r.Int(0, 0) : 0;
    }
    Connection* c_;
  };

  static absl::Status InsertOutbox(Connection* c, const OutboxEntry& o) {
    Params p;
    std::string sql = absl::StrCat(
        "INSERT INTO outbox (project_id, rule_id, issue_id, dedup_key, cause, "
        "target_kind, target, target_index, event_id, status, attempts, "
        "next_attempt, last_error, created, sent) VALUES (",
        p.Add(o.project_id), "::bigint, ", p.Add(o.rule_id), "::bigint, ",
        p.Add(o.issue_id), "::bigint, ", p.Add(o.dedup_key), ", ",
        p.Add(o.trigger), ", ", p.Add(o.target_kind), ", ",
        p.Add(o.target_json), ", ", p.Add(o.target_index), "::bigint, ",
        p.Add(o.event_id), ", ", p.Add(OutboxStatusName(o.status)), ", 0, ",
        p.Add(o.next_attempt_ms), "::bigint, '', ", p.Add(o.created_ms),
        "::bigint, 0) ON CONFLICT (dedup_key) DO NOTHING");
    return c->Run(sql, p);
  }

  absl::StatusOr<Issue> GetIssueLocked(Connection* c, int64_t issue_id) {
    Params p;
    std::string sql =
        absl::StrCat("SELECT ", internal::kIssueCols,
                     " FROM issues WHERE id = ", p.Add(issue_id), "::bigint");
    TERN_ASSIGN_OR_RETURN(Result r, c->Exec(sql, p));
    if (r.rows() == 0) {
      return absl::NotFoundError(absl::StrCat("issue ", issue_id));
    }
    return ReadIssue(r.row(0));
  }

  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> reader_;
  std::atomic<AlertPlanner*> planner_{nullptr};
};

}  // namespace

namespace internal {

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(std::string_view uri) {
  auto store = std::make_unique<PostgresStoreImpl>(std::string(uri));
  TERN_RETURN_IF_ERROR(Migrate(store->writer()));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace internal
}  // namespace tern::storage
