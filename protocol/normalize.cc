#include "protocol/normalize.h"

#include <simdjson.h>

#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
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
  kCount,
  kOther = kCount,
};
constexpr size_t kFieldCount = static_cast<size_t>(Field::kCount);

constexpr std::string_view kFieldNames[kFieldCount] = {
    "event_id", "timestamp",   "received",   "platform",
    "level",    "type",        "sdk",        "message",
    "logentry", "user",        "request",    "exception",
    "threads",  "breadcrumbs", "stacktrace", "fingerprint"};

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
  }
  return Field::kOther;
}

// A piece of client input quoted in an error detail: bounded, and cut on a
// UTF-8 boundary (the input is valid UTF-8, and so must the detail be).
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 64;
  if (s.size() <= kMax) return std::string(s);
  size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return absl::StrCat(ToAbsl(s.substr(0, n)), "...");
}

absl::Status SchemaError(std::string_view path, std::string_view what) {
  return BadRequest(
      absl::StrCat("invalid_schema: ", ToAbsl(path), ": ", ToAbsl(what)));
}

bool IsAuto(dom::element value) {
  return value.type() == Type::STRING &&
         value.get_string().value_unsafe() == "{{auto}}";
}

// A stacktrace the backend can walk: absent (null), or an object with a
// `frames` list. Grouping and symbolication iterate frames without checking.
constexpr std::string_view kStacktraceRule =
    "must be an object with a frames list";
bool IsValidStacktrace(dom::element value) {
  const Type t = value.type();
  if (t == Type::NULL_VALUE) return true;
  if (t != Type::OBJECT) return false;
  auto frames = AsObject(value).at_key("frames");
  return !frames.error() && frames.value_unsafe().type() == Type::ARRAY;
}

// True when `exception` holds at least one value, in either container form.
bool HasExceptionValues(dom::element exception) {
  dom::element list = exception;
  if (exception.type() == Type::OBJECT) {
    auto values = AsObject(exception).at_key("values");
    if (values.error()) return false;
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
  Rewriter(const NormalizeOptions& opts, std::string* out, size_t expected_size)
      : opts_(opts),
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
  bool WriteEnv(dom::element value, int depth);
  bool WriteItems(Field field, bool in_values, dom::array items, int depth);

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
  // `request.headers` (validated) with the Cookie rule on.
  bool WriteHeadersScrubbed(dom::element value, int depth);
  // A list of [name, value] pairs, the name judged like a key.
  bool WritePairsScrubbed(dom::array pairs, int depth);
  // `request.data` and `request.query_string`: a string is read as a query
  // string, anything else is a scrubbed subtree.
  bool WriteFormScrubbed(std::string_view key, dom::element value, int depth);
  // A stacktrace whose frames' `vars` are scrubbed.
  bool WriteStacktraceScrubbed(std::string_view key, dom::element value,
                               int depth);
  // An exception, thread or breadcrumb object: `stacktrace` or `data` (by
  // `field`) is scrubbed.
  bool WriteItemScrubbed(Field field, dom::element item, int depth);

  const NormalizeOptions& opts_;
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

bool Rewriter::WriteUser(dom::element value, int depth) {
  w_.Key("user");
  if (value.type() != Type::OBJECT) return WriteValue(value, depth);
  w_.BeginObject();
  for (dom::key_value_pair m : AsObject(value)) {
    if (m.key == "id") {
      // Grouping by user and the Sentry UI key on a string id; a number
      // here means the SDK and the backend disagree on the schema.
      const Type t = m.value.type();
      if (t != Type::STRING && t != Type::NULL_VALUE) {
        return Fail(SchemaError("user.id", "must be a string"));
      }
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

bool Rewriter::WriteHeaders(dom::element value, int depth) {
  switch (value.type()) {
    case Type::NULL_VALUE:
      break;
    case Type::OBJECT:
      for (dom::key_value_pair h : AsObject(value)) {
        const Type t = h.value.type();
        if (t != Type::STRING && t != Type::NULL_VALUE) {
          return Fail(
              SchemaError(absl::StrCat("request.headers.", Quote(h.key)),
                          "header values must be strings"));
        }
      }
      break;
    case Type::ARRAY: {
      size_t i = 0;
      for (dom::element pair : AsArray(value)) {
        bool ok = pair.type() == Type::ARRAY;
        if (ok) {
          dom::array a = AsArray(pair);
          size_t n = 0;
          for (dom::element part : a) {
            const Type t = part.type();
            ok = ok && (t == Type::STRING || t == Type::NULL_VALUE);
            ++n;
          }
          ok = ok && n == 2;
        }
        if (!ok) {
          return Fail(SchemaError(absl::StrCat("request.headers.", i),
                                  "must be a [name, value] pair of strings"));
        }
        ++i;
      }
      break;
    }
    default:
      return Fail(
          SchemaError("request.headers",
                      "must be an object or a list of [name, value] pairs"));
  }
  if (scrubs()) return WriteHeadersScrubbed(value, depth);
  return VisitMember("headers", value, depth);
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

// exception, threads and breadcrumbs: `{"values": [...]}` (what current SDKs
// send) or a bare list (older SDKs, and what Relay also reads).
bool Rewriter::WriteValuesList(Field field, dom::element value, int depth) {
  const std::string_view name = kFieldNames[static_cast<int>(field)];
  w_.Key(name);
  switch (value.type()) {
    case Type::NULL_VALUE:
      w_.Null();
      return true;
    case Type::ARRAY:
      return WriteItems(field, false, AsArray(value), depth);
    case Type::OBJECT: {
      dom::object obj = AsObject(value);
      auto values = obj.at_key("values");
      if (values.error() ||
          (values.value_unsafe().type() != Type::ARRAY &&
           values.value_unsafe().type() != Type::NULL_VALUE)) {
        break;
      }
      w_.BeginObject();
      for (dom::key_value_pair m : obj) {
        if (m.key == "values" && m.value.type() == Type::ARRAY) {
          w_.Key(m.key);
          if (!WriteItems(field, true, AsArray(m.value), depth + 1)) {
            return false;
          }
        } else if (!VisitMember(m.key, m.value, depth + 1)) {
          return false;
        }
      }
      w_.EndObject();
      return true;
    }
    default:
      break;
  }
  return Fail(
      SchemaError(name, "must be a list or an object with a values list"));
}

bool Rewriter::WriteItems(Field field, bool in_values, dom::array items,
                          int depth) {
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  // Only exceptions and threads carry stacktraces; breadcrumbs are copied.
  const bool has_stacktraces =
      field == Field::kException || field == Field::kThreads;
  w_.BeginArray();
  size_t index = 0;
  for (dom::element item : items) {
    if (scrubs() && item.type() == Type::OBJECT) [[unlikely]] {
      // Checks the stacktraces as below, before it writes them.
      if (has_stacktraces) {
        for (dom::key_value_pair m : AsObject(item)) {
          if (m.key == "stacktrace" && !IsValidStacktrace(m.value)) {
            return Fail(SchemaError(
                absl::StrCat(ToAbsl(kFieldNames[static_cast<int>(field)]),
                             in_values ? ".values." : ".", index,
                             ".stacktrace"),
                kStacktraceRule));
          }
        }
      }
      if (!WriteItemScrubbed(field, item, depth + 1)) return false;
    } else if (!has_stacktraces || item.type() != Type::OBJECT) {
      if (!WriteValue(item, depth + 1)) return false;
    } else {
      if (depth + 1 > Normalizer::kMaxDepth) return TooDeep();
      w_.BeginObject();
      for (dom::key_value_pair m : AsObject(item)) {
        if (m.key == "stacktrace" && !IsValidStacktrace(m.value)) {
          return Fail(SchemaError(
              absl::StrCat(ToAbsl(kFieldNames[static_cast<int>(field)]),
                           in_values ? ".values." : ".", index, ".stacktrace"),
              kStacktraceRule));
        }
        if (!VisitMember(m.key, m.value, depth + 2)) {
          return false;
        }
      }
      w_.EndObject();
    }
    ++index;
  }
  w_.EndArray();
  return true;
}

bool Rewriter::WriteStacktrace(dom::element value, int depth) {
  if (!IsValidStacktrace(value)) {
    return Fail(SchemaError("stacktrace", kStacktraceRule));
  }
  if (scrubs()) return WriteStacktraceScrubbed("stacktrace", value, depth);
  return VisitMember("stacktrace", value, depth);
}

bool Rewriter::WriteFingerprint(dom::element value, int depth) {
  switch (value.type()) {
    case Type::NULL_VALUE:
      break;
    case Type::ARRAY: {
      size_t i = 0;
      for (dom::element part : AsArray(value)) {
        if (part.type() != Type::STRING) {
          return Fail(
              SchemaError(absl::StrCat("fingerprint.", i), "must be a string"));
        }
        ++i;
      }
      break;
    }
    default:
      return Fail(SchemaError("fingerprint", "must be a list of strings"));
  }
  return VisitMember("fingerprint", value, depth);
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

bool Rewriter::WriteHeadersScrubbed(dom::element value, int depth) {
  w_.Key("headers");
  scrubbing_ = true;
  in_headers_ = true;
  const bool ok = value.type() == Type::ARRAY
                      ? WritePairsScrubbed(AsArray(value), depth)
                      : WriteValue(value, depth);
  scrubbing_ = false;
  in_headers_ = false;
  return ok;
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

bool Rewriter::WriteItemScrubbed(Field field, dom::element item, int depth) {
  if (depth > Normalizer::kMaxDepth) return TooDeep();
  w_.BeginObject();
  for (dom::key_value_pair m : AsObject(item)) {
    bool ok;
    if (field == Field::kBreadcrumbs) {
      ok = m.key == "data" ? VisitScrubbed(m.key, m.value, depth + 1)
                           : VisitMember(m.key, m.value, depth + 1);
    } else {
      ok = m.key == "stacktrace"
               ? WriteStacktraceScrubbed(m.key, m.value, depth + 1)
               : VisitMember(m.key, m.value, depth + 1);
    }
    if (!ok) return false;
  }
  w_.EndObject();
  return true;
}

// ---------------------------------------------------------------------------
// Pass 1: the top-level fields, decided before anything is written.

// How the legacy `message` field is carried over (rule 10 in the doc).
enum class MessageAction : uint8_t {
  kNone,              // no message
  kDrop,              // logentry wins, or message is null
  kFromString,        // "message": "text" -> "logentry": {"formatted": "text"}
  kRenameToLogentry,  // "message": {...} -> "logentry": {...}
};

// Everything the rules decide from the top-level members. Nested rules
// (user, request, stacktraces...) are applied by the Rewriter as it writes.
struct Plan {
  std::array<dom::element, kFieldCount> fields;
  uint32_t present = 0;  // bit per Field with a member, null or not

  bool Has(Field f) const {
    return (present & (1u << static_cast<int>(f))) != 0;
  }
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
  MessageAction message = MessageAction::kNone;
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
    plan->present |= 1u << static_cast<int>(f);
    plan->fields[static_cast<int>(f)] = m.value;
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

absl::Status DecideTimestamp(const dom::element* e, double received,
                             double* timestamp) {
  *timestamp = received;
  if (e == nullptr) return absl::OkStatus();
  switch (e->type()) {
    case Type::INT64:
      *timestamp = static_cast<double>(e->get_int64().value_unsafe());
      break;
    case Type::UINT64:
      *timestamp = static_cast<double>(e->get_uint64().value_unsafe());
      break;
    case Type::DOUBLE:
      *timestamp = e->get_double().value_unsafe();
      break;
    case Type::STRING: {
      const std::optional<double> t =
          ParseRfc3339(e->get_string().value_unsafe());
      if (!t) {
        return BadRequest(
            "invalid_timestamp: timestamp must be RFC 3339 or epoch seconds");
      }
      *timestamp = *t;
      break;
    }
    default:
      return BadRequest(
          "invalid_timestamp: timestamp must be a string or a number");
  }
  if (*timestamp < kMinTimestamp) {
    return BadRequest("invalid_timestamp: timestamp is before year 1");
  }
  // A clock running ahead would sort the event into the future, where
  // retention and "last seen" go wrong.
  if (*timestamp - received > kMaxFutureSeconds) *timestamp = received;
  return absl::OkStatus();
}

// Errors default to "error"; transactions to "info", as Relay does, so a
// transaction never shows up as an error-level event.
absl::Status DecideLevel(const dom::element* e, bool is_transaction,
                         Level* level) {
  *level = is_transaction ? Level::kInfo : Level::kError;
  if (e == nullptr) return absl::OkStatus();
  if (e->type() != Type::STRING) {
    return BadRequest("invalid_level: level must be a string");
  }
  const std::optional<Level> l = ParseLevel(e->get_string().value_unsafe());
  if (!l) {
    return BadRequest(
        "invalid_level: level must be one of fatal, error, warning, info, "
        "debug");
  }
  *level = *l;
  return absl::OkStatus();
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

absl::Status DecideMessage(const Plan& plan, MessageAction* action) {
  const dom::element* logentry = plan.Get(Field::kLogentry);
  if (logentry && logentry->type() != Type::OBJECT) {
    return SchemaError("logentry", "must be an object");
  }
  *action = MessageAction::kNone;
  if (!plan.Has(Field::kMessage)) return absl::OkStatus();
  const Type t = plan.fields[static_cast<int>(Field::kMessage)].type();
  if (t != Type::STRING && t != Type::OBJECT && t != Type::NULL_VALUE) {
    return SchemaError("message", "must be a string or an object");
  }
  if (logentry || t == Type::NULL_VALUE) {
    *action = MessageAction::kDrop;
  } else {
    *action = t == Type::STRING ? MessageAction::kFromString
                                : MessageAction::kRenameToLogentry;
  }
  return absl::OkStatus();
}

absl::Status MakePlan(dom::object top, const NormalizeOptions& opts,
                      Plan* plan) {
  TERN_RETURN_IF_ERROR(FindFields(top, plan));
  TERN_RETURN_IF_ERROR(DecideEventId(*plan, opts, &plan->payload_id));
  // ToUnixMicros saturates, so even absl::InfiniteFuture stays finite.
  plan->received = static_cast<double>(absl::ToUnixMicros(opts.received)) / 1e6;
  TERN_RETURN_IF_ERROR(DecideTimestamp(plan->Get(Field::kTimestamp),
                                       plan->received, &plan->timestamp));
  TERN_RETURN_IF_ERROR(
      DecideLevel(plan->Get(Field::kLevel), opts.is_transaction, &plan->level));
  plan->platform =
      plan->Has(Field::kPlatform)
          ? CanonicalPlatform(plan->fields[static_cast<int>(Field::kPlatform)])
          : std::string_view("other");
  plan->type = DecideType(*plan, opts.is_transaction);
  TERN_RETURN_IF_ERROR(DecideMessage(*plan, &plan->message));
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
  const bool logentry_from_message =
      plan.message == MessageAction::kFromString ||
      plan.message == MessageAction::kRenameToLogentry;
  constexpr int kDepth = 2;  // of the members' values

  JsonBufferWriter& w = rw.writer();
  w.BeginObject();
  for (dom::key_value_pair m : top) {
    bool ok = true;
    const Field f = Classify(m.key);
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
        if (plan.message == MessageAction::kFromString) {
          w.Key("logentry");
          w.BeginObject();
          w.Key("formatted");
          w.String(m.value.get_string().value_unsafe());
          w.EndObject();
        } else if (plan.message == MessageAction::kRenameToLogentry) {
          ok = rw.VisitMember("logentry", m.value, kDepth);
        }
        break;
      case Field::kLogentry:
        // A null logentry gives way to the one made from `message`.
        if (!logentry_from_message) {
          ok = rw.VisitMember(m.key, m.value, kDepth);
        }
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
      case Field::kOther:
        if (rw.scrubs() && (m.key == "extra" || m.key == "contexts"))
            [[unlikely]] {
          ok = rw.VisitScrubbed(m.key, m.value, kDepth);
        } else {
          ok = rw.VisitMember(m.key, m.value, kDepth);
        }
        break;
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

  Plan plan;
  TERN_RETURN_IF_ERROR(MakePlan(top, opts, &plan));
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
    Rewriter rw(opts, &out->json, json.size() + 256);
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
