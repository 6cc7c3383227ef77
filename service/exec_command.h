// `sentinel exec`: the sidecar works its own queue for a process that speaks no gRPC (a shell
// script, a CI step). It serves as usual and, next to that, pulls tasks for its own worker and
// runs one command per task:
//
//   sentinel exec [--until-idle [--idle-wait DURATION]] [--max-tasks N] [--grace DURATION]
//                 -- CMD ARGS...
//
// Up to WORKER_MAX_TASKS commands run at once. Each gets the task in its environment
// (SENTINEL_TASK_ID, SENTINEL_TASK_TITLE, SENTINEL_TASK_TYPE, SENTINEL_TASK_ATTEMPT,
// SENTINEL_FENCING_TOKEN, and SENTINEL_ADDR, this sidecar's gRPC address) and the task's body
// on stdin. Exit status 0 completes the task with the tail of stdout as its result; any other
// status (or a signal) fails it with the tail of stderr (retryable: the retry policy applies).
// The worker heartbeats while commands run; a command whose task lock is lost is stopped
// (SIGTERM to its process group, SIGKILL a second later) and its task left to be retried.
// On SIGTERM/SIGINT no new task is taken; running commands get `--grace` (default 10s) to
// finish, then are stopped and their tasks handed back (their locks are released on shutdown).
// --until-idle exits 0 once the queue is empty: a NextTask that waited --idle-wait (default 1s)
// found no task (on GitHub, where a task may be left to the worker the plan gives it for a few
// poll intervals, give it longer: 60s); --max-tasks N exits after N tasks.
//
// Thread safety: RunExec is called once, from the thread that waits for signals.
#ifndef TASK_SENTINEL_SERVICE_EXEC_COMMAND_H_
#define TASK_SENTINEL_SERVICE_EXEC_COMMAND_H_

#include <signal.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/config.h"
#include "service/server.h"

namespace tasksentinel {

struct ExecOptions {
  bool until_idle = false;
  int max_tasks = 0;  // 0: no limit
  absl::Duration grace = absl::Seconds(10);
  absl::Duration idle_wait = absl::Seconds(1);  // each NextTask's wait for a task
  std::vector<std::string> command;  // CMD ARGS...
};

// Whether `args` (argv without the program name) asks for exec mode (its first word is "exec").
bool IsExecCommand(const std::vector<std::string>& args);

// Parses "exec [--until-idle] [--idle-wait D] [--max-tasks N] [--grace D] [sidecar flags...]
// -- CMD ARGS..." (each value also as --name=value) and removes the exec words from `args`,
// leaving the sidecar's own flags. INVALID_ARGUMENT for a missing command or a bad value.
absl::StatusOr<ExecOptions> ParseExecArgs(std::vector<std::string>* args);

// Runs the exec loop against `server` (started) until it ends or a signal of `signals` (blocked
// in every thread) arrives; returns the process's exit status after shutting the server down.
int RunExec(const ExecOptions& options, const Config& config, SentinelServer* server,
            const sigset_t& signals);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_EXEC_COMMAND_H_
