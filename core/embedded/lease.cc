// Worker leases (see lease.h).
#include "core/embedded/lease.h"

namespace tasksentinel {

bool LeaseLive(const WorkerRecord& worker, absl::Time now) {
  return worker.state == WorkerState::kActive && now < worker.lease_expires_at;
}

absl::StatusOr<WorkerRecord> EnsureLease(Transaction& txn, const Config& config, absl::Time now) {
  absl::StatusOr<std::optional<WorkerRecord>> existing = ReadWorker(txn, config.worker_id);
  if (!existing.ok()) return existing.status();
  if (existing->has_value() && LeaseLive(**existing, now)) return **existing;

  WorkerRecord w;
  if (existing->has_value()) {
    w = **existing;  // keeps registered_at, epoch and affinity history
  } else {
    w.id = config.worker_id;
    w.registered_at = now;
  }
  w.hostname = config.hostname;
  w.state = WorkerState::kActive;
  w.health = Health::kHealthy;
  w.epoch += 1;
  w.epoch_started_at = now;
  w.last_heartbeat = now;
  w.lease_expires_at = now + config.stale_threshold;
  w.max_tasks = config.max_tasks;
  w.supported_task_types = config.supported_task_types;
  w.reported_active_tasks.clear();
  w.cpu_cores = config.cpu_cores;
  w.memory_mb = config.memory_mb;
  if (absl::Status s = txn.Put(WorkerKey(w.id), Encode(w)); !s.ok()) return s;
  return w;
}

}  // namespace tasksentinel
