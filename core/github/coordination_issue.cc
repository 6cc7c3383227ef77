// Finding or creating the coordination issue (see coordination_issue.h).
#include "core/github/coordination_issue.h"

#include <algorithm>

namespace tasksentinel::github {

void SleepFor(Clock& clock, absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  static const bool kNever = false;
  clock.AwaitWithTimeout(&mu, absl::Condition(&kNever), d);
}

const WellKnownIssue& CoordinationIssueKind() {
  static const WellKnownIssue kKind{
      kCoordinationLabel, kCoordinationTitle,
      "Task Sentinel sidecars coordinate through the comments of this issue: worker "
      "registrations and leases, and shared memory. Please do not edit or delete its comments, "
      "and keep it open."};
  return kKind;
}

const WellKnownIssue& LocksIssueKind() {
  static const WellKnownIssue kKind{
      kLocksLabel, kLocksTitle,
      "Task Sentinel sidecars take named locks through the comments of this issue: a lock is "
      "held by the earliest live claim comment naming it. Please do not edit or delete its "
      "comments, and keep it open."};
  return kKind;
}

CoordinationIssue::CoordinationIssue(GitHubApi* api, Clock* clock, absl::Duration settle,
                                     int retries, const WellKnownIssue& kind,
                                     const RecordScreen* screen)
    : api_(api), clock_(clock), settle_(settle), retries_(retries), kind_(kind), screen_(screen) {}

std::optional<int64_t> CoordinationIssue::Known() {
  absl::MutexLock lock(&mu_);
  return number_;
}

absl::StatusOr<int64_t> CoordinationIssue::Number() {
  absl::MutexLock lock(&mu_);  // held across the search: one search per sidecar
  if (number_.has_value()) return *number_;
  absl::StatusOr<int64_t> found = FindOrCreate();
  if (found.ok()) number_ = *found;
  return found;
}

absl::StatusOr<std::optional<int64_t>> CoordinationIssue::Existing() {
  absl::MutexLock lock(&mu_);
  if (number_.has_value()) return number_;
  bool seen = false;
  absl::StatusOr<std::optional<int64_t>> lowest = Lowest(std::nullopt, &seen);
  if (!lowest.ok()) return lowest.status();
  if (lowest->has_value()) number_ = **lowest;
  return *lowest;
}

absl::StatusOr<std::optional<int64_t>> CoordinationIssue::Lowest(std::optional<int64_t> must_see,
                                                                bool* seen) {
  IssueQuery query;
  query.state = IssueQuery::State::kOpen;
  query.labels = {kind_.label};
  absl::StatusOr<Read<std::vector<Issue>>> read = api_->ListIssues(query);
  if (!read.ok()) return read.status();
  std::optional<int64_t> lowest;
  *seen = !must_see.has_value();
  for (const Issue& issue : read->value) {
    if (screen_ != nullptr && !screen_->Trusts(issue.author_id)) continue;
    if (!lowest.has_value() || issue.number < *lowest) lowest = issue.number;
    if (must_see.has_value() && issue.number == *must_see) *seen = true;
  }
  return lowest;
}

absl::StatusOr<int64_t> CoordinationIssue::FindOrCreate() {
  bool seen = false;
  absl::StatusOr<std::optional<int64_t>> lowest = Lowest(std::nullopt, &seen);
  if (!lowest.ok()) return lowest.status();
  if (lowest->has_value()) return **lowest;

  IssueDraft draft;
  draft.title = kind_.title;
  draft.body = kind_.body;
  draft.labels = {kind_.label};
  absl::StatusOr<Issue> mine = api_->CreateIssue(draft, WritePriority::kClaim);
  if (!mine.ok()) return mine.status();

  // Another sidecar may have created one at the same time: the lowest number wins.
  std::optional<int64_t> winner;
  for (int attempt = 0; attempt <= retries_; ++attempt) {
    SleepFor(*clock_, settle_);
    lowest = Lowest(mine->number, &seen);
    if (!lowest.ok()) return lowest.status();
    if (lowest->has_value()) winner = std::min(**lowest, mine->number);
    if (seen) break;
  }
  if (!winner.has_value()) winner = mine->number;
  if (*winner != mine->number) {
    IssuePatch close;
    close.open = false;
    // Best effort: an extra open issue with a higher number is ignored by everyone.
    (void)api_->UpdateIssue(mine->number, close, WritePriority::kRelease);
  }
  return *winner;
}

}  // namespace tasksentinel::github
