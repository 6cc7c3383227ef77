// The cluster's health summary (see cluster_summary.h).
#include "core/cluster_summary.h"

#include <utility>

namespace tasksentinel {

ClusterHealth SummarizeCluster(std::vector<WorkerInfo> workers, const TaskCounts& tasks) {
  ClusterHealth h;
  h.tasks = tasks;
  bool impaired = false;
  for (const WorkerInfo& w : workers) {
    ++h.total_workers;
    if (w.status == WorkerStatus::kStale) {
      ++h.stale_workers;
      impaired = true;
      continue;
    }
    h.total_capacity += w.record.max_tasks;
    h.used_capacity += w.active_tasks;
    if (w.record.health == Health::kHealthy) {
      ++h.healthy_workers;
    } else {
      impaired = true;
    }
  }
  h.status = h.healthy_workers == 0 ? ClusterStatus::kUnhealthy
             : impaired             ? ClusterStatus::kDegraded
                                    : ClusterStatus::kHealthy;
  h.workers = std::move(workers);
  return h;
}

}  // namespace tasksentinel
