// How late GitHub shows this sidecar's own new comments in lists (its read lag), measured from
// the claims it posts, and the claim-visibility window that follows from it.
//
// A claim can only be judged once it is visible: a claimant that lists before its own claim
// shows cannot tell whether an earlier claim is hidden too, so it takes the claim back (two
// writes burnt). With a fixed settle delay, a sustained lag longer than the whole window
// (settle + retries × retry wait) made every claim fail. Instead, each claim reports when it was
// first seen (or that it was not seen in the window), and the next claims wait accordingly:
//   - seen at a later list: the lag was at most that long; the estimate becomes that bound.
//   - never seen in the window: the lag is longer than the window; the estimate becomes 1.5 times
//     the window.
//   - seen at the first list: the lag may be shorter than the estimate; it decays by a tenth, so
//     that a lag that ended stops slowing hand-outs (the first list that then misses puts the
//     estimate back to the measured bound, at the cost of one more list, not a write).
// The first wait is the larger of GITHUB_CLAIM_SETTLE_MS and the estimate plus a fifth, at most
// `max_settle`; so a sustained lag slows hand-outs rather than stopping them, and a lag beyond
// the bound is reported (Lagging) rather than paid for with claims nobody can judge.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_VISIBILITY_LAG_H_
#define TASK_SENTINEL_CORE_GITHUB_VISIBILITY_LAG_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tasksentinel::github {

class VisibilityLag {
 public:
  // `base_settle`: GITHUB_CLAIM_SETTLE_MS, the least first wait; `min_retry_wait`: the least wait
  // between later lists; `max_settle`: the bound of the first wait.
  VisibilityLag(absl::Duration base_settle, absl::Duration min_retry_wait,
                absl::Duration max_settle);

  // How long to wait after posting before the first list.
  absl::Duration Settle() const ABSL_LOCKS_EXCLUDED(mu_);
  // How long to wait between later lists while the claim is not visible yet.
  absl::Duration RetryWait() const ABSL_LOCKS_EXCLUDED(mu_);
  // The current estimate of the lag (zero: none measured).
  absl::Duration Estimate() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the estimate has reached the bound: GitHub shows writes later than this sidecar is
  // willing to wait (claims would most likely be taken back unjudged).
  bool Lagging() const ABSL_LOCKS_EXCLUDED(mu_);

  // A comment posted `waited` before the list that first showed it; `first_list` when that was
  // the first list after posting.
  void Seen(absl::Duration waited, bool first_list) ABSL_LOCKS_EXCLUDED(mu_);
  // A comment posted `waited` ago was in none of the lists since.
  void NotSeen(absl::Duration waited) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const absl::Duration base_settle_;
  const absl::Duration min_retry_wait_;
  const absl::Duration max_settle_;
  mutable absl::Mutex mu_;
  absl::Duration estimate_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_VISIBILITY_LAG_H_
