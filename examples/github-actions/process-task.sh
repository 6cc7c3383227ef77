#!/usr/bin/env bash
# The work of one task: replace with yours. `sentinel exec` runs it once per task with the task
# in its environment (SENTINEL_TASK_ID, SENTINEL_TASK_TITLE, SENTINEL_TASK_TYPE,
# SENTINEL_TASK_ATTEMPT, SENTINEL_FENCING_TOKEN) and the task's body on stdin. Its stdout is the
# task's result; a non-zero exit fails the task (retryable: the retry policy applies).
set -euo pipefail
body=$(cat)
echo "processed task ${SENTINEL_TASK_ID}: ${SENTINEL_TASK_TITLE} (${#body} bytes of body)"
