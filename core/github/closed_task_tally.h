// Counts the closed task issues of one terminal state (done or dead letter) without listing them
// all again: the first count lists them once; every later count lists only the issues updated
// since the latest update it has seen (GitHub's `since`, so an unchanged repository answers an
// empty page, usually a free 304), and each issue is counted once, by number. A repository with
// 5,000 done tasks thus costs one short list per GetClusterHealth, not 50 pages.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_CLOSED_TASK_TALLY_H_
#define TASK_SENTINEL_CORE_GITHUB_CLOSED_TASK_TALLY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/github/github_api.h"

namespace tasksentinel::github {

class ClosedTaskTally {
 public:
  // Counts closed issues carrying `label`.
  explicit ClosedTaskTally(std::string label);

  // Lists what changed since the last count and returns the number of closed issues with the
  // label that `admit` accepts (task intake).
  absl::StatusOr<uint32_t> Count(GitHubApi& api, const std::function<bool(const Issue&)>& admit)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::string label_;
  absl::Mutex mu_;
  absl::flat_hash_set<int64_t> counted_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> since_ ABSL_GUARDED_BY(mu_);  // the latest updated_at seen
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_CLOSED_TASK_TALLY_H_
