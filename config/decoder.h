// Schema helpers shared by the config loaders (internal to config/).
//
// A Decoder walks a YamlNode tree for one file and turns each value into a
// C++ field, or into an InvalidArgument error of the form
//
//   config/relay.yml:12:3: limits.max_event_size: expected a size like 1MiB,
//   got "abc"
//
// MapFields makes unknown keys errors: each key the schema knows is Take()n,
// and Finish() reports the first key nobody took, so a typo is never silently
// ignored. The Decoder also remembers where every key it met was written, so
// checks that span several keys (low < high watermark) can still point at a
// line.
#ifndef TERN_CONFIG_DECODER_H_
#define TERN_CONFIG_DECODER_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/yaml_tree.h"

namespace tern::config {

class Decoder {
 public:
  explicit Decoder(std::string_view filename) : filename_(filename) {}

  // "file:line:col: path: message" (no "path: " when `path` is empty).
  absl::Status ErrorAt(Mark mark, std::string_view path,
                       std::string_view message) const;
  absl::Status Error(const YamlNode& at, std::string_view path,
                     std::string_view message) const {
    return ErrorAt(at.mark, path, message);
  }
  // An error at the place `path` was written, or at its closest written
  // parent (a default value has no line of its own).
  absl::Status ErrorAtPath(std::string_view path,
                           std::string_view message) const;

  void Remember(std::string_view path, Mark mark);

  // Scalar decoders. Each fails on a non-scalar (naming what it got) and on
  // text outside its grammar.
  absl::Status String(const YamlNode& node, std::string_view path,
                      std::string* out) const;
  // true/false (any case).
  absl::Status Bool(const YamlNode& node, std::string_view path,
                    bool* out) const;
  // A decimal integer in [min, max].
  absl::Status Uint(const YamlNode& node, std::string_view path, uint64_t min,
                    uint64_t max, uint64_t* out) const;
  // ParseSize's grammar, value in [min, max].
  absl::Status Size(const YamlNode& node, std::string_view path, uint64_t min,
                    uint64_t max, uint64_t* out) const;
  // ParseDuration's grammar, value >= min.
  absl::Status Duration(const YamlNode& node, std::string_view path,
                        absl::Duration min, absl::Duration* out) const;
  // One of `names`; *out is its index.
  absl::Status OneOf(const YamlNode& node, std::string_view path,
                     std::initializer_list<std::string_view> names,
                     int* out) const;
  // A list of non-empty strings; null is the empty list.
  absl::Status StringList(const YamlNode& node, std::string_view path,
                          std::vector<std::string>* out) const;
  // A map of scalar values (as text); null is the empty map.
  absl::Status StringMap(const YamlNode& node, std::string_view path,
                         std::map<std::string, std::string>* out);
  // Fails unless `node` is a sequence or null.
  absl::Status ExpectList(const YamlNode& node, std::string_view path) const;

 private:
  std::string filename_;
  absl::flat_hash_map<std::string, Mark> marks_;
};

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string JoinPath(std::string_view parent, std::string_view key);
// "quotas" + 2 -> "quotas[2]".
std::string IndexPath(std::string_view parent, size_t index);

// The keys of one YAML map, taken one by one by the schema.
class MapFields {
 public:
  // `node` must be a map, or null (an empty section such as "limits:").
  static absl::StatusOr<MapFields> Open(Decoder* decoder, const YamlNode& node,
                                        std::string_view path);

  // The value of `key`, or nullptr when absent. Marks the key as known.
  const YamlNode* Take(std::string_view key);
  std::string PathOf(std::string_view key) const {
    return JoinPath(path_, key);
  }

  // Runs decode(node, path) when `key` is present.
  template <typename F>
  absl::Status Field(std::string_view key, F&& decode) {
    const YamlNode* node = Take(key);
    if (node == nullptr) return absl::OkStatus();
    return decode(*node, PathOf(key));
  }

  // The first key that was never taken, as an "unknown key" error listing the
  // keys this section accepts.
  absl::Status Finish() const;

 private:
  MapFields(Decoder* decoder, const YamlNode* node, std::string path)
      : decoder_(decoder), node_(node), path_(std::move(path)) {}

  Decoder* decoder_;
  const YamlNode* node_;
  std::string path_;
  std::vector<std::string> taken_;
};

}  // namespace tern::config

#endif  // TERN_CONFIG_DECODER_H_
