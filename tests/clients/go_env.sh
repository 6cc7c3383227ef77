#!/usr/bin/env bash
# Sourced by the tests that build Go code against clients/go: `go_env ROOT DIR` lays out a GOPATH
# in DIR with the package tasksentinel/clients/go (its sources and generated stubs, from the
# runfiles tree ROOT) and sets the environment to build offline in GOPATH mode on Debian's Go
# packages (/usr/share/gocode: golang-google-grpc-dev, golang-google-protobuf-dev, ...).
# The Go build cache is shared between runs (content-addressed, safe for concurrent use): a cold
# one means compiling gRPC, over a minute on 2 cores.

go_env() {
  local root=$1 dir=$2
  local pkg="${dir}/src/tasksentinel/clients/go"
  if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/google.golang.org/grpc ]; then
    echo "go_env: Go or Debian's golang-google-grpc-dev is missing: run scripts/setup.sh" >&2
    return 1
  fi
  mkdir -p "${pkg}/sentinelpb"
  cp -L "${root}"/clients/go/*.go "${pkg}/"
  cp -L "${root}"/clients/go/sentinelpb/*.go "${pkg}/sentinelpb/"
  export GOPATH="${dir}:/usr/share/gocode"
  export GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0
  export GOCACHE="${TASKSENTINEL_GOCACHE:-/tmp/tasksentinel-go-build-cache}"
  if ! mkdir -p "$GOCACHE" 2>/dev/null || [ ! -w "$GOCACHE" ]; then
    export GOCACHE="${dir}/cache"
  fi
  export HOME="${HOME:-$dir}"
  GO_PKG_DIR="$pkg"
}
