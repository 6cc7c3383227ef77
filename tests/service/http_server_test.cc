// The sidecar's HTTP endpoints end to end: real SentinelServers on 127.0.0.1:0 (gRPC and HTTP)
// over one MemoryStore and a RealClock, queried with httplib::Client and called through real
// gRPC channels. Covers /health, /cluster/health, /metrics (RPC, lock and task counters, the
// scrape-time gauges), 404/405, a lapsed lease turning /health to 503, HTTP disabled, a busy
// port, and shutdown.
#include "service/http_server.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/held_locks.h"
#include "core/embedded/embedded_coordinator.h"
#include "core/embedded/memory_store.h"
#include "core/github/github_coordinator.h"
#include "core/notifier.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "service/metrics.h"
#include "service/rpc_metrics.h"
#include "service/server.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_github_api.h"

namespace tasksentinel {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Must never appear in any response.
constexpr char kSecretToken[] = "ghp_ThisIsNotARealTokenButMustStaySecret";

// The settings every test starts from: long leases (tests that need a lapse shorten them), both
// servers on ephemeral loopback ports.
Config HttpTestConfig(const std::string& worker_id) {
  Config c{};
  c.worker_id = worker_id;
  c.hostname = "test-host";
  c.max_tasks = 4;
  c.lock_ttl = absl::Seconds(30);
  c.lock_delay = absl::ZeroDuration();
  c.heartbeat_interval = absl::Seconds(10);
  c.stale_threshold = absl::Seconds(60);
  c.poll_interval = absl::Milliseconds(5);
  c.task_retry_backoff = absl::Milliseconds(50);
  c.task_max_attempts = 3;
  c.grpc_addr = "127.0.0.1:0";
  c.http_addr = "127.0.0.1:0";
  c.cpu_cores = 1;
  c.github_token = kSecretToken;
  return c;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// One worker's sidecar with a stub to its gRPC API and a way to GET its HTTP endpoints.
class Sidecar {
 public:
  Sidecar(const Config& config, Store* store, Clock* clock) : server_(config, store, clock) {}

  absl::Status Start() {
    absl::Status s = server_.Start();
    if (s.ok()) stub_ = v1::SentinelService::NewStub(server_.NewChannel());
    return s;
  }

  SentinelServer& server() { return server_; }
  v1::SentinelService::Stub& stub() { return *stub_; }

  // A client for this sidecar's HTTP port.
  std::unique_ptr<httplib::Client> Http() {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", server_.http_port());
    client->set_connection_timeout(std::chrono::seconds(2));
    client->set_read_timeout(std::chrono::seconds(5));
    return client;
  }

  httplib::Result Get(const std::string& path) { return Http()->Get(path.c_str()); }

  // The body of GET /metrics (empty on failure, with a test failure recorded).
  std::string Metrics() {
    httplib::Result res = Get("/metrics");
    EXPECT_TRUE(res) << "GET /metrics failed: " << httplib::to_string(res.error());
    if (!res) return "";
    EXPECT_EQ(res->status, 200);
    return res->body;
  }

  grpc::Status AcquireLock(const std::string& task_id, v1::AcquireLockResponse* resp) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::AcquireLockRequest req;
    req.set_name(task_id);
    return stub_->AcquireLock(&ctx, req, resp);
  }

  static void Deadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

 private:
  SentinelServer server_;
  std::unique_ptr<v1::SentinelService::Stub> stub_;
};

nlohmann::json JsonBody(const httplib::Result& res) {
  EXPECT_TRUE(res);
  if (!res) return nullptr;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  return nlohmann::json::parse(res->body);
}

absl::Time ParseRfc3339(const nlohmann::json& j) {
  absl::Time t = absl::InfinitePast();
  std::string err;
  EXPECT_TRUE(j.is_string()) << j;
  if (!j.is_string()) return t;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, j.get<std::string>(), &t, &err)) << err;
  EXPECT_TRUE(absl::EndsWith(j.get<std::string>(), "Z")) << j;
  return t;
}

class HttpServerTest : public ::testing::Test {
 protected:
  MemoryStore store_;
  RealClock clock_;
};

TEST_F(HttpServerTest, HealthIsHealthyWhileTheLeaseIsLive) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_GT(a.server().http_port(), 0);
  EXPECT_NE(a.server().http_port(), a.server().port());

  const absl::Time before = absl::Now();
  httplib::Result res = a.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  nlohmann::json j = JsonBody(res);
  EXPECT_EQ(j["status"], "healthy");
  EXPECT_EQ(j["worker_id"], "worker-a");
  EXPECT_TRUE(j["uptime_seconds"].is_number_integer());
  EXPECT_GE(j["uptime_seconds"].get<int>(), 0);
  EXPECT_EQ(j["active_tasks"], 0);
  EXPECT_EQ(j["capacity"]["max"], 4);
  EXPECT_EQ(j["capacity"]["available"], 4);
  const absl::Time heartbeat = ParseRfc3339(j["last_heartbeat"]);
  const absl::Time expires = ParseRfc3339(j["lease_expires_at"]);
  EXPECT_LE(heartbeat, before + absl::Milliseconds(1));
  EXPECT_GT(heartbeat, before - absl::Seconds(30));
  EXPECT_GT(expires, before + absl::Seconds(50));  // stale threshold 60 s
}

TEST_F(HttpServerTest, HealthCountsActiveTasksAgainstCapacity) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::CreateTaskRequest req;
    req.set_title("one");
    v1::CreateTaskResponse resp;
    ASSERT_TRUE(a.stub().CreateTask(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::NextTaskResponse resp;
    ASSERT_TRUE(a.stub().NextTask(&ctx, v1::NextTaskRequest(), &resp).ok());
    ASSERT_TRUE(resp.has_task());
  }
  nlohmann::json j = JsonBody(a.Get("/health"));
  EXPECT_EQ(j["active_tasks"], 1);
  EXPECT_EQ(j["capacity"]["max"], 4);
  EXPECT_EQ(j["capacity"]["available"], 3);

  nlohmann::json c = JsonBody(a.Get("/cluster/health"));
  EXPECT_EQ(c["utilized_capacity"], 1);
  EXPECT_EQ(c["tasks_in_progress"], 1);
  EXPECT_EQ(c["tasks_queued"], 0);
}

TEST_F(HttpServerTest, HealthListsTheBackendsNoticesSuchAsAStretchedLease) {
  // Eight GitHub sidecars on one login with a budget too small for a write per heartbeat.
  FakeClock clock;
  FakeGitHubApi api(&clock);
  std::vector<std::unique_ptr<GitHubCoordinator>> fleet;
  for (int i = 0; i < 8; ++i) {
    Config c = HttpTestConfig("worker-" + std::to_string(i));
    c.github_owner = "octo";
    c.github_repo = "sentinel";
    c.github_writes_per_minute = 80;
    c.github_writes_per_hour = 500;
    fleet.push_back(std::make_unique<GitHubCoordinator>(c, &api, &clock));
    ASSERT_TRUE(fleet.back()->Register().ok());
  }
  ASSERT_TRUE(fleet[0]->Workers(false).ok());  // sees the whole fleet
  for (auto& f : fleet) ASSERT_TRUE(f->Heartbeat({}).ok());
  Metrics metrics;
  HttpServer http(fleet[0].get(), HttpTestConfig("worker-0"), &clock, &metrics);
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  httplib::Client client("127.0.0.1", http.port());
  nlohmann::json j = JsonBody(client.Get("/health"));
  EXPECT_EQ(j["status"], "healthy");
  ASSERT_TRUE(j.contains("notices")) << j.dump();
  ASSERT_EQ(j["notices"].size(), 1u);
  EXPECT_THAT(j["notices"][0].get<std::string>(), ::testing::HasSubstr("8 workers share 500 writes/h"));
  http.Stop();

  // The embedded store has none: no "notices" key at all.
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  EXPECT_FALSE(JsonBody(a.Get("/health")).contains("notices"));
}

TEST_F(HttpServerTest, ClusterHealthHasTheSeedsShape) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  Sidecar b(HttpTestConfig("worker-b"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  for (const char* title : {"one", "two"}) {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::CreateTaskRequest req;
    req.set_title(title);
    v1::CreateTaskResponse resp;
    ASSERT_TRUE(a.stub().CreateTask(&ctx, req, &resp).ok());
  }

  httplib::Result res = b.Get("/cluster/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  nlohmann::json j = JsonBody(res);
  EXPECT_EQ(j["status"], "healthy");
  EXPECT_EQ(j["total_workers"], 2);
  EXPECT_EQ(j["healthy_workers"], 2);
  EXPECT_EQ(j["stale_workers"], 0);
  EXPECT_EQ(j["total_capacity"], 8);
  EXPECT_EQ(j["utilized_capacity"], 0);
  EXPECT_EQ(j["tasks_queued"], 2);
  EXPECT_EQ(j["tasks_in_progress"], 0);
  EXPECT_EQ(j["tasks_done"], 0);
  EXPECT_EQ(j["tasks_failed"], 0);
}

TEST_F(HttpServerTest, HealthTurnsUnhealthyWhenTheLeaseLapses) {
  Config config = HttpTestConfig("worker-a");
  config.heartbeat_interval = absl::Milliseconds(100);
  config.stale_threshold = absl::Milliseconds(300);
  Sidecar a(config, &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  httplib::Result live = a.Get("/health");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);

  // No heartbeat, and no RPC (any RPC would start a new lease).
  absl::SleepFor(absl::Milliseconds(400));
  httplib::Result res = a.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  nlohmann::json j = JsonBody(res);
  EXPECT_EQ(j["status"], "unhealthy");
  EXPECT_EQ(j["worker_id"], "worker-a");
  EXPECT_LT(ParseRfc3339(j["lease_expires_at"]), absl::Now());

  httplib::Result cluster = a.Get("/cluster/health");
  ASSERT_TRUE(cluster);
  EXPECT_EQ(cluster->status, 503);
  nlohmann::json c = JsonBody(cluster);
  EXPECT_EQ(c["status"], "unhealthy");
  EXPECT_EQ(c["total_workers"], 1);
  EXPECT_EQ(c["healthy_workers"], 0);
  EXPECT_EQ(c["stale_workers"], 1);

  const std::vector<std::string> metrics = Lines(a.Metrics());
  EXPECT_THAT(metrics, Contains("tasksentinel_workers{status=\"healthy\"} 0"));
  EXPECT_THAT(metrics, Contains("tasksentinel_workers{status=\"stale\"} 1"));
}

TEST_F(HttpServerTest, ClusterIsDegradedWhileOneOfTwoWorkersIsStale) {
  Config stale = HttpTestConfig("worker-stale");
  stale.heartbeat_interval = absl::Milliseconds(100);
  stale.stale_threshold = absl::Milliseconds(300);
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  Sidecar b(stale, &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  absl::SleepFor(absl::Milliseconds(400));
  httplib::Result res = a.Get("/cluster/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  nlohmann::json j = JsonBody(res);
  EXPECT_EQ(j["status"], "degraded");
  EXPECT_EQ(j["healthy_workers"], 1);
  EXPECT_EQ(j["stale_workers"], 1);
  EXPECT_EQ(j["total_capacity"], 4);  // stale workers' slots do not count
}

TEST_F(HttpServerTest, MetricsCountRpcsByMethodAndStatusCode) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  Sidecar b(HttpTestConfig("worker-b"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());

  v1::AcquireLockResponse resp;
  ASSERT_TRUE(a.AcquireLock("job-1", &resp).ok());
  EXPECT_TRUE(resp.acquired());
  grpc::Status invalid = a.AcquireLock("not a valid id!", &resp);
  EXPECT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::AcquireLockResponse conflict;
  ASSERT_TRUE(b.AcquireLock("job-1", &conflict).ok());
  EXPECT_FALSE(conflict.acquired());
  {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::ListLocksResponse locks;
    ASSERT_TRUE(a.stub().ListLocks(&ctx, v1::ListLocksRequest(), &locks).ok());
  }
  {  // The standard health service shares the server but is not a Sentinel RPC.
    auto health = grpc::health::v1::Health::NewStub(a.server().NewChannel());
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    grpc::health::v1::HealthCheckResponse out;
    ASSERT_TRUE(health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &out).ok());
  }

  httplib::Result res = a.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  const std::vector<std::string> lines = Lines(res->body);
  for (const char* line : {
           "tasksentinel_rpc_total{code=\"OK\",method=\"AcquireLock\"} 1",
           "tasksentinel_rpc_total{code=\"INVALID_ARGUMENT\",method=\"AcquireLock\"} 1",
           "tasksentinel_rpc_total{code=\"OK\",method=\"ListLocks\"} 1",
           "tasksentinel_rpc_duration_seconds_count{method=\"AcquireLock\"} 2",
           "tasksentinel_rpc_duration_seconds_bucket{method=\"AcquireLock\",le=\"+Inf\"} 2",
           "tasksentinel_rpc_duration_seconds_count{method=\"ListLocks\"} 1",
           "tasksentinel_lock_acquisitions_total{result=\"acquired\"} 1",
           "tasksentinel_lock_acquisitions_total{result=\"conflict\"} 0",
           "tasksentinel_workers{status=\"healthy\"} 2",
           "tasksentinel_workers{status=\"stale\"} 0",
           "tasksentinel_capacity{kind=\"total\"} 8",
           "tasksentinel_capacity{kind=\"used\"} 0",
           "tasksentinel_up 1",
           "# TYPE tasksentinel_build_info gauge",
           "# TYPE tasksentinel_rpc_total counter",
           "# TYPE tasksentinel_rpc_duration_seconds histogram",
       }) {
    EXPECT_THAT(lines, Contains(line)) << res->body;
  }
  EXPECT_THAT(res->body, Not(HasSubstr("Check")));
  EXPECT_THAT(res->body, Not(HasSubstr("grpc.health")));

  // Each sidecar counts its own calls: the conflict happened on b.
  const std::vector<std::string> b_lines = Lines(b.Metrics());
  EXPECT_THAT(b_lines, Contains("tasksentinel_lock_acquisitions_total{result=\"conflict\"} 1"));
  EXPECT_THAT(b_lines, Contains("tasksentinel_lock_acquisitions_total{result=\"acquired\"} 0"));
  EXPECT_THAT(b_lines, Contains("tasksentinel_rpc_total{code=\"OK\",method=\"AcquireLock\"} 1"));
  EXPECT_THAT(b_lines, Not(Contains(HasSubstr("INVALID_ARGUMENT"))));
}

TEST_F(HttpServerTest, MetricsCountTaskEvents) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  auto create = [&](const std::string& title) {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::CreateTaskRequest req;
    req.set_title(title);
    v1::CreateTaskResponse resp;
    ASSERT_TRUE(a.stub().CreateTask(&ctx, req, &resp).ok());
  };
  auto next = [&]() {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::NextTaskResponse resp;
    EXPECT_TRUE(a.stub().NextTask(&ctx, v1::NextTaskRequest(), &resp).ok());
    EXPECT_TRUE(resp.has_task());
    return resp;
  };
  create("done-one");
  create("failing-one");

  v1::NextTaskResponse first = next();
  {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::CompleteTaskRequest req;
    req.set_task_id(first.task().id());
    req.set_fencing_token(first.lock().fencing_token());
    req.set_result("ok");
    v1::CompleteTaskResponse resp;
    ASSERT_TRUE(a.stub().CompleteTask(&ctx, req, &resp).ok());
  }
  v1::NextTaskResponse second = next();
  {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::FailTaskRequest req;
    req.set_task_id(second.task().id());
    req.set_fencing_token(second.lock().fencing_token());
    req.set_error("broken for good");
    req.set_retryable(false);
    v1::FailTaskResponse resp;
    ASSERT_TRUE(a.stub().FailTask(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.task().state(), v1::TASK_STATE_DEAD_LETTER);
  }
  {  // A refused completion is not an event.
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::CompleteTaskRequest req;
    req.set_task_id(second.task().id());
    req.set_fencing_token(second.lock().fencing_token());
    v1::CompleteTaskResponse resp;
    EXPECT_FALSE(a.stub().CompleteTask(&ctx, req, &resp).ok());
  }
  {  // Nothing left: an empty NextTask hands nothing out.
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::NextTaskResponse resp;
    ASSERT_TRUE(a.stub().NextTask(&ctx, v1::NextTaskRequest(), &resp).ok());
    EXPECT_FALSE(resp.has_task());
  }

  const std::vector<std::string> lines = Lines(a.Metrics());
  for (const char* line : {
           "tasksentinel_tasks_total{event=\"created\"} 2",
           "tasksentinel_tasks_total{event=\"handed_out\"} 2",
           "tasksentinel_tasks_total{event=\"completed\"} 1",
           "tasksentinel_tasks_total{event=\"failed\"} 1",
           "tasksentinel_tasks_total{event=\"dead_lettered\"} 1",
           "tasksentinel_tasks{state=\"queued\"} 0",
           "tasksentinel_tasks{state=\"in_progress\"} 0",
           "tasksentinel_tasks{state=\"done\"} 1",
           "tasksentinel_tasks{state=\"dead_letter\"} 1",
           "tasksentinel_rpc_total{code=\"OK\",method=\"NextTask\"} 3",
           "tasksentinel_rpc_total{code=\"OK\",method=\"CreateTask\"} 2",
       }) {
    EXPECT_THAT(lines, Contains(line));
  }
  EXPECT_THAT(lines, Contains(HasSubstr("tasksentinel_rpc_total{code=\"FAILED_PRECONDITION\","
                                        "method=\"CompleteTask\"} 1")));
}

TEST_F(HttpServerTest, StreamingCallsAreRecordedToo) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    v1::WatchMemoryRequest req;
    req.set_namespace_("swarm");
    auto reader = a.stub().WatchMemory(&ctx, req);
    v1::WatchMemoryResponse event;
    while (reader->Read(&event)) {
    }
    reader->Finish().IgnoreError();
  }
  // The server notices the deadline on its next poll; give it a moment.
  bool recorded = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!recorded && absl::Now() < deadline) {
    for (const std::string& line : Lines(a.Metrics())) {
      if (absl::StartsWith(line, "tasksentinel_rpc_total{") &&
          absl::StrContains(line, "method=\"WatchMemory\"}")) {
        recorded = true;
      }
    }
    if (!recorded) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(recorded);
}

TEST_F(HttpServerTest, NoEndpointShowsSecretsOrMemoryContents) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  {
    grpc::ClientContext ctx;
    Sidecar::Deadline(&ctx);
    v1::SetMemoryRequest req;
    req.set_namespace_("swarm");
    req.set_key("private-plan-key");
    req.set_value("private-plan-value");
    v1::SetMemoryResponse resp;
    ASSERT_TRUE(a.stub().SetMemory(&ctx, req, &resp).ok());
  }
  for (const char* path : {"/health", "/cluster/health", "/metrics"}) {
    httplib::Result res = a.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_THAT(res->body, Not(HasSubstr(kSecretToken))) << path;
    EXPECT_THAT(res->body, Not(HasSubstr("private-plan"))) << path;
  }
}

TEST_F(HttpServerTest, UnknownPathsAre404AndOtherMethods405) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  std::unique_ptr<httplib::Client> http = a.Http();

  for (const char* path : {"/", "/nope", "/health/", "/metrics/extra", "/cluster"}) {
    httplib::Result res = http->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    nlohmann::json j = JsonBody(res);
    EXPECT_TRUE(j["error"].is_string()) << path;
  }
  httplib::Result post = http->Post("/health", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  EXPECT_TRUE(JsonBody(post)["error"].is_string());
  httplib::Result del = http->Delete("/metrics");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  httplib::Result put = http->Put("/cluster/health", "x", "text/plain");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 405);

  httplib::Result head = http->Head("/health");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
  // A query string does not change the endpoint.
  httplib::Result query = http->Get("/health?verbose=1");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 200);
}

TEST_F(HttpServerTest, AnEmptyHttpAddressDisablesHttp) {
  Config config = HttpTestConfig("worker-a");
  config.http_addr = "";
  Sidecar a(config, &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  EXPECT_EQ(a.server().http_port(), 0);
  v1::AcquireLockResponse resp;
  EXPECT_TRUE(a.AcquireLock("job-1", &resp).ok());  // gRPC unaffected
}

TEST_F(HttpServerTest, ABusyHttpPortFailsStartWithUnavailable) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  Config config = HttpTestConfig("worker-b");
  config.http_addr = absl::StrCat("127.0.0.1:", a.server().http_port());
  SentinelServer b(config, &store_, &clock_);
  absl::Status s = b.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("SENTINEL_HTTP_ADDR"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(config.http_addr));
  EXPECT_TRUE(b.Shutdown().ok());
  // a still serves its port.
  httplib::Result res = a.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(JsonBody(res)["worker_id"], "worker-a");
}

TEST_F(HttpServerTest, ShutdownStopsHttp) {
  Sidecar a(HttpTestConfig("worker-a"), &store_, &clock_);
  ASSERT_TRUE(a.Start().ok());
  std::unique_ptr<httplib::Client> http = a.Http();
  http->set_keep_alive(true);
  ASSERT_TRUE(http->Get("/health"));  // leaves a keep-alive connection open
  const absl::Time before = absl::Now();
  EXPECT_TRUE(a.server().Shutdown(absl::Seconds(1)).ok());
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));
  EXPECT_FALSE(a.Get("/health"));
  EXPECT_TRUE(a.server().Shutdown().ok());  // idempotent
}

// ---------------------------------------------------------------------------------------------
// HttpServer on its own.

class StandaloneHttpServerTest : public ::testing::Test {
 protected:
  StandaloneHttpServerTest()
      : config_(HttpTestConfig("solo")), coordinator_(config_, &store_, &clock_) {}

  MemoryStore store_;
  RealClock clock_;
  Config config_;
  EmbeddedCoordinator coordinator_;
  Metrics metrics_;
};

TEST_F(StandaloneHttpServerTest, AnUnregisteredWorkerIsUnhealthy) {
  HttpServer http(&coordinator_, config_, &clock_, &metrics_);
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  ASSERT_GT(http.port(), 0);
  httplib::Client client("127.0.0.1", http.port());
  httplib::Result res = client.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  nlohmann::json j = JsonBody(res);
  EXPECT_EQ(j["status"], "unhealthy");
  EXPECT_EQ(j["worker_id"], "solo");
  EXPECT_TRUE(j["last_heartbeat"].is_null());
  EXPECT_EQ(j["capacity"]["available"], 0);

  httplib::Result cluster = client.Get("/cluster/health");
  ASSERT_TRUE(cluster);
  EXPECT_EQ(cluster->status, 503);  // no workers at all
  EXPECT_EQ(JsonBody(cluster)["total_workers"], 0);
  http.Stop();
  http.Stop();  // idempotent
}

TEST_F(StandaloneHttpServerTest, RejectsBadAddressesAndASecondStart) {
  HttpServer http(&coordinator_, config_, &clock_, &metrics_);
  for (const char* addr : {"", "no-port", "127.0.0.1:", "127.0.0.1:99999", "[::1", "::1:80"}) {
    EXPECT_EQ(http.Start(addr).code(), absl::StatusCode::kInvalidArgument) << addr;
  }
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  EXPECT_EQ(http.Start("127.0.0.1:0").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StandaloneHttpServerTest, ServesOnIpv6Loopback) {
  HttpServer http(&coordinator_, config_, &clock_, &metrics_);
  absl::Status s = http.Start("[::1]:0");
  if (!s.ok()) {  // a host without IPv6 loopback: the failure must still be a clear one
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(s.message()), HasSubstr("SENTINEL_HTTP_ADDR"));
    return;
  }
  httplib::Client client("::1", http.port());
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(StatusCodeNameTest, NamesEveryCanonicalCode) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::INVALID_ARGUMENT), "INVALID_ARGUMENT");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::FAILED_PRECONDITION), "FAILED_PRECONDITION");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(static_cast<grpc::StatusCode>(99)), "UNKNOWN");
}

}  // namespace
}  // namespace tasksentinel
