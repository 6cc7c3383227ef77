// The task queue on GitHub (see github_tasks.h).
#include "core/github/github_tasks.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/load_balancer.h"
#include "core/notifier.h"
#include "core/task_types.h"
#include "core/validation.h"
#include "core/error_reason.h"

namespace tasksentinel::github {
namespace {

constexpr absl::Duration kMaxBackoff = absl::Hours(1);

// How far back (by the issue's last update) a CreateTask whose earlier create's answer was lost
// looks for its request_id; also how long this sidecar remembers a request_id.
constexpr absl::Duration kRequestIdWindow = absl::Hours(24);

// How many request_ids this sidecar remembers (about 100 bytes each).
constexpr size_t kRequestIdCapacity = 10000;

absl::Status NoTask(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("no task ", id));
}

}  // namespace

GitHubTasks::GitHubTasks(const GitHubContext& ctx, Registry* registry, LockProtocol* locks)
    : ctx_(ctx),
      registry_(registry),
      locks_(locks),
      labels_(*ctx.config),
      done_tally_(labels_.For(TaskState::kDone)),
      dead_letter_tally_(labels_.For(TaskState::kDeadLetter)),
      request_ids_(kRequestIdCapacity, kRequestIdWindow) {}

TaskIssue GitHubTasks::ReadTask(const Issue& issue) const {
  return ReadTaskIssue(issue, labels_, MaxAttempts(), ctx_.screen, ctx_.api->ServerNow());
}

uint32_t GitHubTasks::MaxAttempts() const {
  return static_cast<uint32_t>(ctx_.config->task_max_attempts);
}

void GitHubTasks::NoteFinished() {
  absl::MutexLock lock(&mu_);
  finished_.push_back(ctx_.clock->Now());
}

uint32_t GitHubTasks::RecentlyFinished(absl::Time local_now) {
  absl::MutexLock lock(&mu_);
  const absl::Time since = local_now - ctx_.lag->Settle();
  finished_.erase(finished_.begin(),
                  std::upper_bound(finished_.begin(), finished_.end(), since));
  return static_cast<uint32_t>(finished_.size());
}

std::set<std::string> GitHubTasks::Overdue(const std::map<std::string, std::string>& plan,
                                           absl::Time local_now, absl::Duration grace) {
  const std::string& me = ctx_.config->worker_id;
  std::set<std::string> overdue;
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::pair<std::string, absl::Time>> seen;
  for (const auto& [task, worker] : plan) {
    if (worker.empty() || worker == me) continue;
    auto it = planned_.find(task);
    std::pair<std::string, absl::Time> entry =
        it != planned_.end() && it->second.first == worker ? it->second
                                                           : std::make_pair(worker, local_now);
    if (local_now - entry.second >= grace) overdue.insert(task);
    seen.emplace(task, std::move(entry));
  }
  planned_.swap(seen);  // forgets tasks no longer planned for another worker
  return overdue;
}

absl::StatusOr<std::optional<Issue>> GitHubTasks::FindByRequestId(const std::string& request_id) {
  IssueQuery query;
  query.state = IssueQuery::State::kAll;
  query.since = ctx_.api->ServerNow() - kRequestIdWindow;
  absl::StatusOr<Read<std::vector<Issue>>> read = ctx_.api->ListIssues(query);
  if (!read.ok()) return read.status();
  std::optional<Issue> first;
  for (Issue& issue : read->value) {
    if (!TaskStateOf(issue, labels_).has_value() || !Admitted(issue)) continue;
    if (ReadTask(issue).meta.request_id != request_id) continue;
    // Two sidecars racing with one key can both create; every retry then answers the first.
    if (!first.has_value() || issue.number < first->number) first = std::move(issue);
  }
  if (first.has_value()) ctx_.issues->Put(*first);
  return first;
}

absl::StatusOr<std::optional<TaskRecord>> GitHubTasks::FindEarlier(
    const std::string& request_id) {
  // 1. A key this sidecar created, or saw on an open task, within the window: one GET.
  std::optional<RequestIds::Known> known = request_ids_.Find(request_id, ctx_.clock->Now());
  if (known.has_value() && known->number > 0) {
    absl::StatusOr<Issue> issue = LoadTask(absl::StrCat(known->number), 0);
    if (issue.ok()) return ReadTask(*issue).task;
    if (!absl::IsNotFound(issue.status())) return issue.status();
    request_ids_.Forget(request_id);  // the issue is gone (deleted): search as for a new key
    known.reset();
  }
  // 2. Unknown here: the first call may have gone to another sidecar, or to this one before a
  // restart. The open task issues (the lists NextTask makes; conditional) note every key on
  // them.
  for (const std::string& label : {labels_.queued, labels_.in_progress}) {
    absl::StatusOr<std::vector<Issue>> open = ListOpen(label);
    if (!open.ok()) return open.status();
  }
  known = request_ids_.Find(request_id, ctx_.clock->Now());
  if (known.has_value() && known->number > 0) {
    std::optional<Issue> issue = ctx_.issues->Get(known->number);
    if (issue.has_value()) return ReadTask(*issue).task;
  }
  // 3. This sidecar sent a create with this key whose answer was lost: the issue may exist and
  // already be closed. Only then, every issue updated within the window (open and closed).
  if (known.has_value()) {
    absl::StatusOr<std::optional<Issue>> found = FindByRequestId(request_id);
    if (!found.ok()) return found.status();
    if (found->has_value()) {
      request_ids_.Note(request_id, (*found)->number, ctx_.clock->Now());
      return ReadTask(**found).task;
    }
  }
  // A key first used on another sidecar (or before a restart) whose task was finished before
  // this retry is not found: see CreateTaskRequest.request_id.
  return std::nullopt;
}

absl::StatusOr<std::vector<Issue>> GitHubTasks::ListOpen(const std::string& label) {
  IssueQuery query;
  query.state = IssueQuery::State::kOpen;
  query.labels = {label};
  absl::StatusOr<Read<std::vector<Issue>>> read = ctx_.api->ListIssues(query);
  if (!read.ok()) return read.status();
  std::vector<Issue> admitted;
  const absl::Time now = ctx_.clock->Now();
  for (Issue& issue : read->value) {
    if (!Admitted(issue)) continue;
    ctx_.issues->Put(issue);
    if (TaskStateOf(issue, labels_).has_value()) {
      request_ids_.Note(ReadTask(issue).meta.request_id, issue.number, now);
    }
    admitted.push_back(std::move(issue));
  }
  return admitted;
}

bool GitHubTasks::Admitted(const Issue& issue) const {
  return ctx_.config->task_intake != "trusted" || ctx_.screen->Trusts(issue.author_id);
}

bool GitHubTasks::ContendedAfter(int64_t issue, const std::string& name, uint64_t token) {
  SnapshotPtr snapshot = ctx_.views->Latest(issue);
  if (snapshot == nullptr) return true;
  for (const ViewedComment& c : snapshot->comments) {
    const ClaimRecord* r = c.As<ClaimRecord>();
    if (r != nullptr && r->lock == name && c.comment.id > static_cast<int64_t>(token) &&
        r->worker_id != ctx_.config->worker_id) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<TaskRecord> GitHubTasks::Create(const NewTask& t) {
  if (absl::Status s = ValidateNewTask(t); !s.ok()) return s;
  if (!t.request_id.empty()) {
    absl::StatusOr<std::optional<TaskRecord>> earlier = FindEarlier(t.request_id);
    if (!earlier.ok()) return earlier.status();
    if (earlier->has_value()) return **earlier;
    // Unresolved until the answer comes: should it be lost, the retry searches further.
    request_ids_.NoteUnresolved(t.request_id, ctx_.clock->Now());
  }
  TaskMeta meta;
  meta.priority = t.priority;
  meta.max_attempts = t.max_attempts != 0 ? t.max_attempts : MaxAttempts();
  meta.request_id = t.request_id;
  IssueDraft draft;
  draft.title = t.title;
  draft.body = TaskBody(t.body, meta, std::nullopt, ctx_.seal, /*issue=*/0, ctx_.api->ServerNow());
  draft.labels = {labels_.queued};
  if (!t.type.empty()) draft.labels.push_back(absl::StrCat(kTypeLabelPrefix, t.type));
  absl::StatusOr<Issue> created = ctx_.api->CreateIssue(draft, WritePriority::kClaim);
  if (!created.ok()) return created.status();
  ctx_.issues->Put(*created);
  request_ids_.Note(t.request_id, created->number, ctx_.clock->Now());
  ctx_.notifier->Notify();
  return ReadTask(*created).task;
}

absl::StatusOr<std::optional<HandedOutTask>> GitHubTasks::Next(
    const std::vector<std::string>& types, absl::Duration wait_timeout,
    const std::function<bool()>& cancelled) {
  const std::vector<std::string>& supported = ctx_.config->supported_task_types;
  // The types this call may take: the requested ones that the worker supports (empty: any).
  absl::StatusOr<std::vector<std::string>> resolved = ResolveRequestedTypes(types, supported);
  if (!resolved.ok()) return resolved.status();
  const std::vector<std::string> wanted = *std::move(resolved);
  if (absl::Status s = ValidateDuration("wait_timeout", wait_timeout, kMaxWait); !s.ok()) {
    return s;
  }
  const absl::Duration lock_delay = ctx_.config->lock_delay;
  const LoadBalancer balancer(ctx_.config->strategy, ctx_.config->affinity_enabled);
  const std::string& me = ctx_.config->worker_id;
  std::optional<HandedOutTask> handed;
  bool changed = false;
  absl::string_view decision = kBalancerNoTask;  // how the latest attempt ended

  // One candidate task.
  struct Candidate {
    Issue issue;
    TaskIssue task;
    bool orphan = false;
    std::string lost_by;
    absl::Time lapsed_at = absl::InfinitePast();
  };

  absl::Status status = RetryUntil(
      *ctx_.clock, *ctx_.notifier, ctx_.clock->Now() + wait_timeout,
      ctx_.options->poll_interval, cancelled, [&](bool* done) -> absl::Status {
        decision = kBalancerNoTask;
        absl::StatusOr<OwnLease> lease = registry_->EnsureLease();
        if (!lease.ok()) return lease.status();
        if (registry_->health() != Health::kHealthy) {
          decision = kBalancerUnhealthy;
          return absl::OkStatus();  // no new work
        }
        absl::StatusOr<RegistryView> registry = registry_->View();
        if (!registry.ok()) return registry.status();
        absl::StatusOr<std::vector<Issue>> queued = ListOpen(labels_.queued);
        if (!queued.ok()) return queued.status();
        absl::StatusOr<std::vector<Issue>> running = ListOpen(labels_.in_progress);
        if (!running.ok()) return running.status();
        const absl::Time now = ctx_.api->ServerNow();

        std::map<std::string, uint32_t> active;  // live task locks per worker
        std::set<std::string> mine;              // this worker's tasks
        std::map<std::string, Candidate> by_id;
        for (const Issue& issue : *running) {
          if (TaskStateOf(issue, labels_) != TaskState::kInProgress) continue;
          Candidate c;
          c.issue = issue;
          c.task = ReadTask(issue);
          const std::string& worker = c.task.meta.worker_id;
          const LeaseJudgement holder =
              registry->Judge(worker, c.task.meta.epoch, now, issue.updated_at,
                              ctx_.config->stale_threshold);
          if (!worker.empty() && holder.live) {
            ++active[worker];
            if (worker == me) mine.insert(c.task.task.id);
            continue;
          }
          if (!worker.empty() && now < holder.ends_at + lock_delay) continue;  // lock-delay
          if (c.task.task.attempts >= c.task.task.max_attempts) {
            // Its last attempt died with its worker: dead-letter instead of retrying.
            TaskMeta meta = c.task.meta;
            meta.last_error = absl::StrCat("attempt ", meta.attempts, " by ", worker,
                                           " was lost (lease lapsed); no attempts left");
            IssuePatch patch;
            patch.open = false;
            patch.labels = LabelsWithState(issue, TaskState::kDeadLetter, labels_);
            patch.body = TaskBody(c.task.text, meta, std::nullopt, ctx_.seal, issue.number,
                                  ctx_.api->ServerNow());
            absl::StatusOr<Issue> dead =
                ctx_.api->UpdateIssue(issue.number, patch, WritePriority::kRelease);
            if (!dead.ok()) return dead.status();
            ctx_.issues->Put(*dead);
            changed = true;
            ReportTaskEvent(EventKind::kTaskDeadLettered, c.task.task, worker, "attempt_lost");
            continue;
          }
          c.orphan = true;
          c.lost_by = worker;
          c.lapsed_at = holder.ends_at;
          by_id[c.task.task.id] = std::move(c);
        }
        // Our own hand-outs count even before the list shows them (read lag).
        for (const LockInfo& held : ctx_.held->Snapshot()) {
          if (std::optional<Issue> issue = ctx_.issues->Get(TaskNumber(held.name).value_or(0));
              issue.has_value() && TaskStateOf(*issue, labels_) == TaskState::kInProgress) {
            mine.insert(held.name);
          }
        }
        active[me] = std::max<uint32_t>(active[me], static_cast<uint32_t>(mine.size()));
        const RegistrationEntry own = registry_->OwnEntry();
        if (active[me] >= own.record.max_tasks) {
          decision = kBalancerAtCapacity;
          return absl::OkStatus();
        }

        // The two lists are two requests: an issue relabelled in between shows in both. The
        // later-listed in-progress entry is the fresher one, unless the queued one is newer.
        std::map<int64_t, absl::Time> running_at;
        for (const Issue& issue : *running) running_at[issue.number] = issue.updated_at;
        for (const Issue& issue : *queued) {
          if (TaskStateOf(issue, labels_) != TaskState::kQueued) continue;
          if (auto r = running_at.find(issue.number);
              r != running_at.end() && r->second >= issue.updated_at) {
            continue;
          }
          Candidate c;
          c.issue = issue;
          c.task = ReadTask(issue);
          if (now < c.task.task.not_before) continue;  // retry backoff
          by_id[c.task.task.id] = std::move(c);
        }
        if (by_id.empty()) return absl::OkStatus();

        // The plan every sidecar computes from the same view.
        // Every sidecar must see the same plan, so this worker counts as others see it (its
        // published registration: capacity, health, affinity history), not as it knows itself;
        // only before its registration is visible does the own entry stand in.
        std::map<std::string, RegistrationEntry> latest = registry->Latest();
        if (latest.find(me) == latest.end()) latest[me] = own;
        std::vector<WorkerView> views;
        for (const auto& [id, entry] : latest) {
          const LeaseJudgement l = registry->Judge(id, entry.record.epoch, now, entry.updated_at,
                                                   entry.record.lease);
          if (!l.live) continue;
          WorkerView v;
          v.id = id;
          v.healthy = entry.record.health == static_cast<int>(Health::kHealthy);
          v.max_tasks = entry.record.max_tasks;
          v.active_tasks = active[id];
          v.supported_types =
              id == me && !wanted.empty() ? wanted : entry.record.supported_task_types;
          v.type_history = entry.record.type_history;
          views.push_back(std::move(v));
        }
        std::vector<TaskView> candidates;
        for (const auto& [id, c] : by_id) {
          candidates.push_back({id, c.task.task.type, c.task.task.priority, c.task.task.seq});
        }
        std::sort(candidates.begin(), candidates.end(), [](const TaskView& a, const TaskView& b) {
          return a.priority != b.priority ? a.priority > b.priority : a.seq < b.seq;
        });
        // At the drain (no more candidates than live workers) plans computed a moment apart
        // disagree when they rest on loads, which change with every hand-out and completion and
        // are seen late: two workers that just finished each see themselves free and the other
        // still busy, and both take the last task. So at the drain the plan ignores loads below
        // a worker's capacity (every sidecar then computes the same plan from the registrations
        // alone), and a sidecar counts the tasks its worker finished within the settle delay as
        // still held when judging whether the worker is full, as others may still see them:
        // two capacity-1 workers that just finished then both wait for the next poll rather
        // than both claim.
        const bool drain = views.size() > 1 && candidates.size() <= views.size();
        const absl::Time local_now = ctx_.clock->Now();
        uint32_t own_load = active[me];
        if (drain) {
          own_load += RecentlyFinished(local_now);
          for (WorkerView& v : views) {
            const uint32_t load = v.id == me ? own_load : v.active_tasks;
            v.active_tasks = load >= v.max_tasks ? v.max_tasks : 0;
          }
        }
        std::map<std::string, std::string> plan;  // task -> planned worker ("" for none)
        std::optional<std::string> pick;
        for (const Assignment& a : balancer.Assign(views, candidates)) {
          plan[a.task_id] = a.worker_id;
          if (!pick.has_value() && a.worker_id == me) pick = a.task_id;
        }
        // At the drain a task the plan gives to another worker is left to it (claiming it too
        // would most likely lose: two writes) until it has been planned for that worker for a
        // grace period without being taken: then that worker is not taking work, and anyone
        // may — staggered by a settle delay per rank of the worker id, so that idle sidecars
        // do not all claim it at once. The grace counts from when the drain began: before it,
        // plans reach far ahead of what workers are taking, there are more tasks than workers,
        // and a fallback is most likely a task nobody is about to take (it is pre-checked all
        // the same).
        size_t rank = 0;
        for (const WorkerView& v : views) rank += v.id < me ? 1 : 0;
        const absl::Duration settle = ctx_.lag->Settle();
        const std::set<std::string> overdue =
            Overdue(drain ? plan : std::map<std::string, std::string>(), local_now,
                    2 * ctx_.options->poll_interval + settle * static_cast<int64_t>(rank + 1));
        const bool room = own_load < own.record.max_tasks;
        std::vector<std::string> order;
        if (pick.has_value()) order.push_back(*pick);
        for (const TaskView& c : candidates) {
          if (!Supports(supported, c.type) || !Requested(wanted, c.type)) continue;
          if (pick.has_value() && c.id == *pick) continue;
          const std::string& planned = plan[c.id];
          if (!drain || planned == me || (planned.empty() && room) || overdue.count(c.id) > 0) {
            order.push_back(c.id);
          }
        }

        int claims = 0;
        for (const std::string& id : order) {
          const Candidate& c = by_id[id];
          if (!Supports(supported, c.task.task.type) || !Requested(wanted, c.task.task.type)) {
            continue;
          }
          if (claims++ >= ctx_.options->max_claims_per_next) break;
          const LockSite site{c.issue.number, true};
          ClaimOptions options;
          options.ttl = ctx_.config->lock_ttl;
          // The plan's pick is meant for this worker alone: claim it at once. A fallback is
          // likely someone else's pick, and when the queue is down to no more tasks than
          // workers, views a moment apart give overlapping plans: then look at the claims first
          // (a conditional read) rather than post a claim that would probably lose and have to
          // be withdrawn (two writes).
          options.precheck = !pick.has_value() || id != *pick || drain;
          if (c.orphan) {
            options.recovered_from = c.lost_by;
            options.lapsed_at = c.lapsed_at;
          }
          absl::StatusOr<AcquireAttempt> got = locks_->Acquire(site, id, options,
                                                               absl::ZeroDuration(), nullptr);
          if (!got.ok()) return got.status();
          if (!got->acquired) continue;

          // Under read lag a later claim can win first (its owner did not see ours yet) and its
          // holder can even complete the task before our claim became visible to its fencing
          // check. A later claim by another worker in the list that made us the winner is the
          // sign: then read the issue itself (a GET is not subject to the lists' lag) and do not
          // hand out a task that was closed meanwhile — the hand-out PATCH would relabel the
          // closed issue in progress and overwrite its result.
          if (ContendedAfter(site.issue, id, got->lock->token)) {
            absl::StatusOr<Read<Issue>> fresh = ctx_.api->GetIssue(c.issue.number);
            if (!fresh.ok() && !absl::IsNotFound(fresh.status())) {
              ctx_.held->Remove(id, got->lock->token);
              (void)locks_->Withdraw(static_cast<int64_t>(got->lock->token));
              return fresh.status();
            }
            if (fresh.ok()) ctx_.issues->Put(fresh->value);
            if (!fresh.ok() || !fresh->value.open ||
                !TaskStateOf(fresh->value, labels_).has_value()) {
              ctx_.held->Remove(id, got->lock->token);
              (void)locks_->Withdraw(static_cast<int64_t>(got->lock->token));
              changed = true;
              continue;
            }
          }

          // Won: hand it out, recording the attempt, in one PATCH.
          TaskMeta meta = c.task.meta;
          if (c.orphan) {
            meta.last_error = absl::StrCat("attempt ", meta.attempts, " by ", c.lost_by,
                                           " was lost (lease lapsed)");
          }
          meta.attempts += 1;
          meta.worker_id = me;
          meta.epoch = lease->epoch;
          meta.token = got->lock->token;
          IssuePatch patch;
          patch.labels = LabelsWithState(c.issue, TaskState::kInProgress, labels_);
          patch.body = TaskBody(c.task.text, meta, std::nullopt, ctx_.seal, c.issue.number,
                                ctx_.api->ServerNow());
          absl::StatusOr<Issue> updated =
              ctx_.api->UpdateIssue(c.issue.number, patch, WritePriority::kClaim);
          if (!updated.ok()) {
            // Give the task back rather than hold a lock nobody knows about.
            ctx_.held->Remove(id, got->lock->token);
            (void)locks_->Withdraw(static_cast<int64_t>(got->lock->token));
            return updated.status();
          }
          ctx_.issues->Put(*updated);
          handed = HandedOutTask{ReadTask(*updated).task,
                                 *got->lock};
          decision = pick.has_value() && *pick == id ? kBalancerPick : kBalancerOtherTask;
          if (c.orphan) {
            ReportTaskEvent(EventKind::kTaskTakenOver, handed->task, c.lost_by, "lease_lapsed");
          } else if (handed->task.attempts > 1) {
            ReportTaskEvent(EventKind::kTaskRetried, handed->task, c.task.meta.worker_id,
                            "after_failure");
          }
          *done = true;
          return absl::OkStatus();
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (handed.has_value() || changed) ctx_.notifier->Notify();
  Event e;
  e.kind = EventKind::kBalancerDecision;
  e.subject = handed.has_value() ? handed->task.id : "";
  e.result = std::string(decision);
  e.details = {{"strategy", std::string(StrategyName(ctx_.config->strategy))}};
  ctx_.options->events->Record(e);
  return handed;
}

void GitHubTasks::ReportTaskEvent(EventKind kind, const TaskRecord& task,
                                  const std::string& previous_worker,
                                  const std::string& result) {
  Event e;
  e.kind = kind;
  e.subject = task.id;
  e.worker = previous_worker;
  e.result = result;
  e.details = {{"attempt", absl::StrCat(task.attempts, "/", task.max_attempts)}};
  ctx_.options->events->Record(e);
}

absl::StatusOr<Issue> GitHubTasks::LoadTask(const std::string& id, uint64_t prefer_cached_token) {
  std::optional<int64_t> number = TaskNumber(id);
  if (!number.has_value()) return NoTask(id);
  if (prefer_cached_token != 0) {
    std::optional<Issue> cached = ctx_.issues->Get(*number);
    if (cached.has_value() && TaskStateOf(*cached, labels_) == TaskState::kInProgress &&
        ReadTask(*cached).meta.token == prefer_cached_token) {
      return *cached;  // our own latest write of it
    }
  }
  absl::StatusOr<Read<Issue>> read = ctx_.api->GetIssue(*number);
  if (absl::IsNotFound(read.status())) return NoTask(id);
  if (!read.ok()) return read.status();
  if (!Admitted(read->value)) return NoTask(id);
  ctx_.issues->Put(read->value);
  if (!TaskStateOf(read->value, labels_).has_value()) return NoTask(id);
  return std::move(read->value);
}

absl::StatusOr<GitHubTasks::Finishing> GitHubTasks::BeginFinish(const std::string& id,
                                                                uint64_t token) {
  absl::StatusOr<Issue> issue = LoadTask(id, token);
  if (!issue.ok()) return issue.status();
  ctx_.held->MarkReleasing(id, token);
  auto fail = [&](absl::Status s) {
    ctx_.held->Unmark(id, token);
    return s;
  };
  absl::StatusOr<JudgedClaim> claim =
      locks_->CheckFence(LockSite{issue->number, true}, id, token, /*must_be_mine=*/true);
  if (!claim.ok()) return fail(claim.status());
  TaskIssue task = ReadTask(*issue);
  if (task.task.state != TaskState::kInProgress) {
    return fail(WithReason(absl::FailedPreconditionError(
        absl::StrCat("task ", id, " was not handed out under token ", token,
                     " (lock it with NextTask, not AcquireLock)")), reason::kTaskNotInProgress));
  }
  return Finishing{*std::move(issue), *std::move(claim), std::move(task)};
}

absl::StatusOr<TaskRecord> GitHubTasks::Complete(const std::string& id, uint64_t token,
                                                 const std::string& result) {
  if (absl::Status s = ValidateId("task_id", id); !s.ok()) return s;
  if (absl::Status s = ValidateSize("result", result, kMaxValueBytes); !s.ok()) return s;
  absl::StatusOr<Finishing> held = BeginFinish(id, token);
  if (!held.ok()) return held.status();
  const Issue& issue = held->issue;
  const TaskIssue& task = held->task;
  auto fail = [&](absl::Status s) {
    ctx_.held->Unmark(id, token);
    return s;
  };
  IssuePatch patch;
  patch.open = false;
  patch.labels = LabelsWithState(issue, TaskState::kDone, labels_);
  patch.body = TaskBody(task.text, task.meta, result, ctx_.seal, issue.number,
                        ctx_.api->ServerNow());
  absl::StatusOr<Issue> done = ctx_.api->UpdateIssue(issue.number, patch, WritePriority::kClaim);
  if (!done.ok()) return fail(done.status());
  ctx_.issues->Put(*done);
  ctx_.held->Remove(id, token);
  NoteFinished();
  registry_->RecordCompletion(task.task.type);
  ctx_.notifier->Notify();
  return ReadTask(*done).task;
}

absl::StatusOr<TaskRecord> GitHubTasks::Fail(const std::string& id, uint64_t token,
                                             const std::string& error, bool retryable) {
  if (absl::Status s = ValidateId("task_id", id); !s.ok()) return s;
  if (absl::Status s = ValidateSize("error", error, kMaxValueBytes); !s.ok()) return s;
  absl::StatusOr<Finishing> held = BeginFinish(id, token);
  if (!held.ok()) return held.status();
  const Issue& issue = held->issue;
  const TaskIssue& task = held->task;
  auto fail = [&](absl::Status s) {
    ctx_.held->Unmark(id, token);
    return s;
  };
  const absl::Time now = ctx_.api->ServerNow();
  TaskMeta meta = task.meta;
  meta.last_error = error;
  const bool requeue = retryable && task.task.attempts < task.task.max_attempts;
  if (requeue) {
    absl::Duration backoff = ctx_.config->task_retry_backoff;
    for (uint32_t i = 1; i < task.task.attempts && backoff < kMaxBackoff; ++i) backoff *= 2;
    meta.not_before = now + std::min(backoff, kMaxBackoff);
  }

  // Release the claim into a record of the attempt, then move the issue.
  ReleasedRecord released;
  released.lock = id;
  released.worker_id = held->claim.record.worker_id;
  released.epoch = held->claim.record.epoch;
  released.error = error;
  released.retry_at = requeue ? meta.not_before : absl::InfinitePast();
  released.dead_letter = !requeue;
  absl::StatusOr<Comment> edited = ctx_.api->UpdateComment(
      held->claim.id, ctx_.seal->Body(released, issue.number, now), WritePriority::kRelease);
  if (absl::IsNotFound(edited.status())) {
    return fail(WithReason(absl::FailedPreconditionError(absl::StrCat(
                               "lock \"", id, "\" token ", token, " was released")),
                           reason::kFencingTokenStale));
  }
  if (!edited.ok()) return fail(edited.status());
  IssuePatch patch;
  patch.labels =
      LabelsWithState(issue, requeue ? TaskState::kQueued : TaskState::kDeadLetter, labels_);
  patch.body = TaskBody(task.text, meta, std::nullopt, ctx_.seal, issue.number, now);
  if (!requeue) patch.open = false;
  absl::StatusOr<Issue> moved = ctx_.api->UpdateIssue(issue.number, patch, WritePriority::kClaim);
  // The lock is released either way; a failed relabel leaves the task in progress under a dead
  // claim, which the next NextTask anywhere recovers as an orphan.
  ctx_.held->Remove(id, token);
  NoteFinished();
  ctx_.notifier->Notify();
  if (!moved.ok()) return moved.status();
  ctx_.issues->Put(*moved);
  return ReadTask(*moved).task;
}

absl::StatusOr<TaskRecord> GitHubTasks::Get(const std::string& id) {
  if (absl::Status s = ValidateId("task_id", id); !s.ok()) return s;
  absl::StatusOr<Issue> issue = LoadTask(id, 0);
  if (!issue.ok()) return issue.status();
  return ReadTask(*issue).task;
}

absl::StatusOr<std::vector<Issue>> GitHubTasks::InProgress() {
  return ListOpen(labels_.in_progress);
}

absl::StatusOr<std::map<std::string, uint32_t>> GitHubTasks::ActiveByWorker() {
  absl::StatusOr<RegistryView> registry = registry_->View();
  if (!registry.ok()) return registry.status();
  absl::StatusOr<std::vector<Issue>> running = ListOpen(labels_.in_progress);
  if (!running.ok()) return running.status();
  const absl::Time now = ctx_.api->ServerNow();
  std::map<std::string, uint32_t> active;
  for (const Issue& issue : *running) {
    if (TaskStateOf(issue, labels_) != TaskState::kInProgress) continue;
    const TaskMeta meta = ReadTask(issue).meta;
    if (meta.worker_id.empty()) continue;
    if (registry->Judge(meta.worker_id, meta.epoch, now, issue.updated_at,
                        ctx_.config->stale_threshold)
            .live) {
      ++active[meta.worker_id];
    }
  }
  return active;
}

absl::StatusOr<TaskCounts> GitHubTasks::Count() {
  absl::StatusOr<RegistryView> registry = registry_->View();
  if (!registry.ok()) return registry.status();
  TaskCounts counts;
  absl::StatusOr<std::vector<Issue>> queued = ListOpen(labels_.queued);
  if (!queued.ok()) return queued.status();
  absl::StatusOr<std::vector<Issue>> running = ListOpen(labels_.in_progress);
  if (!running.ok()) return running.status();
  const absl::Time now = ctx_.api->ServerNow();
  for (const Issue& issue : *queued) {
    if (TaskStateOf(issue, labels_) == TaskState::kQueued) ++counts.queued;
  }
  for (const Issue& issue : *running) {
    if (TaskStateOf(issue, labels_) != TaskState::kInProgress) continue;
    const TaskMeta meta = ReadTask(issue).meta;
    const bool live = !meta.worker_id.empty() &&
                      registry->Judge(meta.worker_id, meta.epoch, now, issue.updated_at,
                                      ctx_.config->stale_threshold)
                          .live;
    ++(live ? counts.in_progress : counts.queued);
  }
  auto admit = [this](const Issue& issue) { return Admitted(issue); };
  absl::StatusOr<uint32_t> done = done_tally_.Count(*ctx_.api, admit);
  if (!done.ok()) return done.status();
  counts.done = *done;
  absl::StatusOr<uint32_t> dead = dead_letter_tally_.Count(*ctx_.api, admit);
  if (!dead.ok()) return dead.status();
  counts.dead_letter = *dead;
  return counts;
}

absl::Status GitHubTasks::Requeue(int64_t number, uint64_t token) {
  absl::StatusOr<Issue> issue = LoadTask(absl::StrCat(number), token);
  if (!issue.ok()) return issue.status();
  TaskIssue task = ReadTask(*issue);
  if (task.task.state != TaskState::kInProgress || task.meta.token != token) {
    return absl::OkStatus();
  }
  IssuePatch patch;
  patch.labels = LabelsWithState(*issue, TaskState::kQueued, labels_);
  absl::StatusOr<Issue> moved = ctx_.api->UpdateIssue(number, patch, WritePriority::kRelease);
  if (!moved.ok()) return moved.status();
  ctx_.issues->Put(*moved);
  ctx_.notifier->Notify();
  return absl::OkStatus();
}

}  // namespace tasksentinel::github
