// Change signal and the retry loop of blocking calls (see notifier.h).
#include "core/notifier.h"

#include <algorithm>

namespace tasksentinel {

uint64_t Notifier::generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void Notifier::Notify() {
  absl::MutexLock lock(&mu_);
  ++generation_;
}

void Notifier::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  ++generation_;
}

bool Notifier::shut_down() {
  absl::MutexLock lock(&mu_);
  return shut_down_;
}

void Notifier::WaitForChange(uint64_t seen, absl::Duration timeout, Clock& clock) {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return generation_ != seen || shut_down_;
  };
  clock.AwaitWithTimeout(&mu_, absl::Condition(&changed), timeout);
}

absl::Status RetryUntil(Clock& clock, Notifier& notifier, absl::Time deadline,
                        absl::Duration poll_interval, const std::function<bool()>& cancelled,
                        const std::function<absl::Status(bool* done)>& attempt) {
  while (true) {
    const uint64_t seen = notifier.generation();
    bool done = false;
    absl::Status status = attempt(&done);
    if (!status.ok() || done) return status;
    const absl::Time now = clock.Now();
    if (now >= deadline || notifier.shut_down() || (cancelled && cancelled())) {
      return absl::OkStatus();
    }
    notifier.WaitForChange(seen, std::min(poll_interval, deadline - now), clock);
  }
}

}  // namespace tasksentinel
