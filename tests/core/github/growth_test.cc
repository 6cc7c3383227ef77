// Bounded growth on GitHub (issue 10): over 10,000 lock acquire/release cycles — with a holder
// crashing and its lock taken over every 500 cycles, and the worker's own lease lapsing now and
// then — and 5,000 tasks, what the sidecars list stays small: released claims are deleted, a
// crashed holder's claim is removed by the worker that takes its lock over, registrations of
// earlier epochs by their own worker, long-dead workers' registrations by the fleet's sweeper;
// closed task issues are counted without being listed again.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/github/records.h"
#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

AcquireRequest Lock(const std::string& name) {
  AcquireRequest r;
  r.name = name;
  return r;
}

TEST(GrowthTest, TenThousandLockCyclesKeepTheListsShort) {
  GitHubWorld world;  // HEARTBEAT 10 s, STALE 30 s, LOCK_DELAY 5 s, settle 1 s
  auto a = world.Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  int crashes = 0;
  int lapses = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string name = absl::StrCat("lock-", i % 8);
    if (i % 500 == 250) {
      // A worker holding this lock crashes (its sidecar too: nobody releases anything). A
      // new worker id each time, as ephemeral CI jobs have.
      auto crashed = world.Sidecar(absl::StrCat("job-", i));
      TS_ASSERT_OK(crashed->Register());
      absl::StatusOr<AcquireAttempt> got = crashed->AcquireLock(Lock(name), nullptr);
      TS_ASSERT_OK(got);
      ASSERT_TRUE(got->acquired);
      ++crashes;
      world.clock.Advance(absl::Seconds(40));  // its lease (30 s + slack) lapses
      if (i % 1000 == 250) {
        // A's worker was silent too: its own lease lapsed; it comes back with a new epoch.
        ++lapses;
      } else {
        TS_ASSERT_OK(a->Heartbeat({}));
      }
      world.clock.Advance(absl::Seconds(6));  // past the lock-delay
    }
    absl::StatusOr<HeartbeatResult> beat = a->Heartbeat({});
    TS_ASSERT_OK(beat);
    absl::StatusOr<AcquireAttempt> got = a->AcquireLock(Lock(name), nullptr);
    TS_ASSERT_OK(got);
    ASSERT_TRUE(got->acquired) << "cycle " << i;
    TS_ASSERT_OK(a->ReleaseLock(name, got->lock->token));
    world.clock.Advance(absl::Seconds(1));
    TS_ASSERT_OK(a->Tick());
    if (i == 100) world.api.ResetCounts();  // past the start
  }
  // Two hours later (past the registrations' retention), the sweeper has run.
  for (int minute = 0; minute < 120; ++minute) {
    world.clock.Advance(absl::Minutes(1));
    TS_ASSERT_OK(a->Heartbeat({}));
    TS_ASSERT_OK(a->Workers(false));
    TS_ASSERT_OK(a->Tick());
  }
  const int64_t locks_issue = world.LocksIssue();
  const int64_t coordination = world.CoordinationIssue();
  const size_t lock_comments = world.api.AllComments(locks_issue).size();
  const auto registrations = world.Records<github::RegistrationRecord>(coordination);
  std::printf("[growth] %d crashed holders, %d own lapses; locks issue: %zu comments; "
              "coordination issue: %zu registrations; longest comment list read: %lld\n",
              crashes, lapses, lock_comments, registrations.size(),
              static_cast<long long>(world.api.counts().max_comments_listed));
  EXPECT_EQ(crashes, 20);
  // Nothing held: no claim is left on the locks issue.
  EXPECT_EQ(lock_comments, 0u);
  // A's current registration only: its earlier epochs and the crashed jobs' are gone.
  EXPECT_EQ(registrations.size(), 1u);
  for (const auto& [comment, r] : registrations) {
    std::printf("[growth] left: %s epoch %llu%s, updated %s\n", r.worker_id.c_str(),
                static_cast<unsigned long long>(r.epoch), r.gone ? " (gone)" : "",
                absl::FormatTime(comment.updated_at).c_str());
  }
  // The longest list read stayed small throughout: at most the 8 locks' claims plus a crashed
  // holder's, and the registrations of the fleet within the retention.
  EXPECT_LE(world.api.counts().max_comments_listed, 8 + 20 + 10);
}

TEST(GrowthTest, ClosedTasksAreCountedWithoutBeingListedAgain) {
  GitHubWorld world;
  auto a = world.Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  int64_t listed_before = 0;
  for (int batch = 0; batch < 100; ++batch) {
    for (int i = 0; i < 50; ++i) {
      NewTask t;
      t.title = absl::StrCat("task ", batch, "-", i);
      TS_ASSERT_OK(a->CreateTask(t));
    }
    for (int i = 0; i < 50; ++i) {
      absl::StatusOr<std::optional<HandedOutTask>> next =
          a->NextTask({}, absl::ZeroDuration(), nullptr);
      TS_ASSERT_OK(next);
      ASSERT_TRUE(next->has_value()) << "batch " << batch << " task " << i;
      TS_ASSERT_OK(a->CompleteTask((*next)->task.id, (*next)->lock.token, "ok"));
      TS_ASSERT_OK(a->Heartbeat({}));
    }
    world.clock.Advance(absl::Seconds(1));
    const int64_t before = world.api.counts().issues_listed;
    absl::StatusOr<ClusterHealth> health = a->Health();
    TS_ASSERT_OK(health);
    EXPECT_EQ(health->tasks.done, static_cast<uint32_t>(50 * (batch + 1)));
    // This count listed the 50 tasks closed since the last one (and their second), not all.
    const int64_t listed = world.api.counts().issues_listed - before;
    EXPECT_LE(listed, 50 + 50 + 2) << "batch " << batch;
    listed_before = listed;
  }
  // Nothing new: the count lists (almost) nothing.
  world.clock.Advance(absl::Seconds(5));
  (void)a->Health();
  const int64_t before = world.api.counts().issues_listed;
  absl::StatusOr<ClusterHealth> health = a->Health();
  TS_ASSERT_OK(health);
  EXPECT_EQ(health->tasks.done, 5000u);
  EXPECT_LE(world.api.counts().issues_listed - before, 2);
  std::printf("[growth] 5000 tasks done; the last count with nothing new listed %lld issues "
              "(the last with 50 new: %lld)\n",
              static_cast<long long>(world.api.counts().issues_listed - before),
              static_cast<long long>(listed_before));
}

}  // namespace
}  // namespace tasksentinel
