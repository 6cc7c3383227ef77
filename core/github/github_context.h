// What every GitHub coordination protocol of one sidecar shares: the API, the clock, the change
// signal, the configuration, the locks the worker holds, the comment views, the coordination
// issue, the latest known state of task issues, and the backend's options.
//
// Why it is safe to share: nothing here decides anything. The views and the issue cache only
// remember what GitHub answered; every protocol still lists afresh before a decision that must
// be exclusive (see claims.h).
//
// Thread safety: the pointed-to objects are each safe for concurrent use; the context itself is
// immutable after construction and outlives every protocol that uses it.
#ifndef TASK_SENTINEL_CORE_GITHUB_GITHUB_CONTEXT_H_
#define TASK_SENTINEL_CORE_GITHUB_GITHUB_CONTEXT_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/event_sink.h"
#include "core/github/comment_view.h"
#include "core/github/coordination_issue.h"
#include "core/github/github_api.h"
#include "core/github/record_seal.h"
#include "core/github/trust.h"
#include "core/github/lag_probe.h"
#include "core/github/visibility_lag.h"
#include "core/held_locks.h"
#include "core/notifier.h"

namespace tasksentinel::github {

// How the GitHub backend behaves beyond the configuration.
struct GitHubOptions {
  // How often blocked calls (AcquireLock and NextTask with a wait, WatchMemory) list again.
  // Conditional lists are free of the primary rate limit but not of the secondary one (900
  // points a minute), so this is much longer than the embedded store's poll interval.
  absl::Duration poll_interval = absl::Seconds(2);
  // How many more times a claim (or a new coordination issue) that is not visible after the
  // settle delay is looked for, each after another settle delay (at least `min_retry_wait`).
  int visibility_retries = 3;
  absl::Duration min_retry_wait = absl::Milliseconds(500);
  // The bound of the first wait after posting a claim when GitHub's lists lag
  // (visibility_lag.h): the settle delay widens with the measured lag up to this.
  // (10 s: beyond that a NextTask or AcquireLock call would outlast its callers' deadlines.)
  // Never more than half the stale threshold: see MaxClaimSettle.
  absl::Duration max_claim_settle = absl::Seconds(10);
  // Whether each new registration measures the read lag before claims depend on it, and how
  // often the probe lists while it waits for the registration to show (lag_probe.h).
  bool probe_lag = true;
  absl::Duration lag_probe_interval = absl::Milliseconds(250);
  // GitHub's timestamps have one-second resolution: other workers' leases and claims are
  // judged live this much longer (never shorter).
  absl::Duration slack = absl::Seconds(1);
  // At most this many claims per NextTask attempt (each costs a write).
  int max_claims_per_next = 3;
  // Ranges of numbers in records (trust.h).
  RecordBounds bounds;
  // Called once for each record that does not count (for a debug log line); may be null.
  std::function<void(const Comment&, ForeignReason)> on_foreign_record;
  // Called when the lease stretches for the fleet's write budget, with one line saying why, e.g.
  // "lease 6m0s: 40 workers share 500 writes/h (...)"; may be null.
  std::function<void(const std::string&)> on_pace;
  // Where the backend reports its events (stale workers, recovered locks, tasks taken over,
  // claim steps, memory flushes, a stretched lease: core/event_sink.h). Never null; must
  // outlive the coordinator.
  EventSink* events = NoEventSink();
  // Whether the coordinator runs a background thread that flushes memory when due and keeps
  // the coordination issue's view fresh. Off in tests (they drive a FakeClock and call
  // GitHubCoordinator::Tick()); the sidecar binary turns it on.
  bool background_sync = false;
};

// The latest known state of issues, from lists, gets and our own writes.
class IssueCache {
 public:
  // Remembers `issue` as its latest known state.
  void Put(const Issue& issue) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    issues_[issue.number] = issue;
  }
  // The latest known state of issue `number`, if any.
  std::optional<Issue> Get(int64_t number) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = issues_.find(number);
    if (it == issues_.end()) return std::nullopt;
    return it->second;
  }

 private:
  absl::Mutex mu_;
  std::map<int64_t, Issue> issues_ ABSL_GUARDED_BY(mu_);
};

// The backend's counters, for metrics.
struct GitHubStats {
  std::atomic<int64_t> foreign_comments{0};  // tasksentinel_github_foreign_comments_total
  ForeignCounts foreign_records;             // tasksentinel_github_foreign_records_total
  std::atomic<int64_t> claims_posted{0};     // LOCK_CLAIM comments posted
  std::atomic<int64_t> claims_withdrawn{0};  // claims deleted (withdrawn or released)
  std::atomic<int64_t> memory_flushes{0};    // memory comment writes
  std::atomic<int64_t> memory_cache_entries{0};  // merged memory entries cached (a gauge)
  std::atomic<int64_t> claims_unseen{0};  // claims never visible in their window (taken back)
};

// The bound of the first wait after posting a claim: GitHubOptions::max_claim_settle, and at
// most half of what is left of STALE_WORKER_THRESHOLD_MS after GitHub's one-second timestamps
// (`slack`). A claim whose worker's registration is not
// visible yet is judged live for one stale threshold from the claim's own (truncated) time only
// (claims.h); a claimant that judged later would find such an earlier claim dead and win beside
// it (found by github_cluster_balancer_test: registrations hidden for an hour, a stale threshold
// of 2 s, claims settling 10 s, tasks completed by two workers).
inline absl::Duration MaxClaimSettle(const Config& config, const GitHubOptions& options) {
  return std::min(options.max_claim_settle, (config.stale_threshold - options.slack) / 2);
}

// The shared parts, by pointer; all must outlive the protocols.
struct GitHubContext {
  GitHubApi* api;
  Clock* clock;
  Notifier* notifier;
  const Config* config;
  HeldLocks* held;
  IssueViews* views;
  CoordinationIssue* coordination;  // registrations and memory
  CoordinationIssue* locks_issue;   // named locks
  IssueCache* issues;
  GitHubStats* stats;
  const GitHubOptions* options;
  const RecordSeal* seal;      // seals every record written
  const RecordScreen* screen;  // judges every record read
  VisibilityLag* lag;          // how late lists show the own claims
  LagProbe* lag_probe;         // measures the lag from each new registration
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_GITHUB_CONTEXT_H_
