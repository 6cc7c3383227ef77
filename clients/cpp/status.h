// Errors of the C++ client: every failed call is an absl::Status with the gRPC code and message,
// carrying the sidecar's google.rpc.ErrorInfo reason ("LOCK_HELD", "FENCING_TOKEN_STALE",
// "RATE_LIMITED", ...; the list is in proto/tasksentinel/v1/sentinel.proto) and, for
// RATE_LIMITED, its google.rpc.RetryInfo delay. Branch on ErrorReason, not on messages.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_CLIENTS_CPP_STATUS_H_
#define TASK_SENTINEL_CLIENTS_CPP_STATUS_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tasksentinel::client {

// The reasons the client itself raises or tests for most often.
inline constexpr absl::string_view kLockHeld = "LOCK_HELD";
inline constexpr absl::string_view kFencingTokenStale = "FENCING_TOKEN_STALE";
inline constexpr absl::string_view kRateLimited = "RATE_LIMITED";

// `status` as an absl::Status with its ErrorInfo reason and RetryInfo delay attached.
absl::Status FromGrpc(const grpc::Status& status);

// The sidecar's reason for `status` (ErrorInfo.reason), or the name of its code when it carries
// none (a transport error: "UNAVAILABLE", "DEADLINE_EXCEEDED"); empty for OK.
std::string ErrorReason(const absl::Status& status);

// How long the sidecar asked to wait before retrying (RATE_LIMITED), if it said.
std::optional<absl::Duration> RetryDelay(const absl::Status& status);

// `status` carrying `reason` (for errors the client raises itself).
absl::Status WithErrorReason(absl::Status status, absl::string_view reason);

}  // namespace tasksentinel::client

#endif  // TASK_SENTINEL_CLIENTS_CPP_STATUS_H_
