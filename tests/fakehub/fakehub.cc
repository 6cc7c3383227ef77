// FakeHub's GitHub emulation: the stored records, their JSON renderings in GitHub's shapes, the
// request pipeline (faults, User-Agent, token, primary and secondary limits, routing, ETags and
// 304s, rate-limit headers, the request log) and the endpoint handlers. The admin API is in
// admin.cc. See fakehub.h.
#include "tests/fakehub/fakehub.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/github/jwt.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace tasksentinel::fakehub {

using Json = nlohmann::ordered_json;

namespace internal {

// A user as rendered in `user`, `closed_by`, `owner`.
struct UserRef {
  std::string login;
  int64_t id = 0;
};

struct Label {
  int64_t id = 0;
  std::string name;
  std::string color;
  std::optional<std::string> description;
  bool is_default = false;
};

struct IssueRec {
  int64_t id = 0;
  int64_t number = 0;
  std::string title;
  std::optional<std::string> body;
  bool open = true;
  std::optional<std::string> state_reason;
  std::vector<std::string> labels;  // keys into Repo::labels (lower case), in the order added
  bool pull_request = false;
  bool deleted = false;
  UserRef user;
  std::optional<UserRef> closed_by;  // kept after a reopen, as GitHub does
  int comments = 0;
  absl::Time created_at;
  absl::Time updated_at;
  absl::Time visible_at;  // lists leave it out before this (read lag)
  std::optional<absl::Time> closed_at;
};

struct CommentRec {
  int64_t id = 0;
  int64_t issue_number = 0;
  std::string body;
  UserRef user;
  absl::Time created_at;
  absl::Time updated_at;
  absl::Time visible_at;
};

struct Repo {
  RepoSpec spec;
  UserRef owner;
  absl::Time created_at;
  std::map<int64_t, IssueRec> issues;      // by number
  std::map<int64_t, CommentRec> comments;  // by id, so ascending
  std::map<std::string, Label> labels;     // by lower-case name
  int64_t next_number = 1;

  std::string full_name() const { return absl::StrCat(spec.owner, "/", spec.name); }
};

}  // namespace internal

namespace {

using internal::Answer;
using internal::CommentRec;
using internal::IssueRec;
using internal::Label;
using internal::Repo;
using internal::UserRef;

constexpr size_t kMaxLogEntries = 100000;
constexpr size_t kMaxBodyChars = 65536;
constexpr int kDefaultPerPage = 30;
constexpr int kMaxPerPage = 100;
constexpr char kApiVersion[] = "2022-11-28";
constexpr char kDocs[] = "https://docs.github.com/rest";
constexpr char kUserAgentMessage[] =
    "Request forbidden by administrative rules. Please make sure your request has a User-Agent "
    "header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-"
    "required). Check https://developer.github.com for other possible causes.\n";

// GitHub's default labels of a new repository.
struct DefaultLabel {
  const char* name;
  const char* color;
  const char* description;
};
constexpr DefaultLabel kDefaultLabels[] = {
    {"bug", "d73a4a", "Something isn't working"},
    {"documentation", "0075ca", "Improvements or additions to documentation"},
    {"duplicate", "cfd3d7", "This issue or pull request already exists"},
    {"enhancement", "a2eeef", "New feature or request"},
    {"good first issue", "7057ff", "Good for newcomers"},
    {"help wanted", "008672", "Extra attention is needed"},
    {"invalid", "e4e669", "This doesn't seem right"},
    {"question", "d876e3", "Further information is requested"},
    {"wontfix", "ffffff", "This will not be worked on"},
};

// --- Small helpers.

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

// ISO-8601 UTC with second resolution, as GitHub writes times.
std::string Iso(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// RFC 1123, for the `Date` and `Last-Modified` headers.
std::string HttpDate(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone());
}

// GitHub keeps seconds only.
absl::Time TruncateToSecond(absl::Time t) { return absl::FromUnixSeconds(absl::ToUnixSeconds(t)); }

// A `since` parameter: ISO-8601 (`Z` or an offset, optional fraction) or a bare date.
std::optional<absl::Time> ParseTimestamp(const std::string& text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return t;
  if (absl::ParseTime("%Y-%m-%d%ET%H:%M:%S", text, absl::UTCTimeZone(), &t, &err)) return t;
  if (absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &err)) return t;
  return std::nullopt;
}

// Characters (code points) of UTF-8 text.
size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// GitHub's legacy node id: base64 of "0<len>:<Type><id>".
std::string NodeId(absl::string_view type, int64_t id) {
  return absl::Base64Escape(absl::StrCat("0", type.size(), ":", type, id));
}

// Percent-encodes a URL path segment or query value.
std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// FNV-1a, 64 bits.
uint64_t Fnv1a(absl::string_view s, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// A weak ETag over the body: W/"<32 hex digits>".
std::string WeakEtag(const std::string& body) {
  return absl::StrFormat("W/\"%016x%016x\"", Fnv1a(body, 14695981039346656037ULL),
                         Fnv1a(body, 0x9E3779B97F4A7C15ULL));
}

// Whether an `If-None-Match` value names `etag` (weak comparison; `*` matches anything).
bool EtagMatches(const std::string& if_none_match, const std::string& etag) {
  auto opaque = [](absl::string_view tag) {
    tag = absl::StripAsciiWhitespace(tag);
    absl::ConsumePrefix(&tag, "W/");
    return std::string(tag);
  };
  const std::string want = opaque(etag);
  for (absl::string_view candidate : absl::StrSplit(if_none_match, ',')) {
    const std::string c = opaque(candidate);
    if (c == "*" || c == want) return true;
  }
  return false;
}

// The raw query of a request target ("" when none).
std::string RawQuery(const std::string& target) {
  const size_t q = target.find('?');
  return q == std::string::npos ? "" : target.substr(q + 1);
}

bool IsContentCreating(const std::string& method) {
  return method == "POST" || method == "PATCH" || method == "PUT" || method == "DELETE";
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Answer JsonAnswer(int status, const Json& j) {
  Answer a;
  a.status = status;
  a.body = Dump(j);
  return a;
}

Answer Message(int status, const std::string& message, const std::string& docs = kDocs) {
  return JsonAnswer(status, Json{{"message", message}, {"documentation_url", docs}});
}

Answer NotFound() { return Message(404, "Not Found"); }

Answer BadJson() { return Message(400, "Problems parsing JSON"); }

// 422 with one error.
Answer ValidationFailed(const std::string& resource, const std::string& code,
                        const std::string& field, const std::string& message = "") {
  Json error{{"resource", resource}, {"code", code}, {"field", field}};
  if (!message.empty()) error["message"] = message;
  return JsonAnswer(422, Json{{"message", "Validation Failed"},
                              {"errors", Json::array({error})},
                              {"documentation_url", kDocs}});
}

Answer BodyTooLong(const std::string& resource) {
  return ValidationFailed(resource, "custom", "body",
                          "body is too long (maximum is 65536 characters)");
}

// The request body as JSON: an empty body is `{}`; nullopt (with `error` set) when malformed.
std::optional<nlohmann::json> ParseBody(const httplib::Request& req, Answer* error) {
  if (absl::StripAsciiWhitespace(req.body).empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = BadJson();
    return std::nullopt;
  }
  return j;
}

// Label names from a JSON array of strings or {"name": ...} objects; nullopt if malformed.
std::optional<std::vector<std::string>> LabelNames(const nlohmann::json& j) {
  if (j.is_null()) return std::vector<std::string>{};
  if (!j.is_array()) return std::nullopt;
  std::vector<std::string> names;
  for (const nlohmann::json& e : j) {
    if (e.is_string()) {
      names.push_back(e.get<std::string>());
    } else if (e.is_object() && e.contains("name") && e["name"].is_string()) {
      names.push_back(e["name"].get<std::string>());
    } else {
      return std::nullopt;
    }
    if (absl::StripAsciiWhitespace(names.back()).empty()) return std::nullopt;
  }
  return names;
}

// per_page (default 30, at most 100) and page (from 1).
struct Paging {
  int per_page = kDefaultPerPage;
  int page = 1;
};

Paging ParsePaging(const httplib::Request& req) {
  Paging p;
  int v = 0;
  if (req.has_param("per_page") && absl::SimpleAtoi(req.get_param_value("per_page"), &v) && v > 0) {
    p.per_page = std::min(v, kMaxPerPage);
  }
  if (req.has_param("page") && absl::SimpleAtoi(req.get_param_value("page"), &v) && v > 0) {
    p.page = v;
  }
  return p;
}

// Cuts page `paging.page` out of `all` and, when there is more than one page, sets GitHub's
// `Link` header (prev, next, last, first) on `answer`, built from `link_base` and the request's
// own query with `page` replaced.
template <typename T>
std::vector<T> Paginate(const std::vector<T>& all, const Paging& paging,
                        const std::string& link_base, const std::string& raw_query,
                        Answer* answer) {
  const int64_t total = static_cast<int64_t>(all.size());
  const int64_t last = std::max<int64_t>(1, (total + paging.per_page - 1) / paging.per_page);
  const int64_t begin = std::min<int64_t>(total, (paging.page - 1) * int64_t{paging.per_page});
  const int64_t end = std::min<int64_t>(total, begin + paging.per_page);
  std::vector<T> page(all.begin() + begin, all.begin() + end);
  if (last > 1) {
    std::vector<std::string> kept;
    for (absl::string_view part : absl::StrSplit(raw_query, '&', absl::SkipEmpty())) {
      const absl::string_view key = part.substr(0, part.find('='));
      if (key != "page") kept.emplace_back(part);
    }
    auto url = [&](int64_t n) {
      std::vector<std::string> parts = kept;
      parts.push_back(absl::StrCat("page=", n));
      return absl::StrCat("<", link_base, "?", absl::StrJoin(parts, "&"), ">");
    };
    std::vector<std::string> links;
    const int64_t current = paging.page;
    if (current > 1) links.push_back(url(std::min(current - 1, last)) + "; rel=\"prev\"");
    if (current < last) {
      links.push_back(url(current + 1) + "; rel=\"next\"");
      links.push_back(url(last) + "; rel=\"last\"");
    }
    if (current > 1) links.push_back(url(1) + "; rel=\"first\"");
    answer->headers.emplace_back("Link", absl::StrJoin(links, ", "));
  }
  return page;
}

// --- JSON renderings in GitHub's shapes. `api` is "http://127.0.0.1:PORT".

Json UserJson(const std::string& api, const UserRef& u) {
  const std::string url = absl::StrCat(api, "/users/", u.login);
  return Json{
      {"login", u.login},
      {"id", u.id},
      {"node_id", NodeId("User", u.id)},
      {"avatar_url", absl::StrCat(api, "/avatars/u/", u.id, "?v=4")},
      {"gravatar_id", ""},
      {"url", url},
      {"html_url", absl::StrCat(api, "/", u.login)},
      {"followers_url", url + "/followers"},
      {"following_url", url + "/following{/other_user}"},
      {"gists_url", url + "/gists{/gist_id}"},
      {"starred_url", url + "/starred{/owner}{/repo}"},
      {"subscriptions_url", url + "/subscriptions"},
      {"organizations_url", url + "/orgs"},
      {"repos_url", url + "/repos"},
      {"events_url", url + "/events{/privacy}"},
      {"received_events_url", url + "/received_events"},
      {"type", "User"},
      {"site_admin", false},
  };
}

std::string RepoUrl(const std::string& api, const Repo& repo) {
  return absl::StrCat(api, "/repos/", repo.spec.owner, "/", repo.spec.name);
}

std::string RepoHtmlUrl(const std::string& api, const Repo& repo) {
  return absl::StrCat(api, "/", repo.spec.owner, "/", repo.spec.name);
}

std::string IssueUrl(const std::string& api, const Repo& repo, int64_t number) {
  return absl::StrCat(RepoUrl(api, repo), "/issues/", number);
}

std::string CommentUrl(const std::string& api, const Repo& repo, int64_t id) {
  return absl::StrCat(RepoUrl(api, repo), "/issues/comments/", id);
}

Json LabelJson(const std::string& api, const Repo& repo, const Label& l) {
  return Json{
      {"id", l.id},
      {"node_id", NodeId("Label", l.id)},
      {"url", absl::StrCat(RepoUrl(api, repo), "/labels/", UrlEncode(l.name))},
      {"name", l.name},
      {"color", l.color},
      {"default", l.is_default},
      {"description", l.description.has_value() ? Json(*l.description) : Json(nullptr)},
  };
}

Json IssueLabelsJson(const std::string& api, const Repo& repo, const IssueRec& issue) {
  Json labels = Json::array();
  for (const std::string& key : issue.labels) {
    auto it = repo.labels.find(key);
    if (it != repo.labels.end()) labels.push_back(LabelJson(api, repo, it->second));
  }
  return labels;
}

std::string AuthorAssociation(const Repo& repo, const UserRef& user) {
  return Lower(user.login) == Lower(repo.spec.owner) ? "OWNER" : "NONE";
}

Json ReactionsJson(const std::string& url) {
  return Json{{"url", url + "/reactions"},
              {"total_count", 0},
              {"+1", 0},
              {"-1", 0},
              {"laugh", 0},
              {"hooray", 0},
              {"confused", 0},
              {"heart", 0},
              {"rocket", 0},
              {"eyes", 0}};
}

// An issue; `single` adds what only single-issue answers carry (closed_by).
Json IssueJson(const std::string& api, const Repo& repo, const IssueRec& i, bool single) {
  const std::string url = IssueUrl(api, repo, i.number);
  const std::string html =
      absl::StrCat(RepoHtmlUrl(api, repo), i.pull_request ? "/pull/" : "/issues/", i.number);
  Json j{
      {"url", url},
      {"repository_url", RepoUrl(api, repo)},
      {"labels_url", url + "/labels{/name}"},
      {"comments_url", url + "/comments"},
      {"events_url", url + "/events"},
      {"html_url", html},
      {"id", i.id},
      {"node_id", NodeId(i.pull_request ? "PullRequest" : "Issue", i.id)},
      {"number", i.number},
      {"title", i.title},
      {"user", UserJson(api, i.user)},
      {"labels", IssueLabelsJson(api, repo, i)},
      {"state", i.open ? "open" : "closed"},
      {"locked", false},
      {"assignee", nullptr},
      {"assignees", Json::array()},
      {"milestone", nullptr},
      {"comments", i.comments},
      {"created_at", Iso(i.created_at)},
      {"updated_at", Iso(i.updated_at)},
      {"closed_at", i.closed_at.has_value() ? Json(Iso(*i.closed_at)) : Json(nullptr)},
      {"author_association", AuthorAssociation(repo, i.user)},
      {"active_lock_reason", nullptr},
  };
  if (i.pull_request) {
    const std::string pr_url = absl::StrCat(RepoUrl(api, repo), "/pulls/", i.number);
    j["draft"] = false;
    j["pull_request"] = Json{{"url", pr_url},
                             {"html_url", html},
                             {"diff_url", html + ".diff"},
                             {"patch_url", html + ".patch"},
                             {"merged_at", nullptr}};
  }
  j["body"] = i.body.has_value() ? Json(*i.body) : Json(nullptr);
  if (single) {
    j["closed_by"] = i.closed_by.has_value() ? UserJson(api, *i.closed_by) : Json(nullptr);
  }
  j["reactions"] = ReactionsJson(url);
  j["timeline_url"] = url + "/timeline";
  j["performed_via_github_app"] = nullptr;
  j["state_reason"] = i.state_reason.has_value() ? Json(*i.state_reason) : Json(nullptr);
  return j;
}

Json CommentJson(const std::string& api, const Repo& repo, const CommentRec& c) {
  const std::string url = CommentUrl(api, repo, c.id);
  return Json{
      {"url", url},
      {"html_url",
       absl::StrCat(RepoHtmlUrl(api, repo), "/issues/", c.issue_number, "#issuecomment-", c.id)},
      {"issue_url", IssueUrl(api, repo, c.issue_number)},
      {"id", c.id},
      {"node_id", NodeId("IssueComment", c.id)},
      {"user", UserJson(api, c.user)},
      {"created_at", Iso(c.created_at)},
      {"updated_at", Iso(c.updated_at)},
      {"author_association", AuthorAssociation(repo, c.user)},
      {"body", c.body},
      {"reactions", ReactionsJson(url)},
      {"performed_via_github_app", nullptr},
  };
}

Json RepoJson(const std::string& api, const Repo& repo) {
  const std::string url = RepoUrl(api, repo);
  int64_t open_issues = 0;
  for (const auto& [number, issue] : repo.issues) {
    if (issue.open && !issue.deleted) ++open_issues;
  }
  return Json{
      {"id", repo.spec.id},
      {"node_id", NodeId("Repository", repo.spec.id)},
      {"name", repo.spec.name},
      {"full_name", repo.full_name()},
      {"private", false},
      {"owner", UserJson(api, repo.owner)},
      {"html_url", RepoHtmlUrl(api, repo)},
      {"description", "FakeHub in-memory repository (not GitHub)"},
      {"fork", false},
      {"url", url},
      {"issues_url", url + "/issues{/number}"},
      {"issue_comment_url", url + "/issues/comments{/number}"},
      {"labels_url", url + "/labels{/name}"},
      {"created_at", Iso(repo.created_at)},
      {"updated_at", Iso(repo.created_at)},
      {"pushed_at", Iso(repo.created_at)},
      {"has_issues", repo.spec.has_issues},
      {"archived", false},
      {"disabled", false},
      {"visibility", "public"},
      {"open_issues_count", open_issues},
      {"open_issues", open_issues},
      {"default_branch", "main"},
      {"permissions",
       Json{{"admin", true}, {"maintain", true}, {"push", true}, {"triage", true}, {"pull", true}}},
  };
}

IssueState ToIssueState(const Repo& repo, const IssueRec& i) {
  IssueState s;
  s.id = i.id;
  s.number = i.number;
  s.title = i.title;
  s.body = i.body;
  s.open = i.open;
  s.state_reason = i.state_reason;
  for (const std::string& key : i.labels) {
    auto it = repo.labels.find(key);
    s.labels.push_back(it != repo.labels.end() ? it->second.name : key);
  }
  s.pull_request = i.pull_request;
  s.deleted = i.deleted;
  s.user = i.user.login;
  s.comments = i.comments;
  s.created_at = i.created_at;
  s.updated_at = i.updated_at;
  s.closed_at = i.closed_at;
  return s;
}

CommentState ToCommentState(const CommentRec& c) {
  CommentState s;
  s.id = c.id;
  s.issue_number = c.issue_number;
  s.body = c.body;
  s.user = c.user.login;
  s.created_at = c.created_at;
  s.updated_at = c.updated_at;
  return s;
}

// The port of an IPv4 or IPv6 socket address; -1 for other families.
int PortOf(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// Shuts down the server side of the connection a request came on, found among the process's
// descriptors by its local and peer ports, so that the client gets no answer. cpp-httplib gives
// handlers no access to the socket; this is a test tool, and Linux only.
bool ShutdownConnection(int local_port, int remote_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool found = false;
  while (dirent* entry = readdir(dir)) {
    int fd = -1;
    if (!absl::SimpleAtoi(entry->d_name, &fd)) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    if (PortOf(local) != local_port) continue;
    sockaddr_storage peer{};
    len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (PortOf(peer) != remote_port) continue;
    shutdown(fd, SHUT_RDWR);
    found = true;
  }
  closedir(dir);
  return found;
}

// cpp-httplib listens with a backlog of 5; a burst of connections (several sidecars, or test
// threads) overflows it and the kernel drops SYNs, which clients retry only after a second.
// Re-listening on the bound socket (found like ShutdownConnection does) raises the backlog.
void RaiseListenBacklog(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    int fd = -1;
    if (!absl::SimpleAtoi(entry->d_name, &fd)) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    if (PortOf(local) != port) continue;
    int listening = 0;
    len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) {
      listen(fd, SOMAXCONN);
    }
  }
  closedir(dir);
}

}  // namespace

// --- Lifecycle.

FakeHub::FakeHub(FakeHubOptions options)
    : requested_port_(options.port), threads_(std::max(2, options.threads)) {
  absl::MutexLock lock(&mu_);
  login_ = options.login;
  user_ids_[login_] = options.user_id;
  tokens_ = std::move(options.tokens);
  users_ = std::move(options.users);
  app_ = std::move(options.app);
  for (FakeUser& u : users_) {
    if (u.id == 0) u.id = 7'100'000 + static_cast<int64_t>(user_ids_.size());
    user_ids_[u.login] = u.id;
  }
  caller_ = login_;
  faults_ = options.faults;
  limits_ = options.limits;
  clock_offset_ = options.clock_offset;
  rng_.seed(std::random_device{}());
  primary_reset_ = absl::Now() + clock_offset_ + limits_.primary_window;
  if (options.repos.empty()) {
    init_status_ = absl::InvalidArgumentError("FakeHub needs at least one repository");
  }
  for (const RepoSpec& spec : options.repos) init_status_.Update(AddRepositoryLocked(spec));
}

FakeHub::~FakeHub() { Stop(); }

absl::Status FakeHub::Start() {
  if (server_ != nullptr) return absl::FailedPreconditionError("FakeHub already started");
  {
    absl::MutexLock lock(&mu_);
    if (!init_status_.ok()) return init_status_;
  }
  // A dropped connection makes the next write to it fail; without this it would kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [n = threads_] { return new httplib::ThreadPool(n); };
  // Only SO_REUSEADDR: httplib's default also sets SO_REUSEPORT, which would let two fakehubs
  // share a port.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server->set_keep_alive_timeout(2);
  server->set_keep_alive_max_count(100);
  server->set_read_timeout(std::chrono::seconds(5));
  server->set_write_timeout(std::chrono::seconds(5));
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); };
  server->Get(".*", handler);
  server->Post(".*", handler);
  server->Patch(".*", handler);
  server->Put(".*", handler);
  server->Delete(".*", handler);
  server->Options(".*", handler);

  int bound = -1;
  if (requested_port_ == 0) {
    bound = server->bind_to_any_port("127.0.0.1");
  } else if (server->bind_to_port("127.0.0.1", requested_port_)) {
    bound = requested_port_;
  }
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("FakeHub cannot listen on 127.0.0.1:", requested_port_));
  }
  RaiseListenBacklog(bound);
  port_ = bound;
  server_ = std::move(server);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) absl::SleepFor(absl::Milliseconds(1));
  return absl::OkStatus();
}

void FakeHub::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

int FakeHub::port() const { return port_; }

std::string FakeHub::base_url() const { return absl::StrCat("http://127.0.0.1:", port_.load()); }

// --- The request pipeline.

void FakeHub::Serve(const httplib::Request& req, httplib::Response& res) {
  Answer answer;
  if (req.path == "/_fakehub" || absl::StartsWith(req.path, "/_fakehub/")) {
    answer = HandleAdmin(req);
    answer.headers.emplace_back("Date", HttpDate(Now()));
  } else {
    absl::Duration latency;
    bool drop = false;
    {
      absl::MutexLock lock(&mu_);
      latency = faults_.latency;
      if (faults_.drop_next > 0) {
        --faults_.drop_next;
        drop = true;
      } else {
        drop = Chance(faults_.drop_rate);
      }
    }
    if (latency > absl::ZeroDuration()) absl::SleepFor(latency);
    if (drop) {
      {
        // Logged first: the client may ask again as soon as the connection closes.
        absl::MutexLock lock(&mu_);
        LogEntry entry;
        entry.method = req.method;
        entry.path = req.path;
        entry.query = RawQuery(req.target);
        entry.content_creating = IsContentCreating(req.method);
        entry.dropped = true;
        entry.at = absl::Now() + clock_offset_;
        Log(entry);
      }
      ShutdownConnection(req.local_port, req.remote_port);
      // Unseen once the connection is shut down (should it not be found, the client sees 500).
      res.status = 500;
      res.set_header("Connection", "close");
      return;
    }
    bool lose = false;
    if (req.method == "POST" && absl::EndsWith(req.path, "/issues")) {
      absl::MutexLock lock(&mu_);
      if (faults_.lose_answer_next > 0) {
        --faults_.lose_answer_next;
        lose = true;
      }
    }
    answer = HandleApi(req);
    if (lose) {
      ShutdownConnection(req.local_port, req.remote_port);
      res.status = 500;  // unseen once the connection is shut down
      res.set_header("Connection", "close");
      return;
    }
  }
  res.status = answer.status;
  for (const auto& [name, value] : answer.headers) res.set_header(name, value);
  if (!answer.body.empty()) res.set_content(answer.body, answer.content_type.c_str());
}

FakeHub::Answer FakeHub::HandleApi(const httplib::Request& req) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now() + clock_offset_;
  RollPrimaryWindow(now);
  ++request_counter_;

  LogEntry entry;
  entry.method = req.method;
  entry.path = req.path;
  entry.query = RawQuery(req.target);
  entry.content_creating = IsContentCreating(req.method);
  entry.at = now;

  bool inject_error = false;
  if (faults_.error_next > 0) {
    --faults_.error_next;
    inject_error = true;
  } else {
    inject_error = Chance(faults_.error_rate);
  }

  Answer a;
  bool spends_limit = false;
  std::string token;
  {
    const std::string header = req.get_header_value("Authorization");
    absl::string_view auth = absl::StripAsciiWhitespace(header);
    if (absl::StartsWithIgnoreCase(auth, "bearer ")) {
      token = std::string(absl::StripAsciiWhitespace(auth.substr(7)));
    } else if (absl::StartsWithIgnoreCase(auth, "token ")) {
      token = std::string(absl::StripAsciiWhitespace(auth.substr(6)));
    }
  }
  caller_ = login_;
  caller_writes_ = true;
  bool user_token = false;
  for (const FakeUser& u : users_) {
    if (!token.empty() && u.token == token) {
      caller_ = u.login;
      caller_writes_ = u.role == "write";
      user_token = true;
    }
  }
  // The app's own endpoints take its JWT; its installation tokens act as its bot until expiry.
  std::optional<Answer> app_answer;
  if (app_.has_value() && absl::StartsWith(req.path, "/app")) {
    absl::StatusOr<github::AppJwtClaims> claims = github::VerifyAppJwt(token, app_->public_key_pem);
    if (!claims.ok() || claims->issuer != app_->app_id || claims->expires_at <= now ||
        claims->issued_at > now + absl::Seconds(60)) {
      app_answer = Message(401, "A JSON web token could not be decoded");
    } else {
      user_token = true;
    }
  } else if (auto it = installation_tokens_.find(token); it != installation_tokens_.end()) {
    if (it->second <= now) {
      app_answer = Message(401, "Bad credentials");
    } else {
      caller_ = absl::StrCat(app_->slug, "[bot]");
      caller_writes_ = true;
      user_token = true;
    }
  }
  if (inject_error) {
    a = Message(faults_.error_status, "Server Error");
  } else if (absl::StripAsciiWhitespace(req.get_header_value("User-Agent")).empty()) {
    a.status = 403;
    a.content_type = "text/plain; charset=utf-8";
    a.body = kUserAgentMessage;
  } else if (token.empty()) {
    a = Message(401, "Requires authentication");
  } else if (app_answer.has_value()) {
    a = *app_answer;
  } else if (!user_token && !tokens_.empty() &&
             std::find(tokens_.begin(), tokens_.end(), token) == tokens_.end()) {
    a = Message(401, "Bad credentials");
  } else if (primary_used_ >= limits_.primary_limit) {
    a = Message(403,
                absl::StrCat("API rate limit exceeded for user ID ", UserId(login_),
                             ". If you reach out to GitHub Support for help, please include the "
                             "request ID FAKE:",
                             request_counter_, " and timestamp ", Iso(now), "."),
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                "#about-the-primary-rate-limit");
  } else {
    spends_limit = true;
    bool admitted = true;
    if (entry.content_creating) {
      PruneSecondaryWindow(now);
      if (now < secondary_blocked_until_) {
        admitted = false;
      } else if (static_cast<int>(secondary_window_.size()) >= limits_.secondary_per_minute) {
        secondary_blocked_until_ = now + limits_.secondary_block;
        admitted = false;
      } else {
        secondary_window_.push_back(now);
      }
    }
    if (!admitted) {
      a = Message(403,
                  absl::StrCat("You have exceeded a secondary rate limit and have been "
                               "temporarily blocked from content creation. Please retry your "
                               "request again later. If you reach out to GitHub Support for "
                               "help, please include the request ID FAKE:",
                               request_counter_, "."),
                  "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                  "#about-secondary-rate-limits");
      if (limits_.secondary_retry_after) {
        const int64_t seconds = std::max<int64_t>(
            1, absl::ToInt64Seconds(absl::Ceil(secondary_blocked_until_ - now, absl::Seconds(1))));
        a.headers.emplace_back("Retry-After", absl::StrCat(seconds));
      }
    } else {
      a = Dispatch(req, now);
      if (a.status / 100 == 2 && !a.body.empty()) {
        const std::string etag = WeakEtag(a.body);
        a.headers.emplace_back("ETag", etag);
        if ((req.method == "GET" || req.method == "HEAD") && req.has_header("If-None-Match") &&
            EtagMatches(req.get_header_value("If-None-Match"), etag)) {
          a.status = 304;
          a.body.clear();
          spends_limit = false;  // GitHub: a 304 costs no primary rate limit
        }
      }
    }
  }
  if (spends_limit) ++primary_used_;

  const std::string version = req.get_header_value("X-GitHub-Api-Version");
  absl::Time date = now;
  if (faults_.skewed_date_next > 0) {
    --faults_.skewed_date_next;
    date += faults_.date_skew;
  }
  a.headers.emplace_back("Date", HttpDate(date));
  a.headers.emplace_back("X-GitHub-Media-Type", "github.v3; format=json");
  a.headers.emplace_back("X-GitHub-Api-Version-Selected", version.empty() ? kApiVersion : version);
  a.headers.emplace_back("X-GitHub-Request-Id", absl::StrFormat("FAKE:%08X", request_counter_));
  AddRateHeaders(a);

  entry.status = a.status;
  entry.not_modified = a.status == 304;
  Log(entry);
  return a;
}

void FakeHub::AddRateHeaders(Answer& a) {
  a.headers.emplace_back("X-RateLimit-Limit", absl::StrCat(limits_.primary_limit));
  a.headers.emplace_back("X-RateLimit-Remaining",
                         absl::StrCat(std::max(0, limits_.primary_limit - primary_used_)));
  a.headers.emplace_back("X-RateLimit-Used", absl::StrCat(primary_used_));
  a.headers.emplace_back("X-RateLimit-Reset", absl::StrCat(absl::ToUnixSeconds(primary_reset_)));
  a.headers.emplace_back("X-RateLimit-Resource", "core");
}

void FakeHub::RollPrimaryWindow(absl::Time now) {
  if (now >= primary_reset_) {
    primary_used_ = 0;
    primary_reset_ = now + limits_.primary_window;
  }
}

void FakeHub::PruneSecondaryWindow(absl::Time now) {
  while (!secondary_window_.empty() && secondary_window_.front() <= now - absl::Minutes(1)) {
    secondary_window_.pop_front();
  }
}

bool FakeHub::Chance(double probability) {
  if (probability <= 0) return false;
  if (probability >= 1) return true;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < probability;
}

void FakeHub::Log(const LogEntry& entry) {
  log_.push_back(entry);
  while (log_.size() > kMaxLogEntries) log_.pop_front();
  ++counts_.total;
  ++counts_.by_method[entry.method];
  ++counts_.by_status[entry.status];
  if (entry.not_modified) ++counts_.not_modified;
  if (entry.content_creating) ++counts_.content_creating;
  if (entry.dropped) ++counts_.dropped;
}

// --- Routing.

FakeHub::Answer FakeHub::Dispatch(const httplib::Request& req, absl::Time now) {
  const std::string& path = req.path;
  const std::string& method = req.method;
  if (path.size() < 2 || path.back() == '/') return NotFound();
  const std::vector<std::string> seg = absl::StrSplit(path.substr(1), '/');
  for (const std::string& s : seg) {
    if (s.empty()) return NotFound();
  }
  if (seg.size() == 1 && seg[0] == "user") return method == "GET" ? GetUser(now) : NotFound();
  if (seg[0] == "app" && app_.has_value()) return AppEndpoint(seg, method, now);
  if (seg.size() == 2 && seg[0] == "users") {
    return method == "GET" ? GetUserByLogin(seg[1], now) : NotFound();
  }

  Repo* repo = nullptr;
  size_t rest = 0;
  if (seg[0] == "repos" && seg.size() >= 3) {
    repo = FindRepo(absl::StrCat(seg[1], "/", seg[2]));
    rest = 3;
  } else if (seg[0] == "repositories" && seg.size() >= 2) {
    int64_t id = 0;
    if (absl::SimpleAtoi(seg[1], &id)) repo = FindRepoById(id);
    rest = 2;
  }
  if (repo == nullptr) return NotFound();
  const std::vector<std::string> r(seg.begin() + rest, seg.end());
  if (r.empty()) return method == "GET" ? GetRepo(*repo) : NotFound();
  if (r[0] != "issues") return NotFound();
  if (!repo->spec.has_issues) {
    return Message(410, "Issues are disabled for this repo",
                   "https://docs.github.com/rest/issues/issues");
  }
  const std::string link_base =
      absl::StrCat(ApiBase(), "/repositories/", repo->spec.id, "/", absl::StrJoin(r, "/"));
  if (r.size() == 1) {
    if (method == "GET") return ListIssues(*repo, req, link_base, now);
    if (method == "POST") return CreateIssue(*repo, req, now);
    return NotFound();
  }
  if (r[1] == "comments") {
    if (r.size() == 2) {
      return method == "GET" ? ListComments(*repo, nullptr, req, link_base, now) : NotFound();
    }
    int64_t id = 0;
    if (r.size() == 3 && absl::SimpleAtoi(r[2], &id)) return CommentById(*repo, id, req, now);
    return NotFound();
  }
  int64_t number = 0;
  if (!absl::SimpleAtoi(r[1], &number)) return NotFound();
  auto it = repo->issues.find(number);
  if (it == repo->issues.end()) return NotFound();
  IssueRec& issue = it->second;
  if (issue.deleted) return Message(410, "This issue was deleted");
  if (r.size() == 2) {
    if (method == "GET") return GetIssue(*repo, issue);
    if (method == "PATCH") return UpdateIssue(*repo, issue, req, now);
    return NotFound();
  }
  if (r[2] == "comments" && r.size() == 3) {
    if (method == "GET") return ListComments(*repo, &issue, req, link_base, now);
    if (method == "POST") return CreateComment(*repo, issue, req, now);
    return NotFound();
  }
  if (r[2] == "labels") {
    if (r.size() == 3) return IssueLabels(*repo, issue, req, now);
    if (r.size() == 4 && method == "DELETE") return RemoveIssueLabel(*repo, issue, r[3], now);
  }
  return NotFound();
}

// --- Endpoints.

FakeHub::Answer FakeHub::GetUser(absl::Time now) {
  const UserRef me{caller_, UserId(caller_)};
  Json j = UserJson(ApiBase(), me);
  j["name"] = caller_;
  j["company"] = nullptr;
  j["blog"] = "";
  j["location"] = nullptr;
  j["email"] = nullptr;
  j["hireable"] = nullptr;
  j["bio"] = "FakeHub user (not GitHub)";
  j["twitter_username"] = nullptr;
  j["public_repos"] = static_cast<int64_t>(repos_.size());
  j["public_gists"] = 0;
  j["followers"] = 0;
  j["following"] = 0;
  j["created_at"] = Iso(now);
  j["updated_at"] = Iso(now);
  return JsonAnswer(200, j);
}

FakeHub::Answer FakeHub::GetRepo(const Repo& repo) {
  return JsonAnswer(200, RepoJson(ApiBase(), repo));
}

FakeHub::Answer FakeHub::ListIssues(const Repo& repo, const httplib::Request& req,
                                    const std::string& link_base, absl::Time now) {
  const std::string state = req.has_param("state") ? req.get_param_value("state") : "open";
  if (state != "open" && state != "closed" && state != "all") {
    return ValidationFailed("Issue", "invalid", "state");
  }
  std::vector<std::string> want_labels;
  if (req.has_param("labels")) {
    for (absl::string_view l : absl::StrSplit(req.get_param_value("labels"), ',')) {
      l = absl::StripAsciiWhitespace(l);
      if (!l.empty()) want_labels.push_back(Lower(l));
    }
  }
  std::optional<absl::Time> since;
  if (req.has_param("since")) {
    since = ParseTimestamp(req.get_param_value("since"));
    if (!since.has_value()) return ValidationFailed("Issue", "invalid", "since");
  }
  const std::string sort = req.has_param("sort") ? req.get_param_value("sort") : "created";
  if (sort != "created" && sort != "updated" && sort != "comments") {
    return ValidationFailed("Issue", "invalid", "sort");
  }
  const std::string direction =
      req.has_param("direction") ? req.get_param_value("direction") : "desc";
  if (direction != "asc" && direction != "desc") {
    return ValidationFailed("Issue", "invalid", "direction");
  }

  std::vector<const IssueRec*> matching;
  for (const auto& [number, issue] : repo.issues) {
    if (issue.deleted || issue.visible_at > now) continue;
    if (state == "open" && !issue.open) continue;
    if (state == "closed" && issue.open) continue;
    if (since.has_value() && TruncateToSecond(issue.updated_at) < *since) continue;
    bool has_all = true;
    for (const std::string& l : want_labels) {
      if (std::find(issue.labels.begin(), issue.labels.end(), l) == issue.labels.end()) {
        has_all = false;
        break;
      }
    }
    if (has_all) matching.push_back(&issue);
  }
  auto key = [&](const IssueRec* i) {
    if (sort == "updated") return std::make_pair(absl::ToUnixSeconds(i->updated_at), i->number);
    if (sort == "comments") return std::make_pair(int64_t{i->comments}, i->number);
    return std::make_pair(absl::ToUnixSeconds(i->created_at), i->number);
  };
  std::stable_sort(matching.begin(), matching.end(), [&](const IssueRec* a, const IssueRec* b) {
    return direction == "asc" ? key(a) < key(b) : key(b) < key(a);
  });

  Answer a;
  const std::vector<const IssueRec*> page =
      Paginate(matching, ParsePaging(req), link_base, RawQuery(req.target), &a);
  Json out = Json::array();
  for (const IssueRec* i : page) out.push_back(IssueJson(ApiBase(), repo, *i, /*single=*/false));
  a.body = Dump(out);
  return a;
}

FakeHub::Answer FakeHub::CreateIssue(Repo& repo, const httplib::Request& req, absl::Time now) {
  Answer error;
  std::optional<nlohmann::json> body = ParseBody(req, &error);
  if (!body.has_value()) return error;
  if (!body->is_object()) return Message(400, "Body should be a JSON object");
  const nlohmann::json& b = *body;
  if (!b.contains("title") || b["title"].is_null()) {
    return ValidationFailed("Issue", "missing_field", "title");
  }
  std::string title;
  if (b["title"].is_string()) {
    title = b["title"].get<std::string>();
  } else if (b["title"].is_number()) {
    title = b["title"].dump();
  } else {
    return ValidationFailed("Issue", "invalid", "title");
  }
  if (absl::StripAsciiWhitespace(title).empty()) {
    return ValidationFailed("Issue", "missing_field", "title");
  }
  std::optional<std::string> text;
  if (b.contains("body") && !b["body"].is_null()) {
    if (!b["body"].is_string()) return ValidationFailed("Issue", "invalid", "body");
    text = b["body"].get<std::string>();
    if (Utf8Length(*text) > kMaxBodyChars) return BodyTooLong("Issue");
  }
  std::vector<std::string> labels;
  if (b.contains("labels")) {
    std::optional<std::vector<std::string>> names = LabelNames(b["labels"]);
    if (!names.has_value()) return ValidationFailed("Issue", "invalid", "labels");
    labels = std::move(*names);
  }
  IssueRec& issue =
      NewIssue(repo, title, std::move(text), caller_writes_ ? labels : std::vector<std::string>{},
               caller_, now, now + faults_.read_lag);
  Answer a = JsonAnswer(201, IssueJson(ApiBase(), repo, issue, /*single=*/true));
  a.headers.emplace_back("Location", IssueUrl(ApiBase(), repo, issue.number));
  return a;
}

FakeHub::Answer FakeHub::GetIssue(const Repo& repo, const IssueRec& issue) {
  Answer a = JsonAnswer(200, IssueJson(ApiBase(), repo, issue, /*single=*/true));
  a.headers.emplace_back("Last-Modified", HttpDate(issue.updated_at));
  return a;
}

std::optional<FakeHub::Answer> FakeHub::RequireWriteOrAuthor(const std::string& author) {
  if (caller_writes_ || caller_ == author) return std::nullopt;
  return Message(403, "Must have admin rights to Repository.",
                 "https://docs.github.com/rest/issues/comments");
}

FakeHub::Answer FakeHub::AppEndpoint(const std::vector<std::string>& seg,
                                     const std::string& method, absl::Time now) {
  if (seg.size() == 1 && method == "GET") {
    return JsonAnswer(200, Json{{"id", std::atoll(app_->app_id.c_str())},
                                {"slug", app_->slug},
                                {"name", app_->slug},
                                {"created_at", Iso(now)}});
  }
  if (seg.size() == 4 && seg[1] == "installations" && seg[3] == "access_tokens" &&
      method == "POST") {
    if (seg[2] != absl::StrCat(app_->installation_id)) return NotFound();
    const std::string token = absl::StrCat("ghs_fake", ++installation_tokens_issued_, "_",
                                           absl::ToUnixNanos(now));
    installation_tokens_[token] = now + app_->token_lifetime;
    UserId(absl::StrCat(app_->slug, "[bot]"));  // the bot account exists from now on
    return JsonAnswer(201, Json{{"token", token},
                                {"expires_at", Iso(now + app_->token_lifetime)},
                                {"permissions", {{"issues", "write"}, {"metadata", "read"}}},
                                {"repository_selection", "all"}});
  }
  return NotFound();
}

FakeHub::Answer FakeHub::GetUserByLogin(const std::string& login, absl::Time now) {
  for (const auto& [known, id] : user_ids_) {
    if (Lower(known) == Lower(login)) {
      Json j = UserJson(ApiBase(), UserRef{known, id});
      j["created_at"] = Iso(now);
      return JsonAnswer(200, j);
    }
  }
  return NotFound();
}

FakeHub::Answer FakeHub::UpdateIssue(Repo& repo, IssueRec& issue, const httplib::Request& req,
                                     absl::Time now) {
  if (auto denied = RequireWriteOrAuthor(issue.user.login)) return *denied;
  Answer error;
  std::optional<nlohmann::json> body = ParseBody(req, &error);
  if (!body.has_value()) return error;
  if (!body->is_object()) return Message(400, "Body should be a JSON object");
  const nlohmann::json& b = *body;

  // Validate everything before changing anything.
  std::optional<std::string> title;
  if (b.contains("title")) {
    if (!b["title"].is_string() ||
        absl::StripAsciiWhitespace(b["title"].get<std::string>()).empty()) {
      return ValidationFailed("Issue", "invalid", "title");
    }
    title = b["title"].get<std::string>();
  }
  bool set_body = false;
  std::optional<std::string> text;
  if (b.contains("body")) {
    set_body = true;
    if (!b["body"].is_null()) {
      if (!b["body"].is_string()) return ValidationFailed("Issue", "invalid", "body");
      text = b["body"].get<std::string>();
      if (Utf8Length(*text) > kMaxBodyChars) return BodyTooLong("Issue");
    }
  }
  std::optional<bool> open;
  if (b.contains("state") && !b["state"].is_null()) {
    const std::string s = b["state"].is_string() ? b["state"].get<std::string>() : "";
    if (s != "open" && s != "closed") return ValidationFailed("Issue", "invalid", "state");
    open = s == "open";
  }
  bool set_reason = false;
  std::optional<std::string> reason;
  if (b.contains("state_reason")) {
    set_reason = true;
    if (!b["state_reason"].is_null()) {
      const std::string s =
          b["state_reason"].is_string() ? b["state_reason"].get<std::string>() : "";
      if (s != "completed" && s != "not_planned" && s != "reopened") {
        return ValidationFailed("Issue", "invalid", "state_reason");
      }
      reason = s;
    }
  }
  std::optional<std::vector<std::string>> labels;
  if (b.contains("labels")) {
    labels = LabelNames(b["labels"]);
    if (!labels.has_value()) return ValidationFailed("Issue", "invalid", "labels");
  }

  bool changed = false;
  if (title.has_value() && *title != issue.title) {
    issue.title = *title;
    changed = true;
  }
  if (set_body && text != issue.body) {
    issue.body = text;
    changed = true;
  }
  if (open.has_value() && *open != issue.open) {
    issue.open = *open;
    if (*open) {
      issue.closed_at.reset();
      issue.state_reason = set_reason && reason.has_value() ? reason : "reopened";
    } else {
      issue.closed_at = now;
      issue.closed_by = UserRef{caller_, UserId(caller_)};
      issue.state_reason = set_reason && reason.has_value() ? reason : "completed";
    }
    changed = true;
  } else if (set_reason && !issue.open && reason != issue.state_reason) {
    issue.state_reason = reason;
    changed = true;
  }
  if (labels.has_value() && caller_writes_) {  // GitHub drops an issue author's label changes
    std::vector<std::string> keys;
    for (const std::string& name : *labels) {
      const std::string key = Lower(EnsureLabel(repo, name).name);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
    if (keys != issue.labels) {
      issue.labels = std::move(keys);
      changed = true;
    }
  }
  if (changed) issue.updated_at = now;
  return JsonAnswer(200, IssueJson(ApiBase(), repo, issue, /*single=*/true));
}

FakeHub::Answer FakeHub::IssueLabels(Repo& repo, IssueRec& issue, const httplib::Request& req,
                                     absl::Time now) {
  if (req.method == "GET") return JsonAnswer(200, IssueLabelsJson(ApiBase(), repo, issue));
  if (req.method != "POST" && req.method != "PUT") return NotFound();
  if (auto denied = RequireWriteOrAuthor("")) return *denied;
  Answer error;
  std::optional<nlohmann::json> body = ParseBody(req, &error);
  if (!body.has_value()) return error;
  // {"labels": [...]} or, as older clients send, a bare array.
  const nlohmann::json list = body->is_object() ? body->value("labels", nlohmann::json()) : *body;
  if (body->is_object() && !body->contains("labels")) {
    return ValidationFailed("Label", "missing_field", "labels");
  }
  std::optional<std::vector<std::string>> names = LabelNames(list);
  if (!names.has_value()) return ValidationFailed("Label", "invalid", "labels");
  std::vector<std::string> keys = req.method == "POST" ? issue.labels : std::vector<std::string>{};
  for (const std::string& name : *names) {
    const std::string key = Lower(EnsureLabel(repo, name).name);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  if (keys != issue.labels) {
    issue.labels = std::move(keys);
    issue.updated_at = now;
  }
  return JsonAnswer(200, IssueLabelsJson(ApiBase(), repo, issue));
}

FakeHub::Answer FakeHub::RemoveIssueLabel(Repo& repo, IssueRec& issue, const std::string& name,
                                          absl::Time now) {
  if (auto denied = RequireWriteOrAuthor("")) return *denied;
  auto it = std::find(issue.labels.begin(), issue.labels.end(), Lower(name));
  if (it == issue.labels.end()) {
    return Message(404, "Label does not exist",
                   "https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue");
  }
  issue.labels.erase(it);
  issue.updated_at = now;
  return JsonAnswer(200, IssueLabelsJson(ApiBase(), repo, issue));
}

FakeHub::Answer FakeHub::ListComments(const Repo& repo, const IssueRec* issue,
                                      const httplib::Request& req, const std::string& link_base,
                                      absl::Time now) {
  std::optional<absl::Time> since;
  if (req.has_param("since")) {
    since = ParseTimestamp(req.get_param_value("since"));
    if (!since.has_value()) return ValidationFailed("IssueComment", "invalid", "since");
  }
  std::vector<const CommentRec*> matching;
  for (const auto& [id, c] : repo.comments) {
    if (issue != nullptr && c.issue_number != issue->number) continue;
    if (issue == nullptr) {
      auto parent = repo.issues.find(c.issue_number);
      if (parent == repo.issues.end() || parent->second.deleted) continue;
    }
    if (c.visible_at > now) continue;
    if (since.has_value() && TruncateToSecond(c.updated_at) < *since) continue;
    matching.push_back(&c);
  }
  if (issue == nullptr && req.get_param_value("direction") == "desc") {
    std::reverse(matching.begin(), matching.end());
  }
  Answer a;
  const std::vector<const CommentRec*> page =
      Paginate(matching, ParsePaging(req), link_base, RawQuery(req.target), &a);
  Json out = Json::array();
  for (const CommentRec* c : page) out.push_back(CommentJson(ApiBase(), repo, *c));
  a.body = Dump(out);
  return a;
}

FakeHub::Answer FakeHub::CreateComment(Repo& repo, IssueRec& issue, const httplib::Request& req,
                                       absl::Time now) {
  Answer error;
  std::optional<nlohmann::json> body = ParseBody(req, &error);
  if (!body.has_value()) return error;
  if (!body->is_object()) return Message(400, "Body should be a JSON object");
  if (!body->contains("body") || (*body)["body"].is_null()) {
    return ValidationFailed("IssueComment", "missing_field", "body");
  }
  if (!(*body)["body"].is_string()) return ValidationFailed("IssueComment", "invalid", "body");
  const std::string text = (*body)["body"].get<std::string>();
  if (absl::StripAsciiWhitespace(text).empty()) {
    return ValidationFailed("IssueComment", "missing_field", "body");
  }
  if (Utf8Length(text) > kMaxBodyChars) return BodyTooLong("IssueComment");
  CommentRec& c = NewComment(repo, issue, text, caller_, now, now + faults_.read_lag);
  Answer a = JsonAnswer(201, CommentJson(ApiBase(), repo, c));
  a.headers.emplace_back("Location", CommentUrl(ApiBase(), repo, c.id));
  return a;
}

FakeHub::Answer FakeHub::CommentById(Repo& repo, int64_t id, const httplib::Request& req,
                                     absl::Time now) {
  auto it = repo.comments.find(id);
  if (it == repo.comments.end()) return NotFound();
  CommentRec& c = it->second;
  auto parent = repo.issues.find(c.issue_number);
  if (parent == repo.issues.end() || parent->second.deleted) return NotFound();
  if (req.method == "GET") {
    Answer a = JsonAnswer(200, CommentJson(ApiBase(), repo, c));
    a.headers.emplace_back("Last-Modified", HttpDate(c.updated_at));
    return a;
  }
  if (req.method == "PATCH" || req.method == "DELETE") {
    if (auto denied = RequireWriteOrAuthor(c.user.login)) return *denied;
  }
  if (req.method == "PATCH") {
    Answer error;
    std::optional<nlohmann::json> body = ParseBody(req, &error);
    if (!body.has_value()) return error;
    if (!body->is_object()) return Message(400, "Body should be a JSON object");
    if (!body->contains("body") || (*body)["body"].is_null()) {
      return ValidationFailed("IssueComment", "missing_field", "body");
    }
    if (!(*body)["body"].is_string()) return ValidationFailed("IssueComment", "invalid", "body");
    std::string text = (*body)["body"].get<std::string>();
    if (Utf8Length(text) > kMaxBodyChars) return BodyTooLong("IssueComment");
    c.body = std::move(text);
    c.updated_at = now;
    return JsonAnswer(200, CommentJson(ApiBase(), repo, c));
  }
  if (req.method == "DELETE") {
    parent->second.comments = std::max(0, parent->second.comments - 1);
    repo.comments.erase(it);
    Answer a;
    a.status = 204;
    a.content_type.clear();
    return a;
  }
  return NotFound();
}

// --- State helpers.

FakeHub::Repo* FakeHub::FindRepo(const std::string& full_name) const {
  if (repos_.empty()) return nullptr;
  if (full_name.empty()) return repos_.front().get();
  const std::string want = Lower(full_name);
  for (const std::unique_ptr<Repo>& r : repos_) {
    if (Lower(r->full_name()) == want) return r.get();
  }
  return nullptr;
}

FakeHub::Repo* FakeHub::FindRepoById(int64_t id) const {
  for (const std::unique_ptr<Repo>& r : repos_) {
    if (r->spec.id == id) return r.get();
  }
  return nullptr;
}

absl::Status FakeHub::AddRepositoryLocked(const RepoSpec& spec) {
  auto valid = [](const std::string& s) {
    return !s.empty() && s.find('/') == std::string::npos && s.find(' ') == std::string::npos;
  };
  if (!valid(spec.owner) || !valid(spec.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad repository \"", spec.owner, "/", spec.name, "\""));
  }
  if (FindRepo(absl::StrCat(spec.owner, "/", spec.name)) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("repository ", spec.owner, "/", spec.name, " exists"));
  }
  if (spec.id != 0 && FindRepoById(spec.id) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("repository id ", spec.id, " is taken"));
  }
  auto repo = std::make_unique<Repo>();
  repo->spec = spec;
  if (repo->spec.id == 0) {
    while (FindRepoById(next_repo_id_) != nullptr) ++next_repo_id_;
    repo->spec.id = next_repo_id_++;
  }
  repo->owner = UserRef{spec.owner, UserId(spec.owner)};
  repo->created_at = absl::Now() + clock_offset_;
  for (const DefaultLabel& d : kDefaultLabels) {
    Label l;
    l.id = NextId();
    l.name = d.name;
    l.color = d.color;
    l.description = d.description;
    l.is_default = true;
    repo->labels[Lower(l.name)] = l;
  }
  repos_.push_back(std::move(repo));
  return absl::OkStatus();
}

int64_t FakeHub::UserId(const std::string& login) {
  auto it = user_ids_.find(login);
  if (it != user_ids_.end()) return it->second;
  const int64_t id = 9000001 + static_cast<int64_t>(user_ids_.size());
  user_ids_[login] = id;
  return id;
}

const FakeHub::Label& FakeHub::EnsureLabel(Repo& repo, const std::string& name) {
  const std::string trimmed(absl::StripAsciiWhitespace(name));
  const std::string key = Lower(trimmed);
  auto it = repo.labels.find(key);
  if (it != repo.labels.end()) return it->second;
  // GitHub creates an unknown label on first use, grey and undescribed.
  Label l;
  l.id = NextId();
  l.name = trimmed;
  l.color = "ededed";
  return repo.labels.emplace(key, l).first->second;
}

FakeHub::IssueRec& FakeHub::NewIssue(Repo& repo, const std::string& title,
                                     std::optional<std::string> body,
                                     const std::vector<std::string>& labels,
                                     const std::string& user, absl::Time now,
                                     absl::Time visible_at) {
  IssueRec i;
  i.id = NextId();
  i.number = repo.next_number++;
  i.title = title;
  i.body = std::move(body);
  for (const std::string& name : labels) {
    const std::string key = Lower(EnsureLabel(repo, name).name);
    if (std::find(i.labels.begin(), i.labels.end(), key) == i.labels.end()) i.labels.push_back(key);
  }
  i.user = UserRef{user, UserId(user)};
  i.created_at = now;
  i.updated_at = now;
  i.visible_at = visible_at;
  return repo.issues.emplace(i.number, std::move(i)).first->second;
}

FakeHub::CommentRec& FakeHub::NewComment(Repo& repo, IssueRec& issue, const std::string& body,
                                         const std::string& user, absl::Time now,
                                         absl::Time visible_at) {
  CommentRec c;
  c.id = NextId();
  c.issue_number = issue.number;
  c.body = body;
  c.user = UserRef{user, UserId(user)};
  c.created_at = now;
  c.updated_at = now;
  c.visible_at = visible_at;
  ++issue.comments;
  issue.updated_at = now;
  return repo.comments.emplace(c.id, std::move(c)).first->second;
}

// --- Public state, fault, limit, clock and log methods.

absl::Status FakeHub::AddRepository(const RepoSpec& spec) {
  absl::MutexLock lock(&mu_);
  return AddRepositoryLocked(spec);
}

std::vector<RepoSpec> FakeHub::Repositories() const {
  absl::MutexLock lock(&mu_);
  std::vector<RepoSpec> out;
  for (const std::unique_ptr<Repo>& r : repos_) out.push_back(r->spec);
  return out;
}

absl::StatusOr<IssueState> FakeHub::SeedIssue(const IssueSeed& seed, const std::string& repo) {
  absl::MutexLock lock(&mu_);
  Repo* r = FindRepo(repo);
  if (r == nullptr) return absl::NotFoundError(absl::StrCat("no repository ", repo));
  if (absl::StripAsciiWhitespace(seed.title).empty()) {
    return absl::InvalidArgumentError("an issue needs a title");
  }
  const absl::Time now = absl::Now() + clock_offset_;
  const std::string user = seed.user.empty() ? login_ : seed.user;
  IssueRec& issue = NewIssue(*r, seed.title, seed.body, seed.labels, user, now, now);
  issue.pull_request = seed.pull_request;
  if (!seed.open) {
    issue.open = false;
    issue.closed_at = now;
    issue.closed_by = issue.user;
    issue.state_reason = "completed";
  }
  return ToIssueState(*r, issue);
}

absl::StatusOr<CommentState> FakeHub::SeedComment(const CommentSeed& seed,
                                                  const std::string& repo) {
  absl::MutexLock lock(&mu_);
  Repo* r = FindRepo(repo);
  if (r == nullptr) return absl::NotFoundError(absl::StrCat("no repository ", repo));
  auto it = r->issues.find(seed.issue_number);
  if (it == r->issues.end() || it->second.deleted) {
    return absl::NotFoundError(absl::StrCat("no issue ", seed.issue_number));
  }
  const absl::Time now = absl::Now() + clock_offset_;
  const std::string user = seed.user.empty() ? login_ : seed.user;
  return ToCommentState(NewComment(*r, it->second, seed.body, user, now, now));
}

absl::Status FakeHub::DeleteIssue(int64_t number, const std::string& repo) {
  absl::MutexLock lock(&mu_);
  Repo* r = FindRepo(repo);
  if (r == nullptr) return absl::NotFoundError(absl::StrCat("no repository ", repo));
  auto it = r->issues.find(number);
  if (it == r->issues.end() || it->second.deleted) {
    return absl::NotFoundError(absl::StrCat("no issue ", number));
  }
  it->second.deleted = true;
  return absl::OkStatus();
}

std::vector<IssueState> FakeHub::Issues(const std::string& repo) const {
  absl::MutexLock lock(&mu_);
  std::vector<IssueState> out;
  const Repo* r = FindRepo(repo);
  if (r == nullptr) return out;
  for (const auto& [number, issue] : r->issues) out.push_back(ToIssueState(*r, issue));
  return out;
}

std::optional<IssueState> FakeHub::Issue(int64_t number, const std::string& repo) const {
  absl::MutexLock lock(&mu_);
  const Repo* r = FindRepo(repo);
  if (r == nullptr) return std::nullopt;
  auto it = r->issues.find(number);
  if (it == r->issues.end()) return std::nullopt;
  return ToIssueState(*r, it->second);
}

std::vector<CommentState> FakeHub::Comments(int64_t issue_number, const std::string& repo) const {
  absl::MutexLock lock(&mu_);
  std::vector<CommentState> out;
  const Repo* r = FindRepo(repo);
  if (r == nullptr) return out;
  for (const auto& [id, c] : r->comments) {
    if (issue_number == 0 || c.issue_number == issue_number) out.push_back(ToCommentState(c));
  }
  return out;
}

std::optional<CommentState> FakeHub::Comment(int64_t id, const std::string& repo) const {
  absl::MutexLock lock(&mu_);
  const Repo* r = FindRepo(repo);
  if (r == nullptr) return std::nullopt;
  auto it = r->comments.find(id);
  if (it == r->comments.end()) return std::nullopt;
  return ToCommentState(it->second);
}

Faults FakeHub::faults() const {
  absl::MutexLock lock(&mu_);
  return faults_;
}

void FakeHub::SetFaults(const Faults& faults) {
  absl::MutexLock lock(&mu_);
  faults_ = faults;
}

void FakeHub::SetReadLag(absl::Duration lag) {
  absl::MutexLock lock(&mu_);
  faults_.read_lag = lag;
}

void FakeHub::SetLatency(absl::Duration latency) {
  absl::MutexLock lock(&mu_);
  faults_.latency = latency;
}

void FakeHub::SetErrorRate(double probability, int status) {
  absl::MutexLock lock(&mu_);
  faults_.error_rate = probability;
  faults_.error_status = status;
}

void FakeHub::FailNext(int n, int status) {
  absl::MutexLock lock(&mu_);
  faults_.error_next = n;
  faults_.error_status = status;
}

void FakeHub::SetDropRate(double probability) {
  absl::MutexLock lock(&mu_);
  faults_.drop_rate = probability;
}

void FakeHub::DropNext(int n) {
  absl::MutexLock lock(&mu_);
  faults_.drop_next = n;
}

void FakeHub::LoseAnswerNext(int n) {
  absl::MutexLock lock(&mu_);
  faults_.lose_answer_next = n;
}

RateLimits FakeHub::limits() const {
  absl::MutexLock lock(&mu_);
  return limits_;
}

void FakeHub::SetLimits(const RateLimits& limits) {
  absl::MutexLock lock(&mu_);
  if (limits.primary_window != limits_.primary_window) {
    primary_reset_ = primary_reset_ - limits_.primary_window + limits.primary_window;
  }
  limits_ = limits;
}

void FakeHub::SetPrimaryLimit(int limit) {
  absl::MutexLock lock(&mu_);
  limits_.primary_limit = limit;
}

void FakeHub::SetSecondaryLimit(int per_minute, absl::Duration block, bool retry_after) {
  absl::MutexLock lock(&mu_);
  limits_.secondary_per_minute = per_minute;
  limits_.secondary_block = block;
  limits_.secondary_retry_after = retry_after;
}

void FakeHub::ForceSecondaryLimit(std::optional<absl::Duration> block) {
  absl::MutexLock lock(&mu_);
  secondary_blocked_until_ = absl::Now() + clock_offset_ + block.value_or(limits_.secondary_block);
}

void FakeHub::ResetRateLimits() {
  absl::MutexLock lock(&mu_);
  primary_used_ = 0;
  primary_reset_ = absl::Now() + clock_offset_ + limits_.primary_window;
  secondary_window_.clear();
  secondary_blocked_until_ = absl::InfinitePast();
}

RateLimitState FakeHub::rate_limit() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now() + clock_offset_;
  RateLimitState s;
  s.limit = limits_.primary_limit;
  const bool rolled = now >= primary_reset_;
  s.used = rolled ? 0 : primary_used_;
  s.remaining = std::max(0, s.limit - s.used);
  s.reset = rolled ? now + limits_.primary_window : primary_reset_;
  s.secondary_blocked_until = secondary_blocked_until_;
  for (absl::Time t : secondary_window_) {
    if (t > now - absl::Minutes(1)) ++s.content_creating_last_minute;
  }
  return s;
}

absl::Time FakeHub::Now() const {
  absl::MutexLock lock(&mu_);
  return absl::Now() + clock_offset_;
}

absl::Duration FakeHub::clock_offset() const {
  absl::MutexLock lock(&mu_);
  return clock_offset_;
}

void FakeHub::SetClockOffset(absl::Duration offset) {
  absl::MutexLock lock(&mu_);
  clock_offset_ = offset;
}

void FakeHub::AdvanceClock(absl::Duration by) {
  absl::MutexLock lock(&mu_);
  clock_offset_ += by;
}

void FakeHub::SetAcceptedTokens(std::vector<std::string> tokens) {
  absl::MutexLock lock(&mu_);
  tokens_ = std::move(tokens);
}

int64_t FakeHub::installation_tokens_issued() const {
  absl::MutexLock lock(&mu_);
  return installation_tokens_issued_;
}

std::vector<LogEntry> FakeHub::RequestLog() const {
  absl::MutexLock lock(&mu_);
  return std::vector<LogEntry>(log_.begin(), log_.end());
}

LogCounts FakeHub::Counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

void FakeHub::ResetLog() {
  absl::MutexLock lock(&mu_);
  log_.clear();
  counts_ = LogCounts{};
}

}  // namespace tasksentinel::fakehub
