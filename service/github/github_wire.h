// GitHub's wire formats as the libcurl client reads them: the `Link` header's rel="next", and
// the JSON of issues, comments and error answers. Pure functions, apart from the client so that
// they can be unit-tested and fuzzed (fuzz/).
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_SERVICE_GITHUB_GITHUB_WIRE_H_
#define TASK_SENTINEL_SERVICE_GITHUB_GITHUB_WIRE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/github/github_api.h"
#include "nlohmann/json.hpp"

namespace tasksentinel::github {

// The URL of `rel="next"` in a Link header, or "" when there is none. URLs are taken between
// `<` and `>` so that commas inside them (labels=a,b) do not split them.
std::string NextLink(absl::string_view link);

// Parses a JSON text without throwing; nullopt when it is not JSON.
std::optional<nlohmann::json> ParseJson(absl::string_view text);

// Serializes without throwing (invalid UTF-8 is replaced).
std::string Dump(const nlohmann::json& value);

// object[key] as a string; "" when absent, null or not a string.
std::string StringField(const nlohmann::json& object, const char* key);

// object[key] as an integer, if it is one.
std::optional<int64_t> IntField(const nlohmann::json& object, const char* key);

// object[key] as an ISO-8601 time (e.g. "2016-10-22T23:23:28Z"); the epoch when absent.
absl::Time TimeField(const nlohmann::json& object, const char* key);

// object.user.login, or "".
std::string Login(const nlohmann::json& object);

// object.user.id, or 0.
int64_t UserId(const nlohmann::json& object);

// A user object ({"login": ..., "id": ...}) as an Account; an error when either is missing.
absl::StatusOr<Account> ParseAccount(const nlohmann::json& object);

// The GitHub message of an error answer, with its details: "Validation Failed (Issue body
// custom; ...)"; "" when the body is not such an answer.
std::string GitHubMessage(const std::string& body);

// A comment object; UNKNOWN when it has no id. `issue_number` is used when the object's
// issue_url does not say.
absl::StatusOr<Comment> ParseComment(const nlohmann::json& object, int64_t issue_number);

// Whether an issue object is really a pull request.
bool IsPullRequest(const nlohmann::json& object);

// An issue object; UNKNOWN when it has no number.
absl::StatusOr<Issue> ParseIssue(const nlohmann::json& object);

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_SERVICE_GITHUB_GITHUB_WIRE_H_
