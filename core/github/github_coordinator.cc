// The Coordinator on a GitHub repository (see github_coordinator.h).
#include "core/github/github_coordinator.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/cluster_summary.h"
#include "core/validation.h"

namespace tasksentinel {

using github::JudgedClaim;
using github::LockSite;
using github::OwnLease;

GitHubCoordinator::GitHubCoordinator(const Config& config, github::GitHubApi* api, Clock* clock,
                                     Options options)
    : config_(config),
      options_(options),
      clock_(clock),
      stale_(options_.events != nullptr ? options_.events : NoEventSink(), config.worker_id),
      seal_(config.worker_secret, absl::StrCat(config.github_owner, "/", config.github_repo)),
      screen_(&seal_, options.bounds),
      views_(api, &screen_, &stats_.foreign_comments, &stats_.foreign_records,
             options.on_foreign_record),
      coordination_(api, clock, config.github_claim_settle, options.visibility_retries,
                    github::CoordinationIssueKind(), &screen_),
      locks_issue_(api, clock, config.github_claim_settle, options.visibility_retries,
                   github::LocksIssueKind(), &screen_),
      lag_(config.github_claim_settle, options.min_retry_wait,
           github::MaxClaimSettle(config, options)),
      lag_probe_(&views_, clock, &notifier_, &lag_, options.lag_probe_interval,
                 github::MaxClaimSettle(config, options)),
      ctx_{api,     clock,    &notifier_, &config_, &held_,   &views_, &coordination_,
           &locks_issue_, &issues_, &stats_, &options_, &seal_, &screen_, &lag_, &lag_probe_},
      registry_(ctx_),
      locks_(ctx_, &registry_),
      tasks_(ctx_, &registry_, &locks_),
      memory_(ctx_, &locks_) {
  if (options_.events == nullptr) options_.events = NoEventSink();
  if (options_.background_sync) {
    background_ = std::make_unique<std::thread>([this] { BackgroundLoop(); });
  }
}

GitHubCoordinator::~GitHubCoordinator() {
  {
    absl::MutexLock lock(&background_mu_);
    stopping_ = true;
  }
  notifier_.Shutdown();
  if (background_ != nullptr) background_->join();
}

void GitHubCoordinator::BackgroundLoop() {
  while (true) {
    const absl::Time due = std::min(memory_.NextFlushDue(), lag_probe_.Due());
    const absl::Duration wait =
        std::clamp(due - clock_->Now(), absl::Milliseconds(10), options_.poll_interval);
    {
      absl::MutexLock lock(&background_mu_);
      clock_->AwaitWithTimeout(&background_mu_, absl::Condition(&stopping_), wait);
      if (stopping_) return;
    }
    (void)Tick();
  }
}

absl::Status GitHubCoordinator::Tick() {
  (void)lag_probe_.Step();  // when due (a registration of ours not yet seen in lists)
  ReleaseLocksOfASilentWorker();
  // Memory first: the clean-up below waits behind every other write of this sidecar.
  absl::Status flushed = memory_.Flush(/*force=*/false);
  WatchStaleWorkers();
  SweepRecords();
  return flushed;
}

void GitHubCoordinator::WatchStaleWorkers() {
  std::optional<int64_t> issue = coordination_.Known();
  if (!issue.has_value()) return;
  github::SnapshotPtr snapshot = views_.Latest(*issue);
  if (snapshot == nullptr) return;
  stale_.Observe(github::ListWorkers(registry_.ViewOf(*snapshot), ctx_.api->ServerNow(), {},
                                     /*include_gone=*/false, registry_.OwnEntry()));
}

void GitHubCoordinator::SweepRecords() {
  // Registrations of this worker's earlier epochs: ended for everyone, read by nobody.
  for (int64_t id : registry_.TakeSuperseded()) {
    (void)ctx_.api->DeleteComment(id, github::WritePriority::kCleanup);
  }
  locks_.SweepDeadClaims();
  // Long-dead registrations of other workers, every sweep interval, a few at a time.
  bool sweep = false;
  {
    absl::MutexLock lock(&worker_mu_);
    if (clock_->Now() >= next_sweep_) {
      next_sweep_ = clock_->Now() + kSweepInterval;
      sweep = true;
    }
  }
  if (!sweep) return;
  std::vector<std::string> workers;
  const std::vector<int64_t> expired = registry_.Expired(kSweepLimit, &workers);
  for (size_t i = 0; i < expired.size(); ++i) {
    if (!ctx_.api->DeleteComment(expired[i], github::WritePriority::kCleanup).ok()) continue;
    if (workers[i] == config_.worker_id) continue;  // an own earlier epoch: nobody went
    Event e;
    e.kind = EventKind::kWorkerGone;
    e.worker = workers[i];
    e.result = "swept";
    e.details = {{"registration", absl::StrCat(expired[i])}};
    options_.events->Record(e);
  }
}

void GitHubCoordinator::ReleaseLocksOfASilentWorker() {
  absl::MutexLock silent(&silent_release_mu_);
  {
    absl::MutexLock lock(&worker_mu_);
    if (last_worker_heartbeat_ == absl::InfinitePast() ||
        clock_->Now() - last_worker_heartbeat_ <= config_.stale_threshold) {
      return;
    }
  }
  for (const LockInfo& lock : held_.Snapshot()) {
    // As the worker's own ReleaseLock would (a task goes back to the queue at once).
    absl::StatusOr<ReleaseOutcome> out = ReleaseLock(lock.name, lock.token);
    // Released, or already lost (its lease or ttl lapsed): either way no longer held, and the
    // worker hears of it once, at its next heartbeat. (Held by another, it stays among the held
    // locks, and the heartbeat's judgement reports it.)
    if (out.ok() && *out != ReleaseOutcome::kHeldByOther) {
      absl::MutexLock lock_worker(&worker_mu_);
      released_while_silent_.push_back(lock);
    }
  }
}

std::vector<std::string> GitHubCoordinator::Notices() {
  std::vector<std::string> notices;
  const github::FleetPace pace = registry_.Pace();
  if (pace.stretched) notices.push_back(pace.Describe(config_.github_writes_per_hour));
  const absl::Duration lag = lag_.Estimate();
  if (lag > config_.github_claim_settle) {
    auto tenths = [](absl::Duration d) {
      return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(100)));
    };
    notices.push_back(absl::StrCat(
        "GitHub lists show new comments ", tenths(lag), " late: claims wait ",
        tenths(lag_.Settle()),
        lag_.Lagging() ? " (the bound; claims are likely taken back unjudged)" : "",
        " before judging"));
  }
  return notices;
}

absl::Status GitHubCoordinator::ResolveTrust() {
  absl::MutexLock lock(&trust_mu_);
  if (trust_resolved_) return absl::OkStatus();
  absl::StatusOr<github::TrustedAuthors> authors =
      github::TrustedAuthors::Resolve(*ctx_.api, config_.trusted_authors);
  if (!authors.ok()) return authors.status();
  screen_.SetAuthors(*std::move(authors));
  trust_resolved_ = true;
  return absl::OkStatus();
}

absl::StatusOr<WorkerRecord> GitHubCoordinator::Register() {
  if (absl::Status s = ResolveTrust(); !s.ok()) return s;
  absl::StatusOr<WorkerRecord> me = registry_.Register();
  if (me.ok()) notifier_.Notify();
  return me;
}

absl::StatusOr<int> GitHubCoordinator::Deregister() {
  (void)memory_.Flush(/*force=*/true);
  const OwnLease lease = registry_.Current();
  if (!lease.registered()) {
    held_.Clear();
    return 0;
  }
  // Claims that cannot be removed (a 403, GitHub down) never keep the worker from departing:
  // marking it gone ends its epoch, which ends every claim of it for everyone.
  int released = 0;
  for (const LockInfo& lock : held_.Snapshot()) {
    absl::StatusOr<LockSite> site = locks_.Locate(lock.name);
    if (!site.ok()) continue;
    absl::StatusOr<ReleaseOutcome> out = locks_.Release(*site, lock.name, lock.token);
    if (out.ok() && *out == ReleaseOutcome::kReleased) ++released;
  }
  // Any other claim of this worker on the locks issue (e.g. left by a crash). Only claims that
  // count (trust.h) are this worker's: a claim someone else planted under its name is foreign.
  absl::StatusOr<std::optional<int64_t>> issue = locks_issue_.Existing();
  if (issue.ok() && issue->has_value()) {
    absl::StatusOr<github::SnapshotPtr> snapshot = views_.Refresh(**issue, clock_->Now());
    if (snapshot.ok()) {
      for (const github::ViewedComment& c : (*snapshot)->comments) {
        const github::ClaimRecord* r = c.As<github::ClaimRecord>();
        if (r != nullptr && r->worker_id == config_.worker_id) {
          (void)locks_.Withdraw(c.comment.id);  // best effort, as above
        }
      }
    }
  }
  if (absl::Status s = registry_.Depart(); !s.ok()) return s;
  held_.Clear();
  notifier_.Notify();
  return released;
}

void GitHubCoordinator::Interrupt() { notifier_.Shutdown(); }

absl::StatusOr<AcquireAttempt> GitHubCoordinator::AcquireLock(
    const AcquireRequest& request, const std::function<bool()>& cancelled) {
  NoteWorkerAlive();
  if (absl::Status s = ValidateId("task_id", request.name); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("ttl", request.ttl, kMaxLockTtl); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("wait_timeout", request.wait_timeout, kMaxWait); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateMetadata(request.metadata); !s.ok()) return s;
  absl::StatusOr<LockSite> site = locks_.Locate(request.name);
  if (!site.ok()) return site.status();
  github::ClaimOptions options;
  options.ttl = request.ttl == absl::ZeroDuration() ? config_.lock_ttl : request.ttl;
  options.metadata = request.metadata;
  return locks_.Acquire(*site, request.name, options, request.wait_timeout, cancelled);
}

absl::StatusOr<LockInfo> GitHubCoordinator::RenewLock(const std::string& name, uint64_t token,
                                                      absl::Duration ttl) {
  NoteWorkerAlive();
  if (absl::Status s = ValidateId("task_id", name); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("ttl", ttl, kMaxLockTtl); !s.ok()) return s;
  absl::StatusOr<LockSite> site = locks_.Locate(name);
  if (!site.ok()) return site.status();
  return locks_.Renew(*site, name, token, ttl);
}

absl::StatusOr<ReleaseOutcome> GitHubCoordinator::ReleaseLock(const std::string& name,
                                                              uint64_t token) {
  if (absl::Status s = ValidateId("task_id", name); !s.ok()) return s;
  absl::StatusOr<LockSite> site = locks_.Locate(name);
  if (!site.ok()) return site.status();
  held_.MarkReleasing(name, token);
  absl::StatusOr<ReleaseOutcome> out = locks_.Release(*site, name, token);
  if (!out.ok() || *out == ReleaseOutcome::kHeldByOther) {
    held_.Unmark(name, token);
    return out;
  }
  held_.Remove(name, token);
  if (*out == ReleaseOutcome::kReleased && site->task) {
    // A task whose lock its worker gave back goes back to the queue (best effort: otherwise
    // it is recovered as an orphan once the lock-delay has passed).
    (void)tasks_.Requeue(site->issue, token);
  }
  return out;
}

absl::StatusOr<std::vector<LockInfo>> GitHubCoordinator::ListLocks() {
  std::vector<LockInfo> named;
  absl::StatusOr<std::optional<int64_t>> issue = locks_issue_.Existing();
  if (!issue.ok()) return issue.status();
  if (issue->has_value()) {
    absl::StatusOr<std::vector<LockInfo>> on = locks_.ListOn(**issue, /*task=*/false);
    if (!on.ok()) return on.status();
    named = *std::move(on);
  }
  absl::StatusOr<std::vector<LockInfo>> out = std::move(named);
  absl::StatusOr<std::vector<github::Issue>> running = tasks_.InProgress();
  if (!running.ok()) return running.status();
  for (const github::Issue& task : *running) {
    absl::StatusOr<std::vector<LockInfo>> held = locks_.ListOn(task.number, /*task=*/true);
    if (!held.ok()) return held.status();
    out->insert(out->end(), held->begin(), held->end());
  }
  std::sort(out->begin(), out->end(),
            [](const LockInfo& a, const LockInfo& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<uint32_t> GitHubCoordinator::CountNamedLocks() {
  absl::StatusOr<std::optional<int64_t>> issue = locks_issue_.Existing();
  if (!issue.ok()) return issue.status();
  if (!issue->has_value()) return 0;
  absl::StatusOr<std::vector<LockInfo>> on = locks_.ListOn(**issue, /*task=*/false);
  if (!on.ok()) return on.status();
  return static_cast<uint32_t>(on->size());
}

absl::StatusOr<HeartbeatResult> GitHubCoordinator::Heartbeat(const HeartbeatReport& report) {
  absl::MutexLock silent(&silent_release_mu_);
  {
    absl::MutexLock lock(&worker_mu_);
    last_worker_heartbeat_ = clock_->Now();
  }
  (void)memory_.Flush(/*force=*/false);
  const std::vector<LockInfo> held = held_.Snapshot();
  const OwnLease before = registry_.Current();
  const bool lapsed = !before.LiveAt(ctx_.api->ServerNow());
  // Judged before renewing: a lease that lapsed loses all of its locks. Reads only: each issue
  // holding one of the locks is listed once (conditionally).
  std::vector<LockInfo> lost = held;
  std::vector<LockInfo> ttl_lapsed;
  if (!lapsed) {
    absl::StatusOr<std::vector<LockInfo>> judged = locks_.Lost(held, &ttl_lapsed);
    if (judged.ok()) {
      lost = *std::move(judged);
    } else if (absl::IsResourceExhausted(judged.status()) ||
               absl::IsUnavailable(judged.status())) {
      // GitHub is blocked or unreachable: still renew the lease (or fail the write, which
      // stretches the next one: registry.h), and judge the locks at the next heartbeat.
      lost.clear();
      ttl_lapsed.clear();
    } else {
      return judged.status();
    }
  }
  // A lock whose own ttl lapsed stays dead: a lock's ttl counts from its holder's latest
  // renewal, so the renewal below would make the claim look live again (to this sidecar's fence
  // checks and to everyone else, who may have taken the lock meanwhile). Its claim is withdrawn
  // first — unless the worker is releasing it right now; a withdrawal that fails is retried like
  // any other.
  std::vector<LockInfo> reported = held_.TakeLost(ttl_lapsed);
  for (const LockInfo& l : reported) (void)locks_.Withdraw(static_cast<int64_t>(l.token));
  // Claims whose withdrawal failed earlier (rate limit, GitHub unreachable) would otherwise
  // hold their locks until their ttl runs out.
  locks_.RetryWithdrawals();
  bool new_epoch = false;
  absl::StatusOr<OwnLease> lease = registry_.Heartbeat(report, &new_epoch);
  if (!lease.ok()) return lease.status();
  if (new_epoch) lost = held;  // every lock of the old epoch is dead
  HeartbeatResult result;
  result.lost_locks = std::move(reported);
  for (LockInfo& l : held_.TakeLost(lost)) result.lost_locks.push_back(std::move(l));
  {
    absl::MutexLock lock(&worker_mu_);
    for (LockInfo& l : released_while_silent_) result.lost_locks.push_back(std::move(l));
    released_while_silent_.clear();
  }
  result.lease_expires_at = lease->ends_at();
  result.lease_epoch = lease->epoch;
  notifier_.Notify();
  return result;
}

absl::StatusOr<MemoryEntry> GitHubCoordinator::GetMemory(const std::string& ns,
                                                         const std::string& key) {
  return memory_.Get(ns, key);
}

absl::StatusOr<MemoryEntry> GitHubCoordinator::SetMemory(const SetRequest& request) {
  return memory_.Set(request);
}

absl::StatusOr<bool> GitHubCoordinator::DeleteMemory(const std::string& ns,
                                                     const std::string& key,
                                                     std::optional<uint64_t> expected_version,
                                                     const std::optional<FenceRef>& fencing) {
  return memory_.Delete(ns, key, expected_version, fencing);
}

absl::StatusOr<std::vector<MemoryEntry>> GitHubCoordinator::ListMemory(
    const std::string& ns, const std::string& prefix) {
  return memory_.List(ns, prefix);
}

absl::Status GitHubCoordinator::WatchMemory(const std::string& ns, const std::string& prefix,
                                            bool include_initial,
                                            const std::function<bool(const MemoryEvent&)>& sink,
                                            const std::function<bool()>& cancelled) {
  return memory_.Watch(ns, prefix, include_initial, sink, cancelled);
}

absl::StatusOr<TaskRecord> GitHubCoordinator::CreateTask(const NewTask& task) {
  return tasks_.Create(task);
}

absl::StatusOr<std::optional<HandedOutTask>> GitHubCoordinator::NextTask(
    const std::vector<std::string>& types, absl::Duration wait_timeout,
    const std::function<bool()>& cancelled) {
  NoteWorkerAlive();
  absl::StatusOr<std::optional<HandedOutTask>> next = tasks_.Next(types, wait_timeout, cancelled);
  NoteWorkerAlive();
  return next;
}

void GitHubCoordinator::NoteWorkerAlive() {
  absl::MutexLock lock(&worker_mu_);
  if (last_worker_heartbeat_ != absl::InfinitePast()) last_worker_heartbeat_ = clock_->Now();
}

absl::StatusOr<TaskRecord> GitHubCoordinator::CompleteTask(const std::string& id, uint64_t token,
                                                           const std::string& result) {
  return tasks_.Complete(id, token, result);
}

absl::StatusOr<TaskRecord> GitHubCoordinator::FailTask(const std::string& id, uint64_t token,
                                                       const std::string& error, bool retryable) {
  return tasks_.Fail(id, token, error, retryable);
}

absl::StatusOr<TaskRecord> GitHubCoordinator::GetTask(const std::string& id) {
  return tasks_.Get(id);
}

absl::StatusOr<std::vector<WorkerInfo>> GitHubCoordinator::Workers(bool include_gone) {
  absl::StatusOr<github::RegistryView> view = registry_.View();
  if (!view.ok()) return view.status();
  absl::StatusOr<std::map<std::string, uint32_t>> active = tasks_.ActiveByWorker();
  if (!active.ok()) return active.status();
  std::vector<WorkerInfo> workers = github::ListWorkers(*view, ctx_.api->ServerNow(), *active,
                                                       include_gone, registry_.OwnEntry());
  stale_.Observe(workers);
  return workers;
}

absl::StatusOr<ClusterHealth> GitHubCoordinator::Health() {
  absl::StatusOr<std::vector<WorkerInfo>> workers = Workers(/*include_gone=*/false);
  if (!workers.ok()) return workers.status();
  absl::StatusOr<TaskCounts> tasks = tasks_.Count();
  if (!tasks.ok()) return tasks.status();
  return SummarizeCluster(*std::move(workers), *tasks);
}

std::vector<BackendMetric> GitHubCoordinator::BackendMetrics() {
  std::vector<BackendMetric> metrics = {
      {"tasksentinel_github_foreign_comments_total",
       "Comments on coordination issues that are not the sidecar's records (ignored).", true,
       static_cast<double>(stats_.foreign_comments.load())},
      {"tasksentinel_github_claims_posted_total", "Lock claims this sidecar posted.", true,
       static_cast<double>(stats_.claims_posted.load())},
      {"tasksentinel_github_claims_withdrawn_total",
       "Claims this sidecar deleted: withdrawn after losing, or released.", true,
       static_cast<double>(stats_.claims_withdrawn.load())},
      {"tasksentinel_github_memory_flushes_total", "Memory comment writes.", true,
       static_cast<double>(stats_.memory_flushes.load())},
      {"tasksentinel_github_memory_cache_entries",
       "Merged shared-memory entries kept for answering reads (at most MEMORY_CACHE_SIZE).",
       false, static_cast<double>(stats_.memory_cache_entries.load())},
  };
  const github::FleetPace pace = registry_.Pace();
  metrics.push_back({"tasksentinel_github_identity_sidecars",
                     "Live sidecars writing as this sidecar's GitHub identity (this one included); "
                     "each keeps to its share of GITHUB_WRITES_PER_MINUTE and _PER_HOUR.",
                     false, static_cast<double>(pace.sharers)});
  metrics.push_back({"tasksentinel_github_lease_seconds",
                     "The lease this sidecar writes: STALE_WORKER_THRESHOLD_MS, stretched when the "
                     "identity's write budget cannot carry a heartbeat write every "
                     "HEARTBEAT_INTERVAL_MS for every sidecar.",
                     false, absl::ToDoubleSeconds(pace.lease)});
  metrics.push_back({"tasksentinel_github_renew_interval_seconds",
                     "The least time between two registration writes of this sidecar.", false,
                     absl::ToDoubleSeconds(pace.renew_interval)});
  metrics.push_back({"tasksentinel_github_claim_settle_seconds",
                     "How long a claim waits before its first list: GITHUB_CLAIM_SETTLE_MS, "
                     "widened to the measured lag of GitHub's lists (bounded).",
                     false, absl::ToDoubleSeconds(lag_.Settle())});
  metrics.push_back({"tasksentinel_github_read_lag_seconds",
                     "The measured lag before GitHub's lists show this sidecar's own claims "
                     "(0: none seen).",
                     false, absl::ToDoubleSeconds(lag_.Estimate())});
  metrics.push_back({"tasksentinel_github_claims_unseen_total",
                     "Claims never visible within their window (taken back unjudged).", true,
                     static_cast<double>(stats_.claims_unseen.load())});
  const github::ApiCounters api = ctx_.api->counters();
  metrics.push_back({"tasksentinel_github_dates_ignored_total",
                     "GitHub answers whose Date jumped further than the local clock allows "
                     "(ignored for GitHub's time).",
                     true, static_cast<double>(api.dates_ignored)});
  metrics.push_back({"tasksentinel_github_oversized_answers_total",
                     "GitHub answers refused for being larger than the per-page cap.", true,
                     static_cast<double>(api.oversized_answers)});
  for (size_t i = 0; i < static_cast<size_t>(github::ForeignReason::kCount); ++i) {
    const auto reason = static_cast<github::ForeignReason>(i);
    BackendMetric m{"tasksentinel_github_foreign_records_total",
                    "Records on GitHub that did not count (ignored), by reason: untrusted_author, "
                    "unsigned, bad_signature, replay, out_of_range, malformed, newer_schema.",
                    true, static_cast<double>(stats_.foreign_records.Get(reason))};
    m.labels = {{"reason", std::string(github::ForeignReasonName(reason))}};
    metrics.push_back(std::move(m));
  }
  return metrics;
}

}  // namespace tasksentinel
