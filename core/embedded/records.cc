// JSON encoding of the embedded store's records (see records.h).
#include "core/embedded/records.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/embedded/decode_cache.h"

namespace tasksentinel {
namespace {

using Json = nlohmann::json;

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

// Runs `fill` on the parsed document, mapping any parse or type error to DATA_LOSS.
template <typename T, typename Fill>
absl::StatusOr<T> DecodeWith(absl::string_view what, absl::string_view data, Fill fill) {
  try {
    Json j = Json::parse(data.begin(), data.end());
    T out;
    fill(j, out);
    return out;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("damaged ", what, " record: ", e.what()));
  }
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
  Json j = {{"name", r.name},
            {"held", r.held},
            {"token", r.token},
            {"holder", r.holder},
            {"holder_epoch", r.holder_epoch},
            {"acquired_at", Micros(r.acquired_at)},
            {"renewed_at", Micros(r.renewed_at)},
            {"ttl_us", absl::ToInt64Microseconds(r.ttl)},
            {"metadata", r.metadata}};
  return j.dump();
}

static absl::StatusOr<LockRecord> ParseLock(absl::string_view data) {
  return DecodeWith<LockRecord>("lock", data, [](const Json& j, LockRecord& r) {
    r.name = j.at("name").get<std::string>();
    r.held = j.at("held").get<bool>();
    r.token = j.at("token").get<uint64_t>();
    r.holder = j.at("holder").get<std::string>();
    r.holder_epoch = j.at("holder_epoch").get<uint64_t>();
    r.acquired_at = FromMicros(j.at("acquired_at").get<int64_t>());
    r.renewed_at = FromMicros(j.at("renewed_at").get<int64_t>());
    r.ttl = absl::Microseconds(j.at("ttl_us").get<int64_t>());
    r.metadata = j.at("metadata").get<std::map<std::string, std::string>>();
  });
}

std::string Encode(const WaiterRecord& r) {
  Json j = {{"worker", r.worker}, {"epoch", r.epoch}, {"deadline", Micros(r.deadline)}};
  return j.dump();
}

absl::StatusOr<WaiterRecord> DecodeWaiter(absl::string_view data) {
  return DecodeWith<WaiterRecord>("waiter", data, [](const Json& j, WaiterRecord& r) {
    r.worker = j.at("worker").get<std::string>();
    r.epoch = j.at("epoch").get<uint64_t>();
    r.deadline = FromMicros(j.at("deadline").get<int64_t>());
  });
}

std::string Encode(const WorkerRecord& r) {
  Json j = {{"type", "WORKER_REGISTRATION"},
            {"worker_id", r.id},
            {"hostname", r.hostname},
            {"state", r.state == WorkerState::kActive ? "active" : "gone"},
            {"health", static_cast<int>(r.health)},
            {"epoch", r.epoch},
            {"registered_at", Micros(r.registered_at)},
            {"epoch_started_at", Micros(r.epoch_started_at)},
            {"last_heartbeat", Micros(r.last_heartbeat)},
            {"lease_expires_at", Micros(r.lease_expires_at)},
            {"max_tasks", r.max_tasks},
            {"supported_task_types", r.supported_task_types},
            {"active_tasks", r.reported_active_tasks},
            {"type_history", r.type_history},
            {"cpu_cores", r.cpu_cores},
            {"memory_mb", r.memory_mb}};
  return j.dump();
}

static absl::StatusOr<WorkerRecord> ParseWorker(absl::string_view data) {
  return DecodeWith<WorkerRecord>("worker", data, [](const Json& j, WorkerRecord& r) {
    r.id = j.at("worker_id").get<std::string>();
    r.hostname = j.at("hostname").get<std::string>();
    r.state = j.at("state").get<std::string>() == "active" ? WorkerState::kActive
                                                           : WorkerState::kGone;
    r.health = static_cast<Health>(j.at("health").get<int>());
    r.epoch = j.at("epoch").get<uint64_t>();
    r.registered_at = FromMicros(j.at("registered_at").get<int64_t>());
    r.epoch_started_at = FromMicros(j.at("epoch_started_at").get<int64_t>());
    r.last_heartbeat = FromMicros(j.at("last_heartbeat").get<int64_t>());
    r.lease_expires_at = FromMicros(j.at("lease_expires_at").get<int64_t>());
    r.max_tasks = j.at("max_tasks").get<uint32_t>();
    r.supported_task_types = j.at("supported_task_types").get<std::vector<std::string>>();
    r.reported_active_tasks = j.at("active_tasks").get<std::vector<std::string>>();
    r.type_history = j.at("type_history").get<std::map<std::string, uint32_t>>();
    r.cpu_cores = j.at("cpu_cores").get<uint32_t>();
    r.memory_mb = j.at("memory_mb").get<uint64_t>();
  });
}

std::string Encode(const MemoryRecord& r) {
  Json j = {{"value_b64", absl::Base64Escape(r.value)},
            {"version", r.version},
            {"updated_at", Micros(r.updated_at)},
            {"updated_by", r.updated_by},
            {"expires_at", r.expires_at == absl::InfiniteFuture()
                               ? Json(nullptr)
                               : Json(Micros(r.expires_at))}};
  return j.dump();
}

static absl::StatusOr<MemoryRecord> ParseMemory(absl::string_view data) {
  return DecodeWith<MemoryRecord>("memory", data, [](const Json& j, MemoryRecord& r) {
    if (!absl::Base64Unescape(j.at("value_b64").get<std::string>(), &r.value)) {
      throw std::runtime_error("value is not base64");
    }
    r.version = j.at("version").get<uint64_t>();
    r.updated_at = FromMicros(j.at("updated_at").get<int64_t>());
    r.updated_by = j.at("updated_by").get<std::string>();
    const Json& exp = j.at("expires_at");
    r.expires_at = exp.is_null() ? absl::InfiniteFuture() : FromMicros(exp.get<int64_t>());
  });
}

std::string Encode(const TaskRecord& r) {
  Json j = {{"id", r.id},
            {"seq", r.seq},
            {"title", r.title},
            {"body", r.body},
            {"type", r.type},
            {"priority", r.priority},
            {"state", static_cast<int>(r.state)},
            {"attempts", r.attempts},
            {"max_attempts", r.max_attempts},
            {"created_at", Micros(r.created_at)},
            {"updated_at", Micros(r.updated_at)},
            {"not_before", Micros(r.not_before)},
            {"worker_id", r.worker_id},
            {"lock_token", r.lock_token},
            {"last_error", r.last_error},
            {"result", r.result}};
  return j.dump();
}

static absl::StatusOr<TaskRecord> ParseTask(absl::string_view data) {
  return DecodeWith<TaskRecord>("task", data, [](const Json& j, TaskRecord& r) {
    r.id = j.at("id").get<std::string>();
    r.seq = j.at("seq").get<uint64_t>();
    r.title = j.at("title").get<std::string>();
    r.body = j.at("body").get<std::string>();
    r.type = j.at("type").get<std::string>();
    r.priority = j.at("priority").get<int32_t>();
    r.state = static_cast<TaskState>(j.at("state").get<int>());
    r.attempts = j.at("attempts").get<uint32_t>();
    r.max_attempts = j.at("max_attempts").get<uint32_t>();
    r.created_at = FromMicros(j.at("created_at").get<int64_t>());
    r.updated_at = FromMicros(j.at("updated_at").get<int64_t>());
    r.not_before = FromMicros(j.at("not_before").get<int64_t>());
    r.worker_id = j.at("worker_id").get<std::string>();
    r.lock_token = j.at("lock_token").get<uint64_t>();
    r.last_error = j.at("last_error").get<std::string>();
    r.result = j.at("result").get<std::string>();
  });
}

// The decoders callers use: each remembers what it decoded by the exact bytes (decode_cache.h),
// since the protocols read the same registrations, locks and open tasks many times over. At most
// 4 KiB per record and a few hundred records per kind (about 3 MiB at the very most).
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
