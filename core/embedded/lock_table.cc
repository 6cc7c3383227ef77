// The lock protocol's transactional steps (see lock_table.h for why each is safe).
#include "core/embedded/lock_table.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/error_reason.h"

namespace tasksentinel {

LockJudgement JudgeLock(const LockRecord& lock, const std::optional<WorkerRecord>& holder,
                        absl::Time now, absl::Duration lock_delay) {
  LockJudgement j;
  if (!lock.held) return j;
  // Only an explicit renewal (RenewLock, or a heartbeat that found the lock live) moves
  // `renewed_at`; a heartbeat alone does not, so a lock whose ttl ran out stays dead.
  const absl::Time renewed = lock.renewed_at;
  absl::Time lease_end = absl::InfinitePast();
  if (holder.has_value()) {
    if (holder->epoch == lock.holder_epoch && holder->state == WorkerState::kActive) {
      lease_end = holder->lease_expires_at;
    } else if (holder->epoch != lock.holder_epoch) {
      // The holder started a new lease: the old one ended no later than that.
      lease_end = holder->epoch_started_at;
    } else {
      lease_end = holder->last_heartbeat;  // shut down without releasing
    }
  }
  j.expires_at = std::min(renewed + lock.ttl, lease_end);
  j.live = now < j.expires_at;
  if (!j.live) j.available_at = j.expires_at + lock_delay;
  return j;
}

LockInfo LoadedLock::info() const {
  LockInfo i;
  i.name = record.name;
  i.token = record.token;
  i.holder = record.holder;
  i.acquired_at = record.acquired_at;
  i.expires_at = judgement.expires_at;
  i.ttl = record.ttl;
  i.metadata = record.metadata;
  return i;
}

absl::StatusOr<std::optional<LoadedLock>> LoadLock(Transaction& txn, absl::string_view name,
                                                   absl::Time now, absl::Duration lock_delay) {
  absl::StatusOr<std::optional<LockRecord>> rec = ReadLock(txn, name);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) return std::optional<LoadedLock>();
  std::optional<WorkerRecord> holder;
  if ((*rec)->held) {
    absl::StatusOr<std::optional<WorkerRecord>> w = ReadWorker(txn, (*rec)->holder);
    if (!w.ok()) return w.status();
    holder = *std::move(w);
  }
  LoadedLock loaded{**rec, JudgeLock(**rec, holder, now, lock_delay)};
  return std::optional<LoadedLock>(std::move(loaded));
}

namespace {

// Whether a queued waiter still counts: before its deadline and its worker's lease (the same
// epoch) is live.
absl::StatusOr<bool> WaiterLive(Transaction& txn, const WaiterRecord& w, absl::Time now) {
  if (now >= w.deadline) return false;
  absl::StatusOr<std::optional<WorkerRecord>> worker = ReadWorker(txn, w.worker);
  if (!worker.ok()) return worker.status();
  return worker->has_value() && (*worker)->epoch == w.epoch &&
         (*worker)->state == WorkerState::kActive && now < (*worker)->lease_expires_at;
}

// The first live waiter of `name` and its place (0: none), removing dead ones on the way.
struct QueuedWaiter {
  uint64_t seq = 0;
  WaiterRecord waiter;
};
absl::StatusOr<QueuedWaiter> FirstLiveWaiter(Transaction& txn, absl::string_view name,
                                             absl::Time now) {
  const std::string prefix = WaiterPrefix(name);
  auto entries = txn.Scan(prefix);
  if (!entries.ok()) return entries.status();
  for (const auto& [key, value] : *entries) {
    absl::StatusOr<WaiterRecord> w = DecodeWaiter(value);
    if (!w.ok()) return w.status();
    absl::StatusOr<bool> live = WaiterLive(txn, *w, now);
    if (!live.ok()) return live.status();
    uint64_t seq = 0;
    if (!absl::SimpleAtoi(absl::string_view(key).substr(prefix.size()), &seq)) {
      return absl::DataLossError(absl::StrCat("damaged waiter key ", key));
    }
    if (*live) return QueuedWaiter{seq, *std::move(w)};
    if (absl::Status s = txn.Delete(key); !s.ok()) return s;
  }
  return QueuedWaiter{};
}

}  // namespace

absl::StatusOr<AcquireAttempt> TryAcquireLock(Transaction& txn, absl::string_view name,
                                              const WorkerRecord& me, absl::Duration ttl,
                                              const std::map<std::string, std::string>& metadata,
                                              absl::Time now, absl::Duration lock_delay,
                                              uint64_t my_waiter_seq) {
  absl::StatusOr<std::optional<LoadedLock>> current = LoadLock(txn, name, now, lock_delay);
  if (!current.ok()) return current.status();
  AcquireAttempt attempt;
  if (current->has_value()) {
    const LoadedLock& cur = **current;
    if (cur.judgement.live) {
      attempt.lock = cur.info();
      // Already ours (same lease): idempotent.
      attempt.acquired = cur.record.holder == me.id && cur.record.holder_epoch == me.epoch;
      if (attempt.acquired && my_waiter_seq != 0) {
        if (absl::Status s = RemoveWaiter(txn, name, my_waiter_seq); !s.ok()) return s;
      }
      return attempt;
    }
    if (cur.record.held && now < cur.judgement.available_at) return attempt;  // lock-delay
  }
  absl::StatusOr<QueuedWaiter> first = FirstLiveWaiter(txn, name, now);
  if (!first.ok()) return first.status();
  // An earlier claimant goes first; claimants are workers (a lease), so a worker's own earlier
  // place in the queue does not hold it back.
  const bool mine = first->seq == my_waiter_seq ||
                    (first->waiter.worker == me.id && first->waiter.epoch == me.epoch);
  if (first->seq != 0 && !mine) return attempt;

  absl::StatusOr<uint64_t> token = NextRevision(txn);
  if (!token.ok()) return token.status();
  LockRecord rec;
  rec.name = std::string(name);
  rec.held = true;
  rec.token = *token;
  rec.holder = me.id;
  rec.holder_epoch = me.epoch;
  rec.acquired_at = now;
  rec.renewed_at = now;
  rec.ttl = ttl;
  rec.metadata = metadata;
  if (absl::Status s = txn.Put(LockKey(name), Encode(rec)); !s.ok()) return s;
  if (my_waiter_seq != 0) {
    if (absl::Status s = RemoveWaiter(txn, name, my_waiter_seq); !s.ok()) return s;
  }
  attempt.acquired = true;
  attempt.lock = LoadedLock{rec, JudgeLock(rec, me, now, lock_delay)}.info();
  // Still marked held but not live: its holder's lease or ttl lapsed and this takes it over.
  if (current->has_value() && (*current)->record.held) {
    attempt.recovered_from = (*current)->record.holder;
  }
  return attempt;
}

absl::StatusOr<uint64_t> EnqueueWaiter(Transaction& txn, absl::string_view name,
                                       const WorkerRecord& me, absl::Time deadline) {
  absl::StatusOr<uint64_t> seq = NextRevision(txn);
  if (!seq.ok()) return seq.status();
  WaiterRecord w{me.id, me.epoch, deadline};
  if (absl::Status s = txn.Put(WaiterKey(name, *seq), Encode(w)); !s.ok()) return s;
  return *seq;
}

absl::Status RemoveWaiter(Transaction& txn, absl::string_view name, uint64_t seq) {
  return txn.Delete(WaiterKey(name, seq));
}

absl::StatusOr<LoadedLock> CheckFence(Transaction& txn, absl::string_view name, uint64_t token,
                                      absl::Time now, absl::Duration lock_delay) {
  absl::StatusOr<std::optional<LoadedLock>> cur = LoadLock(txn, name, now, lock_delay);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || token == 0 || token > (*cur)->record.token) {
    return absl::InvalidArgumentError(
        absl::StrCat("fencing token ", token, " was never issued for lock \"", name, "\""));
  }
  const LoadedLock& lock = **cur;
  if (lock.record.token != token) {
    return WithReason(absl::FailedPreconditionError(
        absl::StrCat("lock \"", name, "\" token ", token, " is not its current instance (current token ",
                     lock.record.token, ")")), reason::kFencingTokenStale);
  }
  if (!lock.judgement.live) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
        "lock \"", name, "\" token ", token,
        lock.record.held ? " lapsed (its holder's lease or ttl ran out)" : " was released")), reason::kFencingTokenStale);
  }
  return lock;
}

absl::StatusOr<ReleaseOutcome> ReleaseLock(Transaction& txn, absl::string_view name,
                                           uint64_t token, absl::string_view me, absl::Time now,
                                           absl::Duration lock_delay) {
  absl::StatusOr<std::optional<LoadedLock>> cur = LoadLock(txn, name, now, lock_delay);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || token == 0 || token > (*cur)->record.token) {
    return absl::InvalidArgumentError(
        absl::StrCat("fencing token ", token, " was never issued for lock \"", name, "\""));
  }
  LoadedLock lock = **std::move(cur);
  if (lock.record.token != token) {
    return lock.judgement.live ? ReleaseOutcome::kHeldByOther : ReleaseOutcome::kNotHeld;
  }
  if (!lock.judgement.live) return ReleaseOutcome::kNotHeld;
  if (lock.record.holder != me) return ReleaseOutcome::kHeldByOther;
  lock.record.held = false;
  if (absl::Status s = txn.Put(LockKey(name), Encode(lock.record)); !s.ok()) return s;
  return ReleaseOutcome::kReleased;
}

}  // namespace tasksentinel
