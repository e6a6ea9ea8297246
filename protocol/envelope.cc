#include "protocol/envelope.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/http_status.h"
#include "common/status.h"
#include "protocol/json_writer.h"
#include "simdjson.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tern::protocol {
namespace {

namespace od = simdjson::ondemand;

// Header objects are flat in practice (the envelope header nests `sdk` and
// `trace` one level); the bound keeps the validating walk's recursion small
// whatever simdjson's own limit is.
constexpr int kMaxJsonDepth = 32;
// The fast scanner gives up on deeper nesting and lets simdjson decide.
constexpr int kMaxFastDepth = 8;
// How far past the end of a line the fast scanner may read (one SSE2 load).
constexpr ptrdiff_t kFastScanOverread = 16;

// Marks the envelope header in error messages, as opposed to an item index.
constexpr size_t kEnvelopeHeader = static_cast<size_t>(-1);

struct NamedType {
  std::string_view name;
  ItemType type;
};

// Ordered by enum value, so ItemTypeName can index it.
constexpr NamedType kItemTypes[] = {
    {"event", ItemType::kEvent},
    {"transaction", ItemType::kTransaction},
    {"security", ItemType::kSecurity},
    {"attachment", ItemType::kAttachment},
    {"form_data", ItemType::kFormData},
    {"raw_security", ItemType::kRawSecurity},
    {"unreal_report", ItemType::kUnrealReport},
    {"user_report", ItemType::kUserReport},
    {"feedback", ItemType::kFeedback},
    {"session", ItemType::kSession},
    {"sessions", ItemType::kSessions},
    {"statsd", ItemType::kStatsd},
    {"metric_buckets", ItemType::kMetricBuckets},
    {"client_report", ItemType::kClientReport},
    {"profile", ItemType::kProfile},
    {"profile_chunk", ItemType::kProfileChunk},
    {"replay_event", ItemType::kReplayEvent},
    {"replay_recording", ItemType::kReplayRecording},
    {"replay_video", ItemType::kReplayVideo},
    {"check_in", ItemType::kCheckIn},
    {"span", ItemType::kSpan},
    {"log", ItemType::kLog},
};
static_assert(std::size(kItemTypes) == static_cast<size_t>(ItemType::kUnknown));

bool IsJsonSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// ---------------------------------------------------------------------------
// What a header line yields, whichever path read it.

enum Field : unsigned {
  // Item header.
  kType,
  kLength,
  kContentType,
  kFilename,
  kAttachmentType,
  // Envelope header.
  kEventId,
  kDsn,
  kSentAt,
  kFieldCount,
  kOtherField = kFieldCount,
};

constexpr std::string_view kFieldNames[kFieldCount] = {
    "type",     "length", "content_type", "filename", "attachment_type",
    "event_id", "dsn",    "sent_at"};

inline Field LookupField(std::string_view key, bool envelope_header) {
  if (envelope_header) {
    if (key == "event_id") return kEventId;
    if (key == "dsn") return kDsn;
    if (key == "sent_at") return kSentAt;
    return kOtherField;
  }
  switch (key.size()) {
    case 4:
      return key == "type" ? kType : kOtherField;
    case 6:
      return key == "length" ? kLength : kOtherField;
    case 8:
      return key == "filename" ? kFilename : kOtherField;
    case 12:
      return key == "content_type" ? kContentType : kOtherField;
    case 15:
      return key == "attachment_type" ? kAttachmentType : kOtherField;
    default:
      return kOtherField;
  }
}

struct HeaderFields {
  std::string_view strings[kFieldCount];  // kLength unused
  uint64_t length = 0;
  unsigned seen = 0;     // one bit per Field: the key appeared
  unsigned present = 0;  // one bit per Field: ... with a non-null value

  bool Has(Field f) const { return present & (1u << f); }
};

std::string Where(size_t item) {
  if (item == kEnvelopeHeader) return "envelope header";
  return absl::StrCat("item[", item, "] header");
}

absl::Status JsonError(size_t item, simdjson::error_code e) {
  return BadRequest(absl::StrCat(Where(item), " is not valid JSON (",
                                 simdjson::error_message(e), ")"));
}

absl::Status WrongType(size_t item, Field f, std::string_view expected) {
  return BadRequest(absl::StrCat(Where(item), ": `", ToAbsl(kFieldNames[f]),
                                 "` must be ", ToAbsl(expected)));
}

// ---------------------------------------------------------------------------
// Fast path: a strict scanner for the header lines SDKs actually send.
//
// It accepts a subset of JSON: compact text (no whitespace between tokens, as
// every SDK writes its headers), strings of printable ASCII without escapes,
// integers of at most 19 digits, true/false/null, and objects/arrays nested
// at most kMaxFastDepth deep. Whatever it accepts, simdjson accepts with the
// same meaning; on anything else (including every malformed line) it returns
// false without an error, and the caller re-reads the line with simdjson,
// which gives the authoritative answer and the error message.

#if !defined(__SSE2__)
// 1 for bytes that may appear raw inside a fast-path string.
constexpr auto kPlainStringByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();
#endif

class FastScanner {
 public:
  // `text` holds the bytes of `line` followed by a sentinel (NUL or the
  // line's `\n`) and at least kFastScanOverread readable bytes; it is either
  // `line` itself or a copy. The sentinel matches no token and ends every
  // string scan, so the scanner needs no bounds checks: it never steps past.
  FastScanner(const char* text, std::string_view line)
      : p_(text), end_(text + line.size()), text_(text), line_(line.data()) {}

  // Reads the line as one object, storing the known fields of the line kind.
  // String views point into `line`, not into the copy.
  bool ScanHeader(bool envelope_header, HeaderFields* fields) {
    if (!Eat('{')) return false;
    if (!Eat('}')) {
      do {
        std::string_view key;
        if (!String(&key) || !Eat(':')) return false;
        const Field f = LookupField(key, envelope_header);
        if (f == kOtherField ? !Value(1) : !KnownValue(f, fields)) {
          return false;
        }
      } while (Eat(','));
      if (!Eat('}')) return false;
    }
    return p_ == end_;
  }

 private:
  bool Eat(char c) {
    if (*p_ != c) return false;
    ++p_;
    return true;
  }

  bool String(std::string_view* out) {
    if (!Eat('"')) return false;
    const char* start = p_;
#if defined(__SSE2__)
    // Sixteen bytes at a time: header strings are ids, URLs and timestamps,
    // long enough for a byte loop to dominate the whole parse. A signed
    // compare with 0x20 flags control bytes (the sentinel among them) and
    // non-ASCII bytes alike.
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (true) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_));
      const __m128i special = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
          _mm_cmplt_epi8(v, space));
      const int mask = _mm_movemask_epi8(special);
      if (mask != 0) {
        p_ += __builtin_ctz(static_cast<unsigned>(mask));
        break;
      }
      p_ += 16;
    }
#else
    while (kPlainStringByte[static_cast<unsigned char>(*p_)]) ++p_;
#endif
    // An escape, a control or non-ASCII byte, or the end of the line.
    if (*p_ != '"') return false;
    *out = std::string_view(line_ + (start - text_), p_ - start);
    ++p_;
    return true;
  }

  // An integer: optional minus, no leading zero, at most 19 digits (so it
  // fits in uint64 and simdjson reads it the same way). Fractions and
  // exponents are left to simdjson.
  bool Integer(bool* negative, uint64_t* value) {
    *negative = Eat('-');
    const char* start = p_;
    uint64_t v = 0;
    while (*p_ >= '0' && *p_ <= '9') {
      v = v * 10 + static_cast<uint64_t>(*p_ - '0');
      ++p_;
    }
    const size_t digits = p_ - start;
    if (digits == 0 || digits > 19 || (digits > 1 && *start == '0')) {
      return false;
    }
    if (*p_ == '.' || *p_ == 'e' || *p_ == 'E') return false;
    *value = v;
    return true;
  }

  // The sentinel differs from every letter, so the compare stops there.
  bool Literal(std::string_view word) {
    if (std::memcmp(p_, word.data(), word.size()) != 0) return false;
    p_ += word.size();
    return true;
  }

  // Validates and skips any value the subset allows.
  bool Value(int depth) {
    switch (*p_) {
      case '"': {
        std::string_view unused;
        return String(&unused);
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      case '{':
      case '[':
        return Container(depth);
      default: {
        bool negative;
        uint64_t unused;
        return Integer(&negative, &unused);
      }
    }
  }

  bool Container(int depth) {
    if (depth > kMaxFastDepth) return false;
    const char close = *p_ == '{' ? '}' : ']';
    ++p_;
    if (Eat(close)) return true;
    do {
      if (close == '}') {
        std::string_view key;
        if (!String(&key) || !Eat(':')) return false;
      }
      if (!Value(depth + 1)) return false;
    } while (Eat(','));
    return Eat(close);
  }

  // A value of a known key: a string (or integer for `length`), or null
  // except for `type`. Duplicates and wrong types are left to simdjson so
  // that it reports them.
  bool KnownValue(Field f, HeaderFields* fields) {
    const unsigned bit = 1u << f;
    if (fields->seen & bit) return false;
    fields->seen |= bit;
    if (*p_ == 'n' && f != kType) return Literal("null");
    fields->present |= bit;
    if (f == kLength) {
      bool negative;
      return Integer(&negative, &fields->length) && !negative;
    }
    return String(&fields->strings[f]);
  }

  const char* p_;
  const char* const end_;
  const char* const text_;
  const char* const line_;
};

// ---------------------------------------------------------------------------
// General path: simdjson On-Demand.

// Walks a value we do not use so that the whole header line is known to be
// valid JSON: On-Demand only checks what it is asked to read, and a raw
// header view with a broken member would otherwise be forwarded as is.
simdjson::error_code ValidateValue(od::value& v, int depth) {
  if (depth > kMaxJsonDepth) return simdjson::DEPTH_ERROR;
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (auto e = v.get_object().get(obj)) return e;
      for (auto member : obj) {
        od::field field;
        if (auto e = std::move(member).get(field)) return e;
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return e;
        if (auto e = ValidateValue(field.value(), depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array arr;
      if (auto e = v.get_array().get(arr)) return e;
      for (auto element : arr) {
        od::value child;
        if (auto e = std::move(element).get(child)) return e;
        if (auto e = ValidateValue(child, depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case od::json_type::number: {
      // Any JSON number is fine here (big integers included); only the
      // syntax matters.
      double d;
      return v.get_double().get(d);
    }
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null;
      if (auto e = v.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::TAPE_ERROR;
}

}  // namespace

ItemType ItemTypeFromName(std::string_view name) {
  // Dispatch on the length first: this runs once per item, and a linear scan
  // of the table was a tenth of the whole parse.
  auto is = [name](ItemType t) {
    return name == kItemTypes[static_cast<size_t>(t)].name;
  };
  switch (name.size()) {
    case 3:
      if (is(ItemType::kLog)) return ItemType::kLog;
      break;
    case 4:
      if (is(ItemType::kSpan)) return ItemType::kSpan;
      break;
    case 5:
      if (is(ItemType::kEvent)) return ItemType::kEvent;
      break;
    case 6:
      if (is(ItemType::kStatsd)) return ItemType::kStatsd;
      break;
    case 7:
      for (ItemType t : {ItemType::kSession, ItemType::kProfile}) {
        if (is(t)) return t;
      }
      break;
    case 8:
      for (ItemType t : {ItemType::kSessions, ItemType::kSecurity,
                         ItemType::kFeedback, ItemType::kCheckIn}) {
        if (is(t)) return t;
      }
      break;
    case 9:
      if (is(ItemType::kFormData)) return ItemType::kFormData;
      break;
    case 10:
      if (is(ItemType::kAttachment)) return ItemType::kAttachment;
      break;
    case 11:
      for (ItemType t : {ItemType::kTransaction, ItemType::kUserReport}) {
        if (is(t)) return t;
      }
      break;
    case 12:
      for (ItemType t : {ItemType::kReplayEvent, ItemType::kRawSecurity,
                         ItemType::kReplayVideo}) {
        if (is(t)) return t;
      }
      break;
    case 13:
      for (ItemType t : {ItemType::kClientReport, ItemType::kProfileChunk,
                         ItemType::kUnrealReport}) {
        if (is(t)) return t;
      }
      break;
    case 14:
      if (is(ItemType::kMetricBuckets)) return ItemType::kMetricBuckets;
      break;
    case 16:
      if (is(ItemType::kReplayRecording)) return ItemType::kReplayRecording;
      break;
  }
  return ItemType::kUnknown;
}

std::string_view ItemTypeName(ItemType type) {
  const size_t i = static_cast<size_t>(type);
  return i < std::size(kItemTypes) ? kItemTypes[i].name : std::string_view();
}

struct EnvelopeParser::Impl {
  explicit Impl(HeaderScan s) : scan(s) {}

  const HeaderScan scan;
  od::parser parser;
  // A copy of the current header line with padding after it: simdjson reads
  // up to SIMDJSON_PADDING bytes past the end and the fast scanner 16, and
  // the request buffer guarantees neither.
  std::unique_ptr<char[]> scratch;
  size_t scratch_size = 0;

  // The line being read and where it came from, for views and messages.
  std::string_view line;
  size_t item = kEnvelopeHeader;
  Envelope* env = nullptr;

  // Reads one header line into `*fields`: the fast scanner first, simdjson
  // when the scanner cannot vouch for the line.
  absl::Status ReadHeader(std::string_view header_line, const char* input_end,
                          size_t index, HeaderFields* fields) {
    line = header_line;
    item = index;
    const bool envelope_header = index == kEnvelopeHeader;
    const char* line_end = line.data() + line.size();
    if (scan == HeaderScan::kFast) {
      // The line's own `\n` is as good a sentinel as a NUL, so the scanner
      // reads the input in place when its 16-byte loads stay inside it;
      // otherwise (the last line) it reads a padded copy.
      const char* text = line.data();
      if (input_end - line_end < kFastScanOverread || *line_end != '\n') {
        text = CopyToScratch();
      }
      if (FastScanner(text, line).ScanHeader(envelope_header, fields)) {
        return absl::OkStatus();
      }
      *fields = HeaderFields();
    }
    CopyToScratch();
    std::memset(scratch.get() + line.size(), 0, simdjson::SIMDJSON_PADDING);
    return SimdjsonReadHeader(envelope_header, fields);
  }

  // Copies the current line into the scratch buffer, followed by a NUL.
  // Returns the copy; at least SIMDJSON_PADDING bytes follow the line.
  char* CopyToScratch() {
    const size_t need = line.size() + simdjson::SIMDJSON_PADDING;
    if (need > scratch_size) {
      scratch_size = std::max(need, size_t{1024});
      scratch = std::make_unique<char[]>(scratch_size);
    }
    char* copy = scratch.get();
    std::memcpy(copy, line.data(), line.size());
    copy[line.size()] = '\0';
    return copy;
  }

  absl::Status SimdjsonReadHeader(bool envelope_header, HeaderFields* fields) {
    od::document doc;
    if (auto e =
            parser.iterate(scratch.get(), line.size(), scratch_size).get(doc)) {
      return JsonError(item, e);
    }
    od::object obj;
    if (auto e = doc.get_object().get(obj)) {
      if (e == simdjson::INCORRECT_TYPE) {
        return BadRequest(absl::StrCat(Where(item), " is not a JSON object"));
      }
      return JsonError(item, e);
    }
    for (auto member : obj) {
      od::field field;
      if (auto e = std::move(member).get(field)) return JsonError(item, e);
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return JsonError(item, e);
      od::value& v = field.value();
      const Field f = LookupField(key, envelope_header);
      if (f == kOtherField) {
        if (auto e = ValidateValue(v, 1)) return JsonError(item, e);
        continue;
      }
      const unsigned bit = 1u << f;
      if (fields->seen & bit) {
        return BadRequest(
            absl::StrCat(Where(item), ": duplicate key `", ToAbsl(key), "`"));
      }
      fields->seen |= bit;
      od::json_type type;
      if (auto e = v.type().get(type)) return JsonError(item, e);
      if (type == od::json_type::null && f != kType) {
        bool is_null;
        if (auto e = v.is_null().get(is_null)) return JsonError(item, e);
        if (!is_null) return JsonError(item, simdjson::N_ATOM_ERROR);
        continue;
      }
      if (f == kLength) {
        if (type != od::json_type::number ||
            v.get_uint64().get(fields->length)) {
          return WrongType(item, f, "a non-negative integer");
        }
      } else {
        if (type != od::json_type::string)
          return WrongType(item, f, "a string");
        TERN_RETURN_IF_ERROR(ReadString(v, &fields->strings[f]));
      }
      fields->present |= bit;
    }
    // On-Demand stops at the end of the object; anything after it (a second
    // value, a stray bracket) is still in the structural index.
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
      return BadRequest(
          absl::StrCat(Where(item), ": unexpected data after the JSON object"));
    }
    return absl::OkStatus();
  }

  // Reads a string value. The view points into the input line unless the
  // JSON text has escapes, in which case the decoded text is kept in the
  // envelope.
  absl::Status ReadString(od::value& v, std::string_view* out) {
    // The token is the quoted text plus any whitespace up to the next token.
    std::string_view token = v.raw_json_token();
    size_t end = token.size();
    while (end > 0 && IsJsonSpace(token[end - 1])) --end;
    if (end < 2 || token[0] != '"' || token[end - 1] != '"') {
      return JsonError(item, simdjson::STRING_ERROR);
    }
    const std::string_view raw = token.substr(1, end - 2);
    if (std::memchr(raw.data(), '\\', raw.size()) == nullptr) {
      od::raw_json_string unused;
      if (auto e = v.get_raw_json_string().get(unused)) {
        return JsonError(item, e);
      }
      *out = line.substr(raw.data() - scratch.get(), raw.size());
      return absl::OkStatus();
    }
    std::string_view decoded;
    if (auto e = v.get_string().get(decoded)) return JsonError(item, e);
    env->decoded_strings.emplace_front(decoded);
    *out = env->decoded_strings.front();
    return absl::OkStatus();
  }
};

EnvelopeParser::EnvelopeParser(HeaderScan scan)
    : impl_(std::make_unique<Impl>(scan)) {}
EnvelopeParser::~EnvelopeParser() = default;

absl::Status EnvelopeParser::Parse(std::string_view input,
                                   const EnvelopeLimits& limits,
                                   Envelope* out) {
  out->header_json = {};
  out->event_id.reset();
  out->dsn = {};
  out->sent_at = {};
  out->items.clear();
  out->decoded_strings.clear();
  Impl& impl = *impl_;
  impl.env = out;

  if (input.size() > limits.max_envelope_bytes) {
    return TooLarge(absl::StrCat("envelope of ", input.size(),
                                 " bytes exceeds max_envelope_bytes (",
                                 limits.max_envelope_bytes, ")"));
  }
  if (input.empty()) return BadRequest("empty envelope: no header line");

  const char* const begin = input.data();
  const size_t size = input.size();

  // Finds the end of a header line starting at `pos`, looking no further than
  // the limit allows so an oversized line costs at most the limit to reject.
  auto find_header_line = [&](size_t pos, size_t item,
                              std::string_view* line) -> absl::Status {
    const size_t left = size - pos;
    const size_t scan =
        left > limits.max_header_bytes ? limits.max_header_bytes + 1 : left;
    const void* nl = std::memchr(begin + pos, '\n', scan);
    const size_t len = nl ? static_cast<const char*>(nl) - (begin + pos) : scan;
    if (len > limits.max_header_bytes) {
      return TooLarge(absl::StrCat(Where(item), " exceeds max_header_bytes (",
                                   limits.max_header_bytes, ")"));
    }
    *line = std::string_view(begin + pos, len);
    return absl::OkStatus();
  };

  std::string_view line;
  TERN_RETURN_IF_ERROR(find_header_line(0, kEnvelopeHeader, &line));
  out->header_json = line;
  {
    HeaderFields h;
    TERN_RETURN_IF_ERROR(
        impl.ReadHeader(line, begin + size, kEnvelopeHeader, &h));
    if (h.Has(kEventId)) {
      out->event_id = EventId::Parse(h.strings[kEventId]);
      if (!out->event_id.has_value()) {
        return BadRequest(
            "envelope header: `event_id` is not a valid event id");
      }
    }
    out->dsn = h.strings[kDsn];
    out->sent_at = h.strings[kSentAt];
  }
  size_t pos = line.size() + 1;  // may step past the end when there is no \n

  while (true) {
    while (pos < size && IsJsonSpace(begin[pos])) ++pos;
    if (pos >= size) break;
    const size_t index = out->items.size();
    if (index >= limits.max_items) {
      return TooLarge(absl::StrCat("envelope has more than max_items (",
                                   limits.max_items, ") items"));
    }
    TERN_RETURN_IF_ERROR(find_header_line(pos, index, &line));
    HeaderFields h;
    TERN_RETURN_IF_ERROR(impl.ReadHeader(line, begin + size, index, &h));
    if (!h.Has(kType)) {
      return BadRequest(absl::StrCat(Where(index), ": missing `type`"));
    }
    EnvelopeItem& item = out->items.emplace_back();
    item.header_json = line;
    item.type = h.strings[kType];
    item.item_type = ItemTypeFromName(item.type);
    item.content_type = h.strings[kContentType];
    item.filename = h.strings[kFilename];
    item.attachment_type = h.strings[kAttachmentType];
    pos = std::min(pos + line.size() + 1, size);
    const size_t left = size - pos;

    if (h.Has(kLength)) {
      const uint64_t length = h.length;
      if (length > limits.max_item_bytes) {
        return TooLarge(absl::StrCat("item[", index, "] length ", length,
                                     " exceeds max_item_bytes (",
                                     limits.max_item_bytes, ")"));
      }
      if (length > left) {
        return BadRequest(absl::StrCat("item[", index, "] length ", length,
                                       " runs past the end of the envelope (",
                                       left, " bytes left)"));
      }
      item.payload = std::string_view(begin + pos, length);
      pos += length;
      if (pos < size) {
        if (begin[pos] != '\n') {
          return BadRequest(absl::StrCat("item[", index,
                                         "]: missing newline after its ",
                                         length, "-byte payload"));
        }
        ++pos;
      }
    } else {
      const size_t scan =
          left > limits.max_item_bytes ? limits.max_item_bytes + 1 : left;
      const void* nl = std::memchr(begin + pos, '\n', scan);
      const size_t len =
          nl ? static_cast<const char*>(nl) - (begin + pos) : scan;
      if (len > limits.max_item_bytes) {
        return TooLarge(absl::StrCat("item[", index,
                                     "] payload exceeds max_item_bytes (",
                                     limits.max_item_bytes, ")"));
      }
      item.payload = std::string_view(begin + pos, len);
      pos += len + 1;
    }
  }
  return absl::OkStatus();
}

void SerializeEnvelope(std::string_view header_json,
                       std::span<const OutItem> items, std::string* out) {
  size_t total = header_json.size() + 3;
  for (const OutItem& item : items) {
    // Item header: fixed keys and quotes (~64) plus the values, which grow
    // only when they need escapes.
    total += 64 + item.type.size() + item.content_type.size() +
             item.filename.size() + item.attachment_type.size() +
             item.extra_header_fields.size() + item.payload.size();
  }
  out->reserve(out->size() + total);

  out->append(header_json.empty() ? std::string_view("{}") : header_json);
  out->push_back('\n');
  for (const OutItem& item : items) {
    JsonWriter w(out);
    w.BeginObject();
    w.Key("type");
    w.String(item.type);
    w.Key("length");
    w.Uint(item.payload.size());
    if (!item.content_type.empty()) {
      w.Key("content_type");
      w.String(item.content_type);
    }
    if (!item.filename.empty()) {
      w.Key("filename");
      w.String(item.filename);
    }
    if (!item.attachment_type.empty()) {
      w.Key("attachment_type");
      w.String(item.attachment_type);
    }
    if (!item.extra_header_fields.empty()) {
      out->push_back(',');
      out->append(item.extra_header_fields);
    }
    w.EndObject();
    out->push_back('\n');
    out->append(item.payload);
    out->push_back('\n');
  }
}

}  // namespace tern::protocol
