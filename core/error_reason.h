// Error reasons: a stable, machine-readable cause attached to an absl::Status, so that callers
// (and, through service/, gRPC clients as google.rpc.ErrorInfo) can branch on why a call failed
// without reading its message. Also the retry delay of a rate-limited call.
//
// The reason travels as an absl::Status payload, so it survives being returned through any
// number of layers unchanged; a status without one gets a reason from its code (see ReasonOf).
// core/ defines the reasons; service/ turns them into gRPC status details.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_CORE_ERROR_REASON_H_
#define TASK_SENTINEL_CORE_ERROR_REASON_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tasksentinel {

// The reasons, as the API documents them (proto/tasksentinel/v1/sentinel.proto, "Errors").
namespace reason {
// The lock is held by another worker or another instance.
inline constexpr absl::string_view kLockHeld = "LOCK_HELD";
// The fencing token is not the live lock's: lost, released or taken by someone else.
inline constexpr absl::string_view kFencingTokenStale = "FENCING_TOKEN_STALE";
// The task is not running under that token (done, dead-lettered, queued, or locked by
// AcquireLock rather than handed out by NextTask).
inline constexpr absl::string_view kTaskNotInProgress = "TASK_NOT_IN_PROGRESS";
// A compare-and-set on a memory entry's version did not match.
inline constexpr absl::string_view kVersionMismatch = "VERSION_MISMATCH";
// The store's rate limit or write budget is spent; see RetryDelayOf.
inline constexpr absl::string_view kRateLimited = "RATE_LIMITED";
// Too many blocking calls or watches on this sidecar.
inline constexpr absl::string_view kTooManyCalls = "TOO_MANY_CALLS";
// The sidecar is shutting down.
inline constexpr absl::string_view kShuttingDown = "SHUTTING_DOWN";
}  // namespace reason

// Returns `status` carrying `reason` (replacing any earlier one). OK stays OK.
absl::Status WithReason(absl::Status status, absl::string_view reason);

// Returns `status` carrying reason::kRateLimited and the delay after which a retry may succeed.
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);

// `status` with `message` instead of its own, keeping its code, reason and retry delay.
absl::Status Reworded(const absl::Status& status, absl::string_view message);

// The status's reason: the one attached with WithReason, else the name of its code
// ("INVALID_ARGUMENT", "NOT_FOUND", ...). Empty for OK.
std::string ReasonOf(const absl::Status& status);

// The retry delay attached with WithRetryDelay, if any.
std::optional<absl::Duration> RetryDelayOf(const absl::Status& status);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_ERROR_REASON_H_
