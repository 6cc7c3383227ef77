// Worker leases on a fake clock: registration, heartbeats, lost-lock reports, new epochs after
// a lapse, departure, and the cluster view of live and stale workers.
#include "core/embedded/lease_manager.h"

#include "core/embedded/memory_store.h"
#include "gtest/gtest.h"
#include "tests/testing/core_harness.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

class LeaseManagerTest : public ::testing::Test {
 protected:
  LeaseManagerTest()
      : a_(TestConfig("worker-a"), &store_, &clock_), b_(TestConfig("worker-b"), &store_, &clock_) {}

  LockInfo Take(WorkerHarness& w, const std::string& name) {
    AcquireRequest req;
    req.name = name;
    absl::StatusOr<AcquireAttempt> got = w.locks.Acquire(req);
    EXPECT_TRUE(got.ok() && got->acquired);
    return got.ok() && got->lock ? *got->lock : LockInfo{};
  }

  MemoryStore store_;
  FakeClock clock_;
  WorkerHarness a_;
  WorkerHarness b_;
};

TEST_F(LeaseManagerTest, RegisterStartsALeaseAndHeartbeatsExtendIt) {
  absl::StatusOr<WorkerRecord> me = a_.leases.Register();
  TS_ASSERT_OK(me);
  EXPECT_EQ(me->epoch, 1u);
  EXPECT_EQ(me->lease_expires_at, clock_.Now() + absl::Seconds(30));
  clock_.Advance(absl::Seconds(10));
  absl::StatusOr<HeartbeatResult> hb = a_.leases.Heartbeat({{"task-1"}, 7, Health::kHealthy});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_expires_at, clock_.Now() + absl::Seconds(30));
  EXPECT_EQ(hb->lease_epoch, 1u);
  EXPECT_TRUE(hb->lost_locks.empty());
  absl::StatusOr<std::vector<WorkerInfo>> workers = a_.cluster.Workers(false);
  TS_ASSERT_OK(workers);
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].record.max_tasks, 7u);
  EXPECT_EQ((*workers)[0].record.reported_active_tasks, std::vector<std::string>{"task-1"});
}

TEST_F(LeaseManagerTest, ALapsedLeaseReportsItsLostLocksAndStartsANewEpoch) {
  TS_ASSERT_OK(a_.leases.Register());
  LockInfo lock = Take(a_, "res");
  clock_.Advance(absl::Seconds(31));  // A paused past its lease
  absl::StatusOr<HeartbeatResult> hb = a_.leases.Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_epoch, 2u);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_EQ(hb->lost_locks[0].name, "res");
  EXPECT_EQ(hb->lost_locks[0].token, lock.token);
  // Reported once only.
  EXPECT_TRUE(a_.leases.Heartbeat({})->lost_locks.empty());
  // The old epoch's lock does not revive with the new lease.
  TS_EXPECT_CODE(a_.locks.Renew("res", lock.token, absl::ZeroDuration()), kFailedPrecondition);
}

// Issue #11: a lock whose own ttl ran out while the lease lived was reported lost by the next
// heartbeat and revived by the same heartbeat (its ttl counted from the new heartbeat).
TEST_F(LeaseManagerTest, ALockWhoseTtlLapsedStaysDeadAfterTheNextHeartbeat) {
  TS_ASSERT_OK(a_.leases.Register());
  AcquireRequest req;
  req.name = "res";
  req.ttl = absl::Seconds(2);
  absl::StatusOr<AcquireAttempt> got = a_.locks.Acquire(req);
  ASSERT_TRUE(got.ok() && got->acquired);
  const uint64_t token = got->lock->token;
  clock_.Advance(absl::Seconds(3));  // ttl passed, lease (30 s) and lock-delay (5 s) not
  absl::StatusOr<HeartbeatResult> hb = a_.leases.Heartbeat({});
  TS_ASSERT_OK(hb);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_EQ(hb->lost_locks[0].token, token);
  // Dead for good: not listed, and the token is refused everywhere.
  absl::StatusOr<std::vector<LockInfo>> listed = a_.locks.List();
  TS_ASSERT_OK(listed);
  EXPECT_TRUE(listed->empty());
  SetRequest fenced{"tasks", "k", "v", std::nullopt, absl::ZeroDuration(), FenceRef{"res", token}};
  TS_EXPECT_CODE(a_.memory.Set(fenced), kFailedPrecondition);
  TS_EXPECT_CODE(a_.locks.Renew("res", token, absl::ZeroDuration()), kFailedPrecondition);
  EXPECT_EQ(*a_.locks.Release("res", token), ReleaseOutcome::kNotHeld);
  clock_.Advance(absl::Seconds(1));
  hb = a_.leases.Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_TRUE(hb->lost_locks.empty());  // reported once
  TS_EXPECT_CODE(a_.memory.Set(fenced), kFailedPrecondition);
  EXPECT_TRUE(a_.locks.List()->empty());
}

// A live lock is kept by heartbeats beyond its ttl; the heartbeat renews it explicitly, so the
// fix above does not shorten locks that were live.
TEST_F(LeaseManagerTest, HeartbeatsRenewOnlyLiveLocks) {
  TS_ASSERT_OK(a_.leases.Register());
  AcquireRequest req;
  req.name = "res";
  req.ttl = absl::Seconds(2);
  absl::StatusOr<AcquireAttempt> got = a_.locks.Acquire(req);
  ASSERT_TRUE(got.ok() && got->acquired);
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Milliseconds(1500));
    absl::StatusOr<HeartbeatResult> hb = a_.leases.Heartbeat({});
    TS_ASSERT_OK(hb);
    EXPECT_TRUE(hb->lost_locks.empty()) << "after " << (i + 1) * 1.5 << " s";
  }
  ASSERT_EQ(a_.locks.List()->size(), 1u);
  EXPECT_EQ(*a_.locks.Release("res", got->lock->token), ReleaseOutcome::kReleased);
}

TEST_F(LeaseManagerTest, ALockTakenOverIsReportedLost) {
  TS_ASSERT_OK(a_.leases.Register());
  TS_ASSERT_OK(b_.leases.Register());
  AcquireRequest req;
  req.name = "res";
  req.ttl = absl::Seconds(2);
  ASSERT_TRUE(a_.locks.Acquire(req)->acquired);
  clock_.Advance(absl::Seconds(8));  // ttl (2 s) + lock-delay (5 s) passed, leases live
  Take(b_, "res");
  absl::StatusOr<HeartbeatResult> hb = a_.leases.Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_epoch, 1u);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_TRUE(b_.leases.Heartbeat({})->lost_locks.empty());
}

TEST_F(LeaseManagerTest, ReleasedLocksAreNotReportedLost) {
  TS_ASSERT_OK(a_.leases.Register());
  LockInfo lock = Take(a_, "res");
  ASSERT_EQ(*a_.locks.Release("res", lock.token), ReleaseOutcome::kReleased);
  EXPECT_TRUE(a_.leases.Heartbeat({})->lost_locks.empty());
}

TEST_F(LeaseManagerTest, ARestartedSidecarAdoptsItsLiveLocks) {
  TS_ASSERT_OK(a_.leases.Register());
  LockInfo lock = Take(a_, "res");
  // The sidecar restarts within the lease: a new process, same worker id.
  WorkerHarness restarted(TestConfig("worker-a"), &store_, &clock_);
  absl::StatusOr<WorkerRecord> me = restarted.leases.Register();
  TS_ASSERT_OK(me);
  EXPECT_EQ(me->epoch, 1u);  // same lease
  ASSERT_EQ(restarted.held.Snapshot().size(), 1u);
  TS_EXPECT_OK(restarted.locks.Renew("res", lock.token, absl::ZeroDuration()));
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(restarted.leases.Heartbeat({})->lost_locks.size(), 1u);
}

TEST_F(LeaseManagerTest, DeregisterReleasesLocksAndMarksTheWorkerGone) {
  TS_ASSERT_OK(a_.leases.Register());
  TS_ASSERT_OK(b_.leases.Register());
  Take(a_, "one");
  Take(a_, "two");
  absl::StatusOr<int> released = a_.leases.Deregister();
  TS_ASSERT_OK(released);
  EXPECT_EQ(*released, 2);
  Take(b_, "one");  // free at once: a clean release has no lock-delay
  absl::StatusOr<std::vector<WorkerInfo>> visible = b_.cluster.Workers(false);
  ASSERT_EQ(visible->size(), 1u);
  absl::StatusOr<std::vector<WorkerInfo>> all = b_.cluster.Workers(true);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].status, WorkerStatus::kGone);
}

TEST_F(LeaseManagerTest, ClusterHealthTellsHealthyFromStale) {
  TS_ASSERT_OK(a_.leases.Register());
  TS_ASSERT_OK(b_.leases.Register());
  absl::StatusOr<ClusterHealth> h = a_.cluster.Health();
  TS_ASSERT_OK(h);
  EXPECT_EQ(h->status, ClusterStatus::kHealthy);
  EXPECT_EQ(h->healthy_workers, 2u);
  EXPECT_EQ(h->total_capacity, 8u);
  clock_.Advance(absl::Seconds(20));
  TS_ASSERT_OK(a_.leases.Heartbeat({}));
  clock_.Advance(absl::Seconds(15));  // B is 35 s silent: stale
  h = a_.cluster.Health();
  TS_ASSERT_OK(h);
  EXPECT_EQ(h->status, ClusterStatus::kDegraded);
  EXPECT_EQ(h->healthy_workers, 1u);
  EXPECT_EQ(h->stale_workers, 1u);
  EXPECT_EQ(h->total_capacity, 4u);
  TS_ASSERT_OK(a_.leases.Heartbeat({{}, 0, Health::kUnhealthy}));
  EXPECT_EQ(a_.cluster.Health()->status, ClusterStatus::kUnhealthy);
}

TEST_F(LeaseManagerTest, AFailedHeartbeatChangesNothing) {
  TS_ASSERT_OK(a_.leases.Register());
  const absl::Time expires = a_.cluster.Workers(false)->at(0).record.lease_expires_at;
  clock_.Advance(absl::Seconds(5));
  store_.FailNextCommits(1, absl::UnavailableError("disk gone"));
  TS_EXPECT_CODE(a_.leases.Heartbeat({}), kUnavailable);
  EXPECT_EQ(a_.cluster.Workers(false)->at(0).record.lease_expires_at, expires);
}

}  // namespace
}  // namespace tasksentinel
