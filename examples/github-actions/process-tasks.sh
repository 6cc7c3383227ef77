#!/usr/bin/env bash
# A worker loop for one sidecar: takes the next task (waiting up to IDLE_WAIT for one), runs
#   HANDLER TASK_ID TITLE
# and reports the result: complete on exit 0 (the handler's stdout, cut to 1,000 characters, is
# the result), a retryable failure otherwise. Stops when no task came within IDLE_WAIT.
#
#   SENTINELCTL  the sentinelctl binary (default: sentinelctl on PATH)
#   IDLE_WAIT    how long to wait for a task before stopping (default 60s)
# The sidecar's address comes from SENTINEL_GRPC_ADDR, as for sentinelctl.
set -euo pipefail

handler="${1:?usage: process-tasks.sh HANDLER}"
ctl="${SENTINELCTL:-sentinelctl}"
idle="${IDLE_WAIT:-60s}"

# The value of the "NAME  value" line NAME in sentinelctl's output.
field() { awk -v name="$1" '$1 == name { $1 = ""; sub(/^ +/, ""); print; exit }'; }

done_count=0
while true; do
  out=$("$ctl" task next --wait="$idle")
  if [ "$out" = "no task available" ]; then
    echo "process-tasks: idle for ${idle}; ${done_count} task(s) done" >&2
    exit 0
  fi
  id=$(field id <<<"$out")
  token=$(field token <<<"$out")
  title=$(field title <<<"$out")
  echo "process-tasks: task ${id} (${title})" >&2
  if result=$("$handler" "$id" "$title"); then
    "$ctl" task complete "$id" "$token" --result="${result:0:1000}" >/dev/null
  else
    "$ctl" task fail "$id" "$token" --error="handler exited $?" --retryable >/dev/null
  fi
  done_count=$((done_count + 1))
done
