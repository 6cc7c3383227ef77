// The cluster as seen from the store (see cluster_view.h).
#include "core/embedded/cluster_view.h"

#include <map>

#include "core/cluster_summary.h"
#include "core/embedded/lease.h"
#include "core/embedded/open_tasks.h"

namespace tasksentinel {

absl::StatusOr<std::vector<WorkerInfo>> ClusterView::Workers(bool include_gone) {
  const absl::Time now = ctx_.clock->Now();
  std::vector<WorkerInfo> out;
  absl::Status status = ctx_.store->Read([&](Transaction& txn) -> absl::Status {
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
  if (ctx_.stale != nullptr) ctx_.stale->Observe(out);
  return out;
}

absl::StatusOr<ClusterHealth> ClusterView::Health() {
  absl::StatusOr<std::vector<WorkerInfo>> workers = Workers(/*include_gone=*/false);
  if (!workers.ok()) return workers.status();
  absl::StatusOr<TaskCounts> tasks = queue_.Count();
  if (!tasks.ok()) return tasks.status();
  return SummarizeCluster(*std::move(workers), *tasks);
}

}  // namespace tasksentinel
