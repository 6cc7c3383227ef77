// The production GitHubApi: GitHub's REST API over HTTP through libcurl.
//
// - Every request carries `Authorization: Bearer <token>`, `Accept: application/vnd.github+json`,
//   `X-GitHub-Api-Version: 2022-11-28` and the configured `User-Agent`. Connections are kept
//   alive: CURL easy handles are pooled and reused (one per concurrent call).
// - Lists ask for `per_page=100` and follow `Link: rel="next"` exactly as GitHub gives it (the
//   `/repositories/{id}/...` form), never rebuilding URLs, never assuming one page. A next link
//   that leaves the API's origin is refused (the token is never sent elsewhere).
// - Reads are conditional: an ETag cache keyed by URL (each page separately) holds the ETag and
//   body; requests send `If-None-Match` and a 304 is answered from the cache. `Read::not_modified`
//   is true only when every page was a 304.
// - `Read::server_time` is the first page's `Date`; ServerNow() is the latest `Date` plus the
//   local (Clock) time elapsed since.
// - Rate limits: every answer feeds a RateLimitState; while it blocks, calls fail at once with
//   RESOURCE_EXHAUSTED and send nothing.
// - Writes go through a WriteQueue (serial, spaced, per-minute and per-hour windows, by
//   priority); a write waits at most `write_deadline` for its turn.
// - 5xx answers, connection failures and time-outs are retried up to `max_retries` times with
//   jittered exponential backoff (`retry_base` * 2^n, times a random factor in [0.5, 1)), for
//   reads and writes alike. A retried POST (CreateComment, CreateIssue) may have been applied
//   by GitHub before the failure was seen, so it can create a DUPLICATE comment or issue;
//   callers must tolerate that (the claim protocol does: a worker's extra claim is just a
//   later, losing claim that it withdraws). Retried PATCH and DELETE are idempotent. Other 4xx
//   answers are never retried.
// - Errors follow github_api.h: 404/410 NOT_FOUND, 400/422 INVALID_ARGUMENT (with GitHub's
//   message and error details), 401 UNAUTHENTICATED, 403 PERMISSION_DENIED unless a rate limit,
//   403/429 rate limits RESOURCE_EXHAUSTED, 5xx and transport failures UNAVAILABLE, a write that
//   waited past its deadline DEADLINE_EXCEEDED; 409/412 FAILED_PRECONDITION and any other
//   unexpected status UNKNOWN. Messages name the method, the path (never the query string) and
//   the status; the token never appears in any message.
//
// Thread safety: safe for concurrent use. Reads run concurrently; writes are sent one at a time.
#ifndef TASK_SENTINEL_SERVICE_GITHUB_CURL_GITHUB_API_H_
#define TASK_SENTINEL_SERVICE_GITHUB_CURL_GITHUB_API_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/coordinator.h"
#include "core/github/github_api.h"
#include "core/github/rate_limit.h"
#include "core/github/write_queue.h"
#include "service/github/token_source.h"

namespace tasksentinel::github {

class CurlGitHubApi final : public GitHubApi {
 public:
  struct Options {
    // https://api.github.com, https://HOST/api/v3 (GitHub Enterprise Server) or, in tests,
    // http://127.0.0.1:PORT. A trailing slash is ignored.
    std::string api_url = "https://api.github.com";
    std::string token;  // never logged, never put in a message
    // Where the token comes from instead of `token` (a rotating file, a GitHub App), if set.
    std::shared_ptr<TokenSource> token_source;
    std::string owner;
    std::string repo;
    std::string user_agent = "task-sentinel/0.1.0";
    absl::Duration timeout = absl::Seconds(10);  // per HTTP attempt, connecting included
    absl::Duration write_spacing = absl::Seconds(1);
    int writes_per_minute = 80;
    int writes_per_hour = 500;
    int max_retries = 3;  // extra attempts after a 5xx or a transport failure
    absl::Duration retry_base = absl::Milliseconds(500);
    absl::Duration write_deadline = absl::Seconds(30);  // how long a write may wait its turn
    // The ETag cache keeps at most this many URLs and bytes of bodies (least recent go first).
    size_t etag_cache_entries = 1024;
    size_t etag_cache_bytes = 64 << 20;
    int max_pages = 1000;  // a list longer than this many pages is an error
    // A larger answer (one page) is refused: 100 comments of 65,536 characters, each up to 4
    // bytes of UTF-8, with GitHub's JSON around them, stay below it.
    size_t max_answer_bytes = size_t{32} << 20;
    // Secondary-limit backoff when GitHub gives no retry-after.
    absl::Duration min_secondary_backoff = absl::Seconds(60);
    absl::Duration max_secondary_backoff = absl::Minutes(15);
    // Told when a rate-limit answer starts a block (`blocked` true, with the block's message,
    // which names no token) and when the first call after a block is let through again
    // (`blocked` false). Called on the calling thread; may be empty.
    std::function<void(bool blocked, const std::string& message)> on_rate_limit;
  };

  // The raw answer to one HTTP request (exposed for tests and diagnostics).
  struct HttpAnswer {
    long status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
  };

  // `clock` must outlive this object.
  CurlGitHubApi(Options options, Clock* clock);
  ~CurlGitHubApi() override;

  CurlGitHubApi(const CurlGitHubApi&) = delete;
  CurlGitHubApi& operator=(const CurlGitHubApi&) = delete;

  // GitHubApi.
  absl::StatusOr<Account> CurrentUser() override;
  absl::StatusOr<Account> GetUser(const std::string& login) override;
  absl::StatusOr<Repository> GetRepository() override;
  absl::StatusOr<Read<std::vector<Comment>>> ListComments(int64_t number,
                                                          std::optional<absl::Time> since) override;
  absl::StatusOr<Read<std::vector<Issue>>> ListIssues(const IssueQuery& query) override;
  absl::StatusOr<Read<Issue>> GetIssue(int64_t number) override;
  absl::StatusOr<Comment> CreateComment(int64_t number, const std::string& body,
                                        WritePriority priority) override;
  absl::StatusOr<Comment> UpdateComment(int64_t comment_id, const std::string& body,
                                        WritePriority priority) override;
  absl::Status DeleteComment(int64_t comment_id, WritePriority priority) override;
  absl::StatusOr<Issue> CreateIssue(const IssueDraft& draft, WritePriority priority) override;
  absl::StatusOr<Issue> UpdateIssue(int64_t number, const IssuePatch& patch,
                                    WritePriority priority) override;
  absl::Time ServerNow() override;

  // Every page of a conditional GET of `path_and_query` (relative to api_url, e.g.
  // "/search/users?q=x&per_page=1"), following `Link: rel="next"`: the raw JSON body of each
  // page. For endpoints the interface does not cover, and for tests.
  absl::StatusOr<Read<std::vector<std::string>>> GetPages(absl::string_view path_and_query);

  // The rate-limit state fed by every answer (for metrics).
  const RateLimitState& rate_limit() const { return rate_limit_; }

  // The client's metrics (docs/observability.md): requests and their total duration by route
  // (the path with numbers and the repository replaced, e.g. "GET /repos/{owner}/{repo}/issues")
  // and status ("200", "304", ..., "error" when no answer came), the last rate-limit headers seen,
  // rate-limit answers by kind, and the write budget's level.
  std::vector<BackendMetric> Metrics() const;

  // The route of a request for the metrics, e.g. "GET /repos/{owner}/{repo}/issues/{n}".
  std::string Route(absl::string_view method, const std::string& url) const;

  // The write budget (for metrics).
  const WriteQueue& write_queue() const { return write_queue_; }

  void SetWriteSharers(int sharers) override { write_queue_.SetSharers(sharers); }
  ApiCounters counters() const override {
    return ApiCounters{dates_ignored_.load(), oversized_answers_.load()};
  }
  // Answers refused for their size (tasksentinel_github_oversized_answers_total).
  int64_t oversized_answers() const { return oversized_answers_.load(); }
  // `Date` headers ignored because they jumped further than the local clock allows
  // (tasksentinel_github_dates_ignored_total).
  int64_t dates_ignored() const { return dates_ignored_.load(); }

  // The options in force (the token included: do not log them).
  const Options& options() const { return options_; }

 private:
  struct CachedPage {
    std::string etag;
    std::string body;
    std::string next_url;  // the page's rel="next", empty when it was the last
    absl::Time date = absl::UnixEpoch();
    uint64_t last_used = 0;
  };
  struct Page {
    std::string body;
    std::string next_url;
    std::optional<absl::Time> date;
    bool not_modified = false;
  };
  class HandlePool;

  // One HTTP exchange, no retries (with `fresh_connection`, on a new connection, so that not even
  // libcurl resends it). Transport failures are UNAVAILABLE.
  absl::StatusOr<HttpAnswer> Perform(absl::string_view method, const std::string& url,
                                     const std::string* body,
                                     const std::vector<std::string>& extra_headers,
                                     bool fresh_connection = false);
  // One request with the rate-limit check before every attempt, rate-limit bookkeeping after
  // every answer, and retries of 5xx and transport failures (with `retry_failures` false, 5xx
  // only, on a fresh connection: for a request that must not be applied twice, since one whose
  // answer was lost may have been). `answer` is
  // any HTTP answer other than a rate limit or a retried-out 5xx; those come back as errors.
  absl::StatusOr<HttpAnswer> Exchange(absl::string_view method, const std::string& url,
                                      const std::string* body,
                                      const std::vector<std::string>& extra_headers,
                                      bool retry_failures = true);
  // A conditional GET of one page through the ETag cache.
  absl::StatusOr<Page> GetPage(const std::string& url);
  // All pages from `first_url`.
  absl::StatusOr<Read<std::vector<std::string>>> GetAll(const std::string& first_url);
  // A single-object conditional GET.
  absl::StatusOr<Read<std::string>> GetOne(const std::string& url);
  // A write through the queue: its answer when 2xx, else the mapped error. With
  // `not_found_ok`, a 404 answers an empty OK answer.
  absl::StatusOr<HttpAnswer> Write(absl::string_view method, const std::string& url,
                                   const std::string& body, WritePriority priority,
                                   bool not_found_ok = false, bool retry_failures = true);

  // The error for a non-2xx answer (never for a rate limit, handled in Exchange).
  absl::Status ErrorFor(absl::string_view method, const std::string& url,
                        const HttpAnswer& answer) const;
  // "METHOD /path" for messages: the URL without origin, API prefix or query string.
  std::string Describe(absl::string_view method, const std::string& url) const;
  // Removes the token from `text` (defence in depth for messages built from foreign text).
  std::string Redact(std::string text) const;
  // Feeds GitHub's clock estimate with an answer's Date; false when the Date was ignored.
  bool NoteServerTime(absl::Time date);
  // Waits `d` on the clock (retry backoff).
  void Sleep(absl::Duration d);

  std::string RepoUrl(absl::string_view suffix) const;

  const Options options_;
  Clock* const clock_;
  std::string base_url_;   // api_url without a trailing slash
  std::string origin_;     // scheme://host[:port] of base_url_
  std::string base_path_;  // base_url_'s path ("" or "/api/v3")
  std::unique_ptr<HandlePool> handles_;
  RateLimitState rate_limit_;
  // Whether on_rate_limit was last told of a block (so that "resumed" is told once).
  std::atomic<bool> rate_limited_{false};
  WriteQueue write_queue_;

  // Requests by (route, status): how many, and their seconds in total.
  struct RouteStats {
    int64_t count = 0;
    double seconds = 0;
  };
  mutable absl::Mutex stats_mu_;
  std::map<std::pair<std::string, std::string>, RouteStats> route_stats_
      ABSL_GUARDED_BY(stats_mu_);

  absl::Mutex cache_mu_;
  std::map<std::string, CachedPage> etag_cache_ ABSL_GUARDED_BY(cache_mu_);
  uint64_t cache_clock_ ABSL_GUARDED_BY(cache_mu_) = 0;
  size_t cache_bytes_ ABSL_GUARDED_BY(cache_mu_) = 0;

  // How far a Date may differ from the estimate (local clock + offset) and still be believed:
  // latency, retries and GitHub's one-second resolution fit well inside it.
  static constexpr absl::Duration kMaxDateJump = absl::Minutes(2);
  // This many disputed Dates in a row that agree within kDateAgreement replace the estimate.
  static constexpr size_t kDatesToReanchor = 3;
  static constexpr absl::Duration kDateAgreement = absl::Seconds(10);
  // The account a GET of `url` answers (GET /user, GET /users/LOGIN).
  absl::StatusOr<Account> GetAccount(const std::string& url);
  // The token for the next request (from the source, when there is one).
  absl::StatusOr<std::string> CurrentToken() ABSL_LOCKS_EXCLUDED(tokens_mu_);
  mutable absl::Mutex tokens_mu_;
  std::vector<std::string> tokens_seen_ ABSL_GUARDED_BY(tokens_mu_);  // for Redact
  std::atomic<int64_t> oversized_answers_{0};
  std::atomic<int64_t> dates_ignored_{0};
  absl::Mutex time_mu_;
  std::vector<absl::Duration> disputed_ ABSL_GUARDED_BY(time_mu_);  // offsets of disputed Dates
  std::optional<absl::Duration> server_offset_ ABSL_GUARDED_BY(time_mu_);    // Date - local
  absl::Time server_date_ ABSL_GUARDED_BY(time_mu_) = absl::InfinitePast();  // its Date

  absl::Mutex sleep_mu_;  // for Sleep's waits only
};

// The start-up check: the token is accepted, the repository exists and is visible to it, and
// its issues are enabled. OK, or an error whose message is one line saying what to fix.
absl::Status CheckStartup(GitHubApi& api);

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_SERVICE_GITHUB_CURL_GITHUB_API_H_
