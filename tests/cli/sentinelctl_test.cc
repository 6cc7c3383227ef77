// End-to-end tests of sentinelctl: each test starts a SentinelServer on 127.0.0.1:0 over a fresh
// MemoryStore (worker "cli-worker"), runs the real binary from the test's runfiles as a child
// process, and checks its exit code, stdout and stderr: the human output, the JSON output
// (parsed with nlohmann::json) and the exit codes 0 (success), 1 (the sidecar answered with an
// error) and 2 (usage error).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/memory_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/server.h"

namespace tasksentinel {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// What one run of sentinelctl did.
struct CliResult {
  int exit_code = -1;  // WEXITSTATUS, 128 + signal, or -1 when it had to be killed
  std::string out;
  std::string err;
};

std::string TmpDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return tmp != nullptr ? tmp : "/tmp";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The sentinelctl binary from the test's runfiles.
std::string CliBinary() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && ws != nullptr) {
    return absl::StrCat(srcdir, "/", ws, "/clients/cli/sentinelctl");
  }
  return "clients/cli/sentinelctl";
}

// Runs sentinelctl with `args`, a minimal environment plus `env`, and `stdin_text` on stdin;
// kills it after 20 s.
CliResult RunCli(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {},
                 const std::string& stdin_text = "") {
  static std::atomic<int> counter{0};
  const std::string base = absl::StrCat(TmpDir(), "/cli-", getpid(), "-", counter++);
  const std::string out_path = base + ".out", err_path = base + ".err", in_path = base + ".in";
  std::ofstream(in_path) << stdin_text;

  std::vector<std::string> env_strings = {"PATH=/usr/bin:/bin", absl::StrCat("HOME=", TmpDir())};
  for (const auto& [k, v] : env) env_strings.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const std::string binary = CliBinary();
  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    dup2(open(in_path.c_str(), O_RDONLY), 0);
    dup2(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
    dup2(open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  CliResult result;
  int status = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.out = ReadFile(out_path);
      result.err = ReadFile(err_path) + "\n(killed after 20 s)";
      return result;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

// Everything a failed expectation needs to explain itself.
std::string Describe(const CliResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout\n", r.out, "--- stderr\n", r.err);
}

// The value of the "name value" line `name` in `out`, or "" when there is none.
std::string Field(const std::string& out, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::ConsumePrefix(&line, name + " ")) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return "";
}

// Settings for a test sidecar: the given worker and address, short timings.
Config CliConfig(const std::string& worker_id, const std::string& addr) {
  Config c;
  c.worker_id = worker_id;
  c.hostname = "host-" + worker_id;
  c.max_tasks = 4;
  c.lock_ttl = absl::Seconds(60);
  c.lock_delay = absl::ZeroDuration();
  c.heartbeat_interval = absl::Seconds(10);
  c.stale_threshold = absl::Seconds(30);
  c.poll_interval = absl::Milliseconds(10);
  c.task_retry_backoff = absl::Milliseconds(10);
  c.task_max_attempts = 3;
  c.grpc_addr = addr;
  c.http_addr = "";
  c.data_dir = TmpDir();
  return c;
}

class SentinelctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<SentinelServer>(CliConfig("cli-worker", "127.0.0.1:0"), &store_,
                                               &clock_);
    ASSERT_TRUE(server_->Start().ok());
    addr_ = absl::StrCat("127.0.0.1:", server_->port());
  }

  void TearDown() override { server_->Shutdown(absl::ZeroDuration()).IgnoreError(); }

  // Runs sentinelctl against this test's sidecar.
  CliResult Cli(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), "--addr=" + addr_);
    return RunCli(args, {}, stdin_text);
  }

  // Runs `args` with --json, expects exit 0 and returns the parsed output.
  nlohmann::json Json(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    CliResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
    return j;
  }

  RealClock clock_;
  MemoryStore store_;
  std::unique_ptr<SentinelServer> server_;
  std::string addr_;
};

TEST_F(SentinelctlTest, HealthPrintsServing) {
  CliResult r = Cli({"health"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
  EXPECT_EQ(Json({"health"})["status"], "SERVING");
}

TEST_F(SentinelctlTest, AddressDefaultsToTheEnvironment) {
  CliResult r = RunCli({"health"}, {{"SENTINEL_GRPC_ADDR", addr_}});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
  // The flag wins over the environment.
  r = RunCli({"--addr", addr_, "health"}, {{"SENTINEL_GRPC_ADDR", "127.0.0.1:1"}});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

TEST_F(SentinelctlTest, UnreachableSidecarExitsOne) {
  server_->Shutdown(absl::ZeroDuration()).IgnoreError();
  CliResult r = Cli({"--timeout=500ms", "health"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("sentinelctl: "));
  EXPECT_TRUE(absl::StrContains(r.err, "UNAVAILABLE") ||
              absl::StrContains(r.err, "DEADLINE_EXCEEDED"))
      << r.err;
}

TEST_F(SentinelctlTest, UnixSocketAddress) {
  const std::string path = absl::StrCat("/tmp/sentinelctl-test-", getpid(), ".sock");
  unlink(path.c_str());
  SentinelServer unix_server(CliConfig("unix-worker", "unix:" + path), &store_, &clock_);
  ASSERT_TRUE(unix_server.Start().ok());
  CliResult r = RunCli({"--addr=unix:" + path, "health"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
  // Both sidecars share the store: each sees both workers.
  r = RunCli({"--addr=unix:" + path, "workers"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("unix-worker"));
  EXPECT_THAT(r.out, HasSubstr("cli-worker"));
  unix_server.Shutdown(absl::ZeroDuration()).IgnoreError();
  unlink(path.c_str());
}

TEST_F(SentinelctlTest, LockAcquireListRelease) {
  CliResult r = Cli({"lock", "acquire", "deploy-lock", "--ttl=45s"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "acquired"), "yes");
  EXPECT_EQ(Field(r.out, "holder"), "cli-worker");
  EXPECT_EQ(Field(r.out, "ttl"), "45s");
  const std::string token = Field(r.out, "token");
  ASSERT_FALSE(token.empty()) << r.out;

  r = Cli({"locks"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("deploy-lock"));
  EXPECT_THAT(r.out, HasSubstr("cli-worker"));
  nlohmann::json locks = Json({"locks"});
  ASSERT_EQ(locks["locks"].size(), 1u);
  EXPECT_EQ(locks["locks"][0]["name"], "deploy-lock");
  EXPECT_EQ(locks["locks"][0]["fencing_token"], token);  // uint64 is a JSON string

  // Renewing with another ttl.
  r = Cli({"lock", "renew", "deploy-lock", token, "--ttl", "2m"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "ttl"), "2m");

  // It is not a task lock, so nobody is assigned anything.
  r = Cli({"assignments"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "no assignments\n");

  r = Cli({"lock", "release", "deploy-lock", token});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "RELEASED\n");
  r = Cli({"locks"});
  EXPECT_EQ(r.out, "no locks\n") << Describe(r);
  // Releasing twice is harmless.
  r = Cli({"lock", "release", "deploy-lock", token});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "NOT_HELD\n");
}

TEST_F(SentinelctlTest, LockHeldByAnotherWorkerIsNotAcquired) {
  SentinelServer other(CliConfig("other-worker", "127.0.0.1:0"), &store_, &clock_);
  ASSERT_TRUE(other.Start().ok());
  const std::string other_addr = absl::StrCat("--addr=127.0.0.1:", other.port());
  CliResult r = RunCli({other_addr, "lock", "acquire", "shared"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  r = Cli({"lock", "acquire", "shared", "--wait=0s"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("held by other-worker"));
  // A short wait gives up after it, before the call's deadline.
  const absl::Time t0 = absl::Now();
  r = Cli({"--json", "lock", "acquire", "shared", "--wait=300ms", "--timeout=1s"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(300));
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["acquired"], false);
  EXPECT_EQ(j["lock"]["holder"], "other-worker");
  other.Shutdown(absl::ZeroDuration()).IgnoreError();
}

TEST_F(SentinelctlTest, MemorySetGetListDelete) {
  CliResult r = Cli({"memory", "set", "swarm", "plan/step-1", "build the thing"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string version = Field(r.out, "version");
  EXPECT_FALSE(version.empty());

  r = Cli({"memory", "get", "swarm", "plan/step-1"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "value"), "build the thing");
  EXPECT_EQ(Field(r.out, "updated_by"), "cli-worker");
  EXPECT_EQ(Field(r.out, "expires_at"), "never");

  // From stdin, with a ttl.
  r = Cli({"memory", "set", "swarm", "plan/step-2", "-", "--ttl=1h"}, "from stdin");
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "value"), "from stdin");
  EXPECT_NE(Field(r.out, "expires_at"), "never");
  r = Cli({"memory", "set", "swarm", "other", "x"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);

  r = Cli({"memory", "list", "swarm", "plan/"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("plan/step-1"));
  EXPECT_THAT(r.out, HasSubstr("plan/step-2"));
  EXPECT_THAT(r.out, HasSubstr("build the thing"));
  EXPECT_THAT(r.out, Not(HasSubstr("other")));
  nlohmann::json list = Json({"memory", "list", "swarm"});
  ASSERT_EQ(list["entries"].size(), 3u);
  EXPECT_EQ(list["entries"][0]["key"], "other");  // key order

  // Compare-and-set on a stale version is refused.
  r = Cli({"memory", "set", "swarm", "plan/step-1", "v2", "--expected-version=" + version});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  r = Cli({"memory", "set", "swarm", "plan/step-1", "v3", "--expected_version", version});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("sentinelctl: ABORTED: "));

  r = Cli({"memory-namespaces"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("swarm      3"));
  EXPECT_THAT(r.out, HasSubstr("global     0"));
  nlohmann::json ns = Json({"memory-namespaces", "swarm", "no-such-ns"});
  ASSERT_EQ(ns["namespaces"].size(), 1u);  // the unknown namespace is skipped
  EXPECT_EQ(ns["namespaces"][0]["entries"], 3);

  r = Cli({"memory", "delete", "swarm", "other"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "deleted\n");
  r = Cli({"memory", "delete", "swarm", "other"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "not found (nothing deleted)\n");
}

TEST_F(SentinelctlTest, MissingMemoryKeyIsAnRpcError) {
  CliResult r = Cli({"memory", "get", "swarm", "missing-key"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("sentinelctl: NOT_FOUND: "));
  EXPECT_EQ(r.out, "");
  r = Cli({"memory", "get", "no-such-namespace", "k"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("sentinelctl: INVALID_ARGUMENT: "));
}

TEST_F(SentinelctlTest, MemoryWatchStreamsUntilTheTimeout) {
  ASSERT_EQ(Cli({"memory", "set", "tasks", "a", "1"}).exit_code, 0);
  ASSERT_EQ(Cli({"memory", "set", "tasks", "b", "2"}).exit_code, 0);
  CliResult r = Cli({"memory", "watch", "tasks", "--timeout=700ms"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("PUT tasks/a version="));
  EXPECT_THAT(r.out, HasSubstr("PUT tasks/b version="));

  r = Cli({"--json", "memory", "watch", "tasks", "b", "--timeout=500ms"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << r.out;
  nlohmann::json event = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(event["type"], "TYPE_PUT");
  EXPECT_EQ(event["entry"]["key"], "b");
  EXPECT_EQ(event["entry"]["value"], "Mg==");  // bytes are base64

  r = Cli({"memory", "watch", "tasks", "--noinitial", "--timeout=300ms"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "");
}

TEST_F(SentinelctlTest, TaskCreateNextCompleteGet) {
  CliResult r = Cli({"task", "create", "Index the repo", "--body=all of it", "--priority=7",
                     "--max-attempts=2"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string id = Field(r.out, "id");
  ASSERT_FALSE(id.empty()) << r.out;
  EXPECT_EQ(Field(r.out, "state"), "QUEUED");
  EXPECT_EQ(Field(r.out, "priority"), "7");
  EXPECT_EQ(Field(r.out, "attempts"), "0/2");

  r = Cli({"task", "next"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "id"), id);
  EXPECT_EQ(Field(r.out, "state"), "IN_PROGRESS");
  EXPECT_EQ(Field(r.out, "worker"), "cli-worker");
  const std::string token = Field(r.out, "token");
  ASSERT_FALSE(token.empty());

  // Who works on what.
  r = Cli({"assignments"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(id));
  EXPECT_THAT(r.out, HasSubstr("Index the repo"));
  EXPECT_THAT(r.out, HasSubstr("cli-worker"));
  nlohmann::json a = Json({"assignments"});
  ASSERT_EQ(a["assignments"].size(), 1u);
  EXPECT_EQ(a["assignments"][0]["task"]["id"], id);
  EXPECT_EQ(a["assignments"][0]["lock"]["holder"], "cli-worker");

  // Nothing else is queued.
  r = Cli({"task", "next"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "no task available\n");

  r = Cli({"task", "complete", id, token, "--result=indexed"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "state"), "DONE");

  r = Cli({"task", "get", id});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "state"), "DONE");
  EXPECT_EQ(Field(r.out, "result"), "indexed");
  nlohmann::json task = Json({"task", "get", id});
  EXPECT_EQ(task["task"]["state"], "TASK_STATE_DONE");

  // Completing again with the released lock's token is refused by the sidecar.
  r = Cli({"task", "complete", id, token});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("sentinelctl: "));
}

TEST_F(SentinelctlTest, TaskNextByTypeAndFail) {
  // Default-type tasks go to any worker, so the one left behind has another type.
  ASSERT_EQ(Cli({"task", "create", "deploy it", "--type=deploy", "--priority=100"}).exit_code, 0);
  nlohmann::json created = Json({"task", "create", "typed", "--type=build"});
  const std::string id = created["task"]["id"];

  nlohmann::json next = Json({"task", "next", "--types=build,test", "--wait=1s"});
  ASSERT_EQ(next["task"]["id"], id);
  const std::string token = next["lock"]["fencing_token"];

  CliResult r = Cli({"task", "fail", id, token});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);  // --error is required
  EXPECT_THAT(r.err, HasSubstr("--error is required"));

  r = Cli({"task", "fail", id, token, "--error=compiler crashed", "--retryable"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "state"), "QUEUED");
  EXPECT_EQ(Field(r.out, "last_error"), "compiler crashed");
}

TEST_F(SentinelctlTest, ClusterViewsShowTheWorker) {
  CliResult r = Cli({"cluster"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "status"), "HEALTHY");
  EXPECT_THAT(r.out, HasSubstr("cli-worker"));
  nlohmann::json cluster = Json({"cluster"});
  EXPECT_EQ(cluster["status"], "STATUS_HEALTHY");
  EXPECT_EQ(cluster["total_workers"], 1);
  ASSERT_EQ(cluster["workers"].size(), 1u);
  EXPECT_EQ(cluster["workers"][0]["worker_id"], "cli-worker");

  for (const char* command : {"workers", "heartbeats", "capacities", "load-balance"}) {
    r = Cli({command});
    EXPECT_EQ(r.exit_code, 0) << command << ": " << Describe(r);
    EXPECT_THAT(r.out, HasSubstr("cli-worker")) << command;
    nlohmann::json j = Json({command});
    EXPECT_TRUE(j.is_object()) << command;
  }
  r = Cli({"capacities"});
  EXPECT_THAT(r.out, HasSubstr("active workers: max 4, active 0, available 4"));
  r = Cli({"load-balance"});
  EXPECT_THAT(r.out, HasSubstr("cluster: 0/4 slots in use (0.0%)"));
  r = Cli({"stale-workers"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "no stale workers\n");

  r = Cli({"heartbeat", "--health=degraded", "--max-tasks=6"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "lost_locks"), "0");
  r = Cli({"capacities"});
  EXPECT_THAT(r.out, HasSubstr("DEGRADED"));
  EXPECT_THAT(r.out, HasSubstr("active workers: max 6"));
}

TEST_F(SentinelctlTest, StaleWorkersAreListed) {
  // A worker whose lease lapses almost at once (nobody heartbeats for it).
  Config lapsing = CliConfig("lapsing-worker", "127.0.0.1:0");
  lapsing.heartbeat_interval = absl::Milliseconds(50);
  lapsing.stale_threshold = absl::Milliseconds(200);
  SentinelServer other(lapsing, &store_, &clock_);
  ASSERT_TRUE(other.Start().ok());
  absl::SleepFor(absl::Milliseconds(400));

  CliResult r = Cli({"stale-workers"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("lapsing-worker"));
  EXPECT_THAT(r.out, Not(HasSubstr("cli-worker")));
  nlohmann::json stale = Json({"stale-workers"});
  ASSERT_EQ(stale["workers"].size(), 1u);
  EXPECT_EQ(stale["workers"][0]["status"], "WORKER_STATUS_STALE");
  r = Cli({"cluster"});
  EXPECT_EQ(Field(r.out, "status"), "DEGRADED") << r.out;
}

TEST_F(SentinelctlTest, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> bad = {
      {},                                               // no command
      {"frobnicate"},                                   // unknown command
      {"lock"},                                         // missing subcommand
      {"lock", "steal", "x"},                           // unknown subcommand
      {"lock", "acquire"},                              // missing argument
      {"task", "get", "a", "b"},                        // too many arguments
      {"--bogus", "health"},                            // unknown flag
      {"lock", "acquire", "x", "--ttl=soon"},           // not a duration
      {"lock", "acquire", "x", "--ttl=-5s"},            // negative duration
      {"memory", "get", "swarm", "k", "--ttl=5s"},      // flag of another command
      {"lock", "release", "x", "not-a-number"},         // bad token
      {"task", "create", "t", "--priority"},            // flag without its value
      {"heartbeat", "--health=sleepy"},                 // bad enum
      {"--timeout=0s", "health"},                       // non-positive timeout
      {"help", "nosuch"},                               // help on no command
      {"--version=2"},                                  // --version takes no value
  };
  for (const auto& args : bad) {
    CliResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << ": " << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("usage:")) << absl::StrJoin(args, " ");
    EXPECT_EQ(r.out, "") << absl::StrJoin(args, " ");
  }
}

TEST_F(SentinelctlTest, HelpGoesToStdoutAndExitsZero) {
  CliResult r = Cli({"help"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("sentinelctl lock acquire NAME"));
  EXPECT_THAT(r.out, HasSubstr("Exit codes"));
  r = Cli({"memory", "--help"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("sentinelctl memory watch"));
  EXPECT_THAT(r.out, Not(HasSubstr("sentinelctl task next")));
}

TEST_F(SentinelctlTest, UnknownCommandsListTheCommands) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"frobnicate"}, {"help", "nosuch"}}) {
    CliResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("sentinelctl wait-ready")) << absl::StrJoin(args, " ");
    EXPECT_THAT(r.err, HasSubstr("sentinelctl task next")) << absl::StrJoin(args, " ");
  }
}

TEST_F(SentinelctlTest, VersionPrintsVersionCommitAndMode) {
  CliResult r = Cli({"--version"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, StartsWith("sentinelctl 0."));
  EXPECT_THAT(r.out, HasSubstr("(commit "));
  EXPECT_THAT(r.out, HasSubstr(" build"));
}

TEST_F(SentinelctlTest, WaitReadyReturnsOnceServing) {
  CliResult r = Cli({"wait-ready"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST_F(SentinelctlTest, WaitReadyGivesUpAfterItsTimeout) {
  // Nothing listens on the address of a server that has shut down.
  const std::string addr = addr_;
  server_->Shutdown(absl::ZeroDuration()).IgnoreError();
  CliResult r = RunCli({"--addr=" + addr, "wait-ready", "--timeout=1s"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("not SERVING after 1s"));
}

TEST_F(SentinelctlTest, WaitReadyWaitsForASidecarThatStartsLater) {
  // Take a free port, start wait-ready against it, then start a sidecar there.
  SentinelServer probe(CliConfig("probe", "127.0.0.1:0"), &store_, &clock_);
  ASSERT_TRUE(probe.Start().ok());
  const int port = probe.port();
  probe.Shutdown(absl::ZeroDuration()).IgnoreError();
  const std::string addr = absl::StrCat("127.0.0.1:", port);
  CliResult r;
  std::thread cli([&] { r = RunCli({"--addr=" + addr, "wait-ready", "--timeout=15s"}); });
  absl::SleepFor(absl::Milliseconds(700));
  SentinelServer later(CliConfig("later", addr), &store_, &clock_);
  const bool started = later.Start().ok();
  cli.join();
  later.Shutdown(absl::ZeroDuration()).IgnoreError();
  ASSERT_TRUE(started);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
}

}  // namespace
}  // namespace tasksentinel
