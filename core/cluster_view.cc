// The cluster as seen from the store (see cluster_view.h).
#include "core/cluster_view.h"

#include <map>

#include "core/lease.h"
#include "core/open_tasks.h"

namespace tasksentinel {

absl::StatusOr<std::vector<WorkerInfo>> ClusterView::Workers(bool include_gone) {
  const absl::Time now = ctx_.clock->Now();
  std::vector<WorkerInfo> out;
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    out.clear();
    absl::StatusOr<std::map<std::string, WorkerRecord>> workers = ScanWorkers(txn);
    if (!workers.ok()) return workers.status();
    const std::map<std::string, WorkerRecord>& by_id = *workers;
    // Live task locks per worker.
    std::map<std::string, uint32_t> active;
    absl::StatusOr<std::vector<ScannedTask>> tasks =
        ScanOpenTasks(txn, by_id, now, ctx_.config->lock_delay);
    if (!tasks.ok()) return tasks.status();
    for (const ScannedTask& t : *tasks) {
      if (!t.live_holder.empty()) ++active[t.live_holder];
    }
    for (const auto& [id, w] : by_id) {
      WorkerInfo info{w};
      info.status = w.state == WorkerState::kGone ? WorkerStatus::kGone
                    : LeaseLive(w, now)          ? WorkerStatus::kActive
                                                 : WorkerStatus::kStale;
      if (info.status == WorkerStatus::kGone && !include_gone) continue;
      info.active_tasks = active[id];
      out.push_back(std::move(info));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<ClusterHealth> ClusterView::Health() {
  absl::StatusOr<std::vector<WorkerInfo>> workers = Workers(/*include_gone=*/false);
  if (!workers.ok()) return workers.status();
  absl::StatusOr<TaskCounts> tasks = queue_.Count();
  if (!tasks.ok()) return tasks.status();
  return SummarizeCluster(*std::move(workers), *tasks);
}

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
