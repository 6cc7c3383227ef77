// Real sidecars on the GitHub backend against fakehub (see github_sidecars.h).
#include "tests/testing/github_sidecars.h"

#include "gtest/gtest.h"
#include "tests/testing/time_scale.h"

namespace tasksentinel::testing {

GitHubSidecars::GitHubSidecars(fakehub::FakeHubOptions options) {
  options.tokens = {kToken};
  hub_ = std::make_unique<fakehub::FakeHub>(std::move(options));
  absl::Status s = hub_->Start();
  EXPECT_TRUE(s.ok()) << s;
}

GitHubSidecars::~GitHubSidecars() {
  for (auto& server : servers_) server->Shutdown(absl::Milliseconds(100)).IgnoreError();
  servers_.clear();
  hub_->Stop();
}

Config GitHubSidecars::MakeConfig(const std::string& id) const {
  Config c;
  c.worker_id = id;
  c.hostname = "host-" + id;
  c.grpc_addr = "127.0.0.1:0";
  c.http_addr = "";
  c.max_tasks = 4;
  // The lease timings stretch on slow builds (time_scale.h).
  c.heartbeat_interval = Scaled(absl::Milliseconds(500));
  c.stale_threshold = Scaled(absl::Seconds(2));
  c.lock_delay = Scaled(absl::Milliseconds(200));
  c.poll_interval = absl::Milliseconds(20);
  c.task_retry_backoff = absl::Milliseconds(100);
  c.memory_sync_interval = absl::Milliseconds(100);
  c.github_owner = "fakehub";
  c.github_repo = "tasks";
  c.github_token = kToken;
  c.github_api_url = hub_->base_url();
  c.github_claim_settle = absl::Milliseconds(50);
  c.github_write_spacing = absl::ZeroDuration();
  c.github_writes_per_minute = 100000;  // as MakeApiOptions: the budget the API enforces
  c.github_writes_per_hour = 1000000;
  return c;
}

github::CurlGitHubApi::Options GitHubSidecars::MakeApiOptions() const {
  github::CurlGitHubApi::Options o;
  o.api_url = hub_->base_url();
  o.token = kToken;
  o.owner = "fakehub";
  o.repo = "tasks";
  o.write_spacing = absl::ZeroDuration();
  o.writes_per_minute = 100000;
  o.writes_per_hour = 1000000;
  o.timeout = Scaled(absl::Seconds(2));
  o.retry_base = absl::Milliseconds(10);
  o.min_secondary_backoff = absl::Milliseconds(300);
  o.max_secondary_backoff = absl::Seconds(2);
  return o;
}

GitHubCoordinator::Options GitHubSidecars::FastCoordination() {
  GitHubCoordinator::Options o;
  o.poll_interval = absl::Milliseconds(100);
  o.min_retry_wait = absl::Milliseconds(50);
  o.background_sync = true;
  return o;
}

SentinelServer* GitHubSidecars::Start(const Config& config,
                                      std::optional<github::CurlGitHubApi::Options> api_options,
                                      GitHubCoordinator::Options coordination) {
  apis_.push_back(std::make_unique<github::CurlGitHubApi>(
      api_options.has_value() ? *api_options : MakeApiOptions(), &clock_));
  auto coordinator =
      std::make_unique<GitHubCoordinator>(config, apis_.back().get(), &clock_, coordination);
  auto server = std::make_unique<SentinelServer>(config, std::move(coordinator), &clock_);
  absl::Status s = server->Start();
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return nullptr;
  servers_.push_back(std::move(server));
  return servers_.back().get();
}

SentinelServer* GitHubSidecars::Release(SentinelServer* server) {
  for (auto it = servers_.begin(); it != servers_.end(); ++it) {
    if (it->get() == server) {
      SentinelServer* released = it->release();
      servers_.erase(it);
      return released;
    }
  }
  return nullptr;
}

}  // namespace tasksentinel::testing
