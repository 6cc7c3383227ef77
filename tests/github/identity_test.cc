// The sidecar's GitHub identity other than a fixed token (service/github/token_source.h): a
// GitHub App installation (an RS256 JWT exchanged for installation tokens that are refreshed
// before they expire; the app's bot is the account it writes as) and a token file re-read when
// it changes. Against fakehub, over real HTTP.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/clock.h"
#include "gtest/gtest.h"
#include "service/github/curl_github_api.h"
#include "service/github/jwt.h"
#include "service/github/token_source.h"
#include "tests/fakehub/fakehub.h"
#include "tests/testing/rsa_keys.h"

namespace tasksentinel::github {
namespace {

using KeyPair = testing::RsaKeyPair;
KeyPair NewKeyPair() { return testing::NewRsaKeyPair(); }

TEST(JwtTest, SignedTokensVerifyAndTamperingDoesNot) {
  const KeyPair keys = NewKeyPair();
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  absl::StatusOr<std::string> jwt =
      SignAppJwt({"12345", now - absl::Seconds(60), now + absl::Minutes(9)}, keys.private_pem);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(std::count(jwt->begin(), jwt->end(), '.'), 2);
  absl::StatusOr<AppJwtClaims> claims = VerifyAppJwt(*jwt, keys.public_pem);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->issuer, "12345");
  EXPECT_EQ(claims->issued_at, now - absl::Seconds(60));
  EXPECT_EQ(claims->expires_at, now + absl::Minutes(9));
  // Another key's signature, or a changed claim, does not verify.
  EXPECT_FALSE(VerifyAppJwt(*jwt, NewKeyPair().public_pem).ok());
  std::string tampered = *jwt;
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_EQ(VerifyAppJwt(tampered, keys.public_pem).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(VerifyAppJwt("not.a.jwt", keys.public_pem).ok());
  // A bad key is an error that does not quote the key.
  absl::StatusOr<std::string> bad = SignAppJwt({"1", now, now}, "-----BEGIN SECRET-----xyz");
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(absl::StrContains(bad.status().message(), "xyz"));
}

class IdentityTest : public ::testing::Test {
 protected:
  void Start(fakehub::FakeHubOptions options) {
    options.repos = {fakehub::RepoSpec{"acme", "work", 4000, true}};
    hub_ = std::make_unique<fakehub::FakeHub>(options);
    ASSERT_TRUE(hub_->Start().ok());
  }
  CurlGitHubApi::Options ApiOptions() {
    CurlGitHubApi::Options o;
    o.api_url = hub_->base_url();
    o.owner = "acme";
    o.repo = "work";
    o.write_spacing = absl::ZeroDuration();
    o.retry_base = absl::Milliseconds(10);
    return o;
  }
  int64_t AnIssue() {
    fakehub::IssueSeed seed;
    seed.title = "an issue";
    return hub_->SeedIssue(seed)->number;
  }
  RealClock clock_;
  std::unique_ptr<fakehub::FakeHub> hub_;
};

TEST_F(IdentityTest, AGitHubAppWritesAsItsBotAndRefreshesItsTokenBeforeItExpires) {
  const KeyPair keys = NewKeyPair();
  fakehub::FakeHubOptions options;
  options.tokens = {"no-personal-token-accepted"};
  options.app = fakehub::FakeApp{"4242", "sentinel-app", keys.public_pem, 77, absl::Seconds(4)};
  Start(options);
  AppTokenSource::Options app;
  app.api_url = hub_->base_url();
  app.app_id = "4242";
  app.installation_id = "77";
  app.private_key_pem = keys.private_pem;
  auto source = std::make_shared<AppTokenSource>(app, &clock_);
  CurlGitHubApi::Options o = ApiOptions();
  o.token_source = source;
  CurlGitHubApi api(o, &clock_);

  absl::StatusOr<Account> me = api.CurrentUser();
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_EQ(me->login, "sentinel-app[bot]");
  EXPECT_GT(me->id, 0);
  const int64_t issue = AnIssue();
  absl::StatusOr<Comment> posted = api.CreateComment(issue, "hello", WritePriority::kClaim);
  ASSERT_TRUE(posted.ok()) << posted.status();
  EXPECT_EQ(posted->author, "sentinel-app[bot]");
  EXPECT_EQ(posted->author_id, me->id);
  EXPECT_EQ(source->exchanges(), 1);

  // Past half its 4 s life, the token is exchanged again before GitHub would refuse it.
  absl::SleepFor(absl::Milliseconds(2500));
  ASSERT_TRUE(api.ListComments(issue, std::nullopt).ok());
  EXPECT_EQ(source->exchanges(), 2);
  EXPECT_EQ(hub_->installation_tokens_issued(), 2);

  // A wrong key: the app endpoint refuses the JWT; the error names the call, not the key.
  app.private_key_pem = NewKeyPair().private_pem;
  AppTokenSource wrong(app, &clock_);
  absl::StatusOr<std::string> refused = wrong.Token();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "/access_tokens"));
}

TEST_F(IdentityTest, ATokenFileIsReadAgainWhenItChanges) {
  fakehub::FakeHubOptions options;
  options.tokens = {"token-one"};
  Start(options);
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/github-token");
  { std::ofstream(path) << "token-one\n"; }
  CurlGitHubApi::Options o = ApiOptions();
  o.token_source = std::make_shared<FileTokenSource>(path);
  CurlGitHubApi api(o, &clock_);
  ASSERT_TRUE(api.CurrentUser().ok());

  // Rotation: GitHub now accepts only the new token, and the file is rewritten.
  hub_->SetAcceptedTokens({"token-two-longer"});
  EXPECT_EQ(api.CurrentUser().status().code(), absl::StatusCode::kUnauthenticated);
  { std::ofstream(path) << "token-two-longer\n"; }
  absl::StatusOr<Account> after = api.CurrentUser();
  ASSERT_TRUE(after.ok()) << after.status();

  // An empty or missing file is an error naming the file, never a token.
  { std::ofstream(path) << "  \n"; }
  absl::Status empty = api.CurrentUser().status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(empty.message(), "GITHUB_TOKEN_FILE")) << empty;
  std::remove(path.c_str());
  EXPECT_EQ(api.CurrentUser().status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace tasksentinel::github
