#!/usr/bin/env bash
# Installs what building and testing Task Sentinel needs on Debian 12 (bookworm), if missing.
# Everything comes from Debian's packages, but for the npm packages pinned by the two
# package-lock.json files (buf for `buf lint`; the Node client's @grpc/grpc-js and TypeScript),
# which `npm ci` installs. The Bazel build itself downloads nothing.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap bazel-platforms
  g++ pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev nlohmann-json3-dev libcpp-httplib-dev
  rapidjson-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # //tests/readme (the README's demo uses curl); //tests/deploy (python3-yaml).
  curl python3-yaml
  # The Python client (clients/python) and its tests: Debian's python3 with gRPC and protobuf;
  # grpc_python_plugin (protobuf-compiler-grpc) generates its stubs.
  python3 python3-grpcio python3-protobuf
  # The Go client (clients/go), built offline in GOPATH mode on Debian's Go sources: gRPC 1.33,
  # protobuf (APIv2 1.28, and the 1.5 compatibility layer gRPC imports: named here, since gRPC's
  # dependency would otherwise settle for the 1.3 one, which predates APIv2 messages),
  # genproto (google.rpc ErrorInfo); protoc-gen-go and protoc-gen-go-grpc generate its stubs.
  golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev
  golang-google-genproto-dev protoc-gen-go protoc-gen-go-grpc
  # --config=fuzz (libFuzzer binaries); --config=asan/tsan use gcc's libasan/libubsan/libtsan.
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node.js and npm: the machine's own if present, else Debian's.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs npm" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi

# The pinned npm packages, exactly as the lock files say; node_modules/.lock-installed records the
# lock file it was installed from, so an unchanged one is not installed again.
for dir in . clients/node; do
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.lock-installed"; then
    echo "setup: npm ci in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error &&
      cp package-lock.json node_modules/.lock-installed)
  fi
done
