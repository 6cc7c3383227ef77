// The GitHub backend's events (core/event_sink.h) on FakeGitHubApi and a fake clock, each
// provoked and caught by a RecordingEventSink: a claim's steps (posted, settled, won; lost to
// the holder's claim and withdrawn), a lapsed lock recovered, a dead worker's task taken over or
// dead-lettered, a task retried, the balancer's decision, a memory flush, a stale worker seen
// by Workers() and by Tick() (no request), a long-dead worker's registration swept, and a lease
// stretched for the write budget.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/event_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/recording_event_sink.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The actions of `events`, in order, of the kinds in `kinds` only.
std::vector<std::string> Actions(const std::vector<Event>& events,
                                 const std::vector<EventKind>& kinds) {
  std::vector<std::string> out;
  for (const Event& e : events) {
    for (EventKind k : kinds) {
      if (e.kind == k) out.push_back(std::string(EventName(e.kind)));
    }
  }
  return out;
}

// Options that send a sidecar's events to `sink`.
std::function<void(GitHubCoordinator::Options&)> To(EventSink* sink) {
  return [sink](GitHubCoordinator::Options& o) { o.events = sink; };
}

const std::vector<EventKind> kClaimSteps = {EventKind::kClaimPosted, EventKind::kClaimSettled,
                                            EventKind::kClaimWon, EventKind::kClaimLost,
                                            EventKind::kClaimWithdrawn};

class GitHubEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = world_.Sidecar("worker-a", nullptr, To(&a_events_));
    TS_ASSERT_OK(a_->Register());
  }

  static std::optional<HandedOutTask> Next(GitHubCoordinator& c) {
    absl::StatusOr<std::optional<HandedOutTask>> got =
        c.NextTask({}, absl::ZeroDuration(), nullptr);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::nullopt;
  }

  static std::vector<std::string> Decisions(RecordingEventSink& sink) {
    std::vector<std::string> out;
    for (const Event& e : sink.Of(EventKind::kBalancerDecision)) out.push_back(e.result);
    return out;
  }

  GitHubWorld world_;
  RecordingEventSink a_events_;
  std::unique_ptr<GitHubCoordinator> a_;
};

TEST_F(GitHubEventsTest, AWonClaimIsPostedSettledAndWon) {
  AcquireRequest req;
  req.name = "deploy";
  absl::StatusOr<AcquireAttempt> got = a_->AcquireLock(req, nullptr);
  TS_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired);
  EXPECT_TRUE(got->recovered_from.empty());
  EXPECT_THAT(Actions(a_events_.All(), kClaimSteps),
              ElementsAre("claim_posted", "claim_settled", "claim_won"));
  const std::string claim = std::to_string(got->lock->token);
  for (const Event& e : a_events_.All()) {
    if (e.kind == EventKind::kBalancerDecision) continue;
    EXPECT_EQ(e.subject, "deploy") << EventName(e.kind);
    EXPECT_EQ(e.details.at("claim"), claim) << EventName(e.kind);
  }
  std::vector<Event> settled = a_events_.Of(EventKind::kClaimSettled);
  ASSERT_EQ(settled.size(), 1u);
  EXPECT_EQ(settled[0].result, "visible");
  EXPECT_EQ(settled[0].duration, absl::Seconds(1));  // GITHUB_CLAIM_SETTLE_MS
  EXPECT_EQ(settled[0].details.at("lists"), "1");

  // Released: the claim is withdrawn.
  a_events_.Clear();
  TS_ASSERT_OK(a_->ReleaseLock("deploy", got->lock->token));
  EXPECT_THAT(Actions(a_events_.All(), kClaimSteps), ElementsAre("claim_withdrawn"));
  EXPECT_EQ(a_events_.All()[0].details.at("claim"), claim);
}

TEST_F(GitHubEventsTest, ALostClaimNamesTheWinnerAndIsWithdrawn) {
  RecordingEventSink b_events;
  auto b = world_.Sidecar("worker-b", nullptr, To(&b_events));
  TS_ASSERT_OK(b->Register());
  AcquireRequest req;
  req.name = "deploy";
  ASSERT_TRUE(a_->AcquireLock(req, nullptr)->acquired);
  // B waits for the lock: its claim is posted and queued behind A's, which still wins when
  // B's wait ends; B's claim is then withdrawn.
  req.wait_timeout = absl::Seconds(3);
  absl::StatusOr<AcquireAttempt> b_got = b->AcquireLock(req, nullptr);
  TS_ASSERT_OK(b_got);
  EXPECT_FALSE(b_got->acquired);
  EXPECT_THAT(Actions(b_events.All(), kClaimSteps),
              ElementsAre("claim_posted", "claim_settled", "claim_lost", "claim_withdrawn"));
  std::vector<Event> lost = b_events.Of(EventKind::kClaimLost);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].subject, "deploy");
  EXPECT_EQ(lost[0].worker, "worker-a");
  EXPECT_EQ(lost[0].details.at("winning_claim"), std::to_string(b_got->lock->token));
  EXPECT_THAT(b_events.Of(EventKind::kClaimWon), IsEmpty());
}

TEST_F(GitHubEventsTest, ALapsedLockTakenOverNamesItsHolder) {
  RecordingEventSink b_events;
  auto b = world_.Sidecar("worker-b", nullptr, To(&b_events));
  TS_ASSERT_OK(b->Register());
  AcquireRequest req;
  req.name = "deploy";
  ASSERT_TRUE(a_->AcquireLock(req, nullptr)->acquired);
  // A goes silent: its lease lapses 30 s (+1 s slack) after it registered; then the lock-delay.
  world_.clock.Advance(absl::Seconds(20));
  TS_ASSERT_OK(b->Heartbeat({}));
  world_.clock.Advance(absl::Seconds(18));
  absl::StatusOr<AcquireAttempt> got = b->AcquireLock(req, nullptr);
  TS_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired);
  EXPECT_EQ(got->recovered_from, "worker-a");
  std::vector<Event> recovered = b_events.Of(EventKind::kLockRecovered);
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].subject, "deploy");
  EXPECT_EQ(recovered[0].worker, "worker-a");
  EXPECT_EQ(recovered[0].details.at("token"), std::to_string(got->lock->token));
  EXPECT_EQ(recovered[0].details.count("lapsed_at"), 1u);
}

TEST_F(GitHubEventsTest, ADeadWorkersTaskIsTakenOver) {
  RecordingEventSink d_events;
  auto d = world_.Sidecar("worker-0", nullptr, To(&d_events));  // first by id: the plan's pick
  TS_ASSERT_OK(d->Register());
  absl::StatusOr<TaskRecord> t = d->CreateTask({"long job", "", "", 0, 0});
  TS_ASSERT_OK(t);
  ASSERT_TRUE(Next(*d).has_value());
  EXPECT_THAT(Decisions(d_events), ElementsAre("balancer_pick"));
  world_.clock.Advance(absl::Seconds(20));
  TS_ASSERT_OK(a_->Heartbeat({}));
  world_.clock.Advance(absl::Seconds(18));
  std::optional<HandedOutTask> got = Next(*a_);
  ASSERT_TRUE(got.has_value());
  std::vector<Event> taken = a_events_.Of(EventKind::kTaskTakenOver);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].subject, t->id);
  EXPECT_EQ(taken[0].worker, "worker-0");
  EXPECT_EQ(taken[0].result, "lease_lapsed");
  EXPECT_EQ(taken[0].details.at("attempt"), "2/3");
  std::vector<Event> recovered = a_events_.Of(EventKind::kLockRecovered);
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].subject, t->id);
  EXPECT_EQ(recovered[0].worker, "worker-0");
  EXPECT_THAT(a_events_.Of(EventKind::kTaskRetried), IsEmpty());
  EXPECT_THAT(Decisions(a_events_), ElementsAre("balancer_pick"));
}

TEST_F(GitHubEventsTest, AnOrphanWithNoAttemptLeftIsDeadLettered) {
  auto d = world_.Sidecar("worker-0");
  TS_ASSERT_OK(d->Register());
  absl::StatusOr<TaskRecord> t = d->CreateTask({"last try", "", "", 0, 1});
  TS_ASSERT_OK(t);
  ASSERT_TRUE(Next(*d).has_value());
  world_.clock.Advance(absl::Seconds(20));
  TS_ASSERT_OK(a_->Heartbeat({}));
  world_.clock.Advance(absl::Seconds(20));
  EXPECT_FALSE(Next(*a_).has_value());
  std::vector<Event> dead = a_events_.Of(EventKind::kTaskDeadLettered);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].subject, t->id);
  EXPECT_EQ(dead[0].worker, "worker-0");
  EXPECT_EQ(dead[0].result, "attempt_lost");
  EXPECT_EQ(dead[0].details.at("attempt"), "1/1");
  EXPECT_THAT(Decisions(a_events_), ElementsAre("no_task"));
}

TEST_F(GitHubEventsTest, ATaskHandedOutAfterAFailedAttemptIsRetried) {
  absl::StatusOr<TaskRecord> t = a_->CreateTask({"flaky", "", "", 0, 2});
  TS_ASSERT_OK(t);
  std::optional<HandedOutTask> first = Next(*a_);
  ASSERT_TRUE(first.has_value());
  TS_ASSERT_OK(a_->FailTask(t->id, first->lock.token, "boom", /*retryable=*/true));
  world_.clock.Advance(absl::Seconds(2));
  ASSERT_TRUE(Next(*a_).has_value());
  std::vector<Event> retried = a_events_.Of(EventKind::kTaskRetried);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].subject, t->id);
  EXPECT_EQ(retried[0].worker, "worker-a");
  EXPECT_EQ(retried[0].result, "after_failure");
  EXPECT_EQ(retried[0].details.at("attempt"), "2/2");
  EXPECT_THAT(a_events_.Of(EventKind::kTaskTakenOver), IsEmpty());
}

TEST_F(GitHubEventsTest, AtCapacityAndImpairedWorkersTakeNoTask) {
  TS_ASSERT_OK(a_->CreateTask({"one", "", "", 0, 0}));
  TS_ASSERT_OK(a_->CreateTask({"two", "", "", 0, 0}));
  TS_ASSERT_OK(a_->Heartbeat({{}, /*max_tasks=*/1, Health::kHealthy}));
  ASSERT_TRUE(Next(*a_).has_value());
  EXPECT_FALSE(Next(*a_).has_value());
  TS_ASSERT_OK(a_->Heartbeat({{}, 4, Health::kDegraded}));
  EXPECT_FALSE(Next(*a_).has_value());
  EXPECT_THAT(Decisions(a_events_), ElementsAre("balancer_pick", "at_capacity", "unhealthy"));
}

TEST_F(GitHubEventsTest, AMemoryFlushIsReported) {
  SetRequest set;
  set.ns = "swarm";
  set.key = "plan";
  set.value = "secret-plan-value";
  TS_ASSERT_OK(a_->SetMemory(set));
  TS_ASSERT_OK(a_->Tick());
  EXPECT_THAT(a_events_.Of(EventKind::kMemoryFlushed), IsEmpty());  // not due yet
  world_.clock.Advance(absl::Seconds(6));
  TS_ASSERT_OK(a_->Tick());
  std::vector<Event> flushed = a_events_.Of(EventKind::kMemoryFlushed);
  ASSERT_EQ(flushed.size(), 1u);
  EXPECT_EQ(flushed[0].subject, "swarm");
  EXPECT_EQ(flushed[0].result, "ok");
  EXPECT_EQ(flushed[0].details.at("comments_written"), "1");
  // Nothing new: no flush, no event.
  world_.clock.Advance(absl::Seconds(6));
  TS_ASSERT_OK(a_->Tick());
  EXPECT_EQ(a_events_.Of(EventKind::kMemoryFlushed).size(), 1u);
  for (const Event& e : a_events_.All()) {
    for (const auto& [k, v] : e.details) EXPECT_EQ(v.find("secret-plan-value"), std::string::npos);
  }
}

TEST_F(GitHubEventsTest, AStaleWorkerIsSeenByWorkersAndByTickOncePerEpoch) {
  auto d = world_.Sidecar("worker-0");
  TS_ASSERT_OK(d->Register());
  TS_ASSERT_OK(a_->Workers(false));  // the view a's Tick judges from later
  EXPECT_THAT(a_events_.Of(EventKind::kWorkerStale), IsEmpty());
  world_.clock.Advance(absl::Seconds(20));
  TS_ASSERT_OK(a_->Heartbeat({}));
  world_.clock.Advance(absl::Seconds(15));
  (void)a_->Tick();  // judged from the latest view it has (Workers() was not called again)
  std::vector<Event> stale = a_events_.Of(EventKind::kWorkerStale);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].worker, "worker-0");
  EXPECT_EQ(stale[0].details.at("epoch"), "1");
  TS_ASSERT_OK(a_->Workers(false));
  (void)a_->Tick();
  EXPECT_EQ(a_events_.Of(EventKind::kWorkerStale).size(), 1u);
}

TEST_F(GitHubEventsTest, ALongDeadWorkersRegistrationSweptIsReported) {
  auto d = world_.Sidecar("worker-0");
  TS_ASSERT_OK(d->Register());
  TS_ASSERT_OK(a_->Tick());
  EXPECT_THAT(a_events_.Of(EventKind::kWorkerGone), IsEmpty());  // worker-0 is live
  // worker-0 is dead for longer than the retention (an hour); worker-a lives on.
  world_.clock.Advance(absl::Hours(2));
  TS_ASSERT_OK(a_->Heartbeat({}));
  TS_ASSERT_OK(a_->Workers(false));  // the view the sweep judges from
  (void)a_->Tick();
  std::vector<Event> gone = a_events_.Of(EventKind::kWorkerGone);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].worker, "worker-0");
  EXPECT_EQ(gone[0].result, "swept");
  for (const auto& [comment, r] :
       world_.Records<github::RegistrationRecord>(world_.CoordinationIssue())) {
    EXPECT_NE(r.worker_id, "worker-0");  // deleted
  }
}

TEST_F(GitHubEventsTest, ALeaseStretchedForTheWriteBudgetIsReported) {
  std::vector<RecordingEventSink> sinks(8);
  std::vector<std::unique_ptr<GitHubCoordinator>> fleet;
  for (int i = 0; i < 8; ++i) {
    fleet.push_back(world_.Sidecar(
        "worker-" + std::to_string(i),
        [](Config& c) {
          c.heartbeat_interval = absl::Seconds(1);
          c.stale_threshold = absl::Seconds(3);
          c.github_writes_per_minute = 60;
          c.github_idle_renew_interval = absl::Seconds(20);
        },
        To(&sinks[i])));
    TS_ASSERT_OK(fleet.back()->Register());
  }
  for (auto& s : fleet) TS_ASSERT_OK(s->Workers(false));
  for (auto& s : fleet) TS_ASSERT_OK(s->Heartbeat({}));
  ASSERT_TRUE(fleet[0]->Pace().stretched);
  std::vector<Event> stretched = sinks[0].Of(EventKind::kLeaseStretched);
  ASSERT_EQ(stretched.size(), 1u);
  EXPECT_EQ(stretched[0].result, "stretched");
  EXPECT_EQ(stretched[0].duration, fleet[0]->Pace().lease);
  EXPECT_EQ(stretched[0].details.at("sharers"), "9");  // worker-a of SetUp too
  EXPECT_NE(stretched[0].details.at("detail").find("9 workers share"), std::string::npos);
}

}  // namespace
}  // namespace tasksentinel
