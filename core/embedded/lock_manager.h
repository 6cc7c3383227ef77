// The worker's locks: acquire (optionally blocking, fair), renew, release, list. Each call is
// one or more store transactions running the steps of lock_table.h on behalf of the configured
// worker, whose lease is started first if it had lapsed.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_LOCK_MANAGER_H_
#define TASK_SENTINEL_CORE_EMBEDDED_LOCK_MANAGER_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "core/embedded/context.h"
#include "core/event_sink.h"
#include "core/embedded/lock_table.h"

namespace tasksentinel {

// Reports an acquisition that took over a lapsed lock (`attempt.recovered_from` set) as
// EventKind::kLockRecovered.
void ReportRecovered(EventSink& events, const AcquireAttempt& attempt);

class LockManager {
 public:
  explicit LockManager(const Context& ctx) : ctx_(ctx) {}

  // Takes the lock, waiting up to `wait_timeout` in claim order. Not getting it is not an error
  // (acquired = false). Stops waiting early when `cancelled()` turns true.
  // Errors: INVALID_ARGUMENT for bad input; store errors.
  absl::StatusOr<AcquireAttempt> Acquire(const AcquireRequest& request,
                                         const std::function<bool()>& cancelled = nullptr);

  // Extends the lock's ttl (zero keeps it). FAILED_PRECONDITION when `token` is not the live
  // instance held by this worker.
  absl::StatusOr<LockInfo> Renew(const std::string& name, uint64_t token, absl::Duration ttl);

  // Releases exactly instance `token` of `name`.
  absl::StatusOr<ReleaseOutcome> Release(const std::string& name, uint64_t token);

  // Every live lock in the store, by name.
  absl::StatusOr<std::vector<LockInfo>> List();

  // How many live locks are not a task's lock (no task has their name).
  absl::StatusOr<uint32_t> CountNamed();

 private:
  Context ctx_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_LOCK_MANAGER_H_
