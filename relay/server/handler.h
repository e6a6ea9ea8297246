// The relay's front door on one worker: routes HTTP requests (store,
// envelope, CORS preflight, health, metrics) and UDP datagrams to the
// worker's Pipeline, and writes the answers back.
//
// One RelayHandler per worker, touched only by that worker's thread: it owns
// no lock and shares nothing writable with other workers. What all workers
// share is read-only or atomic (ServerShared). The project table comes from
// the worker's own TableSlot.
//
// Routes (ARCHITECTURE.md):
//   POST    /api/{id}/store/, /api/store/ (legacy: the key picks the project)
//   POST    /api/{id}/envelope/
//           (the trailing slash is optional, as in Relay)
//   OPTIONS on both: CORS preflight against the project's allowed_origins
//   GET     /api/relay/healthcheck/live/, /api/relay/healthcheck/ready/
//   GET     /metrics (Prometheus text) when metrics are enabled
// Anything else is 404; a known path with another method is 405 with Allow.
//
// Pending keys: when the table does not know a key yet and upstream fetching
// is on, the pipeline answers 503 with Response::pending_key. The handler
// then holds the request (its buffers stay with the connection), asks the
// control plane for the key once, and runs the request again each time a
// newer table is installed on this worker; after `fetch_wait` it sends the
// 503 (with Retry-After) it was given. The request is never guessed.
// A UDP datagram whose key is pending is held the same way (copied, since
// the receive buffer is reused; at most kMaxHeldDatagrams or
// kMaxHeldDatagramBytes per worker): it runs again on each new table, and
// is dropped as project_pending only when `fetch_wait` passes or the hold
// is full, so the first datagrams of a project a relay has not fetched yet
// are not lost.
#ifndef TERN_RELAY_SERVER_HANDLER_H_
#define TERN_RELAY_SERVER_HANDLER_H_

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "net/http_server.h"
#include "net/timer.h"
#include "net/turn_hook.h"
#include "net/udp_receiver.h"
#include "net/worker.h"
#include "relay/pipeline/pipeline.h"
#include "relay/pipeline/sink.h"
#include "relay/project/table_slot.h"

namespace tern::relay::server {

// What every worker's handler reads; owned by the relay, outlives the
// handlers. Set before the workers start, except the atomics.
struct ServerShared {
  // Body limits per route (config limits.max_event_size/max_envelope_size).
  size_t max_event_size = 1 << 20;
  size_t max_envelope_size = 100u << 20;
  bool metrics_enabled = true;
  // How long a request waits for its key's project config; 0 disables
  // holding (the 503 goes out at once).
  absl::Duration fetch_wait = absl::Seconds(2);
  // Readiness (GET .../ready/); called on worker threads, must be lock-free.
  std::function<bool()> ready;
  // Renders /metrics; called on a worker thread.
  std::function<std::string()> metrics;
  // Asks the control plane for a key's project config; any thread. Null
  // when upstream fetching is off.
  std::function<void(std::string_view public_key)> want_key;
  // Sent with a 503 when a group commit fails (as the pipeline's own 503s).
  absl::Duration retry_after = absl::Seconds(10);
};

// Why a UDP datagram was not produced. Each has a counter in /metrics.
enum class UdpDrop : uint8_t {
  kMalformed,     // neither "<auth>\n\n<body>" nor an envelope
  kAuth,          // 401/400 from auth
  kForbidden,     // 403: unknown/disabled key, project mismatch
  kPending,       // key's project config not fetched yet (asked for it)
  kTooLarge,      // 413
  kInvalid,       // 400/415 body or event
  kBackpressure,  // 503: producer queue over its high mark, or spool full
  kOther,         // any other non-200 answer
  kSpoolError,    // accepted, then its spool write failed
};
inline constexpr int kUdpDropCount = 9;
std::string_view UdpDropName(UdpDrop reason);

// Per-worker counters the handler adds to the pipeline's and net's. Written
// by the owning worker only; read by /metrics.
struct HandlerCounters {
  // HTTP answers by route and status class: [route][status / 100].
  // Routes: store, envelope, options, health, metrics, other.
  std::array<std::array<std::atomic<uint64_t>, 6>, 6> responses{};
  std::atomic<uint64_t> udp_accepted{0};
  std::array<std::atomic<uint64_t>, kUdpDropCount> udp_dropped{};
  std::atomic<uint64_t> held{0};           // requests held for a pending key
  std::atomic<uint64_t> held_timeouts{0};  // ... answered 503 after the wait
  std::atomic<uint64_t> held_now{0};       // gauge: held at this moment
  std::atomic<uint64_t> udp_held{0};       // datagrams held for a pending key
  std::atomic<uint64_t> udp_held_now{0};   // gauge: datagrams held now
};

// Bounds of the per-worker hold for datagrams of pending keys.
inline constexpr size_t kMaxHeldDatagrams = 4096;
inline constexpr size_t kMaxHeldDatagramBytes = 8u << 20;
inline constexpr std::array<std::string_view, 6> kRouteNames = {
    "store", "envelope", "options", "health", "metrics", "other"};

class RelayHandler final : public net::HttpHandler {
 public:
  // All pointers must outlive the handler; `worker` is the worker this
  // handler serves (timers for held requests live on it). `commit_sink`,
  // when not null, is the pipeline's spooling sink: answers wait for its
  // Commit() at the end of each loop turn. Construct before the worker
  // starts or on its thread.
  RelayHandler(net::Worker* worker, const ServerShared* shared,
               project::TableSlot* slot, pipeline::Pipeline* pipeline,
               pipeline::MessageSink* commit_sink = nullptr);
  ~RelayHandler() override;

  net::HeadVerdict OnHeaders(const net::HttpRequest& head,
                             size_t default_max_body_bytes) override;
  void OnRequest(net::HttpRequest& req,
                 std::unique_ptr<net::HttpResponder> responder) override;

  // One UDP datagram (the UdpReceiver's callback). Never replies.
  void OnDatagram(std::string_view data, const sockaddr* peer);

  // Called on the worker's thread right after a newer table was installed
  // in the slot: runs the held requests again.
  void OnTableInstalled();

  // Answers every held request with its 503 now (shutdown). Worker thread.
  void ReleaseHeld();

  // Produces the pipeline's summed outcomes of ended windows (all of them
  // when `all`) and, with a spool, commits them at the end of this turn.
  // Worker thread.
  void FlushOutcomes(bool all);

  const HandlerCounters& counters() const { return counters_; }

 private:
  enum Route : uint8_t {
    kStore,
    kEnvelope,
    kOptions,
    kHealth,
    kMetrics,
    kOther
  };
  // A store, envelope or preflight request, as its path and method named it
  // (parsed once, in OnRequest).
  struct Target {
    Route route;  // kStore, kEnvelope or kOptions
    uint64_t url_project_id;
  };
  struct Held {
    net::HttpRequest* req;
    Target target;
    std::unique_ptr<net::HttpResponder> responder;
    pipeline::Response last;  // the 503 to send when the wait ends
    absl::Time deadline;
  };

  struct HeldDatagram {
    std::string data;
    size_t split;  // as for ProcessDatagram
    std::string client_ip;
    absl::Time deadline;
  };
  // Runs one datagram; holds it when its key is pending, holding is on, the
  // deadline has not passed and the hold has room, else counts the drop.
  // `split` is where "<auth>\n\n" ends in a legacy datagram, 0 for an
  // envelope datagram (OnDatagram finds it once).
  void ProcessDatagram(std::string_view data, size_t split,
                       std::string_view client_ip, bool retry, absl::Time now,
                       absl::Time deadline);
  void StartHoldTimer();
  void StopHoldTimerIfIdle();

  // Runs `req` and answers it, or holds it when its key is pending, holding
  // is on and the deadline has not passed.
  // `retry` is true when a held request runs again (counted once as held).
  void Dispatch(net::HttpRequest& req, Target target,
                std::unique_ptr<net::HttpResponder> responder, bool retry,
                absl::Time now, absl::Time deadline);
  void Send(Route route, net::HttpResponder& responder, int status,
            std::span<const net::HttpHeader> headers, std::string_view body,
            bool close_after = false);
  void SendPipelineResponse(Route route, const net::HttpRequest& req,
                            net::HttpResponder& responder,
                            const pipeline::Response& r);
  // The CORS answer for OPTIONS on store/envelope, as a pipeline Response
  // (so a pending key is held like any request).
  pipeline::Response Preflight(const net::HttpRequest& req,
                               uint64_t url_project_id);
  void SweepHeld();
  // Answers `r`, or keeps it for the end of the turn when the sink holds
  // uncommitted messages.
  void Answer(Route route, net::HttpRequest& req,
              std::unique_ptr<net::HttpResponder> responder,
              pipeline::Response r);
  // The turn hook: one Commit(), then the turn's answers.
  void CommitTurn();
  // For `Expect: 100-continue` requests with auth in the head: a key the
  // table refuses (401/400/403) is answered before the body is uploaded.
  void RejectBeforeUpload(const net::HttpRequest& head, Target target,
                          net::HeadVerdict* verdict);
  void Want(const std::string& key);

  struct Deferred {
    Route route;
    net::HttpRequest* req;
    std::unique_ptr<net::HttpResponder> responder;
    pipeline::Response response;
  };

  const ServerShared* shared_;
  project::TableSlot* slot_;
  pipeline::Pipeline* pipeline_;
  pipeline::MessageSink* commit_sink_;
  std::unique_ptr<net::TurnHook> commit_hook_;
  std::vector<Deferred> deferred_;
  uint64_t deferred_datagrams_ = 0;
  net::Timer hold_timer_;
  std::deque<Held> held_;
  std::deque<HeldDatagram> held_datagrams_;
  size_t held_datagram_bytes_ = 0;
  // Keys asked for since the last table install; asked again after it.
  absl::flat_hash_set<std::string> wanted_;
  net::PeerIpText peer_ip_;  // a datagram's sender, as text
  HandlerCounters counters_;
};

}  // namespace tern::relay::server

#endif  // TERN_RELAY_SERVER_HANDLER_H_
