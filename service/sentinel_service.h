// The tasksentinel.v1.SentinelService gRPC service: checks the caller's bearer token (when
// SENTINEL_API_TOKEN is set), decodes each request, calls the core protocol that answers it, and
// encodes the answer, showing fencing tokens only of the locks this sidecar's worker holds. No
// coordination logic lives here.
//
// Thread safety: safe for concurrent calls (the sync server runs each on its own thread).
#ifndef TASK_SENTINEL_SERVICE_SENTINEL_SERVICE_H_
#define TASK_SENTINEL_SERVICE_SENTINEL_SERVICE_H_

#include <atomic>
#include <map>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "core/config.h"
#include "core/coordinator.h"
#include "core/watch_hub.h"
#include "service/metrics.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"

namespace tasksentinel {

// Every method runs on the sync server's threads except WatchMemory, which uses the callback
// API: an idle stream holds no thread, and its events come from the WatchHub's one feed per
// namespace.
// The most AcquireLock (and, separately, NextTask) calls that may wait at once; more waiting
// calls get RESOURCE_EXHAUSTED, so that waits cannot take every server thread.
inline constexpr int kMaxWaitingCallsPerMethod = 128;

class SentinelService final
    : public v1::SentinelService::WithCallbackMethod_WatchMemory<v1::SentinelService::Service> {
 public:
  // `metrics`, when given, receives the domain counters (lock acquisitions, task events) and
  // must outlive the service; RPC counts and durations are recorded by an interceptor instead.
  // `coordinator`, `watches` (and `metrics`, which may be null) must outlive the service.
  SentinelService(Coordinator* coordinator, WatchHub* watches, const Config& config,
                  Metrics* metrics = nullptr);

  grpc::Status AcquireLock(grpc::ServerContext* context, const v1::AcquireLockRequest* request,
                           v1::AcquireLockResponse* response) override;
  grpc::Status RenewLock(grpc::ServerContext* context, const v1::RenewLockRequest* request,
                         v1::RenewLockResponse* response) override;
  grpc::Status ReleaseLock(grpc::ServerContext* context, const v1::ReleaseLockRequest* request,
                           v1::ReleaseLockResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status GetMemory(grpc::ServerContext* context, const v1::GetMemoryRequest* request,
                         v1::GetMemoryResponse* response) override;
  grpc::Status SetMemory(grpc::ServerContext* context, const v1::SetMemoryRequest* request,
                         v1::SetMemoryResponse* response) override;
  grpc::Status DeleteMemory(grpc::ServerContext* context, const v1::DeleteMemoryRequest* request,
                            v1::DeleteMemoryResponse* response) override;
  grpc::Status ListMemory(grpc::ServerContext* context, const v1::ListMemoryRequest* request,
                          v1::ListMemoryResponse* response) override;
  // A stream fed by the WatchHub; RESOURCE_EXHAUSTED beyond SENTINEL_MAX_WATCHES streams.
  grpc::ServerWriteReactor<v1::WatchMemoryResponse>* WatchMemory(
      grpc::CallbackServerContext* context, const v1::WatchMemoryRequest* request) override;
  grpc::Status CreateTask(grpc::ServerContext* context, const v1::CreateTaskRequest* request,
                          v1::CreateTaskResponse* response) override;
  grpc::Status NextTask(grpc::ServerContext* context, const v1::NextTaskRequest* request,
                        v1::NextTaskResponse* response) override;
  grpc::Status CompleteTask(grpc::ServerContext* context, const v1::CompleteTaskRequest* request,
                            v1::CompleteTaskResponse* response) override;
  grpc::Status FailTask(grpc::ServerContext* context, const v1::FailTaskRequest* request,
                        v1::FailTaskResponse* response) override;
  grpc::Status GetTask(grpc::ServerContext* context, const v1::GetTaskRequest* request,
                       v1::GetTaskResponse* response) override;
  grpc::Status GetClusterHealth(grpc::ServerContext* context,
                                const v1::GetClusterHealthRequest* request,
                                v1::GetClusterHealthResponse* response) override;
  grpc::Status ListLocks(grpc::ServerContext* context, const v1::ListLocksRequest* request,
                         v1::ListLocksResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;

 private:
  // OK when no token is configured or the call carries `authorization: Bearer <token>`;
  // UNAUTHENTICATED otherwise (the presented value is never quoted).
  grpc::Status Authorize(const grpc::ServerContextBase* context) const;
  // Sets the fencing token of a lock held by another worker to 0: callers see who holds a lock,
  // never the token that would let them act as its holder.
  void HideOthersToken(v1::Lock* lock) const;
  // Remembers when this sidecar handed out `task_id`, for the task's duration.
  void NoteHandedOut(const std::string& task_id);
  // How long ago `task_id` was handed out here (and forgets it); nullopt when it was not (it
  // was handed out by an earlier run of the sidecar, or forgotten among too many).
  std::optional<absl::Duration> TakeHandedOut(const std::string& task_id);
  // The most hand-out times kept (tasks never completed nor failed here are dropped oldest id
  // first beyond it).
  static constexpr size_t kMaxTrackedTasks = 10000;

  Coordinator* coordinator_;
  WatchHub* watches_;
  // Calls of AcquireLock and NextTask blocked in a wait now (each holds a server thread).
  std::atomic<int> waiting_acquires_{0};
  std::atomic<int> waiting_nexts_{0};
  absl::Duration heartbeat_interval_;
  // How long an AcquireLock without wait_timeout waits: LOCK_RETRY_ATTEMPTS times
  // LOCK_RETRY_DELAY_MS (the seed's retries, as one fair wait).
  absl::Duration default_lock_wait_;
  std::string worker_id_;
  std::string api_token_;  // empty: no token required
  Metrics* metrics_;  // may be null
  absl::Mutex handed_out_mu_;
  std::map<std::string, absl::Time> handed_out_ ABSL_GUARDED_BY(handed_out_mu_);
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_SENTINEL_SERVICE_H_
