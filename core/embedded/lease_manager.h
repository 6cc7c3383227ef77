// The worker's side of the registry: registration at start-up, heartbeats that renew the lease
// and report lost locks, and a clean departure at shutdown.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_LEASE_MANAGER_H_
#define TASK_SENTINEL_CORE_EMBEDDED_LEASE_MANAGER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "core/embedded/context.h"
#include "core/embedded/lock_table.h"
#include "core/embedded/records.h"

namespace tasksentinel {

class LeaseManager {
 public:
  explicit LeaseManager(const Context& ctx) : ctx_(ctx) {}

  // Registers the worker (or resumes its live lease after a restart). Locks of a live lease
  // taken before a restart are adopted, so that a later heartbeat can report their loss.
  absl::StatusOr<WorkerRecord> Register();

  // Renews the lease and records the report, and renews (restarts the ttl of) every lock this
  // sidecar holds for the worker that is still live. Reports the locks lost since the previous
  // heartbeat, each once: judged before renewing, so a lease that lapsed loses all of its locks
  // and a lock whose ttl ran out is lost for good. Instances lost and then re-taken (NextTask
  // handing the same task back) are reported too (HeldLocks::TakeLost).
  absl::StatusOr<HeartbeatResult> Heartbeat(const HeartbeatReport& report);

  // Releases every lock the worker holds and marks it gone. Returns how many locks it released.
  absl::StatusOr<int> Deregister();

 private:
  Context ctx_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_LEASE_MANAGER_H_
