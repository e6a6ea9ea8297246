#include "backend/alerts/delivery.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "backend/alerts/render.h"
#include "common/status.h"

namespace tern::alerts {
namespace {

constexpr long kMaxResponseBytes = 64 * 1024;

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct Upload {
  std::string_view data;
  size_t pos = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  const size_t want = size * n;
  const size_t left = u->data.size() - u->pos;
  const size_t take = want < left ? want : left;
  u->data.copy(buffer, take, u->pos);
  u->pos += take;
  return take;
}

// Keeps at most kMaxResponseBytes of a response (for the error message).
size_t KeepBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t len = size * n;
  if (body->size() < static_cast<size_t>(kMaxResponseBytes)) {
    body->append(data, std::min(len, kMaxResponseBytes - body->size()));
  }
  return len;
}

absl::Status CurlError(CURLcode code, const char* detail,
                       std::string_view what) {
  std::string msg = absl::StrCat(ToAbsl(what), ": ", curl_easy_strerror(code));
  if (detail != nullptr && detail[0] != '\0') {
    absl::StrAppend(&msg, " (", detail, ")");
  }
  switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

}  // namespace

void InitDelivery() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusOr<SmtpSettings> ResolveMailSettings(
    const config::BackendMailConfig& mail) {
  SmtpSettings s;
  s.host = mail.host;
  s.port = static_cast<uint16_t>(mail.port);
  s.username = mail.username;
  s.password = mail.password;
  s.use_tls = mail.use_tls;
  s.use_ssl = mail.use_ssl;
  s.from = mail.from;
  s.timeout = mail.timeout;
  s.ca_file = mail.ca_file;
  if (!mail.password_file.empty()) {
    std::ifstream in(mail.password_file);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("mail.password_file: cannot read ", mail.password_file));
    }
    std::getline(in, s.password);
    if (!s.password.empty() && s.password.back() == '\r') s.password.pop_back();
  } else if (!mail.password_env.empty()) {
    const char* v = std::getenv(mail.password_env.c_str());
    if (v == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "mail.password_env: the variable ", mail.password_env, " is unset"));
    }
    s.password = v;
  }
  return s;
}

absl::Status SendMail(const SmtpSettings& settings,
                      const std::vector<std::string>& to,
                      std::string_view message) {
  if (settings.host.empty()) {
    return absl::InvalidArgumentError("mail.host is not set");
  }
  if (to.empty()) return absl::InvalidArgumentError("no recipient");
  InitDelivery();
  CurlPtr curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");
  CURL* c = curl.get();
  const std::string host = settings.host.find(':') != std::string::npos
                               ? absl::StrCat("[", settings.host, "]")
                               : settings.host;
  const std::string url = absl::StrCat(
      settings.use_ssl ? "smtps://" : "smtp://", host, ":", settings.port);
  // The EHLO name: curl sends the URL's path, so "/tern" would be odd; the
  // sender's domain is what servers expect.
  const std::string from = absl::StrCat("<", settings.from, ">");
  SlistPtr rcpt;
  for (const std::string& a : to) {
    curl_slist* next = curl_slist_append(rcpt.get(), a.c_str());
    if (next == nullptr) return absl::InternalError("out of memory");
    (void)rcpt.release();
    rcpt.reset(next);
  }
  Upload upload{message};
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  if (settings.use_tls) curl_easy_setopt(c, CURLOPT_USE_SSL, CURLUSESSL_ALL);
  if (!settings.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, settings.ca_file.c_str());
  }
  if (!settings.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, settings.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, settings.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                   static_cast<curl_off_t>(message.size()));
  const long timeout_ms =
      static_cast<long>(absl::ToInt64Milliseconds(settings.timeout));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return CurlError(rc, error,
                     absl::StrCat("smtp ", host, ":", settings.port));
  }
  return absl::OkStatus();
}

absl::Status PostWebhook(const WebhookRequest& request) {
  InitDelivery();
  CurlPtr curl(curl_easy_init());
  if (!curl) return absl::InternalError("curl_easy_init failed");
  CURL* c = curl.get();
  SlistPtr headers(
      curl_slist_append(nullptr, "Content-Type: application/json"));
  const std::string user_agent = "User-Agent: tern-backend";
  headers.reset(curl_slist_append(headers.release(), user_agent.c_str()));
  // curl adds "Expect: 100-continue" to larger POSTs; robots do not answer
  // it, so the body would wait a second for nothing.
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  if (!request.secret.empty()) {
    const std::string sig =
        absl::StrCat("X-Tern-Signature: sha256=",
                     HmacSha256Hex(request.secret, request.body));
    headers.reset(curl_slist_append(headers.release(), sig.c_str()));
  }
  if (!headers) return absl::InternalError("out of memory");
  std::string response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, KeepBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  const long timeout_ms =
      static_cast<long>(absl::ToInt64Milliseconds(request.timeout));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return CurlError(rc, error, "webhook");
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code >= 300) {
    std::string snippet = response.substr(0, 200);
    for (char& ch : snippet) {
      if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
    }
    return absl::UnavailableError(absl::StrCat(
        "webhook: HTTP ", code,
        code >= 300 && code < 400 ? " (redirects are not followed)" : "",
        snippet.empty() ? "" : ": ", snippet));
  }
  return absl::OkStatus();
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest,
       &len);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : HmacSha256(key, data)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string DingtalkSignedUrl(std::string_view url, std::string_view secret,
                              int64_t now_ms) {
  const std::string ts = absl::StrCat(now_ms);
  const std::string sign =
      Base64(HmacSha256(secret, absl::StrCat(ts, "\n", ToAbsl(secret))), false);
  std::string escaped;
  for (char c : sign) {
    if (c == '+') {
      escaped += "%2B";
    } else if (c == '/') {
      escaped += "%2F";
    } else if (c == '=') {
      escaped += "%3D";
    } else {
      escaped += c;
    }
  }
  return absl::StrCat(ToAbsl(url),
                      url.find('?') == std::string_view::npos ? "?" : "&",
                      "timestamp=", ts, "&sign=", escaped);
}

std::string FeishuSign(std::string_view secret, int64_t now_s) {
  return Base64(HmacSha256(absl::StrCat(now_s, "\n", ToAbsl(secret)), ""),
                false);
}

}  // namespace tern::alerts
