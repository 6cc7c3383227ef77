#!/usr/bin/env bash
# Installs what building and testing Task Sentinel needs on Debian 12 (bookworm), if missing.
# Everything comes from Debian's packages; the Bazel build itself downloads nothing.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap bazel-platforms
  g++ pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev nlohmann-json3-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # //tests/readme (the README's demo uses curl); //tests/deploy (python3-yaml).
  curl python3-yaml
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
