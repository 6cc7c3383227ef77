// The comment format: every record type round-trips through a comment body; user data cannot
// break out of the HTML comment; task bodies keep text and result apart; foreign comments (no
// record, a malformed one, a newer schema version) are ignored and counted, never fatal.
#include "core/github/records.h"

#include "absl/strings/match.h"
#include "core/github/task_issue.h"
#include "core/github/record_seal.h"
#include "gtest/gtest.h"
#include "tests/core/github/github_world.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel::github {
namespace {

template <typename T>
T RoundTrip(const T& record) {
  const std::string body = CommentBody(record);
  EXPECT_EQ(body.find('\n'), body.rfind('\n')) << "one summary line, one record line: " << body;
  ParsedBody parsed = ParseBody(body);
  EXPECT_EQ(parsed.outcome, ParseOutcome::kRecord) << body;
  EXPECT_TRUE(parsed.record.has_value());
  const T* back = parsed.record.has_value() ? std::get_if<T>(&*parsed.record) : nullptr;
  EXPECT_NE(back, nullptr) << body;
  return back != nullptr ? *back : T{};
}

// The example in docs/protocol.md ("Every comment the sidecar writes ...") is this output.
TEST(RecordsTest, TheDocumentedClaimCommentIsWhatIsWritten) {
  github::ClaimRecord r;
  r.lock = "42";
  r.worker_id = "worker-7";
  r.epoch = 3;
  r.ttl = absl::Minutes(5);
  EXPECT_EQ(github::CommentBody(r),
            "🔒 lock \"42\" claimed by worker-7 (epoch 3, ttl 300s)\n"
            "<!-- task-sentinel {\"epoch\":3,\"lock\":\"42\",\"ttl_ms\":300000,"
            "\"type\":\"LOCK_CLAIM\",\"v\":1,\"worker_id\":\"worker-7\"} -->");
  // As written, sealed (the nonce and signature vary; their lengths do not).
  const std::string sealed = github::RecordSeal("documented-example-secret", "acme/work")
                                 .Body(r, 42, absl::FromUnixMicros(1700000000000000));
  const std::string prefix =
      "🔒 lock \"42\" claimed by worker-7 (epoch 3, ttl 300s)\n"
      "<!-- task-sentinel {\"epoch\":3,\"lock\":\"42\",\"ttl_ms\":300000,"
      "\"type\":\"LOCK_CLAIM\",\"v\":1,\"worker_id\":\"worker-7\",\"at\":1700000000000000,"
      "\"nonce\":\"";
  ASSERT_EQ(sealed.substr(0, prefix.size()), prefix);
  EXPECT_EQ(sealed.size(), prefix.size() + 32 + std::string("\",\"sig\":\"").size() + 64 +
                               std::string("\"} -->").size());
}

TEST(RecordsTest, RegistrationRoundTrips) {
  RegistrationRecord r;
  r.worker_id = "worker-7";
  r.hostname = "host-7";
  r.health = 1;
  r.epoch = 3;
  r.lease = absl::Seconds(120);
  r.next_renewal_at = absl::FromUnixSeconds(1'800'000'030);
  r.renews_until = absl::FromUnixSeconds(1'800'000'020);
  r.lease_expires_at = absl::FromUnixSeconds(1'800'000'060);
  r.registered_at = absl::FromUnixMicros(1'800'000'000'123'456);
  r.max_tasks = 4;
  r.supported_task_types = {"build", "test"};
  r.cpu_cores = 8;
  r.memory_mb = 4096;
  r.active_tasks = {"12"};
  r.type_history = {{"build", 2}};
  RegistrationRecord back = RoundTrip(r);
  EXPECT_EQ(back.worker_id, "worker-7");
  EXPECT_EQ(back.hostname, "host-7");
  EXPECT_FALSE(back.gone);
  EXPECT_EQ(back.health, 1);
  EXPECT_EQ(back.epoch, 3u);
  EXPECT_EQ(back.lease, absl::Seconds(120));
  EXPECT_EQ(back.next_renewal_at, r.next_renewal_at);
  EXPECT_EQ(back.renews_until, r.renews_until);
  EXPECT_EQ(back.lease_expires_at, r.lease_expires_at);
  EXPECT_EQ(back.registered_at, r.registered_at);
  EXPECT_EQ(back.max_tasks, 4u);
  EXPECT_EQ(back.supported_task_types, r.supported_task_types);
  EXPECT_EQ(back.cpu_cores, 8u);
  EXPECT_EQ(back.memory_mb, 4096u);
  EXPECT_EQ(back.active_tasks, r.active_tasks);
  EXPECT_EQ(back.type_history, r.type_history);
  // The line people read states the lease's expiry and the next heartbeat.
  const std::string body = github::CommentBody(r);
  EXPECT_TRUE(absl::StrContains(
      body, "💓 worker-7 on host-7 is alive (epoch 3, lease until 08:01:00Z, next heartbeat by "
            "08:00:30Z)"))
      << body;
  r.gone = true;
  EXPECT_TRUE(RoundTrip(r).gone);
  EXPECT_TRUE(absl::StrContains(CommentBody(r), "\"status\":\"gone\""));
}

TEST(RecordsTest, ClaimAndReleaseRoundTrip) {
  ClaimRecord c;
  c.lock = "42";
  c.worker_id = "worker-7";
  c.epoch = 3;
  c.ttl = absl::Seconds(300);
  c.metadata = {{"pid", "123"}};
  c.recovered_from = "worker-3";
  c.lapsed_at = absl::FromUnixSeconds(1'800'000'252);
  const std::string body = CommentBody(c);
  EXPECT_TRUE(absl::StartsWith(body, "🔒 lock \"42\" claimed by worker-7")) << body;
  EXPECT_TRUE(absl::StrContains(body, "recovered from worker-3, lease lapsed 08:04:12Z")) << body;
  EXPECT_TRUE(absl::StrContains(body, "<!-- task-sentinel {")) << body;
  EXPECT_TRUE(absl::StrContains(body, "\"type\":\"LOCK_CLAIM\"")) << body;
  EXPECT_TRUE(absl::StrContains(body, "\"v\":1")) << body;
  ClaimRecord back = RoundTrip(c);
  EXPECT_EQ(back.lock, "42");
  EXPECT_EQ(back.worker_id, "worker-7");
  EXPECT_EQ(back.epoch, 3u);
  EXPECT_EQ(back.ttl, absl::Seconds(300));
  EXPECT_EQ(back.metadata, c.metadata);
  EXPECT_EQ(back.recovered_from, "worker-3");
  EXPECT_EQ(back.lapsed_at, c.lapsed_at);

  ReleasedRecord r{"42", "worker-7", 3, "boom\nsecond line", absl::FromUnixSeconds(1'800'000'100),
                   false};
  ReleasedRecord rb = RoundTrip(r);
  EXPECT_EQ(rb.error, "boom\nsecond line");
  EXPECT_EQ(rb.retry_at, r.retry_at);
  EXPECT_FALSE(rb.dead_letter);
}

TEST(RecordsTest, MemoryRoundTripsBytesTombstonesAndExpiry) {
  WorkerMemoryRecord m;
  m.worker_id = "worker-7";
  m.ns = "swarm";
  m.part = 1;
  m.entries["a"] = MemoryItem{std::string("\0\xff bytes", 8), absl::FromUnixMicros(5), false,
                              absl::InfiniteFuture()};
  m.entries["b"] = MemoryItem{"", absl::FromUnixMicros(6), true, absl::InfiniteFuture()};
  m.entries["c"] = MemoryItem{"v", absl::FromUnixMicros(7), false, absl::FromUnixMicros(99)};
  WorkerMemoryRecord back = RoundTrip(m);
  EXPECT_EQ(back.worker_id, "worker-7");
  EXPECT_EQ(back.ns, "swarm");
  EXPECT_EQ(back.part, 1);
  ASSERT_EQ(back.entries.size(), 3u);
  EXPECT_EQ(back.entries["a"].value, std::string("\0\xff bytes", 8));
  EXPECT_EQ(back.entries["a"].written_at, absl::FromUnixMicros(5));
  EXPECT_TRUE(back.entries["b"].tombstone);
  EXPECT_EQ(back.entries["c"].expires_at, absl::FromUnixMicros(99));
  EXPECT_EQ(back.entries["a"].expires_at, absl::InfiniteFuture());
}

TEST(RecordsTest, UserDataCannotCloseTheHtmlComment) {
  ClaimRecord c;
  c.lock = "x";
  c.worker_id = "w";
  c.metadata = {{"evil", "--> <!-- task-sentinel {\"type\":\"TASK\",\"v\":1} -->"}};
  const std::string line = RecordLine(c);
  EXPECT_EQ(line.find("-->"), line.size() - 3) << line;
  EXPECT_EQ(line.find('<', 1), std::string::npos) << line;
  EXPECT_EQ(RoundTrip(c).metadata, c.metadata);
}

TEST(RecordsTest, ForeignBodiesAreRecognised) {
  EXPECT_EQ(ParseBody("LGTM, ship it").outcome, ParseOutcome::kNoRecord);
  EXPECT_EQ(ParseBody("<!-- task-sentinel {not json -->").outcome, ParseOutcome::kMalformed);
  EXPECT_EQ(ParseBody("<!-- task-sentinel {\"type\":\"LOCK_CLAIM\",\"v\":1} -->").outcome,
            ParseOutcome::kMalformed);  // required fields missing
  EXPECT_EQ(ParseBody("<!-- task-sentinel {\"type\":\"SOMETHING\",\"v\":1} -->").outcome,
            ParseOutcome::kMalformed);
  EXPECT_EQ(ParseBody("<!-- task-sentinel {\"type\":\"LOCK_CLAIM\",\"v\":2,\"x\":1} -->").outcome,
            ParseOutcome::kNewer);
  // Unknown fields are fine.
  ClaimRecord c{"l", "w", 1, absl::Seconds(1)};
  std::string body = CommentBody(c);
  body.insert(body.find("\"type\""), "\"future_field\":[1,2],");
  EXPECT_EQ(ParseBody(body).outcome, ParseOutcome::kRecord) << body;
}

TEST(RecordsTest, TaskBodyKeepsTextResultAndRecordApart) {
  Config config = GitHubTestConfig("w");
  TaskLabels labels(config);
  TaskMeta meta;
  meta.priority = 5;
  meta.max_attempts = 2;
  meta.attempts = 1;
  Issue issue;
  issue.number = 42;
  issue.title = "build it";
  issue.labels = {"sentinel:in-progress", "type:build", "help wanted"};
  const std::string text = "Build the thing.\n\n<!-- task-sentinel-result -->\nnot a result";
  const std::string result = "done\n<!-- /task-sentinel-result -->\n\ntricky";
  issue.body = TaskBody(text, meta, result);
  TaskIssue read = ReadTaskIssue(issue, labels, 3);
  EXPECT_EQ(read.text, text);
  EXPECT_EQ(read.task.body, text);
  EXPECT_EQ(read.task.result, result);
  EXPECT_EQ(read.task.id, "42");
  EXPECT_EQ(read.task.type, "build");
  EXPECT_EQ(read.task.priority, 5);
  EXPECT_EQ(read.task.max_attempts, 2u);
  EXPECT_EQ(read.task.state, TaskState::kInProgress);
  // Relabelling keeps a person's labels.
  EXPECT_EQ(LabelsWithState(issue, TaskState::kDone, labels),
            (std::vector<std::string>{"type:build", "help wanted", "sentinel:done"}));
  // A person's issue: no record, defaults.
  Issue person;
  person.number = 7;
  person.body = "please do X";
  person.labels = {"sentinel:queued"};
  TaskIssue p = ReadTaskIssue(person, labels, 3);
  EXPECT_EQ(p.task.body, "please do X");
  EXPECT_EQ(p.task.max_attempts, 3u);
  EXPECT_EQ(p.task.state, TaskState::kQueued);
  // An over-long result is shortened to fit a comment.
  const std::string big(40000, 'r');
  const std::string body = TaskBody(std::string(32768, 't'), meta, big);
  EXPECT_LE(body.size(), 65536u);
  issue.body = body;
  EXPECT_TRUE(absl::EndsWith(ReadTaskIssue(issue, labels, 3).task.result, "(truncated)"));
}

TEST(RecordsTest, ForeignCommentsAreIgnoredAndCountedOnce) {
  GitHubWorld world;
  auto a = world.Sidecar("worker-a");
  TS_ASSERT_OK(a->Register());
  const int64_t issue = world.CoordinationIssue();
  ASSERT_NE(issue, 0);
  world.api.AddComment(issue, "Why are there so many comments here?", "a-person");
  world.api.AddComment(issue, "<!-- task-sentinel {broken -->", "another-tool");
  world.api.AddComment(issue,
                       "<!-- task-sentinel {\"type\":\"WORKER_REGISTRATION\",\"v\":9} -->",
                       "a-newer-sidecar");
  AcquireRequest req;
  req.name = "deploy";
  absl::StatusOr<AcquireAttempt> got = a->AcquireLock(req, nullptr);
  TS_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired);
  TS_ASSERT_OK(a->Workers(false));
  TS_ASSERT_OK(a->ListMemory("swarm", ""));
  EXPECT_EQ(a->stats().foreign_comments.load(), 3);
}

}  // namespace
}  // namespace tasksentinel::github
