// Load balancing: which queued task each worker should take.
//
// Every worker's sidecar runs the same deterministic, stateless algorithm over the same snapshot
// of workers and queued tasks (read from the Store), so that all sidecars agree on one plan
// without talking to each other: LoadBalancer::Assign maps every task to at most one worker, and
// a sidecar hands its own worker the first task the plan gives it (LoadBalancer::PickFor).
// Because each task goes to one worker only, sidecars computing on the same snapshot pick
// different tasks and the workers spread over the queue. (Locking the picked task is still
// required; the plan only makes collisions rare.)
//
// The algorithm, for each task in order (priority descending, then creation order):
//   1. keep the workers that support the task's type;
//   2. drop unhealthy workers and workers with no free slot (active_tasks >= max_tasks);
//   3. with affinity enabled, if some remaining worker has completed tasks of this type, keep
//      only those workers;
//   4. rank the remaining workers by the strategy;
//   5. give the task to the best one (ties broken by worker id ascending);
//   6. count the task against that worker's capacity for the rest of the run.
//
// Thread safety: LoadBalancer is immutable after construction; its const methods may be called
// concurrently from any number of threads. ParseStrategy and StrategyName are thread-safe.
#ifndef TASK_SENTINEL_CORE_LOAD_BALANCER_H_
#define TASK_SENTINEL_CORE_LOAD_BALANCER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasksentinel {

// How the balancer ranks the eligible workers for a task.
enum class Strategy {
  // A cursor over all workers (sorted by id) starting at the first one for each Assign call;
  // each task goes to the next eligible worker at or after the cursor (wrapping around), and the
  // cursor moves just past the chosen worker.
  kRoundRobin,
  // Fewest active tasks; ties by worker id.
  kLeastLoaded,
  // Most free slots (max_tasks - active_tasks); ties by larger max_tasks, then worker id.
  kCapacityBased,
  // Most completed tasks of the task's type (type_history), then fewest active tasks, then id.
  kAffinity,
  // Chooses per task among the others from the eligible workers' utilisation
  // (active_tasks / max_tasks): when the spread (highest minus lowest utilisation) is at least
  // 0.25 it acts as kCapacityBased, to rebalance; otherwise, when some eligible worker has
  // completed tasks of this type, as kAffinity; otherwise as kRoundRobin (sharing the round-robin
  // cursor, which only moves on round-robin picks).
  kAdaptive,
};

// Parses a strategy name: "round_robin", "least_loaded", "capacity_based", "affinity" or
// "adaptive" (exact, lowercase). Any other name is INVALID_ARGUMENT naming the allowed values.
absl::StatusOr<Strategy> ParseStrategy(absl::string_view name);

// The name ParseStrategy accepts for `strategy`, e.g. "round_robin".
absl::string_view StrategyName(Strategy strategy);

// What the balancer knows of one worker. Worker ids are unique within a snapshot.
struct WorkerView {
  // The worker's id.
  std::string id;
  // False when the worker's lease lapsed or it reports itself unhealthy or degraded; such a
  // worker gets no task.
  bool healthy = true;
  // How many tasks the worker may hold at once. A worker with 0 never gets a task.
  uint32_t max_tasks = 0;
  // How many tasks the worker holds now.
  uint32_t active_tasks = 0;
  // The task types the worker supports; empty means every type.
  std::vector<std::string> supported_types;
  // How many tasks of each type the worker has completed (used for affinity).
  std::map<std::string, uint32_t> type_history;
};

// What the balancer knows of one queued task.
struct TaskView {
  // The task's id.
  std::string id;
  // The task's type; "" is the default type, which every worker supports.
  std::string type;
  // Higher priorities are assigned first.
  int32_t priority = 0;
  // Creation order; among equal priorities, earlier tasks are assigned first.
  uint64_t seq = 0;
};

// The balancer's decision for one task.
struct Assignment {
  // The task's id.
  std::string task_id;
  // The worker that should take the task; empty when no worker can take it.
  std::string worker_id;
};

// Decides which worker takes which task; see the comment at the top of this file.
class LoadBalancer {
 public:
  // A balancer ranking workers by `strategy`. With `affinity_enabled`, step 3 of the algorithm
  // (restricting a task to the workers that have completed its type, when any eligible worker
  // has) applies under every strategy.
  LoadBalancer(Strategy strategy, bool affinity_enabled);

  // The strategy this balancer ranks workers by.
  Strategy strategy() const { return strategy_; }

  // Whether the affinity restriction (step 3) applies.
  bool affinity_enabled() const { return affinity_enabled_; }

  // Runs the algorithm over `tasks`, sorted by priority descending, then seq ascending, then id
  // ascending (callers should pass them sorted; they are re-sorted defensively). Returns one
  // Assignment per task, in that processed order, with an empty worker_id for a task no worker
  // can take. Returns an empty vector when `workers` or `tasks` is empty. Deterministic: the
  // same snapshot gives the same result on every sidecar, whatever the order of `workers`.
  std::vector<Assignment> Assign(std::vector<WorkerView> workers,
                                 std::vector<TaskView> tasks) const;

  // The id of the first task (in Assign's order) that Assign gives to `worker_id`, or nullopt
  // when it gives that worker none.
  std::optional<std::string> PickFor(absl::string_view worker_id,
                                     const std::vector<WorkerView>& workers,
                                     const std::vector<TaskView>& tasks) const;

 private:
  Strategy strategy_;
  bool affinity_enabled_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_LOAD_BALANCER_H_
