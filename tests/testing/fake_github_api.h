// FakeGitHubApi: an in-memory GitHub repository behind the GitHubApi seam, for tests of the
// GitHub coordination protocols (core/github/). Several coordinators (= several sidecars) share
// one fake, as they would share one repository.
//
// It keeps GitHub's semantics that the protocols rely on:
//   - GitHub's clock is the test's Clock: ServerNow() is Clock::Now(), and created_at/updated_at
//     are Clock::Now() truncated to the second (GitHub's resolution).
//   - Issue numbers and comment ids ascend in creation order (separate sequences; comment ids
//     start far above issue numbers so that a test confusing them fails).
//   - An issue PATCH with labels replaces the whole label set; deleting a comment is idempotent;
//     a body over 65,536 characters is refused (INVALID_ARGUMENT, GitHub's 422).
//   - Lists answer in ascending order (comments by id, issues by number) and honour `state`,
//     `labels` (all of them) and `since`.
// And the faults the protocols must survive:
//   - Read-visibility lag (SetLag): an issue or comment created while a lag is set is missing
//     from lists and GetIssue until that much time has passed on the clock. Writes always reach
//     it (the primary sees it). Lags change only what later creations get.
//   - Injected failures (FailNext): the next N calls (optionally of one method) fail with a given
//     status and change nothing.
//   - A write hook (SetWriteHook): called after every successful write, outside the fake's lock,
//     so a test can make another sidecar act in the middle of a protocol step.
// And it counts calls per method, reads, "unchanged" reads (the 304 a conditional GET would
// get: the same answer as the previous one to the same query; judged across all callers, which
// is exact for a single sidecar and an approximation for several), and writes by verb.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_TESTS_TESTING_FAKE_GITHUB_API_H_
#define TASK_SENTINEL_TESTS_TESTING_FAKE_GITHUB_API_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/github/github_api.h"

namespace tasksentinel {

// The calls of GitHubApi, for failure injection and counting.
enum class FakeGitHubMethod {
  kAny,
  kCurrentUser,
  kGetUser,
  kGetRepository,
  kListComments,
  kListIssues,
  kGetIssue,
  kCreateComment,
  kUpdateComment,
  kDeleteComment,
  kCreateIssue,
  kUpdateIssue,
};

// How many calls the fake has answered (successfully), by kind.
struct FakeGitHubCounts {
  int reads = 0;      // lists and gets, including unchanged ones
  int unchanged = 0;  // reads whose answer equalled the previous answer to the same query
  int posts = 0;      // CreateComment, CreateIssue
  int patches = 0;    // UpdateComment, UpdateIssue
  int deletes = 0;    // DeleteComment
  int failed = 0;     // calls that failed (injected or refused)
  int64_t issues_listed = 0;        // issues in every ListIssues answer, summed
  int closed_lists = 0;             // ListIssues queries that include closed issues
  int64_t max_comments_listed = 0;  // the longest ListComments answer
  std::map<FakeGitHubMethod, int> by_method;

  // Every write (content-creating request).
  int writes() const { return posts + patches + deletes; }
  // The requests that cost rate limit: every write and every read that was not unchanged.
  int costly_requests() const { return writes() + reads - unchanged; }
};

// A write that happened, as shown to the write hook.
struct FakeGitHubWrite {
  FakeGitHubMethod method = FakeGitHubMethod::kAny;
  int64_t issue_number = 0;  // the issue written to or whose comment was written
  int64_t comment_id = 0;    // for comment writes
  std::string body;          // the new body, if any
};

class FakeGitHubApi final : public github::GitHubApi {
 public:
  // `clock` must outlive the fake. The repository is "octo/sentinel"; the token's login `login`.
  explicit FakeGitHubApi(Clock* clock, std::string login = "sentinel-bot");

  // GitHubApi.
  absl::StatusOr<github::Account> CurrentUser() override;
  // Every login exists (with a stable id from UserId) except "nobody".
  absl::StatusOr<github::Account> GetUser(const std::string& login) override;
  absl::StatusOr<github::Repository> GetRepository() override;
  absl::StatusOr<github::Read<std::vector<github::Comment>>> ListComments(
      int64_t number, std::optional<absl::Time> since) override;
  absl::StatusOr<github::Read<std::vector<github::Issue>>> ListIssues(
      const github::IssueQuery& query) override;
  absl::StatusOr<github::Read<github::Issue>> GetIssue(int64_t number) override;
  absl::StatusOr<github::Comment> CreateComment(int64_t number, const std::string& body,
                                                github::WritePriority priority) override;
  absl::StatusOr<github::Comment> UpdateComment(int64_t comment_id, const std::string& body,
                                                github::WritePriority priority) override;
  absl::Status DeleteComment(int64_t comment_id, github::WritePriority priority) override;
  absl::StatusOr<github::Issue> CreateIssue(const github::IssueDraft& draft,
                                            github::WritePriority priority) override;
  absl::StatusOr<github::Issue> UpdateIssue(int64_t number, const github::IssuePatch& patch,
                                            github::WritePriority priority) override;
  absl::Time ServerNow() override;
  void SetWriteSharers(int sharers) override;
  // The latest SetWriteSharers value (1 before any).
  int write_sharers();

  // Faults.

  // Issues and comments created from now on stay out of lists and GetIssue for `lag`.
  void SetLag(absl::Duration lag);
  // The next `n` calls of `method` (kAny: of any method) fail with `status`.
  void FailNext(int n, absl::Status status, FakeGitHubMethod method = FakeGitHubMethod::kAny);
  // Called after every successful write, outside the fake's lock (nullptr: none).
  void SetWriteHook(std::function<void(const FakeGitHubWrite&)> hook);
  // Called before every write is applied (before injected failures are judged), outside the
  // fake's lock (nullptr: none): a test can advance the clock to make a write land late, as a
  // write delayed in flight would. `issue_number` is 0 for comment edits and deletes.
  void SetBeforeWriteHook(std::function<void(const FakeGitHubWrite&)> hook);

  // Counters.
  FakeGitHubCounts counts();
  void ResetCounts();

  // Direct access for tests, ignoring lag and not counted.

  // Posts a comment as another user (a person, or another tool).
  int64_t AddComment(int64_t number, const std::string& body, const std::string& author);
  // Opens an issue as another user.
  int64_t AddIssue(const std::string& title, const std::string& body,
                   const std::vector<std::string>& labels, const std::string& author);
  // Replaces a comment's body as a person with write access would by hand (the author stays).
  void EditComment(int64_t comment_id, const std::string& body);
  // The numeric id of the account `login` (assigned on first use, stable).
  int64_t UserId(const std::string& login);
  // Every comment of an issue (visible or not), ascending id.
  std::vector<github::Comment> AllComments(int64_t number);
  // An issue as stored; nullopt when it does not exist.
  std::optional<github::Issue> PeekIssue(int64_t number);
  // Every issue, ascending number.
  std::vector<github::Issue> AllIssues();

 private:
  struct StoredComment {
    github::Comment comment;
    absl::Time visible_at;
  };
  struct StoredIssue {
    github::Issue issue;
    absl::Time visible_at;
  };

  int64_t UserIdLocked(const std::string& login) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The second-resolution GitHub timestamp for now.
  absl::Time Stamp() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An injected failure for `method`, if one is due (consumes it); counts the call.
  std::optional<absl::Status> Begin(FakeGitHubMethod method) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a successful read of `query` answering `fingerprint`; returns whether it is unchanged.
  bool CountRead(FakeGitHubMethod method, const std::string& query,
                 const std::string& fingerprint) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountWrite(FakeGitHubMethod method) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls the hook (mu_ not held).
  void RunHook(const FakeGitHubWrite& write) ABSL_LOCKS_EXCLUDED(mu_);
  void RunBeforeHook(const FakeGitHubWrite& write) ABSL_LOCKS_EXCLUDED(mu_);

  Clock* const clock_;
  const std::string login_;
  absl::Mutex mu_;
  int64_t next_issue_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_comment_ ABSL_GUARDED_BY(mu_) = 1'000'001;
  std::map<int64_t, StoredIssue> issues_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, StoredComment> comments_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> user_ids_ ABSL_GUARDED_BY(mu_);
  int write_sharers_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Duration lag_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  struct Failure {
    FakeGitHubMethod method;
    absl::Status status;
  };
  std::vector<Failure> failures_ ABSL_GUARDED_BY(mu_);
  std::function<void(const FakeGitHubWrite&)> hook_ ABSL_GUARDED_BY(mu_);
  std::function<void(const FakeGitHubWrite&)> before_hook_ ABSL_GUARDED_BY(mu_);
  FakeGitHubCounts counts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> last_answer_ ABSL_GUARDED_BY(mu_);  // query -> fingerprint
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_TESTS_TESTING_FAKE_GITHUB_API_H_
