#!/usr/bin/env bash
# A smoke-sized run of the benchmark matrix (bench/run_matrix.py): every sidecar row and the echo
# row at 1 and 2 callers, one 1 s run each, the etcd rows when etcd is installed (they are left
# out otherwise: the test needs no etcd), and the GitHub costs with 1 task, 10 SetMemory, a 2 s
# idle window and 7 s for each memory flush (MEMORY_SYNC_INTERVAL_MS is 5 s); then
# check_table.py checks the table's shape and that every throughput is above zero. Timings are
# not asserted. About a minute.
set -euo pipefail
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
out="${TEST_TMPDIR}/table.md"
/usr/bin/python3 "${root}/bench/run_matrix.py" --bin_dir="${root}" \
  --callers=1,2 --reps=1 --seconds=1 --warmup=0.2 \
  --github_tasks=1 --github_sets=10 --github_idle_seconds=2 --github_flush_seconds=7 \
  --json="${TEST_TMPDIR}/results.json" >"$out"
cat "$out"
expect_etcd=0
if command -v etcd >/dev/null 2>&1; then expect_etcd=1; fi
exec /usr/bin/python3 "${root}/tests/bench/check_table.py" --table="$out" --callers=1,2 \
  --etcd="$expect_etcd"
