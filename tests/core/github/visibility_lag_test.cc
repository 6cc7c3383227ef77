// The read-lag estimate that sizes the claim-visibility window (core/github/visibility_lag.h).
#include "core/github/visibility_lag.h"

#include "gtest/gtest.h"

namespace tasksentinel::github {
namespace {

constexpr absl::Duration kBase = absl::Milliseconds(300);
constexpr absl::Duration kRetry = absl::Milliseconds(500);
constexpr absl::Duration kMax = absl::Seconds(10);

TEST(VisibilityLagTest, WithoutLagTheConfiguredSettleApplies) {
  VisibilityLag lag(kBase, kRetry, kMax);
  EXPECT_EQ(lag.Settle(), kBase);
  EXPECT_EQ(lag.RetryWait(), kRetry);
  EXPECT_EQ(lag.Estimate(), absl::ZeroDuration());
  lag.Seen(kBase, /*first_list=*/true);
  EXPECT_EQ(lag.Settle(), kBase);
  EXPECT_FALSE(lag.Lagging());
}

TEST(VisibilityLagTest, AClaimNeverSeenWidensTheWindowBeyondIt) {
  VisibilityLag lag(kBase, kRetry, kMax);
  // 300 ms + 3 x 500 ms: not seen.
  lag.NotSeen(absl::Milliseconds(1800));
  EXPECT_EQ(lag.Estimate(), absl::Milliseconds(2700));
  // The next claim's first list comes well after the whole failed window: a 3 s lag is covered.
  EXPECT_GT(lag.Settle(), absl::Seconds(3));
  EXPECT_EQ(lag.RetryWait(), absl::Milliseconds(675));
}

TEST(VisibilityLagTest, ASteadyLagIsTrackedWithoutLosingClaims) {
  // Simulates claims against a steady 3 s lag: each is listed after Settle(), then every
  // RetryWait(), up to 3 more times. After the first miss, every claim is seen in its window.
  VisibilityLag lag(kBase, kRetry, kMax);
  const absl::Duration real_lag = absl::Seconds(3);
  int unseen = 0;
  int extra_lists = 0;
  for (int claim = 0; claim < 50; ++claim) {
    absl::Duration waited = lag.Settle();
    bool seen = false;
    for (int attempt = 0; attempt <= 3; ++attempt) {
      if (attempt > 0) waited += lag.RetryWait();
      if (waited >= real_lag) {
        lag.Seen(waited, attempt == 0);
        extra_lists += attempt;
        seen = true;
        break;
      }
    }
    if (!seen) {
      lag.NotSeen(waited);
      ++unseen;
    }
  }
  EXPECT_EQ(unseen, 1);          // only the first claim, before anything was measured
  EXPECT_LE(extra_lists, 50 / 2);  // most claims are seen at their first list
  EXPECT_GE(lag.Estimate(), absl::Milliseconds(2000));
  EXPECT_LE(lag.Settle(), absl::Seconds(5));  // and the wait stays near the lag, not the bound
}

TEST(VisibilityLagTest, ALagThatEndsStopsSlowingClaims) {
  VisibilityLag lag(kBase, kRetry, kMax);
  lag.Seen(absl::Seconds(4), /*first_list=*/false);
  EXPECT_EQ(lag.Estimate(), absl::Seconds(4));
  for (int i = 0; i < 60; ++i) lag.Seen(lag.Settle(), /*first_list=*/true);
  EXPECT_EQ(lag.Estimate(), absl::ZeroDuration());
  EXPECT_EQ(lag.Settle(), kBase);
}

TEST(VisibilityLagTest, TheWaitIsBoundedAndTheBoundIsReported) {
  VisibilityLag lag(kBase, kRetry, kMax);
  for (int i = 0; i < 10; ++i) lag.NotSeen(absl::Seconds(8));
  EXPECT_EQ(lag.Estimate(), kMax);
  EXPECT_EQ(lag.Settle(), kMax);
  EXPECT_TRUE(lag.Lagging());
  // A claim seen again at a later list brings it back.
  lag.Seen(absl::Seconds(5), /*first_list=*/false);
  EXPECT_FALSE(lag.Lagging());
  EXPECT_EQ(lag.Estimate(), absl::Seconds(5));
}

}  // namespace
}  // namespace tasksentinel::github
