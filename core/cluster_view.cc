// The cluster as seen from the store (see cluster_view.h).
#include "core/cluster_view.h"

#include <map>

#include "core/lease.h"
#include "core/lock_table.h"

namespace tasksentinel {

absl::StatusOr<std::vector<WorkerInfo>> ClusterView::Workers(bool include_gone) {
  const absl::Time now = ctx_.clock->Now();
  std::vector<WorkerInfo> out;
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    out.clear();
    auto workers = txn.Scan(kWorkerPrefix);
    if (!workers.ok()) return workers.status();
    std::map<std::string, WorkerRecord> by_id;
    for (const auto& [key, value] : *workers) {
      absl::StatusOr<WorkerRecord> w = DecodeWorker(value);
      if (!w.ok()) return w.status();
      by_id.emplace(w->id, *std::move(w));
    }
    // Live task locks per worker.
    std::map<std::string, uint32_t> active;
    auto tasks = txn.Scan(kTaskPrefix);
    if (!tasks.ok()) return tasks.status();
    for (const auto& [key, value] : *tasks) {
      absl::StatusOr<TaskRecord> task = DecodeTask(value);
      if (!task.ok()) return task.status();
      if (task->state != TaskState::kInProgress) continue;
      absl::StatusOr<std::optional<LockRecord>> lock = ReadLock(txn, task->id);
      if (!lock.ok()) return lock.status();
      if (!lock->has_value() || (*lock)->token != task->lock_token) continue;
      auto holder = by_id.find((*lock)->holder);
      if (holder == by_id.end()) continue;
      if (JudgeLock(**lock, holder->second, now, ctx_.config->lock_delay).live) {
        ++active[holder->first];
      }
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
  ClusterHealth h;
  h.tasks = *tasks;
  bool impaired = false;
  for (const WorkerInfo& w : *workers) {
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
  h.workers = *std::move(workers);
  return h;
}

}  // namespace tasksentinel
