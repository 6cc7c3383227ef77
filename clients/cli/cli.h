// The skeleton every sentinelctl command shares: the command table entry (Command), what a
// command runs with (Invocation), the exit codes, and the helpers that report errors and make
// calls with the configured deadline.
//
// A command is one function `int Fn(Invocation&)` returning an exit code; the commands are
// grouped by topic in commands_*.cc, each group exporting its table entries (ClusterCommands(),
// ...). main.cc parses the command line, picks the entry whose words start the positional
// arguments, checks the argument count and the flags against the entry, and runs it.
#ifndef TASK_SENTINEL_CLIENTS_CLI_CLI_H_
#define TASK_SENTINEL_CLIENTS_CLI_CLI_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"

namespace tasksentinel::cli {

// Process exit codes.
enum ExitCode : int {
  // The command did what it was asked.
  kExitOk = 0,
  // The sidecar answered with an error (or refused what was asked: NOT_SERVING, a lock not
  // acquired or not released).
  kExitError = 1,
  // The command line is wrong; the usage was printed.
  kExitUsage = 2,
};

struct Command;

// What a command runs with: its positional arguments and a connection to the sidecar.
struct Invocation {
  // The table entry being run.
  const Command* command = nullptr;
  // The positional arguments after the command's words (their count is already checked).
  std::vector<std::string> args;
  // The channel to --addr, for stubs of other services (grpc.health.v1).
  std::shared_ptr<grpc::Channel> channel;
  // The Sentinel stub on `channel`.
  std::unique_ptr<v1::SentinelService::Stub> stub;
  // --timeout; absl::InfiniteDuration() for no deadline.
  absl::Duration timeout = absl::Seconds(5);
  // Whether --timeout was given (wait-ready has a longer default of its own).
  bool timeout_given = false;
  // --json.
  bool json = false;
  // The sidecar's API token (--token-file, $SENTINEL_API_TOKEN_FILE or $SENTINEL_API_TOKEN);
  // empty for none.
  std::string token;

  // Sets `ctx`'s deadline to now + timeout + `extra` (none when the timeout is infinite), and
  // its `authorization: Bearer` metadata when a token is set. Every call's context passes here.
  // Blocking calls pass their wait as `extra`, so that the wait ends before the deadline does.
  void SetDeadline(grpc::ClientContext* ctx, absl::Duration extra = absl::ZeroDuration()) const;
};

// A command's entry point; returns the process exit code.
using CommandFn = int (*)(Invocation&);

// One entry of the command table.
struct Command {
  // The words that select the command, e.g. "lock acquire".
  std::string name;
  // The rest of the usage line: arguments and flags, e.g. "NAME [--ttl=30s] [--wait=5s]".
  std::string usage;
  // How many positional arguments follow the words; max_args -1 means no upper bound.
  int min_args = 0;
  int max_args = 0;
  // The command flags (besides the global ones) it accepts, by their names in flags.h.
  std::vector<std::string> flags;
  // One line for the command list.
  std::string summary;
  CommandFn run = nullptr;
};

// The command groups, in the order `sentinelctl help` lists them.
std::vector<Command> ClusterCommands();  // commands_cluster.cc
std::vector<Command> LockCommands();     // commands_lock.cc
std::vector<Command> MemoryCommands();   // commands_memory.cc
std::vector<Command> TaskCommands();     // commands_task.cc

// Every command, in help order.
const std::vector<Command>& AllCommands();

// "sentinelctl NAME USAGE" for `command`.
std::string UsageLine(const Command& command);

// Prints "sentinelctl: CODE: message" on stderr; returns kExitError.
int RpcError(const grpc::Status& status);

// Prints "sentinelctl: <message>" on stderr; returns kExitError. For refusals that are not RPC
// errors (NOT_SERVING, lock not acquired).
int Refused(absl::string_view message);

// Prints "sentinelctl: <message>" and the command's usage line on stderr; returns kExitUsage.
int UsageError(const Invocation& inv, absl::string_view message);

// Calls the unary Sentinel `method` with the invocation's deadline (plus `extra`).
template <typename Request, typename Response>
grpc::Status Call(const Invocation& inv,
                  grpc::Status (v1::SentinelService::Stub::*method)(grpc::ClientContext*,
                                                             const Request&, Response*),
                  const Request& request, Response* response,
                  absl::Duration extra = absl::ZeroDuration()) {
  grpc::ClientContext ctx;
  inv.SetDeadline(&ctx, extra);
  return (inv.stub.get()->*method)(&ctx, request, response);
}

// Calls the paged List `method` until its last page, each page with the invocation's deadline;
// `response` holds every page's entries (merged) and no next_page_token.
template <typename Request, typename Response>
grpc::Status CallAllPages(const Invocation& inv,
                          grpc::Status (v1::SentinelService::Stub::*method)(grpc::ClientContext*,
                                                                            const Request&,
                                                                            Response*),
                          Request request, Response* response) {
  response->Clear();
  for (;;) {
    Response page;
    grpc::Status s = Call(inv, method, request, &page);
    if (!s.ok()) return s;
    response->MergeFrom(page);
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  response->clear_next_page_token();
  return grpc::Status::OK;
}

}  // namespace tasksentinel::cli

#endif  // TASK_SENTINEL_CLIENTS_CLI_CLI_H_
