// The cluster's health summary from its workers and task counts, the same on both backends
// (GetClusterHealth, GET /cluster/health).
//
// Thread safety: a pure function.
#ifndef TASK_SENTINEL_CORE_CLUSTER_SUMMARY_H_
#define TASK_SENTINEL_CORE_CLUSTER_SUMMARY_H_

#include <vector>

#include "core/model.h"

namespace tasksentinel {

// The cluster's health from its registered (non-departed) workers and task counts: healthy when
// every worker is live and reports healthy, degraded when some are stale or impaired, unhealthy
// with no healthy worker.
ClusterHealth SummarizeCluster(std::vector<WorkerInfo> workers, const TaskCounts& tasks);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_CLUSTER_SUMMARY_H_
