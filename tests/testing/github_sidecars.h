// Real sidecars (SentinelServer, gRPC on loopback) on the GitHub backend against one in-process
// fakehub: the libcurl client, the GitHub coordinator and the HTTP server are all the production
// code; only GitHub is local. Timings default to fast test values; tests adjust them.
#ifndef TASK_SENTINEL_TESTS_TESTING_GITHUB_SIDECARS_H_
#define TASK_SENTINEL_TESTS_TESTING_GITHUB_SIDECARS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/github/github_coordinator.h"
#include "service/github/curl_github_api.h"
#include "service/server.h"
#include "tests/fakehub/fakehub.h"

namespace tasksentinel::testing {

class GitHubSidecars {
 public:
  static constexpr const char* kToken = "ghp_TESTTOKEN_must_never_leak_0123456789";

  // Starts fakehub (repository fakehub/tasks, accepting kToken only).
  explicit GitHubSidecars(fakehub::FakeHubOptions options = {});
  ~GitHubSidecars();

  fakehub::FakeHub& hub() { return *hub_; }

  // Fast settings for worker `id` on this hub.
  Config MakeConfig(const std::string& id) const;

  // Client options for this hub: no spacing, a big budget, short time-outs and backoffs.
  github::CurlGitHubApi::Options MakeApiOptions() const;

  // Starts a sidecar; `api_options` defaults to MakeApiOptions(). The server is owned here and
  // shut down at destruction. Fails the test (and returns null) if it does not start.
  SentinelServer* Start(const Config& config,
                        std::optional<github::CurlGitHubApi::Options> api_options = std::nullopt,
                        GitHubCoordinator::Options coordination = FastCoordination());

  static GitHubCoordinator::Options FastCoordination();

  // Hands ownership of a started sidecar to the caller (who must shut it down before this
  // environment goes away).
  SentinelServer* Release(SentinelServer* server);

 private:
  RealClock clock_;
  std::unique_ptr<fakehub::FakeHub> hub_;
  std::vector<std::unique_ptr<github::CurlGitHubApi>> apis_;
  std::vector<std::unique_ptr<SentinelServer>> servers_;
};

}  // namespace tasksentinel::testing

#endif  // TASK_SENTINEL_TESTS_TESTING_GITHUB_SIDECARS_H_
