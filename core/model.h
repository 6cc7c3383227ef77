// The domain model: the values that cross the Coordinator contract (coordinator.h), shared by
// both backends (core/embedded/, core/github/) and the service. Nothing here knows where state
// lives; each backend maps these values onto its own records.
//
// Times are absl::Time (GitHub's and the store's microseconds are converted at the edges).
//
// Thread safety: plain values.
#ifndef TASK_SENTINEL_CORE_MODEL_H_
#define TASK_SENTINEL_CORE_MODEL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tasksentinel {

// ---- Locks ----

// A lock as callers see it.
struct LockInfo {
  std::string name;
  uint64_t token = 0;
  std::string holder;
  absl::Time acquired_at = absl::UnixEpoch();
  absl::Time expires_at = absl::UnixEpoch();
  absl::Duration ttl = absl::ZeroDuration();
  std::map<std::string, std::string> metadata;
};

struct AcquireRequest {
  std::string name;
  absl::Duration ttl = absl::ZeroDuration();           // zero: LOCK_TTL_SECONDS
  absl::Duration wait_timeout = absl::ZeroDuration();  // zero: do not wait
  std::map<std::string, std::string> metadata;
};

// The outcome of one acquisition attempt.
struct AcquireAttempt {
  bool acquired = false;
  // The acquired lock, or the current holder's (unset when the lock is free but not takeable:
  // earlier waiters or the lock-delay).
  std::optional<LockInfo> lock;
  // When the lock was taken over from a holder whose lease or ttl had lapsed (a stale lock
  // recovered): that holder. Empty when the lock was free, released, or not acquired.
  std::string recovered_from;
};

enum class ReleaseOutcome { kReleased, kNotHeld, kHeldByOther };

// ---- Workers and leases ----

enum class WorkerState { kActive, kGone };
enum class Health { kHealthy, kDegraded, kUnhealthy };

// One worker's registration and lease.
struct WorkerRecord {
  std::string id;
  std::string hostname;
  WorkerState state = WorkerState::kActive;
  Health health = Health::kHealthy;
  uint64_t epoch = 0;                                // rises with every new lease
  absl::Time registered_at = absl::UnixEpoch();      // first registration
  absl::Time epoch_started_at = absl::UnixEpoch();   // start of the current lease epoch
  absl::Time last_heartbeat = absl::UnixEpoch();
  absl::Time lease_expires_at = absl::UnixEpoch();
  uint32_t max_tasks = 0;
  std::vector<std::string> supported_task_types;     // empty: every type
  std::vector<std::string> reported_active_tasks;
  std::map<std::string, uint32_t> type_history;      // completed tasks per type (affinity)
  uint32_t cpu_cores = 0;
  uint64_t memory_mb = 0;
};

// What a worker reports with a heartbeat.
struct HeartbeatReport {
  std::vector<std::string> active_tasks;
  uint32_t max_tasks = 0;  // 0: keep the configured capacity
  Health health = Health::kHealthy;
};

struct HeartbeatResult {
  absl::Time lease_expires_at;
  uint64_t lease_epoch = 0;
  std::vector<LockInfo> lost_locks;
};

// ---- Shared memory ----

// One memory entry's value and bookkeeping.
struct MemoryRecord {
  std::string value;  // raw bytes
  uint64_t version = 0;
  absl::Time updated_at = absl::UnixEpoch();
  std::string updated_by;
  absl::Time expires_at = absl::InfiniteFuture();
};

struct MemoryEntry {
  std::string ns;
  std::string key;
  MemoryRecord record;
};

// A lock instance a write is fenced by.
struct FenceRef {
  std::string name;
  uint64_t token = 0;
};

struct SetRequest {
  std::string ns;
  std::string key;
  std::string value;
  std::optional<uint64_t> expected_version;  // 0: must not exist
  absl::Duration ttl = absl::ZeroDuration();  // zero: no expiry
  std::optional<FenceRef> fencing;
};

struct MemoryEvent {
  enum class Type { kPut, kDelete };
  Type type;
  MemoryEntry entry;  // for kDelete: the last entry seen
};

// ---- Tasks ----

enum class TaskState { kQueued, kInProgress, kDone, kDeadLetter };

// One task.
struct TaskRecord {
  std::string id;
  uint64_t seq = 0;
  std::string title;
  std::string body;
  std::string type;
  int32_t priority = 0;
  TaskState state = TaskState::kQueued;
  uint32_t attempts = 0;
  uint32_t max_attempts = 0;
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();
  absl::Time not_before = absl::UnixEpoch();
  std::string worker_id;
  uint64_t lock_token = 0;  // the lock instance of the current attempt
  std::string last_error;
  std::string result;
};

struct NewTask {
  std::string title;
  std::string body;
  std::string type;
  int32_t priority = 0;
  uint32_t max_attempts = 0;  // 0: TASK_MAX_ATTEMPTS
  // Idempotency key (empty: none): a CreateTask with a request_id an earlier one used returns
  // that earlier task and creates nothing.
  std::string request_id;
};

// A task handed to the worker with the lock that guards its attempt.
struct HandedOutTask {
  TaskRecord task;
  LockInfo lock;
};

// Task counts by state.
struct TaskCounts {
  uint32_t queued = 0;
  uint32_t in_progress = 0;
  uint32_t done = 0;
  uint32_t dead_letter = 0;
};

// ---- The cluster ----

enum class WorkerStatus { kActive, kStale, kGone };

struct WorkerInfo {
  WorkerRecord record;
  WorkerStatus status = WorkerStatus::kActive;
  uint32_t active_tasks = 0;  // live task locks
};

enum class ClusterStatus { kHealthy, kDegraded, kUnhealthy };

struct ClusterHealth {
  ClusterStatus status = ClusterStatus::kUnhealthy;
  uint32_t total_workers = 0;    // active + stale
  uint32_t healthy_workers = 0;  // active and reporting healthy
  uint32_t stale_workers = 0;
  uint32_t total_capacity = 0;
  uint32_t used_capacity = 0;
  TaskCounts tasks;
  std::vector<WorkerInfo> workers;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_MODEL_H_
