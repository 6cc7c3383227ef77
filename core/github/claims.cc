// Locks on GitHub: claim, list, the lowest live claim wins (see claims.h).
#include "core/github/claims.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/github/task_issue.h"
#include "core/notifier.h"
#include "core/error_reason.h"

namespace tasksentinel::github {

LockInfo JudgedClaim::info() const {
  LockInfo i;
  i.name = record.lock;
  i.token = static_cast<uint64_t>(id);
  i.holder = record.worker_id;
  i.acquired_at = created_at;
  i.expires_at = expires_at;
  i.ttl = record.ttl;
  i.metadata = record.metadata;
  return i;
}

const JudgedClaim* LockState::Find(int64_t id) const {
  for (const JudgedClaim& c : claims) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

LockState JudgeLock(const std::string& name, const CommentSnapshot& snapshot,
                    const RegistryView& registry, absl::Time now, absl::Duration lock_delay,
                    absl::Duration fallback_lease, std::optional<absl::Time> closed_at) {
  LockState state;
  state.name = name;
  const std::string& me = registry.self().worker_id;
  for (const ViewedComment& c : snapshot.comments) {
    const ClaimRecord* r = c.As<ClaimRecord>();
    if (r == nullptr || r->lock != name) continue;
    JudgedClaim j;
    j.id = c.comment.id;
    j.record = *r;
    j.created_at = c.comment.created_at;
    j.updated_at = c.comment.updated_at;
    if (closed_at.has_value() && j.created_at <= *closed_at) {
      // The task issue was closed after this claim: the claim is history.
      j.expires_at = *closed_at;
    } else {
      const LeaseJudgement lease =
          registry.Judge(r->worker_id, r->epoch, now, j.updated_at, fallback_lease);
      const absl::Time renewed = std::max(j.updated_at, lease.renewed_at);
      const absl::Duration slack = r->worker_id == me ? absl::ZeroDuration() : registry.slack();
      j.expires_at = std::min(renewed + r->ttl + slack, lease.ends_at);
      j.live = !lease.gone && now < j.expires_at;
      j.lapsed = !j.live && !lease.gone;
    }
    state.claims.push_back(std::move(j));
  }
  for (size_t i = 0; i < state.claims.size(); ++i) {
    const JudgedClaim& c = state.claims[i];
    if (c.live) {
      if (!state.first_live.has_value()) state.first_live = c;
      continue;
    }
    if (!c.lapsed || state.first_live.has_value()) continue;
    // Was `c` the holder when it lapsed? Only if every lower claim was dead by then.
    bool was_holder = true;
    for (size_t k = 0; k < i; ++k) {
      const JudgedClaim& d = state.claims[k];
      if (d.live || (d.lapsed && d.expires_at > c.expires_at)) {
        was_holder = false;
        break;
      }
    }
    if (!was_holder) continue;
    if (!state.lapsed_holder.has_value() || c.expires_at > state.lapsed_holder->expires_at) {
      state.lapsed_holder = c;
    }
    state.available_at = std::max(state.available_at, c.expires_at + lock_delay);
  }
  if (state.first_live.has_value() && now >= state.available_at) state.holder = state.first_live;
  return state;
}

LockProtocol::LockProtocol(const GitHubContext& ctx, Registry* registry)
    : ctx_(ctx), registry_(registry) {}

void LockProtocol::Remember(const std::string& name, const LockSite& site) {
  absl::MutexLock lock(&mu_);
  sites_[name] = site;
}

absl::StatusOr<LockSite> LockProtocol::Locate(const std::string& name) {
  {
    absl::MutexLock lock(&mu_);
    auto it = sites_.find(name);
    if (it != sites_.end()) return it->second;
  }
  LockSite site;
  if (std::optional<int64_t> number = TaskNumber(name)) {
    std::optional<Issue> issue = ctx_.issues->Get(*number);
    if (!issue.has_value()) {
      absl::StatusOr<Read<Issue>> read = ctx_.api->GetIssue(*number);
      if (read.ok()) {
        issue = read->value;
        ctx_.issues->Put(*issue);
      } else if (!absl::IsNotFound(read.status())) {
        return read.status();
      }
    }
    if (issue.has_value() && TaskStateOf(*issue, TaskLabels(*ctx_.config)).has_value()) {
      site = LockSite{*number, true};
    }
  }
  if (!site.task) {
    absl::StatusOr<int64_t> locks = ctx_.locks_issue->Number();
    if (!locks.ok()) return locks.status();
    site = LockSite{*locks, false};
  }
  Remember(name, site);
  return site;
}

std::optional<absl::Time> LockProtocol::ClosedAt(const LockSite& site) {
  if (!site.task) return std::nullopt;
  std::optional<Issue> issue = ctx_.issues->Get(site.issue);
  if (!issue.has_value() || issue->open) return std::nullopt;
  return issue->updated_at;
}

absl::StatusOr<LockState> LockProtocol::JudgeSnapshot(const LockSite& site,
                                                      const std::string& name,
                                                      const CommentSnapshot& snapshot) {
  absl::StatusOr<RegistryView> registry = registry_->View();
  if (!registry.ok()) return registry.status();
  return JudgeLock(name, snapshot, *registry, ctx_.api->ServerNow(), ctx_.config->lock_delay,
                   ctx_.config->stale_threshold, ClosedAt(site));
}

absl::StatusOr<LockState> LockProtocol::Judge(const LockSite& site, const std::string& name) {
  absl::StatusOr<SnapshotPtr> snapshot = ctx_.views->Refresh(site.issue, ctx_.clock->Now());
  if (!snapshot.ok()) return snapshot.status();
  return JudgeSnapshot(site, name, **snapshot);
}

absl::StatusOr<Comment> LockProtocol::PostClaim(const LockSite& site, const std::string& name,
                                                const ClaimOptions& options,
                                                const OwnLease& lease) {
  // Under a lag not measured yet the claim would be taken back unjudged: let the probe of the
  // own registration finish first (lag_probe.h; at once unless a registration is not yet seen).
  ctx_.lag_probe->Finish();
  ClaimRecord r;
  r.lock = name;
  r.worker_id = lease.worker_id;
  r.epoch = lease.epoch;
  r.ttl = options.ttl;
  r.metadata = options.metadata;
  r.recovered_from = options.recovered_from;
  r.lapsed_at = options.lapsed_at;
  absl::StatusOr<Comment> posted =
      ctx_.api->CreateComment(site.issue, ctx_.seal->Body(r, site.issue, ctx_.api->ServerNow()),
                              WritePriority::kClaim);
  if (posted.ok()) {
    ctx_.stats->claims_posted.fetch_add(1);
    Event e;
    e.kind = EventKind::kClaimPosted;
    e.subject = name;
    e.result = "posted";
    e.details = {{"claim", absl::StrCat(posted->id)},
                 {"issue", absl::StrCat(site.issue)},
                 {"epoch", absl::StrCat(lease.epoch)}};
    ctx_.options->events->Record(e);
  }
  return posted;
}

absl::StatusOr<std::optional<LockState>> LockProtocol::AwaitVisible(const LockSite& site,
                                                                    const std::string& name,
                                                                    int64_t claim_id) {
  // The waits follow the measured lag of GitHub's lists (visibility_lag.h).
  const absl::Time posted = ctx_.clock->Now();
  const absl::Duration settle = ctx_.lag->Settle();
  const absl::Duration retry_wait = ctx_.lag->RetryWait();
  for (int attempt = 0; attempt <= ctx_.options->visibility_retries; ++attempt) {
    SleepFor(*ctx_.clock, attempt == 0 ? settle : retry_wait);
    const absl::Duration waited = ctx_.clock->Now() - posted;
    absl::StatusOr<LockState> state = Judge(site, name);
    if (!state.ok()) return state.status();
    if (state->Find(claim_id) != nullptr) {
      ctx_.lag->Seen(waited, attempt == 0);
      Event e;
      e.kind = EventKind::kClaimSettled;
      e.subject = name;
      e.result = "visible";
      e.duration = waited;
      e.details = {{"claim", absl::StrCat(claim_id)}, {"lists", absl::StrCat(attempt + 1)}};
      ctx_.options->events->Record(e);
      return std::optional<LockState>(*std::move(state));
    }
    if (ctx_.notifier->shut_down()) return std::optional<LockState>();
  }
  ctx_.lag->NotSeen(ctx_.clock->Now() - posted);
  ctx_.stats->claims_unseen.fetch_add(1);
  Event e;
  e.kind = EventKind::kClaimSettled;
  e.subject = name;
  e.result = "unseen";
  e.duration = ctx_.clock->Now() - posted;
  e.details = {{"claim", absl::StrCat(claim_id)},
               {"lists", absl::StrCat(ctx_.options->visibility_retries + 1)}};
  ctx_.options->events->Record(e);
  return std::optional<LockState>();
}

absl::Status LockProtocol::Withdraw(int64_t claim_id, WritePriority priority) {
  absl::Status s = ctx_.api->DeleteComment(claim_id, priority);
  absl::MutexLock lock(&mu_);
  if (s.ok()) {
    ctx_.stats->claims_withdrawn.fetch_add(1);
    pending_withdrawals_.erase(claim_id);
    Event e;
    e.kind = EventKind::kClaimWithdrawn;
    e.result = "deleted";
    e.details = {{"claim", absl::StrCat(claim_id)}};
    ctx_.options->events->Record(e);
  } else if (absl::IsResourceExhausted(s) || absl::IsUnavailable(s) ||
             absl::IsDeadlineExceeded(s)) {
    pending_withdrawals_.insert(claim_id);  // GitHub blocked or unreachable: try again later
  }
  return s;
}

void LockProtocol::SweepDeadClaims() {
  std::set<int64_t> dead;
  {
    absl::MutexLock lock(&mu_);
    dead.swap(lapsed_below_);
  }
  for (int64_t id : dead) (void)ctx_.api->DeleteComment(id, WritePriority::kCleanup);
}

void LockProtocol::RetryWithdrawals() {
  std::set<int64_t> pending;
  {
    absl::MutexLock lock(&mu_);
    pending.swap(pending_withdrawals_);
  }
  for (auto it = pending.begin(); it != pending.end(); ++it) {
    if (!Withdraw(*it).ok()) {
      // Still failing (Withdraw remembered it again); keep the rest for the next time.
      absl::MutexLock lock(&mu_);
      pending_withdrawals_.insert(std::next(it), pending.end());
      return;
    }
  }
}

absl::StatusOr<AcquireAttempt> LockProtocol::Acquire(const LockSite& site,
                                                     const std::string& name,
                                                     const ClaimOptions& options,
                                                     absl::Duration wait_timeout,
                                                     const std::function<bool()>& cancelled) {
  RetryWithdrawals();
  absl::StatusOr<OwnLease> lease = registry_->EnsureLease();
  if (!lease.ok()) return lease.status();
  Remember(name, site);
  const absl::Time deadline = ctx_.clock->Now() + wait_timeout;
  const bool blocking = wait_timeout > absl::ZeroDuration();
  auto is_mine = [&](const JudgedClaim& c) {
    return c.record.worker_id == lease->worker_id && c.record.epoch == lease->epoch;
  };
  AcquireAttempt result;
  ClaimOptions claim = options;
  int64_t mine = 0;
  std::optional<LockState> state;

  if (options.precheck) {
    absl::StatusOr<LockState> seen = Judge(site, name);
    if (!seen.ok()) return seen.status();
    state = *std::move(seen);
    if (state->holder.has_value() && is_mine(*state->holder)) {
      // Already ours: idempotent.
      result.acquired = true;
      result.lock = state->holder->info();
      ctx_.held->Add(*result.lock);
      return result;
    }
    for (const JudgedClaim& c : state->claims) {
      if (c.live && is_mine(c)) {
        mine = c.id;  // a waiting claim of ours: keep its place
        break;
      }
    }
    if (mine == 0 && !blocking &&
        (state->first_live.has_value() || ctx_.api->ServerNow() < state->available_at)) {
      if (state->holder.has_value()) result.lock = state->holder->info();
      return result;
    }
    if (claim.recovered_from.empty() && state->lapsed_holder.has_value()) {
      claim.recovered_from = state->lapsed_holder->record.worker_id;
      claim.lapsed_at = state->lapsed_holder->expires_at;
    }
  }
  bool own_claim = mine != 0;
  if (mine == 0) {
    // The claim binds the lock to the lease: not to one written at the idle pace (registry.h).
    lease = registry_->EnsureLease(nullptr, /*for_locks=*/true);
    if (!lease.ok()) return lease.status();
    claim.ttl = options.ttl;
    absl::StatusOr<Comment> posted = PostClaim(site, name, claim, *lease);
    if (!posted.ok()) return posted.status();
    mine = posted->id;
    own_claim = true;
    absl::StatusOr<std::optional<LockState>> visible = AwaitVisible(site, name, mine);
    if (!visible.ok() || !visible->has_value()) {
      // Never saw it: take it back, so that it cannot win later unbeknown to us.
      (void)Withdraw(mine);
      if (!visible.ok()) return visible.status();
      if (state.has_value() && state->holder.has_value()) result.lock = state->holder->info();
      return result;
    }
    state = **std::move(visible);
  }

  bool first = true;
  absl::Status status = RetryUntil(
      *ctx_.clock, *ctx_.notifier, deadline, ctx_.options->poll_interval, cancelled,
      [&](bool* done) -> absl::Status {
        if (!first) {
          absl::StatusOr<LockState> again = Judge(site, name);
          if (!again.ok()) return again.status();
          state = *std::move(again);
        }
        first = false;
        const JudgedClaim* c = state->Find(mine);
        if (c == nullptr || !c->live) {
          // Deleted by someone, or our lease lapsed while waiting.
          *done = true;
          return absl::OkStatus();
        }
        if (state->holder.has_value() && state->holder->id == mine) {
          result.acquired = true;
          result.lock = state->holder->info();
          *done = true;
          if (!site.task) {
            // The claims below ours are dead and past their lock-delay: nothing judges by them
            // any more. Remove them (at low priority), so that crashed holders' claims do not
            // pile up on the locks issue.
            absl::MutexLock lock(&mu_);
            for (const JudgedClaim& dead : state->claims) {
              if (dead.id < mine && !dead.live) lapsed_below_.insert(dead.id);
            }
          }
        } else if (!blocking) {
          *done = true;
        }
        return absl::OkStatus();
      });
  if (!status.ok() || !result.acquired) {
    if (own_claim && status.ok()) {
      Event e;
      e.kind = EventKind::kClaimLost;
      e.subject = name;
      e.result = "lost";
      e.details = {{"claim", absl::StrCat(mine)}};
      if (state.has_value() && state->holder.has_value() && state->holder->id != mine) {
        e.worker = state->holder->record.worker_id;
        e.details["winning_claim"] = absl::StrCat(state->holder->id);
      } else if (state.has_value() && state->first_live.has_value() &&
                 state->first_live->id != mine) {
        e.worker = state->first_live->record.worker_id;
        e.details["winning_claim"] = absl::StrCat(state->first_live->id);
      }
      ctx_.options->events->Record(e);
    }
    if (own_claim) (void)Withdraw(mine);
    if (!status.ok()) return status;
    result.lock.reset();
    if (state.has_value() && state->holder.has_value() && state->holder->id != mine) {
      result.lock = state->holder->info();
    }
    return result;
  }
  ctx_.held->Add(*result.lock);
  ctx_.notifier->Notify();
  {
    Event e;
    e.kind = EventKind::kClaimWon;
    e.subject = name;
    e.result = "won";
    e.details = {{"claim", absl::StrCat(mine)}};
    ctx_.options->events->Record(e);
  }
  if (!claim.recovered_from.empty()) {
    result.recovered_from = claim.recovered_from;
    Event e;
    e.kind = EventKind::kLockRecovered;
    e.subject = name;
    e.worker = claim.recovered_from;
    e.result = "recovered";
    e.details = {{"token", absl::StrCat(result.lock->token)}};
    if (claim.lapsed_at != absl::InfinitePast()) {
      e.details["lapsed_at"] =
          absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", claim.lapsed_at, absl::UTCTimeZone());
    }
    ctx_.options->events->Record(e);
  }
  return result;
}

absl::StatusOr<JudgedClaim> LockProtocol::CheckFence(const LockSite& site,
                                                     const std::string& name, uint64_t token,
                                                     bool must_be_mine) {
  if (token == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fencing token 0 was never issued for lock \"", name, "\""));
  }
  absl::StatusOr<SnapshotPtr> snapshot = ctx_.views->Refresh(site.issue, ctx_.clock->Now());
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<LockState> state = JudgeSnapshot(site, name, **snapshot);
  if (!state.ok()) return state.status();
  return FenceVerdict(*state, **snapshot, name, token, must_be_mine);
}

absl::StatusOr<std::vector<LockInfo>> LockProtocol::Lost(const std::vector<LockInfo>& held,
                                                         std::vector<LockInfo>* ttl_lapsed) {
  std::vector<LockInfo> lost;
  if (held.empty()) return lost;
  std::optional<RegistryView> registry;  // listed once, when needed
  std::map<int64_t, SnapshotPtr> snapshots;
  for (const LockInfo& lock : held) {
    absl::StatusOr<LockSite> site = Locate(lock.name);
    if (!site.ok()) return site.status();
    SnapshotPtr& snapshot = snapshots[site->issue];
    if (snapshot == nullptr) {
      absl::StatusOr<SnapshotPtr> fresh = ctx_.views->Refresh(site->issue, ctx_.clock->Now());
      if (!fresh.ok()) return fresh.status();
      snapshot = *fresh;
    }
    if (!registry.has_value()) {
      absl::StatusOr<RegistryView> view = registry_->View();
      if (!view.ok()) return view.status();
      registry = *std::move(view);
    }
    const LockState state =
        JudgeLock(lock.name, *snapshot, *registry, ctx_.api->ServerNow(), ctx_.config->lock_delay,
                  ctx_.config->stale_threshold, ClosedAt(*site));
    absl::StatusOr<JudgedClaim> verdict =
        FenceVerdict(state, *snapshot, lock.name, lock.token, /*must_be_mine=*/true);
    if (!verdict.ok()) {
      if (!absl::IsFailedPrecondition(verdict.status()) &&
          !absl::IsInvalidArgument(verdict.status())) {
        return verdict.status();
      }
      lost.push_back(lock);
      const JudgedClaim* claim = state.Find(static_cast<int64_t>(lock.token));
      if (ttl_lapsed != nullptr && claim != nullptr && claim->lapsed &&
          claim->record.epoch == registry->self().epoch) {
        ttl_lapsed->push_back(lock);
      }
    }
  }
  return lost;
}

absl::StatusOr<JudgedClaim> LockProtocol::FenceVerdict(const LockState& judged,
                                                       const CommentSnapshot& snapshot,
                                                       const std::string& name, uint64_t token,
                                                       bool must_be_mine) {
  const LockState* state = &judged;
  const int64_t id = static_cast<int64_t>(token);
  const JudgedClaim* c = state->Find(id);
  if (c == nullptr) {
    if (const ViewedComment* other = snapshot.Find(id)) {
      const ReleasedRecord* released = other->As<ReleasedRecord>();
      if (released != nullptr && released->lock == name) {
        return WithReason(absl::FailedPreconditionError(
            absl::StrCat("lock \"", name, "\" token ", token, " was released")), reason::kFencingTokenStale);
      }
      return absl::InvalidArgumentError(
          absl::StrCat("fencing token ", token, " was never issued for lock \"", name, "\""));
    }
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
        "lock \"", name, "\" token ", token, " is not live (released, withdrawn or unknown)")), reason::kFencingTokenStale);
  }
  if (!c->live) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
        "lock \"", name, "\" token ", token,
        c->lapsed ? " lapsed (its holder's lease or ttl ran out)" : " was closed with its task")), reason::kFencingTokenStale);
  }
  if (!state->holder.has_value() || state->holder->id != id) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
        "lock \"", name, "\" token ", token, " is not its current instance",
        state->first_live.has_value()
            ? absl::StrCat(" (an earlier claim, token ", state->first_live->id, " by ",
                           state->first_live->record.worker_id, ", holds it)")
            : " (the lock is in its lock-delay)")), reason::kFencingTokenStale);
  }
  if (must_be_mine && c->record.worker_id != ctx_.config->worker_id) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat("lock \"", name, "\" token ", token,
                                                      " is held by ", c->record.worker_id)), reason::kLockHeld);
  }
  return *c;
}

absl::StatusOr<ReleaseOutcome> LockProtocol::Release(const LockSite& site,
                                                     const std::string& name, uint64_t token) {
  if (token == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fencing token 0 was never issued for lock \"", name, "\""));
  }
  absl::StatusOr<SnapshotPtr> snapshot = ctx_.views->Refresh(site.issue, ctx_.clock->Now());
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<LockState> state = JudgeSnapshot(site, name, **snapshot);
  if (!state.ok()) return state.status();
  const int64_t id = static_cast<int64_t>(token);
  const JudgedClaim* c = state->Find(id);
  if (c == nullptr) {
    if (const ViewedComment* other = (*snapshot)->Find(id)) {
      const ReleasedRecord* released = other->As<ReleasedRecord>();
      if (released == nullptr || released->lock != name) {
        return absl::InvalidArgumentError(
            absl::StrCat("fencing token ", token, " was never issued for lock \"", name, "\""));
      }
    }
    return state->holder.has_value() ? ReleaseOutcome::kHeldByOther : ReleaseOutcome::kNotHeld;
  }
  const bool mine = c->record.worker_id == ctx_.config->worker_id;
  const bool holds = state->holder.has_value() && state->holder->id == id;
  if (holds) {
    if (!mine) return ReleaseOutcome::kHeldByOther;
    if (absl::Status s = Withdraw(id, WritePriority::kRelease); !s.ok()) return s;
    ctx_.notifier->Notify();
    return ReleaseOutcome::kReleased;
  }
  if (mine && (c->live || !site.task)) {
    // A waiting claim of ours (it would be served later), or a dead one on the locks issue
    // (no history to keep there): take it back.
    if (absl::Status s = Withdraw(id, WritePriority::kRelease); !s.ok()) return s;
  }
  return state->holder.has_value() ? ReleaseOutcome::kHeldByOther : ReleaseOutcome::kNotHeld;
}

absl::StatusOr<LockInfo> LockProtocol::Renew(const LockSite& site, const std::string& name,
                                             uint64_t token, absl::Duration ttl) {
  absl::StatusOr<JudgedClaim> held = CheckFence(site, name, token, /*must_be_mine=*/true);
  if (!held.ok()) return held.status();
  ClaimRecord r = held->record;
  if (ttl > absl::ZeroDuration()) r.ttl = ttl;
  absl::StatusOr<Comment> edited = ctx_.api->UpdateComment(
      held->id, ctx_.seal->Body(r, site.issue, ctx_.api->ServerNow()), WritePriority::kClaim);
  if (absl::IsNotFound(edited.status())) {
    return WithReason(absl::FailedPreconditionError(
        absl::StrCat("lock \"", name, "\" token ", token, " was released")), reason::kFencingTokenStale);
  }
  if (!edited.ok()) return edited.status();
  const OwnLease own = registry_->Current();
  JudgedClaim renewed = *held;
  renewed.record = r;
  renewed.updated_at = edited->updated_at;
  renewed.expires_at =
      std::min(std::max(edited->updated_at, own.renewed_at) + r.ttl, own.ends_at());
  LockInfo info = renewed.info();
  ctx_.held->Add(info);
  return info;
}

absl::StatusOr<std::vector<LockInfo>> LockProtocol::ListOn(int64_t issue, bool task) {
  const LockSite site{issue, task};
  absl::StatusOr<SnapshotPtr> snapshot = ctx_.views->Refresh(issue, ctx_.clock->Now());
  if (!snapshot.ok()) return snapshot.status();
  std::set<std::string> names;
  for (const ViewedComment& c : (*snapshot)->comments) {
    if (const ClaimRecord* r = c.As<ClaimRecord>()) names.insert(r->lock);
  }
  std::vector<LockInfo> out;
  for (const std::string& name : names) {
    absl::StatusOr<LockState> state = JudgeSnapshot(site, name, **snapshot);
    if (!state.ok()) return state.status();
    if (state->holder.has_value()) out.push_back(state->holder->info());
  }
  return out;
}

}  // namespace tasksentinel::github
