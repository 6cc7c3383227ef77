// Where the sidecar's GitHub credential comes from, when it is not a fixed GITHUB_TOKEN:
//
//   - FileTokenSource (GITHUB_TOKEN_FILE): the file is read again whenever it changes, so a
//     token can be rotated (a Kubernetes Secret update, a vault agent) without a restart.
//   - AppTokenSource (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_PATH, GITHUB_APP_INSTALLATION_ID): a
//     GitHub App installation. A JWT signed with the app's key (jwt.h) is exchanged for an
//     installation token (POST /app/installations/{id}/access_tokens), which is refreshed before
//     it expires (GitHub's last an hour; refreshed with 5 minutes, or half its life, to spare).
//     The app's bot account ("SLUG[bot]", from GET /app) is the account the sidecar writes as,
//     and so trusted automatically (GET /user is refused to installation tokens).
//
// Errors never quote a token or the key.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_SERVICE_GITHUB_TOKEN_SOURCE_H_
#define TASK_SENTINEL_SERVICE_GITHUB_TOKEN_SOURCE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/github/github_api.h"

namespace tasksentinel::github {

class TokenSource {
 public:
  virtual ~TokenSource() = default;

  // The token to send now.
  virtual absl::StatusOr<std::string> Token() = 0;

  // The account the token acts as, when the source knows it without GET /user; nullopt when it
  // does not (then GET /user tells).
  virtual absl::StatusOr<std::optional<Account>> KnownAccount() { return std::nullopt; }
};

class FileTokenSource final : public TokenSource {
 public:
  explicit FileTokenSource(std::string path) : path_(std::move(path)) {}

  // The file's content without surrounding whitespace, read again when its modification time
  // or size changed. UNAUTHENTICATED when it cannot be read or is empty.
  absl::StatusOr<std::string> Token() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::string path_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  int64_t mtime_ns_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t size_ ABSL_GUARDED_BY(mu_) = -1;
};

class AppTokenSource final : public TokenSource {
 public:
  struct Options {
    std::string api_url = "https://api.github.com";
    std::string app_id;
    std::string private_key_pem;  // never logged
    std::string installation_id;
    std::string user_agent = "task-sentinel/0.1.0";
    absl::Duration timeout = absl::Seconds(10);
  };

  // `clock` must outlive this object.
  AppTokenSource(Options options, Clock* clock);

  // A live installation token, exchanged anew when the cached one has less than its margin
  // left.
  absl::StatusOr<std::string> Token() override ABSL_LOCKS_EXCLUDED(mu_);

  // The app's bot account, "SLUG[bot]" with its id (GET /app, then GET /users/SLUG[bot]).
  absl::StatusOr<std::optional<Account>> KnownAccount() override ABSL_LOCKS_EXCLUDED(mu_);

  // How many installation tokens were exchanged so far (for tests and metrics).
  int64_t exchanges() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<std::string> Jwt() const;

  const Options options_;
  Clock* const clock_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time issued_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time expires_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::optional<Account> account_ ABSL_GUARDED_BY(mu_);
  int64_t exchanges_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_SERVICE_GITHUB_TOKEN_SOURCE_H_
