#!/usr/bin/python3
"""examples/github-actions/: the workflow is valid YAML with the seed's shape (a matrix of
workers), the minimum `permissions:` block and concurrency settings; every script it runs exists
and is executable, every shell step is valid bash; and its step's own `sentinel exec
--until-idle` command line really takes every task and exits, run here on the embedded store.
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
        self.assertIn("examples/github-actions/process-task.sh", scripts)
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

    def test_it_runs_sentinel_exec_until_idle(self):
        args = exec_command_line()
        self.assertEqual(args[:2], ["bazel-bin/service/sentinel", "exec"])
        self.assertIn("--until-idle", args)
        self.assertEqual(args[args.index("--") + 1], "examples/github-actions/process-task.sh")


def exec_command_line():
    """The workflow's `sentinel exec` command, as words (continuations joined, the redirect of
    its log dropped)."""
    for step in run_steps():
        joined = step.replace("\\\n", " ")
        for line in joined.splitlines():
            if "sentinel exec" in line:
                return [w for w in shlex.split(line) if not w.startswith("2>")]
    raise AssertionError("no `sentinel exec` step in worker.yml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ExecStepTest(unittest.TestCase):
    def test_the_step_takes_every_task_then_exits_when_idle(self):
        data = os.path.join(os.environ["TEST_TMPDIR"], "data")
        addr = f"127.0.0.1:{free_port()}"
        env = dict(os.environ, SENTINEL_GRPC_ADDR=addr, SENTINEL_HTTP_ADDR="",
                   SENTINEL_DATA_DIR=data, WORKER_ID="actions-worker")
        # Queue three tasks in the store the step's sidecar will open.
        sidecar = subprocess.Popen([os.path.join(ROOT, "service/sentinel")], env=env,
                                   stderr=subprocess.DEVNULL)
        titles = ("build docs", "run tests", "publish")
        ctl = lambda *a: subprocess.run([CTL, *a], env=env, capture_output=True, text=True,
                                        check=True).stdout
        try:
            ctl("wait-ready", "--timeout=20s")
            ids = [re.search(r"^id +(\S+)$", ctl("task", "create", t, "--body=abc"), re.M)
                   .group(1) for t in titles]
        finally:
            sidecar.terminate()
            sidecar.wait(timeout=20)
        # The step's command line as written, with the paths of this checkout and a short idle
        # wait (the only change).
        args = exec_command_line()
        args[0] = os.path.join(ROOT, "service/sentinel")
        cmd = args.index("--") + 1
        args[cmd] = os.path.join(ROOT, args[cmd])
        args = ["--idle-wait=2s" if a.startswith("--idle-wait") else a for a in args]
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        sidecar = subprocess.Popen([os.path.join(ROOT, "service/sentinel")], env=env,
                                   stderr=subprocess.DEVNULL)
        try:
            ctl("wait-ready", "--timeout=20s")
            for task_id, title in zip(ids, titles):
                out = ctl("task", "get", task_id)
                self.assertRegex(out, r"(?m)^state +DONE$", out)
                self.assertIn(f"processed task {task_id}: {title} (3 bytes of body)", out)
        finally:
            sidecar.terminate()
            sidecar.wait(timeout=20)


if __name__ == "__main__":
    unittest.main()
