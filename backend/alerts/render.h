// What a notification says: the mail (subject, plain text, HTML, and the
// MIME message around them) and each webhook body, rendered from one
// Notification. Pure functions; the golden tests in render_test.cc pin every
// byte.
//
// Mail: multipart/alternative with a text/plain and a text/html part, both
// UTF-8 and base64 (so no line of an event's title can break the SMTP
// framing), a UTF-8 subject in RFC 2047 encoded words when it is not plain
// ASCII, a Message-ID derived from the outbox row (a duplicate sent after a
// crash carries the same one, so mail clients fold it), and a plain footer
// with the issue's URL (no List-Unsubscribe: rules are switched off in Tern).
#ifndef TERN_BACKEND_ALERTS_RENDER_H_
#define TERN_BACKEND_ALERTS_RENDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend/alerts/rule.h"

namespace tern::alerts {

// Everything a notification shows. `trigger` is new_issue, regression,
// frequency, summary or test.
struct Notification {
  std::string trigger;
  std::string rule_name;
  std::string project_slug;
  int64_t issue_id = 0;
  std::string short_id;  // SLUG-N as the API shows it
  std::string title;
  std::string culprit;
  std::string level;
  std::string status;
  int64_t count = 0;
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  std::string event_id;  // the triggering (latest) event
  std::string url;       // the issue's page in the web UI
  // summary: how many notifications the hourly cap held back, and a line
  // per issue ("SLUG-3 title").
  int64_t suppressed = 0;
  std::vector<std::string> suppressed_issues;
};

struct Email {
  std::string subject;  // UTF-8, unencoded
  std::string text;
  std::string html;
};

Email RenderEmail(const Notification& n);

// The JSON body POSTed to a webhook of `kind` (not kEmail): generic
// (webhook), Slack's incoming webhook, DingTalk's and Feishu's custom
// robots.
// `feishu_sign`, when not empty, is FeishuSign()'s value for the time
// now_ms / 1000, added to a Feishu body with its timestamp.
std::string RenderWebhookBody(TargetKind kind, const Notification& n,
                              int64_t now_ms,
                              std::string_view feishu_sign = "");

// RFC 2047: `text` as is when it is printable ASCII, else as "=?UTF-8?B?
// ...?=" encoded words of at most 75 characters, each holding whole UTF-8
// characters, joined by CRLF SP (header folding).
std::string EncodeHeaderWord(std::string_view text);

struct MailEnvelope {
  std::string from;
  std::vector<std::string> to;
  std::string message_id;  // without the angle brackets
  int64_t date_ms = 0;
  std::string boundary;  // must not occur in base64 text (use a '=')
};

// The whole RFC 5322 message, CRLF line ends.
std::string BuildMimeMessage(const MailEnvelope& envelope, const Email& email);

// Standard base64 with padding, lines of at most 76 characters joined by
// CRLF when `wrap`.
std::string Base64(std::string_view data, bool wrap);

}  // namespace tern::alerts

#endif  // TERN_BACKEND_ALERTS_RENDER_H_
