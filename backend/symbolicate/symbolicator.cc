#include "backend/symbolicate/symbolicator.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backend/symbolicate/bundle.h"
#include "backend/symbolicate/url.h"
#include "common/status.h"
#include "protocol/json_value.h"
#include "protocol/json_writer.h"

namespace tern::backend::symbolicate {

using protocol::JsonValue;
using protocol::JsonWriter;

namespace {

// How far back the scope search for a function's original name goes; a
// bound, so a huge one-line bundle cannot make one frame cost a full scan.
constexpr int kMaxScopeSteps = 4096;

// Function names that say nothing (Sentry's USELESS_FN_NAMES).
bool UselessName(std::string_view name) {
  return name.empty() || name == "<anonymous>" ||
         name == "__webpack_require__" || name == "__webpack_modules__";
}

bool IsJavaScript(std::string_view platform) {
  return platform == "javascript" || platform == "node";
}

std::vector<uint32_t> LineStarts(std::string_view text) {
  std::vector<uint32_t> starts{0};
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts.push_back(static_cast<uint32_t>(i + 1));
  }
  return starts;
}

// The minified source's text at 0-based (line, column), `n` bytes at most.
std::string_view TextAt(const Symbolicator::Entry& src, uint32_t line,
                        uint32_t column, size_t n) {
  if (line >= src.line_starts.size()) return "";
  const size_t begin = src.line_starts[line] + static_cast<size_t>(column);
  const size_t end = line + 1 < src.line_starts.size()
                         ? src.line_starts[line + 1]
                         : src.text.size();
  if (begin >= end) return "";
  return std::string_view(src.text).substr(begin, std::min(n, end - begin));
}

// The original name of the function a frame is in, found the way Sentry's
// source map processing does without a scope tree: walking back from the
// frame's token to the nearest token whose minified text is the minified
// function name (its declaration), whose `names` entry is the original.
std::string_view ScopeName(const SourceMap& map, const Token* token,
                           const Symbolicator::Entry* minified,
                           std::string_view minified_name) {
  if (minified == nullptr || minified_name.empty()) return "";
  const Token* t = token;
  for (int i = 0; t != nullptr && i < kMaxScopeSteps;
       ++i, t = map.Previous(t)) {
    if (t->name < 0) continue;
    if (TextAt(*minified, t->dst_line, t->dst_col, minified_name.size()) ==
        minified_name) {
      // The byte after the name must not continue an identifier ("a" in
      // "ab").
      std::string_view after =
          TextAt(*minified, t->dst_line,
                 t->dst_col + static_cast<uint32_t>(minified_name.size()), 1);
      const char c = after.empty() ? ' ' : after[0];
      const bool ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '$';
      if (!ident) return map.name(t->name);
    }
  }
  return "";
}

// Decodes a "data:application/json;base64,..." map reference; nullopt when
// `ref` is not a data URL.
std::optional<std::string> DecodeDataUrl(std::string_view ref) {
  if (!absl::StartsWith(ToAbsl(ref), "data:")) return std::nullopt;
  const size_t comma = ref.find(',');
  if (comma == std::string_view::npos) return std::string();
  std::string_view meta = ref.substr(5, comma - 5);
  std::string_view data = ref.substr(comma + 1);
  std::string out;
  if (absl::EndsWith(ToAbsl(meta), ";base64")) {
    if (!absl::Base64Unescape(ToAbsl(data), &out)) return std::string();
    return out;
  }
  return std::string(data);
}

struct FrameError {
  FrameError(std::string t, std::string u)
      : type(std::move(t)), url(std::move(u)) {}
  std::string type;
  std::string url;  // "url" or "source"
  bool as_source = false;
  int64_t row = -1, column = -1;
  std::string reason;
};

void WriteError(JsonWriter* w, const FrameError& e) {
  w->BeginObject();
  w->Key("type");
  w->String(e.type);
  if (e.row >= 0) {
    w->Key("column");
    w->Int(e.column);
    w->Key("row");
    w->Int(e.row);
  }
  w->Key(e.as_source ? "source" : "url");
  w->String(e.url);
  if (!e.reason.empty()) {
    w->Key("reason");
    w->String(e.reason);
  }
  w->EndObject();
}

}  // namespace

bool SameFileName(std::string_view url, std::string_view abs_path) {
  auto base = [](std::string_view s) {
    s = s.substr(0, s.find_first_of("?#"));
    const size_t slash = s.rfind('/');
    return slash == std::string_view::npos ? s : s.substr(slash + 1);
  };
  return !base(url).empty() && base(url) == base(abs_path);
}

// One event's pass: resolves frames and writes the new event.
class EventRewriter {
 public:
  EventRewriter(Symbolicator* s, int64_t project, const JsonValue& event)
      : s_(s), project_(project), event_(event) {
    release_ = event["release"].string();
    dist_ = event["dist"].string();
    for (const JsonValue& image : event["debug_meta"]["images"].items()) {
      if (image["type"].string() != "sourcemap") continue;
      std::string id = NormalizeDebugId(image["debug_id"].string());
      if (id.empty() || image["code_file"].string().empty()) continue;
      images_.emplace_back(std::string(image["code_file"].string()),
                           std::move(id));
    }
  }

  // Rewrites every exception's frames; true when anything changed.
  bool Run(std::string* out) {
    const JsonValue& values = event_["exception"]["values"];
    const JsonValue* exception = event_.Find("exception");
    std::vector<std::optional<std::string>> new_values;
    bool changed = false;
    for (const JsonValue& value : values.items()) {
      std::optional<std::string>& nv = new_values.emplace_back();
      const JsonValue& frames = value["stacktrace"]["frames"];
      if (frames.items().empty()) continue;
      std::vector<std::optional<std::string>> new_frames =
          MapFrames(frames.items(), value["stacktrace"]["frames"]);
      bool any = false;
      for (const auto& f : new_frames) any |= f.has_value();
      if (!any) continue;
      changed = true;
      nv.emplace();
      WriteException(value, frames, new_frames, &*nv);
    }
    if (!changed && errors_.empty()) return false;
    s_->stats_.events.fetch_add(1, std::memory_order_relaxed);

    out->reserve(out->size() + 4096);
    JsonWriter w(out);
    w.BeginObject();
    bool wrote_errors = false;
    for (const auto& [key, v] : event_.members()) {
      if (&v == exception && changed) {
        w.Key(key);
        w.BeginObject();
        for (const auto& [ek, ev] : v.members()) {
          w.Key(ek);
          if (ek != "values" || &ev != &values) {
            w.Raw(Json(ev));
            continue;
          }
          w.BeginArray();
          for (size_t i = 0; i < values.items().size(); ++i) {
            if (new_values[i]) {
              w.Raw(*new_values[i]);
            } else {
              w.Raw(Json(values.items()[i]));
            }
          }
          w.EndArray();
        }
        w.EndObject();
        continue;
      }
      if (key == "errors" && !wrote_errors) {
        wrote_errors = true;
        w.Key(key);
        w.BeginArray();
        for (const JsonValue& e : v.items()) w.Raw(Json(e));
        for (const FrameError& e : errors_) WriteError(&w, e);
        w.EndArray();
        continue;
      }
      w.Key(key);
      w.Raw(Json(v));
    }
    if (!wrote_errors && !errors_.empty()) {
      w.Key("errors");
      w.BeginArray();
      for (const FrameError& e : errors_) WriteError(&w, e);
      w.EndArray();
    }
    w.EndObject();
    return true;
  }

 private:
  struct Mapped {
    const SourceMap* map = nullptr;
    const Token* token = nullptr;
    std::shared_ptr<const Symbolicator::Entry> map_entry, minified;
    std::string map_url;
    std::string resolved_with;
  };

  static std::string Json(const JsonValue& v) {
    std::string s;
    v.AppendJson(&s);
    return s;
  }

  void AddError(FrameError e) {
    // One entry per (type, url) and event, as Sentry dedupes them.
    for (const FrameError& have : errors_) {
      if (have.type == e.type && have.url == e.url && have.row == e.row &&
          have.column == e.column) {
        return;
      }
    }
    errors_.push_back(std::move(e));
  }

  std::string_view DebugIdFor(std::string_view abs_path) const {
    for (const auto& [file, id] : images_) {
      if (file == abs_path) return id;
    }
    return "";
  }

  // Finds and loads the map for a minified file at `abs_path`. False, with
  // an error recorded when one is due, when there is none to use.
  bool Resolve(std::string_view abs_path, Mapped* m) {
    std::optional<ArtifactRef> map_ref, minified_ref;
    std::string_view debug_id = DebugIdFor(abs_path);
    if (!debug_id.empty()) {
      auto r = s_->source_->FindByDebugId(project_, debug_id,
                                          ArtifactKind::kSourceMap, abs_path);
      if (!r.ok()) return LookupFailed();
      map_ref = *r;
      if (map_ref) {
        auto mr = s_->source_->FindByDebugId(
            project_, debug_id, ArtifactKind::kMinifiedSource, abs_path);
        if (mr.ok()) minified_ref = *mr;
        std::string_view header =
            minified_ref ? std::string_view(minified_ref->sourcemap) : "";
        m->map_url = header.empty() || absl::StartsWith(ToAbsl(header), "data:")
                         ? std::string(abs_path) + ".map"
                         : JoinUrl(abs_path, header);
        m->resolved_with = "debug-id";
      }
    }
    std::optional<std::string> inline_map;
    if (!map_ref && !release_.empty()) {
      auto r = s_->source_->FindByUrl(project_, release_, dist_,
                                      UrlCandidates(abs_path));
      if (!r.ok()) return LookupFailed();
      minified_ref = *r;
      if (minified_ref) {
        m->minified =
            s_->Get(project_, *minified_ref, ArtifactKind::kMinifiedSource);
        std::string ref = minified_ref->sourcemap;
        if (ref.empty() && m->minified->status.ok()) {
          ref = std::string(FindSourceMappingUrl(m->minified->text));
        }
        if (ref.empty()) {
          AddError(FrameError("js_no_source", std::string(abs_path) + ".map"));
          return false;
        }
        if ((inline_map = DecodeDataUrl(ref))) {
          m->map_url = std::string(abs_path);
        } else {
          m->map_url = JoinUrl(abs_path, ref);
          auto mr = s_->source_->FindByUrl(project_, release_, dist_,
                                           UrlCandidates(m->map_url));
          if (!mr.ok()) return LookupFailed();
          map_ref = *mr;
          if (!map_ref) {
            AddError(FrameError("js_no_source", m->map_url));
            return false;
          }
        }
        m->resolved_with = "release";
      }
    }
    if (!map_ref && !inline_map) {
      if (!debug_id.empty() || !release_.empty()) {
        AddError(FrameError("js_no_source", std::string(abs_path)));
      }
      return false;
    }
    if (inline_map) {
      auto entry = std::make_shared<Symbolicator::Entry>();
      absl::StatusOr<SourceMap> parsed =
          SourceMap::Parse(*inline_map, s_->options_.parse_limits);
      if (parsed.ok()) {
        entry->map = std::move(*parsed);
      } else {
        entry->status = parsed.status();
      }
      m->map_entry = std::move(entry);
    } else {
      m->map_entry = s_->Get(project_, *map_ref, ArtifactKind::kSourceMap);
    }
    if (!m->map_entry->status.ok() || !m->map_entry->map) {
      FrameError e("js_invalid_source", m->map_url);
      e.reason = std::string(m->map_entry->status.message());
      AddError(std::move(e));
      return false;
    }
    m->map = &*m->map_entry->map;
    if (!m->minified && minified_ref) {
      m->minified =
          s_->Get(project_, *minified_ref, ArtifactKind::kMinifiedSource);
    }
    if (m->minified && !m->minified->status.ok()) m->minified.reset();
    return true;
  }

  bool LookupFailed() {
    s_->stats_.lookup_failures.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  std::vector<std::optional<std::string>> MapFrames(
      std::span<const JsonValue> frames, const JsonValue&) {
    const std::string_view event_platform = event_["platform"].string();
    std::vector<std::optional<std::string>> out(frames.size());
    std::vector<Mapped> mapped(frames.size());
    std::vector<bool> ok(frames.size(), false);
    for (size_t i = 0; i < frames.size(); ++i) {
      const JsonValue& f = frames[i];
      std::string_view platform = f["platform"].string();
      if (platform.empty()) platform = event_platform;
      if (!IsJavaScript(platform)) continue;
      if (f["data"]["symbolicated"].boolean()) continue;
      std::string_view abs_path = f["abs_path"].string();
      if (abs_path.empty()) abs_path = f["filename"].string();
      std::optional<int64_t> lineno = f["lineno"].integer();
      std::optional<int64_t> colno = f["colno"].integer();
      if (abs_path.empty() || !lineno || !colno || *lineno < 1 || *colno < 1 ||
          *lineno > UINT32_MAX || *colno > UINT32_MAX) {
        continue;
      }
      if (absl::StartsWith(ToAbsl(abs_path), "node:") ||
          abs_path == "<anonymous>" || abs_path == "native") {
        continue;
      }
      // One resolution per file and event: most frames of a stack share a
      // bundle, and a hostile event of many frames costs one lookup per
      // distinct file, not per frame.
      auto found = resolved_.find(ToAbsl(abs_path));
      if (found == resolved_.end()) {
        Mapped r;
        const bool ok = Resolve(abs_path, &r);
        found = resolved_
                    .emplace(
                        std::string(abs_path),
                        ok ? std::optional<Mapped>(std::move(r)) : std::nullopt)
                    .first;
      }
      if (!found->second) {
        s_->stats_.frames_failed.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      Mapped& m = mapped[i];
      m = *found->second;
      m.token = m.map->Lookup(static_cast<uint32_t>(*lineno - 1),
                              static_cast<uint32_t>(*colno - 1));
      if (m.token == nullptr || m.token->source < 0) {
        FrameError e("js_invalid_sourcemap_location", std::string(abs_path));
        e.as_source = true;
        e.row = *lineno;
        e.column = *colno;
        AddError(std::move(e));
        s_->stats_.frames_failed.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      ok[i] = true;
    }
    for (size_t i = 0; i < frames.size(); ++i) {
      if (!ok[i]) continue;
      // Frames run from the outermost call to the innermost; the caller of
      // frame i is frame i - 1, and its token names the function it called.
      const Token* caller = i > 0 && ok[i - 1] ? mapped[i - 1].token : nullptr;
      std::string_view caller_name =
          caller != nullptr ? mapped[i - 1].map->name(caller->name) : "";
      out[i] = WriteFrame(frames[i], mapped[i], caller_name);
      s_->stats_.frames_mapped.fetch_add(1, std::memory_order_relaxed);
    }
    return out;
  }

  std::string WriteFrame(const JsonValue& f, const Mapped& m,
                         std::string_view caller_name) {
    const SourceMap& map = *m.map;
    const Token& t = *m.token;
    const std::string abs_path = JoinUrl(m.map_url, map.source(t.source));
    std::string_view function = f["function"].string();
    std::string_view minified_name = function;
    if (const size_t dot = minified_name.rfind('.');
        dot != std::string_view::npos) {
      minified_name.remove_prefix(dot + 1);
    }
    std::string_view original =
        ScopeName(map, &t, m.minified.get(), minified_name);
    if (UselessName(original)) original = caller_name;
    if (UselessName(original)) original = map.name(t.name);
    if (original.empty()) original = function;

    std::string out;
    JsonWriter w(&out);
    w.BeginObject();
    // `module` goes too: SDKs derive it from the minified file's name
    // ("app.min"), which would keep builds apart in grouping; the raw frame
    // keeps it.
    static constexpr std::string_view kReplaced[] = {
        "abs_path",    "filename",     "lineno",       "colno", "function",
        "pre_context", "context_line", "post_context", "data",  "module"};
    for (const auto& [key, v] : f.members()) {
      if (std::find(std::begin(kReplaced), std::end(kReplaced), key) !=
          std::end(kReplaced)) {
        continue;
      }
      w.Key(key);
      w.Raw(Json(v));
    }
    w.Key("abs_path");
    w.String(abs_path);
    w.Key("filename");
    w.String(FilenameForUrl(abs_path));
    w.Key("lineno");
    w.Int(static_cast<int64_t>(t.src_line) + 1);
    w.Key("colno");
    w.Int(static_cast<int64_t>(t.src_col) + 1);
    if (!original.empty()) {
      w.Key("function");
      w.String(original);
    }
    if (map.source_content(t.source)) {
      const int n = s_->options_.context_lines;
      const uint32_t count = map.SourceLineCount(t.source);
      w.Key("pre_context");
      w.BeginArray();
      for (int64_t l = std::max<int64_t>(0, int64_t{t.src_line} - n);
           l < t.src_line; ++l) {
        w.String(
            map.SourceLine(t.source, static_cast<uint32_t>(l)).value_or(""));
      }
      w.EndArray();
      w.Key("context_line");
      w.String(map.SourceLine(t.source, t.src_line).value_or(""));
      w.Key("post_context");
      w.BeginArray();
      for (int64_t l = int64_t{t.src_line} + 1;
           l < std::min<int64_t>(count, int64_t{t.src_line} + 1 + n); ++l) {
        w.String(
            map.SourceLine(t.source, static_cast<uint32_t>(l)).value_or(""));
      }
      w.EndArray();
    } else {
      FrameError e("js_missing_sources_content", abs_path);
      e.as_source = true;
      AddError(std::move(e));
    }
    w.Key("data");
    w.BeginObject();
    for (const auto& [key, v] : f["data"].members()) {
      if (key == "sourcemap" || key == "resolved_with" ||
          key == "symbolicated") {
        continue;
      }
      w.Key(key);
      w.Raw(Json(v));
    }
    w.Key("sourcemap");
    w.String(m.map_url);
    w.Key("resolved_with");
    w.String(m.resolved_with);
    w.Key("symbolicated");
    w.Bool(true);
    w.EndObject();
    w.EndObject();
    return out;
  }

  // The exception with its frames replaced where mapped, and its minified
  // stacktrace as `raw_stacktrace`.
  void WriteException(const JsonValue& value, const JsonValue& frames,
                      const std::vector<std::optional<std::string>>& mapped,
                      std::string* out) {
    JsonWriter w(out);
    w.BeginObject();
    const JsonValue* stacktrace = value.Find("stacktrace");
    for (const auto& [key, v] : value.members()) {
      if (key == "raw_stacktrace") continue;
      w.Key(key);
      if (&v != stacktrace) {
        w.Raw(Json(v));
        continue;
      }
      w.BeginObject();
      for (const auto& [sk, sv] : v.members()) {
        w.Key(sk);
        if (&sv != &frames) {
          w.Raw(Json(sv));
          continue;
        }
        w.BeginArray();
        for (size_t i = 0; i < frames.items().size(); ++i) {
          w.Raw(mapped[i] ? *mapped[i] : Json(frames.items()[i]));
        }
        w.EndArray();
      }
      w.EndObject();
    }
    w.Key("raw_stacktrace");
    w.Raw(Json(*stacktrace));
    w.EndObject();
  }

  Symbolicator* s_;
  int64_t project_;
  const JsonValue& event_;
  std::string_view release_, dist_;
  std::vector<std::pair<std::string, std::string>> images_;
  std::vector<FrameError> errors_;
  absl::flat_hash_map<std::string, std::optional<Mapped>> resolved_;
};

Symbolicator::Symbolicator(ArtifactSource* source, SymbolicatorOptions options)
    : source_(source), options_(std::move(options)) {}

Symbolicator::~Symbolicator() = default;

std::optional<std::string> Symbolicator::Process(int64_t project,
                                                 std::string_view event_json) {
  // Cheap filters first: most events are not JavaScript with columns.
  if (event_json.find("\"colno\"") == std::string_view::npos) {
    return std::nullopt;
  }
  absl::StatusOr<JsonValue> event = protocol::ParseJson(event_json);
  if (!event.ok() || !event->is_object()) return std::nullopt;
  EventRewriter rewriter(this, project, *event);
  std::string out;
  if (!rewriter.Run(&out)) return std::nullopt;
  return out;
}

std::shared_ptr<const Symbolicator::Entry> Symbolicator::Get(
    int64_t project, const ArtifactRef& ref, ArtifactKind kind) {
  const std::string key = absl::StrCat(
      project, kind == ArtifactKind::kSourceMap ? ":m:" : ":s:", ref.key);
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      stats_.cache_hits.fetch_add(1, std::memory_order_relaxed);
      return it->second.entry;
    }
  }
  stats_.cache_misses.fetch_add(1, std::memory_order_relaxed);
  // Loaded and parsed outside the lock: two threads missing the same key
  // both parse it, which costs time but never blocks the other lookups.
  auto entry = std::make_shared<Entry>();
  absl::StatusOr<std::string> bytes = source_->Load(project, ref);
  if (!bytes.ok()) {
    entry->status = bytes.status();
    // A store outage is not cached: the next event tries again.
    if (bytes.status().code() != absl::StatusCode::kNotFound &&
        bytes.status().code() != absl::StatusCode::kInvalidArgument) {
      stats_.lookup_failures.fetch_add(1, std::memory_order_relaxed);
      return entry;
    }
  } else if (bytes->size() > options_.max_artifact_bytes) {
    entry->status = absl::InvalidArgumentError(absl::StrCat(
        "artifact of ", bytes->size(), " bytes is over the limit"));
  } else if (kind == ArtifactKind::kSourceMap) {
    absl::StatusOr<SourceMap> map =
        SourceMap::Parse(*bytes, options_.parse_limits);
    if (map.ok()) {
      entry->bytes = map->memory_bytes();
      entry->map = std::move(*map);
    } else {
      entry->status = map.status();
    }
  } else {
    entry->text = std::move(*bytes);
    entry->line_starts = LineStarts(entry->text);
    entry->bytes = entry->text.capacity() + entry->line_starts.capacity() * 4;
  }
  entry->bytes += sizeof(Entry) + key.size() * 2 + 64;
  Put(key, entry);
  return entry;
}

void Symbolicator::Put(const std::string& key,
                       std::shared_ptr<const Entry> entry) {
  absl::MutexLock lock(&mu_);
  if (entry->bytes > options_.cache_bytes) return;  // would evict everything
  auto [it, inserted] = cache_.try_emplace(key);
  if (!inserted) {
    bytes_ -= it->second.entry->bytes;
    lru_.erase(it->second.lru);
  }
  lru_.push_front(key);
  it->second = Slot{entry, lru_.begin()};
  bytes_ += entry->bytes;
  while (bytes_ > options_.cache_bytes && !lru_.empty()) {
    auto victim = cache_.find(lru_.back());
    bytes_ -= victim->second.entry->bytes;
    cache_.erase(victim);
    lru_.pop_back();
    stats_.cache_evictions.fetch_add(1, std::memory_order_relaxed);
  }
  stats_.cache_bytes.store(static_cast<int64_t>(bytes_),
                           std::memory_order_relaxed);
}

void Symbolicator::ClearCache() {
  absl::MutexLock lock(&mu_);
  cache_.clear();
  lru_.clear();
  bytes_ = 0;
  stats_.cache_bytes.store(0, std::memory_order_relaxed);
}

}  // namespace tern::backend::symbolicate
