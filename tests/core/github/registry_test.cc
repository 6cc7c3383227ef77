// Leases on GitHub: registration posts one comment per worker and epoch; a heartbeat is ONE
// write whatever the locks held; a lapse (by GitHub's clock) loses every lock and starts a new
// epoch; a restarted sidecar resumes its live lease; the workers list and cluster health; the
// coordination issue race resolved by the lowest number.
#include "core/github/registry.h"

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
    EXPECT_EQ(hb->lease_expires_at, world.clock.Now() + absl::Seconds(30));
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
  world.api.FailNext(1, absl::ResourceExhaustedError("secondary rate limit until 10:05:00Z"),
                     FakeGitHubMethod::kUpdateComment);
  TS_EXPECT_CODE(a->Heartbeat({}), kResourceExhausted);
  // The next heartbeat stretches the lease it writes, so others keep it alive meanwhile.
  absl::StatusOr<HeartbeatResult> hb = a->Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_expires_at, world.clock.Now() + absl::Seconds(60));
  hb = a->Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_expires_at, world.clock.Now() + absl::Seconds(30));
  world.api.FailNext(1, absl::UnavailableError("502"), FakeGitHubMethod::kListIssues);
  TS_EXPECT_CODE(a->NextTask({}, absl::ZeroDuration(), nullptr), kUnavailable);
}

}  // namespace
}  // namespace tasksentinel
