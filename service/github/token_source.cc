// Token sources: a rotating token file and a GitHub App installation (see token_source.h).
#include "service/github/token_source.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "service/github/jwt.h"

namespace tasksentinel::github {
namespace {

using Json = nlohmann::json;

struct Answer {
  long status = 0;
  std::string body;
};

size_t Append(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > (1 << 20)) return 0;  // an app's answers are small
  body->append(data, size * count);
  return size * count;
}

// One HTTP exchange with GitHub's app endpoints (not through the write queue: these are not
// content-creating requests on the repository). `what` names it in errors.
absl::StatusOr<Answer> Exchange(const std::string& method, const std::string& url,
                                const std::string& bearer, const std::string& user_agent,
                                absl::Duration timeout, const std::string& what) {
  struct CurlFree {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
  };
  struct ListFree {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  };
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("libcurl could not create a handle");
  std::unique_ptr<curl_slist, ListFree> headers;
  curl_slist* list = nullptr;
  for (const std::string& h :
       {absl::StrCat("Authorization: Bearer ", bearer),
        std::string("Accept: application/vnd.github+json"),
        std::string("X-GitHub-Api-Version: 2022-11-28"), std::string("Expect:")}) {
    list = curl_slist_append(list, h.c_str());
  }
  headers.reset(list);
  Answer answer;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer.body);
  if (method == "POST") {
    curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, 0L);
  }
  const CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(what, ": ", curl_easy_strerror(code)));
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

// The error for a non-2xx answer of an app endpoint.
absl::Status AppError(const std::string& what, const Answer& a) {
  const Json j = Json::parse(a.body, nullptr, /*allow_exceptions=*/false);
  const std::string message = j.is_object() ? j.value("message", "") : "";
  const std::string text = absl::StrCat(what, ": ", a.status, message.empty() ? "" : " ", message);
  if (a.status == 401) return absl::UnauthenticatedError(text);
  if (a.status == 403) return absl::PermissionDeniedError(text);
  if (a.status == 404) return absl::NotFoundError(text);
  return absl::UnavailableError(text);
}

std::string Trimmed(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

absl::StatusOr<std::string> FileTokenSource::Token() {
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) {
    return absl::UnauthenticatedError(absl::StrCat("GITHUB_TOKEN_FILE ", path_,
                                                   ": cannot read it (", std::strerror(errno),
                                                   ")"));
  }
  const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                           st.st_mtim.tv_nsec;
  absl::MutexLock lock(&mu_);
  if (mtime_ns == mtime_ns_ && static_cast<int64_t>(st.st_size) == size_ && !token_.empty()) {
    return token_;
  }
  std::ifstream in(path_, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::UnauthenticatedError(absl::StrCat("GITHUB_TOKEN_FILE ", path_,
                                                   ": cannot read it"));
  }
  std::string token(absl::StripAsciiWhitespace(content.str()));
  if (token.empty()) {
    return absl::UnauthenticatedError(absl::StrCat("GITHUB_TOKEN_FILE ", path_, " is empty"));
  }
  token_ = std::move(token);
  mtime_ns_ = mtime_ns;
  size_ = static_cast<int64_t>(st.st_size);
  return token_;
}

AppTokenSource::AppTokenSource(Options options, Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

absl::StatusOr<std::string> AppTokenSource::Jwt() const {
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_->Now()));
  // GitHub: iat 60 s in the past (clock drift), exp at most 10 minutes ahead.
  return SignAppJwt({options_.app_id, now - absl::Seconds(60), now + absl::Minutes(9)},
                    options_.private_key_pem);
}

absl::StatusOr<std::string> AppTokenSource::Token() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  const absl::Duration margin =
      std::min(absl::Minutes(5), (expires_at_ - issued_at_) / 2);
  if (!token_.empty() && now < expires_at_ - margin) return token_;
  absl::StatusOr<std::string> jwt = Jwt();
  if (!jwt.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("GITHUB_APP_PRIVATE_KEY_PATH: ", jwt.status().message()));
  }
  const std::string what = absl::StrCat("GitHub POST /app/installations/",
                                        options_.installation_id, "/access_tokens");
  absl::StatusOr<Answer> a =
      Exchange("POST",
               absl::StrCat(Trimmed(options_.api_url), "/app/installations/",
                            options_.installation_id, "/access_tokens"),
               *jwt, options_.user_agent, options_.timeout, what);
  if (!a.ok()) return a.status();
  if (a->status != 201 && a->status != 200) return AppError(what, *a);
  const Json j = Json::parse(a->body, nullptr, /*allow_exceptions=*/false);
  absl::Time expires;
  std::string error;
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string() ||
      !absl::ParseTime(absl::RFC3339_full, j.value("expires_at", ""), &expires, &error)) {
    return absl::UnavailableError(absl::StrCat(what, ": no token and expires_at in the answer"));
  }
  token_ = j["token"].get<std::string>();
  issued_at_ = now;
  expires_at_ = std::max(now, expires);
  ++exchanges_;
  return token_;
}

absl::StatusOr<std::optional<Account>> AppTokenSource::KnownAccount() {
  {
    absl::MutexLock lock(&mu_);
    if (account_.has_value()) return account_;
  }
  absl::StatusOr<std::string> jwt = Jwt();
  if (!jwt.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("GITHUB_APP_PRIVATE_KEY_PATH: ", jwt.status().message()));
  }
  const std::string base = Trimmed(options_.api_url);
  absl::StatusOr<Answer> app = Exchange("GET", absl::StrCat(base, "/app"), *jwt,
                                        options_.user_agent, options_.timeout, "GitHub GET /app");
  if (!app.ok()) return app.status();
  if (app->status != 200) return AppError("GitHub GET /app", *app);
  const Json j = Json::parse(app->body, nullptr, /*allow_exceptions=*/false);
  const std::string slug = j.is_object() ? j.value("slug", "") : "";
  if (slug.empty()) return absl::UnavailableError("GitHub GET /app: no slug in the answer");
  const std::string login = absl::StrCat(slug, "[bot]");
  absl::StatusOr<std::string> token = Token();
  if (!token.ok()) return token.status();
  const std::string what = absl::StrCat("GitHub GET /users/", login);
  absl::StatusOr<Answer> user =
      Exchange("GET",
               absl::StrCat(base, "/users/",
                            absl::StrReplaceAll(login, {{"[", "%5B"}, {"]", "%5D"}})),
               *token, options_.user_agent, options_.timeout, what);
  if (!user.ok()) return user.status();
  if (user->status != 200) return AppError(what, *user);
  const Json u = Json::parse(user->body, nullptr, /*allow_exceptions=*/false);
  if (!u.is_object() || !u.contains("id") || !u["id"].is_number_integer()) {
    return absl::UnavailableError(absl::StrCat(what, ": no id in the answer"));
  }
  absl::MutexLock lock(&mu_);
  account_ = Account{login, u["id"].get<int64_t>()};
  return account_;
}

int64_t AppTokenSource::exchanges() {
  absl::MutexLock lock(&mu_);
  return exchanges_;
}

}  // namespace tasksentinel::github
