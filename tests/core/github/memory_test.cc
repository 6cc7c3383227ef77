// Shared memory on GitHub: a burst of writes within one sync interval costs ONE write; reads
// include the own unflushed writes; last-write-wins across sidecars (by GitHub time, then worker
// id); deletes are tombstones that win over older entries; versions rise and guard
// compare-and-set; ttl by GitHub's clock; a restarted sidecar adopts its own entries; large
// namespaces are split over several comments; Watch reports merged changes.
#include "core/github/github_memory.h"

#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

using github::WorkerMemoryRecord;

class MemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = world_.Sidecar("worker-a");
    b_ = world_.Sidecar("worker-b");
    TS_ASSERT_OK(a_->Register());
    TS_ASSERT_OK(b_->Register());
    // Each lists once to measure the read lag on its registration (lag_probe.h): done now, so
    // that the first Sync's ticks only flush (a list in A's tick before B flushed would leave A
    // a snapshot fresh by the fake clock but without B's entries).
    TS_ASSERT_OK(a_->Tick());
    TS_ASSERT_OK(b_->Tick());
    issue_ = world_.CoordinationIssue();
  }

  static SetRequest Set(const std::string& key, const std::string& value) {
    SetRequest r;
    r.ns = "swarm";
    r.key = key;
    r.value = value;
    return r;
  }

  // Moves past one sync interval and lets every sidecar flush and re-read.
  void Sync() {
    world_.clock.Advance(absl::Seconds(6));
    TS_ASSERT_OK(a_->Tick());
    TS_ASSERT_OK(b_->Tick());
  }

  std::vector<WorkerMemoryRecord> Comments() {
    std::vector<WorkerMemoryRecord> out;
    for (auto& [c, r] : world_.Records<WorkerMemoryRecord>(issue_)) out.push_back(r);
    return out;
  }

  GitHubWorld world_;
  std::unique_ptr<GitHubCoordinator> a_;
  std::unique_ptr<GitHubCoordinator> b_;
  int64_t issue_ = 0;
};

TEST_F(MemoryTest, ABurstOfWritesInOneIntervalCostsOneWrite) {
  world_.api.ResetCounts();
  for (int i = 0; i < 100; ++i) {
    TS_ASSERT_OK(a_->SetMemory(Set("k" + std::to_string(i % 10), "v" + std::to_string(i))));
    world_.clock.Advance(absl::Milliseconds(40));  // 4 s in all: within the 5 s interval
  }
  EXPECT_EQ(world_.api.counts().writes(), 0);
  // Own unflushed writes are readable at once.
  EXPECT_EQ(a_->GetMemory("swarm", "k9")->record.value, "v99");
  world_.clock.Advance(absl::Seconds(2));
  TS_ASSERT_OK(a_->Tick());
  EXPECT_EQ(world_.api.counts().writes(), 1);
  TS_ASSERT_OK(a_->Tick());
  TS_ASSERT_OK(a_->GetMemory("swarm", "k1"));
  EXPECT_EQ(world_.api.counts().writes(), 1);
  std::vector<WorkerMemoryRecord> comments = Comments();
  ASSERT_EQ(comments.size(), 1u);
  EXPECT_EQ(comments[0].worker_id, "worker-a");
  EXPECT_EQ(comments[0].entries.size(), 10u);
  EXPECT_EQ(comments[0].entries["k9"].value, "v99");
  // Another burst edits the same comment: one more write, no new comment.
  for (int i = 0; i < 20; ++i) TS_ASSERT_OK(a_->SetMemory(Set("k0", std::to_string(i))));
  Sync();
  EXPECT_EQ(world_.api.counts().writes(), 2);
  EXPECT_EQ(world_.api.counts().posts, 1);
  EXPECT_EQ(Comments().size(), 1u);
}

TEST_F(MemoryTest, LastWriteWinsAcrossSidecars) {
  TS_ASSERT_OK(a_->SetMemory(Set("leader", "a")));
  world_.clock.Advance(absl::Seconds(1));
  TS_ASSERT_OK(b_->SetMemory(Set("leader", "b")));
  Sync();
  Sync();
  absl::StatusOr<MemoryEntry> from_a = a_->GetMemory("swarm", "leader");
  absl::StatusOr<MemoryEntry> from_b = b_->GetMemory("swarm", "leader");
  TS_ASSERT_OK(from_a);
  TS_ASSERT_OK(from_b);
  EXPECT_EQ(from_a->record.value, "b");
  EXPECT_EQ(from_a->record.updated_by, "worker-b");
  EXPECT_EQ(from_b->record.value, "b");
  EXPECT_EQ(from_a->record.version, from_b->record.version);
  // A writes later again (it has seen B's version): A wins everywhere, with a higher version.
  absl::StatusOr<MemoryEntry> again = a_->SetMemory(Set("leader", "a2"));
  TS_ASSERT_OK(again);
  EXPECT_GT(again->record.version, from_a->record.version);
  Sync();
  Sync();
  EXPECT_EQ(b_->GetMemory("swarm", "leader")->record.value, "a2");
  // B's superseded entry was compacted away at its next flush... once B flushes again.
  TS_ASSERT_OK(b_->SetMemory(Set("other", "x")));
  Sync();
  for (const WorkerMemoryRecord& m : Comments()) {
    if (m.worker_id == "worker-b") {
      EXPECT_EQ(m.entries.count("leader"), 0u);
    }
  }
  absl::StatusOr<std::vector<MemoryEntry>> listed = a_->ListMemory("swarm", "");
  TS_ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].key, "leader");
  EXPECT_EQ((*listed)[1].key, "other");
}

TEST_F(MemoryTest, SameInstantTieGoesToTheHigherWorkerId) {
  TS_ASSERT_OK(a_->SetMemory(Set("k", "a")));
  TS_ASSERT_OK(b_->SetMemory(Set("k", "b")));  // same fake instant
  Sync();
  Sync();
  EXPECT_EQ(a_->GetMemory("swarm", "k")->record.value, "b");
  EXPECT_EQ(b_->GetMemory("swarm", "k")->record.value, "b");
}

TEST_F(MemoryTest, DeletesAreTombstonesThatWinOverOlderEntries) {
  TS_ASSERT_OK(a_->SetMemory(Set("k", "a")));
  Sync();
  Sync();
  EXPECT_EQ(b_->GetMemory("swarm", "k")->record.value, "a");
  absl::StatusOr<bool> deleted = b_->DeleteMemory("swarm", "k", std::nullopt, std::nullopt);
  TS_ASSERT_OK(deleted);
  EXPECT_TRUE(*deleted);
  TS_EXPECT_CODE(b_->GetMemory("swarm", "k"), kNotFound);
  EXPECT_FALSE(*b_->DeleteMemory("swarm", "k", std::nullopt, std::nullopt));
  Sync();
  Sync();
  TS_EXPECT_CODE(a_->GetMemory("swarm", "k"), kNotFound);
  EXPECT_TRUE(a_->ListMemory("swarm", "")->empty());
  // A writes again afterwards: the new write wins over the tombstone.
  TS_ASSERT_OK(a_->SetMemory(Set("k", "again")));
  Sync();
  Sync();
  EXPECT_EQ(b_->GetMemory("swarm", "k")->record.value, "again");
}

TEST_F(MemoryTest, VersionsRiseAndGuardCompareAndSet) {
  SetRequest create = Set("k", "1");
  create.expected_version = 0;
  absl::StatusOr<MemoryEntry> v1 = a_->SetMemory(create);
  TS_ASSERT_OK(v1);
  TS_EXPECT_CODE(a_->SetMemory(create), kAborted);  // exists now
  SetRequest update = Set("k", "2");
  update.expected_version = v1->record.version;
  absl::StatusOr<MemoryEntry> v2 = a_->SetMemory(update);
  TS_ASSERT_OK(v2);
  EXPECT_GT(v2->record.version, v1->record.version);
  TS_EXPECT_CODE(a_->SetMemory(update), kAborted);  // stale version
  TS_EXPECT_CODE(a_->DeleteMemory("swarm", "k", v1->record.version, std::nullopt), kAborted);
  EXPECT_TRUE(*a_->DeleteMemory("swarm", "k", v2->record.version, std::nullopt));
}

TEST_F(MemoryTest, TtlIsJudgedByGitHubTime) {
  SetRequest r = Set("session", "s");
  r.ttl = absl::Seconds(3);
  absl::StatusOr<MemoryEntry> set = a_->SetMemory(r);
  TS_ASSERT_OK(set);
  EXPECT_EQ(set->record.expires_at, set->record.updated_at + absl::Seconds(3));
  Sync();
  TS_EXPECT_CODE(a_->GetMemory("swarm", "session"), kNotFound);
  TS_EXPECT_CODE(b_->GetMemory("swarm", "session"), kNotFound);
}

TEST_F(MemoryTest, FencedWritesNeedTheLiveLock) {
  AcquireRequest req;
  req.name = "config";
  absl::StatusOr<AcquireAttempt> got = a_->AcquireLock(req, nullptr);
  TS_ASSERT_OK(got);
  SetRequest r = Set("config", "v1");
  r.fencing = FenceRef{"config", got->lock->token};
  TS_EXPECT_OK(a_->SetMemory(r));
  TS_ASSERT_OK(a_->ReleaseLock("config", got->lock->token));
  TS_EXPECT_CODE(a_->SetMemory(r), kFailedPrecondition);
  TS_EXPECT_CODE(a_->DeleteMemory("swarm", "config", std::nullopt, r.fencing),
                 kFailedPrecondition);
}

TEST_F(MemoryTest, ARestartedSidecarAdoptsItsOwnEntries) {
  TS_ASSERT_OK(a_->SetMemory(Set("mine", "1")));
  TS_ASSERT_OK(a_->Deregister());  // flushes
  auto again = world_.Sidecar("worker-a");
  TS_ASSERT_OK(again->Register());
  EXPECT_EQ(again->GetMemory("swarm", "mine")->record.value, "1");
  TS_ASSERT_OK(again->SetMemory(Set("more", "2")));
  world_.clock.Advance(absl::Seconds(6));
  TS_ASSERT_OK(again->Tick());
  std::vector<WorkerMemoryRecord> comments = Comments();
  ASSERT_EQ(comments.size(), 1u);  // the same comment, edited
  EXPECT_EQ(comments[0].entries.size(), 2u);
}

TEST_F(MemoryTest, LargeNamespacesAreSplitOverSeveralComments) {
  const std::string big(20000, 'x');
  for (int i = 0; i < 5; ++i) TS_ASSERT_OK(a_->SetMemory(Set("big" + std::to_string(i), big)));
  Sync();
  std::vector<WorkerMemoryRecord> comments = Comments();
  EXPECT_GE(comments.size(), 3u);
  for (const github::Comment& c : world_.api.AllComments(issue_)) EXPECT_LE(c.body.size(), 65536u);
  Sync();
  absl::StatusOr<std::vector<MemoryEntry>> listed = b_->ListMemory("swarm", "big");
  TS_ASSERT_OK(listed);
  EXPECT_EQ(listed->size(), 5u);
  // Shrinking deletes the surplus parts.
  for (int i = 1; i < 5; ++i) {
    TS_ASSERT_OK(a_->DeleteMemory("swarm", "big" + std::to_string(i), std::nullopt, std::nullopt));
  }
  Sync();
  EXPECT_EQ(Comments().size(), 1u);
}

// Reads are answered from merged views kept between changes, at most MEMORY_CACHE_SIZE entries
// of them; a dropped namespace is merged again when read, and a change anywhere (another
// worker's flushed write, an own write) is seen at once by the next read.
TEST_F(MemoryTest, MergedViewsAreCachedWithinMemoryCacheSize) {
  auto c = world_.Sidecar("worker-c", [](Config& cfg) { cfg.memory_cache_size = 3; });
  TS_ASSERT_OK(c->Register());
  for (const char* ns : {"swarm", "tasks"}) {
    for (const char* key : {"x", "y"}) {
      SetRequest r = Set(key, std::string(ns) + "-" + key);
      r.ns = ns;
      TS_ASSERT_OK(b_->SetMemory(r));
    }
  }
  Sync();
  TS_ASSERT_OK(c->Tick());
  absl::StatusOr<MemoryEntry> x = c->GetMemory("swarm", "x");
  TS_ASSERT_OK(x);
  EXPECT_EQ(x->record.value, "swarm-x");
  EXPECT_EQ(c->stats().memory_cache_entries.load(), 2);
  // Reading a second namespace of 2 entries drops the first (4 > 3).
  absl::StatusOr<MemoryEntry> tx = c->GetMemory("tasks", "x");
  TS_ASSERT_OK(tx);
  EXPECT_EQ(tx->record.value, "tasks-x");
  EXPECT_EQ(c->stats().memory_cache_entries.load(), 2);
  // The dropped namespace is merged again, with no request.
  world_.api.ResetCounts();
  absl::StatusOr<MemoryEntry> y = c->GetMemory("swarm", "y");
  TS_ASSERT_OK(y);
  EXPECT_EQ(y->record.value, "swarm-y");
  EXPECT_EQ(world_.api.counts().reads, 0);
  // An own write is seen at once; another worker's once flushed and listed.
  TS_ASSERT_OK(c->SetMemory(Set("y", "mine")));
  EXPECT_EQ(c->GetMemory("swarm", "y")->record.value, "mine");
  world_.clock.Advance(absl::Seconds(1));
  TS_ASSERT_OK(b_->SetMemory(Set("y", "b's later")));
  Sync();
  TS_ASSERT_OK(c->Tick());
  EXPECT_EQ(c->GetMemory("swarm", "y")->record.value, "b's later");
}

TEST_F(MemoryTest, WatchReportsMergedChanges) {
  TS_ASSERT_OK(b_->SetMemory(Set("w/1", "one")));
  Sync();
  std::vector<MemoryEvent> events;
  int polls = 0;
  TS_ASSERT_OK(a_->WatchMemory(
      "swarm", "w/", /*include_initial=*/true,
      [&](const MemoryEvent& e) {
        events.push_back(e);
        return events.size() < 3;
      },
      [&] {
        ++polls;
        if (polls == 2) {
          EXPECT_TRUE(b_->SetMemory(Set("w/2", "two")).ok());
          EXPECT_TRUE(b_->DeleteMemory("swarm", "w/1", std::nullopt, std::nullopt).ok());
          world_.clock.Advance(absl::Seconds(6));
          EXPECT_TRUE(b_->Tick().ok());
        }
        return polls > 20;
      }));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, MemoryEvent::Type::kPut);
  EXPECT_EQ(events[0].entry.key, "w/1");
  EXPECT_EQ(events[1].type, MemoryEvent::Type::kPut);
  EXPECT_EQ(events[1].entry.key, "w/2");
  EXPECT_EQ(events[2].type, MemoryEvent::Type::kDelete);
  EXPECT_EQ(events[2].entry.key, "w/1");
}

}  // namespace
}  // namespace tasksentinel
