#include "backend/api/query.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "backend/api/format.h"
#include "common/status.h"

namespace tern::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::Status Invalid(std::string_view param, std::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(param), ": ", ToAbsl(problem)));
}

// limit (or per_page): 1..kMaxLimit, default kDefaultLimit.
absl::StatusOr<int> ParseLimit(const QueryParams& params) {
  std::string_view name = "limit";
  std::optional<std::string_view> text = params.Get(name);
  if (!text) {
    name = "per_page";
    text = params.Get(name);
  }
  if (!text) return kDefaultLimit;
  int limit = 0;
  if (text->empty() || text->size() > 3 ||
      !std::all_of(text->begin(), text->end(),
                   [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(ToAbsl(*text), &limit) || limit < 1 ||
      limit > kMaxLimit) {
    return Invalid(name,
                   absl::StrCat("expected an integer from 1 to ", kMaxLimit));
  }
  return limit;
}

// The status named by `status=`; nullopt for "all".
absl::StatusOr<std::optional<storage::IssueStatus>> ParseStatusParam(
    const QueryParams& params) {
  const std::optional<std::string_view> text = params.Get("status");
  if (!text || text->empty()) return storage::IssueStatus::kUnresolved;
  if (*text == "all") return std::optional<storage::IssueStatus>();
  if (auto status = storage::ParseIssueStatus(*text)) return status;
  return Invalid("status", "expected unresolved, resolved, ignored or all");
}

absl::StatusOr<storage::IssueSort> ParseSort(std::string_view text) {
  if (text.empty() || text == "lastSeen" || text == "date") {
    return storage::IssueSort::kLastSeen;
  }
  if (text == "firstSeen" || text == "new") {
    return storage::IssueSort::kFirstSeen;
  }
  if (text == "count" || text == "freq") return storage::IssueSort::kCount;
  return Invalid("sort", "expected lastSeen, firstSeen or count");
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

}  // namespace

std::string_view IssueSortName(storage::IssueSort sort) {
  switch (sort) {
    case storage::IssueSort::kLastSeen:
      return "lastSeen";
    case storage::IssueSort::kFirstSeen:
      return "firstSeen";
    case storage::IssueSort::kCount:
      return "count";
  }
  return "lastSeen";
}

std::string_view IssueStatusParam(std::optional<storage::IssueStatus> status) {
  return status ? storage::IssueStatusName(*status) : "all";
}

absl::StatusOr<std::string> UrlDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      const bool complete = i + 2 < in.size();
      const int hi = complete ? HexValue(in[i + 1]) : -1;
      const int lo = complete ? HexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError("malformed percent-encoding");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string UrlEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (const char c : in) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

absl::StatusOr<QueryParams> QueryParams::Parse(std::string_view raw) {
  QueryParams params;
  while (!raw.empty()) {
    const size_t amp = raw.find('&');
    const std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view()
                                        : raw.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto name = UrlDecode(pair.substr(0, eq));
    if (!name.ok()) {
      return absl::InvalidArgumentError(
          "query string: malformed "
          "percent-encoding in a parameter name");
    }
    auto value = UrlDecode(eq == std::string_view::npos ? std::string_view()
                                                        : pair.substr(eq + 1));
    if (!value.ok()) {
      return Invalid(*name, "malformed percent-encoding");
    }
    params.params_.emplace_back(*std::move(name), *std::move(value));
  }
  return params;
}

std::optional<std::string_view> QueryParams::Get(std::string_view name) const {
  for (const auto& [n, v] : params_) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

absl::StatusOr<IssueListParams> ParseIssueListParams(std::string_view raw) {
  TERN_ASSIGN_OR_RETURN(const QueryParams params, QueryParams::Parse(raw));
  return ParseIssueListParams(params);
}

absl::StatusOr<IssueListParams> ParseIssueListParams(
    const QueryParams& params) {
  IssueListParams out;
  storage::IssueQuery& q = out.query;
  TERN_ASSIGN_OR_RETURN(q.status, ParseStatusParam(params));
  TERN_ASSIGN_OR_RETURN(q.sort, ParseSort(params.Get("sort").value_or("")));
  TERN_ASSIGN_OR_RETURN(q.limit, ParseLimit(params));
  const std::string_view query_text = params.Get("query").value_or("");
  // Tokens: "is:<status>" picks the status; the rest is free text.
  std::string_view rest = query_text;
  while (!rest.empty()) {
    while (!rest.empty() && IsSpace(rest.front())) rest.remove_prefix(1);
    size_t end = 0;
    while (end < rest.size() && !IsSpace(rest[end])) ++end;
    const std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end);
    if (token.empty()) continue;
    if (token.substr(0, 3) == "is:") {
      const std::string_view value = token.substr(3);
      const auto status = storage::ParseIssueStatus(value);
      if (!status) {
        return Invalid("query", absl::StrCat("unsupported ", ToAbsl(token),
                                             " (expected is:unresolved, "
                                             "is:resolved or is:ignored)"));
      }
      q.status = status;
      continue;
    }
    if (!q.text.empty()) q.text += ' ';
    q.text += token;
  }
  if (const auto cursor = params.Get("cursor"); cursor && !cursor->empty()) {
    q.cursor = ParseIssueCursor(*cursor);
    if (!q.cursor) return Invalid("cursor", "malformed cursor");
  }
  out.link_query =
      absl::StrCat("query=", UrlEncode(query_text),
                   "&status=", ToAbsl(IssueStatusParam(q.status)),
                   "&sort=", ToAbsl(IssueSortName(q.sort)), "&limit=", q.limit);
  return out;
}

absl::StatusOr<EventListParams> ParseEventListParams(std::string_view raw) {
  TERN_ASSIGN_OR_RETURN(const QueryParams params, QueryParams::Parse(raw));
  EventListParams out;
  TERN_ASSIGN_OR_RETURN(out.limit, ParseLimit(params));
  if (const auto cursor = params.Get("cursor"); cursor && !cursor->empty()) {
    out.cursor = ParseEventCursor(*cursor);
    if (!out.cursor) return Invalid("cursor", "malformed cursor");
  }
  out.link_query = absl::StrCat("limit=", out.limit);
  return out;
}

std::string LinkHeader(std::string_view base_url, std::string_view link_query,
                       std::string_view next_cursor) {
  const std::string url =
      absl::StrCat(ToAbsl(base_url), "?", ToAbsl(link_query), "&cursor=");
  return absl::StrCat(
      "<", url, ">; rel=\"previous\"; results=\"false\"; cursor=\"\", <", url,
      UrlEncode(next_cursor), ">; rel=\"next\"; results=\"",
      next_cursor.empty() ? "false" : "true", "\"; cursor=\"",
      ToAbsl(next_cursor), "\"");
}

}  // namespace tern::api
