// CurlGitHubApi: GitHub's REST API through libcurl, with pooled keep-alive handles, Link
// pagination, an ETag cache, rate-limit blocks, the write queue and retries. See
// curl_github_api.h.
//
// Thread safety: safe for concurrent use. The handle pool, the ETag cache and the server-time
// anchor each have their own mutex; RateLimitState and WriteQueue lock themselves. No mutex is
// held while a request is in flight.
#include "service/github/curl_github_api.h"

#include "core/error_reason.h"
#include "service/github/github_wire.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tasksentinel::github {
namespace {

using json = nlohmann::json;

constexpr char kApiVersion[] = "2022-11-28";
constexpr char kDateFormat[] = "%a, %d %b %Y %H:%M:%S GMT";

// libcurl's process-wide initialisation, once.
void InitCurlOnce() {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Percent-encodes one URL component (path segment or query value) with libcurl.
std::string Escape(absl::string_view text) {
  char* escaped = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) return std::string(text);
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

// GitHub's time format for query parameters: ISO-8601 in UTC with `Z`.
std::string IsoTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The answer's `Date`, if present and well-formed.
std::optional<absl::Time> DateOf(const CurlGitHubApi::HttpAnswer& answer) {
  auto it = answer.headers.find("date");
  if (it == answer.headers.end()) return std::nullopt;
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(kDateFormat, it->second, &t, &error)) return std::nullopt;
  return t;
}

// libcurl callbacks.
// Where a response body goes, and how much of it is accepted.
struct BodySink {
  std::string* body;
  size_t cap;
  bool oversized = false;
};

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  if (sink->body->size() + size * count > sink->cap) {
    sink->oversized = true;
    return 0;  // libcurl aborts the transfer (CURLE_WRITE_ERROR)
  }
  sink->body->append(data, size * count);
  return size * count;
}

size_t AppendHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  const absl::string_view line(data, size * count);
  if (absl::StartsWith(line, "HTTP/")) {
    headers->clear();  // a new response (after a 100 Continue or a redirect)
  } else if (const size_t colon = line.find(':'); colon != absl::string_view::npos) {
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    auto [it, inserted] = headers->emplace(name, std::string(value));
    if (!inserted) absl::StrAppend(&it->second, ", ", value);
  }
  return size * count;
}

}  // namespace

// A pool of CURL easy handles. A handle keeps its connections alive between requests, so
// reusing handles reuses connections; one handle serves one request at a time.
class CurlGitHubApi::HandlePool {
 public:
  HandlePool() = default;
  HandlePool(const HandlePool&) = delete;
  HandlePool& operator=(const HandlePool&) = delete;
  ~HandlePool() {
    for (CURL* handle : free_) curl_easy_cleanup(handle);
  }

  // A handle for one request (reset to defaults, connections kept), or null if libcurl
  // cannot make one.
  CURL* Take() {
    {
      absl::MutexLock lock(&mu_);
      if (!free_.empty()) {
        CURL* handle = free_.back();
        free_.pop_back();
        curl_easy_reset(handle);
        return handle;
      }
    }
    return curl_easy_init();
  }

  // Gives a handle back for reuse.
  void Give(CURL* handle) {
    absl::MutexLock lock(&mu_);
    free_.push_back(handle);
  }

 private:
  absl::Mutex mu_;
  std::vector<CURL*> free_ ABSL_GUARDED_BY(mu_);
};

CurlGitHubApi::CurlGitHubApi(Options options, Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      handles_(std::make_unique<HandlePool>()),
      rate_limit_(
          RateLimitState::Options{options_.min_secondary_backoff, options_.max_secondary_backoff},
          clock),
      write_queue_(WriteQueue::Options{options_.write_spacing, options_.writes_per_minute,
                                       options_.writes_per_hour},
                   clock) {
  InitCurlOnce();
  base_url_ = options_.api_url;
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  const size_t scheme_end = base_url_.find("://");
  const size_t path_start =
      scheme_end == std::string::npos ? std::string::npos : base_url_.find('/', scheme_end + 3);
  origin_ = base_url_.substr(0, path_start);
  base_path_ = path_start == std::string::npos ? "" : base_url_.substr(path_start);
}

CurlGitHubApi::~CurlGitHubApi() = default;

std::string CurlGitHubApi::RepoUrl(absl::string_view suffix) const {
  return absl::StrCat(base_url_, "/repos/", Escape(options_.owner), "/", Escape(options_.repo),
                      suffix);
}

std::string CurlGitHubApi::Describe(absl::string_view method, const std::string& url) const {
  absl::string_view path = url;
  if (absl::ConsumePrefix(&path, origin_)) {
    absl::ConsumePrefix(&path, base_path_);
  } else if (const size_t scheme = path.find("://"); scheme != absl::string_view::npos) {
    const size_t slash = path.find('/', scheme + 3);
    path = slash == absl::string_view::npos ? "/" : path.substr(slash);
  }
  path = path.substr(0, path.find('?'));
  return Redact(absl::StrCat("GitHub ", method, " ", path));
}

std::string CurlGitHubApi::Route(absl::string_view method, const std::string& url) const {
  absl::string_view path = url;
  if (absl::ConsumePrefix(&path, origin_)) absl::ConsumePrefix(&path, base_path_);
  path = path.substr(0, path.find('?'));
  std::vector<std::string> parts = absl::StrSplit(path, '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i >= 1 && parts[i - 1] == "repos" && i + 1 < parts.size()) {
      parts[i] = "{owner}";
      parts[i + 1] = "{repo}";
      ++i;
    } else if (!parts[i].empty() &&
               std::all_of(parts[i].begin(), parts[i].end(),
                           [](char c) { return c >= '0' && c <= '9'; })) {
      parts[i] = "{n}";
    }
  }
  return absl::StrCat(method, " ", absl::StrJoin(parts, "/"));
}

std::vector<BackendMetric> CurlGitHubApi::Metrics() const {
  std::vector<BackendMetric> out;
  {
    absl::MutexLock lock(&stats_mu_);
    for (const auto& [key, stats] : route_stats_) {
      const std::map<std::string, std::string> labels = {{"route", key.first},
                                                         {"status", key.second}};
      out.push_back({"tasksentinel_github_requests_total",
                     "Requests to GitHub by route and status (error: no answer).", true,
                     static_cast<double>(stats.count), labels});
      out.push_back({"tasksentinel_github_request_duration_seconds_total",
                     "Time spent in requests to GitHub by route and status; divided by "
                     "tasksentinel_github_requests_total, the average latency.",
                     true, stats.seconds, labels});
    }
  }
  const RateLimitSnapshot limits = rate_limit_.Snapshot();
  if (limits.remaining.has_value()) {
    out.push_back({"tasksentinel_github_rate_limit_remaining",
                   "Requests left in GitHub's primary rate-limit window (last answer seen).",
                   false, static_cast<double>(*limits.remaining), {}});
  }
  if (limits.limit.has_value()) {
    out.push_back({"tasksentinel_github_rate_limit_limit",
                   "GitHub's primary rate limit per hour for this identity (last answer seen).",
                   false, static_cast<double>(*limits.limit), {}});
  }
  out.push_back({"tasksentinel_github_rate_limit_hits_total",
                 "GitHub answers that were a rate limit, by kind.", true,
                 static_cast<double>(limits.primary_limits_hit), {{"kind", "primary"}}});
  out.push_back({"tasksentinel_github_rate_limit_hits_total",
                 "GitHub answers that were a rate limit, by kind.", true,
                 static_cast<double>(limits.secondary_limits_hit), {{"kind", "secondary"}}});
  const WriteQueue::Stats writes = write_queue_.GetStats();
  out.push_back({"tasksentinel_github_writes_waiting", "Writes waiting for their turn now.",
                 false, static_cast<double>(writes.waiting), {}});
  const char* const kBudgetHelp =
      "Writes this sidecar started in the last minute or hour, as a share of its budget "
      "(GITHUB_WRITES_PER_MINUTE / _PER_HOUR): 1 is a full budget.";
  out.push_back({"tasksentinel_github_write_budget_used_ratio", kBudgetHelp, false,
                 static_cast<double>(writes.started_last_minute) /
                     std::max(1, options_.writes_per_minute),
                 {{"window", "minute"}}});
  out.push_back({"tasksentinel_github_write_budget_used_ratio", kBudgetHelp, false,
                 static_cast<double>(writes.started_last_hour) /
                     std::max(1, options_.writes_per_hour),
                 {{"window", "hour"}}});
  return out;
}

std::string CurlGitHubApi::Redact(std::string text) const {
  if (!options_.token.empty()) text = absl::StrReplaceAll(text, {{options_.token, "[redacted]"}});
  absl::MutexLock lock(&tokens_mu_);
  for (const std::string& token : tokens_seen_) {
    if (!token.empty()) text = absl::StrReplaceAll(text, {{token, "[redacted]"}});
  }
  return text;
}

absl::StatusOr<std::string> CurlGitHubApi::CurrentToken() {
  if (options_.token_source == nullptr) return options_.token;
  absl::StatusOr<std::string> token = options_.token_source->Token();
  if (!token.ok()) return token.status();
  absl::MutexLock lock(&tokens_mu_);
  if (std::find(tokens_seen_.begin(), tokens_seen_.end(), *token) == tokens_seen_.end()) {
    tokens_seen_.push_back(*token);
    if (tokens_seen_.size() > 16) tokens_seen_.erase(tokens_seen_.begin());
  }
  return token;
}

bool CurlGitHubApi::NoteServerTime(absl::Time date) {
  const absl::Time local = clock_->Now();
  const absl::Duration offset = date - local;
  absl::MutexLock lock(&time_mu_);
  if (server_offset_.has_value() && absl::AbsDuration(offset - *server_offset_) > kMaxDateJump) {
    // Further from the estimate than the local clock allows since it was made: one answer
    // cannot move GitHub's time. A run of answers that agree with each other can (the first
    // anchor itself may have been the bad one, or GitHub's clock was really stepped).
    dates_ignored_.fetch_add(1);
    if (!disputed_.empty() && absl::AbsDuration(offset - disputed_.back()) > kDateAgreement) {
      disputed_.clear();
    }
    disputed_.push_back(offset);
    if (disputed_.size() < kDatesToReanchor) return false;
    server_offset_.reset();
  }
  disputed_.clear();
  // Only a Date of a later second moves the anchor: the first answer of each second gives the
  // tightest estimate (Date is truncated to the second, so the estimate never runs ahead of
  // GitHub's clock by more than the request's latency).
  if (!server_offset_.has_value() || date > server_date_) {
    server_offset_ = offset;
    server_date_ = date;
  }
  return true;
}

absl::Time CurlGitHubApi::ServerNow() {
  const absl::Time local = clock_->Now();
  absl::MutexLock lock(&time_mu_);
  return server_offset_.has_value() ? local + *server_offset_ : local;
}

void CurlGitHubApi::Sleep(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&sleep_mu_);
  clock_->AwaitWithTimeout(&sleep_mu_,
                           absl::Condition(
                               +[](void*) { return false; }, nullptr),
                           d);
}

absl::StatusOr<CurlGitHubApi::HttpAnswer> CurlGitHubApi::Perform(
    absl::string_view method, const std::string& url, const std::string* body,
    const std::vector<std::string>& extra_headers, bool fresh_connection) {
  absl::StatusOr<std::string> token = CurrentToken();
  if (!token.ok()) return token.status();
  CURL* handle = handles_->Take();
  if (handle == nullptr) return absl::InternalError("libcurl could not create a handle");

  // Header strings live until the request is done; the Authorization one is never logged.
  std::vector<std::string> lines = {
      absl::StrCat("Authorization: Bearer ", *token),
      "Accept: application/vnd.github+json",
      absl::StrCat("X-GitHub-Api-Version: ", kApiVersion),
      "Expect:",
  };
  if (body != nullptr) lines.push_back("Content-Type: application/json; charset=utf-8");
  lines.insert(lines.end(), extra_headers.begin(), extra_headers.end());
  curl_slist* header_list = nullptr;
  for (const std::string& line : lines) header_list = curl_slist_append(header_list, line.c_str());

  HttpAnswer answer;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const std::string method_string(method);
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  // On a reused connection that dies before answering, libcurl sends the request again by
  // itself; a request that must not be applied twice gets a connection of its own instead.
  curl_easy_setopt(handle, CURLOPT_FRESH_CONNECT, fresh_connection ? 1L : 0L);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(handle, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");  // any encoding libcurl can decode
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &AppendBody);
  BodySink sink{&answer.body, options_.max_answer_bytes};
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &answer.headers);
  if (method == "GET") {
    // GitHub answers 301 for a transferred issue or a renamed repository. libcurl does not
    // send the Authorization header to another host.
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 3L);
  } else {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method_string.c_str());
    if (body != nullptr) {
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body->data());
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
  }

  const CURLcode code = curl_easy_perform(handle);
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(header_list);
  handles_->Give(handle);

  if (sink.oversized) {
    oversized_answers_.fetch_add(1);
    return absl::OutOfRangeError(Redact(absl::StrCat(
        Describe(method, url), ": answer refused: larger than ", options_.max_answer_bytes,
        " bytes")));
  }
  if (code != CURLE_OK) {
    std::string why = code == CURLE_OPERATION_TIMEDOUT
                          ? absl::StrCat("timed out after ", absl::FormatDuration(options_.timeout))
                          : std::string(curl_easy_strerror(code));
    if (code != CURLE_OPERATION_TIMEDOUT && error_buffer[0] != '\0') {
      absl::StrAppend(&why, ": ", error_buffer);
    }
    return absl::UnavailableError(Redact(absl::StrCat(Describe(method, url), ": ", why)));
  }
  answer.status = status;
  return answer;
}

absl::StatusOr<CurlGitHubApi::HttpAnswer> CurlGitHubApi::Exchange(
    absl::string_view method, const std::string& url, const std::string* body,
    const std::vector<std::string>& extra_headers, bool retry_failures) {
  std::optional<absl::BitGen> random;  // seeded only when a retry needs it
  for (int attempt = 0;; ++attempt) {
    if (absl::Status blocked = rate_limit_.Check(); !blocked.ok()) {
      return Reworded(blocked, absl::StrCat(blocked.message(), "; not sent: ", Describe(method, url)));
    }
    if (rate_limited_.exchange(false) && options_.on_rate_limit) {
      options_.on_rate_limit(false, "GitHub calls let through again");
    }
    const bool may_retry = attempt < options_.max_retries;
    const absl::Time sent = absl::Now();
    absl::StatusOr<HttpAnswer> answer = Perform(method, url, body, extra_headers, /*fresh_connection=*/!retry_failures);
    {
      const std::string status = answer.ok() ? absl::StrCat(answer->status) : "error";
      const std::string route = Route(method, url);
      absl::MutexLock lock(&stats_mu_);
      RouteStats& stats = route_stats_[{route, status}];
      ++stats.count;
      stats.seconds += absl::ToDoubleSeconds(absl::Now() - sent);
    }
    if (absl::IsOutOfRange(answer.status())) {
      // Too large: asking again would get the same answer.
      return absl::UnavailableError(answer.status().message());
    }
    if (!answer.ok() && !absl::IsUnavailable(answer.status()) &&
        !absl::IsInternal(answer.status())) {
      return absl::Status(answer.status().code(), Redact(std::string(answer.status().message())));
    }
    if (!answer.ok()) {
      if (!may_retry || !retry_failures) {
        return absl::UnavailableError(
            absl::StrCat(answer.status().message(), " (after ", attempt + 1, " attempts)"));
      }
    } else {
      std::optional<absl::Time> date = DateOf(*answer);
      if (date.has_value() && !NoteServerTime(*date)) {
        // A Date the local clock cannot account for: nobody downstream may use it.
        answer->headers.erase("date");
        date.reset();
      }
      RateLimitAnswer observed;
      observed.status = static_cast<int>(answer->status);
      observed.headers = answer->headers;
      observed.server_time = date;
      if (answer->status >= 400) observed.message = GitHubMessage(answer->body);
      const RateLimitKind kind = rate_limit_.Observe(observed);
      if ((answer->status == 403 || answer->status == 429) && kind != RateLimitKind::kNone) {
        const std::optional<RateLimitBlock> block = rate_limit_.BlockedUntil();
        const std::string why =
            block.has_value() ? RateLimitState::BlockMessage(*block, clock_->Now())
                              : absl::StrCat("GitHub ", RateLimitKindName(kind), " rate limit");
        absl::Status limited = absl::ResourceExhaustedError(Redact(absl::StrCat(
            why, "; ", Describe(method, url), ": ", answer->status, " ", observed.message)));
        if (!rate_limited_.exchange(true) && options_.on_rate_limit) {
          options_.on_rate_limit(true, std::string(limited.message()));
        }
        return block.has_value() ? WithRetryDelay(limited, block->until - clock_->Now())
                                 : WithReason(limited, reason::kRateLimited);
      }
      if (answer->status < 500) return answer;
      if (!may_retry) {
        return absl::UnavailableError(Redact(
            absl::StrCat(Describe(method, url), ": ", answer->status, " ",
                         GitHubMessage(answer->body), " (after ", attempt + 1, " attempts)")));
      }
    }
    // Jittered exponential backoff: base * 2^attempt * [0.5, 1).
    if (!random.has_value()) random.emplace();
    const absl::Duration backoff =
        options_.retry_base * (1 << std::min(attempt, 20)) * absl::Uniform(*random, 0.5, 1.0);
    Sleep(backoff);
  }
}

absl::Status CurlGitHubApi::ErrorFor(absl::string_view method, const std::string& url,
                                     const HttpAnswer& answer) const {
  std::string message = absl::StrCat(Describe(method, url), ": ", answer.status);
  const std::string github_message = GitHubMessage(answer.body);
  if (!github_message.empty()) absl::StrAppend(&message, " ", github_message);
  message = Redact(std::move(message));
  switch (answer.status) {
    case 400:
    case 422:
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(message);
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
    case 410:
      return absl::NotFoundError(message);
    case 409:
    case 412:
      return absl::FailedPreconditionError(message);
    default:
      break;
  }
  if (answer.status >= 500) return absl::UnavailableError(message);
  return absl::UnknownError(message);
}

absl::StatusOr<CurlGitHubApi::Page> CurlGitHubApi::GetPage(const std::string& url) {
  std::optional<CachedPage> cached;
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = etag_cache_.find(url);
    if (it != etag_cache_.end()) cached = it->second;
  }
  std::vector<std::string> headers;
  if (cached.has_value()) headers.push_back(absl::StrCat("If-None-Match: ", cached->etag));
  absl::StatusOr<HttpAnswer> answer = Exchange("GET", url, nullptr, headers);
  if (!answer.ok()) return answer.status();

  Page page;
  page.date = DateOf(*answer);
  if (answer->status == 304 && cached.has_value()) {
    absl::MutexLock lock(&cache_mu_);
    auto it = etag_cache_.find(url);
    if (it != etag_cache_.end()) it->second.last_used = ++cache_clock_;
    page.body = std::move(cached->body);
    page.next_url = std::move(cached->next_url);
    page.not_modified = true;
    return page;
  }
  if (answer->status < 200 || answer->status >= 300) return ErrorFor("GET", url, *answer);

  auto link = answer->headers.find("link");
  if (link != answer->headers.end()) page.next_url = NextLink(link->second);
  page.body = std::move(answer->body);
  auto etag = answer->headers.find("etag");
  absl::MutexLock lock(&cache_mu_);
  if (auto stale = etag_cache_.find(url); stale != etag_cache_.end()) {
    cache_bytes_ -= stale->second.body.size();
    etag_cache_.erase(stale);
  }
  if (etag != answer->headers.end() && !etag->second.empty() &&
      page.body.size() <= options_.etag_cache_bytes) {
    CachedPage& entry = etag_cache_[url];
    entry.etag = etag->second;
    entry.body = page.body;
    entry.next_url = page.next_url;
    entry.last_used = ++cache_clock_;
    cache_bytes_ += entry.body.size();
    while (etag_cache_.size() > std::max<size_t>(options_.etag_cache_entries, 1) ||
           cache_bytes_ > options_.etag_cache_bytes) {
      auto oldest = std::min_element(
          etag_cache_.begin(), etag_cache_.end(),
          [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
      cache_bytes_ -= oldest->second.body.size();
      etag_cache_.erase(oldest);
    }
  }
  return page;
}

absl::StatusOr<Read<std::vector<std::string>>> CurlGitHubApi::GetAll(const std::string& first_url) {
  Read<std::vector<std::string>> read;
  read.not_modified = true;
  std::set<std::string> visited;
  std::string url = first_url;
  for (int pages = 0;; ++pages) {
    if (pages >= options_.max_pages) {
      return absl::FailedPreconditionError(
          absl::StrCat(Describe("GET", first_url), ": more than ", options_.max_pages, " pages"));
    }
    visited.insert(url);
    absl::StatusOr<Page> page = GetPage(url);
    if (!page.ok()) return page.status();
    if (pages == 0) read.server_time = page->date.value_or(ServerNow());
    read.not_modified = read.not_modified && page->not_modified;
    read.value.push_back(std::move(page->body));
    if (page->next_url.empty()) return read;
    if (!absl::StartsWith(page->next_url, absl::StrCat(origin_, "/"))) {
      // Following it would send the token to another host.
      return absl::UnknownError(
          absl::StrCat(Describe("GET", first_url), ": a pagination link leaves ", origin_));
    }
    if (visited.count(page->next_url) > 0) {
      return absl::UnknownError(
          absl::StrCat(Describe("GET", first_url), ": pagination links loop"));
    }
    url = std::move(page->next_url);
  }
}

absl::StatusOr<Read<std::string>> CurlGitHubApi::GetOne(const std::string& url) {
  absl::StatusOr<Page> page = GetPage(url);
  if (!page.ok()) return page.status();
  Read<std::string> read;
  read.value = std::move(page->body);
  read.server_time = page->date.value_or(ServerNow());
  read.not_modified = page->not_modified;
  return read;
}

absl::StatusOr<Read<std::vector<std::string>>> CurlGitHubApi::GetPages(
    absl::string_view path_and_query) {
  return GetAll(absl::StrCat(base_url_, path_and_query));
}

absl::StatusOr<CurlGitHubApi::HttpAnswer> CurlGitHubApi::Write(absl::string_view method,
                                                               const std::string& url,
                                                               const std::string& body,
                                                               WritePriority priority,
                                                               bool not_found_ok,
                                                               bool retry_failures) {
  // Fail fast, before queueing, while a rate limit blocks.
  if (absl::Status blocked = rate_limit_.Check(); !blocked.ok()) {
    return Reworded(blocked, absl::StrCat(blocked.message(), "; not sent: ", Describe(method, url)));
  }
  absl::StatusOr<WriteQueue::Ticket> ticket =
      write_queue_.Acquire(priority, clock_->Now() + options_.write_deadline);
  if (!ticket.ok()) {
    return Reworded(ticket.status(),
                    absl::StrCat(Describe(method, url), ": ", ticket.status().message()));
  }
  if (absl::Status blocked = rate_limit_.Check(); !blocked.ok()) {
    ticket->Release(/*sent=*/false);
    return Reworded(blocked, absl::StrCat(blocked.message(), "; not sent: ", Describe(method, url)));
  }
  absl::StatusOr<HttpAnswer> answer = Exchange(method, url, body.empty() ? nullptr : &body,
                                               /*extra_headers=*/{}, retry_failures);
  ticket->Release();
  if (!answer.ok()) return answer.status();
  if (answer->status >= 200 && answer->status < 300) return answer;
  if (not_found_ok && answer->status == 404) return answer;
  return ErrorFor(method, url, *answer);
}

absl::StatusOr<Account> CurlGitHubApi::GetAccount(const std::string& url) {
  absl::StatusOr<Read<std::string>> read = GetOne(url);
  if (!read.ok()) return read.status();
  std::optional<json> parsed = ParseJson(read->value);
  absl::StatusOr<Account> account =
      parsed.has_value() ? ParseAccount(*parsed) : absl::UnknownError("not JSON");
  if (!account.ok()) {
    return absl::UnknownError(absl::StrCat(Describe("GET", url), ": ", account.status().message()));
  }
  return account;
}

absl::StatusOr<Account> CurlGitHubApi::CurrentUser() {
  if (options_.token_source != nullptr) {
    absl::StatusOr<std::optional<Account>> known = options_.token_source->KnownAccount();
    if (!known.ok()) return known.status();
    if (known->has_value()) return **known;
  }
  return GetAccount(absl::StrCat(base_url_, "/user"));
}

absl::StatusOr<Account> CurlGitHubApi::GetUser(const std::string& login) {
  return GetAccount(absl::StrCat(base_url_, "/users/", Escape(login)));
}

absl::StatusOr<Repository> CurlGitHubApi::GetRepository() {
  const std::string url = RepoUrl("");
  absl::StatusOr<Read<std::string>> read = GetOne(url);
  if (!read.ok()) return read.status();
  std::optional<json> parsed = ParseJson(read->value);
  if (!parsed.has_value() || !parsed->is_object()) {
    return absl::UnknownError(absl::StrCat(Describe("GET", url), ": unreadable answer"));
  }
  Repository repository;
  repository.full_name = StringField(*parsed, "full_name");
  if (repository.full_name.empty()) {
    repository.full_name = absl::StrCat(options_.owner, "/", options_.repo);
  }
  auto has_issues = parsed->find("has_issues");
  repository.has_issues =
      has_issues == parsed->end() || !has_issues->is_boolean() || has_issues->get<bool>();
  return repository;
}

absl::StatusOr<Read<std::vector<Comment>>> CurlGitHubApi::ListComments(
    int64_t number, std::optional<absl::Time> since) {
  std::string url = RepoUrl(absl::StrCat("/issues/", number, "/comments?per_page=100"));
  if (since.has_value()) absl::StrAppend(&url, "&since=", Escape(IsoTime(*since)));
  absl::StatusOr<Read<std::vector<std::string>>> pages = GetAll(url);
  if (!pages.ok()) return pages.status();
  Read<std::vector<Comment>> read;
  read.server_time = pages->server_time;
  read.not_modified = pages->not_modified;
  for (const std::string& body : pages->value) {
    std::optional<json> parsed = ParseJson(body);
    if (!parsed.has_value() || !parsed->is_array()) {
      return absl::UnknownError(absl::StrCat(Describe("GET", url), ": not a JSON array"));
    }
    for (const json& object : *parsed) {
      absl::StatusOr<Comment> comment = ParseComment(object, number);
      if (!comment.ok()) {
        return absl::UnknownError(
            absl::StrCat(Describe("GET", url), ": ", comment.status().message()));
      }
      read.value.push_back(*std::move(comment));
    }
  }
  return read;
}

absl::StatusOr<Read<std::vector<Issue>>> CurlGitHubApi::ListIssues(const IssueQuery& query) {
  const char* state = query.state == IssueQuery::State::kOpen     ? "open"
                      : query.state == IssueQuery::State::kClosed ? "closed"
                                                                  : "all";
  std::string url =
      RepoUrl(absl::StrCat("/issues?state=", state, "&sort=created&direction=asc&per_page=100"));
  if (!query.labels.empty()) {
    std::vector<std::string> labels;
    for (const std::string& label : query.labels) labels.push_back(Escape(label));
    absl::StrAppend(&url, "&labels=", absl::StrJoin(labels, ","));
  }
  if (query.since.has_value()) absl::StrAppend(&url, "&since=", Escape(IsoTime(*query.since)));
  absl::StatusOr<Read<std::vector<std::string>>> pages = GetAll(url);
  if (!pages.ok()) return pages.status();
  Read<std::vector<Issue>> read;
  read.server_time = pages->server_time;
  read.not_modified = pages->not_modified;
  for (const std::string& body : pages->value) {
    std::optional<json> parsed = ParseJson(body);
    if (!parsed.has_value() || !parsed->is_array()) {
      return absl::UnknownError(absl::StrCat(Describe("GET", url), ": not a JSON array"));
    }
    for (const json& object : *parsed) {
      if (object.is_object() && IsPullRequest(object)) continue;
      absl::StatusOr<Issue> issue = ParseIssue(object);
      if (!issue.ok()) {
        return absl::UnknownError(
            absl::StrCat(Describe("GET", url), ": ", issue.status().message()));
      }
      read.value.push_back(*std::move(issue));
    }
  }
  return read;
}

absl::StatusOr<Read<Issue>> CurlGitHubApi::GetIssue(int64_t number) {
  const std::string url = RepoUrl(absl::StrCat("/issues/", number));
  absl::StatusOr<Read<std::string>> read = GetOne(url);
  if (!read.ok()) return read.status();
  std::optional<json> parsed = ParseJson(read->value);
  if (!parsed.has_value()) {
    return absl::UnknownError(absl::StrCat(Describe("GET", url), ": unreadable answer"));
  }
  if (parsed->is_object() && IsPullRequest(*parsed)) {
    return absl::NotFoundError(
        absl::StrCat(Describe("GET", url), ": #", number, " is a pull request, not an issue"));
  }
  absl::StatusOr<Issue> issue = ParseIssue(*parsed);
  if (!issue.ok()) {
    return absl::UnknownError(absl::StrCat(Describe("GET", url), ": ", issue.status().message()));
  }
  Read<Issue> out;
  out.value = *std::move(issue);
  out.server_time = read->server_time;
  out.not_modified = read->not_modified;
  return out;
}

absl::StatusOr<Comment> CurlGitHubApi::CreateComment(int64_t number, const std::string& body,
                                                     WritePriority priority) {
  const std::string url = RepoUrl(absl::StrCat("/issues/", number, "/comments"));
  absl::StatusOr<HttpAnswer> answer = Write("POST", url, Dump(json{{"body", body}}), priority);
  if (!answer.ok()) return answer.status();
  std::optional<json> parsed = ParseJson(answer->body);
  absl::StatusOr<Comment> comment =
      parsed.has_value() ? ParseComment(*parsed, number) : absl::UnknownError("not JSON");
  if (!comment.ok()) {
    return absl::UnknownError(
        absl::StrCat(Describe("POST", url), ": ", comment.status().message()));
  }
  return comment;
}

absl::StatusOr<Comment> CurlGitHubApi::UpdateComment(int64_t comment_id, const std::string& body,
                                                     WritePriority priority) {
  const std::string url = RepoUrl(absl::StrCat("/issues/comments/", comment_id));
  absl::StatusOr<HttpAnswer> answer = Write("PATCH", url, Dump(json{{"body", body}}), priority);
  if (!answer.ok()) return answer.status();
  std::optional<json> parsed = ParseJson(answer->body);
  absl::StatusOr<Comment> comment =
      parsed.has_value() ? ParseComment(*parsed, 0) : absl::UnknownError("not JSON");
  if (!comment.ok()) {
    return absl::UnknownError(
        absl::StrCat(Describe("PATCH", url), ": ", comment.status().message()));
  }
  return comment;
}

absl::Status CurlGitHubApi::DeleteComment(int64_t comment_id, WritePriority priority) {
  const std::string url = RepoUrl(absl::StrCat("/issues/comments/", comment_id));
  return Write("DELETE", url, /*body=*/"", priority, /*not_found_ok=*/true).status();
}

absl::StatusOr<Issue> CurlGitHubApi::CreateIssue(const IssueDraft& draft, WritePriority priority) {
  const std::string url = RepoUrl("/issues");
  json request = {{"title", draft.title}, {"body", draft.body}};
  if (!draft.labels.empty()) request["labels"] = draft.labels;
  // Not resent after a transport failure: a POST whose answer was lost may have created the
  // issue, and a second one would create another (a 5xx answer is still retried, as for every
  // request). The caller retries; CreateTask's request_id then finds the first issue.
  absl::StatusOr<HttpAnswer> answer = Write("POST", url, Dump(request), priority,
                                            /*not_found_ok=*/false, /*retry_failures=*/false);
  if (!answer.ok()) return answer.status();
  std::optional<json> parsed = ParseJson(answer->body);
  absl::StatusOr<Issue> issue =
      parsed.has_value() ? ParseIssue(*parsed) : absl::UnknownError("not JSON");
  if (!issue.ok()) {
    return absl::UnknownError(absl::StrCat(Describe("POST", url), ": ", issue.status().message()));
  }
  return issue;
}

absl::StatusOr<Issue> CurlGitHubApi::UpdateIssue(int64_t number, const IssuePatch& patch,
                                                 WritePriority priority) {
  const std::string url = RepoUrl(absl::StrCat("/issues/", number));
  json request = json::object();
  if (patch.title.has_value()) request["title"] = *patch.title;
  if (patch.body.has_value()) request["body"] = *patch.body;
  if (patch.open.has_value()) request["state"] = *patch.open ? "open" : "closed";
  if (patch.labels.has_value()) request["labels"] = *patch.labels;
  absl::StatusOr<HttpAnswer> answer = Write("PATCH", url, Dump(request), priority);
  if (!answer.ok()) return answer.status();
  std::optional<json> parsed = ParseJson(answer->body);
  absl::StatusOr<Issue> issue =
      parsed.has_value() ? ParseIssue(*parsed) : absl::UnknownError("not JSON");
  if (!issue.ok()) {
    return absl::UnknownError(absl::StrCat(Describe("PATCH", url), ": ", issue.status().message()));
  }
  return issue;
}

absl::Status CheckStartup(GitHubApi& api) {
  absl::StatusOr<Account> login = api.CurrentUser();
  if (!login.ok()) {
    if (login.status().code() == absl::StatusCode::kUnauthenticated) {
      return absl::UnauthenticatedError(
          "GitHub rejected the token (401 Bad credentials): check the configured token");
    }
    return absl::Status(login.status().code(),
                        absl::StrCat("GitHub start-up check failed: ", login.status().message()));
  }
  absl::StatusOr<Repository> repository = api.GetRepository();
  if (!repository.ok()) {
    switch (repository.status().code()) {
      case absl::StatusCode::kNotFound:
        return absl::NotFoundError(absl::StrCat(
            "GitHub repository not found, or not visible to ", login->login,
            "'s token (404): check the owner and repository names and the token's access"));
      case absl::StatusCode::kUnauthenticated:
        return absl::UnauthenticatedError(
            "GitHub rejected the token (401 Bad credentials): check the configured token");
      default:
        return absl::Status(
            repository.status().code(),
            absl::StrCat("GitHub start-up check failed: ", repository.status().message()));
    }
  }
  if (!repository->has_issues) {
    return absl::FailedPreconditionError(
        absl::StrCat("GitHub repository ", repository->full_name,
                     " has issues disabled: enable Issues in its settings"));
  }
  return absl::OkStatus();
}

}  // namespace tasksentinel::github
