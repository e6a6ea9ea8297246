// The query strings of the backend API: percent-decoding, the parameters of
// the list routes (issues, events) with their defaults and limits, and the
// Sentry-style `Link` header that carries the pagination cursors.
//
// Every function here reads untrusted bytes and answers InvalidArgument with
// a message naming the parameter ("sort: expected lastSeen, firstSeen or
// count"), which the handler sends as the 400's detail.
#ifndef TERN_BACKEND_API_QUERY_H_
#define TERN_BACKEND_API_QUERY_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "backend/storage/store.h"

namespace tern::api {

// Page sizes of the list routes, as in Sentry.
inline constexpr int kDefaultLimit = 25;
inline constexpr int kMaxLimit = 100;

// Decodes one application/x-www-form-urlencoded component: "%XX" escapes
// and '+' as a space. InvalidArgument for a truncated or non-hex escape.
// The result is bytes; callers that need text check it themselves.
absl::StatusOr<std::string> UrlDecode(std::string_view in);

// The inverse for building URLs: unreserved characters (RFC 3986) as they
// are, everything else as %XX.
std::string UrlEncode(std::string_view in);

// A decoded query string, parameters in order. A parameter given twice keeps
// both; Get returns the first (Sentry's request.GET.get takes the last, but
// no client of ours sends a parameter twice).
class QueryParams {
 public:
  // InvalidArgument naming the parameter whose name or value is not valid
  // percent-encoding.
  static absl::StatusOr<QueryParams> Parse(std::string_view raw);

  std::optional<std::string_view> Get(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// `GET /api/0/projects/{project}/issues/` after validation.
struct IssueListParams {
  // The store query without its project id (the caller sets it).
  storage::IssueQuery query;
  // The parameters as they will be repeated in the Link URLs: normalized
  // (query as given, status/sort/limit as parsed), the cursor left out.
  std::string link_query;
};

// Reads query, status, sort, cursor and limit (per_page is a synonym):
//  - status: unresolved (default), resolved, ignored or all.
//  - query: whitespace-separated tokens; "is:unresolved|resolved|ignored"
//    sets the status (overriding `status`; "is:" anything else is a 400);
//    every other token is free text, joined by single spaces, matched as a
//    case-insensitive substring of title or culprit.
//  - sort: lastSeen (default), firstSeen, count; Sentry's names date, new and
//    freq are accepted too.
//  - cursor: from a previous Link header; malformed is a 400.
//  - limit: 1..100, default 25.
// Unknown parameters are ignored, as Sentry does.
absl::StatusOr<IssueListParams> ParseIssueListParams(std::string_view raw);
// The same from an already parsed query string (the web UI reads more
// parameters of it than these).
absl::StatusOr<IssueListParams> ParseIssueListParams(const QueryParams& params);

// The parameter values as the list routes write them back (Link URLs, the
// web UI's links): the sort's canonical name ("lastSeen", "firstSeen",
// "count"), and the status's name or "all" for none.
std::string_view IssueSortName(storage::IssueSort sort);
std::string_view IssueStatusParam(std::optional<storage::IssueStatus> status);

// `GET /api/0/issues/{id}/events/`: cursor and limit as above.
struct EventListParams {
  std::optional<storage::EventCursor> cursor;
  int limit = kDefaultLimit;
  std::string link_query;
};
absl::StatusOr<EventListParams> ParseEventListParams(std::string_view raw);

// The value of a Sentry `Link` header for one page:
//   <URL&cursor=P>; rel="previous"; results="false"; cursor="P",
//   <URL&cursor=N>; rel="next"; results="true"; cursor="N"
// `base_url` is scheme://host/path (or just the path), `link_query` the
// normalized parameters without the cursor. Pagination runs forward only
// (keyset, newest first), so "previous" always has results="false" and an
// empty cursor; `next_cursor` is empty when no page follows.
std::string LinkHeader(std::string_view base_url, std::string_view link_query,
                       std::string_view next_cursor);

}  // namespace tern::api

#endif  // TERN_BACKEND_API_QUERY_H_
