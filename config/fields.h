// Field decoders and settings that more than one binary's config shares
// (internal to config/, except the LoggingConfig struct, which the log set-up
// in admin/ reads): listen addresses, Kafka bootstrap lists and topic names,
// and the logging section. Each decoder writes into `*out` or returns the
// Decoder's "file:line:column: path: reason" error.
#ifndef TERN_CONFIG_FIELDS_H_
#define TERN_CONFIG_FIELDS_H_

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "config/decoder.h"
#include "config/values.h"
#include "config/yaml_tree.h"

namespace tern::config {

enum class LogFormat { kText, kJson };
// "text" or "json".
std::string_view LogFormatName(LogFormat value);

struct LoggingConfig {
  // spdlog level name: trace, debug, info, warn, error, critical or off.
  std::string level = "info";
  LogFormat format = LogFormat::kText;
};

// "host:port" with a port (0 allowed: the kernel picks one).
absl::Status DecodeAddress(Decoder& d, const YamlNode& node,
                           std::string_view path, HostPort* out);
// A Kafka topic name: 1-249 of [A-Za-z0-9._-].
absl::Status DecodeTopic(Decoder& d, const YamlNode& node,
                         std::string_view path, std::string* out);
// librdkafka bootstrap.servers: host:port[,host:port...].
absl::Status DecodeBootstrapServers(Decoder& d, const YamlNode& node,
                                    std::string_view path, std::string* out);
// A map of extra librdkafka properties, passed as written; a key in `owned`
// (set by a config key of its own) is refused, the error saying `why`.
absl::Status DecodeKafkaExtra(Decoder& d, const YamlNode& node,
                              std::string_view path,
                              std::initializer_list<std::string_view> owned,
                              std::string_view why,
                              std::map<std::string, std::string>* out);
// The `logging` map: level and format.
absl::Status DecodeLogging(Decoder& d, const YamlNode& node,
                           std::string_view path, LoggingConfig* out);

}  // namespace tern::config

#endif  // TERN_CONFIG_FIELDS_H_
