#!/usr/bin/python3
"""The benchmark matrix of issue #14 (bench/run.sh builds the binaries and runs this).

For every operation and caller count it starts a fresh server (the sidecar on a fresh embedded
store, the bare echo server, or a fresh single-node etcd), pinned to one core, and runs
bench/load_gen pinned to another, --reps times; then it prints a table of the medians (with the
range over the repetitions and the median p99), the ratios to echo and to etcd, the sidecar's
start-up time and resident memory, and the GitHub backend's request costs counted from fakehub's
request log. Only the Python standard library is used.

  run_matrix.py --bin_dir=DIR [--etcd=/usr/bin/etcd] [--callers=1,8,64] [--reps=3]
                [--seconds=5] [--ops=echo,get,...] [--json=out.json]

DIR holds bench/echo_server, bench/load_gen, service/sentinel and tests/fakehub/fakehub (a
bazel-bin directory). The exit status is non-zero when a run failed to produce a result.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

# Rows of the table, in order: (op, label, the etcd op it is compared with).
ROWS = [
    ("echo", "echo (the ceiling)", None),
    ("get", "GetMemory", "etcd_range"),
    ("etcd_range", "etcd Range", None),
    ("set", "SetMemory", "etcd_put"),
    ("etcd_put", "etcd Put", None),
    ("lock", "AcquireLock+ReleaseLock", None),
    ("task", "CreateTask+NextTask+CompleteTask", None),
]
ETCD_OPS = ("etcd_range", "etcd_put")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout):
    """Seconds until 127.0.0.1:port accepts a connection; None if `proc` exits or time runs out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            return None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return time.monotonic() - start
        except OSError:
            time.sleep(0.002)
    return None


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Pinning:
    """taskset prefixes: the server on one core, the load generator on another."""

    def __init__(self, enabled):
        cores = sorted(os.sched_getaffinity(0))
        self.enabled = enabled and shutil.which("taskset") is not None and len(cores) >= 2
        self.server_core = cores[0]
        self.client_core = cores[-1]

    def server(self, argv):
        return (["taskset", "-c", str(self.server_core)] + argv) if self.enabled else argv

    def client(self, argv):
        return (["taskset", "-c", str(self.client_core)] + argv) if self.enabled else argv

    def describe(self):
        if not self.enabled:
            return "not pinned (taskset missing or fewer than 2 cores)"
        return f"server on core {self.server_core}, load generator on core {self.client_core}"


class Server:
    """One server process under test, stopped (SIGTERM, then SIGKILL) by stop()."""

    def __init__(self, argv, env=None, workdir=None, ready=None):
        self.workdir = workdir
        self.stderr_path = os.path.join(workdir, "stderr.log")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)
        self.ready = ready

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()

    def tail(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""


class Matrix:
    def __init__(self, args):
        self.args = args
        self.pin = Pinning(not args.no_pin)
        self.tmp = tempfile.mkdtemp(prefix="ts-bench-")
        self.startup_s = []   # the sidecar's start-up to listening, each start
        self.rss_kb = []      # the sidecar's RSS after each load
        self.failures = []

    def binary(self, rel):
        return os.path.join(self.args.bin_dir, rel)

    def sidecar_env(self, data_dir, port, extra=None):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.tmp,
            "WORKER_ID": "bench",
            "SENTINEL_GRPC_ADDR": f"127.0.0.1:{port}",
            "SENTINEL_HTTP_ADDR": "",
            "SENTINEL_DATA_DIR": data_dir,
            # Up to 64 callers each hold a task at once; the worker's lease outlasts any run.
            "WORKER_MAX_TASKS": "1000",
            "STALE_WORKER_THRESHOLD_MS": "3600000",
        }
        env.update(self.args.sidecar_env)
        env.update(extra or {})
        return env

    def start_server(self, op, workdir):
        """Starts the server `op` runs against: (Server, port)."""
        port = free_port()
        if op == "echo":
            argv = [self.binary("bench/echo_server"), f"--port={port}"] + self.args.echo_args
            return Server(self.pin.server(argv), workdir=workdir), port
        if op in ETCD_OPS:
            peer = free_port()
            argv = [self.args.etcd, "--name=bench", f"--data-dir={workdir}/etcd",
                    f"--listen-client-urls=http://127.0.0.1:{port}",
                    f"--advertise-client-urls=http://127.0.0.1:{port}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                    f"--initial-cluster=bench=http://127.0.0.1:{peer}",
                    "--logger=zap", "--log-level=error"]
            server = Server(self.pin.server(argv), workdir=workdir)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and server.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health",
                                                timeout=1) as r:
                        if json.load(r).get("health") == "true":
                            return server, port
                except OSError:
                    pass
                time.sleep(0.05)
            raise RuntimeError(f"etcd did not become healthy: {server.tail()}")
        env = self.sidecar_env(os.path.join(workdir, "data"), port)
        server = Server(self.pin.server([self.binary("service/sentinel")]), env=env,
                        workdir=workdir)
        took = wait_listening(port, server.proc, 30)
        if took is None:
            raise RuntimeError(f"the sidecar did not start: {server.tail()}")
        self.startup_s.append(took)
        return server, port

    def load(self, op, port, callers, seconds=None, ops=None, warmup=None):
        argv = [self.binary("bench/load_gen"), f"--target=127.0.0.1:{port}", f"--op={op}",
                f"--callers={callers}", f"--value_bytes={self.args.value_bytes}"]
        if ops is not None:
            argv.append(f"--ops={ops}")
        else:
            argv += [f"--seconds={seconds}", f"--warmup_seconds={warmup}"]
        out = subprocess.run(self.pin.client(argv), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=600)
        if out.returncode != 0 or not out.stdout.strip():
            raise RuntimeError(f"load_gen {op} x{callers}: exit {out.returncode}: "
                               f"{out.stderr.decode(errors='replace')[-1000:]}")
        result = json.loads(out.stdout.decode().strip().splitlines()[-1])
        if result["errors"]:
            log(f"  {op} x{callers}: {result['errors']} errors: "
                f"{out.stderr.decode(errors='replace')[-500:]}")
        return result

    def run_cell(self, op, callers):
        """--reps runs of `op` with `callers` callers, each against a fresh server."""
        results = []
        for rep in range(self.args.reps):
            workdir = tempfile.mkdtemp(prefix=f"{op}-{callers}-{rep}-", dir=self.tmp)
            server = None
            try:
                server, port = self.start_server(op, workdir)
                r = self.load(op, port, callers, seconds=self.args.seconds,
                              warmup=self.args.warmup)
                if op not in ("echo",) + ETCD_OPS:
                    self.rss_kb.append(rss_kb(server.proc.pid))
                results.append(r)
                log(f"  {op:10s} x{callers:<3d} rep {rep + 1}: {r['ops_per_s']:>9.0f} op/s, "
                    f"p99 {r['p99_ms']:.2f} ms, errors {r['errors']}")
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                self.failures.append(f"{op} x{callers} rep {rep + 1}: {e}")
                log(f"  FAILED {op} x{callers} rep {rep + 1}: {e}")
            finally:
                if server is not None:
                    server.stop()
                shutil.rmtree(workdir, ignore_errors=True)
        return results

    def github_costs(self):
        """Requests to fakehub per task, per idle worker-hour and per 100 SetMemory."""
        a = self.args
        workdir = tempfile.mkdtemp(prefix="github-", dir=self.tmp)
        hub_err = open(os.path.join(workdir, "fakehub.log"), "wb")
        hub = subprocess.Popen([self.binary("tests/fakehub/fakehub"), "--port=0",
                                "--owner=bench", "--repo=tasks", "--token=bench"],
                               stdout=subprocess.PIPE, stderr=hub_err)
        sidecar = None
        try:
            line = hub.stdout.readline().decode()
            if "listening on " not in line:
                raise RuntimeError(f"fakehub did not start: {line!r}")
            base = line.strip().split("listening on ")[1]

            def hub_log(method="GET"):
                req = urllib.request.Request(f"{base}/_fakehub/log?limit=0", method=method)
                with urllib.request.urlopen(req, timeout=10) as r:
                    return json.load(r) if method == "GET" else None

            port = free_port()
            env = self.sidecar_env(os.path.join(workdir, "data"), port, {
                "GITHUB_API_URL": base, "GITHUB_OWNER": "bench", "GITHUB_REPO": "tasks",
                "GITHUB_TOKEN": "bench"})
            # Defaults otherwise, but the lease: the bench's worker is the only one.
            env.pop("STALE_WORKER_THRESHOLD_MS")
            sidecar = Server([self.binary("service/sentinel")], env=env, workdir=workdir)
            if wait_listening(port, sidecar.proc, 60) is None:
                raise RuntimeError(f"the GitHub sidecar did not start: {sidecar.tail()}")
            time.sleep(1)

            def counted(fn):
                hub_log("DELETE")
                t0 = time.monotonic()
                fn()
                elapsed = time.monotonic() - t0
                c = hub_log()["counts"]
                return {"total": c["total"], "not_modified": c["not_modified"],
                        "writes": c["content_creating"], "seconds": elapsed}

            idle = counted(lambda: self.load("idle", port, 1, seconds=a.github_idle_seconds,
                                             warmup=0))

            def minus_idle(c, per):
                """c's counts less the idle rate over c's window (idle writes stay counted:
                they are rare, and a write in the window may be the operations' own), per
                `per` operations; the total stays at least the 304s plus the writes."""
                scale = c["seconds"] / idle["seconds"] if idle["seconds"] > 0 else 0
                out = {k: max(0.0, c[k] - idle[k] * scale) for k in ("total", "not_modified")}
                out["writes"] = float(c["writes"])
                out["total"] = max(out["total"], out["not_modified"] + out["writes"])
                return {k: v / per for k, v in out.items()}

            tasks = counted(lambda: self.load("task", port, 1, ops=a.github_tasks))
            time.sleep(a.github_flush_seconds)  # writes queued by the lives land
            sets = counted(lambda: (self.load("set", port, 1, ops=a.github_sets),
                                    time.sleep(a.github_flush_seconds)))
            hour = 3600.0 / idle["seconds"]
            return {
                "idle_seconds": idle["seconds"],
                "per_task": minus_idle(tasks, a.github_tasks),
                "per_idle_hour": {k: idle[k] * hour for k in ("total", "not_modified", "writes")},
                "per_100_sets": minus_idle(sets, a.github_sets / 100.0),
                "tasks": a.github_tasks,
                "sets": a.github_sets,
            }
        finally:
            if sidecar is not None:
                sidecar.stop()
            hub.terminate()
            hub.wait()
            hub_err.close()
            shutil.rmtree(workdir, ignore_errors=True)


def fsync_latency_ms(directory, n=200):
    """Median and p99 of appending 4 KiB to a file in `directory` and fdatasync-ing it: the floor
    under every durable write's latency on this disk (a closed-loop caller waits for at least one
    per acknowledged write)."""
    path = os.path.join(directory, "fsync-probe")
    took = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"x" * 4096
        for i in range(n):
            t = time.monotonic()
            os.pwrite(fd, block, i * 4096)
            os.fdatasync(fd)
            took.append((time.monotonic() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    took.sort()
    return {"median": statistics.median(took), "p99": took[int(len(took) * 0.99) - 1]}


def exec_only_ms(binary, n=10):
    """Median time to run `binary --version`: loading its shared libraries and static
    initialisation, the part of start-up before any of the sidecar's own work."""
    took = []
    for _ in range(n):
        t = time.monotonic()
        subprocess.run([binary, "--version"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        took.append((time.monotonic() - t) * 1000)
    return statistics.median(took)


def fmt_int(x):
    return f"{x:,.0f}"


def fmt_ms(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def summarise(results):
    ops = [r["ops_per_s"] for r in results]
    p99 = [r["p99_ms"] for r in results]
    return {"median": statistics.median(ops), "min": min(ops), "max": max(ops),
            "p99": statistics.median(p99), "errors": sum(r["errors"] for r in results),
            "runs": results}


def render(args, pin, cells, extra):
    callers = args.callers
    rows = [r for r in ROWS if r[0] in args.ops]
    out = []
    head = "| op/s [range] (p99 ms) | " + " | ".join(
        f"{c} caller{'s' if c != 1 else ''}" for c in callers) + " |"
    out += [head, "|---|" + "---|" * len(callers)]
    for op, label, _ in rows:
        line = f"| {label} |"
        for c in callers:
            s = cells.get((op, c))
            if s is None:
                line += " failed |"
                continue
            err = f", {s['errors']} errors" if s["errors"] else ""
            line += (f" {fmt_int(s['median'])} [{fmt_int(s['min'])}–{fmt_int(s['max'])}]"
                     f" ({fmt_ms(s['p99'])}{err}) |")
        out.append(line)
    out.append("")
    out += ["| ratio of medians (p99 ratio) | " + " | ".join(
        f"{c} caller{'s' if c != 1 else ''}" for c in callers) + " |",
        "|---|" + "---|" * len(callers)]
    for op, label, etcd_op in rows:
        if op == "echo":
            continue
        line = f"| {label} |"
        for c in callers:
            s, e = cells.get((op, c)), cells.get(("echo", c))
            parts = []
            if s and e and e["median"] > 0:
                parts.append(f"{s['median'] / e['median']:.2f}× echo "
                             f"({s['p99'] / e['p99']:.1f}×)" if e["p99"] > 0 else "")
            k = cells.get((etcd_op, c)) if etcd_op else None
            if s and k and k["median"] > 0:
                parts.append(f"{s['median'] / k['median']:.2f}× etcd")
            line += " " + (", ".join(p for p in parts if p) or "—") + " |"
        out.append(line)
    out.append("")
    out.append(f"Each cell: median of {args.reps} × {args.seconds:g} s runs (after "
               f"{args.warmup:g} s of warm-up) of closed-loop callers, each caller a thread "
               f"with its own connection; {args.value_bytes}-byte values; a fresh server per "
               f"run; {pin.describe()}.")
    if extra.get("startup_ms"):
        st = extra["startup_ms"]
        out.append(f"Sidecar start-up to listening: median {st['median']:.0f} ms "
                   f"(max {st['max']:.0f} ms, {st['n']} starts); RSS after the load: "
                   f"median {extra['rss_mb']['median']:.1f} MiB, "
                   f"max {extra['rss_mb']['max']:.1f} MiB.")
    if extra.get("exec_ms") is not None:
        out.append(f"Of start-up, `sentinel --version` alone (loading its "
                   f"{extra.get('shared_libs', '?')} shared libraries, static initialisation) "
                   f"takes median {extra['exec_ms']:.0f} ms.")
    if extra.get("fsync_ms"):
        f = extra["fsync_ms"]
        out.append(f"The disk: appending 4 KiB and fdatasync-ing it takes median "
                   f"{f['median']:.2f} ms (p99 {f['p99']:.2f} ms) before the run and "
                   f"{f['after_median']:.2f} ms after: every acknowledged write (SetMemory, "
                   f"each call of the lock pair and the task life, etcd Put) waits for at least "
                   f"one such sync.")
    gh = extra.get("github")
    if gh:
        out += ["",
                "| GitHub backend (fakehub's request log) | requests | of them 304 (free) "
                "| writes |",
                "|---|---|---|---|"]
        for key, label in (("per_task", "per task (CreateTask+NextTask+CompleteTask)"),
                           ("per_idle_hour", "per idle worker-hour"),
                           ("per_100_sets", "per 100 SetMemory")):
            v = gh[key]
            out.append(f"| {label} | {v['total']:.1f} | {v['not_modified']:.1f} | "
                       f"{v['writes']:.1f} |")
        out.append("")
        out.append(f"Defaults but the addresses; {gh['tasks']} task lives and {gh['sets']} "
                   f"SetMemory (one caller), each less the idle rate over its window; idle: a "
                   f"worker heartbeating every 30 s and waiting in NextTask, "
                   f"{gh['idle_seconds']:.0f} s scaled to an hour.")
    # Notes wrapped at 100 columns (so that the table pastes into bench/README.md as is).
    return "\n".join(line if line.startswith("|") else "\n".join(
        textwrap.wrap(line, 100, break_on_hyphens=False)) for line in out)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin_dir", required=True)
    p.add_argument("--etcd", default=shutil.which("etcd") or "",
                   help="etcd binary; empty leaves out the etcd rows")
    p.add_argument("--callers", default="1,8,64")
    p.add_argument("--ops", default=",".join(r[0] for r in ROWS))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--value_bytes", type=int, default=128)
    p.add_argument("--echo_args", default="",
                   help="extra echo_server flags, e.g. '--mode=sync --max_pollers=4'")
    p.add_argument("--sidecar_env", default="",
                   help="more settings for the sidecar, e.g. 'SENTINEL_LOG_LEVEL=warn' "
                        "(space-separated KEY=VALUE)")
    p.add_argument("--no_pin", action="store_true")
    p.add_argument("--github", type=int, default=1, help="0 leaves out the GitHub costs")
    p.add_argument("--github_tasks", type=int, default=10)
    p.add_argument("--github_sets", type=int, default=100)
    p.add_argument("--github_idle_seconds", type=float, default=120)
    p.add_argument("--github_flush_seconds", type=float, default=7,
                   help="wait after the writes so that buffered ones are flushed (counted)")
    p.add_argument("--json", default="", help="also write every result here")
    args = p.parse_args()
    args.callers = [int(c) for c in args.callers.split(",") if c]
    args.ops = [o for o in args.ops.split(",") if o]
    args.echo_args = args.echo_args.split()
    args.sidecar_env = dict(kv.split("=", 1) for kv in args.sidecar_env.split())
    if not args.etcd or not os.path.exists(args.etcd):
        if any(o in ETCD_OPS for o in args.ops):
            log("etcd not found: leaving out the etcd rows")
        args.ops = [o for o in args.ops if o not in ETCD_OPS]

    m = Matrix(args)
    log(f"bench: {m.pin.describe()}; scratch {m.tmp}")
    cells = {}
    extra = {}
    try:
        extra["fsync_ms"] = fsync_latency_ms(m.tmp)
        for op, _, _ in ROWS:
            if op not in args.ops:
                continue
            for c in args.callers:
                results = m.run_cell(op, c)
                if results:
                    cells[(op, c)] = summarise(results)
        after = fsync_latency_ms(m.tmp)
        extra["fsync_ms"]["after_median"] = after["median"]
        sentinel = m.binary("service/sentinel")
        extra["exec_ms"] = exec_only_ms(sentinel)
        try:
            ldd = subprocess.run(["ldd", sentinel], capture_output=True, text=True, check=False)
            extra["shared_libs"] = sum(1 for line in ldd.stdout.splitlines() if "=>" in line)
        except OSError:
            pass
        if m.startup_s:
            ms = [s * 1000 for s in m.startup_s]
            extra["startup_ms"] = {"median": statistics.median(ms), "max": max(ms),
                                   "n": len(ms)}
        if m.rss_kb:
            mb = [k / 1024 for k in m.rss_kb]
            extra["rss_mb"] = {"median": statistics.median(mb), "max": max(mb)}
        if args.github:
            try:
                extra["github"] = m.github_costs()
            except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as e:
                m.failures.append(f"github costs: {e}")
                log(f"FAILED github costs: {e}")
    finally:
        shutil.rmtree(m.tmp, ignore_errors=True)
    print(render(args, m.pin, cells, extra))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cells": {f"{k[0]}/{k[1]}": v for k, v in cells.items()},
                       "extra": extra, "failures": m.failures}, f, indent=1)
    if m.failures:
        log("failures:\n  " + "\n  ".join(m.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
