// A latency histogram for the load generator (bench/load_gen.cc): log-linear buckets (each
// power of two of microseconds split into 32 equal buckets, so a bucket is at most ~3 % wide)
// from 1 us to ~73 min, a fixed array with no allocation per sample. Percentiles are read at a
// bucket's midpoint.
//
// Thread safety: none; each caller thread records into its own histogram, and the histograms
// are merged (Add) once the callers have stopped.
#ifndef TASK_SENTINEL_BENCH_LATENCY_HISTOGRAM_H_
#define TASK_SENTINEL_BENCH_LATENCY_HISTOGRAM_H_

#include <array>
#include <cstdint>

#include "absl/time/time.h"

namespace tasksentinel::bench {

class LatencyHistogram {
 public:
  // Records one sample; below 1 us counts as 1 us, beyond the range as its largest bucket.
  void Record(absl::Duration latency) {
    int64_t us = absl::ToInt64Microseconds(latency);
    if (us < 1) us = 1;
    ++counts_[Index(static_cast<uint64_t>(us))];
    ++total_;
  }

  // Adds every sample of `other`.
  void Add(const LatencyHistogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
  }

  // The samples recorded.
  uint64_t count() const { return total_; }

  // The latency at or below which a fraction `q` (0..1) of the samples lie; zero when empty.
  absl::Duration Percentile(double q) const {
    if (total_ == 0) return absl::ZeroDuration();
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_) + 0.5);
    if (rank < 1) rank = 1;
    if (rank > total_) rank = total_;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return absl::Microseconds((Lower(i) + Lower(i + 1)) / 2.0);
      }
    }
    return absl::Microseconds(Lower(counts_.size()));
  }

 private:
  static constexpr int kSubBits = 5;  // 32 buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kOctaves = 32;  // 1 us .. 2^32 us

  // Values below kSub get a bucket each; above, the top kSubBits + 1 bits pick the bucket.
  static size_t Index(uint64_t us) {
    if (us < kSub) return static_cast<size_t>(us);
    const int msb = 63 - __builtin_clzll(us);  // >= kSubBits
    const int shift = msb - kSubBits;
    const size_t index = static_cast<size_t>((shift + 1) * kSub) +
                         static_cast<size_t>((us >> shift) - kSub);
    return index < kBuckets ? index : kBuckets - 1;
  }

  // The smallest value of bucket `i` (in us), the inverse of Index.
  static double Lower(size_t i) {
    if (i < static_cast<size_t>(kSub)) return static_cast<double>(i);
    const int shift = static_cast<int>(i / kSub) - 1;
    return static_cast<double>((static_cast<uint64_t>(kSub) + i % kSub) << shift);
  }

  static constexpr size_t kBuckets = static_cast<size_t>((kOctaves - kSubBits + 1) * kSub);
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
};

}  // namespace tasksentinel::bench

#endif  // TASK_SENTINEL_BENCH_LATENCY_HISTOGRAM_H_
