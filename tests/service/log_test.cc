// Logs: the seed's JSON shape, SENTINEL_LOG_LEVEL and the SENTINEL_DEBUG component filter
// (Logger), and the events a sidecar logs for the life of locks, tasks, workers and shared
// memory, checked on real SentinelServer instances with every secret set: no line carries the
// API token, the GitHub token, WORKER_SECRET or a shared-memory value. The backends' own events
// (EventLog) as lines of their components: a stale worker and a recovered lock on the embedded
// store; the GitHub claim steps, written only with SENTINEL_DEBUG=claims; a GitHub rate limit's
// block and end, against fakehub.
#include "service/log.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/embedded_coordinator.h"
#include "core/embedded/memory_store.h"
#include "core/github/github_coordinator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/event_log.h"
#include "service/server.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_github_api.h"
#include "tests/testing/github_sidecars.h"

namespace tasksentinel {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kApiToken[] = "api-token-0123456789-SHOULD-NOT-LEAK";
constexpr char kGithubToken[] = "ghp_githubtoken_SHOULD_NOT_LEAK";
constexpr char kWorkerSecret[] = "worker-secret-SHOULD-NOT-LEAK";
constexpr char kMemoryValue[] = "memory-value-SHOULD-NOT-LEAK";

// Captures the global logger's lines for the test's duration.
class LogCapture {
 public:
  LogCapture(const std::string& level, const std::vector<std::string>& debug = {}) {
    Logger::Global().SetLevel(level);
    EXPECT_TRUE(Logger::Global().SetDebugComponents(debug).ok());
    Logger::Global().SetSinkForTesting(&text_);
  }
  ~LogCapture() {
    Logger::Global().SetSinkForTesting(nullptr);
    Logger::Global().SetLevel("info");
    Logger::Global().SetDebugComponents({}).IgnoreError();
  }
  const std::string& text() const { return text_; }
  // Every line, parsed.
  std::vector<Json> Lines() const {
    std::vector<Json> out;
    for (absl::string_view line : absl::StrSplit(text_, '\n', absl::SkipEmpty())) {
      out.push_back(Json::parse(line));
    }
    return out;
  }
  // The lines whose action is `action`.
  std::vector<Json> WithAction(const std::string& action) const {
    std::vector<Json> out;
    for (const Json& j : Lines()) {
      if (j.value("action", "") == action) out.push_back(j);
    }
    return out;
  }

 private:
  std::string text_;
};

TEST(LoggerTest, WritesTheSeedsShape) {
  LogCapture logs("info");
  Logger::Global().SetWorker("worker-001");
  Logger::Global().Log(LogLevel::kInfo, "locks", "lock_acquired",
                       {"task-123", "acquired", absl::Milliseconds(45), {{"retry_count", "0"}}});
  std::vector<Json> lines = logs.Lines();
  ASSERT_EQ(lines.size(), 1u) << logs.text();
  const Json& j = lines[0];
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["component"], "locks");
  EXPECT_EQ(j["worker_id"], "worker-001");
  EXPECT_EQ(j["action"], "lock_acquired");
  EXPECT_EQ(j["task_id"], "task-123");
  EXPECT_EQ(j["result"], "acquired");
  EXPECT_EQ(j["duration_ms"], 45);
  EXPECT_EQ(j["metadata"]["retry_count"], "0");
  EXPECT_TRUE(j["timestamp"].is_string());
  EXPECT_EQ(j.size(), 9u) << j.dump();
}

TEST(LoggerTest, LeavesOutWhatAnEventDoesNotHave) {
  LogCapture logs("info");
  Logger::Global().Info("sidecar", "started", {});
  std::vector<Json> lines = logs.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_FALSE(lines[0].contains("task_id"));
  EXPECT_FALSE(lines[0].contains("duration_ms"));
  EXPECT_FALSE(lines[0].contains("metadata"));
}

TEST(LoggerTest, HonoursTheLevel) {
  LogCapture logs("warn");
  Logger::Global().Debug("locks", "d", {});
  Logger::Global().Info("locks", "i", {});
  Logger::Global().Warn("locks", "w", {});
  Logger::Global().Error("locks", "e", {});
  std::vector<std::string> actions;
  for (const Json& j : logs.Lines()) actions.push_back(j["action"]);
  EXPECT_THAT(actions, ::testing::ElementsAre("w", "e"));
}

TEST(LoggerTest, DebugComponentsLogFromDebugUp) {
  LogCapture logs("info", {"memory-sync", "claims"});
  Logger::Global().Debug("memory-sync", "memory_set", {});
  Logger::Global().Debug("claims", "claim_posted", {});
  Logger::Global().Debug("locks", "lock_renewed", {});
  std::vector<std::string> actions;
  for (const Json& j : logs.Lines()) actions.push_back(j["action"]);
  EXPECT_THAT(actions, ::testing::ElementsAre("memory_set", "claim_posted"));
}

TEST(LoggerTest, UnknownDebugComponentIsAnError) {
  absl::Status s = Logger::Global().SetDebugComponents({"memory-sync", "memory_sink"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("memory_sink"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("memory-sync"));  // the list of names
}

Config SecretConfig(const std::string& worker_id) {
  Config c;
  c.worker_id = worker_id;
  c.hostname = "host";
  c.lock_ttl = absl::Seconds(30);
  c.lock_delay = absl::ZeroDuration();
  c.heartbeat_interval = absl::Seconds(10);
  c.stale_threshold = absl::Seconds(30);
  c.poll_interval = absl::Milliseconds(5);
  c.task_retry_backoff = absl::Milliseconds(10);
  c.grpc_addr = "127.0.0.1:0";
  c.http_addr = "";
  const char* tmp = std::getenv("TEST_TMPDIR");
  c.data_dir = tmp != nullptr ? tmp : "/tmp";
  c.api_token = kApiToken;
  c.github_token = kGithubToken;
  c.worker_secret = kWorkerSecret;
  return c;
}

// A stub call's context with the bearer token.
std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", std::string("Bearer ") + kApiToken);
  return ctx;
}

TEST(SidecarLogTest, EveryEventOfALifeIsLoggedAndNoSecret) {
  LogCapture logs("debug");
  RealClock clock;
  MemoryStore store;
  auto a = std::make_unique<SentinelServer>(SecretConfig("worker-a"), &store, &clock);
  auto b = std::make_unique<SentinelServer>(SecretConfig("worker-b"), &store, &clock);
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(b->Start().ok());
  auto sa = v1::SentinelService::NewStub(a->NewChannel());
  auto sb = v1::SentinelService::NewStub(b->NewChannel());

  // Locks: acquired by a, denied to b, released by a.
  v1::AcquireLockRequest acquire;
  acquire.set_name("deploy-lock");
  v1::AcquireLockResponse held, denied;
  ASSERT_TRUE(sa->AcquireLock(Ctx().get(), acquire, &held).ok());
  ASSERT_TRUE(held.acquired());
  ASSERT_TRUE(sb->AcquireLock(Ctx().get(), acquire, &denied).ok());
  ASSERT_FALSE(denied.acquired());
  v1::ReleaseLockRequest release;
  release.set_name("deploy-lock");
  release.set_fencing_token(held.lock().fencing_token());
  v1::ReleaseLockResponse released;
  ASSERT_TRUE(sa->ReleaseLock(Ctx().get(), release, &released).ok());

  // Tasks: one completed; one failed for good (one attempt) and so dead-lettered.
  for (uint32_t attempts : {3u, 1u}) {
    v1::CreateTaskRequest create;
    create.set_title("a task");
    create.set_max_attempts(attempts);
    v1::CreateTaskResponse created;
    ASSERT_TRUE(sa->CreateTask(Ctx().get(), create, &created).ok());
    v1::NextTaskResponse next;
    ASSERT_TRUE(sa->NextTask(Ctx().get(), v1::NextTaskRequest(), &next).ok());
    ASSERT_TRUE(next.has_task());
    if (attempts == 3) {
      v1::CompleteTaskRequest complete;
      complete.set_task_id(next.task().id());
      complete.set_fencing_token(next.lock().fencing_token());
      v1::CompleteTaskResponse done;
      ASSERT_TRUE(sa->CompleteTask(Ctx().get(), complete, &done).ok());
    } else {
      v1::FailTaskRequest fail;
      fail.set_task_id(next.task().id());
      fail.set_fencing_token(next.lock().fencing_token());
      fail.set_error("it broke");
      fail.set_retryable(true);
      v1::FailTaskResponse failed;
      ASSERT_TRUE(sa->FailTask(Ctx().get(), fail, &failed).ok());
    }
  }

  // Memory: a write, then a compare-and-set that loses.
  v1::SetMemoryRequest set;
  set.set_namespace_("swarm");
  set.set_key("plan");
  set.set_value(kMemoryValue);
  v1::SetMemoryResponse written;
  ASSERT_TRUE(sa->SetMemory(Ctx().get(), set, &written).ok());
  set.set_expected_version(written.entry().version() + 7);
  v1::SetMemoryResponse lost;
  EXPECT_FALSE(sb->SetMemory(Ctx().get(), set, &lost).ok());

  v1::HeartbeatResponse beat;
  ASSERT_TRUE(sa->Heartbeat(Ctx().get(), v1::HeartbeatRequest(), &beat).ok());
  ASSERT_TRUE(a->Shutdown(absl::ZeroDuration()).ok());
  ASSERT_TRUE(b->Shutdown(absl::ZeroDuration()).ok());

  for (const char* action :
       {"worker_registered", "lock_acquired", "lock_denied", "lock_released", "task_created",
        "task_handed_out", "task_completed", "task_failed", "task_dead_lettered", "memory_set",
        "memory_conflict", "heartbeat", "worker_gone"}) {
    EXPECT_FALSE(logs.WithAction(action).empty()) << action << "\n" << logs.text();
  }
  std::vector<Json> denials = logs.WithAction("lock_denied");
  ASSERT_FALSE(denials.empty());
  EXPECT_EQ(denials[0]["task_id"], "deploy-lock");
  EXPECT_EQ(denials[0]["result"], "conflict");
  EXPECT_EQ(denials[0]["metadata"]["holder"], "worker-a");
  std::vector<Json> completions = logs.WithAction("task_completed");
  ASSERT_EQ(completions.size(), 1u);
  EXPECT_TRUE(completions[0].contains("duration_ms"));
  EXPECT_EQ(completions[0]["result"], "success");

  for (const char* secret : {kApiToken, kGithubToken, kWorkerSecret, kMemoryValue}) {
    EXPECT_THAT(logs.text(), Not(HasSubstr(secret)));
  }
}

TEST(SidecarLogTest, HotPathsLogAtDebugOnly) {
  LogCapture logs("info");
  RealClock clock;
  MemoryStore store;
  auto a = std::make_unique<SentinelServer>(SecretConfig("worker-a"), &store, &clock);
  ASSERT_TRUE(a->Start().ok());
  auto sa = v1::SentinelService::NewStub(a->NewChannel());
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(sa->Heartbeat(Ctx().get(), v1::HeartbeatRequest(), &beat).ok());
  v1::SetMemoryRequest set;
  set.set_namespace_("swarm");
  set.set_key("k");
  set.set_value("v");
  v1::SetMemoryResponse written;
  ASSERT_TRUE(sa->SetMemory(Ctx().get(), set, &written).ok());
  v1::GetMemoryRequest get;
  get.set_namespace_("swarm");
  get.set_key("k");
  v1::GetMemoryResponse read;
  ASSERT_TRUE(sa->GetMemory(Ctx().get(), get, &read).ok());
  ASSERT_TRUE(a->Shutdown(absl::ZeroDuration()).ok());
  for (const Json& j : logs.Lines()) {
    EXPECT_NE(j["level"], "debug") << j.dump();
    EXPECT_THAT(std::string(j["action"]), Not(::testing::AnyOf("heartbeat", "memory_set")));
  }
  EXPECT_FALSE(logs.WithAction("worker_registered").empty()) << logs.text();
}

// The keys a line may have: the seed's nine.
void ExpectSeedShape(const Json& j) {
  for (const auto& [key, value] : j.items()) {
    EXPECT_THAT(key, ::testing::AnyOf("timestamp", "level", "component", "worker_id", "action",
                                      "task_id", "result", "duration_ms", "metadata"))
        << j.dump();
  }
  EXPECT_TRUE(j["timestamp"].is_string()) << j.dump();
}

TEST(EventLogTest, EveryEventKindLogsUnderAComponentSentinelDebugAccepts) {
  LogCapture logs("error");
  const std::vector<std::string>& components = Logger::Components();
  std::set<std::string> actions;
  for (int k = 0; k <= static_cast<int>(EventKind::kLeaseStretched); ++k) {
    const auto kind = static_cast<EventKind>(k);
    const std::string component(EventLog::Component(kind));
    EXPECT_NE(std::find(components.begin(), components.end(), component), components.end())
        << EventName(kind);
    EXPECT_NE(EventName(kind), "unknown") << k;
    EXPECT_TRUE(actions.insert(std::string(EventName(kind))).second) << EventName(kind);
    // With its component in SENTINEL_DEBUG, every event is written, whatever its level.
    ASSERT_TRUE(Logger::Global().SetDebugComponents({component}).ok());
    EventLog events(EventLog::Backend::kGitHub);
    events.Record({kind, "subject", "worker-x", "ok", std::nullopt, {}});
    ASSERT_TRUE(Logger::Global().SetDebugComponents({}).ok());
  }
  std::vector<Json> lines = logs.Lines();
  ASSERT_EQ(lines.size(), actions.size()) << logs.text();
  for (const Json& j : lines) {
    ExpectSeedShape(j);
    EXPECT_EQ(j["metadata"]["worker"], "worker-x");
  }
}

TEST(EventLogTest, AStaleWorkerAndARecoveredLockAreLinesOfTheirComponents) {
  LogCapture logs("info");
  Logger::Global().SetWorker("worker-b");
  FakeClock clock;
  MemoryStore store;
  EventLog events(EventLog::Backend::kEmbedded);
  EmbeddedCoordinator a(SecretConfig("worker-a"), &store, &clock, &events);
  EmbeddedCoordinator b(SecretConfig("worker-b"), &store, &clock, &events);
  ASSERT_TRUE(a.Register().ok());
  ASSERT_TRUE(b.Register().ok());
  AcquireRequest req;
  req.name = "deploy-lock";
  ASSERT_TRUE(a.AcquireLock(req, nullptr)->acquired);
  clock.Advance(absl::Seconds(20));
  ASSERT_TRUE(b.Heartbeat({}).ok());
  clock.Advance(absl::Seconds(15));  // worker-a's 30 s lease lapsed; no lock-delay here
  ASSERT_TRUE(b.AcquireLock(req, nullptr)->acquired);
  ASSERT_TRUE(b.Workers(false).ok());
  ASSERT_TRUE(b.NextTask({}, absl::ZeroDuration(), nullptr).ok());

  std::vector<Json> recovered = logs.WithAction("lock_recovered");
  ASSERT_EQ(recovered.size(), 1u) << logs.text();
  ExpectSeedShape(recovered[0]);
  EXPECT_EQ(recovered[0]["level"], "info");
  EXPECT_EQ(recovered[0]["component"], "locks");
  EXPECT_EQ(recovered[0]["worker_id"], "worker-b");
  EXPECT_EQ(recovered[0]["task_id"], "deploy-lock");
  EXPECT_EQ(recovered[0]["result"], "recovered");
  EXPECT_EQ(recovered[0]["metadata"]["worker"], "worker-a");
  std::vector<Json> stale = logs.WithAction("worker_stale");
  ASSERT_EQ(stale.size(), 1u) << logs.text();
  ExpectSeedShape(stale[0]);
  EXPECT_EQ(stale[0]["level"], "warn");
  EXPECT_EQ(stale[0]["component"], "workers");
  EXPECT_EQ(stale[0]["metadata"]["worker"], "worker-a");
  EXPECT_EQ(stale[0]["metadata"]["epoch"], "1");
  // The balancer's decision is a hot path: debug only.
  EXPECT_TRUE(logs.WithAction("balancer_decision").empty()) << logs.text();
  for (const char* secret : {kApiToken, kGithubToken, kWorkerSecret}) {
    EXPECT_THAT(logs.text(), Not(HasSubstr(secret)));
  }
}

TEST(EventLogTest, ClaimLinesAreWrittenOnlyWithSentinelDebugClaims) {
  FakeClock clock;
  FakeGitHubApi api(&clock);
  EventLog events(EventLog::Backend::kGitHub);
  Config config = SecretConfig("worker-a");
  config.github_owner = "octo";
  config.github_repo = "sentinel";
  config.github_claim_settle = absl::Seconds(1);
  config.github_writes_per_hour = 100000;
  GitHubCoordinator::Options options;
  options.poll_interval = absl::Seconds(1);
  options.events = &events;
  GitHubCoordinator a(config, &api, &clock, options);
  ASSERT_TRUE(a.Register().ok());
  Logger::Global().SetWorker("worker-a");
  AcquireRequest req;

  {
    LogCapture logs("info");
    req.name = "deploy-lock";
    ASSERT_TRUE(a.AcquireLock(req, nullptr)->acquired);
    for (const Json& j : logs.Lines()) EXPECT_NE(j["component"], "claims") << j.dump();
    EXPECT_TRUE(logs.WithAction("claim_posted").empty()) << logs.text();
  }

  LogCapture logs("info", {"claims"});
  req.name = "build-lock";
  ASSERT_TRUE(a.AcquireLock(req, nullptr)->acquired);
  std::vector<std::string> actions;
  for (const Json& j : logs.Lines()) {
    ExpectSeedShape(j);
    // Only the claims component comes up to debug; the rest stays at info.
    if (j["level"] == "debug") {
      EXPECT_EQ(j["component"], "claims") << j.dump();
    }
    if (j["component"] != "claims") continue;
    actions.push_back(j["action"]);
    EXPECT_EQ(j["level"], "debug");
    EXPECT_EQ(j["worker_id"], "worker-a");
    EXPECT_EQ(j["task_id"], "build-lock");
    EXPECT_TRUE(j["metadata"].contains("claim")) << j.dump();
  }
  EXPECT_THAT(actions, ::testing::ElementsAre("claim_posted", "claim_settled", "claim_won"));
  std::vector<Json> settled = logs.WithAction("claim_settled");
  ASSERT_EQ(settled.size(), 1u);
  EXPECT_EQ(settled[0]["result"], "visible");
  EXPECT_EQ(settled[0]["duration_ms"], 1000);  // GITHUB_CLAIM_SETTLE_MS
  for (const char* secret : {kApiToken, kGithubToken, kWorkerSecret}) {
    EXPECT_THAT(logs.text(), Not(HasSubstr(secret)));
  }
}

TEST(EventLogTest, ARateLimitBlockAndItsEndAreLinesOfRateLimit) {
  LogCapture logs("info");
  EventLog events(EventLog::Backend::kGitHub);  // outlives the sidecar's client
  testing::GitHubSidecars env;
  github::CurlGitHubApi::Options api = env.MakeApiOptions();
  api.on_rate_limit = [&events](bool blocked, const std::string& message) {
    events.OnRateLimit(blocked, message);
  };
  Config config = env.MakeConfig("worker-a");
  config.stale_threshold = absl::Seconds(60);
  SentinelServer* server = env.Start(config, api);
  ASSERT_NE(server, nullptr);
  auto stub = v1::SentinelService::NewStub(server->NewChannel());
  auto create = [&stub] {
    v1::CreateTaskRequest req;
    req.set_title("a task");
    v1::CreateTaskResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub->CreateTask(&ctx, req, &resp);
  };
  ASSERT_TRUE(create().ok());
  env.hub().SetSecondaryLimit(100000, absl::Milliseconds(800), /*retry_after=*/false);
  env.hub().ForceSecondaryLimit(absl::Milliseconds(800));
  EXPECT_EQ(create().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  bool through = false;
  for (int i = 0; i < 80 && !through; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    through = create().ok();
  }
  ASSERT_TRUE(through);

  // A block, then its end; a retry let through early can meet the limit again, which is another
  // block and end: they alternate, and the last is an end.
  std::vector<Json> lines;
  for (const Json& j : logs.Lines()) {
    if (j["component"] == "rate-limit") lines.push_back(j);
  }
  ASSERT_GE(lines.size(), 2u) << logs.text();
  for (size_t i = 0; i < lines.size(); ++i) {
    ExpectSeedShape(lines[i]);
    EXPECT_EQ(lines[i]["level"], "warn");
    EXPECT_EQ(lines[i]["action"], i % 2 == 0 ? "rate_limit_blocked" : "rate_limit_resumed");
    EXPECT_EQ(lines[i]["result"], i % 2 == 0 ? "blocked" : "resumed");
  }
  EXPECT_EQ(lines.size() % 2, 0u) << logs.text();
  EXPECT_THAT(std::string(lines[0]["metadata"]["detail"]), HasSubstr("secondary rate limit"));
  EXPECT_THAT(logs.text(), Not(HasSubstr(testing::GitHubSidecars::kToken)));
}

}  // namespace
}  // namespace tasksentinel
