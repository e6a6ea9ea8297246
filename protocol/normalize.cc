#include "protocol/normalize.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/http_status.h"
#include "common/status.h"
#include "protocol/json_writer.h"
#include "protocol/timestamp.h"

namespace tern::protocol {
namespace {

namespace dom = simdjson::dom;
using Type = dom::element_type;

// Typed views of an element whose type the caller has checked. (The
// simdjson_result accessors trip gcc's maybe-uninitialized analysis.)
dom::object AsObject(dom::element e) {
  dom::object o;
  [[maybe_unused]] const simdjson::error_code err = e.get(o);
  return o;
}
dom::array AsArray(dom::element e) {
  dom::array a;
  [[maybe_unused]] const simdjson::error_code err = e.get(a);
  return a;
}

// ---------------------------------------------------------------------------
// Vocabularies.

constexpr std::string_view kPlatforms[] = {
    "as3",   "c",      "cfml", "cocoa",      "csharp", "elixir", "haskell",
    "go",    "groovy", "java", "javascript", "native", "node",   "objc",
    "other", "perl",   "php",  "python",     "ruby"};

// The platform to write: a known name as is, anything else "other" (Relay
// does the same, so grouping and symbolication see one vocabulary).
std::string_view CanonicalPlatform(dom::element value) {
  if (value.type() == Type::STRING) {
    const std::string_view name = value.get_string().value_unsafe();
    for (std::string_view known : kPlatforms) {
      if (name == known) return known;
    }
  }
  return "other";
}

// Case-insensitive level names with Relay's aliases.
std::optional<Level> ParseLevel(std::string_view text) {
  char lower[8];
  if (text.size() > sizeof(lower)) return std::nullopt;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view l(lower, text.size());
  if (l == "error") return Level::kError;
  if (l == "warning" || l == "warn") return Level::kWarning;
  if (l == "info" || l == "log") return Level::kInfo;
  if (l == "fatal" || l == "critical") return Level::kFatal;
  if (l == "debug") return Level::kDebug;
  return std::nullopt;
}

// The client types we keep; "transaction" comes only from the item type.
std::optional<EventType> ParseClientType(std::string_view text) {
  if (text == "error") return EventType::kError;
  if (text == "default") return EventType::kDefault;
  if (text == "csp") return EventType::kCsp;
  if (text == "hpkp") return EventType::kHpkp;
  if (text == "expectct") return EventType::kExpectCt;
  if (text == "expectstaple") return EventType::kExpectStaple;
  if (text == "nel") return EventType::kNel;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Timestamps.

// 0001-01-01T00:00:00Z, the earliest instant RFC 3339 can write; anything
// before it is garbage, not an old event.
constexpr double kMinTimestamp = -62135596800.0;
// How far ahead of `received` a client clock may be before we stop trusting
// it (Relay's default grace).
constexpr double kMaxFutureSeconds = 60.0;

// ---------------------------------------------------------------------------
// Top-level fields the rules act on.

enum class Field : uint8_t {
  kEventId,
  kTimestamp,
  kReceived,
  kPlatform,
  kLevel,
  kType,
  kSdk,
  kMessage,
  kLogentry,
  kUser,
  kRequest,
  kException,
  kThreads,
  kBreadcrumbs,
  kStacktrace,
  kFingerprint,
  // Written at the end, after the notes of the walk are known.
  kErrors,
  kMeta,
  // Relay's legacy aliases (`sentry.interfaces.*`, what raven clients sent
  // before the short names): read as the field they stand for.
  kAliasMessage,
  kAliasUser,
  kAliasHttp,
  kAliasException,
  kAliasStacktrace,
  kAliasBreadcrumbs,
  kCount,
  kOther = kCount,
};
constexpr size_t kFieldCount = static_cast<size_t>(Field::kCount);
static_assert(kFieldCount <= 32, "Plan::present is a 32-bit mask");

constexpr std::string_view kFieldNames[kFieldCount] = {
    "event_id",
    "timestamp",
    "received",
    "platform",
    "level",
    "type",
    "sdk",
    "message",
    "logentry",
    "user",
    "request",
    "exception",
    "threads",
    "breadcrumbs",
    "stacktrace",
    "fingerprint",
    "errors",
    "_meta",
    "sentry.interfaces.Message",
    "sentry.interfaces.User",
    "sentry.interfaces.Http",
    "sentry.interfaces.Exception",
    "sentry.interfaces.Stacktrace",
    "sentry.interfaces.Breadcrumbs"};

bool IsAlias(Field f) { return f >= Field::kAliasMessage && f < Field::kCount; }

// Relay's other legacy aliases, of fields the normalizer passes through
// unread: only their name changes. Relay: legacy_alias on Event's contexts,
// template, csp, hpkp, expectct and expectstaple.
constexpr std::pair<std::string_view, std::string_view> kRenameAliases[] = {
    {"sentry.interfaces.Contexts", "contexts"},
    {"sentry.interfaces.Template", "template"},
    {"sentry.interfaces.Csp", "csp"},
    {"sentry.interfaces.Hpkp", "hpkp"},
    {"sentry.interfaces.ExpectCT", "expectct"},
    {"sentry.interfaces.ExpectStaple", "expectstaple"},
};

// The current name of a pass-through legacy alias, or "" for any other key.
std::string_view RenamedAlias(std::string_view key) {
  if (!key.starts_with("sentry.interfaces.")) return {};
  for (const auto& [alias, name] : kRenameAliases) {
    if (key == alias) return name;
  }
  return {};
}

// The field a legacy alias stands for (the field itself for the others).
Field CanonicalOf(Field f) {
  switch (f) {
    case Field::kAliasMessage:
      return Field::kLogentry;
    case Field::kAliasUser:
      return Field::kUser;
    case Field::kAliasHttp:
      return Field::kRequest;
    case Field::kAliasException:
      return Field::kException;
    case Field::kAliasStacktrace:
      return Field::kStacktrace;
    case Field::kAliasBreadcrumbs:
      return Field::kBreadcrumbs;
    default:
      return f;
  }
}

Field Classify(std::string_view key) {
  // The length picks at most three candidates; most keys (contexts, tags,
  // extra, release...) are rejected by one comparison.
  auto is = [key](Field f) { return key == kFieldNames[static_cast<int>(f)]; };
  switch (key.size()) {
    case 3:
      if (is(Field::kSdk)) return Field::kSdk;
      break;
    case 4:
      if (is(Field::kUser)) return Field::kUser;
      if (is(Field::kType)) return Field::kType;
      break;
    case 5:
      if (is(Field::kLevel)) return Field::kLevel;
      if (is(Field::kMeta)) return Field::kMeta;
      break;
    case 6:
      if (is(Field::kErrors)) return Field::kErrors;
      break;
    case 7:
      if (is(Field::kMessage)) return Field::kMessage;
      if (is(Field::kRequest)) return Field::kRequest;
      if (is(Field::kThreads)) return Field::kThreads;
      break;
    case 8:
      if (is(Field::kEventId)) return Field::kEventId;
      if (is(Field::kPlatform)) return Field::kPlatform;
      if (is(Field::kReceived)) return Field::kReceived;
      if (is(Field::kLogentry)) return Field::kLogentry;
      break;
    case 9:
      if (is(Field::kTimestamp)) return Field::kTimestamp;
      if (is(Field::kException)) return Field::kException;
      break;
    case 10:
      if (is(Field::kStacktrace)) return Field::kStacktrace;
      break;
    case 11:
      if (is(Field::kBreadcrumbs)) return Field::kBreadcrumbs;
      if (is(Field::kFingerprint)) return Field::kFingerprint;
      break;
    case 22:
      if (is(Field::kAliasUser)) return Field::kAliasUser;
      if (is(Field::kAliasHttp)) return Field::kAliasHttp;
      break;
    case 25:
      if (is(Field::kAliasMessage)) return Field::kAliasMessage;
      break;
    case 27:
      if (is(Field::kAliasException)) return Field::kAliasException;
      break;
    case 28:
      if (is(Field::kAliasStacktrace)) return Field::kAliasStacktrace;
      break;
    case 29:
      if (is(Field::kAliasBreadcrumbs)) return Field::kAliasBreadcrumbs;
      break;
  }
  return Field::kOther;
}

bool IsAuto(dom::element value) {
  return value.type() == Type::STRING &&
         value.get_string().value_unsafe() == "{{auto}}";
}

// ---------------------------------------------------------------------------
// Notes: what the normalizer removed, the way Relay records it.
//
// Relay never drops an event for a field of the wrong type: it removes the
// field (or coerces it) and keeps an error in the event's `_meta` tree, at
// the field's path, and one in `errors`, so the UI can show what was lost.
// We do the same. Notes are rare, so they may allocate.

struct MetaNote {
  // Path of the field in the output ("exception", "values", "0", ...).
  std::vector<std::string> path;
  // Relay's ErrorKind names: "invalid_data", "missing_attribute".
  std::string_view kind;
  // Relay's `reason` ("expected a string"); empty for none.
  std::string_view reason;
  // The removed value as JSON; empty when not kept (see MakeNote).
  std::string value;
};

// Relay keeps an original value only when it is small (estimate_size <
// 500), since metadata is not trimmed; so do we. The depth bound keeps
// the `_meta` tree, where the value lands deeper than it was, inside
// kMaxDepth.
constexpr size_t kMaxNoteValueBytes = 500;
constexpr int kMaxNoteValueDepth = 16;
// A payload full of bad values must not make a `_meta` many times its
// size; beyond this many, removals still happen but are not itemized.
constexpr size_t kMaxNotes = 64;

// Appends `value` to `w` as JSON; false when it nests deeper than
// kMaxNoteValueDepth (the text is then unusable).
bool AppendJson(dom::element value, int depth, JsonWriter& w) {
  switch (value.type()) {
    case Type::OBJECT:
      if (depth > kMaxNoteValueDepth) return false;
      w.BeginObject();
      for (dom::key_value_pair m : AsObject(value)) {
        w.Key(m.key);
        if (!AppendJson(m.value, depth + 1, w)) return false;
      }
      w.EndObject();
      return true;
    case Type::ARRAY:
      if (depth > kMaxNoteValueDepth) return false;
      w.BeginArray();
      for (dom::element item : AsArray(value)) {
        if (!AppendJson(item, depth + 1, w)) return false;
      }
      w.EndArray();
      return true;
    case Type::STRING:
      w.String(value.get_string().value_unsafe());
      return true;
    case Type::INT64:
      w.Int(value.get_int64().value_unsafe());
      return true;
    case Type::UINT64:
      w.Uint(value.get_uint64().value_unsafe());
      return true;
    case Type::DOUBLE:
      w.Double(value.get_double().value_unsafe());
      return true;
    case Type::BOOL:
      w.Bool(value.get_bool().value_unsafe());
      return true;
    case Type::NULL_VALUE:
      w.Null();
      return true;
  }
  return false;
}

// The JSON text of `value` ("5", "[1,2]", "true"): Relay's JsonLenientString
// for a non-string where text belongs (logentry, exception values).
std::string JsonText(dom::element value) {
  std::string text;
  JsonWriter w(&text);
  if (!AppendJson(value, 1, w)) text = "null";  // only for absurd nesting
  return text;
}

// Notes one removal. `original` is kept as `val` unless the project scrubs
// data: the scrubber does not walk `_meta`, so a removed value could carry
// a secret past it.
class Notes {
 public:
  explicit Notes(bool keep_values) : keep_values_(keep_values) {}

  [[gnu::noinline, gnu::cold]] void Add(std::vector<std::string> path,
                                        std::string_view kind,
                                        std::string_view reason,
                                        const dom::element* original) {
    if (list_.size() >= kMaxNotes) return;
    MetaNote note{std::move(path), kind, reason, {}};
    if (original != nullptr && keep_values_) {
      JsonWriter w(&note.value);
      if (!AppendJson(*original, 1, w) ||
          note.value.size() >= kMaxNoteValueBytes) {
        note.value.clear();
      }
    }
    list_.push_back(std::move(note));
  }
  // A removal whose original value is a JSON text already.
  [[gnu::noinline, gnu::cold]] void AddText(std::vector<std::string> path,
                                            std::string_view kind,
                                            std::string_view reason,
                                            std::string value) {
    if (list_.size() >= kMaxNotes) return;
    if (!keep_values_ || value.size() >= kMaxNoteValueBytes) value.clear();
    list_.push_back(MetaNote{std::move(path), kind, reason, std::move(value)});
  }

  bool empty() const { return list_.empty(); }
  std::vector<MetaNote>& list() { return list_; }

 private:
  bool keep_values_;
  std::vector<MetaNote> list_;
};

// A path segment for an array index.
std::string Index(size_t i) { return absl::StrCat(i); }

// ---------------------------------------------------------------------------
// Relay's LenientString: where the protocol wants text (user ids, header
// values, fingerprint entries...), a number or a boolean is read as the
// text Python's str() would give it. Relay inherited this from Sentry's
// Python ingestion, so old SDKs that send `"id": 1234` keep working.

struct Lenient {
  enum Kind : uint8_t {
    kText,     // `text` holds the string to write
    kNull,     // null stays null ("not set")
    kRemoved,  // not coercible; `reason` says why (Relay's wording)
  };
  Kind kind = kNull;
  std::string_view text;
  std::string_view reason;
};

// `buf` backs `text` for numbers; it must outlive the result.
Lenient ToLenientString(dom::element value, std::array<char, 32>& buf) {
  Lenient r;
  switch (value.type()) {
    case Type::STRING:
      r.kind = Lenient::kText;
      r.text = value.get_string().value_unsafe();
      return r;
    case Type::NULL_VALUE:
      return r;
    case Type::BOOL:
      // "True"/"False", not JSON's spelling: Python's str(True), which is
      // what Sentry stored before Relay and what grouping hashes saw.
      r.kind = Lenient::kText;
      r.text = value.get_bool().value_unsafe() ? "True" : "False";
      return r;
    case Type::INT64: {
      const int n = std::snprintf(
          buf.data(), buf.size(), "%lld",
          static_cast<long long>(value.get_int64().value_unsafe()));
      r.kind = Lenient::kText;
      r.text = std::string_view(buf.data(), static_cast<size_t>(n));
      return r;
    }
    case Type::UINT64: {
      const int n = std::snprintf(
          buf.data(), buf.size(), "%llu",
          static_cast<unsigned long long>(value.get_uint64().value_unsafe()));
      r.kind = Lenient::kText;
      r.text = std::string_view(buf.data(), static_cast<size_t>(n));
      return r;
    }
    case Type::DOUBLE: {
      // Relay truncates to an integer, and refuses what a double cannot
      // hold exactly (|x| >= 2^53): the text would be a made-up number.
      const double d = value.get_double().value_unsafe();
      if (!(std::fabs(d) < 9007199254740992.0)) {
        r.kind = Lenient::kRemoved;
        r.reason = "expected a number with JSON precision";
        return r;
      }
      const double t = std::trunc(d);
      const int n = t == 0 && std::signbit(t)
                        ? std::snprintf(buf.data(), buf.size(), "-0")
                        : std::snprintf(buf.data(), buf.size(), "%lld",
                                        static_cast<long long>(t));
      r.kind = Lenient::kText;
      r.text = std::string_view(buf.data(), static_cast<size_t>(n));
      return r;
    }
    case Type::OBJECT:
    case Type::ARRAY:
      break;
  }
  r.kind = Lenient::kRemoved;
  r.reason = "expected a primitive value";
  return r;
}

// ---------------------------------------------------------------------------
// Stacktraces.

// What a `stacktrace` member holds. Grouping and symbolication walk frames
// without checking, so a stacktrace they cannot walk is removed (with a
// note) rather than passed on.
enum class StackShape : uint8_t {
  kOk,         // an object with a frames list
  kNull,       // not set
  kNotObject,  // a string, number, list...
  kNoFrames,   // an object without frames, or with "frames": null
  kBadFrames,  // frames is not a list
};

StackShape ShapeOf(dom::element value) {
  const Type t = value.type();
  if (t == Type::NULL_VALUE) return StackShape::kNull;
  if (t != Type::OBJECT) return StackShape::kNotObject;
  auto frames = AsObject(value).at_key("frames");
  if (frames.error()) return StackShape::kNoFrames;
  const Type ft = frames.value_unsafe().type();
  if (ft == Type::ARRAY) return StackShape::kOk;
  return ft == Type::NULL_VALUE ? StackShape::kNoFrames
                                : StackShape::kBadFrames;
}

// Records why a stacktrace at `path` was removed. Relay's RawStacktrace
// requires `frames`: without it Relay notes `missing_attribute` on
// `frames`; a frames value of the wrong type is `invalid_data`.
void NoteStacktrace(Notes& notes, std::vector<std::string> path,
                    StackShape shape, dom::element value) {
  switch (shape) {
    case StackShape::kNotObject:
      notes.Add(std::move(path), "invalid_data", "expected a stacktrace",
                &value);
      return;
    case StackShape::kNoFrames:
      path.emplace_back("frames");
      notes.Add(std::move(path), "missing_attribute", {}, nullptr);
      return;
    case StackShape::kBadFrames: {
      path.emplace_back("frames");
      dom::element frames = AsObject(value).at_key("frames").value_unsafe();
      notes.Add(std::move(path), "invalid_data", "expected an array", &frames);
      return;
    }
    case StackShape::kOk:
    case StackShape::kNull:
      return;
  }
}

// True when `exception` holds at least one value, in any container form
// the normalizer reads (a list, `{"values": [...]}`, or one exception
// object on its own, which Relay wraps).
bool HasExceptionValues(dom::element exception) {
  dom::element list = exception;
  if (exception.type() == Type::OBJECT) {
    dom::object obj = AsObject(exception);
    auto values = obj.at_key("values");
    if (values.error()) return obj.begin() != obj.end();
    list = values.value_unsafe();
  }
  if (list.type() != Type::ARRAY) return false;
  dom::array items = AsArray(list);
  return items.begin() != items.end();
}

// ---------------------------------------------------------------------------
// The serializer.

// Writes one event's DOM back out through a JsonBufferWriter, applying the
// nested rules on the way. Lives for one Normalize() call. Failures set
// `error_` and return false, so the recursion unwinds without carrying a
// Status per level.
class Rewriter {
 public:
  Rewriter(const NormalizeOptions& opts, Notes* notes, std::string* out,
           size_t expected_size)
      : opts_(opts),
        notes_(*notes),
        w_(out, expected_size),
        scrub_(opts.scrub != nullptr && opts.scrub->enabled ? opts.scrub
                                                            : nullptr),
        scrub_ip_(opts.scrub != nullptr && opts.scrub->scrub_ip_addresses) {}

  JsonBufferWriter& writer() { return w_; }
  absl::Status TakeError() { return std::move(error_); }

  // Any value, carried over unchanged. `depth` is the nesting level of
  // `value` if it is a container (the top-level object is 1). Scalars are
  // written inline; containers recurse through WriteObject/WriteArray.
  inline bool WriteValue(dom::element value, int depth);
  [[gnu::noinline]] bool WriteObject(dom::element value, int depth);
  [[gnu::noinline]] bool WriteArray(dom::element value, int depth);

  // THE place every carried-over object member passes through, at any depth:
  // it writes `key` and then the value. Rules that act on a member of a
  // known object (user.ip_address, request.headers, ...) are applied by the
  // handlers below before they delegate here. Inside a scrubbed subtree the
  // key decides whether the value is written, masked or left unscrubbed
  // (ScrubMember); outside one this is a single predictable branch.
  [[gnu::always_inline]] bool VisitMember(std::string_view key,
                                          dom::element value, int depth) {
    if (scrubbing_) [[unlikely]] {
      return ScrubMember(key, value, depth);
    }
    w_.Key(key);
    return WriteValue(value, depth);
  }

  // True when the project scrubs data (ScrubConfig::enabled).
  bool scrubs() const { return scrub_ != nullptr; }
  // Writes a member whose whole value is a scrubbed subtree (`extra`,
  // `contexts`, `request.data`, a frame's `vars`...). Only called when
  // scrubs().
  bool VisitScrubbed(std::string_view key, dom::element value, int depth);

  // Handlers for the top-level members with nested rules. Each writes the
  // member (key and value) or fails.
  bool WriteUser(dom::element value, int depth);
  bool WriteRequest(dom::element value, int depth);
  bool WriteValuesList(Field field, dom::element value, int depth);
  bool WriteStacktrace(dom::element value, int depth);
  bool WriteFingerprint(dom::element value, int depth);
  // `logentry` from an object (its fields checked), or `{"formatted": ..}`
  // from anything else (a bare string, or the JSON text of a number...).
  bool WriteLogentry(dom::element value, int depth);
  // The `_meta` member: the notes of this walk as Relay's meta tree, merged
  // with the client's `_meta` (`existing`, may be null) at the top level.
  bool WriteMeta(const dom::element* existing, int depth);
  // The `errors` member: the client's list (`existing`, may be null) with
  // one entry per note appended.
  bool WriteErrors(const dom::element* existing, int depth);

  // Error paths stay out of line so the hot loops keep small frames.
  [[gnu::noinline, gnu::cold]] bool Fail(absl::Status status) {
    error_ = std::move(status);
    return false;
  }

 private:
  [[gnu::noinline, gnu::cold]] bool TooDeep() {
    return Fail(BadRequest(absl::StrCat("invalid_json: nested deeper than ",
                                        Normalizer::kMaxDepth, " levels")));
  }
  [[gnu::noinline, gnu::cold]] bool UnknownType() {
    return Fail(absl::InternalError("normalize: unknown JSON element type"));
  }
  // Writes `key: client_ip` for a `{{auto}}` value, or nothing when the
  // relay does not know the address.
  void WriteAutoIp(std::string_view key) {
    if (opts_.client_ip.empty() || scrub_ip_) return;
    w_.Key(key);
    w_.String(opts_.client_ip);
  }
  bool WriteHeaders(dom::element value, int depth);
  // One header value (a string, a list of parts, a number...), coerced as
  // Relay's HeaderValue; `path` names it in notes. False only on errors.
  bool WriteHeaderValue(std::string_view name, dom::element value,
                        std::vector<std::string> path, bool omit_removed,
                        int depth);
  // A member of user (id, username) read as a LenientString.
  bool WriteLenientMember(std::string_view key, dom::element value,
                          std::string_view parent, int depth);
  bool WriteEnv(dom::element value, int depth);
  // The items of exception, threads or breadcrumbs; `prefix` is the path
  // of the list in notes ("exception", "values").
  bool WriteItems(Field field, const std::vector<std::string>& prefix,
                  dom::array items, int depth);
  // One of them (`item` at `depth`).
  bool WriteItem(Field field, const std::vector<std::string>& prefix,
                 size_t index, dom::element item, int depth);
  // A `stacktrace` member at `path`: written, or removed with a note.
  bool WriteStacktraceMember(std::string_view key, dom::element value,
                             std::vector<std::string> path, int depth);

  // Scrubbing (only reached when scrubs()). What the key rules say about
  // one key inside a scrubbed subtree.
  enum class Verdict : uint8_t { kSafe, kFilter, kDescend };
  Verdict Judge(std::string_view key) const {
    if (IsSafeKey(*scrub_, key)) return Verdict::kSafe;
    if (IsSensitiveKey(*scrub_, key) || (in_headers_ && IsCookieHeader(key))) {
      return Verdict::kFilter;
    }
    return Verdict::kDescend;
  }
  [[gnu::noinline]] bool ScrubMember(std::string_view key, dom::element value,
                                     int depth);
  // The value of a key judged kSafe or kFilter (kDescend: WriteValue).
  bool WriteJudged(Verdict verdict, dom::element value, int depth);
  // "[Filtered]" in place of `value` (null stays null).
  bool WriteMask(dom::element value, int depth);
  // A list of [name, value] pairs, the name judged like a key.
  bool WritePairsScrubbed(dom::array pairs, int depth);
  // `request.data` and `request.query_string`: a string is read as a query
  // string, anything else is a scrubbed subtree.
  bool WriteFormScrubbed(std::string_view key, dom::element value, int depth);
  // A stacktrace whose frames' `vars` are scrubbed.
  bool WriteStacktraceScrubbed(std::string_view key, dom::element value,
                               int depth);

  const NormalizeOptions& opts_;
  Notes& notes_;
  JsonBufferWriter w_;
  absl::Status error_;
  // The project's settings when it scrubs data, else null.
  const ScrubConfig* scrub_;
  bool scrub_ip_;
  // Inside a scrubbed subtree: every member goes through ScrubMember and
  // every string is checked for card numbers.
  bool scrubbing_ = false;
  // Inside request.headers: the Cookie rule applies too.
  bool in_headers_ = false;
  // Holds a rewritten query string; grows only when one needs rewriting.
  std::string scratch_;
  // Holds a header value joined from a list of parts.
  std::string header_scratch_;
};

bool Rewriter::WriteValue(dom::element value, int depth) {
  switch (value.type()) {
    case Type::OBJECT:
      return WriteObject(value, depth);
    case Type::ARRAY:
      return WriteArray(value, depth);
    case Type::STRING: {
      const std::string_view s = value.get_string().value_unsafe();
      if (scrubbing_ && ContainsCardNumber(s)) [[unlikely]] {
        w_.String(kFilteredMask);
      } else {
        w_.String(s);
      }
      return true;
    }
    case Type::INT64:
      w_.Int(value.get_int64().value_unsafe());
      return true;
    case Type::UINT64:
      w_.Uint(value.get_uint64().value_unsafe());
      return true;
    case Type::DOUBLE:
      w_.Double(value.get_double().value_unsafe());
      return true;
    case Type::BOOL:
      w_.Bool(value.get_bool().value_unsafe());
      return true;
    case Type::NULL_VALUE:
      w_.Null();
      return true;
  }
  return UnknownType();
}

bool Rewriter::WriteObject(dom::element value, int depth) {
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  w_.BeginObject();
  for (dom::key_value_pair member : AsObject(value)) {
    if (!VisitMember(member.key, member.value, depth + 1)) return false;
  }
  w_.EndObject();
  return true;
}

bool Rewriter::WriteArray(dom::element value, int depth) {
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  w_.BeginArray();
  for (dom::element item : AsArray(value)) {
    if (!WriteValue(item, depth + 1)) return false;
  }
  w_.EndArray();
  return true;
}

bool Rewriter::WriteLenientMember(std::string_view key, dom::element value,
                                  std::string_view parent, int depth) {
  std::array<char, 32> buf;
  const Lenient l = ToLenientString(value, buf);
  if (value.type() == Type::STRING || value.type() == Type::NULL_VALUE) {
    return VisitMember(key, value, depth);  // as sent (and as scrubbed)
  }
  if (l.kind == Lenient::kRemoved) {
    notes_.Add({std::string(parent), std::string(key)}, "invalid_data",
               l.reason, &value);
    return true;
  }
  w_.Key(key);
  w_.String(l.text);
  return true;
}

bool Rewriter::WriteUser(dom::element value, int depth) {
  w_.Key("user");
  if (value.type() != Type::OBJECT) return WriteValue(value, depth);
  w_.BeginObject();
  for (dom::key_value_pair m : AsObject(value)) {
    if (m.key == "id" || m.key == "username") {
      // Relay reads both as LenientString: SDKs send numeric ids
      // (`"id": 1234`), and the UI and search key on text.
      if (!WriteLenientMember(m.key, m.value, "user", depth + 1)) {
        return false;
      }
      continue;
    } else if (m.key == "ip_address" && (scrub_ip_ || IsAuto(m.value))) {
      WriteAutoIp(m.key);  // nothing when IP addresses are scrubbed
      continue;
    } else if (m.key == "data" && scrubs()) {
      if (!VisitScrubbed(m.key, m.value, depth + 1)) return false;
      continue;
    }
    if (!VisitMember(m.key, m.value, depth + 1)) return false;
  }
  w_.EndObject();
  return true;
}

bool Rewriter::WriteRequest(dom::element value, int depth) {
  w_.Key("request");
  if (value.type() != Type::OBJECT) return WriteValue(value, depth);
  w_.BeginObject();
  for (dom::key_value_pair m : AsObject(value)) {
    if (m.key == "headers") {
      if (!WriteHeaders(m.value, depth + 1)) return false;
    } else if (m.key == "env" && m.value.type() == Type::OBJECT) {
      if (!WriteEnv(m.value, depth + 1)) return false;
    } else if (scrubs() && m.key == "env") {
      if (!VisitScrubbed(m.key, m.value, depth + 1)) return false;
    } else if (scrubs() && m.key == "cookies") {
      // Cookies carry session ids whatever their names: all or nothing.
      w_.Key(m.key);
      if (!WriteMask(m.value, depth + 1)) return false;
    } else if (scrubs() && (m.key == "data" || m.key == "query_string")) {
      if (!WriteFormScrubbed(m.key, m.value, depth + 1)) return false;
    } else if (!VisitMember(m.key, m.value, depth + 1)) {
      return false;
    }
  }
  w_.EndObject();
  return true;
}

// Relay's Headers are a PairList: an object or a list of [name, value]
// pairs, both common (sentry-php and the .NET SDK send lists; Sentry's own
// canonical form is a list). We keep the form the client used.
bool Rewriter::WriteHeaders(dom::element value, int depth) {
  switch (value.type()) {
    case Type::NULL_VALUE:
      w_.Key("headers");
      w_.Null();
      return true;
    case Type::OBJECT: {
      if (depth > Normalizer::kMaxDepth) return TooDeep();
      w_.Key("headers");
      w_.BeginObject();
      for (dom::key_value_pair h : AsObject(value)) {
        if (!WriteHeaderValue(h.key, h.value,
                              {"request", "headers", std::string(h.key)},
                              /*omit_removed=*/true, depth + 1)) {
          return false;
        }
      }
      w_.EndObject();
      return true;
    }
    case Type::ARRAY: {
      if (depth > Normalizer::kMaxDepth) return TooDeep();
      if (depth + 1 > Normalizer::kMaxDepth) return TooDeep();
      w_.Key("headers");
      w_.BeginArray();
      size_t i = 0;
      for (dom::element pair : AsArray(value)) {
        dom::element name, second;
        size_t n = 0;
        if (pair.type() == Type::ARRAY) {
          for (dom::element part : AsArray(pair)) {
            if (n == 0) name = part;
            if (n == 1) second = part;
            ++n;
          }
        }
        if (n != 2) {
          // Relay: a pair is a 2-tuple; anything else is removed.
          notes_.Add({"request", "headers", Index(i)}, "invalid_data",
                     "expected a tuple", &pair);
        } else if (name.type() != Type::STRING) {
          notes_.Add({"request", "headers", Index(i), "0"}, "invalid_data",
                     "expected a string", &name);
        } else {
          const std::string_view key = name.get_string().value_unsafe();
          w_.BeginArray();
          w_.String(key);
          if (!WriteHeaderValue(key, second,
                                {"request", "headers", Index(i), "1"},
                                /*omit_removed=*/false, depth + 2)) {
            return false;
          }
          w_.EndArray();
        }
        ++i;
      }
      w_.EndArray();
      return true;
    }
    default:
      notes_.Add({"request", "headers"}, "invalid_data", "expected an array",
                 &value);
      return true;
  }
}

bool Rewriter::WriteHeaderValue(std::string_view name, dom::element value,
                                std::vector<std::string> path,
                                bool omit_removed, int depth) {
  std::array<char, 32> buf;
  std::string_view text;
  bool is_null = false;
  if (value.type() == Type::ARRAY) {
    // Relay's HeaderValue joins a list of parts with ","  (the HTTP rule for
    // repeated headers): `"Accept": ["a", "b"]` is `"a,b"`. Parts that are
    // not text are left out, with a note.
    header_scratch_.clear();
    for (dom::element part : AsArray(value)) {
      const Lenient l = ToLenientString(part, buf);
      if (l.kind == Lenient::kRemoved) {
        notes_.Add(path, "invalid_data", l.reason, &part);
        continue;
      }
      if (l.kind == Lenient::kNull) continue;
      if (!header_scratch_.empty()) header_scratch_.push_back(',');
      header_scratch_.append(l.text);
    }
    text = header_scratch_;
  } else {
    const Lenient l = ToLenientString(value, buf);
    if (l.kind == Lenient::kRemoved) {
      notes_.Add(std::move(path), "invalid_data", l.reason, &value);
      if (omit_removed) return true;
      w_.Null();  // the pair stays, as in Relay, its value gone
      return true;
    }
    is_null = l.kind == Lenient::kNull;
    text = l.text;
  }
  if (omit_removed) w_.Key(name);
  if (!scrubs()) {
    is_null ? w_.Null() : w_.String(text);
    return true;
  }
  // The scrubbing rules of request.headers (S5): the header name is judged
  // like a key, with the Cookie rule on.
  in_headers_ = true;
  const Verdict verdict = Judge(name);
  in_headers_ = false;
  if (is_null) {
    w_.Null();  // null hides nothing
  } else if (verdict == Verdict::kFilter ||
             (verdict == Verdict::kDescend && ContainsCardNumber(text))) {
    w_.String(kFilteredMask);
  } else {
    w_.String(text);
  }
  (void)depth;
  return true;
}

bool Rewriter::WriteEnv(dom::element value, int depth) {
  w_.Key("env");
  w_.BeginObject();
  scrubbing_ = scrubs();
  for (dom::key_value_pair m : AsObject(value)) {
    if (m.key == "REMOTE_ADDR" && (scrub_ip_ || IsAuto(m.value))) {
      WriteAutoIp(m.key);  // nothing when IP addresses are scrubbed
    } else if (!VisitMember(m.key, m.value, depth + 1)) {
      return false;
    }
  }
  scrubbing_ = false;
  w_.EndObject();
  return true;
}

// exception, threads and breadcrumbs are Relay's Values<T>:
// `{"values": [...]}` (what current SDKs send), a bare list (older SDKs),
// or a single item object on its own, which Relay wraps in a list. An
// empty object means "none".
bool Rewriter::WriteValuesList(Field field, dom::element value, int depth) {
  const std::string_view name = kFieldNames[static_cast<int>(field)];
  switch (value.type()) {
    case Type::NULL_VALUE:
      w_.Key(name);
      w_.Null();
      return true;
    case Type::ARRAY:
      w_.Key(name);
      return WriteItems(field, {std::string(name)}, AsArray(value), depth);
    case Type::OBJECT: {
      dom::object obj = AsObject(value);
      if (obj.begin() == obj.end()) return true;  // {}: Relay's "none"
      auto values = obj.at_key("values");
      if (values.error()) {
        // One item on its own: `{"exception": {"type": "E"}}`.
        if (depth + 2 > Normalizer::kMaxDepth) return TooDeep();
        w_.Key(name);
        w_.BeginObject();
        w_.Key("values");
        w_.BeginArray();
        if (!WriteItem(field, {std::string(name), "values"}, 0, value,
                       depth + 2)) {
          return false;
        }
        w_.EndArray();
        w_.EndObject();
        return true;
      }
      if (depth > Normalizer::kMaxDepth) return TooDeep();
      w_.Key(name);
      w_.BeginObject();
      for (dom::key_value_pair m : obj) {
        if (m.key != "values") {
          if (!VisitMember(m.key, m.value, depth + 1)) return false;
        } else if (m.value.type() == Type::ARRAY) {
          w_.Key(m.key);
          if (!WriteItems(field, {std::string(name), "values"},
                          AsArray(m.value), depth + 1)) {
            return false;
          }
        } else if (m.value.type() == Type::NULL_VALUE) {
          w_.Key(m.key);
          w_.Null();
        } else {
          // Null in its place, not left out: an object without `values`
          // would be read as one item on its own by the next reader.
          notes_.Add({std::string(name), "values"}, "invalid_data",
                     "expected an array", &m.value);
          w_.Key(m.key);
          w_.Null();
        }
      }
      w_.EndObject();
      return true;
    }
    default:
      notes_.Add({std::string(name)}, "invalid_data",
                 "expected a list or values object", &value);
      return true;
  }
}

bool Rewriter::WriteItems(Field field, const std::vector<std::string>& prefix,
                          dom::array items, int depth) {
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  w_.BeginArray();
  size_t index = 0;
  for (dom::element item : items) {
    if (!WriteItem(field, prefix, index, item, depth + 1)) return false;
    ++index;
  }
  w_.EndArray();
  return true;
}

bool Rewriter::WriteItem(Field field, const std::vector<std::string>& prefix,
                         size_t index, dom::element item, int depth) {
  // Only exceptions and threads carry stacktraces, and only breadcrumbs'
  // data is scrubbed: breadcrumbs of an unscrubbed event are copied.
  const bool has_stacktraces =
      field == Field::kException || field == Field::kThreads;
  if (item.type() != Type::OBJECT || (!has_stacktraces && !scrubs())) {
    return WriteValue(item, depth);
  }
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  auto path = [&](std::string_view key) {
    std::vector<std::string> p = prefix;
    p.push_back(Index(index));
    p.emplace_back(key);
    return p;
  };
  w_.BeginObject();
  for (dom::key_value_pair m : AsObject(item)) {
    bool ok = true;
    if (has_stacktraces && m.key == "stacktrace") {
      ok = WriteStacktraceMember(m.key, m.value, path(m.key), depth + 1);
    } else if (field == Field::kException &&
               m.key == "sentry.interfaces.Stacktrace") [[unlikely]] {
      // Relay's legacy alias of Exception.stacktrace: written under the
      // current name, unless that is there too (it wins).
      if (AsObject(item).at_key("stacktrace").error() != simdjson::SUCCESS) {
        ok = WriteStacktraceMember("stacktrace", m.value, path("stacktrace"),
                                   depth + 1);
      }
    } else if (field == Field::kException && m.key == "value" &&
               m.value.type() != Type::STRING &&
               m.value.type() != Type::NULL_VALUE) {
      // Relay's Exception.value is a JsonLenientString: `"value": 42` is
      // the text "42", so the title and grouping still see it.
      w_.Key(m.key);
      w_.String(JsonText(m.value));
    } else if (field == Field::kException && m.key == "type" &&
               m.value.type() != Type::STRING &&
               m.value.type() != Type::NULL_VALUE) {
      notes_.Add(path(m.key), "invalid_data", "expected a string", &m.value);
    } else if (field == Field::kBreadcrumbs && m.key == "data") {
      ok = VisitScrubbed(m.key, m.value, depth + 1);  // only when scrubs()
    } else {
      ok = VisitMember(m.key, m.value, depth + 1);
    }
    if (!ok) return false;
  }
  w_.EndObject();
  return true;
}

bool Rewriter::WriteStacktraceMember(std::string_view key, dom::element value,
                                     std::vector<std::string> path, int depth) {
  const StackShape shape = ShapeOf(value);
  if (shape != StackShape::kOk && shape != StackShape::kNull) {
    // Relay keeps the exception (its type and value still group it) and
    // drops what it cannot read of the stacktrace; without frames nothing
    // is left that grouping or the UI use, so the member goes.
    NoteStacktrace(notes_, std::move(path), shape, value);
    return true;
  }
  if (scrubs()) return WriteStacktraceScrubbed(key, value, depth);
  return VisitMember(key, value, depth);
}

bool Rewriter::WriteStacktrace(dom::element value, int depth) {
  return WriteStacktraceMember("stacktrace", value, {"stacktrace"}, depth);
}

// Relay's Fingerprint: a list of LenientStrings. Numbers and booleans
// become text (so `["celery", 123]` groups by "celery" + "123"), nulls are
// skipped, and entries that are not text (objects, lists) are removed with
// one note listing them. Nothing left but removed entries: the fingerprint
// goes, and the default grouping applies.
bool Rewriter::WriteFingerprint(dom::element value, int depth) {
  switch (value.type()) {
    case Type::NULL_VALUE:
      return VisitMember("fingerprint", value, depth);
    case Type::ARRAY:
      break;
    default:
      notes_.Add({"fingerprint"}, "invalid_data", "expected an array", &value);
      return true;
  }
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  std::array<char, 32> buf;
  size_t kept = 0, removed = 0;
  for (dom::element part : AsArray(value)) {
    const Lenient l = ToLenientString(part, buf);
    kept += l.kind == Lenient::kText;
    removed += l.kind == Lenient::kRemoved;
  }
  if (removed > 0) {
    std::string bad;
    JsonWriter bw(&bad);
    bw.BeginArray();
    bool usable = true;
    for (dom::element part : AsArray(value)) {
      if (ToLenientString(part, buf).kind == Lenient::kRemoved) {
        usable = usable && AppendJson(part, 2, bw);
      }
    }
    bw.EndArray();
    if (!usable) bad.clear();
    notes_.AddText({"fingerprint"}, "invalid_data",
                   "expected a primitive value", std::move(bad));
    if (kept == 0) return true;
  }
  w_.Key("fingerprint");
  w_.BeginArray();
  for (dom::element part : AsArray(value)) {
    const Lenient l = ToLenientString(part, buf);
    if (l.kind == Lenient::kText) w_.String(l.text);
  }
  w_.EndArray();
  return true;
}

// One message parameter as text, for FormatMessage: strings as they are,
// integers in decimal. Anything else fails the formatting (Relay's
// formatter prints Rust's rendering of floats, bools and containers, which
// nothing we know of depends on).
bool AppendParam(dom::element v, std::string* out) {
  switch (v.type()) {
    case Type::STRING:
      out->append(v.get_string().value_unsafe());
      return true;
    case Type::INT64:
      absl::StrAppend(out, v.get_int64().value_unsafe());
      return true;
    case Type::UINT64:
      absl::StrAppend(out, v.get_uint64().value_unsafe());
      return true;
    default:
      return false;
  }
}

bool IsWordChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Relay's normalize_logentry formats `message` with `params` when the
// client sent no `formatted`: Python's % style when the message holds a
// '%' (`%s`, `%d`, `%i`, `%%`, `%(name)s`), else the curly style when it
// holds a '{' (`{}`, `{0}`, `{name}`). Positional placeholders read a list,
// named ones an object. Returns nullopt where Relay's formatter fails (a
// missing parameter, the wrong container) and for what this subset does
// not cover (flags, widths, other conversions, non-scalar values): the
// message then stands as the formatted text, as in Relay's failure path.
std::optional<std::string> FormatMessage(std::string_view message,
                                         dom::element params) {
  const bool list = params.type() == Type::ARRAY;
  const bool object = params.type() == Type::OBJECT;
  auto by_index = [&](size_t i, std::string* out) {
    if (!list) return false;
    dom::element v;
    if (params.get_array().value_unsafe().at(i).get(v) != simdjson::SUCCESS) {
      return false;
    }
    return AppendParam(v, out);
  };
  auto by_key = [&](std::string_view key, std::string* out) {
    if (!object) return false;
    dom::element v;
    if (params.get_object().value_unsafe().at_key(key).get(v) !=
        simdjson::SUCCESS) {
      return false;
    }
    return AppendParam(v, out);
  };
  std::string out;
  size_t next = 0;
  if (message.find('%') != std::string_view::npos) {
    for (size_t i = 0; i < message.size(); ++i) {
      if (message[i] != '%') {
        out.push_back(message[i]);
        continue;
      }
      if (++i >= message.size()) return std::nullopt;
      if (message[i] == '%') {
        out.push_back('%');
        continue;
      }
      std::string_view name;
      if (message[i] == '(') {
        const size_t close = message.find(')', i);
        if (close == std::string_view::npos) return std::nullopt;
        name = message.substr(i + 1, close - i - 1);
        i = close + 1;
        if (i >= message.size()) return std::nullopt;
      }
      const char conv = message[i];
      const bool numeric = conv == 'd' || conv == 'i';
      if (conv != 's' && !numeric) return std::nullopt;
      const size_t mark = out.size();
      const bool ok =
          name.empty() ? by_index(next++, &out) : by_key(name, &out);
      if (!ok) return std::nullopt;
      if (numeric) {
        // Python's %d of a string raises; so does Relay's formatter.
        std::string_view digits(out.data() + mark, out.size() - mark);
        if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
        if (digits.empty() ||
            !std::all_of(digits.begin(), digits.end(), [](char c) {
              return absl::ascii_isdigit(static_cast<unsigned char>(c));
            })) {
          return std::nullopt;
        }
      }
    }
    return out;
  }
  if (message.find('{') == std::string_view::npos) return std::nullopt;
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] != '{') {
      out.push_back(message[i]);
      continue;
    }
    size_t j = i + 1;
    while (j < message.size() && IsWordChar(message[j])) ++j;
    if (j >= message.size() || message[j] != '}') return std::nullopt;
    const std::string_view key = message.substr(i + 1, j - i - 1);
    bool ok;
    if (key.empty()) {
      ok = by_index(next++, &out);
    } else if (std::all_of(key.begin(), key.end(), [](char c) {
                 return absl::ascii_isdigit(static_cast<unsigned char>(c));
               })) {
      size_t index = 0;
      ok = absl::SimpleAtoi(ToAbsl(key), &index) && by_index(index, &out);
    } else {
      ok = by_key(key, &out);
    }
    if (!ok) return std::nullopt;
    i = j;
  }
  return out;
}

// Relay's LogEntry: from an object, `message` and `formatted` must be
// strings and `params` a list or an object (else each is removed with a
// note); any other value is the legacy form and becomes `formatted`:
// a string as is, anything else as its JSON text (Relay's
// JsonLenientString). Then Relay's normalize_logentry: without a
// `formatted`, `message` is formatted with `params` (FormatMessage); a
// `message` that stays alone, or equals `formatted`, becomes `formatted`
// (written in its place, the message dropped).
bool Rewriter::WriteLogentry(dom::element value, int depth) {
  w_.Key("logentry");
  if (value.type() != Type::OBJECT) {
    w_.BeginObject();
    w_.Key("formatted");
    if (value.type() == Type::STRING) {
      w_.String(value.get_string().value_unsafe());
    } else {
      w_.String(JsonText(value));
    }
    w_.EndObject();
    return true;
  }
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  std::optional<std::string_view> message, formatted;
  std::optional<dom::element> params;
  for (dom::key_value_pair m : AsObject(value)) {
    const Type t = m.value.type();
    if (m.key == "message" && t == Type::STRING && !message) {
      message = m.value.get_string().value_unsafe();
    } else if (m.key == "formatted" && t == Type::STRING && !formatted) {
      formatted = m.value.get_string().value_unsafe();
    } else if (m.key == "params" && (t == Type::ARRAY || t == Type::OBJECT) &&
               !params) {
      params = m.value;
    }
  }
  std::optional<std::string> computed;
  if (message && !formatted && params) {
    computed = FormatMessage(*message, *params);
  }
  const bool move = message && ((!formatted && !computed) ||
                                (formatted && *formatted == *message));
  bool message_done = false, formatted_done = false;
  w_.BeginObject();
  for (dom::key_value_pair m : AsObject(value)) {
    const Type t = m.value.type();
    if (m.key == "message" && t == Type::STRING && !message_done) {
      message_done = true;
      if (move) {
        w_.Key("formatted");
        w_.String(*message);
        continue;
      }
      w_.Key("message");
      w_.String(*message);
      if (computed) {
        w_.Key("formatted");
        w_.String(*computed);
      }
      continue;
    }
    if (m.key == "formatted" && t == Type::STRING && !formatted_done) {
      formatted_done = true;
      if (move) continue;  // the message, equal to it, took its role
      w_.Key("formatted");
      w_.String(*formatted);
      continue;
    }
    if ((m.key == "message" || m.key == "formatted") && t != Type::STRING &&
        t != Type::NULL_VALUE) {
      notes_.Add({"logentry", std::string(m.key)}, "invalid_data",
                 "expected a string", &m.value);
    } else if (m.key == "params" && t != Type::OBJECT && t != Type::ARRAY &&
               t != Type::NULL_VALUE) {
      notes_.Add({"logentry", "params"}, "invalid_data",
                 "expected message parameters", &m.value);
    } else if (!VisitMember(m.key, m.value, depth + 1)) {
      return false;
    }
  }
  w_.EndObject();
  return true;
}

void WriteErr(JsonBufferWriter& w, const MetaNote& n) {
  if (n.reason.empty()) {
    w.String(n.kind);
    return;
  }
  w.BeginArray();
  w.String(n.kind);
  w.BeginObject();
  w.Key("reason");
  w.String(n.reason);
  w.EndObject();
  w.EndArray();
}

// The meta tree of notes [begin, end), which share their first `level`
// path segments and are sorted by path: Relay's layout, where the node of
// a field holds its children by key and its own meta under "".
void WriteMetaNode(JsonBufferWriter& w, const MetaNote* begin,
                   const MetaNote* end, size_t level) {
  w.BeginObject();
  const MetaNote* it = begin;
  if (it != end && it->path.size() == level) {
    w.Key("");
    w.BeginObject();
    w.Key("err");
    w.BeginArray();
    const MetaNote* value = nullptr;
    for (; it != end && it->path.size() == level; ++it) {
      WriteErr(w, *it);
      if (value == nullptr && !it->value.empty()) value = it;
    }
    w.EndArray();
    if (value != nullptr) {
      w.Key("val");
      w.Raw(value->value);
    }
    w.EndObject();
  }
  while (it != end) {
    const std::string& key = it->path[level];
    const MetaNote* group_end = it;
    while (group_end != end && group_end->path[level] == key) ++group_end;
    w.Key(key);
    WriteMetaNode(w, it, group_end, level + 1);
    it = group_end;
  }
  w.EndObject();
}

bool Rewriter::WriteMeta(const dom::element* existing, int depth) {
  std::vector<MetaNote>& notes = notes_.list();
  if (notes.empty()) {
    return existing == nullptr || VisitMember("_meta", *existing, depth);
  }
  std::stable_sort(
      notes.begin(), notes.end(),
      [](const MetaNote& a, const MetaNote& b) { return a.path < b.path; });
  w_.Key("_meta");
  // The client's top-level entries we have nothing to say about are kept
  // as sent (sentry-python sends `_meta` for what it trimmed, usually
  // breadcrumbs); for the others ours replace theirs: a deeper merge is not
  // worth its code for a field that rarely has both.
  if (existing != nullptr && existing->type() == Type::OBJECT) {
    if (depth > Normalizer::kMaxDepth) return TooDeep();
    w_.BeginObject();
    for (dom::key_value_pair m : AsObject(*existing)) {
      bool ours = false;
      for (const MetaNote& n : notes) ours = ours || n.path[0] == m.key;
      if (!ours && !VisitMember(m.key, m.value, depth + 1)) return false;
    }
    // Our nodes, as members of the same object.
    std::string ours;
    {
      JsonBufferWriter tmp(&ours, 256);
      WriteMetaNode(tmp, notes.data(), notes.data() + notes.size(), 0);
    }
    // Strip the braces of the nested object and splice its members in
    // (Raw writes the comma before them).
    if (ours.size() > 2) {
      w_.Raw(std::string_view(ours).substr(1, ours.size() - 2));
    }
    w_.EndObject();
    return true;
  }
  WriteMetaNode(w_, notes.data(), notes.data() + notes.size(), 0);
  return true;
}

bool Rewriter::WriteErrors(const dom::element* existing, int depth) {
  const std::vector<MetaNote>& notes = notes_.list();
  if (notes.empty()) {
    return existing == nullptr || VisitMember("errors", *existing, depth);
  }
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  w_.Key("errors");
  w_.BeginArray();
  if (existing != nullptr && existing->type() == Type::ARRAY) {
    for (dom::element e : AsArray(*existing)) {
      if (!WriteValue(e, depth + 1)) return false;
    }
  }
  // Relay's EventProcessingError: type, name (the dotted path), value.
  for (const MetaNote& n : notes) {
    w_.BeginObject();
    w_.Key("type");
    w_.String(n.kind);
    w_.Key("name");
    w_.String(absl::StrJoin(n.path, "."));
    if (!n.reason.empty()) {
      w_.Key("reason");
      w_.String(n.reason);
    }
    if (!n.value.empty()) {
      w_.Key("value");
      w_.Raw(n.value);
    }
    w_.EndObject();
  }
  w_.EndArray();
  return true;
}

// ---------------------------------------------------------------------------
// Data scrubbing (docs/event-normalization.md, "Data scrubbing").

// Nesting deeper than kMaxDepth anywhere in `value` (at `depth`). simdjson
// admits one level more than the writer does; a masked subtree must not
// make an event acceptable that the unscrubbed walk would reject.
bool NestsTooDeep(dom::element value, int depth) {
  switch (value.type()) {
    case Type::OBJECT:
      if (depth > Normalizer::kMaxDepth) return true;
      for (dom::key_value_pair m : AsObject(value)) {
        if (NestsTooDeep(m.value, depth + 1)) return true;
      }
      return false;
    case Type::ARRAY:
      if (depth > Normalizer::kMaxDepth) return true;
      for (dom::element item : AsArray(value)) {
        if (NestsTooDeep(item, depth + 1)) return true;
      }
      return false;
    default:
      return false;
  }
}

bool Rewriter::WriteMask(dom::element value, int depth) {
  switch (value.type()) {
    case Type::NULL_VALUE:
      // null hides nothing, and keeps "not set" distinct from "set".
      w_.Null();
      return true;
    case Type::OBJECT:
    case Type::ARRAY:
      if (NestsTooDeep(value, depth)) return TooDeep();
      break;
    default:
      break;
  }
  w_.String(kFilteredMask);
  return true;
}

bool Rewriter::VisitScrubbed(std::string_view key, dom::element value,
                             int depth) {
  w_.Key(key);
  scrubbing_ = true;
  const bool ok = WriteValue(value, depth);
  scrubbing_ = false;
  return ok;
}

bool Rewriter::WriteJudged(Verdict verdict, dom::element value, int depth) {
  if (verdict == Verdict::kFilter) return WriteMask(value, depth);
  if (verdict == Verdict::kSafe) {
    // A safe key exempts its whole value, nested keys and card numbers
    // included: it is how a project says "this is not a secret".
    const bool was = scrubbing_;
    const bool was_headers = in_headers_;
    scrubbing_ = false;
    in_headers_ = false;
    const bool ok = WriteValue(value, depth);
    scrubbing_ = was;
    in_headers_ = was_headers;
    return ok;
  }
  return WriteValue(value, depth);
}

bool Rewriter::ScrubMember(std::string_view key, dom::element value,
                           int depth) {
  w_.Key(key);
  const Verdict verdict = Judge(key);
  if (verdict == Verdict::kDescend) {
    // Members below a header name are not headers.
    const bool was_headers = in_headers_;
    in_headers_ = false;
    const bool ok = WriteValue(value, depth);
    in_headers_ = was_headers;
    return ok;
  }
  return WriteJudged(verdict, value, depth);
}

bool Rewriter::WritePairsScrubbed(dom::array pairs, int depth) {
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  w_.BeginArray();
  for (dom::element pair : pairs) {
    // [name, value] with a string name; anything else is plain data.
    bool is_pair = pair.type() == Type::ARRAY;
    dom::element name, second;
    if (is_pair) {
      size_t n = 0;
      for (dom::element part : AsArray(pair)) {
        if (n == 0) name = part;
        if (n == 1) second = part;
        ++n;
      }
      is_pair = n == 2 && name.type() == Type::STRING;
    }
    if (!is_pair) {
      if (!WriteValue(pair, depth + 1)) return false;
      continue;
    }
    if (depth + 1 > Normalizer::kMaxDepth) return TooDeep();
    const std::string_view key = name.get_string().value_unsafe();
    w_.BeginArray();
    w_.String(key);
    const Verdict verdict = Judge(key);
    const bool was_headers = in_headers_;
    in_headers_ = false;
    const bool ok = verdict == Verdict::kDescend
                        ? WriteValue(second, depth + 2)
                        : WriteJudged(verdict, second, depth + 2);
    in_headers_ = was_headers;
    if (!ok) return false;
    w_.EndArray();
  }
  w_.EndArray();
  return true;
}

// Calls fn(pair, is_last) for each `&`-separated piece of a query string,
// empty pieces included, so that joining them with `&` gives it back.
template <typename Fn>
void ForEachQueryPair(std::string_view qs, Fn&& fn) {
  size_t start = 0;
  while (start <= qs.size()) {
    size_t end = qs.find('&', start);
    if (end == std::string_view::npos) end = qs.size();
    fn(qs.substr(start, end - start), end == qs.size());
    start = end + 1;
  }
}

bool Rewriter::WriteFormScrubbed(std::string_view key, dom::element value,
                                 int depth) {
  if (value.type() == Type::ARRAY) {
    w_.Key(key);
    scrubbing_ = true;
    const bool ok = WritePairsScrubbed(AsArray(value), depth);
    scrubbing_ = false;
    return ok;
  }
  if (value.type() != Type::STRING) return VisitScrubbed(key, value, depth);
  const std::string_view qs = value.get_string().value_unsafe();
  w_.Key(key);
  if (ContainsCardNumber(qs)) {
    w_.String(kFilteredMask);
    return true;
  }
  auto masks = [this](std::string_view pair) {
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return false;
    return Judge(pair.substr(0, eq)) == Verdict::kFilter;
  };
  bool any = false;
  ForEachQueryPair(
      qs, [&](std::string_view pair, bool) { any = any || masks(pair); });
  if (!any) {
    w_.String(qs);
    return true;
  }
  scratch_.clear();
  ForEachQueryPair(qs, [&](std::string_view pair, bool last) {
    if (masks(pair)) {
      scratch_.append(pair.substr(0, pair.find('=') + 1));
      scratch_.append(kFilteredMask);
    } else {
      scratch_.append(pair);
    }
    if (!last) scratch_.push_back('&');
  });
  w_.String(scratch_);
  return true;
}

bool Rewriter::WriteStacktraceScrubbed(std::string_view key, dom::element value,
                                       int depth) {
  w_.Key(key);
  if (value.type() != Type::OBJECT) return WriteValue(value, depth);
  if (depth + 2 > Normalizer::kMaxDepth) return TooDeep();
  w_.BeginObject();
  for (dom::key_value_pair m : AsObject(value)) {
    if (m.key != "frames" || m.value.type() != Type::ARRAY) {
      if (!VisitMember(m.key, m.value, depth + 1)) return false;
      continue;
    }
    w_.Key(m.key);
    w_.BeginArray();
    for (dom::element frame : AsArray(m.value)) {
      if (frame.type() != Type::OBJECT) {
        if (!WriteValue(frame, depth + 2)) return false;
        continue;
      }
      w_.BeginObject();
      for (dom::key_value_pair f : AsObject(frame)) {
        const bool ok = f.key == "vars"
                            ? VisitScrubbed(f.key, f.value, depth + 3)
                            : VisitMember(f.key, f.value, depth + 3);
        if (!ok) return false;
      }
      w_.EndObject();
    }
    w_.EndArray();
  }
  w_.EndObject();
  return true;
}

// ---------------------------------------------------------------------------
// Pass 1: the top-level fields, decided before anything is written.

// Where the event's `logentry` comes from (rule 10 in the doc): `logentry`
// wins over the legacy `message`; a null or `false` one is "none".
enum class LogentrySource : uint8_t { kNone, kLogentry, kMessage };

// Everything the rules decide from the top-level members. Nested rules
// (user, request, stacktraces...) are applied by the Rewriter as it writes.
struct Plan {
  std::array<dom::element, kFieldCount> fields;
  uint32_t present = 0;  // bit per Field with a member, null or not
  // Legacy aliases whose field is also present under its own name: the
  // alias is dropped (the current name is what current SDKs send).
  uint32_t dropped_aliases = 0;

  static uint32_t Bit(Field f) { return 1u << static_cast<int>(f); }
  bool Has(Field f) const { return (present & Bit(f)) != 0; }
  // The member unless it is absent or null (the protocol's "not set").
  const dom::element* Get(Field f) const {
    if (!Has(f)) return nullptr;
    const dom::element& e = fields[static_cast<int>(f)];
    return e.type() == Type::NULL_VALUE ? nullptr : &e;
  }

  std::optional<EventId> payload_id;  // valid, non-nil, from the payload
  double received = 0;
  double timestamp = 0;
  Level level = Level::kError;
  std::string_view platform;
  EventType type = EventType::kDefault;
  LogentrySource logentry = LogentrySource::kNone;
  bool add_sdk = false;
};

absl::Status FindFields(dom::object top, Plan* plan) {
  for (dom::key_value_pair m : top) {
    const Field f = Classify(m.key);
    if (f == Field::kOther) continue;
    if (plan->Has(f)) {
      // Readers disagree on which duplicate wins (first or last); for a
      // field we validate, that would let a payload pass one check and mean
      // something else downstream.
      return BadRequest(
          absl::StrCat("invalid_schema: duplicate key ", ToAbsl(m.key)));
    }
    plan->present |= Plan::Bit(f);
    plan->fields[static_cast<int>(f)] = m.value;
  }
  // A legacy alias stands in for its field unless the field is there too.
  for (size_t i = static_cast<size_t>(Field::kAliasMessage); i < kFieldCount;
       ++i) {
    const Field alias = static_cast<Field>(i);
    if (!plan->Has(alias)) continue;
    const Field canonical = CanonicalOf(alias);
    if (plan->Has(canonical)) {
      plan->dropped_aliases |= Plan::Bit(alias);
    } else {
      plan->present |= Plan::Bit(canonical);
      plan->fields[static_cast<int>(canonical)] = plan->fields[i];
    }
  }
  return absl::OkStatus();
}

absl::Status DecideEventId(const Plan& plan, const NormalizeOptions& opts,
                           std::optional<EventId>* id) {
  if (const dom::element* e = plan.Get(Field::kEventId)) {
    if (e->type() != Type::STRING) {
      return BadRequest("invalid_event_id: event_id must be a string");
    }
    *id = EventId::Parse(e->get_string().value_unsafe());
    if (!*id) {
      return BadRequest(
          "invalid_event_id: event_id must be 32 hex digits or a UUID");
    }
    if ((*id)->IsNil()) id->reset();  // Sentry's "no id"
  }
  if (*id && opts.envelope_event_id && **id != *opts.envelope_event_id) {
    return BadRequest(absl::StrCat(
        "event_id_mismatch: the payload's event_id ", (*id)->ToHex(),
        " differs from the envelope's ", opts.envelope_event_id->ToHex()));
  }
  return absl::OkStatus();
}

// Relay reads a timestamp it cannot parse as "not set", with a note, and
// then uses the time it received the event; so do we.
void DecideTimestamp(const dom::element* e, double received, Notes& notes,
                     double* timestamp) {
  *timestamp = received;
  if (e == nullptr) return;
  double t = 0;
  switch (e->type()) {
    case Type::INT64:
      t = static_cast<double>(e->get_int64().value_unsafe());
      break;
    case Type::UINT64:
      t = static_cast<double>(e->get_uint64().value_unsafe());
      break;
    case Type::DOUBLE:
      t = e->get_double().value_unsafe();
      break;
    case Type::STRING: {
      const std::optional<double> parsed =
          ParseRfc3339(e->get_string().value_unsafe());
      if (!parsed) {
        notes.Add({"timestamp"}, "invalid_data", "invalid timestamp", e);
        return;
      }
      t = *parsed;
      break;
    }
    default:
      notes.Add({"timestamp"}, "invalid_data", "expected a timestamp", e);
      return;
  }
  // Relay's range: years 1 to 9999 (Python's datetime cannot hold more).
  constexpr double kMaxTimestamp = 253402300800.0;  // 10000-01-01T00:00:00Z
  if (!(t >= kMinTimestamp && t < kMaxTimestamp)) {
    notes.Add({"timestamp"}, "invalid_data", "timestamp out of range", e);
    return;
  }
  // A clock running ahead would sort the event into the future, where
  // retention and "last seen" go wrong.
  *timestamp = t - received > kMaxFutureSeconds ? received : t;
}

// Errors default to "error"; transactions to "info", as Relay does, so a
// transaction never shows up as an error-level event. Relay also reads
// Python's logging levels (10 debug, 20 info, 30 warning, 40 error,
// 50 fatal), which raven-python and logging handlers send; a level it
// cannot read is removed with a note, and the default applies.
void DecideLevel(const dom::element* e, bool is_transaction, Notes& notes,
                 Level* level) {
  *level = is_transaction ? Level::kInfo : Level::kError;
  if (e == nullptr) return;
  std::optional<Level> l;
  switch (e->type()) {
    case Type::STRING:
      l = ParseLevel(e->get_string().value_unsafe());
      if (!l) notes.Add({"level"}, "invalid_data", "invalid level", e);
      break;
    case Type::INT64:
    case Type::UINT64: {
      const bool neg =
          e->type() == Type::INT64 && e->get_int64().value_unsafe() < 0;
      const uint64_t n =
          neg ? 0
              : (e->type() == Type::INT64
                     ? static_cast<uint64_t>(e->get_int64().value_unsafe())
                     : e->get_uint64().value_unsafe());
      switch (n) {
        case 10:
          l = Level::kDebug;
          break;
        case 20:
          l = Level::kInfo;
          break;
        case 30:
          l = Level::kWarning;
          break;
        case 40:
          l = Level::kError;
          break;
        case 50:
          l = Level::kFatal;
          break;
        default:
          notes.Add({"level"}, "invalid_data", {}, e);
          break;
      }
      break;
    }
    default:
      notes.Add({"level"}, "invalid_data", "expected a level", e);
      break;
  }
  if (l) *level = *l;
}

EventType DecideType(const Plan& plan, bool is_transaction) {
  if (is_transaction) return EventType::kTransaction;
  if (const dom::element* e = plan.Get(Field::kType);
      e && e->type() == Type::STRING) {
    if (std::optional<EventType> t =
            ParseClientType(e->get_string().value_unsafe())) {
      return *t;
    }
  }
  const dom::element* exception = plan.Get(Field::kException);
  return exception && HasExceptionValues(*exception) ? EventType::kError
                                                     : EventType::kDefault;
}

// `false` is Relay's other "none" for a logentry (old SDKs sent
// `"message": false`).
bool IsNoLogentry(const dom::element* e) {
  return e == nullptr ||
         (e->type() == Type::BOOL && !e->get_bool().value_unsafe());
}

LogentrySource DecideLogentry(const Plan& plan) {
  if (!IsNoLogentry(plan.Get(Field::kLogentry))) {
    return LogentrySource::kLogentry;
  }
  if (!IsNoLogentry(plan.Get(Field::kMessage))) {
    return LogentrySource::kMessage;
  }
  return LogentrySource::kNone;
}

absl::Status MakePlan(dom::object top, const NormalizeOptions& opts,
                      Notes& notes, Plan* plan) {
  TERN_RETURN_IF_ERROR(FindFields(top, plan));
  TERN_RETURN_IF_ERROR(DecideEventId(*plan, opts, &plan->payload_id));
  // ToUnixMicros saturates, so even absl::InfiniteFuture stays finite.
  plan->received = static_cast<double>(absl::ToUnixMicros(opts.received)) / 1e6;
  DecideTimestamp(plan->Get(Field::kTimestamp), plan->received, notes,
                  &plan->timestamp);
  DecideLevel(plan->Get(Field::kLevel), opts.is_transaction, notes,
              &plan->level);
  plan->platform =
      plan->Has(Field::kPlatform)
          ? CanonicalPlatform(plan->fields[static_cast<int>(Field::kPlatform)])
          : std::string_view("other");
  plan->type = DecideType(*plan, opts.is_transaction);
  plan->logentry = DecideLogentry(*plan);
  plan->add_sdk =
      !opts.sentry_client.empty() && plan->Get(Field::kSdk) == nullptr;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Pass 2: the top-level object, written by the plan.

// `"sdk": {"name": ..., "version": ...}` from "name/version".
void WriteSdk(JsonBufferWriter& w, std::string_view sentry_client) {
  const size_t slash = sentry_client.find('/');
  w.Key("sdk");
  w.BeginObject();
  w.Key("name");
  w.String(sentry_client.substr(0, slash));
  w.Key("version");
  w.String(slash == std::string_view::npos ? std::string_view()
                                           : sentry_client.substr(slash + 1));
  w.EndObject();
}

bool WriteTopLevel(dom::object top, const Plan& plan, const EventId& id,
                   const NormalizeOptions& opts, Rewriter& rw) {
  char id_hex[32];
  id.WriteHex(id_hex);
  const std::string_view id_text(id_hex, sizeof(id_hex));
  constexpr int kDepth = 2;  // of the members' values

  JsonBufferWriter& w = rw.writer();
  w.BeginObject();
  for (dom::key_value_pair m : top) {
    bool ok = true;
    Field f = Classify(m.key);
    if (IsAlias(f)) {
      if ((plan.dropped_aliases & Plan::Bit(f)) != 0) continue;
      f = CanonicalOf(f);  // written under the current name
    }
    switch (f) {
      case Field::kEventId:
        w.Key(m.key);
        w.String(id_text);
        break;
      case Field::kTimestamp:
        w.Key(m.key);
        w.Double(plan.timestamp);
        break;
      case Field::kReceived:
        w.Key(m.key);
        w.Double(plan.received);
        break;
      case Field::kPlatform:
        w.Key(m.key);
        w.String(plan.platform);
        break;
      case Field::kLevel:
        w.Key(m.key);
        w.String(LevelName(plan.level));
        break;
      case Field::kType:
        w.Key(m.key);
        w.String(EventTypeName(plan.type));
        break;
      case Field::kSdk:
        if (plan.add_sdk) {
          WriteSdk(w, opts.sentry_client);  // in place of a null sdk
        } else {
          ok = rw.VisitMember(m.key, m.value, kDepth);
        }
        break;
      case Field::kMessage:
        // Becomes the logentry, in its place; else dropped (a logentry
        // wins, or it is null or false).
        if (plan.logentry == LogentrySource::kMessage) {
          ok = rw.WriteLogentry(m.value, kDepth);
        }
        break;
      case Field::kLogentry:
        if (plan.logentry == LogentrySource::kLogentry) {
          ok = rw.WriteLogentry(m.value, kDepth);
        } else if (plan.logentry == LogentrySource::kNone &&
                   m.value.type() == Type::NULL_VALUE) {
          ok = rw.VisitMember("logentry", m.value, kDepth);
        }
        // Else `false`, or a null one giving way to the message's.
        break;
      case Field::kUser:
        ok = rw.WriteUser(m.value, kDepth);
        break;
      case Field::kRequest:
        ok = rw.WriteRequest(m.value, kDepth);
        break;
      case Field::kException:
      case Field::kThreads:
      case Field::kBreadcrumbs:
        ok = rw.WriteValuesList(f, m.value, kDepth);
        break;
      case Field::kStacktrace:
        ok = rw.WriteStacktrace(m.value, kDepth);
        break;
      case Field::kFingerprint:
        ok = rw.WriteFingerprint(m.value, kDepth);
        break;
      case Field::kErrors:
      case Field::kMeta:
        break;  // at the end, once the notes are known
      case Field::kOther:
      default: {
        std::string_view key = m.key;
        if (std::string_view renamed = RenamedAlias(key); !renamed.empty())
            [[unlikely]] {
          // Written under the current name, unless that is there too (it
          // wins, as for the aliases above).
          if (top.at_key(renamed).error() == simdjson::SUCCESS) break;
          key = renamed;
        }
        if (rw.scrubs() && (key == "extra" || key == "contexts")) [[unlikely]] {
          ok = rw.VisitScrubbed(key, m.value, kDepth);
        } else {
          ok = rw.VisitMember(key, m.value, kDepth);
        }
        break;
      }
    }
    if (!ok) return false;
  }
  // Added fields, in a fixed order so that normalizing twice is stable.
  if (!plan.Has(Field::kEventId)) {
    w.Key("event_id");
    w.String(id_text);
  }
  if (!plan.Has(Field::kTimestamp)) {
    w.Key("timestamp");
    w.Double(plan.timestamp);
  }
  if (!plan.Has(Field::kReceived)) {
    w.Key("received");
    w.Double(plan.received);
  }
  if (!plan.Has(Field::kPlatform)) {
    w.Key("platform");
    w.String(plan.platform);
  }
  if (!plan.Has(Field::kLevel)) {
    w.Key("level");
    w.String(LevelName(plan.level));
  }
  if (!plan.Has(Field::kType)) {
    w.Key("type");
    w.String(EventTypeName(plan.type));
  }
  if (plan.add_sdk && !plan.Has(Field::kSdk)) WriteSdk(w, opts.sentry_client);
  // Always last, so that a second pass (which has nothing to note) leaves
  // them where the first put them.
  auto member = [&](Field f) -> const dom::element* {
    return plan.Has(f) ? &plan.fields[static_cast<int>(f)] : nullptr;
  };
  if (!rw.WriteErrors(member(Field::kErrors), kDepth)) return false;
  if (!rw.WriteMeta(member(Field::kMeta), kDepth)) return false;
  w.EndObject();
  return true;
}

// SplitMix64, to spread a 64-bit seed over the generator's 256-bit state.
uint64_t SplitMix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kDefault:
      return "default";
    case EventType::kError:
      return "error";
    case EventType::kCsp:
      return "csp";
    case EventType::kHpkp:
      return "hpkp";
    case EventType::kExpectCt:
      return "expectct";
    case EventType::kExpectStaple:
      return "expectstaple";
    case EventType::kNel:
      return "nel";
    case EventType::kTransaction:
      return "transaction";
  }
  return "default";
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kFatal:
      return "fatal";
    case Level::kError:
      return "error";
    case Level::kWarning:
      return "warning";
    case Level::kInfo:
      return "info";
    case Level::kDebug:
      return "debug";
  }
  return "error";
}

Normalizer::Normalizer(size_t max_event_bytes)
    : Normalizer(max_event_bytes, 0) {
  std::random_device device;
  for (uint64_t& word : rng_) {
    word = (static_cast<uint64_t>(device()) << 32) | device();
  }
  // All zeros is the one state xoshiro never leaves.
  if (rng_ == std::array<uint64_t, 4>{}) rng_[0] = 1;
}

Normalizer::Normalizer(size_t max_event_bytes, uint64_t seed)
    : parser_(std::make_unique<simdjson::dom::parser>(max_event_bytes)) {
  // Allocate for the largest event now, so the data path never grows the
  // parser. A failure here is not fatal: parse() retries and reports it.
  [[maybe_unused]] const simdjson::error_code err =
      parser_->allocate(max_event_bytes, kMaxDepth + 1);
  for (uint64_t& word : rng_) word = SplitMix64(&seed);
}

Normalizer::~Normalizer() = default;

uint64_t Normalizer::NextRandom() {
  // xoshiro256** (Blackman and Vigna).
  const uint64_t result = std::rotl(rng_[1] * 5, 7) * 9;
  const uint64_t t = rng_[1] << 17;
  rng_[2] ^= rng_[0];
  rng_[3] ^= rng_[1];
  rng_[1] ^= rng_[2];
  rng_[0] ^= rng_[3];
  rng_[2] ^= t;
  rng_[3] = std::rotl(rng_[3], 45);
  return result;
}

absl::Status Normalizer::Normalize(std::string_view json,
                                   const NormalizeOptions& opts,
                                   NormalizedEvent* out) {
  // An empty view may have a null data pointer, which simdjson would hand
  // to memcpy (undefined even for zero bytes).
  if (json.data() == nullptr) json = std::string_view("", 0);
  if (json.size() > parser_->max_capacity()) {
    return TooLarge(absl::StrCat("event_too_large: ", json.size(),
                                 " bytes, the limit is ",
                                 parser_->max_capacity()));
  }
  // The caller's bytes are not padded, so simdjson copies them into its own
  // padded buffer: a memcpy, cheaper than making every caller pad.
  auto parsed = parser_->parse(json.data(), json.size(), true);
  switch (parsed.error()) {
    case simdjson::SUCCESS:
      break;
    case simdjson::UTF8_ERROR:
      return BadRequest("invalid_utf8: the event is not valid UTF-8");
    case simdjson::DEPTH_ERROR:
      return BadRequest(absl::StrCat("invalid_json: nested deeper than ",
                                     kMaxDepth, " levels"));
    case simdjson::MEMALLOC:
      return absl::InternalError("normalize: out of memory for the parser");
    case simdjson::CAPACITY:
      return TooLarge("event_too_large");
    default:
      return BadRequest(absl::StrCat("invalid_json: ",
                                     simdjson::error_message(parsed.error())));
  }
  const dom::element root = parsed.value_unsafe();
  if (root.type() != Type::OBJECT) {
    return BadRequest("not_an_object: the event must be a JSON object");
  }
  const dom::object top = AsObject(root);

  // Notes keep removed values unless the project scrubs data.
  Notes notes(/*keep_values=*/opts.scrub == nullptr || !opts.scrub->enabled);
  Plan plan;
  TERN_RETURN_IF_ERROR(MakePlan(top, opts, notes, &plan));
  EventId id;
  if (plan.payload_id) {
    id = *plan.payload_id;
  } else if (opts.envelope_event_id) {
    id = *opts.envelope_event_id;
  } else {
    id = EventId::FromRandom(NextRandom(), NextRandom());
  }

  out->json.clear();
  {
    // The output is about the input's size (plus the fields we add); sizing
    // the buffer for that up front means it rarely grows mid-event.
    Rewriter rw(opts, &notes, &out->json, json.size() + 256);
    if (!WriteTopLevel(top, plan, id, opts, rw)) return rw.TakeError();
  }  // The writer trims out->json to what it wrote.

  out->event_id = id;
  out->timestamp = plan.timestamp;
  out->received = plan.received;
  out->type = plan.type;
  out->level = plan.level;
  out->platform = plan.platform;
  return absl::OkStatus();
}

}  // namespace tern::protocol
