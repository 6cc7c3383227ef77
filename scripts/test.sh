#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite (every Bazel test target).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec bazel test //... "$@"
