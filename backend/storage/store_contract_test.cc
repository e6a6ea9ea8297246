// The Store contract (store.h), run against every implementation: SQLite in
// a temp file and PostgreSQL on the server the ctest fixture started
// (scripts/postgres/up.sh writes its URI to TERN_PG_URI_FILE). Each test gets
// a fresh database. The PostgreSQL instances fail, never skip, when the
// server is not there.
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backend/storage/store.h"
#include "backend/storage/store_internal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tern::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

enum class Backend { kSqlite, kPostgres };

std::string PgBaseUri() {
  const char* env = std::getenv("TERN_PG_URI_FILE");
  std::ifstream in(env != nullptr ? env : TERN_PG_URI_FILE);
  std::string uri;
  std::getline(in, uri);
  return uri;
}

// Runs one statement on the server's maintenance database.
std::string PgAdmin(const std::string& base, const std::string& sql) {
  PGconn* conn = PQconnectdb((base + "/postgres").c_str());
  std::string err;
  if (PQstatus(conn) != CONNECTION_OK) {
    err = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK) {
      err = PQerrorMessage(conn);
    }
    PQclear(r);
  }
  PQfinish(conn);
  return err;
}

std::string EventId(int n) { return absl::StrFormat("%032x", n); }

// An IssueQuery (GCC warns on designated initializers that skip members).
IssueQuery Query(int64_t project, IssueSort sort = IssueSort::kLastSeen,
                 std::optional<IssueStatus> status = std::nullopt,
                 std::string text = "", int limit = 25) {
  IssueQuery q;
  q.project_id = project;
  q.sort = sort;
  q.status = status;
  q.text = std::move(text);
  q.limit = limit;
  return q;
}

class StoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    int n = counter++;
    if (GetParam() == Backend::kSqlite) {
      dir_ = std::filesystem::path(::testing::TempDir()) /
             absl::StrCat("tern_store_", getpid(), "_", n);
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      dsn_ = "sqlite:" + (dir_ / "tern.db").string();
    } else {
      base_ = PgBaseUri();
      ASSERT_FALSE(base_.empty())
          << "no PostgreSQL URI in " << TERN_PG_URI_FILE
          << " (the ctest fixture storage.postgres_up starts the server)";
      db_ = absl::StrCat("test_", getpid(), "_", n);
      std::string err = PgAdmin(base_, "CREATE DATABASE " + db_);
      ASSERT_EQ(err, "") << "cannot create the test database on " << base_;
      dsn_ = base_ + "/" + db_;
    }
    Reopen();
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (!db_.empty()) {
      EXPECT_EQ(PgAdmin(base_, "DROP DATABASE " + db_ + " WITH (FORCE)"), "");
    }
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> s = OpenStore(dsn_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }

  int64_t NewProject(std::string_view name = "app") {
    auto p = store_->CreateProject(name);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? p->first.id : 0;
  }

  static EventRecord Event(int64_t project, int n,
                           std::vector<std::string> hashes,
                           int64_t received_ms = 1000) {
    EventRecord e;
    e.project_id = project;
    e.event_id = EventId(n);
    e.hashes = std::move(hashes);
    e.issue.title = absl::StrCat("Error ", n);
    e.issue.culprit = absl::StrCat("app.views in handler", n);
    e.issue.level = "error";
    e.issue.metadata_type = "ValueError";
    e.issue.metadata_value = absl::StrCat("bad value ", n);
    e.issue.metadata_filename = "app/views.py";
    e.issue.metadata_function = "handler";
    e.received_ms = received_ms;
    e.timestamp_ms = received_ms - 5;
    e.level = "error";
    e.release = "app@1.0";
    e.environment = "production";
    e.platform = "python";
    e.tags_json = R"([["server","web-1"]])";
    e.payload = absl::StrCat(R"({"event_id":")", e.event_id,
                             R"(","message":"hello )", n, R"("})");
    return e;
  }

  BatchResult Write(Batch batch) {
    auto r = store_->WriteBatch(batch);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : BatchResult{};
  }
  BatchResult WriteOne(EventRecord e) {
    Batch b;
    b.events.push_back(std::move(e));
    return Write(std::move(b));
  }

  int64_t IssueOf(int64_t project, int n) {
    auto e = store_->GetEvent(project, EventId(n));
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok() || !e->summary.issue_id) return -1;
    return *e->summary.issue_id;
  }

  Issue GetIssue(int64_t id) {
    auto i = store_->GetIssue(id);
    EXPECT_TRUE(i.ok()) << i.status();
    return i.ok() ? *i : Issue{};
  }

  // Every issue of a query, page by page.
  std::vector<int64_t> AllIssueIds(IssueQuery q, int* pages = nullptr) {
    std::vector<int64_t> ids;
    int n = 0;
    while (true) {
      auto page = store_->ListIssues(q);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      ++n;
      for (const Issue& i : page->issues) ids.push_back(i.id);
      if (!page->next) break;
      q.cursor = page->next;
      if (n > 100) {
        ADD_FAILURE() << "pagination does not end";
        break;
      }
    }
    if (pages) *pages = n;
    return ids;
  }

  // The payload column of one event as stored, read around the Store.
  std::string RawPayload(const std::string& event_id) {
    std::string out;
    if (GetParam() == Backend::kSqlite) {
      sqlite3* db = nullptr;
      std::string path = dsn_.substr(7);
      if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK) {
        sqlite3_stmt* st = nullptr;
        std::string sql =
            "SELECT payload FROM events WHERE event_id = '" + event_id + "'";
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) ==
                SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
          out.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                     sqlite3_column_bytes(st, 0));
        }
        sqlite3_finalize(st);
      }
      sqlite3_close(db);
      return out;
    }
    PGconn* conn = PQconnectdb(dsn_.c_str());
    std::string sql =
        "SELECT encode(payload, 'hex') FROM events WHERE "
        "event_id = '" +
        event_id + "'";
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      std::string hex = PQgetvalue(r, 0, 0);
      for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(
            static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
      }
    }
    PQclear(r);
    PQfinish(conn);
    return out;
  }

  std::filesystem::path dir_;
  std::string base_;
  std::string db_;
  std::string dsn_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContractTest, ProjectsAndKeys) {
  auto a = store_->CreateProject("My App");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->first.name, "My App");
  EXPECT_EQ(a->first.slug, "my-app");
  EXPECT_GT(a->first.created_ms, 0);
  EXPECT_EQ(a->second.project_id, a->first.id);
  EXPECT_TRUE(a->second.active);
  EXPECT_EQ(a->second.settings_json, "{}");
  ASSERT_EQ(a->second.public_key.size(), 32u);
  EXPECT_EQ(a->second.public_key.find_first_not_of("0123456789abcdef"),
            std::string::npos);

  auto b = store_->CreateProject("billing");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(b->first.id, a->first.id);
  EXPECT_NE(b->second.public_key, a->second.public_key);
  EXPECT_NE(b->second.id, a->second.id);

  // Same slug, different name.
  EXPECT_EQ(store_->CreateProject("my  APP!").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateProject("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateProject("!!!").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateProject(std::string(65, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto list = store_->ListProjects();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].slug, "my-app");
  EXPECT_EQ((*list)[1].slug, "billing");

  auto got = store_->GetProject(b->first.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "billing");
  auto by_slug = store_->GetProjectBySlug("my-app");
  ASSERT_TRUE(by_slug.ok());
  EXPECT_EQ(by_slug->id, a->first.id);
  EXPECT_EQ(store_->GetProject(9999).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetProjectBySlug("nope").status().code(),
            absl::StatusCode::kNotFound);

  auto keys = store_->ListKeys(a->first.id);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].public_key, a->second.public_key);
  auto all = store_->ListKeys(0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);

  std::vector<std::string> wanted = {a->second.public_key,
                                     "ffffffffffffffffffffffffffffffff",
                                     b->second.public_key, "' OR 1=1 --"};
  auto found = store_->GetKeys(wanted);
  ASSERT_TRUE(found.ok());
  std::vector<std::string> found_keys;
  for (const ProjectKey& k : *found) found_keys.push_back(k.public_key);
  EXPECT_THAT(found_keys,
              UnorderedElementsAre(a->second.public_key, b->second.public_key));
  auto none = store_->GetKeys({});
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());

  // Disabling keeps the key visible, inactive.
  ASSERT_TRUE(store_->SetKeyActive(a->second.public_key, false).ok());
  std::vector<std::string> one = {a->second.public_key};
  found = store_->GetKeys(one);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_FALSE((*found)[0].active);
  ASSERT_TRUE(store_->SetKeyActive(a->second.public_key, true).ok());
  found = store_->GetKeys(one);
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE((*found)[0].active);
  EXPECT_EQ(store_->SetKeyActive("0123", false).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, KeySettings) {
  auto a = store_->CreateProject("settings-a");
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = store_->CreateProject("settings-b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->second.settings_json, "{}");
  const std::string settings =
      R"({"quotas":[{"id":"q","limit":3,"window":3600}],"x":"it's"})";
  ASSERT_TRUE(store_->SetKeySettings(a->second.public_key, settings).ok());
  std::vector<std::string> both = {a->second.public_key, b->second.public_key};
  auto found = store_->GetKeys(both);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 2u);
  for (const ProjectKey& k : *found) {
    // Stored as given, and only on the key it was set for.
    EXPECT_EQ(k.settings_json,
              k.public_key == a->second.public_key ? settings : "{}");
  }
  auto listed = store_->ListKeys(a->first.id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].settings_json, settings);

  // Replaced as a whole, not merged.
  ASSERT_TRUE(store_->SetKeySettings(a->second.public_key, "{}").ok());
  listed = store_->ListKeys(a->first.id);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[0].settings_json, "{}");

  for (std::string_view bad : {"[]", "1", "\"s\"", "null", "", "{", "{} x"}) {
    EXPECT_EQ(store_->SetKeySettings(a->second.public_key, bad).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  listed = store_->ListKeys(a->first.id);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[0].settings_json, "{}");
  EXPECT_EQ(
      store_->SetKeySettings("ffffffffffffffffffffffffffffffff", "{}").code(),
      absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, ProjectRules) {
  auto a = store_->CreateProject("rules-a");
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = store_->CreateProject("rules-b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->first.fingerprinting_rules, "");
  const std::string fp = "error.type:\"It's\" -> it\n";
  const std::string st = "stack.function:std::* -app\n";
  ASSERT_TRUE(store_->SetProjectRules(a->first.id, fp, st).ok());
  auto got = store_->GetProject(a->first.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->fingerprinting_rules, fp);
  EXPECT_EQ(got->stacktrace_rules, st);
  auto listed = store_->ListProjects();
  ASSERT_TRUE(listed.ok());
  for (const Project& p : *listed) {
    if (p.id == b->first.id) {
      EXPECT_EQ(p.fingerprinting_rules, "");
      EXPECT_EQ(p.stacktrace_rules, "");
    }
    if (p.id == a->first.id) {
      EXPECT_EQ(p.fingerprinting_rules, fp);
    }
  }
  auto by_slug = store_->GetProjectBySlug("rules-a");
  ASSERT_TRUE(by_slug.ok());
  EXPECT_EQ(by_slug->stacktrace_rules, st);
  ASSERT_TRUE(store_->SetProjectRules(a->first.id, "", "").ok());
  EXPECT_EQ(store_->GetProject(a->first.id)->fingerprinting_rules, "");
  EXPECT_EQ(store_->SetProjectRules(987654321, "", "").code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, NewEventOpensIssue) {
  int64_t p = NewProject();
  EventRecord e = Event(p, 1, {"app1", "sys1"}, 5000);
  e.issue.level = "warning";
  BatchResult r = WriteOne(e);
  EXPECT_EQ(r.events_stored, 1);
  EXPECT_EQ(r.issues_created, 1);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(r.regressions, 0);

  Issue i = GetIssue(IssueOf(p, 1));
  EXPECT_EQ(i.project_id, p);
  EXPECT_EQ(i.short_id, 1);
  EXPECT_EQ(i.fields.title, "Error 1");
  EXPECT_EQ(i.fields.culprit, "app.views in handler1");
  EXPECT_EQ(i.fields.level, "warning");
  EXPECT_EQ(i.fields.metadata_type, "ValueError");
  EXPECT_EQ(i.fields.metadata_value, "bad value 1");
  EXPECT_EQ(i.fields.metadata_filename, "app/views.py");
  EXPECT_EQ(i.fields.metadata_function, "handler");
  EXPECT_EQ(i.status, IssueStatus::kUnresolved);
  EXPECT_EQ(i.first_seen_ms, 5000);
  EXPECT_EQ(i.last_seen_ms, 5000);
  EXPECT_EQ(i.times_seen, 1);

  // A second issue gets the next short id; a second project starts at 1.
  WriteOne(Event(p, 2, {"app2"}, 6000));
  EXPECT_EQ(GetIssue(IssueOf(p, 2)).short_id, 2);
  int64_t q = NewProject("other");
  WriteOne(Event(q, 3, {"app1"}, 6000));
  Issue other = GetIssue(IssueOf(q, 3));
  EXPECT_EQ(other.short_id, 1);
  EXPECT_NE(other.id, i.id);  // hashes are per project

  // A later event keeps the opener's level and fields, moves last_seen.
  EventRecord later = Event(p, 4, {"app1"}, 9000);
  later.issue.level = "fatal";
  later.issue.title = "other title";
  r = WriteOne(later);
  EXPECT_EQ(r.issues_created, 0);
  Issue j = GetIssue(i.id);
  EXPECT_EQ(j.fields.level, "warning");
  EXPECT_EQ(j.fields.title, "Error 1");
  EXPECT_EQ(j.first_seen_ms, 5000);
  EXPECT_EQ(j.last_seen_ms, 9000);
  EXPECT_EQ(j.times_seen, 2);

  // An older event does not move last_seen back but can move first_seen.
  WriteOne(Event(p, 5, {"app1"}, 4000));
  j = GetIssue(i.id);
  EXPECT_EQ(j.first_seen_ms, 4000);
  EXPECT_EQ(j.last_seen_ms, 9000);
  EXPECT_EQ(j.times_seen, 3);
}

TEST_P(StoreContractTest, JoinsIssueOfFirstKnownHash) {
  int64_t p = NewProject();
  WriteOne(Event(p, 1, {"appA", "sysA"}));
  WriteOne(Event(p, 2, {"appB"}));
  int64_t a = IssueOf(p, 1);
  int64_t b = IssueOf(p, 2);
  ASSERT_NE(a, b);

  // App hash first: the first known hash in order wins, not the oldest issue.
  BatchResult r = WriteOne(Event(p, 3, {"appB", "sysA"}));
  EXPECT_EQ(r.issues_created, 0);
  EXPECT_EQ(IssueOf(p, 3), b);
  // Unknown app hash, known system hash: joins by the system hash...
  r = WriteOne(Event(p, 4, {"appC", "sysA"}));
  EXPECT_EQ(r.issues_created, 0);
  EXPECT_EQ(IssueOf(p, 4), a);
  // ...and the unknown app hash is linked to it from then on.
  r = WriteOne(Event(p, 5, {"appC", "sysZ"}));
  EXPECT_EQ(r.issues_created, 0);
  EXPECT_EQ(IssueOf(p, 5), a);
  EXPECT_EQ(GetIssue(a).times_seen, 3);
  EXPECT_EQ(GetIssue(b).times_seen, 2);
}

TEST_P(StoreContractTest, NewIssueLinksAllItsHashes) {
  int64_t p = NewProject();
  WriteOne(Event(p, 1, {"h1", "h2", "h3"}));
  int64_t issue = IssueOf(p, 1);
  WriteOne(Event(p, 2, {"h3"}));
  WriteOne(Event(p, 3, {"x", "h2"}));
  EXPECT_EQ(IssueOf(p, 2), issue);
  EXPECT_EQ(IssueOf(p, 3), issue);
  EXPECT_EQ(GetIssue(issue).times_seen, 3);
}

TEST_P(StoreContractTest, EventsOfOneBatchShareTheirNewIssue) {
  int64_t p = NewProject();
  Batch b;
  b.events.push_back(Event(p, 1, {"app", "sys"}, 1000));
  b.events.push_back(Event(p, 2, {"other", "sys"}, 3000));
  b.events.push_back(Event(p, 3, {"app"}, 2000));
  b.events.push_back(Event(p, 4, {"fresh"}, 2000));
  BatchResult r = Write(b);
  EXPECT_EQ(r.events_stored, 4);
  EXPECT_EQ(r.issues_created, 2);
  int64_t issue = IssueOf(p, 1);
  EXPECT_EQ(IssueOf(p, 2), issue);
  EXPECT_EQ(IssueOf(p, 3), issue);
  EXPECT_NE(IssueOf(p, 4), issue);
  Issue i = GetIssue(issue);
  EXPECT_EQ(i.times_seen, 3);
  EXPECT_EQ(i.first_seen_ms, 1000);
  EXPECT_EQ(i.last_seen_ms, 3000);
  EXPECT_EQ(i.fields.title, "Error 1");  // the opener's
  EXPECT_EQ(GetIssue(IssueOf(p, 4)).short_id, 2);
}

TEST_P(StoreContractTest, DuplicateEventCountsNothing) {
  int64_t p = NewProject();
  WriteOne(Event(p, 1, {"h"}, 1000));
  int64_t issue = IssueOf(p, 1);

  // Across batches, even with other hashes and a later time.
  BatchResult r = WriteOne(Event(p, 1, {"h", "new"}, 9000));
  EXPECT_EQ(r.events_stored, 0);
  EXPECT_EQ(r.duplicates, 1);
  EXPECT_EQ(r.issues_created, 0);
  Issue i = GetIssue(issue);
  EXPECT_EQ(i.times_seen, 1);
  EXPECT_EQ(i.last_seen_ms, 1000);
  // "new" was not linked by the duplicate.
  WriteOne(Event(p, 2, {"new"}));
  EXPECT_NE(IssueOf(p, 2), issue);

  // Within one batch.
  Batch b;
  b.events.push_back(Event(p, 3, {"h"}, 2000));
  b.events.push_back(Event(p, 3, {"h"}, 3000));
  b.events.push_back(Event(p, 4, {"dupnew"}, 2000));
  b.events.push_back(Event(p, 4, {"dupnew"}, 2000));
  r = Write(b);
  EXPECT_EQ(r.events_stored, 2);
  EXPECT_EQ(r.duplicates, 2);
  EXPECT_EQ(r.issues_created, 1);
  i = GetIssue(issue);
  EXPECT_EQ(i.times_seen, 2);
  EXPECT_EQ(i.last_seen_ms, 2000);
  EXPECT_EQ(GetIssue(IssueOf(p, 4)).times_seen, 1);

  // The same event id in another project is another event.
  int64_t q = NewProject("other");
  r = WriteOne(Event(q, 1, {"h"}));
  EXPECT_EQ(r.events_stored, 1);
  EXPECT_EQ(r.duplicates, 0);
}

TEST_P(StoreContractTest, ReplayingABatchChangesNothing) {
  int64_t p = NewProject();
  Batch b;
  for (int n = 1; n <= 6; ++n) {
    b.events.push_back(Event(p, n, {absl::StrCat("h", n % 3)}, 1000 * n));
  }
  EventRecord tx = Event(p, 7, {}, 500);
  tx.is_transaction = true;
  b.events.push_back(tx);
  b.offsets.push_back({"ingest-events", 0, 42});
  BatchResult first = Write(b);
  EXPECT_EQ(first.events_stored, 7);
  EXPECT_EQ(first.issues_created, 3);

  auto before = store_->ListIssues(Query(p));
  ASSERT_TRUE(before.ok());
  BatchResult again = Write(b);
  EXPECT_EQ(again.events_stored, 0);
  EXPECT_EQ(again.duplicates, 7);
  EXPECT_EQ(again.issues_created, 0);
  EXPECT_EQ(again.regressions, 0);
  auto after = store_->ListIssues(Query(p));
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->issues.size(), before->issues.size());
  for (size_t i = 0; i < after->issues.size(); ++i) {
    EXPECT_EQ(after->issues[i].id, before->issues[i].id);
    EXPECT_EQ(after->issues[i].times_seen, before->issues[i].times_seen);
    EXPECT_EQ(after->issues[i].last_seen_ms, before->issues[i].last_seen_ms);
    EXPECT_EQ(after->issues[i].short_id, before->issues[i].short_id);
  }
  auto offsets = store_->LoadOffsets();
  ASSERT_TRUE(offsets.ok());
  ASSERT_EQ(offsets->size(), 1u);
  EXPECT_EQ((*offsets)[0].next_offset, 42);
}

TEST_P(StoreContractTest, ResolvedIssueRegressesIgnoredStaysIgnored) {
  int64_t p = NewProject();
  WriteOne(Event(p, 1, {"r"}));
  WriteOne(Event(p, 2, {"i"}));
  int64_t resolved = IssueOf(p, 1);
  int64_t ignored = IssueOf(p, 2);
  ASSERT_TRUE(store_->SetIssueStatus(resolved, IssueStatus::kResolved).ok());
  ASSERT_TRUE(store_->SetIssueStatus(ignored, IssueStatus::kIgnored).ok());
  EXPECT_EQ(GetIssue(resolved).status, IssueStatus::kResolved);

  // A duplicate of the old event is no regression.
  BatchResult r = WriteOne(Event(p, 1, {"r"}));
  EXPECT_EQ(r.regressions, 0);
  EXPECT_EQ(GetIssue(resolved).status, IssueStatus::kResolved);

  Batch b;
  b.events.push_back(Event(p, 3, {"r"}));
  b.events.push_back(Event(p, 4, {"r"}));
  b.events.push_back(Event(p, 5, {"i"}));
  r = Write(b);
  EXPECT_EQ(r.regressions, 1);
  Issue i = GetIssue(resolved);
  EXPECT_EQ(i.status, IssueStatus::kUnresolved);
  EXPECT_EQ(i.times_seen, 3);
  Issue j = GetIssue(ignored);
  EXPECT_EQ(j.status, IssueStatus::kIgnored);
  EXPECT_EQ(j.times_seen, 2);

  EXPECT_EQ(store_->SetIssueStatus(99999, IssueStatus::kResolved).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetIssue(99999).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, TransactionsAreStoredWithoutIssue) {
  int64_t p = NewProject();
  EventRecord tx = Event(p, 1, {}, 1234);
  tx.is_transaction = true;
  BatchResult r = WriteOne(tx);
  EXPECT_EQ(r.events_stored, 1);
  EXPECT_EQ(r.issues_created, 0);
  auto e = store_->GetEvent(p, EventId(1));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->summary.issue_id.has_value());
  EXPECT_EQ(e->summary.received_ms, 1234);
  auto issues = store_->ListIssues(Query(p));
  ASSERT_TRUE(issues.ok());
  EXPECT_THAT(issues->issues, IsEmpty());
  // An error event without a hash is refused, and with it the whole batch.
  Batch bad;
  bad.events.push_back(Event(p, 2, {"ok"}));
  bad.events.push_back(Event(p, 3, {}));
  EXPECT_EQ(store_->WriteBatch(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetEvent(p, EventId(2)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, InvalidUtf8AndNulInTextAreStored) {
  // A bad title must not make its batch fail on every retry.
  int64_t p = NewProject();
  EventRecord e = Event(p, 1, {"h"});
  e.issue.title = "bad \xff\xfe bytes";
  e.issue.culprit = std::string("nul\0here", 8);
  e.release = "\xc3";  // a truncated two-byte sequence
  BatchResult r = WriteOne(e);
  EXPECT_EQ(r.events_stored, 1);
  Issue i = GetIssue(IssueOf(p, 1));
  EXPECT_TRUE(i.fields.title.starts_with("bad ")) << i.fields.title;
  EXPECT_TRUE(i.fields.title.ends_with(" bytes")) << i.fields.title;
  EXPECT_TRUE(i.fields.culprit.starts_with("nul")) << i.fields.culprit;
  auto found =
      AllIssueIds(Query(p, IssueSort::kLastSeen, std::nullopt, "bytes"));
  EXPECT_THAT(found, ElementsAre(i.id));
}

TEST_P(StoreContractTest, PayloadAndAttachmentsRoundTrip) {
  int64_t p = NewProject();
  EventRecord e = Event(p, 1, {"h"}, 777);
  e.payload = absl::StrCat(R"({"message":")", std::string(100000, 'x'),
                           R"(","emoji":"\u00e9 ü 🙂"})");
  std::string binary("\x00\x01\xff\xfe\x00zz", 7);
  e.attachments.push_back({"att1", "dump.dmp", "application/octet-stream",
                           "event.minidump", binary});
  e.attachments.push_back({"att2", "log.txt", "text/plain", "event.attachment",
                           std::string(5000, 'l')});
  e.timestamp_ms = 770;
  e.release = "rel-9";
  e.environment = "staging";
  e.platform = "native";
  e.level = "fatal";
  e.tags_json = R"([["a","b"],["c","d"]])";
  WriteOne(e);

  auto got = store_->GetEvent(p, EventId(1));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, e.payload);
  EXPECT_EQ(got->summary.project_id, p);
  EXPECT_EQ(got->summary.event_id, EventId(1));
  EXPECT_EQ(got->summary.received_ms, 777);
  EXPECT_EQ(got->summary.timestamp_ms, 770);
  EXPECT_EQ(got->summary.level, "fatal");
  EXPECT_EQ(got->summary.release, "rel-9");
  EXPECT_EQ(got->summary.environment, "staging");
  EXPECT_EQ(got->summary.platform, "native");
  EXPECT_EQ(got->summary.tags_json, e.tags_json);
  ASSERT_EQ(got->attachments.size(), 2u);
  EXPECT_EQ(got->attachments[0].attachment_id, "att1");
  EXPECT_EQ(got->attachments[0].name, "dump.dmp");
  EXPECT_EQ(got->attachments[0].content_type, "application/octet-stream");
  EXPECT_EQ(got->attachments[0].attachment_type, "event.minidump");
  EXPECT_EQ(got->attachments[0].size, 7);
  EXPECT_EQ(got->attachments[1].attachment_id, "att2");
  EXPECT_EQ(got->attachments[1].size, 5000);

  auto att = store_->GetAttachment(p, EventId(1), "att1");
  ASSERT_TRUE(att.ok()) << att.status();
  EXPECT_EQ(att->data, binary);
  EXPECT_EQ(att->name, "dump.dmp");
  EXPECT_EQ(att->attachment_type, "event.minidump");
  EXPECT_EQ(store_->GetAttachment(p, EventId(1), "att3").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetEvent(p, EventId(2)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, PayloadIsStoredCompressed) {
  int64_t p = NewProject();
  EventRecord e = Event(p, 1, {"h"});
  e.payload = "{\"breadcrumbs\":[";
  for (int i = 0; i < 200; ++i) {
    absl::StrAppend(&e.payload, i ? "," : "",
                    R"({"category":"http","message":"GET /api/items/)", i,
                    R"( 200","level":"info"})");
  }
  e.payload += "]}";
  WriteOne(e);
  std::string raw = RawPayload(EventId(1));
  ASSERT_GE(raw.size(), 4u);
  EXPECT_EQ(raw.substr(0, 4), std::string("\x28\xb5\x2f\xfd"));  // zstd
  EXPECT_LT(raw.size() * 4, e.payload.size());
  auto got = store_->GetEvent(p, EventId(1));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->payload, e.payload);
}

TEST_P(StoreContractTest, SessionsAddUp) {
  int64_t p = NewProject();
  Batch b;
  b.sessions.push_back({p, "app@1", "prod", 3600, 2, 1, 1, 0, 0});
  b.sessions.push_back({p, "app@1", "prod", 3600, 1, 0, 0, 1, 0});
  b.sessions.push_back({p, "app@2", "prod", 3600, 5, 5, 0, 0, 0});
  b.sessions.push_back({p, "app@1", "prod", 0, 9, 9, 0, 0, 0});
  Write(b);
  Batch c;
  c.sessions.push_back({p, "app@1", "prod", 3600, 1, 0, 0, 0, 1});
  c.sessions.push_back({p, "app@1", "dev", 7200, 3, 3, 0, 0, 0});
  Write(c);

  auto rows = store_->ListSessions(p, 3600);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  const SessionRow& r0 = (*rows)[0];
  EXPECT_EQ(r0.release, "app@1");
  EXPECT_EQ(r0.environment, "prod");
  EXPECT_EQ(r0.hour_s, 3600);
  EXPECT_EQ(r0.started, 4);
  EXPECT_EQ(r0.healthy, 1);
  EXPECT_EQ(r0.errored, 1);
  EXPECT_EQ(r0.crashed, 1);
  EXPECT_EQ(r0.abnormal, 1);
  EXPECT_EQ((*rows)[1].release, "app@2");
  EXPECT_EQ((*rows)[1].started, 5);
  EXPECT_EQ((*rows)[2].hour_s, 7200);
  EXPECT_EQ((*rows)[2].environment, "dev");
  auto all = store_->ListSessions(p, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);

  // Sessions of an unknown project fail the batch.
  Batch bad;
  bad.sessions.push_back({p + 100, "x", "y", 0, 1, 1, 0, 0, 0});
  EXPECT_EQ(store_->WriteBatch(bad).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, OffsetsStoredAndLoaded) {
  int64_t p = NewProject();
  auto none = store_->LoadOffsets();
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());

  Batch b;
  b.offsets = {{"ingest-events", 0, 10},
               {"ingest-events", 1, 20},
               {"ingest-sessions", 0, 5}};
  Write(b);
  Batch c;
  c.events.push_back(Event(p, 1, {"h"}));
  c.offsets = {{"ingest-events", 1, 21}};
  Write(c);

  auto got = store_->LoadOffsets();
  ASSERT_TRUE(got.ok());
  std::vector<std::string> flat;
  for (const PartitionOffset& o : *got) {
    flat.push_back(absl::StrCat(o.topic, "/", o.partition, "=", o.next_offset));
  }
  EXPECT_THAT(flat,
              UnorderedElementsAre("ingest-events/0=10", "ingest-events/1=21",
                                   "ingest-sessions/0=5"));

  // A batch that fails stores neither its events nor its offsets.
  Batch bad;
  bad.events.push_back(Event(p, 2, {"h"}));
  bad.events.push_back(Event(p + 100, 3, {"h"}));
  bad.offsets = {{"ingest-events", 1, 99}};
  auto r = store_->WriteBatch(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(absl::StrCat(p + 100)),
            std::string::npos);
  EXPECT_EQ(store_->GetEvent(p, EventId(2)).status().code(),
            absl::StatusCode::kNotFound);
  got = store_->LoadOffsets();
  ASSERT_TRUE(got.ok());
  for (const PartitionOffset& o : *got) EXPECT_NE(o.next_offset, 99);

  // Everything survives reopening (the migrations run again as no-ops).
  Reopen();
  got = store_->LoadOffsets();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 3u);
  EXPECT_TRUE(store_->GetEvent(p, EventId(1)).ok());
}

TEST_P(StoreContractTest, ListIssuesFiltersSortsAndSearches) {
  int64_t p = NewProject();
  int64_t q = NewProject("other");
  // 1: seen at 1000 and 5000 (count 2); 2: 2000; 3: 3000 x3.
  EventRecord e1 = Event(p, 1, {"a"}, 1000);
  e1.issue.title = "ZeroDivisionError: division by zero";
  e1.issue.culprit = "math in divide";
  EventRecord e2 = Event(p, 2, {"b"}, 2000);
  e2.issue.title = "100% disk_full";
  e2.issue.culprit = "storage in write";
  EventRecord e3 = Event(p, 3, {"c"}, 3000);
  e3.issue.title = "KeyError: 'user'";
  e3.issue.culprit = "Views IN Handler";
  Batch b;
  b.events = {e1,
              e2,
              e3,
              Event(p, 4, {"a"}, 5000),
              Event(p, 5, {"c"}, 3000),
              Event(p, 6, {"c"}, 3000),
              Event(q, 7, {"a"}, 9000)};
  Write(b);
  int64_t i1 = IssueOf(p, 1), i2 = IssueOf(p, 2), i3 = IssueOf(p, 3);
  ASSERT_TRUE(store_->SetIssueStatus(i2, IssueStatus::kResolved).ok());

  auto ids = [&](IssueQuery query) { return AllIssueIds(query); };
  EXPECT_THAT(ids(Query(p)), ElementsAre(i1, i3, i2));
  EXPECT_THAT(ids(Query(p, IssueSort::kFirstSeen)), ElementsAre(i3, i2, i1));
  EXPECT_THAT(ids(Query(p, IssueSort::kCount)), ElementsAre(i3, i1, i2));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, IssueStatus::kUnresolved)),
              ElementsAre(i1, i3));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, IssueStatus::kResolved)),
              ElementsAre(i2));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, IssueStatus::kIgnored)),
              IsEmpty());
  // Case-insensitive substring of title or culprit.
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "division")),
              ElementsAre(i1));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "KEYERROR")),
              ElementsAre(i3));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "views in")),
              ElementsAre(i3));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "in")),
              ElementsAre(i1, i3, i2));
  // LIKE metacharacters are literal.
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "%")),
              ElementsAre(i2));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "0% d")),
              ElementsAre(i2));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "_")),
              ElementsAre(i2));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "k_full")),
              ElementsAre(i2));
  // As wildcards they would match "Views IN" and "ZeroDivisionError".
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "views_in")),
              IsEmpty());
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "zero%error")),
              IsEmpty());
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "\\")),
              IsEmpty());
  // Text that looks like SQL is just text.
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "'user'")),
              ElementsAre(i3));
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt, "' OR 1=1 --")),
              IsEmpty());
  EXPECT_THAT(ids(Query(p, IssueSort::kLastSeen, std::nullopt,
                        "'; DROP TABLE issues; --")),
              IsEmpty());
  EXPECT_THAT(ids(Query(p)), ElementsAre(i1, i3, i2));
  // Combined filters.
  EXPECT_THAT(ids(Query(p, IssueSort::kCount, IssueStatus::kUnresolved, "e")),
              ElementsAre(i3, i1));
  // The other project sees only its own issue; an unknown one nothing.
  EXPECT_EQ(ids(Query(q)).size(), 1u);
  EXPECT_THAT(ids(Query(12345)), IsEmpty());
}

TEST_P(StoreContractTest, ListIssuesPaginatesWithoutGapsOrRepeats) {
  int64_t p = NewProject();
  Batch b;
  // 23 issues; last_seen has many ties (n % 4), counts 1..3.
  int n = 0;
  for (int issue = 0; issue < 23; ++issue) {
    for (int k = 0; k <= issue % 3; ++k) {
      b.events.push_back(Event(p, ++n, {absl::StrCat("h", issue)},
                               1000 * (issue % 4) + (k == 0 ? 0 : 1)));
    }
  }
  Write(b);
  for (IssueSort sort :
       {IssueSort::kLastSeen, IssueSort::kFirstSeen, IssueSort::kCount}) {
    IssueQuery q = Query(p, sort);
    q.limit = 100;
    auto full = store_->ListIssues(q);
    ASSERT_TRUE(full.ok());
    ASSERT_EQ(full->issues.size(), 23u);
    EXPECT_FALSE(full->next.has_value());
    std::vector<int64_t> expected;
    for (const Issue& i : full->issues) expected.push_back(i.id);
    // Sorted descending by (value, id).
    for (size_t i = 1; i < full->issues.size(); ++i) {
      const Issue& a = full->issues[i - 1];
      const Issue& c = full->issues[i];
      auto v = [&](const Issue& x) {
        return sort == IssueSort::kLastSeen    ? x.last_seen_ms
               : sort == IssueSort::kFirstSeen ? x.first_seen_ms
                                               : x.times_seen;
      };
      EXPECT_TRUE(v(a) > v(c) || (v(a) == v(c) && a.id > c.id));
    }
    for (int limit : {1, 4, 5, 22, 23}) {
      q.limit = limit;
      int pages = 0;
      std::vector<int64_t> got = AllIssueIds(q, &pages);
      EXPECT_EQ(got, expected) << "limit " << limit;
      EXPECT_EQ(pages, (23 + limit - 1) / limit) << "limit " << limit;
    }
  }
  // The limit is clamped to 1..100.
  auto zero =
      store_->ListIssues(Query(p, IssueSort::kLastSeen, std::nullopt, "", 0));
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->issues.size(), 1u);
  auto huge = store_->ListIssues(
      Query(p, IssueSort::kLastSeen, std::nullopt, "", 100000));
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->issues.size(), 23u);
}

TEST_P(StoreContractTest, IssueEventPagesAndLatest) {
  int64_t p = NewProject();
  Batch b;
  // Received 1000, 2000, 2000, 2000, 3000: ties broken by event id.
  b.events = {Event(p, 1, {"h"}, 1000), Event(p, 2, {"h"}, 2000),
              Event(p, 3, {"h"}, 2000), Event(p, 4, {"h"}, 2000),
              Event(p, 5, {"h"}, 3000), Event(p, 6, {"other"}, 9000)};
  Write(b);
  int64_t issue = IssueOf(p, 1);

  std::vector<std::string> seen;
  std::optional<EventCursor> cursor;
  int pages = 0;
  while (true) {
    auto page = store_->ListIssueEvents(issue, cursor, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const EventSummary& e : page->events) {
      EXPECT_EQ(e.issue_id, issue);
      seen.push_back(e.event_id);
    }
    if (!page->next) break;
    cursor = page->next;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre(EventId(5), EventId(4), EventId(3), EventId(2),
                                EventId(1)));
  auto all = store_->ListIssueEvents(issue, std::nullopt, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->events.size(), 5u);
  EXPECT_FALSE(all->next.has_value());
  EXPECT_EQ(store_->ListIssueEvents(99999, std::nullopt, 10).status().code(),
            absl::StatusCode::kNotFound);

  auto latest = store_->GetLatestEvent(issue);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->summary.event_id, EventId(5));
  EXPECT_EQ(latest->payload, Event(p, 5, {}).payload);
  // Ties on received: the greater event id is the latest.
  WriteOne(Event(p, 7, {"h"}, 3000));
  latest = store_->GetLatestEvent(issue);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->summary.event_id, EventId(7));
  EXPECT_EQ(store_->GetLatestEvent(99999).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, IssueHistogram) {
  int64_t p = NewProject();
  Batch b;
  // Buckets of 100 ms from 1000: 999 is before, 1000 and 1099 in bucket 0,
  // 1250 in bucket 2, 1399 in bucket 3, 1400 after the last of 4 buckets.
  int64_t times[] = {999, 1000, 1099, 1250, 1399, 1400};
  for (int i = 0; i < 6; ++i)
    b.events.push_back(Event(p, i + 1, {"h"}, times[i]));
  b.events.push_back(Event(p, 10, {"other"}, 1000));
  Write(b);
  auto h = store_->IssueHistogram(IssueOf(p, 1), 1000, 100, 4);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_THAT(*h, ElementsAre(2, 0, 1, 1));
  EXPECT_EQ(store_->IssueHistogram(IssueOf(p, 1), 1000, 0, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->IssueHistogram(IssueOf(p, 1), 1000, 10, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->IssueHistogram(99999, 0, 10, 1).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, CleanupInBatches) {
  int64_t p = NewProject();
  Batch b;
  // Issue "old": 5 events, all old. Issue "mixed": 2 old, 1 new.
  for (int n = 1; n <= 5; ++n)
    b.events.push_back(Event(p, n, {"old"}, 100 + n));
  b.events.push_back(Event(p, 6, {"mixed"}, 100));
  b.events.push_back(Event(p, 7, {"mixed"}, 200));
  b.events.push_back(Event(p, 8, {"mixed"}, 5000));
  b.events[0].attachments.push_back(
      {"a", "f", "text/plain", "event.attachment", "data"});
  EventRecord tx = Event(p, 9, {}, 50);
  tx.is_transaction = true;
  b.events.push_back(tx);
  Write(b);
  int64_t old_issue = IssueOf(p, 1);
  int64_t mixed = IssueOf(p, 6);

  int64_t total = 0;
  int rounds = 0;
  while (true) {
    auto n = store_->DeleteEventsBefore(1000, 3);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_LE(*n, 3);
    if (*n == 0) break;
    total += *n;
    ASSERT_LT(++rounds, 10);
  }
  EXPECT_EQ(total, 8);  // 5 + 2 + the transaction
  EXPECT_EQ(rounds, 3);
  EXPECT_EQ(store_->GetEvent(p, EventId(1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetAttachment(p, EventId(1), "a").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetEvent(p, EventId(9)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetEvent(p, EventId(8)).ok());

  auto gone = store_->DeleteEmptyIssues(1);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(*gone, 1);
  gone = store_->DeleteEmptyIssues(10);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, 0);
  EXPECT_EQ(store_->GetIssue(old_issue).status().code(),
            absl::StatusCode::kNotFound);
  // The kept issue keeps its count (Sentry does not decrease times_seen).
  Issue kept = GetIssue(mixed);
  EXPECT_EQ(kept.times_seen, 3);
  auto events = store_->ListIssueEvents(mixed, std::nullopt, 10);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->events.size(), 1u);

  // The deleted issue's hashes went with it: the same hash opens a new issue.
  BatchResult r = WriteOne(Event(p, 20, {"old"}, 6000));
  EXPECT_EQ(r.issues_created, 1);
  EXPECT_NE(IssueOf(p, 20), old_issue);
  EXPECT_EQ(store_->DeleteEventsBefore(0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, ReadersRunBesideTheWriter) {
  int64_t p = NewProject();
  WriteOne(Event(p, 1, {"h"}));
  int64_t issue = IssueOf(p, 1);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> errors{0};
  std::thread reader([&] {
    int64_t last = 0;
    while (!done.load()) {
      auto i = store_->GetIssue(issue);
      if (!i.ok() || i->times_seen < last) ++errors;
      if (i.ok()) last = i->times_seen;
      auto page = store_->ListIssues(Query(p));
      if (!page.ok()) ++errors;
      ++reads;
    }
  });
  // The writer starts once the reader is reading, so they overlap even when
  // the machine is too busy to start the thread promptly.
  while (reads.load() == 0) std::this_thread::yield();
  for (int n = 0; n < 50; ++n) {
    Batch b;
    for (int k = 0; k < 4; ++k)
      b.events.push_back(Event(p, 100 + n * 4 + k, {"h"}));
    Write(b);
  }
  done = true;
  reader.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(GetIssue(issue).times_seen, 201);
}

// PostgreSQL only: what happens when the server drops the connections.
// A planner that records the facts it was given and returns the rows it is
// told to (or an error), for the outbox contract.
class FakePlanner : public AlertPlanner {
 public:
  absl::StatusOr<std::vector<OutboxEntry>> Plan(
      std::span<const IssueActivity> activity, AlertReader& reader) override {
    seen.assign(activity.begin(), activity.end());
    if (!fail.ok()) return fail;
    for (const IssueActivity& a : activity) {
      auto rules = reader.Rules(a.project_id);
      if (!rules.ok()) return rules.status();
      rules_seen = static_cast<int>(rules->size());
      auto n = reader.CountIssueEvents(a.issue_id, 0, 1000);
      if (!n.ok()) return n.status();
      counted = *n;
      auto u = reader.CountIssueUsers(a.issue_id, 0, 1000);
      if (!u.ok()) return u.status();
      users = *u;
    }
    std::vector<OutboxEntry> out;
    for (const IssueActivity& a : activity) {
      for (const std::string& key : keys) {
        OutboxEntry e;
        e.project_id = a.project_id;
        e.rule_id = 7;
        e.issue_id = a.issue_id;
        e.dedup_key = key;
        e.trigger = a.created ? "new_issue" : "regression";
        e.target_kind = "email";
        e.target_json = R"({"type":"email","to":["a@x.org"]})";
        e.event_id = a.event_id;
        e.next_attempt_ms = 1000;
        e.created_ms = 1000;
        out.push_back(e);
      }
    }
    return out;
  }
  std::vector<IssueActivity> seen;
  std::vector<std::string> keys;
  absl::Status fail;
  int rules_seen = -1;
  int64_t counted = -1;
  int64_t users = -1;
};

TEST_P(StoreContractTest, AlertRulesCrud) {
  int64_t p = NewProject();
  EXPECT_EQ(store_->CreateAlertRule(p, "[1]").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateAlertRule(p + 100, R"({"name":"x"})").status().code(),
            absl::StatusCode::kNotFound);
  auto r = store_->CreateAlertRule(p, R"({"name":"a"})");
  ASSERT_TRUE(r.ok()) << r.status();
  auto r2 = store_->CreateAlertRule(p, R"({"name":"b"})");
  ASSERT_TRUE(r2.ok());
  auto u = store_->UpdateAlertRule(r->id, R"({"name":"a2"})");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->definition_json, R"({"name":"a2"})");
  EXPECT_EQ(u->project_id, p);
  auto list = store_->ListAlertRules(p);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].definition_json, R"({"name":"a2"})");
  EXPECT_TRUE(store_->DeleteAlertRule(r->id).ok());
  EXPECT_EQ(store_->DeleteAlertRule(r->id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetAlertRule(r->id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->UpdateAlertRule(r->id, "{}").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListAlertRules(0)->size(), 1u);
}

TEST_P(StoreContractTest, PlannerRowsCommitWithTheirBatch) {
  int64_t p = NewProject();
  ASSERT_TRUE(store_->CreateAlertRule(p, R"({"name":"a"})").ok());
  FakePlanner planner;
  planner.keys = {"k1", "k2"};
  store_->SetAlertPlanner(&planner);
  Batch b;
  b.events = {Event(p, 1, {"h1"}, 1000), Event(p, 2, {"h1"}, 2000),
              Event(p, 6, {"h1"}, 2000)};
  b.events[0].user_key = "id:1";
  b.events[1].user_key = "id:1";
  Write(b);
  ASSERT_EQ(planner.seen.size(), 1u);
  EXPECT_EQ(planner.users, 1);  // one distinct user; the third has none
  EXPECT_TRUE(planner.seen[0].created);
  EXPECT_FALSE(planner.seen[0].regressed);
  EXPECT_EQ(planner.seen[0].events, 3);
  EXPECT_EQ(planner.seen[0].last_received_ms, 2000);
  EXPECT_EQ(planner.rules_seen, 1);
  EXPECT_EQ(planner.counted, 3);  // the batch's own events are visible
  auto rows = store_->ListOutbox(OutboxQuery{});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].status, OutboxStatus::kPending);

  // The same keys again: skipped, not an error; a replayed batch (nothing
  // inserted) asks nothing.
  planner.seen.clear();
  Write(b);
  EXPECT_TRUE(planner.seen.empty());
  WriteOne(Event(p, 3, {"h1"}));
  EXPECT_FALSE(planner.seen[0].created);
  EXPECT_EQ(store_->ListOutbox(OutboxQuery{})->size(), 2u);

  // Resolved, then back: a regression fact.
  ASSERT_TRUE(
      store_->SetIssueStatus(IssueOf(p, 1), IssueStatus::kResolved).ok());
  planner.keys = {"k3"};
  WriteOne(Event(p, 4, {"h1"}));
  EXPECT_TRUE(planner.seen[0].regressed);

  // A planner error fails the batch: neither events nor rows are stored.
  planner.fail = absl::UnavailableError("planner down");
  planner.keys = {"k4"};
  Batch failing;
  failing.events = {Event(p, 5, {"h2"})};
  EXPECT_EQ(store_->WriteBatch(failing).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->GetEvent(p, EventId(5)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListOutbox(OutboxQuery{})->size(), 3u);
  store_->SetAlertPlanner(nullptr);
  Write(failing);  // no planner: nothing asked
}

TEST_P(StoreContractTest, OutboxClaimLeaseRetryAndDepth) {
  int64_t p = NewProject();
  FakePlanner planner;
  planner.keys = {"a", "b", "c"};
  store_->SetAlertPlanner(&planner);
  WriteOne(Event(p, 1, {"h1"}));
  store_->SetAlertPlanner(nullptr);
  auto depth = store_->GetOutboxDepth();
  ASSERT_TRUE(depth.ok());
  EXPECT_EQ(depth->depth, 3);
  EXPECT_EQ(depth->oldest_created_ms, 1000);

  // Due at 1000: nothing at 999.
  EXPECT_TRUE(store_->ClaimOutbox(999, 500, 10)->empty());
  auto first = store_->ClaimOutbox(1000, 500, 2);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].status, OutboxStatus::kSending);
  EXPECT_EQ((*first)[0].attempts, 1);
  EXPECT_EQ((*first)[0].next_attempt_ms, 1500);
  // Claimed rows are not claimed again while the lease runs.
  auto second = store_->ClaimOutbox(1001, 500, 10);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_NE((*second)[0].id, (*first)[0].id);
  EXPECT_NE((*second)[0].id, (*first)[1].id);

  EXPECT_TRUE(
      store_->FinishOutbox((*first)[0].id, OutboxStatus::kSent, 0, "").ok());
  EXPECT_TRUE(store_
                  ->FinishOutbox((*first)[1].id, OutboxStatus::kPending, 3000,
                                 "smtp: refused")
                  .ok());
  EXPECT_EQ(store_->FinishOutbox(424242, OutboxStatus::kSent, 0, "").code(),
            absl::StatusCode::kNotFound);
  // The third row's lease (1501) ran out: claimed again, attempt 2; the
  // retried row waits until 3000.
  auto again = store_->ClaimOutbox(2000, 5000, 10);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].id, (*second)[0].id);
  EXPECT_EQ((*again)[0].attempts, 2);
  auto retry = store_->ClaimOutbox(3000, 500, 10);
  ASSERT_EQ(retry->size(), 1u);
  EXPECT_EQ((*retry)[0].id, (*first)[1].id);
  EXPECT_EQ((*retry)[0].last_error, "smtp: refused");
  EXPECT_TRUE(
      store_->FinishOutbox((*retry)[0].id, OutboxStatus::kFailed, 0, "gave up")
          .ok());

  OutboxQuery q;
  q.status = OutboxStatus::kSent;
  auto sent = store_->ListOutbox(q);
  ASSERT_EQ(sent->size(), 1u);
  EXPECT_GT((*sent)[0].sent_ms, 0);
  q.status = OutboxStatus::kFailed;
  EXPECT_EQ(store_->ListOutbox(q)->front().last_error, "gave up");
  q = OutboxQuery{};
  q.project_id = p + 1;
  EXPECT_TRUE(store_->ListOutbox(q)->empty());
  EXPECT_EQ(store_->GetOutboxDepth()->depth, 1);  // the one still sending

  // Retention takes the finished rows only, `limit` at a time.
  EXPECT_EQ(store_->DeleteOutboxBefore(1000, 10).value_or(-1), 0);
  EXPECT_EQ(store_->DeleteOutboxBefore(1001, 1).value_or(-1), 1);
  EXPECT_EQ(store_->DeleteOutboxBefore(1001, 10).value_or(-1), 1);
  EXPECT_EQ(store_->DeleteOutboxBefore(1001, 10).value_or(-1), 0);
  EXPECT_EQ(store_->ListOutbox(OutboxQuery{})->size(), 1u);
  EXPECT_EQ(store_->DeleteOutboxBefore(1001, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, TwoStoresNeverClaimTheSameRow) {
  int64_t p = NewProject();
  FakePlanner planner;
  for (int i = 0; i < 200; ++i) planner.keys.push_back(absl::StrCat("k", i));
  store_->SetAlertPlanner(&planner);
  WriteOne(Event(p, 1, {"h1"}));
  store_->SetAlertPlanner(nullptr);
  auto other = OpenStore(dsn_);
  ASSERT_TRUE(other.ok()) << other.status();
  std::vector<int64_t> a, b;
  auto claim_all = [](Store* s, std::vector<int64_t>* ids) {
    for (;;) {
      auto rows = s->ClaimOutbox(1000, 1'000'000, 7);
      if (!rows.ok()) {
        if (absl::IsUnavailable(rows.status())) continue;  // SQLite busy
        ADD_FAILURE() << rows.status();
        return;
      }
      if (rows->empty()) return;
      for (const OutboxEntry& o : *rows) ids->push_back(o.id);
    }
  };
  std::thread t1(claim_all, store_.get(), &a);
  std::thread t2(claim_all, other->get(), &b);
  t1.join();
  t2.join();
  std::set<int64_t> all(a.begin(), a.end());
  for (int64_t id : b) EXPECT_TRUE(all.insert(id).second) << "claimed twice";
  EXPECT_EQ(all.size(), 200u);
}

class PostgresStoreTest : public StoreContractTest {};

TEST_P(PostgresStoreTest, LostConnectionIsUnavailableThenReconnects) {
  int64_t p = NewProject();
  WriteOne(Event(p, 1, {"h"}));
  int64_t issue = IssueOf(p, 1);
  ASSERT_EQ(PgAdmin(base_,
                    "SELECT pg_terminate_backend(pid) FROM "
                    "pg_stat_activity WHERE datname = '" +
                        db_ + "' AND pid <> pg_backend_pid()"),
            "");
  // Both connections are gone: the next call on each fails retryably...
  EXPECT_EQ(store_->GetIssue(issue).status().code(),
            absl::StatusCode::kUnavailable);
  Batch b;
  b.events.push_back(Event(p, 2, {"h"}));
  b.offsets = {{"ingest-events", 0, 7}};
  EXPECT_EQ(store_->WriteBatch(b).status().code(),
            absl::StatusCode::kUnavailable);
  // ...and the retry reconnects; the failed batch was not half applied.
  auto i = store_->GetIssue(issue);
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(i->times_seen, 1);
  BatchResult r = Write(b);
  EXPECT_EQ(r.events_stored, 1);
  EXPECT_EQ(GetIssue(issue).times_seen, 2);
  auto offsets = store_->LoadOffsets();
  ASSERT_TRUE(offsets.ok());
  ASSERT_EQ(offsets->size(), 1u);
  EXPECT_EQ((*offsets)[0].next_offset, 7);
}

// Two backends on one database (one consumer group over several
// partitions: one issue's events reach both) see the first event of the same
// new issue at once. The database, not a lock in one process, must make
// them agree: one issue per hash, every event counted in it (issue 19).
TEST_P(PostgresStoreTest, TwoStoresCreatingTheSameIssueAtOnceMakeOne) {
  int64_t p = NewProject();
  absl::StatusOr<std::unique_ptr<Store>> other = OpenStore(dsn_);
  ASSERT_TRUE(other.ok()) << other.status();
  constexpr int kRounds = 100;
  constexpr int kPerSide = 3;  // events of the new hash per side and round
  std::atomic<int> arrived{0};
  std::atomic<int> errors{0};
  auto writer = [&](Store* store, int side) {
    for (int round = 0; round < kRounds; ++round) {
      // Both sides start each round together, to meet on its new hash.
      arrived.fetch_add(1);
      while (arrived.load() < 2 * (round + 1)) std::this_thread::yield();
      Batch b;
      // A second hash, new too, that only this side's event carries: the
      // issue links it whichever side creates the issue.
      for (int k = 0; k < kPerSide; ++k) {
        b.events.push_back(Event(p, 100000 * k + 1000 * side + round,
                                 {absl::StrCat("new-", round),
                                  absl::StrCat("side", side, "-", round)}));
      }
      if (!store->WriteBatch(b).ok()) errors.fetch_add(1);
    }
  };
  std::thread a(writer, store_.get(), 1);
  std::thread b(writer, other->get(), 2);
  a.join();
  b.join();
  ASSERT_EQ(errors.load(), 0);
  IssueQuery q;
  q.project_id = p;
  q.limit = 100;
  std::vector<int64_t> ids = AllIssueIds(q);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRounds));
  std::set<int64_t> short_ids;
  for (int round = 0; round < kRounds; ++round) {
    int64_t one = IssueOf(p, 1000 + round);
    int64_t two = IssueOf(p, 2000 + round);
    EXPECT_EQ(one, two) << "round " << round;
    Issue i = GetIssue(one);
    EXPECT_EQ(i.times_seen, 2 * kPerSide) << "round " << round;
    short_ids.insert(i.short_id);
    // A third event through either hash of either side joins it.
    Batch later;
    later.events.push_back(
        Event(p, 900000 + round, {absl::StrCat("side2-", round)}));
    Write(later);
    EXPECT_EQ(IssueOf(p, 900000 + round), one) << "round " << round;
  }
  EXPECT_EQ(short_ids.size(), static_cast<size_t>(kRounds));
}

TEST(PostgresOpenTest, UnreachableServerIsUnavailable) {
  // A port nothing listens on.
  auto s = OpenStore("postgresql://postgres@127.0.0.1:1/postgres");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
}

TEST(StoreInternalTest, Helpers) {
  std::string json = R"({"a":")" + std::string(1000, 'x') + R"("})";
  std::string z = internal::CompressPayload(json);
  EXPECT_LT(z.size(), json.size());
  auto back = internal::DecompressPayload(z);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, json);
  EXPECT_EQ(internal::DecompressPayload("not zstd").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      internal::DecompressPayload(z.substr(0, z.size() - 3)).status().code(),
      absl::StatusCode::kDataLoss);

  auto k1 = internal::NewPublicKey();
  auto k2 = internal::NewPublicKey();
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_NE(*k1, *k2);

  EXPECT_EQ(internal::MakeSlug("  My Great_App 2 ").value(), "my-great-app-2");
  EXPECT_EQ(internal::MakeSlug("ÄÖ api").value(), "api");
  EXPECT_EQ(internal::LikeContains(R"(50%_a\b)"), R"(%50\%\_a\\b%)");
  EXPECT_EQ(internal::JsonStringArray({"a\"b", "c\\", std::string("\x01")}),
            R"(["a\"b","c\\","\u0001"])");
}

TEST(OpenStoreTest, RejectsUnknownSchemes) {
  EXPECT_EQ(OpenStore("mysql://localhost/x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite:").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite:/nonexistent-dir/x/y.db").status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(IssueStatusTest, NamesRoundTrip) {
  for (IssueStatus s : {IssueStatus::kUnresolved, IssueStatus::kResolved,
                        IssueStatus::kIgnored}) {
    EXPECT_EQ(ParseIssueStatus(IssueStatusName(s)), s);
  }
  EXPECT_EQ(IssueStatusName(IssueStatus::kIgnored), "ignored");
  EXPECT_EQ(ParseIssueStatus("Resolved"), std::nullopt);
  EXPECT_EQ(ParseIssueStatus(""), std::nullopt);
}

TEST_P(StoreContractTest, ApiTokens) {
  const std::string hash(40, 'a');
  auto t = store_->CreateApiToken(hash, "ci", "project:releases org:read");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_GT(t->id, 0);
  auto found = store_->FindApiToken(hash);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->id, t->id);
  EXPECT_EQ(found->name, "ci");
  EXPECT_EQ(found->scopes, "project:releases org:read");
  EXPECT_EQ(store_->FindApiToken(std::string(40, 'b')).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->CreateApiToken(hash, "again", "x").status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(StoreContractTest, UploadChunks) {
  const std::string a(40, '1'), b(40, '2');
  std::string bytes("\0\xff zip bytes", 13);
  ASSERT_TRUE(store_->PutChunk(a, bytes).ok());
  ASSERT_TRUE(store_->PutChunk(a, bytes).ok());  // again: no error
  auto missing = store_->MissingChunks({b, a});
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(*missing, std::vector<std::string>{b});
  auto got = store_->GetChunk(a);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, bytes);
  EXPECT_EQ(store_->GetChunk(b).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, ArtifactBundlesAndReleaseFiles) {
  const int64_t project = NewProject();
  const int64_t other = NewProject("other");
  ArtifactBundle bundle;
  bundle.project_id = project;
  bundle.checksum = std::string(40, 'c');
  bundle.debug_id = "8e8465dd-b68a-50c0-ba3c-a620964132b5";
  bundle.release = "app@1";
  bundle.data = std::string("PK\3\4 zip\0", 10);
  const std::string id = "9b7990f8-1f25-571a-a422-03bea91eb8ab";
  bundle.files = {
      {0, "files/_/_/a.min.js", "minified_source", "~/a.min.js", id,
       "a.min.js.map"},
      {0, "files/_/_/a.min.js.map", "source_map", "~/a.min.js.map", id, ""},
  };
  auto put = store_->PutArtifactBundle(bundle);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_TRUE(*put);
  put = store_->PutArtifactBundle(bundle);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_FALSE(*put);  // same checksum: stored once
  EXPECT_TRUE(*store_->HasArtifactBundle(project, bundle.checksum));
  EXPECT_FALSE(*store_->HasArtifactBundle(other, bundle.checksum));
  bundle.project_id = 9999;
  EXPECT_EQ(store_->PutArtifactBundle(bundle).status().code(),
            absl::StatusCode::kNotFound);

  auto maps = store_->FindArtifactsByDebugId(project, id, "source_map");
  ASSERT_TRUE(maps.ok()) << maps.status();
  ASSERT_EQ(maps->size(), 1u);
  EXPECT_EQ((*maps)[0].url, "~/a.min.js.map");
  EXPECT_TRUE(store_->FindArtifactsByDebugId(other, id, "source_map")->empty());
  auto blob = store_->LoadArtifact(project, (*maps)[0].id);
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->data, std::string("PK\3\4 zip\0", 10));
  EXPECT_EQ(blob->path, "files/_/_/a.min.js.map");
  EXPECT_EQ(store_->LoadArtifact(other, (*maps)[0].id).status().code(),
            absl::StatusCode::kNotFound);

  // By release and URL: the first candidate that is stored wins.
  auto by_url = store_->FindArtifactByUrl(
      project, "app@1", "", {"https://x.com/a.min.js", "~/a.min.js"});
  ASSERT_TRUE(by_url.ok()) << by_url.status();
  ASSERT_TRUE(by_url->has_value());
  EXPECT_EQ((*by_url)->sourcemap, "a.min.js.map");
  EXPECT_FALSE(store_->FindArtifactByUrl(project, "app@2", "", {"~/a.min.js"})
                   ->has_value());

  // Legacy release files.
  ArtifactFile f;
  f.url = "https://x.com/a.min.js";
  auto file_id = store_->PutReleaseFile(project, "app@2", "web", f, "a()");
  ASSERT_TRUE(file_id.ok()) << file_id.status();
  EXPECT_EQ(
      store_->PutReleaseFile(project, "app@2", "web", f, "b()").status().code(),
      absl::StatusCode::kAlreadyExists);
  auto rel = store_->GetRelease(project, "app@2");
  ASSERT_TRUE(rel.ok() && rel->has_value());
  EXPECT_EQ((*rel)->version, "app@2");
  EXPECT_GT((*rel)->created_ms, 0);
  EXPECT_FALSE((*rel)->finalized_ms.has_value());
  EXPECT_FALSE(store_->GetRelease(project, "app@3")->has_value());
  auto rf = store_->FindArtifactByUrl(project, "app@2", "web",
                                      {"https://x.com/a.min.js"});
  ASSERT_TRUE(rf.ok() && rf->has_value());
  auto rblob = store_->LoadArtifact(project, (*rf)->id);
  ASSERT_TRUE(rblob.ok());
  EXPECT_EQ(rblob->data, "a()");
  EXPECT_EQ(rblob->path, "");

  ASSERT_TRUE(store_->UpsertRelease(project, "app@3", 5000).ok());
  ASSERT_TRUE(store_->UpsertRelease(project, "app@3", std::nullopt).ok());
  // Finalizing sticks when the release is named again without a date.
  EXPECT_EQ(store_->GetRelease(project, "app@3")->value().finalized_ms, 5000);
  EXPECT_EQ(store_->UpsertRelease(9999, "x", std::nullopt).code(),
            absl::StatusCode::kNotFound);

  // Retention takes everything uploaded before the cutoff, in steps.
  ASSERT_TRUE(store_->PutChunk(std::string(40, 'd'), "x").ok());
  const int64_t future = internal::NowMs() + 60000;
  int64_t total = 0;
  for (int i = 0; i < 20; ++i) {
    auto n = store_->DeleteArtifactsBefore(future, 1);
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) break;
    total += *n;
  }
  EXPECT_GE(total, 7);  // 3 files, 2 blobs, 1 bundle, 1 chunk
  EXPECT_TRUE(
      store_->FindArtifactsByDebugId(project, id, "source_map")->empty());
  EXPECT_FALSE(*store_->HasArtifactBundle(project, std::string(40, 'c')));
  EXPECT_EQ(store_->GetChunk(std::string(40, 'd')).status().code(),
            absl::StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite"
                                                                 : "Postgres";
                         });

INSTANTIATE_TEST_SUITE_P(Backends, PostgresStoreTest,
                         ::testing::Values(Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>&) {
                           return "Postgres";
                         });

}  // namespace
}  // namespace tern::storage
