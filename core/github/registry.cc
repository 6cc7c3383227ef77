// The worker registry on GitHub (see registry.h).
#include "core/github/registry.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tasksentinel::github {
namespace {

RegistrationEntry EntryFrom(const ViewedComment& c, const RegistrationRecord& r) {
  RegistrationEntry e;
  e.comment_id = c.comment.id;
  e.record = r;
  e.created_at = c.comment.created_at;
  e.updated_at = c.comment.updated_at;
  return e;
}

}  // namespace

RegistryView::RegistryView(const CommentSnapshot& snapshot, const OwnLease& self,
                           absl::Duration slack)
    : self_(self), slack_(slack) {
  for (const ViewedComment& c : snapshot.comments) {
    const RegistrationRecord* r = c.As<RegistrationRecord>();
    if (r == nullptr || r->worker_id.empty()) continue;
    auto& slot = entries_[r->worker_id][r->epoch];
    // Two comments for one epoch (a retried post): the later heartbeat counts.
    if (slot.comment_id == 0 || c.comment.updated_at > slot.updated_at) slot = EntryFrom(c, *r);
  }
}

uint64_t RegistryView::MaxEpoch(const std::string& worker) const {
  uint64_t max = worker == self_.worker_id ? self_.epoch : 0;
  auto it = entries_.find(worker);
  if (it != entries_.end() && !it->second.empty()) max = std::max(max, it->second.rbegin()->first);
  return max;
}

LeaseJudgement RegistryView::Judge(const std::string& worker, uint64_t epoch, absl::Time now,
                                   absl::Time fallback_start,
                                   absl::Duration fallback_lease) const {
  LeaseJudgement j;
  if (worker == self_.worker_id && self_.epoch != 0 && epoch <= self_.epoch) {
    // Our own lease, as we know it from our own writes: strict, no slack.
    j.known = true;
    if (epoch == self_.epoch && self_.registered()) {
      j.ends_at = self_.ends_at();
      j.renewed_at = self_.renewed_at;
      j.live = now < j.ends_at;
      return j;
    }
    // An earlier epoch of ours (or we departed): over no later than the current one began.
    j.ends_at = std::min(self_.started_at, now);
    j.live = false;
    auto w = entries_.find(worker);
    if (w != entries_.end()) {
      auto e = w->second.find(epoch);
      if (e != w->second.end()) {
        j.renewed_at = e->second.updated_at;
        j.ends_at = std::min(j.ends_at, e->second.LeaseEnd());
      }
    }
    return j;
  }
  auto w = entries_.find(worker);
  absl::Time later_epoch_start = absl::InfiniteFuture();
  const RegistrationEntry* entry = nullptr;
  if (w != entries_.end()) {
    for (const auto& [e, reg] : w->second) {
      if (e == epoch) entry = &reg;
      if (e > epoch) later_epoch_start = std::min(later_epoch_start, reg.created_at);
    }
  }
  if (entry == nullptr && later_epoch_start == absl::InfiniteFuture()) {
    // Not visible (yet): assume a full lease from the comment naming it.
    j.known = false;
    j.renewed_at = fallback_start;
    j.ends_at = fallback_start + fallback_lease + slack_;
    j.live = now < j.ends_at;
    return j;
  }
  j.known = true;
  j.ends_at = later_epoch_start + slack_;
  if (entry != nullptr) {
    j.renewed_at = entry->updated_at;
    j.gone = entry->record.gone;
    j.ends_at = std::min(j.ends_at, entry->record.gone ? entry->updated_at
                                                       : entry->LeaseEnd() + slack_);
  }
  j.live = !j.gone && now < j.ends_at;
  return j;
}

std::map<std::string, RegistrationEntry> RegistryView::Latest() const {
  std::map<std::string, RegistrationEntry> out;
  for (const auto& [worker, epochs] : entries_) {
    if (!epochs.empty()) out[worker] = epochs.rbegin()->second;
  }
  return out;
}

WorkerRecord ToWorkerRecord(const RegistrationEntry& entry, absl::Time registered_at) {
  const RegistrationRecord& r = entry.record;
  WorkerRecord w;
  w.id = r.worker_id;
  w.hostname = r.hostname;
  w.state = r.gone ? WorkerState::kGone : WorkerState::kActive;
  w.health = static_cast<Health>(std::clamp(r.health, 0, 2));
  w.epoch = r.epoch;
  w.registered_at = registered_at;
  w.epoch_started_at = entry.created_at;
  w.last_heartbeat = entry.updated_at;
  w.lease_expires_at = r.gone ? entry.updated_at : entry.LeaseEnd();
  w.max_tasks = r.max_tasks;
  w.supported_task_types = r.supported_task_types;
  w.reported_active_tasks = r.active_tasks;
  w.type_history = r.type_history;
  w.cpu_cores = r.cpu_cores;
  w.memory_mb = r.memory_mb;
  return w;
}

std::vector<WorkerInfo> ListWorkers(const RegistryView& view, absl::Time now,
                                    const std::map<std::string, uint32_t>& active_tasks,
                                    bool include_gone, const RegistrationEntry& own) {
  std::vector<WorkerInfo> out;
  std::map<std::string, RegistrationEntry> latest = view.Latest();
  if (own.comment_id != 0) {
    auto it = latest.find(own.record.worker_id);
    if (it == latest.end() || it->second.record.epoch < own.record.epoch ||
        (it->second.record.epoch == own.record.epoch && it->second.updated_at < own.updated_at)) {
      latest[own.record.worker_id] = own;
    }
  }
  for (const auto& [id, entry] : latest) {
    // The first registration of this worker still visible.
    absl::Time registered_at = entry.record.registered_at;
    auto epochs = view.entries().find(id);
    if (registered_at == absl::UnixEpoch() && epochs != view.entries().end()) {
      registered_at = epochs->second.begin()->second.created_at;
    }
    WorkerInfo info{ToWorkerRecord(entry, registered_at)};
    const LeaseJudgement lease =
        view.Judge(id, entry.record.epoch, now, entry.updated_at, entry.record.lease);
    info.status = lease.gone ? WorkerStatus::kGone
                  : lease.live ? WorkerStatus::kActive
                               : WorkerStatus::kStale;
    if (info.status == WorkerStatus::kGone && !include_gone) continue;
    if (auto it = active_tasks.find(id); it != active_tasks.end() && lease.live) {
      info.active_tasks = it->second;
    }
    out.push_back(std::move(info));
  }
  return out;
}

namespace {

// The least interval at which `writers` sidecars, each writing once per interval, use at most
// 1/`fraction` of each of the identity's windows.
absl::Duration BudgetInterval(int writers, int fraction, const Config& config) {
  absl::Duration interval = absl::ZeroDuration();
  if (config.github_writes_per_hour > 0) {
    interval = std::max(interval,
                        absl::Hours(1) * fraction * writers / config.github_writes_per_hour);
  }
  if (config.github_writes_per_minute > 0) {
    interval = std::max(interval,
                        absl::Minutes(1) * fraction * writers / config.github_writes_per_minute);
  }
  return interval;
}

// STALE_WORKER_THRESHOLD_MS stretched by the factor `interval` stretches the heartbeat by.
absl::Duration LeaseFor(absl::Duration interval, const Config& config) {
  if (interval <= config.heartbeat_interval) return config.stale_threshold;
  return absl::Ceil(
      config.stale_threshold * absl::FDivDuration(interval, config.heartbeat_interval),
      absl::Milliseconds(1));
}

std::string Rounded(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1)));
}

}  // namespace

FleetPace PaceFor(int sharers, const Config& config, int holders) {
  FleetPace pace;
  pace.sharers = std::max(1, sharers);
  pace.holders = holders < 0 ? pace.sharers : std::clamp(holders, 1, pace.sharers);
  // Heartbeats of a holder get half of its sidecar's share of the identity's budget (the write
  // queue gives every sharer an equal share, so fewer holders do not leave a holder more),
  // idle workers' a quarter of the identity's; the rest is for tasks.
  pace.renew_interval =
      std::max(config.heartbeat_interval, BudgetInterval(pace.sharers, 2, config));
  pace.lease = LeaseFor(pace.renew_interval, config);
  pace.idle_renew_interval =
      std::max({pace.renew_interval, config.github_idle_renew_interval,
                BudgetInterval(pace.sharers, 4, config)});
  pace.idle_lease = LeaseFor(pace.idle_renew_interval, config);
  pace.stretched = pace.lease > config.stale_threshold;
  return pace;
}

std::string FleetPace::Describe(int writes_per_hour) const {
  return absl::StrCat("lease ", Rounded(lease), ": ", sharers,
                      sharers == 1 ? " worker has " : " workers share ", writes_per_hour,
                      " writes/h (", holders, " holding locks: a heartbeat write every ",
                      Rounded(renew_interval), "; idle: every ", Rounded(idle_renew_interval),
                      ", lease ", Rounded(idle_lease), ")");
}

Registry::Registry(const GitHubContext& ctx) : ctx_(ctx) {
  absl::MutexLock lock(&mu_);
  own_.worker_id = ctx_.config->worker_id;
  max_tasks_ = static_cast<uint32_t>(ctx_.config->max_tasks);
  pace_ = PaceFor(1, *ctx_.config);
}

FleetPace Registry::Pace() {
  absl::MutexLock lock(&mu_);
  return pace_;
}

bool Registry::HoldingLocked() {
  const absl::Time local_now = ctx_.clock->Now();
  if (!ctx_.held->Snapshot().empty()) last_held_ = local_now;
  return last_held_ != absl::InfinitePast() && local_now - last_held_ < pace_.renew_interval;
}

void Registry::UpdatePaceLocked(absl::Time now) {
  int sharers = 1;  // this sidecar, visible yet or not
  int holders = HoldingLocked() ? 1 : 0;
  const int64_t self = ctx_.screen->authors().self().id;
  if (std::optional<int64_t> issue = ctx_.coordination->Known(); issue.has_value()) {
    // A view at most one renewal interval old (a conditional list, usually a free 304).
    const absl::Time local_now = ctx_.clock->Now();
    absl::StatusOr<SnapshotPtr> fresh =
        ctx_.views->FreshSince(*issue, local_now - pace_.renew_interval, local_now);
    SnapshotPtr snapshot = fresh.ok() ? *fresh : ctx_.views->Latest(*issue);
    if (snapshot != nullptr) {
      std::set<std::string> live;
      for (const ViewedComment& c : snapshot->comments) {
        const RegistrationRecord* r = c.As<RegistrationRecord>();
        if (r == nullptr || r->gone || c.comment.author_id != self) continue;
        if (r->worker_id == ctx_.config->worker_id) continue;
        // Live, or due for renewal since the view was taken.
        const absl::Duration interval =
            r->idle ? pace_.idle_renew_interval : pace_.renew_interval;
        if (c.comment.updated_at + r->lease + interval + ctx_.options->slack > now &&
            live.insert(r->worker_id).second && !r->idle) {
          ++holders;
        }
      }
      sharers += static_cast<int>(live.size());
    }
  }
  const FleetPace next = PaceFor(sharers, *ctx_.config, holders);
  ctx_.api->SetWriteSharers(next.sharers);
  const bool announce = next.stretched && (!pace_.stretched || next.lease != pace_.lease ||
                                           next.idle_lease != pace_.idle_lease);
  pace_ = next;
  if (announce) {
    const std::string line = pace_.Describe(ctx_.config->github_writes_per_hour);
    if (ctx_.options->on_pace) ctx_.options->on_pace(line);
    Event e;
    e.kind = EventKind::kLeaseStretched;
    e.result = "stretched";
    e.duration = pace_.lease;
    e.details = {{"detail", line},
                 {"sharers", absl::StrCat(pace_.sharers)},
                 {"renew_interval_ms",
                  absl::StrCat(absl::ToInt64Milliseconds(pace_.renew_interval))}};
    ctx_.options->events->Record(e);
  }
}

RegistrationRecord Registry::Draft(uint64_t epoch, absl::Time now, bool idle) {
  RegistrationRecord r;
  r.worker_id = ctx_.config->worker_id;
  r.hostname = ctx_.config->hostname;
  r.health = static_cast<int>(health_);
  r.epoch = epoch;
  r.idle = idle;
  r.lease = (idle ? pace_.idle_lease : pace_.lease) * (stretch_next_ ? 2 : 1);
  r.next_renewal_at = now + (idle ? pace_.idle_renew_interval : pace_.renew_interval);
  r.lease_expires_at = now + r.lease;
  r.registered_at = registered_at_ == absl::InfinitePast() ? now : registered_at_;
  r.max_tasks = max_tasks_;
  r.supported_task_types = ctx_.config->supported_task_types;
  r.cpu_cores = static_cast<uint32_t>(ctx_.config->cpu_cores);
  r.memory_mb = static_cast<uint64_t>(ctx_.config->memory_mb);
  r.active_tasks = active_tasks_;
  r.type_history = type_history_;
  return r;
}

absl::Status Registry::StartEpoch(uint64_t epoch, bool idle) {
  absl::StatusOr<int64_t> issue = ctx_.coordination->Number();
  if (!issue.ok()) return issue.status();
  const absl::Time now = ctx_.api->ServerNow();
  if (registered_at_ == absl::InfinitePast()) registered_at_ = now;
  RegistrationRecord r = Draft(epoch, now, idle);
  absl::StatusOr<Comment> posted =
      ctx_.api->CreateComment(*issue, ctx_.seal->Body(r, *issue, now), WritePriority::kHeartbeat);
  if (!posted.ok()) {
    if (absl::IsResourceExhausted(posted.status()) || absl::IsUnavailable(posted.status())) {
      stretch_next_ = true;
    }
    return posted.status();
  }
  stretch_next_ = false;
  if (ctx_.options->probe_lag) ctx_.lag_probe->Start(*issue, posted->id);
  own_idle_ = idle;
  // Every earlier registration of this worker is over for everyone now.
  if (std::optional<int64_t> known = ctx_.coordination->Known(); known.has_value()) {
    if (SnapshotPtr seen = ctx_.views->Latest(*known); seen != nullptr) {
      for (const ViewedComment& c : seen->comments) {
        const RegistrationRecord* earlier = c.As<RegistrationRecord>();
        if (earlier != nullptr && earlier->worker_id == ctx_.config->worker_id &&
            earlier->epoch < epoch && c.comment.id != posted->id &&
            swept_.count(c.comment.id) == 0) {
          superseded_.emplace(c.comment.id, ctx_.clock->Now() + absl::Seconds(5));
        }
      }
    }
  }
  own_.epoch = epoch;
  own_.comment_id = posted->id;
  own_.started_at = posted->created_at;
  own_.renewed_at = posted->updated_at;
  own_.lease = r.lease;
  last_epoch_ = epoch;
  return absl::OkStatus();
}

absl::Status Registry::RegisterLocked() {
  absl::StatusOr<int64_t> issue = ctx_.coordination->Number();
  if (!issue.ok()) return issue.status();
  absl::StatusOr<SnapshotPtr> snapshot = ctx_.views->Refresh(*issue, ctx_.clock->Now());
  if (!snapshot.ok()) return snapshot.status();
  const absl::Time now = ctx_.api->ServerNow();
  const RegistrationEntry* latest = nullptr;
  RegistryView view(**snapshot, OwnLease{}, ctx_.options->slack);
  auto mine = view.entries().find(ctx_.config->worker_id);
  if (mine != view.entries().end() && !mine->second.empty()) {
    latest = &mine->second.rbegin()->second;
    const RegistrationEntry& first = mine->second.begin()->second;
    registered_at_ = first.record.registered_at != absl::UnixEpoch()
                         ? first.record.registered_at
                         : first.created_at;
  }
  if (latest != nullptr && !latest->record.gone && latest->record.epoch > last_epoch_ &&
      now < latest->LeaseEnd()) {
    // A live lease of ours, left by a previous run of this sidecar: resume it.
    own_.epoch = latest->record.epoch;
    own_.comment_id = latest->comment_id;
    own_.started_at = latest->created_at;
    own_.renewed_at = latest->updated_at;
    own_.lease = latest->record.lease;
    own_idle_ = latest->record.idle;
    last_epoch_ = own_.epoch;
    type_history_ = latest->record.type_history;
    return absl::OkStatus();
  }
  const uint64_t max_seen = latest != nullptr ? latest->record.epoch : 0;
  if (latest != nullptr) type_history_ = latest->record.type_history;
  return StartEpoch(std::max(max_seen, last_epoch_) + 1, /*idle=*/false);
}

absl::StatusOr<WorkerRecord> Registry::Register() {
  absl::MutexLock lock(&mu_);
  if (!own_.LiveAt(ctx_.api->ServerNow())) {
    if (absl::Status s = RegisterLocked(); !s.ok()) return s;
  }
  return OwnRecordLocked();
}

absl::StatusOr<OwnLease> Registry::EnsureLease(bool* new_epoch, bool for_locks) {
  absl::MutexLock lock(&mu_);
  if (new_epoch != nullptr) *new_epoch = false;
  if (for_locks) last_held_ = ctx_.clock->Now();
  const absl::Time now = ctx_.api->ServerNow();
  if (own_.LiveAt(now)) {
    if (!for_locks || !own_idle_) return own_;
    // Locks must not hang on an idle lease: renew at the holding pace first.
    UpdatePaceLocked(now);
    bool landed_late = false;
    absl::Status renewed = RenewLocked(now, /*idle=*/false, &landed_late);
    if (renewed.ok() && !landed_late) return own_;
    // Not written (GitHub blocked or down): the idle lease serves, its locks lapse later.
    if (!renewed.ok() && !absl::IsNotFound(renewed)) return own_;
    // Landed too late to renew anything, or the registration was deleted: a new epoch.
  }
  // For a claim at the holding pace; otherwise as before.
  const bool idle = !for_locks && own_idle_;
  absl::Status s = own_.registered() || last_epoch_ > 0 ? StartEpoch(last_epoch_ + 1, idle)
                                                        : RegisterLocked();
  if (!s.ok()) return s;
  if (new_epoch != nullptr) *new_epoch = true;
  return own_;
}

absl::StatusOr<OwnLease> Registry::Heartbeat(const HeartbeatReport& report, bool* new_epoch) {
  absl::MutexLock lock(&mu_);
  *new_epoch = false;
  active_tasks_ = report.active_tasks;
  max_tasks_ = report.max_tasks != 0 ? report.max_tasks
                                     : static_cast<uint32_t>(ctx_.config->max_tasks);
  health_ = report.health;
  const absl::Time now = ctx_.api->ServerNow();
  UpdatePaceLocked(now);
  const bool idle = !HoldingLocked();
  if (own_.LiveAt(now) && !(own_idle_ && !idle)) {
    // Due a quarter of a heartbeat early, so that Heartbeat RPCs that come about every
    // HEARTBEAT_INTERVAL_MS write each time; more frequent ones do not.
    const absl::Duration interval =
        own_idle_ ? pace_.idle_renew_interval : pace_.renew_interval;
    const absl::Duration early = ctx_.config->heartbeat_interval / 4;
    if (now - own_.renewed_at < interval - early && own_.ends_at() - now > interval) {
      // Not due: the worker is alive, which the sidecar knew; the lease carries on.
      return own_;
    }
  }
  if (own_.LiveAt(now)) {
    bool landed_late = false;
    absl::Status renewed = RenewLocked(now, idle, &landed_late);
    if (renewed.ok() && !landed_late) return own_;
    if (!renewed.ok() && !absl::IsNotFound(renewed)) return renewed;
    // It landed after the lease lapsed (by GitHub's stamp): it renewed nothing, and everyone
    // judges the epoch over; or someone deleted our registration: its locks cannot be trusted.
    // Start the next epoch; the caller reports the locks lost.
  }
  absl::Status s = own_.registered() || last_epoch_ > 0 ? StartEpoch(last_epoch_ + 1, idle)
                                                        : RegisterLocked();
  if (!s.ok()) return s;
  *new_epoch = true;
  return own_;
}

absl::Status Registry::RenewLocked(absl::Time now, bool idle, bool* landed_late) {
  *landed_late = false;
  RegistrationRecord r = Draft(own_.epoch, now, idle);
  r.renews_until = own_.ends_at();
  absl::StatusOr<int64_t> issue = ctx_.coordination->Number();
  if (!issue.ok()) return issue.status();
  absl::StatusOr<Comment> edited = ctx_.api->UpdateComment(
      own_.comment_id, ctx_.seal->Body(r, *issue, now), WritePriority::kHeartbeat);
  if (!edited.ok()) {
    if (absl::IsResourceExhausted(edited.status()) || absl::IsUnavailable(edited.status())) {
      stretch_next_ = true;
    }
    return edited.status();
  }
  stretch_next_ = false;
  RegistrationEntry landed;
  landed.record = r;
  landed.updated_at = edited->updated_at;
  if (landed.LandedLate()) {
    *landed_late = true;
    return absl::OkStatus();
  }
  own_.renewed_at = edited->updated_at;
  own_.lease = r.lease;
  own_idle_ = idle;
  return absl::OkStatus();
}

std::vector<int64_t> Registry::TakeSuperseded() {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> out;
  const absl::Time local_now = ctx_.clock->Now();
  for (auto it = superseded_.begin(); it != superseded_.end();) {
    if (it->second > local_now) {
      ++it;
      continue;
    }
    out.push_back(it->first);
    swept_.insert(it->first);
    it = superseded_.erase(it);
  }
  return out;
}

std::vector<int64_t> Registry::Expired(size_t limit, std::vector<std::string>* workers) {
  std::vector<int64_t> out;
  std::optional<int64_t> issue = ctx_.coordination->Known();
  if (!issue.has_value()) return out;
  SnapshotPtr snapshot = ctx_.views->Latest(*issue);
  if (snapshot == nullptr) return out;
  const RegistryView view = ViewOf(*snapshot);
  const absl::Time now = ctx_.api->ServerNow();
  const std::string& me = ctx_.config->worker_id;
  for (const auto& [worker, epochs] : view.entries()) {
    if (worker >= me) break;  // ordered by worker id
    const RegistrationEntry& latest = epochs.rbegin()->second;
    if (!latest.record.gone && now < latest.LeaseEnd() + view.slack()) return out;  // not lowest
  }
  const uint64_t own_epoch = view.self().epoch;
  for (const auto& [worker, epochs] : view.entries()) {
    for (const auto& [epoch, entry] : epochs) {
      if (worker == me && epoch >= own_epoch) continue;  // the own current one
      const absl::Time ended = entry.record.gone ? entry.updated_at : entry.LeaseEnd();
      const absl::Duration retention =
          std::max({absl::Hours(1), entry.record.lease, ctx_.config->stale_threshold});
      if (now > ended + retention && out.size() < limit) {
        out.push_back(entry.comment_id);
        if (workers != nullptr) workers->push_back(worker);
      }
    }
  }
  return out;
}

absl::Status Registry::Depart() {
  absl::MutexLock lock(&mu_);
  if (!own_.registered()) return absl::OkStatus();
  const absl::Time now = ctx_.api->ServerNow();
  RegistrationRecord r = Draft(own_.epoch, now, own_idle_);
  r.gone = true;
  r.active_tasks.clear();
  absl::StatusOr<int64_t> issue = ctx_.coordination->Number();
  if (!issue.ok()) return issue.status();
  absl::StatusOr<Comment> edited = ctx_.api->UpdateComment(
      own_.comment_id, ctx_.seal->Body(r, *issue, now), WritePriority::kRelease);
  if (!edited.ok() && !absl::IsNotFound(edited.status())) return edited.status();
  own_.comment_id = 0;
  own_.renewed_at = edited.ok() ? edited->updated_at : own_.renewed_at;
  return absl::OkStatus();
}

OwnLease Registry::Current() {
  absl::MutexLock lock(&mu_);
  return own_;
}

Health Registry::health() {
  absl::MutexLock lock(&mu_);
  return health_;
}

RegistrationEntry Registry::OwnEntry() {
  absl::MutexLock lock(&mu_);
  RegistrationEntry e;
  e.comment_id = own_.comment_id;
  e.record = Draft(own_.epoch, own_.renewed_at, own_idle_);
  e.record.lease = own_.lease;
  e.created_at = own_.started_at;
  e.updated_at = own_.renewed_at;
  return e;
}

WorkerRecord Registry::OwnRecordLocked() {
  RegistrationEntry e;
  e.comment_id = own_.comment_id;
  e.record = Draft(own_.epoch, own_.renewed_at, own_idle_);
  e.record.lease = own_.lease;
  e.created_at = own_.started_at;
  e.updated_at = own_.renewed_at;
  return ToWorkerRecord(e, registered_at_);
}

void Registry::RecordCompletion(const std::string& type) {
  absl::MutexLock lock(&mu_);
  type_history_[type] += 1;
}

absl::StatusOr<RegistryView> Registry::View(absl::Time not_before) {
  absl::StatusOr<int64_t> issue = ctx_.coordination->Number();
  if (!issue.ok()) return issue.status();
  const absl::Time local_now = ctx_.clock->Now();
  absl::StatusOr<SnapshotPtr> snapshot =
      not_before == absl::InfiniteFuture()
          ? ctx_.views->Refresh(*issue, local_now)
          : ctx_.views->FreshSince(*issue, not_before, local_now);
  if (!snapshot.ok()) return snapshot.status();
  return ViewOf(**snapshot);
}

RegistryView Registry::ViewOf(const CommentSnapshot& snapshot) {
  return RegistryView(snapshot, Current(), ctx_.options->slack);
}

}  // namespace tasksentinel::github
