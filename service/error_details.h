// The gRPC rich error model for Task Sentinel: every failed call's grpc::Status carries a
// serialized google.rpc.Status (sent as the `grpc-status-details-bin` trailer) whose details
// hold a google.rpc.ErrorInfo (domain "tasksentinel.v1", the reason from core/error_reason.h)
// and, for RATE_LIMITED, a google.rpc.RetryInfo. The reasons are listed in the proto
// ("Errors"); clients branch on them instead of parsing messages.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_SERVICE_ERROR_DETAILS_H_
#define TASK_SENTINEL_SERVICE_ERROR_DETAILS_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tasksentinel {

// The ErrorInfo domain of every reason this sidecar sends.
inline constexpr absl::string_view kErrorDomain = "tasksentinel.v1";

// Returns `status` as a grpc::Status with the same code and message, and the details above
// (ErrorInfo with ReasonOf(status) and `metadata`; RetryInfo when RetryDelayOf(status) is set).
// OK becomes grpc::Status::OK.
grpc::Status ToGrpcWithDetails(const absl::Status& status,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_ERROR_DETAILS_H_
