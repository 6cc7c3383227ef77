// Runs the real //service:sentinel binary as a child process for integration tests: its own
// environment, stderr captured to a file, and helpers to signal it and wait for it.
#ifndef TASK_SENTINEL_TESTS_INTEGRATION_SIDECAR_PROCESS_H_
#define TASK_SENTINEL_TESTS_INTEGRATION_SIDECAR_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"

namespace tasksentinel::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
int PickFreePort();

class SidecarProcess {
 public:
  // Starts the sidecar with `env` added to a minimal environment (PATH, HOME), and `args` as its
  // command-line arguments.
  SidecarProcess(const std::map<std::string, std::string>& env,
                 const std::vector<std::string>& args = {});
  ~SidecarProcess();  // SIGKILLs a child still running

  // Waits for the sidecar's "started" log line and returns the gRPC port it bound (so tests can
  // let it pick a free port with SENTINEL_GRPC_ADDR=127.0.0.1:0, free of pick-then-bind races);
  // nullopt after `timeout` or if the process exits first.
  std::optional<int> WaitBoundPort(absl::Duration timeout);

  // Waits until grpc.health.v1 answers SERVING on `target`; false after `timeout` or if the
  // process exits first.
  bool WaitServing(const std::string& target, absl::Duration timeout);

  // Sends `sig`.
  void Signal(int sig);

  // Waits for the exit; the exit status (WEXITSTATUS, or 128 + signal), or nullopt on time-out.
  std::optional<int> Wait(absl::Duration timeout);

  // What the process wrote to stderr so far.
  std::string Stderr() const;

  // The child's process id (for /proc readings in benchmarks).
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string stderr_path_;
  bool exited_ = false;
  int status_ = 0;
};

// The Sentinel path of the binary under test (from the test's runfiles).
std::string SentinelBinary();

}  // namespace tasksentinel::testing

#endif  // TASK_SENTINEL_TESTS_INTEGRATION_SIDECAR_PROCESS_H_
