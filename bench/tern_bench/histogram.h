// A log-linear latency histogram in the manner of HdrHistogram: exact below
// 256, then each power of two split into 128 equal buckets, so every
// recorded value is known to within 1/128 (0.8%) of itself, over the whole
// uint64 range, in a fixed 60 KB array with no allocation after
// construction. Recording is an index computation and an increment, cheap
// enough for every response of a load generator that must not measure
// itself.
//
// Values are whatever unit the caller records (tern-bench records
// nanoseconds). Percentiles are reported as the highest value that is
// equivalent to the bucket holding the wanted rank (capped at the largest
// value recorded), so a reported p99 is never below the true p99 and at most
// 1/128 above it.
#ifndef TERN_BENCH_TERN_BENCH_HISTOGRAM_H_
#define TERN_BENCH_TERN_BENCH_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tern::bench {

class Histogram {
 public:
  // Sub-bucket resolution: 2^kSubBits values are exact, and every later
  // power of two has 2^(kSubBits-1) buckets.
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kSubCount = uint64_t{1} << kSubBits;  // 256
  static constexpr uint64_t kHalf = kSubCount / 2;                // 128
  static constexpr size_t kBuckets = (64 - kSubBits) * kHalf + kSubCount;

  Histogram();

  void Record(uint64_t value) { RecordN(value, 1); }
  void RecordN(uint64_t value, uint64_t n) {
    buckets_[BucketOf(value)] += n;
    count_ += n;
    sum_ += value * n;
    if (value > max_) max_ = value;
    if (value < min_) min_ = value;
  }

  // Adds every sample of `other`.
  void Merge(const Histogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t max() const { return count_ ? max_ : 0; }
  uint64_t min() const { return count_ ? min_ : 0; }
  double mean() const;

  // The value at percentile `p` (0 < p <= 100): the smallest recorded value
  // v, to the histogram's precision, such that at least p% of the samples
  // are <= v; that is the sample of rank ceil(p/100 * count) (1-based) in
  // sorted order. 0 when empty. p is clamped to (0, 100].
  uint64_t Percentile(double p) const;

  // Bucket arithmetic, public for tests and for dumping the distribution.
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);  // inclusive
  uint64_t bucket_count(size_t bucket) const { return buckets_[bucket]; }

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

inline size_t Histogram::BucketOf(uint64_t value) {
  if (value < kSubCount) return static_cast<size_t>(value);
  const int msb = 63 - __builtin_clzll(value);
  const int shift = msb - kSubBits + 1;  // >= 1
  // value >> shift lies in [kHalf, kSubCount).
  return static_cast<size_t>(static_cast<uint64_t>(shift) * kHalf +
                             (value >> shift));
}

}  // namespace tern::bench

#endif  // TERN_BENCH_TERN_BENCH_HISTOGRAM_H_
