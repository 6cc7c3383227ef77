#!/usr/bin/python3
"""examples/github-actions/: the workflow is valid YAML with the seed's shape (a matrix of
workers), the minimum `permissions:` block and concurrency settings; every script it runs exists
and is executable, every shell step is valid bash, every sentinelctl command it quotes parses;
and its worker loop (process-tasks.sh) really takes tasks until the queue is idle, run here
against a real sidecar on the embedded store.
"""
import os
import re
import shlex
import socket
import subprocess
import time
import unittest

import yaml

ROOT = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
EXAMPLE = os.path.join(ROOT, "examples/github-actions")
CTL = os.path.join(ROOT, "clients/cli/sentinelctl")


def workflow():
    with open(os.path.join(EXAMPLE, "worker.yml")) as f:
        return yaml.safe_load(f)


def run_steps():
    return [s["run"] for s in workflow()["jobs"]["work"]["steps"] if "run" in s]


class WorkflowTest(unittest.TestCase):
    def test_shape(self):
        w = workflow()
        # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
        triggers = w.get("on", w.get(True))
        self.assertIn("workflow_dispatch", triggers)
        self.assertIn("schedule", triggers)
        job = w["jobs"]["work"]
        self.assertGreaterEqual(len(job["strategy"]["matrix"]["worker"]), 2)
        self.assertIn("${{ matrix.worker }}", job["env"]["WORKER_ID"])
        self.assertEqual(job["env"]["GITHUB_TOKEN"], "${{ secrets.GITHUB_TOKEN }}")
        self.assertIn("timeout-minutes", job)

    def test_minimum_permissions(self):
        self.assertEqual(workflow()["permissions"], {"contents": "read", "issues": "write"})

    def test_concurrency(self):
        c = workflow()["concurrency"]
        self.assertTrue(c["group"])
        self.assertFalse(c["cancel-in-progress"])

    def test_steps_are_valid_bash(self):
        for step in run_steps():
            with self.subTest(step=step.splitlines()[0]):
                r = subprocess.run(["bash", "-n"], input=step, capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_scripts_it_runs_exist_and_are_executable(self):
        scripts = set()
        for step in run_steps():
            scripts |= set(re.findall(r"(?:scripts|examples)/[\w./-]+\.sh", step))
        self.assertIn("examples/github-actions/process-tasks.sh", scripts)
        for script in scripts:
            path = os.path.join(ROOT, script)
            self.assertTrue(os.access(path, os.X_OK), script)
            r = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_bazel_targets_it_builds_exist(self):
        for step in run_steps():
            for target in re.findall(r"//[\w/]+:[\w]+", step):
                package, name = target[2:].split(":")
                with open(os.path.join(ROOT, package, "BUILD.bazel")) as f:
                    self.assertRegex(f.read(), rf'name = "{name}"', target)

    def test_sentinelctl_commands_parse(self):
        quoted = []
        for step in run_steps():
            quoted += re.findall(r"sentinelctl ([a-z-][^\n&|;]*)", step)
        with open(os.path.join(EXAMPLE, "process-tasks.sh")) as f:
            quoted += re.findall(r'"\$ctl" ([^\n&|;>]+)', f.read())
        self.assertGreaterEqual(len(quoted), 3)
        for command in quoted:
            args = shlex.split(command)
            # Shell variables become placeholders; waits and timeouts become short.
            args = ["1" if "$" in a and not a.startswith("--") else
                    "--wait=100ms" if a.startswith("--wait=") else
                    "--timeout=200ms" if a.startswith("--timeout=") else
                    a.split("=")[0] + "=x" if "$" in a else a for a in args]
            r = subprocess.run([CTL, "--addr=unix:/nonexistent/s.sock", "--timeout=200ms"] + args,
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 2, f"{command}: {r.stderr}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerLoopTest(unittest.TestCase):
    def test_takes_every_task_then_stops_when_idle(self):
        addr = f"127.0.0.1:{free_port()}"
        env = dict(os.environ, SENTINEL_GRPC_ADDR=addr, SENTINEL_HTTP_ADDR="",
                   SENTINEL_DATA_DIR=os.path.join(os.environ["TEST_TMPDIR"], "data"),
                   WORKER_ID="actions-worker", TASK_RETRY_BACKOFF_MS="10")
        sidecar = subprocess.Popen([os.path.join(ROOT, "service/sentinel")], env=env,
                                   stderr=subprocess.DEVNULL)
        try:
            ctl = lambda *a: subprocess.run([CTL, *a], env=env, capture_output=True, text=True,
                                            check=True).stdout
            ctl("wait-ready", "--timeout=20s")
            ids = []
            for title in ("build docs", "flaky once", "run tests"):
                out = ctl("task", "create", title)
                ids.append(re.search(r"^id +(\S+)$", out, re.M).group(1))
            handler = os.path.join(os.environ["TEST_TMPDIR"], "handler.sh")
            marker = os.path.join(os.environ["TEST_TMPDIR"], "failed-once")
            with open(handler, "w") as f:
                f.write(f"""#!/bin/bash
if [ "$2" = "flaky once" ] && [ ! -e {marker} ]; then touch {marker}; exit 3; fi
echo "did $2"
""")
            os.chmod(handler, 0o755)
            r = subprocess.run([os.path.join(EXAMPLE, "process-tasks.sh"), handler],
                               env=dict(env, SENTINELCTL=CTL, IDLE_WAIT="2s"),
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("idle for 2s; 4 task(s) done", r.stderr)
            for task_id, title in zip(ids, ("build docs", "flaky once", "run tests")):
                out = ctl("task", "get", task_id)
                self.assertRegex(out, r"(?m)^state +DONE$", out)
                self.assertIn(f"did {title}", out)
        finally:
            sidecar.terminate()
            sidecar.wait(timeout=20)


if __name__ == "__main__":
    unittest.main()
