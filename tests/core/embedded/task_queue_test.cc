// The task queue on a fake clock: hand-out already locked, priority order, capacity, types,
// retries with backoff, dead letters, fencing of completion, and recovery of a dead worker's
// task after its lease and the lock-delay.
#include "core/embedded/task_queue.h"

#include <atomic>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "core/embedded/memory_store.h"
#include "core/validation.h"
#include "gtest/gtest.h"
#include "tests/testing/core_harness.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

class TaskQueueTest : public ::testing::Test {
 protected:
  TaskQueueTest()
      : a_(TestConfig("worker-a"), &store_, &clock_), b_(TestConfig("worker-b"), &store_, &clock_) {}
  void SetUp() override {
    TS_ASSERT_OK(a_.leases.Register());
    TS_ASSERT_OK(b_.leases.Register());
  }

  TaskRecord Create(const std::string& title, const std::string& type = "", int32_t priority = 0,
                    uint32_t max_attempts = 0) {
    absl::StatusOr<TaskRecord> t = a_.tasks.Create({title, "body", type, priority, max_attempts});
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : TaskRecord{};
  }

  std::optional<HandedOutTask> Next(WorkerHarness& w, std::vector<std::string> types = {},
                                    absl::Duration wait = absl::ZeroDuration()) {
    absl::StatusOr<std::optional<HandedOutTask>> got = w.tasks.Next(types, wait, nullptr);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::nullopt;
  }

  MemoryStore store_;
  FakeClock clock_;
  WorkerHarness a_;
  WorkerHarness b_;
};

TEST_F(TaskQueueTest, NextHandsOutATaskAlreadyLockedForTheWorker) {
  TaskRecord created = Create("build it", "build");
  EXPECT_EQ(created.state, TaskState::kQueued);
  EXPECT_EQ(created.max_attempts, 3u);
  std::optional<HandedOutTask> got = Next(a_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->task.id, created.id);
  EXPECT_EQ(got->task.state, TaskState::kInProgress);
  EXPECT_EQ(got->task.attempts, 1u);
  EXPECT_EQ(got->task.worker_id, "worker-a");
  EXPECT_EQ(got->lock.name, created.id);
  EXPECT_EQ(got->lock.holder, "worker-a");
  EXPECT_GT(got->lock.token, 0u);
  // The lock is real: nobody else can take it.
  AcquireRequest req;
  req.name = created.id;
  EXPECT_FALSE(b_.locks.Acquire(req)->acquired);
  EXPECT_FALSE(Next(b_).has_value());
}

TEST_F(TaskQueueTest, HigherPriorityFirstThenOldest) {
  TS_ASSERT_OK(b_.leases.Deregister());  // alone, A's balancer plan is plain queue order
  TaskRecord low = Create("low", "", -1);
  TaskRecord first = Create("first");
  TaskRecord urgent = Create("urgent", "", 10);
  TaskRecord second = Create("second");
  EXPECT_EQ(Next(a_)->task.id, urgent.id);
  EXPECT_EQ(Next(a_)->task.id, first.id);
  EXPECT_EQ(Next(a_)->task.id, second.id);
  EXPECT_EQ(Next(a_)->task.id, low.id);
}

TEST_F(TaskQueueTest, RespectsTheWorkersCapacity) {
  for (int i = 0; i < 5; ++i) Create("t" + std::to_string(i));
  std::vector<HandedOutTask> mine;
  for (int i = 0; i < 4; ++i) mine.push_back(*Next(a_));
  EXPECT_FALSE(Next(a_).has_value());  // max_tasks = 4
  TS_ASSERT_OK(a_.tasks.Complete(mine[0].task.id, mine[0].lock.token, "ok"));
  EXPECT_TRUE(Next(a_).has_value());
}

TEST_F(TaskQueueTest, FiltersByTaskType) {
  Create("a test", "test");
  TaskRecord build = Create("a build", "build");
  std::optional<HandedOutTask> got = Next(a_, {"build"});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->task.id, build.id);
  EXPECT_FALSE(Next(a_, {"build"}).has_value());
  TS_EXPECT_CODE(a_.tasks.Next({"Bad Type"}, absl::ZeroDuration(), nullptr), kInvalidArgument);
}

TEST_F(TaskQueueTest, UnsupportedTypesAreNeverHandedOut) {
  Config only_deploy = TestConfig("worker-d");
  only_deploy.supported_task_types = {"deploy"};
  WorkerHarness d(only_deploy, &store_, &clock_);
  TS_ASSERT_OK(d.leases.Register());
  Create("a build", "build");
  EXPECT_FALSE(Next(d).has_value());
  TS_EXPECT_CODE(d.tasks.Next({"build"}, absl::ZeroDuration(), nullptr), kInvalidArgument);
  TaskRecord deploy = Create("a deploy", "deploy");
  EXPECT_EQ(Next(d)->task.id, deploy.id);
}

TEST_F(TaskQueueTest, RetryableFailuresBackOffThenDeadLetter) {
  TaskRecord t = Create("flaky", "", 0, 3);
  std::optional<HandedOutTask> got = Next(a_);
  absl::StatusOr<TaskRecord> failed = a_.tasks.Fail(t.id, got->lock.token, "boom", true);
  TS_ASSERT_OK(failed);
  EXPECT_EQ(failed->state, TaskState::kQueued);
  EXPECT_EQ(failed->last_error, "boom");
  EXPECT_EQ(failed->not_before, clock_.Now() + absl::Seconds(1));  // base backoff
  EXPECT_FALSE(Next(a_).has_value());  // backing off
  clock_.Advance(absl::Seconds(1));
  got = Next(a_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->task.attempts, 2u);
  failed = a_.tasks.Fail(t.id, got->lock.token, "boom again", true);
  EXPECT_EQ(failed->not_before, clock_.Now() + absl::Seconds(2));  // doubled
  // Waiting through the backoff hands it out again (the wait advances the fake clock).
  got = Next(a_, {}, absl::Seconds(5));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->task.attempts, 3u);
  failed = a_.tasks.Fail(t.id, got->lock.token, "third strike", true);
  EXPECT_EQ(failed->state, TaskState::kDeadLetter);
  EXPECT_FALSE(Next(a_).has_value());
  EXPECT_EQ(a_.tasks.Count()->dead_letter, 1u);
}

TEST_F(TaskQueueTest, NonRetryableFailuresDeadLetterAtOnce) {
  TaskRecord t = Create("broken");
  std::optional<HandedOutTask> got = Next(a_);
  EXPECT_EQ(a_.tasks.Fail(t.id, got->lock.token, "bad input", false)->state,
            TaskState::kDeadLetter);
}

TEST_F(TaskQueueTest, CompleteChecksTheFencingToken) {
  TaskRecord t = Create("job");
  std::optional<HandedOutTask> got = Next(a_);
  TS_EXPECT_CODE(a_.tasks.Complete(t.id, got->lock.token + 1, "r"), kInvalidArgument);
  TS_EXPECT_CODE(b_.tasks.Complete(t.id, got->lock.token, "r"), kFailedPrecondition);
  TS_EXPECT_CODE(a_.tasks.Complete("task-999", got->lock.token, "r"), kNotFound);
  absl::StatusOr<TaskRecord> done = a_.tasks.Complete(t.id, got->lock.token, "result!");
  TS_ASSERT_OK(done);
  EXPECT_EQ(done->state, TaskState::kDone);
  EXPECT_EQ(done->result, "result!");
  EXPECT_TRUE(a_.locks.List()->empty());
  TS_EXPECT_CODE(a_.tasks.Complete(t.id, got->lock.token, "twice"), kFailedPrecondition);
  EXPECT_EQ(a_.tasks.Get(t.id)->result, "result!");
}

TEST_F(TaskQueueTest, ATaskLockedByAcquireLockIsNotCompletable) {
  TaskRecord t = Create("job");
  AcquireRequest req;
  req.name = t.id;
  absl::StatusOr<AcquireAttempt> lock = a_.locks.Acquire(req);
  ASSERT_TRUE(lock->acquired);
  EXPECT_FALSE(Next(b_).has_value());  // its lock is taken
  TS_EXPECT_CODE(a_.tasks.Complete(t.id, lock->lock->token, "r"), kFailedPrecondition);
}

TEST_F(TaskQueueTest, ADeadWorkersTaskReturnsAfterLeaseAndLockDelay) {
  TaskRecord t = Create("long job");
  std::optional<HandedOutTask> got = Next(a_);
  ASSERT_TRUE(got.has_value());
  // A dies; B keeps heartbeating.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Seconds(10));
    TS_ASSERT_OK(b_.leases.Heartbeat({}));
    EXPECT_FALSE(Next(b_).has_value()) << "A's lease still counts at " << (i + 1) * 10 << " s";
  }
  EXPECT_EQ(b_.tasks.Count()->queued, 1u);  // lapsed: counted as queued again
  clock_.Advance(absl::Seconds(4));
  EXPECT_FALSE(Next(b_).has_value());  // lock-delay (5 s) not over
  clock_.Advance(absl::Seconds(1));
  std::optional<HandedOutTask> retaken = Next(b_);
  ASSERT_TRUE(retaken.has_value());
  EXPECT_EQ(retaken->task.id, t.id);
  EXPECT_EQ(retaken->task.attempts, 2u);
  EXPECT_NE(retaken->task.last_error.find("lost"), std::string::npos);
  // A comes back: its completion is refused, B's is accepted.
  TS_EXPECT_CODE(a_.tasks.Complete(t.id, got->lock.token, "late"), kFailedPrecondition);
  TS_EXPECT_OK(b_.tasks.Complete(t.id, retaken->lock.token, "done"));
}

// Issue #11: after a lease lapse, NextTask handed the same task back (a new token) before the
// next heartbeat, and that heartbeat reported no lost lock although the old token was lost.
TEST_F(TaskQueueTest, ALapsedTaskLockHandedBackIsStillReportedLostOnce) {
  TaskRecord t = Create("job");
  std::optional<HandedOutTask> first = Next(a_);
  ASSERT_TRUE(first.has_value());
  clock_.Advance(absl::Seconds(31));  // A paused past its lease (30 s)
  EXPECT_FALSE(Next(a_).has_value());  // a new lease; the lapsed task lock is in its lock-delay
  clock_.Advance(absl::Seconds(5));
  std::optional<HandedOutTask> again = Next(a_);  // no heartbeat since the lapse
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->task.id, t.id);
  EXPECT_NE(again->lock.token, first->lock.token);
  absl::StatusOr<HeartbeatResult> hb = a_.leases.Heartbeat({});
  TS_ASSERT_OK(hb);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_EQ(hb->lost_locks[0].name, t.id);
  EXPECT_EQ(hb->lost_locks[0].token, first->lock.token);
  EXPECT_TRUE(a_.leases.Heartbeat({})->lost_locks.empty());  // exactly once
  TS_EXPECT_CODE(a_.tasks.Complete(t.id, first->lock.token, "stale"), kFailedPrecondition);
  TS_EXPECT_OK(a_.tasks.Complete(t.id, again->lock.token, "done"));
}

// The same when the task lock's own ttl ran out while the lease lived.
TEST_F(TaskQueueTest, ATaskLockWhoseTtlLapsedStaysDeadAndIsReportedOnce) {
  Config c = TestConfig("worker-c");
  c.lock_ttl = absl::Seconds(20);  // shorter than the lease (30 s)
  WorkerHarness w(c, &store_, &clock_);
  TS_ASSERT_OK(w.leases.Register());
  TaskRecord t = Create("job");
  absl::StatusOr<std::optional<HandedOutTask>> first = w.tasks.Next({}, absl::ZeroDuration(), nullptr);
  ASSERT_TRUE(first.ok() && first->has_value());
  const uint64_t token = (*first)->lock.token;
  clock_.Advance(absl::Seconds(21));  // ttl passed; lease live; lock-delay running
  absl::StatusOr<HeartbeatResult> hb = w.leases.Heartbeat({});
  TS_ASSERT_OK(hb);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_EQ(hb->lost_locks[0].token, token);
  // The heartbeat did not revive it.
  TS_EXPECT_CODE(w.tasks.Complete(t.id, token, "late"), kFailedPrecondition);
  clock_.Advance(absl::Seconds(5));  // lock-delay over: handed back with a new token
  absl::StatusOr<std::optional<HandedOutTask>> again = w.tasks.Next({}, absl::ZeroDuration(), nullptr);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_GT((*again)->lock.token, token);
  EXPECT_TRUE(w.leases.Heartbeat({})->lost_locks.empty());  // the lapse was reported already
  TS_EXPECT_CODE(w.tasks.Complete(t.id, token, "late"), kFailedPrecondition);
}

TEST_F(TaskQueueTest, AnOrphanWithNoAttemptsLeftIsDeadLettered) {
  TaskRecord t = Create("fatal", "", 0, 1);
  ASSERT_TRUE(Next(a_).has_value());
  clock_.Advance(absl::Seconds(36));
  TS_ASSERT_OK(b_.leases.Heartbeat({}));
  EXPECT_FALSE(Next(b_).has_value());
  absl::StatusOr<TaskRecord> dead = b_.tasks.Get(t.id);
  EXPECT_EQ(dead->state, TaskState::kDeadLetter);
}

TEST_F(TaskQueueTest, SidecarsSpreadOverDifferentTasks) {
  TaskRecord t1 = Create("one");
  TaskRecord t2 = Create("two");
  // Least-loaded, equal load: the balancer gives the oldest task to worker-a, the next to b.
  std::optional<HandedOutTask> b_got = Next(b_);
  ASSERT_TRUE(b_got.has_value());
  EXPECT_EQ(b_got->task.id, t2.id);
  EXPECT_EQ(Next(a_)->task.id, t1.id);
}

TEST_F(TaskQueueTest, AnUnhealthyWorkerGetsNoTasks) {
  Create("job");
  TS_ASSERT_OK(a_.leases.Heartbeat({{}, 0, Health::kUnhealthy}));
  EXPECT_FALSE(Next(a_).has_value());
  EXPECT_TRUE(Next(b_).has_value());
}

TEST_F(TaskQueueTest, BadTasksAreRefusedAndNothingIsQueued) {
  TS_EXPECT_CODE(a_.tasks.Create({"", "b", "", 0, 0}), kInvalidArgument);
  TS_EXPECT_CODE(a_.tasks.Create({std::string(257, 't'), "b", "", 0, 0}), kInvalidArgument);
  TS_EXPECT_CODE(a_.tasks.Create({"t", std::string(kMaxValueBytes + 1, 'b'), "", 0, 0}),
                 kInvalidArgument);
  TS_EXPECT_CODE(a_.tasks.Create({"t", "b", "Build!", 0, 0}), kInvalidArgument);
  TS_EXPECT_CODE(a_.tasks.Create({"t", "b", "", 1001, 0}), kInvalidArgument);
  TS_EXPECT_CODE(a_.tasks.Create({"t", "b", "", 0, 101}), kInvalidArgument);
  absl::StatusOr<TaskCounts> counts = a_.tasks.Count();
  EXPECT_EQ(counts->queued + counts->in_progress + counts->done + counts->dead_letter, 0u);
}

TEST_F(TaskQueueTest, AFailedCommitHandsOutNothing) {
  TaskRecord t = Create("job");
  store_.FailNextCommits(1, absl::UnavailableError("disk gone"));
  TS_EXPECT_CODE(a_.tasks.Next({}, absl::ZeroDuration(), nullptr), kUnavailable);
  EXPECT_TRUE(a_.held.Snapshot().empty());
  EXPECT_EQ(a_.tasks.Get(t.id)->state, TaskState::kQueued);
  EXPECT_EQ(Next(a_)->task.attempts, 1u);
}

// ---------------------------------------------------------------------------------------------
// The NextTask race (issue 14): a task queued before NextTask looks is always handed out.

// A Store that runs a hook when the next Run begins, before its transaction: whatever the hook
// commits is committed before that transaction, as a concurrent caller's write that wins the
// race for the store would be. For one test thread.
class HookStore final : public Store {
 public:
  explicit HookStore(Store* inner) : inner_(inner) {}

  // Runs `hook` once, at the start of the next Run.
  void BeforeNextRun(std::function<void()> hook) { hook_ = std::move(hook); }

  absl::Status Run(absl::FunctionRef<absl::Status(Transaction&)> body) override {
    if (hook_) std::exchange(hook_, nullptr)();
    return inner_->Run(body);
  }
  absl::Status Read(absl::FunctionRef<absl::Status(Transaction&)> body) override {
    return inner_->Read(body);
  }

 private:
  Store* const inner_;
  std::function<void()> hook_;
};

TEST(NextTaskRaceTest, ATaskCommittedWhileNextWaitsForTheStoreIsHandedOut) {
  MemoryStore store;
  HookStore hooked(&store);
  FakeClock clock;
  WorkerHarness producer(TestConfig("producer"), &store, &clock);
  WorkerHarness worker(TestConfig("worker"), &hooked, &clock);
  TS_ASSERT_OK(worker.leases.Register());
  // NextTask starts; before its transaction runs, time moves on and a producer's CreateTask
  // commits (it won the store). The task was queued before NextTask's transaction looked.
  std::string created;
  hooked.BeforeNextRun([&] {
    clock.Advance(absl::Milliseconds(1));
    absl::StatusOr<TaskRecord> task = producer.tasks.Create({"job", "body", "", 0, 0});
    ASSERT_TRUE(task.ok()) << task.status();
    created = task->id;
  });
  absl::StatusOr<std::optional<HandedOutTask>> got =
      worker.tasks.Next({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(got);
  ASSERT_FALSE(created.empty());
  ASSERT_TRUE(got->has_value()) << "the queued task was not handed out";
  EXPECT_EQ((*got)->task.id, created);
}

TEST(NextTaskRaceTest, ATaskIsHandedOutAfterTheWallClockStepsBack) {
  MemoryStore store;
  FakeClock clock;
  WorkerHarness w(TestConfig("worker"), &store, &clock);
  TS_ASSERT_OK(w.leases.Register());
  absl::StatusOr<TaskRecord> task = w.tasks.Create({"job", "body", "", 0, 0});
  TS_ASSERT_OK(task);
  clock.Advance(-absl::Seconds(2));  // NTP steps the clock back between the two calls.
  absl::StatusOr<std::optional<HandedOutTask>> got =
      w.tasks.Next({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->task.id, task->id);
}

TEST(NextTaskRaceTest, ARetryStillWaitsOutItsBackoff) {
  // Tasks due at creation are runnable whatever the clock says; a retry is not one of them.
  MemoryStore store;
  FakeClock clock;
  WorkerHarness w(TestConfig("worker"), &store, &clock);
  TS_ASSERT_OK(w.leases.Register());
  TS_ASSERT_OK(w.tasks.Create({"job", "body", "", 0, 0}));
  absl::StatusOr<std::optional<HandedOutTask>> got =
      w.tasks.Next({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  TS_ASSERT_OK(w.tasks.Fail((*got)->task.id, (*got)->lock.token, "flaky", /*retryable=*/true));
  EXPECT_FALSE(w.tasks.Next({}, absl::ZeroDuration(), nullptr)->has_value());
  clock.Advance(absl::Seconds(1));  // task_retry_backoff
  EXPECT_TRUE(w.tasks.Next({}, absl::ZeroDuration(), nullptr)->has_value());
}

TEST(NextTaskRaceTest, EveryNextAfterItsOwnCreateGetsATaskUnderConcurrency) {
  // Callers on one sidecar each create a task, then ask for one with no wait. When a NextTask
  // transaction runs, at least as many tasks were committed (each caller's own CreateTask
  // returned first) as NextTasks ran before it, so one is always queued for it.
  MemoryStore store;
  RealClock clock;
  Config config = TestConfig("worker");
  config.max_tasks = 1000;
  WorkerHarness w(config, &store, &clock);
  TS_ASSERT_OK(w.leases.Register());
  constexpr int kCallers = 8;
  constexpr int kEach = 10;  // every handed-out task stays open, and each Next scans them all
  std::atomic<int> empty{0}, errors{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (!w.tasks.Create({"job", "body", "", 0, 0}).ok()) ++errors;
        absl::StatusOr<std::optional<HandedOutTask>> got =
            w.tasks.Next({}, absl::ZeroDuration(), nullptr);
        if (!got.ok()) {
          ++errors;
        } else if (!got->has_value()) {
          ++empty;
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(empty.load(), 0);
}

}  // namespace
}  // namespace tasksentinel
