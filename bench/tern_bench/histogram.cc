#include "bench/tern_bench/histogram.h"

#include <algorithm>
#include <cmath>

namespace tern::bench {

Histogram::Histogram() : buckets_(kBuckets, 0) {}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  if (other.count_) {
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
  }
}

void Histogram::Reset() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = 0;
  sum_ = 0;
  max_ = 0;
  min_ = UINT64_MAX;
}

double Histogram::mean() const {
  return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
}

uint64_t Histogram::BucketLow(size_t bucket) {
  if (bucket < kSubCount) return bucket;
  const uint64_t shift = bucket / kHalf - 1;
  const uint64_t sub = bucket - shift * kHalf;  // in [kHalf, kSubCount)
  return sub << shift;
}

uint64_t Histogram::BucketHigh(size_t bucket) {
  if (bucket < kSubCount) return bucket;
  const uint64_t shift = bucket / kHalf - 1;
  return BucketLow(bucket) + ((uint64_t{1} << shift) - 1);
}

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Rank (1-based) of the wanted sample; at least the first.
  uint64_t rank = static_cast<uint64_t>(
      std::ceil(p / 100.0 * static_cast<double>(count_) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(BucketHigh(i), max_);
  }
  return max_;
}

}  // namespace tern::bench
