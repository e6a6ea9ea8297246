// tern-backend: the command line. It parses arguments, owns the signals and
// wires backend/app; everything else lives in the modules.
//
//   tern-backend run [--config FILE]              consume, group, store, serve
//   tern-backend hash [FILE|-]                    grouping hashes of one event
//   tern-backend project create --name NAME [--config FILE]
//   tern-backend project list [--config FILE]
//   tern-backend key disable KEY [--config FILE]
//   tern-backend key set KEY --settings JSON [--config FILE]
//   tern-backend cleanup --days N [--config FILE]
//   tern-backend alert test --project SLUG [--target email:ADDR|webhook:URL]
//                           [--config FILE]
//   tern-backend alert list [--project SLUG] [--config FILE]
//   tern-backend token create --scope SCOPE [--name NAME] [--config FILE]
//                                                 an API token for sentry-cli
//   tern-backend --version                        version and commit
//
// FILE defaults to TERN_DEFAULT_CONFIG_DIR/backend.yml: config/backend.yml in
// a source build, /etc/tern/backend.yml in the Debian package
// (cmake/BuildInfo.cmake). Exit codes: 0 success; 1 bad usage,
// bad config, a failed start or a failed command; 2 bad input to `hash`.
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "admin/logging.h"
#include "backend/alerts/rule.h"
#include "backend/alerts/sender.h"
#include "backend/app/backend.h"
#include "backend/grouping/enhancers.h"
#include "backend/grouping/fingerprinting.h"
#include "backend/grouping/grouping.h"
#include "backend/storage/store.h"
#include "backend/symbolicate/sha1.h"
#include "common/status.h"
#include "config/backend_config.h"
#include "protocol/project_config.h"
#include "spdlog/spdlog.h"
#include "tern_build_info.h"

namespace {

constexpr char kUsage[] =
    "usage: tern-backend run [--config FILE]\n"
    "       tern-backend hash [FILE|-]\n"
    "       tern-backend project create --name NAME [--config FILE]\n"
    "       tern-backend project list [--config FILE]\n"
    "       tern-backend project set-rules --project SLUG "
    "[--fingerprinting RULES_FILE] [--stacktrace RULES_FILE] "
    "[--config FILE]\n"
    "       tern-backend key disable KEY [--config FILE]\n"
    "       tern-backend key set KEY --settings JSON [--config FILE]\n"
    "       tern-backend cleanup --days N [--config FILE]\n"
    "       tern-backend alert test --project SLUG "
    "[--target email:ADDR|webhook:URL] [--config FILE]\n"
    "       tern-backend alert list [--project SLUG] [--config FILE]\n"
    "       tern-backend token create --scope SCOPE [--name NAME] "
    "[--config FILE]\n"
    "       tern-backend --version\n"
    "FILE defaults to " TERN_DEFAULT_CONFIG_DIR "/backend.yml.\n";

int Usage() {
  std::fputs(kUsage, stderr);
  return 1;
}

int Fail(absl::string_view what) {
  std::fprintf(stderr, "tern-backend: %.*s\n", static_cast<int>(what.size()),
               what.data());
  return 1;
}

// --flag VALUE pairs after the command words; positional words are kept.
struct Args {
  std::string config = TERN_DEFAULT_CONFIG_DIR "/backend.yml";
  std::optional<std::string> name;
  std::optional<std::string> days;
  std::optional<std::string> settings;
  std::optional<std::string> project;
  std::optional<std::string> target;
  std::optional<std::string> fingerprinting;
  std::optional<std::string> stacktrace;
  std::vector<std::string> scopes;
  std::vector<std::string> positional;
};

std::optional<Args> ParseArgs(int argc, char** argv, int first) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--config") {
      if (!value(&args.config)) return std::nullopt;
    } else if (a == "--name") {
      if (!value(&v)) return std::nullopt;
      args.name = v;
    } else if (a == "--days") {
      if (!value(&v)) return std::nullopt;
      args.days = v;
    } else if (a == "--settings") {
      if (!value(&v)) return std::nullopt;
      args.settings = v;
    } else if (a == "--project") {
      if (!value(&v)) return std::nullopt;
      args.project = v;
    } else if (a == "--target") {
      if (!value(&v)) return std::nullopt;
      args.target = v;
    } else if (a == "--fingerprinting") {
      if (!value(&v)) return std::nullopt;
      args.fingerprinting = v;
    } else if (a == "--stacktrace") {
      if (!value(&v)) return std::nullopt;
      args.stacktrace = v;
    } else if (a == "--scope") {
      if (!value(&v)) return std::nullopt;
      args.scopes.push_back(v);
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      return std::nullopt;
    } else {
      args.positional.emplace_back(a);
    }
  }
  return args;
}

std::string Dsn(const tern::config::BackendConfig& config,
                const tern::storage::ProjectKey& key) {
  return absl::StrCat("http://", key.public_key, "@",
                      config.relay_public_address, "/", key.project_id);
}

// Loads the config and opens its store, for the one-shot commands.
struct Opened {
  tern::config::BackendConfig config;
  std::unique_ptr<tern::storage::Store> store;
};
std::optional<Opened> Open(const Args& args, int* exit_code) {
  absl::StatusOr<tern::config::BackendConfig> config =
      tern::config::LoadBackendConfig(args.config);
  if (!config.ok()) {
    *exit_code = Fail(config.status().message());
    return std::nullopt;
  }
  absl::StatusOr<std::unique_ptr<tern::storage::Store>> store =
      tern::storage::OpenStore(config->store.dsn);
  if (!store.ok()) {
    *exit_code = Fail(store.status().message());
    return std::nullopt;
  }
  return Opened{*std::move(config), *std::move(store)};
}

int Hash(const Args& args) {
  if (args.positional.size() > 1) return Usage();
  const std::string path =
      args.positional.empty() ? std::string("-") : args.positional[0];
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin),
                std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(absl::StrCat("cannot read ", path));
    text.assign(std::istreambuf_iterator<char>(in),
                std::istreambuf_iterator<char>());
  }
  absl::StatusOr<tern::grouping::EventFacts> facts =
      tern::grouping::Analyze(text);
  if (!facts.ok()) {
    std::fprintf(stderr, "tern-backend: %s: %s\n", path.c_str(),
                 std::string(facts.status().message()).c_str());
    return 2;
  }
  std::printf("%s\n", tern::grouping::HashesToJson(facts->hashes).c_str());
  return 0;
}

// The text of a rules file, or nullopt (and a message) when unreadable.
std::optional<std::string> ReadRulesFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Fail(absl::StrCat("cannot read ", path));
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `project set-rules --project SLUG [--fingerprinting FILE] [--stacktrace
// FILE]`: the project's server-side fingerprinting and stack-trace rules
// (docs/grouping.md), each checked with the backend's parser first
// (Sentry's message, and where); an empty file clears them, a flag left out
// keeps them. Consumers apply them within their project refresh.
int SetProjectRules(const Args& args) {
  if (args.positional.size() != 1 || !args.project ||
      (!args.fingerprinting && !args.stacktrace)) {
    return Usage();
  }
  std::optional<std::string> fingerprinting, stacktrace;
  if (args.fingerprinting) {
    fingerprinting = ReadRulesFile(*args.fingerprinting);
    if (!fingerprinting) return 1;
    if (absl::StatusOr<tern::grouping::FingerprintingRules> parsed =
            tern::grouping::FingerprintingRules::Parse(*fingerprinting);
        !parsed.ok()) {
      return Fail(
          absl::StrCat(*args.fingerprinting, ": ", parsed.status().message()));
    }
  }
  if (args.stacktrace) {
    stacktrace = ReadRulesFile(*args.stacktrace);
    if (!stacktrace) return 1;
    if (absl::StatusOr<tern::grouping::Enhancements> parsed =
            tern::grouping::ParseProjectStacktraceRules(*stacktrace);
        !parsed.ok()) {
      return Fail(
          absl::StrCat(*args.stacktrace, ": ", parsed.status().message()));
    }
  }
  int code = 0;
  std::optional<Opened> o = Open(args, &code);
  if (!o) return code;
  absl::StatusOr<tern::storage::Project> project =
      o->store->GetProjectBySlug(*args.project);
  if (!project.ok()) return Fail(project.status().message());
  if (absl::Status s = o->store->SetProjectRules(
          project->id, fingerprinting.value_or(project->fingerprinting_rules),
          stacktrace.value_or(project->stacktrace_rules));
      !s.ok()) {
    return Fail(s.message());
  }
  std::printf("updated %s\n", project->slug.c_str());
  return 0;
}

int Project(const Args& args) {
  if (args.positional.empty()) return Usage();
  int code = 0;
  if (args.positional[0] == "create") {
    if (!args.name.has_value() || args.positional.size() != 1) return Usage();
    std::optional<Opened> o = Open(args, &code);
    if (!o) return code;
    auto created = o->store->CreateProject(*args.name);
    if (!created.ok()) return Fail(created.status().message());
    const auto& [project, key] = *created;
    std::printf("project_id: %lld\nslug: %s\npublic_key: %s\ndsn: %s\n",
                static_cast<long long>(project.id), project.slug.c_str(),
                key.public_key.c_str(), Dsn(o->config, key).c_str());
    return 0;
  }
  if (args.positional[0] == "set-rules") {
    return SetProjectRules(args);
  }
  if (args.positional[0] == "list") {
    if (args.positional.size() != 1) return Usage();
    std::optional<Opened> o = Open(args, &code);
    if (!o) return code;
    auto projects = o->store->ListProjects();
    if (!projects.ok()) return Fail(projects.status().message());
    for (const tern::storage::Project& p : *projects) {
      std::printf("%lld %s\n", static_cast<long long>(p.id), p.slug.c_str());
      auto keys = o->store->ListKeys(p.id);
      if (!keys.ok()) return Fail(keys.status().message());
      for (const tern::storage::ProjectKey& k : *keys) {
        std::printf("  %s %s\n", Dsn(o->config, k).c_str(),
                    k.active ? "active" : "disabled");
      }
    }
    return 0;
  }
  return Usage();
}

// `key set KEY --settings JSON`: replaces the key's settings (a JSON object;
// see docs/backend.md). Its "quotas" are checked with the relays' own parser
// first, so a quota the relays would refuse is never stored.
int SetKeySettings(const Args& args) {
  if (args.positional.size() != 2 || !args.settings.has_value()) {
    return Usage();
  }
  absl::StatusOr<std::vector<tern::protocol::QuotaConfig>> quotas =
      tern::protocol::ParseQuotasMember(*args.settings);
  if (!quotas.ok()) {
    return Fail(absl::StrCat("--settings: ", quotas.status().message()));
  }
  int code = 0;
  std::optional<Opened> o = Open(args, &code);
  if (!o) return code;
  if (absl::Status s =
          o->store->SetKeySettings(args.positional[1], *args.settings);
      !s.ok()) {
    return Fail(s.message());
  }
  std::printf("updated %s\n", args.positional[1].c_str());
  return 0;
}

int Key(const Args& args) {
  if (!args.positional.empty() && args.positional[0] == "set") {
    return SetKeySettings(args);
  }
  if (args.positional.size() != 2 || args.positional[0] != "disable" ||
      args.settings.has_value()) {
    return Usage();
  }
  int code = 0;
  std::optional<Opened> o = Open(args, &code);
  if (!o) return code;
  if (absl::Status s = o->store->SetKeyActive(args.positional[1], false);
      !s.ok()) {
    return Fail(s.message());
  }
  std::printf("disabled %s\n", args.positional[1].c_str());
  return 0;
}

int Cleanup(const Args& args) {
  uint64_t days = 0;
  if (!args.days.has_value() || !args.positional.empty() ||
      !absl::SimpleAtoi(*args.days, &days)) {
    return Usage();
  }
  int code = 0;
  std::optional<Opened> o = Open(args, &code);
  if (!o) return code;
  auto done = tern::backend::app::RunCleanup(o->store.get(), days,
                                             o->config.retention.batch);
  if (!done.ok()) return Fail(done.status().message());
  std::printf("deleted %lld event(s) and %lld issue(s)\n",
              static_cast<long long>(done->first),
              static_cast<long long>(done->second));
  return 0;
}

// The DSN without its user and password (logs are not for secrets).
std::string RedactedDsn(const std::string& dsn) {
  const size_t at = dsn.rfind('@');
  const size_t scheme = dsn.find("://");
  if (at == std::string::npos || scheme == std::string::npos) return dsn;
  return absl::StrCat(dsn.substr(0, scheme + 3), "***@", dsn.substr(at + 1));
}

// `alert test`: one test notification through the configured mail settings
// or to a webhook, now, bypassing the outbox; prints one line per target and
// exits 0 only when every target accepted it. Without --target, every target
// of the project's rules gets one.
int AlertTest(const Args& args) {
  if (!args.project.has_value() || args.positional.size() != 1) {
    return Usage();
  }
  int code = 0;
  std::optional<Opened> o = Open(args, &code);
  if (!o) return code;
  auto project = o->store->GetProjectBySlug(*args.project);
  if (!project.ok()) return Fail(project.status().message());
  std::vector<tern::alerts::Target> targets;
  if (args.target.has_value()) {
    const std::string& t = *args.target;
    tern::alerts::Target target;
    if (t.starts_with("email:")) {
      target.kind = tern::alerts::TargetKind::kEmail;
      target.to.push_back(t.substr(6));
      if (absl::Status s = tern::alerts::CheckMailAddress(target.to[0]);
          !s.ok()) {
        return Fail(absl::StrCat("--target: ", s.message()));
      }
    } else if (t.starts_with("webhook:")) {
      target.kind = tern::alerts::TargetKind::kWebhook;
      target.url = t.substr(8);
      if (absl::Status s = tern::alerts::CheckWebhookUrl(target.url); !s.ok()) {
        return Fail(absl::StrCat("--target: ", s.message()));
      }
    } else {
      return Fail("--target: expected email:ADDRESS or webhook:URL");
    }
    targets.push_back(std::move(target));
  } else {
    auto rules = o->store->ListAlertRules(project->id);
    if (!rules.ok()) return Fail(rules.status().message());
    for (const tern::storage::AlertRule& r : *rules) {
      auto rule = tern::alerts::ParseRule(r.definition_json);
      if (!rule.ok()) continue;
      for (const tern::alerts::Target& t : rule->targets) targets.push_back(t);
    }
    if (targets.empty()) {
      return Fail(absl::StrCat("project ", project->slug,
                               " has no alert rule with a target; pass "
                               "--target"));
    }
  }
  auto smtp = tern::alerts::ResolveMailSettings(o->config.mail);
  if (!smtp.ok()) return Fail(smtp.status().message());
  tern::alerts::Notification n;
  n.trigger = "test";
  n.rule_name = "tern-backend alert test";
  n.project_slug = project->slug;
  n.short_id = absl::StrCat(absl::AsciiStrToUpper(project->slug), "-TEST");
  n.title = "Test notification";
  n.level = "info";
  n.url =
      absl::StrCat(o->config.alerts.base_url, "/projects/", project->slug, "/");
  const int64_t now = absl::ToUnixMillis(absl::Now());
  n.first_seen_ms = n.last_seen_ms = now;
  int failed = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const tern::alerts::Target& t = targets[i];
    const std::string where = t.kind == tern::alerts::TargetKind::kEmail
                                  ? absl::StrJoin(t.to, ", ")
                                  : t.url;
    absl::Status s =
        tern::alerts::Deliver(t, n, *smtp, o->config.alerts.webhook_timeout,
                              absl::StrCat("test.", now, ".", i), now);
    const std::string kind(tern::alerts::TargetKindName(t.kind));
    if (s.ok()) {
      std::printf("sent: %s to %s\n", kind.c_str(), where.c_str());
    } else {
      ++failed;
      std::printf("failed: %s to %s: %s\n", kind.c_str(), where.c_str(),
                  std::string(s.message()).c_str());
    }
  }
  return failed == 0 ? 0 : 1;
}

// `alert list`: every rule (of one project with --project), one line each:
// project, rule id, trigger, enabled, name, targets.
int AlertList(const Args& args) {
  if (args.positional.size() != 1) return Usage();
  int code = 0;
  std::optional<Opened> o = Open(args, &code);
  if (!o) return code;
  auto projects = o->store->ListProjects();
  if (!projects.ok()) return Fail(projects.status().message());
  for (const tern::storage::Project& p : *projects) {
    if (args.project.has_value() && p.slug != *args.project) continue;
    auto rules = o->store->ListAlertRules(p.id);
    if (!rules.ok()) return Fail(rules.status().message());
    for (const tern::storage::AlertRule& r : *rules) {
      auto rule = tern::alerts::ParseRule(r.definition_json);
      if (!rule.ok()) {
        std::printf("%s %lld (unreadable: %s)\n", p.slug.c_str(),
                    static_cast<long long>(r.id),
                    std::string(rule.status().message()).c_str());
        continue;
      }
      std::vector<std::string> targets;
      for (const tern::alerts::Target& t : rule->targets) {
        targets.push_back(absl::StrCat(
            tern::ToAbsl(tern::alerts::TargetKindName(t.kind)), ":",
            t.kind == tern::alerts::TargetKind::kEmail
                ? absl::StrJoin(t.to, ",")
                : t.url));
      }
      std::printf("%s %lld %s %s \"%s\" %s\n", p.slug.c_str(),
                  static_cast<long long>(r.id),
                  std::string(tern::alerts::TriggerName(rule->trigger)).c_str(),
                  rule->enabled ? "enabled" : "disabled", rule->name.c_str(),
                  absl::StrJoin(targets, " ").c_str());
    }
  }
  return 0;
}

int Alert(const Args& args) {
  if (args.positional.empty()) return Usage();
  if (args.positional[0] == "test") return AlertTest(args);
  if (args.positional[0] == "list") return AlertList(args);
  return Usage();
}

int Run(const Args& args) {
  if (!args.positional.empty()) return Usage();
  absl::StatusOr<tern::config::BackendConfig> config =
      tern::config::LoadBackendConfig(args.config);
  if (!config.ok()) return Fail(config.status().message());
  if (absl::Status s =
          tern::admin::SetUpLogging(config->logging, "tern-backend");
      !s.ok()) {
    return Fail(s.message());
  }
  // Signals are taken by this thread with sigwait; block them before any
  // thread starts so none of them receives one.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  absl::StatusOr<std::unique_ptr<tern::backend::app::Backend>> backend =
      tern::backend::app::Backend::Start(*config);
  if (!backend.ok()) return Fail(backend.status().message());
  spdlog::info("tern-backend: serving on {}:{}, store {}",
               config->listen.http.host, (*backend)->http_port(),
               RedactedDsn(config->store.dsn));
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  spdlog::info("tern-backend: signal {}, stopping", sig);
  (*backend)->Stop();
  spdlog::info("tern-backend: stopped");
  return 0;
}

// `token create --scope SCOPE...`: a new API token for sentry-cli's uploads
// (docs/sourcemaps.md). 32 random bytes from the kernel, printed once; the
// store keeps only its SHA-1.
int Token(const Args& args) {
  if (args.positional.size() != 1 || args.positional[0] != "create" ||
      args.scopes.empty()) {
    return Usage();
  }
  std::string scopes;
  for (const std::string& s : args.scopes) {
    for (absl::string_view one :
         absl::StrSplit(s, absl::ByAnyChar(" ,"), absl::SkipEmpty())) {
      const bool ok = !one.empty() && one.size() <= 64 &&
                      std::all_of(one.begin(), one.end(), [](char c) {
                        return absl::ascii_isalnum(c) || c == ':' || c == '_';
                      });
      if (!ok) return Fail(absl::StrCat("bad scope \"", one, "\""));
      absl::StrAppend(&scopes, scopes.empty() ? "" : " ", one);
    }
  }
  unsigned char random[32];
  if (getrandom(random, sizeof(random), 0) != sizeof(random)) {
    return Fail("getrandom failed");
  }
  std::string token = "tern_";
  for (unsigned char b : random) {
    token.push_back("0123456789abcdef"[b >> 4]);
    token.push_back("0123456789abcdef"[b & 15]);
  }
  int code = 0;
  std::optional<Opened> o = Open(args, &code);
  if (!o) return code;
  auto created =
      o->store->CreateApiToken(tern::backend::symbolicate::Sha1Hex(token),
                               args.name.value_or("cli"), scopes);
  if (!created.ok()) return Fail(created.status().message());
  std::printf("%s\n", token.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string_view command = argv[1];
  if (command == "--version" && argc == 2) {
    std::printf("tern-backend %s (commit %s)\n", TERN_BUILD_VERSION,
                TERN_BUILD_COMMIT);
    return 0;
  }
  std::optional<Args> args = ParseArgs(argc, argv, 2);
  if (!args) return Usage();
  if (command == "run") return Run(*args);
  if (command == "hash") return Hash(*args);
  if (command == "project") return Project(*args);
  if (command == "key") return Key(*args);
  if (command == "cleanup") return Cleanup(*args);
  if (command == "alert") return Alert(*args);
  if (command == "token") return Token(*args);
  return Usage();
}
