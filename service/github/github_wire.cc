// GitHub's wire formats (see github_wire.h).
#include "service/github/github_wire.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tasksentinel::github {

using json = nlohmann::json;

// The URL of `rel="next"` in a Link header, or "" when there is none. URLs are taken between
// `<` and `>` so that commas inside them (labels=a,b) do not split them.
std::string NextLink(absl::string_view link) {
  size_t pos = 0;
  while (true) {
    const size_t open = link.find('<', pos);
    if (open == absl::string_view::npos) return "";
    const size_t close = link.find('>', open + 1);
    if (close == absl::string_view::npos) return "";
    const absl::string_view url = link.substr(open + 1, close - open - 1);
    size_t params_end = link.find('<', close + 1);
    if (params_end == absl::string_view::npos) params_end = link.size();
    const absl::string_view params = link.substr(close + 1, params_end - close - 1);
    for (absl::string_view param : absl::StrSplit(params, absl::ByAnyChar(";,"))) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(absl::StripAsciiWhitespace(param), absl::MaxSplits('=', 1));
      if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(kv.first), "rel")) continue;
      absl::string_view value = absl::StripAsciiWhitespace(kv.second);
      if (absl::ConsumePrefix(&value, "\"")) absl::ConsumeSuffix(&value, "\"");
      for (absl::string_view rel : absl::StrSplit(value, ' ', absl::SkipEmpty())) {
        if (absl::EqualsIgnoreCase(rel, "next")) return std::string(url);
      }
    }
    pos = params_end;
  }
}

// Parses a JSON text without throwing; nullopt when it is not JSON.
std::optional<json> ParseJson(absl::string_view text) {
  json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

// Serializes without throwing (invalid UTF-8 is replaced).
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// object[key] as a string; "" when absent, null or not a string.
std::string StringField(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// object[key] as an integer, if it is one.
std::optional<int64_t> IntField(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

// object[key] as an ISO-8601 time (e.g. "2016-10-22T23:23:28Z"); the epoch when absent.
absl::Time TimeField(const json& object, const char* key) {
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, StringField(object, key), &t, &error)) return t;
  return absl::UnixEpoch();
}

// object.user.login, or "".
std::string Login(const json& object) {
  auto user = object.find("user");
  if (user == object.end() || !user->is_object()) return "";
  return StringField(*user, "login");
}

int64_t UserId(const json& object) {
  auto user = object.find("user");
  if (user == object.end() || !user->is_object()) return 0;
  return IntField(*user, "id").value_or(0);
}

absl::StatusOr<Account> ParseAccount(const json& object) {
  Account account;
  if (object.is_object()) {
    account.login = StringField(object, "login");
    account.id = IntField(object, "id").value_or(0);
  }
  if (account.login.empty() || account.id <= 0) {
    return absl::UnknownError("no login and id in the answer");
  }
  return account;
}

// The GitHub message of an error answer, with its details: "Validation Failed (Issue body
// custom; ...)".
std::string GitHubMessage(const std::string& body) {
  std::optional<json> parsed = ParseJson(body);
  if (!parsed.has_value() || !parsed->is_object()) return "";
  std::string message = StringField(*parsed, "message");
  auto errors = parsed->find("errors");
  if (errors != parsed->end() && errors->is_array()) {
    std::vector<std::string> details;
    for (const json& error : *errors) {
      if (error.is_string()) {
        details.push_back(error.get<std::string>());
      } else if (error.is_object()) {
        std::vector<std::string> parts;
        for (const char* key : {"resource", "field", "code", "message"}) {
          std::string part = StringField(error, key);
          if (!part.empty()) parts.push_back(std::move(part));
        }
        details.push_back(absl::StrJoin(parts, " "));
      }
    }
    if (!details.empty()) absl::StrAppend(&message, " (", absl::StrJoin(details, "; "), ")");
  }
  return message;
}

// A comment object. `issue_number` is used when the object's issue_url does not say.
absl::StatusOr<Comment> ParseComment(const json& object, int64_t issue_number) {
  if (!object.is_object() || !IntField(object, "id").has_value()) {
    return absl::UnknownError("a comment without an id");
  }
  Comment comment;
  comment.id = *IntField(object, "id");
  comment.issue_number = issue_number;
  const std::string issue_url = StringField(object, "issue_url");
  int64_t from_url = 0;
  if (absl::SimpleAtoi(issue_url.substr(issue_url.rfind('/') + 1), &from_url)) {
    comment.issue_number = from_url;
  }
  comment.body = StringField(object, "body");
  comment.author = Login(object);
  comment.author_id = UserId(object);
  comment.created_at = TimeField(object, "created_at");
  comment.updated_at = TimeField(object, "updated_at");
  return comment;
}

// Whether an issue object is really a pull request.
bool IsPullRequest(const json& object) { return object.contains("pull_request"); }

// An issue object.
absl::StatusOr<Issue> ParseIssue(const json& object) {
  if (!object.is_object() || !IntField(object, "number").has_value()) {
    return absl::UnknownError("an issue without a number");
  }
  Issue issue;
  issue.number = *IntField(object, "number");
  issue.title = StringField(object, "title");
  issue.body = StringField(object, "body");
  issue.open = StringField(object, "state") != "closed";
  auto labels = object.find("labels");
  if (labels != object.end() && labels->is_array()) {
    for (const json& label : *labels) {
      if (label.is_string()) {
        issue.labels.push_back(label.get<std::string>());
      } else if (label.is_object()) {
        issue.labels.push_back(StringField(label, "name"));
      }
    }
  }
  issue.author = Login(object);
  issue.author_id = UserId(object);
  issue.created_at = TimeField(object, "created_at");
  issue.updated_at = TimeField(object, "updated_at");
  return issue;
}

}  // namespace tasksentinel::github
