// Shared memory on a fake clock: versions, compare-and-set, ttl, fencing, listing, watching and
// bad input.
#include "core/embedded/memory_manager.h"

#include "core/embedded/memory_store.h"
#include "core/validation.h"
#include "gtest/gtest.h"
#include "tests/testing/core_harness.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

class MemoryManagerTest : public ::testing::Test {
 protected:
  MemoryManagerTest() : a_(TestConfig("worker-a"), &store_, &clock_) {}
  void SetUp() override { TS_ASSERT_OK(a_.leases.Register()); }

  absl::StatusOr<MemoryEntry> Set(const std::string& key, const std::string& value,
                                  std::optional<uint64_t> expected = std::nullopt) {
    SetRequest req;
    req.ns = "swarm";
    req.key = key;
    req.value = value;
    req.expected_version = expected;
    return a_.memory.Set(req);
  }

  MemoryStore store_;
  FakeClock clock_;
  WorkerHarness a_;
};

TEST_F(MemoryManagerTest, SetThenGetRoundTripsBytes) {
  const std::string value("a\0b\xff", 4);
  absl::StatusOr<MemoryEntry> set = Set("k", value);
  TS_ASSERT_OK(set);
  absl::StatusOr<MemoryEntry> got = a_.memory.Get("swarm", "k");
  TS_ASSERT_OK(got);
  EXPECT_EQ(got->record.value, value);
  EXPECT_EQ(got->record.version, set->record.version);
  EXPECT_EQ(got->record.updated_by, "worker-a");
  EXPECT_EQ(got->record.updated_at, clock_.Now());
  absl::StatusOr<MemoryEntry> again = Set("k", "v2");
  EXPECT_GT(again->record.version, set->record.version);
  TS_EXPECT_CODE(a_.memory.Get("swarm", "missing"), kNotFound);
}

TEST_F(MemoryManagerTest, CompareAndSetOnVersions) {
  TS_EXPECT_OK(Set("k", "first", 0));  // 0: must not exist
  TS_EXPECT_CODE(Set("k", "again", 0), kAborted);
  const uint64_t v = a_.memory.Get("swarm", "k")->record.version;
  TS_EXPECT_CODE(Set("k", "stale", v + 1), kAborted);
  EXPECT_EQ(a_.memory.Get("swarm", "k")->record.value, "first");
  TS_EXPECT_OK(Set("k", "second", v));
  EXPECT_EQ(a_.memory.Get("swarm", "k")->record.value, "second");
  TS_EXPECT_CODE(a_.memory.Delete("swarm", "k", v, std::nullopt), kAborted);
  EXPECT_TRUE(*a_.memory.Delete("swarm", "k", std::nullopt, std::nullopt));
  EXPECT_FALSE(*a_.memory.Delete("swarm", "k", std::nullopt, std::nullopt));
}

TEST_F(MemoryManagerTest, EntriesExpireAfterTheirTtl) {
  SetRequest req{"tasks", "short", "v", std::nullopt, absl::Seconds(10), std::nullopt};
  TS_ASSERT_OK(a_.memory.Set(req));
  clock_.Advance(absl::Seconds(9));
  TS_EXPECT_OK(a_.memory.Get("tasks", "short"));
  clock_.Advance(absl::Seconds(1));
  TS_EXPECT_CODE(a_.memory.Get("tasks", "short"), kNotFound);
  EXPECT_TRUE(a_.memory.List("tasks", "")->empty());
  // An expired key counts as absent for compare-and-set.
  req.expected_version = 0;
  TS_EXPECT_OK(a_.memory.Set(req));
}

TEST_F(MemoryManagerTest, FencedWritesNeedALiveLock) {
  AcquireRequest lock_req;
  lock_req.name = "task-9";
  absl::StatusOr<AcquireAttempt> lock = a_.locks.Acquire(lock_req);
  ASSERT_TRUE(lock.ok() && lock->acquired);
  SetRequest req{"tasks", "task-9/progress", "50%", std::nullopt, absl::ZeroDuration(),
                 FenceRef{"task-9", lock->lock->token}};
  TS_EXPECT_OK(a_.memory.Set(req));
  ASSERT_EQ(*a_.locks.Release("task-9", lock->lock->token), ReleaseOutcome::kReleased);
  req.value = "too late";
  TS_EXPECT_CODE(a_.memory.Set(req), kFailedPrecondition);
  TS_EXPECT_CODE(a_.memory.Delete("tasks", "task-9/progress", std::nullopt, req.fencing),
                 kFailedPrecondition);
  EXPECT_EQ(a_.memory.Get("tasks", "task-9/progress")->record.value, "50%");
  req.fencing->token += 1000;
  TS_EXPECT_CODE(a_.memory.Set(req), kInvalidArgument);
}

TEST_F(MemoryManagerTest, ListFiltersByPrefixInKeyOrder) {
  for (const char* k : {"b/2", "a/1", "b/1", "c"}) TS_ASSERT_OK(Set(k, k));
  absl::StatusOr<std::vector<MemoryEntry>> b = a_.memory.List("swarm", "b/");
  TS_ASSERT_OK(b);
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ((*b)[0].key, "b/1");
  EXPECT_EQ((*b)[1].key, "b/2");
  EXPECT_EQ(a_.memory.List("swarm", "")->size(), 4u);
  EXPECT_TRUE(a_.memory.List("global", "")->empty());
}

TEST_F(MemoryManagerTest, BadInputIsRefusedAndChangesNothing) {
  TS_EXPECT_CODE(a_.memory.Get("nope", "k"), kInvalidArgument);
  TS_EXPECT_CODE(Set("", "v"), kInvalidArgument);
  TS_EXPECT_CODE(Set(std::string(257, 'k'), "v"), kInvalidArgument);
  TS_EXPECT_CODE(Set("k", std::string(kMaxValueBytes + 1, 'v')), kInvalidArgument);
  TS_EXPECT_OK(Set("max", std::string(kMaxValueBytes, 'v')));
  SetRequest req{"swarm", "k", "v", std::nullopt, -absl::Seconds(1), std::nullopt};
  TS_EXPECT_CODE(a_.memory.Set(req), kInvalidArgument);
  req.ttl = absl::Hours(24 * 31);
  TS_EXPECT_CODE(a_.memory.Set(req), kInvalidArgument);
  TS_EXPECT_CODE(a_.memory.List("swarm", "bad prefix"), kInvalidArgument);
  EXPECT_EQ(a_.memory.List("swarm", "")->size(), 1u);  // only "max"
}

TEST_F(MemoryManagerTest, AFailedCommitWritesNothing) {
  store_.FailNextCommits(1, absl::UnavailableError("disk gone"));
  TS_EXPECT_CODE(Set("k", "v"), kUnavailable);
  TS_EXPECT_CODE(a_.memory.Get("swarm", "k"), kNotFound);
}

TEST_F(MemoryManagerTest, WatchStreamsInitialStateThenChanges) {
  TS_ASSERT_OK(Set("w/a", "1"));
  TS_ASSERT_OK(Set("other", "x"));
  std::vector<std::pair<MemoryEvent::Type, std::string>> seen;
  int polls = 0;
  absl::Status status = a_.memory.Watch(
      "swarm", "w/", /*include_initial=*/true,
      [&](const MemoryEvent& e) {
        seen.emplace_back(e.type, e.entry.key + "=" + e.entry.record.value);
        if (seen.size() == 1) {
          // Changes made while the watch runs arrive on its next poll.
          EXPECT_TRUE(Set("w/b", "2").ok());
          EXPECT_TRUE(Set("other", "y").ok());  // outside the prefix
          EXPECT_TRUE(*a_.memory.Delete("swarm", "w/a", std::nullopt, std::nullopt));
        }
        return seen.size() < 3;
      },
      [&] { return ++polls > 50; });
  TS_ASSERT_OK(status);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(MemoryEvent::Type::kPut, std::string("w/a=1")));
  EXPECT_EQ(seen[1], std::make_pair(MemoryEvent::Type::kPut, std::string("w/b=2")));
  EXPECT_EQ(seen[2], std::make_pair(MemoryEvent::Type::kDelete, std::string("w/a=1")));
}

TEST_F(MemoryManagerTest, WatchReportsExpiryAsDelete) {
  SetRequest req{"swarm", "tmp", "v", std::nullopt, absl::Seconds(1), std::nullopt};
  TS_ASSERT_OK(a_.memory.Set(req));
  std::vector<MemoryEvent::Type> types;
  int polls = 0;
  TS_ASSERT_OK(a_.memory.Watch(
      "swarm", "", /*include_initial=*/true,
      [&](const MemoryEvent& e) {
        types.push_back(e.type);
        return types.size() < 2;
      },
      [&] { return ++polls > 100; }));  // each poll advances the fake clock 100 ms
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[1], MemoryEvent::Type::kDelete);
}

}  // namespace
}  // namespace tasksentinel
