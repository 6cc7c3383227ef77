// Backend events as log lines and counters (see event_log.h).
#include "service/event_log.h"

#include "absl/strings/str_cat.h"

namespace tasksentinel {
namespace {

constexpr char kStaleWorkers[] = "tasksentinel_stale_workers_detected_total";
constexpr char kLocksRecovered[] = "tasksentinel_locks_recovered_total";
constexpr char kDecisions[] = "tasksentinel_load_balancer_decisions_total";
constexpr char kTasksTotal[] = "tasksentinel_tasks_total";
constexpr char kMemoryOps[] = "tasksentinel_memory_operations_total";
constexpr char kClaimOutcomes[] = "tasksentinel_github_claim_outcomes_total";
constexpr char kSwept[] = "tasksentinel_github_registrations_swept_total";

// Each family's help text, and whether it is GitHub-only.
struct Family {
  const char* name;
  const char* help;
  bool github_only;
};
constexpr Family kFamilies[] = {
    {kStaleWorkers,
     "Other workers this sidecar found stale (lease lapsed), each once per lease epoch.", false},
    {kLocksRecovered,
     "Locks this sidecar's worker took over from a holder whose lease or ttl had lapsed (stale "
     "locks detected and recovered).",
     false},
    {kDecisions,
     "NextTask calls by how the load balancer's decision ended: balancer_pick, other_task, "
     "no_task, at_capacity, unhealthy.",
     false},
    {kTasksTotal, "Task events handled by this sidecar.", false},
    {kMemoryOps,
     "Shared-memory writes (set, delete) by result: ok or conflict (a lost compare-and-set or a "
     "stale fencing token).",
     false},
    {kClaimOutcomes, "GitHub lock claims of this sidecar that were judged: won or lost.", true},
    {kSwept,
     "Long-dead registrations of other workers this sidecar removed (the fleet's sweeper).",
     true},
};

const Family& FamilyOf(const std::string& name) {
  for (const Family& f : kFamilies) {
    if (name == f.name) return f;
  }
  return kFamilies[0];  // not reached: every counted name is listed
}

}  // namespace

EventLog::EventLog(Backend backend, Logger* logger) : backend_(backend), logger_(logger) {}

absl::string_view EventLog::Component(EventKind kind) {
  switch (kind) {
    case EventKind::kWorkerStale:
    case EventKind::kWorkerGone:
      return "workers";
    case EventKind::kLockRecovered:
      return "locks";
    case EventKind::kTaskTakenOver:
    case EventKind::kTaskRetried:
    case EventKind::kTaskDeadLettered:
    case EventKind::kBalancerDecision:
      return "tasks";
    case EventKind::kMemoryFlushed:
      return "memory-sync";
    case EventKind::kClaimPosted:
    case EventKind::kClaimSettled:
    case EventKind::kClaimWon:
    case EventKind::kClaimLost:
    case EventKind::kClaimWithdrawn:
      return "claims";
    case EventKind::kLeaseStretched:
      return "lease";
  }
  return "sidecar";
}

LogLevel EventLog::Level(const Event& event) {
  switch (event.kind) {
    case EventKind::kWorkerStale:
    case EventKind::kTaskDeadLettered:
    case EventKind::kLeaseStretched:
      return LogLevel::kWarn;
    case EventKind::kWorkerGone:
    case EventKind::kLockRecovered:
    case EventKind::kTaskTakenOver:
    case EventKind::kTaskRetried:
      return LogLevel::kInfo;
    case EventKind::kMemoryFlushed:
      return event.result == "error" ? LogLevel::kWarn : LogLevel::kDebug;
    case EventKind::kBalancerDecision:
    case EventKind::kClaimPosted:
    case EventKind::kClaimSettled:
    case EventKind::kClaimWon:
    case EventKind::kClaimLost:
    case EventKind::kClaimWithdrawn:
      return LogLevel::kDebug;
  }
  return LogLevel::kInfo;
}

void EventLog::Count(const std::string& name, std::map<std::string, std::string> labels) {
  absl::MutexLock lock(&mu_);
  counts_[Key{name, std::move(labels)}] += 1;
}

void EventLog::Record(const Event& event) {
  switch (event.kind) {
    case EventKind::kWorkerStale:
      Count(kStaleWorkers, {});
      break;
    case EventKind::kWorkerGone:
      Count(kSwept, {});
      break;
    case EventKind::kLockRecovered:
      Count(kLocksRecovered, {});
      break;
    case EventKind::kTaskDeadLettered:
      Count(kTasksTotal, {{"event", "dead_lettered"}});
      break;
    case EventKind::kBalancerDecision:
      Count(kDecisions, {{"outcome", event.result}});
      break;
    case EventKind::kMemoryFlushed:
      Count(kMemoryOps, {{"op", "flush"}, {"result", event.result == "error" ? "error" : "ok"}});
      break;
    case EventKind::kClaimWon:
      Count(kClaimOutcomes, {{"outcome", "won"}});
      break;
    case EventKind::kClaimLost:
      Count(kClaimOutcomes, {{"outcome", "lost"}});
      break;
    default:  // counted elsewhere (the NextTask RPC, the GitHub client's stats) or not at all
      break;
  }
  const std::string component(Component(event.kind));
  const LogLevel level = Level(event);
  if (!logger_->Enabled(level, component)) return;
  LogEvent line;
  line.task_id = event.subject;
  line.result = event.result;
  line.duration = event.duration;
  line.metadata = event.details;
  if (!event.worker.empty()) line.metadata["worker"] = event.worker;
  logger_->Log(level, component, std::string(EventName(event.kind)), line);
}

void EventLog::OnRateLimit(bool blocked, const std::string& message) {
  logger_->Log(LogLevel::kWarn, "rate-limit", blocked ? "rate_limit_blocked" : "rate_limit_resumed",
               {"", blocked ? "blocked" : "resumed", std::nullopt, {{"detail", message}}});
}

std::vector<BackendMetric> EventLog::Metrics() const {
  std::map<Key, double> counts;
  {
    absl::MutexLock lock(&mu_);
    counts = counts_;
  }
  // Every fixed series from 0.
  std::vector<Key> fixed = {{kStaleWorkers, {}},
                            {kLocksRecovered, {}},
                            {kTasksTotal, {{"event", "dead_lettered"}}},
                            {kMemoryOps, {{"op", "flush"}, {"result", "ok"}}},
                            {kMemoryOps, {{"op", "flush"}, {"result", "error"}}}};
  for (absl::string_view outcome : {kBalancerPick, kBalancerOtherTask, kBalancerNoTask,
                                    kBalancerAtCapacity, kBalancerUnhealthy}) {
    fixed.push_back({kDecisions, {{"outcome", std::string(outcome)}}});
  }
  if (backend_ == Backend::kGitHub) {
    fixed.push_back({kClaimOutcomes, {{"outcome", "won"}}});
    fixed.push_back({kClaimOutcomes, {{"outcome", "lost"}}});
    fixed.push_back({kSwept, {}});
  }
  for (const Key& key : fixed) counts.try_emplace(key, 0);
  std::vector<BackendMetric> out;
  for (const auto& [key, value] : counts) {
    const Family& family = FamilyOf(key.first);
    if (family.github_only && backend_ != Backend::kGitHub) continue;
    BackendMetric m{key.first, family.help, true, value};
    m.labels = key.second;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace tasksentinel
