// The embedded backend's events (core/event_sink.h) on a fake clock: each provoked and caught
// by a RecordingEventSink. Stale workers are reported once per lease epoch; a lapsed lock taken
// over names its holder; a dead worker's task is taken over (or dead-lettered when it had no
// attempt left) by the next hand-out; a task retried after a failure says so; every NextTask
// reports how the balancer's decision ended.
#include <string>
#include <vector>

#include "core/embedded/memory_store.h"
#include "core/event_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/core_harness.h"
#include "tests/testing/recording_event_sink.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class EmbeddedEventsTest : public ::testing::Test {
 protected:
  EmbeddedEventsTest()
      : a_(TestConfig("worker-a"), &store_, &clock_, &a_events_),
        b_(TestConfig("worker-b"), &store_, &clock_, &b_events_) {}
  void SetUp() override {
    TS_ASSERT_OK(a_.leases.Register());
    TS_ASSERT_OK(b_.leases.Register());
  }

  TaskRecord Create(uint32_t max_attempts = 0) {
    absl::StatusOr<TaskRecord> t = a_.tasks.Create({"a job", "body", "", 0, max_attempts});
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : TaskRecord{};
  }

  std::optional<HandedOutTask> Next(WorkerHarness& w) {
    absl::StatusOr<std::optional<HandedOutTask>> got =
        w.tasks.Next({}, absl::ZeroDuration(), nullptr);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::nullopt;
  }

  // The results of the balancer decisions `sink` saw.
  static std::vector<std::string> Decisions(RecordingEventSink& sink) {
    std::vector<std::string> out;
    for (const Event& e : sink.Of(EventKind::kBalancerDecision)) out.push_back(e.result);
    return out;
  }

  // Past worker-a's lease (30 s) and the lock-delay (5 s); worker-b heartbeats to stay live.
  void LetWorkerALapse() {
    clock_.Advance(absl::Seconds(36));
    TS_ASSERT_OK(b_.leases.Heartbeat({}));
  }

  MemoryStore store_;
  FakeClock clock_;
  RecordingEventSink a_events_;
  RecordingEventSink b_events_;
  WorkerHarness a_;
  WorkerHarness b_;
};

TEST_F(EmbeddedEventsTest, AStaleWorkerIsReportedOncePerLeaseEpoch) {
  TS_ASSERT_OK(b_.cluster.Workers(false));
  EXPECT_THAT(b_events_.Of(EventKind::kWorkerStale), IsEmpty());  // everyone is live

  LetWorkerALapse();
  TS_ASSERT_OK(b_.cluster.Workers(false));
  TS_ASSERT_OK(b_.cluster.Health());  // looking again reports nothing new
  std::vector<Event> stale = b_events_.Of(EventKind::kWorkerStale);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].worker, "worker-a");
  EXPECT_EQ(stale[0].result, "lease_lapsed");
  EXPECT_EQ(stale[0].details.at("epoch"), "1");

  // worker-a comes back (a new epoch), then lapses again: reported again.
  TS_ASSERT_OK(a_.leases.Heartbeat({}));
  TS_ASSERT_OK(b_.cluster.Workers(false));
  EXPECT_EQ(b_events_.Of(EventKind::kWorkerStale).size(), 1u);
  LetWorkerALapse();
  TS_ASSERT_OK(b_.cluster.Workers(false));
  stale = b_events_.Of(EventKind::kWorkerStale);
  ASSERT_EQ(stale.size(), 2u);
  EXPECT_EQ(stale[1].details.at("epoch"), "2");
  // A sidecar never reports its own worker.
  EXPECT_THAT(a_events_.Of(EventKind::kWorkerStale), IsEmpty());
}

TEST_F(EmbeddedEventsTest, ALapsedLockTakenOverNamesItsHolder) {
  AcquireRequest req;
  req.name = "deploy";
  absl::StatusOr<AcquireAttempt> held = a_.locks.Acquire(req);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  EXPECT_TRUE(held->recovered_from.empty());  // it was free
  LetWorkerALapse();
  absl::StatusOr<AcquireAttempt> taken = b_.locks.Acquire(req);
  TS_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired);
  EXPECT_EQ(taken->recovered_from, "worker-a");
  std::vector<Event> recovered = b_events_.Of(EventKind::kLockRecovered);
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].subject, "deploy");
  EXPECT_EQ(recovered[0].worker, "worker-a");
  EXPECT_EQ(recovered[0].details.at("token"), std::to_string(taken->lock->token));

  // A lock released by its holder is no recovery.
  TS_ASSERT_OK(b_.locks.Release("deploy", taken->lock->token));
  TS_ASSERT_OK(a_.leases.Heartbeat({}));
  absl::StatusOr<AcquireAttempt> again = a_.locks.Acquire(req);
  TS_ASSERT_OK(again);
  ASSERT_TRUE(again->acquired);
  EXPECT_TRUE(again->recovered_from.empty());
  EXPECT_THAT(a_events_.Of(EventKind::kLockRecovered), IsEmpty());
}

TEST_F(EmbeddedEventsTest, ADeadWorkersTaskIsTakenOverByTheNextHandOut) {
  TaskRecord t = Create();
  ASSERT_TRUE(Next(a_).has_value());
  EXPECT_THAT(Decisions(a_events_), ElementsAre("balancer_pick"));
  LetWorkerALapse();
  std::optional<HandedOutTask> got = Next(b_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->task.attempts, 2u);

  std::vector<Event> taken = b_events_.Of(EventKind::kTaskTakenOver);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].subject, t.id);
  EXPECT_EQ(taken[0].worker, "worker-a");
  EXPECT_EQ(taken[0].result, "lease_lapsed");
  EXPECT_EQ(taken[0].details.at("attempt"), "2/3");
  std::vector<Event> recovered = b_events_.Of(EventKind::kLockRecovered);
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].subject, t.id);
  EXPECT_EQ(recovered[0].worker, "worker-a");
  // The hand-out's scan of the workers found worker-a stale.
  ASSERT_EQ(b_events_.Of(EventKind::kWorkerStale).size(), 1u);
  EXPECT_EQ(b_events_.Of(EventKind::kWorkerStale)[0].worker, "worker-a");
  EXPECT_THAT(b_events_.Of(EventKind::kTaskRetried), IsEmpty());
  EXPECT_THAT(Decisions(b_events_), ElementsAre("balancer_pick"));
}

TEST_F(EmbeddedEventsTest, ATaskHandedOutAfterAFailedAttemptIsRetried) {
  TaskRecord t = Create();
  std::optional<HandedOutTask> first = Next(a_);
  ASSERT_TRUE(first.has_value());
  TS_ASSERT_OK(a_.tasks.Fail(t.id, first->lock.token, "boom", /*retryable=*/true));
  EXPECT_FALSE(Next(b_).has_value());  // backing off
  clock_.Advance(absl::Seconds(2));
  std::optional<HandedOutTask> second = Next(b_);
  ASSERT_TRUE(second.has_value());
  std::vector<Event> retried = b_events_.Of(EventKind::kTaskRetried);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].subject, t.id);
  EXPECT_EQ(retried[0].worker, "worker-a");
  EXPECT_EQ(retried[0].result, "after_failure");
  EXPECT_EQ(retried[0].details.at("attempt"), "2/3");
  EXPECT_THAT(b_events_.Of(EventKind::kTaskTakenOver), IsEmpty());
  EXPECT_THAT(b_events_.Of(EventKind::kLockRecovered), IsEmpty());  // it was released
  // Both workers are idle and live, so the balancer plans the task for worker-a (first by id);
  // worker-b takes it as another task it can do.
  EXPECT_THAT(Decisions(b_events_), ElementsAre("no_task", "other_task"));
}

TEST_F(EmbeddedEventsTest, AnOrphanWithNoAttemptLeftIsDeadLetteredByTheHandOut) {
  TaskRecord t = Create(/*max_attempts=*/1);
  ASSERT_TRUE(Next(a_).has_value());
  LetWorkerALapse();
  EXPECT_FALSE(Next(b_).has_value());
  std::vector<Event> dead = b_events_.Of(EventKind::kTaskDeadLettered);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].subject, t.id);
  EXPECT_EQ(dead[0].worker, "worker-a");
  EXPECT_EQ(dead[0].result, "attempt_lost");
  EXPECT_EQ(dead[0].details.at("attempt"), "1/1");
  EXPECT_EQ(b_.tasks.Get(t.id)->state, TaskState::kDeadLetter);
  EXPECT_THAT(Decisions(b_events_), ElementsAre("no_task"));
  // Reported once: the next hand-out finds nothing to sweep.
  EXPECT_FALSE(Next(b_).has_value());
  EXPECT_EQ(b_events_.Of(EventKind::kTaskDeadLettered).size(), 1u);
}

TEST_F(EmbeddedEventsTest, EveryHandOutReportsHowTheBalancersDecisionEnded) {
  EXPECT_FALSE(Next(a_).has_value());
  Create();
  Create();
  TS_ASSERT_OK(a_.leases.Heartbeat({{}, /*max_tasks=*/1, Health::kHealthy}));
  ASSERT_TRUE(Next(a_).has_value());
  EXPECT_FALSE(Next(a_).has_value());  // one slot, taken
  TS_ASSERT_OK(a_.leases.Heartbeat({{}, 4, Health::kDegraded}));
  EXPECT_FALSE(Next(a_).has_value());  // impaired workers take no new work
  EXPECT_THAT(Decisions(a_events_),
              ElementsAre("no_task", "balancer_pick", "at_capacity", "unhealthy"));
  for (const Event& e : a_events_.Of(EventKind::kBalancerDecision)) {
    EXPECT_EQ(e.details.at("strategy"), "least_loaded");
  }
}

}  // namespace
}  // namespace tasksentinel
