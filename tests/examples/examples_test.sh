#!/usr/bin/env bash
# Runs each example worker (examples/) against a real sidecar: two tasks created with
# sentinelctl, the worker run until the queue is empty, both results checked.
set -euo pipefail
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
sentinel="${root}/service/sentinel"
ctl="${root}/clients/cli/sentinelctl"
tmp="${TEST_TMPDIR}/examples"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# env_for NAME: the environment of a sidecar for example NAME, on its own data directory.
env_for() {
  echo "WORKER_ID=worker-$1 SENTINEL_DATA_DIR=${tmp}/$1 SENTINEL_HTTP_ADDR= SENTINEL_POLL_INTERVAL_MS=10 HEARTBEAT_INTERVAL_MS=200"
}

# create_tasks ADDR: two tasks; prints their ids.
create_tasks() {
  for body in "hello" "task sentinel"; do
    "$ctl" --addr="$1" task create "greet" --body="$body" --json | sed -E 's/.*"id":"([^"]+)".*/\1/'
  done
}

# check ADDR ID EXPECTED: the task is done with result EXPECTED.
check() {
  local json
  json=$("$ctl" --addr="$1" task get "$2" --json)
  if ! grep -q "\"state\":\"TASK_STATE_DONE\"" <<<"$json" || ! grep -q "\"result\":\"$3\"" <<<"$json"; then
    echo "FAIL ($example): task $2 is not done with result \"$3\": $json" >&2
    exit 1
  fi
}

run_example() {  # NAME COMMAND...: with a sidecar serving, runs COMMAND as the worker.
  example=$1; shift
  mkdir -p "${tmp}/${example}"
  local addr="127.0.0.1:$(free_port)"
  env $(env_for "$example") SENTINEL_GRPC_ADDR="$addr" "$sentinel" 2>"${tmp}/${example}.log" &
  pids+=($!)
  for _ in $(seq 100); do "$ctl" --addr="$addr" health >/dev/null 2>&1 && break; sleep 0.1; done
  mapfile -t ids < <(create_tasks "$addr")
  SENTINEL_ADDR="$addr" "$@"
  check "$addr" "${ids[0]}" "HELLO"
  check "$addr" "${ids[1]}" "TASK SENTINEL"
  echo "ok: $example"
}

run_example cpp "${root}/examples/cpp/worker"
PYTHONPATH="${root}/clients/python" run_example python /usr/bin/python3 "${root}/examples/python/worker.py"
# Node: from the real source tree, where clients/node/node_modules is (npm ci, scripts/setup.sh).
node_example="$(readlink -f "${root}/examples/node/worker.js")"
TASKSENTINEL_PROTO_DIR="${root}/proto" run_example node node "$node_example"

# Go: built offline in GOPATH mode against clients/go (tests/clients/go_env.sh).
(
  source "${root}/tests/clients/go_env.sh"
  go_env "$root" "${tmp}/gopath"
  mkdir -p "${tmp}/gopath/src/example"
  cp -L "${root}/examples/go/worker.go" "${tmp}/gopath/src/example/"
  cd "${tmp}/gopath/src/example" && go build -o "${tmp}/go-worker" .
)
run_example go "${tmp}/go-worker"

# Shell: the sidecar itself runs the script per task (sentinel exec), then exits when idle.
example=shell
mkdir -p "${tmp}/shell-producer" "${tmp}/shell"
producer="127.0.0.1:$(free_port)"
env $(env_for shell) WORKER_ID=producer SENTINEL_GRPC_ADDR="$producer" "$sentinel" 2>"${tmp}/producer.log" &
pids+=($!)
for _ in $(seq 100); do "$ctl" --addr="$producer" health >/dev/null 2>&1 && break; sleep 0.1; done
mapfile -t ids < <(create_tasks "$producer")
env $(env_for shell) SENTINEL_GRPC_ADDR="127.0.0.1:$(free_port)" \
  "$sentinel" exec --until-idle -- "${root}/examples/shell/worker.sh" 2>"${tmp}/shell.log"
check "$producer" "${ids[0]}" "HELLO"
check "$producer" "${ids[1]}" "TASK SENTINEL"
echo "ok: shell"
