// JSON encoding of the embedded store's records (see records.h).
#include "core/embedded/records.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/embedded/decode_cache.h"
#include "core/embedded/record_json.h"

namespace tasksentinel {
namespace {

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

// Decodes with `fill`, which reads the fields through the RecordReader; DATA_LOSS naming the
// record when the text or any field is damaged.
template <typename T, typename Fill>
absl::StatusOr<T> DecodeWith(absl::string_view what, absl::string_view data, Fill fill) {
  RecordReader in(what, data);
  T out;
  if (!in.status().ok()) return in.status();
  fill(in, out);
  if (!in.status().ok()) return in.status();
  return out;
}

}  // namespace

std::string LockKey(absl::string_view name) { return absl::StrCat("lock/", name); }
std::string WaiterPrefix(absl::string_view name) { return absl::StrCat("wait/", name, "/"); }
std::string WaiterKey(absl::string_view name, uint64_t seq) {
  // Zero-padded so that key order is claim order.
  return absl::StrCat(WaiterPrefix(name), absl::StrFormat("%020d", seq));
}
std::string WorkerKey(absl::string_view id) { return absl::StrCat("worker/", id); }
std::string MemoryPrefix(absl::string_view ns, absl::string_view key_prefix) {
  return absl::StrCat("mem/", ns, "/", key_prefix);
}
std::string MemoryKey(absl::string_view ns, absl::string_view key) {
  return MemoryPrefix(ns, key);
}
std::string TaskKey(absl::string_view id) { return absl::StrCat("task/", id); }

std::string Encode(const LockRecord& r) {
  return RecordWriter()
      .Field("name", r.name)
      .Field("held", r.held)
      .Field("token", r.token)
      .Field("holder", r.holder)
      .Field("holder_epoch", r.holder_epoch)
      .Field("acquired_at", Micros(r.acquired_at))
      .Field("renewed_at", Micros(r.renewed_at))
      .Field("ttl_us", absl::ToInt64Microseconds(r.ttl))
      .Field("metadata", r.metadata)
      .Finish();
}

static absl::StatusOr<LockRecord> ParseLock(absl::string_view data) {
  return DecodeWith<LockRecord>("lock", data, [](RecordReader& j, LockRecord& r) {
    r.name = j.String("name");
    r.held = j.Bool("held");
    r.token = j.Uint64("token");
    r.holder = j.String("holder");
    r.holder_epoch = j.Uint64("holder_epoch");
    r.acquired_at = FromMicros(j.Int64("acquired_at"));
    r.renewed_at = FromMicros(j.Int64("renewed_at"));
    r.ttl = absl::Microseconds(j.Int64("ttl_us"));
    r.metadata = j.StringMap("metadata");
  });
}

std::string Encode(const WaiterRecord& r) {
  return RecordWriter()
      .Field("worker", r.worker)
      .Field("epoch", r.epoch)
      .Field("deadline", Micros(r.deadline))
      .Finish();
}

absl::StatusOr<WaiterRecord> DecodeWaiter(absl::string_view data) {
  return DecodeWith<WaiterRecord>("waiter", data, [](RecordReader& j, WaiterRecord& r) {
    r.worker = j.String("worker");
    r.epoch = j.Uint64("epoch");
    r.deadline = FromMicros(j.Int64("deadline"));
  });
}

std::string Encode(const WorkerRecord& r) {
  return RecordWriter()
      .Field("type", "WORKER_REGISTRATION")
      .Field("worker_id", r.id)
      .Field("hostname", r.hostname)
      .Field("state", r.state == WorkerState::kActive ? "active" : "gone")
      .Field("health", static_cast<int32_t>(r.health))
      .Field("epoch", r.epoch)
      .Field("registered_at", Micros(r.registered_at))
      .Field("epoch_started_at", Micros(r.epoch_started_at))
      .Field("last_heartbeat", Micros(r.last_heartbeat))
      .Field("lease_expires_at", Micros(r.lease_expires_at))
      .Field("max_tasks", r.max_tasks)
      .Field("supported_task_types", r.supported_task_types)
      .Field("active_tasks", r.reported_active_tasks)
      .Field("type_history", r.type_history)
      .Field("cpu_cores", r.cpu_cores)
      .Field("memory_mb", r.memory_mb)
      .Finish();
}

static absl::StatusOr<WorkerRecord> ParseWorker(absl::string_view data) {
  return DecodeWith<WorkerRecord>("worker", data, [](RecordReader& j, WorkerRecord& r) {
    r.id = j.String("worker_id");
    r.hostname = j.String("hostname");
    r.state = j.String("state") == "active" ? WorkerState::kActive : WorkerState::kGone;
    r.health = static_cast<Health>(j.Int32("health"));
    r.epoch = j.Uint64("epoch");
    r.registered_at = FromMicros(j.Int64("registered_at"));
    r.epoch_started_at = FromMicros(j.Int64("epoch_started_at"));
    r.last_heartbeat = FromMicros(j.Int64("last_heartbeat"));
    r.lease_expires_at = FromMicros(j.Int64("lease_expires_at"));
    r.max_tasks = j.Uint32("max_tasks");
    r.supported_task_types = j.StringList("supported_task_types");
    r.reported_active_tasks = j.StringList("active_tasks");
    r.type_history = j.Uint32Map("type_history");
    r.cpu_cores = j.Uint32("cpu_cores");
    r.memory_mb = j.Uint64("memory_mb");
  });
}

std::string Encode(const MemoryRecord& r) {
  return RecordWriter()
      .Field("value_b64", absl::Base64Escape(r.value))
      .Field("version", r.version)
      .Field("updated_at", Micros(r.updated_at))
      .Field("updated_by", r.updated_by)
      .Field("expires_at", r.expires_at == absl::InfiniteFuture()
                               ? std::optional<int64_t>()
                               : std::optional<int64_t>(Micros(r.expires_at)))
      .Finish();
}

static absl::StatusOr<MemoryRecord> ParseMemory(absl::string_view data) {
  return DecodeWith<MemoryRecord>("memory", data, [](RecordReader& j, MemoryRecord& r) {
    if (!absl::Base64Unescape(j.String("value_b64"), &r.value)) j.Fail("value is not base64");
    r.version = j.Uint64("version");
    r.updated_at = FromMicros(j.Int64("updated_at"));
    r.updated_by = j.String("updated_by");
    const std::optional<int64_t> exp = j.NullableInt64("expires_at");
    r.expires_at = exp.has_value() ? FromMicros(*exp) : absl::InfiniteFuture();
  });
}

std::string Encode(const TaskRecord& r) {
  return RecordWriter()
      .Field("id", r.id)
      .Field("seq", r.seq)
      .Field("title", r.title)
      .Field("body", r.body)
      .Field("type", r.type)
      .Field("priority", r.priority)
      .Field("state", static_cast<int32_t>(r.state))
      .Field("attempts", r.attempts)
      .Field("max_attempts", r.max_attempts)
      .Field("created_at", Micros(r.created_at))
      .Field("updated_at", Micros(r.updated_at))
      .Field("not_before", Micros(r.not_before))
      .Field("worker_id", r.worker_id)
      .Field("lock_token", r.lock_token)
      .Field("last_error", r.last_error)
      .Field("result", r.result)
      .Finish();
}

static absl::StatusOr<TaskRecord> ParseTask(absl::string_view data) {
  return DecodeWith<TaskRecord>("task", data, [](RecordReader& j, TaskRecord& r) {
    r.id = j.String("id");
    r.seq = j.Uint64("seq");
    r.title = j.String("title");
    r.body = j.String("body");
    r.type = j.String("type");
    r.priority = j.Int32("priority");
    r.state = static_cast<TaskState>(j.Int32("state"));
    r.attempts = j.Uint32("attempts");
    r.max_attempts = j.Uint32("max_attempts");
    r.created_at = FromMicros(j.Int64("created_at"));
    r.updated_at = FromMicros(j.Int64("updated_at"));
    r.not_before = FromMicros(j.Int64("not_before"));
    r.worker_id = j.String("worker_id");
    r.lock_token = j.Uint64("lock_token");
    r.last_error = j.String("last_error");
    r.result = j.String("result");
  });
}

// The decoders callers use: each remembers what it decoded by the exact bytes (decode_cache.h),
// since the protocols read the same registrations, locks and open tasks many times over. At most
// 4 KiB of text per record and a few hundred records per kind: with the decoded copies, about
// 6 MiB at the very most (records are usually a few hundred bytes).
constexpr size_t kCachedRecordBytes = 4096;

absl::StatusOr<LockRecord> DecodeLock(absl::string_view data) {
  static auto* const cache = new DecodeCache<LockRecord>(256, kCachedRecordBytes);
  return cache->Get(data, ParseLock);
}

absl::StatusOr<WorkerRecord> DecodeWorker(absl::string_view data) {
  static auto* const cache = new DecodeCache<WorkerRecord>(64, kCachedRecordBytes);
  return cache->Get(data, ParseWorker);
}

absl::StatusOr<MemoryRecord> DecodeMemory(absl::string_view data) {
  static auto* const cache = new DecodeCache<MemoryRecord>(128, kCachedRecordBytes);
  return cache->Get(data, ParseMemory);
}

absl::StatusOr<TaskRecord> DecodeTask(absl::string_view data) {
  static auto* const cache = new DecodeCache<TaskRecord>(256, kCachedRecordBytes);
  return cache->Get(data, ParseTask);
}

absl::StatusOr<uint64_t> NextCounter(Transaction& txn, absl::string_view key) {
  absl::StatusOr<uint64_t> value = ReadCounter(txn, key);
  if (!value.ok()) return value.status();
  absl::Status put = txn.Put(key, absl::StrCat(*value + 1));
  if (!put.ok()) return put;
  return *value + 1;
}

absl::StatusOr<uint64_t> ReadCounter(Transaction& txn, absl::string_view key) {
  absl::StatusOr<std::optional<std::string>> cur = txn.Get(key);
  if (!cur.ok()) return cur.status();
  uint64_t value = 0;
  if (cur->has_value() && !absl::SimpleAtoi(**cur, &value)) {
    return absl::DataLossError(absl::StrCat("damaged counter ", key));
  }
  return value;
}

absl::StatusOr<uint64_t> NextRevision(Transaction& txn) {
  return NextCounter(txn, "meta/revision");
}

namespace {
template <typename T, typename Decode>
absl::StatusOr<std::optional<T>> ReadRecord(Transaction& txn, const std::string& key,
                                            Decode decode) {
  absl::StatusOr<std::optional<std::string>> raw = txn.Get(key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<T>();
  absl::StatusOr<T> rec = decode(**raw);
  if (!rec.ok()) return rec.status();
  return std::optional<T>(*std::move(rec));
}
}  // namespace

absl::StatusOr<std::optional<LockRecord>> ReadLock(Transaction& txn, absl::string_view name) {
  return ReadRecord<LockRecord>(txn, LockKey(name), DecodeLock);
}
absl::StatusOr<std::optional<WorkerRecord>> ReadWorker(Transaction& txn, absl::string_view id) {
  return ReadRecord<WorkerRecord>(txn, WorkerKey(id), DecodeWorker);
}
absl::StatusOr<std::optional<TaskRecord>> ReadTask(Transaction& txn, absl::string_view id) {
  return ReadRecord<TaskRecord>(txn, TaskKey(id), DecodeTask);
}

namespace {
bool IsOpen(TaskState s) { return s == TaskState::kQueued || s == TaskState::kInProgress; }
std::string OpenTaskKey(absl::string_view id) { return absl::StrCat(kOpenTaskPrefix, id); }
}  // namespace

absl::Status WriteTask(Transaction& txn, const TaskRecord& task,
                       std::optional<TaskState> before) {
  if (absl::Status s = txn.Put(TaskKey(task.id), Encode(task)); !s.ok()) return s;
  const bool was_open = before.has_value() && IsOpen(*before);
  if (IsOpen(task.state) && !was_open) return txn.Put(OpenTaskKey(task.id), "");
  if (!IsOpen(task.state) && was_open) {
    if (absl::Status s = txn.Delete(OpenTaskKey(task.id)); !s.ok()) return s;
    return NextCounter(txn, task.state == TaskState::kDone ? kTasksDoneKey : kTasksDeadLetterKey)
        .status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TaskRecord>> ReadOpenTasks(Transaction& txn) {
  auto rows = txn.Scan(kOpenTaskPrefix);
  if (!rows.ok()) return rows.status();
  std::vector<TaskRecord> out;
  out.reserve(rows->size());
  for (const auto& [key, value] : *rows) {
    const absl::string_view id = absl::string_view(key).substr(kOpenTaskPrefix.size());
    absl::StatusOr<std::optional<TaskRecord>> task = ReadTask(txn, id);
    if (!task.ok()) return task.status();
    if (!task->has_value()) {
      return absl::DataLossError(absl::StrCat("open-task index names missing task ", id));
    }
    out.push_back(**std::move(task));
  }
  return out;
}

}  // namespace tasksentinel
