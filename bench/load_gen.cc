// The closed-loop load generator of bench/run.sh: N callers, each on its own thread with its
// own channel (its own connection), each sending its next call as soon as the previous one
// answered, for a fixed time after a warm-up (or for a fixed number of operations). Every
// operation's latency goes into a histogram; the result is one JSON line on stdout:
//   {"op":"get","callers":8,"ops":51234,"seconds":5.000,"ops_per_s":10246.8,
//    "p50_ms":0.71,"p99_ms":2.43,"errors":0}
// An operation is one call, or for the pairs one whole sequence:
//   echo        bench.Echo/Echo with a --value_bytes payload (echo_server.cc)
//   get         GetMemory of the caller's own key (written once before the warm-up)
//   set         SetMemory of the caller's own key, --value_bytes of value
//   lock        AcquireLock (no wait) + ReleaseLock of the caller's own lock
//   task        CreateTask + NextTask (waiting up to 30 s) + CompleteTask of the task handed out
//   etcd_range  etcd KV Range (linearizable, etcd's default) of the caller's own key
//   etcd_put    etcd KV Put of the caller's own key, --value_bytes of value
//   idle        an idle worker: Heartbeat, then NextTask waiting until the next heartbeat is due
//               (HEARTBEAT_INTERVAL_MS's default, 30 s), for --seconds (for GitHub's idle cost)
// A failed call counts as an error (and its operation is not counted); the caller goes on. The
// exit status is 0 when the run completed (errors or not), 1 when the target never answered.
//   load_gen --target=127.0.0.1:PORT --op=get --callers=8 --seconds=5 [--warmup_seconds=1]
//   load_gen --target=... --op=task --callers=1 --ops=10      (a fixed count, no warm-up)
#include <grpcpp/grpcpp.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/latency_histogram.h"
#include "echo.grpc.pb.h"
#include "etcd_kv.grpc.pb.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"

ABSL_FLAG(std::string, target, "", "host:port of the server under load");
ABSL_FLAG(std::string, op, "echo", "echo, get, set, lock, task, etcd_range, etcd_put or idle");
ABSL_FLAG(int, callers, 1, "Concurrent callers (threads, each with its own channel)");
ABSL_FLAG(double, seconds, 5, "Length of the measured window");
ABSL_FLAG(double, warmup_seconds, 1, "Load before the measured window (not counted)");
ABSL_FLAG(int64_t, ops, 0,
          "If > 0: run exactly this many operations (split over the callers), no warm-up, "
          "instead of --seconds");
ABSL_FLAG(int, value_bytes, 128, "Size of echoed payloads and written values");
ABSL_FLAG(double, connect_timeout_seconds, 20, "How long to wait for the target to answer");

namespace tasksentinel::bench {
namespace {

namespace v1 = ::tasksentinel::v1;

constexpr char kNamespace[] = "swarm";

// A deadline for one call: long enough for a loaded 2-core machine, short enough not to hang.
void SetDeadline(grpc::ClientContext* context, absl::Duration d = absl::Seconds(60)) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

// One caller's stubs (on its own channel) and its key.
struct Caller {
  int index = 0;
  std::string key;
  std::unique_ptr<v1::SentinelService::Stub> sentinel;
  std::unique_ptr<Echo::Stub> echo;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
};

// A channel of its own (no subchannel shared with the other callers: one connection each).
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target, int index) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("tasksentinel.bench.caller", index);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

grpc::Status SetMemory(Caller& c, const std::string& value) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::SetMemoryRequest req;
  req.set_namespace_(kNamespace);
  req.set_key(c.key);
  req.set_value(value);
  v1::SetMemoryResponse resp;
  return c.sentinel->SetMemory(&context, req, &resp);
}

grpc::Status EtcdPut(Caller& c, const std::string& value) {
  grpc::ClientContext context;
  SetDeadline(&context);
  etcdserverpb::PutRequest req;
  req.set_key(c.key);
  req.set_value(value);
  etcdserverpb::PutResponse resp;
  return c.kv->Put(&context, req, &resp);
}

// Whatever one operation needs in place before the first one (the key to read).
grpc::Status Prepare(const std::string& op, Caller& c, const std::string& value) {
  if (op == "get") return SetMemory(c, value);
  if (op == "etcd_range") return EtcdPut(c, value);
  return grpc::Status::OK;
}

grpc::Status Failed(const std::string& what) {
  return grpc::Status(grpc::StatusCode::INTERNAL, what);
}

// Runs one operation of `op`; OK when every call of it succeeded.
grpc::Status RunOnce(const std::string& op, Caller& c, const std::string& value,
                     absl::Time until) {
  if (op == "echo") {
    grpc::ClientContext context;
    SetDeadline(&context);
    EchoRequest req;
    req.set_payload(value);
    EchoResponse resp;
    grpc::Status s = c.echo->Echo(&context, req, &resp);
    if (s.ok() && resp.payload().size() != value.size()) return Failed("short echo");
    return s;
  }
  if (op == "get") {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::GetMemoryRequest req;
    req.set_namespace_(kNamespace);
    req.set_key(c.key);
    v1::GetMemoryResponse resp;
    grpc::Status s = c.sentinel->GetMemory(&context, req, &resp);
    if (s.ok() && resp.entry().value().size() != value.size()) return Failed("wrong value");
    return s;
  }
  if (op == "set") return SetMemory(c, value);
  if (op == "etcd_put") return EtcdPut(c, value);
  if (op == "etcd_range") {
    grpc::ClientContext context;
    SetDeadline(&context);
    etcdserverpb::RangeRequest req;
    req.set_key(c.key);
    etcdserverpb::RangeResponse resp;
    grpc::Status s = c.kv->Range(&context, req, &resp);
    if (s.ok() && (resp.kvs_size() != 1 || resp.kvs(0).value().size() != value.size())) {
      return Failed("wrong range answer");
    }
    return s;
  }
  if (op == "lock") {
    v1::AcquireLockResponse acquired;
    {
      grpc::ClientContext context;
      SetDeadline(&context);
      v1::AcquireLockRequest req;
      req.set_name(c.key);
      req.mutable_wait_timeout();  // set and zero: no wait
      grpc::Status s = c.sentinel->AcquireLock(&context, req, &acquired);
      if (!s.ok()) return s;
      if (!acquired.acquired()) return Failed("lock not acquired");
    }
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::ReleaseLockRequest req;
    req.set_name(c.key);
    req.set_fencing_token(acquired.lock().fencing_token());
    v1::ReleaseLockResponse resp;
    grpc::Status s = c.sentinel->ReleaseLock(&context, req, &resp);
    if (s.ok() && resp.status() != v1::ReleaseLockResponse::STATUS_RELEASED) {
      return Failed("lock not released");
    }
    return s;
  }
  if (op == "task") {
    {
      grpc::ClientContext context;
      SetDeadline(&context);
      v1::CreateTaskRequest req;
      req.set_title(c.key);
      v1::CreateTaskResponse resp;
      if (grpc::Status s = c.sentinel->CreateTask(&context, req, &resp); !s.ok()) return s;
    }
    v1::NextTaskResponse next;
    {
      grpc::ClientContext context;
      SetDeadline(&context);
      v1::NextTaskRequest req;
      req.mutable_wait_timeout()->set_seconds(30);
      if (grpc::Status s = c.sentinel->NextTask(&context, req, &next); !s.ok()) return s;
      // Another caller may have taken "our" task; then one of theirs is ours. An empty answer
      // after 30 s means a task was lost.
      if (!next.has_task()) return Failed("no task handed out");
    }
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CompleteTaskRequest req;
    req.set_task_id(next.task().id());
    req.set_fencing_token(next.lock().fencing_token());
    v1::CompleteTaskResponse resp;
    return c.sentinel->CompleteTask(&context, req, &resp);
  }
  if (op == "idle") {
    {
      grpc::ClientContext context;
      SetDeadline(&context);
      v1::HeartbeatRequest req;
      v1::HeartbeatResponse resp;
      if (grpc::Status s = c.sentinel->Heartbeat(&context, req, &resp); !s.ok()) return s;
    }
    const absl::Duration wait = std::min(absl::Seconds(30), until - absl::Now());
    if (wait <= absl::ZeroDuration()) return grpc::Status::OK;
    grpc::ClientContext context;
    SetDeadline(&context, wait + absl::Seconds(30));
    v1::NextTaskRequest req;
    req.mutable_wait_timeout()->set_seconds(absl::ToInt64Seconds(wait));
    req.mutable_wait_timeout()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(wait % absl::Seconds(1))));
    v1::NextTaskResponse resp;
    grpc::Status s = c.sentinel->NextTask(&context, req, &resp);
    if (s.ok() && resp.has_task()) return Failed("an idle worker was handed a task");
    return s;
  }
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unknown --op");
}

bool KnownOp(const std::string& op) {
  for (const char* known : {"echo", "get", "set", "lock", "task", "etcd_range", "etcd_put",
                            "idle"}) {
    if (op == known) return true;
  }
  return false;
}

int Run() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string op = absl::GetFlag(FLAGS_op);
  const int callers = absl::GetFlag(FLAGS_callers);
  const int64_t fixed_ops = absl::GetFlag(FLAGS_ops);
  if (target.empty() || !KnownOp(op) || callers < 1) {
    std::fprintf(stderr, "load_gen: need --target, a known --op and --callers >= 1\n");
    return 2;
  }
  const std::string value(static_cast<size_t>(absl::GetFlag(FLAGS_value_bytes)), 'v');
  const std::string run_id = absl::StrCat(getpid());

  std::vector<Caller> all(static_cast<size_t>(callers));
  const absl::Time connect_deadline =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_connect_timeout_seconds));
  for (int i = 0; i < callers; ++i) {
    Caller& c = all[static_cast<size_t>(i)];
    c.index = i;
    c.key = absl::StrCat("bench-", run_id, "-", i);
    std::shared_ptr<grpc::Channel> channel = OwnChannel(target, i);
    if (!channel->WaitForConnected(absl::ToChronoTime(connect_deadline))) {
      std::fprintf(stderr, "load_gen: %s did not answer\n", target.c_str());
      return 1;
    }
    c.sentinel = v1::SentinelService::NewStub(channel);
    c.echo = Echo::NewStub(channel);
    c.kv = etcdserverpb::KV::NewStub(channel);
    if (grpc::Status s = Prepare(op, c, value); !s.ok()) {
      std::fprintf(stderr, "load_gen: preparing caller %d: %s\n", i, s.error_message().c_str());
      return 1;
    }
  }

  const absl::Duration warmup =
      fixed_ops > 0 ? absl::ZeroDuration() : absl::Seconds(absl::GetFlag(FLAGS_warmup_seconds));
  const absl::Duration window = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const absl::Time start = absl::Now() + warmup;
  const absl::Time end = fixed_ops > 0 ? absl::InfiniteFuture() : start + window;
  std::atomic<int64_t> ops_left{fixed_ops};
  std::vector<LatencyHistogram> histograms(static_cast<size_t>(callers));
  std::vector<int64_t> errors(static_cast<size_t>(callers), 0);
  std::vector<std::string> first_error(static_cast<size_t>(callers));
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&, i] {
      Caller& c = all[static_cast<size_t>(i)];
      const absl::Time until = op == "idle" ? end : absl::InfiniteFuture();
      while (true) {
        if (fixed_ops > 0 && ops_left.fetch_sub(1) <= 0) break;
        const absl::Time t0 = absl::Now();
        if (t0 >= end) break;
        grpc::Status s = RunOnce(op, c, value, until);
        const absl::Time t1 = absl::Now();
        if (t0 < start) continue;  // warm-up
        if (!s.ok()) {
          if (errors[static_cast<size_t>(i)]++ == 0) {
            first_error[static_cast<size_t>(i)] = s.error_message();
          }
          absl::SleepFor(absl::Milliseconds(10));  // no busy loop against a failing server
          continue;
        }
        if (t1 <= end) histograms[static_cast<size_t>(i)].Record(t1 - t0);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = fixed_ops > 0 ? absl::ToDoubleSeconds(absl::Now() - start)
                                       : absl::ToDoubleSeconds(window);

  LatencyHistogram total;
  int64_t error_count = 0;
  for (int i = 0; i < callers; ++i) {
    total.Add(histograms[static_cast<size_t>(i)]);
    error_count += errors[static_cast<size_t>(i)];
    if (!first_error[static_cast<size_t>(i)].empty()) {
      std::fprintf(stderr, "load_gen: caller %d: %s\n", i,
                   first_error[static_cast<size_t>(i)].c_str());
    }
  }
  std::printf(
      "%s\n",
      absl::StrFormat("{\"op\":\"%s\",\"callers\":%d,\"ops\":%d,\"seconds\":%.3f,"
                      "\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%d}",
                      op, callers, total.count(), seconds,
                      seconds > 0 ? static_cast<double>(total.count()) / seconds : 0.0,
                      absl::ToDoubleMilliseconds(total.Percentile(0.50)),
                      absl::ToDoubleMilliseconds(total.Percentile(0.99)), error_count)
          .c_str());
  return 0;
}

}  // namespace
}  // namespace tasksentinel::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tasksentinel::bench::Run();
}
