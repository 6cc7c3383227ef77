// The coordination issue: the one open issue (labelled `sentinel:coordination`) that holds the
// workers' registrations, the named locks' claims and the shared memory. Every sidecar finds it
// at start-up, or creates it when there is none.
//
// Why it is safe: two sidecars starting together may both find none and both create one. Each
// then lists again (after the claim settle delay, a few times while its own is not visible yet),
// and every sidecar keeps the lowest-numbered open one: issue numbers ascend, so all agree; the
// loser closes its own, which nobody else uses. Under read lag a sidecar could for a while see
// only its own issue; the re-list after the settle delay makes that rare, and the loser's
// closing makes it heal.
//
// Thread safety: safe for concurrent use; the issue is found once and remembered.
#ifndef TASK_SENTINEL_CORE_GITHUB_COORDINATION_ISSUE_H_
#define TASK_SENTINEL_CORE_GITHUB_COORDINATION_ISSUE_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/github/github_api.h"

namespace tasksentinel::github {

inline constexpr char kCoordinationLabel[] = "sentinel:coordination";
inline constexpr char kCoordinationTitle[] = "Task Sentinel coordination";

class CoordinationIssue {
 public:
  // `api` and `clock` must outlive this. `settle` is how long a new issue is given to become
  // visible; `retries` how many more lists wait for it.
  CoordinationIssue(GitHubApi* api, Clock* clock, absl::Duration settle, int retries);

  // The coordination issue's number, found or created on first use.
  absl::StatusOr<int64_t> Number() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<int64_t> FindOrCreate();
  // The lowest-numbered open coordination issue, if any is visible.
  absl::StatusOr<std::optional<int64_t>> Lowest(std::optional<int64_t> must_see, bool* seen);

  GitHubApi* const api_;
  Clock* const clock_;
  const absl::Duration settle_;
  const int retries_;
  absl::Mutex mu_;
  std::optional<int64_t> number_ ABSL_GUARDED_BY(mu_);
};

// Waits `d` on `clock` (a FakeClock jumps ahead instead of sleeping).
void SleepFor(Clock& clock, absl::Duration d);

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_COORDINATION_ISSUE_H_
