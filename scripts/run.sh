#!/usr/bin/env bash
# Installs what is missing, builds the sidecar optimised (-c opt, stamped with the commit for
# `sentinel --version`) and runs it on the embedded store.
# Settings come from the environment (docs/configuration.md, or `sentinel --help`); extra
# arguments are passed on as flags, e.g. scripts/run.sh --worker_max_tasks=4
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
bazel build -c opt --define=SENTINEL_COMMIT="$commit" //service:sentinel
export SENTINEL_DATA_DIR="${SENTINEL_DATA_DIR:-$PWD/.task-sentinel}"
export WORKER_ID="${WORKER_ID:-$(hostname)}"
exec bazel-bin/service/sentinel "$@"
