// The metric registry's Prometheus text rendering (exact text, escaping, cumulative histogram
// buckets, value formatting, misuse errors) and the sidecar's Metrics on top of it; the event
// counters (EventLog) and the scrape-time lock and per-worker gauges from real coordinators of
// both backends (the embedded store, the fake GitHub) on a fake clock.
#include "service/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/embedded/embedded_coordinator.h"
#include "core/embedded/memory_store.h"
#include "core/github/github_coordinator.h"
#include "service/build_info.h"
#include "service/event_log.h"
#include "tests/testing/core_harness.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_github_api.h"

namespace tasksentinel {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(MetricRegistryTest, RendersASmallRegistryExactly) {
  MetricRegistry r;
  ASSERT_TRUE(r.DefineCounter("b_requests_total", "Requests handled.").ok());
  ASSERT_TRUE(r.DefineGauge("a_temperature", "Current temperature.").ok());
  ASSERT_TRUE(r.DefineGauge("c_empty", "Defined, never set.").ok());
  ASSERT_TRUE(r.Increment("b_requests_total", {{"method", "put"}, {"code", "OK"}}, 2).ok());
  ASSERT_TRUE(r.Increment("b_requests_total", {{"method", "get"}, {"code", "OK"}}).ok());
  ASSERT_TRUE(r.Increment("b_requests_total", {{"method", "get"}, {"code", "OK"}}).ok());
  ASSERT_TRUE(r.Increment("b_requests_total", {{"code", "NOT_FOUND"}, {"method", "get"}}).ok());
  ASSERT_TRUE(r.Set("a_temperature", {}, 21.5).ok());

  EXPECT_EQ(r.Render(),
            "# HELP a_temperature Current temperature.\n"
            "# TYPE a_temperature gauge\n"
            "a_temperature 21.5\n"
            "# HELP b_requests_total Requests handled.\n"
            "# TYPE b_requests_total counter\n"
            "b_requests_total{code=\"NOT_FOUND\",method=\"get\"} 1\n"
            "b_requests_total{code=\"OK\",method=\"get\"} 2\n"
            "b_requests_total{code=\"OK\",method=\"put\"} 2\n"
            "# HELP c_empty Defined, never set.\n"
            "# TYPE c_empty gauge\n");
}

TEST(MetricRegistryTest, AnEmptyRegistryRendersNothing) {
  MetricRegistry r;
  EXPECT_EQ(r.Render(), "");
}

TEST(MetricRegistryTest, EscapesLabelValuesAndHelpText) {
  MetricRegistry r;
  ASSERT_TRUE(r.DefineGauge("g", "Line one\nline \\two\\ with \"quotes\".").ok());
  ASSERT_TRUE(r.Set("g", {{"path", "C:\\dir\\\"x\"\nnext"}}, 1).ok());
  EXPECT_EQ(r.Render(),
            "# HELP g Line one\\nline \\\\two\\\\ with \"quotes\".\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\\\\\\"x\\\"\\nnext\"} 1\n");
}

TEST(MetricRegistryTest, HistogramBucketsAreCumulativeAndInclusive) {
  MetricRegistry r;
  ASSERT_TRUE(r.DefineHistogram("latency_seconds", "Latency.", {0.1, 1, 2.5}).ok());
  for (double v : {0.25, 0.0625, 1.0, 5.0, 0.5}) {  // 1.0 falls in le="1": bounds are inclusive
    ASSERT_TRUE(r.Observe("latency_seconds", {{"op", "read"}}, v).ok());
  }
  ASSERT_TRUE(r.Observe("latency_seconds", {{"op", "write"}}, 0.0).ok());
  EXPECT_EQ(r.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{op=\"read\",le=\"0.1\"} 1\n"
            "latency_seconds_bucket{op=\"read\",le=\"1\"} 4\n"
            "latency_seconds_bucket{op=\"read\",le=\"2.5\"} 4\n"
            "latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 5\n"
            "latency_seconds_sum{op=\"read\"} 6.8125\n"
            "latency_seconds_count{op=\"read\"} 5\n"
            "latency_seconds_bucket{op=\"write\",le=\"0.1\"} 1\n"
            "latency_seconds_bucket{op=\"write\",le=\"1\"} 1\n"
            "latency_seconds_bucket{op=\"write\",le=\"2.5\"} 1\n"
            "latency_seconds_bucket{op=\"write\",le=\"+Inf\"} 1\n"
            "latency_seconds_sum{op=\"write\"} 0\n"
            "latency_seconds_count{op=\"write\"} 1\n");
}

TEST(MetricRegistryTest, HistogramWithoutLabelsPutsLeAlone) {
  MetricRegistry r;
  ASSERT_TRUE(r.DefineHistogram("h", "H.", {1}).ok());
  ASSERT_TRUE(r.Observe("h", {}, 3).ok());
  EXPECT_EQ(r.Render(),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n");
}

TEST(MetricRegistryTest, FormatsValuesExactly) {
  MetricRegistry r;
  ASSERT_TRUE(r.DefineGauge("v", "Values.").ok());
  const std::vector<std::pair<std::string, double>> cases = {
      {"a_int", 42},
      {"b_fraction", 0.1},
      {"c_negative", -2.75},
      {"d_negative_zero", -0.0},
      {"e_huge", 1e20},
      {"f_tiny", 1.5e-9},
      {"g_inf", std::numeric_limits<double>::infinity()},
      {"h_neg_inf", -std::numeric_limits<double>::infinity()},
      {"i_nan", std::nan("")},
      {"j_third", 1.0 / 3},
  };
  for (const auto& [label, value] : cases) ASSERT_TRUE(r.Set("v", {{"c", label}}, value).ok());
  const std::vector<std::string> lines = Lines(r.Render());
  EXPECT_THAT(lines, Contains("v{c=\"a_int\"} 42"));
  EXPECT_THAT(lines, Contains("v{c=\"b_fraction\"} 0.1"));
  EXPECT_THAT(lines, Contains("v{c=\"c_negative\"} -2.75"));
  EXPECT_THAT(lines, Contains("v{c=\"d_negative_zero\"} 0"));
  EXPECT_THAT(lines, Contains("v{c=\"e_huge\"} 1e+20"));
  EXPECT_THAT(lines, Contains("v{c=\"f_tiny\"} 1.5e-09"));
  EXPECT_THAT(lines, Contains("v{c=\"g_inf\"} +Inf"));
  EXPECT_THAT(lines, Contains("v{c=\"h_neg_inf\"} -Inf"));
  EXPECT_THAT(lines, Contains("v{c=\"i_nan\"} NaN"));
  EXPECT_THAT(lines, Contains("v{c=\"j_third\"} 0.3333333333333333"));
}

TEST(MetricRegistryTest, RejectsMisuse) {
  MetricRegistry r;
  EXPECT_EQ(r.DefineCounter("1bad", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.DefineCounter("has-dash", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.DefineCounter("", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.DefineHistogram("h", "x", {1, 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.DefineHistogram("h", "x", {2, 1}).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(r.DefineCounter("c_total", "x").ok());
  EXPECT_TRUE(r.DefineCounter("c_total", "x").ok());  // same definition again: fine
  EXPECT_EQ(r.DefineGauge("c_total", "x").code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(r.DefineHistogram("h", "x", {1, 2}).ok());
  EXPECT_EQ(r.DefineHistogram("h", "x", {1, 3}).code(), absl::StatusCode::kAlreadyExists);

  EXPECT_EQ(r.Increment("nope", {}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.Set("c_total", {}, 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.Observe("c_total", {}, 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.Increment("c_total", {}, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Increment("c_total", {}, std::nan("")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Increment("c_total", {{"bad-name", "v"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Increment("c_total", {{"__reserved", "v"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Observe("h", {{"le", "1"}}, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Observe("h", {}, std::nan("")).code(), absl::StatusCode::kInvalidArgument);
  // None of the refused updates left a series behind.
  EXPECT_EQ(r.Render(),
            "# HELP c_total x\n# TYPE c_total counter\n# HELP h x\n# TYPE h histogram\n");
}

TEST(MetricRegistryTest, ACopyIsAnIndependentSnapshot) {
  MetricRegistry r;
  ASSERT_TRUE(r.DefineCounter("n_total", "N.").ok());
  ASSERT_TRUE(r.Increment("n_total", {}).ok());
  MetricRegistry copy(r);
  ASSERT_TRUE(copy.Increment("n_total", {}, 5).ok());
  ASSERT_TRUE(r.Increment("n_total", {}).ok());
  EXPECT_THAT(Lines(r.Render()), Contains("n_total 2"));
  EXPECT_THAT(Lines(copy.Render()), Contains("n_total 6"));
}

TEST(MetricRegistryTest, ResolvedSeriesUpdateTheSameSeriesAsLabels) {
  MetricRegistry r;
  ASSERT_TRUE(r.DefineCounter("n_total", "N.").ok());
  ASSERT_TRUE(r.DefineHistogram("h", "H.", {1, 2}).ok());
  absl::StatusOr<MetricRegistry::Series*> counter = r.ResolveCounter("n_total", {{"k", "v"}});
  absl::StatusOr<MetricRegistry::Series*> histogram = r.ResolveHistogram("h", {{"k", "v"}});
  ASSERT_TRUE(counter.ok());
  ASSERT_TRUE(histogram.ok());
  // Resolving creates the series at zero, as Increment with a delta of 0 does.
  EXPECT_THAT(Lines(r.Render()), Contains("n_total{k=\"v\"} 0"));
  EXPECT_THAT(Lines(r.Render()), Contains("h_count{k=\"v\"} 0"));
  r.Increment(*counter, 2);
  ASSERT_TRUE(r.Increment("n_total", {{"k", "v"}}).ok());
  r.Observe(*histogram, 1.5);
  ASSERT_TRUE(r.Observe("h", {{"k", "v"}}, 3).ok());
  EXPECT_EQ(*r.ResolveCounter("n_total", {{"k", "v"}}), *counter);
  const std::vector<std::string> lines = Lines(r.Render());
  EXPECT_THAT(lines, Contains("n_total{k=\"v\"} 3"));
  EXPECT_THAT(lines, Contains("h_bucket{k=\"v\",le=\"1\"} 0"));
  EXPECT_THAT(lines, Contains("h_bucket{k=\"v\",le=\"2\"} 1"));
  EXPECT_THAT(lines, Contains("h_bucket{k=\"v\",le=\"+Inf\"} 2"));
  EXPECT_THAT(lines, Contains("h_sum{k=\"v\"} 4.5"));
  // The same errors as the labelled calls.
  EXPECT_EQ(r.ResolveCounter("h", {}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.ResolveHistogram("nope", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.ResolveHistogram("h", {{"le", "1"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MetricRegistryTest, ACopyKeepsHistogramBucketsOfItsOwn) {
  MetricRegistry r;
  ASSERT_TRUE(r.DefineHistogram("h", "H.", {1}).ok());
  ASSERT_TRUE(r.Observe("h", {}, 0.5).ok());
  MetricRegistry copy(r);
  ASSERT_TRUE(copy.Observe("h", {}, 5).ok());
  r.Observe(*r.ResolveHistogram("h", {}), 0.5);
  EXPECT_THAT(Lines(r.Render()), Contains("h_bucket{le=\"1\"} 2"));
  EXPECT_THAT(Lines(copy.Render()), Contains("h_bucket{le=\"1\"} 1"));
  EXPECT_THAT(Lines(copy.Render()), Contains("h_count 2"));
}

// ---------------------------------------------------------------------------------------------
// The sidecar's metrics.

ClusterHealth SampleHealth() {
  ClusterHealth h;
  h.status = ClusterStatus::kDegraded;
  h.total_workers = 3;
  h.healthy_workers = 2;
  h.stale_workers = 1;
  h.total_capacity = 20;
  h.used_capacity = 7;
  h.tasks.queued = 5;
  h.tasks.in_progress = 7;
  h.tasks.done = 11;
  h.tasks.dead_letter = 2;
  return h;
}

TEST(MetricsTest, FixedCountersStartAtZeroAndGaugesComeFromHealth) {
  Metrics m;
  const std::vector<std::string> lines = Lines(m.Render(SampleHealth()));
  for (const char* line : {
           "tasksentinel_lock_acquisitions_total{result=\"acquired\"} 0",
           "tasksentinel_lock_acquisitions_total{result=\"conflict\"} 0",
           "tasksentinel_tasks_total{event=\"created\"} 0",
           "tasksentinel_tasks_total{event=\"handed_out\"} 0",
           "tasksentinel_tasks_total{event=\"completed\"} 0",
           "tasksentinel_tasks_total{event=\"failed\"} 0",
           "tasksentinel_tasks_total{event=\"dead_lettered\"} 0",
           "tasksentinel_tasks_total{event=\"retried\"} 0",
           "tasksentinel_tasks_total{event=\"taken_over\"} 0",
           "tasksentinel_heartbeats_total{result=\"ok\"} 0",
           "tasksentinel_heartbeats_total{result=\"error\"} 0",
           "tasksentinel_locks_lost_total 0",
           "tasksentinel_memory_operations_total{op=\"set\",result=\"ok\"} 0",
           "tasksentinel_memory_operations_total{op=\"set\",result=\"conflict\"} 0",
           "tasksentinel_memory_operations_total{op=\"delete\",result=\"ok\"} 0",
           "tasksentinel_memory_operations_total{op=\"delete\",result=\"conflict\"} 0",
           "# TYPE tasksentinel_task_duration_seconds histogram",
           "tasksentinel_workers{status=\"healthy\"} 2",
           "tasksentinel_workers{status=\"stale\"} 1",
           "tasksentinel_capacity{kind=\"total\"} 20",
           "tasksentinel_capacity{kind=\"used\"} 7",
           "tasksentinel_tasks{state=\"queued\"} 5",
           "tasksentinel_tasks{state=\"in_progress\"} 7",
           "tasksentinel_tasks{state=\"done\"} 11",
           "tasksentinel_tasks{state=\"dead_letter\"} 2",
           "tasksentinel_up 1",
           "# TYPE tasksentinel_rpc_total counter",
           "# TYPE tasksentinel_rpc_duration_seconds histogram",
           "# TYPE tasksentinel_workers gauge",
       }) {
    EXPECT_THAT(lines, Contains(line));
  }
  EXPECT_THAT(lines, Contains(absl::StrCat("tasksentinel_build_info{commit=\"", BuildCommit(), "\",mode=\"", BuildMode(), "\",version=\"0.1.0\"} 1")));
}

TEST(MetricsTest, FamiliesRenderSortedByName) {
  Metrics m;
  std::vector<std::string> names;
  for (const std::string& line : Lines(m.Render(SampleHealth()))) {
    if (line.rfind("# TYPE ", 0) == 0) names.push_back(line.substr(7, line.find(' ', 7) - 7));
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "tasksentinel_build_info", "tasksentinel_capacity",
                       "tasksentinel_heartbeats_total", "tasksentinel_lock_acquisitions_total",
                       "tasksentinel_locks", "tasksentinel_locks_lost_total",
                       "tasksentinel_memory_operations_total", "tasksentinel_rpc_duration_seconds",
                       "tasksentinel_rpc_total", "tasksentinel_task_duration_seconds",
                       "tasksentinel_tasks", "tasksentinel_tasks_total", "tasksentinel_up",
                       "tasksentinel_worker_tasks", "tasksentinel_workers"}));
}

TEST(MetricsTest, RecordsRpcsLocksAndTaskEvents) {
  Metrics m;
  m.RecordRpc("AcquireLock", "OK", absl::Microseconds(300));
  m.RecordRpc("AcquireLock", "OK", absl::Milliseconds(70));
  m.RecordRpc("AcquireLock", "INVALID_ARGUMENT", absl::Seconds(7));
  m.RecordLockAcquisition(true);
  m.RecordLockAcquisition(false);
  m.RecordLockAcquisition(false);
  m.RecordTaskEvent(TaskEvent::kCreated);
  m.RecordTaskEvent(TaskEvent::kDeadLettered);
  const std::vector<std::string> lines = Lines(m.Render(SampleHealth()));
  for (const char* line : {
           "tasksentinel_rpc_total{code=\"OK\",method=\"AcquireLock\"} 2",
           "tasksentinel_rpc_total{code=\"INVALID_ARGUMENT\",method=\"AcquireLock\"} 1",
           "tasksentinel_rpc_duration_seconds_bucket{method=\"AcquireLock\",le=\"0.001\"} 1",
           "tasksentinel_rpc_duration_seconds_bucket{method=\"AcquireLock\",le=\"0.05\"} 1",
           "tasksentinel_rpc_duration_seconds_bucket{method=\"AcquireLock\",le=\"0.1\"} 2",
           "tasksentinel_rpc_duration_seconds_bucket{method=\"AcquireLock\",le=\"5\"} 2",
           "tasksentinel_rpc_duration_seconds_bucket{method=\"AcquireLock\",le=\"+Inf\"} 3",
           "tasksentinel_rpc_duration_seconds_count{method=\"AcquireLock\"} 3",
           "tasksentinel_lock_acquisitions_total{result=\"acquired\"} 1",
           "tasksentinel_lock_acquisitions_total{result=\"conflict\"} 2",
           "tasksentinel_tasks_total{event=\"created\"} 1",
           "tasksentinel_tasks_total{event=\"dead_lettered\"} 1",
       }) {
    EXPECT_THAT(lines, Contains(line));
  }
  const std::string sum_prefix = "tasksentinel_rpc_duration_seconds_sum{method=\"AcquireLock\"} ";
  bool found_sum = false;
  for (const std::string& line : lines) {
    if (line.rfind(sum_prefix, 0) != 0) continue;
    found_sum = true;
    EXPECT_NEAR(std::stod(line.substr(sum_prefix.size())), 7.0703, 1e-9) << line;
  }
  EXPECT_TRUE(found_sum);
}

TEST(MetricsTest, RecordsRpcsThroughAMethodsSeriesAsByName) {
  Metrics by_name, by_series;
  RpcSeries acquire("AcquireLock");
  EXPECT_EQ(acquire.method(), "AcquireLock");
  for (auto [code, name, elapsed] :
       {std::tuple<int, const char*, absl::Duration>{0, "OK", absl::Microseconds(300)},
        {0, "OK", absl::Milliseconds(70)},
        {3, "INVALID_ARGUMENT", absl::Seconds(7)},
        {99, "UNKNOWN", absl::Milliseconds(2)}}) {  // beyond the cached codes: still recorded
    by_name.RecordRpc("AcquireLock", name, elapsed);
    by_series.RecordRpc(&acquire, code, name, elapsed);
  }
  EXPECT_EQ(by_series.Render(SampleHealth()), by_name.Render(SampleHealth()));
  EXPECT_THAT(Lines(by_series.Render(SampleHealth())),
              Contains("tasksentinel_rpc_total{code=\"OK\",method=\"AcquireLock\"} 2"));
  // A method never called renders no series (as before the first call by name).
  Metrics untouched;
  RpcSeries get("GetMemory");
  EXPECT_THAT(untouched.Render(SampleHealth()), Not(HasSubstr("GetMemory")));
}

TEST(MetricsTest, RecordsTaskDurationsHeartbeatsLostLocksAndMemoryWrites) {
  Metrics m;
  m.RecordTaskDuration("completed", absl::Seconds(3));
  m.RecordTaskDuration("completed", absl::Seconds(45));
  m.RecordTaskDuration("failed", absl::Milliseconds(200));
  m.RecordHeartbeat(true);
  m.RecordHeartbeat(true);
  m.RecordHeartbeat(false);
  m.RecordLocksLost(2);
  m.RecordLocksLost(0);
  m.RecordMemoryWrite("set", false);
  m.RecordMemoryWrite("set", true);
  m.RecordMemoryWrite("delete", false);
  m.RecordTaskEvent(TaskEvent::kRetried);
  m.RecordTaskEvent(TaskEvent::kTakenOver);
  m.RecordTaskEvent(TaskEvent::kTakenOver);
  const std::vector<std::string> lines = Lines(m.Render(SampleHealth()));
  for (const char* line : {
           "tasksentinel_task_duration_seconds_bucket{outcome=\"completed\",le=\"1\"} 0",
           "tasksentinel_task_duration_seconds_bucket{outcome=\"completed\",le=\"5\"} 1",
           "tasksentinel_task_duration_seconds_bucket{outcome=\"completed\",le=\"60\"} 2",
           "tasksentinel_task_duration_seconds_sum{outcome=\"completed\"} 48",
           "tasksentinel_task_duration_seconds_count{outcome=\"completed\"} 2",
           "tasksentinel_task_duration_seconds_bucket{outcome=\"failed\",le=\"0.5\"} 1",
           "tasksentinel_heartbeats_total{result=\"ok\"} 2",
           "tasksentinel_heartbeats_total{result=\"error\"} 1",
           "tasksentinel_locks_lost_total 2",
           "tasksentinel_memory_operations_total{op=\"set\",result=\"ok\"} 1",
           "tasksentinel_memory_operations_total{op=\"set\",result=\"conflict\"} 1",
           "tasksentinel_memory_operations_total{op=\"delete\",result=\"ok\"} 1",
           "tasksentinel_memory_operations_total{op=\"delete\",result=\"conflict\"} 0",
           "tasksentinel_tasks_total{event=\"retried\"} 1",
           "tasksentinel_tasks_total{event=\"taken_over\"} 2",
       }) {
    EXPECT_THAT(lines, Contains(line));
  }
}

TEST(MetricsTest, AnUnreadableStoreReportsDownWithoutClusterGauges) {
  Metrics m;
  const std::string text = m.Render(absl::UnavailableError("store offline"));
  EXPECT_THAT(Lines(text), Contains("tasksentinel_up 0"));
  EXPECT_THAT(Lines(text), Contains(absl::StrCat("tasksentinel_build_info{commit=\"", BuildCommit(), "\",mode=\"", BuildMode(), "\",version=\"0.1.0\"} 1")));
  EXPECT_THAT(text, Not(HasSubstr("tasksentinel_workers")));
  EXPECT_THAT(text, Not(HasSubstr("tasksentinel_capacity")));
  EXPECT_THAT(text, Not(HasSubstr("tasksentinel_tasks{")));
  EXPECT_THAT(text, Not(HasSubstr("store offline")));
}

TEST(MetricsTest, ScrapeGaugesDoNotAccumulateAcrossRenders) {
  Metrics m;
  ClusterHealth h = SampleHealth();
  m.Render(h);
  h.healthy_workers = 9;
  const std::vector<std::string> lines = Lines(m.Render(h));
  EXPECT_THAT(lines, Contains("tasksentinel_workers{status=\"healthy\"} 9"));
  EXPECT_THAT(Lines(m.Render(absl::InternalError("x"))), Not(Contains("tasksentinel_up 1")));
}

TEST(MetricsTest, BackendMetricsAreRenderedAsCountersOrGauges) {
  Metrics m;
  const std::vector<BackendMetric> backend = {
      {"tasksentinel_github_claims_posted_total", "Claims posted.", true, 7},
      {"tasksentinel_github_budget_free", "Writes left.", false, 3}};
  const std::string text = m.Render(SampleHealth(), backend);
  const std::vector<std::string> lines = Lines(text);
  EXPECT_THAT(lines, Contains("# TYPE tasksentinel_github_claims_posted_total counter"));
  EXPECT_THAT(lines, Contains("tasksentinel_github_claims_posted_total 7"));
  EXPECT_THAT(lines, Contains("# TYPE tasksentinel_github_budget_free gauge"));
  EXPECT_THAT(lines, Contains("tasksentinel_github_budget_free 3"));
  // Rendering again does not add the counter twice.
  EXPECT_THAT(Lines(m.Render(SampleHealth(), backend)),
              Contains("tasksentinel_github_claims_posted_total 7"));
}

// ---------------------------------------------------------------------------------------------
// The event counters and the cluster's lock and per-worker gauges, on both backends.

TEST(EventLogMetricsTest, FixedSeriesStartAtZeroAndGitHubOnlyFamiliesStayOffTheEmbeddedStore) {
  Logger logger;  // a logger of its own: these lines are not what this test checks
  logger.SetLevel("error");
  for (EventLog::Backend backend : {EventLog::Backend::kEmbedded, EventLog::Backend::kGitHub}) {
    EventLog events(backend, &logger);
    Metrics m;
    m.AddSource([&events] { return events.Metrics(); });
    const std::string text = m.Render(SampleHealth());
    const std::vector<std::string> lines = Lines(text);
    for (const char* line : {
             "tasksentinel_stale_workers_detected_total 0",
             "tasksentinel_locks_recovered_total 0",
             "tasksentinel_load_balancer_decisions_total{outcome=\"balancer_pick\"} 0",
             "tasksentinel_load_balancer_decisions_total{outcome=\"other_task\"} 0",
             "tasksentinel_load_balancer_decisions_total{outcome=\"no_task\"} 0",
             "tasksentinel_load_balancer_decisions_total{outcome=\"at_capacity\"} 0",
             "tasksentinel_load_balancer_decisions_total{outcome=\"unhealthy\"} 0",
             "tasksentinel_memory_operations_total{op=\"flush\",result=\"ok\"} 0",
             "tasksentinel_memory_operations_total{op=\"flush\",result=\"error\"} 0",
             "tasksentinel_tasks_total{event=\"dead_lettered\"} 0",
             "# TYPE tasksentinel_load_balancer_decisions_total counter",
             // The family's own help text stays (the event counter adds to its series).
             "# HELP tasksentinel_tasks_total Task events handled by this sidecar.",
         }) {
      EXPECT_THAT(lines, Contains(line));
    }
    const bool github = backend == EventLog::Backend::kGitHub;
    EXPECT_EQ(
        absl::StrContains(text, "tasksentinel_github_claim_outcomes_total{outcome=\"won\"} 0"),
        github);
    EXPECT_EQ(absl::StrContains(text, "tasksentinel_github_registrations_swept_total 0"), github);
  }
}

TEST(EventLogMetricsTest, EventsMoveTheirCounters) {
  Logger logger;
  logger.SetLevel("error");
  EventLog events(EventLog::Backend::kGitHub, &logger);
  events.Record({EventKind::kWorkerStale, "", "worker-x", "lease_lapsed", std::nullopt, {}});
  events.Record({EventKind::kLockRecovered, "deploy", "worker-x", "recovered", std::nullopt, {}});
  events.Record({EventKind::kTaskDeadLettered, "7", "worker-x", "attempt_lost", std::nullopt, {}});
  events.Record({EventKind::kBalancerDecision, "", "", "at_capacity", std::nullopt, {}});
  events.Record({EventKind::kMemoryFlushed, "swarm", "", "ok", std::nullopt, {}});
  events.Record({EventKind::kMemoryFlushed, "swarm", "", "error", std::nullopt, {}});
  events.Record({EventKind::kClaimWon, "deploy", "", "won", std::nullopt, {}});
  events.Record({EventKind::kClaimLost, "deploy", "worker-x", "lost", std::nullopt, {}});
  events.Record({EventKind::kClaimLost, "deploy", "worker-x", "lost", std::nullopt, {}});
  events.Record({EventKind::kWorkerGone, "", "worker-x", "swept", std::nullopt, {}});
  events.Record({EventKind::kClaimPosted, "deploy", "", "posted", std::nullopt, {}});  // no count
  Metrics m;
  m.RecordTaskEvent(TaskEvent::kDeadLettered);  // a FailTask's: the two add up
  m.AddSource([&events] { return events.Metrics(); });
  const std::vector<std::string> lines = Lines(m.Render(SampleHealth()));
  for (const char* line : {
           "tasksentinel_stale_workers_detected_total 1",
           "tasksentinel_locks_recovered_total 1",
           "tasksentinel_tasks_total{event=\"dead_lettered\"} 2",
           "tasksentinel_load_balancer_decisions_total{outcome=\"at_capacity\"} 1",
           "tasksentinel_memory_operations_total{op=\"flush\",result=\"ok\"} 1",
           "tasksentinel_memory_operations_total{op=\"flush\",result=\"error\"} 1",
           "tasksentinel_github_claim_outcomes_total{outcome=\"won\"} 1",
           "tasksentinel_github_claim_outcomes_total{outcome=\"lost\"} 2",
           "tasksentinel_github_registrations_swept_total 1",
       }) {
    EXPECT_THAT(lines, Contains(line));
  }
}

TEST(MetricsTest, LocksAndTasksPerWorkerComeFromTheClusterAtScrapeTime) {
  ClusterHealth h = SampleHealth();
  WorkerInfo a;
  a.record.id = "worker-a";
  a.active_tasks = 3;
  WorkerInfo b;
  b.record.id = "worker-b";
  WorkerInfo stale;
  stale.record.id = "worker-c";
  stale.status = WorkerStatus::kStale;
  stale.active_tasks = 2;
  h.workers = {a, b, stale};
  Metrics m;
  const std::vector<std::string> lines = Lines(m.Render(h, {}, 4));
  EXPECT_THAT(lines, Contains("tasksentinel_locks{kind=\"task\"} 7"));  // used_capacity
  EXPECT_THAT(lines, Contains("tasksentinel_locks{kind=\"named\"} 4"));
  EXPECT_THAT(lines, Contains("tasksentinel_worker_tasks{worker=\"worker-a\"} 3"));
  EXPECT_THAT(lines, Contains("tasksentinel_worker_tasks{worker=\"worker-b\"} 0"));
  EXPECT_THAT(lines, Not(Contains(HasSubstr("worker-c"))));  // a stale worker holds nothing live
  // Without a count of named locks, only the task locks are reported.
  const std::string text = m.Render(h);
  EXPECT_THAT(text, HasSubstr("tasksentinel_locks{kind=\"task\"} 7"));
  EXPECT_THAT(text, Not(HasSubstr("kind=\"named\"")));
}

// Both backends on a fake clock, as the sidecar wires them (an EventLog for each sidecar).
class BackendMetricsTest : public ::testing::TestWithParam<std::string> {
 protected:
  BackendMetricsTest() {
    logger_.SetLevel("error");
    a_ = Make("worker-a", &a_events_);
    b_ = Make("worker-b", &b_events_);
  }

  bool github() const { return GetParam() == "github"; }

  std::unique_ptr<Coordinator> Make(const std::string& id, EventLog* events) {
    Config c = TestConfig(id);
    if (!github()) return std::make_unique<EmbeddedCoordinator>(c, &store_, &clock_, events);
    c.github_claim_settle = absl::Seconds(1);
    c.memory_sync_interval = absl::Seconds(5);
    c.github_owner = "octo";
    c.github_repo = "sentinel";
    c.github_writes_per_hour = 100000;
    GitHubCoordinator::Options options;
    options.poll_interval = absl::Seconds(1);
    options.events = events;
    return std::make_unique<GitHubCoordinator>(c, &api_, &clock_, options);
  }

  // What `c`'s sidecar serves on /metrics now.
  std::vector<std::string> Scrape(Coordinator& c, EventLog& events) {
    Metrics m;
    m.AddSource([&events] { return events.Metrics(); });
    absl::StatusOr<uint32_t> named = c.CountNamedLocks();
    EXPECT_TRUE(named.ok()) << named.status();
    return Lines(m.Render(c.Health(), c.BackendMetrics(),
                          named.ok() ? std::optional<uint32_t>(*named) : std::nullopt));
  }

  Logger logger_;
  FakeClock clock_;
  MemoryStore store_;
  FakeGitHubApi api_{&clock_};
  EventLog a_events_{GetParam() == "github" ? EventLog::Backend::kGitHub
                                            : EventLog::Backend::kEmbedded,
                     &logger_};
  EventLog b_events_{GetParam() == "github" ? EventLog::Backend::kGitHub
                                            : EventLog::Backend::kEmbedded,
                     &logger_};
  std::unique_ptr<Coordinator> a_;
  std::unique_ptr<Coordinator> b_;
};

TEST_P(BackendMetricsTest, AStaleWorkersLockAndTaskAreCountedWhereTheyAreRecovered) {
  ASSERT_TRUE(a_->Register().ok());
  ASSERT_TRUE(b_->Register().ok());
  AcquireRequest deploy;
  deploy.name = "deploy";
  ASSERT_TRUE(a_->AcquireLock(deploy, nullptr)->acquired);
  ASSERT_TRUE(a_->CreateTask({"a job", "", "", 0, 0}).ok());
  absl::StatusOr<std::optional<HandedOutTask>> got =
      a_->NextTask({}, absl::ZeroDuration(), nullptr);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();

  std::vector<std::string> lines = Scrape(*a_, a_events_);
  EXPECT_THAT(lines, Contains("tasksentinel_locks{kind=\"task\"} 1"));
  EXPECT_THAT(lines, Contains("tasksentinel_locks{kind=\"named\"} 1"));
  EXPECT_THAT(lines, Contains("tasksentinel_worker_tasks{worker=\"worker-a\"} 1"));
  EXPECT_THAT(lines, Contains("tasksentinel_worker_tasks{worker=\"worker-b\"} 0"));
  EXPECT_THAT(lines,
              Contains("tasksentinel_load_balancer_decisions_total{outcome=\"balancer_pick\"} 1"));

  // worker-a goes silent; worker-b heartbeats, then recovers the task and the lock.
  clock_.Advance(absl::Seconds(20));
  ASSERT_TRUE(b_->Heartbeat({}).ok());
  clock_.Advance(absl::Seconds(18));
  got = b_->NextTask({}, absl::ZeroDuration(), nullptr);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  ASSERT_TRUE(b_->AcquireLock(deploy, nullptr)->acquired);
  if (github()) {
    SetRequest set;
    set.ns = "swarm";
    set.key = "k";
    set.value = "v";
    ASSERT_TRUE(b_->SetMemory(set).ok());
    clock_.Advance(absl::Seconds(6));
    ASSERT_TRUE(static_cast<GitHubCoordinator*>(b_.get())->Tick().ok());
  }

  lines = Scrape(*b_, b_events_);
  for (const char* line : {
           "tasksentinel_stale_workers_detected_total 1",
           "tasksentinel_locks_recovered_total 2",  // the task's lock and "deploy"
           "tasksentinel_load_balancer_decisions_total{outcome=\"balancer_pick\"} 1",
           "tasksentinel_locks{kind=\"task\"} 1",
           "tasksentinel_locks{kind=\"named\"} 1",
           "tasksentinel_worker_tasks{worker=\"worker-b\"} 1",
       }) {
    EXPECT_THAT(lines, Contains(line)) << GetParam();
  }
  EXPECT_THAT(lines, Not(Contains(HasSubstr("tasksentinel_worker_tasks{worker=\"worker-a\"}"))));
  const std::string flushes = "tasksentinel_memory_operations_total{op=\"flush\",result=\"ok\"} ";
  if (github()) {
    EXPECT_THAT(lines, Contains("tasksentinel_github_claim_outcomes_total{outcome=\"won\"} 2"));
    EXPECT_THAT(lines, Contains(flushes + "1"));
  } else {
    // The embedded store writes memory directly: nothing to flush.
    EXPECT_THAT(lines, Contains(flushes + "0"));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendMetricsTest, ::testing::Values("embedded", "github"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace tasksentinel
