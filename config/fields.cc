#include "config/fields.h"

#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"

namespace tern::config {

std::string_view LogFormatName(LogFormat value) {
  return value == LogFormat::kJson ? "json" : "text";
}

namespace {

bool IsTopicChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

absl::Status DecodeAddress(Decoder& d, const YamlNode& node,
                           std::string_view path, HostPort* out) {
  std::string text;
  TERN_RETURN_IF_ERROR(d.String(node, path, &text));
  absl::StatusOr<HostPort> parsed = ParseHostPort(text, true);
  if (!parsed.ok()) {
    return d.Error(
        node, path,
        absl::StrCat(parsed.status().message(), ", got \"", text, "\""));
  }
  *out = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status DecodeTopic(Decoder& d, const YamlNode& node,
                         std::string_view path, std::string* out) {
  TERN_RETURN_IF_ERROR(d.String(node, path, out));
  bool ok = !out->empty() && out->size() <= 249;
  for (char c : *out) ok = ok && IsTopicChar(c);
  if (!ok) {
    return d.Error(node, path,
                   absl::StrCat("expected a Kafka topic name (1-249 of "
                                "[A-Za-z0-9._-]), got \"",
                                *out, "\""));
  }
  return absl::OkStatus();
}

absl::Status DecodeBootstrapServers(Decoder& d, const YamlNode& node,
                                    std::string_view path, std::string* out) {
  TERN_RETURN_IF_ERROR(d.String(node, path, out));
  if (out->empty()) {
    return d.Error(node, path, "expected host:port[,host:port...], got \"\"");
  }
  for (absl::string_view server : absl::StrSplit(*out, ',')) {
    server = absl::StripAsciiWhitespace(server);
    absl::StatusOr<HostPort> parsed =
        ParseHostPort(std::string_view(server.data(), server.size()), false);
    if (!parsed.ok()) {
      return d.Error(
          node, path,
          absl::StrCat(parsed.status().message(), " in \"", server, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeKafkaExtra(Decoder& d, const YamlNode& node,
                              std::string_view path,
                              std::initializer_list<std::string_view> owned,
                              std::string_view why,
                              std::map<std::string, std::string>* out) {
  TERN_RETURN_IF_ERROR(d.StringMap(node, path, out));
  for (const auto& [key, value] : *out) {
    for (std::string_view taken : owned) {
      if (key == taken) return d.ErrorAtPath(JoinPath(path, key), why);
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeLogging(Decoder& d, const YamlNode& node,
                           std::string_view path, LoggingConfig* out) {
  TERN_ASSIGN_OR_RETURN(MapFields l, MapFields::Open(&d, node, path));
  TERN_RETURN_IF_ERROR(l.Field("level", [&](const YamlNode& ln, auto lp) {
    int index = 0;
    TERN_RETURN_IF_ERROR(d.OneOf(
        ln, lp, {"trace", "debug", "info", "warn", "error", "critical", "off"},
        &index));
    out->level = ln.scalar;
    return absl::OkStatus();
  }));
  TERN_RETURN_IF_ERROR(l.Field("format", [&](const YamlNode& ln, auto lp) {
    int index = 0;
    TERN_RETURN_IF_ERROR(d.OneOf(ln, lp, {"text", "json"}, &index));
    out->format = index == 0 ? LogFormat::kText : LogFormat::kJson;
    return absl::OkStatus();
  }));
  return l.Finish();
}

}  // namespace tern::config
