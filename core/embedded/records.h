// The records the embedded protocols keep in a Store, their keys, and their JSON encoding.
//
// Key layout (all ASCII):
//   meta/revision           a counter: fencing tokens, memory versions and waiter order
//   meta/task_seq           the last task number handed out by CreateTask
//   lock/<name>             LockRecord (kept after release: it remembers the last token)
//   wait/<name>/<seq>       WaiterRecord: one blocked AcquireLock, in claim order
//   worker/<id>             WorkerRecord
//   mem/<namespace>/<key>   MemoryRecord
//   task/<id>               TaskRecord
//   open/<id>               present while task <id> is queued or in progress (so that NextTask
//                           reads open tasks only, however long the history)
//   meta/tasks_done, meta/tasks_dead_letter   how many tasks ended each way
//   request/<request_id>    the id of the task a CreateTask with that idempotency key created
// Times are microseconds since the Unix epoch.
//
// Thread safety: plain values.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_RECORDS_H_
#define TASK_SENTINEL_CORE_EMBEDDED_RECORDS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "core/embedded/store.h"

namespace tasksentinel {

// One lock name's state. `held` is false after release; the record stays to remember
// `token`, the last token issued for this name.
struct LockRecord {
  std::string name;
  bool held = false;
  uint64_t token = 0;
  std::string holder;       // worker id
  uint64_t holder_epoch = 0;  // the holder's lease epoch at acquisition
  absl::Time acquired_at = absl::UnixEpoch();
  absl::Time renewed_at = absl::UnixEpoch();  // acquisition or latest RenewLock
  absl::Duration ttl = absl::ZeroDuration();
  std::map<std::string, std::string> metadata;
};

// A blocked AcquireLock waiting its turn.
struct WaiterRecord {
  std::string worker;
  uint64_t epoch = 0;
  absl::Time deadline = absl::UnixEpoch();
};

// Keys.
std::string LockKey(absl::string_view name);
std::string WaiterPrefix(absl::string_view name);
std::string WaiterKey(absl::string_view name, uint64_t seq);
std::string WorkerKey(absl::string_view id);
std::string MemoryPrefix(absl::string_view ns, absl::string_view key_prefix);
std::string MemoryKey(absl::string_view ns, absl::string_view key);
std::string TaskKey(absl::string_view id);
inline constexpr absl::string_view kLockPrefix = "lock/";
inline constexpr absl::string_view kWorkerPrefix = "worker/";
inline constexpr absl::string_view kTaskPrefix = "task/";
inline constexpr absl::string_view kOpenTaskPrefix = "open/";
inline constexpr absl::string_view kTasksDoneKey = "meta/tasks_done";
inline constexpr absl::string_view kTasksDeadLetterKey = "meta/tasks_dead_letter";

// JSON encoding. Decoding fails with DATA_LOSS naming the record when the stored bytes do not
// parse: a damaged record is reported, never silently replaced. The lock, worker, memory and task
// decoders remember recent results by their exact bytes (decode_cache.h), so reading an unchanged
// record again costs a comparison and a copy instead of a parse.
std::string Encode(const LockRecord& r);
std::string Encode(const WaiterRecord& r);
std::string Encode(const WorkerRecord& r);
std::string Encode(const MemoryRecord& r);
std::string Encode(const TaskRecord& r);
absl::StatusOr<LockRecord> DecodeLock(absl::string_view data);
absl::StatusOr<WaiterRecord> DecodeWaiter(absl::string_view data);
absl::StatusOr<WorkerRecord> DecodeWorker(absl::string_view data);
absl::StatusOr<MemoryRecord> DecodeMemory(absl::string_view data);
absl::StatusOr<TaskRecord> DecodeTask(absl::string_view data);

// Increments the store-wide revision counter and returns the new value (>= 1).
absl::StatusOr<uint64_t> NextRevision(Transaction& txn);

// Increments and returns a named counter at `key` (>= 1).
absl::StatusOr<uint64_t> NextCounter(Transaction& txn, absl::string_view key);

// Typed reads: nullopt when absent.
absl::StatusOr<std::optional<LockRecord>> ReadLock(Transaction& txn, absl::string_view name);
absl::StatusOr<std::optional<WorkerRecord>> ReadWorker(Transaction& txn, absl::string_view id);
absl::StatusOr<std::optional<TaskRecord>> ReadTask(Transaction& txn, absl::string_view id);

// Writes `task`, keeping the open-task index and the end-state counters in step with a change
// from state `before` (nullopt for a new task).
absl::Status WriteTask(Transaction& txn, const TaskRecord& task,
                       std::optional<TaskState> before);

// Every open (queued or in-progress) task, by id.
absl::StatusOr<std::vector<TaskRecord>> ReadOpenTasks(Transaction& txn);

// A counter's value (0 when absent).
absl::StatusOr<uint64_t> ReadCounter(Transaction& txn, absl::string_view key);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_RECORDS_H_
