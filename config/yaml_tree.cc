// The only file that calls yaml-cpp: every call is inside one try block and
// every exception becomes a Status naming the file, line and column.
#include "config/yaml_tree.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tern::config {
namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 1'000'000;

Mark ToMark(const YAML::Mark& mark) {
  // yaml-cpp counts from 0 and uses -1 for "unknown" (nodes it made up).
  Mark out;
  if (mark.line >= 0) out.line = mark.line + 1;
  if (mark.column >= 0) out.column = mark.column + 1;
  return out;
}

absl::Status ErrorAt(std::string_view filename, Mark mark,
                     std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(filename), ":",
                                                 mark.line, ":", mark.column,
                                                 ": ", ToAbsl(message)));
}

class Converter {
 public:
  explicit Converter(std::string_view filename) : filename_(filename) {}

  // `fallback` is used when yaml-cpp has no position for the node (a null
  // value that is not written at all, as in "key:").
  absl::Status Convert(const YAML::Node& node, Mark fallback, int depth,
                       YamlNode* out) {
    if (++nodes_ > kMaxNodes) {
      return ErrorAt(filename_, fallback,
                     "document too large (more than 1000000 nodes after "
                     "expanding aliases)");
    }
    if (depth > kMaxDepth) {
      return ErrorAt(filename_, fallback, "nesting deeper than 64 levels");
    }
    const YAML::Mark raw = node.Mark();
    out->mark = raw.line >= 0 ? ToMark(raw) : fallback;
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out->kind = YamlNode::Kind::kNull;
        return absl::OkStatus();
      case YAML::NodeType::Scalar:
        out->kind = YamlNode::Kind::kScalar;
        out->scalar = node.Scalar();
        return absl::OkStatus();
      case YAML::NodeType::Sequence:
        out->kind = YamlNode::Kind::kSequence;
        for (const YAML::Node& item : node) {
          YamlNode converted;
          TERN_RETURN_IF_ERROR(Convert(item, out->mark, depth + 1, &converted));
          out->items.push_back(std::move(converted));
        }
        return absl::OkStatus();
      case YAML::NodeType::Map: {
        out->kind = YamlNode::Kind::kMap;
        absl::flat_hash_set<std::string> seen;
        for (const auto& entry : node) {
          YamlNode key;
          TERN_RETURN_IF_ERROR(
              Convert(entry.first, out->mark, depth + 1, &key));
          if (key.kind != YamlNode::Kind::kScalar) {
            return ErrorAt(filename_, key.mark, "map keys must be plain names");
          }
          if (!seen.insert(key.scalar).second) {
            return ErrorAt(filename_, key.mark,
                           absl::StrCat("duplicate key \"", key.scalar, "\""));
          }
          YamlNode value;
          TERN_RETURN_IF_ERROR(
              Convert(entry.second, key.mark, depth + 1, &value));
          out->entries.push_back(YamlEntry{std::move(key), std::move(value)});
        }
        return absl::OkStatus();
      }
    }
    return ErrorAt(filename_, out->mark, "unsupported YAML node");
  }

 private:
  std::string_view filename_;
  size_t nodes_ = 0;
};

// Sees only parser events: remembers where the second document starts.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) second_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  const YAML::Mark& second_document() const { return second_; }

 private:
  int documents_ = 0;
  YAML::Mark second_;
};

}  // namespace

absl::StatusOr<YamlNode> ParseYaml(std::string_view text,
                                   std::string_view filename) {
  try {
    const std::string owned(text);
    // yaml-cpp 0.7's LoadAll can loop forever on malformed input (found by
    // tests/fuzz/config_fuzz), so documents are counted with an event-only
    // pass that asks for at most two, then the first is loaded.
    {
      std::istringstream in(owned);
      YAML::Parser parser(in);
      DocumentCounter counter;
      if (parser.HandleNextDocument(counter) &&
          parser.HandleNextDocument(counter)) {
        return ErrorAt(filename, ToMark(counter.second_document()),
                       "a config file holds a single YAML document");
      }
    }
    YAML::Node doc = YAML::Load(owned);
    YamlNode root;
    if (!doc.IsDefined() || doc.IsNull()) return root;
    Converter converter(filename);
    TERN_RETURN_IF_ERROR(converter.Convert(doc, Mark{}, 0, &root));
    return root;
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard (its message would be the unhelpful "bad file").
    return ErrorAt(filename, ToMark(e.mark), "nesting too deep");
  } catch (const YAML::Exception& e) {
    // e.msg is the bare message; e.what() would repeat the position in
    // yaml-cpp's own 0-based format.
    return ErrorAt(filename, ToMark(e.mark), e.msg);
  } catch (const std::exception& e) {
    return ErrorAt(filename, Mark{}, e.what());
  }
}

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int error = errno;
    return absl::Status(
        absl::ErrnoToStatusCode(error),
        absl::StrCat(path, ": cannot open: ", std::strerror(error)));
  }
  std::string contents;
  char buffer[16384];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    contents.append(buffer, n);
  }
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  std::fclose(file);
  if (failed) {
    return absl::Status(
        absl::ErrnoToStatusCode(error),
        absl::StrCat(path, ": cannot read: ", std::strerror(error)));
  }
  return contents;
}

}  // namespace tern::config
