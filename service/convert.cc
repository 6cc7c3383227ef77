// Conversions between core types and protos (see convert.h).
#include "service/convert.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/error_details.h"

namespace tasksentinel {

grpc::Status ToGrpc(const absl::Status& status) {
  return ToGrpcWithDetails(status);
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t ns = absl::ToUnixNanos(t);
  int64_t secs = ns / 1'000'000'000;
  int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --secs;
  }
  out->set_seconds(secs);
  out->set_nanos(static_cast<int32_t>(nanos));
}

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

absl::Status FromProto(const google::protobuf::Duration& d, absl::string_view field,
                       absl::Duration* out) {
  if (d.nanos() <= -1'000'000'000 || d.nanos() >= 1'000'000'000 ||
      (d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not a valid duration"));
  }
  *out = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  return absl::OkStatus();
}

void ToProto(const LockInfo& lock, v1::Lock* out) {
  out->set_name(lock.name);
  out->set_fencing_token(lock.token);
  out->set_holder(lock.holder);
  ToProto(lock.acquired_at, out->mutable_acquired_at());
  ToProto(lock.expires_at, out->mutable_expires_at());
  ToProto(lock.ttl, out->mutable_ttl());
  for (const auto& [k, v] : lock.metadata) (*out->mutable_metadata())[k] = v;
}

void ToProto(const MemoryEntry& entry, v1::MemoryEntry* out) {
  out->set_namespace_(entry.ns);
  out->set_key(entry.key);
  out->set_value(entry.record.value);
  out->set_version(entry.record.version);
  ToProto(entry.record.updated_at, out->mutable_updated_at());
  out->set_updated_by(entry.record.updated_by);
  if (entry.record.expires_at != absl::InfiniteFuture()) {
    ToProto(entry.record.expires_at, out->mutable_expires_at());
  }
}

void ToProto(MemoryEntry&& entry, v1::MemoryEntry* out) {
  out->set_namespace_(std::move(entry.ns));
  out->set_key(std::move(entry.key));
  out->set_value(std::move(entry.record.value));
  out->set_version(entry.record.version);
  ToProto(entry.record.updated_at, out->mutable_updated_at());
  out->set_updated_by(std::move(entry.record.updated_by));
  if (entry.record.expires_at != absl::InfiniteFuture()) {
    ToProto(entry.record.expires_at, out->mutable_expires_at());
  }
}

v1::TaskState ToProto(TaskState state) {
  switch (state) {
    case TaskState::kQueued: return v1::TASK_STATE_QUEUED;
    case TaskState::kInProgress: return v1::TASK_STATE_IN_PROGRESS;
    case TaskState::kDone: return v1::TASK_STATE_DONE;
    case TaskState::kDeadLetter: return v1::TASK_STATE_DEAD_LETTER;
  }
  return v1::TASK_STATE_UNSPECIFIED;
}

void ToProto(const TaskRecord& task, v1::Task* out) {
  out->set_id(task.id);
  out->set_title(task.title);
  out->set_body(task.body);
  out->set_type(task.type);
  out->set_priority(task.priority);
  out->set_state(ToProto(task.state));
  out->set_attempts(task.attempts);
  out->set_max_attempts(task.max_attempts);
  ToProto(task.created_at, out->mutable_created_at());
  ToProto(task.updated_at, out->mutable_updated_at());
  ToProto(task.not_before, out->mutable_not_before());
  out->set_worker_id(task.worker_id);
  out->set_last_error(task.last_error);
  out->set_result(task.result);
}

namespace {
v1::WorkerHealth ToProto(Health h) {
  switch (h) {
    case Health::kHealthy: return v1::WORKER_HEALTH_HEALTHY;
    case Health::kDegraded: return v1::WORKER_HEALTH_DEGRADED;
    case Health::kUnhealthy: return v1::WORKER_HEALTH_UNHEALTHY;
  }
  return v1::WORKER_HEALTH_UNSPECIFIED;
}
}  // namespace

Health FromProto(v1::WorkerHealth health) {
  switch (health) {
    case v1::WORKER_HEALTH_DEGRADED: return Health::kDegraded;
    case v1::WORKER_HEALTH_UNHEALTHY: return Health::kUnhealthy;
    default: return Health::kHealthy;
  }
}

void ToProto(const WorkerInfo& worker, v1::Worker* out) {
  const WorkerRecord& w = worker.record;
  out->set_worker_id(w.id);
  out->set_hostname(w.hostname);
  out->set_status(worker.status == WorkerStatus::kActive  ? v1::WORKER_STATUS_ACTIVE
                  : worker.status == WorkerStatus::kStale ? v1::WORKER_STATUS_STALE
                                                          : v1::WORKER_STATUS_GONE);
  out->set_health(ToProto(w.health));
  ToProto(w.registered_at, out->mutable_registered_at());
  ToProto(w.last_heartbeat, out->mutable_last_heartbeat());
  ToProto(w.lease_expires_at, out->mutable_lease_expires_at());
  out->set_max_tasks(w.max_tasks);
  out->set_active_tasks(worker.active_tasks);
  out->set_available_slots(w.max_tasks > worker.active_tasks ? w.max_tasks - worker.active_tasks
                                                             : 0);
  for (const std::string& t : w.supported_task_types) out->add_supported_task_types(t);
  out->set_lease_epoch(w.epoch);
  out->set_cpu_cores(w.cpu_cores);
  out->set_memory_mb(w.memory_mb);
}

}  // namespace tasksentinel
