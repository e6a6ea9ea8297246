#include "relay/spool/record.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tern::relay::spool {
namespace {

Record Make(std::string_view topic, std::string_view key,
            std::string_view value, int64_t ms = 1700000000000) {
  Record r;
  r.meta.received_ms = ms;
  r.meta.project_id = 42;
  r.meta.key_id = 7;
  r.meta.quantity = 3;
  r.meta.category = 1;
  r.topic = topic;
  r.key = key;
  r.value = value;
  return r;
}

struct Seen {
  uint64_t index;
  size_t offset;
  std::string topic, key, value;
  RecordMeta meta;
  std::vector<std::pair<std::string, std::string>> headers;
};

std::vector<Seen> ScanAll(std::string_view data, ScanStats* stats) {
  std::vector<Seen> out;
  *stats = ScanSegment(data, [&](uint64_t i, size_t off, const Record& r) {
    Seen s{i,
           off,
           std::string(r.topic),
           std::string(r.key),
           std::string(r.value),
           r.meta,
           {}};
    for (const RecordHeader& h : r.headers) {
      s.headers.emplace_back(std::string(h.name), std::string(h.value));
    }
    out.push_back(std::move(s));
    return true;
  });
  return out;
}

std::string Segment3() {
  std::string data(kFileHeader);
  EXPECT_TRUE(AppendRecord(Make("events", "k1", "first"), &data));
  EXPECT_TRUE(
      AppendRecord(Make("events", "k2", std::string(1000, 'x')), &data));
  EXPECT_TRUE(AppendRecord(Make("outcomes", "", "third"), &data));
  return data;
}

TEST(SpoolRecordTest, RoundTripKeepsEveryField) {
  std::string data(kFileHeader);
  Record r = Make("ingest-events", "0123abcd", "{\"a\":1}", -5);
  r.headers.push_back({"h1", "v1"});
  const std::string long_value(300, 'z');
  r.headers.push_back({"", long_value});
  ASSERT_TRUE(AppendRecord(r, &data));
  EXPECT_EQ(data.size(), kFileHeader.size() + EncodedSize(r));
  ScanStats st;
  const auto seen = ScanAll(data, &st);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(st.records, 1u);
  EXPECT_EQ(st.bad_regions, 0u);
  EXPECT_FALSE(st.bad_header);
  EXPECT_FALSE(st.damage_at_end);
  EXPECT_EQ(st.good_end, data.size());
  EXPECT_EQ(seen[0].offset, kFileHeader.size());
  EXPECT_EQ(seen[0].topic, "ingest-events");
  EXPECT_EQ(seen[0].key, "0123abcd");
  EXPECT_EQ(seen[0].value, "{\"a\":1}");
  EXPECT_EQ(seen[0].meta.received_ms, -5);
  EXPECT_EQ(seen[0].meta.project_id, 42u);
  EXPECT_EQ(seen[0].meta.key_id, 7u);
  EXPECT_EQ(seen[0].meta.quantity, 3u);
  EXPECT_EQ(seen[0].meta.category, 1);
  ASSERT_EQ(seen[0].headers.size(), 2u);
  EXPECT_EQ(seen[0].headers[0],
            (std::pair<std::string, std::string>{"h1", "v1"}));
  EXPECT_EQ(seen[0].headers[1].second, std::string(300, 'z'));
}

TEST(SpoolRecordTest, RefusesWhatTheFormatCannotHold) {
  std::string out;
  EXPECT_FALSE(AppendRecord(Make(std::string(70000, 't'), "", ""), &out));
  Record many = Make("t", "", "");
  std::vector<std::string> names(256, "n");
  for (const std::string& n : names) many.headers.push_back({n, ""});
  EXPECT_FALSE(AppendRecord(many, &out));
  EXPECT_TRUE(out.empty());
}

TEST(SpoolRecordTest, ABitFlipCostsOneRecordAndTheScanResynchronises) {
  const std::string clean = Segment3();
  ScanStats st;
  const auto all = ScanAll(clean, &st);
  ASSERT_EQ(all.size(), 3u);
  // Flip one bit in the middle of the second record's value.
  std::string data = clean;
  data[all[1].offset + kFrameBytes + kBodyFixedBytes + 20] ^= 0x10;
  const auto seen = ScanAll(data, &st);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].value, "first");
  EXPECT_EQ(seen[1].value, "third");
  EXPECT_EQ(seen[1].index, 1u);  // good records are counted from 0
  EXPECT_EQ(st.bad_regions, 1u);
  EXPECT_EQ(st.bad_bytes, all[2].offset - all[1].offset);
  EXPECT_FALSE(st.damage_at_end);
  EXPECT_EQ(st.good_end, data.size());
}

TEST(SpoolRecordTest, ADamagedLengthIsNotTrusted) {
  std::string data = Segment3();
  ScanStats st;
  const auto all = ScanAll(data, &st);
  // The first record's length now claims far more than the file holds.
  data[all[0].offset + 8 + 3] = 0x7f;
  const auto seen = ScanAll(data, &st);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].key, "k2");
  EXPECT_EQ(st.bad_regions, 1u);
}

TEST(SpoolRecordTest, ATornTailIsReportedForTruncation) {
  const std::string clean = Segment3();
  ScanStats st;
  const auto all = ScanAll(clean, &st);
  for (size_t cut = all[2].offset + 1; cut < clean.size(); cut += 3) {
    const auto seen = ScanAll(std::string_view(clean).substr(0, cut), &st);
    ASSERT_EQ(seen.size(), 2u) << cut;
    EXPECT_TRUE(st.damage_at_end) << cut;
    EXPECT_EQ(st.good_end, all[2].offset) << cut;
    EXPECT_EQ(st.bad_bytes, cut - all[2].offset) << cut;
  }
  // Cut exactly at a record boundary: nothing is damaged.
  ScanAll(std::string_view(clean).substr(0, all[2].offset), &st);
  EXPECT_FALSE(st.damage_at_end);
  EXPECT_EQ(st.bad_regions, 0u);
}

TEST(SpoolRecordTest, ABadFileHeaderStillYieldsTheRecords) {
  std::string data = Segment3();
  data[2] = '!';
  ScanStats st;
  const auto seen = ScanAll(data, &st);
  EXPECT_TRUE(st.bad_header);
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(st.bad_regions, 1u);
  EXPECT_EQ(st.bad_bytes, kFileHeader.size());
}

TEST(SpoolRecordTest, AFileWithoutHeaderMayStartAtARecord) {
  // Found by the fuzzer: no header, a good record at offset 0. That is a bad
  // header but no damaged run, and every byte is a record's.
  const std::string data = Segment3().substr(kFileHeader.size());
  ScanStats st;
  const auto seen = ScanAll(data, &st);
  EXPECT_TRUE(st.bad_header);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].offset, 0u);
  EXPECT_EQ(st.bad_regions, 0u);
  EXPECT_EQ(st.bad_bytes, 0u);
  EXPECT_FALSE(st.damage_at_end);
  EXPECT_EQ(st.good_end, data.size());
}

TEST(SpoolRecordTest, GarbageAndEmptyInputsTerminate) {
  ScanStats st;
  EXPECT_TRUE(ScanAll("", &st).empty());
  EXPECT_TRUE(st.bad_header);
  EXPECT_EQ(st.bad_regions, 0u);
  std::string junk(100000, '\0');
  for (size_t i = 0; i < junk.size(); i += 7) {
    junk[i] = static_cast<char>(0x54);  // partial magics everywhere
  }
  EXPECT_TRUE(ScanAll(junk, &st).empty());
  EXPECT_EQ(st.bad_regions, 1u);
  EXPECT_EQ(st.bad_bytes, junk.size());
  EXPECT_TRUE(st.damage_at_end);
}

TEST(SpoolRecordTest, TheCallbackCanStopTheScan) {
  const std::string data = Segment3();
  int calls = 0;
  const ScanStats st = ScanSegment(data, [&](uint64_t, size_t, const Record&) {
    ++calls;
    return false;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(st.records, 1u);
}

}  // namespace
}  // namespace tern::relay::spool
