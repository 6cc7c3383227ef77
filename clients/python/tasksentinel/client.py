"""Client: a thin Pythonic layer over the generated tasksentinel.v1 stubs.

Every call has a deadline (``call_timeout``, plus the wait for blocking calls), sends the bearer
token when one is given, and raises a typed SentinelError (errors.py) on failure. Lists are read
to their last page. ``create_task`` always sends a ``request_id`` (a new UUID unless given) and
retries UNAVAILABLE and DEADLINE_EXCEEDED, so a lost answer never creates a second task.

The channel reconnects by itself after a sidecar restart; calls made while it is down raise
Unavailable (the Worker retries them). Thread-safe.
"""

import contextlib
import time
import uuid

import grpc
from google.protobuf import duration_pb2

from tasksentinel.errors import LockHeld, RateLimited, SentinelError, from_rpc_error
from tasksentinel.v1 import sentinel_pb2 as pb
from tasksentinel.v1 import sentinel_pb2_grpc as pb_grpc

__all__ = ["Client", "HeldLock"]


def _duration(seconds):
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round((seconds or 0) * 1e9)))
    return d


class HeldLock:
    """A lock held by this worker: ``name``, ``token`` (fencing), ``lock`` (the proto)."""

    def __init__(self, client, lock):
        self._client = client
        self.lock = lock
        self.name = lock.name
        self.token = lock.fencing_token
        self.released = False

    def release(self):
        """Releases exactly this instance. Returns the ReleaseLockResponse status name."""
        if self.released:
            return "STATUS_NOT_HELD"
        self.released = True
        return self._client.release_lock(self.name, self.token)


class Client:
    """A client of one sidecar (default target: its default address)."""

    def __init__(self, target="127.0.0.1:50051", *, api_token=None, call_timeout=10.0,
                 channel=None, create_retries=5):
        self._channel = channel or grpc.insecure_channel(target)
        self._stub = pb_grpc.SentinelServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_token}"),) if api_token else ()
        self.call_timeout = call_timeout
        self.create_retries = create_retries

    @property
    def stub(self):
        """The generated stub, for anything not wrapped here (WatchMemory)."""
        return self._stub

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, wait=0.0):
        try:
            return getattr(self._stub, method)(
                request, timeout=self.call_timeout + (wait or 0), metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    # --- Locks.

    def acquire_lock(self, name, *, ttl=0, wait=0, metadata=None):
        """The lock as a HeldLock when acquired (within ``wait`` seconds), else None."""
        req = pb.AcquireLockRequest(name=name, ttl=_duration(ttl), wait_timeout=_duration(wait),
                                    metadata=metadata or {})
        resp = self._call("AcquireLock", req, wait)
        return HeldLock(self, resp.lock) if resp.acquired else None

    @contextlib.contextmanager
    def lock(self, name, *, wait=0, ttl=0):
        """``with client.lock("deploy", wait=30) as held:`` ... released (by token) on exit.

        Raises LockHeld when another holder still has the lock after ``wait`` seconds.
        """
        held = self.acquire_lock(name, ttl=ttl, wait=wait)
        if held is None:
            raise LockHeld(grpc.StatusCode.FAILED_PRECONDITION, "LOCK_HELD",
                           f"lock {name} is held", {"name": name})
        try:
            yield held
        finally:
            if not held.released:
                with contextlib.suppress(SentinelError):
                    held.release()

    def renew_lock(self, name, token, *, ttl=0):
        return self._call("RenewLock", pb.RenewLockRequest(name=name, fencing_token=token,
                                                           ttl=_duration(ttl))).lock

    def release_lock(self, name, token):
        """STATUS_RELEASED, STATUS_NOT_HELD or STATUS_HELD_BY_OTHER."""
        resp = self._call("ReleaseLock", pb.ReleaseLockRequest(name=name, fencing_token=token))
        return pb.ReleaseLockResponse.Status.Name(resp.status)

    def heartbeat(self, *, active_tasks=(), max_tasks=0, health=pb.WORKER_HEALTH_HEALTHY):
        return self._call("Heartbeat", pb.HeartbeatRequest(
            active_tasks=list(active_tasks), max_tasks=max_tasks, health=health))

    # --- Memory.

    def get_memory(self, namespace, key):
        return self._call("GetMemory", pb.GetMemoryRequest(namespace=namespace, key=key)).entry

    def set_memory(self, namespace, key, value, *, expected_version=None, ttl=0, fencing=None):
        """Writes an entry; ``fencing`` is a HeldLock (or (name, token)) that must be live."""
        req = pb.SetMemoryRequest(namespace=namespace, key=key,
                                  value=value.encode() if isinstance(value, str) else value,
                                  ttl=_duration(ttl))
        if expected_version is not None:
            req.expected_version = expected_version
        if fencing is not None:
            name, token = (fencing.name, fencing.token) if isinstance(fencing, HeldLock) else fencing
            req.fencing.name, req.fencing.token = name, token
        return self._call("SetMemory", req).entry

    def delete_memory(self, namespace, key, *, expected_version=None):
        req = pb.DeleteMemoryRequest(namespace=namespace, key=key)
        if expected_version is not None:
            req.expected_version = expected_version
        return self._call("DeleteMemory", req).deleted

    def list_memory(self, namespace, prefix=""):
        req = pb.ListMemoryRequest(namespace=namespace, prefix=prefix)
        return self._all_pages("ListMemory", req, "entries")

    # --- Tasks.

    def create_task(self, title, body="", *, type="", priority=0, max_attempts=0,
                    request_id=None):
        """Enqueues a task; safe to retry (see the module comment). Returns the Task."""
        req = pb.CreateTaskRequest(title=title, body=body, type=type, priority=priority,
                                   max_attempts=max_attempts,
                                   request_id=request_id or str(uuid.uuid4()))
        backoff = 0.1
        for attempt in range(self.create_retries + 1):
            try:
                return self._call("CreateTask", req).task
            except SentinelError as e:
                transient = e.code in (grpc.StatusCode.UNAVAILABLE,
                                       grpc.StatusCode.DEADLINE_EXCEEDED) or isinstance(e, RateLimited)
                if not transient or attempt == self.create_retries:
                    raise
                time.sleep(e.retry_delay or backoff)
                backoff = min(backoff * 2, 5.0)

    def next_task(self, wait=0.0, task_types=()):
        """(task, lock) handed to this worker, or None when none came within ``wait`` seconds."""
        resp = self._call("NextTask", pb.NextTaskRequest(task_types=list(task_types),
                                                         wait_timeout=_duration(wait)), wait)
        return (resp.task, resp.lock) if resp.HasField("task") else None

    def complete_task(self, task_id, token, result=""):
        return self._call("CompleteTask", pb.CompleteTaskRequest(
            task_id=task_id, fencing_token=token, result=result)).task

    def fail_task(self, task_id, token, error="", *, retryable=True):
        return self._call("FailTask", pb.FailTaskRequest(
            task_id=task_id, fencing_token=token, error=error, retryable=retryable)).task

    def get_task(self, task_id):
        return self._call("GetTask", pb.GetTaskRequest(task_id=task_id)).task

    # --- Cluster.

    def list_locks(self):
        return self._all_pages("ListLocks", pb.ListLocksRequest(), "locks")

    def list_workers(self, include_gone=False):
        return self._all_pages("ListWorkers", pb.ListWorkersRequest(include_gone=include_gone),
                               "workers")

    def cluster_health(self):
        return self._call("GetClusterHealth", pb.GetClusterHealthRequest())

    def _all_pages(self, method, req, field):
        out = []
        while True:
            resp = self._call(method, req)
            out.extend(getattr(resp, field))
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token
