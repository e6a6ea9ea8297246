// The web UI's HTTP handler: routes the UI's pages (pages.h) to the Store,
// checks the login, and in dev mode serves the browser SDK test page.
//
// tern-backend's HTTP server hands it every path outside /api/0/ except
// /metrics and /healthz (backend/app). Routes:
//   GET  /                       projects
//   GET  /projects/{slug}/       issues (?status= &query= &sort= &period=
//                                24h|14d &cursor=, as the API's issue list)
//   GET  /issues/{id}/           one issue and its latest event (?event=ID
//                                shows another event of the issue)
//   POST /issues/{id}/status     form status=resolved|unresolved|ignored,
//                                then 303 back to the issue
//   GET  /login, POST /login     form token=<auth.api_token>, next=<path>
//   POST /logout
//   GET  /projects/{slug}/alerts/  alert rules and recent notifications
//   GET  /dev/browser-test, GET /dev/sdk/<file>   dev mode only
//
// Auth: POST /login with the API token creates a session (a random id kept
// in memory, so a restart logs everyone out) and sets it as an HttpOnly,
// SameSite=Strict cookie; every other route without a valid session
// redirects (303) to /login?next=<the page>. In dev mode requests from the
// loopback address whose Host is a loopback name are let in without a
// session. POSTs whose Origin (or Sec-Fetch-Site) shows another site are
// refused with 403, on top of SameSite, so that dev mode's open localhost
// cannot be driven by a page from elsewhere.
//
// Threading: like the API handler, it runs on the server's one loop thread
// and calls the Store synchronously; the session table is touched only on
// that thread, so it needs no lock.
#ifndef TERN_BACKEND_UI_UI_HANDLER_H_
#define TERN_BACKEND_UI_UI_HANDLER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "backend/storage/store.h"
#include "net/http_server.h"

namespace tern::ui {

struct UiOptions {
  // The token the login form takes (auth.api_token). Empty: nobody can log
  // in (dev mode's loopback access still works).
  std::string api_token;
  // ui.dev_mode, ui.browser_sdk_dir, ui.browser_test_dsn
  // (config/backend_config.h).
  bool dev_mode = false;
  std::string browser_sdk_dir;
  std::string browser_test_dsn;
  // Session lifetime, and how many sessions are kept (the oldest go first).
  int64_t session_ttl_ms = 7LL * 24 * 3600 * 1000;
  size_t max_sessions = 10000;
  // The clock, unix ms; tests replace it.
  std::function<int64_t()> now_ms;
};

// The session cookie's name.
inline constexpr std::string_view kSessionCookie = "tern_session";

class UiHandler final : public net::HttpHandler {
 public:
  // `store` must outlive the handler.
  UiHandler(storage::Store* store, UiOptions options);
  ~UiHandler() override;

  // Form bodies are small: 16 KiB.
  net::HeadVerdict OnHeaders(const net::HttpRequest& head,
                             size_t default_max_body_bytes) override;
  void OnRequest(net::HttpRequest& req,
                 std::unique_ptr<net::HttpResponder> responder) override;

  // One answer; public for the .cc's helpers.
  struct Reply {
    int status = 200;
    std::string body;
    std::string content_type = "text/html; charset=utf-8";
    std::string location;    // 303 target; empty: none
    std::string set_cookie;  // Set-Cookie value; empty: none
    bool script = false;     // the CSP allows scripts (dev pages)
  };

 private:
  Reply Route(const net::HttpRequest& req);
  bool Authorized(const net::HttpRequest& req);
  bool SameOrigin(const net::HttpRequest& req) const;
  std::string SessionOf(const net::HttpRequest& req) const;
  Reply Login(const net::HttpRequest& req);
  Reply Logout(const net::HttpRequest& req);
  Reply Projects();
  // /projects/{slug}/alerts/: the project's rules and notifications.
  Reply Alerts(std::string_view slug);
  Reply Issues(const net::HttpRequest& req, std::string_view slug);
  Reply Issue(const net::HttpRequest& req, int64_t issue_id);
  Reply SetStatus(const net::HttpRequest& req, int64_t issue_id);
  Reply BrowserTest(const net::HttpRequest& req);
  Reply SdkFile(std::string_view relative);
  Reply StoreError(const absl::Status& status);
  int64_t Now() const;

  storage::Store* store_;
  UiOptions options_;
  // session id -> expiry (unix ms).
  std::unordered_map<std::string, int64_t> sessions_;
  // Whether the request being answered came in with a session (pages show
  // the log-out button then).
  bool logged_in_ = false;
};

}  // namespace tern::ui

#endif  // TERN_BACKEND_UI_UI_HANDLER_H_
