// The fakehub binary as a process: its flags reach the FakeHub (repository, token, limits,
// faults), it prints "fakehub listening on http://127.0.0.1:PORT" once serving, answers both
// the GitHub API and the admin API there, and exits 0 on SIGTERM and on SIGINT.
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace {

std::string BinaryPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "",
                      "/tests/fakehub/fakehub");
}

// A fakehub child process with its stdout on a pipe.
class FakeHubProcess {
 public:
  explicit FakeHubProcess(const std::vector<std::string>& flags) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<std::string> args = {"fakehub"};
      args.insert(args.end(), flags.begin(), flags.end());
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const std::string path = BinaryPath();
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fds[0];
  }

  ~FakeHubProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }

  // The first stdout line, or "" after `timeout`.
  std::string ReadLine(absl::Duration timeout) {
    std::string line;
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char c;
      if (read(out_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line.push_back(c);
    }
    return "";
  }

  // Sends `sig` and returns the exit code, or -1 if it did not exit normally within 5 s.
  int StopWith(int sig) {
    kill(pid_, sig);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return -1;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  bool exited_ = false;
};

// The port from "fakehub listening on http://127.0.0.1:PORT".
int PortFrom(const std::string& line) {
  absl::string_view rest = line;
  int port = 0;
  if (!absl::ConsumePrefix(&rest, "fakehub listening on http://127.0.0.1:")) return 0;
  return absl::SimpleAtoi(rest, &port) ? port : 0;
}

httplib::Result Get(int port, const std::string& path, const std::string& token) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(5);
  httplib::Headers headers = {{"User-Agent", "fakehub-binary-test"}};
  if (!token.empty()) headers.emplace("Authorization", absl::StrCat("Bearer ", token));
  return cli.Get(path, headers);
}

TEST(FakeHubBinaryTest, FlagsServeAndSigterm) {
  FakeHubProcess hub({"--port=0", "--owner=acme", "--repo=work", "--repo_id=4242",
                      "--token=sekrit,other", "--login=bot", "--primary_limit=50",
                      "--secondary_per_minute=7", "--secondary_block_ms=1234"});
  ASSERT_GT(hub.pid(), 0);
  const std::string line = hub.ReadLine(absl::Seconds(10));
  const int port = PortFrom(line);
  ASSERT_GT(port, 0) << "stdout: " << line;

  httplib::Result user = Get(port, "/user", "sekrit");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->status, 200);
  EXPECT_EQ(nlohmann::json::parse(user->body)["login"], "bot");
  EXPECT_EQ(user->get_header_value("X-RateLimit-Limit"), "50");
  EXPECT_EQ(Get(port, "/user", "other")->status, 200);
  EXPECT_EQ(Get(port, "/user", "wrong")->status, 401);
  EXPECT_EQ(Get(port, "/user", "")->status, 401);
  httplib::Result repo = Get(port, "/repositories/4242", "sekrit");
  ASSERT_TRUE(repo);
  EXPECT_EQ(nlohmann::json::parse(repo->body)["full_name"], "acme/work");
  EXPECT_EQ(Get(port, "/repos/acme/work/issues", "sekrit")->status, 200);

  httplib::Result config = Get(port, "/_fakehub/config", "");
  ASSERT_TRUE(config);
  const nlohmann::json c = nlohmann::json::parse(config->body);
  EXPECT_EQ(c["secondary_per_minute"], 7);
  EXPECT_EQ(c["secondary_block_ms"], 1234);
  EXPECT_EQ(c["primary_limit"], 50);

  EXPECT_EQ(hub.StopWith(SIGTERM), 0);
}

TEST(FakeHubBinaryTest, FaultFlagsAndSigint) {
  FakeHubProcess hub({"--error_rate=1", "--lag_ms=250", "--latency_ms=5"});
  const int port = PortFrom(hub.ReadLine(absl::Seconds(10)));
  ASSERT_GT(port, 0);
  httplib::Result r = Get(port, "/user", "anything");  // any non-empty token by default
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  const nlohmann::json c = nlohmann::json::parse(Get(port, "/_fakehub/config", "")->body);
  EXPECT_EQ(c["lag_ms"], 250);
  EXPECT_EQ(c["latency_ms"], 5);
  EXPECT_EQ(c["error_rate"], 1.0);
  EXPECT_EQ(hub.StopWith(SIGINT), 0);
}

TEST(FakeHubBinaryTest, BusyPortFails) {
  FakeHubProcess first({"--port=0"});
  const int port = PortFrom(first.ReadLine(absl::Seconds(10)));
  ASSERT_GT(port, 0);
  FakeHubProcess second({absl::StrCat("--port=", port)});
  EXPECT_EQ(second.ReadLine(absl::Seconds(2)), "");
  EXPECT_EQ(second.StopWith(0), 1);  // signal 0 only probes; it exits 1 on its own
  EXPECT_EQ(first.StopWith(SIGTERM), 0);
}

}  // namespace
