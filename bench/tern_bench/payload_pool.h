// The requests tern-bench sends, generated once before the run.
//
// Encoding a 50 KiB event with brotli takes longer than the relay takes to
// accept it, so a generator that encoded per request would measure itself.
// Instead a pool of distinct, complete requests (HTTP request bytes, or UDP
// datagrams) is built up front and cycled through. Each pool entry is a
// realistic SDK event (bench/support/payloads.h: a real sample grown to the
// wanted size with breadcrumbs, contexts and a padded field), with its own
// event id, for a project drawn from a Zipf distribution over the generated
// projects, and a chosen share of entries carries an unknown key or targets
// the over-quota project. For uncompressed bodies the event id can also be
// patched in place per send (PatchEventId), so every request is unique.
//
// Projects: ids 1..N with the keys ProjectKey(id); the over-quota project is
// id N+1 (OverQuotaProjectId). ProjectsYaml writes the matching relay
// projects file, so the generator and the relay agree by construction.
#ifndef TERN_BENCH_TERN_BENCH_PAYLOAD_POOL_H_
#define TERN_BENCH_TERN_BENCH_PAYLOAD_POOL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::bench {

enum class Endpoint { kStore, kEnvelope };
enum class UdpFormat { kLegacy, kEnvelope };

// What an entry is meant to exercise; the report counts answers per kind.
enum class PayloadKind : uint8_t {
  kEvent,       // a valid error event for a normal project
  kSession,     // an envelope with a session update (mixed-realistic)
  kInvalidKey,  // a key the relay does not know: 401/403 expected
  kOverQuota,   // the over-quota project: 429 expected once it is full
};
std::string_view PayloadKindName(PayloadKind kind);

struct PayloadOptions {
  bool udp = false;
  Endpoint endpoint = Endpoint::kEnvelope;    // HTTP only
  UdpFormat udp_format = UdpFormat::kLegacy;  // UDP only
  size_t event_bytes = 1024;                  // size of the event JSON
  // "identity", "gzip", "deflate", "zstd" or "br". For UDP legacy
  // datagrams anything but identity means base64(zlib(JSON)), the only
  // compression raven clients use; UDP envelopes are always identity.
  std::string encoding = "gzip";
  uint32_t projects = 1;       // normal projects, ids 1..projects
  double zipf_exponent = 1.0;  // project k drawn with weight 1/k^s
  double invalid_key_share = 0;
  double over_quota_share = 0;
  double session_share = 0;  // envelopes only
  size_t pool_size = 1024;
  std::string host = "127.0.0.1:3000";  // Host header and envelope dsn
  uint64_t seed = 1;
};

struct Payload {
  // A complete HTTP/1.1 request, or one UDP datagram.
  std::string bytes;
  PayloadKind kind = PayloadKind::kEvent;
  uint32_t project_id = 0;
  // Where the body starts in `bytes` (0 for a datagram).
  size_t body_offset = 0;
  // Offsets in `bytes` of each 32-hex-digit copy of the event id (envelope
  // header and event) when the body is not compressed; empty otherwise.
  std::vector<size_t> id_offsets;
};

class PayloadPool {
 public:
  // Builds options.pool_size entries. Errors: InvalidArgument for
  // inconsistent options (unknown encoding, shares over 1, zero projects,
  // zero pool size, an event too large for a datagram).
  static absl::StatusOr<PayloadPool> Build(const PayloadOptions& options);

  const std::vector<Payload>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  Payload& at(size_t i) { return entries_[i]; }

  // Bytes of all entries together and of their bodies alone, for the
  // report.
  size_t total_bytes() const;
  size_t total_body_bytes() const;

 private:
  std::vector<Payload> entries_;
};

// Writes `sequence` as a fresh event id (32 lowercase hex digits, distinct
// per sequence number and per pool) at every id offset of `payload`. A
// no-op for compressed entries. Call only while the entry is not in flight.
void PatchEventId(uint64_t sequence, Payload* payload);

// The public key of project `id`: 32 hex digits, deterministic.
std::string ProjectKey(uint32_t id);
// A key no project has.
std::string InvalidKey();
inline uint32_t OverQuotaProjectId(uint32_t projects) { return projects + 1; }

// A relay projects file (config/projects.yml schema) with projects
// 1..projects and the over-quota project, whose all-category quota allows
// `over_quota_limit` events an hour.
std::string ProjectsYaml(uint32_t projects, uint64_t over_quota_limit);

// How many of `pool_size` entries each project 1..projects gets under a
// Zipf distribution with exponent `s` (largest-remainder rounding, so the
// counts add up to pool_size exactly). Index 0 is project 1.
std::vector<size_t> ZipfCounts(uint32_t projects, double s, size_t pool_size);

}  // namespace tern::bench

#endif  // TERN_BENCH_TERN_BENCH_PAYLOAD_POOL_H_
