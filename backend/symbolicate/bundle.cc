#include "backend/symbolicate/bundle.h"

#include <zip.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "protocol/json_value.h"

namespace tern::backend::symbolicate {
namespace {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;

absl::StatusOr<ZipPtr> Open(std::string_view bytes) {
  zip_error_t error;
  zip_error_init(&error);
  // The source does not copy and does not free the buffer (freep = 0); the
  // archive is discarded before `bytes` goes away.
  zip_source_t* src =
      zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (src == nullptr) {
    std::string why = zip_error_strerror(&error);
    zip_error_fini(&error);
    return absl::InvalidArgumentError(absl::StrCat("bad zip: ", why));
  }
  zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (z == nullptr) {
    std::string why = zip_error_strerror(&error);
    zip_error_fini(&error);
    zip_source_free(src);
    return absl::InvalidArgumentError(absl::StrCat("bad zip: ", why));
  }
  zip_error_fini(&error);
  return ZipPtr(z);
}

// Reads entry `index` whole, refusing more than `max_bytes`. With `out` null
// the bytes are read and dropped (CRC check only).
absl::Status ReadIndex(zip_t* z, zip_uint64_t index, uint64_t max_bytes,
                       std::string* out) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(z, index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
    return absl::InvalidArgumentError("bad zip: cannot stat an entry");
  }
  if (st.size > max_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("bundle entry ", st.name ? st.name : "?", " of ", st.size,
                     " bytes is over the limit of ", max_bytes));
  }
  zip_file_t* f = zip_fopen_index(z, index, 0);
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad zip: ", zip_strerror(z)));
  }
  std::string scratch;
  std::string* buf = out != nullptr ? out : &scratch;
  buf->resize(out != nullptr ? st.size : std::min<uint64_t>(st.size, 65536));
  uint64_t done = 0;
  absl::Status status;
  while (true) {
    char* dst = out != nullptr ? buf->data() + done : buf->data();
    const uint64_t room = out != nullptr ? st.size - done : buf->size();
    // One extra byte of room would be needed to see a stream longer than
    // its header says; libzip reports that as an error itself.
    if (room == 0) {
      char probe;
      const zip_int64_t extra = zip_fread(f, &probe, 1);
      if (extra != 0) {
        status = absl::InvalidArgumentError(
            "bad zip: entry longer than its stated size");
      }
      break;
    }
    const zip_int64_t n = zip_fread(f, dst, room);
    if (n < 0) {
      status = absl::InvalidArgumentError(
          absl::StrCat("bad zip: ", zip_file_strerror(f)));
      break;
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
    if (done > st.size) {
      status = absl::InvalidArgumentError(
          "bad zip: entry longer than its stated size");
      break;
    }
  }
  if (status.ok() && done != st.size) {
    status = absl::InvalidArgumentError("bad zip: truncated entry");
  }
  if (zip_fclose(f) != 0 && status.ok()) {
    status = absl::InvalidArgumentError("bad zip: CRC error");
  }
  return status;
}

std::string_view Header(const protocol::JsonValue& headers,
                        std::initializer_list<std::string_view> names) {
  for (const auto& [key, value] : headers.members()) {
    for (std::string_view n : names) {
      if (absl::EqualsIgnoreCase(ToAbsl(key), ToAbsl(n)) && value.is_string()) {
        return value.string();
      }
    }
  }
  return "";
}

}  // namespace

std::string NormalizeDebugId(std::string_view id) {
  std::string hex;
  for (char c : id) {
    if (c == '-') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) break;
    hex.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    if (hex.size() == 32) break;
  }
  if (hex.size() != 32) return "";
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-",
                      hex.substr(12, 4), "-", hex.substr(16, 4), "-",
                      hex.substr(20));
}

absl::StatusOr<BundleManifest> ReadBundleManifest(std::string_view zip,
                                                  const BundleLimits& limits,
                                                  bool verify_contents) {
  TERN_ASSIGN_OR_RETURN(ZipPtr z, Open(zip));
  const zip_int64_t entries = zip_get_num_entries(z.get(), 0);
  if (entries < 0 || static_cast<uint64_t>(entries) > limits.max_files + 1) {
    return absl::OutOfRangeError(
        absl::StrCat("bundle has more than ", limits.max_files, " files"));
  }
  const zip_int64_t manifest_index =
      zip_name_locate(z.get(), "manifest.json", 0);
  if (manifest_index < 0) {
    return absl::InvalidArgumentError("bundle has no manifest.json");
  }
  std::string manifest_text;
  TERN_RETURN_IF_ERROR(ReadIndex(z.get(), manifest_index,
                                 limits.max_manifest_bytes, &manifest_text));
  absl::StatusOr<protocol::JsonValue> m = protocol::ParseJson(manifest_text);
  if (!m.ok() || !m->is_object()) {
    return absl::InvalidArgumentError("manifest.json is not a JSON object");
  }
  BundleManifest out;
  out.debug_id = NormalizeDebugId((*m)["debug_id"].string());
  out.org = std::string((*m)["org"].string());
  out.project = std::string((*m)["project"].string());
  out.release = std::string((*m)["release"].string());
  out.dist = std::string((*m)["dist"].string());
  const protocol::JsonValue& files = (*m)["files"];
  if (!files.is_object()) {
    return absl::InvalidArgumentError("manifest.json has no \"files\" object");
  }
  if (files.members().size() > limits.max_files) {
    return absl::OutOfRangeError(
        absl::StrCat("bundle has more than ", limits.max_files, " files"));
  }
  uint64_t total = 0;
  for (const auto& [path, info] : files.members()) {
    if (!info.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest entry ", path, " is not an object"));
    }
    BundleFile& f = out.files.emplace_back();
    f.path = path;
    f.type = std::string(info["type"].string());
    f.url = std::string(info["url"].string());
    if (f.url.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest entry ", path, " has no url"));
    }
    const protocol::JsonValue& headers = info["headers"];
    f.debug_id = NormalizeDebugId(Header(headers, {"debug-id", "debug_id"}));
    f.sourcemap = std::string(Header(headers, {"sourcemap", "x-sourcemap"}));
    const zip_int64_t index = zip_name_locate(z.get(), path.c_str(), 0);
    if (index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest lists ", path, ", which is not in the zip"));
    }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z.get(), index, 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE)) {
      return absl::InvalidArgumentError("bad zip: cannot stat an entry");
    }
    if (st.size > limits.max_file_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat("bundle file ", path, " of ", st.size,
                       " bytes is over the limit of ", limits.max_file_bytes));
    }
    total += st.size;
    if (total > limits.max_total_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat("bundle's files are over the limit of ",
                       limits.max_total_bytes, " bytes uncompressed"));
    }
    f.size = st.size;
    if (verify_contents) {
      TERN_RETURN_IF_ERROR(
          ReadIndex(z.get(), index, limits.max_file_bytes, nullptr));
    }
  }
  return out;
}

absl::StatusOr<std::string> ReadBundleEntry(std::string_view zip,
                                            std::string_view path,
                                            uint64_t max_bytes) {
  TERN_ASSIGN_OR_RETURN(ZipPtr z, Open(zip));
  const zip_int64_t index =
      zip_name_locate(z.get(), std::string(path).c_str(), 0);
  if (index < 0) {
    return absl::NotFoundError(
        absl::StrCat("no ", ToAbsl(path), " in the bundle"));
  }
  std::string out;
  TERN_RETURN_IF_ERROR(ReadIndex(z.get(), index, max_bytes, &out));
  return out;
}

}  // namespace tern::backend::symbolicate
