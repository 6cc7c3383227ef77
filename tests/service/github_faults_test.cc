// The GitHub backend under GitHub's failures, end to end: a real sidecar (gRPC on loopback,
// libcurl client, GitHub coordinator) against fakehub with injected 5xx bursts, time-outs, the
// secondary limit without retry-after, and an exhausted primary limit. Each time the RPCs must
// say clearly what is wrong (UNAVAILABLE or RESOURCE_EXHAUSTED), the sidecar must not hammer
// GitHub while blocked, it must recover by itself, and no acknowledged write may be lost. Also:
// polling an unchanged repository costs no primary rate limit, and the token never shows.
#include <chrono>
#include <optional>
#include <utility>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include <httplib.h>
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/testing/github_sidecars.h"

namespace tasksentinel {
namespace {

namespace v1 = ::tasksentinel::v1;
using testing::GitHubSidecars;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

class GitHubFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    github::CurlGitHubApi::Options api = env_.MakeApiOptions();
    api.timeout = absl::Milliseconds(500);  // so that a slow GitHub is a quick test
    api.max_retries = 2;
    Config config = env_.MakeConfig("worker-a");
    config.http_addr = "127.0.0.1:0";
    // These tests never heartbeat: the lease must outlast them even on slow (sanitizer) builds,
    // or a task's lock lapses and is taken again mid-test.
    config.stale_threshold = absl::Seconds(60);
    server_ = env_.Start(config, api);
    ASSERT_NE(server_, nullptr);
    stub_ = v1::SentinelService::NewStub(server_->NewChannel());
  }

  grpc::Status CreateTask(const std::string& title, v1::Task* out = nullptr) {
    v1::CreateTaskRequest req;
    req.set_title(title);
    v1::CreateTaskResponse resp;
    grpc::Status s = stub_->CreateTask(Ctx().get(), req, &resp);
    if (s.ok()) acknowledged_.insert(resp.task().id());
    if (!s.ok()) messages_.push_back(s.error_message());
    if (out != nullptr) *out = resp.task();
    return s;
  }

  // Every acknowledged task still exists on GitHub.
  void ExpectNoAcknowledgedTaskLost() {
    std::set<std::string> on_github;
    for (const fakehub::IssueState& issue : env_.hub().Issues()) {
      on_github.insert(absl::StrCat(issue.number));
    }
    for (const std::string& id : acknowledged_) {
      EXPECT_TRUE(on_github.count(id)) << "acknowledged task " << id << " is missing";
    }
  }

  // Retries `call` until it succeeds or `timeout` passes; returns the last status.
  grpc::Status Eventually(const std::function<grpc::Status()>& call, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    grpc::Status s;
    do {
      s = call();
      if (s.ok()) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (absl::Now() < deadline);
    return s;
  }

  GitHubSidecars env_;
  SentinelServer* server_ = nullptr;
  std::unique_ptr<v1::SentinelService::Stub> stub_;
  std::set<std::string> acknowledged_;
  std::vector<std::string> messages_;  // every error message a client saw
};

// A hand-out that completes after the caller's deadline (the claim settles for 2 s; the caller
// waits 1 s) is handed back at once: otherwise the task would stay locked by a worker that never
// heard of it until the lock's ttl ran out.
TEST(GitHubHandOutTest, ATaskHandedOutAfterTheCallersDeadlineIsHandedBack) {
  GitHubSidecars env;
  Config config = env.MakeConfig("worker-a");
  config.github_claim_settle = absl::Seconds(2);
  config.stale_threshold = absl::Seconds(60);
  SentinelServer* server = env.Start(config);
  ASSERT_NE(server, nullptr);
  std::unique_ptr<v1::SentinelService::Stub> stub = v1::SentinelService::NewStub(server->NewChannel());
  v1::CreateTaskRequest create;
  create.set_title("wanted");
  v1::CreateTaskResponse created;
  ASSERT_TRUE(stub->CreateTask(Ctx().get(), create, &created).ok());

  grpc::ClientContext hurried;
  hurried.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  v1::NextTaskResponse lost;
  EXPECT_EQ(stub->NextTask(&hurried, v1::NextTaskRequest(), &lost).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the server's hand-out ends

  // The task is free again: the next call gets it (with a new token), long before the lock's
  // ttl (300 s) or the worker's lease (60 s) could have run out.
  v1::NextTaskRequest req;
  req.mutable_wait_timeout()->set_seconds(10);
  v1::NextTaskResponse next;
  ASSERT_TRUE(stub->NextTask(Ctx().get(), req, &next).ok());
  ASSERT_TRUE(next.has_task());
  EXPECT_EQ(next.task().id(), created.task().id());
}

// The ErrorInfo reason and RetryInfo delay of a failed call ("" and nullopt when absent).
std::pair<std::string, std::optional<absl::Duration>> Details(const grpc::Status& status) {
  google::rpc::Status rich;
  std::pair<std::string, std::optional<absl::Duration>> out;
  if (!rich.ParseFromString(status.error_details())) return out;
  for (const google::protobuf::Any& any : rich.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::RetryInfo retry;
    if (any.UnpackTo(&info)) out.first = info.reason();
    if (any.UnpackTo(&retry)) {
      out.second = absl::Seconds(retry.retry_delay().seconds()) +
                   absl::Nanoseconds(retry.retry_delay().nanos());
    }
  }
  return out;
}

TEST_F(GitHubFaultsTest, AShort5xxBurstIsRetriedUnseen) {
  ASSERT_TRUE(CreateTask("before").ok());
  env_.hub().FailNext(2, 502);
  EXPECT_TRUE(CreateTask("through the burst").ok());
  ExpectNoAcknowledgedTaskLost();
}

TEST_F(GitHubFaultsTest, AnOutageIsUnavailableThenRecoversByItself) {
  ASSERT_TRUE(CreateTask("before").ok());
  env_.hub().SetErrorRate(1.0, 503);
  grpc::Status s = CreateTask("during");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "503")) << s.error_message();
  env_.hub().SetErrorRate(0.0);
  EXPECT_TRUE(Eventually([&] { return CreateTask("after"); }, absl::Seconds(5)).ok());
  ExpectNoAcknowledgedTaskLost();
}

TEST_F(GitHubFaultsTest, ATimeOutIsUnavailableThenRecovers) {
  ASSERT_TRUE(CreateTask("before").ok());
  env_.hub().SetLatency(absl::Seconds(1));  // the client gives up after 0.5 s
  grpc::Status s = CreateTask("slow");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  env_.hub().SetLatency(absl::ZeroDuration());
  EXPECT_TRUE(Eventually([&] { return CreateTask("after"); }, absl::Seconds(5)).ok());
  ExpectNoAcknowledgedTaskLost();
}

TEST_F(GitHubFaultsTest, ASecondaryLimitWithoutRetryAfterBlocksWritesThenClears) {
  ASSERT_TRUE(CreateTask("before").ok());
  env_.hub().SetSecondaryLimit(100000, absl::Milliseconds(800), /*retry_after=*/false);
  env_.hub().ForceSecondaryLimit(absl::Milliseconds(800));
  grpc::Status s = CreateTask("limited");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "secondary rate limit")) << s.error_message();
  EXPECT_EQ(Details(s).first, "RATE_LIMITED");

  // While blocked, writes fail fast without reaching GitHub: no request storm.
  const int64_t writes_before = env_.hub().Counts().content_creating;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(CreateTask("storm").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  EXPECT_EQ(env_.hub().Counts().content_creating, writes_before);

  // The sidecar waits out its backoff and writes again by itself.
  EXPECT_TRUE(Eventually([&] { return CreateTask("after"); }, absl::Seconds(8)).ok());
  ExpectNoAcknowledgedTaskLost();
}

TEST_F(GitHubFaultsTest, AnExhaustedPrimaryLimitWaitsForTheReset) {
  ASSERT_TRUE(CreateTask("before").ok());
  fakehub::RateLimits limits = env_.hub().limits();
  limits.primary_window = absl::Seconds(3);
  limits.primary_limit = env_.hub().rate_limit().used + 3;
  env_.hub().SetLimits(limits);
  grpc::Status s;
  for (int i = 0; i < 10 && s.ok(); ++i) s = CreateTask(absl::StrCat("spend ", i));
  ASSERT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "primary rate limit")) << s.error_message();
  // Machine-readable: RATE_LIMITED, with how long to wait (at most the 3 s window, plus slack).
  auto [reason, delay] = Details(s);
  EXPECT_EQ(reason, "RATE_LIMITED");
  ASSERT_TRUE(delay.has_value());
  EXPECT_GT(*delay, absl::ZeroDuration());
  EXPECT_LE(*delay, absl::Seconds(5));

  // Blocked until the reset: nothing is sent meanwhile.
  const int64_t requests_before = env_.hub().Counts().total;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(CreateTask("blocked").error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  EXPECT_EQ(env_.hub().Counts().total, requests_before);

  EXPECT_TRUE(Eventually([&] { return CreateTask("after the reset"); }, absl::Seconds(8)).ok());
  ExpectNoAcknowledgedTaskLost();
}

TEST_F(GitHubFaultsTest, PollingAnUnchangedRepositoryCostsNoPrimaryRateLimit) {
  ASSERT_TRUE(CreateTask("queued").ok());
  v1::NextTaskResponse next;
  ASSERT_TRUE(stub_->NextTask(Ctx().get(), v1::NextTaskRequest(), &next).ok());
  ASSERT_TRUE(next.has_task());
  // Warm the caches once, then poll.
  v1::ListLocksResponse locks;
  v1::GetClusterHealthResponse health;
  ASSERT_TRUE(stub_->ListLocks(Ctx().get(), v1::ListLocksRequest(), &locks).ok());
  ASSERT_TRUE(
      stub_->GetClusterHealth(Ctx().get(), v1::GetClusterHealthRequest(), &health).ok());
  ASSERT_TRUE(stub_->NextTask(Ctx().get(), v1::NextTaskRequest(), &next).ok());

  const int used_before = env_.hub().rate_limit().used;
  const int64_t requests_before = env_.hub().Counts().total;
  constexpr int kPolls = 20;
  for (int i = 0; i < kPolls; ++i) {
    ASSERT_TRUE(stub_->ListLocks(Ctx().get(), v1::ListLocksRequest(), &locks).ok());
    ASSERT_TRUE(
        stub_->GetClusterHealth(Ctx().get(), v1::GetClusterHealthRequest(), &health).ok());
    ASSERT_TRUE(stub_->NextTask(Ctx().get(), v1::NextTaskRequest(), &next).ok());
    EXPECT_FALSE(next.has_task());
  }
  const int64_t requests = env_.hub().Counts().total - requests_before;
  std::cout << "polls: " << kPolls * 3 << " RPCs, " << requests
            << " GitHub requests, primary rate limit used: "
            << env_.hub().rate_limit().used - used_before << "\n";
  EXPECT_GT(requests, 0);  // it did look
  EXPECT_EQ(env_.hub().rate_limit().used, used_before);  // all 304s
}

TEST_F(GitHubFaultsTest, TheTokenNeverShowsInErrorsOrMetrics) {
  env_.hub().SetErrorRate(1.0, 502);
  CreateTask("outage");
  env_.hub().SetErrorRate(0.0);
  env_.hub().SetLatency(absl::Seconds(1));
  CreateTask("time-out");
  env_.hub().SetLatency(absl::ZeroDuration());
  env_.hub().ForceSecondaryLimit(absl::Milliseconds(300));
  CreateTask("limited");
  ASSERT_FALSE(messages_.empty());
  // The metrics endpoint's text, with the backend's own counters.
  httplib::Client http("127.0.0.1", server_->http_port());
  httplib::Result metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_TRUE(absl::StrContains(metrics->body, "tasksentinel_github_claims_posted_total"));
  EXPECT_TRUE(absl::StrContains(metrics->body, "tasksentinel_github_foreign_comments_total"));
  messages_.push_back(metrics->body);
  for (const std::string& m : messages_) {
    EXPECT_FALSE(absl::StrContains(m, GitHubSidecars::kToken)) << m;
    EXPECT_FALSE(absl::StrContains(m, "TESTTOKEN")) << m;
  }
}

}  // namespace
}  // namespace tasksentinel
