// The worker registry on GitHub: one WORKER_REGISTRATION comment per worker and lease epoch on
// the coordination issue. Registering posts it; each heartbeat is ONE edit (PATCH) of it,
// whatever the number of locks the worker holds (locks are bound to the lease, not renewed one
// by one); departing edits it to "gone".
//
// A lease lasts the record's `lease_ms` from the comment's `updated_at`: GitHub's clock, never a
// worker's. Judging another worker, a sidecar adds `slack` (GitHub's one-second resolution) so a
// lease is considered live one second longer, never shorter. Judging itself, a sidecar uses its
// own last successful write's `updated_at` with no slack, so it gives up its locks no later than
// anyone else could take them.
//
// Why it is safe:
//   - A worker edits only its own comments, so heartbeats never race with another writer.
//   - A worker whose lease lapsed (by its own strict judgement) never edits the old comment
//     again: its next sign of life posts a new comment with the next epoch. Claims carry their
//     epoch, so the old epoch's locks stay dead for everyone, whatever the order in which
//     sidecars see the two comments (a later epoch also ends the earlier one at its creation).
//   - A registration that a sidecar cannot see yet (read lag) is judged live from the claim
//     that names it, for a whole stale threshold: unknown never means dead.
//   - A heartbeat states the end of the lease it renews; one that GitHub stamps after that end
//     (delayed by the write queue, a retry or a block) renews nothing (RegistrationEntry::
//     LeaseEnd): a lapsed lease stays lapsed for everyone, so a late write cannot revive locks
//     that other sidecars already took over. The writer sees the stamp in the answer and starts
//     a new epoch at once, reporting its locks lost.
//   - When the write budget or a rate limit delays heartbeats, the next registration written
//     carries a doubled lease, so that a live worker is not declared dead by others while its
//     heartbeats queue.
//
// Thread safety: Registry is safe for concurrent use (writes of the own registration are
// serialised); RegistryView is an immutable value.
#ifndef TASK_SENTINEL_CORE_GITHUB_REGISTRY_H_
#define TASK_SENTINEL_CORE_GITHUB_REGISTRY_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "core/github/comment_view.h"
#include "core/github/github_context.h"
#include "core/config.h"
#include "core/github/records.h"

namespace tasksentinel::github {

// One registration comment.
struct RegistrationEntry {
  int64_t comment_id = 0;
  RegistrationRecord record;
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();

  // Whether the latest heartbeat landed too late to renew anything: GitHub stamped it at or
  // after the end of the lease it meant to renew (a write delayed in a queue, a retry, a block).
  // (A stamp is the second the write happened in, so a heartbeat stamped just before that end
  // may have landed up to a second after it; others judge a lease with a second of slack, so
  // nobody can have taken its locks over by then.)
  bool LandedLate() const {
    return record.renews_until != absl::InfinitePast() && updated_at >= record.renews_until;
  }
  // When the lease of this epoch lapses, by the comment's own time (no slack): `lease` after the
  // latest heartbeat, or, when that heartbeat landed late, when the lease it meant to renew
  // ended. A lapsed lease is never revived, so every sidecar, the worker's own included, agrees
  // that its locks died then, whatever became of its delayed writes.
  absl::Time LeaseEnd() const {
    return LandedLate() ? record.renews_until : updated_at + record.lease;
  }
};

// This sidecar's own lease, as it knows it from its own writes.
struct OwnLease {
  std::string worker_id;
  uint64_t epoch = 0;
  int64_t comment_id = 0;  // 0: not registered (never, or departed)
  absl::Time started_at = absl::InfinitePast();  // the epoch comment's created_at
  absl::Time renewed_at = absl::InfinitePast();  // updated_at of the latest write
  absl::Duration lease = absl::ZeroDuration();

  bool registered() const { return comment_id != 0; }
  absl::Time ends_at() const { return renewed_at + lease; }
  // Strictly: no slack in our own favour.
  bool LiveAt(absl::Time now) const { return registered() && now < ends_at(); }
};

// A lease (worker, epoch) judged at one moment.
struct LeaseJudgement {
  bool known = false;  // its registration (or a later epoch's) was seen
  bool gone = false;   // the worker departed cleanly
  bool live = false;
  absl::Time ends_at = absl::InfinitePast();     // lapses or lapsed then
  absl::Time renewed_at = absl::InfinitePast();  // the latest heartbeat
};

// Every registration on the coordination issue, at one moment.
class RegistryView {
 public:
  // An empty registry (nothing visible).
  RegistryView() = default;
  // The registrations in `snapshot`; `self` is this sidecar's own lease (judged strictly);
  // other workers are judged with `slack` in their favour.
  RegistryView(const CommentSnapshot& snapshot, const OwnLease& self, absl::Duration slack);

  // Judges lease (worker, epoch) at `now`. When no registration of that epoch or a later one is
  // visible, the lease is taken to run `fallback_lease` from `fallback_start` (the time of the
  // comment that names it).
  LeaseJudgement Judge(const std::string& worker, uint64_t epoch, absl::Time now,
                       absl::Time fallback_start, absl::Duration fallback_lease) const;

  // The highest epoch seen for `worker` (0: none).
  uint64_t MaxEpoch(const std::string& worker) const;

  // Each worker's latest registration (the own one as this sidecar knows it, if it is newer).
  std::map<std::string, RegistrationEntry> Latest() const;

  // Registrations by worker, then epoch.
  const std::map<std::string, std::map<uint64_t, RegistrationEntry>>& entries() const {
    return entries_;
  }
  // This sidecar's own lease.
  const OwnLease& self() const { return self_; }
  // The slack other workers are judged with.
  absl::Duration slack() const { return slack_; }

 private:
  std::map<std::string, std::map<uint64_t, RegistrationEntry>> entries_;
  OwnLease self_;
  absl::Duration slack_ = absl::ZeroDuration();
};

// The WorkerRecord (core/records.h) a registration stands for.
WorkerRecord ToWorkerRecord(const RegistrationEntry& entry, absl::Time registered_at);

// Every worker's info from `view` at `now`: gone (departed), active (lease live, judged with
// slack) or stale; departed workers only with `include_gone`. `active_tasks` counts live task
// locks per worker. `own`, when registered, stands in for this sidecar's registration when it
// is newer than the visible one (read lag). Sorted by worker id.
std::vector<WorkerInfo> ListWorkers(const RegistryView& view, absl::Time now,
                                    const std::map<std::string, uint32_t>& active_tasks,
                                    bool include_gone, const RegistrationEntry& own);

// How often a sidecar writes its registration: leases are priced by what they protect, within
// the write budget of the identity (GITHUB_WRITES_PER_HOUR and _PER_MINUTE) that the live
// sidecars writing as the same account share (their registrations on the coordination issue).
//
//   - A worker that holds locks renews every `renew_interval`: HEARTBEAT_INTERVAL_MS, unless
//     that would exceed half of its sidecar's share of the identity's budget (the write queue
//     gives each of the n sharers 1/n of each window): then less often. Its lease is STALE_WORKER_THRESHOLD_MS stretched by the
//     same factor (threshold × renew_interval / HEARTBEAT_INTERVAL_MS), so a live worker always
//     has several renewals inside its lease, and its locks lapse at most `lease` (+ one second
//     of slack + LOCK_DELAY_MS) after its last heartbeat write.
//   - A worker that holds nothing only has to stay visible to the planners: it renews every
//     `idle_renew_interval` — GITHUB_IDLE_RENEW_INTERVAL_MS, or less often when the sharers'
//     idle writes would exceed a quarter of the budget — with its lease stretched alike. Before
//     it claims a lock it renews once with the holding lease (one write), so its locks never
//     hang on an idle lease; after it has held nothing for a holding interval, its next due
//     write goes back to the idle pace.
// So the idle fleet uses at most a quarter of the budget, the holders at most half, and at least
// a quarter is left for tasks. (`holders` is counted for the description only: an equal share per
// sidecar means a holder's pace depends on the number of sharers, not of holders.) The worker's Heartbeat RPC may come as often as it likes: it
// only tells the sidecar that the worker lives; between due writes the sidecar checks the held
// locks and writes nothing.
struct FleetPace {
  int sharers = 1;  // live sidecars on the identity, this one included
  int holders = 1;  // of those, the ones renewing at the holding pace
  absl::Duration renew_interval = absl::ZeroDuration();  // holding locks
  absl::Duration lease = absl::ZeroDuration();
  absl::Duration idle_renew_interval = absl::ZeroDuration();  // holding nothing
  absl::Duration idle_lease = absl::ZeroDuration();
  bool stretched = false;  // the holding lease is longer than STALE_WORKER_THRESHOLD_MS

  // "lease 6m0s: 40 workers share 500 writes/h (...)" (for logs and /health).
  std::string Describe(int writes_per_hour) const;
};

// The pace for `sharers` sidecars on one identity, `holders` of which hold locks (-1: all),
// with `config`'s budget and timings.
FleetPace PaceFor(int sharers, const Config& config, int holders = -1);

class Registry {
 public:
  // The registry of the worker `ctx.config` names. Nothing is written until Register or
  // EnsureLease.
  explicit Registry(const GitHubContext& ctx);

  // Registers the worker: resumes its live lease after a sidecar restart (no write), or posts a
  // registration with the next epoch.
  absl::StatusOr<WorkerRecord> Register() ABSL_LOCKS_EXCLUDED(mu_);

  // The own lease, live at GitHub's `now`: when there is none or it lapsed, posts a registration
  // with the next epoch. Sets *new_epoch when it did. `for_locks` (a claim follows): a lease
  // written at the idle pace is first renewed at the holding pace (one write; if that write
  // fails, the idle lease serves: its locks then lapse later, never earlier).
  absl::StatusOr<OwnLease> EnsureLease(bool* new_epoch = nullptr, bool for_locks = false)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Renews the lease with one write: an edit of the registration, or (when the lease lapsed, the
  // comment vanished, or there is none) a new epoch's registration. Records the report.
  absl::StatusOr<OwnLease> Heartbeat(const HeartbeatReport& report, bool* new_epoch)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The own registrations of earlier epochs seen on the coordination issue, to be deleted; each
  // is returned once, no sooner than 5 s after the epoch that ended them began. Why that is
  // safe: a claim of an epoch whose registration is not visible is judged over when the next
  // epoch began (+ the slack), which is then long past, so no judgement changes; and nothing
  // else reads them. The caller deletes them outside the registry's lock, at low priority.
  std::vector<int64_t> TakeSuperseded() ABSL_LOCKS_EXCLUDED(mu_);

  // Registrations of other workers that departed or lapsed long ago, when this worker is the
  // lowest-named live one (the fleet's sweeper; two that both think so delete twice, which is
  // harmless): lapsed or gone for longer than the retention — an hour, or longer when the
  // record's lease or STALE_WORKER_THRESHOLD_MS is — so that a claim naming such a lease is long
  // dead by any judgement (a claim whose registration is missing is judged to live one stale
  // threshold from its own last update). At most `limit`, from the latest view. `workers`, when
  // given, receives the worker of each returned registration, in the same order.
  std::vector<int64_t> Expired(size_t limit, std::vector<std::string>* workers = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Marks the registration gone (one edit). Later calls start a new epoch.
  absl::Status Depart() ABSL_LOCKS_EXCLUDED(mu_);

  // The own lease as known now (not necessarily live).
  OwnLease Current() ABSL_LOCKS_EXCLUDED(mu_);

  // The health the worker last reported.
  Health health() ABSL_LOCKS_EXCLUDED(mu_);

  // The own registration as it would be written now (for the load balancer's view of this
  // worker when its comment is not visible yet).
  RegistrationEntry OwnEntry() ABSL_LOCKS_EXCLUDED(mu_);

  // Counts a completed task of `type` (affinity); published with the next heartbeat.
  void RecordCompletion(const std::string& type) ABSL_LOCKS_EXCLUDED(mu_);

  // The registry, listing the coordination issue again (conditionally) when its view was
  // fetched before `not_before` on the local clock (InfiniteFuture: always).
  absl::StatusOr<RegistryView> View(absl::Time not_before = absl::InfiniteFuture());

  // How this sidecar paces its registration writes (see FleetPace).
  FleetPace Pace() ABSL_LOCKS_EXCLUDED(mu_);
  // The registry as `snapshot` shows it.
  RegistryView ViewOf(const CommentSnapshot& snapshot);

 private:
  // The record to write now (`idle`: at the idle pace).
  RegistrationRecord Draft(uint64_t epoch, absl::Time now, bool idle)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Edits the live own registration (one write) at the idle or holding pace. Sets *landed_late
  // when GitHub stamped it after the lease it renews had ended (it renewed nothing).
  absl::Status RenewLocked(absl::Time now, bool idle, bool* landed_late)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the worker holds locks now or held one within the holding renew interval.
  bool HoldingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Posts a registration for epoch `epoch` (one write), at the idle or the holding pace. A
  // worker's first registration is at the holding pace (it is about to take work).
  absl::Status StartEpoch(uint64_t epoch, bool idle) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers from the coordination issue's state (resume or new epoch).
  absl::Status RegisterLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  WorkerRecord OwnRecordLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  GitHubContext ctx_;
  absl::Mutex mu_;  // held across writes of the own registration
  OwnLease own_ ABSL_GUARDED_BY(mu_);
  uint64_t last_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time registered_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  Health health_ ABSL_GUARDED_BY(mu_) = Health::kHealthy;
  uint32_t max_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> active_tasks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint32_t> type_history_ ABSL_GUARDED_BY(mu_);
  bool stretch_next_ ABSL_GUARDED_BY(mu_) = false;
  bool own_idle_ ABSL_GUARDED_BY(mu_) = false;
  // Own earlier registrations to delete, with the local time from which they may be.
  std::map<int64_t, absl::Time> superseded_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> swept_ ABSL_GUARDED_BY(mu_);       // handed out by TakeSuperseded  // the own lease was written at the idle pace
  absl::Time last_held_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // local clock
  FleetPace pace_ ABSL_GUARDED_BY(mu_);
  // Recounts the sidecars sharing the identity (from the latest list of the coordination
  // issue), tells the write queue, and updates pace_.
  void UpdatePaceLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_REGISTRY_H_
