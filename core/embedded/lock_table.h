// The lock protocol on the embedded store, as steps that run inside one store transaction, so
// that a lock and whatever it guards (a task, a fenced memory write) change atomically.
//
// Why it is safe: every step runs in a serializable transaction, so "is the lock free?" and
// "take it" cannot interleave with another claimant, in this process or another one. A lock is
// live only while its holder's lease (the same epoch) is live and its own ttl, counted from its
// latest renewal (RenewLock, or a heartbeat of its holder's sidecar that found it still live),
// has not passed. A lapse is final: nothing renews a lock that is not live, so its token is
// refused from then on. The fencing token is the store-wide
// revision at acquisition, so it rises with every acquisition; the lock record outlives release
// and remembers the last token, so an old token can never act on a newer instance. After a lock
// lapses (its holder went silent) nobody may take it for `lock_delay`, so a paused holder has
// time to notice before its work is handed to someone else.
//
// Thread safety: functions of a Transaction; the transaction provides isolation.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_LOCK_TABLE_H_
#define TASK_SENTINEL_CORE_EMBEDDED_LOCK_TABLE_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "core/embedded/records.h"
#include "core/embedded/store.h"

namespace tasksentinel {

// A lock record judged at one moment.
struct LockJudgement {
  bool live = false;
  // When the lock lapses (live) or lapsed (not live and it was held).
  absl::Time expires_at = absl::InfinitePast();
  // When the lock may be taken again (not live).
  absl::Time available_at = absl::InfinitePast();
};

// Judges `lock` at `now` against its holder's registration (nullopt when unknown).
LockJudgement JudgeLock(const LockRecord& lock, const std::optional<WorkerRecord>& holder,
                        absl::Time now, absl::Duration lock_delay);

// Reads and judges the lock `name`; nullopt when the name was never locked.
struct LoadedLock {
  LockRecord record;
  LockJudgement judgement;
  LockInfo info() const;
};
absl::StatusOr<std::optional<LoadedLock>> LoadLock(Transaction& txn, absl::string_view name,
                                                   absl::Time now, absl::Duration lock_delay);

// Tries to take `name` for `me` (whose lease the caller has ensured). Respects the fair queue of
// waiters: when live waiters are queued, only the first may take the lock; `my_waiter_seq` is the
// caller's own place in that queue (0: not queued), removed on success. Expired waiters found on
// the way are removed. Taking a lock `me` already holds returns it unchanged. Taking a lock whose
// holder lapsed names that holder in `recovered_from`.
absl::StatusOr<AcquireAttempt> TryAcquireLock(Transaction& txn, absl::string_view name,
                                              const WorkerRecord& me, absl::Duration ttl,
                                              const std::map<std::string, std::string>& metadata,
                                              absl::Time now, absl::Duration lock_delay,
                                              uint64_t my_waiter_seq);

// Puts `me` in the fair queue of `name` until `deadline`; returns its place.
absl::StatusOr<uint64_t> EnqueueWaiter(Transaction& txn, absl::string_view name,
                                       const WorkerRecord& me, absl::Time deadline);

// Removes a queued waiter (on time-out or cancellation).
absl::Status RemoveWaiter(Transaction& txn, absl::string_view name, uint64_t seq);

// Checks that `token` names the live instance of lock `name`. FAILED_PRECONDITION when that
// instance is gone (released, lapsed, superseded); INVALID_ARGUMENT when `token` was never
// issued for `name`. Returns the live lock.
absl::StatusOr<LoadedLock> CheckFence(Transaction& txn, absl::string_view name, uint64_t token,
                                      absl::Time now, absl::Duration lock_delay);

// Releases exactly the instance `token` of `name`, if `me` holds it.
absl::StatusOr<ReleaseOutcome> ReleaseLock(Transaction& txn, absl::string_view name,
                                           uint64_t token, absl::string_view me, absl::Time now,
                                           absl::Duration lock_delay);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_LOCK_TABLE_H_
