#!/usr/bin/env bash
# Runs the Python client's tests (python_client_test.py) with Debian's python3, the package and
# its generated stubs from the runfiles, against the real sidecar binary.
set -euo pipefail
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
export PYTHONPATH="${root}/clients/python"
export SENTINEL_BIN="${root}/service/sentinel"
exec /usr/bin/python3 -m unittest -v "${root}/tests/clients/python_client_test.py" 2>&1
