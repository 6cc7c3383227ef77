// The sidecar binary on the GitHub backend: start-up checks the token, the repository and its
// issues at once and stops with one clear line that never contains the token; with a good
// configuration it serves and leaves on SIGTERM; a GitHub App works as the identity.
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/fakehub/fakehub.h"
#include "tests/integration/sidecar_process.h"
#include "tests/testing/rsa_keys.h"

namespace tasksentinel::testing {
namespace {

constexpr char kToken[] = "ghp_STARTUPTOKEN_never_printed_42";

class GitHubStartupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fakehub::FakeHubOptions options;
    options.repos = {fakehub::RepoSpec{"acme", "work", 2000, true},
                     fakehub::RepoSpec{"acme", "no-issues", 2001, false}};
    options.tokens = {kToken};
    hub_ = std::make_unique<fakehub::FakeHub>(options);
    ASSERT_TRUE(hub_->Start().ok());
  }

  std::map<std::string, std::string> Env(const std::string& repo, const std::string& token) {
    return {{"WORKER_ID", "worker-1"},
            {"SENTINEL_GRPC_ADDR", absl::StrCat("127.0.0.1:", PickFreePort())},
            {"SENTINEL_HTTP_ADDR", ""},
            {"GITHUB_API_URL", hub_->base_url()},
            {"GITHUB_OWNER", "acme"},
            {"GITHUB_REPO", repo},
            {"GITHUB_TOKEN", token},
            {"GITHUB_WRITE_SPACING_MS", "0"},
            {"GITHUB_CLAIM_SETTLE_MS", "50"}};
  }

  // Runs a sidecar that must refuse to start; returns its one line of stderr.
  std::string RefusedLine(const std::map<std::string, std::string>& env) {
    SidecarProcess sidecar(env);
    std::optional<int> rc = sidecar.Wait(absl::Seconds(10));
    EXPECT_TRUE(rc.has_value());
    EXPECT_NE(rc.value_or(0), 0);
    const std::string err = sidecar.Stderr();
    std::vector<std::string> lines = absl::StrSplit(err, '\n', absl::SkipEmpty());
    EXPECT_EQ(lines.size(), 1u) << err;
    EXPECT_FALSE(absl::StrContains(err, kToken)) << err;
    EXPECT_FALSE(absl::StrContains(err, "STARTUPTOKEN")) << err;
    return lines.empty() ? "" : lines[0];
  }

  std::unique_ptr<fakehub::FakeHub> hub_;
};

TEST_F(GitHubStartupTest, ABadTokenStopsStartUp) {
  const std::string line = RefusedLine(Env("work", "ghp_wrong_token"));
  EXPECT_TRUE(absl::StrContains(line, "token")) << line;
  EXPECT_TRUE(absl::StrContains(line, "401")) << line;
}

TEST_F(GitHubStartupTest, AMissingRepositoryStopsStartUp) {
  const std::string line = RefusedLine(Env("does-not-exist", kToken));
  EXPECT_TRUE(absl::StrContains(line, "not found")) << line;
}

TEST_F(GitHubStartupTest, ARepositoryWithoutIssuesStopsStartUp) {
  const std::string line = RefusedLine(Env("no-issues", kToken));
  EXPECT_TRUE(absl::StrContains(line, "issues")) << line;
}

TEST_F(GitHubStartupTest, AGoodConfigurationServesAndStopsOnSigterm) {
  auto env = Env("work", kToken);
  const std::string addr = env["SENTINEL_GRPC_ADDR"];
  SidecarProcess sidecar(env);
  ASSERT_TRUE(sidecar.WaitServing(addr, absl::Seconds(10))) << sidecar.Stderr();
  sidecar.Signal(SIGTERM);
  std::optional<int> rc = sidecar.Wait(absl::Seconds(10));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << sidecar.Stderr();
  EXPECT_FALSE(absl::StrContains(sidecar.Stderr(), kToken));
  // It registered through the repository: the coordination issue holds its registration.
  bool registered = false;
  for (const fakehub::CommentState& c : hub_->Comments(0, "acme/work")) {
    registered |= absl::StrContains(c.body, "WORKER_REGISTRATION") &&
                  absl::StrContains(c.body, "worker-1");
  }
  EXPECT_TRUE(registered);
}

// A GitHub App as the identity: the sidecar signs its JWT, gets an installation token, and
// registers as the app's bot; a key it cannot read stops start-up with one line.
TEST(GitHubAppStartupTest, TheSidecarRunsAsAGitHubAppsBot) {
  const RsaKeyPair keys = NewRsaKeyPair();
  const std::string& private_pem = keys.private_pem;
  const std::string& public_pem = keys.public_pem;

  fakehub::FakeHubOptions options;
  options.repos = {fakehub::RepoSpec{"acme", "work", 2000, true}};
  options.tokens = {"only-the-app-may-write"};
  options.app = fakehub::FakeApp{"31337", "fleet-app", public_pem, 9, absl::Hours(1)};
  fakehub::FakeHub hub(options);
  ASSERT_TRUE(hub.Start().ok());
  const std::string key_path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/app.pem");
  { std::ofstream(key_path) << private_pem; }
  std::map<std::string, std::string> env = {
      {"WORKER_ID", "worker-1"},
      {"SENTINEL_GRPC_ADDR", absl::StrCat("127.0.0.1:", PickFreePort())},
      {"SENTINEL_HTTP_ADDR", ""},
      {"GITHUB_API_URL", hub.base_url()},
      {"GITHUB_OWNER", "acme"},
      {"GITHUB_REPO", "work"},
      {"GITHUB_APP_ID", "31337"},
      {"GITHUB_APP_PRIVATE_KEY_PATH", key_path},
      {"GITHUB_APP_INSTALLATION_ID", "9"},
      {"GITHUB_WRITE_SPACING_MS", "0"},
      {"GITHUB_CLAIM_SETTLE_MS", "50"}};
  {
    SidecarProcess sidecar(env);
    ASSERT_TRUE(sidecar.WaitServing(env["SENTINEL_GRPC_ADDR"], absl::Seconds(10)))
        << sidecar.Stderr();
    sidecar.Signal(SIGTERM);
    std::optional<int> rc = sidecar.Wait(absl::Seconds(10));
    ASSERT_TRUE(rc.has_value());
    EXPECT_EQ(*rc, 0) << sidecar.Stderr();
    EXPECT_FALSE(absl::StrContains(sidecar.Stderr(), "PRIVATE KEY"));
  }
  bool registered = false;
  for (const fakehub::CommentState& c : hub.Comments(0, "acme/work")) {
    registered |= absl::StrContains(c.body, "WORKER_REGISTRATION") && c.user == "fleet-app[bot]";
  }
  EXPECT_TRUE(registered);
  EXPECT_EQ(hub.installation_tokens_issued(), 1);

  env["GITHUB_APP_PRIVATE_KEY_PATH"] = key_path + ".missing";
  SidecarProcess refused(env);
  std::optional<int> rc = refused.Wait(absl::Seconds(10));
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 0);
  EXPECT_TRUE(absl::StrContains(refused.Stderr(), "GITHUB_APP_PRIVATE_KEY_PATH")) << refused.Stderr();
}

}  // namespace
}  // namespace tasksentinel::testing
