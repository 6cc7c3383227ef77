// Bad input gets the same answer from the GitHub backend as from the embedded store: the same
// code and the same message (both use core/validation.h), and nothing is written to GitHub.
#include "core/embedded/embedded_coordinator.h"
#include "core/embedded/memory_store.h"
#include "core/validation.h"
#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

class ValidationTest : public ::testing::Test {
 protected:
  ValidationTest()
      : config_([] {
          Config c = GitHubTestConfig("worker-v");
          c.supported_task_types = {"build"};
          return c;
        }()),
        embedded_(config_, &store_, &world_.clock),
        github_(config_, &world_.api, &world_.clock, GitHubTestOptions()) {}

  void SetUp() override {
    TS_ASSERT_OK(embedded_.Register());
    TS_ASSERT_OK(github_.Register());
    world_.api.ResetCounts();
  }

  // Runs `call` on both backends; expects the same error code and message.
  template <typename Call>
  void Same(const std::string& what, Call call) {
    const absl::Status e = testing::GetStatus(call(embedded_));
    const absl::Status g = testing::GetStatus(call(github_));
    EXPECT_FALSE(e.ok()) << what;
    EXPECT_EQ(g.code(), e.code()) << what << ": github " << g << " / embedded " << e;
    EXPECT_EQ(g.message(), e.message()) << what;
  }

  Config config_;
  GitHubWorld world_;
  MemoryStore store_;
  EmbeddedCoordinator embedded_;
  GitHubCoordinator github_;
};

TEST_F(ValidationTest, LocksRefuseBadInputLikeTheEmbeddedStore) {
  auto acquire = [](AcquireRequest r) {
    return [r](Coordinator& c) { return c.AcquireLock(r, nullptr); };
  };
  AcquireRequest r;
  Same("empty name", acquire(r));
  r.name = "has space";
  Same("bad name", acquire(r));
  r.name = std::string(129, 'n');
  Same("long name", acquire(r));
  r.name = "ok";
  r.ttl = absl::Hours(25);
  Same("ttl", acquire(r));
  r.ttl = absl::Seconds(-1);
  Same("negative ttl", acquire(r));
  r.ttl = absl::ZeroDuration();
  r.wait_timeout = absl::Minutes(11);
  Same("wait", acquire(r));
  r.wait_timeout = absl::ZeroDuration();
  for (int i = 0; i < 17; ++i) r.metadata["k" + std::to_string(i)] = "v";
  Same("metadata entries", acquire(r));
  r.metadata = {{"", "v"}};
  Same("metadata key", acquire(r));
  r.metadata = {{"k", std::string(257, 'v')}};
  Same("metadata value", acquire(r));
  Same("renew name", [](Coordinator& c) { return c.RenewLock("a b", 1, absl::ZeroDuration()); });
  Same("renew ttl", [](Coordinator& c) { return c.RenewLock("ok", 1, absl::Hours(25)); });
  Same("release name", [](Coordinator& c) { return c.ReleaseLock("", 1); });
  EXPECT_EQ(world_.api.counts().writes(), 0);
}

TEST_F(ValidationTest, MemoryRefusesBadInputLikeTheEmbeddedStore) {
  auto set = [](SetRequest r) { return [r](Coordinator& c) { return c.SetMemory(r); }; };
  SetRequest r;
  r.ns = "nope";
  r.key = "k";
  Same("namespace", set(r));
  r.ns = "swarm";
  r.key = "";
  Same("empty key", set(r));
  r.key = std::string(257, 'k');
  Same("long key", set(r));
  r.key = "bad key";
  Same("bad key", set(r));
  r.key = "k";
  r.value = std::string(kMaxValueBytes + 1, 'v');
  Same("value size", set(r));
  r.value = "v";
  r.ttl = absl::Milliseconds(500);
  Same("short ttl", set(r));
  r.ttl = absl::Hours(24 * 31);
  Same("long ttl", set(r));
  r.ttl = absl::ZeroDuration();
  r.fencing = FenceRef{"bad id", 1};
  Same("fencing id", set(r));
  Same("get namespace", [](Coordinator& c) { return c.GetMemory("nope", "k"); });
  Same("get key", [](Coordinator& c) { return c.GetMemory("swarm", "a b"); });
  Same("get missing", [](Coordinator& c) { return c.GetMemory("swarm", "missing"); });
  Same("delete key", [](Coordinator& c) {
    return c.DeleteMemory("swarm", "", std::nullopt, std::nullopt);
  });
  Same("delete fencing", [](Coordinator& c) {
    return c.DeleteMemory("swarm", "k", std::nullopt, FenceRef{"", 1});
  });
  Same("list prefix", [](Coordinator& c) { return c.ListMemory("swarm", "a b"); });
  Same("list namespace", [](Coordinator& c) { return c.ListMemory("other", ""); });
  Same("watch", [](Coordinator& c) {
    return c.WatchMemory("other", "", false, [](const MemoryEvent&) { return true; }, nullptr);
  });
  EXPECT_EQ(world_.api.counts().writes(), 0);
}

TEST_F(ValidationTest, TasksRefuseBadInputLikeTheEmbeddedStore) {
  auto create = [](NewTask t) { return [t](Coordinator& c) { return c.CreateTask(t); }; };
  Same("empty title", create({"", "", "", 0, 0}));
  Same("long title", create({std::string(257, 't'), "", "", 0, 0}));
  Same("body size", create({"t", std::string(kMaxValueBytes + 1, 'b'), "", 0, 0}));
  Same("type", create({"t", "", "Build", 0, 0}));
  Same("priority", create({"t", "", "", 1001, 0}));
  Same("negative priority", create({"t", "", "", -1001, 0}));
  Same("attempts", create({"t", "", "", 0, 101}));
  Same("next type", [](Coordinator& c) {
    return c.NextTask({"Bad"}, absl::ZeroDuration(), nullptr);
  });
  Same("next unsupported", [](Coordinator& c) {
    return c.NextTask({"deploy"}, absl::ZeroDuration(), nullptr);
  });
  Same("next wait", [](Coordinator& c) { return c.NextTask({}, absl::Minutes(11), nullptr); });
  Same("complete id", [](Coordinator& c) { return c.CompleteTask("a b", 1, ""); });
  Same("complete result", [](Coordinator& c) {
    return c.CompleteTask("1", 1, std::string(kMaxValueBytes + 1, 'r'));
  });
  Same("fail id", [](Coordinator& c) { return c.FailTask("", 1, "e", true); });
  Same("fail error", [](Coordinator& c) {
    return c.FailTask("1", 1, std::string(kMaxValueBytes + 1, 'e'), true);
  });
  Same("get id", [](Coordinator& c) { return c.GetTask(""); });
  Same("get unknown", [](Coordinator& c) { return c.GetTask("task-999"); });
  EXPECT_EQ(world_.api.counts().writes(), 0);
}

TEST_F(ValidationTest, FencingErrorsHaveTheSameCodes) {
  // A task handed out on each backend; a wrong or stale token is refused the same way.
  absl::StatusOr<TaskRecord> e_task = embedded_.CreateTask({"t", "", "", 0, 0});
  absl::StatusOr<TaskRecord> g_task = github_.CreateTask({"t", "", "", 0, 0});
  TS_ASSERT_OK(e_task);
  TS_ASSERT_OK(g_task);
  absl::StatusOr<std::optional<HandedOutTask>> e_got =
      embedded_.NextTask({}, absl::ZeroDuration(), nullptr);
  absl::StatusOr<std::optional<HandedOutTask>> g_got =
      github_.NextTask({}, absl::ZeroDuration(), nullptr);
  TS_ASSERT_OK(e_got);
  TS_ASSERT_OK(g_got);
  ASSERT_TRUE(e_got->has_value() && g_got->has_value());
  TS_EXPECT_CODE(embedded_.CompleteTask(e_task->id, 0, "r"), kInvalidArgument);
  TS_EXPECT_CODE(github_.CompleteTask(g_task->id, 0, "r"), kInvalidArgument);
  TS_ASSERT_OK(embedded_.CompleteTask(e_task->id, (*e_got)->lock.token, "r"));
  TS_ASSERT_OK(github_.CompleteTask(g_task->id, (*g_got)->lock.token, "r"));
  TS_EXPECT_CODE(embedded_.CompleteTask(e_task->id, (*e_got)->lock.token, "r"),
                 kFailedPrecondition);
  TS_EXPECT_CODE(github_.CompleteTask(g_task->id, (*g_got)->lock.token, "r"),
                 kFailedPrecondition);
  TS_EXPECT_CODE(embedded_.CompleteTask("missing", 1, "r"), kNotFound);
  TS_EXPECT_CODE(github_.CompleteTask("missing", 1, "r"), kNotFound);
  // A task locked with AcquireLock, not handed out, cannot be completed.
  absl::StatusOr<TaskRecord> e2 = embedded_.CreateTask({"t2", "", "", 0, 0});
  absl::StatusOr<TaskRecord> g2 = github_.CreateTask({"t2", "", "", 0, 0});
  AcquireRequest req;
  req.name = e2->id;
  absl::StatusOr<AcquireAttempt> e_lock = embedded_.AcquireLock(req, nullptr);
  req.name = g2->id;
  absl::StatusOr<AcquireAttempt> g_lock = github_.AcquireLock(req, nullptr);
  ASSERT_TRUE(e_lock.ok() && e_lock->acquired);
  ASSERT_TRUE(g_lock.ok() && g_lock->acquired);
  TS_EXPECT_CODE(embedded_.CompleteTask(e2->id, e_lock->lock->token, "r"), kFailedPrecondition);
  TS_EXPECT_CODE(github_.CompleteTask(g2->id, g_lock->lock->token, "r"), kFailedPrecondition);
}

}  // namespace
}  // namespace tasksentinel
