// Metrics: a small registry of counters, gauges and histograms with label sets, rendered in the
// Prometheus text exposition format (version 0.0.4), and the sidecar's own metrics on top of it
// (RPCs, lock acquisitions, task events, and cluster gauges computed at scrape time).
//
// Rendering is deterministic: families sorted by name, series by their labels, labels by name
// (histograms' "le" last). Label values and help text are escaped as the format requires.
// Metrics never carry secrets (GITHUB_TOKEN) nor shared-memory keys or values: every label value
// the sidecar records comes from a fixed set (method names, status code names, event names),
// except the worker ids of tasksentinel_worker_tasks (one series per live worker).
//
// Thread safety: MetricRegistry and Metrics are safe for concurrent use.
#ifndef TASK_SENTINEL_SERVICE_METRICS_H_
#define TASK_SENTINEL_SERVICE_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "core/coordinator.h"
#include "service/build_info.h"

namespace tasksentinel {

// A series' labels: name to value. The map keeps them sorted by name, the order they render in.
using MetricLabels = std::map<std::string, std::string>;

// The kind of a metric family, as named on its "# TYPE" line.
enum class MetricType { kCounter, kGauge, kHistogram };

// A set of metric families, each a name, help text, type and any number of labelled series.
class MetricRegistry {
 public:
  MetricRegistry() = default;
  // A snapshot of `other` (taken under its lock), e.g. to add scrape-time gauges before
  // rendering without touching the shared registry.
  MetricRegistry(const MetricRegistry& other);
  MetricRegistry& operator=(const MetricRegistry&) = delete;

  // Defines a family. Names match [a-zA-Z_:][a-zA-Z0-9_:]*. Defining a name again with the same
  // type (and bounds) is a no-op; INVALID_ARGUMENT for a bad name, ALREADY_EXISTS when the name
  // is taken by a different definition.
  absl::Status DefineCounter(const std::string& name, const std::string& help);
  // As DefineCounter, for a gauge.
  absl::Status DefineGauge(const std::string& name, const std::string& help);
  // As DefineCounter, for a histogram with these upper bucket bounds (finite, strictly
  // increasing; the "+Inf" bucket is implicit).
  absl::Status DefineHistogram(const std::string& name, const std::string& help,
                               const std::vector<double>& bounds);

  // Adds `delta` (>= 0) to a counter's series, creating it at 0 first. NOT_FOUND for an
  // undefined family, FAILED_PRECONDITION for one of another type, INVALID_ARGUMENT for a
  // negative or NaN delta or a bad label name (label names match [a-zA-Z_][a-zA-Z0-9_]* and do
  // not start with "__").
  absl::Status Increment(const std::string& name, const MetricLabels& labels, double delta = 1);
  // Sets a gauge's series. Errors as for Increment (any value is allowed).
  absl::Status Set(const std::string& name, const MetricLabels& labels, double value);
  // Records one observation in a histogram's series. Errors as for Increment; a histogram's
  // labels may not include "le".
  absl::Status Observe(const std::string& name, const MetricLabels& labels, double value);

  // One series, resolved once and then updated with no label set built and no look-up (hot
  // paths: every RPC). Opaque; valid as long as the registry that resolved it.
  struct Series;
  // The counter series `labels` of `name`, created at 0 when new. Errors as for Increment.
  absl::StatusOr<Series*> ResolveCounter(const std::string& name, const MetricLabels& labels);
  // The histogram series `labels` of `name`, created empty when new. Errors as for Observe.
  absl::StatusOr<Series*> ResolveHistogram(const std::string& name, const MetricLabels& labels);
  // Adds `delta` to a counter series. REQUIRES: `counter` came from ResolveCounter on this
  // registry; delta >= 0.
  void Increment(Series* counter, double delta = 1);
  // Records one observation. REQUIRES: `histogram` came from ResolveHistogram on this
  // registry; `value` is not NaN.
  void Observe(Series* histogram, double value);

  // The whole registry in the Prometheus text format: for each family "# HELP" and "# TYPE"
  // lines, then its samples; histograms as cumulative "_bucket" samples, "_sum" and "_count".
  std::string Render() const;

 private:
  struct Family {
    MetricType type = MetricType::kCounter;
    std::string help;
    std::vector<double> bounds;  // histograms
    std::map<MetricLabels, Series> series;
  };

  absl::Status Define(const std::string& name, MetricType type, const std::string& help,
                      const std::vector<double>& bounds);
  // The series `labels` of family `name` of type `type`, created when new.
  absl::StatusOr<Series*> Find(const std::string& name, MetricType type,
                               const MetricLabels& labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records one observation in a histogram series.
  void ObserveLocked(Series* series, double value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

struct MetricRegistry::Series {
  double value = 0;                 // counters and gauges
  std::vector<uint64_t> buckets;    // histograms: per bucket (not cumulative), then +Inf
  double sum = 0;                   // histograms
  uint64_t count = 0;               // histograms
  // Histograms: the family's bounds (in the same registry).
  const std::vector<double>* bounds = nullptr;
};

// What happened to a task, for tasksentinel_tasks_total{event=...}.
// kRetried and kTakenOver are hand-outs too (also counted as kHandedOut): a task handed out again
// after a failed attempt, or after its previous worker's lease lapsed.
enum class TaskEvent {
  kCreated,
  kHandedOut,
  kCompleted,
  kFailed,
  kDeadLettered,
  kRetried,
  kTakenOver
};
// How many TaskEvent values there are.
inline constexpr size_t kTaskEventCount = 7;

// One Sentinel RPC method's series (its duration histogram and a call counter per status
// code), each resolved at its first use and kept, so that recording a call builds no label set
// (Metrics::RecordRpc). Thread safety: safe for concurrent use.
class RpcSeries {
 public:
  // The status codes tracked per method: gRPC's canonical codes 0..16.
  static constexpr int kCodes = 17;

  explicit RpcSeries(std::string method) : method_(std::move(method)) {}
  RpcSeries(const RpcSeries&) = delete;
  RpcSeries& operator=(const RpcSeries&) = delete;

  // The method's name, e.g. "AcquireLock".
  const std::string& method() const { return method_; }

 private:
  friend class Metrics;
  const std::string method_;
  std::atomic<MetricRegistry::Series*> duration_{nullptr};
  std::array<std::atomic<MetricRegistry::Series*>, kCodes> totals_{};
};

// The sidecar's metrics. Every counter series with a fixed label set starts at 0.
class Metrics {
 public:
  // The version reported by tasksentinel_build_info.
  static constexpr absl::string_view kVersion = kSentinelVersion;

  Metrics();

  // One Sentinel RPC: its method (e.g. "AcquireLock"), the name of its gRPC status code (e.g.
  // "OK", "INVALID_ARGUMENT") and how long it took.
  void RecordRpc(absl::string_view method, absl::string_view code, absl::Duration elapsed);
  // The same for the method of `series`, whose status code is `code` (0..16; another number
  // is recorded but its series looked up each time) named `code_name`. `series` must be used
  // with one Metrics only.
  void RecordRpc(RpcSeries* series, int code, absl::string_view code_name,
                 absl::Duration elapsed);
  // One AcquireLock that answered: whether it got the lock (else another worker held it).
  void RecordLockAcquisition(bool acquired);
  // One task event.
  void RecordTaskEvent(TaskEvent event);
  // A task handed out by this sidecar ended ("completed" or "failed") `elapsed` after it was.
  void RecordTaskDuration(absl::string_view outcome, absl::Duration elapsed);
  // One Heartbeat RPC: answered, or failed.
  void RecordHeartbeat(bool ok);
  // Locks a heartbeat reported lost.
  void RecordLocksLost(int count);
  // One shared-memory write ("set" or "delete") that answered, or lost to a conflict.
  void RecordMemoryWrite(absl::string_view op, bool conflict);

  // Every metric in the Prometheus text format, with the gauges computed from `health`. When
  // `health` is an error (the store could not be read), tasksentinel_up is 0 and the cluster
  // gauges are left out.
  // `backend` adds the backend's own metrics (Coordinator::BackendMetrics). `named_locks`, the
  // live named locks of the cluster (Coordinator::CountNamedLocks), adds
  // tasksentinel_locks{kind="named"} next to the task locks of `health`; unset leaves it out.
  std::string Render(const absl::StatusOr<ClusterHealth>& health,
                     const std::vector<BackendMetric>& backend = {},
                     std::optional<uint32_t> named_locks = std::nullopt) const;

  // Adds a source of metrics that Render includes after the backend's, e.g. the GitHub
  // client's (CurlGitHubApi::Metrics). Call before rendering starts; `source` must stay valid.
  void AddSource(std::function<std::vector<BackendMetric>()> source);

 private:
  MetricRegistry registry_;
  std::vector<std::function<std::vector<BackendMetric>()>> sources_;
  // The fixed-label series, resolved by the constructor.
  MetricRegistry::Series* lock_acquired_ = nullptr;
  MetricRegistry::Series* lock_conflict_ = nullptr;
  std::array<MetricRegistry::Series*, kTaskEventCount> task_events_{};
  MetricRegistry::Series* heartbeat_ok_ = nullptr;
  MetricRegistry::Series* heartbeat_error_ = nullptr;
  MetricRegistry::Series* locks_lost_ = nullptr;
  // [set, delete][ok, conflict]
  MetricRegistry::Series* memory_writes_[2][2] = {};
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_METRICS_H_
