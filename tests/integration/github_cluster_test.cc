// Several real sidecar processes (//service:sentinel) coordinating ONLY through one GitHub
// repository, here an in-process fakehub on loopback (tests/fakehub/fakehub.h). The test process
// plays the workers: for each sidecar one thread heartbeats every 300 ms and another loops
// NextTask + CompleteTask over gRPC. These are issue 4's acceptance tests:
//
//   1. 5 sidecars, 200 tasks: every task completed exactly once.
//   2. kill -9 of a sidecar holding tasks: the others take them over in time, nothing lost or
//      done twice.
//   3. A read-visibility lag of 1..2 s while 5 sidecars race for a few tasks: double grants are
//      fenced (the second holder's CompleteTask is refused).
//   4. A sidecar cut off from GitHub (through a TCP proxy) for longer than the stale threshold:
//      the others take over; when it returns, its heartbeat reports the lost locks and its stale
//      completions are refused.
//   5. The secondary rate limit mid-run, with and without retry-after: no crash, no request
//      storm, throughput resumes, leases stretch instead of lapsing.
//   6. 10 sidecars, 200 tasks: the share of claims lost to another sidecar under the load
//      balancer versus plain oldest-first.
//   7. 8 sidecars on one login within its (scaled) secondary limit (issue 10).
//   8. A sustained 3 s read lag: the claim window follows it; tasks complete (issue 10).
//
// Each scenario runs as its own target (tests/integration/BUILD.bazel selects the cases with a
// gtest filter; a new case must be added there); `bazel test
// //tests/integration:github_cluster_test` runs them all.
//
// Measured figures are printed ("[figures] ...") and recorded as test properties. With
// CLUSTER_DEBUG set, test 3 also prints its request timeline and every hand-out.
//
// The sidecars are fastbuild binaries against a fakehub that renders every list in full, so on
// a small machine a task takes about half a second of NextTask; the figures are relative to that.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/github/records.h"
#include "gtest/gtest.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/fakehub/fakehub.h"
#include "tests/integration/sidecar_process.h"

namespace tasksentinel::testing {
namespace {

namespace v1 = ::tasksentinel::v1;
using fakehub::FakeHub;

constexpr char kOwner[] = "fakehub";
constexpr char kRepo[] = "tasks";
constexpr char kToken[] = "cluster-test-token";
constexpr char kQueued[] = "sentinel:queued";
constexpr char kInProgress[] = "sentinel:in-progress";
constexpr char kDone[] = "sentinel:done";
constexpr char kCoordination[] = "sentinel:coordination";

// The timings every sidecar gets unless a test says otherwise.
constexpr int kHeartbeatMs = 300;
constexpr int kStaleMs = 2000;
constexpr int kLockDelayMs = 300;

// Prints a measured figure and records it as a test property.
void Figure(const std::string& key, const std::string& value) {
  std::printf("[figures] %s = %s\n", key.c_str(), value.c_str());
  std::fflush(stdout);
  ::testing::Test::RecordProperty(key, value);
}

std::string Ms(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d), " ms"); }

// Polls `pred` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout,
             absl::Duration every = absl::Milliseconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(every);
  }
  return pred();
}

std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(10)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy on loopback that can be cut: while cut, every open connection is shut down and
// every new one is closed at once (the client sees a dropped connection).
class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 128);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~TcpProxy() {
    stop_ = true;
    acceptor_.join();
    SetCut(true);
    std::vector<std::thread> pumps;
    {
      absl::MutexLock lock(&mu_);
      pumps.swap(pumps_);
    }
    for (std::thread& t : pumps) t.join();
    close(listen_fd_);
  }

  int port() const { return port_; }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

  void SetCut(bool cut) {
    cut_ = cut;
    if (!cut) return;
    absl::MutexLock lock(&mu_);
    for (int fd : open_) shutdown(fd, SHUT_RDWR);
  }
  int refused() const { return refused_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      if (cut_) {
        close(client);
        ++refused_;
        continue;
      }
      const int upstream = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(target_port_));
      if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(upstream);
        close(client);
        continue;
      }
      absl::MutexLock lock(&mu_);
      open_.insert(client);
      open_.insert(upstream);
      pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
    }
  }

  static bool SendAll(int fd, const char* data, size_t n) {
    while (n > 0) {
      const ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void Pump(int a, int b) {
    char buf[16384];
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    bool done = false;
    while (!done && !cut_) {
      if (poll(fds, 2, 100) < 0) break;
      for (int i = 0; i < 2 && !done; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0 || !SendAll(fds[1 - i].fd, buf, static_cast<size_t>(n))) done = true;
      }
    }
    {
      absl::MutexLock lock(&mu_);
      open_.erase(a);
      open_.erase(b);
    }
    close(a);
    close(b);
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::atomic<int> refused_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::set<int> open_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------------------------
// What the test's workers saw.

// One NextTask hand-out and what became of its completion.
struct Grant {
  std::string task;
  std::string worker;
  uint64_t token = 0;
  absl::Time at = absl::InfinitePast();
  std::optional<grpc::StatusCode> outcome;  // of CompleteTask; unset: not (yet) finished
  absl::Time finished_at = absl::InfinitePast();
};

class Ledger {
 public:
  size_t AddGrant(const std::string& task, const std::string& worker, uint64_t token) {
    absl::MutexLock lock(&mu_);
    Grant g;
    g.task = task;
    g.worker = worker;
    g.token = token;
    g.at = absl::Now();
    grants_.push_back(g);
    return grants_.size() - 1;
  }
  void Finish(size_t grant, grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    grants_[grant].outcome = code;
    grants_[grant].finished_at = absl::Now();
  }
  void Error(const std::string& worker, const std::string& rpc, const grpc::Status& s) {
    absl::MutexLock lock(&mu_);
    ++errors_[absl::StrCat(rpc, ":", s.error_code())];
    ++errors_by_worker_[worker];
    if (samples_.size() < 20) {
      samples_.push_back(absl::StrCat(worker, " ", rpc, " ", s.error_code(), " ",
                                      s.error_message()));
    }
  }
  void Heartbeat(const std::string& worker, const v1::HeartbeatResponse& resp) {
    absl::MutexLock lock(&mu_);
    epochs_[worker].insert(resp.lease_epoch());
    ++heartbeats_[worker];
    for (const v1::Lock& l : resp.lost_locks()) {
      lost_[worker].push_back(l);
      lost_at_[worker] = absl::Now();
    }
  }

  // How long an RPC took (successful ones only).
  void Latency(const std::string& rpc, absl::Duration d) {
    absl::MutexLock lock(&mu_);
    auto& [total, count] = latency_[rpc];
    total += d;
    ++count;
  }
  std::string LatencySummary() const {
    absl::MutexLock lock(&mu_);
    std::string out;
    for (const auto& [rpc, tc] : latency_) {
      absl::StrAppend(&out, rpc, " avg ", absl::ToInt64Milliseconds(tc.first / tc.second),
                      " ms (", tc.second, " calls) ");
    }
    return out;
  }

  std::vector<Grant> grants() const {
    absl::MutexLock lock(&mu_);
    return grants_;
  }
  int ok_completions() const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const Grant& g : grants_) n += g.outcome == grpc::StatusCode::OK;
    return n;
  }
  // OK completions per task.
  std::map<std::string, int> ok_per_task() const {
    absl::MutexLock lock(&mu_);
    std::map<std::string, int> out;
    for (const Grant& g : grants_) {
      if (g.outcome == grpc::StatusCode::OK) ++out[g.task];
    }
    return out;
  }
  std::optional<absl::Time> completed_at(const std::string& task) const {
    absl::MutexLock lock(&mu_);
    for (const Grant& g : grants_) {
      if (g.task == task && g.outcome == grpc::StatusCode::OK) return g.finished_at;
    }
    return std::nullopt;
  }
  int completed_between(absl::Time from, absl::Time to) const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const Grant& g : grants_) {
      n += g.outcome == grpc::StatusCode::OK && g.finished_at >= from && g.finished_at < to;
    }
    return n;
  }
  std::map<std::string, int64_t> errors() const {
    absl::MutexLock lock(&mu_);
    return errors_;
  }
  int64_t errors_of(const std::string& worker) const {
    absl::MutexLock lock(&mu_);
    auto it = errors_by_worker_.find(worker);
    return it == errors_by_worker_.end() ? 0 : it->second;
  }
  std::vector<std::string> samples() const {
    absl::MutexLock lock(&mu_);
    return samples_;
  }
  std::vector<v1::Lock> lost(const std::string& worker) const {
    absl::MutexLock lock(&mu_);
    auto it = lost_.find(worker);
    return it == lost_.end() ? std::vector<v1::Lock>{} : it->second;
  }
  size_t lost_total() const {
    absl::MutexLock lock(&mu_);
    size_t n = 0;
    for (const auto& [w, l] : lost_) n += l.size();
    return n;
  }
  std::set<uint64_t> epochs(const std::string& worker) const {
    absl::MutexLock lock(&mu_);
    auto it = epochs_.find(worker);
    return it == epochs_.end() ? std::set<uint64_t>{} : it->second;
  }
  int64_t heartbeats(const std::string& worker) const {
    absl::MutexLock lock(&mu_);
    auto it = heartbeats_.find(worker);
    return it == heartbeats_.end() ? 0 : it->second;
  }
  std::string ErrorSummary() const {
    std::string out;
    for (const auto& [k, v] : errors()) absl::StrAppend(&out, k, "=", v, " ");
    for (const std::string& s : samples()) absl::StrAppend(&out, "\n  ", s);
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Grant> grants_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> errors_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> errors_by_worker_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> samples_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<v1::Lock>> lost_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> lost_at_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::set<uint64_t>> epochs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> heartbeats_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::pair<absl::Duration, int64_t>> latency_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------------------------
// One sidecar process and its gRPC stub.
struct Sidecar {
  std::string id;
  std::string addr;
  std::unique_ptr<SidecarProcess> process;
  std::unique_ptr<v1::SentinelService::Stub> stub;
};

// The worker the test plays for one sidecar: a heartbeat thread and, optionally, a task thread.
class Worker {
 public:
  struct Options {
    bool tasks = true;  // run the NextTask + CompleteTask loop
    // Simulated work between the hand-out and CompleteTask (none when empty).
    std::function<absl::Duration()> work;
  };

  Worker(Sidecar* sidecar, Ledger* ledger, Options options)
      : sidecar_(sidecar), ledger_(ledger), options_(std::move(options)) {
    heartbeat_ = std::thread([this] { HeartbeatLoop(); });
    if (options_.tasks) tasks_ = std::thread([this] { TaskLoop(); });
  }
  ~Worker() { Stop(); }

  void Stop() {
    stop_ = true;
    if (heartbeat_.joinable()) heartbeat_.join();
    if (tasks_.joinable()) tasks_.join();
  }
  void StopHeartbeats() {
    stop_heartbeats_ = true;
    if (heartbeat_.joinable()) heartbeat_.join();
  }

 private:
  void HeartbeatLoop() {
    while (!stop_ && !stop_heartbeats_) {
      const absl::Time next = absl::Now() + absl::Milliseconds(kHeartbeatMs);
      v1::HeartbeatRequest req;
      v1::HeartbeatResponse resp;
      const absl::Time start = absl::Now();
      grpc::Status s = sidecar_->stub->Heartbeat(Ctx().get(), req, &resp);
      if (s.ok()) {
        ledger_->Latency("Heartbeat", absl::Now() - start);
        ledger_->Heartbeat(sidecar_->id, resp);
      } else {
        ledger_->Error(sidecar_->id, "Heartbeat", s);
      }
      while (!stop_ && !stop_heartbeats_ && absl::Now() < next) {
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
  }

  void TaskLoop() {
    while (!stop_) {
      v1::NextTaskRequest req;
      req.mutable_wait_timeout()->set_nanos(500 * 1000 * 1000);
      v1::NextTaskResponse resp;
      const absl::Time start = absl::Now();
      grpc::Status s = sidecar_->stub->NextTask(Ctx().get(), req, &resp);
      if (s.ok() && resp.has_task()) ledger_->Latency("NextTask(handed out)", absl::Now() - start);
      if (!s.ok()) {
        ledger_->Error(sidecar_->id, "NextTask", s);
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      if (!resp.has_task()) continue;
      const size_t grant =
          ledger_->AddGrant(resp.task().id(), sidecar_->id, resp.lock().fencing_token());
      if (options_.work) absl::SleepFor(options_.work());
      Complete(grant, resp.task().id(), resp.lock().fencing_token());
    }
  }

  // Completes, retrying while GitHub is blocked or unreachable (what a real worker would do).
  void Complete(size_t grant, const std::string& task, uint64_t token) {
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (true) {
      v1::CompleteTaskRequest req;
      req.set_task_id(task);
      req.set_fencing_token(token);
      req.set_result(absl::StrCat("done by ", sidecar_->id));
      v1::CompleteTaskResponse resp;
      const absl::Time start = absl::Now();
      grpc::Status s = sidecar_->stub->CompleteTask(Ctx().get(), req, &resp);
      if (s.ok()) ledger_->Latency("CompleteTask", absl::Now() - start);
      const grpc::StatusCode code = s.error_code();
      const bool transient = code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                             code == grpc::StatusCode::UNAVAILABLE ||
                             code == grpc::StatusCode::DEADLINE_EXCEEDED;
      if (!s.ok()) ledger_->Error(sidecar_->id, "CompleteTask", s);
      if (!transient || absl::Now() > give_up || (stop_ && absl::Now() > give_up)) {
        ledger_->Finish(grant, code);
        return;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  Sidecar* const sidecar_;
  Ledger* const ledger_;
  const Options options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stop_heartbeats_{false};
  std::thread heartbeat_;
  std::thread tasks_;
};

Worker::Options NoTasks() {
  Worker::Options o;
  o.tasks = false;
  return o;
}
Worker::Options WithWork(std::function<absl::Duration()> work) {
  Worker::Options o;
  o.work = std::move(work);
  return o;
}

// ---------------------------------------------------------------------------------------------
// One fakehub and the sidecars pointed at it.
class Cluster {
 public:
  static fakehub::FakeHubOptions HubOptions(int secondary_per_minute = 1'000'000) {
    fakehub::FakeHubOptions o;
    o.repos = {fakehub::RepoSpec{kOwner, kRepo, 1000, true}};
    o.tokens = {kToken};
    o.limits.primary_limit = 10'000'000;
    o.limits.secondary_per_minute = secondary_per_minute;
    o.threads = 256;
    return o;
  }

  // `secondary_per_minute`: the login's limit on content-creating requests (one login for all).
  explicit Cluster(int secondary_per_minute = 1'000'000)
      : hub_(HubOptions(secondary_per_minute)) {
    absl::Status s = hub_.Start();
    EXPECT_TRUE(s.ok()) << s;
  }
  ~Cluster() {
    workers_.clear();
    sidecars_.clear();
    hub_.Stop();
  }

  FakeHub& hub() { return hub_; }
  Ledger& ledger() { return ledger_; }

  // Sidecar settings: fast timings, this hub (or `api_url`), `overrides` last.
  std::map<std::string, std::string> Env(const std::string& id, const std::string& addr,
                                         const std::string& api_url,
                                         const std::map<std::string, std::string>& overrides) {
    std::map<std::string, std::string> env = {
        {"WORKER_ID", id},
        {"SENTINEL_GRPC_ADDR", addr},
        {"SENTINEL_HTTP_ADDR", "127.0.0.1:0"},
        {"SENTINEL_LOG_LEVEL", "info"},  // the "started" line tells the bound port
        {"GITHUB_API_URL", api_url.empty() ? hub_.base_url() : api_url},
        {"GITHUB_OWNER", kOwner},
        {"GITHUB_REPO", kRepo},
        {"GITHUB_TOKEN", kToken},
        {"HEARTBEAT_INTERVAL_MS", absl::StrCat(kHeartbeatMs)},
        {"STALE_WORKER_THRESHOLD_MS", absl::StrCat(kStaleMs)},
        {"LOCK_DELAY_MS", absl::StrCat(kLockDelayMs)},
        {"GITHUB_CLAIM_SETTLE_MS", "100"},
        {"GITHUB_WRITE_SPACING_MS", "20"},
        {"GITHUB_WRITES_PER_MINUTE", "10000"},
        {"GITHUB_WRITES_PER_HOUR", "100000"},
        {"GITHUB_POLL_INTERVAL_MS", "100"},
        {"GITHUB_TIMEOUT_MS", "5000"},
        {"GITHUB_MIN_SECONDARY_BACKOFF_MS", "2000"},
    };
    // The same cases run with signed records (tests/integration/BUILD.bazel).
    if (const char* secret = std::getenv("CLUSTER_WORKER_SECRET"); secret != nullptr) {
      env["WORKER_SECRET"] = secret;
    }
    for (const auto& [k, v] : overrides) env[k] = v;
    return env;
  }

  // Starts sidecars `ids` at once and waits until each serves. `api_urls` redirects some.
  bool Start(const std::vector<std::string>& ids,
             const std::map<std::string, std::string>& overrides = {},
             const std::map<std::string, std::string>& api_urls = {}) {
    std::vector<Sidecar*> started;
    for (const std::string& id : ids) {
      auto sc = std::make_unique<Sidecar>();
      sc->id = id;
      auto url = api_urls.find(id);
      // Port 0: the sidecar binds a free port itself and logs it (no pick-then-bind race).
      sc->process = std::make_unique<SidecarProcess>(
          Env(id, "127.0.0.1:0", url == api_urls.end() ? "" : url->second, overrides));
      started.push_back(sc.get());
      sidecars_[id] = std::move(sc);
    }
    for (Sidecar* sc : started) {
      std::optional<int> port = sc->process->WaitBoundPort(absl::Seconds(20));
      if (!port.has_value()) {
        ADD_FAILURE() << sc->id << " did not start: " << sc->process->Stderr();
        return false;
      }
      sc->addr = absl::StrCat("127.0.0.1:", *port);
      sc->stub = v1::SentinelService::NewStub(
          grpc::CreateChannel(sc->addr, grpc::InsecureChannelCredentials()));
      if (!sc->process->WaitServing(sc->addr, absl::Seconds(20))) {
        ADD_FAILURE() << sc->id << " did not start: " << sc->process->Stderr();
        return false;
      }
    }
    return true;
  }

  Sidecar& sidecar(const std::string& id) { return *sidecars_.at(id); }

  Worker* Play(const std::string& id, Worker::Options options = {}) {
    auto w = std::make_unique<Worker>(&sidecar(id), &ledger_, std::move(options));
    Worker* out = w.get();
    workers_[id] = std::move(w);
    return out;
  }
  void StopWorkers() {
    for (auto& [id, w] : workers_) w->Stop();
  }

  // Seeds `n` queued tasks; their issue numbers.
  std::vector<int64_t> SeedTasks(int n, const std::string& prefix = "task") {
    std::vector<int64_t> numbers;
    for (int i = 0; i < n; ++i) {
      fakehub::IssueSeed seed;
      seed.title = absl::StrCat(prefix, " ", i);
      seed.body = absl::StrCat("work item ", i);
      seed.labels = {kQueued};
      absl::StatusOr<fakehub::IssueState> issue = hub_.SeedIssue(seed);
      EXPECT_TRUE(issue.ok()) << issue.status();
      if (issue.ok()) numbers.push_back(issue->number);
    }
    return numbers;
  }

  // Seeds the coordination issue (visible at once, whatever the read lag).
  int64_t SeedCoordinationIssue() {
    fakehub::IssueSeed seed;
    seed.title = "Task Sentinel coordination";
    seed.body = "Task Sentinel sidecars coordinate through the comments of this issue.";
    seed.labels = {kCoordination};
    absl::StatusOr<fakehub::IssueState> issue = hub_.SeedIssue(seed);
    EXPECT_TRUE(issue.ok()) << issue.status();
    return issue.ok() ? issue->number : 0;
  }

  int64_t CoordinationIssue() {
    for (const fakehub::IssueState& i : hub_.Issues()) {
      if (i.open && std::find(i.labels.begin(), i.labels.end(), kCoordination) != i.labels.end()) {
        return i.number;
      }
    }
    return 0;
  }

  // How many of `numbers` are closed with the done label and no other state label.
  int DoneCount(const std::vector<int64_t>& numbers, std::vector<std::string>* bad = nullptr) {
    int done = 0;
    for (int64_t n : numbers) {
      std::optional<fakehub::IssueState> issue = hub_.Issue(n);
      if (!issue.has_value()) continue;
      auto has = [&](const char* l) {
        return std::find(issue->labels.begin(), issue->labels.end(), l) != issue->labels.end();
      };
      if (!issue->open && has(kDone) && !has(kQueued) && !has(kInProgress)) {
        ++done;
      } else if (bad != nullptr) {
        bad->push_back(absl::StrCat("#", n, issue->open ? " open" : " closed", " labels=",
                                    absl::StrJoin(issue->labels, ",")));
      }
    }
    return done;
  }

  // The registration records on the coordination issue, by worker and epoch.
  struct Registration {
    github::RegistrationRecord record;
    absl::Time updated_at;
  };
  std::vector<Registration> Registrations() {
    std::vector<Registration> out;
    const int64_t coordination = CoordinationIssue();
    if (coordination == 0) return out;
    for (const fakehub::CommentState& c : hub_.Comments(coordination)) {
      github::ParsedBody parsed = github::ParseBody(c.body);
      if (!parsed.record.has_value()) continue;
      if (const auto* r = std::get_if<github::RegistrationRecord>(&*parsed.record)) {
        out.push_back({*r, c.updated_at});
      }
    }
    return out;
  }

 private:
  FakeHub hub_;
  Ledger ledger_;
  std::map<std::string, std::unique_ptr<Sidecar>> sidecars_;
  std::map<std::string, std::unique_ptr<Worker>> workers_;
};

std::vector<std::string> Ids(const std::string& prefix, int n) {
  std::vector<std::string> ids;
  for (int i = 1; i <= n; ++i) ids.push_back(absl::StrCat(prefix, i));
  return ids;
}

std::string TaskId(int64_t number) { return absl::StrCat(number); }

// Every grant's completion: exactly one OK per task in `numbers`, every other grant of the same
// task refused with FAILED_PRECONDITION. Returns how many tasks were handed out more than once.
int CheckExactlyOnce(const Ledger& ledger, const std::vector<int64_t>& numbers) {
  std::map<std::string, std::vector<Grant>> by_task;
  for (const Grant& g : ledger.grants()) by_task[g.task].push_back(g);
  int doubles = 0;
  for (int64_t n : numbers) {
    const std::vector<Grant>& grants = by_task[TaskId(n)];
    int ok = 0;
    for (const Grant& g : grants) {
      EXPECT_TRUE(g.outcome.has_value()) << "task " << n << " grant to " << g.worker
                                         << " never finished";
      if (!g.outcome.has_value()) continue;
      if (*g.outcome == grpc::StatusCode::OK) {
        ++ok;
      } else {
        EXPECT_EQ(*g.outcome, grpc::StatusCode::FAILED_PRECONDITION)
            << "task " << n << " grant to " << g.worker << " (token " << g.token << ")";
      }
    }
    EXPECT_EQ(ok, 1) << "task " << n << " completed " << ok << " times";
    if (grants.size() > 1) ++doubles;
  }
  return doubles;
}

// Requests in the fakehub log with `at` in [from, to).
struct Window {
  int64_t total = 0;
  int64_t writes = 0;
  int64_t refused_writes = 0;  // 403
  int64_t reads = 0;
};
Window RequestsBetween(const FakeHub& hub, absl::Time from, absl::Time to) {
  Window w;
  for (const fakehub::LogEntry& e : hub.RequestLog()) {
    if (e.at < from || e.at >= to) continue;
    ++w.total;
    if (e.content_creating) {
      ++w.writes;
      if (e.status == 403) ++w.refused_writes;
    } else {
      ++w.reads;
    }
  }
  return w;
}

// Claim comments posted on the task issues `tasks`, and comments deleted, per the request log.
// Claim comments posted on the task issues, and how many of them were taken back since.
struct ClaimCounts {
  int64_t posted = 0;
  int64_t deleted = 0;
};
ClaimCounts CountClaims(const FakeHub& hub, const std::vector<int64_t>& tasks) {
  ClaimCounts out;
  const std::set<int64_t> task_set(tasks.begin(), tasks.end());
  const std::string issues = absl::StrCat("/repos/", kOwner, "/", kRepo, "/issues/");
  for (const fakehub::LogEntry& e : hub.RequestLog()) {
    if (e.status / 100 != 2 || !absl::StartsWith(e.path, issues)) continue;
    const std::vector<std::string> parts = absl::StrSplit(e.path.substr(issues.size()), '/');
    int64_t n = 0;
    if (e.method == "POST" && parts.size() == 2 && parts[1] == "comments" &&
        absl::SimpleAtoi(parts[0], &n) && task_set.count(n) > 0) {
      ++out.posted;
    }
  }
  // Claims are the only comments on task issues; those no longer there were taken back. (The
  // log's DELETEs do not say which issue a comment was on, and registrations of earlier epochs
  // are deleted too.)
  int64_t kept = 0;
  for (int64_t n : tasks) kept += static_cast<int64_t>(hub.Comments(n).size());
  out.deleted = out.posted - kept;
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. 5 sidecars, 200 tasks, each completed exactly once.
TEST(GitHubClusterTest, FiveSidecarsCompleteTwoHundredTasksExactlyOnce) {
  Cluster cluster;
  const std::vector<int64_t> tasks = cluster.SeedTasks(200);
  const std::vector<std::string> ids = Ids("worker-", 5);
  ASSERT_TRUE(cluster.Start(ids));
  const absl::Time t0 = absl::Now();
  for (const std::string& id : ids) cluster.Play(id);
  const bool all = WaitFor([&] { return cluster.ledger().ok_completions() >= 200; },
                           absl::Seconds(100));
  const absl::Duration wall = absl::Now() - t0;
  cluster.StopWorkers();
  EXPECT_TRUE(all) << cluster.ledger().ok_completions() << " of 200 completed; "
                   << cluster.ledger().ErrorSummary();

  EXPECT_EQ(cluster.ledger().ok_completions(), 200);
  const int doubles = CheckExactlyOnce(cluster.ledger(), tasks);
  std::vector<std::string> bad;
  EXPECT_EQ(cluster.DoneCount(tasks, &bad), 200) << absl::StrJoin(bad, "\n");

  std::map<std::string, int> per_worker;
  for (const Grant& g : cluster.ledger().grants()) {
    if (g.outcome == grpc::StatusCode::OK) ++per_worker[g.worker];
  }
  std::string spread;
  for (const auto& [w, n] : per_worker) absl::StrAppend(&spread, w, ":", n, " ");
  const fakehub::LogCounts counts = cluster.hub().Counts();
  Figure("t1_wall_time", Ms(wall));
  Figure("t1_double_grants", absl::StrCat(doubles));
  Figure("t1_completions_per_worker", spread);
  Figure("t1_requests", absl::StrCat(counts.total, " (", counts.content_creating, " writes, ",
                                     counts.not_modified, " 304s)"));
  Figure("t1_errors", cluster.ledger().ErrorSummary());
  Figure("t1_latency", cluster.ledger().LatencySummary());
}

// ---------------------------------------------------------------------------------------------
// 2. kill -9 of a sidecar holding tasks.
TEST(GitHubClusterTest, TasksOfAKilledSidecarAreTakenOverInTime) {
  Cluster cluster;
  const std::vector<int64_t> tasks = cluster.SeedTasks(20);
  std::vector<std::string> ids = Ids("worker-", 4);
  ids.push_back("victim");
  ASSERT_TRUE(cluster.Start(ids, {{"WORKER_MAX_TASKS", "5"}}));

  // The victim takes three tasks and works on them (heartbeating) without finishing.
  Worker* victim = cluster.Play("victim", NoTasks());
  std::set<std::string> held;
  for (int i = 0; i < 3; ++i) {
    v1::NextTaskResponse resp;
    grpc::Status s =
        cluster.sidecar("victim").stub->NextTask(Ctx().get(), v1::NextTaskRequest(), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(resp.has_task());
    cluster.ledger().AddGrant(resp.task().id(), "victim", resp.lock().fencing_token());
    held.insert(resp.task().id());
  }
  for (int i = 1; i <= 4; ++i) cluster.Play(absl::StrCat("worker-", i));
  // The others finish the rest while the victim still lives.
  ASSERT_TRUE(WaitFor([&] { return cluster.ledger().ok_completions() >= 17; }, absl::Seconds(30)))
      << cluster.ledger().ErrorSummary();
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(cluster.ledger().ok_completions(), 17) << "a held task was taken while its holder lived";

  victim->StopHeartbeats();
  const absl::Time killed = absl::Now();
  cluster.sidecar("victim").process->Signal(SIGKILL);
  ASSERT_TRUE(cluster.sidecar("victim").process->Wait(absl::Seconds(5)).has_value());

  const bool taken = WaitFor([&] { return cluster.ledger().ok_completions() >= 20; },
                             absl::Seconds(30));
  EXPECT_TRUE(taken) << cluster.ledger().ErrorSummary();
  absl::Duration takeover = absl::ZeroDuration();
  absl::Duration first = absl::InfiniteDuration();
  for (const std::string& t : held) {
    std::optional<absl::Time> at = cluster.ledger().completed_at(t);
    ASSERT_TRUE(at.has_value()) << "task " << t << " of the victim was never completed";
    takeover = std::max(takeover, *at - killed);
    first = std::min(first, *at - killed);
  }
  cluster.StopWorkers();

  // The victim's victims: every grant but the victim's own finished, each task exactly once.
  std::map<std::string, std::vector<Grant>> by_task;
  for (const Grant& g : cluster.ledger().grants()) by_task[g.task].push_back(g);
  for (const std::string& t : held) {
    int ok = 0;
    for (const Grant& g : by_task[t]) {
      if (g.worker == "victim") continue;
      ASSERT_TRUE(g.outcome.has_value());
      ok += *g.outcome == grpc::StatusCode::OK;
    }
    EXPECT_EQ(ok, 1) << "task " << t;
  }
  for (int64_t n : tasks) {
    if (held.count(TaskId(n)) > 0) continue;
    int ok = 0;
    for (const Grant& g : by_task[TaskId(n)]) ok += g.outcome == grpc::StatusCode::OK;
    EXPECT_EQ(ok, 1) << "task " << n;
  }
  std::vector<std::string> bad;
  EXPECT_EQ(cluster.DoneCount(tasks, &bad), 20) << absl::StrJoin(bad, "\n");
  // The recovering claim says whose lease lapsed.
  for (const std::string& t : held) {
    int64_t n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(t, &n));
    bool recovered = false;
    for (const fakehub::CommentState& c : cluster.hub().Comments(n)) {
      recovered |= absl::StrContains(c.body, "\"recovered_from\":\"victim\"");
    }
    EXPECT_TRUE(recovered) << "task " << t << " has no claim recovered from the victim";
  }

  // The lease lasts the stale threshold after the last heartbeat, judged by others with a
  // second of slack (GitHub's times have a second's resolution), then the lock-delay; plus a
  // margin for the next NextTask poll, the claim's settle time and the completion.
  const absl::Duration bound =
      absl::Milliseconds(kStaleMs + kLockDelayMs) + absl::Seconds(1) + absl::Seconds(2);
  EXPECT_LT(takeover, bound);
  Figure("t2_takeover_after_kill", absl::StrCat(Ms(first), " (first) .. ", Ms(takeover),
                                                " (last); bound ", Ms(bound)));
}

// ---------------------------------------------------------------------------------------------
// 3. A read-visibility lag of 1..2 s while 5 sidecars race for a few tasks at a time.
TEST(GitHubClusterTest, DoubleGrantsUnderReadLagAreFenced) {
  Cluster cluster;
  const std::vector<std::string> ids = Ids("worker-", 5);
  ASSERT_TRUE(cluster.Start(ids));
  // Workers take a while over a task (0..1.5 s), so that a second holder's completion often
  // comes after the first holder's claim has become visible, and sometimes before.
  auto work = [] {
    static absl::Mutex mu;
    static std::mt19937 rng(4);
    absl::MutexLock lock(&mu);
    return absl::Milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng));
  };
  for (const std::string& id : ids) cluster.Play(id, WithWork(work));

  // The lag moves between 1 and 2 s, so comments become visible out of creation order.
  std::atomic<bool> stop_lag{false};
  std::thread lag([&] {
    std::mt19937 rng(7);
    while (!stop_lag) {
      cluster.hub().SetReadLag(
          absl::Milliseconds(std::uniform_int_distribution<int>(1000, 2000)(rng)));
      absl::SleepFor(absl::Milliseconds(5));
    }
    cluster.hub().SetReadLag(absl::ZeroDuration());
  });

  const absl::Time t0 = absl::Now();
  std::vector<int64_t> tasks;
  constexpr int kRounds = 5;
  constexpr int kPerRound = 3;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<int64_t> batch = cluster.SeedTasks(kPerRound, absl::StrCat("round ", round));
    tasks.insert(tasks.end(), batch.begin(), batch.end());
    const bool done = WaitFor([&] { return cluster.DoneCount(batch) == kPerRound; },
                              absl::Seconds(20));
    EXPECT_TRUE(done) << "round " << round << ": " << cluster.ledger().ErrorSummary();
    if (!done) break;
  }
  stop_lag = true;
  lag.join();
  // Let every second holder finish its (refused) completion.
  absl::SleepFor(absl::Milliseconds(2000));
  cluster.StopWorkers();
  const absl::Duration wall = absl::Now() - t0;

  const int doubles = CheckExactlyOnce(cluster.ledger(), tasks);
  std::vector<std::string> bad;
  EXPECT_EQ(cluster.DoneCount(tasks, &bad), static_cast<int>(tasks.size()))
      << absl::StrJoin(bad, "\n");
  int refused = 0;
  int grants = 0;
  for (const Grant& g : cluster.ledger().grants()) {
    ++grants;
    refused += g.outcome == grpc::StatusCode::FAILED_PRECONDITION;
  }
  Figure("t3_tasks", absl::StrCat(tasks.size(), " in ", kRounds, " rounds, ", Ms(wall)));
  Figure("t3_double_grants", absl::StrCat(doubles, " tasks handed out twice (", grants,
                                          " grants, ", refused, " completions refused)"));
  if (std::getenv("CLUSTER_DEBUG") != nullptr) {
    for (const fakehub::LogEntry& e : cluster.hub().RequestLog()) {
      if (e.method == "GET") continue;
      std::printf("%s %s %s %d\n", absl::FormatTime("%H:%M:%E3S", e.at, absl::UTCTimeZone()).c_str(),
                  e.method.c_str(), e.path.c_str(), e.status);
    }
    for (const Grant& g : cluster.ledger().grants()) {
      std::printf("grant %s %s %s token %llu -> %d\n",
                  absl::FormatTime("%H:%M:%E3S", g.at, absl::UTCTimeZone()).c_str(),
                  g.task.c_str(), g.worker.c_str(), (unsigned long long)g.token,
                  g.outcome.has_value() ? static_cast<int>(*g.outcome) : -1);
    }
  }
  const ClaimCounts claims = CountClaims(cluster.hub(), tasks);
  Figure("t3_claims", absl::StrCat(claims.posted, " posted, ", claims.deleted, " withdrawn"));
  Figure("t3_errors", cluster.ledger().ErrorSummary());
  Figure("t3_latency", cluster.ledger().LatencySummary());
}

// ---------------------------------------------------------------------------------------------
// 4. A sidecar cut off from GitHub for longer than the stale threshold.
TEST(GitHubClusterTest, ACutOffSidecarLosesItsTasksAndIsFencedWhenItReturns) {
  Cluster cluster;
  TcpProxy proxy(cluster.hub().port());
  const std::vector<int64_t> tasks = cluster.SeedTasks(20);
  std::vector<std::string> ids = Ids("worker-", 4);
  ids.push_back("island");
  ASSERT_TRUE(cluster.Start(ids, {{"WORKER_MAX_TASKS", "5"}}, {{"island", proxy.url()}}));

  cluster.Play("island", NoTasks());
  std::map<std::string, uint64_t> held;  // task -> token
  for (int i = 0; i < 3; ++i) {
    v1::NextTaskResponse resp;
    grpc::Status s =
        cluster.sidecar("island").stub->NextTask(Ctx().get(), v1::NextTaskRequest(), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(resp.has_task());
    cluster.ledger().AddGrant(resp.task().id(), "island", resp.lock().fencing_token());
    held[resp.task().id()] = resp.lock().fencing_token();
  }
  const std::set<uint64_t> epochs_before = cluster.ledger().epochs("island");
  for (int i = 1; i <= 4; ++i) cluster.Play(absl::StrCat("worker-", i));
  ASSERT_TRUE(WaitFor([&] { return cluster.ledger().ok_completions() >= 17; }, absl::Seconds(30)))
      << cluster.ledger().ErrorSummary();

  const absl::Time cut = absl::Now();
  proxy.SetCut(true);
  const bool taken = WaitFor([&] { return cluster.ledger().ok_completions() >= 20; },
                             absl::Seconds(30));
  EXPECT_TRUE(taken) << cluster.ledger().ErrorSummary();
  absl::Duration takeover = absl::ZeroDuration();
  for (const auto& [t, token] : held) {
    std::optional<absl::Time> at = cluster.ledger().completed_at(t);
    if (at.has_value()) takeover = std::max(takeover, *at - cut);
  }
  // Stay away a little longer than the stale threshold in any case.
  absl::SleepFor(std::max(absl::ZeroDuration(),
                          cut + absl::Milliseconds(kStaleMs) + absl::Seconds(1) - absl::Now()));
  const int64_t errors_while_cut = cluster.ledger().errors_of("island");
  const absl::Time back = absl::Now();
  proxy.SetCut(false);

  // Its next heartbeat reports every task lock as lost, under a new lease epoch.
  ASSERT_TRUE(WaitFor([&] { return cluster.ledger().lost("island").size() >= held.size(); },
                      absl::Seconds(15)))
      << "lost locks reported: " << cluster.ledger().lost("island").size() << "; "
      << cluster.ledger().ErrorSummary();
  const absl::Duration lost_reported_after = absl::Now() - back;
  std::set<std::string> lost_tasks;
  for (const v1::Lock& l : cluster.ledger().lost("island")) {
    lost_tasks.insert(l.name());
    EXPECT_EQ(l.fencing_token(), held[l.name()]) << l.name();
  }
  for (const auto& [t, token] : held) EXPECT_TRUE(lost_tasks.count(t) > 0) << t;
  const std::set<uint64_t> epochs_after = cluster.ledger().epochs("island");
  EXPECT_GT(*epochs_after.rbegin(), epochs_before.empty() ? 0 : *epochs_before.rbegin());

  // Its stale completions are refused.
  for (const auto& [t, token] : held) {
    v1::CompleteTaskRequest req;
    req.set_task_id(t);
    req.set_fencing_token(token);
    req.set_result("stale");
    v1::CompleteTaskResponse resp;
    grpc::Status s = cluster.sidecar("island").stub->CompleteTask(Ctx().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << t << ": " << s.error_message();
  }
  // And it works again: it is active under its new epoch.
  {
    v1::ListWorkersResponse resp;
    grpc::Status s = cluster.sidecar("island").stub->ListWorkers(
        Ctx().get(), v1::ListWorkersRequest(), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    bool active = false;
    for (const v1::Worker& w : resp.workers()) {
      if (w.worker_id() == "island") active = w.status() == v1::WORKER_STATUS_ACTIVE;
    }
    EXPECT_TRUE(active);
  }
  cluster.StopWorkers();

  std::map<std::string, int> ok = cluster.ledger().ok_per_task();
  for (int64_t n : tasks) EXPECT_EQ(ok[TaskId(n)], 1) << "task " << n;
  std::vector<std::string> bad;
  EXPECT_EQ(cluster.DoneCount(tasks, &bad), 20) << absl::StrJoin(bad, "\n");
  for (const auto& [t, token] : held) {
    int64_t n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(t, &n));
    const std::string body = cluster.hub().Issue(n)->body.value_or("");
    EXPECT_FALSE(absl::StrContains(body, "done by island")) << t;
  }
  Figure("t4_takeover_after_cut", Ms(takeover));
  Figure("t4_lost_locks_reported_after_return", Ms(lost_reported_after));
  Figure("t4_island_errors_while_cut", absl::StrCat(errors_while_cut, "; connections refused ",
                                                    proxy.refused()));
}

// ---------------------------------------------------------------------------------------------
// 5. GitHub's secondary rate limit mid-run.
void SecondaryLimitMidRun(bool retry_after) {
  const std::string tag = retry_after ? "t5_retry_after" : "t5_no_retry_after";
  constexpr int kStale = 8000;       // leases outlast the block (the defaults' ratio: 120 s / 60 s)
  constexpr int kBlockMs = 3000;
  constexpr int kTasks = 80;
  Cluster cluster;
  cluster.hub().SetSecondaryLimit(1'000'000, absl::Milliseconds(kBlockMs), retry_after);
  const std::vector<int64_t> tasks = cluster.SeedTasks(kTasks);
  const std::vector<std::string> ids = Ids("worker-", 5);
  ASSERT_TRUE(cluster.Start(ids, {{"STALE_WORKER_THRESHOLD_MS", absl::StrCat(kStale)},
                                  {"GITHUB_MIN_SECONDARY_BACKOFF_MS", absl::StrCat(kBlockMs)}}));

  // Watchers: the registrations as GitHub holds them, and ListWorkers on every sidecar.
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  int stale_reports = 0;         // ListWorkers said STALE
  int lapsed_seen = 0;           // a registration whose lease (with slack) had run out
  int strict_lapsed_seen = 0;    // ... without the slack
  int bad_next_renewal = 0;      // next_renewal_at missing or implausible
  std::map<std::string, int64_t> max_lease_ms;
  std::map<std::string, absl::Time> stretched_at;
  std::thread registrations([&] {
    while (!stop) {
      const absl::Time now = cluster.hub().Now();
      for (const Cluster::Registration& r : cluster.Registrations()) {
        if (r.record.gone) continue;
        const absl::Time updated = absl::FromUnixSeconds(absl::ToUnixSeconds(r.updated_at));
        const int64_t lease_ms = absl::ToInt64Milliseconds(r.record.lease);
        absl::MutexLock lock(&mu);
        if (now >= updated + r.record.lease + absl::Seconds(1)) ++lapsed_seen;
        if (now >= updated + r.record.lease) ++strict_lapsed_seen;
        // Holding locks, the next renewal is a heartbeat interval away; holding nothing, the
        // idle interval (GITHUB_IDLE_RENEW_INTERVAL_MS, 10 min by default).
        const absl::Duration next = r.record.idle ? absl::Minutes(10) : absl::ZeroDuration();
        if (r.record.next_renewal_at < r.updated_at - absl::Seconds(2) ||
            r.record.next_renewal_at > r.updated_at + next + absl::Seconds(2)) {
          ++bad_next_renewal;
        }
        max_lease_ms[r.record.worker_id] = std::max(max_lease_ms[r.record.worker_id], lease_ms);
        if (lease_ms > kStale && stretched_at.count(r.record.worker_id) == 0) {
          stretched_at[r.record.worker_id] = absl::Now();
        }
      }
      absl::SleepFor(absl::Milliseconds(25));
    }
  });
  std::thread lister([&] {
    while (!stop) {
      for (const std::string& id : ids) {
        v1::ListWorkersResponse resp;
        grpc::Status s = cluster.sidecar(id).stub->ListWorkers(
            Ctx(absl::Seconds(5)).get(), v1::ListWorkersRequest(), &resp);
        if (!s.ok()) continue;  // RESOURCE_EXHAUSTED while blocked
        for (const v1::Worker& w : resp.workers()) {
          if (w.status() == v1::WORKER_STATUS_STALE) {
            absl::MutexLock lock(&mu);
            ++stale_reports;
          }
        }
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  });

  for (const std::string& id : ids) cluster.Play(id);
  ASSERT_TRUE(WaitFor([&] { return cluster.ledger().ok_completions() >= 25; }, absl::Seconds(30)))
      << cluster.ledger().ErrorSummary();
  const int before = cluster.ledger().ok_completions();
  const absl::Time block_local = absl::Now();
  const absl::Time block_start = cluster.hub().Now();
  cluster.hub().ForceSecondaryLimit(absl::Milliseconds(kBlockMs));
  const absl::Time block_end = block_start + absl::Milliseconds(kBlockMs);
  absl::SleepFor(absl::Milliseconds(kBlockMs));
  const int during = cluster.ledger().ok_completions() - before;

  const bool all = WaitFor([&] { return cluster.ledger().ok_completions() >= kTasks; },
                           absl::Seconds(60));
  const absl::Time all_done = absl::Now();
  // Let the heartbeats go on a little after the block.
  absl::SleepFor(absl::Milliseconds(1000));
  stop = true;
  registrations.join();
  lister.join();
  cluster.StopWorkers();
  EXPECT_TRUE(all) << cluster.ledger().ok_completions() << " of " << kTasks << "; "
                   << cluster.ledger().ErrorSummary();

  // No crash.
  for (const std::string& id : ids) {
    EXPECT_FALSE(cluster.sidecar(id).process->Wait(absl::ZeroDuration()).has_value())
        << id << " exited: " << cluster.sidecar(id).process->Stderr();
  }
  // Every task exactly once.
  CheckExactlyOnce(cluster.ledger(), tasks);
  std::vector<std::string> bad;
  EXPECT_EQ(cluster.DoneCount(tasks, &bad), kTasks) << absl::StrJoin(bad, "\n");

  // No request storm: what reached GitHub during the block, against the same time just before.
  const Window blocked = RequestsBetween(cluster.hub(), block_start, block_end);
  const Window normal =
      RequestsBetween(cluster.hub(), block_start - absl::Milliseconds(kBlockMs), block_start);
  EXPECT_LE(blocked.refused_writes, 3 * static_cast<int64_t>(ids.size()));
  EXPECT_LT(blocked.total, normal.total / 4 + 20);

  // Throughput resumes: completions in the seconds after the block.
  const int after = cluster.ledger().completed_between(block_local + absl::Milliseconds(kBlockMs),
                                                       block_local + absl::Milliseconds(kBlockMs) +
                                                           absl::Seconds(3));
  EXPECT_GT(after, 0);

  // Leases stretched rather than lapsed: nobody was reported stale, no lock was reported lost
  // and no new epoch started; the registrations written after failed heartbeats carried a
  // doubled lease, and every registration says when it will next be renewed.
  EXPECT_EQ(stale_reports, 0);
  EXPECT_EQ(lapsed_seen, 0);
  EXPECT_EQ(cluster.ledger().lost_total(), 0u);
  for (const std::string& id : ids) {
    EXPECT_EQ(cluster.ledger().epochs(id).size(), 1u) << id;
    // Doubled from the lease the pace gives (at least STALE_WORKER_THRESHOLD_MS; more when the
    // identity's budget cannot carry a write per heartbeat for every sidecar: registry.h).
    EXPECT_GE(max_lease_ms[id], 2 * kStale) << id << ": no stretched registration was written";
  }
  EXPECT_EQ(bad_next_renewal, 0);

  Figure(tag + "_requests_during_block",
         absl::StrCat(blocked.total, " (", blocked.writes, " writes of which ",
                      blocked.refused_writes, " refused, ", blocked.reads, " reads) in ",
                      kBlockMs, " ms; the ", kBlockMs, " ms before: ", normal.total, " (",
                      normal.writes, " writes)"));
  Figure(tag + "_completions",
         absl::StrCat(before, " before the block, ", during, " during, ", after,
                      " in the 3 s after; all done ", Ms(all_done - block_local),
                      " after the block started"));
  Figure(tag + "_leases", absl::StrCat("stale reports ", stale_reports, ", lapsed ", lapsed_seen,
                                       " (strict ", strict_lapsed_seen, "), lost locks ",
                                       cluster.ledger().lost_total()));
  Figure(tag + "_errors", cluster.ledger().ErrorSummary());
}

TEST(GitHubClusterTest, SecondaryLimitWithRetryAfter) { SecondaryLimitMidRun(true); }

// ---------------------------------------------------------------------------------------------
// 7. One identity carries a fleet (issue 10): 8 sidecars on ONE login whose secondary limit is
// scaled to 120 content-creating requests a minute (fakehub enforces it; every sidecar is told
// so with GITHUB_WRITES_PER_MINUTE), heartbeat interval 1 s, idle renewal every 5 s: idle for
// 17 s, then a queue of 8 tasks, then kill -9 of a sidecar holding a task. No secondary-limit
// refusal at any time, no lease lapse of a live worker, every task done once, idle writes within
// the idle quarter of the budget, the takeover within the stretched lease.
TEST(GitHubClusterTest, EightSidecarsOnOneLoginStayWithinItsLimit) {
  constexpr int kPerMinute = 120;
  Cluster cluster(kPerMinute);
  const std::vector<std::string> ids = Ids("worker-", 8);
  const std::map<std::string, std::string> fleet = {
      {"HEARTBEAT_INTERVAL_MS", "1000"},
      {"STALE_WORKER_THRESHOLD_MS", "3000"},
      {"GITHUB_WRITES_PER_MINUTE", absl::StrCat(kPerMinute)},
      {"GITHUB_WRITES_PER_HOUR", "100000"},
      {"GITHUB_WRITE_SPACING_MS", "100"},
      {"GITHUB_IDLE_RENEW_INTERVAL_MS", "5000"},
  };
  ASSERT_TRUE(cluster.Start(ids, fleet));
  for (const std::string& id : ids) cluster.Play(id, NoTasks());  // heartbeat RPCs every 300 ms
  // Once the sidecars have seen each other (one pace interval), measure 12 s of idling.
  absl::SleepFor(absl::Seconds(5));
  const int64_t idle_start = cluster.hub().Counts().content_creating;
  absl::SleepFor(absl::Seconds(12));
  const int64_t idle_writes = cluster.hub().Counts().content_creating - idle_start;
  EXPECT_EQ(cluster.hub().Counts().by_status[403], 0) << "secondary-limit refusals while idle";

  const std::vector<int64_t> tasks = cluster.SeedTasks(8);
  for (const std::string& id : ids) cluster.Play(id);
  const bool all = WaitFor([&] { return cluster.ledger().ok_completions() >= 8; },
                           absl::Seconds(60));
  EXPECT_TRUE(all) << cluster.ledger().ok_completions() << " of 8; "
                   << cluster.ledger().ErrorSummary();
  CheckExactlyOnce(cluster.ledger(), tasks);
  EXPECT_EQ(cluster.hub().Counts().by_status[403], 0) << "secondary-limit refusals under load";

  // The victim takes one more task and dies with it; the others take it over.
  for (const std::string& id : ids) cluster.Play(id, NoTasks());
  const std::vector<int64_t> last = cluster.SeedTasks(1, "last");
  Worker* victim = cluster.Play("worker-7", NoTasks());
  std::optional<std::string> held;
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::NextTaskResponse resp;
        grpc::Status s =
            cluster.sidecar("worker-7").stub->NextTask(Ctx().get(), v1::NextTaskRequest(), &resp);
        if (s.ok() && resp.has_task()) {
          cluster.ledger().AddGrant(resp.task().id(), "worker-7", resp.lock().fencing_token());
          held = resp.task().id();
        }
        return held.has_value() || cluster.ledger().ok_completions() >= 9;
      },
      absl::Seconds(30)));
  if (held.has_value()) {
    victim->StopHeartbeats();
    const absl::Time killed = absl::Now();
    cluster.sidecar("worker-7").process->Signal(SIGKILL);
    ASSERT_TRUE(cluster.sidecar("worker-7").process->Wait(absl::Seconds(5)).has_value());
    for (const std::string& id : ids) {
      if (id != "worker-7") cluster.Play(id);
    }
    // Done on GitHub (the issue closed as done) is what counts: under this tight budget the
    // taker's CompleteTask may wait in its write queue past the caller's deadline and still land
    // (the retry then finds the task closed), so the ledger of successful calls can miss it.
    std::optional<absl::Time> at;
    EXPECT_TRUE(WaitFor(
        [&] {
          if (cluster.DoneCount(last) == 1 && !at.has_value()) at = absl::Now();
          return at.has_value();
        },
        absl::Seconds(75)))
        << cluster.ledger().ErrorSummary();
    // The holding lease: at most 8 holders share half of 120 writes a minute, a write every 8 s,
    // lease 3 s x 8 = 24 s — doubled when a heartbeat write had to wait for the budget
    // (registry.h) — the lock-delay, a second of slack, and a margin for polling and the write
    // budget.
    const absl::Duration lease = absl::Seconds(24);
    const absl::Duration bound = 2 * lease + absl::Milliseconds(kLockDelayMs) +
                                 absl::Seconds(1) + absl::Seconds(8);
    ASSERT_TRUE(at.has_value());
    EXPECT_LT(*at - killed, bound);
    Figure("t7_takeover_after_kill", absl::StrCat(Ms(*at - killed), "; bound ", Ms(bound)));
  }
  cluster.StopWorkers();
  EXPECT_EQ(cluster.hub().Counts().by_status[403], 0) << "secondary-limit refusals";
  for (const std::string& id : ids) {
    if (id == "worker-7") continue;
    EXPECT_EQ(cluster.ledger().epochs(id).size(), 1u) << id << "'s lease lapsed while it lived";
  }
  // Idle, registrations may use a quarter of the identity's budget: 30 a minute, 6 in 12 s (+
  // one write per sidecar due at the window's edge).
  Figure("t7_idle_writes_in_12s", absl::StrCat(idle_writes, " (the idle quarter of the budget: ",
                                               kPerMinute / 4 / 5, ")"));
  EXPECT_LE(idle_writes, kPerMinute / 4 / 5 + 8);
  // (That the idle workers do renew shows in their single epochs above: the 12 s window is
  // shorter than their 16 s idle interval, so it may hold none of their writes.)
}
TEST(GitHubClusterTest, SecondaryLimitWithoutRetryAfter) { SecondaryLimitMidRun(false); }

// ---------------------------------------------------------------------------------------------
// 8. A sustained read lag longer than the configured claim window (issue 10): every new comment
// stays out of lists for 3 s while the claim settle is 300 ms (a window of 300 ms + 3 x 500 ms).
// The claim protocol measures the lag and widens its window (core/github/visibility_lag.h), so
// hand-outs slow down instead of stopping: 3 sidecars complete 6 tasks, each exactly once, and
// claims taken back unjudged stay few.
TEST(GitHubClusterTest, ASustainedThreeSecondLagSlowsHandOutsButCompletesThem) {
  Cluster cluster;
  const std::vector<std::string> ids = Ids("worker-", 3);
  // The claim window may widen to half of the stale threshold less a second (MaxClaimSettle):
  // 4.5 s here.
  ASSERT_TRUE(cluster.Start(ids, {{"GITHUB_CLAIM_SETTLE_MS", "300"},
                                  {"STALE_WORKER_THRESHOLD_MS", "10000"}}));
  cluster.hub().SetReadLag(absl::Seconds(3));
  const std::vector<int64_t> tasks = cluster.SeedTasks(6, "lagged");
  cluster.hub().ResetLog();
  const absl::Time t0 = absl::Now();
  for (const std::string& id : ids) cluster.Play(id);
  const bool all = WaitFor([&] { return cluster.DoneCount(tasks) == 6; }, absl::Seconds(90));
  const absl::Duration wall = absl::Now() - t0;
  cluster.StopWorkers();
  cluster.hub().SetReadLag(absl::ZeroDuration());
  EXPECT_TRUE(all) << cluster.DoneCount(tasks) << " of 6 done; "
                   << cluster.ledger().ErrorSummary();
  CheckExactlyOnce(cluster.ledger(), tasks);
  const ClaimCounts claims = CountClaims(cluster.hub(), tasks);
  Figure("t8_tasks", absl::StrCat(cluster.DoneCount(tasks), " of 6 done in ", Ms(wall)));
  Figure("t8_claims", absl::StrCat(claims.posted, " posted, ", claims.deleted, " taken back"));
  Figure("t8_errors", cluster.ledger().ErrorSummary());
  // Before the fix: 0 of 6 in 90 s, 132 claims posted and taken back. Now a claim is taken back
  // only when it was a sidecar's first (posted before it measured the lag) or lost a contest:
  // at most one per sidecar plus two per task (the losers when all three claim it). Seen: 5-9
  // in the normal build, 5-11 under ASan (its speed makes more contests).
  EXPECT_LE(claims.deleted,
            static_cast<int64_t>(ids.size()) + 2 * static_cast<int64_t>(tasks.size()));
}

// ---------------------------------------------------------------------------------------------
// 6. The share of claims lost to another sidecar: the load balancer versus oldest-first.
struct ClaimLoss {
  int64_t claims = 0;     // claim comments posted on task issues
  int64_t withdrawn = 0;  // claim comments deleted (lost, or never visible)
  absl::Duration wall;
  double share() const { return claims == 0 ? 0 : static_cast<double>(withdrawn) / claims; }
};

// Runs 200 tasks through 10 sidecars. With `oldest_first`, no sidecar sees another one's
// registration (they are created under a long read lag), so each one's balancer plans for itself
// alone and hands it the oldest task: plain oldest-first, without any special mode in the code.
ClaimLoss RunClaimRace(const std::string& strategy, bool oldest_first) {
  Cluster cluster;
  const std::vector<int64_t> tasks = cluster.SeedTasks(200);
  const int64_t coordination = cluster.SeedCoordinationIssue();
  if (oldest_first) cluster.hub().SetReadLag(absl::Hours(1));
  const std::vector<std::string> ids = Ids("worker-", 10);
  EXPECT_TRUE(cluster.Start(ids, {{"LOAD_BALANCE_STRATEGY", strategy}}));
  cluster.hub().SetReadLag(absl::ZeroDuration());
  if (oldest_first) {
    // Nobody's registration is visible in lists.
    v1::ListWorkersResponse resp;
    grpc::Status s = cluster.sidecar(ids[0]).stub->ListWorkers(Ctx().get(),
                                                               v1::ListWorkersRequest(), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.workers_size(), 1);
  }
  cluster.hub().ResetLog();
  const absl::Time t0 = absl::Now();
  for (const std::string& id : ids) cluster.Play(id);
  const bool all = WaitFor([&] { return cluster.ledger().ok_completions() >= 200; },
                           absl::Seconds(100));
  ClaimLoss loss;
  loss.wall = absl::Now() - t0;
  cluster.StopWorkers();
  EXPECT_TRUE(all) << cluster.ledger().ok_completions() << " of 200; "
                   << cluster.ledger().ErrorSummary();
  CheckExactlyOnce(cluster.ledger(), tasks);
  EXPECT_EQ(cluster.DoneCount(tasks), 200);

  const ClaimCounts counted = CountClaims(cluster.hub(), tasks);
  loss.claims = counted.posted;
  loss.withdrawn = counted.deleted;
  (void)coordination;
  // Each task keeps exactly its winning claim.
  int64_t kept = 0;
  for (int64_t n : tasks) kept += static_cast<int64_t>(cluster.hub().Comments(n).size());
  EXPECT_EQ(kept, 200);
  return loss;
}

TEST(GitHubClusterTest, TheBalancerLosesFewerClaimsThanOldestFirst) {
  const ClaimLoss baseline = RunClaimRace("least_loaded", /*oldest_first=*/true);
  const ClaimLoss balanced = RunClaimRace("least_loaded", /*oldest_first=*/false);
  auto describe = [](const ClaimLoss& l) {
    return absl::StrCat(l.withdrawn, " of ", l.claims, " claims lost (",
                        absl::StrFormat("%.1f", 100 * l.share()), "%), ", Ms(l.wall));
  };
  Figure("t6_oldest_first", describe(baseline));
  Figure("t6_least_loaded", describe(balanced));
  EXPECT_LT(balanced.share(), baseline.share() / 2);
}

}  // namespace
}  // namespace tasksentinel::testing
