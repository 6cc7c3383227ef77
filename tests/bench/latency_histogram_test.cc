// The load generator's latency histogram: percentiles within a bucket's width (~3 %) of the
// exact ones, merging, the empty case and values out of range.
#include "bench/latency_histogram.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tasksentinel::bench {
namespace {

double Us(absl::Duration d) { return absl::ToDoubleMicroseconds(d); }

TEST(LatencyHistogramTest, PercentilesAreWithinABucketOfTheExactOnes) {
  LatencyHistogram h;
  for (int us = 1; us <= 100000; ++us) h.Record(absl::Microseconds(us));
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_NEAR(Us(h.Percentile(0.50)), 50000, 50000 * 0.035);
  EXPECT_NEAR(Us(h.Percentile(0.99)), 99000, 99000 * 0.035);
  EXPECT_NEAR(Us(h.Percentile(0.001)), 100, 100 * 0.035);
  EXPECT_NEAR(Us(h.Percentile(1.0)), 100000, 100000 * 0.035);
}

TEST(LatencyHistogramTest, SmallValuesAreExactToHalfAMicrosecond) {
  LatencyHistogram h;
  for (int i = 0; i < 99; ++i) h.Record(absl::Microseconds(7));
  h.Record(absl::Microseconds(20));
  EXPECT_DOUBLE_EQ(Us(h.Percentile(0.5)), 7.5);
  EXPECT_DOUBLE_EQ(Us(h.Percentile(1.0)), 20.5);
}

TEST(LatencyHistogramTest, MergesAndHandlesEmptyAndOutOfRange) {
  LatencyHistogram a, b;
  EXPECT_EQ(a.Percentile(0.99), absl::ZeroDuration());
  a.Record(absl::Nanoseconds(10));  // below 1 us: counted as 1 us
  b.Record(absl::Hours(1000));      // beyond the range: the largest bucket
  a.Add(b);
  EXPECT_EQ(a.count(), 2u);
  EXPECT_DOUBLE_EQ(Us(a.Percentile(0.5)), 1.5);
  EXPECT_GT(a.Percentile(1.0), absl::Minutes(60));
}

}  // namespace
}  // namespace tasksentinel::bench
