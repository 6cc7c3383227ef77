// Open tasks judged by their locks (see open_tasks.h).
#include "core/embedded/open_tasks.h"

#include "core/embedded/lock_table.h"

namespace tasksentinel {

absl::StatusOr<std::vector<ScannedTask>> ScanOpenTasks(
    Transaction& txn, const std::map<std::string, WorkerRecord>& workers, absl::Time now,
    absl::Duration lock_delay) {
  absl::StatusOr<std::vector<TaskRecord>> open = ReadOpenTasks(txn);
  if (!open.ok()) return open.status();
  std::vector<ScannedTask> out;
  out.reserve(open->size());
  for (TaskRecord& task : *open) {
    ScannedTask s{std::move(task)};
    if (s.task.state == TaskState::kQueued) {
      // A task due at its creation (not a retry waiting out its backoff) is runnable as soon as
      // it is committed, whatever the clock says: a NextTask that starts after CreateTask
      // returned always sees it, even if the wall clock stepped back in between.
      s.runnable = now >= s.task.not_before || s.task.not_before <= s.task.created_at;
    } else if (s.task.state == TaskState::kInProgress) {
      absl::StatusOr<std::optional<LockRecord>> lock = ReadLock(txn, s.task.id);
      if (!lock.ok()) return lock.status();
      if (lock->has_value()) {
        std::optional<WorkerRecord> holder;
        auto it = workers.find((*lock)->holder);
        if (it != workers.end()) holder = it->second;
        const LockJudgement j = JudgeLock(**lock, holder, now, lock_delay);
        if (j.live && (*lock)->token == s.task.lock_token) {
          s.live_holder = (*lock)->holder;
        } else if (!j.live) {
          s.orphaned = true;
          s.runnable = now >= j.available_at;
        }
        // Live under another token: someone locked the task's name directly; not runnable.
      } else {
        s.orphaned = true;
        s.runnable = true;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::map<std::string, WorkerRecord>> ScanWorkers(Transaction& txn) {
  auto rows = txn.Scan(kWorkerPrefix);
  if (!rows.ok()) return rows.status();
  std::map<std::string, WorkerRecord> out;
  for (const auto& [key, value] : *rows) {
    absl::StatusOr<WorkerRecord> w = DecodeWorker(value);
    if (!w.ok()) return w.status();
    out.emplace(w->id, *std::move(w));
  }
  return out;
}

}  // namespace tasksentinel
