// Load balancing: which queued task each worker should take. See load_balancer.h.
#include "core/load_balancer.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tasksentinel {
namespace {

// Every strategy with its name, in the order the error message lists them.
constexpr std::pair<Strategy, absl::string_view> kStrategyNames[] = {
    {Strategy::kRoundRobin, "round_robin"},
    {Strategy::kLeastLoaded, "least_loaded"},
    {Strategy::kCapacityBased, "capacity_based"},
    {Strategy::kAffinity, "affinity"},
    {Strategy::kAdaptive, "adaptive"},
};

// Whether `worker` supports tasks of `type`.
bool Supports(const WorkerView& worker, const std::string& type) {
  if (type.empty() || worker.supported_types.empty()) return true;
  return std::find(worker.supported_types.begin(), worker.supported_types.end(), type) !=
         worker.supported_types.end();
}

// Whether `worker` can take one more task.
bool HasFreeSlot(const WorkerView& worker) {
  return worker.healthy && worker.active_tasks < worker.max_tasks;
}

// How many tasks of `type` `worker` has completed.
uint32_t History(const WorkerView& worker, const std::string& type) {
  auto it = worker.type_history.find(type);
  return it == worker.type_history.end() ? 0 : it->second;
}

// Free slots of `worker` (0 when over capacity).
uint32_t FreeSlots(const WorkerView& worker) {
  return worker.active_tasks >= worker.max_tasks ? 0 : worker.max_tasks - worker.active_tasks;
}

// Whether a's utilisation (active/max) is below b's. Both have max_tasks > 0. Compared exactly
// by cross-multiplication so every sidecar agrees.
bool LessUtilised(const WorkerView& a, const WorkerView& b) {
  return uint64_t{a.active_tasks} * b.max_tasks < uint64_t{b.active_tasks} * a.max_tasks;
}

// Whether the utilisation spread over `candidates` (indices into `workers`, all with a free
// slot) is at least 1/4: 4 * (hi.active/hi.max - lo.active/lo.max) >= 1, exactly.
bool SpreadAtLeastQuarter(const std::vector<WorkerView>& workers,
                          const std::vector<size_t>& candidates) {
  const WorkerView* lo = &workers[candidates.front()];
  const WorkerView* hi = lo;
  for (size_t i : candidates) {
    if (LessUtilised(workers[i], *lo)) lo = &workers[i];
    if (LessUtilised(*hi, workers[i])) hi = &workers[i];
  }
  // hi.active*lo.max - lo.active*hi.max >= 0 because hi is at least as utilised as lo.
  const uint64_t diff =
      uint64_t{hi->active_tasks} * lo->max_tasks - uint64_t{lo->active_tasks} * hi->max_tasks;
  return 4 * diff >= uint64_t{hi->max_tasks} * lo->max_tasks;
}

// The strategy `strategy` acts as for one task: kAdaptive resolves to another strategy.
Strategy Resolve(Strategy strategy, const std::vector<WorkerView>& workers,
                 const std::vector<size_t>& candidates, const std::string& type) {
  if (strategy != Strategy::kAdaptive) return strategy;
  if (SpreadAtLeastQuarter(workers, candidates)) return Strategy::kCapacityBased;
  for (size_t i : candidates) {
    if (History(workers[i], type) > 0) return Strategy::kAffinity;
  }
  return Strategy::kRoundRobin;
}

// Whether `a` ranks strictly above `b` for a task of `type` under `strategy` (not round robin).
// Workers are sorted by id, so the index is the final id tie-break.
bool Better(Strategy strategy, const std::vector<WorkerView>& workers, size_t a, size_t b,
            const std::string& type) {
  const WorkerView& wa = workers[a];
  const WorkerView& wb = workers[b];
  switch (strategy) {
    case Strategy::kCapacityBased:
      if (FreeSlots(wa) != FreeSlots(wb)) return FreeSlots(wa) > FreeSlots(wb);
      if (wa.max_tasks != wb.max_tasks) return wa.max_tasks > wb.max_tasks;
      break;
    case Strategy::kAffinity:
      if (History(wa, type) != History(wb, type)) return History(wa, type) > History(wb, type);
      if (wa.active_tasks != wb.active_tasks) return wa.active_tasks < wb.active_tasks;
      break;
    case Strategy::kLeastLoaded:
    default:
      if (wa.active_tasks != wb.active_tasks) return wa.active_tasks < wb.active_tasks;
      break;
  }
  return a < b;
}

}  // namespace

absl::StatusOr<Strategy> ParseStrategy(absl::string_view name) {
  std::string allowed;
  for (const auto& [strategy, strategy_name] : kStrategyNames) {
    if (name == strategy_name) return strategy;
    absl::StrAppend(&allowed, allowed.empty() ? "" : ", ", strategy_name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown load balance strategy \"", name, "\"; allowed: ", allowed));
}

absl::string_view StrategyName(Strategy strategy) {
  for (const auto& [s, name] : kStrategyNames) {
    if (s == strategy) return name;
  }
  return "unknown";
}

LoadBalancer::LoadBalancer(Strategy strategy, bool affinity_enabled)
    : strategy_(strategy), affinity_enabled_(affinity_enabled) {}

std::vector<Assignment> LoadBalancer::Assign(std::vector<WorkerView> workers,
                                             std::vector<TaskView> tasks) const {
  std::vector<Assignment> result;
  if (workers.empty() || tasks.empty()) return result;

  std::sort(workers.begin(), workers.end(),
            [](const WorkerView& a, const WorkerView& b) { return a.id < b.id; });
  std::sort(tasks.begin(), tasks.end(), [](const TaskView& a, const TaskView& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.seq != b.seq) return a.seq < b.seq;
    return a.id < b.id;
  });

  result.reserve(tasks.size());
  size_t cursor = 0;  // Round-robin position in `workers`.
  std::vector<size_t> candidates;
  std::vector<bool> is_candidate(workers.size());
  for (const TaskView& task : tasks) {
    Assignment& assignment = result.emplace_back();
    assignment.task_id = task.id;

    // Steps 1 and 2: capable, healthy, with a free slot.
    candidates.clear();
    for (size_t i = 0; i < workers.size(); ++i) {
      if (Supports(workers[i], task.type) && HasFreeSlot(workers[i])) candidates.push_back(i);
    }
    if (candidates.empty()) continue;

    // Step 3: affinity restriction.
    if (affinity_enabled_) {
      std::vector<size_t> affine;
      for (size_t i : candidates) {
        if (History(workers[i], task.type) > 0) affine.push_back(i);
      }
      if (!affine.empty()) candidates = std::move(affine);
    }

    // Steps 4 and 5: rank and pick.
    const Strategy strategy = Resolve(strategy_, workers, candidates, task.type);
    size_t chosen = candidates.front();
    if (strategy == Strategy::kRoundRobin) {
      std::fill(is_candidate.begin(), is_candidate.end(), false);
      for (size_t i : candidates) is_candidate[i] = true;
      for (size_t k = 0; k < workers.size(); ++k) {
        const size_t i = (cursor + k) % workers.size();
        if (is_candidate[i]) {
          chosen = i;
          break;
        }
      }
      cursor = (chosen + 1) % workers.size();
    } else {
      for (size_t i : candidates) {
        if (Better(strategy, workers, i, chosen, task.type)) chosen = i;
      }
    }

    // Step 6: the task counts against the chosen worker's capacity.
    ++workers[chosen].active_tasks;
    assignment.worker_id = workers[chosen].id;
  }
  return result;
}

std::optional<std::string> LoadBalancer::PickFor(absl::string_view worker_id,
                                                 const std::vector<WorkerView>& workers,
                                                 const std::vector<TaskView>& tasks) const {
  if (worker_id.empty()) return std::nullopt;
  for (Assignment& assignment : Assign(workers, tasks)) {
    if (assignment.worker_id == worker_id) return std::move(assignment.task_id);
  }
  return std::nullopt;
}

}  // namespace tasksentinel
