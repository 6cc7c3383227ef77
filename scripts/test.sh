#!/usr/bin/env bash
# Installs what is missing, lints the API and runs the whole test suite (every Bazel test
# target; the Python and Node clients' tests among them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The API against buf's STANDARD lint rules (buf.yaml); breaking changes against the previous
# commit once v1 is released (tagged v1.*).
node_modules/.bin/buf lint
if git describe --tags --match 'v1.*' >/dev/null 2>&1 && git rev-parse -q --verify HEAD~1 >/dev/null; then
  node_modules/.bin/buf breaking --against '.git#ref=HEAD~1'
fi
exec bazel test //... "$@"
