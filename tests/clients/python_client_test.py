"""The Python client (clients/python, package tasksentinel) against real sidecar processes:
typed errors, the lock context manager, idempotent create_task, and Worker.run."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import grpc

import tasksentinel
from tasksentinel import (Client, FencingTokenStale, LockHeld, NotFound, PermanentError,
                          VersionMismatch, Worker)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sidecar:
    """A sidecar process for `worker` on data directory `data_dir`."""

    def __init__(self, worker, data_dir, addr=None):
        self.addr = addr or f"127.0.0.1:{free_port()}"
        env = {"PATH": os.environ.get("PATH", ""), "HOME": data_dir,
               "WORKER_ID": worker, "SENTINEL_GRPC_ADDR": self.addr,
               "SENTINEL_DATA_DIR": data_dir, "SENTINEL_HTTP_ADDR": "",
               "SENTINEL_POLL_INTERVAL_MS": "10", "HEARTBEAT_INTERVAL_MS": "200",
               "STALE_WORKER_THRESHOLD_MS": "1500", "LOCK_DELAY_MS": "0",
               "TASK_RETRY_BACKOFF_MS": "50"}
        self.log = open(os.path.join(data_dir, f"{worker}.log"), "w")
        self.proc = subprocess.Popen([os.environ["SENTINEL_BIN"]], env=env, stderr=self.log,
                                     stdout=self.log)
        channel = grpc.insecure_channel(self.addr)
        grpc.channel_ready_future(channel).result(timeout=20)
        channel.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


class PythonClientTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.sidecars = []

    def tearDown(self):
        for s in self.sidecars:
            s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, worker="worker-a"):
        sidecar = Sidecar(worker, self.dir)
        self.sidecars.append(sidecar)
        return Client(sidecar.addr, call_timeout=5)

    def test_errors_are_typed_by_reason(self):
        c = self.client()
        with self.assertRaises(NotFound) as e:
            c.get_task("no-such-task")
        self.assertEqual(e.exception.reason, "NOT_FOUND")
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)
        c.set_memory("global", "k", "v", expected_version=0)
        with self.assertRaises(VersionMismatch):
            c.set_memory("global", "k", "v", expected_version=0)
        held = c.acquire_lock("res")
        self.assertEqual(held.release(), "STATUS_RELEASED")
        with self.assertRaises(FencingTokenStale) as stale:
            c.renew_lock("res", held.token)
        self.assertEqual(stale.exception.metadata.get("name"), "res")
        self.assertIsInstance(stale.exception, tasksentinel.SentinelError)

    def test_lock_context_manager_releases_and_reports_a_held_lock(self):
        a, b = self.client("worker-a"), self.client("worker-b")
        with a.lock("deploy") as held:
            self.assertGreater(held.token, 0)
            with self.assertRaises(LockHeld):
                with b.lock("deploy", wait=0.2):
                    self.fail("both hold the lock")
            a.set_memory("global", "deployed-by", "a", fencing=held)
        self.assertEqual(a.list_locks(), [])
        with b.lock("deploy") as theirs:  # free again
            self.assertGreater(theirs.token, held.token)

    def test_create_task_with_a_request_id_creates_once(self):
        c = self.client()
        first = c.create_task("build", request_id="py-req-1")
        again = c.create_task("build", request_id="py-req-1")
        self.assertEqual(first.id, again.id)
        other = c.create_task("build")  # a fresh UUID each call
        self.assertNotEqual(other.id, first.id)
        self.assertEqual(c.cluster_health().tasks_queued, 2)

    def test_worker_runs_completes_and_fails_tasks(self):
        c = self.client()
        ok = c.create_task("ok")
        permanent = c.create_task("permanent", max_attempts=5)
        flaky = c.create_task("flaky", max_attempts=2)
        seen = []

        def handler(job):
            seen.append(job.task.title)
            if job.task.title == "permanent":
                raise PermanentError("cannot do it")
            if job.task.title == "flaky":
                raise RuntimeError("try again")
            return f"done {job.task.id}"

        worker = Worker(c, until_idle=True, poll_wait=1.0)
        worker.run(handler)
        self.assertEqual(c.get_task(ok.id).state, tasksentinel.client.pb.TASK_STATE_DONE)
        self.assertEqual(c.get_task(ok.id).result, f"done {ok.id}")
        dead = c.get_task(permanent.id)
        self.assertEqual(dead.state, tasksentinel.client.pb.TASK_STATE_DEAD_LETTER)
        self.assertEqual(dead.attempts, 1)
        self.assertEqual(dead.last_error, "cannot do it")
        # Retried after the backoff (the queue was momentarily empty: run again until idle).
        deadline = time.time() + 10
        while c.get_task(flaky.id).state != tasksentinel.client.pb.TASK_STATE_DEAD_LETTER:
            self.assertLess(time.time(), deadline)
            Worker(c, until_idle=True, poll_wait=0.5).run(handler)
        self.assertEqual(c.get_task(flaky.id).attempts, 2)
        self.assertIn("RuntimeError: try again", c.get_task(flaky.id).last_error)

    def test_worker_heartbeats_while_a_long_handler_runs(self):
        c = self.client()
        task = c.create_task("slow")
        cancelled = []

        def handler(job):
            # Twice the lease: only the worker's heartbeats keep the lock.
            cancelled.append(job.cancelled.wait(3.0))
            return "finished"

        Worker(c, max_tasks=1).run(handler)
        self.assertEqual(cancelled, [False])
        self.assertEqual(c.get_task(task.id).result, "finished")

    def test_a_lost_lock_cancels_the_job(self):
        c = self.client()
        task = c.create_task("fragile")
        proc = self.sidecars[0].proc
        cancelled = []

        def handler(job):
            # The sidecar pauses past its lease (a stopped VM, say): the lease lapses.
            proc.send_signal(signal.SIGSTOP)
            time.sleep(2.5)
            proc.send_signal(signal.SIGCONT)
            cancelled.append(job.cancelled.wait(10.0))
            return "too late"

        worker = Worker(c, max_tasks=1)
        worker.run(handler)
        self.assertEqual(cancelled, [True])
        self.assertEqual(worker.finished, 0)
        self.assertNotEqual(c.get_task(task.id).result, "too late")

    def test_worker_carries_on_across_a_sidecar_restart(self):
        c = self.client()
        c.create_task("before")
        sidecar = self.sidecars[0]

        def restart():
            time.sleep(0.3)
            sidecar.stop()
            self.sidecars[0] = Sidecar("worker-a", self.dir, addr=sidecar.addr)
            Client(sidecar.addr).create_task("after")

        restarter = []

        def handler(job):
            if job.task.title == "before":
                restarter.append(threading.Thread(target=restart))
                restarter[0].start()
            return "ok"

        worker = Worker(c, max_tasks=2, poll_wait=0.5)
        worker.run(handler)
        restarter[0].join()
        self.assertEqual(worker.finished, 2)


if __name__ == "__main__":
    unittest.main()
