#!/usr/bin/python3
"""k8s/: renders every overlay (tests/deploy/kustomize.py, which matches `kubectl kustomize` on
these manifests) and checks what issue 13 asks of a pod run today: the sidecar as a native
sidecar (an init container with restartPolicy: Always) that shares a unix socket in an emptyDir
with the worker, probes on the gRPC health service, requests and limits, non-root, read-only
root filesystem, no privilege escalation, every capability dropped, a PodDisruptionBudget, and a
termination grace period longer than the sidecar's drain. Also: the dev overlay uses the
embedded store, the github one takes its settings from a ConfigMap and its credential from a
Secret, and every environment variable set on the sidecar is a setting `sentinel --help` lists.
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kustomize  # noqa: E402

ROOT = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
K8S = os.path.join(ROOT, "k8s")
OVERLAYS = ["dev", "github"]
# The sidecar's drain on SIGTERM: 2 s for calls in flight (service/main.cc), then deregistration,
# whose GitHub write may wait up to the write deadline (30 s) for its turn.
DRAIN_SECONDS = 2 + 30


def render(overlay):
    return kustomize.render(os.path.join(K8S, "overlays", overlay))


def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


def sidecar_settings():
    """The settings `sentinel --help` lists."""
    out = subprocess.run([os.path.join(ROOT, "service/sentinel"), "--help"], check=True,
                         capture_output=True, text=True).stdout
    return set(re.findall(r"^  ([A-Z][A-Z0-9_]+)  ", out, re.M))


class K8sTest(unittest.TestCase):
    def for_each(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                docs = render(overlay)
                deployment = one(docs, "Deployment")
                yield overlay, docs, deployment, deployment["spec"]["template"]["spec"]

    def test_sidecar_is_a_native_sidecar(self):
        for _, _, _, pod in self.for_each():
            sidecars = [c for c in pod.get("initContainers", []) if c["name"] == "sentinel"]
            self.assertEqual(len(sidecars), 1)
            self.assertEqual(sidecars[0].get("restartPolicy"), "Always")
            self.assertEqual([c["name"] for c in pod["containers"]], ["worker"])
            # The worker starts once the sidecar's startup probe passes.
            self.assertIn("startupProbe", sidecars[0])

    def test_worker_and_sidecar_share_a_unix_socket_in_an_emptydir(self):
        for _, _, _, pod in self.for_each():
            sidecar = pod["initContainers"][0]
            worker = pod["containers"][0]
            env = {e["name"]: e.get("value") for e in sidecar["env"]}
            addr = env["SENTINEL_GRPC_ADDR"]
            self.assertTrue(addr.startswith("unix:/"), addr)
            socket_dir = os.path.dirname(addr[len("unix:"):])
            worker_env = {e["name"]: e.get("value") for e in worker["env"]}
            self.assertEqual(worker_env["SENTINEL_GRPC_ADDR"], addr)
            volumes = {v["name"]: v for v in pod["volumes"]}
            for c in (sidecar, worker):
                mounts = [m for m in c["volumeMounts"] if m["mountPath"] == socket_dir]
                self.assertEqual(len(mounts), 1, c["name"])
                self.assertIn("emptyDir", volumes[mounts[0]["name"]])

    def test_probes_use_the_grpc_health_service(self):
        for _, _, _, pod in self.for_each():
            sidecar = pod["initContainers"][0]
            addr = {e["name"]: e.get("value") for e in sidecar["env"]}["SENTINEL_GRPC_ADDR"]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                command = sidecar[probe]["exec"]["command"]
                self.assertEqual(command[0], "sentinelctl", probe)
                self.assertIn(f"--addr={addr}", command, probe)
                self.assertEqual(command[-1], "health", probe)  # grpc.health.v1 Check

    def test_probe_command_parses(self):
        ctl = os.path.join(ROOT, "clients/cli/sentinelctl")
        for _, _, _, pod in self.for_each():
            command = pod["initContainers"][0]["livenessProbe"]["exec"]["command"]
            # Nothing listens there: exit 1 (UNAVAILABLE), not 2 (usage error).
            args = [a if not a.startswith("--addr=") else "--addr=unix:/nonexistent/s.sock"
                    for a in command[1:]]
            rc = subprocess.run([ctl] + args, capture_output=True).returncode
            self.assertEqual(rc, 1)

    def test_resources_and_security(self):
        for _, _, _, pod in self.for_each():
            self.assertTrue(pod["securityContext"]["runAsNonRoot"])
            self.assertNotEqual(pod["securityContext"].get("runAsUser"), 0)
            for c in pod["initContainers"] + pod["containers"]:
                with self.subTest(container=c["name"]):
                    self.assertIn("memory", c["resources"]["requests"])
                    self.assertIn("cpu", c["resources"]["requests"])
                    self.assertIn("memory", c["resources"]["limits"])
                    sc = c["securityContext"]
                    self.assertTrue(sc["readOnlyRootFilesystem"])
                    self.assertFalse(sc["allowPrivilegeEscalation"])
                    self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                    self.assertNotIn("add", sc["capabilities"])
                    self.assertFalse(sc.get("privileged", False))

    def test_grace_period_outlasts_the_drain(self):
        for _, _, _, pod in self.for_each():
            self.assertGreater(pod["terminationGracePeriodSeconds"], DRAIN_SECONDS)

    def test_disruption_budget_selects_the_workers(self):
        for _, docs, deployment, _ in self.for_each():
            pdb = one(docs, "PodDisruptionBudget")
            self.assertEqual(pdb["apiVersion"], "policy/v1")
            self.assertEqual(pdb["spec"]["selector"]["matchLabels"],
                             deployment["spec"]["selector"]["matchLabels"])
            self.assertIn("maxUnavailable", pdb["spec"])

    def test_every_volume_mounted_is_defined(self):
        for _, _, _, pod in self.for_each():
            volumes = {v["name"] for v in pod["volumes"]}
            for c in pod["initContainers"] + pod["containers"]:
                for m in c.get("volumeMounts", []):
                    self.assertIn(m["name"], volumes, c["name"])

    def test_sidecar_env_names_settings(self):
        settings = sidecar_settings()
        self.assertIn("WORKER_ID", settings)
        for _, docs, _, pod in self.for_each():
            names = {e["name"] for e in pod["initContainers"][0]["env"]}
            for doc in docs:
                if doc["kind"] == "ConfigMap":
                    names |= set(doc["data"])
            self.assertEqual(names - settings, set())

    def test_dev_uses_the_embedded_store(self):
        docs = render("dev")
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        env = {e["name"] for e in pod["initContainers"][0]["env"]}
        self.assertNotIn("GITHUB_OWNER", env)
        self.assertFalse([d for d in docs if d["kind"] == "ConfigMap"])
        self.assertEqual(one(docs, "Deployment")["spec"]["replicas"], 1)
        data = [m for m in pod["initContainers"][0]["volumeMounts"]
                if m["mountPath"] == "/var/lib/task-sentinel"]
        self.assertEqual(len(data), 1)

    def test_github_settings_from_a_configmap_and_credential_from_a_secret(self):
        docs = render("github")
        config = one(docs, "ConfigMap")
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        sidecar = pod["initContainers"][0]
        self.assertIn({"configMapRef": {"name": config["metadata"]["name"]}},
                      sidecar["envFrom"])
        for key in ("GITHUB_OWNER", "GITHUB_REPO"):
            self.assertIn(key, config["data"])
        # The token is a file from a Secret (rotation without a restart), never a literal.
        token_file = config["data"]["GITHUB_TOKEN_FILE"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = [m for m in sidecar["volumeMounts"]
                  if token_file.startswith(m["mountPath"] + "/")]
        self.assertEqual(len(mounts), 1)
        self.assertIn("secret", volumes[mounts[0]["name"]])
        env = {e["name"] for e in sidecar["env"]}
        self.assertNotIn("GITHUB_TOKEN", env)
        self.assertNotIn("GITHUB_TOKEN", config["data"])


class DashboardTest(unittest.TestCase):
    def test_every_query_names_metrics_the_sidecar_exports(self):
        import json
        with open(os.path.join(K8S, "grafana-dashboard.json")) as f:
            dashboard = json.load(f)
        with open(os.path.join(ROOT, "docs/observability.md")) as f:
            documented = set(re.findall(r"^\| `(tasksentinel_\w+)`", f.read(), re.M))
        self.assertIn("tasksentinel_task_duration_seconds", documented)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 10)
        for expr in exprs:
            for name in re.findall(r"tasksentinel_\w+", expr):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertIn(base, documented, expr)


if __name__ == "__main__":
    unittest.main()
