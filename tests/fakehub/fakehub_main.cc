// fakehub: a FakeHub (in-memory GitHub, see fakehub.h) as a process, for tests that run
// sidecar processes and for a local multi-sidecar demo (docs/fakehub.md). Prints
// "fakehub listening on http://127.0.0.1:PORT" on stdout once it serves, and runs until SIGTERM
// or SIGINT.
//
//   fakehub --port=0 --owner=fakehub --repo=tasks --token=secret --lag_ms=200
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "tests/fakehub/fakehub.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1; 0 picks a free one");
ABSL_FLAG(std::string, owner, "fakehub", "owner of the hosted repository");
ABSL_FLAG(std::string, repo, "tasks", "name of the hosted repository");
ABSL_FLAG(int64_t, repo_id, 1000, "numeric id of the repository (used in Link URLs)");
ABSL_FLAG(std::string, login, "fakehub-user", "login of the token's user (GET /user)");
ABSL_FLAG(std::string, users, "",
          "more accounts, comma-separated LOGIN:TOKEN:ROLE (ROLE read or write), e.g. "
          "mallory:t2:read");
ABSL_FLAG(std::string, token, "",
          "accepted token(s), comma-separated; empty accepts any non-empty token");
ABSL_FLAG(int, lag_ms, 0, "new comments and issues are missing from lists for this long");
ABSL_FLAG(int, latency_ms, 0, "added to every answer");
ABSL_FLAG(double, error_rate, 0, "probability of a 502 answer");
ABSL_FLAG(int, secondary_per_minute, 80,
          "content-creating requests per minute before a secondary rate limit");
ABSL_FLAG(int, secondary_block_ms, 60000, "how long a secondary rate limit blocks");
ABSL_FLAG(bool, secondary_retry_after, true, "send retry-after with a secondary rate limit");
ABSL_FLAG(int, primary_limit, 5000, "requests per hour (304s are free)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "An in-memory fake of GitHub's REST API (issues, comments, labels) for tests and local "
      "demos. Not GitHub. See docs/fakehub.md.");
  absl::ParseCommandLine(argc, argv);

  // Block the stop signals in every thread (the server's inherit this mask) and wait for them
  // on the main thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  using tasksentinel::fakehub::FakeHub;
  using tasksentinel::fakehub::FakeHubOptions;
  using tasksentinel::fakehub::RepoSpec;
  FakeHubOptions options;
  options.repos = {RepoSpec{absl::GetFlag(FLAGS_owner), absl::GetFlag(FLAGS_repo),
                            absl::GetFlag(FLAGS_repo_id), true}};
  options.login = absl::GetFlag(FLAGS_login);
  for (absl::string_view spec :
       absl::StrSplit(absl::GetFlag(FLAGS_users), ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty() ||
        (parts[2] != "read" && parts[2] != "write")) {
      std::fprintf(stderr, "fakehub: --users: expected LOGIN:TOKEN:ROLE (read or write), got %s\n",
                   std::string(spec).c_str());
      return 2;
    }
    tasksentinel::fakehub::FakeUser user;
    user.login = parts[0];
    user.token = parts[1];
    user.role = parts[2];
    options.users.push_back(user);
  }
  for (absl::string_view t : absl::StrSplit(absl::GetFlag(FLAGS_token), ',', absl::SkipEmpty())) {
    options.tokens.emplace_back(t);
  }
  options.port = absl::GetFlag(FLAGS_port);
  options.faults.read_lag = absl::Milliseconds(absl::GetFlag(FLAGS_lag_ms));
  options.faults.latency = absl::Milliseconds(absl::GetFlag(FLAGS_latency_ms));
  options.faults.error_rate = absl::GetFlag(FLAGS_error_rate);
  options.limits.primary_limit = absl::GetFlag(FLAGS_primary_limit);
  options.limits.secondary_per_minute = absl::GetFlag(FLAGS_secondary_per_minute);
  options.limits.secondary_block = absl::Milliseconds(absl::GetFlag(FLAGS_secondary_block_ms));
  options.limits.secondary_retry_after = absl::GetFlag(FLAGS_secondary_retry_after);

  FakeHub hub(options);
  if (absl::Status s = hub.Start(); !s.ok()) {
    std::cerr << "fakehub: " << s.message() << std::endl;
    return 1;
  }
  std::cout << "fakehub listening on " << hub.base_url() << std::endl;  // flushes
  std::cerr << "fakehub: repository " << absl::GetFlag(FLAGS_owner) << "/"
            << absl::GetFlag(FLAGS_repo) << " (id " << absl::GetFlag(FLAGS_repo_id)
            << "); admin API at " << hub.base_url() << "/_fakehub/; in memory, not GitHub"
            << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "fakehub: stopping on signal " << sig << std::endl;
  hub.Stop();
  return 0;
}
