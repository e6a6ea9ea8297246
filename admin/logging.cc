#include "admin/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "protocol/json_writer.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace tern::admin {
namespace {

// Appends `s` as a JSON string (protocol's escaper, so logs and events
// escape alike).
void AppendJsonString(spdlog::memory_buf_t& out, std::string_view s) {
  std::string quoted;
  protocol::JsonWriter::AppendQuoted(&quoted, s);
  out.append(std::string_view(quoted));
}

// {"ts":"2026-11-21T19:30:00.123Z","level":"info","logger":"tern-relay",
//  "msg":"..."}: one JSON object per line, for log shippers.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    const auto since = msg.time.time_since_epoch();
    const std::time_t secs =
        std::chrono::duration_cast<std::chrono::seconds>(since).count();
    const int ms =
        static_cast<int>(duration_cast<milliseconds>(since).count() % 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[96];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, ms);
    dest.append(std::string_view("{\"ts\":\""));
    dest.append(std::string_view(ts));
    dest.append(std::string_view("\",\"level\":"));
    const auto level = spdlog::level::to_string_view(msg.level);
    AppendJsonString(dest, std::string_view(level.data(), level.size()));
    dest.append(std::string_view(",\"logger\":"));
    AppendJsonString(
        dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    dest.append(std::string_view(",\"msg\":"));
    AppendJsonString(dest,
                     std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

absl::Status SetUpLogging(const config::LoggingConfig& logging,
                          std::string_view name) {
  const auto level = spdlog::level::from_str(logging.level);
  if (level == spdlog::level::off && logging.level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level '", logging.level, "'"));
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(name), sink);
  if (logging.format == config::LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v",
                        spdlog::pattern_time_type::utc);
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace tern::admin
