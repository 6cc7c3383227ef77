// The measured read lag of GitHub's lists (see visibility_lag.h).
#include "core/github/visibility_lag.h"

#include <algorithm>

namespace tasksentinel::github {

VisibilityLag::VisibilityLag(absl::Duration base_settle, absl::Duration min_retry_wait,
                             absl::Duration max_settle)
    : base_settle_(base_settle),
      min_retry_wait_(min_retry_wait),
      max_settle_(std::max(max_settle, base_settle)) {}

absl::Duration VisibilityLag::Settle() const {
  absl::MutexLock lock(&mu_);
  return std::clamp(estimate_ + estimate_ / 5, base_settle_, max_settle_);
}

absl::Duration VisibilityLag::RetryWait() const {
  absl::MutexLock lock(&mu_);
  // A quarter of the estimate between lists: the lag is found to within that, at a few lists.
  return std::max({base_settle_, min_retry_wait_, estimate_ / 4});
}

absl::Duration VisibilityLag::Estimate() const {
  absl::MutexLock lock(&mu_);
  return estimate_;
}

bool VisibilityLag::Lagging() const {
  absl::MutexLock lock(&mu_);
  return estimate_ >= max_settle_;
}

void VisibilityLag::Seen(absl::Duration waited, bool first_list) {
  absl::MutexLock lock(&mu_);
  if (first_list) {
    // At most `waited` (which is above the estimate): the lag may have eased; drift down.
    estimate_ = std::min(estimate_ - estimate_ / 10, std::max(waited, absl::ZeroDuration()));
    if (estimate_ <= base_settle_ / 2) estimate_ = absl::ZeroDuration();
    return;
  }
  estimate_ = std::min(std::max(waited, absl::ZeroDuration()), max_settle_);
}

void VisibilityLag::NotSeen(absl::Duration waited) {
  absl::MutexLock lock(&mu_);
  estimate_ = std::min(std::max(estimate_, waited + waited / 2), max_settle_);
}

}  // namespace tasksentinel::github
