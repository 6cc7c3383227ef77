// Client (see client.h).
#include "clients/cpp/client.h"

#include <chrono>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clients/cpp/status.h"

namespace tasksentinel::client {
namespace {

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

// A random version-4 UUID: an idempotency key no other call will use.
std::string NewRequestId() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  absl::MutexLock lock(&mu);
  const uint64_t hi = absl::Uniform<uint64_t>(*gen);
  const uint64_t lo = absl::Uniform<uint64_t>(*gen);
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xfff,
                         0x8000 | ((lo >> 48) & 0x3fff), lo & 0xffffffffffffULL);
}

}  // namespace

Client::Client(const std::string& target, ClientOptions options)
    : Client(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()),
             std::move(options)) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)), stub_(v1::SentinelService::NewStub(std::move(channel))) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext(absl::Duration extra) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout + extra));
  if (!options_.api_token.empty()) {
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.api_token));
  }
  return ctx;
}

absl::StatusOr<std::optional<v1::Lock>> Client::AcquireLock(const std::string& name,
                                                            absl::Duration ttl,
                                                            absl::Duration wait) {
  v1::AcquireLockRequest req;
  req.set_name(name);
  SetDuration(ttl, req.mutable_ttl());
  SetDuration(wait, req.mutable_wait_timeout());
  v1::AcquireLockResponse resp;
  if (absl::Status s = FromGrpc(stub_->AcquireLock(NewContext(wait).get(), req, &resp)); !s.ok()) {
    return s;
  }
  if (!resp.acquired()) return std::nullopt;
  return resp.lock();
}

absl::StatusOr<v1::Lock> Client::RenewLock(const std::string& name, uint64_t token,
                                           absl::Duration ttl) {
  v1::RenewLockRequest req;
  req.set_name(name);
  req.set_fencing_token(token);
  SetDuration(ttl, req.mutable_ttl());
  v1::RenewLockResponse resp;
  if (absl::Status s = FromGrpc(stub_->RenewLock(NewContext().get(), req, &resp)); !s.ok()) {
    return s;
  }
  return resp.lock();
}

absl::StatusOr<v1::ReleaseLockResponse::Status> Client::ReleaseLock(const std::string& name,
                                                                    uint64_t token) {
  v1::ReleaseLockRequest req;
  req.set_name(name);
  req.set_fencing_token(token);
  v1::ReleaseLockResponse resp;
  if (absl::Status s = FromGrpc(stub_->ReleaseLock(NewContext().get(), req, &resp)); !s.ok()) {
    return s;
  }
  return resp.status();
}

absl::StatusOr<v1::HeartbeatResponse> Client::Heartbeat(const v1::HeartbeatRequest& request) {
  v1::HeartbeatResponse resp;
  if (absl::Status s = FromGrpc(stub_->Heartbeat(NewContext().get(), request, &resp)); !s.ok()) {
    return s;
  }
  return resp;
}

absl::StatusOr<v1::MemoryEntry> Client::GetMemory(const std::string& ns, const std::string& key) {
  v1::GetMemoryRequest req;
  req.set_namespace_(ns);
  req.set_key(key);
  v1::GetMemoryResponse resp;
  if (absl::Status s = FromGrpc(stub_->GetMemory(NewContext().get(), req, &resp)); !s.ok()) {
    return s;
  }
  return resp.entry();
}

absl::StatusOr<v1::MemoryEntry> Client::SetMemory(const v1::SetMemoryRequest& request) {
  v1::SetMemoryResponse resp;
  if (absl::Status s = FromGrpc(stub_->SetMemory(NewContext().get(), request, &resp)); !s.ok()) {
    return s;
  }
  return resp.entry();
}

absl::StatusOr<bool> Client::DeleteMemory(const v1::DeleteMemoryRequest& request) {
  v1::DeleteMemoryResponse resp;
  if (absl::Status s = FromGrpc(stub_->DeleteMemory(NewContext().get(), request, &resp));
      !s.ok()) {
    return s;
  }
  return resp.deleted();
}

absl::StatusOr<std::vector<v1::MemoryEntry>> Client::ListMemory(const std::string& ns,
                                                                const std::string& prefix) {
  v1::ListMemoryRequest req;
  req.set_namespace_(ns);
  req.set_prefix(prefix);
  std::vector<v1::MemoryEntry> out;
  for (;;) {
    v1::ListMemoryResponse resp;
    if (absl::Status s = FromGrpc(stub_->ListMemory(NewContext().get(), req, &resp)); !s.ok()) {
      return s;
    }
    out.insert(out.end(), resp.entries().begin(), resp.entries().end());
    if (resp.next_page_token().empty()) return out;
    req.set_page_token(resp.next_page_token());
  }
}

absl::StatusOr<v1::Task> Client::CreateTask(v1::CreateTaskRequest request) {
  if (request.request_id().empty()) request.set_request_id(NewRequestId());
  absl::Duration backoff = absl::Milliseconds(100);
  for (int attempt = 0;; ++attempt) {
    v1::CreateTaskResponse resp;
    absl::Status s = FromGrpc(stub_->CreateTask(NewContext().get(), request, &resp));
    if (s.ok()) return resp.task();
    const bool transient = absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
    if (!transient || attempt >= options_.create_retries) return s;
    absl::SleepFor(RetryDelay(s).value_or(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

absl::StatusOr<std::optional<v1::NextTaskResponse>> Client::NextTask(
    absl::Duration wait, const std::vector<std::string>& types) {
  v1::NextTaskRequest req;
  for (const std::string& t : types) req.add_task_types(t);
  SetDuration(wait, req.mutable_wait_timeout());
  v1::NextTaskResponse resp;
  if (absl::Status s = FromGrpc(stub_->NextTask(NewContext(wait).get(), req, &resp)); !s.ok()) {
    return s;
  }
  if (!resp.has_task()) return std::nullopt;
  return resp;
}

absl::StatusOr<v1::Task> Client::CompleteTask(const std::string& task_id, uint64_t token,
                                              const std::string& result) {
  v1::CompleteTaskRequest req;
  req.set_task_id(task_id);
  req.set_fencing_token(token);
  req.set_result(result);
  v1::CompleteTaskResponse resp;
  if (absl::Status s = FromGrpc(stub_->CompleteTask(NewContext().get(), req, &resp)); !s.ok()) {
    return s;
  }
  return resp.task();
}

absl::StatusOr<v1::Task> Client::FailTask(const std::string& task_id, uint64_t token,
                                          const std::string& error, bool retryable) {
  v1::FailTaskRequest req;
  req.set_task_id(task_id);
  req.set_fencing_token(token);
  req.set_error(error);
  req.set_retryable(retryable);
  v1::FailTaskResponse resp;
  if (absl::Status s = FromGrpc(stub_->FailTask(NewContext().get(), req, &resp)); !s.ok()) {
    return s;
  }
  return resp.task();
}

absl::StatusOr<v1::Task> Client::GetTask(const std::string& task_id) {
  v1::GetTaskRequest req;
  req.set_task_id(task_id);
  v1::GetTaskResponse resp;
  if (absl::Status s = FromGrpc(stub_->GetTask(NewContext().get(), req, &resp)); !s.ok()) {
    return s;
  }
  return resp.task();
}

absl::StatusOr<std::vector<v1::Lock>> Client::ListLocks() {
  v1::ListLocksRequest req;
  std::vector<v1::Lock> out;
  for (;;) {
    v1::ListLocksResponse resp;
    if (absl::Status s = FromGrpc(stub_->ListLocks(NewContext().get(), req, &resp)); !s.ok()) {
      return s;
    }
    out.insert(out.end(), resp.locks().begin(), resp.locks().end());
    if (resp.next_page_token().empty()) return out;
    req.set_page_token(resp.next_page_token());
  }
}

absl::StatusOr<std::vector<v1::Worker>> Client::ListWorkers(bool include_gone) {
  v1::ListWorkersRequest req;
  req.set_include_gone(include_gone);
  std::vector<v1::Worker> out;
  for (;;) {
    v1::ListWorkersResponse resp;
    if (absl::Status s = FromGrpc(stub_->ListWorkers(NewContext().get(), req, &resp)); !s.ok()) {
      return s;
    }
    out.insert(out.end(), resp.workers().begin(), resp.workers().end());
    if (resp.next_page_token().empty()) return out;
    req.set_page_token(resp.next_page_token());
  }
}

absl::StatusOr<v1::GetClusterHealthResponse> Client::GetClusterHealth() {
  v1::GetClusterHealthResponse resp;
  if (absl::Status s = FromGrpc(stub_->GetClusterHealth(NewContext().get(), {}, &resp));
      !s.ok()) {
    return s;
  }
  return resp;
}

}  // namespace tasksentinel::client
