// The Coordinator on a Store: the embedded store (SqliteStore in SENTINEL_DATA_DIR) in
// production, MemoryStore in tests. Each call is one of the managers' transactions; see
// docs/embedded-store.md.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_EMBEDDED_COORDINATOR_H_
#define TASK_SENTINEL_CORE_EMBEDDED_EMBEDDED_COORDINATOR_H_

#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/cluster_view.h"
#include "core/embedded/context.h"
#include "core/embedded/lease_manager.h"
#include "core/embedded/lock_manager.h"
#include "core/embedded/memory_manager.h"
#include "core/coordinator.h"
#include "core/event_sink.h"
#include "core/stale_worker_watch.h"
#include "core/held_locks.h"
#include "core/notifier.h"
#include "core/embedded/store.h"
#include "core/embedded/task_queue.h"

namespace tasksentinel {

class EmbeddedCoordinator final : public Coordinator {
 public:
  // `store` and `clock` must outlive the coordinator, and so must `events` (where stale workers,
  // recovered locks, tasks taken over, retried or dead-lettered and the load balancer's
  // decisions are reported; null: nowhere).
  EmbeddedCoordinator(const Config& config, Store* store, Clock* clock,
                      EventSink* events = nullptr);

  absl::StatusOr<WorkerRecord> Register() override { return leases_.Register(); }
  absl::StatusOr<int> Deregister() override { return leases_.Deregister(); }
  void Interrupt() override { notifier_.Shutdown(); }

  absl::StatusOr<AcquireAttempt> AcquireLock(const AcquireRequest& request,
                                             const std::function<bool()>& cancelled) override {
    return locks_.Acquire(request, cancelled);
  }
  absl::StatusOr<LockInfo> RenewLock(const std::string& name, uint64_t token,
                                     absl::Duration ttl) override {
    return locks_.Renew(name, token, ttl);
  }
  absl::StatusOr<ReleaseOutcome> ReleaseLock(const std::string& name, uint64_t token) override {
    return locks_.Release(name, token);
  }
  absl::StatusOr<std::vector<LockInfo>> ListLocks() override { return locks_.List(); }
  absl::StatusOr<uint32_t> CountNamedLocks() override { return locks_.CountNamed(); }

  absl::StatusOr<HeartbeatResult> Heartbeat(const HeartbeatReport& report) override {
    return leases_.Heartbeat(report);
  }

  absl::StatusOr<MemoryEntry> GetMemory(const std::string& ns, const std::string& key) override {
    return memory_.Get(ns, key);
  }
  absl::StatusOr<MemoryEntry> SetMemory(const SetRequest& request) override {
    return memory_.Set(request);
  }
  absl::StatusOr<bool> DeleteMemory(const std::string& ns, const std::string& key,
                                    std::optional<uint64_t> expected_version,
                                    const std::optional<FenceRef>& fencing) override {
    return memory_.Delete(ns, key, expected_version, fencing);
  }
  absl::StatusOr<std::vector<MemoryEntry>> ListMemory(const std::string& ns,
                                                      const std::string& prefix) override {
    return memory_.List(ns, prefix);
  }
  absl::Status WatchMemory(const std::string& ns, const std::string& prefix, bool include_initial,
                           const std::function<bool(const MemoryEvent&)>& sink,
                           const std::function<bool()>& cancelled) override {
    return memory_.Watch(ns, prefix, include_initial, sink, cancelled);
  }

  absl::StatusOr<TaskRecord> CreateTask(const NewTask& task) override {
    return tasks_.Create(task);
  }
  absl::StatusOr<std::optional<HandedOutTask>> NextTask(
      const std::vector<std::string>& types, absl::Duration wait_timeout,
      const std::function<bool()>& cancelled) override {
    return tasks_.Next(types, wait_timeout, cancelled);
  }
  absl::StatusOr<TaskRecord> CompleteTask(const std::string& id, uint64_t token,
                                          const std::string& result) override {
    return tasks_.Complete(id, token, result);
  }
  absl::StatusOr<TaskRecord> FailTask(const std::string& id, uint64_t token,
                                      const std::string& error, bool retryable) override {
    return tasks_.Fail(id, token, error, retryable);
  }
  absl::StatusOr<TaskRecord> GetTask(const std::string& id) override { return tasks_.Get(id); }

  absl::StatusOr<std::vector<WorkerInfo>> Workers(bool include_gone) override {
    return cluster_.Workers(include_gone);
  }
  absl::StatusOr<ClusterHealth> Health() override { return cluster_.Health(); }

 private:
  Config config_;
  Notifier notifier_;
  HeldLocks held_;
  StaleWorkerWatch stale_;
  Context ctx_;
  LockManager locks_;
  LeaseManager leases_;
  MemoryManager memory_;
  TaskQueue tasks_;
  ClusterView cluster_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_EMBEDDED_COORDINATOR_H_
