#!/usr/bin/python3
"""docs/troubleshooting.md stays true: every sentinelctl command it quotes parses (against an
address where nothing listens it must fail to connect, exit 1, never exit 2 for a usage error),
every metric it names is in docs/observability.md's metric tables and in the sources, and every
log event it names (`"action":"..."`) is written by the sources. And docs/observability.md's own
tables: every metric and every log action they list is in the sources.
"""
import glob
import os
import re
import shlex
import subprocess
import unittest

ROOT = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
CTL = os.path.join(ROOT, "clients/cli/sentinelctl")


def doc():
    with open(os.path.join(ROOT, "docs/troubleshooting.md")) as f:
        return f.read()


def sources():
    text = ""
    for pattern in ("service/**/*.cc", "core/**/*.cc"):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            with open(path) as f:
                text += f.read()
    return text


class TroubleshootingTest(unittest.TestCase):
    def test_every_quoted_command_parses(self):
        commands = []
        for block in re.findall(r"```sh\n(.*?)```", doc(), re.S):
            for line in block.splitlines():
                line = line.split("#")[0].strip()
                if line.startswith("sentinelctl "):
                    commands.append(line)
        self.assertGreaterEqual(len(commands), 15)
        for command in commands:
            args = shlex.split(command)[1:]
            args = ["--wait=100ms" if a.startswith("--wait=") else
                    "--timeout=300ms" if a.startswith("--timeout=") else a for a in args]
            r = subprocess.run([CTL, "--addr=unix:/nonexistent/sentinel.sock",
                                "--timeout=300ms"] + args, capture_output=True, text=True)
            self.assertEqual(r.returncode, 1, f"{command}: exit {r.returncode}: {r.stderr}")

    def test_every_metric_exists(self):
        with open(os.path.join(ROOT, "docs/observability.md")) as f:
            documented = set(re.findall(r"^\| `(tasksentinel_\w+)`", f.read(), re.M))
        src = sources()
        named = set(re.findall(r"tasksentinel_\w+", doc()))
        self.assertGreaterEqual(len(named), 10)
        for name in named:
            self.assertIn(name, documented)
            self.assertIn(f'"{name}"', src, name)

    def test_every_log_event_exists(self):
        src = sources()
        events = set(re.findall(r'"action":"(\w+)"', doc()))
        self.assertGreaterEqual(len(events), 10)
        for event in events:
            self.assertIn(f'"{event}"', src, event)

    def test_every_metric_and_action_in_observability_is_written(self):
        with open(os.path.join(ROOT, "docs/observability.md")) as f:
            text = f.read()
        src = sources()
        metrics = set(re.findall(r"^\| `(tasksentinel_\w+)`", text, re.M))
        self.assertGreaterEqual(len(metrics), 30)
        for name in metrics:
            self.assertIn(f'"{name}"', src, name)
        # The log table: | `component` | `action`, `action` (...) | level | when |
        actions = set()
        for row in re.findall(r"^\| `[a-z-]+` \| (.*?) \|", text, re.M):
            actions.update(re.findall(r"`([a-z_]+)`", row))
        self.assertGreaterEqual(len(actions), 30)
        for action in actions:
            self.assertIn(f'"{action}"', src, action)


if __name__ == "__main__":
    unittest.main()
