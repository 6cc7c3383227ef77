// Worker leases on the embedded store: a worker's registration carries a lease that its
// heartbeats extend by STALE_WORKER_THRESHOLD_MS. Locks are bound to the lease's epoch: when a
// lease lapses, the next sign of life from that worker starts a new epoch, and the locks of the
// old epoch stay dead (lock_table.h).
//
// Thread safety: functions of a Transaction.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_LEASE_H_
#define TASK_SENTINEL_CORE_EMBEDDED_LEASE_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/config.h"
#include "core/embedded/records.h"
#include "core/embedded/store.h"

namespace tasksentinel {

// Whether `worker`'s lease is live at `now`.
bool LeaseLive(const WorkerRecord& worker, absl::Time now);

// Returns the configured worker's registration with a live lease, writing it when needed: a
// missing, departed or lapsed registration starts a new lease epoch (the old epoch's locks stay
// lost); a live lease is returned unchanged (no write).
absl::StatusOr<WorkerRecord> EnsureLease(Transaction& txn, const Config& config, absl::Time now);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_LEASE_H_
