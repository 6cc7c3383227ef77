// End-to-end tests of the tasksentinel.v1.SentinelService gRPC service: every RPC is called through a
// real channel to a real SentinelServer listening on 127.0.0.1:0. Several servers sharing one
// store are several workers (one sidecar per worker). Time is real (RealClock) but every setting
// is short (stale threshold 300 ms, heartbeats every 100 ms, polls every 5 ms), so lease expiry,
// lock-delay, retry backoff and blocking waits all happen within a fraction of a second.
//
// Timing discipline: no test sleeps more than ~0.5 s at a time; lower bounds on elapsed time are
// checked against the server's own timestamps (same clock as absl::Now()), upper bounds are
// generous so that a loaded machine does not make the tests flaky.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/memory_store.h"
#include "core/embedded/sqlite_store.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "service/server.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/testing/time_scale.h"

namespace tasksentinel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kStale = absl::Milliseconds(300);
constexpr absl::Duration kHeartbeatEvery = absl::Milliseconds(100);
constexpr absl::Duration kRpcTimeout = absl::Seconds(10);
// Slack for the microsecond precision of stored times.
constexpr absl::Duration kTimeSlack = absl::Milliseconds(2);

// ---------------------------------------------------------------------------------------------
// Helpers.

google::protobuf::Duration Dur(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  out.set_seconds(ns / 1'000'000'000);
  out.set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
  return out;
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
}

::testing::AssertionResult HasCode(const grpc::Status& s, grpc::StatusCode want) {
  if (s.error_code() == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "gRPC status " << s.error_code() << " ("
                                       << s.error_message() << "), want " << want;
}

// Checks the status code of a Reply (or a grpc::Status via .status).
#define EXPECT_CODE(reply, code) EXPECT_TRUE(HasCode((reply).status, grpc::StatusCode::code))
#define ASSERT_CODE(reply, code) ASSERT_TRUE(HasCode((reply).status, grpc::StatusCode::code))
#define EXPECT_RPC_OK(reply) EXPECT_CODE(reply, OK)
#define ASSERT_RPC_OK(reply) ASSERT_CODE(reply, OK)

// A call's status and response.
template <typename T>
struct Reply {
  grpc::Status status;
  T resp;
};

// The settings every test starts from: short timings, an ephemeral loopback port.
Config TestConfig(const std::string& worker_id) {
  Config c{};
  c.worker_id = worker_id;
  c.hostname = "test-host";
  c.max_tasks = 10;
  c.lock_ttl = absl::Seconds(30);
  c.lock_delay = absl::ZeroDuration();
  c.heartbeat_interval = kHeartbeatEvery;
  c.stale_threshold = kStale;
  c.poll_interval = absl::Milliseconds(5);
  c.task_retry_backoff = absl::Milliseconds(50);
  c.task_max_attempts = 3;
  c.grpc_addr = "127.0.0.1:0";
  c.http_addr = "";
  c.cpu_cores = 1;
  const char* tmp = std::getenv("TEST_TMPDIR");
  c.data_dir = tmp != nullptr ? tmp : "/tmp";
  return c;
}

// One worker: its sidecar (a SentinelServer), a channel and stub to it, and optionally a
// background thread heartbeating like a well-behaved worker process would.
class Worker {
 public:
  Worker(const Config& config, Store* store, Clock* clock)
      : config_(config), server_(std::make_unique<SentinelServer>(config, store, clock)) {}

  ~Worker() {
    StopHeartbeats();
    Shutdown(absl::ZeroDuration()).IgnoreError();
  }

  absl::Status Start() {
    absl::Status s = server_->Start();
    if (!s.ok()) return s;
    channel_ = server_->NewChannel();
    stub_ = v1::SentinelService::NewStub(channel_);
    return absl::OkStatus();
  }

  absl::Status Shutdown(absl::Duration grace = absl::Seconds(2)) {
    StopHeartbeats();
    return server_->Shutdown(grace);
  }

  const std::string& id() const { return config_.worker_id; }
  const Config& config() const { return config_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  v1::SentinelService::Stub* stub() { return stub_.get(); }

  // Heartbeats now and then every kHeartbeatEvery until StopHeartbeats().
  void StartHeartbeats() {
    StopHeartbeats();
    stop_ = std::make_unique<absl::Notification>();
    heartbeater_ = std::thread([this, stop = stop_.get()] {
      do {
        grpc::ClientContext ctx;
        SetDeadline(&ctx, absl::Seconds(2));
        v1::HeartbeatRequest req;
        v1::HeartbeatResponse resp;
        stub_->Heartbeat(&ctx, req, &resp).error_code();
        heartbeats_.fetch_add(1);
      } while (!stop->WaitForNotificationWithTimeout(kHeartbeatEvery));
    });
  }

  void StopHeartbeats() {
    if (!heartbeater_.joinable()) return;
    stop_->Notify();
    heartbeater_.join();
  }

#define TS_UNARY(Name)                                                                  \
  Reply<v1::Name##Response> Name(const v1::Name##Request& req,                          \
                                 absl::Duration timeout = kRpcTimeout) {                \
    grpc::ClientContext ctx;                                                            \
    SetDeadline(&ctx, timeout);                                                         \
    Reply<v1::Name##Response> r;                                                        \
    r.status = stub_->Name(&ctx, req, &r.resp);                                         \
    return r;                                                                           \
  }
  TS_UNARY(AcquireLock)
  TS_UNARY(RenewLock)
  TS_UNARY(ReleaseLock)
  TS_UNARY(Heartbeat)
  TS_UNARY(GetMemory)
  TS_UNARY(SetMemory)
  TS_UNARY(DeleteMemory)
  TS_UNARY(ListMemory)
  TS_UNARY(CreateTask)
  TS_UNARY(NextTask)
  TS_UNARY(CompleteTask)
  TS_UNARY(FailTask)
  TS_UNARY(GetTask)
  TS_UNARY(GetClusterHealth)
  TS_UNARY(ListLocks)
  TS_UNARY(ListWorkers)
#undef TS_UNARY

  // Conveniences.
  Reply<v1::AcquireLockResponse> Acquire(const std::string& name,
                                         absl::Duration wait = absl::ZeroDuration(),
                                         absl::Duration ttl = absl::ZeroDuration()) {
    v1::AcquireLockRequest req;
    req.set_name(name);
    if (wait != absl::ZeroDuration()) *req.mutable_wait_timeout() = Dur(wait);
    if (ttl != absl::ZeroDuration()) *req.mutable_ttl() = Dur(ttl);
    return AcquireLock(req, wait + kRpcTimeout);
  }
  Reply<v1::ReleaseLockResponse> Release(const std::string& name, uint64_t token) {
    v1::ReleaseLockRequest req;
    req.set_name(name);
    req.set_fencing_token(token);
    return ReleaseLock(req);
  }
  Reply<v1::RenewLockResponse> Renew(const std::string& name, uint64_t token,
                                     absl::Duration ttl = absl::ZeroDuration()) {
    v1::RenewLockRequest req;
    req.set_name(name);
    req.set_fencing_token(token);
    if (ttl != absl::ZeroDuration()) *req.mutable_ttl() = Dur(ttl);
    return RenewLock(req);
  }
  Reply<v1::HeartbeatResponse> Beat(v1::WorkerHealth health = v1::WORKER_HEALTH_UNSPECIFIED,
                                    uint32_t max_tasks = 0) {
    v1::HeartbeatRequest req;
    req.set_health(health);
    req.set_max_tasks(max_tasks);
    return Heartbeat(req);
  }
  Reply<v1::SetMemoryResponse> Set(const std::string& ns, const std::string& key,
                                   const std::string& value) {
    v1::SetMemoryRequest req;
    req.set_namespace_(ns);
    req.set_key(key);
    req.set_value(value);
    return SetMemory(req);
  }
  Reply<v1::GetMemoryResponse> Get(const std::string& ns, const std::string& key) {
    v1::GetMemoryRequest req;
    req.set_namespace_(ns);
    req.set_key(key);
    return GetMemory(req);
  }
  Reply<v1::DeleteMemoryResponse> Delete(const std::string& ns, const std::string& key) {
    v1::DeleteMemoryRequest req;
    req.set_namespace_(ns);
    req.set_key(key);
    return DeleteMemory(req);
  }
  Reply<v1::ListMemoryResponse> List(const std::string& ns, const std::string& prefix) {
    v1::ListMemoryRequest req;
    req.set_namespace_(ns);
    req.set_prefix(prefix);
    return ListMemory(req);
  }
  Reply<v1::CreateTaskResponse> Create(const std::string& title, const std::string& type = "",
                                       uint32_t max_attempts = 0) {
    v1::CreateTaskRequest req;
    req.set_title(title);
    req.set_body(absl::StrCat("body of ", title));
    req.set_type(type);
    req.set_max_attempts(max_attempts);
    return CreateTask(req);
  }
  Reply<v1::NextTaskResponse> Next(absl::Duration wait = absl::ZeroDuration(),
                                   const std::vector<std::string>& types = {}) {
    v1::NextTaskRequest req;
    for (const std::string& t : types) req.add_task_types(t);
    if (wait != absl::ZeroDuration()) *req.mutable_wait_timeout() = Dur(wait);
    return NextTask(req, wait + kRpcTimeout);
  }
  Reply<v1::CompleteTaskResponse> Complete(const std::string& id, uint64_t token,
                                           const std::string& result = "ok") {
    v1::CompleteTaskRequest req;
    req.set_task_id(id);
    req.set_fencing_token(token);
    req.set_result(result);
    return CompleteTask(req);
  }
  Reply<v1::FailTaskResponse> Fail(const std::string& id, uint64_t token,
                                   const std::string& error, bool retryable) {
    v1::FailTaskRequest req;
    req.set_task_id(id);
    req.set_fencing_token(token);
    req.set_error(error);
    req.set_retryable(retryable);
    return FailTask(req);
  }
  Reply<v1::GetTaskResponse> Task(const std::string& id) {
    v1::GetTaskRequest req;
    req.set_task_id(id);
    return GetTask(req);
  }
  Reply<v1::GetClusterHealthResponse> Health() { return GetClusterHealth({}); }
  Reply<v1::ListLocksResponse> Locks() { return ListLocks({}); }
  Reply<v1::ListWorkersResponse> Workers(bool include_gone = false) {
    v1::ListWorkersRequest req;
    req.set_include_gone(include_gone);
    return ListWorkers(req);
  }

 private:
  const Config config_;
  std::unique_ptr<SentinelServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SentinelService::Stub> stub_;
  std::thread heartbeater_;
  std::unique_ptr<absl::Notification> stop_;
  std::atomic<int> heartbeats_{0};
};

// The live lock named `name` in a ListLocks answer, if any.
std::optional<v1::Lock> FindLock(const v1::ListLocksResponse& locks, const std::string& name) {
  for (const v1::Lock& l : locks.locks()) {
    if (l.name() == name) return l;
  }
  return std::nullopt;
}

std::optional<v1::Worker> FindWorker(const v1::ListWorkersResponse& workers,
                                     const std::string& id) {
  for (const v1::Worker& w : workers.workers()) {
    if (w.worker_id() == id) return w;
  }
  return std::nullopt;
}

std::vector<std::string> Keys(const v1::ListMemoryResponse& list) {
  std::vector<std::string> out;
  for (const v1::MemoryEntry& e : list.entries()) out.push_back(e.key());
  return out;
}

class SentinelServiceTest : public ::testing::Test {
 protected:
  // Starts a worker on `store` (default: the shared MemoryStore). `tweak` adjusts its settings.
  Worker& StartWorker(const std::string& id, bool heartbeat = true,
                      const std::function<void(Config&)>& tweak = nullptr,
                      Store* store = nullptr) {
    Config config = TestConfig(id);
    if (tweak) tweak(config);
    workers_.push_back(
        std::make_unique<Worker>(config, store != nullptr ? store : &store_, &clock_));
    Worker& w = *workers_.back();
    absl::Status s = w.Start();
    EXPECT_TRUE(s.ok()) << s;
    if (heartbeat) w.StartHeartbeats();
    return w;
  }

  void TearDown() override {
    for (auto& w : workers_) w->StopHeartbeats();
    workers_.clear();
    sqlite_stores_.clear();
  }

  // Opens (or reopens) the SQLite store at `path`; it lives until the end of the test.
  SqliteStore* OpenSqlite(const std::string& path) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    sqlite_stores_.push_back(*std::move(store));
    return sqlite_stores_.back().get();
  }

  RealClock clock_;
  MemoryStore store_;
  std::vector<std::unique_ptr<SqliteStore>> sqlite_stores_;
  std::vector<std::unique_ptr<Worker>> workers_;  // destroyed before the stores
};

// ---------------------------------------------------------------------------------------------
// Health.

TEST_F(SentinelServiceTest, HealthCheckIsServingAfterStart) {
  // No heartbeats, so a lease this test cannot outlive: kStale (300 ms) lapsed during the first,
  // cold, calls under ThreadSanitizer, and this test is about registration, not lapses.
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false,
                          [](Config& c) { c.stale_threshold = absl::Seconds(30); });
  auto health = grpc::health::v1::Health::NewStub(a.channel());
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kRpcTimeout);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = health->Check(&ctx, req, &resp);
  ASSERT_TRUE(HasCode(s, grpc::StatusCode::OK));
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // The worker is registered by Start, before any call of its own.
  Reply<v1::ListWorkersResponse> workers = a.Workers();
  ASSERT_RPC_OK(workers);
  std::optional<v1::Worker> me = FindWorker(workers.resp, "worker-a");
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->status(), v1::WORKER_STATUS_ACTIVE);
  EXPECT_EQ(me->hostname(), "test-host");
  EXPECT_EQ(me->max_tasks(), 10u);
  EXPECT_GE(me->lease_epoch(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Locks.

TEST_F(SentinelServiceTest, AcquireLockGivesAFencedLockToOneWorkerAtATime) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");

  v1::AcquireLockRequest req;
  req.set_name("resource-1");
  (*req.mutable_metadata())["pid"] = "42";
  Reply<v1::AcquireLockResponse> got = a.AcquireLock(req);
  ASSERT_RPC_OK(got);
  ASSERT_TRUE(got.resp.acquired());
  const v1::Lock& lock = got.resp.lock();
  EXPECT_EQ(lock.name(), "resource-1");
  EXPECT_GT(lock.fencing_token(), 0u);
  EXPECT_EQ(lock.holder(), "worker-a");
  EXPECT_GT(ToTime(lock.expires_at()), ToTime(lock.acquired_at()));
  EXPECT_EQ(ToDuration(lock.ttl()), absl::Seconds(30));  // the configured LOCK_TTL
  EXPECT_EQ(lock.metadata().at("pid"), "42");

  // Re-acquiring by the holder returns the held lock unchanged.
  Reply<v1::AcquireLockResponse> again = a.Acquire("resource-1");
  ASSERT_RPC_OK(again);
  EXPECT_TRUE(again.resp.acquired());
  EXPECT_EQ(again.resp.lock().fencing_token(), lock.fencing_token());
  EXPECT_EQ(again.resp.lock().holder(), "worker-a");

  // Another worker does not get it: not an error, and it learns who holds it.
  Reply<v1::AcquireLockResponse> other = b.Acquire("resource-1");
  ASSERT_RPC_OK(other);
  EXPECT_FALSE(other.resp.acquired());
  EXPECT_EQ(other.resp.lock().holder(), "worker-a");
  EXPECT_EQ(other.resp.lock().fencing_token(), 0u);  // never another worker's token

  // A non-default ttl is kept.
  Reply<v1::AcquireLockResponse> ttl = b.Acquire("resource-2", absl::ZeroDuration(),
                                                 absl::Seconds(7));
  ASSERT_RPC_OK(ttl);
  EXPECT_TRUE(ttl.resp.acquired());
  EXPECT_EQ(ToDuration(ttl.resp.lock().ttl()), absl::Seconds(7));

  Reply<v1::ListLocksResponse> locks = b.Locks();
  ASSERT_RPC_OK(locks);
  ASSERT_EQ(locks.resp.locks_size(), 2);
  std::optional<v1::Lock> listed = FindLock(locks.resp, "resource-1");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->holder(), "worker-a");
  EXPECT_EQ(listed->fencing_token(), 0u);  // b sees the holder, not its token
  std::optional<v1::Lock> own = FindLock(a.Locks().resp, "resource-1");
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(own->fencing_token(), lock.fencing_token());
}

TEST_F(SentinelServiceTest, FencingTokensRiseWithEveryAcquisition) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    for (Worker* w : {&a, &b}) {
      Reply<v1::AcquireLockResponse> got = w->Acquire("shared");
      ASSERT_RPC_OK(got);
      ASSERT_TRUE(got.resp.acquired()) << w->id() << " round " << i;
      EXPECT_GT(got.resp.lock().fencing_token(), last);
      last = got.resp.lock().fencing_token();
      Reply<v1::ReleaseLockResponse> rel = w->Release("shared", last);
      ASSERT_RPC_OK(rel);
      EXPECT_EQ(rel.resp.status(), v1::ReleaseLockResponse::STATUS_RELEASED);
    }
  }
}

TEST_F(SentinelServiceTest, BlockingAcquireGetsTheLockWhenTheHolderReleases) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  Reply<v1::AcquireLockResponse> held = a.Acquire("job");
  ASSERT_RPC_OK(held);
  ASSERT_TRUE(held.resp.acquired());

  const absl::Time start = absl::Now();
  auto waiting = std::async(std::launch::async, [&b] { return b.Acquire("job", absl::Seconds(2)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Reply<v1::ReleaseLockResponse> rel = a.Release("job", held.resp.lock().fencing_token());
  ASSERT_RPC_OK(rel);
  EXPECT_EQ(rel.resp.status(), v1::ReleaseLockResponse::STATUS_RELEASED);
  const absl::Time released = absl::Now();

  Reply<v1::AcquireLockResponse> got = waiting.get();
  const absl::Time done = absl::Now();
  ASSERT_RPC_OK(got);
  EXPECT_TRUE(got.resp.acquired());
  EXPECT_EQ(got.resp.lock().holder(), "worker-b");
  EXPECT_GT(got.resp.lock().fencing_token(), held.resp.lock().fencing_token());
  EXPECT_GE(ToTime(got.resp.lock().acquired_at()), released - absl::Milliseconds(50));
  EXPECT_LT(done - start, absl::Seconds(1)) << "B should not wait out its 2 s timeout";
}

TEST_F(SentinelServiceTest, BlockingAcquireTimesOutWithoutTheLock) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  ASSERT_TRUE(a.Acquire("job").resp.acquired());

  const absl::Time start = absl::Now();
  Reply<v1::AcquireLockResponse> got = b.Acquire("job", absl::Milliseconds(150));
  const absl::Duration took = absl::Now() - start;
  ASSERT_RPC_OK(got);
  EXPECT_FALSE(got.resp.acquired());
  EXPECT_EQ(got.resp.lock().holder(), "worker-a");
  EXPECT_GE(took, absl::Milliseconds(145));
  EXPECT_LT(took, absl::Seconds(1));

  // The timed-out claimant left the queue: once A releases, a non-blocking claim succeeds.
  Reply<v1::AcquireLockResponse> mine = a.Acquire("job");
  ASSERT_RPC_OK(a.Release("job", mine.resp.lock().fencing_token()));
  Reply<v1::AcquireLockResponse> after = b.Acquire("job");
  ASSERT_RPC_OK(after);
  EXPECT_TRUE(after.resp.acquired());
}

TEST_F(SentinelServiceTest, BlockingAcquireServesClaimantsInTheOrderTheyStartedWaiting) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  Worker& c = StartWorker("worker-c");
  Reply<v1::AcquireLockResponse> held = a.Acquire("fair");
  ASSERT_TRUE(held.resp.acquired());

  // 300 ms apart, so that B is queued first even on a loaded machine (100 ms was not always
  // enough with both cores busy).
  auto b_wait = std::async(std::launch::async, [&b] { return b.Acquire("fair", absl::Seconds(3)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // B is queued first
  auto c_wait =
      std::async(std::launch::async, [&c] { return c.Acquire("fair", absl::Milliseconds(900)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  ASSERT_EQ(a.Release("fair", held.resp.lock().fencing_token()).resp.status(),
            v1::ReleaseLockResponse::STATUS_RELEASED);
  // A non-blocking claim respects the queue too: the releaser cannot grab it back.
  Reply<v1::AcquireLockResponse> grab = a.Acquire("fair");
  ASSERT_RPC_OK(grab);
  EXPECT_FALSE(grab.resp.acquired());

  Reply<v1::AcquireLockResponse> b_got = b_wait.get();
  ASSERT_RPC_OK(b_got);
  EXPECT_TRUE(b_got.resp.acquired());
  EXPECT_EQ(b_got.resp.lock().holder(), "worker-b");

  Reply<v1::AcquireLockResponse> c_got = c_wait.get();
  ASSERT_RPC_OK(c_got);
  EXPECT_FALSE(c_got.resp.acquired());
  EXPECT_EQ(c_got.resp.lock().holder(), "worker-b");
}

TEST_F(SentinelServiceTest, ReleaseLockReleasesExactlyTheNamedInstance) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  Reply<v1::AcquireLockResponse> first = a.Acquire("res");
  ASSERT_TRUE(first.resp.acquired());
  const uint64_t t1 = first.resp.lock().fencing_token();

  // Another worker cannot release A's live lock, even with A's token.
  Reply<v1::ReleaseLockResponse> theft = b.Release("res", t1);
  ASSERT_RPC_OK(theft);
  EXPECT_EQ(theft.resp.status(), v1::ReleaseLockResponse::STATUS_HELD_BY_OTHER);
  ASSERT_TRUE(FindLock(b.Locks().resp, "res").has_value());

  Reply<v1::ReleaseLockResponse> rel = a.Release("res", t1);
  ASSERT_RPC_OK(rel);
  EXPECT_EQ(rel.resp.status(), v1::ReleaseLockResponse::STATUS_RELEASED);
  EXPECT_FALSE(FindLock(a.Locks().resp, "res").has_value());
  Reply<v1::ReleaseLockResponse> twice = a.Release("res", t1);
  ASSERT_RPC_OK(twice);
  EXPECT_EQ(twice.resp.status(), v1::ReleaseLockResponse::STATUS_NOT_HELD);

  // B takes it; A's old token neither releases nor renews B's newer instance.
  Reply<v1::AcquireLockResponse> second = b.Acquire("res");
  ASSERT_TRUE(second.resp.acquired());
  const uint64_t t2 = second.resp.lock().fencing_token();
  ASSERT_GT(t2, t1);
  Reply<v1::ReleaseLockResponse> stale = a.Release("res", t1);
  ASSERT_RPC_OK(stale);
  EXPECT_EQ(stale.resp.status(), v1::ReleaseLockResponse::STATUS_HELD_BY_OTHER);
  std::optional<v1::Lock> still = FindLock(a.Locks().resp, "res");
  ASSERT_TRUE(still.has_value());
  EXPECT_EQ(still->holder(), "worker-b");
  EXPECT_EQ(still->fencing_token(), 0u);  // a is not the holder
  EXPECT_EQ(FindLock(b.Locks().resp, "res")->fencing_token(), t2);

  // Tokens that were never issued.
  EXPECT_CODE(a.Release("res", t2 + 1000000), INVALID_ARGUMENT);
  EXPECT_CODE(a.Release("res", 0), INVALID_ARGUMENT);
  EXPECT_CODE(a.Release("never-locked", 1), INVALID_ARGUMENT);
  ASSERT_TRUE(FindLock(a.Locks().resp, "res").has_value());
}

TEST_F(SentinelServiceTest, RenewLockNeedsTheLiveInstancesToken) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  Reply<v1::AcquireLockResponse> first = a.Acquire("res");
  const uint64_t t1 = first.resp.lock().fencing_token();

  Reply<v1::RenewLockResponse> renewed = a.Renew("res", t1, absl::Seconds(60));
  ASSERT_RPC_OK(renewed);
  EXPECT_EQ(renewed.resp.lock().fencing_token(), t1);
  EXPECT_EQ(renewed.resp.lock().holder(), "worker-a");
  EXPECT_EQ(ToDuration(renewed.resp.lock().ttl()), absl::Seconds(60));
  Reply<v1::RenewLockResponse> keep = a.Renew("res", t1);  // zero ttl keeps the ttl
  ASSERT_RPC_OK(keep);
  EXPECT_EQ(ToDuration(keep.resp.lock().ttl()), absl::Seconds(60));

  // Another worker cannot renew A's lock.
  EXPECT_CODE(b.Renew("res", t1), FAILED_PRECONDITION);

  ASSERT_EQ(a.Release("res", t1).resp.status(), v1::ReleaseLockResponse::STATUS_RELEASED);
  EXPECT_CODE(a.Renew("res", t1), FAILED_PRECONDITION);  // released
  Reply<v1::AcquireLockResponse> second = b.Acquire("res");
  ASSERT_TRUE(second.resp.acquired());
  EXPECT_CODE(a.Renew("res", t1), FAILED_PRECONDITION);  // superseded
  EXPECT_CODE(a.Renew("res", second.resp.lock().fencing_token() + 1000000), INVALID_ARGUMENT);
  EXPECT_CODE(a.Renew("res", t1, absl::Hours(25)), INVALID_ARGUMENT);
  EXPECT_RPC_OK(b.Renew("res", second.resp.lock().fencing_token()));
}

// The API: tokens come from one store-wide sequence. A token of another lock that is older than
// this lock's current one reads as stale (and changes nothing); one newer than any issued for
// this name cannot have been issued for it (INVALID_ARGUMENT).
TEST_F(SentinelServiceTest, ATokenOfAnotherLockChangesNothing) {
  Worker& a = StartWorker("worker-a");
  Reply<v1::AcquireLockResponse> older = a.Acquire("older-lock");
  ASSERT_TRUE(older.resp.acquired());
  Reply<v1::AcquireLockResponse> mine = a.Acquire("my-lock");
  ASSERT_TRUE(mine.resp.acquired());
  Reply<v1::AcquireLockResponse> newer = a.Acquire("newer-lock");
  ASSERT_TRUE(newer.resp.acquired());
  const uint64_t older_token = older.resp.lock().fencing_token();
  const uint64_t newer_token = newer.resp.lock().fencing_token();

  Reply<v1::ReleaseLockResponse> rel = a.Release("my-lock", older_token);
  ASSERT_RPC_OK(rel);
  EXPECT_EQ(rel.resp.status(), v1::ReleaseLockResponse::STATUS_HELD_BY_OTHER);
  EXPECT_CODE(a.Renew("my-lock", older_token), FAILED_PRECONDITION);
  EXPECT_CODE(a.Release("my-lock", newer_token), INVALID_ARGUMENT);
  EXPECT_CODE(a.Renew("my-lock", newer_token), INVALID_ARGUMENT);
  std::optional<v1::Lock> still = FindLock(a.Locks().resp, "my-lock");
  ASSERT_TRUE(still.has_value());
  EXPECT_EQ(still->fencing_token(), mine.resp.lock().fencing_token());
}

TEST_F(SentinelServiceTest, LeaseExpiryReleasesLocksAndTheHeartbeatReportsThem) {
  auto with_delay = [](Config& c) { c.lock_delay = absl::Milliseconds(100); };
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false, with_delay);
  Worker& b = StartWorker("worker-b", /*heartbeat=*/true, with_delay);

  const absl::Time before_beat = absl::Now();
  Reply<v1::HeartbeatResponse> beat = a.Beat();
  ASSERT_RPC_OK(beat);
  const uint64_t epoch = beat.resp.lease_epoch();
  EXPECT_GE(ToTime(beat.resp.lease_expires_at()), before_beat + kStale - kTimeSlack);
  Reply<v1::AcquireLockResponse> held = a.Acquire("job");
  ASSERT_TRUE(held.resp.acquired());
  const uint64_t t1 = held.resp.lock().fencing_token();
  EXPECT_FALSE(b.Acquire("job").resp.acquired());

  // A goes silent: B gets the lock once A's lease lapsed and the lock-delay passed.
  Reply<v1::AcquireLockResponse> taken = b.Acquire("job", absl::Milliseconds(1500));
  ASSERT_RPC_OK(taken);
  ASSERT_TRUE(taken.resp.acquired());
  const uint64_t t2 = taken.resp.lock().fencing_token();
  EXPECT_GT(t2, t1);
  EXPECT_GE(ToTime(taken.resp.lock().acquired_at()),
            before_beat + kStale + absl::Milliseconds(100) - kTimeSlack);

  // A's next heartbeat tells it what it lost, under a new lease.
  Reply<v1::HeartbeatResponse> late = a.Beat();
  ASSERT_RPC_OK(late);
  ASSERT_EQ(late.resp.lost_locks_size(), 1);
  EXPECT_EQ(late.resp.lost_locks(0).name(), "job");
  EXPECT_EQ(late.resp.lost_locks(0).fencing_token(), t1);
  EXPECT_GT(late.resp.lease_epoch(), epoch);
  Reply<v1::HeartbeatResponse> later = a.Beat();
  ASSERT_RPC_OK(later);
  EXPECT_EQ(later.resp.lost_locks_size(), 0) << "a lost lock is reported once";
  EXPECT_EQ(later.resp.lease_epoch(), late.resp.lease_epoch());

  // A's old token touches nothing.
  Reply<v1::ReleaseLockResponse> rel = a.Release("job", t1);
  ASSERT_RPC_OK(rel);
  EXPECT_EQ(rel.resp.status(), v1::ReleaseLockResponse::STATUS_HELD_BY_OTHER);
  EXPECT_CODE(a.Renew("job", t1), FAILED_PRECONDITION);
  v1::SetMemoryRequest fenced;
  fenced.set_namespace_("global");
  fenced.set_key("out");
  fenced.set_value("from a");
  fenced.mutable_fencing()->set_name("job");
  fenced.mutable_fencing()->set_token(t1);
  EXPECT_CODE(a.SetMemory(fenced), FAILED_PRECONDITION);
  EXPECT_CODE(a.Get("global", "out"), NOT_FOUND);

  std::optional<v1::Lock> live = FindLock(a.Locks().resp, "job");
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->holder(), "worker-b");
  EXPECT_EQ(live->fencing_token(), 0u);  // a is not the holder
  EXPECT_EQ(FindLock(b.Locks().resp, "job")->fencing_token(), t2);
  EXPECT_RPC_OK(b.Renew("job", t2));
}

TEST_F(SentinelServiceTest, LapsedLockCannotBeTakenDuringTheLockDelay) {
  auto with_delay = [](Config& c) { c.lock_delay = absl::Milliseconds(300); };
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false, with_delay);
  Worker& b = StartWorker("worker-b", /*heartbeat=*/true, with_delay);
  const absl::Time before_beat = absl::Now();
  ASSERT_RPC_OK(a.Beat());
  const absl::Time after_beat = absl::Now();
  Reply<v1::AcquireLockResponse> held = a.Acquire("delayed");
  ASSERT_TRUE(held.resp.acquired());

  // A's lease has lapsed (300 ms), the lock-delay (300 ms more) has not passed.
  std::this_thread::sleep_until(absl::ToChronoTime(after_beat + absl::Milliseconds(400)));
  Reply<v1::AcquireLockResponse> early = b.Acquire("delayed");
  const absl::Time asked = absl::Now();
  ASSERT_RPC_OK(early);
  if (asked < before_beat + kStale + absl::Milliseconds(300)) {
    EXPECT_FALSE(early.resp.acquired());
    EXPECT_FALSE(early.resp.has_lock()) << "free but in its lock-delay: no holder to show";
  }
  EXPECT_FALSE(FindLock(b.Locks().resp, "delayed").has_value()) << "a lapsed lock is not live";

  Reply<v1::AcquireLockResponse> later = b.Acquire("delayed", absl::Seconds(1));
  ASSERT_RPC_OK(later);
  ASSERT_TRUE(later.resp.acquired());
  EXPECT_GE(ToTime(later.resp.lock().acquired_at()),
            before_beat + kStale + absl::Milliseconds(300) - kTimeSlack);
}

TEST_F(SentinelServiceTest, HeartbeatsKeepLocksLiveWithoutRenewal) {
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false);
  Worker& b = StartWorker("worker-b");
  ASSERT_RPC_OK(a.Beat());
  Reply<v1::AcquireLockResponse> held = a.Acquire("long-job");
  ASSERT_TRUE(held.resp.acquired());
  const absl::Time start = absl::Now();
  while (absl::Now() - start < absl::Milliseconds(650)) {  // over twice the stale threshold
    Reply<v1::HeartbeatResponse> beat = a.Beat();
    ASSERT_RPC_OK(beat);
    EXPECT_EQ(beat.resp.lost_locks_size(), 0);
    Reply<v1::AcquireLockResponse> other = b.Acquire("long-job");
    ASSERT_RPC_OK(other);
    ASSERT_FALSE(other.resp.acquired()) << "after " << (absl::Now() - start);
    EXPECT_EQ(other.resp.lock().holder(), "worker-a");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Reply<v1::AcquireLockResponse> same = a.Acquire("long-job");
  EXPECT_TRUE(same.resp.acquired());
  EXPECT_EQ(same.resp.lock().fencing_token(), held.resp.lock().fencing_token());
  EXPECT_RPC_OK(a.Renew("long-job", held.resp.lock().fencing_token()));
}

// HeartbeatResponse.lost_locks: "Locks ... that it no longer holds, without having released them
// itself." A release racing with a heartbeat must not come back as a lost lock.
TEST_F(SentinelServiceTest, HeartbeatNeverReportsALockTheWorkerReleasedItself) {
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false);
  int reported = 0;
  std::string example;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 1500 && absl::Now() - start < absl::Seconds(2); ++i) {
    const std::string name = absl::StrCat("race-", i);
    Reply<v1::AcquireLockResponse> held = a.Acquire(name);
    ASSERT_TRUE(held.resp.acquired());
    auto release = std::async(std::launch::async, [&a, &name, &held] {
      return a.Release(name, held.resp.lock().fencing_token());
    });
    Reply<v1::HeartbeatResponse> beat = a.Beat();
    Reply<v1::ReleaseLockResponse> rel = release.get();
    ASSERT_RPC_OK(beat);
    ASSERT_RPC_OK(rel);
    ASSERT_EQ(rel.resp.status(), v1::ReleaseLockResponse::STATUS_RELEASED);
    for (const v1::Lock& lost : beat.resp.lost_locks()) {
      ++reported;
      example = absl::StrCat(lost.name(), " token ", lost.fencing_token());
    }
  }
  EXPECT_EQ(reported, 0) << "released locks reported as lost, e.g. " << example;
}

TEST_F(SentinelServiceTest, LockLapsesWhenItsOwnTtlPassesWithoutHeartbeatOrRenewal) {
  // A long lease, so that only the lock's own ttl can end it.
  auto long_lease = [](Config& c) { c.stale_threshold = absl::Seconds(20); };
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false, long_lease);
  Worker& b = StartWorker("worker-b", /*heartbeat=*/false, long_lease);
  const absl::Time start = absl::Now();
  Reply<v1::AcquireLockResponse> held = a.Acquire("short", absl::ZeroDuration(),
                                                  absl::Milliseconds(150));
  ASSERT_TRUE(held.resp.acquired());
  EXPECT_LE(ToTime(held.resp.lock().expires_at()),
            ToTime(held.resp.lock().acquired_at()) + absl::Milliseconds(150));

  Reply<v1::AcquireLockResponse> taken = b.Acquire("short", absl::Seconds(2));
  ASSERT_RPC_OK(taken);
  ASSERT_TRUE(taken.resp.acquired());
  EXPECT_GE(ToTime(taken.resp.lock().acquired_at()), start + absl::Milliseconds(150) - kTimeSlack);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1.5));
  EXPECT_CODE(a.Renew("short", held.resp.lock().fencing_token()), FAILED_PRECONDITION);
}

// ---------------------------------------------------------------------------------------------
// Workers and cluster health.

TEST_F(SentinelServiceTest, SilentWorkerTurnsStaleAndClusterHealthCountsIt) {
  // Both heartbeat by hand: B reports a capacity of its own, A falls silent. The lease and B's
  // beats stretch on slow builds (TEST_TIME_SCALE): under ThreadSanitizer B's 110 ms beats came
  // more than 300 ms apart and B's own lease lapsed.
  auto lease = [](Config& c) { c.stale_threshold = testing::Scaled(kStale); };
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false, lease);
  Worker& b = StartWorker("worker-b", /*heartbeat=*/false, lease);
  ASSERT_RPC_OK(a.Beat());
  ASSERT_RPC_OK(b.Beat());

  Reply<v1::ListWorkersResponse> both = b.Workers();
  ASSERT_RPC_OK(both);
  ASSERT_EQ(both.resp.workers_size(), 2);
  for (const v1::Worker& w : both.resp.workers()) {
    EXPECT_EQ(w.status(), v1::WORKER_STATUS_ACTIVE) << w.worker_id();
    EXPECT_EQ(w.health(), v1::WORKER_HEALTH_HEALTHY) << w.worker_id();
  }
  Reply<v1::GetClusterHealthResponse> healthy = b.Health();
  ASSERT_RPC_OK(healthy);
  EXPECT_EQ(healthy.resp.status(), v1::GetClusterHealthResponse::STATUS_HEALTHY);
  EXPECT_EQ(healthy.resp.total_workers(), 2u);
  EXPECT_EQ(healthy.resp.healthy_workers(), 2u);
  EXPECT_EQ(healthy.resp.stale_workers(), 0u);
  EXPECT_EQ(healthy.resp.total_capacity(), 20u);
  EXPECT_EQ(healthy.resp.used_capacity(), 0u);

  // Tasks in every state, all handled by B: one done, one in progress, one dead, one queued.
  for (const char* title : {"t1", "t2", "t3", "t4"}) ASSERT_RPC_OK(b.Create(title));
  Reply<v1::NextTaskResponse> n1 = b.Next();
  ASSERT_TRUE(n1.resp.has_task());
  ASSERT_RPC_OK(b.Complete(n1.resp.task().id(), n1.resp.lock().fencing_token()));
  Reply<v1::NextTaskResponse> n2 = b.Next();
  ASSERT_TRUE(n2.resp.has_task());
  ASSERT_RPC_OK(b.Fail(n2.resp.task().id(), n2.resp.lock().fencing_token(), "boom", false));
  Reply<v1::NextTaskResponse> n3 = b.Next();
  ASSERT_TRUE(n3.resp.has_task());
  ASSERT_RPC_OK(b.Beat(v1::WORKER_HEALTH_UNSPECIFIED, 7));  // B's capacity is now 7
  const absl::Duration beat_every = testing::Scaled(absl::Milliseconds(110));
  for (int i = 0; i < 4; ++i) {  // A stays silent for longer than the stale threshold
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(beat_every));
    ASSERT_RPC_OK(b.Beat(v1::WORKER_HEALTH_UNSPECIFIED, 7));
  }
  Reply<v1::ListWorkersResponse> later = b.Workers();
  ASSERT_RPC_OK(later);
  std::optional<v1::Worker> wa = FindWorker(later.resp, "worker-a");
  std::optional<v1::Worker> wb = FindWorker(later.resp, "worker-b");
  ASSERT_TRUE(wa.has_value());
  ASSERT_TRUE(wb.has_value());
  EXPECT_EQ(wa->status(), v1::WORKER_STATUS_STALE);
  EXPECT_EQ(wb->status(), v1::WORKER_STATUS_ACTIVE);
  EXPECT_EQ(wb->max_tasks(), 7u);
  EXPECT_EQ(wb->active_tasks(), 1u);
  EXPECT_EQ(wb->available_slots(), 6u);

  Reply<v1::GetClusterHealthResponse> degraded = b.Health();
  ASSERT_RPC_OK(degraded);
  EXPECT_EQ(degraded.resp.status(), v1::GetClusterHealthResponse::STATUS_DEGRADED);
  EXPECT_EQ(degraded.resp.total_workers(), 2u);
  EXPECT_EQ(degraded.resp.healthy_workers(), 1u);
  EXPECT_EQ(degraded.resp.stale_workers(), 1u);
  EXPECT_EQ(degraded.resp.total_capacity(), 7u);
  EXPECT_EQ(degraded.resp.used_capacity(), 1u);
  EXPECT_EQ(degraded.resp.tasks_queued(), 1u);
  EXPECT_EQ(degraded.resp.tasks_in_progress(), 1u);
  EXPECT_EQ(degraded.resp.tasks_done(), 1u);
  EXPECT_EQ(degraded.resp.tasks_failed(), 1u);
  EXPECT_EQ(degraded.resp.workers_size(), 2);
}

TEST_F(SentinelServiceTest, UnhealthyWorkerGetsNoNewTasks) {
  // No background heartbeats: they would report the worker healthy again.
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false);
  ASSERT_RPC_OK(a.Create("work"));
  ASSERT_RPC_OK(a.Beat(v1::WORKER_HEALTH_DEGRADED));
  Reply<v1::NextTaskResponse> none = a.Next();
  ASSERT_RPC_OK(none);
  EXPECT_FALSE(none.resp.has_task());
  Reply<v1::GetClusterHealthResponse> h = a.Health();
  ASSERT_RPC_OK(h);
  EXPECT_EQ(h.resp.healthy_workers(), 0u);
  EXPECT_EQ(h.resp.status(), v1::GetClusterHealthResponse::STATUS_UNHEALTHY);
  ASSERT_EQ(h.resp.workers_size(), 1);
  EXPECT_EQ(h.resp.workers(0).health(), v1::WORKER_HEALTH_DEGRADED);

  ASSERT_RPC_OK(a.Beat(v1::WORKER_HEALTH_HEALTHY));
  Reply<v1::NextTaskResponse> some = a.Next();
  ASSERT_RPC_OK(some);
  EXPECT_TRUE(some.resp.has_task());
}

TEST_F(SentinelServiceTest, HeartbeatRejectsBadInput) {
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false);
  v1::HeartbeatRequest too_big;
  too_big.set_max_tasks(10001);
  EXPECT_CODE(a.Heartbeat(too_big), INVALID_ARGUMENT);
  v1::HeartbeatRequest bad_id;
  bad_id.add_active_tasks("not an id!");
  EXPECT_CODE(a.Heartbeat(bad_id), INVALID_ARGUMENT);
  v1::HeartbeatRequest ok;
  ok.add_active_tasks("task-1");
  ok.set_max_tasks(3);
  EXPECT_RPC_OK(a.Heartbeat(ok));
  std::optional<v1::Worker> me = FindWorker(a.Workers().resp, "worker-a");
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->max_tasks(), 3u);
}

// ---------------------------------------------------------------------------------------------
// Memory.

TEST_F(SentinelServiceTest, MemorySetGetRoundTripsBytesAndVersions) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  const std::string value("bin\0ary\xff\x01", 9);
  const absl::Time before = absl::Now();
  Reply<v1::SetMemoryResponse> set = a.Set("swarm", "agent/state", value);
  ASSERT_RPC_OK(set);
  const v1::MemoryEntry& e1 = set.resp.entry();
  EXPECT_EQ(e1.namespace_(), "swarm");
  EXPECT_EQ(e1.key(), "agent/state");
  EXPECT_EQ(e1.value(), value);
  EXPECT_GT(e1.version(), 0u);
  EXPECT_EQ(e1.updated_by(), "worker-a");
  EXPECT_GE(ToTime(e1.updated_at()), before - kTimeSlack);
  EXPECT_FALSE(e1.has_expires_at());

  Reply<v1::GetMemoryResponse> got = b.Get("swarm", "agent/state");
  ASSERT_RPC_OK(got);
  EXPECT_EQ(got.resp.entry().value(), value);
  EXPECT_EQ(got.resp.entry().version(), e1.version());
  EXPECT_EQ(got.resp.entry().updated_by(), "worker-a");

  Reply<v1::SetMemoryResponse> set2 = b.Set("swarm", "agent/state", "v2");
  ASSERT_RPC_OK(set2);
  EXPECT_GT(set2.resp.entry().version(), e1.version());
  EXPECT_EQ(set2.resp.entry().updated_by(), "worker-b");
  Reply<v1::GetMemoryResponse> got2 = a.Get("swarm", "agent/state");
  ASSERT_RPC_OK(got2);
  EXPECT_EQ(got2.resp.entry().value(), "v2");
  EXPECT_EQ(got2.resp.entry().version(), set2.resp.entry().version());

  // Namespaces are separate.
  EXPECT_CODE(a.Get("global", "agent/state"), NOT_FOUND);
  EXPECT_CODE(a.Get("swarm", "missing"), NOT_FOUND);
  // An empty value is a value.
  ASSERT_RPC_OK(a.Set("global", "empty", ""));
  Reply<v1::GetMemoryResponse> empty = a.Get("global", "empty");
  ASSERT_RPC_OK(empty);
  EXPECT_EQ(empty.resp.entry().value(), "");
}

TEST_F(SentinelServiceTest, MemoryCompareAndSetOnVersions) {
  Worker& a = StartWorker("worker-a");
  v1::SetMemoryRequest create;
  create.set_namespace_("tasks");
  create.set_key("counter");
  create.set_value("1");
  create.set_expected_version(0);  // must not exist
  Reply<v1::SetMemoryResponse> created = a.SetMemory(create);
  ASSERT_RPC_OK(created);
  const uint64_t v1 = created.resp.entry().version();

  EXPECT_CODE(a.SetMemory(create), ABORTED);  // exists now

  v1::SetMemoryRequest wrong = create;
  wrong.set_value("2");
  wrong.set_expected_version(v1 + 1000);
  EXPECT_CODE(a.SetMemory(wrong), ABORTED);
  Reply<v1::GetMemoryResponse> unchanged = a.Get("tasks", "counter");
  ASSERT_RPC_OK(unchanged);
  EXPECT_EQ(unchanged.resp.entry().value(), "1");
  EXPECT_EQ(unchanged.resp.entry().version(), v1);

  v1::SetMemoryRequest right = create;
  right.set_value("2");
  right.set_expected_version(v1);
  Reply<v1::SetMemoryResponse> updated = a.SetMemory(right);
  ASSERT_RPC_OK(updated);
  EXPECT_GT(updated.resp.entry().version(), v1);
  EXPECT_CODE(a.SetMemory(right), ABORTED);  // v1 is no longer current

  // Deletes compare too.
  v1::DeleteMemoryRequest del;
  del.set_namespace_("tasks");
  del.set_key("counter");
  del.set_expected_version(v1);
  EXPECT_CODE(a.DeleteMemory(del), ABORTED);
  EXPECT_EQ(a.Get("tasks", "counter").resp.entry().value(), "2");
  del.set_expected_version(updated.resp.entry().version());
  Reply<v1::DeleteMemoryResponse> deleted = a.DeleteMemory(del);
  ASSERT_RPC_OK(deleted);
  EXPECT_TRUE(deleted.resp.deleted());
  EXPECT_CODE(a.Get("tasks", "counter"), NOT_FOUND);
}

TEST_F(SentinelServiceTest, MemoryTtlExpiresEntriesAndWatchReportsTheExpiry) {
  Worker& a = StartWorker("worker-a");
  v1::SetMemoryRequest req;
  req.set_namespace_("workers");
  req.set_key("ephemeral");
  req.set_value("soon gone");
  *req.mutable_ttl() = Dur(absl::Seconds(1));  // the shortest ttl the API allows
  Reply<v1::SetMemoryResponse> set = a.SetMemory(req);
  ASSERT_RPC_OK(set);
  ASSERT_TRUE(set.resp.entry().has_expires_at());
  const absl::Time expires = ToTime(set.resp.entry().expires_at());
  EXPECT_EQ(expires, ToTime(set.resp.entry().updated_at()) + absl::Seconds(1));
  ASSERT_RPC_OK(a.Set("workers", "permanent", "stays"));

  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(5));
  v1::WatchMemoryRequest wreq;
  wreq.set_namespace_("workers");
  wreq.set_include_initial(true);
  std::unique_ptr<grpc::ClientReader<v1::WatchMemoryResponse>> watch =
      a.stub()->WatchMemory(&ctx, wreq);

  Reply<v1::GetMemoryResponse> live = a.Get("workers", "ephemeral");
  ASSERT_RPC_OK(live);
  EXPECT_EQ(live.resp.entry().value(), "soon gone");

  // Initial entries, in write order.
  v1::WatchMemoryResponse ev;
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_PUT);
  EXPECT_EQ(ev.entry().key(), "ephemeral");
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_PUT);
  EXPECT_EQ(ev.entry().key(), "permanent");

  // The expiry is streamed as a DELETE.
  ASSERT_TRUE(watch->Read(&ev));
  const absl::Time seen = absl::Now();
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_DELETE);
  EXPECT_EQ(ev.entry().key(), "ephemeral");
  EXPECT_EQ(ev.entry().namespace_(), "workers");
  EXPECT_GE(seen, expires);
  EXPECT_CODE(a.Get("workers", "ephemeral"), NOT_FOUND);
  EXPECT_THAT(Keys(a.List("workers", "").resp), ElementsAre("permanent"));
  ctx.TryCancel();
  EXPECT_TRUE(HasCode(watch->Finish(), grpc::StatusCode::CANCELLED));

  // An expired key counts as absent for compare-and-set.
  v1::SetMemoryRequest recreate;
  recreate.set_namespace_("workers");
  recreate.set_key("ephemeral");
  recreate.set_value("again");
  recreate.set_expected_version(0);
  EXPECT_RPC_OK(a.SetMemory(recreate));
}

// The API: "ttl: Unset or zero: the entry does not expire. Otherwise 1 second .. 30 days." and
// "Invalid arguments fail with INVALID_ARGUMENT and change nothing."
TEST_F(SentinelServiceTest, MemoryTtlBelowOneSecondIsInvalidArgument) {
  Worker& a = StartWorker("worker-a");
  v1::SetMemoryRequest req;
  req.set_namespace_("global");
  req.set_key("short");
  req.set_value("x");
  *req.mutable_ttl() = Dur(absl::Milliseconds(500));
  EXPECT_CODE(a.SetMemory(req), INVALID_ARGUMENT);
  EXPECT_CODE(a.Get("global", "short"), NOT_FOUND);
}

TEST_F(SentinelServiceTest, FencedMemoryWritesNeedALiveLock) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  Reply<v1::AcquireLockResponse> held = a.Acquire("leader");
  ASSERT_TRUE(held.resp.acquired());
  const uint64_t t1 = held.resp.lock().fencing_token();

  v1::SetMemoryRequest req;
  req.set_namespace_("global");
  req.set_key("leader-state");
  req.set_value("epoch-1");
  req.mutable_fencing()->set_name("leader");
  req.mutable_fencing()->set_token(t1);
  Reply<v1::SetMemoryResponse> ok = a.SetMemory(req);
  ASSERT_RPC_OK(ok);
  const uint64_t version = ok.resp.entry().version();

  // Released: the token no longer fences anything.
  ASSERT_EQ(a.Release("leader", t1).resp.status(), v1::ReleaseLockResponse::STATUS_RELEASED);
  req.set_value("late write");
  EXPECT_CODE(a.SetMemory(req), FAILED_PRECONDITION);
  // Superseded by B's acquisition: still refused.
  Reply<v1::AcquireLockResponse> b_held = b.Acquire("leader");
  ASSERT_TRUE(b_held.resp.acquired());
  EXPECT_CODE(a.SetMemory(req), FAILED_PRECONDITION);
  v1::DeleteMemoryRequest del;
  del.set_namespace_("global");
  del.set_key("leader-state");
  *del.mutable_fencing() = req.fencing();
  EXPECT_CODE(a.DeleteMemory(del), FAILED_PRECONDITION);
  // Never issued.
  req.mutable_fencing()->set_token(b_held.resp.lock().fencing_token() + 1000000);
  EXPECT_CODE(a.SetMemory(req), INVALID_ARGUMENT);

  Reply<v1::GetMemoryResponse> got = a.Get("global", "leader-state");
  ASSERT_RPC_OK(got);
  EXPECT_EQ(got.resp.entry().value(), "epoch-1");
  EXPECT_EQ(got.resp.entry().version(), version);

  // The new holder's token works, for writes and deletes.
  req.mutable_fencing()->set_token(b_held.resp.lock().fencing_token());
  req.set_value("epoch-2");
  Reply<v1::SetMemoryResponse> b_write = b.SetMemory(req);
  ASSERT_RPC_OK(b_write);
  EXPECT_EQ(b_write.resp.entry().updated_by(), "worker-b");
  del.mutable_fencing()->set_token(b_held.resp.lock().fencing_token());
  Reply<v1::DeleteMemoryResponse> b_del = b.DeleteMemory(del);
  ASSERT_RPC_OK(b_del);
  EXPECT_TRUE(b_del.resp.deleted());
}

TEST_F(SentinelServiceTest, DeleteAndListMemory) {
  Worker& a = StartWorker("worker-a");
  for (const char* key : {"job/b", "job/c", "job/a", "jobs", "other/x"}) {
    ASSERT_RPC_OK(a.Set("swarm", key, absl::StrCat("value of ", key)));
  }
  ASSERT_RPC_OK(a.Set("global", "job/z", "elsewhere"));

  Reply<v1::ListMemoryResponse> jobs = a.List("swarm", "job/");
  ASSERT_RPC_OK(jobs);
  EXPECT_THAT(Keys(jobs.resp), ElementsAre("job/a", "job/b", "job/c"));
  EXPECT_EQ(jobs.resp.entries(0).value(), "value of job/a");
  EXPECT_EQ(jobs.resp.entries(0).namespace_(), "swarm");
  EXPECT_THAT(Keys(a.List("swarm", "").resp),
              ElementsAre("job/a", "job/b", "job/c", "jobs", "other/x"));
  EXPECT_THAT(Keys(a.List("swarm", "nothing").resp), IsEmpty());

  Reply<v1::DeleteMemoryResponse> del = a.Delete("swarm", "job/b");
  ASSERT_RPC_OK(del);
  EXPECT_TRUE(del.resp.deleted());
  Reply<v1::DeleteMemoryResponse> again = a.Delete("swarm", "job/b");
  ASSERT_RPC_OK(again);
  EXPECT_FALSE(again.resp.deleted());
  EXPECT_CODE(a.Get("swarm", "job/b"), NOT_FOUND);
  EXPECT_THAT(Keys(a.List("swarm", "job/").resp), ElementsAre("job/a", "job/c"));
}

TEST_F(SentinelServiceTest, WatchMemoryStreamsPutsAndDeletesInOrder) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  ASSERT_RPC_OK(a.Set("swarm", "w/1", "one"));
  ASSERT_RPC_OK(a.Set("swarm", "w/0", "zero"));
  ASSERT_RPC_OK(a.Set("swarm", "outside", "not watched"));

  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  v1::WatchMemoryRequest wreq;
  wreq.set_namespace_("swarm");
  wreq.set_prefix("w/");
  wreq.set_include_initial(true);
  auto watch = a.stub()->WatchMemory(&ctx, wreq);

  v1::WatchMemoryResponse ev;
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_PUT);
  EXPECT_EQ(ev.entry().key(), "w/1");  // written first
  EXPECT_EQ(ev.entry().value(), "one");
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_PUT);
  EXPECT_EQ(ev.entry().key(), "w/0");

  // Changes through this sidecar and through another worker's sidecar.
  ASSERT_RPC_OK(a.Set("swarm", "outside", "still not watched"));
  Reply<v1::SetMemoryResponse> put = b.Set("swarm", "w/2", "two");
  ASSERT_RPC_OK(put);
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_PUT);
  EXPECT_EQ(ev.entry().key(), "w/2");
  EXPECT_EQ(ev.entry().value(), "two");
  EXPECT_EQ(ev.entry().version(), put.resp.entry().version());
  EXPECT_EQ(ev.entry().updated_by(), "worker-b");

  ASSERT_TRUE(a.Delete("swarm", "w/1").resp.deleted());
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_DELETE);
  EXPECT_EQ(ev.entry().key(), "w/1");
  EXPECT_EQ(ev.entry().namespace_(), "swarm");

  Reply<v1::SetMemoryResponse> upd = a.Set("swarm", "w/0", "zero again");
  ASSERT_RPC_OK(upd);
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_PUT);
  EXPECT_EQ(ev.entry().key(), "w/0");
  EXPECT_EQ(ev.entry().value(), "zero again");

  ctx.TryCancel();
  while (watch->Read(&ev)) {
  }
  EXPECT_TRUE(HasCode(watch->Finish(), grpc::StatusCode::CANCELLED));
}

// WatchMemory coalesces what changed between two observations (as a GitHub poller must): a key
// created and deleted in between is not reported, and several writes arrive as the latest one.
TEST_F(SentinelServiceTest, WatchMemoryCoalescesChangesBetweenObservations) {
  // A slow poll makes "between two polls" deterministic (the writes come from another sidecar,
  // so they do not wake the watcher).
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false,
                          [](Config& c) { c.poll_interval = absl::Milliseconds(400); });
  Worker& b = StartWorker("worker-b", /*heartbeat=*/false);
  ASSERT_RPC_OK(a.Set("swarm", "anchor", "a"));
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Milliseconds(1200));  // three polls of the watching sidecar
  v1::WatchMemoryRequest wreq;
  wreq.set_namespace_("swarm");
  wreq.set_include_initial(true);
  auto watch = a.stub()->WatchMemory(&ctx, wreq);
  v1::WatchMemoryResponse ev;
  ASSERT_TRUE(watch->Read(&ev));  // the initial snapshot has been taken
  ASSERT_EQ(ev.entry().key(), "anchor");

  ASSERT_RPC_OK(b.Set("swarm", "k", "1"));
  ASSERT_TRUE(b.Delete("swarm", "k").resp.deleted());
  ASSERT_RPC_OK(b.Set("swarm", "j", "1"));
  ASSERT_RPC_OK(b.Set("swarm", "j", "2"));
  ASSERT_TRUE(b.Delete("swarm", "anchor").resp.deleted());

  std::vector<std::string> seen;
  while (seen.size() < 2 && watch->Read(&ev)) {
    seen.push_back(absl::StrCat(ev.type() == v1::WatchMemoryResponse::TYPE_PUT ? "PUT " : "DELETE ",
                                ev.entry().key(), "=", ev.entry().value()));
  }
  EXPECT_THAT(seen, ElementsAre("PUT j=2", "DELETE anchor="));
  ctx.TryCancel();
  while (watch->Read(&ev)) {
  }
  watch->Finish();
}

TEST_F(SentinelServiceTest, WatchMemoryWithoutInitialStartsWithTheNextChange) {
  Worker& a = StartWorker("worker-a");
  ASSERT_RPC_OK(a.Set("global", "old", "before the watch"));
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  v1::WatchMemoryRequest wreq;
  wreq.set_namespace_("global");
  auto watch = a.stub()->WatchMemory(&ctx, wreq);
  // Let the watch take its first snapshot (it has no event to show for it).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_RPC_OK(a.Set("global", "new", "after the watch"));
  v1::WatchMemoryResponse ev;
  ASSERT_TRUE(watch->Read(&ev));
  EXPECT_EQ(ev.type(), v1::WatchMemoryResponse::TYPE_PUT);
  EXPECT_EQ(ev.entry().key(), "new");
  ctx.TryCancel();
  while (watch->Read(&ev)) {
  }
  EXPECT_TRUE(HasCode(watch->Finish(), grpc::StatusCode::CANCELLED));
}

TEST_F(SentinelServiceTest, MemoryRejectsBadInputAndChangesNothing) {
  Worker& a = StartWorker("worker-a");
  EXPECT_CODE(a.Set("nope", "k", "v"), INVALID_ARGUMENT);
  EXPECT_CODE(a.Get("nope", "k"), INVALID_ARGUMENT);
  EXPECT_CODE(a.Delete("nope", "k"), INVALID_ARGUMENT);
  EXPECT_CODE(a.List("nope", ""), INVALID_ARGUMENT);
  EXPECT_CODE(a.List("global", "bad prefix"), INVALID_ARGUMENT);
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, kRpcTimeout);
    v1::WatchMemoryRequest wreq;
    wreq.set_namespace_("nope");
    auto watch = a.stub()->WatchMemory(&ctx, wreq);
    v1::WatchMemoryResponse ev;
    EXPECT_FALSE(watch->Read(&ev));
    EXPECT_TRUE(HasCode(watch->Finish(), grpc::StatusCode::INVALID_ARGUMENT));
  }

  EXPECT_CODE(a.Set("global", "", "v"), INVALID_ARGUMENT);
  EXPECT_CODE(a.Get("global", ""), INVALID_ARGUMENT);
  EXPECT_CODE(a.Set("global", std::string(257, 'k'), "v"), INVALID_ARGUMENT);
  EXPECT_CODE(a.Set("global", "spaces are bad", "v"), INVALID_ARGUMENT);
  EXPECT_CODE(a.Set("global", "big", std::string(32 * 1024 + 1, 'x')), INVALID_ARGUMENT);

  v1::SetMemoryRequest neg;
  neg.set_namespace_("global");
  neg.set_key("neg");
  neg.set_value("v");
  *neg.mutable_ttl() = Dur(absl::Seconds(-5));
  EXPECT_CODE(a.SetMemory(neg), INVALID_ARGUMENT);
  *neg.mutable_ttl() = Dur(absl::Hours(24 * 30) + absl::Seconds(1));
  EXPECT_CODE(a.SetMemory(neg), INVALID_ARGUMENT);
  neg.mutable_ttl()->set_seconds(1);
  neg.mutable_ttl()->set_nanos(-1);  // mixed signs: not a valid Duration
  EXPECT_CODE(a.SetMemory(neg), INVALID_ARGUMENT);
  v1::SetMemoryRequest bad_fence;
  bad_fence.set_namespace_("global");
  bad_fence.set_key("fenced");
  bad_fence.set_value("v");
  bad_fence.mutable_fencing()->set_name("");
  bad_fence.mutable_fencing()->set_token(1);
  EXPECT_CODE(a.SetMemory(bad_fence), INVALID_ARGUMENT);

  EXPECT_THAT(Keys(a.List("global", "").resp), IsEmpty());

  // The limits themselves are fine.
  EXPECT_RPC_OK(a.Set("global", std::string(256, 'k'), "v"));
  EXPECT_RPC_OK(a.Set("global", "big", std::string(32 * 1024, 'x')));
  *neg.mutable_ttl() = Dur(absl::Hours(24 * 30));
  EXPECT_RPC_OK(a.SetMemory(neg));
}

// ---------------------------------------------------------------------------------------------
// Tasks.

TEST_F(SentinelServiceTest, TaskLifeFromQueueThroughRetryToDone) {
  Worker& a = StartWorker("worker-a", /*heartbeat=*/true,
                          [](Config& c) { c.task_retry_backoff = absl::Milliseconds(200); });
  v1::CreateTaskRequest create;
  create.set_title("Build the thing");
  create.set_body("details");
  create.set_type("build");
  create.set_priority(5);
  Reply<v1::CreateTaskResponse> created = a.CreateTask(create);
  ASSERT_RPC_OK(created);
  const v1::Task& t = created.resp.task();
  const std::string id = t.id();
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(t.state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(t.title(), "Build the thing");
  EXPECT_EQ(t.body(), "details");
  EXPECT_EQ(t.type(), "build");
  EXPECT_EQ(t.priority(), 5);
  EXPECT_EQ(t.attempts(), 0u);
  EXPECT_EQ(t.max_attempts(), 3u);  // TASK_MAX_ATTEMPTS

  // Handed out already locked.
  Reply<v1::NextTaskResponse> first = a.Next();
  ASSERT_RPC_OK(first);
  ASSERT_TRUE(first.resp.has_task());
  EXPECT_EQ(first.resp.task().id(), id);
  EXPECT_EQ(first.resp.task().state(), v1::TASK_STATE_IN_PROGRESS);
  EXPECT_EQ(first.resp.task().attempts(), 1u);
  EXPECT_EQ(first.resp.task().worker_id(), "worker-a");
  const uint64_t t1 = first.resp.lock().fencing_token();
  EXPECT_GT(t1, 0u);
  EXPECT_EQ(first.resp.lock().name(), id);
  EXPECT_EQ(first.resp.lock().holder(), "worker-a");
  std::optional<v1::Lock> listed = FindLock(a.Locks().resp, id);
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->fencing_token(), t1);
  EXPECT_EQ(a.Task(id).resp.task().state(), v1::TASK_STATE_IN_PROGRESS);

  // A retryable failure re-queues it after the backoff.
  Reply<v1::FailTaskResponse> failed = a.Fail(id, t1, "flaky network", true);
  ASSERT_RPC_OK(failed);
  EXPECT_EQ(failed.resp.task().state(), v1::TASK_STATE_QUEUED);
  EXPECT_EQ(failed.resp.task().attempts(), 1u);
  EXPECT_EQ(failed.resp.task().last_error(), "flaky network");
  const absl::Time not_before = ToTime(failed.resp.task().not_before());
  EXPECT_EQ(not_before, ToTime(failed.resp.task().updated_at()) + absl::Milliseconds(200));
  EXPECT_FALSE(FindLock(a.Locks().resp, id).has_value());
  EXPECT_EQ(a.Task(id).resp.task().state(), v1::TASK_STATE_QUEUED);

  Reply<v1::NextTaskResponse> second = a.Next();  // normally still backing off
  ASSERT_RPC_OK(second);
  if (!second.resp.has_task()) second = a.Next(absl::Seconds(2));
  ASSERT_RPC_OK(second);
  ASSERT_TRUE(second.resp.has_task());
  EXPECT_EQ(second.resp.task().id(), id);
  EXPECT_GE(ToTime(second.resp.task().updated_at()), not_before - kTimeSlack);
  EXPECT_EQ(second.resp.task().attempts(), 2u);
  const uint64_t t2 = second.resp.lock().fencing_token();
  EXPECT_GT(t2, t1);

  Reply<v1::CompleteTaskResponse> done = a.Complete(id, t2, "artifact://42");
  ASSERT_RPC_OK(done);
  EXPECT_EQ(done.resp.task().state(), v1::TASK_STATE_DONE);
  EXPECT_EQ(done.resp.task().result(), "artifact://42");
  Reply<v1::GetTaskResponse> final_state = a.Task(id);
  ASSERT_RPC_OK(final_state);
  EXPECT_EQ(final_state.resp.task().state(), v1::TASK_STATE_DONE);
  EXPECT_EQ(final_state.resp.task().result(), "artifact://42");
  EXPECT_EQ(final_state.resp.task().worker_id(), "worker-a");
  EXPECT_FALSE(FindLock(a.Locks().resp, id).has_value());
  EXPECT_FALSE(a.Next().resp.has_task());
  EXPECT_EQ(a.Health().resp.tasks_done(), 1u);
}

TEST_F(SentinelServiceTest, FailedTasksAreDeadLetteredWhenOutOfAttemptsOrNotRetryable) {
  Worker& a = StartWorker("worker-a");
  Reply<v1::CreateTaskResponse> created = a.Create("twice", "", 2);
  ASSERT_RPC_OK(created);
  EXPECT_EQ(created.resp.task().max_attempts(), 2u);
  const std::string id = created.resp.task().id();

  Reply<v1::NextTaskResponse> n1 = a.Next();
  ASSERT_TRUE(n1.resp.has_task());
  Reply<v1::FailTaskResponse> f1 = a.Fail(id, n1.resp.lock().fencing_token(), "first", true);
  ASSERT_RPC_OK(f1);
  EXPECT_EQ(f1.resp.task().state(), v1::TASK_STATE_QUEUED);
  Reply<v1::NextTaskResponse> n2 = a.Next(absl::Seconds(2));
  ASSERT_TRUE(n2.resp.has_task());
  EXPECT_EQ(n2.resp.task().attempts(), 2u);
  EXPECT_GE(ToTime(n2.resp.task().updated_at()),
            ToTime(f1.resp.task().not_before()) - kTimeSlack);
  Reply<v1::FailTaskResponse> f2 = a.Fail(id, n2.resp.lock().fencing_token(), "second", true);
  ASSERT_RPC_OK(f2);
  EXPECT_EQ(f2.resp.task().state(), v1::TASK_STATE_DEAD_LETTER);
  EXPECT_EQ(f2.resp.task().attempts(), 2u);
  EXPECT_EQ(f2.resp.task().last_error(), "second");
  EXPECT_FALSE(a.Next(absl::Milliseconds(100)).resp.has_task());

  // The backoff doubles with every failed attempt: base, then 2 x base.
  Reply<v1::CreateTaskResponse> thrice = a.Create("thrice");
  ASSERT_RPC_OK(thrice);
  EXPECT_EQ(thrice.resp.task().max_attempts(), 3u);
  absl::Duration expected_backoff = absl::Milliseconds(50);
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    Reply<v1::NextTaskResponse> n = a.Next(absl::Seconds(2));
    ASSERT_TRUE(n.resp.has_task());
    ASSERT_EQ(n.resp.task().id(), thrice.resp.task().id());
    EXPECT_EQ(n.resp.task().attempts(), attempt);
    Reply<v1::FailTaskResponse> f = a.Fail(n.resp.task().id(), n.resp.lock().fencing_token(),
                                           absl::StrCat("failure ", attempt), true);
    ASSERT_RPC_OK(f);
    if (attempt < 3) {
      EXPECT_EQ(f.resp.task().state(), v1::TASK_STATE_QUEUED);
      EXPECT_EQ(ToTime(f.resp.task().not_before()) - ToTime(f.resp.task().updated_at()),
                expected_backoff);
      expected_backoff *= 2;
    } else {
      EXPECT_EQ(f.resp.task().state(), v1::TASK_STATE_DEAD_LETTER);
    }
  }

  Reply<v1::CreateTaskResponse> hopeless = a.Create("hopeless");
  ASSERT_RPC_OK(hopeless);
  Reply<v1::NextTaskResponse> n3 = a.Next();
  ASSERT_TRUE(n3.resp.has_task());
  EXPECT_EQ(n3.resp.task().id(), hopeless.resp.task().id());
  Reply<v1::FailTaskResponse> f3 =
      a.Fail(n3.resp.task().id(), n3.resp.lock().fencing_token(), "bad input", false);
  ASSERT_RPC_OK(f3);
  EXPECT_EQ(f3.resp.task().state(), v1::TASK_STATE_DEAD_LETTER);
  EXPECT_EQ(f3.resp.task().attempts(), 1u);
  EXPECT_FALSE(FindLock(a.Locks().resp, n3.resp.task().id()).has_value());

  Reply<v1::GetClusterHealthResponse> h = a.Health();
  ASSERT_RPC_OK(h);
  EXPECT_EQ(h.resp.tasks_failed(), 3u);
  EXPECT_EQ(h.resp.tasks_queued(), 0u);
  EXPECT_EQ(h.resp.tasks_in_progress(), 0u);
}

TEST_F(SentinelServiceTest, CompleteTaskRefusesStaleTokensAndOtherWorkers) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  Reply<v1::CreateTaskResponse> created = a.Create("contested");
  const std::string id = created.resp.task().id();
  Reply<v1::NextTaskResponse> n1 = a.Next();
  ASSERT_TRUE(n1.resp.has_task());
  const uint64_t t1 = n1.resp.lock().fencing_token();

  EXPECT_CODE(b.Complete(id, t1), FAILED_PRECONDITION);  // A's task, A's token
  EXPECT_CODE(b.Fail(id, t1, "not mine", false), FAILED_PRECONDITION);
  EXPECT_EQ(a.Task(id).resp.task().state(), v1::TASK_STATE_IN_PROGRESS);

  ASSERT_RPC_OK(a.Fail(id, t1, "retry", true));
  Reply<v1::NextTaskResponse> n2 = a.Next(absl::Seconds(2));
  ASSERT_TRUE(n2.resp.has_task());
  const uint64_t t2 = n2.resp.lock().fencing_token();
  EXPECT_CODE(a.Complete(id, t1), FAILED_PRECONDITION);  // the first attempt's token
  EXPECT_CODE(a.Fail(id, t1, "old", true), FAILED_PRECONDITION);
  EXPECT_CODE(a.Complete(id, t2 + 1000000), INVALID_ARGUMENT);
  EXPECT_CODE(a.Complete("task-999999", 1), NOT_FOUND);
  EXPECT_CODE(a.Complete("", t2), INVALID_ARGUMENT);
  EXPECT_CODE(a.Complete(id, t2, std::string(32 * 1024 + 1, 'r')), INVALID_ARGUMENT);
  EXPECT_EQ(a.Task(id).resp.task().state(), v1::TASK_STATE_IN_PROGRESS);

  // A lock taken with AcquireLock does not finish a queued task.
  Reply<v1::CreateTaskResponse> other = a.Create("other");
  Reply<v1::AcquireLockResponse> direct = b.Acquire(other.resp.task().id());
  ASSERT_TRUE(direct.resp.acquired());
  EXPECT_CODE(b.Complete(other.resp.task().id(), direct.resp.lock().fencing_token()),
              FAILED_PRECONDITION);
  EXPECT_EQ(a.Task(other.resp.task().id()).resp.task().state(), v1::TASK_STATE_QUEUED);

  Reply<v1::CompleteTaskResponse> done = a.Complete(id, t2, "fine");
  ASSERT_RPC_OK(done);
  EXPECT_EQ(done.resp.task().state(), v1::TASK_STATE_DONE);
  EXPECT_CODE(a.Complete(id, t2), FAILED_PRECONDITION);  // the lock is released now
}

TEST_F(SentinelServiceTest, NextTaskWaitsAndReturnsNoTaskAfterTheTimeout) {
  Worker& a = StartWorker("worker-a");
  const absl::Time start = absl::Now();
  Reply<v1::NextTaskResponse> none = a.Next(absl::Milliseconds(100));
  const absl::Duration took = absl::Now() - start;
  ASSERT_RPC_OK(none);
  EXPECT_FALSE(none.resp.has_task());
  EXPECT_FALSE(none.resp.has_lock());
  EXPECT_GE(took, absl::Milliseconds(95));
  EXPECT_LT(took, absl::Seconds(1));

  // Without a client deadline, the wait alone bounds the call.
  grpc::ClientContext ctx;
  v1::NextTaskRequest req;
  *req.mutable_wait_timeout() = Dur(absl::Milliseconds(100));
  v1::NextTaskResponse resp;
  const absl::Time start2 = absl::Now();
  ASSERT_TRUE(HasCode(a.stub()->NextTask(&ctx, req, &resp), grpc::StatusCode::OK));
  EXPECT_FALSE(resp.has_task());
  EXPECT_LT(absl::Now() - start2, absl::Seconds(1));
}

TEST_F(SentinelServiceTest, BlockedNextTaskWakesWhenATaskIsCreated) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  // Created through the same sidecar.
  {
    auto waiting = std::async(std::launch::async, [&a] { return a.Next(absl::Seconds(3)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const absl::Time created_at = absl::Now();
    Reply<v1::CreateTaskResponse> created = a.Create("local");
    ASSERT_RPC_OK(created);
    Reply<v1::NextTaskResponse> got = waiting.get();
    ASSERT_RPC_OK(got);
    ASSERT_TRUE(got.resp.has_task());
    EXPECT_EQ(got.resp.task().id(), created.resp.task().id());
    EXPECT_LT(absl::Now() - created_at, absl::Seconds(1));
    ASSERT_RPC_OK(a.Complete(got.resp.task().id(), got.resp.lock().fencing_token()));
  }
  // Created by another client through another worker's sidecar (seen at the next poll).
  {
    auto waiting = std::async(std::launch::async, [&a] { return a.Next(absl::Seconds(3)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const absl::Time created_at = absl::Now();
    Reply<v1::CreateTaskResponse> created = b.Create("remote");
    ASSERT_RPC_OK(created);
    Reply<v1::NextTaskResponse> got = waiting.get();
    ASSERT_RPC_OK(got);
    ASSERT_TRUE(got.resp.has_task());
    EXPECT_EQ(got.resp.task().id(), created.resp.task().id());
    EXPECT_EQ(got.resp.lock().holder(), "worker-a");
    EXPECT_LT(absl::Now() - created_at, absl::Seconds(1));
  }
}

TEST_F(SentinelServiceTest, NextTaskRespectsTheWorkersCapacity) {
  Worker& a = StartWorker("worker-a", /*heartbeat=*/true, [](Config& c) { c.max_tasks = 1; });
  ASSERT_RPC_OK(a.Create("first"));
  ASSERT_RPC_OK(a.Create("second"));
  Reply<v1::NextTaskResponse> first = a.Next();
  ASSERT_TRUE(first.resp.has_task());
  EXPECT_EQ(first.resp.task().title(), "first");

  Reply<v1::NextTaskResponse> full = a.Next(absl::Milliseconds(100));
  ASSERT_RPC_OK(full);
  EXPECT_FALSE(full.resp.has_task());
  std::optional<v1::Worker> me = FindWorker(a.Workers().resp, "worker-a");
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->active_tasks(), 1u);
  EXPECT_EQ(me->available_slots(), 0u);

  // Completing frees the slot; a waiting NextTask gets the second task.
  auto waiting = std::async(std::launch::async, [&a] { return a.Next(absl::Seconds(3)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_RPC_OK(a.Complete(first.resp.task().id(), first.resp.lock().fencing_token()));
  Reply<v1::NextTaskResponse> second = waiting.get();
  ASSERT_RPC_OK(second);
  ASSERT_TRUE(second.resp.has_task());
  EXPECT_EQ(second.resp.task().title(), "second");
}

TEST_F(SentinelServiceTest, NextTaskOnlyHandsOutRequestedAndSupportedTypes) {
  Worker& a = StartWorker("worker-a");
  Worker& builder = StartWorker("builder", /*heartbeat=*/true,
                                [](Config& c) { c.supported_task_types = {"build"}; });
  ASSERT_RPC_OK(a.Create("run tests", "test"));

  Reply<v1::NextTaskResponse> none = a.Next(absl::Milliseconds(100), {"build"});
  ASSERT_RPC_OK(none);
  EXPECT_FALSE(none.resp.has_task());
  Reply<v1::NextTaskResponse> none2 = builder.Next(absl::Milliseconds(100));
  ASSERT_RPC_OK(none2);
  EXPECT_FALSE(none2.resp.has_task()) << "builder does not support \"test\"";
  EXPECT_CODE(builder.Next(absl::ZeroDuration(), {"test"}), INVALID_ARGUMENT);
  EXPECT_CODE(a.Next(absl::ZeroDuration(), {"Bad Type"}), INVALID_ARGUMENT);

  Reply<v1::CreateTaskResponse> build = a.Create("compile", "build");
  ASSERT_RPC_OK(build);
  Reply<v1::NextTaskResponse> got = a.Next(absl::ZeroDuration(), {"build"});
  ASSERT_RPC_OK(got);
  ASSERT_TRUE(got.resp.has_task());
  EXPECT_EQ(got.resp.task().type(), "build");
  Reply<v1::NextTaskResponse> test = a.Next(absl::ZeroDuration(), {"test"});
  ASSERT_RPC_OK(test);
  ASSERT_TRUE(test.resp.has_task());
  EXPECT_EQ(test.resp.task().type(), "test");
}

TEST_F(SentinelServiceTest, TaskOfAWorkerWhoseLeaseLapsedGoesToAnotherWorker) {
  auto with_delay = [](Config& c) { c.lock_delay = absl::Milliseconds(100); };
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false, with_delay);
  Worker& b = StartWorker("worker-b", /*heartbeat=*/true, with_delay);
  const absl::Time before_beat = absl::Now();
  ASSERT_RPC_OK(a.Beat());
  Reply<v1::CreateTaskResponse> created = b.Create("fragile");
  const std::string id = created.resp.task().id();
  Reply<v1::NextTaskResponse> mine = a.Next();
  ASSERT_TRUE(mine.resp.has_task());
  const uint64_t t1 = mine.resp.lock().fencing_token();
  EXPECT_FALSE(b.Next().resp.has_task());

  // A goes silent mid-task.
  Reply<v1::NextTaskResponse> rescued = b.Next(absl::Milliseconds(1500));
  ASSERT_RPC_OK(rescued);
  ASSERT_TRUE(rescued.resp.has_task());
  EXPECT_EQ(rescued.resp.task().id(), id);
  EXPECT_EQ(rescued.resp.task().attempts(), 2u);
  EXPECT_EQ(rescued.resp.task().worker_id(), "worker-b");
  EXPECT_THAT(rescued.resp.task().last_error(), HasSubstr("worker-a"));
  const uint64_t t2 = rescued.resp.lock().fencing_token();
  EXPECT_GT(t2, t1);
  EXPECT_GE(ToTime(rescued.resp.lock().acquired_at()),
            before_beat + kStale + absl::Milliseconds(100) - kTimeSlack);

  // A wakes up: it cannot finish the task any more, and its heartbeat says why.
  EXPECT_CODE(a.Complete(id, t1, "too late"), FAILED_PRECONDITION);
  EXPECT_CODE(a.Fail(id, t1, "too late", true), FAILED_PRECONDITION);
  Reply<v1::HeartbeatResponse> beat = a.Beat();
  ASSERT_RPC_OK(beat);
  ASSERT_EQ(beat.resp.lost_locks_size(), 1);
  EXPECT_EQ(beat.resp.lost_locks(0).name(), id);

  Reply<v1::CompleteTaskResponse> done = b.Complete(id, t2, "rescued");
  ASSERT_RPC_OK(done);
  EXPECT_EQ(done.resp.task().result(), "rescued");
  EXPECT_EQ(done.resp.task().worker_id(), "worker-b");
}

TEST_F(SentinelServiceTest, GetTaskReadsOneTask) {
  Worker& a = StartWorker("worker-a");
  Reply<v1::CreateTaskResponse> created = a.Create("readable", "docs");
  ASSERT_RPC_OK(created);
  Reply<v1::GetTaskResponse> got = a.Task(created.resp.task().id());
  ASSERT_RPC_OK(got);
  EXPECT_EQ(got.resp.task().title(), "readable");
  EXPECT_EQ(got.resp.task().type(), "docs");
  EXPECT_EQ(got.resp.task().state(), v1::TASK_STATE_QUEUED);
  // Stored times have microsecond precision.
  EXPECT_EQ(absl::ToUnixMicros(ToTime(got.resp.task().created_at())),
            absl::ToUnixMicros(ToTime(created.resp.task().created_at())));
  EXPECT_CODE(a.Task("task-424242"), NOT_FOUND);
  EXPECT_CODE(a.Task(""), INVALID_ARGUMENT);
}

TEST_F(SentinelServiceTest, NextTaskHandsOutHigherPriorityFirstThenInCreationOrder) {
  Worker& a = StartWorker("worker-a");
  v1::CreateTaskRequest req;
  for (const auto& [title, priority] : std::vector<std::pair<std::string, int>>{
           {"low", -5}, {"normal-1", 0}, {"high", 100}, {"normal-2", 0}}) {
    req.set_title(title);
    req.set_priority(priority);
    ASSERT_RPC_OK(a.CreateTask(req));
  }
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    Reply<v1::NextTaskResponse> next = a.Next();
    ASSERT_RPC_OK(next);
    ASSERT_TRUE(next.resp.has_task());
    order.push_back(next.resp.task().title());
  }
  EXPECT_THAT(order, ElementsAre("high", "normal-1", "normal-2", "low"));
}

TEST_F(SentinelServiceTest, LostLastAttemptDeadLettersTheTask) {
  Worker& a = StartWorker("worker-a", /*heartbeat=*/false);
  Worker& b = StartWorker("worker-b");
  ASSERT_RPC_OK(a.Beat());
  Reply<v1::CreateTaskResponse> created = b.Create("one shot", "", 1);
  ASSERT_RPC_OK(created);
  Reply<v1::NextTaskResponse> mine = a.Next();
  ASSERT_TRUE(mine.resp.has_task());
  // A dies with the only attempt; the task is not handed out again.
  Reply<v1::NextTaskResponse> none = b.Next(absl::Milliseconds(600));
  ASSERT_RPC_OK(none);
  EXPECT_FALSE(none.resp.has_task());
  Reply<v1::GetTaskResponse> dead = b.Task(created.resp.task().id());
  ASSERT_RPC_OK(dead);
  EXPECT_EQ(dead.resp.task().state(), v1::TASK_STATE_DEAD_LETTER);
  EXPECT_EQ(dead.resp.task().attempts(), 1u);
  EXPECT_THAT(dead.resp.task().last_error(), HasSubstr("worker-a"));
  EXPECT_CODE(a.Complete(created.resp.task().id(), mine.resp.lock().fencing_token()),
              FAILED_PRECONDITION);
  EXPECT_EQ(b.Health().resp.tasks_failed(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Bad input.

TEST_F(SentinelServiceTest, BadIdsAndDurationsAreInvalidArgument) {
  Worker& a = StartWorker("worker-a");
  const std::string long_id(129, 'x');
  EXPECT_CODE(a.Acquire(""), INVALID_ARGUMENT);
  EXPECT_CODE(a.Acquire(long_id), INVALID_ARGUMENT);
  EXPECT_CODE(a.Acquire("has space"), INVALID_ARGUMENT);
  EXPECT_CODE(a.Acquire("ok", absl::ZeroDuration(), absl::Hours(25)), INVALID_ARGUMENT);
  EXPECT_CODE(a.Acquire("ok", absl::Minutes(10) + absl::Seconds(1)), INVALID_ARGUMENT);
  EXPECT_CODE(a.Acquire("ok", absl::Seconds(-1)), INVALID_ARGUMENT);
  v1::AcquireLockRequest meta;
  meta.set_name("ok");
  for (int i = 0; i < 17; ++i) (*meta.mutable_metadata())[absl::StrCat("k", i)] = "v";
  EXPECT_CODE(a.AcquireLock(meta), INVALID_ARGUMENT);
  EXPECT_CODE(a.Release("", 1), INVALID_ARGUMENT);
  EXPECT_CODE(a.Release(long_id, 1), INVALID_ARGUMENT);
  EXPECT_CODE(a.Renew("", 1), INVALID_ARGUMENT);
  EXPECT_CODE(a.Renew(long_id, 1), INVALID_ARGUMENT);
  EXPECT_CODE(a.Task(long_id), INVALID_ARGUMENT);
  EXPECT_CODE(a.Fail(long_id, 1, "e", true), INVALID_ARGUMENT);
  EXPECT_CODE(a.Next(absl::Minutes(10) + absl::Seconds(1)), INVALID_ARGUMENT);
  EXPECT_CODE(a.Next(absl::Seconds(-1)), INVALID_ARGUMENT);
  Reply<v1::ListLocksResponse> locks = a.Locks();
  ASSERT_RPC_OK(locks);
  EXPECT_EQ(locks.resp.locks_size(), 0) << "bad input changes nothing";

  // The limits themselves are fine.
  const std::string max_id(128, 'x');
  Reply<v1::AcquireLockResponse> longest = a.Acquire(max_id, absl::ZeroDuration(), absl::Hours(24));
  ASSERT_RPC_OK(longest);
  EXPECT_TRUE(longest.resp.acquired());
  EXPECT_RPC_OK(a.Acquire("a.b_c:d/e@f-G9"));
}

TEST_F(SentinelServiceTest, CreateTaskRejectsBadInputAndCreatesNothing) {
  Worker& a = StartWorker("worker-a");
  Reply<v1::GetClusterHealthResponse> before = a.Health();
  ASSERT_RPC_OK(before);

  v1::CreateTaskRequest req;
  req.set_title("");
  EXPECT_CODE(a.CreateTask(req), INVALID_ARGUMENT);
  req.set_title(std::string(257, 't'));
  EXPECT_CODE(a.CreateTask(req), INVALID_ARGUMENT);
  req.set_title("ok");
  req.set_body(std::string(32 * 1024 + 1, 'b'));
  EXPECT_CODE(a.CreateTask(req), INVALID_ARGUMENT);
  req.set_body("");
  req.set_type("Not-Lower");
  EXPECT_CODE(a.CreateTask(req), INVALID_ARGUMENT);
  req.set_type(std::string(65, 't'));
  EXPECT_CODE(a.CreateTask(req), INVALID_ARGUMENT);
  req.set_type("");
  req.set_priority(1001);
  EXPECT_CODE(a.CreateTask(req), INVALID_ARGUMENT);
  req.set_priority(-1001);
  EXPECT_CODE(a.CreateTask(req), INVALID_ARGUMENT);
  req.set_priority(0);
  req.set_max_attempts(101);
  EXPECT_CODE(a.CreateTask(req), INVALID_ARGUMENT);

  Reply<v1::GetClusterHealthResponse> after = a.Health();
  ASSERT_RPC_OK(after);
  EXPECT_EQ(after.resp.tasks_queued(), before.resp.tasks_queued());
  EXPECT_EQ(after.resp.tasks_queued(), 0u);
  EXPECT_EQ(after.resp.tasks_in_progress(), 0u);
  EXPECT_EQ(after.resp.tasks_done(), 0u);
  EXPECT_EQ(after.resp.tasks_failed(), 0u);
  EXPECT_FALSE(a.Next().resp.has_task());

  // The limits themselves are fine.
  req.set_title(std::string(256, 't'));
  req.set_body(std::string(32 * 1024, 'b'));
  req.set_type(std::string(64, 't'));
  req.set_priority(1000);
  req.set_max_attempts(100);
  Reply<v1::CreateTaskResponse> ok = a.CreateTask(req);
  ASSERT_RPC_OK(ok);
  EXPECT_EQ(ok.resp.task().max_attempts(), 100u);
  EXPECT_EQ(a.Health().resp.tasks_queued(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Shutdown.

TEST_F(SentinelServiceTest, ShutdownReleasesTheWorkersLocksAndMarksItGone) {
  Worker& a = StartWorker("worker-a", /*heartbeat=*/true,
                          [](Config& c) { c.lock_delay = absl::Seconds(5); });
  Worker& b = StartWorker("worker-b", /*heartbeat=*/true,
                          [](Config& c) { c.lock_delay = absl::Seconds(5); });
  Reply<v1::AcquireLockResponse> held = a.Acquire("res");
  ASSERT_TRUE(held.resp.acquired());
  ASSERT_RPC_OK(b.Create("half-done"));
  Reply<v1::NextTaskResponse> task = a.Next();
  ASSERT_TRUE(task.resp.has_task());
  EXPECT_FALSE(b.Acquire("res").resp.acquired());

  const absl::Status s = a.Shutdown(absl::Seconds(1));
  ASSERT_TRUE(s.ok()) << s;

  // Released, not lapsed: no lock-delay (5 s here) applies.
  Reply<v1::AcquireLockResponse> taken = b.Acquire("res");
  ASSERT_RPC_OK(taken);
  EXPECT_TRUE(taken.resp.acquired());
  EXPECT_GT(taken.resp.lock().fencing_token(), held.resp.lock().fencing_token());
  Reply<v1::NextTaskResponse> again = b.Next();
  ASSERT_RPC_OK(again);
  ASSERT_TRUE(again.resp.has_task());
  EXPECT_EQ(again.resp.task().id(), task.resp.task().id());
  EXPECT_EQ(again.resp.task().attempts(), 2u);

  Reply<v1::ListWorkersResponse> all = b.Workers(/*include_gone=*/true);
  ASSERT_RPC_OK(all);
  std::optional<v1::Worker> gone = FindWorker(all.resp, "worker-a");
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->status(), v1::WORKER_STATUS_GONE);
  Reply<v1::ListWorkersResponse> present = b.Workers();
  ASSERT_RPC_OK(present);
  EXPECT_FALSE(FindWorker(present.resp, "worker-a").has_value());
  EXPECT_TRUE(FindWorker(present.resp, "worker-b").has_value());
  Reply<v1::GetClusterHealthResponse> h = b.Health();
  ASSERT_RPC_OK(h);
  EXPECT_EQ(h.resp.total_workers(), 1u);
  EXPECT_EQ(h.resp.stale_workers(), 0u);

  // The sidecar no longer answers.
  Reply<v1::ListLocksResponse> after = a.ListLocks({}, absl::Seconds(1));
  EXPECT_FALSE(after.status.ok());
  EXPECT_TRUE(a.Shutdown().ok()) << "Shutdown is idempotent";
}

TEST_F(SentinelServiceTest, ShutdownWakesBlockedCallsPromptly) {
  Worker& a = StartWorker("worker-a");
  Worker& b = StartWorker("worker-b");
  ASSERT_TRUE(b.Acquire("busy").resp.acquired());

  auto next = std::async(std::launch::async, [&a] { return a.Next(absl::Seconds(20)); });
  auto acquire =
      std::async(std::launch::async, [&a] { return a.Acquire("busy", absl::Seconds(20)); });
  grpc::ClientContext watch_ctx;
  SetDeadline(&watch_ctx, absl::Seconds(30));
  v1::WatchMemoryRequest wreq;
  wreq.set_namespace_("global");
  auto watch = a.stub()->WatchMemory(&watch_ctx, wreq);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  const absl::Time start = absl::Now();
  const absl::Status s = a.Shutdown(absl::Seconds(5));
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "blocked calls must not hold up shutdown";

  Reply<v1::NextTaskResponse> n = next.get();
  ASSERT_RPC_OK(n);
  EXPECT_FALSE(n.resp.has_task());
  Reply<v1::AcquireLockResponse> acq = acquire.get();
  ASSERT_RPC_OK(acq);
  EXPECT_FALSE(acq.resp.acquired());
  v1::WatchMemoryResponse ev;
  EXPECT_FALSE(watch->Read(&ev));
  EXPECT_TRUE(HasCode(watch->Finish(), grpc::StatusCode::OK));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

// ---------------------------------------------------------------------------------------------
// Durable store.

TEST_F(SentinelServiceTest, SqliteStoreKeepsMemoryAndTasksAcrossRestarts) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/sentinel-service-", getpid(), ".db");
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());

  uint64_t t1 = 0;
  uint64_t version = 0;
  std::string task_id;
  const std::string value("durable\0bytes", 13);
  {
    SqliteStore* store = OpenSqlite(path);
    ASSERT_NE(store, nullptr);
    Worker& a = StartWorker("worker-a", /*heartbeat=*/false, nullptr, store);
    Reply<v1::AcquireLockResponse> held = a.Acquire("durable-lock");
    ASSERT_RPC_OK(held);
    ASSERT_TRUE(held.resp.acquired());
    t1 = held.resp.lock().fencing_token();
    Reply<v1::SetMemoryResponse> set = a.Set("global", "config", value);
    ASSERT_RPC_OK(set);
    version = set.resp.entry().version();
    Reply<v1::CreateTaskResponse> created = a.Create("survive a restart", "ops");
    ASSERT_RPC_OK(created);
    task_id = created.resp.task().id();
    const absl::Status s = a.Shutdown(absl::Seconds(1));
    ASSERT_TRUE(s.ok()) << s;
    workers_.clear();  // the server goes before its store
    sqlite_stores_.clear();
  }

  SqliteStore* reopened = OpenSqlite(path);
  ASSERT_NE(reopened, nullptr);
  Worker& b = StartWorker("worker-b", /*heartbeat=*/false, nullptr, reopened);
  Reply<v1::GetMemoryResponse> got = b.Get("global", "config");
  ASSERT_RPC_OK(got);
  EXPECT_EQ(got.resp.entry().value(), value);
  EXPECT_EQ(got.resp.entry().version(), version);
  EXPECT_EQ(got.resp.entry().updated_by(), "worker-a");
  Reply<v1::GetTaskResponse> task = b.Task(task_id);
  ASSERT_RPC_OK(task);
  EXPECT_EQ(task.resp.task().title(), "survive a restart");
  EXPECT_EQ(task.resp.task().state(), v1::TASK_STATE_QUEUED);
  std::optional<v1::Worker> a_rec = FindWorker(b.Workers(true).resp, "worker-a");
  ASSERT_TRUE(a_rec.has_value());
  EXPECT_EQ(a_rec->status(), v1::WORKER_STATUS_GONE);

  // The lock was released at shutdown; the token sequence continues where it was.
  Reply<v1::AcquireLockResponse> again = b.Acquire("durable-lock");
  ASSERT_RPC_OK(again);
  EXPECT_TRUE(again.resp.acquired());
  EXPECT_GT(again.resp.lock().fencing_token(), t1);
  EXPECT_EQ(b.Release("durable-lock", t1).resp.status(), v1::ReleaseLockResponse::STATUS_HELD_BY_OTHER);
  Reply<v1::NextTaskResponse> next = b.Next();
  ASSERT_RPC_OK(next);
  ASSERT_TRUE(next.resp.has_task());
  EXPECT_EQ(next.resp.task().id(), task_id);
  ASSERT_RPC_OK(b.Complete(task_id, next.resp.lock().fencing_token(), "done"));
}

}  // namespace
}  // namespace tasksentinel
