// The cluster as seen from the store: registered workers with their lease state and load, and
// the cluster's health summary (GetClusterHealth, ListWorkers, GET /cluster/health).
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_CLUSTER_VIEW_H_
#define TASK_SENTINEL_CORE_CLUSTER_VIEW_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/context.h"
#include "core/records.h"
#include "core/task_queue.h"

namespace tasksentinel {

enum class WorkerStatus { kActive, kStale, kGone };

struct WorkerInfo {
  WorkerRecord record;
  WorkerStatus status = WorkerStatus::kActive;
  uint32_t active_tasks = 0;  // live task locks
};

enum class ClusterStatus { kHealthy, kDegraded, kUnhealthy };

struct ClusterHealth {
  ClusterStatus status = ClusterStatus::kUnhealthy;
  uint32_t total_workers = 0;    // active + stale
  uint32_t healthy_workers = 0;  // active and reporting healthy
  uint32_t stale_workers = 0;
  uint32_t total_capacity = 0;
  uint32_t used_capacity = 0;
  TaskCounts tasks;
  std::vector<WorkerInfo> workers;
};

// The cluster's health from its registered (non-departed) workers and task counts: healthy when
// every worker is live and reports healthy, degraded when some are stale or impaired, unhealthy
// with no healthy worker.
ClusterHealth SummarizeCluster(std::vector<WorkerInfo> workers, const TaskCounts& tasks);

class ClusterView {
 public:
  explicit ClusterView(const Context& ctx) : ctx_(ctx), queue_(ctx) {}

  // Registered workers by id; departed ones only with `include_gone`.
  absl::StatusOr<std::vector<WorkerInfo>> Workers(bool include_gone);

  absl::StatusOr<ClusterHealth> Health();

 private:
  Context ctx_;
  TaskQueue queue_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_CLUSTER_VIEW_H_
