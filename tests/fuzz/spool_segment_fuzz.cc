// Spool segment fuzzer.
//
// Arbitrary bytes are scanned as a segment file, as the relay does at start
// with what a crash, a power loss or a disk error left. The scan must end,
// hand out only records that lie inside the input and re-encode to exactly
// the bytes they were read from, account for every byte it skipped, and
// leave a file that, cut at good_end when the damage runs to the end, scans
// clean with the same records.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/spool/record.h"

namespace {

using tern::relay::spool::kFileHeader;
using tern::relay::spool::Record;
using tern::relay::spool::ScanSegment;
using tern::relay::spool::ScanStats;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() &&
          part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static std::string encoded;
  uint64_t record_bytes = 0;
  uint64_t seen = 0;
  size_t last_end = 0;
  const ScanStats st =
      ScanSegment(input, [&](uint64_t index, size_t offset, const Record& r) {
        Check(index == seen++);
        Check(offset >= last_end && offset < input.size());
        Check(Inside(r.topic, input) && Inside(r.key, input) &&
              Inside(r.value, input));
        for (const auto& h : r.headers) {
          Check(Inside(h.name, input) && Inside(h.value, input));
        }
        encoded.clear();
        Check(tern::relay::spool::AppendRecord(r, &encoded));
        Check(encoded.size() == tern::relay::spool::EncodedSize(r));
        Check(input.substr(offset, encoded.size()) == encoded);
        last_end = offset + encoded.size();
        record_bytes += encoded.size();
        return true;
      });
  Check(st.records == seen);
  Check(st.good_end <= input.size());
  // Every byte is the header, a good record or counted as damage.
  const size_t header = st.bad_header ? 0 : kFileHeader.size();
  Check(header + record_bytes + st.bad_bytes == input.size());
  Check((st.bad_bytes == 0) == (st.bad_regions == 0));
  if (st.damage_at_end && !st.bad_header) {
    // What the relay keeps of a torn file scans clean.
    const ScanStats cut =
        ScanSegment(input.substr(0, st.good_end),
                    [](uint64_t, size_t, const Record&) { return true; });
    Check(cut.records == st.records);
    Check(cut.bad_regions + 1 == st.bad_regions && !cut.damage_at_end);
  }
  return 0;
}
