// Locks on GitHub: a single claimant wins with its comment id as token; of two claimants the
// lowest id wins and the other withdraws; under read lag a later claimant may win briefly but
// every fenced action of it is refused once the earlier claim is visible; lock-delay after a
// lease lapse; release is exact and idempotent; blocking acquire is served in claim order; a
// claim that never becomes visible is withdrawn; and JudgeLock's rules on their own.
#include "core/github/claims.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

using github::ClaimRecord;

class ClaimsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Named locks live on the locks issue, created by the first named lock taken: an earlier
    // sidecar takes one and leaves.
    auto first = world_.Sidecar("worker-0");
    TS_ASSERT_OK(first->Register());
    coordination_ = world_.CoordinationIssue();
    ASSERT_NE(coordination_, 0);
    EXPECT_EQ(world_.LocksIssue(), 0);
    absl::StatusOr<AcquireAttempt> taken = first->AcquireLock(Req("first"), nullptr);
    TS_ASSERT_OK(taken);
    ASSERT_TRUE(taken->acquired);
    TS_ASSERT_OK(first->Deregister());
    locks_ = world_.LocksIssue();
    ASSERT_NE(locks_, 0);
    ASSERT_NE(locks_, coordination_);
    EXPECT_TRUE(world_.Records<ClaimRecord>(locks_).empty());  // withdrawn on leaving

    a_ = world_.Sidecar("worker-a");
    b_ = world_.Sidecar("worker-b");
    TS_ASSERT_OK(a_->Register());
    TS_ASSERT_OK(b_->Register());
  }

  static AcquireRequest Req(const std::string& name,
                            absl::Duration wait = absl::ZeroDuration()) {
    AcquireRequest r;
    r.name = name;
    r.wait_timeout = wait;
    return r;
  }

  // The claims of `lock` on the locks issue, ascending id.
  std::vector<std::pair<github::Comment, ClaimRecord>> Claims(const std::string& lock) {
    std::vector<std::pair<github::Comment, ClaimRecord>> out;
    for (auto& c : world_.Records<ClaimRecord>(locks_)) {
      if (c.second.lock == lock) out.push_back(c);
    }
    return out;
  }

  GitHubWorld world_;
  std::unique_ptr<GitHubCoordinator> a_;
  std::unique_ptr<GitHubCoordinator> b_;
  int64_t coordination_ = 0;
  int64_t locks_ = 0;
};

TEST_F(ClaimsTest, SingleClaimantWinsWithItsCommentIdAsToken) {
  world_.api.ResetCounts();
  absl::StatusOr<AcquireAttempt> got = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired);
  auto claims = Claims("deploy");
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(got->lock->token, static_cast<uint64_t>(claims[0].first.id));
  EXPECT_EQ(got->lock->holder, "worker-a");
  EXPECT_EQ(got->lock->ttl, absl::Seconds(60));
  EXPECT_EQ(claims[0].second.worker_id, "worker-a");
  EXPECT_EQ(claims[0].second.epoch, 1u);
  EXPECT_EQ(world_.api.counts().writes(), 1);  // the claim
  // Idempotent: acquiring again returns the same instance, with no write.
  absl::StatusOr<AcquireAttempt> again = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(again);
  EXPECT_TRUE(again->acquired);
  EXPECT_EQ(again->lock->token, got->lock->token);
  EXPECT_EQ(world_.api.counts().writes(), 1);
  // Held: the other worker sees the holder without posting anything.
  absl::StatusOr<AcquireAttempt> other = b_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(other);
  EXPECT_FALSE(other->acquired);
  ASSERT_TRUE(other->lock.has_value());
  EXPECT_EQ(other->lock->holder, "worker-a");
  EXPECT_EQ(world_.api.counts().writes(), 1);
  absl::StatusOr<std::vector<LockInfo>> locks = b_->ListLocks();
  TS_ASSERT_OK(locks);
  ASSERT_EQ(locks->size(), 1u);
  EXPECT_EQ((*locks)[0].token, got->lock->token);
}

TEST_F(ClaimsTest, TwoClaimantsLowestIdWinsAndTheOtherWithdraws) {
  // Both claims are posted before either is visible, so neither pre-check sees the other.
  world_.api.SetLag(absl::Milliseconds(500));
  absl::StatusOr<AcquireAttempt> b_got;
  world_.OnceOnWrite({"LOCK_CLAIM", "worker-a"},
                     [&] { b_got = b_->AcquireLock(Req("deploy"), nullptr); });
  absl::StatusOr<AcquireAttempt> a_got = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(a_got);
  TS_ASSERT_OK(b_got);
  EXPECT_TRUE(a_got->acquired);
  EXPECT_FALSE(b_got->acquired);
  ASSERT_TRUE(b_got->lock.has_value());
  EXPECT_EQ(b_got->lock->holder, "worker-a");
  EXPECT_EQ(b_got->lock->token, a_got->lock->token);
  // B posted a claim with a higher id and deleted it.
  auto claims = Claims("deploy");
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].second.worker_id, "worker-a");
  EXPECT_GE(world_.api.counts().deletes, 1);
  EXPECT_EQ(a_->stats().claims_posted.load(), 1);
  EXPECT_EQ(b_->stats().claims_posted.load(), 1);
  EXPECT_EQ(b_->stats().claims_withdrawn.load(), 1);
}

TEST_F(ClaimsTest, UnderLagALaterClaimantMayWinBrieflyButIsFencedOut) {
  // A's claim stays invisible for 3 s; B's (posted meanwhile) is visible at once.
  world_.api.SetLag(absl::Seconds(3));
  absl::StatusOr<AcquireAttempt> b_got;
  world_.OnceOnWrite({"LOCK_CLAIM", "worker-a"}, [&] {
    world_.api.SetLag(absl::ZeroDuration());
    b_got = b_->AcquireLock(Req("deploy"), nullptr);
  });
  absl::StatusOr<AcquireAttempt> a_got = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(a_got);
  TS_ASSERT_OK(b_got);
  // Both believe they won: B before A's claim was visible, A once it was (lower id).
  ASSERT_TRUE(b_got->acquired);
  ASSERT_TRUE(a_got->acquired);
  EXPECT_LT(a_got->lock->token, b_got->lock->token);
  // Every fenced action of B is refused now that A's claim is visible.
  TS_EXPECT_CODE(b_->RenewLock("deploy", b_got->lock->token, absl::ZeroDuration()),
                 kFailedPrecondition);
  SetRequest write;
  write.ns = "swarm";
  write.key = "deployed";
  write.value = "v2";
  write.fencing = FenceRef{"deploy", b_got->lock->token};
  TS_EXPECT_CODE(b_->SetMemory(write), kFailedPrecondition);
  absl::StatusOr<HeartbeatResult> hb = b_->Heartbeat({});
  TS_ASSERT_OK(hb);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_EQ(hb->lost_locks[0].token, b_got->lock->token);
  // A's are accepted.
  TS_EXPECT_OK(a_->RenewLock("deploy", a_got->lock->token, absl::ZeroDuration()));
  write.fencing = FenceRef{"deploy", a_got->lock->token};
  TS_EXPECT_OK(a_->SetMemory(write));
  EXPECT_EQ(*b_->ReleaseLock("deploy", b_got->lock->token), ReleaseOutcome::kHeldByOther);
}

TEST_F(ClaimsTest, AClaimThatNeverBecomesVisibleIsWithdrawn) {
  world_.api.SetLag(absl::Minutes(5));
  absl::StatusOr<AcquireAttempt> got = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  EXPECT_FALSE(got->acquired);
  EXPECT_TRUE(Claims("deploy").empty());  // deleted again
}

TEST_F(ClaimsTest, UnderALagLongerThanTheClaimWindowTheFirstClaimIsJudgedNotTakenBack) {
  // Lists show new comments 6 s late; a claim's window at the defaults is 1 s + 3 x 1 s.
  world_.api.SetLag(absl::Seconds(6));
  // A sidecar registered before the lag began has measured none: its first claim is never seen
  // in its window and is taken back unjudged (two writes burnt).
  absl::StatusOr<AcquireAttempt> blind = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(blind);
  EXPECT_FALSE(blind->acquired);
  EXPECT_EQ(a_->stats().claims_unseen.load(), 1);
  EXPECT_EQ(a_->stats().claims_withdrawn.load(), 1);
  // A sidecar that registers under the lag measures it on its own registration
  // (core/github/lag_probe.h) before it claims: its first claim waits long enough to be seen.
  auto c = world_.Sidecar("worker-c");
  TS_ASSERT_OK(c->Register());
  const absl::Time before = world_.clock.Now();
  absl::StatusOr<AcquireAttempt> got = c->AcquireLock(Req("release"), nullptr);
  TS_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired);
  EXPECT_EQ(c->stats().claims_posted.load(), 1);
  EXPECT_EQ(c->stats().claims_unseen.load(), 0);
  EXPECT_EQ(c->stats().claims_withdrawn.load(), 0);
  ASSERT_EQ(Claims("release").size(), 1u);
  // It waited for the lag (the probe, then a settle widened to it), within the bound.
  EXPECT_GE(world_.clock.Now() - before, absl::Seconds(6));
  EXPECT_LE(world_.clock.Now() - before, absl::Seconds(20));
}

TEST_F(ClaimsTest, TheClaimWindowStaysWithinHalfTheStaleThreshold) {
  // Registrations posted now stay hidden for an hour: a claim of this worker is judged live by
  // others for one stale threshold (5 s) from its own time (to the second) only, so the settle
  // may not grow past half of the 4 s that leaves.
  world_.api.SetLag(absl::Hours(1));
  auto c = world_.Sidecar("worker-c", [](Config& cfg) {
    cfg.heartbeat_interval = absl::Seconds(1);
    cfg.stale_threshold = absl::Seconds(5);
  });
  TS_ASSERT_OK(c->Register());
  const absl::Time before = world_.clock.Now();
  absl::StatusOr<AcquireAttempt> got = c->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  EXPECT_FALSE(got->acquired);  // its claim was never seen, and was taken back
  auto metric = [&](const std::string& name) {
    for (const BackendMetric& m : c->BackendMetrics()) {
      if (m.name == name) return m.value;
    }
    ADD_FAILURE() << "no metric " << name;
    return -1.0;
  };
  // The probe gave up at 2 s, and the lag it reported lifts the settle to that bound, no more
  // (at the default bound of 10 s it was 10 s).
  EXPECT_DOUBLE_EQ(metric("tasksentinel_github_claim_settle_seconds"), 2.0);
  EXPECT_LE(metric("tasksentinel_github_read_lag_seconds"), 2.0);
  // The probe (2 s) and the claim's window: settle 2 s (at the default bound, 10 s), then 3 more
  // lists 1 s apart.
  EXPECT_EQ(world_.clock.Now() - before, absl::Seconds(7));
}

TEST_F(ClaimsTest, WithoutALagTheProbeCostsOneListAndNoWait) {
  auto c = world_.Sidecar("worker-c");
  world_.api.ResetCounts();
  TS_ASSERT_OK(c->Register());
  EXPECT_EQ(world_.api.counts().writes(), 1);  // the registration
  const absl::Time before = world_.clock.Now();
  absl::StatusOr<AcquireAttempt> got = c->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired);
  // The claim waited its settle delay (1 s) and nothing more.
  EXPECT_EQ(world_.clock.Now() - before, absl::Seconds(1));
}

TEST_F(ClaimsTest, LockDelayAfterTheHoldersLeaseLapses) {
  absl::StatusOr<AcquireAttempt> got = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired);
  // A stops heartbeating. Its lease (30 s from its registration, +1 s slack for others) lapses;
  // B keeps heartbeating.
  world_.clock.Advance(absl::Seconds(20));
  TS_ASSERT_OK(b_->Heartbeat({}));
  world_.clock.Advance(absl::Seconds(13));
  world_.api.ResetCounts();
  absl::StatusOr<AcquireAttempt> early = b_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(early);
  EXPECT_FALSE(early->acquired);
  EXPECT_FALSE(early->lock.has_value());  // free, but in its lock-delay
  EXPECT_EQ(world_.api.counts().writes(), 0);
  world_.clock.Advance(absl::Seconds(5));
  absl::StatusOr<AcquireAttempt> late = b_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(late);
  ASSERT_TRUE(late->acquired);
  EXPECT_GT(late->lock->token, got->lock->token);
  auto claims = Claims("deploy");
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[1].second.recovered_from, "worker-a");
  EXPECT_TRUE(absl::StrContains(claims[1].first.body, "recovered from worker-a"));
  // A's old token is refused; A learns at its next heartbeat (a new epoch).
  TS_EXPECT_CODE(a_->RenewLock("deploy", got->lock->token, absl::ZeroDuration()),
                 kFailedPrecondition);
  absl::StatusOr<HeartbeatResult> hb = a_->Heartbeat({});
  TS_ASSERT_OK(hb);
  EXPECT_EQ(hb->lease_epoch, 2u);
  ASSERT_EQ(hb->lost_locks.size(), 1u);
  EXPECT_EQ(hb->lost_locks[0].token, got->lock->token);
}

TEST_F(ClaimsTest, ReleaseIsExactAndIdempotent) {
  absl::StatusOr<AcquireAttempt> got = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  const uint64_t token = got->lock->token;
  TS_EXPECT_CODE(a_->ReleaseLock("deploy", 0), kInvalidArgument);
  EXPECT_EQ(*b_->ReleaseLock("deploy", token), ReleaseOutcome::kHeldByOther);
  EXPECT_EQ(*a_->ReleaseLock("deploy", token), ReleaseOutcome::kReleased);
  EXPECT_EQ(*a_->ReleaseLock("deploy", token), ReleaseOutcome::kNotHeld);
  EXPECT_TRUE(Claims("deploy").empty());
  // Another comment on the locks issue (a person's) is no claim of this lock.
  const int64_t remark = world_.api.AddComment(locks_, "who holds deploy?", "a-person");
  TS_EXPECT_CODE(a_->ReleaseLock("deploy", remark), kInvalidArgument);
  // The lock is free again at once (no lock-delay after a release).
  absl::StatusOr<AcquireAttempt> b_got = b_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(b_got);
  EXPECT_TRUE(b_got->acquired);
  // A stale token never releases the newer instance.
  EXPECT_EQ(*a_->ReleaseLock("deploy", token), ReleaseOutcome::kHeldByOther);
  EXPECT_TRUE(b_->ListLocks()->size() == 1u);
}

TEST_F(ClaimsTest, BlockingAcquireIsServedInClaimOrder) {
  absl::StatusOr<AcquireAttempt> got = a_->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  // B waits; while it waits (from inside its claim), A releases.
  world_.OnceOnWrite({"LOCK_CLAIM", "worker-b"}, [&] {
    EXPECT_EQ(*a_->ReleaseLock("deploy", got->lock->token), ReleaseOutcome::kReleased);
  });
  const absl::Time start = world_.clock.Now();
  absl::StatusOr<AcquireAttempt> b_got = b_->AcquireLock(Req("deploy", absl::Seconds(30)),
                                                         nullptr);
  TS_ASSERT_OK(b_got);
  EXPECT_TRUE(b_got->acquired);
  EXPECT_LT(world_.clock.Now() - start, absl::Seconds(10));
  // A third worker that asks without waiting respects B's hold; one that waits times out.
  auto c = world_.Sidecar("worker-c");
  TS_ASSERT_OK(c->Register());
  EXPECT_FALSE(c->AcquireLock(Req("deploy"), nullptr)->acquired);
  absl::StatusOr<AcquireAttempt> timed_out =
      c->AcquireLock(Req("deploy", absl::Seconds(5)), nullptr);
  TS_ASSERT_OK(timed_out);
  EXPECT_FALSE(timed_out->acquired);
  EXPECT_EQ(timed_out->lock->holder, "worker-b");
  EXPECT_EQ(Claims("deploy").size(), 1u);  // C's waiting claim was withdrawn
}

TEST_F(ClaimsTest, WaitEndsOnInterrupt) {
  TS_ASSERT_OK(a_->AcquireLock(Req("deploy"), nullptr));
  int polls = 0;
  absl::StatusOr<AcquireAttempt> b_got = b_->AcquireLock(Req("deploy", absl::Minutes(10)), [&] {
    if (++polls == 3) b_->Interrupt();
    return false;
  });
  TS_ASSERT_OK(b_got);
  EXPECT_FALSE(b_got->acquired);
  EXPECT_EQ(Claims("deploy").size(), 1u);
}

TEST_F(ClaimsTest, DeregisterReleasesEveryClaim) {
  TS_ASSERT_OK(a_->AcquireLock(Req("one"), nullptr));
  TS_ASSERT_OK(a_->AcquireLock(Req("two"), nullptr));
  absl::StatusOr<int> released = a_->Deregister();
  TS_ASSERT_OK(released);
  EXPECT_EQ(*released, 2);
  EXPECT_TRUE(Claims("one").empty());
  EXPECT_TRUE(Claims("two").empty());
  absl::StatusOr<std::vector<WorkerInfo>> workers = b_->Workers(/*include_gone=*/true);
  TS_ASSERT_OK(workers);
  ASSERT_EQ(workers->size(), 3u);  // worker-0 (the set-up's, gone), worker-a, worker-b
  EXPECT_EQ((*workers)[1].record.id, "worker-a");
  EXPECT_EQ((*workers)[1].status, WorkerStatus::kGone);
  EXPECT_EQ((*workers)[2].status, WorkerStatus::kActive);
  EXPECT_TRUE(b_->AcquireLock(Req("one"), nullptr)->acquired);
}

// JudgeLock on hand-made snapshots.
class JudgeLockTest : public ::testing::Test {
 protected:
  github::ViewedComment Claim(int64_t id, const std::string& worker, uint64_t epoch,
                              absl::Time at) {
    github::ViewedComment c;
    c.comment.id = id;
    c.comment.created_at = c.comment.updated_at = at;
    ClaimRecord r{"L", worker, epoch, absl::Seconds(60)};
    c.comment.body = github::CommentBody(r);
    c.parsed = github::ParseBody(c.comment.body);
    return c;
  }
  github::ViewedComment Registration(int64_t id, const std::string& worker, uint64_t epoch,
                                     absl::Time created, absl::Time updated) {
    github::ViewedComment c;
    c.comment.id = id;
    c.comment.created_at = created;
    c.comment.updated_at = updated;
    github::RegistrationRecord r;
    r.worker_id = worker;
    r.epoch = epoch;
    r.lease = absl::Seconds(30);
    c.comment.body = github::CommentBody(r);
    c.parsed = github::ParseBody(c.comment.body);
    return c;
  }
  github::LockState Judge(absl::Time now) {
    github::RegistryView registry(snapshot_, github::OwnLease{"me"}, absl::Seconds(1));
    return github::JudgeLock("L", snapshot_, registry, now, absl::Seconds(5), absl::Seconds(30),
                             std::nullopt);
  }
  const absl::Time t0_ = absl::FromUnixSeconds(1'800'000'000);
  github::CommentSnapshot snapshot_;
};

TEST_F(JudgeLockTest, LowestLiveClaimHoldsAndLapsedHolderImposesTheDelay) {
  snapshot_.comments = {Registration(1, "w1", 1, t0_, t0_), Registration(2, "w2", 1, t0_, t0_),
                        Claim(10, "w1", 1, t0_), Claim(11, "w2", 1, t0_)};
  github::LockState s = Judge(t0_ + absl::Seconds(10));
  ASSERT_TRUE(s.holder.has_value());
  EXPECT_EQ(s.holder->id, 10);
  // w1's lease lapses at t0+30 (+1 s slack); w2's too, but renew w2 first.
  snapshot_.comments[1] = Registration(2, "w2", 1, t0_, t0_ + absl::Seconds(25));
  s = Judge(t0_ + absl::Seconds(32));
  EXPECT_FALSE(s.holder.has_value());  // lock-delay until t0+31+5
  ASSERT_TRUE(s.first_live.has_value());
  EXPECT_EQ(s.first_live->id, 11);
  EXPECT_EQ(s.available_at, t0_ + absl::Seconds(36));
  ASSERT_TRUE(s.lapsed_holder.has_value());
  EXPECT_EQ(s.lapsed_holder->record.worker_id, "w1");
  s = Judge(t0_ + absl::Seconds(36));
  ASSERT_TRUE(s.holder.has_value());
  EXPECT_EQ(s.holder->id, 11);
}

TEST_F(JudgeLockTest, UnknownLeaseIsLiveAndALaterEpochEndsAnEarlierOne) {
  // No registration visible for w1: its claim counts as live for a stale threshold.
  snapshot_.comments = {Claim(10, "w1", 1, t0_)};
  EXPECT_TRUE(Judge(t0_ + absl::Seconds(30)).holder.has_value());
  EXPECT_FALSE(Judge(t0_ + absl::Seconds(31)).first_live.has_value());
  // A later epoch of w1 ends epoch 1 at its creation.
  snapshot_.comments.push_back(
      Registration(12, "w1", 2, t0_ + absl::Seconds(5), t0_ + absl::Seconds(5)));
  github::LockState s = Judge(t0_ + absl::Seconds(7));
  EXPECT_FALSE(s.first_live.has_value());
  EXPECT_EQ(s.available_at, t0_ + absl::Seconds(11));
}

}  // namespace
}  // namespace tasksentinel
