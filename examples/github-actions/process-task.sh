#!/usr/bin/env bash
# The work of one task: replace with yours. Called as process-task.sh TASK_ID TITLE; its stdout
# is the task's result, a non-zero exit a (retryable) failure.
set -euo pipefail
echo "processed task $1: $2"
