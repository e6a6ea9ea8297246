#include "protocol/kafka_codec.h"

#include <msgpack.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <type_traits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/http_status.h"
#include "common/status.h"
#include "protocol/json_writer.h"
#include "simdjson.h"

namespace tern::protocol {
namespace {

// --- encoding ---

int AppendToString(void* data, const char* buf, size_t len) {
  static_cast<std::string*>(data)->append(buf, len);
  return 0;
}

// msgpack_packer writing into a std::string. msgpack-c already picks the
// shortest form of every integer and length prefix, as rmp does.
class Packer {
 public:
  explicit Packer(std::string* out) {
    msgpack_packer_init(&pk_, out, AppendToString);
  }
  void Map(size_t n) { msgpack_pack_map(&pk_, n); }
  void Array(size_t n) { msgpack_pack_array(&pk_, n); }
  void Str(std::string_view s) {
    msgpack_pack_str(&pk_, s.size());
    msgpack_pack_str_body(&pk_, s.data(), s.size());
  }
  void Bin(std::string_view b) {
    msgpack_pack_bin(&pk_, b.size());
    msgpack_pack_bin_body(&pk_, b.data(), b.size());
  }
  void Uint(uint64_t v) { msgpack_pack_uint64(&pk_, v); }
  void Bool(bool v) { v ? msgpack_pack_true(&pk_) : msgpack_pack_false(&pk_); }
  void Nil() { msgpack_pack_nil(&pk_); }
  void OptStr(const std::optional<std::string_view>& s) { s ? Str(*s) : Nil(); }
  void OptUint(const std::optional<uint64_t>& v) { v ? Uint(*v) : Nil(); }
  void OptBool(const std::optional<bool>& v) { v ? Bool(*v) : Nil(); }
  void Id(const EventId& id) {
    char hex[32];
    id.WriteHex(hex);
    Str(std::string_view(hex, sizeof(hex)));
  }
  void Attachment(const ChunkedAttachment& a) {
    Map(7);
    Str("id");
    Str(a.id);
    Str("name");
    Str(a.name);
    Str("content_type");
    OptStr(a.content_type);
    Str("attachment_type");
    Str(a.attachment_type);
    Str("chunks");
    Uint(a.chunks);
    Str("size");
    OptUint(a.size);
    Str("rate_limited");
    OptBool(a.rate_limited);
  }

 private:
  msgpack_packer pk_;
};

// Room for the keys, tags and numbers of a message, so the payload append
// is the only large copy.
constexpr size_t kMessageOverhead = 160;
constexpr size_t kAttachmentOverhead = 120;

size_t AttachmentBytes(const ChunkedAttachment& a) {
  return kAttachmentOverhead + a.id.size() + a.name.size() +
         a.content_type.value_or("").size() + a.attachment_type.size();
}

// --- decoding: msgpack ---

// msgpack-c allocates a container's element array as soon as it reads the
// count, so five hostile bytes (array32 of 2^32-1) would ask for 64 GiB.
// This walk runs first: it checks every length against the bytes left and
// that the objects still owed never outnumber the bytes left (each needs at
// least one), which bounds msgpack-c's allocations by the input size. It
// also finds where the one top-level object ends.
bool CheckShape(const unsigned char* p, size_t len, size_t* consumed) {
  size_t pos = 0;
  uint64_t pending = 1;
  while (pending > 0) {
    if (pos >= len) return false;
    --pending;
    const unsigned char b = p[pos++];
    uint64_t skip = 0;      // bytes of payload after the header
    uint64_t children = 0;  // objects that follow as elements
    // Reads an n-byte big-endian length.
    auto length = [&](int n, uint64_t* v) {
      if (len - pos < static_cast<size_t>(n)) return false;
      uint64_t x = 0;
      for (int i = 0; i < n; ++i) x = (x << 8) | p[pos + i];
      pos += n;
      *v = x;
      return true;
    };
    if (b <= 0x7f || b >= 0xe0) {
      // positive / negative fixint
    } else if (b <= 0x8f) {
      children = 2 * (b & 0x0f);
    } else if (b <= 0x9f) {
      children = b & 0x0f;
    } else if (b <= 0xbf) {
      skip = b & 0x1f;
    } else {
      switch (b) {
        case 0xc0:  // nil
        case 0xc2:  // false
        case 0xc3:  // true
          break;
        case 0xc4:  // bin8
        case 0xd9:  // str8
          if (!length(1, &skip)) return false;
          break;
        case 0xc5:  // bin16
        case 0xda:  // str16
          if (!length(2, &skip)) return false;
          break;
        case 0xc6:  // bin32
        case 0xdb:  // str32
          if (!length(4, &skip)) return false;
          break;
        case 0xc7:  // ext8: length, then a type byte
        case 0xc8:  // ext16
        case 0xc9:  // ext32
          if (!length(b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4, &skip)) return false;
          skip += 1;
          break;
        case 0xcc:  // uint8
        case 0xd0:  // int8
          skip = 1;
          break;
        case 0xcd:  // uint16
        case 0xd1:  // int16
          skip = 2;
          break;
        case 0xca:  // float32
        case 0xce:  // uint32
        case 0xd2:  // int32
          skip = 4;
          break;
        case 0xcb:  // float64
        case 0xcf:  // uint64
        case 0xd3:  // int64
          skip = 8;
          break;
        case 0xd4:  // fixext1..16: type byte + data
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc:  // array16
        case 0xdd:  // array32
          if (!length(b == 0xdc ? 2 : 4, &children)) return false;
          break;
        case 0xde:  // map16
        case 0xdf:  // map32
          if (!length(b == 0xde ? 2 : 4, &children)) return false;
          children *= 2;
          break;
        default:  // 0xc1 is never used
          return false;
      }
    }
    if (skip > len - pos) return false;
    pos += skip;
    pending += children;
    if (pending > len - pos) return false;
  }
  *consumed = pos;
  return true;
}

// Reads the known keys of one message map. Each reader method checks one
// key's type and names it in the error.
class MapReader {
 public:
  // `what` names the map in messages ("event message", ...); `keys` are the
  // keys to collect. Unknown keys are skipped; keys must be strings; a known
  // key may appear once.
  static absl::Status Open(const msgpack_object& map, std::string_view what,
                           std::span<const std::string_view> keys,
                           MapReader* out) {
    if (keys.size() > std::size(out->values_)) {
      return absl::InternalError("MapReader: too many keys");
    }
    out->what_ = what;
    out->keys_ = keys;
    std::fill(std::begin(out->values_), std::end(out->values_), nullptr);
    if (map.type != MSGPACK_OBJECT_MAP) {
      return BadRequest(absl::StrCat(ToAbsl(what), " is not a map"));
    }
    for (uint32_t i = 0; i < map.via.map.size; ++i) {
      const msgpack_object_kv& kv = map.via.map.ptr[i];
      if (kv.key.type != MSGPACK_OBJECT_STR) {
        return BadRequest(
            absl::StrCat(ToAbsl(what), ": map keys must be strings"));
      }
      const std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);
      for (size_t k = 0; k < keys.size(); ++k) {
        if (keys[k] != key) continue;
        if (out->values_[k] != nullptr) {
          return BadRequest(absl::StrCat(ToAbsl(what), ": duplicate key `",
                                         ToAbsl(key), "`"));
        }
        out->values_[k] = &kv.val;
        break;
      }
    }
    return absl::OkStatus();
  }

  // The value of key `k`, or null when missing or nil.
  const msgpack_object* Get(size_t k) const {
    const msgpack_object* v = values_[k];
    return v != nullptr && v->type != MSGPACK_OBJECT_NIL ? v : nullptr;
  }

  absl::Status Missing(size_t k) const {
    return BadRequest(
        absl::StrCat(ToAbsl(what_), ": missing `", ToAbsl(keys_[k]), "`"));
  }
  absl::Status Wrong(size_t k, std::string_view expected) const {
    return BadRequest(absl::StrCat(ToAbsl(what_), ": `", ToAbsl(keys_[k]),
                                   "` must be ", ToAbsl(expected)));
  }

  absl::Status Uint(size_t k, uint64_t* out) const {
    const msgpack_object* v = Get(k);
    if (v == nullptr) return Missing(k);
    return OptUintValue(k, *v, out);
  }
  absl::Status OptUint(size_t k, std::optional<uint64_t>* out) const {
    out->reset();
    const msgpack_object* v = Get(k);
    if (v == nullptr) return absl::OkStatus();
    return OptUintValue(k, *v, &out->emplace());
  }
  absl::Status OptBool(size_t k, std::optional<bool>* out) const {
    out->reset();
    const msgpack_object* v = Get(k);
    if (v == nullptr) return absl::OkStatus();
    if (v->type != MSGPACK_OBJECT_BOOLEAN) return Wrong(k, "a boolean");
    *out = v->via.boolean;
    return absl::OkStatus();
  }
  absl::Status Str(size_t k, std::string_view* out) const {
    const msgpack_object* v = Get(k);
    if (v == nullptr) return Missing(k);
    return StrValue(k, *v, out);
  }
  absl::Status OptStr(size_t k, std::optional<std::string_view>* out) const {
    out->reset();
    const msgpack_object* v = Get(k);
    if (v == nullptr) return absl::OkStatus();
    return StrValue(k, *v, &out->emplace());
  }
  absl::Status Bin(size_t k, std::string_view* out) const {
    const msgpack_object* v = Get(k);
    if (v == nullptr) return Missing(k);
    if (v->type != MSGPACK_OBJECT_BIN) return Wrong(k, "binary");
    *out = std::string_view(v->via.bin.ptr, v->via.bin.size);
    return absl::OkStatus();
  }
  absl::Status Id(size_t k, EventId* out) const {
    std::string_view text;
    TERN_RETURN_IF_ERROR(Str(k, &text));
    std::optional<EventId> id = EventId::Parse(text);
    if (!id.has_value()) return Wrong(k, "an event id");
    *out = *id;
    return absl::OkStatus();
  }

  std::string_view what() const { return what_; }

 private:
  absl::Status OptUintValue(size_t k, const msgpack_object& v,
                            uint64_t* out) const {
    if (v.type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
      return Wrong(k, "an unsigned integer");
    }
    *out = v.via.u64;
    return absl::OkStatus();
  }
  absl::Status StrValue(size_t k, const msgpack_object& v,
                        std::string_view* out) const {
    if (v.type != MSGPACK_OBJECT_STR) return Wrong(k, "a string");
    // Sentry reads these as text; so do our JSON writers.
    if (!simdjson::validate_utf8(v.via.str.ptr, v.via.str.size)) {
      return Wrong(k, "UTF-8");
    }
    *out = std::string_view(v.via.str.ptr, v.via.str.size);
    return absl::OkStatus();
  }

  std::string_view what_;
  std::span<const std::string_view> keys_;
  const msgpack_object* values_[8];
};

absl::Status DecodeAttachment(const msgpack_object& obj, std::string_view what,
                              ChunkedAttachment* out) {
  static constexpr std::string_view kKeys[] = {
      "id",     "name", "content_type", "attachment_type",
      "chunks", "size", "rate_limited"};
  MapReader r;
  TERN_RETURN_IF_ERROR(MapReader::Open(obj, what, kKeys, &r));
  TERN_RETURN_IF_ERROR(r.Str(0, &out->id));
  TERN_RETURN_IF_ERROR(r.Str(1, &out->name));
  TERN_RETURN_IF_ERROR(r.OptStr(2, &out->content_type));
  TERN_RETURN_IF_ERROR(r.Str(3, &out->attachment_type));
  TERN_RETURN_IF_ERROR(r.Uint(4, &out->chunks));
  TERN_RETURN_IF_ERROR(r.OptUint(5, &out->size));
  TERN_RETURN_IF_ERROR(r.OptBool(6, &out->rate_limited));
  return absl::OkStatus();
}

absl::Status DecodeEvent(const msgpack_object& root, EventMessage* out) {
  static constexpr std::string_view kKeys[] = {"payload",     "start_time",
                                               "event_id",    "project_id",
                                               "remote_addr", "attachments"};
  MapReader r;
  TERN_RETURN_IF_ERROR(MapReader::Open(root, "event message", kKeys, &r));
  TERN_RETURN_IF_ERROR(r.Bin(0, &out->payload));
  TERN_RETURN_IF_ERROR(r.Uint(1, &out->start_time));
  TERN_RETURN_IF_ERROR(r.Id(2, &out->event_id));
  TERN_RETURN_IF_ERROR(r.Uint(3, &out->project_id));
  TERN_RETURN_IF_ERROR(r.OptStr(4, &out->remote_addr));
  out->attachments.clear();
  const msgpack_object* list = r.Get(5);
  if (list == nullptr) return r.Missing(5);
  if (list->type != MSGPACK_OBJECT_ARRAY) return r.Wrong(5, "an array");
  // Bounded by the input size: CheckShape ran first.
  out->attachments.resize(list->via.array.size);
  for (uint32_t i = 0; i < list->via.array.size; ++i) {
    const std::string what = absl::StrCat("event message attachments[", i, "]");
    TERN_RETURN_IF_ERROR(
        DecodeAttachment(list->via.array.ptr[i], what, &out->attachments[i]));
  }
  return absl::OkStatus();
}

absl::Status DecodeChunk(const msgpack_object& root,
                         AttachmentChunkMessage* out) {
  static constexpr std::string_view kKeys[] = {
      "payload", "event_id", "project_id", "id", "chunk_index"};
  MapReader r;
  TERN_RETURN_IF_ERROR(
      MapReader::Open(root, "attachment_chunk message", kKeys, &r));
  TERN_RETURN_IF_ERROR(r.Bin(0, &out->payload));
  TERN_RETURN_IF_ERROR(r.Id(1, &out->event_id));
  TERN_RETURN_IF_ERROR(r.Uint(2, &out->project_id));
  TERN_RETURN_IF_ERROR(r.Str(3, &out->id));
  TERN_RETURN_IF_ERROR(r.Uint(4, &out->chunk_index));
  return absl::OkStatus();
}

absl::Status DecodeStandaloneAttachment(const msgpack_object& root,
                                        AttachmentMessage* out) {
  static constexpr std::string_view kKeys[] = {"event_id", "project_id",
                                               "attachment"};
  MapReader r;
  TERN_RETURN_IF_ERROR(MapReader::Open(root, "attachment message", kKeys, &r));
  TERN_RETURN_IF_ERROR(r.Id(0, &out->event_id));
  TERN_RETURN_IF_ERROR(r.Uint(1, &out->project_id));
  const msgpack_object* a = r.Get(2);
  if (a == nullptr) return r.Missing(2);
  return DecodeAttachment(*a, "attachment message attachment",
                          &out->attachment);
}

absl::Status DecodeUserReport(const msgpack_object& root,
                              UserReportMessage* out) {
  static constexpr std::string_view kKeys[] = {"project_id", "start_time",
                                               "payload"};
  MapReader r;
  TERN_RETURN_IF_ERROR(MapReader::Open(root, "user_report message", kKeys, &r));
  TERN_RETURN_IF_ERROR(r.Uint(0, &out->project_id));
  TERN_RETURN_IF_ERROR(r.Uint(1, &out->start_time));
  return r.Bin(2, &out->payload);
}

absl::Status DecodeItem(const msgpack_object& root, ItemMessage* out) {
  static constexpr std::string_view kKeys[] = {
      "item_type", "payload", "event_id", "project_id", "start_time"};
  MapReader r;
  TERN_RETURN_IF_ERROR(MapReader::Open(root, "item message", kKeys, &r));
  TERN_RETURN_IF_ERROR(r.Str(0, &out->item_type));
  TERN_RETURN_IF_ERROR(r.Bin(1, &out->payload));
  out->event_id.reset();
  if (r.Get(2) != nullptr)
    TERN_RETURN_IF_ERROR(r.Id(2, &out->event_id.emplace()));
  TERN_RETURN_IF_ERROR(r.Uint(3, &out->project_id));
  return r.Uint(4, &out->start_time);
}

}  // namespace

// --- ingest messages ---

void EncodeEventMessage(const EventMessage& m, std::string* out) {
  size_t need =
      kMessageOverhead + m.payload.size() + m.remote_addr.value_or("").size();
  for (const ChunkedAttachment& a : m.attachments) need += AttachmentBytes(a);
  out->reserve(out->size() + need);
  Packer p(out);
  p.Map(7);
  p.Str("type");
  p.Str("event");
  p.Str("payload");
  p.Bin(m.payload);
  p.Str("start_time");
  p.Uint(m.start_time);
  p.Str("event_id");
  p.Id(m.event_id);
  p.Str("project_id");
  p.Uint(m.project_id);
  p.Str("remote_addr");
  p.OptStr(m.remote_addr);
  p.Str("attachments");
  p.Array(m.attachments.size());
  for (const ChunkedAttachment& a : m.attachments) p.Attachment(a);
}

void EncodeAttachmentChunkMessage(const AttachmentChunkMessage& m,
                                  std::string* out) {
  out->reserve(out->size() + kMessageOverhead + m.payload.size() + m.id.size());
  Packer p(out);
  p.Map(6);
  p.Str("type");
  p.Str("attachment_chunk");
  p.Str("payload");
  p.Bin(m.payload);
  p.Str("event_id");
  p.Id(m.event_id);
  p.Str("project_id");
  p.Uint(m.project_id);
  p.Str("id");
  p.Str(m.id);
  p.Str("chunk_index");
  p.Uint(m.chunk_index);
}

void EncodeAttachmentMessage(const AttachmentMessage& m, std::string* out) {
  out->reserve(out->size() + kMessageOverhead + AttachmentBytes(m.attachment));
  Packer p(out);
  p.Map(4);
  p.Str("type");
  p.Str("attachment");
  p.Str("event_id");
  p.Id(m.event_id);
  p.Str("project_id");
  p.Uint(m.project_id);
  p.Str("attachment");
  p.Attachment(m.attachment);
}

void EncodeUserReportMessage(const UserReportMessage& m, std::string* out) {
  out->reserve(out->size() + kMessageOverhead + m.payload.size());
  Packer p(out);
  p.Map(4);
  p.Str("type");
  p.Str("user_report");
  p.Str("project_id");
  p.Uint(m.project_id);
  p.Str("start_time");
  p.Uint(m.start_time);
  p.Str("payload");
  p.Bin(m.payload);
}

void EncodeItemMessage(const ItemMessage& m, std::string* out) {
  out->reserve(out->size() + kMessageOverhead + m.payload.size() +
               m.item_type.size());
  Packer p(out);
  p.Map(6);
  p.Str("type");
  p.Str("item");
  p.Str("item_type");
  p.Str(m.item_type);
  p.Str("payload");
  p.Bin(m.payload);
  p.Str("event_id");
  if (m.event_id) {
    p.Id(*m.event_id);
  } else {
    p.Nil();
  }
  p.Str("project_id");
  p.Uint(m.project_id);
  p.Str("start_time");
  p.Uint(m.start_time);
}

void EncodeKafkaMessage(const KafkaMessage& message, std::string* out) {
  std::visit(
      [out](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, EventMessage>) {
          EncodeEventMessage(m, out);
        } else if constexpr (std::is_same_v<T, AttachmentChunkMessage>) {
          EncodeAttachmentChunkMessage(m, out);
        } else if constexpr (std::is_same_v<T, AttachmentMessage>) {
          EncodeAttachmentMessage(m, out);
        } else if constexpr (std::is_same_v<T, UserReportMessage>) {
          EncodeUserReportMessage(m, out);
        } else {
          static_assert(std::is_same_v<T, ItemMessage>);
          EncodeItemMessage(m, out);
        }
      },
      message);
}

struct KafkaMessageDecoder::Impl {
  Impl() { msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE); }
  ~Impl() { msgpack_zone_destroy(&zone); }
  msgpack_zone zone;
};

KafkaMessageDecoder::KafkaMessageDecoder() : impl_(std::make_unique<Impl>()) {}
KafkaMessageDecoder::~KafkaMessageDecoder() = default;

absl::Status KafkaMessageDecoder::Decode(std::string_view value,
                                         KafkaMessage* out) {
  size_t consumed = 0;
  if (!CheckShape(reinterpret_cast<const unsigned char*>(value.data()),
                  value.size(), &consumed)) {
    return BadRequest("malformed msgpack: truncated or invalid");
  }
  if (consumed != value.size()) {
    return BadRequest(
        absl::StrCat("malformed msgpack: ", value.size() - consumed,
                     " trailing bytes after the message"));
  }
  // The decoded message points into `value`, not into the zone, so the zone
  // is emptied again before returning.
  struct ZoneClear {
    msgpack_zone* zone;
    ~ZoneClear() { msgpack_zone_clear(zone); }
  } clear{&impl_->zone};
  msgpack_object root;
  size_t offset = 0;
  const msgpack_unpack_return ret =
      msgpack_unpack(value.data(), value.size(), &offset, &impl_->zone, &root);
  if (ret != MSGPACK_UNPACK_SUCCESS) {
    // The shape check leaves only nesting beyond msgpack-c's fixed stack.
    return BadRequest("malformed msgpack: nesting deeper than 32");
  }
  if (root.type != MSGPACK_OBJECT_MAP) {
    return BadRequest("kafka message is not a msgpack map");
  }
  const msgpack_object* type = nullptr;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const msgpack_object_kv& kv = root.via.map.ptr[i];
    if (kv.key.type == MSGPACK_OBJECT_STR &&
        std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == "type") {
      if (type != nullptr) {
        return BadRequest("kafka message: duplicate key `type`");
      }
      type = &kv.val;
    }
  }
  if (type == nullptr) return BadRequest("kafka message: missing `type`");
  if (type->type != MSGPACK_OBJECT_STR) {
    return BadRequest("kafka message: `type` must be a string");
  }
  const std::string_view name(type->via.str.ptr, type->via.str.size);
  if (name == "event") {
    if (!std::holds_alternative<EventMessage>(*out)) {
      out->emplace<EventMessage>();
    }
    return DecodeEvent(root, &std::get<EventMessage>(*out));
  }
  if (name == "attachment_chunk") {
    return DecodeChunk(root, &out->emplace<AttachmentChunkMessage>());
  }
  if (name == "attachment") {
    return DecodeStandaloneAttachment(root, &out->emplace<AttachmentMessage>());
  }
  if (name == "user_report") {
    return DecodeUserReport(root, &out->emplace<UserReportMessage>());
  }
  if (name == "item") {
    return DecodeItem(root, &out->emplace<ItemMessage>());
  }
  return BadRequest(absl::StrCat("kafka message: unknown `type` \"",
                                 absl::CHexEscape(ToAbsl(name.substr(0, 64))),
                                 "\""));
}

uint64_t AttachmentChunkCount(size_t size, size_t chunk_size) {
  if (chunk_size == 0) chunk_size = kAttachmentChunkSize;
  return size / chunk_size + (size % chunk_size != 0 ? 1 : 0);
}

std::string_view AttachmentChunk(std::string_view payload, uint64_t index,
                                 size_t chunk_size) {
  if (chunk_size == 0) chunk_size = kAttachmentChunkSize;
  if (index >= AttachmentChunkCount(payload.size(), chunk_size)) return {};
  const size_t start = static_cast<size_t>(index) * chunk_size;
  return payload.substr(start, chunk_size);
}

// --- outcomes ---

std::string FormatOutcomeTimestamp(absl::Time t) {
  // By hand rather than absl::FormatTime: %Y does not pad years below 1000,
  // the decoder (like Sentry's) wants exactly four digits, and one outcome
  // goes out per event, so the formatting is worth keeping cheap.
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilSecond cs = absl::ToCivilSecond(t, utc);
  const int64_t micros =
      absl::ToInt64Microseconds(t - absl::FromCivil(cs, utc));  // [0, 1e6)
  std::string out(27, '\0');  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  auto digits = [&out](size_t pos, int64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) {
      out[pos + i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  const int64_t year = cs.year();
  digits(0, year < 0 ? 0 : year > 9999 ? 9999 : year, 4);
  out[4] = '-';
  digits(5, cs.month(), 2);
  out[7] = '-';
  digits(8, cs.day(), 2);
  out[10] = 'T';
  digits(11, cs.hour(), 2);
  out[13] = ':';
  digits(14, cs.minute(), 2);
  out[16] = ':';
  digits(17, cs.second(), 2);
  out[19] = '.';
  digits(20, micros, 6);
  out[26] = 'Z';
  return out;
}

void EncodeOutcome(const OutcomeMessage& m, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("timestamp");
  w.String(FormatOutcomeTimestamp(m.timestamp));
  w.Key("project_id");
  w.Uint(m.project_id);
  w.Key("key_id");
  if (m.key_id) {
    w.Uint(*m.key_id);
  } else {
    w.Null();
  }
  w.Key("outcome");
  w.Uint(static_cast<uint8_t>(m.outcome));
  w.Key("reason");
  if (m.reason) {
    w.String(*m.reason);
  } else {
    w.Null();
  }
  w.Key("event_id");
  if (m.event_id) {
    char hex[32];
    m.event_id->WriteHex(hex);
    w.String(std::string_view(hex, sizeof(hex)));
  } else {
    w.Null();
  }
  w.Key("remote_addr");
  if (m.remote_addr) {
    w.String(*m.remote_addr);
  } else {
    w.Null();
  }
  w.Key("category");
  w.Uint(static_cast<uint8_t>(m.category));
  w.Key("quantity");
  w.Uint(m.quantity);
  w.EndObject();
}

namespace {

// Strict shape of an outcome timestamp: "YYYY-MM-DDTHH:MM:SS", then an
// optional fraction, then "Z". absl::ParseTime alone would also take other
// year widths and offsets, which would not survive a round trip.
bool LooksLikeOutcomeTimestamp(std::string_view s) {
  constexpr std::string_view kPattern = "dddd-dd-ddTdd:dd:dd";
  if (s.size() < kPattern.size() + 1 || s.back() != 'Z') return false;
  for (size_t i = 0; i < kPattern.size(); ++i) {
    const bool digit = s[i] >= '0' && s[i] <= '9';
    if (kPattern[i] == 'd' ? !digit : s[i] != kPattern[i]) return false;
  }
  std::string_view rest =
      s.substr(kPattern.size(), s.size() - 1 - kPattern.size());
  if (rest.empty()) return true;
  if (rest.size() < 2 || rest[0] != '.') return false;
  for (char c : rest.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

struct OutcomeDecoder::Impl {
  simdjson::dom::parser parser;
  std::unique_ptr<char[]> scratch;
  size_t scratch_size = 0;
  std::string reason;
  std::string remote_addr;
};

OutcomeDecoder::OutcomeDecoder() : impl_(std::make_unique<Impl>()) {}
OutcomeDecoder::~OutcomeDecoder() = default;

absl::Status OutcomeDecoder::Decode(std::string_view json,
                                    OutcomeMessage* out) {
  Impl& impl = *impl_;
  const size_t need = json.size() + simdjson::SIMDJSON_PADDING;
  if (need > impl.scratch_size) {
    impl.scratch_size = std::max(need, size_t{1024});
    impl.scratch = std::make_unique<char[]>(impl.scratch_size);
  }
  std::memcpy(impl.scratch.get(), json.data(), json.size());
  std::memset(impl.scratch.get() + json.size(), 0, simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  if (auto e =
          impl.parser.parse(impl.scratch.get(), json.size(), false).get(root)) {
    return BadRequest(absl::StrCat("outcome is not valid JSON (",
                                   simdjson::error_message(e), ")"));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) {
    return BadRequest("outcome is not a JSON object");
  }

  enum Key : unsigned {
    kTimestamp,
    kProjectId,
    kKeyId,
    kOutcome,
    kReason,
    kEventId,
    kRemoteAddr,
    kCategory,
    kQuantity,
    kKeyCount,
  };
  static constexpr std::string_view kNames[kKeyCount] = {
      "timestamp", "project_id",  "key_id",   "outcome", "reason",
      "event_id",  "remote_addr", "category", "quantity"};
  simdjson::dom::element values[kKeyCount];
  unsigned seen = 0;
  for (auto [key, value] : obj) {
    for (unsigned k = 0; k < kKeyCount; ++k) {
      if (key != kNames[k]) continue;
      if (seen & (1u << k)) {
        return BadRequest(
            absl::StrCat("outcome: duplicate key `", ToAbsl(key), "`"));
      }
      seen |= 1u << k;
      values[k] = value;
      break;
    }
  }
  // Present and not null.
  auto has = [&](unsigned k) {
    return (seen & (1u << k)) && !values[k].is_null();
  };
  auto wrong = [](unsigned k, std::string_view expected) {
    return BadRequest(absl::StrCat("outcome: `", ToAbsl(kNames[k]),
                                   "` must be ", ToAbsl(expected)));
  };
  auto uint_at = [&](unsigned k, uint64_t max, uint64_t* v) {
    if (values[k].get_uint64().get(*v) || *v > max) {
      return wrong(k, absl::StrCat("an integer in 0..", max));
    }
    return absl::OkStatus();
  };
  auto string_at = [&](unsigned k, std::string_view* s) {
    if (values[k].get_string().get(*s)) return wrong(k, "a string");
    return absl::OkStatus();
  };
  for (unsigned k : {kTimestamp, kProjectId, kOutcome}) {
    if (!has(k)) {
      return BadRequest(
          absl::StrCat("outcome: missing `", ToAbsl(kNames[k]), "`"));
    }
  }

  OutcomeMessage m;
  std::string_view text;
  TERN_RETURN_IF_ERROR(string_at(kTimestamp, &text));
  std::string err;
  if (!LooksLikeOutcomeTimestamp(text) ||
      !absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", ToAbsl(text), &m.timestamp,
                       &err)) {
    return wrong(kTimestamp,
                 "a UTC timestamp like 2024-05-01T12:00:00.000000Z");
  }
  uint64_t n = 0;
  TERN_RETURN_IF_ERROR(uint_at(kProjectId, UINT64_MAX, &m.project_id));
  if (has(kKeyId)) {
    TERN_RETURN_IF_ERROR(uint_at(kKeyId, UINT64_MAX, &n));
    m.key_id = n;
  }
  TERN_RETURN_IF_ERROR(uint_at(kOutcome, 255, &n));
  m.outcome = static_cast<Outcome>(n);
  if (has(kReason)) {
    TERN_RETURN_IF_ERROR(string_at(kReason, &text));
    impl.reason.assign(text);
    m.reason = impl.reason;
  }
  if (has(kEventId)) {
    TERN_RETURN_IF_ERROR(string_at(kEventId, &text));
    m.event_id = EventId::Parse(text);
    if (!m.event_id) return wrong(kEventId, "an event id");
  }
  if (has(kRemoteAddr)) {
    TERN_RETURN_IF_ERROR(string_at(kRemoteAddr, &text));
    impl.remote_addr.assign(text);
    m.remote_addr = impl.remote_addr;
  }
  if (has(kCategory)) {
    TERN_RETURN_IF_ERROR(uint_at(kCategory, 255, &n));
    m.category = static_cast<DataCategory>(n);
  }
  if (has(kQuantity)) {
    TERN_RETURN_IF_ERROR(uint_at(kQuantity, UINT32_MAX, &n));
    m.quantity = static_cast<uint32_t>(n);
  }
  *out = m;
  return absl::OkStatus();
}

}  // namespace tern::protocol
