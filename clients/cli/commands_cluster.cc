// Read-only commands that show the cluster: the sidecar's health, the workers (their status,
// heartbeats, capacities and load), the live locks and who works on which task. These are the
// seed's debug:* commands (debug:workers, debug:stale-workers, debug:heartbeats,
// debug:capacities, debug:load-balance, debug:locks, debug:assignments).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/time/clock.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "clients/cli/cli.h"
#include "clients/cli/flags.h"
#include "clients/cli/output.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace tasksentinel::cli {
namespace {

using Workers = google::protobuf::RepeatedPtrField<v1::Worker>;

std::string StatusName(const v1::Worker& w) {
  return ShortEnum(v1::WorkerStatus_Name(w.status()), "WORKER_STATUS_");
}

std::string HealthName(const v1::Worker& w) {
  return ShortEnum(v1::WorkerHealth_Name(w.health()), "WORKER_HEALTH_");
}

// Percent of `used` in `total`, e.g. "37.5%"; "-" when total is 0.
std::string Percent(double used, double total) {
  return total > 0 ? absl::StrFormat("%.1f%%", 100.0 * used / total) : "-";
}

// Lists the workers (ListWorkers); the gone ones too when `include_gone`.
grpc::Status ListWorkers(const Invocation& inv, bool include_gone, v1::ListWorkersResponse* out) {
  v1::ListWorkersRequest req;
  req.set_include_gone(include_gone);
  return CallAllPages(inv, &v1::SentinelService::Stub::ListWorkers, req, out);
}

void PrintWorkerTable(const Workers& workers) {
  Table t({"WORKER", "HOST", "STATUS", "HEALTH", "TASKS", "TYPES", "LAST_HEARTBEAT"});
  for (const v1::Worker& w : workers) {
    t.AddRow({w.worker_id(), w.hostname(), StatusName(w), HealthName(w),
              absl::StrCat(w.active_tasks(), "/", w.max_tasks()),
              w.supported_task_types().empty() ? "*" : absl::StrJoin(w.supported_task_types(), ","),
              FormatTime(w.last_heartbeat())});
  }
  t.Print("no workers");
}

// health [SERVICE]: grpc.health.v1 Check; exit 0 only when SERVING.
int RunHealth(Invocation& inv) {
  using grpc::health::v1::HealthCheckResponse;
  auto stub = grpc::health::v1::Health::NewStub(inv.channel);
  grpc::health::v1::HealthCheckRequest req;
  if (!inv.args.empty()) req.set_service(inv.args[0]);
  HealthCheckResponse resp;
  grpc::ClientContext ctx;
  inv.SetDeadline(&ctx);
  if (grpc::Status s = stub->Check(&ctx, req, &resp); !s.ok()) return RpcError(s);
  if (inv.json) {
    if (int rc = PrintJson(resp); rc != kExitOk) return rc;
  } else {
    std::printf("%s\n", HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  }
  return resp.status() == HealthCheckResponse::SERVING ? kExitOk : kExitError;
}

// wait-ready [SERVICE]: grpc.health.v1 Check, again every 100 ms until the answer is SERVING
// (exit 0) or --timeout (default 30 s for this command) runs out (exit 1). A sidecar that is
// still starting (not listening yet, or checking GitHub) is waited for, not reported as an error.
int RunWaitReady(Invocation& inv) {
  using grpc::health::v1::HealthCheckResponse;
  const absl::Duration total = inv.timeout_given ? inv.timeout : absl::Seconds(30);
  const absl::Time deadline = absl::Now() + total;
  auto stub = grpc::health::v1::Health::NewStub(inv.channel);
  grpc::health::v1::HealthCheckRequest req;
  if (!inv.args.empty()) req.set_service(inv.args[0]);
  std::string last = "no answer";
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    HealthCheckResponse resp;
    grpc::ClientContext ctx;
    Invocation attempt_deadline;  // the token, and this attempt's share of the wait
    attempt_deadline.token = inv.token;
    attempt_deadline.timeout = std::min(left, absl::Seconds(1));
    attempt_deadline.SetDeadline(&ctx);
    ctx.set_wait_for_ready(true);  // wait for the connection rather than fail at once
    grpc::Status s = stub->Check(&ctx, req, &resp);
    if (s.ok() && resp.status() == HealthCheckResponse::SERVING) {
      if (inv.json) return PrintJson(resp);
      std::printf("SERVING\n");
      return kExitOk;
    }
    last = s.ok() ? HealthCheckResponse::ServingStatus_Name(resp.status())
                  : absl::StrCat(absl::StatusCodeToString(
                                     static_cast<absl::StatusCode>(s.error_code())),
                                 ": ", s.error_message());
    absl::SleepFor(std::min(absl::Milliseconds(100), deadline - absl::Now()));
  }
  return Refused(absl::StrCat("not SERVING after ", absl::FormatDuration(total), " (last: ",
                              last, ")"));
}

// cluster: GetClusterHealth, a summary and the worker table.
int RunCluster(Invocation& inv) {
  v1::GetClusterHealthResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::GetClusterHealth, {}, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  PrintFields({
      {"status",
       ShortEnum(v1::GetClusterHealthResponse::Status_Name(resp.status()), "STATUS_")},
      {"workers", absl::StrCat(resp.total_workers(), " total, ", resp.healthy_workers(),
                               " healthy, ", resp.stale_workers(), " stale")},
      {"capacity", absl::StrCat(resp.used_capacity(), "/", resp.total_capacity(), " slots in use")},
      {"tasks", absl::StrCat(resp.tasks_queued(), " queued, ", resp.tasks_in_progress(),
                             " in progress, ", resp.tasks_done(), " done, ", resp.tasks_failed(),
                             " failed")},
  });
  std::printf("\n");
  PrintWorkerTable(resp.workers());
  return kExitOk;
}

// workers [--all]: ListWorkers.
int RunWorkers(Invocation& inv) {
  v1::ListWorkersResponse resp;
  if (auto s = ListWorkers(inv, absl::GetFlag(FLAGS_all), &resp); !s.ok()) return RpcError(s);
  if (inv.json) return PrintJson(resp);
  PrintWorkerTable(resp.workers());
  return kExitOk;
}

// stale-workers: the workers whose lease lapsed.
int RunStaleWorkers(Invocation& inv) {
  v1::ListWorkersResponse resp;
  if (auto s = ListWorkers(inv, false, &resp); !s.ok()) return RpcError(s);
  v1::ListWorkersResponse stale;
  for (const v1::Worker& w : resp.workers()) {
    if (w.status() == v1::WORKER_STATUS_STALE) *stale.add_workers() = w;
  }
  if (inv.json) return PrintJson(stale);
  Table t({"WORKER", "HOST", "LAST_HEARTBEAT", "AGE_S", "LEASE_EXPIRED"});
  for (const v1::Worker& w : stale.workers()) {
    t.AddRow({w.worker_id(), w.hostname(), FormatTime(w.last_heartbeat()),
              SecondsAgo(w.last_heartbeat()), FormatTime(w.lease_expires_at())});
  }
  t.Print("no stale workers");
  return kExitOk;
}

// heartbeats: each worker's last heartbeat and lease expiry, with ages in seconds.
int RunHeartbeats(Invocation& inv) {
  v1::ListWorkersResponse resp;
  if (auto s = ListWorkers(inv, false, &resp); !s.ok()) return RpcError(s);
  if (inv.json) return PrintJson(resp);
  Table t({"WORKER", "STATUS", "LAST_HEARTBEAT", "AGE_S", "LEASE_EXPIRES", "EXPIRES_IN_S",
           "EPOCH"});
  for (const v1::Worker& w : resp.workers()) {
    t.AddRow({w.worker_id(), StatusName(w), FormatTime(w.last_heartbeat()),
              SecondsAgo(w.last_heartbeat()), FormatTime(w.lease_expires_at()),
              SecondsUntil(w.lease_expires_at()), absl::StrCat(w.lease_epoch())});
  }
  t.Print("no workers");
  return kExitOk;
}

// capacities: per worker max/active/available slots, and the active workers' totals.
int RunCapacities(Invocation& inv) {
  v1::ListWorkersResponse resp;
  if (auto s = ListWorkers(inv, false, &resp); !s.ok()) return RpcError(s);
  if (inv.json) return PrintJson(resp);
  Table t({"WORKER", "STATUS", "HEALTH", "MAX", "ACTIVE", "AVAILABLE"});
  uint64_t max = 0, active = 0, available = 0;
  for (const v1::Worker& w : resp.workers()) {
    t.AddRow({w.worker_id(), StatusName(w), HealthName(w), absl::StrCat(w.max_tasks()),
              absl::StrCat(w.active_tasks()), absl::StrCat(w.available_slots())});
    if (w.status() != v1::WORKER_STATUS_ACTIVE) continue;
    max += w.max_tasks();
    active += w.active_tasks();
    available += w.available_slots();
  }
  t.Print("no workers");
  if (!resp.workers().empty()) {
    std::printf("\nactive workers: max %llu, active %llu, available %llu\n",
                static_cast<unsigned long long>(max), static_cast<unsigned long long>(active),
                static_cast<unsigned long long>(available));
  }
  return kExitOk;
}

// load-balance: per-worker active tasks against capacity, and the cluster's utilisation.
int RunLoadBalance(Invocation& inv) {
  v1::GetClusterHealthResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::GetClusterHealth, {}, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  constexpr int kBar = 20;
  Table t({"WORKER", "STATUS", "ACTIVE", "MAX", "UTIL", "LOAD"});
  double lo = 1.0, hi = 0.0;
  int counted = 0;
  for (const v1::Worker& w : resp.workers()) {
    const double util = w.max_tasks() > 0 ? double(w.active_tasks()) / w.max_tasks() : 0.0;
    const int filled = std::min(kBar, static_cast<int>(util * kBar + 0.5));
    t.AddRow({w.worker_id(), StatusName(w), absl::StrCat(w.active_tasks()),
              absl::StrCat(w.max_tasks()), Percent(w.active_tasks(), w.max_tasks()),
              absl::StrCat("[", std::string(filled, '#'), std::string(kBar - filled, ' '), "]")});
    if (w.status() != v1::WORKER_STATUS_ACTIVE) continue;
    lo = std::min(lo, util);
    hi = std::max(hi, util);
    ++counted;
  }
  std::printf("cluster: %u/%u slots in use (%s), %u queued, %u in progress\n",
              resp.used_capacity(), resp.total_capacity(),
              Percent(resp.used_capacity(), resp.total_capacity()).c_str(), resp.tasks_queued(),
              resp.tasks_in_progress());
  if (counted > 1) {
    std::printf("spread: %.1f points between the busiest and the idlest active worker\n",
                100.0 * (hi - lo));
  }
  std::printf("\n");
  t.Print("no workers");
  return kExitOk;
}

// locks: ListLocks.
int RunLocks(Invocation& inv) {
  v1::ListLocksResponse resp;
  if (auto s = CallAllPages(inv, &v1::SentinelService::Stub::ListLocks, {}, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  Table t({"NAME", "TOKEN", "HOLDER", "ACQUIRED", "EXPIRES", "TTL"});
  for (const v1::Lock& l : resp.locks()) {
    t.AddRow({l.name(), absl::StrCat(l.fencing_token()), l.holder(),
              FormatTime(l.acquired_at()), FormatTime(l.expires_at()), FormatDuration(l.ttl())});
  }
  t.Print("no locks");
  return kExitOk;
}

// assignments: the live locks that are task locks (GetTask finds a task of that name), with
// their holders: who works on what. JSON: {"assignments": [{"task": ..., "lock": ...}]}.
int RunAssignments(Invocation& inv) {
  v1::ListLocksResponse locks;
  if (auto s = CallAllPages(inv, &v1::SentinelService::Stub::ListLocks, {}, &locks); !s.ok()) {
    return RpcError(s);
  }
  std::vector<v1::NextTaskResponse> assignments;  // a task with the lock on it
  for (const v1::Lock& lock : locks.locks()) {
    v1::GetTaskRequest req;
    req.set_task_id(lock.name());
    v1::GetTaskResponse task;
    grpc::Status s = Call(inv, &v1::SentinelService::Stub::GetTask, req, &task);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) continue;  // not a task lock
    if (!s.ok()) return RpcError(s);
    v1::NextTaskResponse& a = assignments.emplace_back();
    *a.mutable_task() = task.task();
    *a.mutable_lock() = lock;
  }
  if (inv.json) {
    google::protobuf::Struct out;
    google::protobuf::ListValue* list =
        (*out.mutable_fields())["assignments"].mutable_list_value();
    for (const v1::NextTaskResponse& a : assignments) {
      if (!ToJsonValue(a, list->add_values())) return Refused("cannot convert to JSON");
    }
    return PrintJson(out);
  }
  Table t({"TASK", "TITLE", "STATE", "HOLDER", "TOKEN", "ATTEMPTS", "EXPIRES"});
  for (const v1::NextTaskResponse& a : assignments) {
    t.AddRow({a.task().id(), Printable(a.task().title(), 40),
              ShortEnum(v1::TaskState_Name(a.task().state()), "TASK_STATE_"), a.lock().holder(),
              absl::StrCat(a.lock().fencing_token()),
              absl::StrCat(a.task().attempts(), "/", a.task().max_attempts()),
              FormatTime(a.lock().expires_at())});
  }
  t.Print("no assignments");
  return kExitOk;
}

}  // namespace

std::vector<Command> ClusterCommands() {
  return {
      {"health", "[SERVICE]", 0, 1, {}, "grpc.health.v1 check: SERVING (exit 0) or not",
       RunHealth},
      {"wait-ready", "[SERVICE] [--timeout=30s]", 0, 1, {},
       "wait until the sidecar is SERVING (exit 0), at most --timeout (default 30s here)",
       RunWaitReady},
      {"cluster", "", 0, 0, {}, "cluster health: workers, capacity, task counts", RunCluster},
      {"workers", "[--all]", 0, 0, {"all"}, "registered workers (--all: also gone ones)",
       RunWorkers},
      {"stale-workers", "", 0, 0, {}, "workers whose lease lapsed", RunStaleWorkers},
      {"heartbeats", "", 0, 0, {}, "last heartbeat and lease expiry of each worker",
       RunHeartbeats},
      {"capacities", "", 0, 0, {}, "max/active/available task slots per worker", RunCapacities},
      {"load-balance", "", 0, 0, {}, "active tasks against capacity, cluster utilisation",
       RunLoadBalance},
      {"locks", "", 0, 0, {}, "live locks", RunLocks},
      {"assignments", "", 0, 0, {}, "tasks being worked on, and by whom", RunAssignments},
  };
}

}  // namespace tasksentinel::cli
