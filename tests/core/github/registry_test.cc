// Leases on GitHub: registration posts one comment per worker and epoch; a heartbeat is ONE
// write whatever the locks held; a lapse (by GitHub's clock) loses every lock and starts a new
// epoch; a restarted sidecar resumes its live lease; the workers list and cluster health; the
// coordination issue race resolved by the lowest number.
#include "core/github/registry.h"

#include <memory>

#include "absl/strings/match.h"

#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

using github::RegistrationRecord;

AcquireRequest Req(const std::string& name) {
  AcquireRequest r;
  r.name = name;
  return r;
}

TEST(RegistryTest, RegisterPostsOneRegistrationAndResumesALiveLease) {
  GitHubWorld world;
  auto a = world.Sidecar("worker-a");
  absl::StatusOr<WorkerRecord> me = a->Register();
  TS_ASSERT_OK(me);
  EXPECT_EQ(me->id, "worker-a");
  EXPECT_EQ(me->epoch, 1u);
  EXPECT_EQ(me->lease_expires_at, world.clock.Now() + absl::Seconds(30));
  const int64_t issue = world.CoordinationIssue();
  auto regs = world.Records<RegistrationRecord>(issue);
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].second.lease, absl::Seconds(30));
  EXPECT_EQ(regs[0].second.max_tasks, 4u);
  EXPECT_EQ(regs[0].second.next_renewal_at, world.clock.Now() + absl::Seconds(10));

  // The sidecar restarts within the lease: same epoch, no new comment.
  world.clock.Advance(absl::Seconds(5));
  auto again = world.Sidecar("worker-a");
  absl::StatusOr<WorkerRecord> resumed = again->Register();
  TS_ASSERT_OK(resumed);
  EXPECT_EQ(resumed->epoch, 1u);
  EXPECT_EQ(world.Records<RegistrationRecord>(issue).size(), 1u);

  // After a lapse it starts the next epoch.
  world.clock.Advance(absl::Seconds(60));
  auto later = world.Sidecar("worker-a");
  absl::StatusOr<WorkerRecord> fresh = later->Register();
  TS_ASSERT_OK(fresh);
  EXPECT_EQ(fresh->epoch, 2u);
  EXPECT_EQ(world.Records<RegistrationRecord>(issue).size(), 2u);
}

TEST(RegistryTest, HeartbeatIsOneWriteWhateverTheLocksHeld) {
  GitHubWorld world;
  auto a = world.Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  for (int held = 0; held <= 6; held += 3) {
    for (int i = 0; i < 3 && held > 0; ++i) {
      TS_ASSERT_OK(a->AcquireLock(Req("lock-" + std::to_string(held) + "-" + std::to_string(i)),
                                  nullptr));
    }
    world.clock.Advance(absl::Seconds(10));
    world.api.ResetCounts();
    HeartbeatReport report;
    report.active_tasks = {"x"};
    report.max_tasks = 7;
    absl::StatusOr<HeartbeatResult> hb = a->Heartbeat(report);
    TS_ASSERT_OK(hb);
    EXPECT_TRUE(hb->lost_locks.empty());
    EXPECT_EQ(hb->lease_epoch, 1u);
    // Holding nothing, the worker renews at the idle pace: the idle lease is
    // STALE_WORKER_THRESHOLD_MS stretched as GITHUB_IDLE_RENEW_INTERVAL_MS stretches the
    // heartbeat (30 s x 600 s / 10 s); holding locks, it is the threshold itself.
    EXPECT_EQ(hb->lease_expires_at,
              world.clock.Now() + (held == 0 ? absl::Minutes(30) : absl::Seconds(30)))
        << "holding " << held << " locks";
    const FakeGitHubCounts counts = world.api.counts();
    EXPECT_EQ(counts.writes(), 1) << "holding " << held << " locks";
    EXPECT_EQ(counts.patches, 1);
    std::printf("heartbeat holding %d locks: %d write, %d reads (%d unchanged)\n", held,
                counts.writes(), counts.reads, counts.unchanged);
  }
  auto regs = world.Records<RegistrationRecord>(world.CoordinationIssue());
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].second.max_tasks, 7u);
  EXPECT_EQ(regs[0].second.active_tasks, std::vector<std::string>{"x"});
}

TEST(RegistryTest, LapseLosesEveryLockAndStartsANewEpoch) {
  GitHubWorld world;
  auto a = world.Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  absl::StatusOr<AcquireAttempt> one = a->AcquireLock(Req("one"), nullptr);
  absl::StatusOr<AcquireAttempt> two = a->AcquireLock(Req("two"), nullptr);
  TS_ASSERT_OK(one);
  TS_ASSERT_OK(two);
  world.clock.Advance(absl::Seconds(45));  // paused past its lease
  world.api.ResetCounts();
  absl::StatusOr<HeartbeatResult> hb = a->Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_epoch, 2u);
  EXPECT_EQ(hb->lost_locks.size(), 2u);
  EXPECT_EQ(world.api.counts().writes(), 1);  // the new epoch's registration
  EXPECT_EQ(world.api.counts().posts, 1);
  // The old tokens are refused; the locks can be taken again (after the lock-delay).
  TS_EXPECT_CODE(a->RenewLock("one", one->lock->token, absl::ZeroDuration()),
                 kFailedPrecondition);
  world.clock.Advance(absl::Seconds(6));
  absl::StatusOr<AcquireAttempt> again = a->AcquireLock(Req("one"), nullptr);
  TS_ASSERT_OK(again);
  EXPECT_TRUE(again->acquired);
  // A later heartbeat reports nothing more.
  hb = a->Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_TRUE(hb->lost_locks.empty());
}

// A heartbeat decided while the lease was live but landing after it lapsed (held up in the
// write queue, retried, blocked) must not revive the lease: by then other sidecars may have
// taken its locks over.
TEST(RegistryTest, AHeartbeatLandingAfterTheLeaseLapsedRevivesNothing) {
  GitHubWorld world;
  auto a = world.Sidecar("worker-a");
  auto b = world.Sidecar("worker-b");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(b->Register());
  absl::StatusOr<AcquireAttempt> held = a->AcquireLock(Req("shared"), nullptr);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  const int64_t issue = world.CoordinationIssue();
  absl::Time lease_end = absl::InfinitePast();  // of A's epoch 1, by its registration comment
  for (const auto& [comment, record] : world.Records<RegistrationRecord>(issue)) {
    if (record.worker_id == "worker-a") lease_end = comment.updated_at + record.lease;
  }

  // A's next heartbeat is decided 20 s in (lease live ~10 s more) but reaches GitHub 40 s later.
  world.clock.Advance(absl::Seconds(20));
  auto delayed = std::make_shared<bool>(false);
  world.api.SetBeforeWriteHook([&world, delayed](const FakeGitHubWrite& w) {
    if (*delayed || w.method != FakeGitHubMethod::kUpdateComment ||
        !absl::StrContains(w.body, "WORKER_REGISTRATION") ||
        !absl::StrContains(w.body, "worker-a")) {
      return;
    }
    *delayed = true;
    world.clock.Advance(absl::Seconds(40));
  });
  world.api.ResetCounts();
  absl::StatusOr<HeartbeatResult> hb = a->Heartbeat({});
  world.api.SetBeforeWriteHook(nullptr);
  TS_ASSERT_OK(hb);
  ASSERT_TRUE(*delayed);
  // The late edit renewed nothing: A starts the next epoch at once and reports its lock lost.
  EXPECT_EQ(hb->lease_epoch, 2u);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_EQ(hb->lost_locks[0].name, "shared");
  EXPECT_EQ(world.api.counts().patches, 1);
  EXPECT_EQ(world.api.counts().posts, 1);
  TS_EXPECT_CODE(a->RenewLock("shared", held->lock->token, absl::ZeroDuration()),
                 kFailedPrecondition);

  // The edited epoch-1 record says which lease it meant to renew, and landed after its end.
  bool seen = false;
  for (const auto& [comment, record] : world.Records<RegistrationRecord>(issue)) {
    if (record.worker_id != "worker-a" || record.epoch != 1) continue;
    seen = true;
    EXPECT_EQ(record.renews_until, lease_end);
    EXPECT_GE(comment.updated_at, record.renews_until);
  }
  EXPECT_TRUE(seen);

  // Every other sidecar judges epoch 1 over since then: B takes the lock (its lock-delay long
  // past), which it could not while the late edit counted as a renewal.
  TS_ASSERT_OK(b->Heartbeat({}));
  absl::StatusOr<AcquireAttempt> taken = b->AcquireLock(Req("shared"), nullptr);
  TS_ASSERT_OK(taken);
  EXPECT_TRUE(taken->acquired);
}

TEST(RegistryTest, WorkersAndHealthJudgeLeasesByGitHubTime) {
  GitHubWorld world;
  auto a = world.Sidecar("worker-a");
  auto b = world.Sidecar("worker-b");
  auto c = world.Sidecar("worker-c");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(b->Register());
  TS_ASSERT_OK(c->Register());
  HeartbeatReport degraded;
  degraded.health = tasksentinel::Health::kDegraded;
  TS_ASSERT_OK(c->Heartbeat(degraded));
  TS_ASSERT_OK(c->Deregister());
  absl::StatusOr<ClusterHealth> h = a->Health();
  TS_ASSERT_OK(h);
  EXPECT_EQ(h->status, ClusterStatus::kHealthy);
  EXPECT_EQ(h->total_workers, 2u);
  EXPECT_EQ(h->healthy_workers, 2u);
  EXPECT_EQ(h->total_capacity, 8u);

  // B goes silent: stale after 30 s (+1 s slack), by GitHub's clock.
  world.clock.Advance(absl::Seconds(20));
  TS_ASSERT_OK(a->Heartbeat({}));
  world.clock.Advance(absl::Seconds(10));
  EXPECT_EQ((*a->Workers(false))[1].status, WorkerStatus::kActive);  // within the slack
  world.clock.Advance(absl::Seconds(2));
  absl::StatusOr<std::vector<WorkerInfo>> workers = a->Workers(/*include_gone=*/true);
  TS_ASSERT_OK(workers);
  ASSERT_EQ(workers->size(), 3u);
  EXPECT_EQ((*workers)[0].status, WorkerStatus::kActive);
  EXPECT_EQ((*workers)[1].status, WorkerStatus::kStale);
  EXPECT_EQ((*workers)[2].status, WorkerStatus::kGone);
  h = a->Health();
  TS_ASSERT_OK(h);
  EXPECT_EQ(h->status, ClusterStatus::kDegraded);
  EXPECT_EQ(h->stale_workers, 1u);
  EXPECT_EQ(h->healthy_workers, 1u);
}

TEST(RegistryTest, TwoSidecarsCreatingTheCoordinationIssueAgreeOnTheLowest) {
  GitHubWorld world;
  world.api.SetLag(absl::Milliseconds(500));  // neither sees the other's issue at first
  auto a = world.Sidecar("worker-a");
  auto b = world.Sidecar("worker-b");
  absl::StatusOr<WorkerRecord> b_me;
  world.OnceOnWrite({"coordinate"}, [&] { b_me = b->Register(); });
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(b_me);
  std::vector<github::Issue> issues = world.api.AllIssues();
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_TRUE(issues[0].open);
  EXPECT_FALSE(issues[1].open);  // the loser closed its own
  EXPECT_EQ(world.Records<RegistrationRecord>(issues[0].number).size(), 2u);
  absl::StatusOr<std::vector<WorkerInfo>> workers = a->Workers(false);
  TS_ASSERT_OK(workers);
  EXPECT_EQ(workers->size(), 2u);
}

TEST(RegistryTest, UnreachableGitHubIsReportedNotHidden) {
  GitHubWorld world;
  auto a = world.Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(a->AcquireLock(Req("held"), nullptr));  // holding: renews every heartbeat
  world.clock.Advance(absl::Seconds(10));
  world.api.FailNext(1, absl::ResourceExhaustedError("secondary rate limit until 10:05:00Z"),
                     FakeGitHubMethod::kUpdateComment);
  TS_EXPECT_CODE(a->Heartbeat({}), kResourceExhausted);
  // The next heartbeat stretches the lease it writes, so others keep it alive meanwhile.
  absl::StatusOr<HeartbeatResult> hb = a->Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_expires_at, world.clock.Now() + absl::Seconds(60));
  world.clock.Advance(absl::Seconds(10));
  hb = a->Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_expires_at, world.clock.Now() + absl::Seconds(30));
  world.api.FailNext(1, absl::UnavailableError("502"), FakeGitHubMethod::kListIssues);
  TS_EXPECT_CODE(a->NextTask({}, absl::ZeroDuration(), nullptr), kUnavailable);
}

}  // namespace
}  // namespace tasksentinel
