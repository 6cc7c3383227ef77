// Locks on a fake clock and an in-memory store: fencing tokens, exact-instance release,
// lease binding, lock-delay, fairness, bad input and store faults.
#include "core/embedded/lock_manager.h"

#include "core/embedded/memory_store.h"
#include "gtest/gtest.h"
#include "tests/testing/core_harness.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

class LockManagerTest : public ::testing::Test {
 protected:
  LockManagerTest() : a_(TestConfig("worker-a"), &store_, &clock_), b_(TestConfig("worker-b"), &store_, &clock_) {}

  void SetUp() override {
    TS_ASSERT_OK(a_.leases.Register());
    TS_ASSERT_OK(b_.leases.Register());
  }

  AcquireAttempt Acquire(WorkerHarness& w, const std::string& name,
                         absl::Duration ttl = absl::ZeroDuration()) {
    AcquireRequest req;
    req.name = name;
    req.ttl = ttl;
    absl::StatusOr<AcquireAttempt> got = w.locks.Acquire(req);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : AcquireAttempt{};
  }

  MemoryStore store_;
  FakeClock clock_;
  WorkerHarness a_;
  WorkerHarness b_;
};

TEST_F(LockManagerTest, AcquireReturnsTheLockWithAFencingToken) {
  const absl::Time start = clock_.Now();
  AcquireAttempt got = Acquire(a_, "task-1");
  ASSERT_TRUE(got.acquired);
  EXPECT_GT(got.lock->token, 0u);
  EXPECT_EQ(got.lock->holder, "worker-a");
  EXPECT_EQ(got.lock->acquired_at, start);
  // Bound by the lease (30 s), which is shorter than the lock's ttl (60 s).
  EXPECT_EQ(got.lock->expires_at, start + absl::Seconds(30));
}

TEST_F(LockManagerTest, ReacquiringAHeldLockIsIdempotent) {
  AcquireAttempt first = Acquire(a_, "task-1");
  AcquireAttempt again = Acquire(a_, "task-1");
  ASSERT_TRUE(again.acquired);
  EXPECT_EQ(again.lock->token, first.lock->token);
}

TEST_F(LockManagerTest, AnotherWorkerSeesTheHolder) {
  AcquireAttempt held = Acquire(a_, "task-1");
  AcquireAttempt got = Acquire(b_, "task-1");
  EXPECT_FALSE(got.acquired);
  ASSERT_TRUE(got.lock.has_value());
  EXPECT_EQ(got.lock->holder, "worker-a");
  EXPECT_EQ(got.lock->token, held.lock->token);
}

TEST_F(LockManagerTest, TokensRiseWithEveryAcquisition) {
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    WorkerHarness& w = i % 2 == 0 ? a_ : b_;
    AcquireAttempt got = Acquire(w, "res");
    ASSERT_TRUE(got.acquired);
    EXPECT_GT(got.lock->token, last);
    last = got.lock->token;
    EXPECT_EQ(*w.locks.Release("res", last), ReleaseOutcome::kReleased);
  }
}

TEST_F(LockManagerTest, ReleaseNamesTheExactInstance) {
  AcquireAttempt first = Acquire(a_, "res");
  EXPECT_EQ(*a_.locks.Release("res", first.lock->token), ReleaseOutcome::kReleased);
  EXPECT_EQ(*a_.locks.Release("res", first.lock->token), ReleaseOutcome::kNotHeld);
  AcquireAttempt second = Acquire(b_, "res");
  ASSERT_TRUE(second.acquired);
  // A retried release with the old token must not free B's newer lock.
  EXPECT_EQ(*a_.locks.Release("res", first.lock->token), ReleaseOutcome::kHeldByOther);
  EXPECT_FALSE(Acquire(a_, "res").acquired);
  // B's token, presented by A: the instance is B's, not A's.
  EXPECT_EQ(*a_.locks.Release("res", second.lock->token), ReleaseOutcome::kHeldByOther);
  TS_EXPECT_CODE(a_.locks.Release("res", second.lock->token + 100), kInvalidArgument);
  TS_EXPECT_CODE(a_.locks.Release("never-locked", 1), kInvalidArgument);
  TS_EXPECT_CODE(a_.locks.Release("res", 0), kInvalidArgument);
}

TEST_F(LockManagerTest, RenewChecksTheTokenAndExtendsTheTtl) {
  AcquireAttempt got = Acquire(a_, "res", absl::Seconds(5));
  clock_.Advance(absl::Seconds(4));
  absl::StatusOr<LockInfo> renewed = a_.locks.Renew("res", got.lock->token, absl::Seconds(20));
  TS_ASSERT_OK(renewed);
  EXPECT_EQ(renewed->ttl, absl::Seconds(20));
  clock_.Advance(absl::Seconds(10));  // past the old ttl, within the new one and the lease
  EXPECT_FALSE(Acquire(b_, "res").acquired);
  TS_EXPECT_CODE(a_.locks.Renew("res", got.lock->token + 1, absl::ZeroDuration()),
                 kInvalidArgument);
  TS_EXPECT_CODE(b_.locks.Renew("res", got.lock->token, absl::ZeroDuration()),
                 kFailedPrecondition);
  EXPECT_EQ(*a_.locks.Release("res", got.lock->token), ReleaseOutcome::kReleased);
  TS_EXPECT_CODE(a_.locks.Renew("res", got.lock->token, absl::ZeroDuration()),
                 kFailedPrecondition);
}

TEST_F(LockManagerTest, LocksLapseWithTheLeaseThenWaitOutTheLockDelay) {
  Acquire(a_, "res");
  clock_.Advance(absl::Seconds(30) - absl::Milliseconds(1));
  EXPECT_FALSE(Acquire(b_, "res").acquired);  // lease still live
  TS_ASSERT_OK(b_.leases.Heartbeat({}));
  clock_.Advance(absl::Milliseconds(1));  // A's lease lapses now
  AcquireAttempt during_delay = Acquire(b_, "res");
  EXPECT_FALSE(during_delay.acquired);
  clock_.Advance(absl::Seconds(5));  // lock-delay over
  EXPECT_TRUE(Acquire(b_, "res").acquired);
}

TEST_F(LockManagerTest, HeartbeatsKeepLocksWithoutRenewals) {
  AcquireAttempt got = Acquire(a_, "res");
  for (int i = 0; i < 12; ++i) {  // 120 s: twice the lock ttl, four times the lease
    clock_.Advance(absl::Seconds(10));
    TS_ASSERT_OK(a_.leases.Heartbeat({}));
    TS_ASSERT_OK(b_.leases.Heartbeat({}));
    EXPECT_FALSE(Acquire(b_, "res").acquired) << "after " << (i + 1) * 10 << " s";
  }
  EXPECT_EQ(*a_.locks.Release("res", got.lock->token), ReleaseOutcome::kReleased);
}

TEST_F(LockManagerTest, AShortTtlLapsesEvenWhileTheLeaseLives) {
  Acquire(a_, "res", absl::Seconds(2));
  clock_.Advance(absl::Seconds(2));
  EXPECT_FALSE(Acquire(b_, "res").acquired);  // lapsed, in its lock-delay
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(Acquire(b_, "res").acquired);
}

TEST_F(LockManagerTest, BlockingAcquireTimesOutAndLeavesTheQueue) {
  AcquireAttempt held = Acquire(a_, "res");
  const absl::Time start = clock_.Now();
  AcquireRequest req;
  req.name = "res";
  req.wait_timeout = absl::Seconds(2);
  absl::StatusOr<AcquireAttempt> got = b_.locks.Acquire(req);
  TS_ASSERT_OK(got);
  EXPECT_FALSE(got->acquired);
  EXPECT_GE(clock_.Now() - start, absl::Seconds(2));
  // B's place in the queue is gone: once A releases, anyone may take the lock at once.
  ASSERT_EQ(*a_.locks.Release("res", held.lock->token), ReleaseOutcome::kReleased);
  WorkerHarness c(TestConfig("worker-c"), &store_, &clock_);
  EXPECT_TRUE(Acquire(c, "res").acquired);
}

TEST_F(LockManagerTest, QueuedClaimantsGoFirst) {
  AcquireAttempt held = Acquire(a_, "res");
  // B queues up (as a blocking AcquireLock does) before C asks.
  uint64_t b_seq = 0;
  TS_ASSERT_OK(store_.Run([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::optional<WorkerRecord>> b = ReadWorker(txn, "worker-b");
    if (!b.ok()) return b.status();
    absl::StatusOr<uint64_t> seq = EnqueueWaiter(txn, "res", **b, clock_.Now() + absl::Seconds(20));
    if (!seq.ok()) return seq.status();
    b_seq = *seq;
    return absl::OkStatus();
  }));
  ASSERT_EQ(*a_.locks.Release("res", held.lock->token), ReleaseOutcome::kReleased);
  WorkerHarness c(TestConfig("worker-c"), &store_, &clock_);
  AcquireAttempt c_got = Acquire(c, "res");
  EXPECT_FALSE(c_got.acquired);
  EXPECT_FALSE(c_got.lock.has_value());  // free, but B is first in line
  // B, waiting, takes it on its next attempt.
  AcquireRequest req;
  req.name = "res";
  req.wait_timeout = absl::Seconds(1);
  absl::StatusOr<AcquireAttempt> b_got = b_.locks.Acquire(req);
  TS_ASSERT_OK(b_got);
  EXPECT_TRUE(b_got->acquired);
  (void)b_seq;
}

TEST_F(LockManagerTest, AWaiterWhoseLeaseLapsedLosesItsPlace) {
  AcquireAttempt held = Acquire(a_, "res");
  TS_ASSERT_OK(store_.Run([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::optional<WorkerRecord>> b = ReadWorker(txn, "worker-b");
    if (!b.ok()) return b.status();
    return EnqueueWaiter(txn, "res", **b, clock_.Now() + absl::Minutes(5)).status();
  }));
  clock_.Advance(absl::Seconds(31));  // B's (and A's) lease lapse
  WorkerHarness c(TestConfig("worker-c"), &store_, &clock_);
  clock_.Advance(absl::Seconds(5));  // A's lock-delay
  EXPECT_TRUE(Acquire(c, "res").acquired);
  (void)held;
}

TEST_F(LockManagerTest, BadInputIsRefusedAndChangesNothing) {
  AcquireRequest req;
  req.name = "";
  TS_EXPECT_CODE(a_.locks.Acquire(req), kInvalidArgument);
  req.name = std::string(129, 'x');
  TS_EXPECT_CODE(a_.locks.Acquire(req), kInvalidArgument);
  req.name = "has space";
  TS_EXPECT_CODE(a_.locks.Acquire(req), kInvalidArgument);
  req.name = "ok";
  req.ttl = absl::Hours(25);
  TS_EXPECT_CODE(a_.locks.Acquire(req), kInvalidArgument);
  req.ttl = -absl::Seconds(1);
  TS_EXPECT_CODE(a_.locks.Acquire(req), kInvalidArgument);
  req.ttl = absl::ZeroDuration();
  req.wait_timeout = absl::Minutes(11);
  TS_EXPECT_CODE(a_.locks.Acquire(req), kInvalidArgument);
  req.wait_timeout = absl::ZeroDuration();
  for (int i = 0; i < 17; ++i) req.metadata["k" + std::to_string(i)] = "v";
  TS_EXPECT_CODE(a_.locks.Acquire(req), kInvalidArgument);
  EXPECT_TRUE(a_.locks.List()->empty());
  EXPECT_TRUE(a_.held.Snapshot().empty());
}

TEST_F(LockManagerTest, AFailedCommitAcquiresNothing) {
  store_.FailNextCommits(1, absl::UnavailableError("disk gone"));
  AcquireRequest req;
  req.name = "res";
  TS_EXPECT_CODE(a_.locks.Acquire(req), kUnavailable);
  EXPECT_TRUE(a_.locks.List()->empty());
  EXPECT_TRUE(a_.held.Snapshot().empty());
  EXPECT_TRUE(Acquire(b_, "res").acquired);
}

TEST_F(LockManagerTest, ListShowsOnlyLiveLocks) {
  Acquire(a_, "one");
  AcquireAttempt two = Acquire(b_, "two");
  ASSERT_EQ(*b_.locks.Release("two", two.lock->token), ReleaseOutcome::kReleased);
  absl::StatusOr<std::vector<LockInfo>> locks = a_.locks.List();
  TS_ASSERT_OK(locks);
  ASSERT_EQ(locks->size(), 1u);
  EXPECT_EQ((*locks)[0].name, "one");
}

}  // namespace
}  // namespace tasksentinel
