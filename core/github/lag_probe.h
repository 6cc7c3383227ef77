// Measures GitHub's read lag from the sidecar's own registration, before a claim depends on it.
//
// The claim window follows the measured lag (visibility_lag.h), but a claim is the only thing
// that measured it: each sidecar's first claims under a lag were posted with a window too short
// to see them, and taken back unjudged (two writes each). A registration is a comment like a
// claim, and every sidecar posts one before it claims anything; so after each new registration
// the sidecar lists its issue at once and then every `interval` (conditional GETs: free while the
// list has not changed) until the registration shows, and reports the delay to the estimate. A claim posted
// while the probe runs waits for it first (Finish), so that the first claim under a sustained lag
// already waits long enough to be judged.
//
// Cost: one list per `interval` for the length of the lag (at most `bound`), after each new
// epoch (at start-up and after a lapse): a handful of requests, most of them 304s.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_LAG_PROBE_H_
#define TASK_SENTINEL_CORE_GITHUB_LAG_PROBE_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/github/comment_view.h"
#include "core/github/visibility_lag.h"
#include "core/notifier.h"

namespace tasksentinel::github {

class LagProbe {
 public:
  // Lists through `views` every `interval`; gives up after `bound` (the lag is longer than
  // anything the sidecar waits for: reported as such). All pointers must outlive the probe.
  LagProbe(IssueViews* views, Clock* clock, Notifier* notifier, VisibilityLag* lag,
           absl::Duration interval, absl::Duration bound);

  // `comment_id` was just posted on `issue`: measure how long lists take to show it. Replaces
  // a probe still running (its comment is no better a witness than the new one).
  void Start(int64_t issue, int64_t comment_id) ABSL_LOCKS_EXCLUDED(mu_);

  // When the next list is due (InfiniteFuture while no probe runs).
  absl::Time Due() const ABSL_LOCKS_EXCLUDED(mu_);

  // Lists once if a list is due; reports to the lag estimate when the probe ends. Returns an
  // error only when the list failed (the probe goes on at the next step).
  absl::Status Step() ABSL_LOCKS_EXCLUDED(mu_);

  // Steps until no probe runs (at most `bound` after its start), or shut-down.
  void Finish() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  IssueViews* const views_;
  Clock* const clock_;
  Notifier* const notifier_;
  VisibilityLag* const lag_;
  const absl::Duration interval_;
  const absl::Duration bound_;

  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  int64_t issue_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t comment_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time posted_ ABSL_GUARDED_BY(mu_);
  absl::Time due_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool first_list_ ABSL_GUARDED_BY(mu_) = true;
  // Serialises Step (its list is a network call, made outside mu_).
  absl::Mutex step_mu_ ABSL_ACQUIRED_BEFORE(mu_);
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_LAG_PROBE_H_
