// `sentinel exec` as users run it: the real sidecar binary running a shell command per task,
// next to a second sidecar (on the same data directory) that produces and inspects tasks.
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "clients/cpp/client.h"
#include "gtest/gtest.h"
#include "tests/integration/sidecar_process.h"

namespace tasksentinel::testing {
namespace {

namespace v1 = ::tasksentinel::v1;
using client::Client;

class ExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/exec-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::system(absl::StrCat("rm -rf '", dir_, "' && mkdir -p '", dir_, "'").c_str());
    producer_addr_ = absl::StrCat("127.0.0.1:", PickFreePort());
    producer_ = std::make_unique<SidecarProcess>(Env("producer", producer_addr_));
    ASSERT_TRUE(producer_->WaitServing(producer_addr_, absl::Seconds(20))) << producer_->Stderr();
    client_ = std::make_unique<Client>(producer_addr_);
  }

  std::map<std::string, std::string> Env(const std::string& worker, const std::string& addr) {
    return {{"WORKER_ID", worker},
            {"SENTINEL_GRPC_ADDR", addr},
            {"SENTINEL_DATA_DIR", dir_ + "/data"},
            {"SENTINEL_HTTP_ADDR", ""},
            {"SENTINEL_POLL_INTERVAL_MS", "10"},
            {"HEARTBEAT_INTERVAL_MS", "200"},
            {"STALE_WORKER_THRESHOLD_MS", "1500"},
            {"LOCK_DELAY_MS", "0"},
            {"TASK_RETRY_BACKOFF_MS", "50"},
            {"WORKER_MAX_TASKS", "2"}};
  }

  // `sentinel exec ARGS... -- /bin/sh -c SCRIPT` as worker "runner".
  std::unique_ptr<SidecarProcess> Exec(std::vector<std::string> args, const std::string& script) {
    args.insert(args.begin(), "exec");
    args.insert(args.end(), {"--", "/bin/sh", "-c", script});
    return std::make_unique<SidecarProcess>(
        Env("runner", absl::StrCat("127.0.0.1:", PickFreePort())), args);
  }

  v1::Task Create(const std::string& title, const std::string& body = "",
                  uint32_t max_attempts = 0) {
    v1::CreateTaskRequest req;
    req.set_title(title);
    req.set_body(body);
    req.set_max_attempts(max_attempts);
    absl::StatusOr<v1::Task> t = client_->CreateTask(req);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : v1::Task();
  }

  v1::Task Get(const std::string& id) {
    absl::StatusOr<v1::Task> t = client_->GetTask(id);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : v1::Task();
  }

  bool WaitState(const std::string& id, v1::TaskState state, absl::Duration timeout) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      if (Get(id).state() == state) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  std::string dir_, producer_addr_;
  std::unique_ptr<SidecarProcess> producer_;
  std::unique_ptr<Client> client_;
};

TEST_F(ExecTest, RunsTheCommandPerTaskAndExitsWhenIdle) {
  v1::Task hello = Create("hello", "world");
  v1::Task fail = Create("fail", "", /*max_attempts=*/1);
  v1::Task third = Create("third", "3");
  auto runner = Exec({"--until-idle"},
                     "body=$(cat); "
                     "if [ \"$SENTINEL_TASK_TITLE\" = fail ]; then "
                     "  echo \"boom on $SENTINEL_TASK_ID\" >&2; exit 3; fi; "
                     "echo \"$SENTINEL_TASK_ID/$SENTINEL_TASK_TITLE/$SENTINEL_TASK_ATTEMPT/"
                     "${SENTINEL_FENCING_TOKEN:+token}: $body\"");
  EXPECT_EQ(runner->Wait(absl::Seconds(30)), 0) << runner->Stderr();
  v1::Task done = Get(hello.id());
  EXPECT_EQ(done.state(), v1::TASK_STATE_DONE);
  EXPECT_EQ(done.result(), absl::StrCat(hello.id(), "/hello/1/token: world\n"));
  EXPECT_EQ(Get(third.id()).result(), absl::StrCat(third.id(), "/third/1/token: 3\n"));
  v1::Task failed = Get(fail.id());
  EXPECT_EQ(failed.state(), v1::TASK_STATE_DEAD_LETTER);
  EXPECT_EQ(failed.last_error(), absl::StrCat("exit status 3: boom on ", fail.id(), "\n"));
}

TEST_F(ExecTest, IdleWaitIsHowLongAnEmptyQueueIsWaitedOn) {
  // The queue is empty when the runner starts; a task created 1.5 s later is still taken within
  // --idle-wait=5s, and the runner exits only after the queue stayed empty that long again.
  const absl::Time started = absl::Now();
  auto runner = Exec({"--until-idle", "--idle-wait=5s"}, "echo late");
  absl::SleepFor(absl::Milliseconds(1500));
  v1::Task late = Create("late");
  EXPECT_EQ(runner->Wait(absl::Seconds(30)), 0) << runner->Stderr();
  EXPECT_EQ(Get(late.id()).result(), "late\n");
  EXPECT_GE(absl::Now() - started, absl::Milliseconds(1500) + absl::Seconds(5));
  // A bad value is refused with exit status 2 and a message naming the flag.
  auto bad = Exec({"--until-idle", "--idle-wait=soon"}, "echo never");
  EXPECT_EQ(bad->Wait(absl::Seconds(10)), 2);
  EXPECT_NE(bad->Stderr().find("--idle-wait: not a duration"), std::string::npos)
      << bad->Stderr();
}

TEST_F(ExecTest, MaxTasksStopsAfterThatMany) {
  for (int i = 0; i < 3; ++i) Create(absl::StrCat("t", i));
  auto runner = Exec({"--max-tasks", "2"}, "echo ok");
  EXPECT_EQ(runner->Wait(absl::Seconds(30)), 0) << runner->Stderr();
  absl::StatusOr<v1::GetClusterHealthResponse> health = client_->GetClusterHealth();
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->tasks_done(), 2u);
  EXPECT_EQ(health->tasks_queued(), 1u);
}

TEST_F(ExecTest, SigtermLetsARunningCommandFinishWithinTheGrace) {
  v1::Task task = Create("short");
  auto runner = Exec({"--grace=20s"}, "sleep 1; echo finished");
  ASSERT_TRUE(WaitState(task.id(), v1::TASK_STATE_IN_PROGRESS, absl::Seconds(20)))
      << runner->Stderr();
  runner->Signal(SIGTERM);
  EXPECT_EQ(runner->Wait(absl::Seconds(30)), 0) << runner->Stderr();
  EXPECT_EQ(Get(task.id()).state(), v1::TASK_STATE_DONE);
  EXPECT_EQ(Get(task.id()).result(), "finished\n");
}

TEST_F(ExecTest, AfterTheGraceACommandIsStoppedAndItsTaskHandedBack) {
  v1::Task task = Create("long");
  auto runner = Exec({"--grace", "300ms"}, "sleep 60; echo never");
  ASSERT_TRUE(WaitState(task.id(), v1::TASK_STATE_IN_PROGRESS, absl::Seconds(20)))
      << runner->Stderr();
  const absl::Time signalled = absl::Now();
  runner->Signal(SIGTERM);
  EXPECT_EQ(runner->Wait(absl::Seconds(30)), 0) << runner->Stderr();
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(15));
  // Handed back: another worker gets it at once, as its second attempt.
  absl::StatusOr<std::optional<v1::NextTaskResponse>> next = client_->NextTask(absl::Seconds(10));
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->task().id(), task.id());
  EXPECT_EQ((*next)->task().attempts(), 2u);
}

TEST_F(ExecTest, ACommandThatOutlivesItsTasksLockIsStopped) {
  v1::Task task = Create("fragile");
  const std::string pid_file = dir_ + "/pid";
  auto runner = Exec({}, absl::StrCat("echo $$ > '", pid_file, "'; exec sleep 60"));
  ASSERT_TRUE(WaitState(task.id(), v1::TASK_STATE_IN_PROGRESS, absl::Seconds(20)))
      << runner->Stderr();
  int pid = 0;
  for (int i = 0; i < 100 && pid == 0; ++i) {
    std::ifstream f(pid_file);
    std::string line;
    if (std::getline(f, line)) (void)absl::SimpleAtoi(line, &pid);
    if (pid == 0) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GT(pid, 0);
  // The sidecar pauses past its lease; the command, in its own process group, runs on.
  runner->Signal(SIGSTOP);
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_EQ(kill(pid, 0), 0);
  runner->Signal(SIGCONT);
  // The next heartbeat reports the lock lost: the command is stopped (and reaped).
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  while (kill(pid, 0) == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_NE(kill(pid, 0), 0) << "the command still runs";
  EXPECT_NE(Get(task.id()).state(), v1::TASK_STATE_DONE);
  runner->Signal(SIGTERM);
  EXPECT_EQ(runner->Wait(absl::Seconds(30)), 0) << runner->Stderr();
}

}  // namespace
}  // namespace tasksentinel::testing
