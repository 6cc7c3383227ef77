// Everything a sidecar does for its worker, independent of where coordination state lives.
// The gRPC service, the HTTP endpoints and the process lifecycle talk to a Coordinator; the
// embedded store (EmbeddedCoordinator) and a GitHub repository (core/github/) each implement it
// with the same semantics, which tests/service checks with one behavioural suite.
//
// Every method acts for the configured worker (WORKER_ID). Errors follow the API
// (proto/tasksentinel/v1/sentinel.proto): INVALID_ARGUMENT for bad input (nothing changes),
// FAILED_PRECONDITION for a fencing token that is not live, ABORTED for a version mismatch,
// NOT_FOUND, and UNAVAILABLE / RESOURCE_EXHAUSTED when the backing store cannot be reached or
// is rate limited.
//
// Thread safety: implementations are safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_COORDINATOR_H_
#define TASK_SENTINEL_CORE_COORDINATOR_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/model.h"

namespace tasksentinel {

// A number a backend reports about itself, for the metrics endpoint.
struct BackendMetric {
  std::string name;  // a Prometheus metric name, e.g. tasksentinel_github_claims_posted_total
  std::string help;
  bool counter = true;  // a counter (only rises) or a gauge
  double value = 0;
  std::map<std::string, std::string> labels;  // e.g. {"reason", "replay"}; empty for none
};

class Coordinator {
 public:
  virtual ~Coordinator() = default;

  // The backend's own counters and gauges (none by default).
  virtual std::vector<BackendMetric> BackendMetrics() { return {}; }

  // Conditions an operator should know about, one line each (GET /health "notices"), e.g. a
  // lease stretched to fit the write budget. None by default.
  virtual std::vector<std::string> Notices() { return {}; }

  // Lifecycle: registration at start-up; departure (release every lock, mark the worker gone)
  // at shutdown; Interrupt() wakes every blocked call for good (shutdown).
  virtual absl::StatusOr<WorkerRecord> Register() = 0;
  virtual absl::StatusOr<int> Deregister() = 0;
  virtual void Interrupt() = 0;

  // Locks (LockManager's contract).
  virtual absl::StatusOr<AcquireAttempt> AcquireLock(const AcquireRequest& request,
                                                     const std::function<bool()>& cancelled) = 0;
  virtual absl::StatusOr<LockInfo> RenewLock(const std::string& name, uint64_t token,
                                             absl::Duration ttl) = 0;
  virtual absl::StatusOr<ReleaseOutcome> ReleaseLock(const std::string& name, uint64_t token) = 0;
  virtual absl::StatusOr<std::vector<LockInfo>> ListLocks() = 0;
  // How many named locks (taken with AcquireLock, not a task's lock) are live in the whole
  // cluster, for the metrics endpoint: a count without reading every task's lock. UNIMPLEMENTED
  // by default (the metric is then left out).
  virtual absl::StatusOr<uint32_t> CountNamedLocks() {
    return absl::UnimplementedError("no count of named locks");
  }

  // The lease (LeaseManager's contract).
  virtual absl::StatusOr<HeartbeatResult> Heartbeat(const HeartbeatReport& report) = 0;

  // Memory (MemoryManager's contract).
  virtual absl::StatusOr<MemoryEntry> GetMemory(const std::string& ns, const std::string& key) = 0;
  virtual absl::StatusOr<MemoryEntry> SetMemory(const SetRequest& request) = 0;
  virtual absl::StatusOr<bool> DeleteMemory(const std::string& ns, const std::string& key,
                                            std::optional<uint64_t> expected_version,
                                            const std::optional<FenceRef>& fencing) = 0;
  virtual absl::StatusOr<std::vector<MemoryEntry>> ListMemory(const std::string& ns,
                                                              const std::string& prefix) = 0;
  virtual absl::Status WatchMemory(const std::string& ns, const std::string& prefix,
                                   bool include_initial,
                                   const std::function<bool(const MemoryEvent&)>& sink,
                                   const std::function<bool()>& cancelled) = 0;

  // Tasks (TaskQueue's contract).
  virtual absl::StatusOr<TaskRecord> CreateTask(const NewTask& task) = 0;
  virtual absl::StatusOr<std::optional<HandedOutTask>> NextTask(
      const std::vector<std::string>& types, absl::Duration wait_timeout,
      const std::function<bool()>& cancelled) = 0;
  virtual absl::StatusOr<TaskRecord> CompleteTask(const std::string& id, uint64_t token,
                                                  const std::string& result) = 0;
  virtual absl::StatusOr<TaskRecord> FailTask(const std::string& id, uint64_t token,
                                              const std::string& error, bool retryable) = 0;
  virtual absl::StatusOr<TaskRecord> GetTask(const std::string& id) = 0;

  // The cluster (ClusterView's contract).
  virtual absl::StatusOr<std::vector<WorkerInfo>> Workers(bool include_gone) = 0;
  virtual absl::StatusOr<ClusterHealth> Health() = 0;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_COORDINATOR_H_
