#!/usr/bin/python3
"""The Dockerfile, checked without a container engine (none runs in CI): a multi-stage build on
Debian bookworm that builds -c opt with scripts/setup.sh's packages, and a runtime stage that
installs exactly the Debian packages owning the shared libraries `ldd` lists for the two
binaries it ships (so the image cannot silently miss a library, nor carry one it does not
load), runs as a non-root user, has no HEALTHCHECK, and a .dockerignore that keeps Bazel's
output trees and .git out of the build context.
"""
import os
import re
import shlex
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ldd_packages  # noqa: E402

ROOT = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])


def instructions():
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuation lines joined."""
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages():
    """The instructions of each stage, by stage."""
    result = []
    for word, rest in instructions():
        if word == "FROM":
            result.append([])
        if result:
            result[-1].append((word, rest))
    return result


class DockerfileTest(unittest.TestCase):
    def test_two_stages_on_bookworm(self):
        s = stages()
        self.assertEqual(len(s), 2)
        self.assertEqual(s[0][0], ("FROM", "debian:bookworm AS build"))
        self.assertEqual(s[1][0], ("FROM", "debian:bookworm-slim"))

    def test_build_stage_builds_opt_with_setup_packages(self):
        runs = " ".join(rest for word, rest in stages()[0] if word == "RUN")
        self.assertIn("scripts/setup.sh", runs)
        self.assertRegex(runs, r"bazel build -c opt .*//service:sentinel //clients/cli:sentinelctl")
        self.assertIn("--define=SENTINEL_COMMIT=", runs)

    def test_runtime_packages_are_exactly_the_ldd_packages(self):
        runtime = stages()[1]
        args = [rest for word, rest in runtime if word == "ARG" and
                rest.startswith("RUNTIME_PACKAGES=")]
        self.assertEqual(len(args), 1)
        listed = set(shlex.split(args[0].partition("=")[2])[0].split())
        binaries = [os.path.join(ROOT, "service/sentinel"),
                    os.path.join(ROOT, "clients/cli/sentinelctl")]
        # Under --config=asan/tsan the binaries also load the sanitizer runtimes; the image is
        # built without them (-c opt), so they are not runtime packages.
        sanitizers = {"libasan8", "libubsan1", "libtsan2"}
        needed = set(ldd_packages.packages(binaries)) - sanitizers
        self.assertEqual(listed - needed, set(), "listed but not loaded")
        self.assertEqual(needed - listed, set(), "loaded but not installed")
        runs = " ".join(rest for word, rest in runtime if word == "RUN")
        self.assertIn("--no-install-recommends", runs)
        self.assertIn("${RUNTIME_PACKAGES}", runs)

    def test_runtime_ships_both_binaries_and_runs_them_unprivileged(self):
        runtime = stages()[1]
        copies = [rest for word, rest in runtime if word == "COPY"]
        self.assertTrue(any("/out/sentinel" in c and "/out/sentinelctl" in c for c in copies))
        users = [rest for word, rest in runtime if word == "USER"]
        self.assertEqual(len(users), 1)
        uid = users[0].split(":")[0]
        self.assertTrue(uid.isdigit() and int(uid) != 0, users[0])
        self.assertEqual(runtime[-1], ("ENTRYPOINT", '["/usr/local/bin/sentinel"]'))

    def test_no_healthcheck(self):
        self.assertNotIn("HEALTHCHECK", [word for word, _ in instructions()])

    def test_dockerignore_keeps_outputs_out(self):
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            patterns = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        for p in ("bazel-*", ".git", ".task-sentinel"):
            self.assertIn(p, patterns)


if __name__ == "__main__":
    unittest.main()
