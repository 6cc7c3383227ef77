// The task queue on GitHub: tasks are issues (task_issue.h); a task's lock is the claim protocol
// (claims.h) on its issue.
//
//   CreateTask   one POST: an issue labelled with the queue label (and type:NAME), its body the
//                text and a TASK record (priority, max_attempts, request_id). With a request_id,
//                a retry returns the first call's task, no POST (FindEarlier): a key this
//                sidecar created or saw on an open task within 24 hours (RequestIds) costs one
//                GET; an unknown key, the two conditional lists of open task issues that
//                NextTask makes anyway; only a key whose earlier create's answer was lost lists
//                every issue updated in the last 24 hours (open and closed). A new key thus never
//                lists closed issues.
//   NextTask     lists the open queued and in-progress issues (conditional GETs) and the
//                registry, lets LOAD_BALANCE_STRATEGY pick over the live workers (every sidecar
//                computes the same plan from the same view, so they prefer different tasks),
//                claims the pick (one POST, no pre-check: the labels say it is queued), and on
//                winning relabels the issue in-progress and records the attempt in ONE PATCH.
//                Losing costs the withdrawal; then the next candidate (at most
//                GitHubOptions::max_claims_per_next claims per attempt). At the queue's drain
//                (no more candidates than live workers, where plans a moment apart overlap) a
//                candidate the plan gives to another worker is left to it until it has stayed
//                so for a grace period (two poll intervals plus one claim settle delay per rank
//                of the own worker id among the live workers), and a
//                sidecar counts the tasks its worker finished within the settle delay as still
//                held, as others may still see them, so that two sidecars never both see
//                themselves as the less loaded one.
//   CompleteTask fencing check (claims listed afresh), then ONE PATCH closes the issue with the
//                done label and the result appended to its body. The claim stays as the record
//                of who did the work.
//   FailTask     fencing check; the claim is edited into a LOCK_RELEASED record (the error and
//                the retry time) and the issue relabelled queued (with the backoff in its
//                record) or closed as dead-letter when no attempt is left.
// Budget per task life (create, hand-out, completion): 3 writes, plus conditional lists.
//
// A task in progress whose worker's lease lapsed is orphaned: after LOCK_DELAY_MS it is a
// candidate again, and the claim protocol lets exactly one sidecar win it (its claim says whose
// lease lapsed when). The lost attempt counts; an orphan with no attempt left is dead-lettered.
// Attempts are counted in the TASK record by the PATCH that hands the task out.
//
// Why it is safe: only a claim that wins (the lowest live claim) leads to a hand-out, and only
// the holder that still passes the fencing check can complete or fail the task, so under read
// lag two workers may briefly run one task but only one finishes it. Labels are written as a
// whole set computed from the issue as last read, keeping every label that is not a state label.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_GITHUB_TASKS_H_
#define TASK_SENTINEL_CORE_GITHUB_GITHUB_TASKS_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/github/claims.h"
#include "core/github/closed_task_tally.h"
#include "core/event_sink.h"
#include "core/github/github_context.h"
#include "core/github/registry.h"
#include "core/github/request_ids.h"
#include "core/github/task_issue.h"
#include "core/model.h"

namespace tasksentinel::github {

class GitHubTasks {
 public:
  // Tasks for the worker whose lease `registry` keeps, locked through `locks` (both must outlive
  // this).
  GitHubTasks(const GitHubContext& ctx, Registry* registry, LockProtocol* locks);

  // TaskQueue's contract (core/task_queue.h), with the same validation.
  absl::StatusOr<TaskRecord> Create(const NewTask& task);
  absl::StatusOr<std::optional<HandedOutTask>> Next(const std::vector<std::string>& types,
                                                    absl::Duration wait_timeout,
                                                    const std::function<bool()>& cancelled);
  absl::StatusOr<TaskRecord> Complete(const std::string& id, uint64_t token,
                                      const std::string& result);
  absl::StatusOr<TaskRecord> Fail(const std::string& id, uint64_t token, const std::string& error,
                                  bool retryable);
  absl::StatusOr<TaskRecord> Get(const std::string& id);

  // Tasks by effective state (an in-progress task whose worker's lease lapsed counts as
  // queued). Lists the open queued, open in-progress, closed done and closed dead-letter issues.
  absl::StatusOr<TaskCounts> Count();

  // In-progress tasks per worker whose lease is live (the load a worker carries).
  absl::StatusOr<std::map<std::string, uint32_t>> ActiveByWorker();

  // The open in-progress issues (the sites of task locks, for ListLocks).
  absl::StatusOr<std::vector<Issue>> InProgress();

  // After this worker released task `number`'s lock itself (ReleaseLock): the task goes back to
  // the queue, one PATCH. No-op unless the issue is in progress under `token`.
  absl::Status Requeue(int64_t number, uint64_t token);

 private:
  // Reports a task event (event_sink.h) about `task`, naming the worker of its previous
  // attempt.
  void ReportTaskEvent(EventKind kind, const TaskRecord& task, const std::string& previous_worker,
                       const std::string& result);
  // A task being completed or failed under its lock.
  struct Finishing {
    Issue issue;
    JudgedClaim claim;  // the live claim the token names
    TaskIssue task;
  };
  // CompleteTask's and FailTask's common start: loads task `id`, marks its lock releasing, and
  // checks that `token` is this worker's live hold of it (fencing) and that the task was handed
  // out (not just locked). On error the mark is undone.
  absl::StatusOr<Finishing> BeginFinish(const std::string& id, uint64_t token);
  // The issue of task `id` (fresh, or our own latest write of it when `prefer_cached_token`
  // matches its record); NOT_FOUND when `id` names no task.
  absl::StatusOr<Issue> LoadTask(const std::string& id, uint64_t prefer_cached_token);
  // The open issues labelled `label` that the intake policy admits; notes the request_ids of
  // the task issues among them (request_ids_).
  absl::StatusOr<std::vector<Issue>> ListOpen(const std::string& label);
  // The task an earlier CreateTask with idempotency key `request_id` created, as far as this
  // sidecar can tell (see the file comment, CreateTask); nullopt when none is found.
  absl::StatusOr<std::optional<TaskRecord>> FindEarlier(const std::string& request_id);
  // The task issue (open or closed, updated within the last 24 hours) whose TASK record carries
  // CreateTask idempotency key `request_id`, the oldest if several; nullopt when none. One list
  // of every issue updated in that window: only for a key whose create's answer was lost.
  absl::StatusOr<std::optional<Issue>> FindByRequestId(const std::string& request_id);
  // Whether the latest list of `issue`'s comments (the one our claim `token` on lock `name` won
  // in) shows a later claim on that lock by another worker. No request.
  bool ContendedAfter(int64_t issue, const std::string& name, uint64_t token);
  uint32_t MaxAttempts() const;
  // Whether the intake policy (SENTINEL_TASK_INTAKE) lets `issue` be a task.
  bool Admitted(const Issue& issue) const;
  // Reads a task issue, its TASK record screened (trust.h).
  TaskIssue ReadTask(const Issue& issue) const;
  // Notes that this worker finished a task now (see RecentlyFinished).
  void NoteFinished() ABSL_LOCKS_EXCLUDED(mu_);
  // How many tasks this worker finished within the last GITHUB_CLAIM_SETTLE_MS (local clock):
  // other sidecars may not see those ends yet and count them as still held.
  uint32_t RecentlyFinished(absl::Time local_now) ABSL_LOCKS_EXCLUDED(mu_);
  // Records `plan` (task -> planned worker, "" for none) as seen at `local_now` and returns the
  // tasks planned for one and the same other worker for at least `grace` in a row: that worker
  // is not taking them.
  std::set<std::string> Overdue(const std::map<std::string, std::string>& plan,
                                absl::Time local_now, absl::Duration grace)
      ABSL_LOCKS_EXCLUDED(mu_);

  GitHubContext ctx_;
  Registry* const registry_;
  LockProtocol* const locks_;
  const TaskLabels labels_;
  // Closed tasks are counted incrementally, never listed in full again.
  ClosedTaskTally done_tally_;
  ClosedTaskTally dead_letter_tally_;
  // The CreateTask request_ids this sidecar created or saw on open tasks (FindEarlier).
  RequestIds request_ids_;
  absl::Mutex mu_;
  std::vector<absl::Time> finished_ ABSL_GUARDED_BY(mu_);  // local times, ascending
  // Task -> (the other worker the plan gives it to, since when on the local clock).
  std::map<std::string, std::pair<std::string, absl::Time>> planned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_GITHUB_TASKS_H_
