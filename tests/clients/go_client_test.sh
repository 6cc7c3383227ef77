#!/usr/bin/env bash
# Runs the Go client's tests (clients/go/client_test.go, `go test`) and `go vet` against the
# real sidecar binary, the package built offline on Debian's Go packages (go_env.sh).
set -euo pipefail
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
source "${root}/tests/clients/go_env.sh"
go_env "$root" "${TEST_TMPDIR}/gopath"
export SENTINEL_BIN="${root}/service/sentinel"
cd "$GO_PKG_DIR"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "go_client_test: not gofmt-formatted: $unformatted" >&2
  exit 1
fi
go vet .
exec go test -count=1 -v . 2>&1
