// The C++ client (clients/cpp) against the real sidecar binary: Client calls and their error
// reasons, ScopedLock's release by token, and Worker's loop: results, failures, heartbeats
// during a long handler, cancellation when the lock is lost, and a sidecar restart.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/cpp/client.h"
#include "clients/cpp/scoped_lock.h"
#include "clients/cpp/status.h"
#include "clients/cpp/worker.h"
#include "gtest/gtest.h"
#include "tests/integration/sidecar_process.h"

namespace tasksentinel::client {
namespace {

using ::tasksentinel::testing::PickFreePort;
using ::tasksentinel::testing::SidecarProcess;

std::string FreshDir(const std::string& name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  return dir;
}

// A sidecar process on its own data directory, with fast timings.
struct Sidecar {
  Sidecar(const std::string& name, std::map<std::string, std::string> extra = {})
      : dir(FreshDir(name)), addr(absl::StrCat("127.0.0.1:", PickFreePort())) {
    env = {{"WORKER_ID", "worker-" + name},
           {"SENTINEL_GRPC_ADDR", addr},
           {"SENTINEL_DATA_DIR", dir},
           {"SENTINEL_HTTP_ADDR", ""},
           {"SENTINEL_POLL_INTERVAL_MS", "10"},
           {"HEARTBEAT_INTERVAL_MS", "200"},
           {"STALE_WORKER_THRESHOLD_MS", "1500"},
           {"LOCK_DELAY_MS", "0"},
           {"TASK_RETRY_BACKOFF_MS", "50"}};
    for (const auto& [k, v] : extra) env[k] = v;
    Start();
  }
  void Start() {
    process = std::make_unique<SidecarProcess>(env);
    EXPECT_TRUE(process->WaitServing(addr, absl::Seconds(20))) << process->Stderr();
  }
  std::string dir, addr;
  std::map<std::string, std::string> env;
  std::unique_ptr<SidecarProcess> process;
};

v1::CreateTaskRequest NewTask(const std::string& title, uint32_t max_attempts = 0) {
  v1::CreateTaskRequest req;
  req.set_title(title);
  req.set_body("body of " + title);
  req.set_max_attempts(max_attempts);
  return req;
}

TEST(CppClientTest, CallsReturnStatusOrAndErrorsCarryTheirReason) {
  Sidecar sidecar("calls");
  Client client(sidecar.addr);
  absl::StatusOr<v1::Task> task = client.CreateTask(NewTask("build"));
  ASSERT_TRUE(task.ok()) << task.status();
  absl::StatusOr<v1::Task> got = client.GetTask(task->id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->title(), "build");

  absl::StatusOr<v1::Task> missing = client.GetTask("no-such-task");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReason(missing.status()), "NOT_FOUND");

  v1::SetMemoryRequest set;
  set.set_namespace_("global");
  set.set_key("k");
  set.set_value("v1");
  set.set_expected_version(0);
  ASSERT_TRUE(client.SetMemory(set).ok());
  absl::StatusOr<v1::MemoryEntry> again = client.SetMemory(set);  // exists now
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ErrorReason(again.status()), "VERSION_MISMATCH");

  absl::StatusOr<std::optional<v1::Lock>> lock = client.AcquireLock("res");
  ASSERT_TRUE(lock.ok() && lock->has_value());
  ASSERT_TRUE(client.ReleaseLock("res", (*lock)->fencing_token()).ok());
  absl::StatusOr<v1::Lock> stale = client.RenewLock("res", (*lock)->fencing_token());
  EXPECT_EQ(ErrorReason(stale.status()), "FENCING_TOKEN_STALE");

  // Nothing answers: UNAVAILABLE, reason the code's name.
  Client nobody(absl::StrCat("127.0.0.1:", PickFreePort()), {absl::Milliseconds(500)});
  absl::StatusOr<v1::Task> down = nobody.GetTask("1");
  EXPECT_EQ(ErrorReason(down.status()), "UNAVAILABLE");
}

TEST(CppClientTest, ScopedLockReleasesItsOwnInstanceOnScopeExit) {
  Sidecar sidecar("lock");
  Client client(sidecar.addr);
  uint64_t token = 0;
  {
    absl::StatusOr<ScopedLock> lock = ScopedLock::Acquire(&client, "deploy");
    ASSERT_TRUE(lock.ok()) << lock.status();
    token = lock->token();
    EXPECT_GT(token, 0u);
    // Held: a second acquisition from this worker returns the same instance; the lock is listed.
    absl::StatusOr<std::vector<v1::Lock>> locks = client.ListLocks();
    ASSERT_TRUE(locks.ok());
    ASSERT_EQ(locks->size(), 1u);
    EXPECT_EQ((*locks)[0].name(), "deploy");
  }
  absl::StatusOr<std::vector<v1::Lock>> after = client.ListLocks();
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
  // A moved-from guard releases nothing; the new owner releases once.
  absl::StatusOr<ScopedLock> first = ScopedLock::Acquire(&client, "deploy");
  ASSERT_TRUE(first.ok());
  EXPECT_GT(first->token(), token);
  ScopedLock moved = *std::move(first);
  EXPECT_TRUE(moved.Release().ok());
  EXPECT_TRUE(client.ListLocks()->empty());
}

TEST(CppClientTest, WorkerCompletesAndFailsTasks) {
  Sidecar sidecar("worker");
  Client client(sidecar.addr);
  absl::StatusOr<v1::Task> ok = client.CreateTask(NewTask("ok"));
  absl::StatusOr<v1::Task> bad = client.CreateTask(NewTask("bad", /*max_attempts=*/5));
  ASSERT_TRUE(ok.ok() && bad.ok());
  WorkerOptions options;
  options.until_idle = true;
  options.poll_wait = absl::Milliseconds(500);
  Worker worker(&client, options);
  std::atomic<int> calls{0};
  absl::Status run = worker.Run([&](Job& job) -> absl::StatusOr<std::string> {
    ++calls;
    if (job.task().title() == "bad") return PermanentError("cannot do it");
    return absl::StrCat("done ", job.task().id(), " under ", job.lock().fencing_token() > 0);
  });
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(worker.finished(), 2);
  absl::StatusOr<v1::Task> done = client.GetTask(ok->id());
  EXPECT_EQ(done->state(), v1::TASK_STATE_DONE);
  EXPECT_EQ(done->result(), absl::StrCat("done ", ok->id(), " under 1"));
  absl::StatusOr<v1::Task> dead = client.GetTask(bad->id());
  EXPECT_EQ(dead->state(), v1::TASK_STATE_DEAD_LETTER);  // permanent: not retried
  EXPECT_EQ(dead->last_error(), "cannot do it");
}

TEST(CppClientTest, WorkerHeartbeatsWhileALongHandlerRuns) {
  Sidecar sidecar("long");
  Client client(sidecar.addr);
  ASSERT_TRUE(client.CreateTask(NewTask("slow")).ok());
  WorkerOptions options;
  options.max_tasks = 1;
  Worker worker(&client, options);
  bool cancelled = true;
  absl::Status run = worker.Run([&](Job& job) -> absl::StatusOr<std::string> {
    // Twice the lease: only the worker's heartbeats keep the lock.
    cancelled = job.WaitCancelled(absl::Seconds(3));
    return "finished";
  });
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_FALSE(cancelled);
  EXPECT_EQ(worker.finished(), 1);
}

TEST(CppClientTest, ALostLockCancelsTheJobAndTheTaskIsNotFinished) {
  Sidecar sidecar("lost");
  Client client(sidecar.addr, {absl::Seconds(2)});
  absl::StatusOr<v1::Task> task = client.CreateTask(NewTask("fragile"));
  ASSERT_TRUE(task.ok());
  WorkerOptions options;
  options.max_tasks = 1;
  Worker worker(&client, options);
  std::atomic<bool> cancelled{false};
  absl::Status run = worker.Run([&](Job& job) -> absl::StatusOr<std::string> {
    // The sidecar pauses past its lease (a stopped VM, a long GC): the lease lapses.
    sidecar.process->Signal(SIGSTOP);
    absl::SleepFor(absl::Milliseconds(2500));
    sidecar.process->Signal(SIGCONT);
    cancelled = job.WaitCancelled(absl::Seconds(10));
    return "too late";
  });
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_TRUE(cancelled.load());
  EXPECT_EQ(worker.finished(), 0);
  absl::StatusOr<v1::Task> after = client.GetTask(task->id());
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->state(), v1::TASK_STATE_DONE);
  EXPECT_NE(after->result(), "too late");
}

TEST(CppClientTest, WorkerCarriesOnAcrossASidecarRestart) {
  Sidecar sidecar("restart");
  Client client(sidecar.addr, {absl::Seconds(2)});
  ASSERT_TRUE(client.CreateTask(NewTask("before")).ok());
  WorkerOptions options;
  options.max_tasks = 2;
  options.poll_wait = absl::Milliseconds(500);
  Worker worker(&client, options);
  std::thread restarter;
  absl::Status run = worker.Run([&](Job& job) -> absl::StatusOr<std::string> {
    if (job.task().title() == "before") {
      // After this task, the sidecar restarts (SIGTERM, then a new process on the same data
      // and address); the second task is created once it is back.
      restarter = std::thread([&] {
        absl::SleepFor(absl::Milliseconds(300));
        sidecar.process->Signal(SIGTERM);
        sidecar.process->Wait(absl::Seconds(10));
        sidecar.Start();
        Client other(sidecar.addr);
        EXPECT_TRUE(other.CreateTask(NewTask("after")).ok());
      });
    }
    return "ok";
  });
  restarter.join();
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_EQ(worker.finished(), 2);
}

}  // namespace
}  // namespace tasksentinel::client
