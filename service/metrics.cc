// The metric registry and the sidecar's metrics (see metrics.h).
#include "service/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tasksentinel {
namespace {

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool ValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || c == ':' ||
                    (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

// Label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
bool ValidLabelName(absl::string_view name) {
  if (name.empty() || absl::StartsWith(name, "__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

absl::Status CheckLabels(const MetricLabels& labels) {
  for (const auto& [name, value] : labels) {
    if (!ValidLabelName(name)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid label name \"", name, "\""));
    }
  }
  return absl::OkStatus();
}

// HELP text: backslash and newline escaped.
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Label values: backslash, double quote and newline escaped.
std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// A sample value: integers without a fraction, others in the shortest form that reads back
// exactly, and "+Inf", "-Inf", "NaN".
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return "0";  // also -0
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// "{a="x",b="y"}", with `extra` (e.g. le) last; "" when there are no labels at all.
std::string FormatLabels(const MetricLabels& labels,
                         const std::pair<std::string, std::string>* extra = nullptr) {
  if (labels.empty() && extra == nullptr) return "";
  std::string out = "{";
  bool first = true;
  auto add = [&](const std::string& name, const std::string& value) {
    if (!first) out += ",";
    first = false;
    absl::StrAppend(&out, name, "=\"", EscapeLabelValue(value), "\"");
  };
  for (const auto& [name, value] : labels) add(name, value);
  if (extra != nullptr) add(extra->first, extra->second);
  out += "}";
  return out;
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

MetricRegistry::MetricRegistry(const MetricRegistry& other) {
  absl::MutexLock lock(&other.mu_);
  families_ = other.families_;
  for (auto& [name, family] : families_) {
    for (auto& [labels, series] : family.series) {
      if (series.bounds != nullptr) series.bounds = &family.bounds;
    }
  }
}

absl::Status MetricRegistry::DefineCounter(const std::string& name, const std::string& help) {
  return Define(name, MetricType::kCounter, help, {});
}

absl::Status MetricRegistry::DefineGauge(const std::string& name, const std::string& help) {
  return Define(name, MetricType::kGauge, help, {});
}

absl::Status MetricRegistry::DefineHistogram(const std::string& name, const std::string& help,
                                             const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram ", name, ": bucket bounds must be finite and increasing"));
    }
  }
  return Define(name, MetricType::kHistogram, help, bounds);
}

absl::Status MetricRegistry::Define(const std::string& name, MetricType type,
                                    const std::string& help, const std::vector<double>& bounds) {
  if (!ValidMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid metric name \"", name, "\""));
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = families_.try_emplace(name);
  Family& family = it->second;
  if (inserted) {
    family.type = type;
    family.help = help;
    family.bounds = bounds;
    return absl::OkStatus();
  }
  if (family.type != type || family.bounds != bounds) {
    return absl::AlreadyExistsError(
        absl::StrCat("metric ", name, " is already defined differently"));
  }
  return absl::OkStatus();
}

absl::StatusOr<MetricRegistry::Series*> MetricRegistry::Find(const std::string& name,
                                                             MetricType type,
                                                             const MetricLabels& labels) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    return absl::NotFoundError(absl::StrCat("metric ", name, " is not defined"));
  }
  Family& family = it->second;
  if (family.type != type) {
    return absl::FailedPreconditionError(
        absl::StrCat("metric ", name, " is a ", TypeName(family.type), ", not a ",
                     TypeName(type)));
  }
  if (absl::Status s = CheckLabels(labels); !s.ok()) return s;
  if (type == MetricType::kHistogram && labels.count("le") > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("histogram ", name, " may not have a label named le"));
  }
  auto [series, inserted] = family.series.try_emplace(labels);
  if (inserted && type == MetricType::kHistogram) {
    series->second.buckets.assign(family.bounds.size() + 1, 0);
    series->second.bounds = &family.bounds;
  }
  return &series->second;
}

absl::Status MetricRegistry::Increment(const std::string& name, const MetricLabels& labels,
                                       double delta) {
  if (!(delta >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("counter ", name, ": increment must be non-negative"));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Series*> series = Find(name, MetricType::kCounter, labels);
  if (!series.ok()) return series.status();
  (*series)->value += delta;
  return absl::OkStatus();
}

absl::Status MetricRegistry::Set(const std::string& name, const MetricLabels& labels,
                                 double value) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Series*> series = Find(name, MetricType::kGauge, labels);
  if (!series.ok()) return series.status();
  (*series)->value = value;
  return absl::OkStatus();
}

absl::Status MetricRegistry::Observe(const std::string& name, const MetricLabels& labels,
                                     double value) {
  if (std::isnan(value)) {
    return absl::InvalidArgumentError(absl::StrCat("histogram ", name, ": observed NaN"));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Series*> series = Find(name, MetricType::kHistogram, labels);
  if (!series.ok()) return series.status();
  ObserveLocked(*series, value);
  return absl::OkStatus();
}

void MetricRegistry::ObserveLocked(Series* series, double value) {
  const std::vector<double>& bounds = *series->bounds;
  size_t bucket = 0;
  while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;  // le is inclusive
  ++series->buckets[bucket];
  series->sum += value;
  ++series->count;
}

absl::StatusOr<MetricRegistry::Series*> MetricRegistry::ResolveCounter(
    const std::string& name, const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  return Find(name, MetricType::kCounter, labels);
}

absl::StatusOr<MetricRegistry::Series*> MetricRegistry::ResolveHistogram(
    const std::string& name, const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  return Find(name, MetricType::kHistogram, labels);
}

void MetricRegistry::Increment(Series* counter, double delta) {
  absl::MutexLock lock(&mu_);
  counter->value += delta;
}

void MetricRegistry::Observe(Series* histogram, double value) {
  absl::MutexLock lock(&mu_);
  ObserveLocked(histogram, value);
}

std::string MetricRegistry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family.help), "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ", TypeName(family.type), "\n");
    for (const auto& [labels, series] : family.series) {
      if (family.type != MetricType::kHistogram) {
        absl::StrAppend(&out, name, FormatLabels(labels), " ", FormatValue(series.value), "\n");
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= family.bounds.size(); ++i) {
        cumulative += series.buckets[i];
        const std::pair<std::string, std::string> le{
            "le", i < family.bounds.size() ? FormatValue(family.bounds[i]) : "+Inf"};
        absl::StrAppend(&out, name, "_bucket", FormatLabels(labels, &le), " ", cumulative,
                        "\n");
      }
      absl::StrAppend(&out, name, "_sum", FormatLabels(labels), " ", FormatValue(series.sum),
                      "\n");
      absl::StrAppend(&out, name, "_count", FormatLabels(labels), " ", series.count, "\n");
    }
  }
  return out;
}

namespace {

constexpr char kRpcTotal[] = "tasksentinel_rpc_total";
constexpr char kRpcDuration[] = "tasksentinel_rpc_duration_seconds";
constexpr char kLockAcquisitions[] = "tasksentinel_lock_acquisitions_total";
constexpr char kTasksTotal[] = "tasksentinel_tasks_total";
constexpr char kWorkers[] = "tasksentinel_workers";
constexpr char kCapacity[] = "tasksentinel_capacity";
constexpr char kTasks[] = "tasksentinel_tasks";
constexpr char kUp[] = "tasksentinel_up";
constexpr char kBuildInfo[] = "tasksentinel_build_info";
constexpr char kTaskDuration[] = "tasksentinel_task_duration_seconds";
constexpr char kHeartbeats[] = "tasksentinel_heartbeats_total";
constexpr char kLocksLost[] = "tasksentinel_locks_lost_total";
constexpr char kMemoryOps[] = "tasksentinel_memory_operations_total";
constexpr char kLocks[] = "tasksentinel_locks";
constexpr char kWorkerTasks[] = "tasksentinel_worker_tasks";

const char* EventName(TaskEvent event) {
  switch (event) {
    case TaskEvent::kCreated: return "created";
    case TaskEvent::kHandedOut: return "handed_out";
    case TaskEvent::kCompleted: return "completed";
    case TaskEvent::kFailed: return "failed";
    case TaskEvent::kDeadLettered: return "dead_lettered";
    case TaskEvent::kRetried: return "retried";
    case TaskEvent::kTakenOver: return "taken_over";
  }
  return "unknown";
}

}  // namespace

Metrics::Metrics() {
  // The definitions are fixed and valid; their statuses cannot be errors.
  registry_
      .DefineCounter(kRpcTotal, "Sentinel RPCs handled, by method and gRPC status code.")
      .IgnoreError();
  registry_
      .DefineHistogram(kRpcDuration, "Time to handle a Sentinel RPC, by method.",
                       {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5})
      .IgnoreError();
  registry_
      .DefineCounter(kLockAcquisitions,
                     "AcquireLock calls that answered: acquired, or conflict (held elsewhere).")
      .IgnoreError();
  registry_.DefineCounter(kTasksTotal, "Task events handled by this sidecar.").IgnoreError();
  for (const char* result : {"acquired", "conflict"}) {
    registry_.Increment(kLockAcquisitions, {{"result", result}}, 0).IgnoreError();
  }
  for (TaskEvent event : {TaskEvent::kCreated, TaskEvent::kHandedOut, TaskEvent::kCompleted,
                          TaskEvent::kFailed, TaskEvent::kDeadLettered, TaskEvent::kRetried,
                          TaskEvent::kTakenOver}) {
    registry_.Increment(kTasksTotal, {{"event", EventName(event)}}, 0).IgnoreError();
  }
  registry_
      .DefineHistogram(kTaskDuration,
                       "Time from handing a task out to its CompleteTask or FailTask, by outcome.",
                       {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600})
      .IgnoreError();
  registry_.DefineCounter(kHeartbeats, "Heartbeat RPCs, by result: ok or error.").IgnoreError();
  for (const char* result : {"ok", "error"}) {
    registry_.Increment(kHeartbeats, {{"result", result}}, 0).IgnoreError();
  }
  registry_
      .DefineCounter(kLocksLost,
                     "Locks this sidecar's worker lost (its lease lapsed and another worker took "
                     "them, or the lock expired), as reported by heartbeats.")
      .IgnoreError();
  registry_.Increment(kLocksLost, {}, 0).IgnoreError();
  registry_
      .DefineCounter(kMemoryOps,
                     "Shared-memory writes (set, delete) by result: ok or conflict (a lost "
                     "compare-and-set or a stale fencing token).")
      .IgnoreError();
  for (const char* op : {"set", "delete"}) {
    for (const char* result : {"ok", "conflict"}) {
      registry_.Increment(kMemoryOps, {{"op", op}, {"result", result}}, 0).IgnoreError();
    }
  }
  // The fixed series above, resolved once: recording one builds no labels.
  auto counter = [this](const char* name, const MetricLabels& labels) {
    return *registry_.ResolveCounter(name, labels);  // defined above, valid labels
  };
  lock_acquired_ = counter(kLockAcquisitions, {{"result", "acquired"}});
  lock_conflict_ = counter(kLockAcquisitions, {{"result", "conflict"}});
  for (size_t i = 0; i < task_events_.size(); ++i) {
    task_events_[i] =
        counter(kTasksTotal, {{"event", EventName(static_cast<TaskEvent>(i))}});
  }
  heartbeat_ok_ = counter(kHeartbeats, {{"result", "ok"}});
  heartbeat_error_ = counter(kHeartbeats, {{"result", "error"}});
  locks_lost_ = counter(kLocksLost, {});
  for (int op = 0; op < 2; ++op) {
    for (int conflict = 0; conflict < 2; ++conflict) {
      memory_writes_[op][conflict] = counter(
          kMemoryOps, {{"op", op == 0 ? "set" : "delete"},
                       {"result", conflict != 0 ? "conflict" : "ok"}});
    }
  }
}

void Metrics::AddSource(std::function<std::vector<BackendMetric>()> source) {
  sources_.push_back(std::move(source));
}

void Metrics::RecordTaskDuration(absl::string_view outcome, absl::Duration elapsed) {
  registry_
      .Observe(kTaskDuration, {{"outcome", std::string(outcome)}}, absl::ToDoubleSeconds(elapsed))
      .IgnoreError();
}

void Metrics::RecordHeartbeat(bool ok) {
  registry_.Increment(ok ? heartbeat_ok_ : heartbeat_error_);
}

void Metrics::RecordLocksLost(int count) {
  if (count >= 0) registry_.Increment(locks_lost_, count);
}

void Metrics::RecordMemoryWrite(absl::string_view op, bool conflict) {
  if (op != "set" && op != "delete") return;  // the only two (metrics.h)
  registry_.Increment(memory_writes_[op == "set" ? 0 : 1][conflict ? 1 : 0]);
}

void Metrics::RecordRpc(RpcSeries* series, int code, absl::string_view code_name,
                        absl::Duration elapsed) {
  MetricRegistry::Series* duration = series->duration_.load(std::memory_order_acquire);
  if (duration == nullptr) {  // the method's first call (a race resolves the same series)
    duration = *registry_.ResolveHistogram(kRpcDuration, {{"method", series->method_}});
    series->duration_.store(duration, std::memory_order_release);
  }
  std::atomic<MetricRegistry::Series*>* slot =
      code >= 0 && code < RpcSeries::kCodes ? &series->totals_[static_cast<size_t>(code)]
                                            : nullptr;
  MetricRegistry::Series* total =
      slot != nullptr ? slot->load(std::memory_order_acquire) : nullptr;
  if (total == nullptr) {  // the method's first call with this code
    total = *registry_.ResolveCounter(
        kRpcTotal, {{"method", series->method_}, {"code", std::string(code_name)}});
    if (slot != nullptr) slot->store(total, std::memory_order_release);
  }
  registry_.Increment(total);
  registry_.Observe(duration, absl::ToDoubleSeconds(elapsed));
}

void Metrics::RecordRpc(absl::string_view method, absl::string_view code,
                        absl::Duration elapsed) {
  registry_.Increment(kRpcTotal, {{"method", std::string(method)}, {"code", std::string(code)}})
      .IgnoreError();
  registry_
      .Observe(kRpcDuration, {{"method", std::string(method)}}, absl::ToDoubleSeconds(elapsed))
      .IgnoreError();
}

void Metrics::RecordLockAcquisition(bool acquired) {
  registry_.Increment(acquired ? lock_acquired_ : lock_conflict_);
}

void Metrics::RecordTaskEvent(TaskEvent event) {
  const size_t i = static_cast<size_t>(event);
  if (i < task_events_.size()) registry_.Increment(task_events_[i]);
}

std::string Metrics::Render(const absl::StatusOr<ClusterHealth>& health,
                            const std::vector<BackendMetric>& backend,
                            std::optional<uint32_t> named_locks) const {
  MetricRegistry scrape(registry_);
  scrape.DefineGauge(kUp, "1 when this sidecar could read the cluster state, else 0.")
      .IgnoreError();
  scrape.DefineGauge(kBuildInfo, "The sidecar's version; always 1.").IgnoreError();
  scrape.Set(kUp, {}, health.ok() ? 1 : 0).IgnoreError();
  scrape.Set(kBuildInfo,
             {{"version", std::string(kVersion)},
              {"commit", std::string(BuildCommit())},
              {"mode", std::string(BuildMode())}},
             1)
      .IgnoreError();
  if (health.ok()) {
    scrape.DefineGauge(kWorkers, "Registered workers: healthy (live lease, reporting healthy) "
                                 "or stale (lease lapsed).")
        .IgnoreError();
    scrape.DefineGauge(kCapacity, "Task slots of live workers: total, and used by live locks.")
        .IgnoreError();
    scrape.DefineGauge(kTasks, "Tasks by state.").IgnoreError();
    scrape.Set(kWorkers, {{"status", "healthy"}}, health->healthy_workers).IgnoreError();
    scrape.Set(kWorkers, {{"status", "stale"}}, health->stale_workers).IgnoreError();
    scrape.Set(kCapacity, {{"kind", "total"}}, health->total_capacity).IgnoreError();
    scrape.Set(kCapacity, {{"kind", "used"}}, health->used_capacity).IgnoreError();
    scrape.Set(kTasks, {{"state", "queued"}}, health->tasks.queued).IgnoreError();
    scrape.Set(kTasks, {{"state", "in_progress"}}, health->tasks.in_progress).IgnoreError();
    scrape.Set(kTasks, {{"state", "done"}}, health->tasks.done).IgnoreError();
    scrape.Set(kTasks, {{"state", "dead_letter"}}, health->tasks.dead_letter).IgnoreError();
    scrape.DefineGauge(kLocks, "Live locks in the whole cluster, by kind: task (held by live "
                               "workers for their tasks) and named (taken with AcquireLock).")
        .IgnoreError();
    scrape.Set(kLocks, {{"kind", "task"}}, health->used_capacity).IgnoreError();
    if (named_locks.has_value()) {
      scrape.Set(kLocks, {{"kind", "named"}}, *named_locks).IgnoreError();
    }
    scrape.DefineGauge(kWorkerTasks, "Live task locks held by each live worker (tasks per "
                                     "worker), whole cluster.")
        .IgnoreError();
    for (const WorkerInfo& w : health->workers) {
      if (w.status != WorkerStatus::kActive) continue;
      scrape.Set(kWorkerTasks, {{"worker", w.record.id}}, w.active_tasks).IgnoreError();
    }
  }
  std::vector<BackendMetric> all = backend;
  for (const auto& source : sources_) {
    std::vector<BackendMetric> more = source();
    all.insert(all.end(), more.begin(), more.end());
  }
  for (const BackendMetric& m : all) {
    (m.counter ? scrape.DefineCounter(m.name, m.help) : scrape.DefineGauge(m.name, m.help))
        .IgnoreError();
    (m.counter ? scrape.Increment(m.name, m.labels, m.value) : scrape.Set(m.name, m.labels, m.value))
        .IgnoreError();
  }
  return scrape.Render();
}

}  // namespace tasksentinel
