// FakeHub: an in-memory GitHub for tests and local demos. It serves, over real HTTP
// (cpp-httplib on 127.0.0.1), exactly the REST calls the GitHub coordination backend makes
// (core/github/github_api.h; facts in docs/protocol.md), in GitHub's shapes as recorded in
// tests/fixtures/github/:
//
//   GET    /user
//   GET    /users/{login}                          accounts the fake knows (else 404)
//   GET    /repos/{o}/{r}
//   GET    /repos/{o}/{r}/issues                   state, labels=a,b (all), since, sort,
//                                                  direction, per_page (<= 100, default 30), page
//   POST   /repos/{o}/{r}/issues                   201 + Location
//   GET    /repos/{o}/{r}/issues/{n}               410 once deleted
//   PATCH  /repos/{o}/{r}/issues/{n}               title, body, state, state_reason, labels
//                                                  (labels replace the set)
//   GET    /repos/{o}/{r}/issues/{n}/labels
//   POST   /repos/{o}/{r}/issues/{n}/labels        add: {"labels":[...]} or a bare array
//   PUT    /repos/{o}/{r}/issues/{n}/labels        replace
//   DELETE /repos/{o}/{r}/issues/{n}/labels/{name} 404 when not on the issue
//   GET    /repos/{o}/{r}/issues/{n}/comments      ascending id, since (updated_at), paging
//   POST   /repos/{o}/{r}/issues/{n}/comments      201 + Location
//   GET    /repos/{o}/{r}/issues/comments          every comment of the repository
//   GET    /repos/{o}/{r}/issues/comments/{id}
//   PATCH  /repos/{o}/{r}/issues/comments/{id}
//   DELETE /repos/{o}/{r}/issues/comments/{id}     204
// and the same under /repositories/{repo_id}/..., the form its `Link` headers use. Every answer
// carries `Date` (from the fake's clock, see SetClockOffset) and `x-ratelimit-*`; successful
// answers with a body carry a weak `ETag`, and a GET whose `If-None-Match` matches answers 304
// without a body and without spending rate limit. Requests need a `User-Agent` (else 403) and a
// token (`Authorization: Bearer T` or `token T`, else 401). Ids of issues, comments and labels
// come from one ascending counter. Bodies over 65,536 characters get 422, malformed JSON 400,
// unknown paths (and trailing slashes) 404.
//
// Beyond GitHub, for tests: fault injection (5xx, added latency, dropped connections, a
// read-visibility lag for lists), forcing the secondary rate limit, a request log with counts,
// seeding and reading state, and a movable clock; all from C++ and from an admin HTTP API under
// /_fakehub/ (documented in docs/fakehub.md) so that tests can drive a fakehub process too. Admin
// requests need no token, are never faulted and are not logged.
//
// All rate-limit windows, blocks, lags and timestamps run on the fake's clock (real time plus an
// offset), so a test can end a block or a lag by advancing the clock instead of sleeping.
//
// Thread safety: every method may be called from any thread while requests are being served.
// Start() makes the process ignore SIGPIPE (dropped connections would otherwise kill it).
#ifndef TASK_SENTINEL_TESTS_FAKEHUB_FAKEHUB_H_
#define TASK_SENTINEL_TESTS_FAKEHUB_FAKEHUB_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace tasksentinel::fakehub {

// A repository the fake hosts.
struct RepoSpec {
  std::string owner;
  std::string name;
  int64_t id = 0;          // 0: assigned (1000, 1001, ...)
  bool has_issues = true;  // false: issue endpoints answer 410 "Issues are disabled"
};

// Fault injection. Applied in this order to each (non-admin) request: latency, drop, 5xx.
struct Faults {
  absl::Duration latency = absl::ZeroDuration();  // added before answering
  double drop_rate = 0;   // probability of closing the connection without an answer
  int drop_next = 0;      // the next N requests are dropped (then counts down)
  // The next N issue creations (POST .../issues) are carried out, then their connection is
  // closed without the answer: the client cannot tell whether the write happened.
  int lose_answer_next = 0;
  double error_rate = 0;  // probability of a 5xx answer
  int error_next = 0;     // the next N requests answer 5xx (then counts down)
  int error_status = 502;
  // Lists (issues, comments) leave out an issue or comment for this long after its creation;
  // fetching it by number or id sees it at once. Applies to objects created while it is set.
  absl::Duration read_lag = absl::ZeroDuration();
  // The next N answers carry a `Date` this far from the fake's clock (then counts down): a
  // GitHub, or a proxy, answering with a wrong clock.
  int skewed_date_next = 0;
  absl::Duration date_skew = absl::Hours(24 * 365 * 10);
};

// Rate limits (GitHub's defaults).
struct RateLimits {
  int primary_limit = 5000;  // requests per window; 304s are free
  absl::Duration primary_window = absl::Hours(1);
  // Content-creating requests (POST, PATCH, PUT, DELETE) allowed per sliding minute; one more
  // starts a secondary block. Reads are never blocked by it.
  int secondary_per_minute = 80;
  absl::Duration secondary_block = absl::Seconds(60);
  bool secondary_retry_after = true;  // send `retry-after` with a secondary 403
};

// Another account, with its own token. GitHub's roles as far as issues go: "read" may open
// issues (labels it asks for are dropped), comment, and edit or delete its own comments and edit
// its own issues (not their labels); "write" may also label and edit or delete anyone's comments.
struct FakeUser {
  std::string login;
  int64_t id = 0;  // 0: assigned
  std::string token;
  std::string role = "read";  // "read" or "write"
};

// A GitHub App installed on the hosted repositories. GET /app and
// POST /app/installations/{id}/access_tokens need a JWT signed with the app's key (RS256,
// `iss` = app_id, not expired); the installation tokens they hand out act as "SLUG[bot]" (write
// role) and stop working after `token_lifetime` (GitHub: an hour).
struct FakeApp {
  std::string app_id;
  std::string slug;
  std::string public_key_pem;
  int64_t installation_id = 0;
  absl::Duration token_lifetime = absl::Hours(1);
};

struct FakeHubOptions {
  // At least one; the first is the default `repo` of the state methods below.
  std::vector<RepoSpec> repos = {RepoSpec{"fakehub", "tasks", 1000, true}};
  std::string login = "fakehub-user";  // GET /user, and the author of what requests create
  int64_t user_id = 583231;
  // Accepted tokens; empty: any non-empty token. They all act as `login` (role write).
  std::vector<std::string> tokens;
  // More accounts (their tokens act as them and are always accepted).
  std::vector<FakeUser> users;
  // A GitHub App, if any.
  std::optional<FakeApp> app;
  RateLimits limits;
  Faults faults;
  absl::Duration clock_offset = absl::ZeroDuration();  // the fake's clock = real time + offset
  int port = 0;                                        // 0: a free port
  int threads = 32;  // serving threads (each keep-alive connection holds one while open)
};

// An issue (or pull request) as stored.
struct IssueState {
  int64_t id = 0;
  int64_t number = 0;
  std::string title;
  std::optional<std::string> body;  // null when created without one
  bool open = true;
  std::optional<std::string> state_reason;  // completed, not_planned, reopened
  std::vector<std::string> labels;          // names, in the order added
  bool pull_request = false;
  bool deleted = false;  // answers 410
  std::string user;      // login
  int comments = 0;
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();
  std::optional<absl::Time> closed_at;
};

// An issue comment as stored.
struct CommentState {
  int64_t id = 0;
  int64_t issue_number = 0;
  std::string body;
  std::string user;  // login
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();
};

// What to seed (seeded objects are visible at once, whatever the read lag).
struct IssueSeed {
  std::string title;
  std::optional<std::string> body = std::nullopt;
  std::vector<std::string> labels = {};
  bool open = true;
  bool pull_request = false;
  std::string user = "";  // empty: the options' login
};
struct CommentSeed {
  int64_t issue_number = 0;
  std::string body;
  std::string user = "";  // empty: the options' login
};

// One served request (admin requests are not logged).
struct LogEntry {
  std::string method;
  std::string path;               // decoded, without the query
  std::string query;              // raw
  int status = 0;                 // 0 when dropped
  bool not_modified = false;      // answered 304
  bool content_creating = false;  // POST, PATCH, PUT or DELETE
  bool dropped = false;
  absl::Time at = absl::UnixEpoch();  // fake clock
};

// Counts over the request log.
struct LogCounts {
  int64_t total = 0;
  int64_t not_modified = 0;
  int64_t content_creating = 0;
  int64_t dropped = 0;
  std::map<std::string, int64_t> by_method;
  std::map<int, int64_t> by_status;
};

// The primary and secondary limit as they stand.
struct RateLimitState {
  int limit = 0;
  int used = 0;
  int remaining = 0;
  absl::Time reset = absl::UnixEpoch();  // end of the primary window
  absl::Time secondary_blocked_until = absl::InfinitePast();
  int content_creating_last_minute = 0;
};

namespace internal {
// Stored records (defined in fakehub.cc).
struct Repo;
struct IssueRec;
struct CommentRec;
struct Label;

// One HTTP answer before it is written out.
struct Answer {
  int status = 200;
  std::string body;  // JSON unless content_type says otherwise
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
};
}  // namespace internal

class FakeHub {
 public:
  explicit FakeHub(FakeHubOptions options = {});
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  // Binds 127.0.0.1:options.port (0 = a free port) and serves on a thread of its own.
  // UNAVAILABLE when the port cannot be bound; FAILED_PRECONDITION when already started;
  // INVALID_ARGUMENT for bad options (no repository, duplicate repositories).
  absl::Status Start();
  // Stops serving and joins the serving thread. Idempotent; also done by the destructor.
  void Stop();

  // The bound port (0 before Start) and "http://127.0.0.1:PORT".
  int port() const;
  std::string base_url() const;

  // --- Repositories. `repo` arguments below are "owner/name"; empty means the first one.
  absl::Status AddRepository(const RepoSpec& spec);
  std::vector<RepoSpec> Repositories() const;

  // --- Seeding and state.
  absl::StatusOr<IssueState> SeedIssue(const IssueSeed& seed, const std::string& repo = "");
  absl::StatusOr<CommentState> SeedComment(const CommentSeed& seed, const std::string& repo = "");
  // Marks an issue deleted: GET answers 410 and lists leave it out. NOT_FOUND if absent.
  absl::Status DeleteIssue(int64_t number, const std::string& repo = "");
  // Every issue (pull requests and deleted ones included), by number.
  std::vector<IssueState> Issues(const std::string& repo = "") const;
  std::optional<IssueState> Issue(int64_t number, const std::string& repo = "") const;
  // The comments of one issue, or with `issue_number` 0 of the whole repository, by id.
  std::vector<CommentState> Comments(int64_t issue_number, const std::string& repo = "") const;
  std::optional<CommentState> Comment(int64_t id, const std::string& repo = "") const;

  // --- Faults.
  Faults faults() const;
  void SetFaults(const Faults& faults);
  void SetReadLag(absl::Duration lag);
  void SetLatency(absl::Duration latency);
  void SetErrorRate(double probability, int status = 502);
  void FailNext(int n, int status = 502);
  void SetDropRate(double probability);
  void DropNext(int n);
  // The next `n` issue creations are applied but answered by closing the connection (a lost
  // answer).
  void LoseAnswerNext(int n);

  // --- Rate limits.
  RateLimits limits() const;
  // Takes effect at once; the current window's usage is kept.
  void SetLimits(const RateLimits& limits);
  void SetPrimaryLimit(int limit);
  void SetSecondaryLimit(int per_minute, absl::Duration block, bool retry_after);
  // Starts a secondary block now, for `block` or else the configured duration.
  void ForceSecondaryLimit(std::optional<absl::Duration> block = std::nullopt);
  // Starts a fresh primary window and lifts any secondary block.
  void ResetRateLimits();
  RateLimitState rate_limit() const;

  // --- Clock.
  absl::Time Now() const;
  absl::Duration clock_offset() const;
  void SetClockOffset(absl::Duration offset);
  void AdvanceClock(absl::Duration by);

  // --- Tokens (empty: any non-empty token).
  void SetAcceptedTokens(std::vector<std::string> tokens);
  // How many installation tokens the app endpoint handed out.
  int64_t installation_tokens_issued() const;

  // --- Request log.
  std::vector<LogEntry> RequestLog() const;
  LogCounts Counts() const;
  void ResetLog();

 private:
  using Repo = internal::Repo;
  using IssueRec = internal::IssueRec;
  using CommentRec = internal::CommentRec;
  using Label = internal::Label;
  using Answer = internal::Answer;

  // The httplib entry point for every method and path.
  void Serve(const httplib::Request& req, httplib::Response& res);
  // A GitHub API request, after latency and drops; takes mu_.
  Answer HandleApi(const httplib::Request& req);
  // Routes an authenticated, rate-limit-admitted request. Requires mu_.
  Answer Dispatch(const httplib::Request& req, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The /_fakehub/ admin API (admin.cc); uses only the public methods.
  Answer HandleAdmin(const httplib::Request& req);

  // Endpoint handlers (each requires mu_).
  Answer GetUser(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer GetUserByLogin(const std::string& login, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // GET /app and POST /app/installations/{id}/access_tokens, the JWT already verified.
  Answer AppEndpoint(const std::vector<std::string>& seg, const std::string& method, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // 403 unless the caller may write or is `author`.
  std::optional<Answer> RequireWriteOrAuthor(const std::string& author)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer GetRepo(const Repo& repo) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `link_base` is the list's URL in the /repositories/{id}/ form, for `Link`.
  Answer ListIssues(const Repo& repo, const httplib::Request& req, const std::string& link_base,
                    absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer CreateIssue(Repo& repo, const httplib::Request& req, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer GetIssue(const Repo& repo, const IssueRec& issue) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer UpdateIssue(Repo& repo, IssueRec& issue, const httplib::Request& req, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer IssueLabels(Repo& repo, IssueRec& issue, const httplib::Request& req, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer RemoveIssueLabel(Repo& repo, IssueRec& issue, const std::string& name, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `issue` null: every comment of the repository.
  Answer ListComments(const Repo& repo, const IssueRec* issue, const httplib::Request& req,
                      const std::string& link_base, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer CreateComment(Repo& repo, IssueRec& issue, const httplib::Request& req, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer CommentById(Repo& repo, int64_t id, const httplib::Request& req, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // State helpers (each requires mu_).
  // By "owner/name" (case-insensitively; empty: the first) or by id; null when unknown.
  Repo* FindRepo(const std::string& full_name) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Repo* FindRepoById(int64_t id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddRepositoryLocked(const RepoSpec& spec) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NextId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return next_id_++; }
  int64_t UserId(const std::string& login) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The repository's label named `name` (case-insensitively), created when missing.
  const Label& EnsureLabel(Repo& repo, const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  IssueRec& NewIssue(Repo& repo, const std::string& title, std::optional<std::string> body,
                     const std::vector<std::string>& labels, const std::string& user,
                     absl::Time now, absl::Time visible_at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  CommentRec& NewComment(Repo& repo, IssueRec& issue, const std::string& body,
                         const std::string& user, absl::Time now, absl::Time visible_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RollPrimaryWindow(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PruneSecondaryWindow(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddRateHeaders(Answer& answer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Chance(double probability) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Log(const LogEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // "http://127.0.0.1:PORT": the prefix of every URL in answers.
  std::string ApiBase() const { return base_url(); }

  const int requested_port_;
  const int threads_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<int> port_{0};

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Repo>> repos_ ABSL_GUARDED_BY(mu_);
  std::string login_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> user_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<FakeUser> users_ ABSL_GUARDED_BY(mu_);
  std::optional<FakeApp> app_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> installation_tokens_ ABSL_GUARDED_BY(mu_);  // -> expiry
  int64_t installation_tokens_issued_ ABSL_GUARDED_BY(mu_) = 0;
  // The account of the request being handled, and whether it may write (label, moderate).
  std::string caller_ ABSL_GUARDED_BY(mu_);
  bool caller_writes_ ABSL_GUARDED_BY(mu_) = true;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 100001;
  int64_t next_repo_id_ ABSL_GUARDED_BY(mu_) = 1000;
  int64_t request_counter_ ABSL_GUARDED_BY(mu_) = 0;
  Faults faults_ ABSL_GUARDED_BY(mu_);
  RateLimits limits_ ABSL_GUARDED_BY(mu_);
  absl::Duration clock_offset_ ABSL_GUARDED_BY(mu_);
  int primary_used_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time primary_reset_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Time> secondary_window_ ABSL_GUARDED_BY(mu_);
  absl::Time secondary_blocked_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::deque<LogEntry> log_ ABSL_GUARDED_BY(mu_);  // the latest kMaxLogEntries
  LogCounts counts_ ABSL_GUARDED_BY(mu_);          // over every request since ResetLog
  absl::Status init_status_ ABSL_GUARDED_BY(mu_);  // from the options' repositories
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel::fakehub

#endif  // TASK_SENTINEL_TESTS_FAKEHUB_FAKEHUB_H_
