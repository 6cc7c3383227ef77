#!/usr/bin/env bash
# One benchmark command (issue #14): installs etcd-server if missing (Debian's, for the etcd
# rows), builds the sidecar, the bare echo server, the load generator and fakehub optimised
# (-c opt), and runs the matrix (bench/run_matrix.py): 1/8/64 closed-loop callers against echo,
# GetMemory, SetMemory, the lock pair, the task life and etcd Range/Put, server and load
# generator pinned to separate cores, 3 x 5 s each; then the GitHub backend's request costs.
# Prints the table (bench/README.md keeps the latest). Any flag is passed to run_matrix.py, e.g.
#   bench/run.sh --reps=5 --seconds=10
#   bench/run.sh --callers=1,8 --ops=echo,get --github=0
# Takes about 11 minutes after the build (63 runs of 6 s, then ~3 minutes for GitHub).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcd >/dev/null 2>&1; then
  echo "bench: installing etcd-server (Debian's etcd 3.4) for the etcd rows" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if ! { $SUDO apt-get install -y -q --no-install-recommends etcd-server >&2 ||
         { $SUDO apt-get update -q >&2 &&
           $SUDO apt-get install -y -q --no-install-recommends etcd-server >&2; }; }; then
    echo "bench: etcd-server could not be installed; the etcd rows are left out" >&2
  fi
fi

TARGETS=(//bench:echo_server //bench:load_gen //service:sentinel //tests/fakehub:fakehub)
bazel build -c opt "${TARGETS[@]}" >&2
BIN_DIR="$(bazel info -c opt bazel-bin 2>/dev/null)"

echo "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "load before the run: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
exec /usr/bin/python3 bench/run_matrix.py --bin_dir="$BIN_DIR" "$@"
