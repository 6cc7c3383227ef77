// Client: a thin C++ layer over the generated tasksentinel.v1.SentinelService stub. Every call
// returns absl::Status/absl::StatusOr (errors carry the sidecar's reason, see status.h), sets a
// deadline (the call timeout, plus the wait for blocking calls), and sends the bearer token when
// one is configured. Lists are read to their last page. CreateTask always sends a request_id
// (one is generated when the request has none) and is retried on UNAVAILABLE and
// DEADLINE_EXCEEDED, so a lost answer never creates a second task.
//
// The channel reconnects by itself when the sidecar restarts; calls made while it is down fail
// with UNAVAILABLE (Worker retries them).
//
// Thread safety: all methods may be called concurrently.
#ifndef TASK_SENTINEL_CLIENTS_CPP_CLIENT_H_
#define TASK_SENTINEL_CLIENTS_CPP_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"

namespace tasksentinel::client {

namespace v1 = ::tasksentinel::v1;

struct ClientOptions {
  // The deadline of a non-blocking call, and the margin added to a blocking call's wait.
  absl::Duration call_timeout = absl::Seconds(10);
  // SENTINEL_API_TOKEN, sent as "authorization: Bearer <token>" when not empty.
  std::string api_token;
  // How often CreateTask is retried after UNAVAILABLE or DEADLINE_EXCEEDED.
  int create_retries = 5;
};

class Client {
 public:
  // A client of the sidecar at `target` ("127.0.0.1:50051", "unix:/run/sentinel.sock"), over
  // plaintext (the sidecar listens on loopback or a unix socket by default).
  explicit Client(const std::string& target, ClientOptions options = {});
  // A client over a channel of the caller's (TLS credentials, interceptors).
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  // AcquireLock: the lock when acquired (within `wait`), nullopt when another holder has it.
  // `ttl` zero: the sidecar's LOCK_TTL_SECONDS.
  absl::StatusOr<std::optional<v1::Lock>> AcquireLock(const std::string& name,
                                                      absl::Duration ttl = absl::ZeroDuration(),
                                                      absl::Duration wait = absl::ZeroDuration());
  // RenewLock; FENCING_TOKEN_STALE when the lock instance is gone.
  absl::StatusOr<v1::Lock> RenewLock(const std::string& name, uint64_t token,
                                     absl::Duration ttl = absl::ZeroDuration());
  // ReleaseLock: RELEASED, NOT_HELD or HELD_BY_OTHER.
  absl::StatusOr<v1::ReleaseLockResponse::Status> ReleaseLock(const std::string& name,
                                                              uint64_t token);
  // Heartbeat for this sidecar's worker.
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request = {});

  // Memory.
  absl::StatusOr<v1::MemoryEntry> GetMemory(const std::string& ns, const std::string& key);
  absl::StatusOr<v1::MemoryEntry> SetMemory(const v1::SetMemoryRequest& request);
  absl::StatusOr<bool> DeleteMemory(const v1::DeleteMemoryRequest& request);
  // Every page.
  absl::StatusOr<std::vector<v1::MemoryEntry>> ListMemory(const std::string& ns,
                                                          const std::string& prefix = "");

  // CreateTask, safe to retry (see the file comment).
  absl::StatusOr<v1::Task> CreateTask(v1::CreateTaskRequest request);
  // NextTask: the task with its lock, or nullopt when none came within `wait`. The gRPC
  // deadline is the wait plus the call timeout.
  absl::StatusOr<std::optional<v1::NextTaskResponse>> NextTask(
      absl::Duration wait, const std::vector<std::string>& types = {});
  absl::StatusOr<v1::Task> CompleteTask(const std::string& task_id, uint64_t token,
                                        const std::string& result);
  absl::StatusOr<v1::Task> FailTask(const std::string& task_id, uint64_t token,
                                    const std::string& error, bool retryable);
  absl::StatusOr<v1::Task> GetTask(const std::string& task_id);

  // Every page.
  absl::StatusOr<std::vector<v1::Lock>> ListLocks();
  absl::StatusOr<std::vector<v1::Worker>> ListWorkers(bool include_gone = false);
  absl::StatusOr<v1::GetClusterHealthResponse> GetClusterHealth();

  // The generated stub, for anything not wrapped here (WatchMemory).
  v1::SentinelService::Stub& stub() { return *stub_; }
  // A context with the call deadline (plus `extra`) and the bearer token.
  std::unique_ptr<grpc::ClientContext> NewContext(
      absl::Duration extra = absl::ZeroDuration()) const;

 private:
  ClientOptions options_;
  std::unique_ptr<v1::SentinelService::Stub> stub_;
};

}  // namespace tasksentinel::client

#endif  // TASK_SENTINEL_CLIENTS_CPP_CLIENT_H_
