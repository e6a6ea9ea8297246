// The project table for pipeline_test.cc, built in a translation unit of its
// own (see key_check.h for why).
#include <memory>
#include <string>
#include <utility>

#include "config/projects.h"
#include "gtest/gtest.h"
#include "relay/project/project_table.h"

namespace tern::relay::pipeline {
namespace {

config::ProjectKey Key(std::string k, uint64_t id,
                       config::KeyStatus st = config::KeyStatus::kActive) {
  config::ProjectKey key;
  key.public_key = std::move(k);
  key.id = id;
  key.status = st;
  return key;
}

}  // namespace

std::shared_ptr<const project::ProjectTable> MakeTestTable(
    const char* key, const char* disabled_key, const char* other_key) {
  config::ProjectsFile f;
  config::Project p1;
  p1.id = 1;
  p1.keys.push_back(Key(key, 7));
  p1.keys.push_back(Key(disabled_key, 8, config::KeyStatus::kDisabled));
  p1.allowed_origins = {"https://good.example"};
  f.projects.push_back(std::move(p1));
  config::Project p2;
  p2.id = 2;
  p2.keys.push_back(Key(other_key, 9));
  p2.allowed_origins = {"*"};
  f.projects.push_back(std::move(p2));
  auto table = project::ProjectTable::Build(f, 1);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *std::move(table) : nullptr;
}

}  // namespace tern::relay::pipeline
