// Counting closed task issues incrementally (see closed_task_tally.h).
#include "core/github/closed_task_tally.h"

#include <utility>

namespace tasksentinel::github {

ClosedTaskTally::ClosedTaskTally(std::string label) : label_(std::move(label)) {}

absl::StatusOr<uint32_t> ClosedTaskTally::Count(GitHubApi& api,
                                                const std::function<bool(const Issue&)>& admit) {
  absl::MutexLock lock(&mu_);
  IssueQuery query;
  query.state = IssueQuery::State::kClosed;
  query.labels = {label_};
  query.since = since_;  // inclusive: the issues of that second come again and are skipped
  absl::StatusOr<Read<std::vector<Issue>>> read = api.ListIssues(query);
  if (!read.ok()) return read.status();
  for (const Issue& issue : read->value) {
    if (!since_.has_value() || issue.updated_at > *since_) since_ = issue.updated_at;
    if (admit(issue)) counted_.insert(issue.number);
  }
  return static_cast<uint32_t>(counted_.size());
}

}  // namespace tasksentinel::github
