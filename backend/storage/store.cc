#include "backend/storage/store.h"

#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "backend/storage/store_internal.h"
#include "common/status.h"
#include "protocol/json_value.h"

namespace tern::storage {

std::string_view IssueStatusName(IssueStatus status) {
  switch (status) {
    case IssueStatus::kUnresolved:
      return "unresolved";
    case IssueStatus::kResolved:
      return "resolved";
    case IssueStatus::kIgnored:
      return "ignored";
  }
  return "unresolved";
}

std::optional<IssueStatus> ParseIssueStatus(std::string_view name) {
  if (name == "unresolved") return IssueStatus::kUnresolved;
  if (name == "resolved") return IssueStatus::kResolved;
  if (name == "ignored") return IssueStatus::kIgnored;
  return std::nullopt;
}

std::string_view OutboxStatusName(OutboxStatus status) {
  switch (status) {
    case OutboxStatus::kPending:
      return "pending";
    case OutboxStatus::kSending:
      return "sending";
    case OutboxStatus::kSent:
      return "sent";
    case OutboxStatus::kFailed:
      return "failed";
    case OutboxStatus::kSuppressed:
      return "suppressed";
  }
  return "pending";
}

std::optional<OutboxStatus> ParseOutboxStatus(std::string_view name) {
  for (OutboxStatus s :
       {OutboxStatus::kPending, OutboxStatus::kSending, OutboxStatus::kSent,
        OutboxStatus::kFailed, OutboxStatus::kSuppressed}) {
    if (OutboxStatusName(s) == name) return s;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view dsn) {
  if (dsn.starts_with("postgresql://") || dsn.starts_with("postgres://")) {
    return internal::OpenPostgresStore(dsn);
  }
  if (dsn.starts_with("sqlite:")) {
    dsn.remove_prefix(7);
    // "sqlite:///abs/path" as well as "sqlite:/abs/path".
    if (dsn.starts_with("//")) dsn.remove_prefix(2);
  } else if (dsn.find("://") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown store scheme in '", ToAbsl(dsn),
                     "' (want sqlite:PATH or postgresql://...)"));
  }
  if (dsn.empty()) return absl::InvalidArgumentError("empty store path");
  return internal::OpenSqliteStore(dsn);
}

namespace internal {

// zstd's fast level -1 rather than 1: on a 2 KiB event, level 1 spends most
// of its ~8.5 us entropy-coding literals; -1 takes ~5 us (the ingest path
// ~1.08x events per CPU-second) for 20-33% bigger blobs (docs/storage.md).
constexpr int kPayloadLevel = -1;

std::string CompressPayload(std::string_view json) {
  // One context per thread, kept: ZSTD_compress would allocate and set up a
  // context per payload, which was 40% of the ingest path's CPU.
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> ctx(
      ZSTD_createCCtx(), ZSTD_freeCCtx);
  std::string out(ZSTD_compressBound(json.size()), '\0');
  size_t n = ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), json.data(),
                               json.size(), kPayloadLevel);
  // Only a too-small destination can fail, and ZSTD_compressBound rules it out.
  if (ZSTD_isError(n)) return std::string();
  out.resize(n);
  return out;
}

absl::StatusOr<std::string> DecompressPayload(std::string_view blob) {
  if (blob.empty()) return std::string();
  unsigned long long size = ZSTD_getFrameContentSize(blob.data(), blob.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
      size > (1ull << 31)) {
    return absl::DataLossError("stored payload is not a zstd frame");
  }
  std::string out(size, '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), blob.data(), blob.size());
  if (ZSTD_isError(n) || n != size) {
    return absl::DataLossError(
        absl::StrCat("stored payload is corrupt: ", ZSTD_getErrorName(n)));
  }
  return out;
}

absl::StatusOr<std::string> NewPublicKey() {
  unsigned char bytes[16];
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen("/dev/urandom", "rb"),
                                          &std::fclose);
  if (f == nullptr ||
      std::fread(bytes, 1, sizeof(bytes), f.get()) != sizeof(bytes)) {
    return absl::InternalError("cannot read /dev/urandom");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  key.reserve(32);
  for (unsigned char b : bytes) {
    key.push_back(kHex[b >> 4]);
    key.push_back(kHex[b & 15]);
  }
  return key;
}

absl::StatusOr<std::string> MakeSlug(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError("a project name has 1 to 64 characters");
  }
  std::string slug;
  bool dash = false;
  for (char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      if (dash && !slug.empty()) slug.push_back('-');
      dash = false;
      slug.push_back(c);
    } else if (c >= 'A' && c <= 'Z') {
      if (dash && !slug.empty()) slug.push_back('-');
      dash = false;
      slug.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      dash = true;
    }
  }
  if (slug.empty()) {
    return absl::InvalidArgumentError(
        "a project name needs at least one ASCII letter or digit");
  }
  return slug;
}

std::string LikeContains(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('%');
  return out;
}

std::string JsonStringArray(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const std::string& v : values) {
    if (out.size() > 1) out.push_back(',');
    out.push_back('"');
    for (unsigned char c : v) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('"');
  }
  out.push_back(']');
  return out;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

absl::Status CheckSettingsJson(std::string_view settings_json) {
  absl::StatusOr<protocol::JsonValue> v = protocol::ParseJson(settings_json);
  if (!v.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key settings: ", v.status().message()));
  }
  if (!v->is_object()) {
    return absl::InvalidArgumentError("key settings: expected a JSON object");
  }
  return absl::OkStatus();
}

absl::string_view IssueSortColumn(IssueSort sort) {
  return sort == IssueSort::kFirstSeen ? "first_seen"
         : sort == IssueSort::kCount   ? "times_seen"
                                       : "last_seen";
}

int64_t IssueSortValue(const Issue& issue, IssueSort sort) {
  return sort == IssueSort::kFirstSeen ? issue.first_seen_ms
         : sort == IssueSort::kCount   ? issue.times_seen
                                       : issue.last_seen_ms;
}

IssuePage MakeIssuePage(std::vector<Issue> rows, int limit, IssueSort sort) {
  IssuePage page;
  page.issues = std::move(rows);
  if (static_cast<int>(page.issues.size()) > limit) {
    page.issues.resize(limit);
    const Issue& last = page.issues.back();
    page.next = IssueCursor{IssueSortValue(last, sort), last.id};
  }
  return page;
}

EventPage MakeEventPage(std::vector<EventSummary> rows, int limit) {
  EventPage page;
  page.events = std::move(rows);
  if (static_cast<int>(page.events.size()) > limit) {
    page.events.resize(limit);
    page.next = EventCursor{page.events.back().received_ms,
                            page.events.back().event_id};
  }
  return page;
}

absl::Status CheckHistogramRange(int64_t since_ms, int64_t bucket_ms,
                                 int buckets) {
  if (bucket_ms <= 0 || buckets < 1 || buckets > 10000 ||
      since_ms > (int64_t{1} << 50) || bucket_ms > (int64_t{1} << 40)) {
    return absl::InvalidArgumentError("bad histogram range");
  }
  return absl::OkStatus();
}

absl::Status CheckProjectsFound(const std::vector<int64_t>& wanted,
                                const absl::flat_hash_set<int64_t>& found) {
  for (int64_t id : wanted) {
    if (!found.contains(id)) {
      return absl::NotFoundError(absl::StrCat("project ", id, " not found"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSchemaVersion(int64_t version, int64_t latest) {
  if (version > latest) {
    return absl::FailedPreconditionError(
        absl::StrCat("database schema version ", version,
                     " is newer than this binary's ", latest));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<Project, ProjectKey>> NewProject(
    std::string_view name) {
  TERN_ASSIGN_OR_RETURN(std::string slug, MakeSlug(name));
  TERN_ASSIGN_OR_RETURN(std::string public_key, NewPublicKey());
  Project project{0, std::string(name), std::move(slug), NowMs(), "", ""};
  ProjectKey key;
  key.public_key = std::move(public_key);
  key.created_ms = project.created_ms;
  return std::make_pair(std::move(project), std::move(key));
}

absl::StatusOr<BatchPlan> PlanBatch(
    const Batch& batch, const absl::flat_hash_set<ProjectString>& stored,
    const absl::flat_hash_map<ProjectString, int64_t>& known) {
  BatchPlan plan;
  plan.event_issue.reserve(batch.events.size());
  absl::flat_hash_set<ProjectString> seen;
  // Every hash the batch has seen so far -> index into plan.issues.
  absl::flat_hash_map<ProjectString, int> hash_issue;
  absl::flat_hash_map<int64_t, int> existing_index;  // issue id -> index
  for (const EventRecord& e : batch.events) {
    ProjectString key(e.project_id, e.event_id);
    if (stored.contains(key) || !seen.insert(key).second) {
      plan.event_issue.push_back(BatchPlan::kDuplicate);
      continue;
    }
    if (e.is_transaction) {
      plan.event_issue.push_back(BatchPlan::kTransaction);
      continue;
    }
    if (e.hashes.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("event ", e.event_id, " has no grouping hash"));
    }
    int index = -1;
    for (const std::string& h : e.hashes) {
      ProjectString hk(e.project_id, h);
      if (auto it = hash_issue.find(hk); it != hash_issue.end()) {
        index = it->second;
        break;
      }
      if (auto it = known.find(hk); it != known.end()) {
        auto [pos, fresh] = existing_index.try_emplace(
            it->second, static_cast<int>(plan.issues.size()));
        if (fresh) {
          PlannedIssue issue;
          issue.project_id = e.project_id;
          issue.issue_id = it->second;
          plan.issues.push_back(std::move(issue));
        }
        index = pos->second;
        break;
      }
    }
    if (index < 0) {
      index = static_cast<int>(plan.issues.size());
      PlannedIssue issue;
      issue.project_id = e.project_id;
      issue.is_new = true;
      issue.opener = &e;
      plan.issues.push_back(std::move(issue));
    }
    for (const std::string& h : e.hashes) {
      ProjectString hk(e.project_id, h);
      if (hash_issue.contains(hk)) continue;
      hash_issue.emplace(hk, index);
      if (!known.contains(hk)) plan.issues[index].new_hashes.push_back(h);
    }
    plan.event_issue.push_back(index);
  }
  return plan;
}

std::vector<IssueDelta> IssueDeltas(const Batch& batch, const BatchPlan& plan,
                                    const std::vector<bool>& inserted) {
  std::vector<IssueDelta> deltas(plan.issues.size());
  for (size_t i = 0; i < batch.events.size(); ++i) {
    int index = plan.event_issue[i];
    if (index < 0 || !inserted[i]) continue;
    IssueDelta& d = deltas[index];
    int64_t t = batch.events[i].received_ms;
    if (d.count == 0) {
      d.first_ms = d.last_ms = t;
    } else {
      d.first_ms = std::min(d.first_ms, t);
      d.last_ms = std::max(d.last_ms, t);
    }
    ++d.count;
  }
  std::vector<IssueDelta> out;
  for (size_t i = 0; i < deltas.size(); ++i) {
    if (deltas[i].count == 0) continue;
    deltas[i].issue_id = plan.issues[i].issue_id;
    deltas[i].is_new = plan.issues[i].is_new;
    out.push_back(deltas[i]);
  }
  return out;
}

std::vector<IssueActivity> BuildActivity(
    const Batch& batch, const BatchPlan& plan,
    const std::vector<bool>& inserted,
    const absl::flat_hash_set<int64_t>& regressed) {
  std::vector<IssueActivity> out(plan.issues.size());
  for (size_t i = 0; i < batch.events.size(); ++i) {
    int index = plan.event_issue[i];
    if (index < 0 || !inserted[i]) continue;
    const EventRecord& e = batch.events[i];
    IssueActivity& a = out[index];
    ++a.events;
    if (a.events == 1 || e.received_ms >= a.last_received_ms) {
      a.last_received_ms = e.received_ms;
      a.event_id = e.event_id;
      a.level = e.level;
      a.environment = e.environment;
      a.release = e.release;
    }
  }
  std::vector<IssueActivity> kept;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].events == 0) continue;
    out[i].project_id = plan.issues[i].project_id;
    out[i].issue_id = plan.issues[i].issue_id;
    out[i].created = plan.issues[i].is_new;
    out[i].regressed = regressed.contains(out[i].issue_id);
    kept.push_back(std::move(out[i]));
  }
  return kept;
}

absl::Status CheckRuleJson(std::string_view definition_json) {
  absl::StatusOr<protocol::JsonValue> v = protocol::ParseJson(definition_json);
  if (!v.ok() || !v->is_object()) {
    return absl::InvalidArgumentError("a rule must be a JSON object");
  }
  return absl::OkStatus();
}

std::vector<int64_t> BatchProjects(const Batch& batch) {
  std::vector<int64_t> ids;
  for (const EventRecord& e : batch.events) ids.push_back(e.project_id);
  for (const SessionDelta& s : batch.sessions) ids.push_back(s.project_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace internal
}  // namespace tern::storage
