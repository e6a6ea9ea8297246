#include "config/backend_config.h"

#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "config/decoder.h"
#include "config/fields.h"
#include "config/yaml_tree.h"

namespace tern::config {
namespace {

constexpr size_t kMinTokenLength = 16;

// Null or "" clears a string that may be empty.
absl::Status DecodeOptionalString(Decoder& d, const YamlNode& node,
                                  std::string_view path, std::string* out) {
  if (node.kind == YamlNode::Kind::kNull) {
    out->clear();
    return absl::OkStatus();
  }
  return d.String(node, path, out);
}

absl::Status DecodeStoreDsn(Decoder& d, const YamlNode& node,
                            std::string_view path, std::string* out) {
  TERN_RETURN_IF_ERROR(d.String(node, path, out));
  const bool sqlite = absl::StartsWith(*out, "sqlite:") && out->size() > 7;
  const bool postgres = absl::StartsWith(*out, "postgresql://") ||
                        absl::StartsWith(*out, "postgres://");
  if (!sqlite && !postgres) {
    return d.Error(node, path,
                   absl::StrCat("expected sqlite:PATH or postgresql://..., "
                                "got \"",
                                *out, "\""));
  }
  return absl::OkStatus();
}

absl::Status DecodeConsumer(Decoder& d, const YamlNode& node,
                            std::string_view path, BackendConsumerConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  TERN_RETURN_IF_ERROR(m.Field("group_id", [&](const YamlNode& n, auto p) {
    TERN_RETURN_IF_ERROR(d.String(n, p, &out->group_id));
    if (out->group_id.empty()) {
      return d.Error(n, p, "expected a consumer group name, got \"\"");
    }
    return absl::OkStatus();
  }));
  TERN_RETURN_IF_ERROR(
      m.Field("batch_max_messages", [&](const YamlNode& n, auto p) {
        return d.Uint(n, p, 1, 1000000, &out->batch_max_messages);
      }));
  TERN_RETURN_IF_ERROR(
      m.Field("batch_max_wait", [&](const YamlNode& n, auto p) {
        return d.Duration(n, p, absl::Milliseconds(1), &out->batch_max_wait);
      }));
  TERN_RETURN_IF_ERROR(
      m.Field("retry_max_backoff", [&](const YamlNode& n, auto p) {
        return d.Duration(n, p, absl::Milliseconds(1), &out->retry_max_backoff);
      }));
  TERN_RETURN_IF_ERROR(m.Field("extra", [&](const YamlNode& n, auto p) {
    return DecodeKafkaExtra(
        d, n, p,
        {"bootstrap.servers", "metadata.broker.list", "group.id",
         "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset",
         "enable.partition.eof"},
        "set by the backend itself (kafka.bootstrap_servers, "
        "kafka.consumer.group_id, or fixed for at-least-once delivery), not "
        "in extra",
        &out->extra);
  }));
  return m.Finish();
}

absl::Status DecodeKafka(Decoder& d, const YamlNode& node,
                         std::string_view path, BackendKafkaConfig* out) {
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
    TERN_RETURN_IF_ERROR(
        t.Field("dead_letter", [&](const YamlNode& tn, auto tp) {
          if (tn.kind == YamlNode::Kind::kNull ||
              (tn.kind == YamlNode::Kind::kScalar && tn.scalar.empty())) {
            out->topics.dead_letter.clear();
            return absl::OkStatus();
          }
          return DecodeTopic(d, tn, tp, &out->topics.dead_letter);
        }));
    return t.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("consumer", [&](const YamlNode& n, auto p) {
    return DecodeConsumer(d, n, p, &out->consumer);
  }));
  return m.Finish();
}

absl::Status DecodeMail(Decoder& d, const YamlNode& node, std::string_view path,
                        BackendMailConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  auto str = [&](std::string_view key, std::string* field) {
    return m.Field(key, [&](const YamlNode& n, auto p) {
      return DecodeOptionalString(d, n, p, field);
    });
  };
  TERN_RETURN_IF_ERROR(str("host", &out->host));
  TERN_RETURN_IF_ERROR(m.Field("port", [&](const YamlNode& n, auto p) {
    return d.Uint(n, p, 1, 65535, &out->port);
  }));
  TERN_RETURN_IF_ERROR(str("username", &out->username));
  TERN_RETURN_IF_ERROR(str("password", &out->password));
  TERN_RETURN_IF_ERROR(str("password_file", &out->password_file));
  TERN_RETURN_IF_ERROR(str("password_env", &out->password_env));
  TERN_RETURN_IF_ERROR(m.Field("use_tls", [&](const YamlNode& n, auto p) {
    return d.Bool(n, p, &out->use_tls);
  }));
  TERN_RETURN_IF_ERROR(m.Field("use_ssl", [&](const YamlNode& n, auto p) {
    return d.Bool(n, p, &out->use_ssl);
  }));
  TERN_RETURN_IF_ERROR(str("from", &out->from));
  TERN_RETURN_IF_ERROR(m.Field("timeout", [&](const YamlNode& n, auto p) {
    return d.Duration(n, p, absl::Milliseconds(100), &out->timeout);
  }));
  TERN_RETURN_IF_ERROR(str("ca_file", &out->ca_file));
  TERN_RETURN_IF_ERROR(m.Finish());
  if (out->use_tls && out->use_ssl) {
    return d.ErrorAtPath(JoinPath(path, "use_ssl"),
                         "use_tls (STARTTLS) and use_ssl (implicit TLS) "
                         "exclude each other");
  }
  const int sources = !out->password.empty() + !out->password_file.empty() +
                      !out->password_env.empty();
  if (sources > 1) {
    return d.ErrorAtPath(JoinPath(path, "password"),
                         "set at most one of password, password_file and "
                         "password_env");
  }
  if (out->from.find('@') == std::string::npos) {
    return d.ErrorAtPath(JoinPath(path, "from"),
                         absl::StrCat("expected an address like "
                                      "tern@example.com, got \"",
                                      out->from, "\""));
  }
  return absl::OkStatus();
}

absl::Status DecodeAlerts(Decoder& d, const YamlNode& node,
                          std::string_view path, BackendAlertsConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, node, path));
  auto duration = [&](std::string_view key, absl::Duration min,
                      absl::Duration* field) {
    return m.Field(key, [&](const YamlNode& n, auto p) {
      return d.Duration(n, p, min, field);
    });
  };
  TERN_RETURN_IF_ERROR(m.Field("enabled", [&](const YamlNode& n, auto p) {
    return d.Bool(n, p, &out->enabled);
  }));
  TERN_RETURN_IF_ERROR(m.Field("base_url", [&](const YamlNode& n, auto p) {
    TERN_RETURN_IF_ERROR(d.String(n, p, &out->base_url));
    if (!absl::StartsWith(out->base_url, "http://") &&
        !absl::StartsWith(out->base_url, "https://")) {
      return d.Error(n, p,
                     absl::StrCat("expected an http:// or https:// URL, got "
                                  "\"",
                                  out->base_url, "\""));
    }
    while (absl::EndsWith(out->base_url, "/")) out->base_url.pop_back();
    return absl::OkStatus();
  }));
  TERN_RETURN_IF_ERROR(
      duration("cooldown", absl::ZeroDuration(), &out->cooldown));
  TERN_RETURN_IF_ERROR(m.Field("min_level", [&](const YamlNode& n, auto p) {
    int level = 0;
    TERN_RETURN_IF_ERROR(
        d.OneOf(n, p, {"debug", "info", "warning", "error", "fatal"}, &level));
    out->min_level = n.scalar;
    return absl::OkStatus();
  }));
  TERN_RETURN_IF_ERROR(
      m.Field("project_hourly_cap", [&](const YamlNode& n, auto p) {
        return d.Uint(n, p, 1, 1000000, &out->project_hourly_cap);
      }));
  TERN_RETURN_IF_ERROR(
      duration("poll_interval", absl::Milliseconds(10), &out->poll_interval));
  TERN_RETURN_IF_ERROR(m.Field("max_attempts", [&](const YamlNode& n, auto p) {
    return d.Uint(n, p, 1, 1000, &out->max_attempts);
  }));
  TERN_RETURN_IF_ERROR(duration("initial_backoff", absl::Milliseconds(10),
                                &out->initial_backoff));
  TERN_RETURN_IF_ERROR(
      duration("max_backoff", absl::Milliseconds(10), &out->max_backoff));
  TERN_RETURN_IF_ERROR(duration("webhook_timeout", absl::Milliseconds(100),
                                &out->webhook_timeout));
  return m.Finish();
}

absl::Status DecodeRoot(Decoder& d, const YamlNode& root, BackendConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields m, MapFields::Open(&d, root, ""));
  TERN_RETURN_IF_ERROR(m.Field("listen", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields l, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(l.Field("http", [&](const YamlNode& ln, auto lp) {
      return DecodeAddress(d, ln, lp, &out->listen.http);
    }));
    return l.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("store", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields s, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(s.Field("dsn", [&](const YamlNode& sn, auto sp) {
      return DecodeStoreDsn(d, sn, sp, &out->store.dsn);
    }));
    return s.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("kafka", [&](const YamlNode& n, auto p) {
    return DecodeKafka(d, n, p, &out->kafka);
  }));
  // Decoded even when absent, so a file without auth fails on the token.
  const YamlNode* auth = m.Take("auth");
  const YamlNode empty;
  {
    TERN_ASSIGN_OR_RETURN(MapFields a,
                          MapFields::Open(&d, auth ? *auth : empty, "auth"));
    TERN_RETURN_IF_ERROR(a.Field("api_token", [&](const YamlNode& n, auto p) {
      return DecodeOptionalString(d, n, p, &out->auth.api_token);
    }));
    TERN_RETURN_IF_ERROR(a.Field("relay_token", [&](const YamlNode& n, auto p) {
      return DecodeOptionalString(d, n, p, &out->auth.relay_token);
    }));
    TERN_RETURN_IF_ERROR(a.Finish());
    for (auto [key, token] : {std::pair<std::string_view, const std::string*>{
                                  "auth.api_token", &out->auth.api_token},
                              {"auth.relay_token", &out->auth.relay_token}}) {
      const bool required = key == "auth.api_token";
      if ((required || !token->empty()) && token->size() < kMinTokenLength) {
        return d.ErrorAtPath(
            key, absl::StrCat("expected a secret of at least ", kMinTokenLength,
                              " characters, got ", token->size()));
      }
    }
  }
  TERN_RETURN_IF_ERROR(m.Field("retention", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields r, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(r.Field("days", [&](const YamlNode& rn, auto rp) {
      return d.Uint(rn, rp, 0, 100000, &out->retention.days);
    }));
    TERN_RETURN_IF_ERROR(r.Field("interval", [&](const YamlNode& rn, auto rp) {
      return d.Duration(rn, rp, absl::ZeroDuration(), &out->retention.interval);
    }));
    TERN_RETURN_IF_ERROR(r.Field("batch", [&](const YamlNode& rn, auto rp) {
      return d.Uint(rn, rp, 1, 1000000, &out->retention.batch);
    }));
    return r.Finish();
  }));
  TERN_RETURN_IF_ERROR(
      m.Field("relay_public_address", [&](const YamlNode& n, auto p) {
        HostPort address;
        TERN_RETURN_IF_ERROR(DecodeAddress(d, n, p, &address));
        out->relay_public_address = n.scalar;
        return absl::OkStatus();
      }));
  TERN_RETURN_IF_ERROR(m.Field("ui", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields u, MapFields::Open(&d, n, p));
    TERN_RETURN_IF_ERROR(u.Field("dev_mode", [&](const YamlNode& un, auto up) {
      return d.Bool(un, up, &out->ui.dev_mode);
    }));
    TERN_RETURN_IF_ERROR(
        u.Field("browser_sdk_dir", [&](const YamlNode& un, auto up) {
          return DecodeOptionalString(d, un, up, &out->ui.browser_sdk_dir);
        }));
    TERN_RETURN_IF_ERROR(
        u.Field("browser_test_dsn", [&](const YamlNode& un, auto up) {
          return DecodeOptionalString(d, un, up, &out->ui.browser_test_dsn);
        }));
    return u.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("mail", [&](const YamlNode& n, auto p) {
    return DecodeMail(d, n, p, &out->mail);
  }));
  TERN_RETURN_IF_ERROR(m.Field("alerts", [&](const YamlNode& n, auto p) {
    return DecodeAlerts(d, n, p, &out->alerts);
  }));
  TERN_RETURN_IF_ERROR(m.Field("sourcemaps", [&](const YamlNode& n, auto p) {
    TERN_ASSIGN_OR_RETURN(MapFields s, MapFields::Open(&d, n, p));
    BackendSourcemapsConfig& c = out->sourcemaps;
    TERN_RETURN_IF_ERROR(s.Field("enabled", [&](const YamlNode& sn, auto sp) {
      return d.Bool(sn, sp, &c.enabled);
    }));
    TERN_RETURN_IF_ERROR(
        s.Field("organization", [&](const YamlNode& sn, auto sp) {
          TERN_RETURN_IF_ERROR(d.String(sn, sp, &c.organization));
          if (c.organization.empty()) {
            return d.Error(sn, sp, "expected a non-empty slug");
          }
          return absl::OkStatus();
        }));
    constexpr uint64_t kMiB = 1 << 20;
    TERN_RETURN_IF_ERROR(
        s.Field("max_bundle_bytes", [&](const YamlNode& sn, auto sp) {
          return d.Uint(sn, sp, 1024, 4096 * kMiB, &c.max_bundle_bytes);
        }));
    TERN_RETURN_IF_ERROR(
        s.Field("max_file_bytes", [&](const YamlNode& sn, auto sp) {
          return d.Uint(sn, sp, 1024, 1024 * kMiB, &c.max_file_bytes);
        }));
    TERN_RETURN_IF_ERROR(
        s.Field("chunk_size", [&](const YamlNode& sn, auto sp) {
          return d.Uint(sn, sp, 64 * 1024, 32 * kMiB, &c.chunk_size);
        }));
    TERN_RETURN_IF_ERROR(
        s.Field("cache_bytes", [&](const YamlNode& sn, auto sp) {
          return d.Uint(sn, sp, kMiB, 64 * 1024 * kMiB, &c.cache_bytes);
        }));
    return s.Finish();
  }));
  TERN_RETURN_IF_ERROR(m.Field("logging", [&](const YamlNode& n, auto p) {
    return DecodeLogging(d, n, p, &out->logging);
  }));
  return m.Finish();
}

}  // namespace

absl::StatusOr<BackendConfig> ParseBackendConfig(std::string_view yaml,
                                                 std::string_view filename) {
  TERN_ASSIGN_OR_RETURN(YamlNode root, ParseYaml(yaml, filename));
  Decoder decoder(filename);
  BackendConfig config;
  TERN_RETURN_IF_ERROR(DecodeRoot(decoder, root, &config));
  return config;
}

absl::StatusOr<BackendConfig> LoadBackendConfig(const std::string& path) {
  TERN_ASSIGN_OR_RETURN(std::string text, ReadConfigFile(path));
  return ParseBackendConfig(text, path);
}

}  // namespace tern::config
