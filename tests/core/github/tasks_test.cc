// Tasks on GitHub: next (claim + relabel) -> complete (one PATCH) costs 3 writes, and with the
// producer's create 4 writes and at most 6 rate-limited requests; the hand-out is a real lock; failures are retried with
// backoff, then dead-lettered; a dead worker's task is recovered by exactly one of three
// sidecars after the stale threshold and the lock-delay; under read lag two sidecars may both
// get a task, but only the earlier claim completes it; a person's issue is a task too.
#include "core/github/github_tasks.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

using github::ClaimRecord;

class TasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = world_.Sidecar("worker-a");
    TS_ASSERT_OK(a_->Register());
  }

  TaskRecord Create(GitHubCoordinator& c, const std::string& title, const std::string& type = "",
                    int32_t priority = 0, uint32_t max_attempts = 0) {
    absl::StatusOr<TaskRecord> t = c.CreateTask({title, "the body", type, priority, max_attempts});
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : TaskRecord{};
  }

  static std::optional<HandedOutTask> Next(GitHubCoordinator& c,
                                           std::vector<std::string> types = {}) {
    absl::StatusOr<std::optional<HandedOutTask>> got =
        c.NextTask(types, absl::ZeroDuration(), nullptr);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::nullopt;
  }

  int64_t Number(const TaskRecord& t) { return std::stoll(t.id); }

  // The claims on a task's issue.
  std::vector<std::pair<github::Comment, ClaimRecord>> Claims(const TaskRecord& t) {
    return world_.Records<ClaimRecord>(Number(t));
  }

  GitHubWorld world_;
  std::unique_ptr<GitHubCoordinator> a_;
};

TEST_F(TasksTest, ATaskLifeCostsFourWritesAndSixRequests) {
  ASSERT_FALSE(Next(*a_).has_value());  // warms the conditional lists up
  world_.api.ResetCounts();

  TaskRecord created = Create(*a_, "build it", "build", 0, 0);
  EXPECT_EQ(created.state, TaskState::kQueued);
  EXPECT_EQ(created.max_attempts, 3u);
  const FakeGitHubCounts producer = world_.api.counts();
  EXPECT_EQ(producer.writes(), 1);
  EXPECT_EQ(producer.costly_requests(), 1);
  std::optional<HandedOutTask> got = Next(*a_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->task.id, created.id);
  EXPECT_EQ(got->task.state, TaskState::kInProgress);
  EXPECT_EQ(got->task.attempts, 1u);
  EXPECT_EQ(got->task.worker_id, "worker-a");
  EXPECT_EQ(got->lock.name, created.id);
  EXPECT_EQ(got->lock.holder, "worker-a");
  absl::StatusOr<TaskRecord> done = a_->CompleteTask(created.id, got->lock.token, "it built");
  TS_ASSERT_OK(done);
  EXPECT_EQ(done->state, TaskState::kDone);
  EXPECT_EQ(done->result, "it built");

  // The worker's side (hand-out to completion): a claim POST, a relabel PATCH, a closing
  // PATCH. With the producer's POST: 4 writes, 6 requests that cost rate limit.
  const FakeGitHubCounts counts = world_.api.counts();
  EXPECT_EQ(counts.writes() - producer.writes(), 3);
  EXPECT_LE(counts.costly_requests() - producer.costly_requests(), 5);
  EXPECT_EQ(counts.writes(), 4);
  EXPECT_LE(counts.costly_requests(), 6);
  RecordProperty("writes_per_task", counts.writes());
  RecordProperty("costly_requests_per_task", counts.costly_requests());
  RecordProperty("all_requests_per_task", counts.reads + counts.writes());
  std::printf("task life: %d writes (%d POST, %d PATCH, %d DELETE), %d reads (%d unchanged), "
              "%d rate-limited requests\n",
              counts.writes(), counts.posts, counts.patches, counts.deletes, counts.reads,
              counts.unchanged, counts.costly_requests());

  std::optional<github::Issue> issue = world_.api.PeekIssue(Number(created));
  ASSERT_TRUE(issue.has_value());
  EXPECT_FALSE(issue->open);
  EXPECT_EQ(issue->labels, (std::vector<std::string>{"type:build", "sentinel:done"}));
  EXPECT_TRUE(absl::StrContains(issue->body, "it built"));
  EXPECT_EQ(Claims(created).size(), 1u);  // the record of who did the work
  absl::StatusOr<TaskRecord> read = a_->GetTask(created.id);
  TS_ASSERT_OK(read);
  EXPECT_EQ(read->result, "it built");
  EXPECT_EQ(read->body, "the body");
  EXPECT_EQ(read->type, "build");
  // Completing again is refused.
  TS_EXPECT_CODE(a_->CompleteTask(created.id, got->lock.token, "again"), kFailedPrecondition);
}

TEST_F(TasksTest, TheHandOutIsARealLockAndRespectsCapacityAndTypes) {
  auto b = world_.Sidecar("worker-b", [](Config& c) { c.supported_task_types = {"test"}; });
  TS_ASSERT_OK(b->Register());
  TaskRecord build = Create(*a_, "build", "build");
  std::optional<HandedOutTask> got = Next(*a_);
  ASSERT_TRUE(got.has_value());
  AcquireRequest req;
  req.name = build.id;
  absl::StatusOr<AcquireAttempt> other = b->AcquireLock(req, nullptr);
  TS_ASSERT_OK(other);
  EXPECT_FALSE(other->acquired);
  EXPECT_EQ(other->lock->token, got->lock.token);
  EXPECT_FALSE(Next(*b).has_value());  // nothing queued
  Create(*a_, "another build", "build");
  EXPECT_FALSE(Next(*b).has_value());  // B does not take builds
  TaskRecord test = Create(*a_, "a test", "test");
  std::optional<HandedOutTask> b_got = Next(*b);
  ASSERT_TRUE(b_got.has_value());
  EXPECT_EQ(b_got->task.id, test.id);
  // Capacity: A takes 4 at most.
  for (int i = 0; i < 4; ++i) Create(*a_, "t" + std::to_string(i));
  int handed = 1;
  while (Next(*a_).has_value()) ++handed;
  EXPECT_EQ(handed, 4);
  absl::StatusOr<std::vector<WorkerInfo>> workers = b->Workers(false);
  TS_ASSERT_OK(workers);
  EXPECT_EQ((*workers)[0].active_tasks, 4u);
  EXPECT_EQ((*workers)[1].active_tasks, 1u);
  absl::StatusOr<ClusterHealth> health = b->Health();
  TS_ASSERT_OK(health);
  EXPECT_EQ(health->tasks.in_progress, 5u);
  EXPECT_EQ(health->tasks.queued, 2u);
  EXPECT_EQ(health->used_capacity, 5u);
}

TEST_F(TasksTest, HigherPriorityFirstThenOldest) {
  TaskRecord low = Create(*a_, "low", "", -1);
  TaskRecord first = Create(*a_, "first");
  TaskRecord urgent = Create(*a_, "urgent", "", 10);
  EXPECT_EQ(Next(*a_)->task.id, urgent.id);
  EXPECT_EQ(Next(*a_)->task.id, first.id);
  EXPECT_EQ(Next(*a_)->task.id, low.id);
}

TEST_F(TasksTest, RetryableFailureRequeuesWithBackoffThenDeadLetters) {
  TaskRecord t = Create(*a_, "flaky", "", 0, 2);
  std::optional<HandedOutTask> got = Next(*a_);
  ASSERT_TRUE(got.has_value());
  world_.api.ResetCounts();
  absl::StatusOr<TaskRecord> failed = a_->FailTask(t.id, got->lock.token, "boom", true);
  TS_ASSERT_OK(failed);
  EXPECT_EQ(world_.api.counts().writes(), 2);  // the claim's release, the relabel
  EXPECT_EQ(failed->state, TaskState::kQueued);
  EXPECT_EQ(failed->last_error, "boom");
  EXPECT_EQ(failed->not_before, world_.clock.Now() + absl::Seconds(1));
  // The claim became the attempt's record.
  auto released = world_.Records<github::ReleasedRecord>(Number(t));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].second.error, "boom");
  EXPECT_TRUE(Claims(t).empty());
  TS_EXPECT_CODE(a_->CompleteTask(t.id, got->lock.token, "late"), kFailedPrecondition);

  EXPECT_FALSE(Next(*a_).has_value());  // backing off
  world_.clock.Advance(absl::Seconds(2));
  std::optional<HandedOutTask> second = Next(*a_);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->task.attempts, 2u);
  EXPECT_GT(second->lock.token, got->lock.token);
  absl::StatusOr<TaskRecord> dead = a_->FailTask(t.id, second->lock.token, "boom again", true);
  TS_ASSERT_OK(dead);
  EXPECT_EQ(dead->state, TaskState::kDeadLetter);
  std::optional<github::Issue> issue = world_.api.PeekIssue(Number(t));
  EXPECT_FALSE(issue->open);
  EXPECT_EQ(issue->labels, std::vector<std::string>{"sentinel:dead-letter"});
  world_.clock.Advance(absl::Hours(2));
  EXPECT_FALSE(Next(*a_).has_value());
  EXPECT_EQ(a_->Health()->tasks.dead_letter, 1u);
}

TEST_F(TasksTest, NonRetryableFailureDeadLettersAtOnce) {
  TaskRecord t = Create(*a_, "doomed");
  std::optional<HandedOutTask> got = Next(*a_);
  ASSERT_TRUE(got.has_value());
  absl::StatusOr<TaskRecord> dead = a_->FailTask(t.id, got->lock.token, "bad input", false);
  TS_ASSERT_OK(dead);
  EXPECT_EQ(dead->state, TaskState::kDeadLetter);
  EXPECT_EQ(a_->GetTask(t.id)->state, TaskState::kDeadLetter);
}

TEST_F(TasksTest, ADeadWorkersTaskIsRecoveredByExactlyOneOfThreeSidecars) {
  // D ("worker-0", first in id order, so the plan gives it the one task) takes the task.
  auto d = world_.Sidecar("worker-0");
  TS_ASSERT_OK(d->Register());
  TaskRecord t = Create(*d, "long job");
  std::optional<HandedOutTask> lost = Next(*d);
  ASSERT_TRUE(lost.has_value());
  auto b = world_.Sidecar("worker-b");
  auto c = world_.Sidecar("worker-c");
  TS_ASSERT_OK(b->Register());
  TS_ASSERT_OK(c->Register());
  GitHubCoordinator* others[] = {a_.get(), b.get(), c.get()};

  // D goes silent; the others heartbeat. D's lease lapses 30 s (+1 s slack) after it registered.
  world_.clock.Advance(absl::Seconds(20));
  for (GitHubCoordinator* o : others) TS_ASSERT_OK(o->Heartbeat({}));
  world_.clock.Advance(absl::Seconds(13));
  for (GitHubCoordinator* o : others) EXPECT_FALSE(Next(*o).has_value());  // lock-delay
  world_.clock.Advance(absl::Seconds(5));

  // All three go for it at once: B and C while A's claim is being posted. At the drain the plan
  // gives the task to A (least loaded, then id), so B and C leave it to A: no claim to lose.
  std::optional<HandedOutTask> b_got, c_got;
  world_.OnceOnWrite({"LOCK_CLAIM", "worker-a"}, [&] {
    b_got = Next(*b);
    c_got = Next(*c);
  });
  std::optional<HandedOutTask> a_got = Next(*a_);
  const int winners = a_got.has_value() + b_got.has_value() + c_got.has_value();
  EXPECT_EQ(winners, 1);
  ASSERT_TRUE(a_got.has_value());  // the lowest claim
  EXPECT_EQ(a_got->task.id, t.id);
  EXPECT_EQ(a_got->task.attempts, 2u);  // the lost attempt counts
  EXPECT_TRUE(absl::StrContains(a_got->task.last_error, "worker-0"));
  auto claims = Claims(t);
  ASSERT_EQ(claims.size(), 2u);  // D's (history) and A's
  EXPECT_EQ(claims[0].second.worker_id, "worker-0");
  EXPECT_EQ(claims[1].second.worker_id, "worker-a");
  EXPECT_EQ(claims[1].second.recovered_from, "worker-0");
  EXPECT_TRUE(absl::StrContains(claims[1].first.body, "recovered from worker-0, lease lapsed"));

  // D comes back: its lock is reported lost, its token refused.
  absl::StatusOr<HeartbeatResult> hb = d->Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_epoch, 2u);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_EQ(hb->lost_locks[0].name, t.id);
  TS_EXPECT_CODE(d->CompleteTask(t.id, lost->lock.token, "zombie"), kFailedPrecondition);
  TS_EXPECT_OK(a_->CompleteTask(t.id, a_got->lock.token, "recovered"));
}

TEST_F(TasksTest, AnOrphanWithNoAttemptLeftIsDeadLettered) {
  auto d = world_.Sidecar("worker-0");  // first in id order: the plan gives it the task
  TS_ASSERT_OK(d->Register());
  TaskRecord t = Create(*d, "last try", "", 0, 1);
  ASSERT_TRUE(Next(*d).has_value());
  world_.clock.Advance(absl::Seconds(20));
  TS_ASSERT_OK(a_->Heartbeat({}));
  world_.clock.Advance(absl::Seconds(20));
  EXPECT_FALSE(Next(*a_).has_value());
  absl::StatusOr<TaskRecord> read = a_->GetTask(t.id);
  TS_ASSERT_OK(read);
  EXPECT_EQ(read->state, TaskState::kDeadLetter);
  EXPECT_TRUE(absl::StrContains(read->last_error, "no attempts left"));
}

TEST_F(TasksTest, UnderLagTwoSidecarsMayGetATaskButOnlyTheEarlierClaimCompletesIt) {
  TaskRecord t = Create(*a_, "contested");
  // B's registration and A's claim are late to show. A, not seeing B, plans the task for itself;
  // B ("worker-0", first in id order) plans it for itself too. B does not measure the lag on its
  // registration (lag_probe.h) before it claims: as when the lag began after its start-up.
  world_.api.SetLag(absl::Seconds(3));
  auto b = world_.Sidecar("worker-0", nullptr,
                          [](GitHubCoordinator::Options& o) { o.probe_lag = false; });
  TS_ASSERT_OK(b->Register());
  std::optional<HandedOutTask> b_got;
  world_.OnceOnWrite({"LOCK_CLAIM", "worker-a"}, [&] {
    world_.api.SetLag(absl::ZeroDuration());
    b_got = Next(*b);
  });
  std::optional<HandedOutTask> a_got = Next(*a_);
  ASSERT_TRUE(a_got.has_value());
  ASSERT_TRUE(b_got.has_value());  // both run it for a while
  EXPECT_LT(a_got->lock.token, b_got->lock.token);
  TS_EXPECT_CODE(b->CompleteTask(t.id, b_got->lock.token, "b's result"), kFailedPrecondition);
  TS_EXPECT_CODE(b->FailTask(t.id, b_got->lock.token, "b failed", true), kFailedPrecondition);
  absl::StatusOr<TaskRecord> done = a_->CompleteTask(t.id, a_got->lock.token, "a's result");
  TS_ASSERT_OK(done);
  EXPECT_EQ(a_->GetTask(t.id)->result, "a's result");
}

// At the drain (no more tasks than live workers) a sidecar leaves a task the plan gives to
// another worker to that worker, posting nothing, until the task has stayed planned for it for
// the grace period without being taken: two poll intervals and one settle delay per rank of the
// own worker id (B is second: 2 s + 2 x 1 s here).
TEST_F(TasksTest, AtTheDrainATaskIsLeftToItsPlannedWorkerForAGracePeriod) {
  auto b = world_.Sidecar("worker-b");
  TS_ASSERT_OK(b->Register());
  TaskRecord t = Create(*a_, "for a");  // A and B idle: least loaded, then id, gives it to A
  world_.api.ResetCounts();
  EXPECT_FALSE(Next(*b).has_value());
  world_.clock.Advance(absl::Seconds(2));
  EXPECT_FALSE(Next(*b).has_value());
  world_.clock.Advance(absl::Seconds(1));
  EXPECT_FALSE(Next(*b).has_value());
  EXPECT_EQ(world_.api.counts().writes(), 0) << "a deferring sidecar posted something";
  // A does not ask for work; after the grace B takes the task.
  world_.clock.Advance(absl::Seconds(1));
  std::optional<HandedOutTask> got = Next(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->task.id, t.id);
}

TEST_F(TasksTest, APersonsIssueIsATaskAndReleasingATaskLockRequeuesIt) {
  const int64_t n = world_.api.AddIssue("please triage", "steps...",
                                        {"sentinel:queued", "type:triage", "bug"}, "a-person");
  const int64_t not_a_task = world_.api.AddIssue("not a task", "", {"bug"}, "a-person");
  std::optional<HandedOutTask> got = Next(*a_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->task.id, std::to_string(n));
  EXPECT_EQ(got->task.type, "triage");
  EXPECT_EQ(got->task.body, "steps...");
  EXPECT_EQ(got->task.max_attempts, 3u);
  EXPECT_EQ(*a_->ReleaseLock(got->task.id, got->lock.token), ReleaseOutcome::kReleased);
  EXPECT_EQ(a_->GetTask(got->task.id)->state, TaskState::kQueued);
  std::optional<HandedOutTask> again = Next(*a_);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->task.attempts, 2u);
  std::optional<github::Issue> issue = world_.api.PeekIssue(n);
  EXPECT_EQ(issue->labels,
            (std::vector<std::string>{"type:triage", "bug", "sentinel:in-progress"}));
  TS_EXPECT_CODE(a_->GetTask(std::to_string(not_a_task)), kNotFound);
  TS_EXPECT_CODE(a_->GetTask("task-1"), kNotFound);
}

TEST_F(TasksTest, NextTaskWaitsForATask) {
  auto b = world_.Sidecar("worker-b");
  TS_ASSERT_OK(b->Register());
  int polls = 0;
  absl::StatusOr<std::optional<HandedOutTask>> got =
      a_->NextTask({}, absl::Seconds(30), [&] {
        if (++polls == 3) Create(*b, "late arrival");
        return false;
      });
  TS_ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->task.title, "late arrival");
  absl::StatusOr<std::optional<HandedOutTask>> none = b->NextTask({}, absl::Seconds(5), nullptr);
  TS_ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
}

// A CreateTask with a request_id, as a client sends it.
TaskRecord CreateWithKey(GitHubCoordinator& c, const std::string& title, const std::string& key) {
  NewTask t;
  t.title = title;
  t.request_id = key;
  absl::StatusOr<TaskRecord> created = c.CreateTask(t);
  EXPECT_TRUE(created.ok()) << created.status();
  return created.ok() ? *created : TaskRecord{};
}

TEST_F(TasksTest, NewRequestIdsListNoClosedIssuesAndARetryHereCostsOneGet) {
  // Finished tasks in the repository, as in any long-lived one.
  for (int i = 0; i < 3; ++i) {
    TaskRecord t = CreateWithKey(*a_, "old", absl::StrCat("old-", i));
    std::optional<HandedOutTask> got = Next(*a_);
    ASSERT_TRUE(got.has_value());
    TS_ASSERT_OK(a_->CompleteTask(got->task.id, got->lock.token, "done"));
  }
  ASSERT_FALSE(Next(*a_).has_value());  // warms the conditional lists up
  world_.api.ResetCounts();
  constexpr int kTasks = 20;
  std::vector<TaskRecord> created;
  for (int i = 0; i < kTasks; ++i) {
    created.push_back(CreateWithKey(*a_, "build", absl::StrCat("req-", i)));
  }
  FakeGitHubCounts counts = world_.api.counts();
  EXPECT_EQ(counts.closed_lists, 0);
  EXPECT_EQ(counts.posts, kTasks);
  // At most the two lists of open task issues (queued, in progress) per create.
  EXPECT_LE(counts.by_method[FakeGitHubMethod::kListIssues], 2 * kTasks);
  // Retries on this sidecar: each answered by one GET of its issue, no list, no POST.
  world_.api.ResetCounts();
  for (int i = 0; i < kTasks; ++i) {
    EXPECT_EQ(CreateWithKey(*a_, "build", absl::StrCat("req-", i)).id, created[i].id);
  }
  counts = world_.api.counts();
  EXPECT_EQ(counts.by_method[FakeGitHubMethod::kListIssues], 0);
  EXPECT_EQ(counts.by_method[FakeGitHubMethod::kGetIssue], kTasks);
  EXPECT_EQ(counts.writes(), 0);
}

TEST_F(TasksTest, ARetryOnASidecarThatSawTheTaskOpenIsAnsweredAfterItClosed) {
  auto producer = world_.Sidecar("producer");  // a sidecar that only creates tasks
  TaskRecord first = CreateWithKey(*a_, "build", "req-seen");
  // Creating a task of its own, the producer lists the open tasks and notes their keys.
  CreateWithKey(*producer, "lint", "req-other");
  std::optional<HandedOutTask> got = Next(*a_);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->task.id, first.id);
  TS_ASSERT_OK(a_->CompleteTask(got->task.id, got->lock.token, "built"));
  world_.api.ResetCounts();
  TaskRecord retried = CreateWithKey(*producer, "other", "req-seen");
  EXPECT_EQ(retried.id, first.id);
  EXPECT_EQ(retried.state, TaskState::kDone);
  EXPECT_EQ(world_.api.counts().closed_lists, 0);
  EXPECT_EQ(world_.api.counts().writes(), 0);
}

TEST_F(TasksTest, ARetryAfterALostCreateAnswerFindsTheTaskEvenClosed) {
  auto producer = world_.Sidecar("producer");  // a sidecar that only creates tasks
  // The POST creates the issue, but its answer never arrives (a connection reset).
  world_.api.SetBeforeWriteHook([&](const FakeGitHubWrite& w) {
    if (w.method != FakeGitHubMethod::kCreateIssue) return;
    world_.api.AddIssue("deploy", w.body, {"sentinel:queued"}, "sentinel-bot");
    world_.api.FailNext(1, absl::UnavailableError("connection reset"),
                        FakeGitHubMethod::kCreateIssue);
  });
  NewTask t;
  t.title = "deploy";
  t.request_id = "req-lost";
  TS_EXPECT_CODE(producer->CreateTask(t), kUnavailable);
  world_.api.SetBeforeWriteHook(nullptr);
  // A worker runs and finishes the task before the retry comes.
  std::optional<HandedOutTask> got = Next(*a_);
  ASSERT_TRUE(got.has_value());
  TS_ASSERT_OK(a_->CompleteTask(got->task.id, got->lock.token, "deployed"));
  world_.api.ResetCounts();
  absl::StatusOr<TaskRecord> retried = producer->CreateTask(t);
  TS_ASSERT_OK(retried);
  EXPECT_EQ(retried->id, got->task.id);
  EXPECT_EQ(retried->result, "deployed");
  // The one case that lists closed issues: a key whose create's answer was lost here.
  EXPECT_EQ(world_.api.counts().closed_lists, 1);
  EXPECT_EQ(world_.api.counts().writes(), 0);
  // Known from now on: the next retry costs one GET.
  world_.api.ResetCounts();
  TS_ASSERT_OK(producer->CreateTask(t));
  EXPECT_EQ(world_.api.counts().by_method[FakeGitHubMethod::kListIssues], 0);
}

}  // namespace
}  // namespace tasksentinel
