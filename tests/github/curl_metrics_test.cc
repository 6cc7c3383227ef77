// CurlGitHubApi::Metrics against an in-process fakehub: requests counted by route (numbers and
// the repository replaced) and status, their total duration, the rate-limit headers last seen,
// and the write budget's level; no token in any metric.
#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/github/curl_github_api.h"
#include "tests/fakehub/fakehub.h"

namespace tasksentinel::github {

using ::tasksentinel::fakehub::FakeHub;
using ::tasksentinel::fakehub::FakeHubOptions;
using ::tasksentinel::fakehub::RepoSpec;
namespace {

constexpr char kToken[] = "ghp_metrics_test_token_NOT_IN_METRICS";

// The value of the metric `name` with exactly `labels`, or -1 when there is none.
double Value(const std::vector<BackendMetric>& metrics, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  for (const BackendMetric& m : metrics) {
    if (m.name == name && m.labels == labels) return m.value;
  }
  return -1;
}

TEST(CurlMetricsTest, CountsRequestsByRouteAndStatusAndReportsLimitsAndBudget) {
  FakeHubOptions hub_options;
  hub_options.repos = {RepoSpec{"acme", "work", 1000, true}};
  hub_options.tokens = {kToken};
  hub_options.limits.primary_limit = 100;
  FakeHub hub(hub_options);
  ASSERT_TRUE(hub.Start().ok());
  RealClock clock;
  CurlGitHubApi::Options options;
  options.api_url = hub.base_url();
  options.token = kToken;
  options.owner = "acme";
  options.repo = "work";
  options.write_spacing = absl::ZeroDuration();
  options.writes_per_minute = 10;
  options.writes_per_hour = 100;
  CurlGitHubApi api(options, &clock);

  ASSERT_TRUE(api.CurrentUser().ok());
  ASSERT_TRUE(api.GetRepository().ok());
  ASSERT_TRUE(api.ListIssues(IssueQuery()).ok());
  ASSERT_TRUE(api.ListIssues(IssueQuery()).ok());  // unchanged: 304
  absl::StatusOr<Issue> created = api.CreateIssue(IssueDraft{"t", "b", {}}, WritePriority::kClaim);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(api.GetIssue(created->number + 1000).ok());  // 404

  const std::vector<BackendMetric> m = api.Metrics();
  EXPECT_EQ(Value(m, "tasksentinel_github_requests_total",
                  {{"route", "GET /user"}, {"status", "200"}}), 1);
  EXPECT_EQ(Value(m, "tasksentinel_github_requests_total",
                  {{"route", "GET /repos/{owner}/{repo}/issues"}, {"status", "200"}}), 1);
  EXPECT_EQ(Value(m, "tasksentinel_github_requests_total",
                  {{"route", "GET /repos/{owner}/{repo}/issues"}, {"status", "304"}}), 1);
  EXPECT_EQ(Value(m, "tasksentinel_github_requests_total",
                  {{"route", "POST /repos/{owner}/{repo}/issues"}, {"status", "201"}}), 1);
  EXPECT_EQ(Value(m, "tasksentinel_github_requests_total",
                  {{"route", "GET /repos/{owner}/{repo}/issues/{n}"}, {"status", "404"}}), 1);
  EXPECT_GT(Value(m, "tasksentinel_github_request_duration_seconds_total",
                  {{"route", "GET /user"}, {"status", "200"}}), 0);
  // The 304 is free: 5 counted requests of 100.
  EXPECT_EQ(Value(m, "tasksentinel_github_rate_limit_limit"), 100);
  EXPECT_GE(Value(m, "tasksentinel_github_rate_limit_remaining"), 90);
  EXPECT_LE(Value(m, "tasksentinel_github_rate_limit_remaining"), 96);
  EXPECT_EQ(Value(m, "tasksentinel_github_rate_limit_hits_total", {{"kind", "secondary"}}), 0);
  // One write of 10 a minute and 100 an hour.
  EXPECT_DOUBLE_EQ(Value(m, "tasksentinel_github_write_budget_used_ratio",
                         {{"window", "minute"}}), 0.1);
  EXPECT_DOUBLE_EQ(Value(m, "tasksentinel_github_write_budget_used_ratio",
                         {{"window", "hour"}}), 0.01);
  EXPECT_EQ(Value(m, "tasksentinel_github_writes_waiting"), 0);
  for (const BackendMetric& metric : m) {
    for (const auto& [k, v] : metric.labels) EXPECT_EQ(v.find(kToken), std::string::npos);
  }
}

}  // namespace
}  // namespace tasksentinel::github
