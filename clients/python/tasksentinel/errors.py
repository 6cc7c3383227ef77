"""Typed errors of the Task Sentinel client, mapped from the sidecar's google.rpc.ErrorInfo.

Every failed call raises a SentinelError (or a subclass chosen by the ErrorInfo reason, see
proto/tasksentinel/v1/sentinel.proto "Errors"): catch ``LockHeld``, ``FencingTokenStale``,
``RateLimited`` ... instead of matching messages. ``e.reason`` is the reason string,
``e.code`` the grpc.StatusCode, ``e.retry_delay`` the RetryInfo delay in seconds (RATE_LIMITED).
"""

import grpc
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, duration_pb2
from google.protobuf import message_factory

__all__ = [
    "SentinelError", "LockHeld", "FencingTokenStale", "TaskNotInProgress", "VersionMismatch",
    "RateLimited", "TooManyCalls", "ShuttingDown", "InvalidArgument", "NotFound",
    "Unauthenticated", "Unavailable", "DeadlineExceeded", "PermanentError", "from_rpc_error",
]


class SentinelError(Exception):
    """A failed call: ``code`` (grpc.StatusCode), ``reason``, ``message``, ``metadata``."""

    def __init__(self, code, reason, message, metadata=None, retry_delay=None):
        super().__init__(f"{reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata or {})
        self.retry_delay = retry_delay


class LockHeld(SentinelError):
    """The lock (or task) is held by another worker or instance."""


class FencingTokenStale(SentinelError):
    """The fencing token is not the live lock's: the lock was lost, released or re-acquired."""


class TaskNotInProgress(SentinelError):
    """The task is not running under that token."""


class VersionMismatch(SentinelError):
    """A memory compare-and-set did not match the entry's version."""


class RateLimited(SentinelError):
    """The store's rate limit or write budget is spent; ``retry_delay`` says for how long."""


class TooManyCalls(SentinelError):
    """Too many waiting calls or watches on this sidecar."""


class ShuttingDown(SentinelError):
    """The sidecar is stopping."""


class InvalidArgument(SentinelError):
    """A request field is out of range or malformed."""


class NotFound(SentinelError):
    """The task or memory entry does not exist."""


class Unauthenticated(SentinelError):
    """The bearer token is missing or wrong."""


class Unavailable(SentinelError):
    """The sidecar (or its store) cannot be reached; retry."""


class DeadlineExceeded(SentinelError):
    """The call's deadline passed."""


class PermanentError(Exception):
    """Raise from a Worker handler to fail the task for good (not retried: dead-lettered)."""


_BY_REASON = {
    "LOCK_HELD": LockHeld,
    "FENCING_TOKEN_STALE": FencingTokenStale,
    "TASK_NOT_IN_PROGRESS": TaskNotInProgress,
    "VERSION_MISMATCH": VersionMismatch,
    "RATE_LIMITED": RateLimited,
    "TOO_MANY_CALLS": TooManyCalls,
    "SHUTTING_DOWN": ShuttingDown,
    "INVALID_ARGUMENT": InvalidArgument,
    "NOT_FOUND": NotFound,
    "UNAUTHENTICATED": Unauthenticated,
    "UNAVAILABLE": Unavailable,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
}


def _rich_status_classes():
    """google.rpc.Status, ErrorInfo and RetryInfo in a private descriptor pool.

    Declared here (wire-compatible with googleapis' protos) rather than generated, so that they
    never clash with a googleapis-common-protos package loaded in the same process.
    """
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(duration_pb2.DESCRIPTOR.serialized_pb)
    f = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(
        name="tasksentinel_client/google_rpc.proto", package="google.rpc", syntax="proto3",
        dependency=["google/protobuf/any.proto", "google/protobuf/duration.proto"])
    status = fd.message_type.add(name="Status")
    status.field.add(name="code", number=1, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)
    status.field.add(name="message", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    status.field.add(name="details", number=3, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED,
                     type_name=".google.protobuf.Any")
    info = fd.message_type.add(name="ErrorInfo")
    info.field.add(name="reason", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    info.field.add(name="domain", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    entry = info.nested_type.add(name="MetadataEntry")
    entry.field.add(name="key", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    entry.options.map_entry = True
    info.field.add(name="metadata", number=3, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED,
                   type_name=".google.rpc.ErrorInfo.MetadataEntry")
    retry = fd.message_type.add(name="RetryInfo")
    retry.field.add(name="retry_delay", number=1, type=f.TYPE_MESSAGE, label=f.LABEL_OPTIONAL,
                    type_name=".google.protobuf.Duration")
    pool.Add(fd)

    def cls(name):
        desc = pool.FindMessageTypeByName(name)
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(desc)
        return message_factory.MessageFactory(pool).GetPrototype(desc)

    return cls("google.rpc.Status"), cls("google.rpc.ErrorInfo"), cls("google.rpc.RetryInfo")


_Status, _ErrorInfo, _RetryInfo = _rich_status_classes()


def from_rpc_error(error):
    """The SentinelError subclass for a grpc.RpcError."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    reason, metadata, retry_delay = code.name, {}, None
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        status = _Status.FromString(value)
        for detail in status.details:
            name = detail.type_url.rsplit("/", 1)[-1]
            if name == "google.rpc.ErrorInfo":
                info = _ErrorInfo.FromString(detail.value)
                reason, metadata = info.reason or reason, dict(info.metadata)
            elif name == "google.rpc.RetryInfo":
                delay = _RetryInfo.FromString(detail.value).retry_delay
                retry_delay = delay.seconds + delay.nanos / 1e9
    cls = _BY_REASON.get(reason, SentinelError)
    return cls(code, reason, message or "", metadata, retry_delay)
