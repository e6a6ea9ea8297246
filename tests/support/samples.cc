#include "tests/support/samples.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#ifndef TERN_SHARED_DIR
#error "TERN_SHARED_DIR must be defined by the build"
#endif

namespace tern::testing {

std::string SharedDir() {
  if (const char* env = std::getenv("TERN_SHARED_DIR"); env && *env) {
    return env;
  }
  return TERN_SHARED_DIR;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::abort();
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> AllEventSamples() {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(SharedDir()) / "event-samples";
  std::vector<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      out.push_back(fs::relative(entry.path(), root).generic_string());
    }
  }
  if (out.empty()) {
    std::fprintf(stderr, "no event samples under %s\n", root.c_str());
    std::abort();
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::set<std::string> KnownBrokenSamples() {
  std::istringstream in(
      ReadFileOrDie(SharedDir() + "/event-samples/KNOWN-BROKEN"));
  std::set<std::string> out;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
      line.pop_back();
    }
    if (!line.empty() && line[0] != '#') out.insert(line);
  }
  return out;
}

std::string ReadEventSample(const std::string& relative) {
  return ReadFileOrDie(SharedDir() + "/event-samples/" + relative);
}

}  // namespace tern::testing
