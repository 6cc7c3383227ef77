// The worker's side of the registry: registration at start-up, heartbeats that renew the lease
// and report lost locks, and a clean departure at shutdown.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_LEASE_MANAGER_H_
#define TASK_SENTINEL_CORE_LEASE_MANAGER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/context.h"
#include "core/lock_table.h"
#include "core/records.h"

namespace tasksentinel {

// What a worker reports with a heartbeat.
struct HeartbeatReport {
  std::vector<std::string> active_tasks;
  uint32_t max_tasks = 0;  // 0: keep the configured capacity
  Health health = Health::kHealthy;
};

struct HeartbeatResult {
  absl::Time lease_expires_at;
  uint64_t lease_epoch = 0;
  std::vector<LockInfo> lost_locks;
};

class LeaseManager {
 public:
  explicit LeaseManager(const Context& ctx) : ctx_(ctx) {}

  // Registers the worker (or resumes its live lease after a restart). Locks of a live lease
  // taken before a restart are adopted, so that a later heartbeat can report their loss.
  absl::StatusOr<WorkerRecord> Register();

  // Renews the lease and records the report. Reports the locks lost since the previous
  // heartbeat: judged before renewing, so a lease that lapsed loses all of its locks.
  absl::StatusOr<HeartbeatResult> Heartbeat(const HeartbeatReport& report);

  // Releases every lock the worker holds and marks it gone. Returns how many locks it released.
  absl::StatusOr<int> Deregister();

 private:
  Context ctx_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_LEASE_MANAGER_H_
