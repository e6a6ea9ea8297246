#include "config/relay_config.h"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "config/decoder.h"
#include "config/fields.h"
#include "config/values.h"
#include "config/yaml_tree.h"

namespace tern::config {
namespace {

// Bounds that catch unit mistakes (a size in bits, a count with three zeros
// too many) without second-guessing real deployments.
constexpr uint64_t kMaxBodySize = 1ull << 40;  // 1 TiB
constexpr uint64_t kMaxIntBytes = 2147483647;  // setsockopt, librdkafka
constexpr absl::Duration kPositive = absl::Milliseconds(1);

// http(s)://host[:port][/path], no query or fragment; a trailing '/' is
// dropped so the relay can append "/api/0/...".
absl::Status DecodeUpstreamUrl(Decoder& d, const YamlNode& node,
                               std::string_view path, std::string* out) {
  if (node.kind == YamlNode::Kind::kNull) {
    out->clear();
    return absl::OkStatus();
  }
  TERN_RETURN_IF_ERROR(d.String(node, path, out));
  if (out->empty()) return absl::OkStatus();
  auto bad = [&](absl::string_view why) {
    return d.Error(node, path,
                   absl::StrCat("expected a URL like http://127.0.0.1:9000 (",
                                why, "), got \"", *out, "\""));
  };
  absl::string_view rest = *out;
  if (absl::StartsWith(rest, "https://")) {
    // net::HttpClient speaks plain HTTP; refusing here beats a relay that
    // starts and never fetches a project.
    return bad("https is not supported yet: use http on a trusted network");
  }
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return bad("scheme must be http");
  }
  if (rest.find_first_of("?# \t") != absl::string_view::npos) {
    return bad("no query, fragment or spaces");
  }
  const size_t slash = rest.find('/');
  std::string authority(rest.substr(0, slash));
  if (authority.find('@') != std::string::npos) {
    return bad("credentials go in token, not in the URL");
  }
  // A port is optional in a URL; borrow ParseHostPort for the host check.
  const size_t bracket = authority.rfind(']');
  const size_t colon = authority.rfind(':');
  const bool has_port = colon != std::string::npos &&
                        (bracket == std::string::npos || colon > bracket);
  if (!has_port) authority += ":1";
  absl::StatusOr<HostPort> parsed = ParseHostPort(authority, false);
  if (!parsed.ok()) return bad(parsed.status().message());
  while (!out->empty() && out->back() == '/') out->pop_back();
  return absl::OkStatus();
}

absl::Status DecodeListen(Decoder& d, const YamlNode& node,
                          std::string_view path, ListenConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  TERN_RETURN_IF_ERROR(m.Field("http", [&](const YamlNode& n, auto p) {
    return DecodeAddress(d, n, p, &out->http);
  }));
  TERN_RETURN_IF_ERROR(m.Field("udp", [&](const YamlNode& n, auto p) {
    if (n.kind == YamlNode::Kind::kNull ||
        (n.kind == YamlNode::Kind::kScalar && n.scalar.empty())) {
      out->udp.reset();
      return absl::OkStatus();
    }
    HostPort udp;
    TERN_RETURN_IF_ERROR(DecodeAddress(d, n, p, &udp));
    out->udp = udp;
    return absl::OkStatus();
  }));
  return m.Finish();
}

absl::Status DecodeLimits(Decoder& d, const YamlNode& node,
                          std::string_view path, LimitsConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  auto size = [&](std::string_view key, uint64_t max, uint64_t* field) {
    return m.Field(key, [&](const YamlNode& n, auto p) {
      return d.Size(n, p, 1, max, field);
    });
  };
  auto count = [&](std::string_view key, uint64_t max, uint64_t* field) {
    return m.Field(key, [&](const YamlNode& n, auto p) {
      return d.Uint(n, p, 1, max, field);
    });
  };
  TERN_RETURN_IF_ERROR(
      size("max_header_bytes", 64 * kMiB, &out->max_header_bytes));
  TERN_RETURN_IF_ERROR(count("max_headers", 100000, &out->max_headers));
  TERN_RETURN_IF_ERROR(
      size("max_event_size", kMaxBodySize, &out->max_event_size));
  TERN_RETURN_IF_ERROR(
      size("max_envelope_size", kMaxBodySize, &out->max_envelope_size));
  TERN_RETURN_IF_ERROR(
      size("max_attachment_size", kMaxBodySize, &out->max_attachment_size));
  TERN_RETURN_IF_ERROR(
      count("max_items_per_envelope", 1000000, &out->max_items_per_envelope));
  TERN_RETURN_IF_ERROR(count("max_connections_per_worker", 10000000,
                             &out->max_connections_per_worker));
  return m.Finish();
}

absl::Status DecodeTimeouts(Decoder& d, const YamlNode& node,
                            std::string_view path, TimeoutsConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  auto duration = [&](std::string_view key, absl::Duration* field) {
    return m.Field(key, [&](const YamlNode& n, auto p) {
      return d.Duration(n, p, kPositive, field);
    });
  };
  TERN_RETURN_IF_ERROR(duration("header_read", &out->header_read));
  TERN_RETURN_IF_ERROR(duration("idle", &out->idle));
  TERN_RETURN_IF_ERROR(duration("shutdown", &out->shutdown));
  TERN_RETURN_IF_ERROR(
      duration("project_fetch_wait", &out->project_fetch_wait));
  return m.Finish();
}

absl::Status DecodeProducer(Decoder& d, const YamlNode& node,
                            std::string_view path, KafkaProducerConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  TERN_RETURN_IF_ERROR(m.Field("compression", [&](const YamlNode& n, auto p) {
    int index = 0;
    TERN_RETURN_IF_ERROR(
        d.OneOf(n, p, {"none", "gzip", "snappy", "lz4", "zstd"}, &index));
    out->compression = n.scalar;
    return absl::OkStatus();
  }));
  TERN_RETURN_IF_ERROR(m.Field("linger_ms", [&](const YamlNode& n, auto p) {
    return d.Uint(n, p, 0, 900000, &out->linger_ms);
  }));
  TERN_RETURN_IF_ERROR(m.Field("batch_size", [&](const YamlNode& n, auto p) {
    return d.Size(n, p, 1, kMaxIntBytes, &out->batch_size);
  }));
  TERN_RETURN_IF_ERROR(
      m.Field("queue_high_watermark", [&](const YamlNode& n, auto p) {
        return d.Uint(n, p, 1, 1000000000, &out->queue_high_watermark);
      }));
  TERN_RETURN_IF_ERROR(
      m.Field("queue_low_watermark", [&](const YamlNode& n, auto p) {
        return d.Uint(n, p, 0, 1000000000, &out->queue_low_watermark);
      }));
  TERN_RETURN_IF_ERROR(m.Field("extra", [&](const YamlNode& n, auto p) {
    return DecodeKafkaExtra(
        d, n, p,
        {"bootstrap.servers", "metadata.broker.list", "compression.type",
         "compression.codec", "linger.ms", "queue.buffering.max.ms",
         "batch.size"},
        "set by a kafka key of its own (bootstrap_servers, "
        "producer.compression, producer.linger_ms or producer.batch_size), "
        "not in extra",
        &out->extra);
  }));
  TERN_RETURN_IF_ERROR(m.Finish());
  if (out->queue_low_watermark >= out->queue_high_watermark) {
    const std::string low = JoinPath(path, "queue_low_watermark");
    const std::string high = JoinPath(path, "queue_high_watermark");
    return d.ErrorAtPath(
        m.Take("queue_low_watermark") != nullptr ? low : high,
        absl::StrCat("queue_low_watermark (", out->queue_low_watermark,
                     ") must be below queue_high_watermark (",
                     out->queue_high_watermark, ")"));
  }
  return absl::OkStatus();
}

absl::Status DecodeKafka(Decoder& d, const YamlNode& node,
                         std::string_view path, KafkaConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  TERN_RETURN_IF_ERROR(
      m.Field("bootstrap_servers", [&](const YamlNode& n, auto p) {
        return DecodeBootstrapServers(d, n, p, &out->bootstrap_servers);
      }));
  TERN_RETURN_IF_ERROR(m.Field("topics", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields t, MapFields::Open(&d, n, p));
    auto topic = [&](std::string_view key, std::string* field) {
      return t.Field(key, [&](const YamlNode& tn, auto tp) {
        return DecodeTopic(d, tn, tp, field);
      });
    };
    TERN_RETURN_IF_ERROR(topic("events", &out->topics.events));
    TERN_RETURN_IF_ERROR(topic("attachments", &out->topics.attachments));
    TERN_RETURN_IF_ERROR(topic("transactions", &out->topics.transactions));
    TERN_RETURN_IF_ERROR(topic("sessions", &out->topics.sessions));
    TERN_RETURN_IF_ERROR(topic("outcomes", &out->topics.outcomes));
    TERN_RETURN_IF_ERROR(topic("other", &out->topics.other));
    return t.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("producer", [&](const YamlNode& n, auto p) {
    return DecodeProducer(d, n, p, &out->producer);
  }));
  return m.Finish();
}

absl::Status DecodeProjects(Decoder& d, const YamlNode& node,
                            std::string_view path, ProjectsSourceConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  TERN_RETURN_IF_ERROR(m.Field("file", [&](const YamlNode& n, auto p) {
    if (n.kind == YamlNode::Kind::kNull) {
      out->file.clear();
      return absl::OkStatus();
    }
    return d.String(n, p, &out->file);
  }));
  TERN_RETURN_IF_ERROR(m.Field("upstream", [&](const YamlNode& n, auto p) {
    UpstreamConfig& up = out->upstream;
    TERN_ASSIGN_OR_RETURN(MapFields u, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(u.Field("url", [&](const YamlNode& un, auto up_path) {
      return DecodeUpstreamUrl(d, un, up_path, &up.url);
    }));
    TERN_RETURN_IF_ERROR(u.Field("token", [&](const YamlNode& un, auto tp) {
      if (un.kind == YamlNode::Kind::kNull) {
        up.token.clear();
        return absl::OkStatus();
      }
      return d.String(un, tp, &up.token);
    }));
    auto duration = [&](std::string_view key, absl::Duration min,
                        absl::Duration* field) {
      return u.Field(key, [&](const YamlNode& un, auto dp) {
        return d.Duration(un, dp, min, field);
      });
    };
    TERN_RETURN_IF_ERROR(
        duration("batch_interval", kPositive, &up.batch_interval));
    TERN_RETURN_IF_ERROR(duration("ttl", kPositive, &up.ttl));
    TERN_RETURN_IF_ERROR(
        duration("stale_grace", absl::ZeroDuration(), &up.stale_grace));
    TERN_RETURN_IF_ERROR(
        duration("negative_ttl", absl::ZeroDuration(), &up.negative_ttl));
    return u.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Finish());
  if (out->file.empty() && out->upstream.url.empty()) {
    return d.ErrorAtPath(path,
                         "no project source: set projects.file, "
                         "projects.upstream.url, or both");
  }
  return absl::OkStatus();
}

absl::Status DecodeRoot(Decoder& d, const YamlNode& root, RelayConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, root, ""));
  TERN_RETURN_IF_ERROR(m.Field("listen", [&](const YamlNode& n, auto p) {
    return DecodeListen(d, n, p, &out->listen);
  }));
  TERN_RETURN_IF_ERROR(m.Field("workers", [&](const YamlNode& n, auto p) {
    return d.Uint(n, p, 0, 1024, &out->workers);
  }));
  TERN_RETURN_IF_ERROR(
      m.Field("background_nice", [&](const YamlNode& n, auto p) {
        return d.Uint(n, p, 0, 19, &out->background_nice);
      }));
  TERN_RETURN_IF_ERROR(m.Field("limits", [&](const YamlNode& n, auto p) {
    return DecodeLimits(d, n, p, &out->limits);
  }));
  TERN_RETURN_IF_ERROR(m.Field("timeouts", [&](const YamlNode& n, auto p) {
    return DecodeTimeouts(d, n, p, &out->timeouts);
  }));
  TERN_RETURN_IF_ERROR(m.Field("kafka", [&](const YamlNode& n, auto p) {
    return DecodeKafka(d, n, p, &out->kafka);
  }));
  TERN_RETURN_IF_ERROR(m.Field("unknown_items", [&](const YamlNode& n, auto p) {
    int index = 0;
    TERN_RETURN_IF_ERROR(d.OneOf(n, p, {"forward", "drop"}, &index));
    out->unknown_items =
        index == 0 ? UnknownItems::kForward : UnknownItems::kDrop;
    return absl::OkStatus();
  }));
  // Decoded even when absent so the "at least one source" check runs on the
  // defaults too (they pass: the default file is set).
  const YamlNode* projects = m.Take("projects");
  const YamlNode empty;
  TERN_RETURN_IF_ERROR(DecodeProjects(d, projects ? *projects : empty,
                                      "projects", &out->projects));
  TERN_RETURN_IF_ERROR(m.Field("udp", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields u, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(
        u.Field("recv_buffer", [&](const YamlNode& un, auto up) {
          return d.Size(un, up, 1, kMaxIntBytes, &out->udp.recv_buffer);
        }));
    return u.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("spool", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields sm, MapFields::Open(&d, n, p));
    SpoolConfig& sp = out->spool;
    TERN_RETURN_IF_ERROR(sm.Field("enabled", [&](const YamlNode& sn, auto sp_) {
      return d.Bool(sn, sp_, &sp.enabled);
    }));
    TERN_RETURN_IF_ERROR(sm.Field("dir", [&](const YamlNode& sn, auto sp_) {
      TERN_RETURN_IF_ERROR(d.String(sn, sp_, &sp.dir));
      if (sp.dir.empty()) return d.Error(sn, sp_, "must not be empty");
      return absl::OkStatus();
    }));
    TERN_RETURN_IF_ERROR(
        sm.Field("max_bytes", [&](const YamlNode& sn, auto sp_) {
          return d.Size(sn, sp_, 1 * kMiB, uint64_t{1} << 50, &sp.max_bytes);
        }));
    TERN_RETURN_IF_ERROR(
        sm.Field("min_free_bytes", [&](const YamlNode& sn, auto sp_) {
          return d.Size(sn, sp_, 0, uint64_t{1} << 50, &sp.min_free_bytes);
        }));
    TERN_RETURN_IF_ERROR(sm.Field("fsync", [&](const YamlNode& sn, auto sp_) {
      int index = 0;
      TERN_RETURN_IF_ERROR(
          d.OneOf(sn, sp_, {"never", "interval", "always"}, &index));
      sp.fsync = static_cast<SpoolFsync>(index);
      return absl::OkStatus();
    }));
    TERN_RETURN_IF_ERROR(
        sm.Field("fsync_interval", [&](const YamlNode& sn, auto sp_) {
          return d.Duration(sn, sp_, kPositive, &sp.fsync_interval);
        }));
    TERN_RETURN_IF_ERROR(
        sm.Field("segment_bytes", [&](const YamlNode& sn, auto sp_) {
          return d.Size(sn, sp_, 64 * kKiB, 4096 * kMiB, &sp.segment_bytes);
        }));
    return sm.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("outcomes", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields om, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(
        om.Field("flush_interval", [&](const YamlNode& on, auto op) {
          TERN_RETURN_IF_ERROR(d.Duration(on, op, absl::ZeroDuration(),
                                          &out->outcomes.flush_interval));
          if (out->outcomes.flush_interval > absl::Minutes(10)) {
            return d.Error(on, op, "must be at most 10m");
          }
          return absl::OkStatus();
        }));
    return om.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("quotas", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields qm, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(qm.Field("redis", [&](const YamlNode& rn, auto rp) {
      if (rn.kind == YamlNode::Kind::kNull) return absl::OkStatus();
      TERN_ASSIGN_OR_RETURN(MapFields rm, MapFields::Open(&d, rn, rp));
      RedisQuotaConfig rc;
      bool has_url = false;
      TERN_RETURN_IF_ERROR(rm.Field("url", [&](const YamlNode& un, auto up) {
        TERN_RETURN_IF_ERROR(d.String(un, up, &rc.url));
        absl::StatusOr<RedisAddress> a = ParseRedisUrl(rc.url);
        if (!a.ok()) return d.Error(un, up, std::string(a.status().message()));
        rc.address = *std::move(a);
        has_url = true;
        return absl::OkStatus();
      }));
      TERN_RETURN_IF_ERROR(
          rm.Field("fallback", [&](const YamlNode& fn, auto fp) {
            int index = 0;
            TERN_RETURN_IF_ERROR(
                d.OneOf(fn, fp, {"local_share", "allow", "deny"}, &index));
            rc.fallback = static_cast<QuotaFallback>(index);
            return absl::OkStatus();
          }));
      TERN_RETURN_IF_ERROR(
          rm.Field("expected_relays", [&](const YamlNode& en, auto ep) {
            return d.Uint(en, ep, 1, 100000, &rc.expected_relays);
          }));
      TERN_RETURN_IF_ERROR(
          rm.Field("timeout", [&](const YamlNode& tn, auto tp) {
            TERN_RETURN_IF_ERROR(d.Duration(tn, tp, kPositive, &rc.timeout));
            if (rc.timeout > absl::Seconds(60)) {
              return d.Error(tn, tp, "must be at most 60s");
            }
            return absl::OkStatus();
          }));
      TERN_RETURN_IF_ERROR(rm.Finish());
      if (!has_url) return d.Error(rn, rp, "url is required");
      out->quotas.redis = std::move(rc);
      return absl::OkStatus();
    }));
    return qm.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("metrics", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields mm, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(mm.Field("enabled", [&](const YamlNode& mn, auto mp) {
      return d.Bool(mn, mp, &out->metrics.enabled);
    }));
    return mm.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("logging", [&](const YamlNode& n, auto p) {
    return DecodeLogging(d, n, p, &out->logging);
  }));
  TERN_RETURN_IF_ERROR(m.Finish());

  // Checks across keys, after every key decoded.
  const LimitsConfig& limits = out->limits;
  if (limits.max_event_size > limits.max_envelope_size) {
    return d.ErrorAtPath("limits.max_event_size",
                         absl::StrCat("max_event_size (", limits.max_event_size,
                                      ") must not exceed max_envelope_size (",
                                      limits.max_envelope_size, ")"));
  }
  if (limits.max_attachment_size > limits.max_envelope_size) {
    return d.ErrorAtPath(
        "limits.max_attachment_size",
        absl::StrCat("max_attachment_size (", limits.max_attachment_size,
                     ") must not exceed max_envelope_size (",
                     limits.max_envelope_size, ")"));
  }
  if (out->spool.segment_bytes > out->spool.max_bytes) {
    return d.ErrorAtPath(
        "spool.segment_bytes",
        absl::StrCat("segment_bytes (", out->spool.segment_bytes,
                     ") must not exceed max_bytes (", out->spool.max_bytes,
                     ")"));
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

// %XX escapes in URL user info (a password may hold ':' or '@').
bool PercentDecode(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !absl::ascii_isxdigit(in[i + 1]) ||
        !absl::ascii_isxdigit(in[i + 2])) {
      return false;
    }
    auto hex = [](char c) {
      return absl::ascii_isdigit(c) ? c - '0'
                                    : absl::ascii_tolower(c) - 'a' + 10;
    };
    out->push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
    i += 2;
  }
  return true;
}

}  // namespace

absl::StatusOr<RedisAddress> ParseRedisUrl(std::string_view url_in) {
  const absl::string_view url(url_in.data(), url_in.size());
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected redis://[:password@]host[:port][/db] or "
                     "unix://[:password@]/path.sock[?db=N] (",
                     why, "), got \"", url, "\""));
  };
  RedisAddress a;
  absl::string_view rest = url;
  const bool unix_socket = absl::ConsumePrefix(&rest, "unix://");
  if (!unix_socket && !absl::ConsumePrefix(&rest, "redis://")) {
    if (absl::StartsWith(url, "rediss://")) {
      return bad("TLS is not supported: use a loopback address or a socket");
    }
    return bad("scheme must be redis or unix");
  }
  if (rest.find_first_of(" \t#") != absl::string_view::npos) {
    return bad("no spaces or fragment");
  }
  // User info: everything before the last '@' (a password may hold '@' only
  // escaped, but be lenient).
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    const absl::string_view info = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const size_t colon = info.find(':');
    const absl::string_view user = colon == absl::string_view::npos
                                       ? absl::string_view()
                                       : info.substr(0, colon);
    const absl::string_view pass =
        colon == absl::string_view::npos ? info : info.substr(colon + 1);
    if (!PercentDecode(user, &a.user) || !PercentDecode(pass, &a.password)) {
      return bad("bad %-escape in the user info");
    }
  }
  absl::string_view query;
  if (const size_t q = rest.find('?'); q != absl::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  auto parse_db = [&](absl::string_view text) -> absl::Status {
    if (text.empty() || !absl::SimpleAtoi(text, &a.db) || a.db > 1000000) {
      return bad("db must be a number");
    }
    return absl::OkStatus();
  };
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&kv, "db=")) {
      if (absl::Status s = parse_db(kv); !s.ok()) return s;
    } else if (absl::ConsumePrefix(&kv, "password=")) {
      if (!PercentDecode(kv, &a.password)) return bad("bad %-escape");
    } else {
      return bad(absl::StrCat("unknown parameter \"", kv, "\""));
    }
  }
  if (unix_socket) {
    if (rest.empty() || rest[0] != '/') {
      return bad("the socket path must be absolute");
    }
    a.unix_path = std::string(rest);
    return a;
  }
  const size_t slash = rest.find('/');
  if (slash != absl::string_view::npos) {
    const absl::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      if (absl::Status s = parse_db(db); !s.ok()) return s;
    }
    rest = rest.substr(0, slash);
  }
  absl::string_view host = rest;
  if (absl::StartsWith(host, "[")) {  // [::1]:6379
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return bad("unclosed [");
    rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
  } else {
    const size_t colon = host.find(':');
    rest = colon == absl::string_view::npos ? absl::string_view()
                                            : host.substr(colon);
    host = host.substr(0, colon);
  }
  if (host.empty()) return bad("no host");
  if (!rest.empty()) {
    uint32_t port = 0;
    if (rest[0] != ':' || !absl::SimpleAtoi(rest.substr(1), &port) ||
        port == 0 || port > 65535) {
      return bad("port must be 1-65535");
    }
    a.port = static_cast<uint16_t>(port);
  }
  a.host = std::string(host);
  return a;
}

std::string_view QuotaFallbackName(QuotaFallback value) {
  switch (value) {
    case QuotaFallback::kLocalShare:
      return "local_share";
    case QuotaFallback::kAllow:
      return "allow";
    case QuotaFallback::kDeny:
      return "deny";
  }
  return "?";
}

std::string_view SpoolFsyncName(SpoolFsync value) {
  switch (value) {
    case SpoolFsync::kNever:
      return "never";
    case SpoolFsync::kInterval:
      return "interval";
    case SpoolFsync::kAlways:
      return "always";
  }
  return "interval";
}

std::string_view UnknownItemsName(UnknownItems value) {
  return value == UnknownItems::kForward ? "forward" : "drop";
}

absl::StatusOr<RelayConfig> ParseRelayConfig(std::string_view yaml,
                                             std::string_view filename) {
  TERN_ASSIGN_OR_RETURN(YamlNode root, ParseYaml(yaml, filename));
  Decoder decoder(filename);
  RelayConfig config;
  TERN_RETURN_IF_ERROR(DecodeRoot(decoder, root, &config));
  return config;
}

absl::StatusOr<RelayConfig> LoadRelayConfig(const std::string& path) {
  TERN_ASSIGN_OR_RETURN(std::string text, ReadConfigFile(path));
  return ParseRelayConfig(text, path);
}

}  // namespace tern::config
