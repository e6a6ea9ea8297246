#include "bench/tern_bench/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace tern::bench {
namespace {

// The sample of rank ceil(p/100 * n) in sorted order: the definition the
// histogram promises to approximate from above within 1/128.
uint64_t Reference(std::vector<uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  uint64_t rank = static_cast<uint64_t>(
      std::ceil(p / 100.0 * static_cast<double>(v.size()) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, v.size());
  return v[rank - 1];
}

void ExpectClose(const Histogram& h, const std::vector<uint64_t>& values) {
  for (double p : {0.1, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const uint64_t want = Reference(values, p);
    const uint64_t got = h.Percentile(p);
    EXPECT_GE(got, want) << "p" << p;
    // got - want, not want + want / 128: values near 2^64 must not wrap.
    if (got >= want) {
      EXPECT_LE(got - want, want / Histogram::kHalf) << "p" << p;
    }
  }
}

TEST(HistogramTest, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  std::vector<uint64_t> values;
  for (uint64_t v = 0; v < Histogram::kSubCount; ++v) {
    h.Record(v);
    values.push_back(v);
  }
  for (double p : {1.0, 25.0, 50.0, 75.0, 99.0, 100.0}) {
    EXPECT_EQ(h.Percentile(p), Reference(values, p)) << p;
  }
  EXPECT_EQ(h.max(), Histogram::kSubCount - 1);
  EXPECT_EQ(h.min(), 0u);
}

TEST(HistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  // Every bucket starts right after the previous one ends, and is no wider
  // than 1/128 of its lowest value: the precision promise.
  for (size_t b = 1; b < Histogram::kBuckets; ++b) {
    ASSERT_EQ(Histogram::BucketLow(b), Histogram::BucketHigh(b - 1) + 1) << b;
    const uint64_t width = Histogram::BucketHigh(b) - Histogram::BucketLow(b);
    if (b >= Histogram::kSubCount) {
      ASSERT_LE(width, Histogram::BucketLow(b) / Histogram::kHalf) << b;
    }
  }
  EXPECT_EQ(Histogram::BucketHigh(Histogram::kBuckets - 1), UINT64_MAX);
  for (uint64_t v : {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{257},
                     uint64_t{1000}, uint64_t{123456789}, UINT64_MAX}) {
    const size_t b = Histogram::BucketOf(v);
    EXPECT_LE(Histogram::BucketLow(b), v);
    EXPECT_GE(Histogram::BucketHigh(b), v);
  }
}

TEST(HistogramTest, PercentilesMatchSortedReferenceLogNormal) {
  // Latency-shaped data: log-normal around 1 ms with a long tail.
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(std::log(1e6), 0.8);
  Histogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    h.Record(v);
    values.push_back(v);
  }
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
  ExpectClose(h, values);
}

TEST(HistogramTest, PercentilesMatchSortedReferenceBimodalAndHuge) {
  std::mt19937_64 rng(7);
  Histogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 20000; ++i) {
    // Mostly fast, a few stalls, and some values near the top of uint64.
    uint64_t v = 50'000 + rng() % 100'000;
    if (i % 97 == 0) v = 2'000'000'000 + rng() % 1'000'000'000;
    if (i % 1999 == 0) v = UINT64_MAX - rng() % 1000;
    h.Record(v);
    values.push_back(v);
  }
  ExpectClose(h, values);
  EXPECT_EQ(h.Percentile(100), h.max());
}

TEST(HistogramTest, MergeEqualsRecordingEverythingInOne) {
  Histogram a, b, all;
  std::vector<uint64_t> values;
  for (uint64_t i = 1; i <= 5000; ++i) {
    const uint64_t v = i * i * 37;
    (i % 3 ? a : b).Record(v);
    all.Record(v);
    values.push_back(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    EXPECT_EQ(a.Percentile(p), all.Percentile(p));
  }
  ExpectClose(a, values);
  a.Reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.Percentile(99), 0u);
}

TEST(HistogramTest, RecordNCountsRepeats) {
  Histogram h;
  h.RecordN(1000, 99);
  h.RecordN(5'000'000, 1);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_LE(h.Percentile(99), 1000u + 1000u / Histogram::kHalf);
  EXPECT_GE(h.Percentile(99), 1000u);
  EXPECT_EQ(h.Percentile(100), 5'000'000u);
}

}  // namespace
}  // namespace tern::bench
