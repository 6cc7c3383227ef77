#!/usr/bin/env bash
# Runs the README's demo ("Demo: several sidecars, one (local) GitHub") as a user pasting it
# would: the block is taken from README.md as it is, with three changes only: the `bazel build`
# line is dropped (the binaries are this test's runfiles, reached through a `bazel-bin` link),
# the ports 9999 and 5005N become free-ish random ones (tests run side by side), and /tmp/
# becomes the test's own directory. The block runs under `bash -e`, so any failing command fails
# the test; then the output is checked for what the README says happens, and the sidecars' logs
# for the token.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

ws="${TEST_SRCDIR}/${TEST_WORKSPACE}"
work="${TEST_TMPDIR}/demo"
mkdir -p "$work"
ln -sfn "$ws" "$work/bazel-bin"

# The block: from the demo's heading to the end of its first ```sh fence.
block=$(awk '/^## Demo: several sidecars/ {in_demo=1}
             in_demo && /^```sh$/ {in_block=1; next}
             in_block && /^```$/ {exit}
             in_block {print}' "$ws/README.md")
[ -n "$block" ] || fail "no demo block in README.md"
grep -q '^bazel build ' <<<"$block" || fail "the block no longer starts with bazel build"

hub_port=$((20000 + RANDOM % 20000))
prefix=$((3000 + RANDOM % 3000))   # sidecars on ${prefix}1..${prefix}3
script="$work/demo.sh"
{
  echo 'trap '"'"'kill $(jobs -p) 2>/dev/null || true'"'"' EXIT'
  grep -v '^bazel build ' <<<"$block" |
    sed -e "s/9999/${hub_port}/g" -e "s/5005/${prefix}/g" -e "s#/tmp/#${work}/#g"
} >"$script"
echo "--- running"; cat "$script"

cd "$work"
out="$work/out.txt"
if ! timeout 120 bash -e "$script" >"$out" 2>&1; then
  cat "$out"; for f in "$work"/sentinel-worker-*.log; do echo "--- $f"; cat "$f"; done
  fail "the demo block failed"
fi
echo "--- output"; cat "$out"

[ "$(grep -c '^SERVING$' "$out")" -eq 3 ] || fail "not three SERVING lines"
grep -Eq '^title +first task$' "$out" || fail "task create did not print the task"
grep -Eq '^worker +worker-2$' "$out" || fail "worker-2 did not take the task"
grep -Eq '^state +IN_PROGRESS$' "$out" || fail "the task is not in progress"
for i in 1 2 3; do grep -Eq "^worker-$i +" "$out" || fail "workers does not list worker-$i"; done
grep -q '"counts"' "$out" || fail "no fakehub log"

for i in 1 2 3; do
  log="$work/sentinel-worker-$i.log"
  grep -q '"action":"started"' "$log" || fail "worker-$i logged no start"
  # GITHUB_TOKEN=demo: the token never reaches a log line.
  ! grep -q 'demo' "$log" || fail "worker-$i's log contains the token"
done
echo PASS
