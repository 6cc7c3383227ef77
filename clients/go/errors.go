// Typed errors, mapped from the google.rpc.ErrorInfo reason that every failed call of the
// sidecar carries (proto/tasksentinel/v1/sentinel.proto, "Errors").

package tasksentinel

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failed call: its gRPC code, the sidecar's ErrorInfo reason (the code's name when
// the error carries none), message, metadata (`name` or `task_id`, say) and, for RATE_LIMITED,
// the RetryInfo delay. Compare with errors.Is(err, ErrLockHeld) and the other Err* values,
// which match by reason.
type Error struct {
	Code       codes.Code
	Reason     string
	Message    string
	Metadata   map[string]string
	RetryDelay time.Duration
}

// Error returns "REASON: message".
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Reason, e.Message) }

// Is reports whether target is an *Error with the same reason (errors.Is(err, ErrLockHeld)).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// GRPCStatus returns the error as a gRPC status (code and message), for status.FromError.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// The reasons the sidecar names (errors.Is targets). Reasons not listed here (INTERNAL, ...) are
// still in Error.Reason.
var (
	// ErrLockHeld: the lock or task is held by another worker or instance.
	ErrLockHeld = &Error{Reason: "LOCK_HELD"}
	// ErrFencingTokenStale: the token is not the live lock's (lost, released or re-acquired).
	ErrFencingTokenStale = &Error{Reason: "FENCING_TOKEN_STALE"}
	// ErrTaskNotInProgress: the task is not running under that token.
	ErrTaskNotInProgress = &Error{Reason: "TASK_NOT_IN_PROGRESS"}
	// ErrVersionMismatch: a memory compare-and-set did not match the entry's version.
	ErrVersionMismatch = &Error{Reason: "VERSION_MISMATCH"}
	// ErrRateLimited: the store's rate limit or write budget is spent; see Error.RetryDelay.
	ErrRateLimited = &Error{Reason: "RATE_LIMITED"}
	// ErrTooManyCalls: too many waiting calls or watches on this sidecar.
	ErrTooManyCalls = &Error{Reason: "TOO_MANY_CALLS"}
	// ErrShuttingDown: the sidecar is stopping.
	ErrShuttingDown = &Error{Reason: "SHUTTING_DOWN"}
	// ErrInvalidArgument: a request field is out of range or malformed.
	ErrInvalidArgument = &Error{Reason: "INVALID_ARGUMENT"}
	// ErrNotFound: the task or memory entry does not exist.
	ErrNotFound = &Error{Reason: "NOT_FOUND"}
	// ErrUnauthenticated: the bearer token is missing or wrong.
	ErrUnauthenticated = &Error{Reason: "UNAUTHENTICATED"}
	// ErrUnavailable: the sidecar (or its store) cannot be reached; retry.
	ErrUnavailable = &Error{Reason: "UNAVAILABLE"}
	// ErrDeadlineExceeded: the call's deadline passed.
	ErrDeadlineExceeded = &Error{Reason: "DEADLINE_EXCEEDED"}
)

// ReasonOf returns the reason of an *Error in err's chain, "" when there is none.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// fromRPC converts the error of a generated stub's call into an *Error (nil stays nil).
func fromRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err // not a gRPC error (cannot happen for a stub's call)
	}
	e := &Error{Code: st.Code(), Reason: codeName(st.Code()), Message: st.Message(),
		Metadata: map[string]string{}}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetReason() != "" {
				e.Reason = d.GetReason()
			}
			for k, v := range d.GetMetadata() {
				e.Metadata[k] = v
			}
		case *errdetails.RetryInfo:
			if rd := d.GetRetryDelay(); rd != nil {
				e.RetryDelay = time.Duration(rd.GetSeconds())*time.Second +
					time.Duration(rd.GetNanos())
			}
		}
	}
	return e
}

// codeName is the proto enum name of a code (DEADLINE_EXCEEDED), as the sidecar's reasons are.
func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
		codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
		codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
		codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
		codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
		codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return fmt.Sprintf("CODE_%d", int(c))
}

// codeOf returns the gRPC code of err (codes.Unknown for other errors, OK for nil).
func codeOf(err error) codes.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return status.Code(err)
}

// retryDelayOf returns the RetryInfo delay of err, 0 when none.
func retryDelayOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryDelay
	}
	return 0
}

// PermanentError, returned (or wrapped) by a Worker handler, fails the task for good: it is
// dead-lettered instead of retried. Make one with Permanent.
type PermanentError struct{ Err error }

// Error returns the wrapped error's text.
func (p *PermanentError) Error() string { return p.Err.Error() }

// Unwrap returns the wrapped error.
func (p *PermanentError) Unwrap() error { return p.Err }

// Permanent marks err as permanent (see PermanentError); nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}
