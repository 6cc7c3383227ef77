"""Worker: the worker loop, done once.

``Worker(client).run(handler)`` heartbeats at the interval the sidecar announces, pulls tasks
with NextTask (deadline: the wait plus the call timeout), calls ``handler(job)`` for each, and
completes the task with the handler's return value (str) or fails it with the exception's text
(retryable, unless the handler raised PermanentError). When a heartbeat reports the task's lock
lost, ``job.cancelled`` (a threading.Event) is set: the handler should stop, and the task is not
finished by this worker. While the sidecar is unreachable (restarting) calls are retried with
backoff.
"""

import threading

import grpc

from tasksentinel.errors import PermanentError, RateLimited, SentinelError

__all__ = ["Job", "Worker"]

# Worth retrying: the sidecar is restarting (a stopping sidecar cancels the calls waiting in it),
# busy or rate limited.
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED,
              grpc.StatusCode.CANCELLED)


class Job:
    """One task being worked on: ``task``, ``lock``, ``token``, ``cancelled`` (an Event)."""

    def __init__(self, task, lock):
        self.task = task
        self.lock = lock
        self.token = lock.fencing_token
        self.cancelled = threading.Event()


class Worker:
    def __init__(self, client, *, concurrency=1, poll_wait=5.0, task_types=(), max_tasks=0,
                 until_idle=False):
        self.client = client
        self.concurrency = max(1, concurrency)
        self.poll_wait = poll_wait
        self.task_types = tuple(task_types)
        self.max_tasks = max_tasks
        self.until_idle = until_idle
        self.finished = 0
        self._mu = threading.Lock()
        self._stop = threading.Event()
        # Running jobs by (task id, token): a task whose lock lapsed may come back to this
        # worker while its first attempt still runs.
        self._active = {}
        self._taken = 0

    def stop(self):
        """Takes no new task; run() returns once running handlers are done."""
        self._stop.set()

    def run(self, handler):
        """Runs until stop(), max_tasks, or an empty queue with until_idle. Re-raises an error
        that is not transient (for instance InvalidArgument for unsupported task types)."""
        self._stop.clear()
        errors = []

        def loop():
            try:
                self._task_loop(handler)
            except BaseException as e:  # noqa: B902 - handed to run()'s caller
                errors.append(e)
            finally:
                self._stop.set()

        beats = threading.Thread(target=self._heartbeat_loop, daemon=True)
        beats.start()
        loops = [threading.Thread(target=loop, daemon=True) for _ in range(self.concurrency)]
        for t in loops:
            t.start()
        for t in loops:
            t.join()
        beats.join()
        if errors:
            raise errors[0]

    def _verify_locks(self):
        """Checks every running job's lock (renew_lock); cancels those whose lock is gone."""
        with self._mu:
            jobs = list(self._active.values())
        for job in jobs:
            try:
                self.client.renew_lock(job.lock.name, job.token)
            except SentinelError as e:
                if e.code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                    job.cancelled.set()

    def _heartbeat_loop(self):
        interval = 1.0
        # A heartbeat whose answer never arrived may have carried the only report of a lost
        # lock, and a new lease epoch means the old lease lapsed: then every job's lock is checked.
        epoch, verify = 0, False
        while True:
            with self._mu:
                if self._stop.is_set() and not self._active:
                    return
                active = sorted({task_id for task_id, _ in self._active})
            wait = interval
            try:
                beat = self.client.heartbeat(active_tasks=active)
                announced = beat.heartbeat_interval.ToNanoseconds() / 1e9
                if announced > 0:
                    interval = wait = announced
                if epoch and beat.lease_epoch != epoch:
                    verify = True
                epoch = beat.lease_epoch
                if verify:
                    self._verify_locks()
                    verify = False
                with self._mu:
                    for lost in beat.lost_locks:
                        for (task_id, token), job in self._active.items():
                            if task_id == lost.name and lost.fencing_token in (0, token):
                                job.cancelled.set()
            except SentinelError:
                wait = min(interval, 0.5)  # the lease is running out: try again sooner
                verify = True
            # Wake early once stopping and idle.
            deadline_wait = wait
            while deadline_wait > 0:
                step = min(deadline_wait, 0.05)
                if self._stop.wait(step):
                    with self._mu:
                        if not self._active:
                            return
                deadline_wait -= step

    def _task_loop(self, handler):
        backoff = 0.1
        while not self._stop.is_set():
            with self._mu:
                if self.max_tasks and self._taken >= self.max_tasks:
                    return
                self._taken += 1
            try:
                got = self.client.next_task(self.poll_wait, self.task_types)
            except SentinelError as e:
                with self._mu:
                    self._taken -= 1
                if e.code not in _TRANSIENT and not isinstance(e, RateLimited):
                    raise
                if self._stop.wait(e.retry_delay or backoff):
                    return
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            if got is None:
                with self._mu:
                    self._taken -= 1
                if self.until_idle:
                    return
                continue
            job = Job(*got)
            with self._mu:
                self._active[(job.task.id, job.token)] = job
            try:
                try:
                    outcome, error = handler(job), None
                except PermanentError as e:
                    outcome, error = None, (str(e), False)
                except Exception as e:  # noqa: BLE001 - a failed attempt, reported to the sidecar
                    outcome, error = None, (f"{type(e).__name__}: {e}", True)
                self._finish(job, outcome, error)
            finally:
                with self._mu:
                    del self._active[(job.task.id, job.token)]

    def _finish(self, job, outcome, error):
        if job.cancelled.is_set():
            return  # the lock is gone: another attempt will run the task
        backoff = 0.1
        for _ in range(10):
            try:
                if error is None:
                    self.client.complete_task(job.task.id, job.token,
                                              "" if outcome is None else str(outcome))
                else:
                    self.client.fail_task(job.task.id, job.token, error[0], retryable=error[1])
                with self._mu:
                    self.finished += 1
                return
            except SentinelError as e:
                if e.code not in _TRANSIENT:
                    return  # e.g. FencingTokenStale: the lock was lost meanwhile
                threading.Event().wait(e.retry_delay or backoff)
                backoff = min(backoff * 2, 5.0)
