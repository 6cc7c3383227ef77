// The open tasks (queued or in progress) as they stand at one moment: each in-progress task is
// judged by its lock, so a task whose worker died reads as orphaned (and runnable again once
// the lock-delay has passed). Shared by NextTask, the task counts and the cluster view.
//
// Thread safety: functions of a Transaction.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_OPEN_TASKS_H_
#define TASK_SENTINEL_CORE_EMBEDDED_OPEN_TASKS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/embedded/records.h"
#include "core/embedded/store.h"

namespace tasksentinel {

// One open task with its effective state.
struct ScannedTask {
  TaskRecord task;
  bool runnable = false;    // may be handed out now
  bool orphaned = false;    // in progress, but its lock lapsed or was released
  std::string live_holder;  // in progress under a live lock: who holds it
};

// Every registered worker, by id.
absl::StatusOr<std::map<std::string, WorkerRecord>> ScanWorkers(Transaction& txn);

// Every open task, judged at `now` against `workers`.
absl::StatusOr<std::vector<ScannedTask>> ScanOpenTasks(
    Transaction& txn, const std::map<std::string, WorkerRecord>& workers, absl::Time now,
    absl::Duration lock_delay);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_OPEN_TASKS_H_
