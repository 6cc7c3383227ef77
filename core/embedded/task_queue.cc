// The task queue (see task_queue.h).
#include "core/embedded/task_queue.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/embedded/lease.h"
#include "core/event_sink.h"
#include "core/embedded/open_tasks.h"
#include "core/task_types.h"
#include "core/load_balancer.h"
#include "core/notifier.h"
#include "core/validation.h"
#include "core/error_reason.h"

namespace tasksentinel {
namespace {

constexpr absl::Duration kMaxBackoff = absl::Hours(1);

}  // namespace

TaskQueue::TaskQueue(const Context& ctx) : ctx_(ctx) {}

absl::StatusOr<TaskRecord> TaskQueue::Create(const NewTask& t) {
  if (absl::Status s = ValidateNewTask(t); !s.ok()) return s;
  TaskRecord rec;
  bool replayed = false;
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    // Read in the transaction, so creation times follow commit order (see Next).
    const absl::Time now = ctx_.clock->Now();
    replayed = false;
    // An idempotency key seen before names the task its first call created: return that one.
    // The key is written in the same transaction as the task, so a retry after any failure
    // either finds both or neither.
    const std::string request_key = absl::StrCat("request/", t.request_id);
    if (!t.request_id.empty()) {
      absl::StatusOr<std::optional<std::string>> earlier = txn.Get(request_key);
      if (!earlier.ok()) return earlier.status();
      if (earlier->has_value()) {
        absl::StatusOr<std::optional<TaskRecord>> task = ReadTask(txn, **earlier);
        if (!task.ok()) return task.status();
        if (!task->has_value()) {
          return absl::InternalError(absl::StrCat("request_id ", t.request_id, " names task ",
                                                  **earlier, ", which does not exist"));
        }
        rec = **task;
        replayed = true;
        return absl::OkStatus();
      }
    }
    absl::StatusOr<uint64_t> seq = NextCounter(txn, "meta/task_seq");
    if (!seq.ok()) return seq.status();
    rec.id = absl::StrCat("task-", *seq);
    rec.seq = *seq;
    rec.title = t.title;
    rec.body = t.body;
    rec.type = t.type;
    rec.priority = t.priority;
    rec.state = TaskState::kQueued;
    rec.max_attempts = t.max_attempts != 0 ? t.max_attempts : ctx_.config->task_max_attempts;
    rec.created_at = now;
    rec.updated_at = now;
    rec.not_before = now;
    if (!t.request_id.empty()) {
      if (absl::Status s = txn.Put(request_key, rec.id); !s.ok()) return s;
    }
    return WriteTask(txn, rec, std::nullopt);
  });
  if (!status.ok()) return status;
  if (!replayed) ctx_.notifier->Notify();
  return rec;
}

absl::StatusOr<std::optional<HandedOutTask>> TaskQueue::Next(
    const std::vector<std::string>& types, absl::Duration wait_timeout,
    const std::function<bool()>& cancelled) {
  const std::vector<std::string>& supported = ctx_.config->supported_task_types;
  // The types this call may take: the requested ones that the worker supports (empty: any).
  absl::StatusOr<std::vector<std::string>> resolved = ResolveRequestedTypes(types, supported);
  if (!resolved.ok()) return resolved.status();
  const std::vector<std::string> wanted = *std::move(resolved);
  if (absl::Status s = ValidateDuration("wait_timeout", wait_timeout, kMaxWait); !s.ok()) {
    return s;
  }
  const absl::Duration lock_delay = ctx_.config->lock_delay;
  const LoadBalancer balancer(ctx_.config->strategy, ctx_.config->affinity_enabled);
  std::optional<HandedOutTask> handed;
  bool changed = false;
  // What the latest attempt found, reported once it committed (events), and how the call ended.
  std::vector<Event> events;
  std::vector<WorkerInfo> seen;  // the workers as the latest attempt found them
  absl::string_view decision = kBalancerNoTask;
  absl::Status status = RetryUntil(
      *ctx_.clock, *ctx_.notifier, ctx_.clock->Now() + wait_timeout, ctx_.config->poll_interval,
      cancelled, [&](bool* done) -> absl::Status {
        absl::Status attempt = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
          // The clock is read inside the transaction, after every transaction serialized before
          // it: a task whose CreateTask committed first was created at or before `now`. (Read
          // before the transaction, `now` could predate a task committed while this call waited
          // for the store, which then looked not yet runnable.)
          const absl::Time now = ctx_.clock->Now();
          handed.reset();
          events.clear();
          seen.clear();
          decision = kBalancerNoTask;
          absl::StatusOr<WorkerRecord> me = EnsureLease(txn, *ctx_.config, now);
          if (!me.ok()) return me.status();
          if (me->health != Health::kHealthy) {
            decision = kBalancerUnhealthy;
            return absl::OkStatus();  // no new work
          }
          absl::StatusOr<std::map<std::string, WorkerRecord>> workers = ScanWorkers(txn);
          if (!workers.ok()) return workers.status();
          for (const auto& [id, w] : *workers) {
            if (w.state == WorkerState::kGone) continue;
            WorkerInfo info{w};
            info.status = LeaseLive(w, now) ? WorkerStatus::kActive : WorkerStatus::kStale;
            seen.push_back(std::move(info));
          }
          absl::StatusOr<std::vector<ScannedTask>> tasks =
              ScanOpenTasks(txn, *workers, now, lock_delay);
          if (!tasks.ok()) return tasks.status();

          std::map<std::string, uint32_t> active;  // live task locks per worker
          for (const ScannedTask& s : *tasks) {
            if (!s.live_holder.empty()) ++active[s.live_holder];
          }
          if (active[me->id] >= me->max_tasks) {
            decision = kBalancerAtCapacity;
            return absl::OkStatus();
          }

          std::vector<WorkerView> views;
          for (const auto& [id, w] : *workers) {
            if (!LeaseLive(w, now)) continue;
            WorkerView v;
            v.id = id;
            v.healthy = w.health == Health::kHealthy;
            v.max_tasks = w.max_tasks;
            v.active_tasks = active[id];
            v.supported_types = id == me->id && !wanted.empty() ? wanted : w.supported_task_types;
            v.type_history = w.type_history;
            views.push_back(std::move(v));
          }
          std::vector<TaskView> candidates;
          std::map<std::string, const ScannedTask*> by_id;
          for (const ScannedTask& s : *tasks) {
            if (!s.runnable) continue;
            candidates.push_back({s.task.id, s.task.type, s.task.priority, s.task.seq});
            by_id[s.task.id] = &s;
          }
          std::sort(candidates.begin(), candidates.end(),
                    [](const TaskView& a, const TaskView& b) {
                      return a.priority != b.priority ? a.priority > b.priority : a.seq < b.seq;
                    });
          // The balancer's pick first, then every other task this worker can do.
          std::vector<std::string> order;
          std::optional<std::string> pick = balancer.PickFor(me->id, views, candidates);
          if (pick.has_value()) order.push_back(*pick);
          for (const TaskView& c : candidates) {
            if (Supports(supported, c.type) && Requested(wanted, c.type) &&
                (order.empty() || c.id != order.front())) {
              order.push_back(c.id);
            }
          }
          for (const std::string& id : order) {
            TaskRecord task = by_id[id]->task;
            if (!Supports(supported, task.type) || !Requested(wanted, task.type)) continue;
            if (by_id[id]->orphaned && task.attempts >= task.max_attempts) {
              // Its last attempt died with its worker: dead-letter instead of retrying.
              task.state = TaskState::kDeadLetter;
              task.last_error = absl::StrCat("attempt ", task.attempts, " by ", task.worker_id,
                                             " was lost (lease lapsed); no attempts left");
              task.updated_at = now;
              if (absl::Status s = WriteTask(txn, task, TaskState::kInProgress); !s.ok()) {
                return s;
              }
              changed = true;
              Event dead;
              dead.kind = EventKind::kTaskDeadLettered;
              dead.subject = task.id;
              dead.worker = task.worker_id;
              dead.result = "attempt_lost";
              dead.details = {{"attempt", absl::StrCat(task.attempts, "/", task.max_attempts)}};
              events.push_back(std::move(dead));
              continue;
            }
            absl::StatusOr<AcquireAttempt> got =
                TryAcquireLock(txn, id, *me, ctx_.config->lock_ttl, {}, now, lock_delay, 0);
            if (!got.ok()) return got.status();
            if (!got->acquired) continue;
            const std::string previous_worker = task.worker_id;
            if (by_id[id]->orphaned) {
              task.last_error = absl::StrCat("attempt ", task.attempts, " by ", task.worker_id,
                                             " was lost (lease lapsed)");
            }
            const TaskState before = task.state;
            task.state = TaskState::kInProgress;
            task.attempts += 1;
            task.worker_id = me->id;
            task.lock_token = got->lock->token;
            task.updated_at = now;
            if (absl::Status s = WriteTask(txn, task, before); !s.ok()) return s;
            handed = HandedOutTask{task, *got->lock};
            decision = pick.has_value() && *pick == id ? kBalancerPick : kBalancerOtherTask;
            if (!got->recovered_from.empty()) {
              Event recovered;
              recovered.kind = EventKind::kLockRecovered;
              recovered.subject = task.id;
              recovered.worker = got->recovered_from;
              recovered.result = "recovered";
              recovered.details = {{"token", absl::StrCat(got->lock->token)}};
              events.push_back(std::move(recovered));
            }
            if (by_id[id]->orphaned || task.attempts > 1) {
              Event again;
              again.kind = by_id[id]->orphaned ? EventKind::kTaskTakenOver
                                               : EventKind::kTaskRetried;
              again.subject = task.id;
              again.worker = previous_worker;
              again.result = by_id[id]->orphaned ? "lease_lapsed" : "after_failure";
              again.details = {
                  {"attempt", absl::StrCat(task.attempts, "/", task.max_attempts)}};
              events.push_back(std::move(again));
            }
            *done = true;
            return absl::OkStatus();
          }
          return absl::OkStatus();
        });
        if (!attempt.ok()) return attempt;
        if (ctx_.stale != nullptr) ctx_.stale->Observe(seen);
        for (const Event& e : events) ctx_.events->Record(e);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (handed.has_value()) ctx_.held->Add(handed->lock);
  if (handed.has_value() || changed) ctx_.notifier->Notify();
  Event e;
  e.kind = EventKind::kBalancerDecision;
  e.subject = handed.has_value() ? handed->task.id : "";
  e.result = std::string(decision);
  e.details = {{"strategy", std::string(StrategyName(ctx_.config->strategy))}};
  ctx_.events->Record(e);
  return handed;
}

absl::StatusOr<TaskRecord> TaskQueue::LoadForFinish(Transaction& txn, const std::string& id,
                                                    uint64_t token, absl::Time now) {
  absl::StatusOr<std::optional<TaskRecord>> task = ReadTask(txn, id);
  if (!task.ok()) return task.status();
  if (!task->has_value()) return absl::NotFoundError(absl::StrCat("no task ", id));
  absl::StatusOr<LoadedLock> lock = CheckFence(txn, id, token, now, ctx_.config->lock_delay);
  if (!lock.ok()) return lock.status();
  if (lock->record.holder != ctx_.config->worker_id) {
    return WithReason(absl::FailedPreconditionError(
        absl::StrCat("task ", id, " is locked by ", lock->record.holder, ", not this worker")), reason::kLockHeld);
  }
  if ((*task)->state != TaskState::kInProgress || (*task)->lock_token != token) {
    return WithReason(absl::FailedPreconditionError(
        absl::StrCat("task ", id, " was not handed out under token ", token,
                     " (lock it with NextTask, not AcquireLock)")), reason::kTaskNotInProgress);
  }
  return **task;
}

absl::StatusOr<TaskRecord> TaskQueue::Complete(const std::string& id, uint64_t token,
                                               const std::string& result) {
  if (absl::Status s = ValidateId("task_id", id); !s.ok()) return s;
  if (absl::Status s = ValidateSize("result", result, kMaxValueBytes); !s.ok()) return s;
  const absl::Time now = ctx_.clock->Now();
  TaskRecord done;
  ctx_.held->MarkReleasing(id, token);
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<TaskRecord> task = LoadForFinish(txn, id, token, now);
    if (!task.ok()) return task.status();
    done = *std::move(task);
    done.state = TaskState::kDone;
    done.result = result;
    done.updated_at = now;
    if (absl::Status s = WriteTask(txn, done, TaskState::kInProgress); !s.ok()) return s;
    absl::StatusOr<ReleaseOutcome> released =
        ReleaseLock(txn, id, token, ctx_.config->worker_id, now, ctx_.config->lock_delay);
    if (!released.ok()) return released.status();
    // Affinity: remember what kind of work this worker has done.
    absl::StatusOr<std::optional<WorkerRecord>> me = ReadWorker(txn, ctx_.config->worker_id);
    if (!me.ok()) return me.status();
    if (me->has_value()) {
      WorkerRecord w = **me;
      w.type_history[done.type] += 1;
      if (absl::Status s = txn.Put(WorkerKey(w.id), Encode(w)); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    ctx_.held->Unmark(id, token);
    return status;
  }
  ctx_.held->Remove(id, token);
  ctx_.notifier->Notify();
  return done;
}

absl::StatusOr<TaskRecord> TaskQueue::Fail(const std::string& id, uint64_t token,
                                           const std::string& error, bool retryable) {
  if (absl::Status s = ValidateId("task_id", id); !s.ok()) return s;
  if (absl::Status s = ValidateSize("error", error, kMaxValueBytes); !s.ok()) return s;
  const absl::Time now = ctx_.clock->Now();
  TaskRecord failed;
  ctx_.held->MarkReleasing(id, token);
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<TaskRecord> task = LoadForFinish(txn, id, token, now);
    if (!task.ok()) return task.status();
    failed = *std::move(task);
    failed.last_error = error;
    failed.updated_at = now;
    if (retryable && failed.attempts < failed.max_attempts) {
      failed.state = TaskState::kQueued;
      absl::Duration backoff = ctx_.config->task_retry_backoff;
      for (uint32_t i = 1; i < failed.attempts && backoff < kMaxBackoff; ++i) backoff *= 2;
      failed.not_before = now + std::min(backoff, kMaxBackoff);
    } else {
      failed.state = TaskState::kDeadLetter;
    }
    if (absl::Status s = WriteTask(txn, failed, TaskState::kInProgress); !s.ok()) return s;
    return ReleaseLock(txn, id, token, ctx_.config->worker_id, now, ctx_.config->lock_delay)
        .status();
  });
  if (!status.ok()) {
    ctx_.held->Unmark(id, token);
    return status;
  }
  ctx_.held->Remove(id, token);
  ctx_.notifier->Notify();
  return failed;
}

absl::StatusOr<TaskRecord> TaskQueue::Get(const std::string& id) {
  if (absl::Status s = ValidateId("task_id", id); !s.ok()) return s;
  std::optional<TaskRecord> found;
  absl::Status status = ctx_.store->Read([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::optional<TaskRecord>> task = ReadTask(txn, id);
    if (!task.ok()) return task.status();
    found = *std::move(task);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (!found.has_value()) return absl::NotFoundError(absl::StrCat("no task ", id));
  return *std::move(found);
}

absl::StatusOr<TaskCounts> TaskQueue::Count() {
  const absl::Time now = ctx_.clock->Now();
  TaskCounts counts;
  absl::Status status = ctx_.store->Read([&](Transaction& txn) -> absl::Status {
    counts = TaskCounts{};
    absl::StatusOr<std::map<std::string, WorkerRecord>> workers = ScanWorkers(txn);
    if (!workers.ok()) return workers.status();
    absl::StatusOr<std::vector<ScannedTask>> tasks =
        ScanOpenTasks(txn, *workers, now, ctx_.config->lock_delay);
    if (!tasks.ok()) return tasks.status();
    for (const ScannedTask& s : *tasks) {
      ++(s.task.state == TaskState::kQueued || s.orphaned ? counts.queued : counts.in_progress);
    }
    absl::StatusOr<uint64_t> done = ReadCounter(txn, kTasksDoneKey);
    if (!done.ok()) return done.status();
    absl::StatusOr<uint64_t> dead = ReadCounter(txn, kTasksDeadLetterKey);
    if (!dead.ok()) return dead.status();
    counts.done = static_cast<uint32_t>(*done);
    counts.dead_letter = static_cast<uint32_t>(*dead);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

}  // namespace tasksentinel
