#include "backend/alerts/render.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "backend/api/format.h"
#include "common/status.h"
#include "protocol/json_writer.h"

namespace tern::alerts {
namespace {

std::string HumanTime(int64_t ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

std::string Html(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// One line of a title for a header or a chat line: CR, LF and other
// control characters become spaces.
std::string OneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

// Slack's mrkdwn gives &, < and > a meaning of their own ("<url|label>"):
// text is escaped the way Slack documents.
std::string SlackEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

// "New issue", "Regression", ...: what happened, for subjects and titles.
absl::string_view Headline(std::string_view trigger) {
  if (trigger == "new_issue") return "New issue";
  if (trigger == "regression") return "Regression";
  if (trigger == "frequency") return "Frequent issue";
  if (trigger == "summary") return "Alerts held back";
  return "Test notification";
}

std::string Subject(const Notification& n) {
  if (n.trigger == "summary") {
    return absl::StrCat("[Tern] ", n.suppressed, " more alert(s) held back in ",
                        n.project_slug);
  }
  if (n.trigger == "test") {
    return absl::StrCat("[Tern] Test notification for ", n.project_slug);
  }
  return absl::StrCat("[Tern] ", Headline(n.trigger), " in ", n.project_slug,
                      ": ", OneLine(n.title));
}

// The facts of an issue as label/value rows, shared by text and HTML.
std::vector<std::pair<std::string, std::string>> Facts(const Notification& n) {
  return {{"Culprit", n.culprit},
          {"Level", n.level},
          {"Events", absl::StrCat(n.count)},
          {"First seen", HumanTime(n.first_seen_ms)},
          {"Last seen", HumanTime(n.last_seen_ms)},
          {"Latest event", n.event_id}};
}

// The chat line of the robots: "[Tern] New issue in backend: BACKEND-1
// title".
std::string ChatText(const Notification& n) {
  if (n.trigger == "summary" || n.trigger == "test") return Subject(n);
  return absl::StrCat("[Tern] ", Headline(n.trigger), " in ", n.project_slug,
                      ": ", n.short_id, " ", OneLine(n.title));
}

}  // namespace

Email RenderEmail(const Notification& n) {
  Email e;
  e.subject = Subject(n);
  std::string& t = e.text;
  std::string& h = e.html;
  h = "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n";
  if (n.trigger == "summary") {
    absl::StrAppend(&t, "The hourly alert cap of project ", n.project_slug,
                    " held back ", n.suppressed, " notification(s) of rule \"",
                    n.rule_name, "\":\n\n");
    absl::StrAppend(&h, "<p>The hourly alert cap of project <b>",
                    Html(n.project_slug), "</b> held back ", n.suppressed,
                    " notification(s) of rule &quot;", Html(n.rule_name),
                    "&quot;:</p>\n<ul>\n");
    for (const std::string& line : n.suppressed_issues) {
      absl::StrAppend(&t, "  ", OneLine(line), "\n");
      absl::StrAppend(&h, "<li>", Html(line), "</li>\n");
    }
    absl::StrAppend(&h, "</ul>\n");
  } else if (n.trigger == "test") {
    absl::StrAppend(&t, "This is a test notification for project ",
                    n.project_slug, ". Alerts reach this address.\n");
    absl::StrAppend(&h, "<p>This is a test notification for project <b>",
                    Html(n.project_slug),
                    "</b>. Alerts reach this address.</p>\n");
  } else {
    absl::StrAppend(&t, Headline(n.trigger), " in project ", n.project_slug,
                    "\n\n", n.short_id, ": ", OneLine(n.title), "\n");
    absl::StrAppend(
        &h, "<h2>", Html(std::string(Headline(n.trigger))), " in project ",
        Html(n.project_slug), "</h2>\n<p><a href=\"", Html(n.url), "\"><b>",
        Html(n.short_id), "</b>: ", Html(n.title), "</a></p>\n<table>\n");
    for (const auto& [label, value] : Facts(n)) {
      absl::StrAppend(&t, label, ": ", OneLine(value), "\n");
      absl::StrAppend(&h, "<tr><th align=\"left\">", Html(label), "</th><td>",
                      Html(value), "</td></tr>\n");
    }
    absl::StrAppend(&t, "\n", n.url, "\n");
    absl::StrAppend(&h, "</table>\n");
  }
  absl::StrAppend(&t, "\n-- \nSent by Tern for the alert rule \"", n.rule_name,
                  "\".\n");
  absl::StrAppend(&h,
                  "<hr>\n<p style=\"color: #666\">Sent by Tern for the "
                  "alert rule &quot;",
                  Html(n.rule_name), "&quot;.");
  if (!n.url.empty()) {
    const std::string_view label = n.issue_id != 0 ? "Issue: " : "Project: ";
    absl::StrAppend(&t, ToAbsl(label), n.url, "\n");
    absl::StrAppend(&h, "<br>", ToAbsl(label), "<a href=\"", Html(n.url), "\">",
                    Html(n.url), "</a>");
  }
  absl::StrAppend(&h, "</p>\n</body></html>\n");
  return e;
}

std::string RenderWebhookBody(TargetKind kind, const Notification& n,
                              int64_t now_ms, std::string_view feishu_sign) {
  std::string out;
  protocol::JsonWriter w(&out);
  switch (kind) {
    case TargetKind::kEmail:
    case TargetKind::kWebhook: {
      w.BeginObject();
      w.Key("action");
      w.String(n.trigger);
      w.Key("rule");
      w.String(n.rule_name);
      w.Key("project");
      w.String(n.project_slug);
      w.Key("id");
      w.String(absl::StrCat(n.issue_id));
      w.Key("shortId");
      w.String(n.short_id);
      w.Key("title");
      w.String(n.title);
      w.Key("culprit");
      w.String(n.culprit);
      w.Key("level");
      w.String(n.level);
      w.Key("status");
      w.String(n.status);
      w.Key("count");
      w.String(absl::StrCat(n.count));
      w.Key("firstSeen");
      w.String(api::FormatTimeMs(n.first_seen_ms));
      w.Key("lastSeen");
      w.String(api::FormatTimeMs(n.last_seen_ms));
      w.Key("url");
      w.String(n.url);
      w.Key("latestEventId");
      w.String(n.event_id);
      if (n.trigger == "summary") {
        w.Key("suppressed");
        w.Int(n.suppressed);
      }
      w.Key("triggeredAt");
      w.String(api::FormatTimeMs(now_ms));
      w.EndObject();
      break;
    }
    case TargetKind::kSlack: {
      // Slack's incoming webhooks take "text" (mrkdwn, <url|label> links);
      // Mattermost and Rocket.Chat accept the same body.
      w.BeginObject();
      w.Key("text");
      if (n.url.empty() || n.short_id.empty()) {
        w.String(SlackEscape(ChatText(n)));
      } else {
        w.String(absl::StrCat(SlackEscape(ChatText(n)), "\n<", n.url, "|",
                              n.short_id, "> · ", n.level, " · ", n.count,
                              " event(s)"));
      }
      w.EndObject();
      break;
    }
    case TargetKind::kDingtalk: {
      w.BeginObject();
      w.Key("msgtype");
      w.String("markdown");
      w.Key("markdown");
      w.BeginObject();
      w.Key("title");
      w.String(Subject(n));
      w.Key("text");
      w.String(absl::StrCat("### ", ChatText(n), "\n\n- level: ", n.level,
                            "\n- events: ", n.count,
                            "\n- culprit: ", OneLine(n.culprit), "\n\n[",
                            n.short_id, "](", n.url, ")"));
      w.EndObject();
      w.EndObject();
      break;
    }
    case TargetKind::kFeishu: {
      w.BeginObject();
      if (!feishu_sign.empty()) {
        w.Key("timestamp");
        w.String(absl::StrCat(now_ms / 1000));
        w.Key("sign");
        w.String(feishu_sign);
      }
      w.Key("msg_type");
      w.String("text");
      w.Key("content");
      w.BeginObject();
      w.Key("text");
      w.String(absl::StrCat(ChatText(n), "\n", n.url));
      w.EndObject();
      w.EndObject();
      break;
    }
  }
  return out;
}

std::string Base64(std::string_view data, bool wrap) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t line = 0;
  auto put = [&](char c) {
    if (wrap && line == 76) {
      out += "\r\n";
      line = 0;
    }
    out += c;
    ++line;
  };
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    put(kAlphabet[(v >> 18) & 63]);
    put(kAlphabet[(v >> 12) & 63]);
    put(kAlphabet[(v >> 6) & 63]);
    put(kAlphabet[v & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    put(kAlphabet[(v >> 18) & 63]);
    put(kAlphabet[(v >> 12) & 63]);
    put(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    put('=');
  }
  return out;
}

std::string EncodeHeaderWord(std::string_view text) {
  bool plain = true;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    plain = plain && u >= 0x20 && u < 0x7f;
  }
  // "=?" would read as the start of an encoded word.
  if (plain && text.find("=?") == std::string_view::npos) {
    return std::string(text);
  }
  // An encoded word is at most 75 characters: "=?UTF-8?B?" + "?=" leave 63
  // for base64, so at most 45 bytes of text (60 base64 characters) each.
  constexpr size_t kMaxBytes = 45;
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = std::min(text.size(), i + kMaxBytes);
    // Back off to a UTF-8 character boundary (never split a character).
    while (end < text.size() && end > i &&
           (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
      --end;
    }
    if (end == i) end = std::min(text.size(), i + kMaxBytes);
    if (!out.empty()) out += "\r\n ";
    absl::StrAppend(&out, "=?UTF-8?B?", Base64(text.substr(i, end - i), false),
                    "?=");
    i = end;
  }
  return out;
}

std::string BuildMimeMessage(const MailEnvelope& env, const Email& email) {
  std::string m;
  absl::StrAppend(&m, "From: ", env.from, "\r\n");
  absl::StrAppend(&m, "To: ", absl::StrJoin(env.to, ", "), "\r\n");
  absl::StrAppend(&m, "Subject: ", EncodeHeaderWord(email.subject), "\r\n");
  absl::StrAppend(
      &m, "Date: ",
      absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000",
                       absl::FromUnixMillis(env.date_ms), absl::UTCTimeZone()),
      "\r\n");
  absl::StrAppend(&m, "Message-ID: <", env.message_id, ">\r\n");
  absl::StrAppend(&m, "MIME-Version: 1.0\r\n");
  absl::StrAppend(&m, "Auto-Submitted: auto-generated\r\n");
  absl::StrAppend(&m, "Content-Type: multipart/alternative; boundary=\"",
                  env.boundary, "\"\r\n\r\n");
  for (const auto& [type, body] :
       {std::pair<std::string_view, const std::string*>{"text/plain",
                                                        &email.text},
        {"text/html", &email.html}}) {
    absl::StrAppend(&m, "--", env.boundary, "\r\n");
    absl::StrAppend(&m, "Content-Type: ", ToAbsl(type), "; charset=utf-8\r\n");
    absl::StrAppend(&m, "Content-Transfer-Encoding: base64\r\n\r\n");
    // Text parts are canonically CRLF (RFC 2046 4.1.1), also when encoded.
    std::string crlf;
    for (char c : *body) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    absl::StrAppend(&m, Base64(crlf, true), "\r\n");
  }
  absl::StrAppend(&m, "--", env.boundary, "--\r\n");
  return m;
}

}  // namespace tern::alerts
