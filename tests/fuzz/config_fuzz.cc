// Fuzzes the relay's two YAML loaders (relay.yml and projects.yml) with
// arbitrary bytes. A config error must come back as a Status naming the file,
// never as a crash or an escaped yaml-cpp exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/projects.h"
#include "config/relay_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto relay = tern::config::ParseRelayConfig(yaml, "fuzz.yml");
  if (!relay.ok() &&
      relay.status().message().find("fuzz.yml") == std::string_view::npos) {
    __builtin_trap();  // every error must say which file it is about
  }
  auto projects = tern::config::ParseProjectsFile(yaml, "fuzz.yml");
  if (!projects.ok() &&
      projects.status().message().find("fuzz.yml") == std::string_view::npos) {
    __builtin_trap();
  }
  return 0;
}
