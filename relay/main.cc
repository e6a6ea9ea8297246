// tern-relay: the command line. It parses arguments, owns the signals and
// wires relay/app; everything else lives in the modules.
//
//   tern-relay run [--config FILE]   run until SIGTERM/SIGINT; SIGHUP reloads
//                                    the projects file
//   tern-relay check-config [FILE]   validate a relay config and the projects
//                                    file it names; errors carry file:line
//   tern-relay --version             the version and commit of this build
//
// FILE defaults to TERN_DEFAULT_CONFIG_DIR/relay.yml: config/relay.yml in a
// source build, /etc/tern/relay.yml in the Debian package (cmake/BuildInfo).
//
// Exit codes: 0 clean stop (everything answered 200 was delivered to Kafka)
// or valid config; 1 bad usage, bad config or a failed start; 2 the shutdown
// timeout cut the drain or the final flush short, or a Kafka message failed
// delivery for good during the run.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "admin/logging.h"
#include "config/projects.h"
#include "config/relay_config.h"
#include "relay/app/relay.h"
#include "relay/project/project_table.h"
#include "spdlog/spdlog.h"
#include "tern_build_info.h"

namespace {

constexpr char kDefaultConfig[] = TERN_DEFAULT_CONFIG_DIR "/relay.yml";
constexpr char kUsage[] =
    "usage: tern-relay run [--config FILE]\n"
    "       tern-relay check-config [FILE]\n"
    "       tern-relay --version\n"
    "FILE defaults to " TERN_DEFAULT_CONFIG_DIR "/relay.yml.\n";

int CheckConfig(const std::string& path) {
  auto config = tern::config::LoadRelayConfig(path);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(config.status().message()).c_str());
    return 1;
  }
  size_t projects = 0;
  size_t keys = 0;
  const std::string& file = config->projects.file;
  if (!file.empty()) {
    auto parsed = tern::config::LoadProjectsFile(file);
    if (!parsed.ok()) {
      std::fprintf(stderr, "%s\n",
                   std::string(parsed.status().message()).c_str());
      return 1;
    }
    auto table = tern::relay::project::ProjectTable::Build(*parsed, 1);
    if (!table.ok()) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(),
                   std::string(table.status().message()).c_str());
      return 1;
    }
    projects = (*table)->project_count();
    keys = (*table)->key_count();
  }
  std::printf("%s: ok", path.c_str());
  if (!file.empty()) {
    std::printf(" (%s: %zu projects, %zu keys)", file.c_str(), projects, keys);
  }
  std::printf("\n");
  // The values are valid; the directory is only looked at here, since the
  // config may be checked on another machine than the one it runs on.
  if (config->spool.enabled &&
      ::access(config->spool.dir.c_str(), W_OK | X_OK) != 0) {
    std::fprintf(stderr,
                 "%s: warning: spool.dir %s: %s (the relay will not start "
                 "until it exists and is writable)\n",
                 path.c_str(), config->spool.dir.c_str(), std::strerror(errno));
  }
  return 0;
}

int Run(const std::string& path) {
  // Signals are taken by this thread with sigwait, so they are blocked here
  // before any other thread exists (threads inherit the mask): no handler
  // runs inside a worker, and the workers need no signal-safe code.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A client that goes away mid-response must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  auto config = tern::config::LoadRelayConfig(path);
  if (!config.ok()) {
    std::fprintf(stderr, "tern-relay: %s\n",
                 std::string(config.status().message()).c_str());
    return 1;
  }
  if (absl::Status s = tern::admin::SetUpLogging(config->logging, "tern-relay");
      !s.ok()) {
    std::fprintf(stderr, "tern-relay: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  auto relay = tern::relay::app::Relay::Create(*std::move(config));
  if (!relay.ok()) {
    spdlog::critical("cannot start: {}", std::string(relay.status().message()));
    return 1;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading the project table");
      (*relay)->Reload();
      continue;
    }
    spdlog::info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    absl::Status s = (*relay)->Shutdown();
    if (!s.ok()) {
      spdlog::error("shutdown incomplete: {}", std::string(s.message()));
      return 2;
    }
    return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view cmd = argc > 1 ? argv[1] : "";
  if (cmd == "run" && argc == 2) return Run(kDefaultConfig);
  if (cmd == "run" && argc == 4 && std::strcmp(argv[2], "--config") == 0) {
    return Run(argv[3]);
  }
  if (cmd == "check-config" && (argc == 2 || argc == 3)) {
    return CheckConfig(argc == 3 ? argv[2] : kDefaultConfig);
  }
  if (cmd == "--version" && argc == 2) {
    std::printf("tern-relay %s (commit %s)\n", TERN_BUILD_VERSION,
                TERN_BUILD_COMMIT);
    return 0;
  }
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fputs(kUsage, stderr);
  return 1;
}
