// Worker: the worker loop every Task Sentinel worker needs, done once. It heartbeats at the
// interval the sidecar announces (HEARTBEAT_INTERVAL_MS), pulls tasks with NextTask (the gRPC
// deadline is the wait plus the call timeout), runs the handler on each, and finishes the task
// with CompleteTask (the handler's result) or FailTask (its error; retryable unless it is a
// PermanentError). When a heartbeat reports the task's lock lost (the lease lapsed, say), the
// task's Job is cancelled: the handler should stop (its result would be refused anyway) and the
// worker does not finish the task; the sidecars hand it out again.
//
// While the sidecar is unreachable (restarting), calls fail with UNAVAILABLE; the worker retries
// them with backoff and carries on when it is back.
//
// Thread safety: Run is called once; Stop may be called from any thread (a signal handler must
// not: call it from a thread that waits for the signal).
#ifndef TASK_SENTINEL_CLIENTS_CPP_WORKER_H_
#define TASK_SENTINEL_CLIENTS_CPP_WORKER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/cpp/client.h"

namespace tasksentinel::client {

// One task being worked on.
class Job {
 public:
  Job(v1::Task task, v1::Lock lock) : task_(std::move(task)), lock_(std::move(lock)) {}

  const v1::Task& task() const { return task_; }
  // The task's lock; lock().fencing_token() fences writes made for this attempt.
  const v1::Lock& lock() const { return lock_; }
  // Whether the lock was lost: stop working, the result would be refused.
  bool cancelled() const;
  // Waits up to `timeout` for cancellation; true when cancelled. For handlers that wait.
  bool WaitCancelled(absl::Duration timeout) const;

  // Marks the job cancelled (the worker does, when its lock is lost).
  void Cancel();

 private:
  const v1::Task task_;
  const v1::Lock lock_;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// The handler: the task's result, or an error that fails the attempt.
using Handler = std::function<absl::StatusOr<std::string>(Job& job)>;

// An error that fails the task for good (FailTask with retryable = false): the task is
// dead-lettered instead of retried.
absl::Status PermanentError(absl::string_view message);
bool IsPermanentError(const absl::Status& status);

struct WorkerOptions {
  // Tasks handled at once (each on its own thread); at most the sidecar's WORKER_MAX_TASKS.
  int concurrency = 1;
  // How long one NextTask waits for a task. Stop takes effect within it.
  absl::Duration poll_wait = absl::Seconds(5);
  // Only these task types (empty: every type the sidecar's worker supports).
  std::vector<std::string> task_types;
  // Stop after this many tasks (0: no limit).
  int max_tasks = 0;
  // Stop when a NextTask finds the queue empty.
  bool until_idle = false;
};

class Worker {
 public:
  // `client` must outlive the worker.
  explicit Worker(Client* client, WorkerOptions options = {});

  // Runs the loop until Stop, max_tasks, or an empty queue with until_idle; returns OK then, or
  // the error that stopped it (for instance INVALID_ARGUMENT for task types the sidecar's worker
  // does not support). Returns only when no handler is running.
  absl::Status Run(const Handler& handler);

  // Asks Run to return: no new task is taken; running handlers finish.
  void Stop();

  // Cancels every running job (their handlers should return at once); their tasks are not
  // finished by this worker, and go back to the queue once their locks are released or lapse.
  void CancelAll();

  // Tasks finished so far (completed or failed; not those whose lock was lost).
  int finished() const { return finished_.load(); }

 private:
  void HeartbeatLoop();
  // Checks every running job's lock (RenewLock); cancels the jobs whose lock is gone.
  void VerifyLocks();
  absl::Status TaskLoop(const Handler& handler);
  void Finish(Job& job, const absl::StatusOr<std::string>& outcome);
  // Sleeps up to `d`; false when stopping.
  bool Pause(absl::Duration d);

  Client* const client_;
  const WorkerOptions options_;
  std::atomic<int> finished_{0};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int taken_ ABSL_GUARDED_BY(mu_) = 0;
  // Running jobs by (task id, fencing token): a task whose lock lapsed may be handed to this
  // worker again while its first attempt still runs.
  std::map<std::pair<std::string, uint64_t>, std::shared_ptr<Job>> active_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel::client

#endif  // TASK_SENTINEL_CLIENTS_CPP_WORKER_H_
