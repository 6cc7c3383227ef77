// Child-process control for integration tests (see sidecar_process.h).
#include "tests/integration/sidecar_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace tasksentinel::testing {

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string SentinelBinary() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && ws != nullptr) return absl::StrCat(srcdir, "/", ws, "/service/sentinel");
  return "service/sentinel";
}

SidecarProcess::SidecarProcess(const std::map<std::string, std::string>& env,
                               const std::vector<std::string>& args) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  stderr_path_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/sidecar-", getpid(), "-",
                              counter++, ".stderr");
  std::vector<std::string> env_strings = {"PATH=/usr/bin:/bin",
                                          absl::StrCat("HOME=", tmp != nullptr ? tmp : "/tmp")};
  for (const auto& [k, v] : env) env_strings.push_back(absl::StrCat(k, "=", v));
  // Under --config=tsan the child is instrumented too: it gets the test's TSAN_OPTIONS
  // (halt_on_error=1, so a race kills it and the test sees it die; ~SidecarProcess shows the
  // report).
  const char* tsan_options = std::getenv("TSAN_OPTIONS");
  if (tsan_options != nullptr && env.count("TSAN_OPTIONS") == 0) {
    env_strings.push_back(absl::StrCat("TSAN_OPTIONS=", tsan_options));
  }
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const std::string binary = SentinelBinary();
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
}

SidecarProcess::~SidecarProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  // A ThreadSanitizer report of the child's goes to the test's log, where it is looked for.
  const std::string err = Stderr();
  if (absl::StrContains(err, "WARNING: ThreadSanitizer:")) {
    std::fprintf(stderr, "---- sidecar %d's stderr (ThreadSanitizer report):\n%s----\n",
                 static_cast<int>(pid_), err.c_str());
  }
}

std::optional<int> SidecarProcess::WaitBoundPort(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const std::string err = Stderr();
    for (absl::string_view line : absl::StrSplit(err, '\n')) {
      if (!absl::StrContains(line, "\"action\":\"started\"")) continue;
      const size_t at = line.find("\"port\":\"");
      int port = 0;
      if (at != absl::string_view::npos &&
          absl::SimpleAtoi(line.substr(at + 8, line.find('"', at + 8) - (at + 8)), &port)) {
        return port;
      }
    }
    if (Wait(absl::ZeroDuration()).has_value()) return std::nullopt;  // exited
    absl::SleepFor(absl::Milliseconds(20));
  }
  return std::nullopt;
}

bool SidecarProcess::WaitServing(const std::string& target, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (Wait(absl::ZeroDuration()).has_value()) return false;  // exited
    // A new channel each time: a channel that failed to connect backs off for seconds.
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    if (stub->Check(&ctx, req, &resp).ok() &&
        resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

void SidecarProcess::Signal(int sig) {
  if (pid_ > 0 && !exited_) kill(pid_, sig);
}

std::optional<int> SidecarProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!exited_) {
    pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      break;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return 128 + WTERMSIG(status_);
}

std::string SidecarProcess::Stderr() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace tasksentinel::testing
