// What the SQLite and PostgreSQL stores share and nobody else needs: their
// constructors (for OpenStore), payload compression, key and slug
// generation, LIKE escaping, the column lists and row readers of the shared
// schema, the transaction guard, argument checks, and the pure half of
// WriteBatch (which event joins which issue), so both databases behave
// exactly the same way and only the SQL differs.
#ifndef TERN_BACKEND_STORAGE_STORE_INTERNAL_H_
#define TERN_BACKEND_STORAGE_STORE_INTERNAL_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "backend/storage/store.h"

namespace tern::storage::internal {

// The embedded store (sqlite_store.cc): opens or creates the SQLite database
// at `path` and applies the migrations it lacks. Unavailable when the file
// cannot be opened or is locked.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(std::string_view path);

// The server store (postgres_store.cc): connects to the libpq connection URI
// `uri` and applies the migrations the database lacks (under an advisory
// lock, so two backends starting at once do not race). Unavailable when the
// server cannot be reached.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(std::string_view uri);

// BEGIN ... COMMIT on a connection of either store, rolled back unless
// Commit() ran. `Conn` has absl::Status RunScript(std::string_view sql) and
// bool alive() (no ROLLBACK on a connection that is already gone).
template <typename Conn>
class Transaction {
 public:
  explicit Transaction(Conn* c) : c_(c) {}
  ~Transaction() {
    if (open_ && c_->alive()) (void)c_->RunScript("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // `begin` is the statement that opens it (SQLite's writers take their
  // lock up front with "BEGIN IMMEDIATE").
  absl::Status Begin(std::string_view begin = "BEGIN") {
    if (absl::Status s = c_->RunScript(begin); !s.ok()) return s;
    open_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() {
    if (absl::Status s = c_->RunScript("COMMIT"); !s.ok()) return s;
    open_ = false;
    return absl::OkStatus();
  }

 private:
  Conn* c_;
  bool open_ = false;
};

// The columns each store selects, in the order the Read* functions below
// read them. A `Row` is one result row of either store: Int(col), Text(col),
// Bool(col) and IsNull(col), columns counted from 0.
constexpr absl::string_view kIssueCols =
    "id, project_id, short_id, title, culprit, level, status, first_seen, "
    "last_seen, times_seen, metadata_type, metadata_value, "
    "metadata_filename, metadata_function";
constexpr absl::string_view kEventCols =
    "project_id, event_id, issue_id, received, timestamp, level, release, "
    "environment, platform, tags";
constexpr absl::string_view kProjectCols =
    "id, name, slug, created, fingerprinting_rules, stacktrace_rules";
constexpr absl::string_view kKeyCols =
    "id, public_key, project_id, active, created, settings";
constexpr absl::string_view kOffsetCols = "topic, partition, next_offset";
constexpr absl::string_view kRuleCols =
    "id, project_id, definition, created, updated";
constexpr absl::string_view kOutboxCols =
    "id, project_id, rule_id, issue_id, dedup_key, cause, target_kind, "
    "target, target_index, event_id, status, attempts, next_attempt, "
    "last_error, created, sent";
constexpr absl::string_view kSessionCols =
    "release, environment, hour, started, healthy, errored, crashed, abnormal";

template <typename Row>
Issue ReadIssue(const Row& r) {
  Issue i;
  i.id = r.Int(0);
  i.project_id = r.Int(1);
  i.short_id = r.Int(2);
  i.fields.title = r.Text(3);
  i.fields.culprit = r.Text(4);
  i.fields.level = r.Text(5);
  i.status = ParseIssueStatus(r.Text(6)).value_or(IssueStatus::kUnresolved);
  i.first_seen_ms = r.Int(7);
  i.last_seen_ms = r.Int(8);
  i.times_seen = r.Int(9);
  i.fields.metadata_type = r.Text(10);
  i.fields.metadata_value = r.Text(11);
  i.fields.metadata_filename = r.Text(12);
  i.fields.metadata_function = r.Text(13);
  return i;
}

template <typename Row>
EventSummary ReadEvent(const Row& r) {
  EventSummary e;
  e.project_id = r.Int(0);
  e.event_id = r.Text(1);
  if (!r.IsNull(2)) e.issue_id = r.Int(2);
  e.received_ms = r.Int(3);
  e.timestamp_ms = r.Int(4);
  e.level = r.Text(5);
  e.release = r.Text(6);
  e.environment = r.Text(7);
  e.platform = r.Text(8);
  e.tags_json = r.Text(9);
  return e;
}

template <typename Row>
Project ReadProject(const Row& r) {
  return Project{r.Int(0), r.Text(1), r.Text(2),
                 r.Int(3), r.Text(4), r.Text(5)};
}

template <typename Row>
ProjectKey ReadKey(const Row& r) {
  ProjectKey k;
  k.id = r.Int(0);
  k.public_key = r.Text(1);
  k.project_id = r.Int(2);
  k.active = r.Bool(3);
  k.created_ms = r.Int(4);
  k.settings_json = r.Text(5);
  return k;
}

template <typename Row>
PartitionOffset ReadOffset(const Row& r) {
  return {r.Text(0), static_cast<int32_t>(r.Int(1)), r.Int(2)};
}

template <typename Row>
SessionRow ReadSession(const Row& r) {
  return {r.Text(0), r.Text(1), r.Int(2), r.Int(3),
          r.Int(4),  r.Int(5),  r.Int(6), r.Int(7)};
}

template <typename Row>
AlertRule ReadAlertRule(const Row& r) {
  return AlertRule{r.Int(0), r.Int(1), r.Text(2), r.Int(3), r.Int(4)};
}

template <typename Row>
OutboxEntry ReadOutbox(const Row& r) {
  OutboxEntry o;
  o.id = r.Int(0);
  o.project_id = r.Int(1);
  o.rule_id = r.Int(2);
  o.issue_id = r.Int(3);
  o.dedup_key = r.Text(4);
  o.trigger = r.Text(5);
  o.target_kind = r.Text(6);
  o.target_json = r.Text(7);
  o.target_index = r.Int(8);
  o.event_id = r.Text(9);
  o.status = ParseOutboxStatus(r.Text(10)).value_or(OutboxStatus::kPending);
  o.attempts = r.Int(11);
  o.next_attempt_ms = r.Int(12);
  o.last_error = r.Text(13);
  o.created_ms = r.Int(14);
  o.sent_ms = r.Int(15);
  return o;
}

// The page size the list calls use: `limit` clamped to 1..100.
inline int ClampLimit(int limit) { return std::clamp(limit, 1, 100); }

// The issues column ListIssues sorts by, and the value of it an issue has
// (what its cursor holds).
absl::string_view IssueSortColumn(IssueSort sort);
int64_t IssueSortValue(const Issue& issue, IssueSort sort);

// The first `limit` of `rows`, read with LIMIT limit + 1 so that one more row
// means a next page, whose cursor is then taken from the page's last item.
IssuePage MakeIssuePage(std::vector<Issue> rows, int limit, IssueSort sort);
EventPage MakeEventPage(std::vector<EventSummary> rows, int limit);

// InvalidArgument unless IssueHistogram's arguments are in range (which also
// keeps `since_ms + bucket_ms * buckets` from overflowing).
absl::Status CheckHistogramRange(int64_t since_ms, int64_t bucket_ms,
                                 int buckets);

// NotFound naming the first of `wanted` (a batch's projects) not in `found`.
absl::Status CheckProjectsFound(const std::vector<int64_t>& wanted,
                                const absl::flat_hash_set<int64_t>& found);

// FailedPrecondition when the database's schema `version` is newer than
// `latest`, the number of migrations this binary knows.
absl::Status CheckSchemaVersion(int64_t version, int64_t latest);

// What CreateProject inserts, all but the row ids: the project named `name`
// with its slug (InvalidArgument as MakeSlug) and its first key, both
// created now.
absl::StatusOr<std::pair<Project, ProjectKey>> NewProject(
    std::string_view name);

// One zstd frame with the content size, at zstd's fast level -1: the
// consumer's thread pays for it per event, and on small events level 1's
// extra ratio cost ~70% more CPU (docs/storage.md). Any zstd frame reads
// back, so rows written at other levels stay readable.
std::string CompressPayload(std::string_view json);
// DataLoss when `blob` is not a zstd frame (a corrupt row).
absl::StatusOr<std::string> DecompressPayload(std::string_view blob);

// 32 lowercase hex characters from /dev/urandom (keys are secrets, so no
// seeded PRNG). Internal when the kernel does not answer.
absl::StatusOr<std::string> NewPublicKey();

// Checks a project name (1..64 characters) and derives its slug: lowercase
// ASCII letters and digits kept, every other run of characters becomes one
// '-', none at either end. InvalidArgument when nothing is left.
absl::StatusOr<std::string> MakeSlug(std::string_view name);

// "%<text with % _ \ escaped by \>%" for `LIKE ? ESCAPE '\'`.
std::string LikeContains(std::string_view text);

// A JSON array of strings (SQLite's json_each takes a whole list as one bound
// parameter, so an IN list never changes the statement text).
std::string JsonStringArray(const std::vector<std::string>& values);

int64_t NowMs();

// SetKeySettings' argument check, shared by both stores: OK when
// `settings_json` is a JSON object, InvalidArgument otherwise.
absl::Status CheckSettingsJson(std::string_view settings_json);

// (project_id, event_id) or (project_id, hash).
using ProjectString = std::pair<int64_t, std::string>;

struct PlannedIssue {
  int64_t project_id = 0;
  int64_t issue_id = 0;  // known for an existing issue; set once created
  bool is_new = false;
  const EventRecord* opener = nullptr;  // the event that opens a new issue
  // Hashes of the batch's events that no issue has yet: linked to this one.
  std::vector<std::string> new_hashes;
};

// Which issue each event of a batch goes to.
struct BatchPlan {
  static constexpr int kDuplicate = -2;    // already stored: skip it
  static constexpr int kTransaction = -1;  // stored without an issue
  // One per batch event: kDuplicate, kTransaction or an index into issues.
  std::vector<int> event_issue;
  std::vector<PlannedIssue> issues;
};

// Plans a batch from what the database holds: `stored` are the batch's events
// already stored, `known` the batch's hashes already linked to an issue. An
// event joins the issue of its first known hash (the batch's own new issues
// included, so two events opening the same issue share it); an event with no
// known hash opens a new issue. The event's unknown hashes are linked to its
// issue either way (what Sentry does, so the next event with the same app
// hash but another system hash still finds it). Repeated event ids in the
// batch after the first are duplicates. InvalidArgument for an error event
// without hashes.
absl::StatusOr<BatchPlan> PlanBatch(
    const Batch& batch, const absl::flat_hash_set<ProjectString>& stored,
    const absl::flat_hash_map<ProjectString, int64_t>& known);

// What one issue gets from the events of a batch that were really inserted.
struct IssueDelta {
  int64_t issue_id = 0;
  bool is_new = false;
  int64_t count = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
};
// `inserted[i]` tells whether batch event i was inserted. Issues with no
// inserted event are left out.
std::vector<IssueDelta> IssueDeltas(const Batch& batch, const BatchPlan& plan,
                                    const std::vector<bool>& inserted);

// The alert facts of a batch: one IssueActivity per issue that got inserted
// events, `regressed` holding the ids of the issues the batch reopened.
std::vector<IssueActivity> BuildActivity(
    const Batch& batch, const BatchPlan& plan,
    const std::vector<bool>& inserted,
    const absl::flat_hash_set<int64_t>& regressed);

// CreateAlertRule's and UpdateAlertRule's argument check: InvalidArgument
// unless `definition_json` is a JSON object.
absl::Status CheckRuleJson(std::string_view definition_json);

// The distinct project ids of a batch's events and sessions.
std::vector<int64_t> BatchProjects(const Batch& batch);

}  // namespace tern::storage::internal

#endif  // TERN_BACKEND_STORAGE_STORE_INTERNAL_H_
