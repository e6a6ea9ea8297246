// Delivery of one rendered notification: SMTP through libcurl (STARTTLS or
// implicit TLS, AUTH PLAIN/LOGIN) and webhook POSTs through libcurl (http
// and https with the system's CA store). The only place the backend
// includes curl or OpenSSL headers.
//
// Each call is synchronous and bounded by its timeout; the sender thread
// makes them, never the ingest or HTTP threads. Errors: Unavailable for
// what a retry may cure (connection refused, timeout, a 4xx/5xx SMTP reply,
// a non-2xx HTTP status), InvalidArgument for a request that cannot work
// (no mail host configured, a bad URL).
#ifndef TERN_BACKEND_ALERTS_DELIVERY_H_
#define TERN_BACKEND_ALERTS_DELIVERY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/backend_config.h"

namespace tern::alerts {

// mail.* with the password resolved (ResolveMailPassword).
struct SmtpSettings {
  std::string host;
  uint16_t port = 25;
  std::string username;
  std::string password;
  bool use_tls = false;
  bool use_ssl = false;
  std::string from;
  absl::Duration timeout = absl::Seconds(10);
  std::string ca_file;
};

// The SMTP settings of `mail`, the password taken from mail.password, the
// first line of mail.password_file, or the variable mail.password_env.
// NotFound / PermissionDenied for an unreadable file, NotFound for an unset
// variable; the messages never contain the password.
absl::StatusOr<SmtpSettings> ResolveMailSettings(
    const config::BackendMailConfig& mail);

// Sends `message` (a whole RFC 5322 message, CRLF line ends) from
// settings.from to every address of `to`. OK once the server accepted it
// (250 after DATA).
absl::Status SendMail(const SmtpSettings& settings,
                      const std::vector<std::string>& to,
                      std::string_view message);

struct WebhookRequest {
  std::string url;
  std::string body;  // JSON
  // When set: X-Tern-Signature: sha256=<HmacSha256Hex(secret, body)>.
  std::string secret;
  absl::Duration timeout = absl::Seconds(10);
};

// POSTs the body; OK for a 2xx answer. Redirects are not followed (a 3xx is
// an error), so a webhook cannot be bounced to another host.
absl::Status PostWebhook(const WebhookRequest& request);

// HMAC-SHA256 of `data` with `key`, as 64 lowercase hex digits.
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// The same digest as 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);

// The robots' own signing schemes, for a dingtalk or feishu target with a
// secret (their "sign" security setting). DingTalk: the URL gains
// &timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256(secret, "<ms>\n" +
// secret)>. Feishu: the body gains "timestamp": "<s>" and "sign": base64
// HMAC-SHA256 keyed with "<s>\n" + secret over nothing.
std::string DingtalkSignedUrl(std::string_view url, std::string_view secret,
                              int64_t now_ms);
std::string FeishuSign(std::string_view secret, int64_t now_s);

// libcurl's global init; called once by the sender and the CLI before any
// other thread uses curl. Idempotent.
void InitDelivery();

}  // namespace tern::alerts

#endif  // TERN_BACKEND_ALERTS_DELIVERY_H_
