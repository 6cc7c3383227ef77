// Tests of RateLimitState: primary and secondary limits, backoff, and the header bookkeeping,
// on a FakeClock.
//
// Thread safety: single-threaded tests.
#include "core/github/rate_limit.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace tasksentinel::github {
namespace {

constexpr char kSecondaryMessage[] =
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";

class RateLimitTest : public ::testing::Test {
 protected:
  // An answer with rate-limit headers; `server_time` defaults to the local clock's now.
  RateLimitAnswer Answer(int status, std::optional<int> remaining = 4999,
                         std::optional<absl::Time> reset = std::nullopt,
                         const std::string& message = "") {
    RateLimitAnswer answer;
    answer.status = status;
    answer.headers["X-RateLimit-Limit"] = "5000";
    if (remaining.has_value()) answer.headers["X-RateLimit-Remaining"] = absl::StrCat(*remaining);
    if (reset.has_value()) {
      answer.headers["X-RateLimit-Reset"] = absl::StrCat(absl::ToUnixSeconds(*reset));
    }
    answer.message = message;
    answer.server_time = clock_.Now();
    return answer;
  }

  // How long the current block lasts from now (zero when not blocked).
  absl::Duration BlockLeft() {
    std::optional<RateLimitBlock> block = state_.BlockedUntil();
    return block.has_value() ? block->until - clock_.Now() : absl::ZeroDuration();
  }

  FakeClock clock_;
  RateLimitState state_{&clock_};
};

TEST_F(RateLimitTest, StartsUnblocked) {
  EXPECT_FALSE(state_.BlockedUntil().has_value());
  EXPECT_TRUE(state_.Check().ok());
  RateLimitSnapshot snapshot = state_.Snapshot();
  EXPECT_FALSE(snapshot.limit.has_value());
  EXPECT_FALSE(snapshot.remaining.has_value());
}

TEST_F(RateLimitTest, RecordsHeadersCaseInsensitively) {
  RateLimitAnswer answer;
  answer.status = 200;
  answer.headers = {{"x-ratelimit-limit", "5000"},
                    {"X-RATELIMIT-REMAINING", "4990"},
                    {"X-RateLimit-Used", "10"},
                    {"x-ratelimit-reset", "1900000000"},
                    {"x-ratelimit-resource", "core"}};
  EXPECT_EQ(state_.Observe(answer), RateLimitKind::kNone);
  RateLimitSnapshot snapshot = state_.Snapshot();
  EXPECT_EQ(snapshot.limit, 5000);
  EXPECT_EQ(snapshot.remaining, 4990);
  EXPECT_EQ(snapshot.used, 10);
  EXPECT_EQ(snapshot.reset, absl::FromUnixSeconds(1900000000));
  EXPECT_EQ(snapshot.resource, "core");
  EXPECT_FALSE(snapshot.block.has_value());
}

TEST_F(RateLimitTest, PrimaryLimitBlocksUntilReset) {
  const absl::Time reset = clock_.Now() + absl::Minutes(5);
  EXPECT_EQ(state_.Observe(Answer(403, 0, reset, "API rate limit exceeded for user ID 1.")),
            RateLimitKind::kPrimary);
  // Until the reset, plus a second for the Date header's resolution.
  EXPECT_EQ(BlockLeft(), absl::Minutes(5) + absl::Seconds(1));
  const absl::Status status = state_.Check();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(status.message(), "GitHub primary rate limit: blocked until "))
      << status;
  EXPECT_EQ(state_.BlockedUntil()->kind, RateLimitKind::kPrimary);

  clock_.Advance(absl::Minutes(5));
  EXPECT_TRUE(state_.BlockedUntil().has_value());
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(state_.BlockedUntil().has_value());
  EXPECT_TRUE(state_.Check().ok());
  EXPECT_EQ(state_.Snapshot().primary_limits_hit, 1);
}

TEST_F(RateLimitTest, PrimaryResetIsJudgedOnGitHubsClock) {
  // GitHub's clock is an hour behind ours: the reset is 2 minutes after GitHub's Date.
  RateLimitAnswer answer = Answer(429, 0);
  const absl::Time github_now = clock_.Now() - absl::Hours(1);
  answer.server_time = github_now;
  answer.headers["X-RateLimit-Reset"] = absl::StrCat(absl::ToUnixSeconds(github_now) + 120);
  EXPECT_EQ(state_.Observe(answer), RateLimitKind::kPrimary);
  EXPECT_EQ(BlockLeft(), absl::Seconds(121));
}

TEST_F(RateLimitTest, SuccessfulAnswerWithNothingLeftBlocksTheNextCalls) {
  EXPECT_EQ(state_.Observe(Answer(200, 0, clock_.Now() + absl::Seconds(30))),
            RateLimitKind::kPrimary);
  EXPECT_EQ(BlockLeft(), absl::Seconds(31));
}

TEST_F(RateLimitTest, SecondaryLimitHonoursRetryAfter) {
  RateLimitAnswer answer = Answer(403, 4000, std::nullopt, kSecondaryMessage);
  answer.headers["Retry-After"] = "30";
  EXPECT_EQ(state_.Observe(answer), RateLimitKind::kSecondary);
  EXPECT_EQ(BlockLeft(), absl::Seconds(30));
  const absl::Status status = state_.Check();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(
      status.message(), absl::StrCat("GitHub secondary rate limit: blocked until ",
                                     absl::FormatTime("%H:%M:%SZ", clock_.Now() + absl::Seconds(30),
                                                      absl::UTCTimeZone()))))
      << status;
  clock_.Advance(absl::Seconds(29));
  EXPECT_TRUE(state_.BlockedUntil().has_value());
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(state_.BlockedUntil().has_value());
}

TEST_F(RateLimitTest, SecondaryLimitWithoutRetryAfterBacksOffExponentially) {
  const absl::Duration expected[] = {absl::Seconds(60),  absl::Seconds(120), absl::Seconds(240),
                                     absl::Seconds(480), absl::Seconds(900), absl::Seconds(900)};
  for (absl::Duration want : expected) {
    EXPECT_EQ(state_.Observe(Answer(403, 4000, std::nullopt, kSecondaryMessage)),
              RateLimitKind::kSecondary);
    EXPECT_EQ(BlockLeft(), want);
    clock_.Advance(want);
    EXPECT_FALSE(state_.BlockedUntil().has_value());
  }
  EXPECT_EQ(state_.Snapshot().consecutive_secondary, 6);

  // A success resets the backoff.
  EXPECT_EQ(state_.Observe(Answer(200)), RateLimitKind::kNone);
  EXPECT_EQ(state_.Snapshot().consecutive_secondary, 0);
  state_.Observe(Answer(403, 4000, std::nullopt, kSecondaryMessage));
  EXPECT_EQ(BlockLeft(), absl::Seconds(60));
  EXPECT_EQ(state_.Snapshot().secondary_limits_hit, 7);
}

TEST_F(RateLimitTest, ServerErrorsDoNotResetTheBackoff) {
  state_.Observe(Answer(403, 4000, std::nullopt, kSecondaryMessage));
  clock_.Advance(absl::Seconds(60));
  state_.Observe(Answer(502));
  state_.Observe(Answer(403, 4000, std::nullopt, kSecondaryMessage));
  EXPECT_EQ(BlockLeft(), absl::Seconds(120));
}

TEST_F(RateLimitTest, OtherShapesOfSecondaryLimits) {
  // 429 without a message, and the older "abuse detection" wording.
  EXPECT_EQ(RateLimitState::Classify(Answer(429, 100)), RateLimitKind::kSecondary);
  EXPECT_EQ(RateLimitState::Classify(Answer(
                403, 100, std::nullopt,
                "You have triggered an abuse detection mechanism. Please wait a few minutes.")),
            RateLimitKind::kSecondary);
  RateLimitAnswer with_retry_after = Answer(403, 100);
  with_retry_after.headers["retry-after"] = "5";
  EXPECT_EQ(RateLimitState::Classify(with_retry_after), RateLimitKind::kSecondary);
  // The secondary message wins over remaining 0.
  EXPECT_EQ(RateLimitState::Classify(Answer(403, 0, clock_.Now(), kSecondaryMessage)),
            RateLimitKind::kSecondary);
}

TEST_F(RateLimitTest, PermissionDeniedIsNotALimit) {
  EXPECT_EQ(
      state_.Observe(Answer(403, 4999, std::nullopt, "Resource not accessible by integration")),
      RateLimitKind::kNone);
  EXPECT_FALSE(state_.BlockedUntil().has_value());
  EXPECT_EQ(state_.Observe(Answer(404)), RateLimitKind::kNone);
  EXPECT_FALSE(state_.BlockedUntil().has_value());
}

TEST_F(RateLimitTest, ABlockIsNeverShortened) {
  state_.Observe(Answer(403, 4000, std::nullopt, kSecondaryMessage));  // 60 s
  RateLimitAnswer shorter = Answer(403, 4000, std::nullopt, kSecondaryMessage);
  shorter.headers["Retry-After"] = "10";
  state_.Observe(shorter);
  EXPECT_EQ(BlockLeft(), absl::Seconds(60));
}

TEST_F(RateLimitTest, RetryAfterAsHttpDate) {
  RateLimitAnswer answer = Answer(429, 10);
  answer.server_time = absl::FromUnixSeconds(1507651200);  // Tue, 10 Oct 2017 16:00:00 GMT
  answer.headers["Retry-After"] = "Tue, 10 Oct 2017 16:00:45 GMT";
  state_.Observe(answer);
  EXPECT_EQ(BlockLeft(), absl::Seconds(45));
}

TEST_F(RateLimitTest, BlockMessageNamesTheKindAndTime) {
  RateLimitBlock block;
  block.kind = RateLimitKind::kSecondary;
  block.until = absl::FromUnixSeconds(1507651200) + absl::Hours(10) + absl::Minutes(5) -
                absl::Hours(16);  // 10:05:00Z
  EXPECT_EQ(RateLimitState::BlockMessage(block, block.until - absl::Seconds(90)),
            "GitHub secondary rate limit: blocked until 10:05:00Z (for 1m30s)");
}

}  // namespace
}  // namespace tasksentinel::github
