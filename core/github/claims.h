// Locks on GitHub: claim, list, the lowest live claim wins.
//
// GitHub has no compare-and-swap, so a lock is taken by posting and then reading:
//   1. Post a LOCK_CLAIM comment on the lock's issue (a task's issue for a task lock, the
//      locks issue for any other name). Its comment id is the candidate fencing token.
//   2. Wait GITHUB_CLAIM_SETTLE_MS through the Clock, then list the issue's comments. While the
//      own claim is not visible yet, list again (GitHubOptions::visibility_retries times, each
//      after another wait); if it never shows, delete it and report "not acquired".
//   3. Among this lock's claims that are live (see JudgeLock), the lowest id wins. If that is
//      ours we hold the lock and the token is our claim's id; otherwise we delete our claim
//      (withdraw) and report the winner as the holder — unless the call blocks (wait_timeout),
//      in which case the claim stays posted and the issue is listed again every poll interval:
//      waiting claimants are served in claim order, which is fair across all sidecars.
// Before posting, a call that does not block lists the claims once and does not post when the
// lock is visibly held, queued for or in its lock-delay (a write saved: NextTask, which knows
// from the labels that its candidate is queued, skips that list).
//
// A claim is live while its worker's lease of the claim's epoch is live (registry.h), its ttl
// — counted from the later of the claim's updated_at (a RenewLock edits it) and the worker's
// latest heartbeat — has not run out, and, on a task issue, the issue was not closed after it.
// Another worker's claim is judged with one second of slack in its favour; our own claims
// strictly by our own lease. Liveness is judged only by GitHub's clock (ServerNow() and the
// comments' times), never by a worker's own clock.
//
// Lock-delay: when the lock's holder lapsed (its lease or ttl ran out), nobody wins the lock
// before LOCK_DELAY_MS after the lapse, so that a paused holder can notice first. A lapsed claim
// counts as the holder when every lower claim was dead before it lapsed; the rule errs only
// towards waiting longer. The claim that takes the lock over says whose lease lapsed when.
//
// Why it is safe: comment ids ascend in creation order, so two claimants that both see both
// claims agree on the winner. The danger is read lag: a later claimant that does not see an
// earlier claim yet believes it won. The settle delay makes that rare; fencing makes it
// harmless: CheckFence (used by CompleteTask, FailTask, RenewLock, ReleaseLock and fenced
// memory writes) lists the claims afresh and refuses unless the token is still the lowest live
// claim. By the time the later claimant finishes, the earlier claim is visible and its
// completion is refused. Two workers may thus *run* one task for a short while; only one can
// *complete* it. Release deletes exactly the claim named by the token, so a retried or stale
// release can never free a newer instance.
//
// Thread safety: LockProtocol is safe for concurrent use; JudgeLock is a pure function.
#ifndef TASK_SENTINEL_CORE_GITHUB_CLAIMS_H_
#define TASK_SENTINEL_CORE_GITHUB_CLAIMS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/github/comment_view.h"
#include "core/github/github_context.h"
#include "core/github/records.h"
#include "core/github/registry.h"
#include "core/model.h"

namespace tasksentinel::github {

// Where a lock's claims live.
struct LockSite {
  int64_t issue = 0;
  bool task = false;  // a task's issue (else the locks issue)
};

// One claim judged at one moment.
struct JudgedClaim {
  int64_t id = 0;  // the comment id: the fencing token
  ClaimRecord record;
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();
  bool live = false;
  bool lapsed = false;  // dead because its lease or ttl ran out (not released or closed)
  absl::Time expires_at = absl::InfinitePast();  // lapses or lapsed then

  // The lock as callers see it, held under this claim.
  LockInfo info() const;
};

// A lock's claims judged at one moment.
struct LockState {
  std::string name;
  std::vector<JudgedClaim> claims;           // this lock's LOCK_CLAIM comments, ascending id
  std::optional<JudgedClaim> first_live;     // the lowest live claim
  std::optional<JudgedClaim> holder;         // first_live, once the lock-delay has passed
  absl::Time available_at = absl::InfinitePast();  // the lock-delay ends
  std::optional<JudgedClaim> lapsed_holder;  // the latest holder that lapsed, if any

  // The claim with comment id `id`, or nullptr.
  const JudgedClaim* Find(int64_t id) const;
};

// Judges lock `name` from `snapshot` and `registry` at GitHub time `now`. `closed_at`, for a
// task issue that is closed, kills the claims created before it. A claim naming a lease that
// is not visible is taken to live `fallback_lease` from its own updated_at.
LockState JudgeLock(const std::string& name, const CommentSnapshot& snapshot,
                    const RegistryView& registry, absl::Time now, absl::Duration lock_delay,
                    absl::Duration fallback_lease, std::optional<absl::Time> closed_at);

// How to claim.
struct ClaimOptions {
  absl::Duration ttl = absl::ZeroDuration();
  std::map<std::string, std::string> metadata;
  // Who the lock is taken over from, for the claim's summary (found by the pre-check when
  // empty).
  std::string recovered_from;
  absl::Time lapsed_at = absl::InfinitePast();
  // List the claims before posting (see the top of this file).
  bool precheck = true;
};

class LockProtocol {
 public:
  // Locks for the worker whose lease `registry` keeps; `registry` must outlive this.
  LockProtocol(const GitHubContext& ctx, Registry* registry);

  // Where lock `name` lives: a decimal name of a task issue is that issue; any other name
  // lives on the locks issue (found or created on first use). Remembered per name.
  absl::StatusOr<LockSite> Locate(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  // Records where `name` lives (NextTask knows it from the queue).
  void Remember(const std::string& name, const LockSite& site) ABSL_LOCKS_EXCLUDED(mu_);

  // Lists the site's comments afresh and judges lock `name`.
  absl::StatusOr<LockState> Judge(const LockSite& site, const std::string& name);

  // The whole protocol: takes lock `name` for this worker, waiting up to `wait_timeout` in
  // claim order. Not getting it is not an error. The caller validates the input.
  absl::StatusOr<AcquireAttempt> Acquire(const LockSite& site, const std::string& name,
                                         const ClaimOptions& options, absl::Duration wait_timeout,
                                         const std::function<bool()>& cancelled);

  // The protocol's steps, for Acquire and for tests.
  // Step 1: posts a claim for the own lease `lease`.
  absl::StatusOr<Comment> PostClaim(const LockSite& site, const std::string& name,
                                    const ClaimOptions& options, const OwnLease& lease);
  // Step 2: waits for claim `claim_id` to become visible; nullopt when it never does.
  absl::StatusOr<std::optional<LockState>> AwaitVisible(const LockSite& site,
                                                        const std::string& name,
                                                        int64_t claim_id);
  // Deletes claim `claim_id` (withdrawal or release; idempotent). When the delete fails because
  // GitHub is blocked or unreachable, the claim is remembered and deleted by a later
  // RetryWithdrawals: a claim that won but was never used (a failed hand-out) would otherwise
  // hold its lock until its ttl ran out.
  absl::Status Withdraw(int64_t claim_id, WritePriority priority = WritePriority::kRelease);
  // Deletes the claims whose withdrawal failed (Acquire and heartbeats call it). Best effort.
  void RetryWithdrawals() ABSL_LOCKS_EXCLUDED(mu_);
  // Deletes the dead claims found below a claim that won a named lock (a crashed holder's, taken
  // over): once a later claim holds the lock past its lock-delay, nothing judges by them. Low
  // priority, best effort; the background tick calls it.
  void SweepDeadClaims() ABSL_LOCKS_EXCLUDED(mu_);

  // Fencing: lists the claims afresh and returns claim `token` if it is the lock's live holder
  // (and this worker's, with `must_be_mine`). FAILED_PRECONDITION when it is not;
  // INVALID_ARGUMENT for token 0 or a comment that is not a claim of this lock.
  absl::StatusOr<JudgedClaim> CheckFence(const LockSite& site, const std::string& name,
                                         uint64_t token, bool must_be_mine);

  // Of `held` (locks this worker believes it holds), those that are no longer its live hold,
  // judged like CheckFence but listing each issue (and the registry) once for all of them.
  // `ttl_lapsed`, when given, receives those of them whose claim is listed and lapsed by its
  // own ttl while the holder's lease lives (the ones a renewal of the lease would revive).
  absl::StatusOr<std::vector<LockInfo>> Lost(const std::vector<LockInfo>& held,
                                             std::vector<LockInfo>* ttl_lapsed = nullptr);

  // Releases exactly instance `token` of `name`: deletes the claim if it is this worker's live
  // hold (RELEASED). Otherwise NOT_HELD or HELD_BY_OTHER, as on the embedded store; a waiting
  // claim of this worker named by `token` is withdrawn on the way.
  absl::StatusOr<ReleaseOutcome> Release(const LockSite& site, const std::string& name,
                                         uint64_t token);

  // Extends the held lock's ttl (zero keeps it) with one edit of its claim.
  absl::StatusOr<LockInfo> Renew(const LockSite& site, const std::string& name, uint64_t token,
                                 absl::Duration ttl);

  // The live locks whose claims are on `issue` (`task`: a task issue, whose one lock is named
  // by its number).
  absl::StatusOr<std::vector<LockInfo>> ListOn(int64_t issue, bool task);

 private:
  // Judges with the registry (the coordination issue, listed conditionally).
  absl::StatusOr<LockState> JudgeSnapshot(const LockSite& site, const std::string& name,
                                          const CommentSnapshot& snapshot);
  // CheckFence's verdict on `state` (from `snapshot`).
  absl::StatusOr<JudgedClaim> FenceVerdict(const LockState& state,
                                           const CommentSnapshot& snapshot,
                                           const std::string& name, uint64_t token,
                                           bool must_be_mine);
  std::optional<absl::Time> ClosedAt(const LockSite& site);

  GitHubContext ctx_;
  Registry* const registry_;
  absl::Mutex mu_;
  std::map<std::string, LockSite> sites_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> pending_withdrawals_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> lapsed_below_ ABSL_GUARDED_BY(mu_);  // for SweepDeadClaims
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_CLAIMS_H_
