// The Coordinator on a GitHub repository: every method of core/coordinator.h, with the same
// semantics and the same validation errors as the embedded store (EmbeddedCoordinator), built
// from the GitHub protocols of this directory (docs/protocol.md is the design):
//
//   coordination_issue.h  the issues that hold registrations and memory, and named locks
//   comment_view.h        cached, conditionally refreshed lists of an issue's comments
//   records.h             the comment format
//   registry.h            registration, heartbeats (one PATCH each), leases, epochs
//   claims.h              locks: claim, list, the lowest live claim wins; fencing; lock-delay
//   github_tasks.h        tasks as issues: hand-out, completion, failure, recovery
//   github_memory.h       shared memory: per-worker comments merged last-write-wins
//   merged_memory_cache.h the merged views kept for reads (MEMORY_CACHE_SIZE)
//
// A sidecar never talks to another one; they coordinate only through the repository, reached
// only through GitHubApi (the write queue and rate limits live behind it). Blocking calls
// (AcquireLock/NextTask with a wait, WatchMemory) list again every GitHubOptions::poll_interval,
// through the Clock, and end early on cancellation or Interrupt().
//
// Why it is safe: see each protocol's file. In short, GitHub gives no compare-and-swap, so every
// decision that must be exclusive (who holds a lock) is made from ascending comment ids, which
// every sidecar reads the same way, and every action that must be exclusive (completing a task,
// a fenced memory write) re-reads the claims first and refuses unless the token still wins.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_GITHUB_COORDINATOR_H_
#define TASK_SENTINEL_CORE_GITHUB_GITHUB_COORDINATOR_H_

#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/coordinator.h"
#include "core/event_sink.h"
#include "core/stale_worker_watch.h"
#include "core/github/claims.h"
#include "core/github/comment_view.h"
#include "core/github/coordination_issue.h"
#include "core/github/github_api.h"
#include "core/github/github_context.h"
#include "core/github/github_memory.h"
#include "core/github/github_tasks.h"
#include "core/github/lag_probe.h"
#include "core/github/registry.h"
#include "core/held_locks.h"
#include "core/notifier.h"

namespace tasksentinel {

class GitHubCoordinator final : public Coordinator {
 public:
  using Options = github::GitHubOptions;

  // `api` and `clock` must outlive the coordinator, and so must `options.events`. Nothing is
  // read or written until the first call (Register, normally), which finds or creates the
  // coordination issue.
  GitHubCoordinator(const Config& config, github::GitHubApi* api, Clock* clock,
                    Options options = Options());
  // Stops the background thread, if any (pending memory writes are not flushed: call
  // Deregister first).
  ~GitHubCoordinator() override;

  GitHubCoordinator(const GitHubCoordinator&) = delete;
  GitHubCoordinator& operator=(const GitHubCoordinator&) = delete;

  // Resolves the trusted authors (the token's account and SENTINEL_TRUSTED_AUTHORS) on first
  // use, then registers the worker.
  absl::StatusOr<WorkerRecord> Register() override;
  // Flushes pending memory writes, releases (deletes) every claim of this worker, and marks its
  // registration gone. Returns how many held locks it released.
  absl::StatusOr<int> Deregister() override;
  void Interrupt() override;

  absl::StatusOr<AcquireAttempt> AcquireLock(const AcquireRequest& request,
                                             const std::function<bool()>& cancelled) override;
  absl::StatusOr<LockInfo> RenewLock(const std::string& name, uint64_t token,
                                     absl::Duration ttl) override;
  absl::StatusOr<ReleaseOutcome> ReleaseLock(const std::string& name, uint64_t token) override;
  absl::StatusOr<std::vector<LockInfo>> ListLocks() override;
  // One (conditional) list of the locks issue.
  absl::StatusOr<uint32_t> CountNamedLocks() override;

  // One write (an edit of the registration, or a new epoch's registration after a lapse),
  // whatever the number of locks held; the held locks are checked with (conditional) lists.
  absl::StatusOr<HeartbeatResult> Heartbeat(const HeartbeatReport& report) override;

  absl::StatusOr<MemoryEntry> GetMemory(const std::string& ns, const std::string& key) override;
  absl::StatusOr<MemoryEntry> SetMemory(const SetRequest& request) override;
  absl::StatusOr<bool> DeleteMemory(const std::string& ns, const std::string& key,
                                    std::optional<uint64_t> expected_version,
                                    const std::optional<FenceRef>& fencing) override;
  absl::StatusOr<std::vector<MemoryEntry>> ListMemory(const std::string& ns,
                                                      const std::string& prefix) override;
  absl::Status WatchMemory(const std::string& ns, const std::string& prefix,
                           bool include_initial,
                           const std::function<bool(const MemoryEvent&)>& sink,
                           const std::function<bool()>& cancelled) override;

  absl::StatusOr<TaskRecord> CreateTask(const NewTask& task) override;
  absl::StatusOr<std::optional<HandedOutTask>> NextTask(
      const std::vector<std::string>& types, absl::Duration wait_timeout,
      const std::function<bool()>& cancelled) override;
  absl::StatusOr<TaskRecord> CompleteTask(const std::string& id, uint64_t token,
                                          const std::string& result) override;
  absl::StatusOr<TaskRecord> FailTask(const std::string& id, uint64_t token,
                                      const std::string& error, bool retryable) override;
  absl::StatusOr<TaskRecord> GetTask(const std::string& id) override;

  absl::StatusOr<std::vector<WorkerInfo>> Workers(bool include_gone) override;
  absl::StatusOr<ClusterHealth> Health() override;

  // Does what is due without a caller: releases a silent worker's locks, flushes the memory
  // namespaces whose sync interval has passed, reports workers found stale in the latest view
  // of the coordination issue (no request), and sweeps records nobody judges by any more. The
  // background thread (Options::background_sync) calls it; tests call it by hand.
  absl::Status Tick();

  // The backend's counters (foreign comments seen, claims, memory flushes).
  const github::GitHubStats& stats() const { return stats_; }
  std::vector<BackendMetric> BackendMetrics() override;
  // The lease stretched for the identity's write budget, when it is.
  std::vector<std::string> Notices() override;
  // How the registration writes are paced (registry.h).
  github::FleetPace Pace() { return registry_.Pace(); }

 private:
  void BackgroundLoop();
  // Resolves the trusted authors once; later calls return at once.
  absl::Status ResolveTrust();

  Config config_;
  Options options_;
  Clock* const clock_;
  Notifier notifier_;
  HeldLocks held_;
  StaleWorkerWatch stale_;
  github::GitHubStats stats_;
  github::RecordSeal seal_;
  github::RecordScreen screen_;
  absl::Mutex trust_mu_;
  bool trust_resolved_ ABSL_GUARDED_BY(trust_mu_) = false;
  github::IssueViews views_;
  github::CoordinationIssue coordination_;
  github::CoordinationIssue locks_issue_;
  github::VisibilityLag lag_;
  github::LagProbe lag_probe_;
  github::IssueCache issues_;
  github::GitHubContext ctx_;
  github::Registry registry_;
  github::LockProtocol locks_;
  github::GitHubTasks tasks_;
  github::GitHubMemory memory_;

  // Held by ReleaseLocksOfASilentWorker while it releases and by Heartbeat throughout (taken
  // before worker_mu_): a heartbeat never runs beside a release of the sweep, so it reports every
  // lock the sweep gave up, none is skipped as "being released" and heard of only a beat later.
  absl::Mutex silent_release_mu_ ABSL_ACQUIRED_BEFORE(worker_mu_);
  // When the worker last called Heartbeat (local clock; InfinitePast before the first).
  absl::Mutex worker_mu_;
  absl::Time last_worker_heartbeat_ ABSL_GUARDED_BY(worker_mu_) = absl::InfinitePast();
  // Locks released that way, for the worker's next heartbeat to report as lost.
  std::vector<LockInfo> released_while_silent_ ABSL_GUARDED_BY(worker_mu_);
  // The worker is alive: it calls NextTask, AcquireLock or RenewLock (a long NextTask wait is no
  // silence). Counts only once it has heartbeated.
  void NoteWorkerAlive() ABSL_LOCKS_EXCLUDED(worker_mu_);
  // Deletes records nobody judges by any more (docs/protocol.md, "Bounded growth"), at the
  // lowest write priority: the own earlier epochs' registrations, dead claims below a won lock,
  // and, every kSweepInterval, long-dead registrations of other workers.
  void SweepRecords();
  // Reports the workers the latest view of the coordination issue shows stale (no request).
  void WatchStaleWorkers();
  // Sweeping long-dead registrations (Registry::Expired): how often, how many at a time.
  static constexpr absl::Duration kSweepInterval = absl::Minutes(10);
  static constexpr size_t kSweepLimit = 20;
  absl::Time next_sweep_ ABSL_GUARDED_BY(worker_mu_) = absl::InfinitePast();
  // Releases every held lock when the worker stopped heartbeating for a stale threshold while
  // the sidecar lives (no lease wait); reported lost at the worker's next heartbeat.
  void ReleaseLocksOfASilentWorker();

  absl::Mutex background_mu_;
  bool stopping_ ABSL_GUARDED_BY(background_mu_) = false;
  std::unique_ptr<std::thread> background_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_GITHUB_GITHUB_COORDINATOR_H_
