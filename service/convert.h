// Conversions between core's types and the tasksentinel.v1 protos, and from absl::Status to
// grpc::Status. This is the only place where one becomes the other.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_SERVICE_CONVERT_H_
#define TASK_SENTINEL_SERVICE_CONVERT_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "tasksentinel/v1/sentinel.pb.h"

namespace tasksentinel {

grpc::Status ToGrpc(const absl::Status& status);

void ToProto(absl::Time t, google::protobuf::Timestamp* out);
void ToProto(absl::Duration d, google::protobuf::Duration* out);
// Rejects durations protobuf itself calls invalid (mixed signs, nanos out of range).
absl::Status FromProto(const google::protobuf::Duration& d, absl::string_view field,
                       absl::Duration* out);

void ToProto(const LockInfo& lock, v1::Lock* out);
void ToProto(const MemoryEntry& entry, v1::MemoryEntry* out);
// The same, moving the entry's strings (its value may be large) instead of copying them.
void ToProto(MemoryEntry&& entry, v1::MemoryEntry* out);
void ToProto(const TaskRecord& task, v1::Task* out);
void ToProto(const WorkerInfo& worker, v1::Worker* out);
v1::TaskState ToProto(TaskState state);
Health FromProto(v1::WorkerHealth health);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_CONVERT_H_
