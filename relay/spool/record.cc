#include "relay/spool/record.h"

#include <cstring>

#include "protocol/checksum.h"

namespace tern::relay::spool {
namespace {

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) {
    b[i] = static_cast<char>(static_cast<uint64_t>(v) >> (8 * i));
  }
  out->append(b, sizeof(T));
}

template <typename T>
T Get(const char* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  }
  return static_cast<T>(v);
}

size_t BodySize(const Record& r) {
  size_t n = kBodyFixedBytes + r.topic.size() + r.key.size() + r.value.size();
  for (const RecordHeader& h : r.headers) {
    n += 2 + 4 + h.name.size() + h.value.size();
  }
  return n;
}

// Parses a body whose CRC already matched; false when its lengths do not
// add up (a writer bug or a CRC collision on damage).
bool ParseBody(std::string_view body, Record* r) {
  if (body.size() < kBodyFixedBytes) return false;
  const char* p = body.data();
  r->meta.received_ms = Get<int64_t>(p);
  r->meta.project_id = Get<uint64_t>(p + 8);
  r->meta.key_id = Get<uint64_t>(p + 16);
  r->meta.quantity = Get<uint32_t>(p + 24);
  r->meta.category = Get<uint8_t>(p + 28);
  const size_t header_count = Get<uint8_t>(p + 29);
  const size_t topic_len = Get<uint16_t>(p + 30);
  const size_t key_len = Get<uint32_t>(p + 32);
  const size_t value_len = Get<uint32_t>(p + 36);
  size_t at = kBodyFixedBytes;
  auto take = [&](size_t n, std::string_view* v) {
    if (n > body.size() - at) return false;
    *v = body.substr(at, n);
    at += n;
    return true;
  };
  if (!take(topic_len, &r->topic) || !take(key_len, &r->key) ||
      !take(value_len, &r->value)) {
    return false;
  }
  r->headers.clear();
  for (size_t i = 0; i < header_count; ++i) {
    if (body.size() - at < 6) return false;
    const size_t name_len = Get<uint16_t>(body.data() + at);
    const size_t hvalue_len = Get<uint32_t>(body.data() + at + 2);
    at += 6;
    RecordHeader h;
    if (!take(name_len, &h.name) || !take(hvalue_len, &h.value)) return false;
    r->headers.push_back(h);
  }
  return at == body.size();
}

}  // namespace

size_t EncodedSize(const Record& r) { return kFrameBytes + BodySize(r); }

bool AppendRecord(const Record& r, std::string* out) {
  const size_t body = BodySize(r);
  if (r.topic.size() > 0xffff || r.headers.size() > 0xff ||
      body > kMaxRecordBody) {
    return false;
  }
  for (const RecordHeader& h : r.headers) {
    if (h.name.size() > 0xffff) return false;
  }
  const size_t start = out->size();
  out->reserve(start + kFrameBytes + body);
  Put<uint32_t>(out, kRecordMagic);
  Put<uint32_t>(out, 0);  // CRC, filled in below
  Put<uint32_t>(out, static_cast<uint32_t>(body));
  Put<int64_t>(out, r.meta.received_ms);
  Put<uint64_t>(out, r.meta.project_id);
  Put<uint64_t>(out, r.meta.key_id);
  Put<uint32_t>(out, r.meta.quantity);
  Put<uint8_t>(out, r.meta.category);
  Put<uint8_t>(out, static_cast<uint8_t>(r.headers.size()));
  Put<uint16_t>(out, static_cast<uint16_t>(r.topic.size()));
  Put<uint32_t>(out, static_cast<uint32_t>(r.key.size()));
  Put<uint32_t>(out, static_cast<uint32_t>(r.value.size()));
  out->append(r.topic);
  out->append(r.key);
  out->append(r.value);
  for (const RecordHeader& h : r.headers) {
    Put<uint16_t>(out, static_cast<uint16_t>(h.name.size()));
    Put<uint32_t>(out, static_cast<uint32_t>(h.value.size()));
    out->append(h.name);
    out->append(h.value);
  }
  const uint32_t crc =
      protocol::Crc32(0, std::string_view(*out).substr(start + 8, 4 + body));
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(crc >> (8 * i));
  std::memcpy(out->data() + start + 4, b, 4);
  return true;
}

ScanStats ScanSegment(
    std::string_view data,
    const std::function<bool(uint64_t, size_t, const Record&)>& on_record) {
  ScanStats st;
  size_t at = 0;
  if (data.substr(0, kFileHeader.size()) == kFileHeader) {
    at = kFileHeader.size();
  } else {
    st.bad_header = true;
  }
  st.good_end = at;
  Record r;
  // Start of the damaged run being skipped, or npos when in good data.
  size_t bad_from = st.bad_header && !data.empty() ? 0 : std::string_view::npos;
  auto end_bad_run = [&](size_t until) {
    if (bad_from == std::string_view::npos) return;
    // A file without its header may start right at a good record: an empty
    // run is no damage.
    if (until > bad_from) {
      ++st.bad_regions;
      st.bad_bytes += until - bad_from;
    }
    bad_from = std::string_view::npos;
  };
  while (at < data.size()) {
    const size_t left = data.size() - at;
    bool good = false;
    size_t len = 0;
    if (left >= kFrameBytes &&
        Get<uint32_t>(data.data() + at) == kRecordMagic) {
      len = Get<uint32_t>(data.data() + at + 8);
      if (len <= kMaxRecordBody && len <= left - kFrameBytes) {
        const uint32_t crc = Get<uint32_t>(data.data() + at + 4);
        good = protocol::Crc32(0, data.substr(at + 8, 4 + len)) == crc &&
               ParseBody(data.substr(at + kFrameBytes, len), &r);
      }
    }
    if (!good) {
      if (bad_from == std::string_view::npos) bad_from = at;
      ++at;
      continue;
    }
    end_bad_run(at);
    const size_t offset = at;
    at += kFrameBytes + len;
    st.good_end = at;
    if (!on_record(st.records++, offset, r)) return st;
  }
  if (bad_from != std::string_view::npos) {
    st.damage_at_end = true;
    end_bad_run(data.size());
  }
  return st;
}

}  // namespace tern::relay::spool
