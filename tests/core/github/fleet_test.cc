// One identity carries a fleet (core/github/registry.h, FleetPace): sidecars writing as the same
// account share its write budget, count each other from the registrations on the coordination
// issue, write their registrations only as often as their share allows (the worker's Heartbeat
// RPC may come as often as it likes), stretch their leases to match, say so, and release the
// locks of a worker that went silent while its sidecar lives.
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "core/github/record_seal.h"
#include "core/github/registry.h"
#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

Config Defaults() {
  Config c;  // HEARTBEAT_INTERVAL_MS 30000, STALE_WORKER_THRESHOLD_MS 120000, 80/min, 500/h
  return c;
}

TEST(FleetPaceTest, AtTheDefaultsTheLeaseStretchesWithTheFleet) {
  const Config c = Defaults();
  // One sidecar: a heartbeat write every 30 s (120/h: under half of 500/h).
  github::FleetPace one = github::PaceFor(1, c);
  EXPECT_FALSE(one.stretched);
  EXPECT_EQ(one.renew_interval, absl::Seconds(30));
  EXPECT_EQ(one.lease, absl::Seconds(120));
  // 5: 100 writes/h each, 50 for heartbeats: every 72 s; lease 288 s.
  github::FleetPace five = github::PaceFor(5, c);
  EXPECT_TRUE(five.stretched);
  EXPECT_EQ(five.renew_interval, absl::Seconds(72));
  EXPECT_EQ(five.lease, absl::Seconds(288));
  // 20: every 288 s, lease 19.2 min; the fleet's idle writes are 250/h, half of 500.
  github::FleetPace twenty = github::PaceFor(20, c);
  EXPECT_EQ(twenty.renew_interval, absl::Seconds(288));
  EXPECT_EQ(twenty.lease, absl::Seconds(1152));
  EXPECT_LE(20 * (absl::Hours(1) / twenty.renew_interval), 250);
  // 100: every 24 min, lease 96 min: longer leases, never refusals.
  github::FleetPace hundred = github::PaceFor(100, c);
  EXPECT_EQ(hundred.renew_interval, absl::Minutes(24));
  EXPECT_EQ(hundred.lease, absl::Minutes(96));
  EXPECT_EQ(hundred.Describe(500),
            "lease 1h36m: 100 workers share 500 writes/h (100 holding locks: a heartbeat write "
            "every 24m; idle: every 48m, lease 3h12m)");
}

TEST(FleetPaceTest, AWorkerThatHoldsNothingRenewsRarely) {
  const Config c = Defaults();  // GITHUB_IDLE_RENEW_INTERVAL_MS 600000
  // One: idle every 10 min, lease 40 min (the threshold's 4 heartbeats, stretched alike).
  github::FleetPace one = github::PaceFor(1, c, /*holders=*/0);
  EXPECT_EQ(one.idle_renew_interval, absl::Minutes(10));
  EXPECT_EQ(one.idle_lease, absl::Minutes(40));
  EXPECT_EQ(one.renew_interval, absl::Seconds(30));  // once it holds a lock
  EXPECT_FALSE(one.stretched);
  // 20 idle workers: 120 writes an hour, under a quarter of 500: at least half is left.
  github::FleetPace twenty = github::PaceFor(20, c, /*holders=*/0);
  EXPECT_EQ(twenty.idle_renew_interval, absl::Minutes(10));
  EXPECT_LE(20 * (absl::Hours(1) / twenty.idle_renew_interval), 500 / 4);
  // 5 of them holding locks: each sidecar's write queue has a twentieth of the budget, so a
  // holder renews as if all 20 held locks (a shorter interval would wait in its own queue and
  // lapse its lease).
  github::FleetPace five_hold = github::PaceFor(20, c, /*holders=*/5);
  EXPECT_EQ(five_hold.renew_interval, absl::Seconds(288));
  EXPECT_EQ(five_hold.lease, absl::Seconds(1152));
  // 100 idle: the idle quarter stretches the interval to 48 min: longer leases, no refusals.
  github::FleetPace hundred = github::PaceFor(100, c, /*holders=*/0);
  EXPECT_EQ(hundred.idle_renew_interval, absl::Minutes(48));
  EXPECT_LE(100 * (absl::Hours(1) / hundred.idle_renew_interval), 500 / 4);
}

TEST(FleetPaceTest, ThePerMinuteWindowCountsToo) {
  Config c = Defaults();
  c.heartbeat_interval = absl::Seconds(1);
  c.stale_threshold = absl::Seconds(3);
  c.github_writes_per_minute = 60;
  c.github_writes_per_hour = 100000;
  // 8 sidecars, 60 writes a minute: 7.5 each, 3.75 for heartbeats: one every 16 s.
  github::FleetPace pace = github::PaceFor(8, c);
  EXPECT_EQ(pace.renew_interval, absl::Seconds(16));
  EXPECT_EQ(pace.lease, absl::Seconds(48));
}

class FleetTest : public ::testing::Test {
 protected:
  std::unique_ptr<GitHubCoordinator> Sidecar(const std::string& id) {
    return world_.Sidecar(id, [](Config& c) {
      c.heartbeat_interval = absl::Seconds(1);
      c.stale_threshold = absl::Seconds(3);
      c.github_writes_per_minute = 60;
      c.github_writes_per_hour = 100000;
      c.github_idle_renew_interval = absl::Seconds(20);
    });
  }
  // `n` registered sidecars, worker-0 .. worker-<n-1>.
  std::vector<std::unique_ptr<GitHubCoordinator>> Fleet(int n) {
    std::vector<std::unique_ptr<GitHubCoordinator>> fleet;
    for (int i = 0; i < n; ++i) {
      fleet.push_back(Sidecar("worker-" + std::to_string(i)));
      EXPECT_TRUE(fleet.back()->Register().ok());
    }
    return fleet;
  }
  GitHubWorld world_;
};

TEST_F(FleetTest, EightIdleSidecarsOnOneLoginStayWithinTheIdentitysBudget) {
  std::vector<std::unique_ptr<GitHubCoordinator>> fleet = Fleet(8);
  // Everyone has seen everyone once.
  for (auto& s : fleet) TS_ASSERT_OK(s->Workers(false));
  for (auto& s : fleet) TS_ASSERT_OK(s->Heartbeat({}));
  EXPECT_EQ(fleet[0]->Pace().sharers, 8);
  EXPECT_EQ(world_.api.write_sharers(), 8);
  EXPECT_TRUE(fleet[0]->Pace().stretched);
  ASSERT_EQ(fleet[0]->Notices().size(), 1u);
  EXPECT_TRUE(absl::StrContains(fleet[0]->Notices()[0], "8 workers share")) << fleet[0]->Notices()[0];

  // Two minutes of heartbeat RPCs every second from every worker.
  world_.api.ResetCounts();
  for (int second = 0; second < 120; ++second) {
    world_.clock.Advance(absl::Seconds(1));
    for (auto& s : fleet) TS_ASSERT_OK(s->Heartbeat({}));
  }
  // 960 heartbeat RPCs; the identity's budget is 60 writes a minute. Holding nothing, the
  // workers renew at the idle pace: every 32 s (8 sidecars' idle writes within a quarter of the
  // budget, 15 a minute; GITHUB_IDLE_RENEW_INTERVAL_MS is 20 s), so 30 writes in 2 minutes,
  // plus each one's first switch from the holding pace it registered with.
  EXPECT_EQ(fleet[0]->Pace().idle_renew_interval, absl::Seconds(32));
  EXPECT_LE(world_.api.counts().writes(), 30 + 8);
  EXPECT_GE(world_.api.counts().writes(), 8 * 3);  // each renewed at least every 32 s + slack
  // Nobody's lease lapsed: everyone is still on epoch 1 and seen live by the others.
  absl::StatusOr<std::vector<WorkerInfo>> workers = fleet[3]->Workers(false);
  TS_ASSERT_OK(workers);
  ASSERT_EQ(workers->size(), 8u);
  for (const WorkerInfo& w : *workers) {
    EXPECT_EQ(w.status, WorkerStatus::kActive) << w.record.id;
    EXPECT_EQ(w.record.epoch, 1u) << w.record.id;
  }
}

TEST_F(FleetTest, AnIdleWorkerRenewsAtTheHoldingPaceBeforeItClaims) {
  auto a = world_.Sidecar("worker-a");  // HEARTBEAT 10 s, STALE 30 s, idle renewal every 10 min
  auto b = world_.Sidecar("worker-b");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(b->Register());
  const int64_t issue = world_.CoordinationIssue();
  auto latest = [&](const std::string& id) {
    github::RegistrationRecord last;
    for (const auto& [comment, r] : world_.Records<github::RegistrationRecord>(issue)) {
      if (r.worker_id == id) last = r;
    }
    return last;
  };
  // Holding nothing, A's next due write is at the idle pace: a 30 min lease.
  world_.clock.Advance(absl::Seconds(10));
  TS_ASSERT_OK(a->Heartbeat({}));
  EXPECT_TRUE(latest("worker-a").idle);
  EXPECT_EQ(latest("worker-a").lease, absl::Minutes(30));
  // Heartbeat RPCs meanwhile write nothing.
  world_.api.ResetCounts();
  for (int i = 0; i < 30; ++i) {
    world_.clock.Advance(absl::Seconds(1));
    TS_ASSERT_OK(a->Heartbeat({}));
  }
  EXPECT_EQ(world_.api.counts().writes(), 0);
  // Before its claim, A renews at the holding pace, so the lock is bound to a 30 s lease.
  AcquireRequest req;
  req.name = "deploy";
  absl::StatusOr<AcquireAttempt> held = a->AcquireLock(req, nullptr);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  EXPECT_FALSE(latest("worker-a").idle);
  EXPECT_EQ(latest("worker-a").lease, absl::Seconds(30));
  // A's whole sidecar dies: B takes the lock once that lease (+1 s slack, + the lock-delay)
  // has run out, not after the idle half hour.
  world_.clock.Advance(absl::Seconds(45));
  TS_ASSERT_OK(b->Heartbeat({}));
  absl::StatusOr<AcquireAttempt> taken = b->AcquireLock(req, nullptr);
  TS_ASSERT_OK(taken);
  EXPECT_TRUE(taken->acquired);
}

TEST_F(FleetTest, TheShareFollowsTheFleetAsItShrinks) {
  auto a = Sidecar("worker-a");
  auto b = Sidecar("worker-b");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(b->Register());
  TS_ASSERT_OK(a->Workers(false));
  TS_ASSERT_OK(a->Heartbeat({}));
  EXPECT_EQ(a->Pace().sharers, 2);
  TS_ASSERT_OK(b->Deregister());
  TS_ASSERT_OK(a->Workers(false));
  TS_ASSERT_OK(a->Heartbeat({}));
  EXPECT_EQ(a->Pace().sharers, 1);
  EXPECT_EQ(world_.api.write_sharers(), 1);
}

TEST_F(FleetTest, RecordsOfAnotherAccountDoNotTakeAShare) {
  auto a = world_.Sidecar("worker-a", [](Config& c) { c.trusted_authors = {"other-fleet"}; });
  TS_ASSERT_OK(a->Register());
  // A trusted second fleet's bot registers a worker: it counts as a worker, not as a sharer.
  github::RegistrationRecord r;
  r.worker_id = "theirs";
  r.epoch = 1;
  r.lease = absl::Seconds(30);
  r.registered_at = world_.clock.Now();
  const int64_t issue = world_.CoordinationIssue();
  world_.api.AddComment(issue, github::RecordSeal("", "octo/sentinel").Body(r, issue,
                                                                             world_.clock.Now()),
                        "other-fleet");
  absl::StatusOr<std::vector<WorkerInfo>> workers = a->Workers(false);
  TS_ASSERT_OK(workers);
  EXPECT_EQ(workers->size(), 2u);
  TS_ASSERT_OK(a->Heartbeat({}));
  EXPECT_EQ(a->Pace().sharers, 1);
}

TEST_F(FleetTest, ASilentWorkersLocksAreReleasedByItsLivingSidecar) {
  std::vector<std::unique_ptr<GitHubCoordinator>> fleet = Fleet(8);
  for (auto& s : fleet) TS_ASSERT_OK(s->Workers(false));
  for (auto& s : fleet) TS_ASSERT_OK(s->Heartbeat({}));
  ASSERT_TRUE(fleet[0]->Pace().stretched);  // a 48 s lease would keep the lock 48 s
  AcquireRequest req;
  req.name = "deploy";
  absl::StatusOr<AcquireAttempt> held = fleet[0]->AcquireLock(req, nullptr);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  TS_ASSERT_OK(fleet[0]->Heartbeat({}));  // (acquiring took a claim settle of time)
  // The worker process stops calling Heartbeat; its sidecar lives on.
  world_.clock.Advance(absl::Seconds(2));
  TS_ASSERT_OK(fleet[0]->Tick());
  absl::StatusOr<AcquireAttempt> early = fleet[1]->AcquireLock(req, nullptr);
  TS_ASSERT_OK(early);
  EXPECT_FALSE(early->acquired);  // not yet silent for STALE_WORKER_THRESHOLD_MS (3 s)
  world_.clock.Advance(absl::Seconds(2));
  TS_ASSERT_OK(fleet[0]->Tick());
  absl::StatusOr<AcquireAttempt> got = fleet[1]->AcquireLock(req, nullptr);
  TS_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired);  // released at once, no lease wait
  // When the worker is heard from again, it learns that it lost the lock.
  absl::StatusOr<HeartbeatResult> back = fleet[0]->Heartbeat({});
  TS_ASSERT_OK(back);
  ASSERT_EQ(back->lost_locks.size(), 1u);
  EXPECT_EQ(back->lost_locks[0].name, "deploy");
  EXPECT_EQ(back->lost_locks[0].token, held->lock->token);
}

// The sidecar's release of a silent worker's lock may still be in flight when the worker is heard
// from again: that heartbeat waits for it and reports the lock, rather than skipping it as "being
// released" (the worker would hear of it only a beat later, after another worker took the lock).
TEST_F(FleetTest, AHeartbeatDuringTheSilentReleaseStillReportsTheLock) {
  std::vector<std::unique_ptr<GitHubCoordinator>> fleet = Fleet(2);
  for (auto& s : fleet) TS_ASSERT_OK(s->Workers(false));
  for (auto& s : fleet) TS_ASSERT_OK(s->Heartbeat({}));
  AcquireRequest req;
  req.name = "deploy";
  absl::StatusOr<AcquireAttempt> held = fleet[0]->AcquireLock(req, nullptr);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  TS_ASSERT_OK(fleet[0]->Heartbeat({}));
  world_.clock.Advance(absl::Seconds(4));  // silent for more than STALE_WORKER_THRESHOLD_MS

  // The sweep's delete of the claim is held in flight until the heartbeat has answered, or for
  // 300 ms of real time if the heartbeat waits for the sweep (as it must).
  absl::Notification in_flight;
  absl::Notification answered;
  world_.api.SetBeforeWriteHook([&](const FakeGitHubWrite& w) {
    if (w.method != FakeGitHubMethod::kDeleteComment || in_flight.HasBeenNotified()) return;
    in_flight.Notify();
    answered.WaitForNotificationWithTimeout(absl::Milliseconds(300));
  });
  std::thread sweep([&] { (void)fleet[0]->Tick(); });
  in_flight.WaitForNotification();
  absl::StatusOr<HeartbeatResult> back = fleet[0]->Heartbeat({});
  answered.Notify();
  sweep.join();
  world_.api.SetBeforeWriteHook(nullptr);
  TS_ASSERT_OK(back);
  ASSERT_EQ(back->lost_locks.size(), 1u);
  EXPECT_EQ(back->lost_locks[0].name, "deploy");
  EXPECT_EQ(back->lost_locks[0].token, held->lock->token);
  // Reported once: the next heartbeat has nothing more to say.
  absl::StatusOr<HeartbeatResult> next = fleet[0]->Heartbeat({});
  TS_ASSERT_OK(next);
  EXPECT_TRUE(next->lost_locks.empty());
}

}  // namespace
}  // namespace tasksentinel
