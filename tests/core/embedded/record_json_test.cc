// The embedded records' JSON (core/embedded/record_json.h, records.h): records round-trip, the
// records earlier versions wrote (nlohmann/json, keys in sorted order) still decode, and damaged
// text of every kind is DATA_LOSS naming the record, never a crash.
#include "core/embedded/record_json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/embedded/records.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

TEST(RecordJsonTest, TaskRoundTripsEveryField) {
  TaskRecord t;
  t.id = "42";
  t.seq = 42;
  t.title = "quote \" backslash \\ newline \n tab \t nul ";
  t.title.push_back('\0');
  t.title += " unicode é ✓";
  t.body = std::string(5000, 'b');  // larger than the decode cache keeps
  t.type = "build";
  t.priority = -3;
  t.state = TaskState::kDeadLetter;
  t.attempts = 2;
  t.max_attempts = 4'000'000'000u;
  t.created_at = absl::FromUnixMicros(1'700'000'000'123'456);
  t.updated_at = absl::FromUnixMicros(-5);
  t.not_before = absl::FromUnixMicros(INT64_MAX);
  t.worker_id = "w1";
  t.lock_token = UINT64_MAX;
  t.last_error = "";
  t.result = "{\"json\": [1, 2]}";
  absl::StatusOr<TaskRecord> got = DecodeTask(Encode(t));
  TS_ASSERT_OK(got);
  EXPECT_EQ(got->id, t.id);
  EXPECT_EQ(got->seq, t.seq);
  EXPECT_EQ(got->title, t.title);
  EXPECT_EQ(got->body, t.body);
  EXPECT_EQ(got->type, t.type);
  EXPECT_EQ(got->priority, -3);
  EXPECT_EQ(got->state, TaskState::kDeadLetter);
  EXPECT_EQ(got->attempts, 2u);
  EXPECT_EQ(got->max_attempts, 4'000'000'000u);
  EXPECT_EQ(got->created_at, t.created_at);
  EXPECT_EQ(got->updated_at, t.updated_at);
  EXPECT_EQ(got->not_before, t.not_before);
  EXPECT_EQ(got->worker_id, t.worker_id);
  EXPECT_EQ(got->lock_token, UINT64_MAX);
  EXPECT_EQ(got->result, t.result);
}

TEST(RecordJsonTest, WorkerLockAndMemoryRoundTrip) {
  WorkerRecord w;
  w.id = "w";
  w.hostname = "h";
  w.state = WorkerState::kGone;
  w.health = Health::kDegraded;
  w.supported_task_types = {"a", "b"};
  w.reported_active_tasks = {"7"};
  w.type_history = {{"a", 3}, {"", 1}};
  w.memory_mb = 1ull << 40;
  absl::StatusOr<WorkerRecord> gw = DecodeWorker(Encode(w));
  TS_ASSERT_OK(gw);
  EXPECT_EQ(gw->state, WorkerState::kGone);
  EXPECT_EQ(gw->health, Health::kDegraded);
  EXPECT_EQ(gw->supported_task_types, w.supported_task_types);
  EXPECT_EQ(gw->reported_active_tasks, w.reported_active_tasks);
  EXPECT_EQ(gw->type_history, w.type_history);
  EXPECT_EQ(gw->memory_mb, w.memory_mb);

  LockRecord l;
  l.name = "n";
  l.held = true;
  l.token = 9;
  l.ttl = absl::Seconds(30);
  l.metadata = {{"k", "v"}, {"empty", ""}};
  absl::StatusOr<LockRecord> gl = DecodeLock(Encode(l));
  TS_ASSERT_OK(gl);
  EXPECT_TRUE(gl->held);
  EXPECT_EQ(gl->token, 9u);
  EXPECT_EQ(gl->ttl, absl::Seconds(30));
  EXPECT_EQ(gl->metadata, l.metadata);

  MemoryRecord m;
  m.value = std::string("\0\xff\x80 binary", 10);
  m.version = 3;
  absl::StatusOr<MemoryRecord> gm = DecodeMemory(Encode(m));
  TS_ASSERT_OK(gm);
  EXPECT_EQ(gm->value, m.value);
  EXPECT_EQ(gm->expires_at, absl::InfiniteFuture());
  m.expires_at = absl::FromUnixMicros(77);
  gm = DecodeMemory(Encode(m));
  TS_ASSERT_OK(gm);
  EXPECT_EQ(gm->expires_at, absl::FromUnixMicros(77));
}

// Text as nlohmann/json wrote it before the switch (sorted keys, no spaces): a store written by
// an earlier version opens and reads unchanged.
TEST(RecordJsonTest, RecordsOfEarlierVersionsDecode) {
  absl::StatusOr<TaskRecord> t = DecodeTask(
      R"({"attempts":1,"body":"b","created_at":1700000000000000,"id":"12","last_error":"",)"
      R"("lock_token":5,"max_attempts":3,"not_before":1700000000000000,"priority":0,)"
      R"("result":"","seq":12,"state":1,"title":"t","type":"","updated_at":1700000000000001,)"
      R"("worker_id":"w1"})");
  TS_ASSERT_OK(t);
  EXPECT_EQ(t->id, "12");
  EXPECT_EQ(t->state, TaskState::kInProgress);
  EXPECT_EQ(t->lock_token, 5u);
  EXPECT_EQ(t->updated_at, absl::FromUnixMicros(1700000000000001));

  absl::StatusOr<WorkerRecord> w = DecodeWorker(
      R"({"active_tasks":[],"cpu_cores":2,"epoch":3,"epoch_started_at":1,"health":0,)"
      R"("hostname":"h","last_heartbeat":2,"lease_expires_at":3,"max_tasks":1,"memory_mb":0,)"
      R"("registered_at":0,"state":"active","supported_task_types":["x"],)"
      R"("type":"WORKER_REGISTRATION","type_history":{"x":4},"worker_id":"w1"})");
  TS_ASSERT_OK(w);
  EXPECT_EQ(w->epoch, 3u);
  EXPECT_EQ(w->state, WorkerState::kActive);
  EXPECT_EQ(w->type_history.at("x"), 4u);

  absl::StatusOr<LockRecord> l = DecodeLock(
      R"({"acquired_at":1,"held":true,"holder":"w1","holder_epoch":3,"metadata":{},)"
      R"("name":"12","renewed_at":1,"token":5,"ttl_us":30000000})");
  TS_ASSERT_OK(l);
  EXPECT_EQ(l->ttl, absl::Seconds(30));

  absl::StatusOr<MemoryRecord> m = DecodeMemory(
      R"({"expires_at":null,"updated_at":5,"updated_by":"w1","value_b64":"aGk=","version":2})");
  TS_ASSERT_OK(m);
  EXPECT_EQ(m->value, "hi");
}

TEST(RecordJsonTest, DamagedRecordsAreDataLossNamingTheRecordAndTheProblem) {
  const std::string good_lock = Encode(LockRecord{});
  struct Case {
    std::string text;
    std::string problem;
  };
  const Case cases[] = {
      {"", "not JSON"},
      {"{", "not JSON"},
      {"[1]", "not a JSON object"},
      {good_lock + "x", "not JSON"},
      {std::string(200000, '['), "not JSON"},  // iterative: no stack overflow
      {"{\"name\":\"\xff\"}", "not JSON"},       // invalid UTF-8
      {"{}", "\"name\" is missing"},
      {R"({"name":1})", "\"name\" is not a string"},
      {R"({"name":"n","held":"yes"})", "\"held\" is not a boolean"},
      {R"({"name":"n","held":true,"token":-1})", "\"token\" is not an unsigned"},
      {R"({"name":"n","held":true,"token":1.5})", "\"token\" is not an unsigned"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<LockRecord> got = DecodeLock(c.text);
    ASSERT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << c.text.substr(0, 40);
    EXPECT_NE(got.status().message().find("damaged lock record"), std::string::npos);
    EXPECT_NE(got.status().message().find(c.problem), std::string::npos)
        << got.status().message();
  }
  // Out of range for the field's type.
  WorkerRecord w;
  std::string text = Encode(w);
  const std::string from = "\"max_tasks\":0";
  text.replace(text.find(from), from.size(), "\"max_tasks\":4294967296");
  TS_EXPECT_CODE(DecodeWorker(text), kDataLoss);
  // Not base64.
  TS_EXPECT_CODE(DecodeMemory(R"({"expires_at":null,"updated_at":5,"updated_by":"w",)"
                              R"("value_b64":"***","version":2})"),
                 kDataLoss);
}

}  // namespace
}  // namespace tasksentinel
