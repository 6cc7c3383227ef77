#!/usr/bin/env bash
# Runs the Node client's tests (clients/node/test, Node's test runner) and its type check against
# the real sidecar binary. The npm dependencies are those `scripts/setup.sh` installed with
# `npm ci` (clients/node/package-lock.json) next to the package's sources, found through the
# runfiles' links to them.
set -euo pipefail
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
pkg="$(dirname "$(readlink -f "${root}/clients/node/package.json")")"
if [ ! -d "${pkg}/node_modules/@grpc/grpc-js" ]; then
  echo "node_client_test: ${pkg}/node_modules is missing: run scripts/setup.sh (npm ci)" >&2
  exit 1
fi
export SENTINEL_BIN="${root}/service/sentinel"
export TASKSENTINEL_PROTO_DIR="${root}/proto"
cd "${pkg}"
node_modules/.bin/tsc --noEmit -p tsconfig.json
exec node --test test/
