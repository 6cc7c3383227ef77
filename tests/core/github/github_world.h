// Several sidecars on one fake GitHub repository and one fake clock: the world the GitHub
// backend's core tests play in. Each coordinator is one sidecar (one worker); they share the
// FakeGitHubApi as sidecars share a repository.
#ifndef TASK_SENTINEL_TESTS_CORE_GITHUB_GITHUB_WORLD_H_
#define TASK_SENTINEL_TESTS_CORE_GITHUB_GITHUB_WORLD_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/config.h"
#include "core/github/coordination_issue.h"
#include "core/github/github_coordinator.h"
#include "core/github/records.h"
#include "tests/testing/core_harness.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_github_api.h"

namespace tasksentinel {

// TestConfig (core_harness.h) plus the GitHub settings at their defaults: claims settle for 1 s;
// memory syncs every 5 s. The write budget is large enough that registrations are written at
// every 10 s heartbeat (fleet_test.cc tests the pacing that a smaller budget brings).
inline Config GitHubTestConfig(const std::string& worker_id) {
  Config c = TestConfig(worker_id);
  c.github_claim_settle = absl::Seconds(1);
  c.memory_sync_interval = absl::Seconds(5);
  c.github_owner = "octo";
  c.github_repo = "sentinel";
  c.github_writes_per_hour = 100000;
  return c;
}

// Blocking calls list again every second of fake time.
inline GitHubCoordinator::Options GitHubTestOptions() {
  GitHubCoordinator::Options o;
  o.poll_interval = absl::Seconds(1);
  return o;
}

struct GitHubWorld {
  FakeClock clock;
  FakeGitHubApi api{&clock};

  // A sidecar for `worker_id`, its config adjusted by `tweak`, its options by `tweak_options`.
  std::unique_ptr<GitHubCoordinator> Sidecar(
      const std::string& worker_id, const std::function<void(Config&)>& tweak = nullptr,
      const std::function<void(GitHubCoordinator::Options&)>& tweak_options = nullptr) {
    Config c = GitHubTestConfig(worker_id);
    if (tweak) tweak(c);
    GitHubCoordinator::Options o = GitHubTestOptions();
    if (tweak_options) tweak_options(o);
    return std::make_unique<GitHubCoordinator>(c, &api, &clock, o);
  }

  // The coordination issue's number (0 when there is none yet).
  int64_t CoordinationIssue() {
    for (const github::Issue& issue : api.AllIssues()) {
      if (issue.title == github::kCoordinationTitle && issue.open) return issue.number;
    }
    return 0;
  }

  // The locks issue's number (0 when there is none yet).
  int64_t LocksIssue() {
    for (const github::Issue& issue : api.AllIssues()) {
      if (issue.title == github::kLocksTitle && issue.open) return issue.number;
    }
    return 0;
  }

  // The comments of `issue` holding a record of type T.
  template <typename T>
  std::vector<std::pair<github::Comment, T>> Records(int64_t issue) {
    std::vector<std::pair<github::Comment, T>> out;
    for (const github::Comment& c : api.AllComments(issue)) {
      github::ParsedBody parsed = github::ParseBody(c.body);
      if (!parsed.record.has_value()) continue;
      if (const T* r = std::get_if<T>(&*parsed.record)) out.push_back({c, *r});
    }
    return out;
  }

  // Calls `action` once, from inside the first write whose body contains every one of
  // `needles` (the other sidecar acts while the first is in the middle of a protocol step).
  void OnceOnWrite(std::vector<std::string> needles, std::function<void()> action) {
    auto fired = std::make_shared<bool>(false);
    api.SetWriteHook([this, fired, needles, action](const FakeGitHubWrite& w) {
      if (*fired) return;
      for (const std::string& n : needles) {
        if (!absl::StrContains(w.body, n)) return;
      }
      *fired = true;
      api.SetWriteHook(nullptr);
      action();
    });
  }
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_TESTS_CORE_GITHUB_GITHUB_WORLD_H_
