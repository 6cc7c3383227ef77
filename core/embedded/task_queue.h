// The task queue: producers create tasks; a worker's NextTask picks one with the load balancer
// and hands it out already locked for the worker (the seed's flow: pick, lock, hand out), in one
// transaction; CompleteTask and FailTask check the lock's fencing token, so a worker that lost
// its lock cannot finish the task. Failed attempts are retried with exponential backoff up to the
// task's maximum attempts, then dead-lettered. A task whose worker's lock lapsed (the worker
// died) goes back to the queue once the lock-delay has passed; the lost attempt counts.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_TASK_QUEUE_H_
#define TASK_SENTINEL_CORE_EMBEDDED_TASK_QUEUE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "core/embedded/context.h"
#include "core/embedded/lock_table.h"
#include "core/embedded/records.h"

namespace tasksentinel {

class TaskQueue {
 public:
  explicit TaskQueue(const Context& ctx);

  // Enqueues a task. INVALID_ARGUMENT for bad input.
  absl::StatusOr<TaskRecord> Create(const NewTask& task);

  // Hands the worker its next task, locked for it, waiting up to `wait_timeout`; nullopt when
  // none. `types` narrows the worker's supported types (empty: all of them).
  absl::StatusOr<std::optional<HandedOutTask>> Next(const std::vector<std::string>& types,
                                                    absl::Duration wait_timeout,
                                                    const std::function<bool()>& cancelled);

  // Marks the task done and releases its lock. FAILED_PRECONDITION unless `token` is the task's
  // live lock held by this worker; NOT_FOUND for an unknown task.
  absl::StatusOr<TaskRecord> Complete(const std::string& id, uint64_t token,
                                      const std::string& result);

  // Records a failed attempt: re-queued with backoff while attempts remain and the failure is
  // retryable, dead-lettered otherwise. Token checks as for Complete.
  absl::StatusOr<TaskRecord> Fail(const std::string& id, uint64_t token, const std::string& error,
                                  bool retryable);

  absl::StatusOr<TaskRecord> Get(const std::string& id);

  // Counts tasks by effective state (an in-progress task whose lock lapsed counts as queued).
  absl::StatusOr<TaskCounts> Count();

 private:
  // Checks the fence and the task for Complete/Fail; returns the task.
  absl::StatusOr<TaskRecord> LoadForFinish(Transaction& txn, const std::string& id,
                                           uint64_t token, absl::Time now);

  Context ctx_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_TASK_QUEUE_H_
