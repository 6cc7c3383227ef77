#!/bin/sh
# The example worker in shell: `sentinel exec --until-idle -- examples/shell/worker.sh` runs it
# once per task, with the task's body on stdin; what it prints is the task's result.
tr '[:lower:]' '[:upper:]'
