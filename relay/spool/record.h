// The on-disk format of the relay's spool (docs/spool.md): a segment file is
// an 8-byte file header followed by records, each framed and checksummed so
// that a torn tail or a flipped bit is found and skipped without trusting any
// length that the damage may have changed.
//
//   file header  "TSPOOL1\n"
//   record       u32 magic 0x52505354 ("TSPR" little-endian)
//                u32 crc   CRC-32 of the next 4 + len bytes
//                u32 len   body length (at most kMaxRecordBody)
//                body      i64 received_ms, u64 project_id, u64 key_id,
//                          u32 quantity, u8 category, u8 header_count,
//                          u16 topic_len, u32 key_len, u32 value_len,
//                          topic, key, value,
//                          header_count x (u16 name_len, u32 value_len,
//                                          name, value)
// All integers are little-endian. A record holds the Kafka message exactly as
// the relay produces it (topic, key, value, headers) plus what an outcome
// for it needs (project, key id, data category, quantity, arrival time).
//
// Pure functions over byte strings: no I/O, no allocation beyond the output
// string, so the fuzzer can run them over arbitrary files.
#ifndef TERN_RELAY_SPOOL_RECORD_H_
#define TERN_RELAY_SPOOL_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern::relay::spool {

inline constexpr std::string_view kFileHeader = "TSPOOL1\n";
inline constexpr uint32_t kRecordMagic = 0x52505354;
// magic + crc + len.
inline constexpr size_t kFrameBytes = 12;
// The fixed part of a body, before topic, key and value.
inline constexpr size_t kBodyFixedBytes = 8 + 8 + 8 + 4 + 1 + 1 + 2 + 4 + 4;
// Larger bodies are refused on write and taken as damage on read, so a
// corrupt length can never make a reader allocate or skip gigabytes.
inline constexpr uint32_t kMaxRecordBody = 256u << 20;

struct RecordHeader {
  std::string_view name;
  std::string_view value;
};

// What the outcome of a record needs; the relay fills it from the request.
struct RecordMeta {
  int64_t received_ms = 0;
  uint64_t project_id = 0;
  uint64_t key_id = 0;
  uint32_t quantity = 1;
  uint8_t category = 0;  // protocol::DataCategory
};

// One record; every view points into the buffer it was read from (or, for
// writing, into the caller's strings).
struct Record {
  RecordMeta meta;
  std::string_view topic;
  std::string_view key;
  std::string_view value;
  std::vector<RecordHeader> headers;
};

// The encoded size of `r` (frame included).
size_t EncodedSize(const Record& r);

// Appends `r` framed and checksummed to `out`. False (and `out` unchanged)
// when a field does not fit the format: topic over 65535 bytes, more than
// 255 headers, a header name over 65535 bytes, or a body over
// kMaxRecordBody.
bool AppendRecord(const Record& r, std::string* out);

// What a scan of one segment's bytes found.
struct ScanStats {
  uint64_t records = 0;      // good records handed to the callback
  uint64_t bad_regions = 0;  // runs of damaged bytes skipped (each loses >=1
                             // record, unless it is a torn tail)
  uint64_t bad_bytes = 0;    // bytes in those runs
  bool bad_header = false;   // the file header was missing or wrong
  // Offset just past the last good record (or the file header when there is
  // none): where a writer may truncate a file whose damage runs to its end.
  size_t good_end = 0;
  // True when the damage (if any) runs to the end of the data: a torn tail,
  // which truncating at good_end removes.
  bool damage_at_end = false;
};

// Walks `data` (a whole segment file) and calls `on_record(index, offset,
// record)` for every good record, in file order; `index` counts good records
// from 0. A record is good when its magic, length and CRC agree and its body
// parses. After damage the scan resynchronises on the next magic whose
// record checks out, so one flipped bit costs one record, not the rest of the
// file. Never reads outside `data`, never allocates per record, always
// terminates (each byte offset is tried as a record start at most once).
// `on_record` returns false to stop.
ScanStats ScanSegment(std::string_view data,
                      const std::function<bool(uint64_t index, size_t offset,
                                               const Record&)>& on_record);

}  // namespace tern::relay::spool

#endif  // TERN_RELAY_SPOOL_RECORD_H_
