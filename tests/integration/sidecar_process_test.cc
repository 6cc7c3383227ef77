// The real sidecar binary, as users run it: start-up and health, configuration errors,
// SIGTERM, durability across kill -9, and several sidecar processes sharing one data directory.
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/integration/sidecar_process.h"

namespace tasksentinel::testing {
namespace {

namespace v1 = ::tasksentinel::v1;

std::string FreshDir(const std::string& name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  return dir;
}

std::map<std::string, std::string> Env(const std::string& worker, const std::string& addr,
                                       const std::string& data_dir) {
  return {{"WORKER_ID", worker},
          {"SENTINEL_GRPC_ADDR", addr},
          {"SENTINEL_DATA_DIR", data_dir},
          {"SENTINEL_POLL_INTERVAL_MS", "10"},
          // A free port each: several sidecars run at once, and 8080 may be taken.
          {"SENTINEL_HTTP_ADDR", "127.0.0.1:0"},
          // Long enough that the test, which does not heartbeat, keeps its lease throughout.
          {"STALE_WORKER_THRESHOLD_MS", "60000"}};
}

std::unique_ptr<v1::SentinelService::Stub> Stub(const std::string& target) {
  return v1::SentinelService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

grpc::ClientContext* Ctx(grpc::ClientContext* ctx, int seconds = 5) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

TEST(SidecarProcessTest, ServesHealthAndStopsCleanlyOnSigterm) {
  const std::string dir = FreshDir("health");
  const std::string addr = absl::StrCat("127.0.0.1:", PickFreePort());
  SidecarProcess sidecar(Env("worker-1", addr, dir));
  ASSERT_TRUE(sidecar.WaitServing(addr, absl::Seconds(10))) << sidecar.Stderr();

  // It holds a lock when told to stop.
  auto stub = Stub(addr);
  grpc::ClientContext ctx;
  v1::AcquireLockRequest req;
  req.set_name("res");
  v1::AcquireLockResponse resp;
  ASSERT_TRUE(stub->AcquireLock(Ctx(&ctx), req, &resp).ok());
  ASSERT_TRUE(resp.acquired());

  const absl::Time t0 = absl::Now();
  sidecar.Signal(SIGTERM);
  std::optional<int> rc = sidecar.Wait(absl::Seconds(5));
  ASSERT_TRUE(rc.has_value()) << "did not exit within 5 s";
  EXPECT_EQ(*rc, 0) << sidecar.Stderr();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));

  // A second sidecar on the same data directory sees the lock released and the worker gone.
  const std::string addr2 = absl::StrCat("127.0.0.1:", PickFreePort());
  SidecarProcess other(Env("worker-2", addr2, dir));
  ASSERT_TRUE(other.WaitServing(addr2, absl::Seconds(10))) << other.Stderr();
  auto stub2 = Stub(addr2);
  grpc::ClientContext ctx2;
  v1::AcquireLockResponse resp2;
  ASSERT_TRUE(stub2->AcquireLock(Ctx(&ctx2), req, &resp2).ok());
  EXPECT_TRUE(resp2.acquired());
  grpc::ClientContext ctx3;
  v1::ListWorkersRequest list;
  list.set_include_gone(true);
  v1::ListWorkersResponse workers;
  ASSERT_TRUE(stub2->ListWorkers(Ctx(&ctx3), list, &workers).ok());
  bool found = false;
  for (const v1::Worker& w : workers.workers()) {
    if (w.worker_id() == "worker-1") {
      found = true;
      EXPECT_EQ(w.status(), v1::WORKER_STATUS_GONE);
    }
  }
  EXPECT_TRUE(found);
}

TEST(SidecarProcessTest, AnInvalidSettingStopsStartUpWithOneClearLine) {
  auto env = Env("worker-1", absl::StrCat("127.0.0.1:", PickFreePort()), FreshDir("badcfg"));
  env["WORKER_MAX_TASKS"] = "lots";
  SidecarProcess sidecar(env);
  std::optional<int> rc = sidecar.Wait(absl::Seconds(5));
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 0);
  const std::string err = sidecar.Stderr();
  std::vector<std::string> lines = absl::StrSplit(err, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << err;
  EXPECT_NE(lines[0].find("WORKER_MAX_TASKS"), std::string::npos) << err;
  EXPECT_NE(lines[0].find("lots"), std::string::npos) << err;
}

// Issue #11: gRPC used to set SO_REUSEPORT, so a second sidecar on a used address started
// and the two shared its calls. Now the second one fails with one line naming the address,
// and leaves the first (same worker) serving with its lock.
TEST(SidecarProcessTest, ASecondSidecarOnAUsedAddressFailsWithOneLine) {
  const std::string dir = FreshDir("reuse");
  const std::string addr = absl::StrCat("127.0.0.1:", PickFreePort());
  SidecarProcess first(Env("worker-1", addr, dir));
  ASSERT_TRUE(first.WaitServing(addr, absl::Seconds(10))) << first.Stderr();
  auto stub = Stub(addr);
  grpc::ClientContext ctx;
  v1::AcquireLockRequest req;
  req.set_name("res");
  v1::AcquireLockResponse held;
  ASSERT_TRUE(stub->AcquireLock(Ctx(&ctx), req, &held).ok());
  ASSERT_TRUE(held.acquired());

  SidecarProcess second(Env("worker-1", addr, dir));
  std::optional<int> rc = second.Wait(absl::Seconds(10));
  ASSERT_TRUE(rc.has_value()) << "the second sidecar kept running";
  EXPECT_NE(*rc, 0);
  const std::string err = second.Stderr();
  std::vector<std::string> lines = absl::StrSplit(err, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << err;
  EXPECT_NE(lines[0].find(addr), std::string::npos) << err;

  // The first still answers every call, and its worker still holds the lock.
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext c;
    v1::ListLocksResponse locks;
    ASSERT_TRUE(stub->ListLocks(Ctx(&c), v1::ListLocksRequest(), &locks).ok());
    ASSERT_EQ(locks.locks_size(), 1);
    EXPECT_EQ(locks.locks(0).holder(), "worker-1");
  }
  first.Signal(SIGTERM);
  EXPECT_EQ(first.Wait(absl::Seconds(5)), std::optional<int>(0)) << first.Stderr();
}

// Issue #11: a zero-byte sentinel.db started as an empty store, and a store with scrambled
// pages started and failed later. Both now stop start-up with one line naming the file, which
// is left as it was.
TEST(SidecarProcessTest, AnEmptyOrDamagedStoreStopsStartUpWithOneLine) {
  const std::string dir = FreshDir("damaged");
  const std::string db = dir + "/sentinel.db";
  {
    // A real store of many pages, written by a sidecar.
    const std::string addr = absl::StrCat("127.0.0.1:", PickFreePort());
    SidecarProcess sidecar(Env("worker-1", addr, dir));
    ASSERT_TRUE(sidecar.WaitServing(addr, absl::Seconds(10))) << sidecar.Stderr();
    auto stub = Stub(addr);
    for (int i = 0; i < 150; ++i) {
      grpc::ClientContext ctx;
      v1::SetMemoryRequest set;
      set.set_namespace_("global");
      set.set_key(absl::StrCat("k", i));
      set.set_value(std::string(2000, 'x'));
      v1::SetMemoryResponse resp;
      ASSERT_TRUE(stub->SetMemory(Ctx(&ctx), set, &resp).ok());
    }
    sidecar.Signal(SIGTERM);
    ASSERT_EQ(sidecar.Wait(absl::Seconds(5)), std::optional<int>(0));
  }
  std::string contents;
  {
    std::ifstream in(db, std::ios::binary);
    contents.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(contents.size(), 4096u * 40);
  auto write = [&](const std::string& bytes) {
    std::ofstream out(db, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  std::string scrambled = contents;
  for (size_t i = 4096 * 10; i < 4096 * 30; ++i) scrambled[i] = static_cast<char>(i * 131 + 7);

  for (const auto& [what, bytes] : {std::pair<std::string, std::string>{"empty", ""},
                                    std::pair<std::string, std::string>{"damaged", scrambled}}) {
    write(bytes);
    SidecarProcess sidecar(Env("worker-1", absl::StrCat("127.0.0.1:", PickFreePort()), dir));
    std::optional<int> rc = sidecar.Wait(absl::Seconds(10));
    ASSERT_TRUE(rc.has_value()) << what << ": the sidecar started";
    EXPECT_NE(*rc, 0) << what;
    const std::string err = sidecar.Stderr();
    std::vector<std::string> lines = absl::StrSplit(err, '\n', absl::SkipEmpty());
    ASSERT_EQ(lines.size(), 1u) << what << ": " << err;
    EXPECT_NE(lines[0].find(db), std::string::npos) << err;
    EXPECT_NE(lines[0].find(what), std::string::npos) << err;
    std::ifstream in(db, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()),
              bytes)
        << what << ": the file was changed";
  }
}

// Issue #11: SENTINEL_GRPC_ADDR=0.0.0.0:PORT served anyone with no TLS, no token, no warning.
TEST(SidecarProcessTest, AnUnprotectedNonLoopbackAddressStopsStartUpWithOneLine) {
  auto env = Env("worker-1", absl::StrCat("0.0.0.0:", PickFreePort()), FreshDir("insecure"));
  SidecarProcess sidecar(env);
  std::optional<int> rc = sidecar.Wait(absl::Seconds(10));
  ASSERT_TRUE(rc.has_value()) << "it started";
  EXPECT_NE(*rc, 0);
  const std::string err = sidecar.Stderr();
  std::vector<std::string> lines = absl::StrSplit(err, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << err;
  EXPECT_NE(lines[0].find("SENTINEL_GRPC_ADDR"), std::string::npos) << err;
  EXPECT_NE(lines[0].find("SENTINEL_ALLOW_INSECURE"), std::string::npos) << err;
}

TEST(SidecarProcessTest, ListensOnAUnixSocket) {
  const std::string dir = FreshDir("unix");
  // Short path: unix socket paths are limited to ~108 bytes.
  const std::string sock = absl::StrCat("/tmp/ts-test-", getpid(), ".sock");
  unlink(sock.c_str());
  const std::string addr = absl::StrCat("unix:", sock);
  SidecarProcess sidecar(Env("worker-1", addr, dir));
  EXPECT_TRUE(sidecar.WaitServing(addr, absl::Seconds(10))) << sidecar.Stderr();
  sidecar.Signal(SIGTERM);
  EXPECT_EQ(sidecar.Wait(absl::Seconds(5)), std::optional<int>(0));
  unlink(sock.c_str());
}

TEST(SidecarProcessTest, AcknowledgedWritesSurviveKillDashNine) {
  const std::string dir = FreshDir("durable");
  const std::string addr = absl::StrCat("127.0.0.1:", PickFreePort());
  std::string task_id;
  uint64_t token = 0;
  {
    SidecarProcess sidecar(Env("worker-1", addr, dir));
    ASSERT_TRUE(sidecar.WaitServing(addr, absl::Seconds(10))) << sidecar.Stderr();
    auto stub = Stub(addr);
    for (int i = 0; i < 20; ++i) {
      grpc::ClientContext ctx;
      v1::SetMemoryRequest set;
      set.set_namespace_("global");
      set.set_key(absl::StrCat("k", i));
      set.set_value(absl::StrCat("v", i));
      v1::SetMemoryResponse resp;
      ASSERT_TRUE(stub->SetMemory(Ctx(&ctx), set, &resp).ok());
    }
    grpc::ClientContext c1;
    v1::CreateTaskRequest create;
    create.set_title("survive");
    v1::CreateTaskResponse created;
    ASSERT_TRUE(stub->CreateTask(Ctx(&c1), create, &created).ok());
    grpc::ClientContext c2;
    v1::NextTaskResponse next;
    ASSERT_TRUE(stub->NextTask(Ctx(&c2), v1::NextTaskRequest(), &next).ok());
    ASSERT_TRUE(next.has_task());
    task_id = next.task().id();
    token = next.lock().fencing_token();
    sidecar.Signal(SIGKILL);
    ASSERT_TRUE(sidecar.Wait(absl::Seconds(5)).has_value());
  }
  // Restarted within its lease, the worker still holds its task and can finish it.
  SidecarProcess again(Env("worker-1", addr, dir));
  ASSERT_TRUE(again.WaitServing(addr, absl::Seconds(10))) << again.Stderr();
  auto stub = Stub(addr);
  grpc::ClientContext c3;
  v1::ListMemoryRequest list;
  list.set_namespace_("global");
  v1::ListMemoryResponse listed;
  ASSERT_TRUE(stub->ListMemory(Ctx(&c3), list, &listed).ok());
  EXPECT_EQ(listed.entries_size(), 20);
  grpc::ClientContext c4;
  v1::CompleteTaskRequest complete;
  complete.set_task_id(task_id);
  complete.set_fencing_token(token);
  complete.set_result("done after a crash");
  v1::CompleteTaskResponse completed;
  grpc::Status s = stub->CompleteTask(Ctx(&c4), complete, &completed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(completed.task().state(), v1::TASK_STATE_DONE);
}

TEST(SidecarProcessTest, SidecarsSharingADataDirectoryCoordinate) {
  const std::string dir = FreshDir("shared");
  const std::string addr_a = absl::StrCat("127.0.0.1:", PickFreePort());
  const std::string addr_b = absl::StrCat("127.0.0.1:", PickFreePort());
  SidecarProcess a(Env("worker-a", addr_a, dir));
  SidecarProcess b(Env("worker-b", addr_b, dir));
  ASSERT_TRUE(a.WaitServing(addr_a, absl::Seconds(10))) << a.Stderr();
  ASSERT_TRUE(b.WaitServing(addr_b, absl::Seconds(10))) << b.Stderr();
  auto stub_a = Stub(addr_a);
  auto stub_b = Stub(addr_b);

  v1::AcquireLockRequest req;
  req.set_name("shared-resource");
  grpc::ClientContext c1;
  v1::AcquireLockResponse held;
  ASSERT_TRUE(stub_a->AcquireLock(Ctx(&c1), req, &held).ok());
  ASSERT_TRUE(held.acquired());

  grpc::ClientContext c2;
  v1::AcquireLockResponse denied;
  ASSERT_TRUE(stub_b->AcquireLock(Ctx(&c2), req, &denied).ok());
  EXPECT_FALSE(denied.acquired());
  EXPECT_EQ(denied.lock().holder(), "worker-a");

  // B blocks; A releases from its own process; B's sidecar sees it at its next poll.
  std::thread release([&] {
    absl::SleepFor(absl::Milliseconds(200));
    grpc::ClientContext c;
    v1::ReleaseLockRequest rel;
    rel.set_name("shared-resource");
    rel.set_fencing_token(held.lock().fencing_token());
    v1::ReleaseLockResponse out;
    EXPECT_TRUE(stub_a->ReleaseLock(Ctx(&c), rel, &out).ok());
    EXPECT_EQ(out.status(), v1::ReleaseLockResponse::STATUS_RELEASED);
  });
  req.mutable_wait_timeout()->set_seconds(3);
  grpc::ClientContext c3;
  v1::AcquireLockResponse got;
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(stub_b->AcquireLock(Ctx(&c3), req, &got).ok());
  release.join();
  EXPECT_TRUE(got.acquired());
  EXPECT_GT(got.lock().fencing_token(), held.lock().fencing_token());
  EXPECT_LT(absl::Now() - t0, absl::Seconds(2));

  // Tasks created through one sidecar are handed out once across both.
  for (int i = 0; i < 10; ++i) {
    grpc::ClientContext c;
    v1::CreateTaskRequest create;
    create.set_title(absl::StrCat("t", i));
    v1::CreateTaskResponse out;
    ASSERT_TRUE(stub_a->CreateTask(Ctx(&c), create, &out).ok());
  }
  std::set<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    for (auto* stub : {stub_a.get(), stub_b.get()}) {
      grpc::ClientContext c;
      v1::NextTaskResponse next;
      ASSERT_TRUE(stub->NextTask(Ctx(&c), v1::NextTaskRequest(), &next).ok());
      ASSERT_TRUE(next.has_task());
      EXPECT_TRUE(seen.insert(next.task().id()).second) << next.task().id() << " handed out twice";
      grpc::ClientContext cc;
      v1::CompleteTaskRequest complete;
      complete.set_task_id(next.task().id());
      complete.set_fencing_token(next.lock().fencing_token());
      v1::CompleteTaskResponse done;
      ASSERT_TRUE(stub->CompleteTask(Ctx(&cc), complete, &done).ok());
    }
  }
  EXPECT_EQ(seen.size(), 10u);
}

}  // namespace
}  // namespace tasksentinel::testing
