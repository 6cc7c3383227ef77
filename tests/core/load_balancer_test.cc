// Tests of the load balancer on fixed snapshots of workers and tasks.
#include "core/load_balancer.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tasksentinel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr Strategy kAllStrategies[] = {Strategy::kRoundRobin, Strategy::kLeastLoaded,
                                       Strategy::kCapacityBased, Strategy::kAffinity,
                                       Strategy::kAdaptive};

// A healthy worker.
WorkerView Worker(std::string id, uint32_t max_tasks, uint32_t active_tasks,
                  std::vector<std::string> supported_types = {},
                  std::map<std::string, uint32_t> type_history = {}) {
  WorkerView w;
  w.id = std::move(id);
  w.max_tasks = max_tasks;
  w.active_tasks = active_tasks;
  w.supported_types = std::move(supported_types);
  w.type_history = std::move(type_history);
  return w;
}

// A task; `seq` defaults to creation in the order tasks are listed.
TaskView Task(std::string id, std::string type = "", int32_t priority = 0, uint64_t seq = 0) {
  TaskView t;
  t.id = std::move(id);
  t.type = std::move(type);
  t.priority = priority;
  t.seq = seq;
  return t;
}

// `n` default-type tasks t0..t{n-1} with equal priority, created in that order.
std::vector<TaskView> Tasks(int n, std::string type = "") {
  std::vector<TaskView> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(Task("t" + std::to_string(i), type, 0, i));
  return tasks;
}

// The worker ids of `assignments`, in order.
std::vector<std::string> WorkerIds(const std::vector<Assignment>& assignments) {
  std::vector<std::string> ids;
  for (const Assignment& a : assignments) ids.push_back(a.worker_id);
  return ids;
}

TEST(ParseStrategyTest, RoundTripsEveryName) {
  for (Strategy s : kAllStrategies) {
    absl::StatusOr<Strategy> parsed = ParseStrategy(StrategyName(s));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(StrategyName(Strategy::kRoundRobin), "round_robin");
  EXPECT_EQ(StrategyName(Strategy::kLeastLoaded), "least_loaded");
  EXPECT_EQ(StrategyName(Strategy::kCapacityBased), "capacity_based");
  EXPECT_EQ(StrategyName(Strategy::kAffinity), "affinity");
  EXPECT_EQ(StrategyName(Strategy::kAdaptive), "adaptive");
}

TEST(ParseStrategyTest, RejectsUnknownNamesListingTheAllowedOnes) {
  for (const char* name :
       {"", "Round_Robin", "round-robin", "ROUND_ROBIN", "random", " affinity"}) {
    absl::StatusOr<Strategy> parsed = ParseStrategy(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    for (const char* allowed :
         {"round_robin", "least_loaded", "capacity_based", "affinity", "adaptive"}) {
      EXPECT_THAT(parsed.status().message(), HasSubstr(allowed));
    }
  }
}

TEST(LoadBalancerTest, EmptyWorkersOrTasksGiveEmptyResult) {
  for (Strategy s : kAllStrategies) {
    LoadBalancer lb(s, /*affinity_enabled=*/true);
    EXPECT_THAT(lb.Assign({}, Tasks(3)), IsEmpty());
    EXPECT_THAT(lb.Assign({Worker("a", 1, 0)}, {}), IsEmpty());
    EXPECT_THAT(lb.Assign({}, {}), IsEmpty());
    EXPECT_EQ(lb.PickFor("a", {}, Tasks(3)), std::nullopt);
  }
}

TEST(LoadBalancerTest, RoundRobinSpreadsInIdOrder) {
  LoadBalancer lb(Strategy::kRoundRobin, false);
  // Given out of order and with different loads: round robin ignores load.
  std::vector<WorkerView> workers = {Worker("c", 10, 0), Worker("a", 10, 5), Worker("b", 10, 2)};
  std::vector<Assignment> got = lb.Assign(workers, Tasks(5));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].task_id, "t0");
  EXPECT_EQ(got[4].task_id, "t4");
  EXPECT_THAT(WorkerIds(got), ElementsAre("a", "b", "c", "a", "b"));
}

TEST(LoadBalancerTest, RoundRobinSkipsIneligibleWorkers) {
  LoadBalancer lb(Strategy::kRoundRobin, false);
  WorkerView sick = Worker("b", 10, 0);
  sick.healthy = false;
  std::vector<WorkerView> workers = {Worker("a", 10, 0), sick, Worker("c", 1, 1),
                                     Worker("d", 10, 0)};
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(4))), ElementsAre("a", "d", "a", "d"));
}

TEST(LoadBalancerTest, RoundRobinStopsGivingToWorkersThatFillUp) {
  LoadBalancer lb(Strategy::kRoundRobin, false);
  std::vector<WorkerView> workers = {Worker("a", 1, 0), Worker("b", 3, 0), Worker("c", 2, 0)};
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(7))),
              ElementsAre("a", "b", "c", "b", "c", "b", ""));
}

TEST(LoadBalancerTest, LeastLoadedPicksFewestActiveTasks) {
  LoadBalancer lb(Strategy::kLeastLoaded, false);
  std::vector<WorkerView> workers = {Worker("a", 10, 3), Worker("b", 10, 1), Worker("c", 2, 0)};
  // c (0) -> c now 1, ties b at 1 -> b by id -> c (1) vs b (2): c -> c is full; b (2) -> b (3)
  // ties a (3) -> a by id.
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(5))), ElementsAre("c", "b", "c", "b", "a"));
}

TEST(LoadBalancerTest, CapacityBasedPicksMostFreeSlots) {
  LoadBalancer lb(Strategy::kCapacityBased, false);
  // Free slots: a 2, b 4, c 4 (but c has the larger max_tasks), d 1.
  std::vector<WorkerView> workers = {Worker("a", 4, 2), Worker("b", 4, 0), Worker("c", 8, 4),
                                     Worker("d", 1, 0)};
  // c (4, max 8) beats b (4, max 4); then b 4 vs c 3 -> b; then b 3, c 3 -> c (max 8); ...
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(4))), ElementsAre("c", "b", "c", "b"));
}

TEST(LoadBalancerTest, AffinityStrategyPrefersHistoryThenLoadThenId) {
  LoadBalancer lb(Strategy::kAffinity, /*affinity_enabled=*/false);
  std::vector<WorkerView> workers = {
      Worker("a", 10, 0, {}, {{"render", 1}}),
      Worker("b", 10, 5, {}, {{"render", 7}}),
      Worker("c", 10, 2, {}, {{"render", 7}, {"encode", 9}}),
  };
  // b and c tie on history; c is less loaded.
  EXPECT_EQ(WorkerIds(lb.Assign(workers, {Task("r", "render")})), std::vector<std::string>{"c"});
  // No history for "parse" anywhere: least loaded.
  EXPECT_EQ(WorkerIds(lb.Assign(workers, {Task("p", "parse")})), std::vector<std::string>{"a"});
  // Equal history and load: lowest id.
  workers[1].active_tasks = 2;
  EXPECT_EQ(WorkerIds(lb.Assign(workers, {Task("r", "render")})), std::vector<std::string>{"b"});
}

TEST(LoadBalancerTest, AdaptiveRebalancesWhenUtilisationSpreadIsWide) {
  LoadBalancer lb(Strategy::kAdaptive, false);
  // Utilisation a 3/4, b 1/2: spread exactly 0.25 -> capacity based, even though a has history.
  std::vector<WorkerView> workers = {Worker("a", 4, 3, {}, {{"x", 5}}), Worker("b", 4, 2)};
  EXPECT_EQ(lb.PickFor("b", workers, {Task("t", "x")}), "t");
  // b 2/4 -> 3/4 after the first task: no spread any more, a's history wins the second task.
  EXPECT_THAT(WorkerIds(lb.Assign(workers, {Task("t1", "x", 0, 1), Task("t2", "x", 0, 2)})),
              ElementsAre("b", "a"));
}

TEST(LoadBalancerTest, AdaptiveUsesAffinityWhenBalancedAndHistoryExists) {
  LoadBalancer lb(Strategy::kAdaptive, false);
  // Utilisation a 0.2, b 0.3, c 0.4: spread 0.2 < 0.25.
  std::vector<WorkerView> workers = {Worker("a", 10, 2), Worker("b", 10, 3),
                                     Worker("c", 10, 4, {}, {{"x", 1}})};
  EXPECT_THAT(WorkerIds(lb.Assign(workers, {Task("t", "x")})), ElementsAre("c"));
}

TEST(LoadBalancerTest, AdaptiveFallsBackToRoundRobin) {
  LoadBalancer lb(Strategy::kAdaptive, false);
  std::vector<WorkerView> workers = {Worker("a", 10, 2), Worker("b", 10, 3), Worker("c", 10, 2)};
  // Balanced (spread stays below 0.25), no history: round robin from the first worker, ignoring
  // that b is the busiest.
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(4))), ElementsAre("a", "b", "c", "a"));
}

TEST(LoadBalancerTest, AdaptiveRoundRobinCursorMovesOnlyOnRoundRobinPicks) {
  LoadBalancer lb(Strategy::kAdaptive, false);
  std::vector<WorkerView> workers = {Worker("a", 10, 2), Worker("b", 10, 3), Worker("c", 10, 1)};
  // t0: spread 0.2, round robin -> a. t1: spread 0.2, round robin -> b (now 0.4).
  // t2: spread 0.3, capacity based -> c; the cursor stays on c. t3: spread 0.2, round robin -> c.
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(4))), ElementsAre("a", "b", "c", "c"));
}

TEST(LoadBalancerTest, TiesGoToLowestId) {
  for (Strategy s : kAllStrategies) {
    LoadBalancer lb(s, true);
    std::vector<WorkerView> workers = {Worker("w3", 4, 1, {}, {{"x", 2}}),
                                       Worker("w1", 4, 1, {}, {{"x", 2}}),
                                       Worker("w2", 4, 1, {}, {{"x", 2}})};
    EXPECT_THAT(WorkerIds(lb.Assign(workers, {Task("t", "x")})), ElementsAre("w1"))
        << StrategyName(s);
  }
}

TEST(LoadBalancerTest, ZeroCapacityWorkersNeverGetTasks) {
  for (Strategy s : kAllStrategies) {
    LoadBalancer lb(s, true);
    std::vector<WorkerView> workers = {Worker("a", 0, 0, {}, {{"x", 100}}), Worker("b", 5, 4)};
    EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(3, "x"))), ElementsAre("b", "", ""))
        << StrategyName(s);
    EXPECT_EQ(lb.PickFor("a", workers, Tasks(3, "x")), std::nullopt) << StrategyName(s);
  }
}

TEST(LoadBalancerTest, TasksWithNoCapableWorkerStayUnassigned) {
  for (Strategy s : kAllStrategies) {
    LoadBalancer lb(s, false);
    std::vector<WorkerView> workers = {Worker("cpu", 10, 0, {"compile", "test"}),
                                       Worker("gpu", 10, 0, {"render"})};
    std::vector<Assignment> got =
        lb.Assign(workers, {Task("a", "train", 0, 1), Task("b", "render", 0, 2),
                            Task("c", "test", 0, 3), Task("d", "", 0, 4)});
    ASSERT_EQ(got.size(), 4u) << StrategyName(s);
    EXPECT_EQ(got[0].task_id, "a");
    EXPECT_EQ(got[0].worker_id, "") << StrategyName(s);
    EXPECT_EQ(got[1].worker_id, "gpu") << StrategyName(s);
    EXPECT_EQ(got[2].worker_id, "cpu") << StrategyName(s);
    // The default type is supported by every worker.
    EXPECT_NE(got[3].worker_id, "") << StrategyName(s);
  }
}

TEST(LoadBalancerTest, WorkersWithNoSupportedTypesTakeEveryType) {
  LoadBalancer lb(Strategy::kLeastLoaded, false);
  std::vector<WorkerView> workers = {Worker("any", 10, 5), Worker("gpu", 10, 0, {"render"})};
  EXPECT_THAT(WorkerIds(lb.Assign(workers, {Task("t", "train")})), ElementsAre("any"));
  EXPECT_THAT(WorkerIds(lb.Assign(workers, {Task("t", "render")})), ElementsAre("gpu"));
}

TEST(LoadBalancerTest, UnhealthyWorkersAreExcluded) {
  for (Strategy s : kAllStrategies) {
    LoadBalancer lb(s, true);
    WorkerView sick = Worker("a", 100, 0, {}, {{"x", 50}});
    sick.healthy = false;
    std::vector<WorkerView> workers = {sick, Worker("b", 2, 1)};
    EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(2, "x"))), ElementsAre("b", ""))
        << StrategyName(s);
  }
}

TEST(LoadBalancerTest, AffinityEnabledRestrictsToAffineWorkersEvenWhenBusier) {
  LoadBalancer lb(Strategy::kLeastLoaded, /*affinity_enabled=*/true);
  std::vector<WorkerView> workers = {Worker("idle", 10, 0),
                                     Worker("busy", 3, 1, {}, {{"render", 4}})};
  // busy has history: it takes render tasks until it is full, then idle does.
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(3, "render"))),
              ElementsAre("busy", "busy", "idle"));
  // Other types are not restricted.
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(1, "encode"))), ElementsAre("idle"));
}

TEST(LoadBalancerTest, AffinityDisabledLetsLoadDecide) {
  LoadBalancer lb(Strategy::kLeastLoaded, /*affinity_enabled=*/false);
  std::vector<WorkerView> workers = {Worker("idle", 10, 0),
                                     Worker("busy", 3, 1, {}, {{"render", 4}})};
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(2, "render"))), ElementsAre("idle", "busy"));
}

TEST(LoadBalancerTest, AffinityRestrictionIgnoresUnhealthyAffineWorkers) {
  LoadBalancer lb(Strategy::kRoundRobin, /*affinity_enabled=*/true);
  WorkerView sick = Worker("a", 10, 0, {}, {{"render", 4}});
  sick.healthy = false;
  std::vector<WorkerView> workers = {sick, Worker("b", 10, 0), Worker("c", 10, 0)};
  EXPECT_THAT(WorkerIds(lb.Assign(workers, Tasks(2, "render"))), ElementsAre("b", "c"));
}

TEST(LoadBalancerTest, CapacityIsUpdatedWithinOneAssign) {
  for (Strategy s : kAllStrategies) {
    LoadBalancer lb(s, true);
    std::vector<WorkerView> workers = {Worker("a", 2, 1), Worker("b", 3, 2)};
    std::vector<Assignment> got = lb.Assign(workers, Tasks(3));
    ASSERT_EQ(got.size(), 3u);
    std::set<std::string> first_two = {got[0].worker_id, got[1].worker_id};
    EXPECT_EQ(first_two, (std::set<std::string>{"a", "b"})) << StrategyName(s);
    EXPECT_EQ(got[2].task_id, "t2");
    EXPECT_EQ(got[2].worker_id, "") << StrategyName(s);
  }
}

TEST(LoadBalancerTest, TasksAreProcessedByPriorityThenCreationOrder) {
  LoadBalancer lb(Strategy::kRoundRobin, false);
  std::vector<WorkerView> workers = {Worker("a", 1, 0), Worker("b", 1, 0)};
  std::vector<TaskView> tasks = {Task("old_low", "", 0, 1), Task("new_high", "", 5, 9),
                                 Task("old_high", "", 5, 3)};
  std::vector<Assignment> got = lb.Assign(workers, tasks);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].task_id, "old_high");
  EXPECT_EQ(got[0].worker_id, "a");
  EXPECT_EQ(got[1].task_id, "new_high");
  EXPECT_EQ(got[1].worker_id, "b");
  EXPECT_EQ(got[2].task_id, "old_low");
  EXPECT_EQ(got[2].worker_id, "");
}

TEST(LoadBalancerTest, ResultDoesNotDependOnInputOrder) {
  std::vector<WorkerView> workers = {Worker("a", 3, 1, {}, {{"x", 1}}), Worker("b", 4, 0),
                                     Worker("c", 2, 0, {"x"}), Worker("d", 5, 4)};
  std::vector<TaskView> tasks = {Task("t1", "x", 1, 1), Task("t2", "", 0, 2), Task("t3", "x", 0, 3),
                                 Task("t4", "y", 2, 4), Task("t5", "", 0, 5)};
  std::vector<WorkerView> workers_reversed(workers.rbegin(), workers.rend());
  std::vector<TaskView> tasks_reversed(tasks.rbegin(), tasks.rend());
  for (Strategy s : kAllStrategies) {
    for (bool affinity : {false, true}) {
      LoadBalancer lb(s, affinity);
      std::vector<Assignment> want = lb.Assign(workers, tasks);
      std::vector<Assignment> got = lb.Assign(workers_reversed, tasks_reversed);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].task_id, want[i].task_id) << StrategyName(s);
        EXPECT_EQ(got[i].worker_id, want[i].worker_id) << StrategyName(s);
      }
    }
  }
}

TEST(LoadBalancerTest, PickForReturnsFirstTaskGivenToTheWorker) {
  LoadBalancer lb(Strategy::kRoundRobin, false);
  std::vector<WorkerView> workers = {Worker("a", 5, 0), Worker("b", 5, 0)};
  EXPECT_EQ(lb.PickFor("a", workers, Tasks(4)), "t0");
  EXPECT_EQ(lb.PickFor("b", workers, Tasks(4)), "t1");
}

TEST(LoadBalancerTest, PickForWorkerThatGetsNothing) {
  LoadBalancer lb(Strategy::kLeastLoaded, false);
  // c supports only "gpu", and there is one default-type task which a (least loaded) takes.
  std::vector<WorkerView> workers = {Worker("a", 5, 0), Worker("b", 5, 3),
                                     Worker("c", 5, 0, {"gpu"})};
  std::vector<TaskView> tasks = {Task("t", "cpu")};
  EXPECT_EQ(lb.PickFor("a", workers, tasks), "t");
  EXPECT_EQ(lb.PickFor("b", workers, tasks), std::nullopt);
  EXPECT_EQ(lb.PickFor("c", workers, tasks), std::nullopt);
  EXPECT_EQ(lb.PickFor("unknown", workers, tasks), std::nullopt);
  EXPECT_EQ(lb.PickFor("", workers, tasks), std::nullopt);
}

// The point of the balancer: sidecars of different workers, computing on the same snapshot,
// hand their workers different tasks.
TEST(LoadBalancerTest, SidecarsOnTheSameSnapshotPickDifferentTasks) {
  std::vector<WorkerView> workers = {
      Worker("w1", 4, 1, {}, {{"render", 3}}),
      Worker("w2", 4, 0, {"encode", "render"}),
      Worker("w3", 5, 2),
      Worker("w4", 3, 0, {}, {{"encode", 1}}),
      Worker("w5", 4, 1, {}, {{"render", 1}}),
  };
  std::vector<TaskView> tasks;
  for (int i = 0; i < 10; ++i) {
    tasks.push_back(Task("task" + std::to_string(i),
                         i % 3 == 0 ? "render" : (i % 3 == 1 ? "encode" : ""), i % 4 == 0 ? 1 : 0,
                         100 + i));
  }
  for (Strategy s : kAllStrategies) {
    for (bool affinity : {false, true}) {
      LoadBalancer lb(s, affinity);
      std::optional<std::string> pick1 = lb.PickFor("w1", workers, tasks);
      std::optional<std::string> pick2 = lb.PickFor("w2", workers, tasks);
      ASSERT_TRUE(pick1.has_value()) << StrategyName(s) << " affinity=" << affinity;
      ASSERT_TRUE(pick2.has_value()) << StrategyName(s) << " affinity=" << affinity;
      EXPECT_NE(*pick1, *pick2) << StrategyName(s) << " affinity=" << affinity;

      // Every sidecar that gets a task gets its own.
      std::set<std::string> picked;
      int with_task = 0;
      for (const WorkerView& w : workers) {
        std::optional<std::string> pick = lb.PickFor(w.id, workers, tasks);
        if (!pick.has_value()) continue;
        ++with_task;
        picked.insert(*pick);
      }
      EXPECT_EQ(picked.size(), static_cast<size_t>(with_task))
          << StrategyName(s) << " affinity=" << affinity;
      // Affinity may keep a type on the workers that know it, so one worker can go without.
      EXPECT_GE(with_task, 4) << StrategyName(s) << " affinity=" << affinity;
    }
  }
}

// Without history, all five sidecars of an evenly loaded pool hand out five different tasks.
TEST(LoadBalancerTest, EverySidecarOfABalancedPoolPicksADifferentTask) {
  std::vector<WorkerView> workers;
  for (int i = 1; i <= 5; ++i) workers.push_back(Worker("w" + std::to_string(i), 2, i % 2));
  for (Strategy s : kAllStrategies) {
    for (bool affinity : {false, true}) {
      LoadBalancer lb(s, affinity);
      std::set<std::string> picked;
      for (const WorkerView& w : workers) {
        std::optional<std::string> pick = lb.PickFor(w.id, workers, Tasks(10));
        ASSERT_TRUE(pick.has_value()) << w.id << " " << StrategyName(s);
        picked.insert(*pick);
      }
      EXPECT_EQ(picked.size(), 5u) << StrategyName(s) << " affinity=" << affinity;
    }
  }
}

}  // namespace
}  // namespace tasksentinel
