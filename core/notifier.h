// In-process change signal: whoever commits a change that a blocked call may wait for (a lock
// released, a task queued, a memory write) calls Notify(); waiters wake at once instead of at
// their next poll. Changes made by other processes sharing the store are seen at the next poll
// (SENTINEL_POLL_INTERVAL_MS).
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_NOTIFIER_H_
#define TASK_SENTINEL_CORE_NOTIFIER_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"

namespace tasksentinel {

class Notifier {
 public:
  // The current generation; it rises with every Notify().
  uint64_t generation();

  // Wakes every waiter.
  void Notify();

  // Wakes every waiter for good: later waits return at once. Used at shutdown.
  void Shutdown();
  bool shut_down();

  // Waits until the generation differs from `seen`, Shutdown() was called, or `timeout` passed
  // on `clock`.
  void WaitForChange(uint64_t seen, absl::Duration timeout, Clock& clock);

 private:
  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

// Repeats `attempt` until it reports done, `deadline` passes, `cancelled()` turns true or the
// notifier shuts down, waiting between attempts for a change or `poll_interval`. `attempt`
// returns an error to stop with it, or sets *done. Returns OK also on time-out (the caller
// looks at what `attempt` produced).
absl::Status RetryUntil(Clock& clock, Notifier& notifier, absl::Time deadline,
                        absl::Duration poll_interval, const std::function<bool()>& cancelled,
                        const std::function<absl::Status(bool* done)>& attempt);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_NOTIFIER_H_
