// The fake repository itself: ascending ids, second-resolution GitHub time, labels replaced by
// an issue PATCH, idempotent deletes, the body limit, read lag, injected failures, the write
// hook and the counters (unchanged reads, writes by verb).
#include "tests/testing/fake_github_api.h"

#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

using github::WritePriority;

TEST(FakeGitHubApiTest, KeepsGitHubsSemantics) {
  FakeClock clock(absl::FromUnixMicros(1'800'000'000'700'000));
  FakeGitHubApi api(&clock);
  absl::StatusOr<github::Issue> issue =
      api.CreateIssue({"t", "b", {"a", "b", "a"}}, WritePriority::kClaim);
  TS_ASSERT_OK(issue);
  EXPECT_EQ(issue->labels, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(issue->created_at, absl::FromUnixSeconds(1'800'000'000));  // second resolution
  EXPECT_EQ(api.ServerNow(), clock.Now());
  absl::StatusOr<github::Comment> c1 = api.CreateComment(issue->number, "one", WritePriority::kClaim);
  absl::StatusOr<github::Comment> c2 = api.CreateComment(issue->number, "two", WritePriority::kClaim);
  TS_ASSERT_OK(c1);
  TS_ASSERT_OK(c2);
  EXPECT_LT(c1->id, c2->id);
  clock.Advance(absl::Seconds(2));
  absl::StatusOr<github::Comment> edited = api.UpdateComment(c1->id, "uno", WritePriority::kClaim);
  TS_ASSERT_OK(edited);
  EXPECT_EQ(edited->created_at, c1->created_at);
  EXPECT_EQ(edited->updated_at, absl::FromUnixSeconds(1'800'000'002));
  github::IssuePatch patch;
  patch.labels = std::vector<std::string>{"c"};
  patch.open = false;
  absl::StatusOr<github::Issue> closed = api.UpdateIssue(issue->number, patch,
                                                         WritePriority::kClaim);
  TS_ASSERT_OK(closed);
  EXPECT_EQ(closed->labels, std::vector<std::string>{"c"});
  EXPECT_FALSE(closed->open);
  TS_EXPECT_OK(api.DeleteComment(c2->id, WritePriority::kRelease));
  TS_EXPECT_OK(api.DeleteComment(c2->id, WritePriority::kRelease));  // idempotent
  TS_EXPECT_CODE(api.UpdateComment(c2->id, "x", WritePriority::kClaim), kNotFound);
  TS_EXPECT_CODE(api.CreateComment(issue->number, std::string(65537, 'x'), WritePriority::kClaim),
                 kInvalidArgument);
  TS_EXPECT_CODE(api.CreateComment(999, "x", WritePriority::kClaim), kNotFound);
  absl::StatusOr<github::Read<std::vector<github::Comment>>> list =
      api.ListComments(issue->number, std::nullopt);
  TS_ASSERT_OK(list);
  ASSERT_EQ(list->value.size(), 1u);
  EXPECT_EQ(list->value[0].body, "uno");
  github::IssueQuery query;
  query.state = github::IssueQuery::State::kClosed;
  query.labels = {"c"};
  EXPECT_EQ(api.ListIssues(query)->value.size(), 1u);
  query.labels = {"c", "d"};
  EXPECT_TRUE(api.ListIssues(query)->value.empty());
}

TEST(FakeGitHubApiTest, LagFailuresHookAndCounters) {
  FakeClock clock;
  FakeGitHubApi api(&clock);
  const int64_t n = api.AddIssue("t", "", {}, "someone");
  api.SetLag(absl::Seconds(3));
  std::vector<FakeGitHubMethod> hooked;
  api.SetWriteHook([&](const FakeGitHubWrite& w) { hooked.push_back(w.method); });
  TS_ASSERT_OK(api.CreateComment(n, "late", WritePriority::kClaim));
  EXPECT_TRUE(api.ListComments(n, std::nullopt)->value.empty());
  clock.Advance(absl::Seconds(3));
  EXPECT_EQ(api.ListComments(n, std::nullopt)->value.size(), 1u);
  absl::StatusOr<github::Read<std::vector<github::Comment>>> again =
      api.ListComments(n, std::nullopt);
  TS_ASSERT_OK(again);
  EXPECT_TRUE(again->not_modified);
  api.FailNext(2, absl::UnavailableError("502"), FakeGitHubMethod::kListComments);
  TS_EXPECT_CODE(api.ListComments(n, std::nullopt), kUnavailable);
  TS_EXPECT_OK(api.GetIssue(n));  // other methods unaffected
  TS_EXPECT_CODE(api.ListComments(n, std::nullopt), kUnavailable);
  TS_EXPECT_OK(api.ListComments(n, std::nullopt));
  EXPECT_EQ(hooked, std::vector<FakeGitHubMethod>{FakeGitHubMethod::kCreateComment});
  const FakeGitHubCounts counts = api.counts();
  EXPECT_EQ(counts.posts, 1);
  EXPECT_EQ(counts.writes(), 1);
  EXPECT_EQ(counts.reads, 5);
  EXPECT_EQ(counts.unchanged, 2);
  EXPECT_EQ(counts.failed, 2);
  EXPECT_EQ(counts.by_method.at(FakeGitHubMethod::kListComments), 6);
  EXPECT_EQ(counts.costly_requests(), 4);
  api.ResetCounts();
  EXPECT_EQ(api.counts().reads, 0);
}

}  // namespace
}  // namespace tasksentinel
