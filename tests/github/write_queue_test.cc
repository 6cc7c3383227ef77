// Tests of WriteQueue: spacing, the per-minute and per-hour windows, deadlines, and priority
// order. Single-threaded tests run on a FakeClock (waits advance simulated time); the ordering
// tests need real threads and run on the real clock with millisecond spacing.
//
// Thread safety: the threaded tests share the queue and a mutex-guarded log.
#include "core/github/write_queue.h"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace tasksentinel::github {
namespace {

WriteQueue::Options Budget(absl::Duration spacing, int per_minute, int per_hour) {
  WriteQueue::Options options;
  options.spacing = spacing;
  options.per_minute = per_minute;
  options.per_hour = per_hour;
  return options;
}

TEST(WriteQueueTest, DefaultsMatchGitHubsSecondaryLimits) {
  WriteQueue::Options options;
  EXPECT_EQ(options.spacing, absl::Seconds(1));
  EXPECT_EQ(options.per_minute, 80);
  EXPECT_EQ(options.per_hour, 500);
}

TEST(WriteQueueTest, FirstWriteStartsAtOnceTheNextAfterTheSpacing) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::Seconds(1), 80, 500), &clock);
  const absl::Time start = clock.Now();
  {
    absl::StatusOr<WriteQueue::Ticket> ticket =
        queue.Acquire(WritePriority::kClaim, start + absl::Seconds(30));
    ASSERT_TRUE(ticket.ok()) << ticket.status();
    EXPECT_EQ(clock.Now(), start);
    clock.Advance(absl::Milliseconds(200));  // the write takes 200 ms
  }
  absl::StatusOr<WriteQueue::Ticket> second =
      queue.Acquire(WritePriority::kClaim, start + absl::Seconds(30));
  ASSERT_TRUE(second.ok()) << second.status();
  // Spacing counts from the end of the previous write.
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(1200));
  EXPECT_EQ(queue.GetStats().granted, 2);
}

TEST(WriteQueueTest, PerMinuteSlidingWindow) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::ZeroDuration(), 3, 0), &clock);
  const absl::Time start = clock.Now();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(queue.Acquire(WritePriority::kHeartbeat, start + absl::Hours(1)).ok());
    clock.Advance(absl::Seconds(10));
  }
  EXPECT_EQ(queue.GetStats().started_last_minute, 3);
  // The fourth waits until the first leaves the 60 s window.
  ASSERT_TRUE(queue.Acquire(WritePriority::kHeartbeat, start + absl::Hours(1)).ok());
  EXPECT_EQ(clock.Now(), start + absl::Seconds(60));
  // The fifth until the second leaves it.
  ASSERT_TRUE(queue.Acquire(WritePriority::kHeartbeat, start + absl::Hours(1)).ok());
  EXPECT_EQ(clock.Now(), start + absl::Seconds(70));
}

TEST(WriteQueueTest, SharersSplitTheIdentitysWindows) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::ZeroDuration(), 8, 40), &clock);
  queue.SetSharers(4);  // four sidecars on one token: 2 a minute, 10 an hour each
  EXPECT_EQ(queue.sharers(), 4);
  const absl::Time start = clock.Now();
  ASSERT_TRUE(queue.Acquire(WritePriority::kHeartbeat, start + absl::Hours(2)).ok());
  ASSERT_TRUE(queue.Acquire(WritePriority::kHeartbeat, start + absl::Hours(2)).ok());
  EXPECT_EQ(clock.Now(), start);
  absl::StatusOr<WriteQueue::Ticket> refused =
      queue.Acquire(WritePriority::kHeartbeat, start + absl::Seconds(30));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "2 writes/min, 10 writes/h"))
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "among 4 sidecars"))
      << refused.status();
  // The fleet shrinks: the whole budget is this sidecar's again.
  queue.SetSharers(1);
  ASSERT_TRUE(queue.Acquire(WritePriority::kHeartbeat, start + absl::Seconds(30)).ok());
  EXPECT_EQ(clock.Now(), start);
  // Never less than one write per window, however large the fleet.
  queue.SetSharers(1000);
  ASSERT_TRUE(queue.Acquire(WritePriority::kHeartbeat, start + absl::Hours(2)).ok());
  EXPECT_GT(clock.Now(), start);
}

TEST(WriteQueueTest, PerHourSlidingWindow) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::ZeroDuration(), 0, 5), &clock);
  const absl::Time start = clock.Now();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(queue.Acquire(WritePriority::kMemory, start + absl::Hours(2)).ok());
  }
  EXPECT_EQ(clock.Now(), start);
  EXPECT_EQ(queue.BudgetFreeAt(), start + absl::Hours(1));
  ASSERT_TRUE(queue.Acquire(WritePriority::kMemory, start + absl::Hours(2)).ok());
  EXPECT_EQ(clock.Now(), start + absl::Hours(1));
  EXPECT_EQ(queue.GetStats().started_last_hour, 1);
}

TEST(WriteQueueTest, ExhaustedBudgetAnswersAtOnceWithWhenItFreesUp) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::ZeroDuration(), 2, 500), &clock);
  const absl::Time start = clock.Now();
  ASSERT_TRUE(queue.Acquire(WritePriority::kClaim, start + absl::Seconds(30)).ok());
  ASSERT_TRUE(queue.Acquire(WritePriority::kClaim, start + absl::Seconds(30)).ok());
  absl::StatusOr<WriteQueue::Ticket> third =
      queue.Acquire(WritePriority::kClaim, start + absl::Seconds(30));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string frees_at =
      absl::FormatTime("%H:%M:%SZ", start + absl::Seconds(60), absl::UTCTimeZone());
  EXPECT_TRUE(absl::StrContains(third.status().message(), "frees up at " + frees_at))
      << third.status();
  EXPECT_EQ(clock.Now(), start);  // no waiting
  EXPECT_EQ(queue.GetStats().rejected_budget, 1);
  EXPECT_EQ(queue.GetStats().waiting, 0);
}

TEST(WriteQueueTest, WaitingBehindAnotherWritePastTheDeadline) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::ZeroDuration(), 80, 500), &clock);
  const absl::Time start = clock.Now();
  absl::StatusOr<WriteQueue::Ticket> held =
      queue.Acquire(WritePriority::kClaim, start + absl::Seconds(30));
  ASSERT_TRUE(held.ok());
  absl::StatusOr<WriteQueue::Ticket> blocked =
      queue.Acquire(WritePriority::kClaim, start + absl::Seconds(5));
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kDeadlineExceeded) << blocked.status();
  EXPECT_EQ(clock.Now(), start + absl::Seconds(5));
  EXPECT_EQ(queue.GetStats().rejected_deadline, 1);
  EXPECT_TRUE(queue.GetStats().in_flight);
  held->Release();
  EXPECT_FALSE(queue.GetStats().in_flight);
}

TEST(WriteQueueTest, UnsentWriteGivesItsSlotBack) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::ZeroDuration(), 1, 500), &clock);
  const absl::Time start = clock.Now();
  {
    absl::StatusOr<WriteQueue::Ticket> ticket =
        queue.Acquire(WritePriority::kClaim, start + absl::Seconds(5));
    ASSERT_TRUE(ticket.ok());
    ticket->Release(/*sent=*/false);
    EXPECT_FALSE(ticket->held());
    ticket->Release();  // idempotent
  }
  EXPECT_EQ(queue.GetStats().started_last_minute, 0);
  ASSERT_TRUE(queue.Acquire(WritePriority::kClaim, start + absl::Seconds(5)).ok());
  EXPECT_EQ(clock.Now(), start);
}

TEST(WriteQueueTest, RunHoldsTheTicketAndPassesResultsAndErrors) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::ZeroDuration(), 1, 500), &clock);
  const absl::Time deadline = clock.Now() + absl::Seconds(5);
  absl::StatusOr<int> result =
      queue.Run(WritePriority::kRelease, deadline, [&]() -> absl::StatusOr<int> {
        EXPECT_TRUE(queue.GetStats().in_flight);
        return 7;
      });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, 7);
  EXPECT_FALSE(queue.GetStats().in_flight);
  bool ran = false;
  absl::Status status = queue.Run(WritePriority::kRelease, deadline, [&] {
    ran = true;
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(ran);
}

TEST(WriteQueueTest, MovedTicketReleasesOnce) {
  FakeClock clock;
  WriteQueue queue(Budget(absl::ZeroDuration(), 80, 500), &clock);
  absl::StatusOr<WriteQueue::Ticket> ticket =
      queue.Acquire(WritePriority::kClaim, clock.Now() + absl::Seconds(1));
  ASSERT_TRUE(ticket.ok());
  WriteQueue::Ticket moved = *std::move(ticket);
  EXPECT_TRUE(moved.held());
  EXPECT_TRUE(queue.GetStats().in_flight);
  WriteQueue::Ticket other;
  other = std::move(moved);
  EXPECT_TRUE(queue.GetStats().in_flight);
  other.Release();
  EXPECT_FALSE(queue.GetStats().in_flight);
}

// Real threads: writes queued behind one in flight start by priority, FIFO within one.
TEST(WriteQueueTest, ServesByPriorityThenArrival) {
  RealClock clock;
  WriteQueue queue(Budget(absl::Milliseconds(1), 0, 0), &clock);
  const absl::Time deadline = clock.Now() + absl::Seconds(10);
  absl::StatusOr<WriteQueue::Ticket> held = queue.Acquire(WritePriority::kClaim, deadline);
  ASSERT_TRUE(held.ok());

  absl::Mutex mu;
  std::vector<std::string> order;
  std::vector<std::thread> threads;
  const std::vector<std::pair<WritePriority, std::string>> writes = {
      {WritePriority::kHeartbeat, "heartbeat"}, {WritePriority::kClaim, "claim-1"},
      {WritePriority::kMemory, "memory"},       {WritePriority::kRelease, "release"},
      {WritePriority::kClaim, "claim-2"},
  };
  for (size_t i = 0; i < writes.size(); ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<WriteQueue::Ticket> ticket = queue.Acquire(writes[i].first, deadline);
      ASSERT_TRUE(ticket.ok()) << ticket.status();
      absl::MutexLock lock(&mu);
      order.push_back(writes[i].second);
    });
    // Enqueue in this order (arrival order decides within a priority).
    while (queue.GetStats().waiting < static_cast<int>(i) + 1)
      absl::SleepFor(absl::Microseconds(100));
  }
  held->Release();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(order,
            (std::vector<std::string>{"claim-1", "claim-2", "release", "memory", "heartbeat"}));
  EXPECT_EQ(queue.GetStats().granted, 6);
}

// Real threads: concurrent writers never overlap and keep the spacing.
TEST(WriteQueueTest, WritesAreSerialAndSpaced) {
  RealClock clock;
  const absl::Duration spacing = absl::Milliseconds(5);
  WriteQueue queue(Budget(spacing, 0, 0), &clock);
  const absl::Time deadline = clock.Now() + absl::Seconds(10);
  absl::Mutex mu;
  int in_flight = 0;
  bool overlapped = false;
  std::vector<std::pair<absl::Time, absl::Time>> spans;
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<WriteQueue::Ticket> ticket = queue.Acquire(WritePriority::kMemory, deadline);
      ASSERT_TRUE(ticket.ok()) << ticket.status();
      const absl::Time begin = clock.Now();
      {
        absl::MutexLock lock(&mu);
        overlapped = overlapped || in_flight > 0;
        ++in_flight;
      }
      absl::SleepFor(absl::Milliseconds(1));
      absl::MutexLock lock(&mu);
      --in_flight;
      spans.emplace_back(begin, clock.Now());
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_FALSE(overlapped);
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    EXPECT_GE(spans[i].first - spans[i - 1].second, spacing - absl::Microseconds(200))
        << "write " << i;
  }
}

}  // namespace
}  // namespace tasksentinel::github
