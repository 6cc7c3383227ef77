// Commands on the task queue: create a task, read one, take the next one for the sidecar's
// worker, and finish a taken task (complete or fail) with the fencing token it came with.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/cli/cli.h"
#include "clients/cli/flags.h"
#include "clients/cli/output.h"

namespace tasksentinel::cli {
namespace {

// Prints a response holding one task.
template <typename Response>
int PrintTaskResponse(const Invocation& inv, const Response& resp) {
  if (inv.json) return PrintJson(resp);
  PrintFields(TaskFields(resp.task()));
  return kExitOk;
}

// task create TITLE [--body=] [--type=] [--priority=] [--max-attempts=].
int RunCreate(Invocation& inv) {
  v1::CreateTaskRequest req;
  req.set_title(inv.args[0]);
  req.set_body(absl::GetFlag(FLAGS_body));
  req.set_type(absl::GetFlag(FLAGS_type));
  req.set_priority(absl::GetFlag(FLAGS_priority));
  req.set_max_attempts(absl::GetFlag(FLAGS_max_attempts));
  v1::CreateTaskResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::CreateTask, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  return PrintTaskResponse(inv, resp);
}

// task get ID.
int RunGet(Invocation& inv) {
  v1::GetTaskRequest req;
  req.set_task_id(inv.args[0]);
  v1::GetTaskResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::GetTask, req, &resp); !s.ok()) return RpcError(s);
  return PrintTaskResponse(inv, resp);
}

// task next [--types=a,b] [--wait=...]: "no task available" (exit 0) when none was handed out.
int RunNext(Invocation& inv) {
  v1::NextTaskRequest req;
  for (const std::string& type : absl::GetFlag(FLAGS_types)) req.add_task_types(type);
  const absl::Duration wait = absl::GetFlag(FLAGS_wait).value_or(absl::ZeroDuration());
  if (wait < absl::ZeroDuration() || wait == absl::InfiniteDuration()) {
    return UsageError(inv, "--wait must be a finite, non-negative duration");
  }
  ToProtoDuration(wait, req.mutable_wait_timeout());
  v1::NextTaskResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::NextTask, req, &resp, wait); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  if (!resp.has_task()) {
    std::printf("no task available\n");
    return kExitOk;
  }
  Fields f = TaskFields(resp.task());
  f.emplace_back("token", absl::StrCat(resp.lock().fencing_token()));
  f.emplace_back("lock_expires_at", FormatTime(resp.lock().expires_at()));
  PrintFields(f);
  return kExitOk;
}

// Parses the TOKEN argument (args[1]); false when it is not an unsigned integer.
bool Token(const Invocation& inv, uint64_t* token) {
  return absl::SimpleAtoi(inv.args[1], token);
}

// task complete ID TOKEN [--result=].
int RunComplete(Invocation& inv) {
  v1::CompleteTaskRequest req;
  req.set_task_id(inv.args[0]);
  uint64_t token;
  if (!Token(inv, &token)) return UsageError(inv, "TOKEN must be a number");
  req.set_fencing_token(token);
  req.set_result(absl::GetFlag(FLAGS_result));
  v1::CompleteTaskResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::CompleteTask, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  return PrintTaskResponse(inv, resp);
}

// task fail ID TOKEN --error=... [--retryable].
int RunFail(Invocation& inv) {
  v1::FailTaskRequest req;
  req.set_task_id(inv.args[0]);
  uint64_t token;
  if (!Token(inv, &token)) return UsageError(inv, "TOKEN must be a number");
  req.set_fencing_token(token);
  const std::optional<std::string> error = absl::GetFlag(FLAGS_error);
  if (!error.has_value() || error->empty()) return UsageError(inv, "--error is required");
  req.set_error(*error);
  req.set_retryable(absl::GetFlag(FLAGS_retryable));
  v1::FailTaskResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::FailTask, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  return PrintTaskResponse(inv, resp);
}

}  // namespace

std::vector<Command> TaskCommands() {
  return {
      {"task create", "TITLE [--body=TEXT] [--type=TYPE] [--priority=N] [--max-attempts=N]", 1, 1,
       {"body", "type", "priority", "max_attempts"}, "enqueue a task", RunCreate},
      {"task get", "ID", 1, 1, {}, "read one task", RunGet},
      {"task next", "[--types=a,b] [--wait=DURATION]", 0, 0, {"types", "wait"},
       "take the next task for the sidecar's worker (locked, with its token)", RunNext},
      {"task complete", "ID TOKEN [--result=TEXT]", 2, 2, {"result"},
       "mark a taken task done", RunComplete},
      {"task fail", "ID TOKEN --error=TEXT [--retryable]", 2, 2, {"error", "retryable"},
       "report a failed attempt (re-queued if --retryable and attempts remain)", RunFail},
  };
}

}  // namespace tasksentinel::cli
