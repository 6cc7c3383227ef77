// LOCK_RETRY_ATTEMPTS x LOCK_RETRY_DELAY_MS is the default wait of an AcquireLock that leaves
// wait_timeout unset; an explicit wait_timeout (zero included) always wins; with the default
// of 0 attempts an unset wait does not wait. Real SentinelServer instances over one MemoryStore
// (two workers); the assertions are on outcomes, not on durations.
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/time/clock.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/memory_store.h"
#include "gtest/gtest.h"
#include "service/server.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"

namespace tasksentinel {
namespace {

Config WorkerConfig(const std::string& id, int retry_attempts) {
  Config c;
  c.worker_id = id;
  c.hostname = "host";
  c.lock_ttl = absl::Seconds(30);
  c.lock_delay = absl::ZeroDuration();
  c.heartbeat_interval = absl::Seconds(10);
  c.stale_threshold = absl::Seconds(30);
  c.poll_interval = absl::Milliseconds(5);
  c.lock_retry_attempts = retry_attempts;
  c.lock_retry_delay = absl::Seconds(10);  // long: the release below comes well within it
  c.grpc_addr = "127.0.0.1:0";
  c.http_addr = "";
  const char* tmp = std::getenv("TEST_TMPDIR");
  c.data_dir = tmp != nullptr ? tmp : "/tmp";
  return c;
}

class LockWaitTest : public ::testing::Test {
 protected:
  void Start(int retry_attempts) {
    holder_ = std::make_unique<SentinelServer>(WorkerConfig("holder", 0), &store_, &clock_);
    waiter_ = std::make_unique<SentinelServer>(WorkerConfig("waiter", retry_attempts), &store_,
                                               &clock_);
    ASSERT_TRUE(holder_->Start().ok());
    ASSERT_TRUE(waiter_->Start().ok());
    holder_stub_ = v1::SentinelService::NewStub(holder_->NewChannel());
    waiter_stub_ = v1::SentinelService::NewStub(waiter_->NewChannel());
    v1::AcquireLockRequest req;
    req.set_name("shared");
    grpc::ClientContext ctx;
    ASSERT_TRUE(holder_stub_->AcquireLock(&ctx, req, &held_).ok());
    ASSERT_TRUE(held_.acquired());
  }

  // The holder releases its lock once the waiter's call is under way.
  std::thread ReleaseSoon() {
    return std::thread([this] {
      absl::SleepFor(absl::Milliseconds(300));
      v1::ReleaseLockRequest req;
      req.set_name("shared");
      req.set_fencing_token(held_.lock().fencing_token());
      v1::ReleaseLockResponse resp;
      grpc::ClientContext ctx;
      EXPECT_TRUE(holder_stub_->ReleaseLock(&ctx, req, &resp).ok());
    });
  }

  // The waiter's AcquireLock; `wait` unset when nullopt.
  bool WaiterAcquires(std::optional<absl::Duration> wait) {
    v1::AcquireLockRequest req;
    req.set_name("shared");
    if (wait.has_value()) req.mutable_wait_timeout()->set_seconds(absl::ToInt64Seconds(*wait));
    v1::AcquireLockResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(waiter_stub_->AcquireLock(&ctx, req, &resp).ok());
    return resp.acquired();
  }

  void TearDown() override {
    if (waiter_) waiter_->Shutdown(absl::ZeroDuration()).IgnoreError();
    if (holder_) holder_->Shutdown(absl::ZeroDuration()).IgnoreError();
  }

  RealClock clock_;
  MemoryStore store_;
  std::unique_ptr<SentinelServer> holder_, waiter_;
  std::unique_ptr<v1::SentinelService::Stub> holder_stub_, waiter_stub_;
  v1::AcquireLockResponse held_;
};

TEST_F(LockWaitTest, UnsetWaitWaitsRetryAttemptsTimesDelay) {
  Start(/*retry_attempts=*/2);
  std::thread release = ReleaseSoon();
  EXPECT_TRUE(WaiterAcquires(std::nullopt));
  release.join();
}

TEST_F(LockWaitTest, ExplicitZeroWaitDoesNotWait) {
  Start(/*retry_attempts=*/2);
  std::thread release = ReleaseSoon();
  EXPECT_FALSE(WaiterAcquires(absl::ZeroDuration()));
  release.join();
}

TEST_F(LockWaitTest, NoRetriesByDefault) {
  EXPECT_EQ(Config().lock_retry_attempts, 0);
  Start(/*retry_attempts=*/0);
  std::thread release = ReleaseSoon();
  EXPECT_FALSE(WaiterAcquires(std::nullopt));
  release.join();
}

}  // namespace
}  // namespace tasksentinel
