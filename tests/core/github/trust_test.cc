// Only the fleet's own records count (core/github/trust.h): each attack an outsider with a second
// account (who can only comment) or a collaborator (who can edit a bot's comment by hand) could
// try has no effect on locks, tasks, leases, memory or shutdown, and the foreign-record counter
// says why the record was ignored.
#include "core/github/trust.h"

#include <cstdint>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "core/github/record_seal.h"
#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

using github::ClaimRecord;
using github::ForeignReason;
using github::MemoryItem;
using github::RegistrationRecord;
using github::WorkerMemoryRecord;

constexpr char kStranger[] = "mallory";       // can only comment
constexpr char kSecret[] = "fleet-secret-0123456789";

class TrustTest : public ::testing::Test {
 protected:
  // Sidecars of this test, with WORKER_SECRET set when `secret_` is.
  std::unique_ptr<GitHubCoordinator> Sidecar(const std::string& worker) {
    return world_.Sidecar(worker, [this](Config& c) { c.worker_secret = secret_; });
  }

  // A body in the sidecars' own format, sealed as a stranger can (no secret): only the author
  // or the missing signature can give it away.
  std::string Forge(const github::Record& record, int64_t issue,
                    absl::Time at = absl::InfinitePast()) {
    github::RecordSeal seal("", "octo/sentinel");
    return seal.Body(record, issue, at == absl::InfinitePast() ? world_.clock.Now() : at);
  }

  // A registration of a made-up worker with a lease of ten years.
  RegistrationRecord Phantom(const std::string& worker, uint64_t epoch = 1) {
    RegistrationRecord r;
    r.worker_id = worker;
    r.hostname = "nowhere";
    r.epoch = epoch;
    r.lease = absl::Hours(24 * 365 * 10);
    r.max_tasks = 10;
    r.registered_at = world_.clock.Now();
    r.next_renewal_at = world_.clock.Now() + absl::Seconds(30);
    r.lease_expires_at = world_.clock.Now() + r.lease;
    return r;
  }

  static AcquireRequest Req(const std::string& name) {
    AcquireRequest r;
    r.name = name;
    r.ttl = absl::Seconds(60);
    return r;
  }

  static SetRequest Set(const std::string& key, const std::string& value) {
    SetRequest r;
    r.ns = "swarm";
    r.key = key;
    r.value = value;
    return r;
  }

  static int64_t Foreign(GitHubCoordinator& c, ForeignReason reason) {
    return c.stats().foreign_records.Get(reason);
  }

  std::string secret_;
  GitHubWorld world_;
};

TEST_F(TrustTest, AForgedClaimAndTenYearRegistrationDoNotBlockALock) {
  auto a = Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  // The locks issue exists once any named lock was taken.
  absl::StatusOr<AcquireAttempt> warm = a->AcquireLock(Req("warm-up"), nullptr);
  TS_ASSERT_OK(warm);
  TS_ASSERT_OK(a->ReleaseLock("warm-up", warm->lock->token));
  const int64_t locks = world_.LocksIssue();
  ASSERT_NE(locks, 0);

  ClaimRecord claim;
  claim.lock = "deploy";
  claim.worker_id = "ghost";
  claim.epoch = 1;
  claim.ttl = absl::Hours(24);
  world_.api.AddComment(locks, Forge(claim, locks), kStranger);
  world_.api.AddComment(world_.CoordinationIssue(),
                        Forge(Phantom("ghost"), world_.CoordinationIssue()), kStranger);

  auto b = Sidecar("worker-b");
  TS_ASSERT_OK(b->Register());
  absl::StatusOr<AcquireAttempt> got = b->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired);
  EXPECT_EQ(got->lock->holder, "worker-b");
  absl::StatusOr<std::vector<LockInfo>> listed = a->ListLocks();
  TS_ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].holder, "worker-b");
  absl::StatusOr<std::vector<WorkerInfo>> workers = a->Workers(/*include_gone=*/true);
  TS_ASSERT_OK(workers);
  for (const WorkerInfo& w : *workers) EXPECT_NE(w.record.id, "ghost");
  EXPECT_GE(Foreign(*b, ForeignReason::kUntrustedAuthor), 2);
}

TEST_F(TrustTest, AForgedNextEpochOfALiveHolderLetsNobodyElseIn) {
  auto a = Sidecar("worker-a");
  auto b = Sidecar("worker-b");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(b->Register());
  absl::StatusOr<AcquireAttempt> held = a->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  // A later epoch of worker-a would end epoch 1 and its locks for everyone.
  RegistrationRecord next = Phantom("worker-a", /*epoch=*/2);
  next.lease = absl::Seconds(120);
  world_.api.AddComment(world_.CoordinationIssue(), Forge(next, world_.CoordinationIssue()),
                        kStranger);
  world_.clock.Advance(absl::Seconds(5));
  absl::StatusOr<AcquireAttempt> other = b->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(other);
  EXPECT_FALSE(other->acquired);
  ASSERT_TRUE(other->lock.has_value());
  EXPECT_EQ(other->lock->holder, "worker-a");
  EXPECT_EQ(other->lock->token, held->lock->token);
  // The holder still holds it: its heartbeat reports no loss.
  absl::StatusOr<HeartbeatResult> beat = a->Heartbeat({});
  TS_ASSERT_OK(beat);
  EXPECT_TRUE(beat->lost_locks.empty());
  EXPECT_EQ(beat->lease_epoch, 1u);
  EXPECT_GE(Foreign(*b, ForeignReason::kUntrustedAuthor), 1);
}

TEST_F(TrustTest, AForgedClaimOnAQueuedTaskDoesNotFreezeIt) {
  auto a = Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  absl::StatusOr<TaskRecord> task = a->CreateTask({"build it", "", "", 0, 0});
  TS_ASSERT_OK(task);
  const int64_t number = std::stoll(task->id);
  world_.api.AddComment(world_.CoordinationIssue(),
                        Forge(Phantom("ghost"), world_.CoordinationIssue()), kStranger);
  ClaimRecord claim;
  claim.lock = task->id;
  claim.worker_id = "ghost";
  claim.epoch = 1;
  claim.ttl = absl::Hours(24);
  world_.api.AddComment(number, Forge(claim, number), kStranger);
  absl::StatusOr<std::optional<HandedOutTask>> next =
      a->NextTask({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(next);
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->task.id, task->id);
  EXPECT_EQ((*next)->lock.holder, "worker-a");
  EXPECT_GE(Foreign(*a, ForeignReason::kUntrustedAuthor), 2);
}

TEST_F(TrustTest, TenPhantomWorkersDoNotMakeNextTaskWait) {
  auto a = Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  const int64_t coordination = world_.CoordinationIssue();
  for (int i = 0; i < 10; ++i) {
    world_.api.AddComment(coordination, Forge(Phantom("phantom-" + std::to_string(i)),
                                              coordination),
                          kStranger);
  }
  TS_ASSERT_OK(a->CreateTask({"one", "", "", 0, 0}));
  // Planned for a phantom, the task would be left to it for a grace period: no hand-out now.
  absl::StatusOr<std::optional<HandedOutTask>> next =
      a->NextTask({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(next);
  EXPECT_TRUE(next->has_value());
  absl::StatusOr<std::vector<WorkerInfo>> workers = a->Workers(false);
  TS_ASSERT_OK(workers);
  EXPECT_EQ(workers->size(), 1u);
  EXPECT_EQ(Foreign(*a, ForeignReason::kUntrustedAuthor), 10);
}

TEST_F(TrustTest, ForgedMemoryNeverWinsAndAnOutOfRangeStampIsIgnoredEvenFromTheFleet) {
  auto a = Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(a->SetMemory(Set("config", "genuine")));
  world_.clock.Advance(absl::Seconds(6));
  TS_ASSERT_OK(a->Tick());
  const int64_t coordination = world_.CoordinationIssue();

  // A stranger's newer write, and one stamped INT64_MAX.
  WorkerMemoryRecord forged{"worker-z", "swarm", 0, {}};
  forged.entries["config"] = MemoryItem{"forged", world_.clock.Now() + absl::Seconds(1)};
  world_.api.AddComment(coordination, Forge(forged, coordination), kStranger);
  // The same INT64_MAX stamp under the fleet's own account (a bug, or a leaked token): out of
  // range, whoever wrote it.
  WorkerMemoryRecord far{"worker-y", "swarm", 0, {}};
  far.entries["config"] =
      MemoryItem{"forever", absl::FromUnixMicros(std::numeric_limits<int64_t>::max())};
  world_.api.AddComment(coordination, Forge(far, coordination), "sentinel-bot");

  world_.clock.Advance(absl::Seconds(6));
  TS_ASSERT_OK(a->Tick());
  absl::StatusOr<MemoryEntry> got = a->GetMemory("swarm", "config");
  TS_ASSERT_OK(got);
  EXPECT_EQ(got->record.value, "genuine");
  // A later write still wins, and is what a second sidecar reads.
  TS_ASSERT_OK(a->SetMemory(Set("config", "later")));
  world_.clock.Advance(absl::Seconds(6));
  TS_ASSERT_OK(a->Tick());
  auto b = Sidecar("worker-b");
  TS_ASSERT_OK(b->Register());
  absl::StatusOr<MemoryEntry> seen = b->GetMemory("swarm", "config");
  TS_ASSERT_OK(seen);
  EXPECT_EQ(seen->record.value, "later");
  EXPECT_GE(Foreign(*b, ForeignReason::kUntrustedAuthor), 1);
  EXPECT_GE(Foreign(*b, ForeignReason::kOutOfRange), 1);
}

TEST_F(TrustTest, RecordsPlantedUnderAWorkersIdAreNotAdoptedAndShutdownIsClean) {
  // Before worker-a ever starts, a stranger plants its registration and memory.
  auto seed = Sidecar("seed");
  TS_ASSERT_OK(seed->Register());  // creates the coordination issue
  const int64_t coordination = world_.CoordinationIssue();
  world_.api.AddComment(coordination, Forge(Phantom("worker-a", 7), coordination), kStranger);
  WorkerMemoryRecord planted{"worker-a", "swarm", 0, {}};
  planted.entries["k"] = MemoryItem{"planted", world_.clock.Now()};
  world_.api.AddComment(coordination, Forge(planted, coordination), kStranger);

  auto a = Sidecar("worker-a");
  absl::StatusOr<WorkerRecord> me = a->Register();
  TS_ASSERT_OK(me);
  EXPECT_EQ(me->epoch, 1u);  // a fresh registration, not the planted epoch 7
  TS_ASSERT_OK(a->Heartbeat({}));
  absl::StatusOr<MemoryEntry> k = a->GetMemory("swarm", "k");
  EXPECT_EQ(k.status().code(), absl::StatusCode::kNotFound) << k.status();
  TS_ASSERT_OK(a->SetMemory(Set("k", "mine")));
  world_.clock.Advance(absl::Seconds(6));
  TS_ASSERT_OK(a->Tick());
  // The own registration is the one comment of worker-a written by the fleet's account.
  int own = 0;
  for (const github::Comment& c : world_.api.AllComments(coordination)) {
    if (c.author == "sentinel-bot" && absl::StrContains(c.body, "\"worker_id\":\"worker-a\"") &&
        absl::StrContains(c.body, "WORKER_REGISTRATION")) {
      ++own;
    }
  }
  EXPECT_EQ(own, 1);
  absl::StatusOr<int> released = a->Deregister();
  TS_ASSERT_OK(released);
  absl::StatusOr<std::vector<WorkerInfo>> workers = seed->Workers(/*include_gone=*/true);
  TS_ASSERT_OK(workers);
  bool gone = false;
  for (const WorkerInfo& w : *workers) {
    if (w.record.id == "worker-a") gone = w.status == WorkerStatus::kGone;
  }
  EXPECT_TRUE(gone);
}

TEST_F(TrustTest, AClaimThatCannotBeDeletedDoesNotBlockShutdown) {
  auto a = Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  absl::StatusOr<AcquireAttempt> held = a->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  world_.api.FailNext(1, absl::PermissionDeniedError("403 Must have admin rights"),
                      FakeGitHubMethod::kDeleteComment);
  absl::StatusOr<int> departed = a->Deregister();
  TS_ASSERT_OK(departed);
  auto b = Sidecar("worker-b");
  TS_ASSERT_OK(b->Register());
  absl::StatusOr<std::vector<WorkerInfo>> workers = b->Workers(/*include_gone=*/true);
  TS_ASSERT_OK(workers);
  ASSERT_FALSE(workers->empty());
  for (const WorkerInfo& w : *workers) {
    if (w.record.id == "worker-a") EXPECT_EQ(w.status, WorkerStatus::kGone);
  }
  // The claim that stayed belongs to a departed epoch: the lock is free (after the lock-delay).
  world_.clock.Advance(absl::Seconds(30));
  absl::StatusOr<AcquireAttempt> got = b->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired);
}

// ---- With WORKER_SECRET ----

TEST_F(TrustTest, WithASecretAFleetWorksAndUnsignedRecordsOfTheOwnAccountDoNotCount) {
  secret_ = kSecret;
  auto a = Sidecar("worker-a");
  auto b = Sidecar("worker-b");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(b->Register());
  absl::StatusOr<AcquireAttempt> held = a->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  absl::StatusOr<AcquireAttempt> other = b->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(other);
  EXPECT_FALSE(other->acquired);
  // Unsigned (as a sidecar without the secret, or a person with the token, would write).
  const int64_t coordination = world_.CoordinationIssue();
  world_.api.AddComment(coordination, Forge(Phantom("ghost"), coordination), "sentinel-bot");
  absl::StatusOr<std::vector<WorkerInfo>> workers = b->Workers(false);
  TS_ASSERT_OK(workers);
  EXPECT_EQ(workers->size(), 2u);
  EXPECT_EQ(Foreign(*b, ForeignReason::kUnsigned), 1);
}

TEST_F(TrustTest, WithASecretAHandEditedRecordAndAMovedOneDoNotCount) {
  secret_ = kSecret;
  auto a = Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(a->SetMemory(Set("config", "genuine")));
  world_.clock.Advance(absl::Seconds(6));
  TS_ASSERT_OK(a->Tick());
  const int64_t coordination = world_.CoordinationIssue();
  // A collaborator edits the bot's memory comment by hand.
  const std::string forged = absl::Base64Escape("forged");
  for (const github::Comment& c : world_.api.AllComments(coordination)) {
    if (!absl::StrContains(c.body, "\"type\":\"MEMORY\"")) continue;
    std::string body = absl::StrReplaceAll(c.body, {{absl::Base64Escape("genuine"), forged}});
    ASSERT_NE(body, c.body);
    world_.api.EditComment(c.id, body);
  }
  auto b = Sidecar("worker-b");
  TS_ASSERT_OK(b->Register());
  absl::StatusOr<MemoryEntry> seen = b->GetMemory("swarm", "config");
  EXPECT_FALSE(seen.ok() && seen->record.value == "forged") << seen->record.value;
  EXPECT_EQ(Foreign(*b, ForeignReason::kBadSignature), 1);

  // A genuine claim moved to another issue (the coordination issue) by a collaborator.
  absl::StatusOr<AcquireAttempt> held = a->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(held);
  for (const github::Comment& c : world_.api.AllComments(world_.LocksIssue())) {
    if (absl::StrContains(c.body, "LOCK_CLAIM")) {
      world_.api.AddComment(coordination, c.body, "sentinel-bot");
    }
  }
  TS_ASSERT_OK(b->Workers(false));  // lists the coordination issue
  EXPECT_EQ(Foreign(*b, ForeignReason::kBadSignature), 2);
}

TEST_F(TrustTest, AReplayedRecordNeverCounts) {
  secret_ = kSecret;
  auto a = Sidecar("worker-a");
  auto b = Sidecar("worker-b");
  TS_ASSERT_OK(a->Register());
  TS_ASSERT_OK(b->Register());
  absl::StatusOr<AcquireAttempt> held = a->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired);
  std::string claim_body;
  for (const github::Comment& c : world_.api.AllComments(world_.LocksIssue())) {
    if (absl::StrContains(c.body, "\"lock\":\"deploy\"")) claim_body = c.body;
  }
  ASSERT_FALSE(claim_body.empty());
  TS_ASSERT_OK(a->ReleaseLock("deploy", held->lock->token));
  // A byte-for-byte copy, posted under the fleet's own account, while the original exists and
  // after it is gone: neither counts (a duplicate nonce; sealed long before it was posted).
  const std::string registration = world_.api.AllComments(world_.CoordinationIssue())[0].body;
  world_.api.AddComment(world_.CoordinationIssue(), registration, "sentinel-bot");
  world_.clock.Advance(absl::Minutes(10));
  world_.api.AddComment(world_.LocksIssue(), claim_body, "sentinel-bot");
  absl::StatusOr<AcquireAttempt> got = b->AcquireLock(Req("deploy"), nullptr);
  TS_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired);
  EXPECT_EQ(got->lock->holder, "worker-b");
  EXPECT_GE(Foreign(*b, ForeignReason::kReplay), 2);
}

TEST_F(TrustTest, TrustedIntakeTakesOnlyIssuesOfTrustedAuthors) {
  auto a = world_.Sidecar("worker-a", [](Config& c) { c.task_intake = "trusted"; });
  TS_ASSERT_OK(a->Register());
  world_.api.AddIssue("from a stranger", "rm -rf /", {"sentinel:queued"}, kStranger);
  absl::StatusOr<std::optional<HandedOutTask>> none =
      a->NextTask({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  const int64_t mine = world_.api.AddIssue("from the team", "", {"sentinel:queued"}, "alice");
  // alice is not trusted either: only the token's account and SENTINEL_TRUSTED_AUTHORS are.
  none = a->NextTask({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());

  auto b = world_.Sidecar("worker-b", [](Config& c) {
    c.task_intake = "trusted";
    c.trusted_authors = {"alice"};
  });
  TS_ASSERT_OK(b->Register());
  TS_ASSERT_OK(a->Deregister());  // so that no plan leaves the task to worker-a for a while
  absl::StatusOr<std::optional<HandedOutTask>> got =
      b->NextTask({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->task.id, std::to_string(mine));

  // Labelled intake (the default) takes any labelled issue.
  auto c = world_.Sidecar("worker-c");
  TS_ASSERT_OK(c->Register());
  TS_ASSERT_OK(b->Deregister());
  absl::StatusOr<std::optional<HandedOutTask>> any =
      c->NextTask({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(any);
  ASSERT_TRUE(any->has_value());
  EXPECT_EQ((*any)->task.title, "from a stranger");
}

TEST_F(TrustTest, AnUnknownTrustedLoginFailsStartUpNamingIt) {
  auto a = world_.Sidecar("worker-a", [](Config& c) { c.trusted_authors = {"nobody"}; });
  absl::StatusOr<WorkerRecord> me = a->Register();
  ASSERT_FALSE(me.ok());
  EXPECT_EQ(me.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(me.status().message(), "\"nobody\"")) << me.status();
}

TEST(RecordSealTest, SignaturesBindTheIssueAndTheBytes) {
  github::RecordSeal seal(kSecret, "octo/sentinel");
  ClaimRecord claim;
  claim.lock = "deploy";
  claim.worker_id = "worker-a";
  claim.epoch = 3;
  claim.ttl = absl::Seconds(60);
  const std::string body = seal.Body(claim, 5, absl::FromUnixSeconds(1'700'000'000));
  github::ParsedBody parsed = github::ParseBody(body);
  ASSERT_TRUE(parsed.record.has_value());
  EXPECT_EQ(parsed.sealed_at, absl::FromUnixSeconds(1'700'000'000));
  EXPECT_EQ(parsed.nonce.size(), 32u);
  EXPECT_EQ(parsed.sig.size(), 64u);
  EXPECT_TRUE(seal.Verify(parsed, 5));
  EXPECT_FALSE(seal.Verify(parsed, 6));  // moved to another issue
  EXPECT_FALSE(github::RecordSeal("another-secret-0123", "octo/sentinel").Verify(parsed, 5));
  EXPECT_FALSE(github::RecordSeal(kSecret, "octo/other").Verify(parsed, 5));
  github::ParsedBody edited =
      github::ParseBody(absl::StrReplaceAll(body, {{"\"epoch\":3", "\"epoch\":4"}}));
  ASSERT_TRUE(edited.record.has_value());
  EXPECT_FALSE(seal.Verify(edited, 5));
  // Two seals of the same record differ (nonce), so copies are recognisable.
  EXPECT_NE(seal.Body(claim, 5, absl::FromUnixSeconds(1'700'000'000)), body);
  // Without a secret nothing is signed and everything verifies (authorship decides).
  github::RecordSeal open("", "octo/sentinel");
  github::ParsedBody plain = github::ParseBody(open.Body(claim, 5, absl::UnixEpoch()));
  EXPECT_TRUE(plain.sig.empty());
  EXPECT_TRUE(open.Verify(plain, 5));
}

TEST(RecordScreenTest, NumbersOutOfRangeAndNegativeValuesAreForeign) {
  github::RecordSeal seal("", "octo/sentinel");
  github::RecordScreen screen(&seal, github::RecordBounds());
  screen.SetAuthors(github::TrustedAuthors({"bot", 1}, {}));
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  auto judge = [&](const github::Record& record) {
    github::Comment c;
    c.id = 10;
    c.author_id = 1;
    c.created_at = c.updated_at = now;
    c.body = seal.Body(record, 1, now);
    std::vector<const github::Comment*> comments = {&c};
    std::vector<github::ParsedBody> parsed = {github::ParseBody(c.body)};
    std::vector<std::optional<ForeignReason>> reasons;
    screen.ScreenComments(1, now, comments, parsed, reasons);
    return reasons[0];
  };
  ClaimRecord claim;
  claim.lock = "x";
  claim.worker_id = "w";
  claim.epoch = 1;
  claim.ttl = absl::Seconds(60);
  EXPECT_EQ(judge(claim), std::nullopt);
  claim.ttl = absl::Hours(25);
  EXPECT_EQ(judge(claim), ForeignReason::kOutOfRange);
  claim.ttl = -absl::Seconds(1);
  EXPECT_EQ(judge(claim), ForeignReason::kOutOfRange);
  claim.ttl = absl::Seconds(60);
  claim.epoch = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(judge(claim), ForeignReason::kOutOfRange);
  RegistrationRecord r;
  r.worker_id = "w";
  r.epoch = 1;
  r.lease = absl::Seconds(120);
  r.registered_at = now;
  EXPECT_EQ(judge(r), std::nullopt);
  r.lease = absl::Milliseconds(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(judge(r), ForeignReason::kOutOfRange);
  r.lease = absl::Seconds(120);
  r.registered_at = now + absl::Hours(1);  // registered in GitHub's future
  EXPECT_EQ(judge(r), ForeignReason::kOutOfRange);
  WorkerMemoryRecord m{"w", "swarm", 0, {}};
  m.entries["k"] = MemoryItem{"v", absl::FromUnixMicros(std::numeric_limits<int64_t>::max())};
  EXPECT_EQ(judge(m), ForeignReason::kOutOfRange);
  m.entries["k"] = MemoryItem{"v", absl::FromUnixMicros(-5)};
  EXPECT_EQ(judge(m), std::nullopt);  // in the past is fine: older writes simply lose
  m.part = -1;
  EXPECT_EQ(judge(m), ForeignReason::kOutOfRange);
}

}  // namespace
}  // namespace tasksentinel
