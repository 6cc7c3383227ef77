// The read-lag probe on the own registration (see lag_probe.h).
#include "core/github/lag_probe.h"

#include <algorithm>

#include "core/github/coordination_issue.h"

namespace tasksentinel::github {

LagProbe::LagProbe(IssueViews* views, Clock* clock, Notifier* notifier, VisibilityLag* lag,
                   absl::Duration interval, absl::Duration bound)
    : views_(views),
      clock_(clock),
      notifier_(notifier),
      lag_(lag),
      interval_(interval),
      bound_(bound) {}

void LagProbe::Start(int64_t issue, int64_t comment_id) {
  absl::MutexLock lock(&mu_);
  running_ = true;
  issue_ = issue;
  comment_id_ = comment_id;
  posted_ = clock_->Now();
  due_ = posted_;  // a first list at once: without a lag it ends the probe
  first_list_ = true;
}

absl::Time LagProbe::Due() const {
  absl::MutexLock lock(&mu_);
  return running_ ? due_ : absl::InfiniteFuture();
}

absl::Status LagProbe::Step() {
  absl::MutexLock step(&step_mu_);
  int64_t issue = 0;
  int64_t comment_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!running_ || clock_->Now() < due_) return absl::OkStatus();
    issue = issue_;
    comment_id = comment_id_;
  }
  absl::StatusOr<SnapshotPtr> snapshot = views_->Refresh(issue, clock_->Now());
  absl::MutexLock lock(&mu_);
  if (!running_ || comment_id_ != comment_id) return absl::OkStatus();  // restarted meanwhile
  const absl::Time now = clock_->Now();
  const absl::Duration waited = now - posted_;
  due_ = now + interval_;
  if (!snapshot.ok()) {
    if (waited >= bound_) running_ = false;  // no answer in time: nothing learnt
    return snapshot.status();
  }
  const auto& comments = (*snapshot)->comments;
  const bool seen = std::any_of(comments.begin(), comments.end(), [&](const ViewedComment& c) {
    return c.comment.id == comment_id;
  });
  if (seen) {
    lag_->Seen(waited, first_list_);
    running_ = false;
  } else if (waited >= bound_) {
    lag_->NotSeen(waited);
    running_ = false;
  }
  first_list_ = false;
  return absl::OkStatus();
}

void LagProbe::Finish() {
  while (!notifier_->shut_down()) {
    const absl::Time due = Due();
    if (due == absl::InfiniteFuture()) return;
    const absl::Duration wait = due - clock_->Now();
    if (wait > absl::ZeroDuration()) SleepFor(*clock_, wait);
    (void)Step();
  }
}

}  // namespace tasksentinel::github
