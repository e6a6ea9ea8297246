// The backend API's request handler: routes the Sentry-shaped HTTP API
// (ARCHITECTURE.md "Backend HTTP API", docs/api.md) to the Store and writes
// the answers.
//
// Routes (the trailing slash is optional):
//   GET  /api/0/projects/
//   GET  /api/0/projects/{project}/issues/        ({project}: slug or id;
//   GET  /api/0/projects/{org}/{project}/issues/   Sentry's form, org ignored)
//   GET  /api/0/issues/{id}/          PUT /api/0/issues/{id}/
//   GET  /api/0/issues/{id}/events/
//   GET  /api/0/issues/{id}/events/latest/
//   GET  /api/0/projects/{project}/rules/      POST (a rule; backend/alerts)
//   GET|PUT|DELETE /api/0/projects/{project}/rules/{id}/
//   GET  /api/0/projects/{project}/notifications/[?status=&issue=]
//   POST /api/0/relays/projectconfigs/            (relay token)
//   the sentry-cli upload API of upload.h, when one is set (its own auth)
// Every other path under /api/0/ is 404; a known path with another method is
// 405 with Allow. Paths outside /api/0/ go to the `extra` handler when there
// is one (the web UI plugs in there), else 404.
//
// Auth: `Authorization: Bearer <token>`, compared in constant time; the
// projectconfigs route takes the relay token, every other route the API
// token. An empty token configured means that token opens nothing.
//
// Threading: a handler runs on one net::Worker loop thread and calls the
// Store synchronously on it. Store calls are short indexed queries, so the
// loop blocks for their duration; a deployment that needs more parallelism
// runs more workers, each with its own handler (the Store is thread-safe).
#ifndef TERN_BACKEND_API_HANDLER_H_
#define TERN_BACKEND_API_HANDLER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "backend/storage/store.h"
#include "net/counter.h"
#include "net/http_server.h"

namespace tern::api {

class UploadApi;

struct ApiAuth {
  // Bearer token of every route but projectconfigs. Empty: refused (401).
  std::string api_token;
  // Bearer token of POST /api/0/relays/projectconfigs/. Empty: refused.
  std::string relay_token;
};

// The module's counters, one list: name, help. Feeds /metrics.
#define TERN_API_COUNTERS(X)                                         \
  X(requests, "API requests handled (extra-handler paths excluded)") \
  X(responses_2xx, "API answers with a 2xx status")                  \
  X(responses_4xx, "API answers with a 4xx status")                  \
  X(responses_5xx, "API answers with a 5xx status")                  \
  X(unauthorized, "401: missing or wrong bearer token")              \
  X(store_unavailable, "503: the store was unavailable or busy")     \
  X(store_errors, "500: the store failed otherwise")                 \
  X(projectconfigs_keys, "public keys asked for through projectconfigs")

struct ApiCounters {
#define TERN_API_DECLARE_COUNTER(name, help) net::Counter name;
  TERN_API_COUNTERS(TERN_API_DECLARE_COUNTER)
#undef TERN_API_DECLARE_COUNTER
};

// Calls f(name, help, value) for each counter, in list order; for /metrics.
template <typename F>
void ForEachCounter(const ApiCounters& c, F&& f) {
#define TERN_API_VISIT_COUNTER(name, help) f(#name, help, c.name.value());
  TERN_API_COUNTERS(TERN_API_VISIT_COUNTER)
#undef TERN_API_VISIT_COUNTER
}

// Body limits: PUT bodies are one small object; a projectconfigs request
// names at most protocol::kMaxProjectConfigsRequestKeys keys of 32 hex.
inline constexpr size_t kMaxApiBodyBytes = 64 * 1024;
inline constexpr size_t kMaxProjectConfigsBodyBytes = 1024 * 1024;

// Whether `given` equals the secret `expected`, in time that depends only on
// expected's length: every byte is compared and a length mismatch is folded
// in, so the time does not tell how much of a guess was right. Shared by the
// API's bearer tokens and the web UI's login.
bool TokenEquals(std::string_view given, std::string_view expected);

class ApiHandler final : public net::HttpHandler {
 public:
  // `store` (and `extra`, when not null) must outlive the handler. `extra`
  // is called on the same loop thread for every path outside /api/0/,
  // both OnHeaders and OnRequest, and answers those requests itself.
  ApiHandler(storage::Store* store, ApiAuth auth,
             net::HttpHandler* extra = nullptr);
  ~ApiHandler() override;

  net::HeadVerdict OnHeaders(const net::HttpRequest& head,
                             size_t default_max_body_bytes) override;
  void OnRequest(net::HttpRequest& req,
                 std::unique_ptr<net::HttpResponder> responder) override;

  // Readable from any thread (racy but defined).
  const ApiCounters& counters() const { return counters_; }

  // Hands the sentry-cli upload routes (UploadApi::Owns) to `uploads`, which
  // must outlive the handler; call before the server starts. Null: those
  // paths are 404 like any unknown one.
  void SetUploads(UploadApi* uploads) { uploads_ = uploads; }

  // One answer as the routes build it; public for the .cc's helpers.
  struct Reply {
    int status = 200;
    std::string body;
    std::string link;          // Link header; empty: none
    std::string_view allow;    // Allow header (405); empty: none
    bool retry_after = false;  // 503: Retry-After
  };

 private:
  Reply Route(const net::HttpRequest& req);
  void Send(net::HttpResponder& responder, const net::HttpRequest& req,
            const Reply& reply);
  // Turns a store error into its answer and counts it.
  Reply StoreError(const absl::Status& status, std::string_view what);
  bool Authorized(const net::HttpRequest& req, std::string_view token);

  Reply ListProjects();
  // GET (PUT: set its grouping rules, then GET) /projects/[{org}/]{project}/.
  Reply ProjectDetails(const net::HttpRequest& req,
                       std::string_view project_ref);
  Reply ListIssues(const net::HttpRequest& req, std::string_view project);
  Reply GetIssue(int64_t issue_id);
  Reply PutIssue(const net::HttpRequest& req, int64_t issue_id);
  Reply ListEvents(const net::HttpRequest& req, int64_t issue_id);
  Reply LatestEvent(int64_t issue_id);
  Reply ProjectConfigs(const net::HttpRequest& req);
  Reply ListRules(std::string_view project_ref);
  Reply CreateRule(const net::HttpRequest& req, std::string_view project_ref);
  // GET, PUT or DELETE of one rule of the project.
  Reply RuleById(const net::HttpRequest& req, std::string_view project_ref,
                 int64_t rule_id);
  Reply ListNotifications(const net::HttpRequest& req,
                          std::string_view project_ref);
  // A project by id or slug (an all-digit slug too).
  absl::StatusOr<storage::Project> FindProject(std::string_view project_ref);
  // The issue as JSON (with its project), or the error answer.
  Reply IssueReply(const storage::Issue& issue);

  storage::Store* store_;
  ApiAuth auth_;
  net::HttpHandler* extra_;
  UploadApi* uploads_ = nullptr;
  ApiCounters counters_;
};

}  // namespace tern::api

#endif  // TERN_BACKEND_API_HANDLER_H_
