// The worker's locks (see lock_manager.h).
#include "core/embedded/lock_manager.h"

#include "absl/strings/str_cat.h"
#include "core/embedded/lease.h"
#include "core/validation.h"
#include "core/error_reason.h"

namespace tasksentinel {

void ReportRecovered(EventSink& events, const AcquireAttempt& attempt) {
  Event e;
  e.kind = EventKind::kLockRecovered;
  e.subject = attempt.lock->name;
  e.worker = attempt.recovered_from;
  e.result = "recovered";
  e.details = {{"token", absl::StrCat(attempt.lock->token)}};
  events.Record(e);
}

absl::StatusOr<AcquireAttempt> LockManager::Acquire(const AcquireRequest& request,
                                                    const std::function<bool()>& cancelled) {
  if (absl::Status s = ValidateId("task_id", request.name); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("ttl", request.ttl, kMaxLockTtl); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("wait_timeout", request.wait_timeout, kMaxWait); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateMetadata(request.metadata); !s.ok()) return s;
  const absl::Duration ttl =
      request.ttl == absl::ZeroDuration() ? ctx_.config->lock_ttl : request.ttl;
  const absl::Duration lock_delay = ctx_.config->lock_delay;
  const absl::Time deadline = ctx_.clock->Now() + request.wait_timeout;
  const bool blocking = request.wait_timeout > absl::ZeroDuration();

  uint64_t my_seq = 0;  // place in the fair queue, once queued
  AcquireAttempt result;
  absl::Status status = RetryUntil(
      *ctx_.clock, *ctx_.notifier, deadline, ctx_.config->poll_interval, cancelled,
      [&](bool* done) -> absl::Status {
        const absl::Time now = ctx_.clock->Now();
        return ctx_.store->Run([&](Transaction& txn) -> absl::Status {
          absl::StatusOr<WorkerRecord> me = EnsureLease(txn, *ctx_.config, now);
          if (!me.ok()) return me.status();
          absl::StatusOr<AcquireAttempt> attempt = TryAcquireLock(
              txn, request.name, *me, ttl, request.metadata, now, lock_delay, my_seq);
          if (!attempt.ok()) return attempt.status();
          result = *std::move(attempt);
          if (result.acquired || !blocking) {
            *done = true;
          } else if (my_seq == 0) {
            // Queue up so that later claimants cannot overtake this one.
            absl::StatusOr<uint64_t> seq = EnqueueWaiter(txn, request.name, *me, deadline);
            if (!seq.ok()) return seq.status();
            my_seq = *seq;
          }
          return absl::OkStatus();
        });
      });
  if (status.ok() && !result.acquired && my_seq != 0) {
    // Leave the queue; if this fails the entry still expires at its deadline.
    status = ctx_.store->Run(
        [&](Transaction& txn) { return RemoveWaiter(txn, request.name, my_seq); });
  }
  if (!status.ok()) return status;
  if (result.acquired) {
    ctx_.held->Add(*result.lock);
    ctx_.notifier->Notify();
    if (!result.recovered_from.empty()) ReportRecovered(*ctx_.events, result);
  }
  return result;
}

absl::StatusOr<LockInfo> LockManager::Renew(const std::string& name, uint64_t token,
                                            absl::Duration ttl) {
  if (absl::Status s = ValidateId("task_id", name); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("ttl", ttl, kMaxLockTtl); !s.ok()) return s;
  const absl::Time now = ctx_.clock->Now();
  LockInfo info;
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<LoadedLock> lock = CheckFence(txn, name, token, now, ctx_.config->lock_delay);
    if (!lock.ok()) return lock.status();
    if (lock->record.holder != ctx_.config->worker_id) {
      return WithReason(absl::FailedPreconditionError(absl::StrCat(
          "lock \"", name, "\" token ", token, " is held by ", lock->record.holder)), reason::kLockHeld);
    }
    absl::StatusOr<std::optional<WorkerRecord>> me = ReadWorker(txn, ctx_.config->worker_id);
    if (!me.ok()) return me.status();
    LockRecord rec = lock->record;
    rec.renewed_at = now;
    if (ttl > absl::ZeroDuration()) rec.ttl = ttl;
    if (absl::Status s = txn.Put(LockKey(name), Encode(rec)); !s.ok()) return s;
    info = LoadedLock{rec, JudgeLock(rec, *me, now, ctx_.config->lock_delay)}.info();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  ctx_.held->Add(info);
  return info;
}

absl::StatusOr<ReleaseOutcome> LockManager::Release(const std::string& name, uint64_t token) {
  if (absl::Status s = ValidateId("task_id", name); !s.ok()) return s;
  const absl::Time now = ctx_.clock->Now();
  ReleaseOutcome outcome = ReleaseOutcome::kNotHeld;
  ctx_.held->MarkReleasing(name, token);
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<ReleaseOutcome> out =
        ReleaseLock(txn, name, token, ctx_.config->worker_id, now, ctx_.config->lock_delay);
    if (!out.ok()) return out.status();
    outcome = *out;
    return absl::OkStatus();
  });
  if (!status.ok() || outcome == ReleaseOutcome::kHeldByOther) {
    ctx_.held->Unmark(name, token);
    if (!status.ok()) return status;
  } else {
    ctx_.held->Remove(name, token);
  }
  if (outcome == ReleaseOutcome::kReleased) ctx_.notifier->Notify();
  return outcome;
}

absl::StatusOr<uint32_t> LockManager::CountNamed() {
  absl::StatusOr<std::vector<LockInfo>> live = List();
  if (!live.ok()) return live.status();
  uint32_t named = 0;
  absl::Status status = ctx_.store->Read([&](Transaction& txn) -> absl::Status {
    named = 0;
    for (const LockInfo& lock : *live) {
      absl::StatusOr<std::optional<TaskRecord>> task = ReadTask(txn, lock.name);
      if (!task.ok()) return task.status();
      if (!task->has_value()) ++named;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return named;
}

absl::StatusOr<std::vector<LockInfo>> LockManager::List() {
  const absl::Time now = ctx_.clock->Now();
  std::vector<LockInfo> out;
  absl::Status status = ctx_.store->Read([&](Transaction& txn) -> absl::Status {
    out.clear();
    auto locks = txn.Scan(kLockPrefix);
    if (!locks.ok()) return locks.status();
    for (const auto& [key, value] : *locks) {
      absl::StatusOr<LockRecord> rec = DecodeLock(value);
      if (!rec.ok()) return rec.status();
      if (!rec->held) continue;
      absl::StatusOr<std::optional<LoadedLock>> loaded =
          LoadLock(txn, rec->name, now, ctx_.config->lock_delay);
      if (!loaded.ok()) return loaded.status();
      if ((*loaded)->judgement.live) out.push_back((*loaded)->info());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace tasksentinel
