// The clock seam: every protocol reads time and waits through a Clock, so tests run them on a
// FakeClock (tests/testing/fake_clock.h) whose waits advance simulated time instead of sleeping.
//
// Thread safety: implementations are safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_CLOCK_H_
#define TASK_SENTINEL_CORE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tasksentinel {

class Clock {
 public:
  virtual ~Clock() = default;

  // The current time.
  virtual absl::Time Now() = 0;

  // REQUIRES: `mu` is held. Waits (releasing `mu` while waiting) until `condition` holds or
  // `timeout` has passed on this clock. Returns whether `condition` holds.
  virtual bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                                absl::Duration timeout) = 0;
};

// The system clock, to the microsecond (the resolution records are stored with, so a time
// handed out before a write equals the one read back after it).
class RealClock final : public Clock {
 public:
  absl::Time Now() override { return absl::FromUnixMicros(absl::ToUnixMicros(absl::Now())); }
  bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                        absl::Duration timeout) override {
    return mu->AwaitWithTimeout(condition, timeout);
  }
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_CLOCK_H_
