// The sidecars' well-known issues, each the one open issue carrying its label:
//   - the coordination issue (`sentinel:coordination`) holds the workers' registrations and the
//     shared memory; every sidecar finds it at start-up, or creates it when there is none;
//   - the locks issue (`sentinel:locks`) holds the claims of named locks (a task's lock lives on
//     the task's issue); found or created when the first named lock is taken, so a deployment
//     that only runs tasks never has one. Kept apart from the coordination issue, whose list
//     changes with every heartbeat, so that looking at the locks is answered by 304s while they
//     do not change.
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
#include "core/github/trust.h"

namespace tasksentinel::github {

inline constexpr char kCoordinationLabel[] = "sentinel:coordination";
inline constexpr char kCoordinationTitle[] = "Task Sentinel coordination";
inline constexpr char kLocksLabel[] = "sentinel:locks";
inline constexpr char kLocksTitle[] = "Task Sentinel locks";

// Which well-known issue: its label, and the title and body it is created with.
struct WellKnownIssue {
  const char* label;
  const char* title;
  const char* body;
};
// The coordination issue (registrations, memory).
const WellKnownIssue& CoordinationIssueKind();
// The locks issue (named locks' claims).
const WellKnownIssue& LocksIssueKind();

class CoordinationIssue {
 public:
  // `api`, `clock` and `screen` must outlive this. `settle` is how long a new issue is given to
  // become visible; `retries` how many more lists wait for it. `kind` says which issue. Only
  // issues opened by a trusted author (`screen`; every author when null) are candidates, so
  // that nobody else can plant a lower-numbered coordination issue.
  CoordinationIssue(GitHubApi* api, Clock* clock, absl::Duration settle, int retries,
                    const WellKnownIssue& kind = CoordinationIssueKind(),
                    const RecordScreen* screen = nullptr);

  // The issue's number, found or created on first use.
  absl::StatusOr<int64_t> Number() ABSL_LOCKS_EXCLUDED(mu_);
  // The issue's number if it exists (one conditional list until it is found); creates nothing.
  absl::StatusOr<std::optional<int64_t>> Existing() ABSL_LOCKS_EXCLUDED(mu_);
  // The issue's number if it was found already; sends nothing.
  std::optional<int64_t> Known() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<int64_t> FindOrCreate();
  // The lowest-numbered open coordination issue, if any is visible.
  absl::StatusOr<std::optional<int64_t>> Lowest(std::optional<int64_t> must_see, bool* seen);

  GitHubApi* const api_;
  Clock* const clock_;
  const absl::Duration settle_;
  const int retries_;
  const WellKnownIssue kind_;
  const RecordScreen* const screen_;
  absl::Mutex mu_;
  std::optional<int64_t> number_ ABSL_GUARDED_BY(mu_);
};

// Waits `d` on `clock` (a FakeClock jumps ahead instead of sleeping).
void SleepFor(Clock& clock, absl::Duration d);

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_COORDINATION_ISSUE_H_
