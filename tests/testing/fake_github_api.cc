// The in-memory GitHub repository (see fake_github_api.h).
#include "tests/testing/fake_github_api.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tasksentinel {
namespace {

constexpr size_t kMaxBodyChars = 65536;

using github::Comment;
using github::Issue;

// A string that changes whenever anything a reader could see in `c` changes.
std::string Fingerprint(const Comment& c) {
  return absl::StrCat(c.id, "/", absl::ToUnixSeconds(c.updated_at), "/", c.body.size(), "/",
                      std::hash<std::string>{}(c.body), ";");
}

std::string Fingerprint(const Issue& i) {
  return absl::StrCat(i.number, "/", absl::ToUnixSeconds(i.updated_at), "/", i.open, "/",
                      absl::StrJoin(i.labels, ","), "/", i.title, "/",
                      std::hash<std::string>{}(i.body), ";");
}

bool HasAllLabels(const Issue& issue, const std::vector<std::string>& labels) {
  for (const std::string& l : labels) {
    if (std::find(issue.labels.begin(), issue.labels.end(), l) == issue.labels.end()) {
      return false;
    }
  }
  return true;
}

absl::Status CheckBody(const std::string& body) {
  if (body.size() > kMaxBodyChars) {
    return absl::InvalidArgumentError(
        absl::StrCat("Validation Failed: body is too long (maximum is ", kMaxBodyChars,
                     " characters)"));
  }
  return absl::OkStatus();
}

// Labels as GitHub stores them: each once, in the order given.
std::vector<std::string> Dedup(const std::vector<std::string>& labels) {
  std::vector<std::string> out;
  for (const std::string& l : labels) {
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  }
  return out;
}

}  // namespace

FakeGitHubApi::FakeGitHubApi(Clock* clock, std::string login)
    : clock_(clock), login_(std::move(login)) {}

absl::Time FakeGitHubApi::Stamp() {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(clock_->Now()));
}

std::optional<absl::Status> FakeGitHubApi::Begin(FakeGitHubMethod method) {
  ++counts_.by_method[method];
  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    if (it->method == FakeGitHubMethod::kAny || it->method == method) {
      absl::Status status = it->status;
      failures_.erase(it);
      ++counts_.failed;
      return status;
    }
  }
  return std::nullopt;
}

bool FakeGitHubApi::CountRead(FakeGitHubMethod /*method*/, const std::string& query,
                              const std::string& fingerprint) {
  ++counts_.reads;
  auto [it, inserted] = last_answer_.try_emplace(query, fingerprint);
  const bool unchanged = !inserted && it->second == fingerprint;
  it->second = fingerprint;
  if (unchanged) ++counts_.unchanged;
  return unchanged;
}

void FakeGitHubApi::CountWrite(FakeGitHubMethod method) {
  switch (method) {
    case FakeGitHubMethod::kCreateComment:
    case FakeGitHubMethod::kCreateIssue:
      ++counts_.posts;
      break;
    case FakeGitHubMethod::kUpdateComment:
    case FakeGitHubMethod::kUpdateIssue:
      ++counts_.patches;
      break;
    case FakeGitHubMethod::kDeleteComment:
      ++counts_.deletes;
      break;
    default:
      break;
  }
}

void FakeGitHubApi::RunHook(const FakeGitHubWrite& write) {
  std::function<void(const FakeGitHubWrite&)> hook;
  {
    absl::MutexLock lock(&mu_);
    hook = hook_;
  }
  if (hook) hook(write);
}

void FakeGitHubApi::RunBeforeHook(const FakeGitHubWrite& write) {
  std::function<void(const FakeGitHubWrite&)> hook;
  {
    absl::MutexLock lock(&mu_);
    hook = before_hook_;
  }
  if (hook) hook(write);
}

absl::StatusOr<github::Account> FakeGitHubApi::CurrentUser() {
  absl::MutexLock lock(&mu_);
  if (auto failure = Begin(FakeGitHubMethod::kCurrentUser)) return *failure;
  CountRead(FakeGitHubMethod::kCurrentUser, "user", login_);
  return github::Account{login_, UserIdLocked(login_)};
}

absl::StatusOr<github::Account> FakeGitHubApi::GetUser(const std::string& login) {
  absl::MutexLock lock(&mu_);
  if (auto failure = Begin(FakeGitHubMethod::kGetUser)) return *failure;
  CountRead(FakeGitHubMethod::kGetUser, "users/" + login, login);
  if (login.empty() || login.find('/') != std::string::npos || login == "nobody") {
    return absl::NotFoundError("GET /users/" + login + ": 404 Not Found");
  }
  return github::Account{login, UserIdLocked(login)};
}

void FakeGitHubApi::SetWriteSharers(int sharers) {
  absl::MutexLock lock(&mu_);
  write_sharers_ = sharers;
}

int FakeGitHubApi::write_sharers() {
  absl::MutexLock lock(&mu_);
  return write_sharers_;
}

int64_t FakeGitHubApi::UserIdLocked(const std::string& login) {
  auto [it, added] = user_ids_.emplace(login, 0);
  if (added) it->second = 7'000'001 + static_cast<int64_t>(user_ids_.size());
  return it->second;
}

int64_t FakeGitHubApi::UserId(const std::string& login) {
  absl::MutexLock lock(&mu_);
  return UserIdLocked(login);
}

void FakeGitHubApi::EditComment(int64_t comment_id, const std::string& body) {
  absl::MutexLock lock(&mu_);
  auto it = comments_.find(comment_id);
  if (it == comments_.end()) return;
  it->second.comment.body = body;
  it->second.comment.updated_at = Stamp();
}

absl::StatusOr<github::Repository> FakeGitHubApi::GetRepository() {
  absl::MutexLock lock(&mu_);
  if (auto failure = Begin(FakeGitHubMethod::kGetRepository)) return *failure;
  CountRead(FakeGitHubMethod::kGetRepository, "repo", "octo/sentinel");
  return github::Repository{"octo/sentinel", true};
}

absl::StatusOr<github::Read<std::vector<Comment>>> FakeGitHubApi::ListComments(
    int64_t number, std::optional<absl::Time> since) {
  absl::MutexLock lock(&mu_);
  if (auto failure = Begin(FakeGitHubMethod::kListComments)) return *failure;
  auto issue = issues_.find(number);
  const absl::Time now = clock_->Now();
  if (issue == issues_.end() || now < issue->second.visible_at) {
    ++counts_.failed;
    return absl::NotFoundError(absl::StrCat("issue ", number, " not found"));
  }
  github::Read<std::vector<Comment>> read;
  std::string fingerprint;
  for (const auto& [id, stored] : comments_) {
    if (stored.comment.issue_number != number || now < stored.visible_at) continue;
    if (since.has_value() && stored.comment.updated_at < *since) continue;
    read.value.push_back(stored.comment);
    absl::StrAppend(&fingerprint, Fingerprint(stored.comment));
  }
  read.server_time = now;
  counts_.max_comments_listed =
      std::max<int64_t>(counts_.max_comments_listed, static_cast<int64_t>(read.value.size()));
  read.not_modified = CountRead(
      FakeGitHubMethod::kListComments,
      absl::StrCat("comments/", number, "/", since ? absl::ToUnixSeconds(*since) : -1),
      fingerprint);
  return read;
}

absl::StatusOr<github::Read<std::vector<Issue>>> FakeGitHubApi::ListIssues(
    const github::IssueQuery& query) {
  absl::MutexLock lock(&mu_);
  if (auto failure = Begin(FakeGitHubMethod::kListIssues)) return *failure;
  const absl::Time now = clock_->Now();
  github::Read<std::vector<Issue>> read;
  std::string fingerprint;
  for (const auto& [number, stored] : issues_) {
    const Issue& issue = stored.issue;
    if (now < stored.visible_at) continue;
    if (query.state == github::IssueQuery::State::kOpen && !issue.open) continue;
    if (query.state == github::IssueQuery::State::kClosed && issue.open) continue;
    if (!HasAllLabels(issue, query.labels)) continue;
    if (query.since.has_value() && issue.updated_at < *query.since) continue;
    read.value.push_back(issue);
    absl::StrAppend(&fingerprint, Fingerprint(issue));
  }
  read.server_time = now;
  counts_.issues_listed += static_cast<int64_t>(read.value.size());
  if (query.state != github::IssueQuery::State::kOpen) ++counts_.closed_lists;
  read.not_modified =
      CountRead(FakeGitHubMethod::kListIssues,
                absl::StrCat("issues/", static_cast<int>(query.state), "/",
                             absl::StrJoin(query.labels, ","), "/",
                             query.since ? absl::ToUnixSeconds(*query.since) : -1),
                fingerprint);
  return read;
}

absl::StatusOr<github::Read<Issue>> FakeGitHubApi::GetIssue(int64_t number) {
  absl::MutexLock lock(&mu_);
  if (auto failure = Begin(FakeGitHubMethod::kGetIssue)) return *failure;
  const absl::Time now = clock_->Now();
  auto it = issues_.find(number);
  if (it == issues_.end() || now < it->second.visible_at) {
    ++counts_.failed;
    return absl::NotFoundError(absl::StrCat("issue ", number, " not found"));
  }
  github::Read<Issue> read;
  read.value = it->second.issue;
  read.server_time = now;
  read.not_modified = CountRead(FakeGitHubMethod::kGetIssue, absl::StrCat("issue/", number),
                                Fingerprint(read.value));
  return read;
}

absl::StatusOr<Comment> FakeGitHubApi::CreateComment(int64_t number, const std::string& body,
                                                     github::WritePriority) {
  RunBeforeHook({FakeGitHubMethod::kCreateComment, number, 0, body});
  Comment created;
  {
    absl::MutexLock lock(&mu_);
    if (auto failure = Begin(FakeGitHubMethod::kCreateComment)) return *failure;
    if (issues_.find(number) == issues_.end()) {
      ++counts_.failed;
      return absl::NotFoundError(absl::StrCat("issue ", number, " not found"));
    }
    if (absl::Status s = CheckBody(body); !s.ok()) {
      ++counts_.failed;
      return s;
    }
    created.id = next_comment_++;
    created.issue_number = number;
    created.body = body;
    created.author = login_;
    created.author_id = UserIdLocked(login_);
    created.created_at = created.updated_at = Stamp();
    comments_[created.id] = StoredComment{created, clock_->Now() + lag_};
    CountWrite(FakeGitHubMethod::kCreateComment);
  }
  RunHook({FakeGitHubMethod::kCreateComment, number, created.id, body});
  return created;
}

absl::StatusOr<Comment> FakeGitHubApi::UpdateComment(int64_t comment_id, const std::string& body,
                                                     github::WritePriority) {
  RunBeforeHook({FakeGitHubMethod::kUpdateComment, 0, comment_id, body});
  Comment updated;
  {
    absl::MutexLock lock(&mu_);
    if (auto failure = Begin(FakeGitHubMethod::kUpdateComment)) return *failure;
    auto it = comments_.find(comment_id);
    if (it == comments_.end()) {
      ++counts_.failed;
      return absl::NotFoundError(absl::StrCat("comment ", comment_id, " not found"));
    }
    if (absl::Status s = CheckBody(body); !s.ok()) {
      ++counts_.failed;
      return s;
    }
    it->second.comment.body = body;
    it->second.comment.updated_at = Stamp();
    updated = it->second.comment;
    CountWrite(FakeGitHubMethod::kUpdateComment);
  }
  RunHook({FakeGitHubMethod::kUpdateComment, updated.issue_number, comment_id, body});
  return updated;
}

absl::Status FakeGitHubApi::DeleteComment(int64_t comment_id, github::WritePriority) {
  RunBeforeHook({FakeGitHubMethod::kDeleteComment, 0, comment_id, ""});
  int64_t issue = 0;
  {
    absl::MutexLock lock(&mu_);
    if (auto failure = Begin(FakeGitHubMethod::kDeleteComment)) return *failure;
    auto it = comments_.find(comment_id);
    if (it != comments_.end()) {
      issue = it->second.comment.issue_number;
      comments_.erase(it);
    }
    CountWrite(FakeGitHubMethod::kDeleteComment);
  }
  RunHook({FakeGitHubMethod::kDeleteComment, issue, comment_id, ""});
  return absl::OkStatus();
}

absl::StatusOr<Issue> FakeGitHubApi::CreateIssue(const github::IssueDraft& draft,
                                                 github::WritePriority) {
  RunBeforeHook({FakeGitHubMethod::kCreateIssue, 0, 0, draft.body});
  Issue created;
  {
    absl::MutexLock lock(&mu_);
    if (auto failure = Begin(FakeGitHubMethod::kCreateIssue)) return *failure;
    if (draft.title.empty()) {
      ++counts_.failed;
      return absl::InvalidArgumentError("Validation Failed: title is missing");
    }
    if (absl::Status s = CheckBody(draft.body); !s.ok()) {
      ++counts_.failed;
      return s;
    }
    created.number = next_issue_++;
    created.title = draft.title;
    created.body = draft.body;
    created.labels = Dedup(draft.labels);
    created.author = login_;
    created.author_id = UserIdLocked(login_);
    created.created_at = created.updated_at = Stamp();
    issues_[created.number] = StoredIssue{created, clock_->Now() + lag_};
    CountWrite(FakeGitHubMethod::kCreateIssue);
  }
  RunHook({FakeGitHubMethod::kCreateIssue, created.number, 0, draft.body});
  return created;
}

absl::StatusOr<Issue> FakeGitHubApi::UpdateIssue(int64_t number, const github::IssuePatch& patch,
                                                 github::WritePriority) {
  RunBeforeHook({FakeGitHubMethod::kUpdateIssue, number, 0, patch.body.value_or("")});
  Issue updated;
  {
    absl::MutexLock lock(&mu_);
    if (auto failure = Begin(FakeGitHubMethod::kUpdateIssue)) return *failure;
    auto it = issues_.find(number);
    if (it == issues_.end()) {
      ++counts_.failed;
      return absl::NotFoundError(absl::StrCat("issue ", number, " not found"));
    }
    if (patch.body.has_value()) {
      if (absl::Status s = CheckBody(*patch.body); !s.ok()) {
        ++counts_.failed;
        return s;
      }
    }
    Issue& issue = it->second.issue;
    if (patch.title.has_value()) issue.title = *patch.title;
    if (patch.body.has_value()) issue.body = *patch.body;
    if (patch.open.has_value()) issue.open = *patch.open;
    if (patch.labels.has_value()) issue.labels = Dedup(*patch.labels);
    issue.updated_at = Stamp();
    updated = issue;
    CountWrite(FakeGitHubMethod::kUpdateIssue);
  }
  RunHook({FakeGitHubMethod::kUpdateIssue, number, 0, patch.body.value_or("")});
  return updated;
}

absl::Time FakeGitHubApi::ServerNow() { return clock_->Now(); }

void FakeGitHubApi::SetLag(absl::Duration lag) {
  absl::MutexLock lock(&mu_);
  lag_ = lag;
}

void FakeGitHubApi::FailNext(int n, absl::Status status, FakeGitHubMethod method) {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < n; ++i) failures_.push_back({method, status});
}

void FakeGitHubApi::SetWriteHook(std::function<void(const FakeGitHubWrite&)> hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

void FakeGitHubApi::SetBeforeWriteHook(std::function<void(const FakeGitHubWrite&)> hook) {
  absl::MutexLock lock(&mu_);
  before_hook_ = std::move(hook);
}

FakeGitHubCounts FakeGitHubApi::counts() {
  absl::MutexLock lock(&mu_);
  return counts_;
}

void FakeGitHubApi::ResetCounts() {
  absl::MutexLock lock(&mu_);
  counts_ = FakeGitHubCounts{};
}

int64_t FakeGitHubApi::AddComment(int64_t number, const std::string& body,
                                  const std::string& author) {
  absl::MutexLock lock(&mu_);
  Comment c;
  c.id = next_comment_++;
  c.issue_number = number;
  c.body = body;
  c.author = author;
  c.author_id = UserIdLocked(author);
  c.created_at = c.updated_at = Stamp();
  comments_[c.id] = StoredComment{c, absl::InfinitePast()};
  return c.id;
}

int64_t FakeGitHubApi::AddIssue(const std::string& title, const std::string& body,
                                const std::vector<std::string>& labels,
                                const std::string& author) {
  absl::MutexLock lock(&mu_);
  Issue i;
  i.number = next_issue_++;
  i.title = title;
  i.body = body;
  i.labels = Dedup(labels);
  i.author = author;
  i.author_id = UserIdLocked(author);
  i.created_at = i.updated_at = Stamp();
  issues_[i.number] = StoredIssue{i, absl::InfinitePast()};
  return i.number;
}

std::vector<Comment> FakeGitHubApi::AllComments(int64_t number) {
  absl::MutexLock lock(&mu_);
  std::vector<Comment> out;
  for (const auto& [id, stored] : comments_) {
    if (stored.comment.issue_number == number) out.push_back(stored.comment);
  }
  return out;
}

std::optional<Issue> FakeGitHubApi::PeekIssue(int64_t number) {
  absl::MutexLock lock(&mu_);
  auto it = issues_.find(number);
  if (it == issues_.end()) return std::nullopt;
  return it->second.issue;
}

std::vector<Issue> FakeGitHubApi::AllIssues() {
  absl::MutexLock lock(&mu_);
  std::vector<Issue> out;
  for (const auto& [number, stored] : issues_) out.push_back(stored.issue);
  return out;
}

}  // namespace tasksentinel
