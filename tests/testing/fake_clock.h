// A Clock for tests: time moves only when a test advances it or when a wait times out, so
// protocols that wait (blocking acquire, long polls) run in no real time.
//
// Thread safety: safe for concurrent use; a wait that times out advances the shared time.
#ifndef TASK_SENTINEL_TESTS_TESTING_FAKE_CLOCK_H_
#define TASK_SENTINEL_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"

namespace tasksentinel {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000)) : now_(start) {}

  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

  // Evaluates `condition` once; if it does not hold, jumps time forward by `timeout` (a waiter
  // that would have slept) and evaluates it again.
  bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                        absl::Duration timeout) override {
    if (condition.Eval()) return true;
    Advance(timeout);
    return condition.Eval();
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_TESTS_TESTING_FAKE_CLOCK_H_
