// A plain, exception-free copy of a YAML document, for the config loaders.
//
// yaml-cpp throws, and the architecture keeps its headers inside config/ .cc
// files. So the one place that calls it (yaml_tree.cc) turns a document into
// this tree: maps, sequences, scalars and nulls, each with the 1-based line
// and column where it starts. The schema code in relay_config.cc and
// projects.cc then walks the tree with ordinary Status returns, and every
// error can name "file:line:column".
#ifndef TERN_CONFIG_YAML_TREE_H_
#define TERN_CONFIG_YAML_TREE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tern::config {

// Where a node starts in its file, both 1-based as editors show them.
struct Mark {
  int line = 1;
  int column = 1;
};

struct YamlEntry;

struct YamlNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };

  Kind kind = Kind::kNull;
  Mark mark;
  // kScalar: the text after YAML unquoting. Plain `null`, `~` and an empty
  // value are kNull, while a quoted "null" is the scalar "null".
  std::string scalar;
  // kSequence: the items in order.
  std::vector<YamlNode> items;
  // kMap: (key, value) pairs in file order. Keys are scalars (other keys are
  // refused at parse time) and unique (duplicates are refused too, because
  // yaml-cpp would silently keep the first and hide the operator's edit).
  std::vector<YamlEntry> entries;
};

// One key: value pair of a map.
struct YamlEntry {
  YamlNode key;
  YamlNode value;
};

// Parses `text`, a YAML file holding at most one document; an empty file is
// a kNull root. `filename` only labels errors. Errors are InvalidArgument
// "filename:line:column: message": YAML syntax errors (with yaml-cpp's
// message), more than one document, a key that is not a scalar, a duplicate
// key, nesting deeper than 64 levels, or more than 1,000,000 nodes after
// alias expansion (an alias bomb).
absl::StatusOr<YamlNode> ParseYaml(std::string_view text,
                                   std::string_view filename);

// Reads the whole file at `path`. Errors name the path and the system error:
// NotFound for a missing file, PermissionDenied, or the code errno maps to.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path);

}  // namespace tern::config

#endif  // TERN_CONFIG_YAML_TREE_H_
