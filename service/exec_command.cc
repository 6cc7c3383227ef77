// `sentinel exec` (see exec_command.h).
#include "service/exec_command.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "clients/cpp/client.h"
#include "clients/cpp/worker.h"
#include "service/log.h"

extern char** environ;

namespace tasksentinel {
namespace {

// How much of a command's stdout (the result) and stderr (the error) is kept: the end.
constexpr size_t kResultTail = 16 * 1024;
constexpr size_t kErrorTail = 4 * 1024;
// How long a stopped command has between SIGTERM and SIGKILL.
constexpr absl::Duration kKillGrace = absl::Seconds(1);

void KeepTail(std::string* s, const char* data, size_t n, size_t tail) {
  s->append(data, n);
  if (s->size() > 2 * tail) s->erase(0, s->size() - tail);
}

std::string Tail(const std::string& s, size_t tail) {
  return s.size() > tail ? s.substr(s.size() - tail) : s;
}

// Runs the command for `job` to its end (or until the job is cancelled, then stops it): OK with
// the tail of stdout on exit status 0, otherwise an error with the tail of stderr.
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& command,
                                       const std::string& addr, client::Job& job) {
  // Everything the child needs is built before fork: only async-signal-safe calls after it.
  std::vector<std::string> env_strings;
  const std::map<std::string, std::string> task_env = {
      {"SENTINEL_TASK_ID", job.task().id()},
      {"SENTINEL_TASK_TITLE", job.task().title()},
      {"SENTINEL_TASK_TYPE", job.task().type()},
      {"SENTINEL_TASK_ATTEMPT", absl::StrCat(job.task().attempts())},
      {"SENTINEL_FENCING_TOKEN", absl::StrCat(job.lock().fencing_token())},
      {"SENTINEL_ADDR", addr}};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (task_env.count(name) == 0) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : task_env) env_strings.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> envp, argv;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = command;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);  // its own process group: stopping it stops its children too
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the sidecar blocks SIGTERM; the command must not
    signal(SIGPIPE, SIG_DFL);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execvpe(argv[0], argv.data(), envp.data());
    const char msg[] = "sentinel exec: cannot run the command\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // The body on stdin, from a thread of its own (a command may not read it all).
  std::thread feeder([fd = in[1], body = job.task().body()] {
    size_t done = 0;
    while (done < body.size()) {
      const ssize_t n = write(fd, body.data() + done, body.size() - done);
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) done += static_cast<size_t>(n);
    }
    close(fd);
  });

  std::string stdout_tail, stderr_tail;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  absl::Time term_sent = absl::InfiniteFuture();
  bool killed = false;
  char buf[8192];
  while (open_fds > 0) {
    if (job.cancelled()) {
      if (term_sent == absl::InfiniteFuture()) {
        kill(-pid, SIGTERM);
        term_sent = absl::Now();
      } else if (!killed && absl::Now() - term_sent > kKillGrace) {
        kill(-pid, SIGKILL);
        killed = true;
      }
    }
    if (poll(fds, 2, 100) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        KeepTail(i == 0 ? &stdout_tail : &stderr_tail, buf, static_cast<size_t>(n),
                 i == 0 ? kResultTail : kErrorTail);
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  // Output closed: the command (or whatever kept its pipes) ended; reap it, stopping it if the
  // job is cancelled meanwhile.
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (job.cancelled()) kill(-pid, absl::Now() - term_sent > kKillGrace ? SIGKILL : SIGTERM);
    if (term_sent == absl::InfiniteFuture() && job.cancelled()) term_sent = absl::Now();
    absl::SleepFor(absl::Milliseconds(20));
  }
  feeder.join();
  if (job.cancelled()) return absl::CancelledError("the task's lock was lost; command stopped");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Tail(stdout_tail, kResultTail);
  const std::string how = WIFEXITED(status)
                              ? absl::StrCat("exit status ", WEXITSTATUS(status))
                              : absl::StrCat("killed by signal ", WTERMSIG(status));
  const std::string tail = Tail(stderr_tail, kErrorTail);
  return absl::UnknownError(tail.empty() ? how : absl::StrCat(how, ": ", tail));
}

}  // namespace

bool IsExecCommand(const std::vector<std::string>& args) {
  return !args.empty() && args[0] == "exec";
}

absl::StatusOr<ExecOptions> ParseExecArgs(std::vector<std::string>* args) {
  ExecOptions options;
  std::vector<std::string> rest;
  size_t i = 1;  // after "exec"
  auto value = [&](const std::string& arg, const std::string& name,
                   std::string* out) -> absl::StatusOr<bool> {
    if (arg == name) {
      if (i + 1 >= args->size()) return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      *out = (*args)[++i];
      return true;
    }
    if (absl::StartsWith(arg, name + "=")) {
      *out = arg.substr(name.size() + 1);
      return true;
    }
    return false;
  };
  for (; i < args->size(); ++i) {
    const std::string& arg = (*args)[i];
    std::string v;
    if (arg == "--") {
      options.command.assign(args->begin() + static_cast<long>(i) + 1, args->end());
      break;
    }
    if (arg == "--until-idle" || arg == "--until_idle") {
      options.until_idle = true;
      continue;
    }
    absl::StatusOr<bool> max = value(arg, "--max-tasks", &v);
    if (!max.ok()) return max.status();
    if (*max) {
      if (!absl::SimpleAtoi(v, &options.max_tasks) || options.max_tasks < 0) {
        return absl::InvalidArgumentError(absl::StrCat("--max-tasks: not a count: ", v));
      }
      continue;
    }
    absl::StatusOr<bool> grace = value(arg, "--grace", &v);
    if (!grace.ok()) return grace.status();
    if (*grace) {
      if (!absl::ParseDuration(v, &options.grace) || options.grace < absl::ZeroDuration()) {
        return absl::InvalidArgumentError(absl::StrCat("--grace: not a duration (10s, 500ms): ", v));
      }
      continue;
    }
    absl::StatusOr<bool> idle = value(arg, "--idle-wait", &v);
    if (!idle.ok()) return idle.status();
    if (*idle) {
      if (!absl::ParseDuration(v, &options.idle_wait) || options.idle_wait < absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--idle-wait: not a duration (60s, 500ms): ", v));
      }
      continue;
    }
    rest.push_back(arg);  // a sidecar flag
  }
  if (options.command.empty()) {
    return absl::InvalidArgumentError(
        "usage: sentinel exec [--until-idle [--idle-wait DURATION]] [--max-tasks N] "
        "[--grace DURATION] -- CMD ARGS...");
  }
  *args = std::move(rest);
  return options;
}

int RunExec(const ExecOptions& options, const Config& config, SentinelServer* server,
            const sigset_t& signals) {
  signal(SIGPIPE, SIG_IGN);  // a command that does not read its stdin
  client::ClientOptions client_options;
  client_options.api_token = config.api_token;
  client::Client client(server->NewChannel(), client_options);
  client::WorkerOptions worker_options;
  worker_options.concurrency = config.max_tasks;
  worker_options.until_idle = options.until_idle;
  worker_options.max_tasks = options.max_tasks;
  worker_options.poll_wait = options.idle_wait;
  client::Worker worker(&client, worker_options);
  const std::string addr = absl::StrCat(
      absl::StartsWith(config.grpc_addr, "unix:") ? config.grpc_addr : "127.0.0.1:",
      absl::StartsWith(config.grpc_addr, "unix:") ? "" : absl::StrCat(server->port()));

  std::atomic<bool> done{false};
  absl::Status outcome;
  std::thread runner([&] {
    outcome = worker.Run([&](client::Job& job) -> absl::StatusOr<std::string> {
      Logger::Global().Info("exec", "task_started",
                            {{"task", job.task().id()}, {"attempt", absl::StrCat(job.task().attempts())}});
      absl::StatusOr<std::string> r = RunCommand(options.command, addr, job);
      Logger::Global().Info("exec", "task_ended",
                            {{"task", job.task().id()},
                             {"outcome", r.ok() ? "ok" : std::string(r.status().message())}});
      return r;
    });
    done = true;
  });
  int sig = 0;
  const timespec tick{0, 100 * 1000 * 1000};
  while (!done) {
    const int s = sigtimedwait(&signals, nullptr, &tick);
    if (s > 0) {
      sig = s;
      break;
    }
  }
  if (sig != 0) {
    Logger::Global().Info("sidecar", "shutting_down",
                          {{"signal", strsignal(sig)}, {"grace", absl::FormatDuration(options.grace)}});
    worker.Stop();
    const absl::Time give_up = absl::Now() + options.grace;
    while (!done && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(50));
    if (!done) worker.CancelAll();  // stopped; their tasks go back with the released locks
  }
  runner.join();
  absl::Status s = server->Shutdown(absl::Seconds(2));
  if (!outcome.ok()) {
    Logger::Global().Error("exec", "stopped", {{"error", std::string(outcome.message())}});
    return 1;
  }
  if (!s.ok()) {
    Logger::Global().Error("sidecar", "shutdown_incomplete", {{"error", std::string(s.message())}});
    return 1;
  }
  Logger::Global().Info("sidecar", "stopped", {{"tasks", absl::StrCat(worker.finished())}});
  return 0;
}

}  // namespace tasksentinel
