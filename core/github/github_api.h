// The seam between the GitHub coordination protocols (core/github/) and GitHub's REST API: the
// handful of calls the protocols need, in GitHub's own terms. The production implementation
// (service/github/curl_github_api.h) speaks HTTP through libcurl, with conditional requests,
// pagination, rate-limit handling and the write queue; tests use FakeGitHubApi
// (tests/testing/fake_github_api.h), an in-memory repository with injectable lag and faults.
//
// Errors (absl::Status codes):
//   NOT_FOUND            404, and 410 for a deleted issue
//   INVALID_ARGUMENT     422 (e.g. a body over 65,536 characters), 400
//   UNAUTHENTICATED      401 (bad token)
//   PERMISSION_DENIED    403 other than a rate limit
//   RESOURCE_EXHAUSTED   a primary or secondary rate limit, or the write budget, blocks the call;
//                        the message says until when
//   UNAVAILABLE          5xx, time-outs and connection failures that outlasted the retries
//   DEADLINE_EXCEEDED    a write waited in the queue past its deadline
// Messages never contain the token.
//
// Thread safety: implementations are safe for concurrent use. Writes are sent one at a time.
#ifndef TASK_SENTINEL_CORE_GITHUB_GITHUB_API_H_
#define TASK_SENTINEL_CORE_GITHUB_GITHUB_API_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tasksentinel::github {

// A GitHub account (a person, or an app's bot "name[bot]"). The id never changes; a login can be
// renamed and later re-registered by someone else, so trust is keyed on the id.
struct Account {
  std::string login;
  int64_t id = 0;
};

// An issue comment. Times are GitHub's (second resolution).
struct Comment {
  int64_t id = 0;  // ascending in creation order
  int64_t issue_number = 0;
  std::string body;
  std::string author;     // user.login
  int64_t author_id = 0;  // user.id (0 when GitHub gave none, e.g. a deleted account)
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();
};

// An issue (never a pull request: the API implementation drops those).
struct Issue {
  int64_t number = 0;
  std::string title;
  std::string body;
  bool open = true;
  std::vector<std::string> labels;  // names
  std::string author;     // user.login
  int64_t author_id = 0;  // user.id
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();
};

// Which issues to list.
struct IssueQuery {
  enum class State { kOpen, kClosed, kAll };
  State state = State::kOpen;
  std::vector<std::string> labels;  // all of them (GitHub's `labels=a,b`)
  std::optional<absl::Time> since;  // updated at or after
};

// A new issue.
struct IssueDraft {
  std::string title;
  std::string body;
  std::vector<std::string> labels;
};

// Changes to an issue; unset fields stay as they are. `labels` replaces the whole set.
struct IssuePatch {
  std::optional<std::string> title;
  std::optional<std::string> body;
  std::optional<bool> open;
  std::optional<std::vector<std::string>> labels;
};

// How urgent a write is: when the write budget is short, lower values go first.
enum class WritePriority {
  kClaim = 0,      // lock claims, task completion
  kRelease = 1,    // releases and withdrawals
  kMemory = 2,     // memory flushes
  kHeartbeat = 3,  // heartbeats
  kCleanup = 4,    // removing records nobody needs any more (old epochs' registrations)
};

// The repository, as checked at start-up.
struct Repository {
  std::string full_name;  // owner/name
  bool has_issues = true;
};

// A read's answer, with GitHub's clock at the time of the answer (its `Date` header).
template <typename T>
struct Read {
  T value;
  absl::Time server_time = absl::UnixEpoch();
  bool not_modified = false;  // answered 304 from the cache (free of primary rate limit)
};

// What the API implementation refused to believe or to read, for metrics.
struct ApiCounters {
  int64_t dates_ignored = 0;      // `Date` headers that jumped further than the local clock allows
  int64_t oversized_answers = 0;  // answers refused for their size
};

class GitHubApi {
 public:
  virtual ~GitHubApi() = default;

  // The implementation's counters (none by default).
  virtual ApiCounters counters() const { return {}; }

  // Tells the write budget that `sharers` live sidecars (this one included) write as the same
  // identity, so that this one keeps to its share (no-op by default).
  virtual void SetWriteSharers(int sharers) { (void)sharers; }

  // The token's account (GET /user).
  virtual absl::StatusOr<Account> CurrentUser() = 0;

  // The account called `login` (GET /users/{login}); NOT_FOUND when there is none.
  virtual absl::StatusOr<Account> GetUser(const std::string& login) = 0;

  // The configured repository (GET /repos/{owner}/{repo}).
  virtual absl::StatusOr<Repository> GetRepository() = 0;

  // Every comment of issue `number` in ascending id order (all pages); with `since`, those
  // updated at or after it. Conditional: an unchanged list costs no primary rate limit.
  virtual absl::StatusOr<Read<std::vector<Comment>>> ListComments(
      int64_t number, std::optional<absl::Time> since) = 0;

  // Every issue matching `query` (all pages, pull requests dropped), oldest first.
  // Conditional like ListComments.
  virtual absl::StatusOr<Read<std::vector<Issue>>> ListIssues(const IssueQuery& query) = 0;

  // One issue. NOT_FOUND also for a deleted (410) issue.
  virtual absl::StatusOr<Read<Issue>> GetIssue(int64_t number) = 0;

  // Writes: sent serially, spaced, within the write budget, by priority.
  virtual absl::StatusOr<Comment> CreateComment(int64_t number, const std::string& body,
                                                WritePriority priority) = 0;
  virtual absl::StatusOr<Comment> UpdateComment(int64_t comment_id, const std::string& body,
                                                WritePriority priority) = 0;
  // OK also when the comment is already gone (404): deleting is idempotent.
  virtual absl::Status DeleteComment(int64_t comment_id, WritePriority priority) = 0;
  virtual absl::StatusOr<Issue> CreateIssue(const IssueDraft& draft, WritePriority priority) = 0;
  virtual absl::StatusOr<Issue> UpdateIssue(int64_t number, const IssuePatch& patch,
                                            WritePriority priority) = 0;

  // GitHub's clock now: the latest `Date` seen plus the local time elapsed since.
  virtual absl::Time ServerNow() = 0;
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_GITHUB_API_H_
