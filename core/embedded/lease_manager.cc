// Registration, heartbeats and departure (see lease_manager.h).
#include "core/embedded/lease_manager.h"

#include "core/embedded/lease.h"

namespace tasksentinel {

absl::StatusOr<WorkerRecord> LeaseManager::Register() {
  WorkerRecord me;
  std::vector<LockInfo> mine;
  const absl::Time now = ctx_.clock->Now();
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    mine.clear();
    absl::StatusOr<WorkerRecord> w = EnsureLease(txn, *ctx_.config, now);
    if (!w.ok()) return w.status();
    me = *w;
    auto locks = txn.Scan(kLockPrefix);
    if (!locks.ok()) return locks.status();
    for (const auto& [key, value] : *locks) {
      absl::StatusOr<LockRecord> rec = DecodeLock(value);
      if (!rec.ok()) return rec.status();
      if (!rec->held || rec->holder != me.id || rec->holder_epoch != me.epoch) continue;
      LoadedLock loaded{*rec, JudgeLock(*rec, me, now, ctx_.config->lock_delay)};
      if (loaded.judgement.live) mine.push_back(loaded.info());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  for (const LockInfo& lock : mine) ctx_.held->Add(lock);
  ctx_.notifier->Notify();
  return me;
}

absl::StatusOr<HeartbeatResult> LeaseManager::Heartbeat(const HeartbeatReport& report) {
  const absl::Time now = ctx_.clock->Now();
  const std::vector<LockInfo> held = ctx_.held->Snapshot();
  HeartbeatResult result;
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    result.lost_locks.clear();
    // Judged before the lease is renewed, and only the locks found live are renewed: a lock
    // that lapsed (its ttl or its lease ran out) is reported and stays dead.
    std::vector<LockRecord> renew;
    for (const LockInfo& lock : held) {
      absl::StatusOr<LoadedLock> live =
          CheckFence(txn, lock.name, lock.token, now, ctx_.config->lock_delay);
      if (!live.ok() && !absl::IsFailedPrecondition(live.status()) &&
          !absl::IsInvalidArgument(live.status())) {
        return live.status();
      }
      if (!live.ok() || live->record.holder != ctx_.config->worker_id) {
        result.lost_locks.push_back(lock);
      } else {
        renew.push_back(live->record);
      }
    }
    absl::StatusOr<WorkerRecord> w = EnsureLease(txn, *ctx_.config, now);
    if (!w.ok()) return w.status();
    WorkerRecord me = *std::move(w);
    me.last_heartbeat = now;
    me.lease_expires_at = now + ctx_.config->stale_threshold;
    me.reported_active_tasks = report.active_tasks;
    me.max_tasks = report.max_tasks != 0 ? report.max_tasks : ctx_.config->max_tasks;
    me.health = report.health;
    if (absl::Status s = txn.Put(WorkerKey(me.id), Encode(me)); !s.ok()) return s;
    for (LockRecord& rec : renew) {
      rec.renewed_at = now;
      if (absl::Status s = txn.Put(LockKey(rec.name), Encode(rec)); !s.ok()) return s;
    }
    result.lease_expires_at = me.lease_expires_at;
    result.lease_epoch = me.epoch;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  // Only what the worker did not release itself meanwhile counts as lost.
  result.lost_locks = ctx_.held->TakeLost(result.lost_locks);
  ctx_.notifier->Notify();
  return result;
}

absl::StatusOr<int> LeaseManager::Deregister() {
  const absl::Time now = ctx_.clock->Now();
  int released = 0;
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    released = 0;
    absl::StatusOr<std::optional<WorkerRecord>> me = ReadWorker(txn, ctx_.config->worker_id);
    if (!me.ok()) return me.status();
    if (!me->has_value()) return absl::OkStatus();
    auto locks = txn.Scan(kLockPrefix);
    if (!locks.ok()) return locks.status();
    for (const auto& [key, value] : *locks) {
      absl::StatusOr<LockRecord> rec = DecodeLock(value);
      if (!rec.ok()) return rec.status();
      if (!rec->held || rec->holder != (*me)->id) continue;
      absl::StatusOr<ReleaseOutcome> out = ReleaseLock(txn, rec->name, rec->token, (*me)->id,
                                                       now, ctx_.config->lock_delay);
      if (!out.ok()) return out.status();
      if (*out == ReleaseOutcome::kReleased) ++released;
    }
    WorkerRecord gone = **me;
    gone.state = WorkerState::kGone;
    gone.last_heartbeat = now;
    gone.lease_expires_at = now;
    return txn.Put(WorkerKey(gone.id), Encode(gone));
  });
  if (!status.ok()) return status;
  ctx_.held->Clear();
  ctx_.notifier->Notify();
  return released;
}

}  // namespace tasksentinel
