// The tasksentinel.v1.SentinelService gRPC service (see sentinel_service.h).
#include "service/sentinel_service.h"

#include <algorithm>
#include <atomic>
#include <list>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/synchronization/mutex.h"

#include "core/error_reason.h"
#include "core/validation.h"
#include "service/auth.h"
#include "service/convert.h"
#include "service/log.h"
#include "service/error_details.h"
#include "service/paging.h"

namespace tasksentinel {
namespace {

// A cancellation check for blocking calls: the client gave up or its deadline passed.
std::function<bool()> CancelledBy(grpc::ServerContext* context) {
  return [context] {
    return context->IsCancelled() || std::chrono::system_clock::now() >= context->deadline();
  };
}

// Bounds a requested wait by the call's own deadline.
absl::Duration BoundedWait(grpc::ServerContext* context, absl::Duration wait) {
  const absl::Duration left = absl::FromChrono(context->deadline()) - absl::Now();
  return std::max(absl::ZeroDuration(), std::min(wait, left));
}

// A place among the calls of one method that wait; released when it goes out of scope.
class WaitSlot {
 public:
  WaitSlot(std::atomic<int>* count, bool waits) : count_(waits ? count : nullptr) {
    if (count_ != nullptr) taken_ = count_->fetch_add(1) < kMaxWaitingCallsPerMethod;
  }
  ~WaitSlot() {
    if (count_ != nullptr) count_->fetch_sub(1);
  }
  // False when the method already has kMaxWaitingCallsPerMethod waiting calls.
  bool ok() const { return taken_; }

 private:
  std::atomic<int>* count_;
  bool taken_ = true;
};

grpc::Status TooManyWaiting(absl::string_view method) {
  return ToGrpc(WithReason(
      absl::ResourceExhaustedError(absl::StrCat(
          kMaxWaitingCallsPerMethod, " ", method,
          " calls are already waiting on this sidecar; retry later or call without a wait")),
      reason::kTooManyCalls));
}

std::optional<FenceRef> FenceFrom(bool has, const v1::Fencing& f) {
  if (!has) return std::nullopt;
  return FenceRef{f.name(), f.token()};
}

}  // namespace

SentinelService::SentinelService(Coordinator* coordinator, WatchHub* watches,
                                 const Config& config, Metrics* metrics)
    : coordinator_(coordinator),
      watches_(watches),
      heartbeat_interval_(config.heartbeat_interval),
      default_lock_wait_(
          std::min(config.lock_retry_delay * config.lock_retry_attempts, kMaxWait)),
      worker_id_(config.worker_id),
      api_token_(config.api_token),
      metrics_(metrics) {}

grpc::Status SentinelService::Authorize(const grpc::ServerContextBase* context) const {
  if (api_token_.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end() &&
      BearerMatches(api_token_, absl::string_view(it->second.data(), it->second.size()))) {
    return grpc::Status::OK;
  }
  return ToGrpc(absl::UnauthenticatedError(
      "this sidecar needs \"authorization: Bearer <SENTINEL_API_TOKEN>\" metadata; "
      "it was missing or did not match"));
}

void SentinelService::NoteHandedOut(const std::string& task_id) {
  absl::MutexLock lock(&handed_out_mu_);
  if (handed_out_.size() >= kMaxTrackedTasks) handed_out_.erase(handed_out_.begin());
  handed_out_[task_id] = absl::Now();
}

std::optional<absl::Duration> SentinelService::TakeHandedOut(const std::string& task_id) {
  absl::MutexLock lock(&handed_out_mu_);
  auto it = handed_out_.find(task_id);
  if (it == handed_out_.end()) return std::nullopt;
  const absl::Duration took = absl::Now() - it->second;
  handed_out_.erase(it);
  return took;
}

void SentinelService::HideOthersToken(v1::Lock* lock) const {
  if (lock->holder() != worker_id_) lock->set_fencing_token(0);
}

grpc::Status SentinelService::AcquireLock(grpc::ServerContext* context,
                                          const v1::AcquireLockRequest* request,
                                          v1::AcquireLockResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  AcquireRequest req;
  req.name = request->name();
  if (absl::Status s = FromProto(request->ttl(), "ttl", &req.ttl); !s.ok()) return ToGrpc(s);
  absl::Duration wait = default_lock_wait_;  // unset: LOCK_RETRY_ATTEMPTS x LOCK_RETRY_DELAY_MS
  if (request->has_wait_timeout()) {
    if (absl::Status s = FromProto(request->wait_timeout(), "wait_timeout", &wait); !s.ok()) {
      return ToGrpc(s);
    }
  }
  // Out-of-range waits are refused by the lock manager, not silently shortened.
  req.wait_timeout = wait > kMaxWait || wait < absl::ZeroDuration() ? wait
                                                                     : BoundedWait(context, wait);
  req.metadata.insert(request->metadata().begin(), request->metadata().end());
  WaitSlot slot(&waiting_acquires_, req.wait_timeout > absl::ZeroDuration());
  if (!slot.ok()) return TooManyWaiting("AcquireLock");
  const absl::Time started = absl::Now();
  absl::StatusOr<AcquireAttempt> got = coordinator_->AcquireLock(req, CancelledBy(context));
  if (!got.ok()) return ToGrpc(got.status());
  if (metrics_ != nullptr) metrics_->RecordLockAcquisition(got->acquired);
  {
    LogEvent event{req.name, got->acquired ? "acquired" : "conflict", absl::Now() - started, {}};
    if (got->lock.has_value() && !got->acquired) event.metadata["holder"] = got->lock->holder;
    if (req.wait_timeout > absl::ZeroDuration()) {
      event.metadata["wait_ms"] = absl::StrCat(absl::ToInt64Milliseconds(req.wait_timeout));
    }
    Logger::Global().Log(LogLevel::kInfo, "locks", got->acquired ? "lock_acquired" : "lock_denied",
                         event);
  }
  response->set_acquired(got->acquired);
  if (got->lock.has_value()) {
    ToProto(*got->lock, response->mutable_lock());
    HideOthersToken(response->mutable_lock());  // a conflict names the holder, not its token
  }
  return grpc::Status::OK;
}

grpc::Status SentinelService::RenewLock(grpc::ServerContext* context, const v1::RenewLockRequest* request,
                                        v1::RenewLockResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::Duration ttl;
  if (absl::Status s = FromProto(request->ttl(), "ttl", &ttl); !s.ok()) return ToGrpc(s);
  absl::StatusOr<LockInfo> lock = coordinator_->RenewLock(request->name(), request->fencing_token(), ttl);
  if (!lock.ok()) return ToGrpcWithDetails(lock.status(), {{"name", request->name()}});
  if (Logger::Global().Enabled(LogLevel::kDebug, "locks")) {  // no event built when dropped
    Logger::Global().Log(LogLevel::kDebug, "locks", "lock_renewed",
                         {request->name(), "renewed", std::nullopt, {}});
  }
  ToProto(*lock, response->mutable_lock());
  return grpc::Status::OK;
}

grpc::Status SentinelService::ReleaseLock(grpc::ServerContext* context,
                                          const v1::ReleaseLockRequest* request,
                                          v1::ReleaseLockResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<ReleaseOutcome> out =
      coordinator_->ReleaseLock(request->name(), request->fencing_token());
  if (!out.ok()) return ToGrpcWithDetails(out.status(), {{"name", request->name()}});
  Logger::Global().Log(LogLevel::kInfo, "locks", "lock_released",
                       {request->name(),
                        *out == ReleaseOutcome::kReleased  ? "released"
                        : *out == ReleaseOutcome::kNotHeld ? "not_held"
                                                           : "held_by_other",
                        std::nullopt,
                        {}});
  switch (*out) {
    case ReleaseOutcome::kReleased: response->set_status(v1::ReleaseLockResponse::STATUS_RELEASED); break;
    case ReleaseOutcome::kNotHeld: response->set_status(v1::ReleaseLockResponse::STATUS_NOT_HELD); break;
    case ReleaseOutcome::kHeldByOther:
      response->set_status(v1::ReleaseLockResponse::STATUS_HELD_BY_OTHER);
      break;
  }
  return grpc::Status::OK;
}

grpc::Status SentinelService::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                        v1::HeartbeatResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  if (request->max_tasks() > 10000) {
    return ToGrpc(absl::InvalidArgumentError("max_tasks must be at most 10000"));
  }
  if (request->active_tasks_size() > 10000) {
    return ToGrpc(absl::InvalidArgumentError("active_tasks lists more than 10000 tasks"));
  }
  HeartbeatReport report;
  for (const std::string& id : request->active_tasks()) {
    if (absl::Status s = ValidateId("active_tasks", id); !s.ok()) return ToGrpc(s);
    report.active_tasks.push_back(id);
  }
  report.max_tasks = request->max_tasks();
  report.health = FromProto(request->health());
  absl::StatusOr<HeartbeatResult> result = coordinator_->Heartbeat(report);
  if (metrics_ != nullptr) {
    metrics_->RecordHeartbeat(result.ok());
    if (result.ok()) metrics_->RecordLocksLost(static_cast<int>(result->lost_locks.size()));
  }
  if (!result.ok()) {
    Logger::Global().Log(LogLevel::kWarn, "workers", "heartbeat_failed",
                         {"", std::string(absl::StatusCodeToString(result.status().code())),
                          std::nullopt, {}});
    return ToGrpc(result.status());
  }
  ToProto(result->lease_expires_at, response->mutable_lease_expires_at());
  response->set_lease_epoch(result->lease_epoch);
  ToProto(heartbeat_interval_, response->mutable_heartbeat_interval());
  for (const LockInfo& lost : result->lost_locks) ToProto(lost, response->add_lost_locks());
  if (Logger::Global().Enabled(LogLevel::kDebug, "workers")) {
    Logger::Global().Log(LogLevel::kDebug, "workers", "heartbeat",
                         {"", "renewed", std::nullopt,
                          {{"lease_epoch", absl::StrCat(result->lease_epoch)},
                           {"lost_locks", absl::StrCat(result->lost_locks.size())}}});
  }
  for (const LockInfo& lost : result->lost_locks) {
    Logger::Global().Log(LogLevel::kWarn, "locks", "lock_lost",
                         {lost.name, "lost", std::nullopt, {{"holder", lost.holder}}});
  }
  return grpc::Status::OK;
}

grpc::Status SentinelService::GetMemory(grpc::ServerContext* context, const v1::GetMemoryRequest* request,
                                        v1::GetMemoryResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<MemoryEntry> entry = coordinator_->GetMemory(request->namespace_(), request->key());
  if (!entry.ok()) return ToGrpc(entry.status());
  ToProto(std::move(*entry), response->mutable_entry());
  return grpc::Status::OK;
}

grpc::Status SentinelService::SetMemory(grpc::ServerContext* context, const v1::SetMemoryRequest* request,
                                        v1::SetMemoryResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  SetRequest req;
  req.ns = request->namespace_();
  req.key = request->key();
  req.value = request->value();
  if (request->has_expected_version()) req.expected_version = request->expected_version();
  if (absl::Status s = FromProto(request->ttl(), "ttl", &req.ttl); !s.ok()) return ToGrpc(s);
  req.fencing = FenceFrom(request->has_fencing(), request->fencing());
  absl::StatusOr<MemoryEntry> entry = coordinator_->SetMemory(req);
  if (!entry.ok()) {
    // A lost compare-and-set or a stale fencing token: the seed's "conflict warnings".
    const absl::StatusCode code = entry.status().code();
    if (code == absl::StatusCode::kAborted || code == absl::StatusCode::kFailedPrecondition) {
      if (metrics_ != nullptr) metrics_->RecordMemoryWrite("set", /*conflict=*/true);
      Logger::Global().Log(LogLevel::kInfo, "memory-sync", "memory_conflict",
                           {"", std::string(absl::StatusCodeToString(code)), std::nullopt,
                            {{"namespace", req.ns}, {"key", req.key}}});
    }
    return ToGrpc(entry.status());
  }
  if (metrics_ != nullptr) metrics_->RecordMemoryWrite("set", /*conflict=*/false);
  // Values are never logged (they may be anything); keys at debug only.
  if (Logger::Global().Enabled(LogLevel::kDebug, "memory-sync")) {
    Logger::Global().Log(LogLevel::kDebug, "memory-sync", "memory_set",
                         {"", "written", std::nullopt,
                          {{"namespace", req.ns},
                           {"key", req.key},
                           {"version", absl::StrCat(entry->record.version)}}});
  }
  ToProto(std::move(*entry), response->mutable_entry());
  return grpc::Status::OK;
}

grpc::Status SentinelService::DeleteMemory(grpc::ServerContext* context,
                                           const v1::DeleteMemoryRequest* request,
                                           v1::DeleteMemoryResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  std::optional<uint64_t> expected;
  if (request->has_expected_version()) expected = request->expected_version();
  absl::StatusOr<bool> deleted =
      coordinator_->DeleteMemory(request->namespace_(), request->key(), expected,
                     FenceFrom(request->has_fencing(), request->fencing()));
  if (!deleted.ok()) {
    const absl::StatusCode code = deleted.status().code();
    if (metrics_ != nullptr && (code == absl::StatusCode::kAborted ||
                                code == absl::StatusCode::kFailedPrecondition)) {
      metrics_->RecordMemoryWrite("delete", /*conflict=*/true);
    }
    return ToGrpc(deleted.status());
  }
  if (metrics_ != nullptr) metrics_->RecordMemoryWrite("delete", /*conflict=*/false);
  if (Logger::Global().Enabled(LogLevel::kDebug, "memory-sync")) {
    Logger::Global().Log(LogLevel::kDebug, "memory-sync", "memory_deleted",
                         {"", *deleted ? "deleted" : "absent", std::nullopt,
                          {{"namespace", request->namespace_()}, {"key", request->key()}}});
  }
  response->set_deleted(*deleted);
  return grpc::Status::OK;
}

grpc::Status SentinelService::ListMemory(grpc::ServerContext* context,
                                         const v1::ListMemoryRequest* request,
                                         v1::ListMemoryResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<std::vector<MemoryEntry>> entries =
      coordinator_->ListMemory(request->namespace_(), request->prefix());
  if (!entries.ok()) return ToGrpc(entries.status());
  std::sort(entries->begin(), entries->end(),
            [](const MemoryEntry& a, const MemoryEntry& b) { return a.key < b.key; });
  std::vector<std::string> keys;
  for (const MemoryEntry& e : *entries) keys.push_back(e.key);
  absl::StatusOr<Page> page =
      CutPage(keys, request->page_size(), request->page_token(),
              absl::StrCat("memory ", request->namespace_(), " ", request->prefix()));
  if (!page.ok()) return ToGrpc(page.status());
  for (size_t i = page->begin; i < page->end; ++i) ToProto((*entries)[i], response->add_entries());
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

namespace {

// The most events a stream may have queued for a slow client before it is ended.
constexpr size_t kMaxQueuedEvents = 65536;

v1::WatchMemoryResponse ToEvent(const MemoryEvent& event) {
  v1::WatchMemoryResponse out;
  out.set_type(event.type == MemoryEvent::Type::kPut ? v1::WatchMemoryResponse::TYPE_PUT
                                                     : v1::WatchMemoryResponse::TYPE_DELETE);
  if (event.type == MemoryEvent::Type::kPut) {
    ToProto(event.entry, out.mutable_entry());
  } else {
    out.mutable_entry()->set_namespace_(event.entry.ns);
    out.mutable_entry()->set_key(event.entry.key);
    out.mutable_entry()->set_version(event.entry.record.version);
  }
  return out;
}

// One WatchMemory stream: events from the hub are queued and written one at a time. gRPC
// operations (StartWrite, Finish) are started outside the lock; OnDone leaves the hub and
// deletes the reactor, which is the only way it is deleted.
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchMemoryResponse>,
                           public WatchHub::Subscriber {
 public:
  explicit WatchReactor(WatchHub* hub) : hub_(hub) {}

  // Subscribes; on failure finishes the stream with the error.
  void Begin(const v1::WatchMemoryRequest& request) {
    absl::Status s = hub_->Subscribe(request.namespace_(), request.prefix(),
                                     request.include_initial(), this);
    if (!s.ok()) End(ToGrpc(s));
  }

  // Ends the stream with `status` (once), after the write in flight.
  void End(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
      final_ = status;
      queue_.clear();
      if (writing_) return;  // OnWriteDone finishes
    }
    Finish(status);
  }

  void OnEvents(std::vector<MemoryEvent> events) override {
    bool write = false;
    bool finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      if (queue_.size() + events.size() > kMaxQueuedEvents) {
        finishing_ = true;
        final_ = ToGrpc(WithReason(absl::ResourceExhaustedError(
                                       "the watcher fell too far behind the changes; watch again"),
                                   reason::kTooManyCalls));
        queue_.clear();
        finish = !writing_;  // else OnWriteDone finishes
        status = final_;
      } else {
        for (const MemoryEvent& e : events) queue_.push_back(ToEvent(e));
        if (!writing_ && !queue_.empty()) {
          writing_ = true;
          write = true;
          current_ = std::move(queue_.front());
          queue_.pop_front();
        }
      }
    }
    if (finish) Finish(status);
    if (write) StartWrite(&current_);
  }

  void OnEnd(const absl::Status& status) override { End(ToGrpc(status)); }

  void OnWriteDone(bool ok) override {
    bool next = false;
    bool finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !finishing_) {  // the client is gone
        finishing_ = true;
        final_ = grpc::Status::CANCELLED;
        queue_.clear();
      }
      if (finishing_) {
        finish = true;
        status = final_;
      } else if (!queue_.empty()) {
        writing_ = true;
        next = true;
        current_ = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (finish) Finish(status);
    if (next) StartWrite(&current_);
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    hub_->Unsubscribe(this);  // a no-op when the hub ended the stream
    // gRPC calls OnDone after every other reaction has returned, ordered by its own atomics;
    // taking the lock once more makes that order visible to ThreadSanitizer too (the last
    // End, OnEvents or OnWriteDone left it), at no cost worth counting.
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  WatchHub* const hub_;
  absl::Mutex mu_;
  // A list, not a deque: an empty std::deque still allocates its map and first block (about
  // 600 bytes per idle stream, half of what this file adds to gRPC's own per-stream cost).
  std::list<v1::WatchMemoryResponse> queue_ ABSL_GUARDED_BY(mu_);
  v1::WatchMemoryResponse current_;  // the write in flight; touched only by its writer
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerWriteReactor<v1::WatchMemoryResponse>* SentinelService::WatchMemory(
    grpc::CallbackServerContext* context, const v1::WatchMemoryRequest* request) {
  auto* reactor = new WatchReactor(watches_);
  if (grpc::Status denied = Authorize(context); !denied.ok()) {
    reactor->End(denied);
  } else {
    reactor->Begin(*request);
  }
  return reactor;
}

grpc::Status SentinelService::CreateTask(grpc::ServerContext* context,
                                         const v1::CreateTaskRequest* request,
                                         v1::CreateTaskResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  NewTask task{request->title(),    request->body(),         request->type(),
               request->priority(), request->max_attempts(), request->request_id()};
  absl::StatusOr<TaskRecord> created = coordinator_->CreateTask(task);
  if (!created.ok()) return ToGrpc(created.status());
  if (metrics_ != nullptr) metrics_->RecordTaskEvent(TaskEvent::kCreated);
  Logger::Global().Log(LogLevel::kInfo, "tasks", "task_created",
                       {created->id, "queued", std::nullopt,
                        {{"type", created->type},
                         {"priority", absl::StrCat(created->priority)},
                         {"max_attempts", absl::StrCat(created->max_attempts)}}});
  ToProto(*created, response->mutable_task());
  return grpc::Status::OK;
}

grpc::Status SentinelService::NextTask(grpc::ServerContext* context,
                                       const v1::NextTaskRequest* request,
                                       v1::NextTaskResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::Duration wait;
  if (absl::Status s = FromProto(request->wait_timeout(), "wait_timeout", &wait); !s.ok()) {
    return ToGrpc(s);
  }
  if (wait >= absl::ZeroDuration() && wait <= kMaxWait) wait = BoundedWait(context, wait);
  std::vector<std::string> types(request->task_types().begin(), request->task_types().end());
  WaitSlot slot(&waiting_nexts_, wait > absl::ZeroDuration());
  if (!slot.ok()) return TooManyWaiting("NextTask");
  absl::StatusOr<std::optional<HandedOutTask>> next =
      coordinator_->NextTask(types, wait, CancelledBy(context));
  if (!next.ok()) return ToGrpc(next.status());
  if (next->has_value() && CancelledBy(context)()) {
    // The caller is gone (its deadline passed while the claim settled): nobody would work on
    // the task or release it. Hand it back at once instead of leaving it locked until the
    // lock's ttl runs out.
    (void)coordinator_->ReleaseLock((*next)->lock.name, (*next)->lock.token);
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the call ended before a task was handed out; it was handed back");
  }
  if (next->has_value()) {
    if (metrics_ != nullptr) metrics_->RecordTaskEvent(TaskEvent::kHandedOut);
    const TaskRecord& task = (*next)->task;
    // A task whose previous attempt's worker lost its lease is taken over (core says so in
    // last_error); one whose previous attempt failed is retried.
    const bool taken_over =
        task.attempts > 1 && absl::StrContains(task.last_error, "(lease lapsed)");
    const char* how = task.attempts <= 1 ? "first_attempt" : taken_over ? "taken_over" : "retry";
    Logger::Global().Log(LogLevel::kInfo, "tasks", "task_handed_out",
                         {task.id, how, std::nullopt,
                          {{"type", task.type},
                           {"attempt", absl::StrCat(task.attempts, "/", task.max_attempts)}}});
    NoteHandedOut(task.id);
    if (metrics_ != nullptr && task.attempts > 1) {
      metrics_->RecordTaskEvent(taken_over ? TaskEvent::kTakenOver : TaskEvent::kRetried);
    }
    ToProto((*next)->task, response->mutable_task());
    ToProto((*next)->lock, response->mutable_lock());
  }
  return grpc::Status::OK;
}

grpc::Status SentinelService::CompleteTask(grpc::ServerContext* context,
                                           const v1::CompleteTaskRequest* request,
                                           v1::CompleteTaskResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<TaskRecord> task =
      coordinator_->CompleteTask(request->task_id(), request->fencing_token(), request->result());
  if (!task.ok()) return ToGrpcWithDetails(task.status(), {{"task_id", request->task_id()}});
  if (metrics_ != nullptr) metrics_->RecordTaskEvent(TaskEvent::kCompleted);
  {
    const std::optional<absl::Duration> took = TakeHandedOut(task->id);
    if (metrics_ != nullptr && took.has_value()) metrics_->RecordTaskDuration("completed", *took);
    Logger::Global().Log(LogLevel::kInfo, "tasks", "task_completed",
                         {task->id, "success", took,
                          {{"attempt", absl::StrCat(task->attempts, "/", task->max_attempts)}}});
  }
  ToProto(*task, response->mutable_task());
  return grpc::Status::OK;
}

grpc::Status SentinelService::FailTask(grpc::ServerContext* context, const v1::FailTaskRequest* request,
                                       v1::FailTaskResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<TaskRecord> task = coordinator_->FailTask(request->task_id(), request->fencing_token(),
                                                request->error(), request->retryable());
  if (!task.ok()) return ToGrpcWithDetails(task.status(), {{"task_id", request->task_id()}});
  const std::optional<absl::Duration> took = TakeHandedOut(task->id);
  if (metrics_ != nullptr) {
    metrics_->RecordTaskEvent(TaskEvent::kFailed);
    if (task->state == TaskState::kDeadLetter) {
      metrics_->RecordTaskEvent(TaskEvent::kDeadLettered);
    }
    if (took.has_value()) metrics_->RecordTaskDuration("failed", *took);
  }
  {
    const bool dead = task->state == TaskState::kDeadLetter;
    // The error text is the worker's; it is logged only at debug.
    LogEvent event{task->id, dead ? "dead_lettered" : "requeued", took,
                   {{"attempt", absl::StrCat(task->attempts, "/", task->max_attempts)},
                    {"retryable", request->retryable() ? "true" : "false"}}};
    Logger::Global().Log(LogLevel::kWarn, "tasks", "task_failed", event);
    if (dead) {
      Logger::Global().Log(LogLevel::kWarn, "tasks", "task_dead_lettered",
                           {task->id, "dead_lettered", std::nullopt, {}});
    }
  }
  ToProto(*task, response->mutable_task());
  return grpc::Status::OK;
}

grpc::Status SentinelService::GetTask(grpc::ServerContext* context, const v1::GetTaskRequest* request,
                                      v1::GetTaskResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<TaskRecord> task = coordinator_->GetTask(request->task_id());
  if (!task.ok()) return ToGrpc(task.status());
  ToProto(*task, response->mutable_task());
  return grpc::Status::OK;
}

grpc::Status SentinelService::GetClusterHealth(grpc::ServerContext* context,
                                               const v1::GetClusterHealthRequest*,
                                               v1::GetClusterHealthResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<ClusterHealth> h = coordinator_->Health();
  if (!h.ok()) return ToGrpc(h.status());
  response->set_status(h->status == ClusterStatus::kHealthy   ? v1::GetClusterHealthResponse::STATUS_HEALTHY
                       : h->status == ClusterStatus::kDegraded ? v1::GetClusterHealthResponse::STATUS_DEGRADED
                                                               : v1::GetClusterHealthResponse::STATUS_UNHEALTHY);
  response->set_total_workers(h->total_workers);
  response->set_healthy_workers(h->healthy_workers);
  response->set_stale_workers(h->stale_workers);
  response->set_total_capacity(h->total_capacity);
  response->set_used_capacity(h->used_capacity);
  response->set_tasks_queued(h->tasks.queued);
  response->set_tasks_in_progress(h->tasks.in_progress);
  response->set_tasks_done(h->tasks.done);
  response->set_tasks_failed(h->tasks.dead_letter);
  for (const WorkerInfo& w : h->workers) ToProto(w, response->add_workers());
  return grpc::Status::OK;
}

grpc::Status SentinelService::ListLocks(grpc::ServerContext* context,
                                        const v1::ListLocksRequest* request,
                                        v1::ListLocksResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<std::vector<LockInfo>> locks = coordinator_->ListLocks();
  if (!locks.ok()) return ToGrpc(locks.status());
  std::sort(locks->begin(), locks->end(),
            [](const LockInfo& a, const LockInfo& b) { return a.name < b.name; });
  std::vector<std::string> names;
  for (const LockInfo& l : *locks) names.push_back(l.name);
  absl::StatusOr<Page> page =
      CutPage(names, request->page_size(), request->page_token(), "locks");
  if (!page.ok()) return ToGrpc(page.status());
  for (size_t i = page->begin; i < page->end; ++i) {
    v1::Lock* out = response->add_locks();
    ToProto((*locks)[i], out);
    HideOthersToken(out);
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status SentinelService::ListWorkers(grpc::ServerContext* context,
                                          const v1::ListWorkersRequest* request,
                                          v1::ListWorkersResponse* response) {
  if (grpc::Status denied = Authorize(context); !denied.ok()) return denied;
  absl::StatusOr<std::vector<WorkerInfo>> workers = coordinator_->Workers(request->include_gone());
  if (!workers.ok()) return ToGrpc(workers.status());
  std::sort(workers->begin(), workers->end(), [](const WorkerInfo& a, const WorkerInfo& b) {
    return a.record.id < b.record.id;
  });
  std::vector<std::string> ids;
  for (const WorkerInfo& w : *workers) ids.push_back(w.record.id);
  absl::StatusOr<Page> page =
      CutPage(ids, request->page_size(), request->page_token(),
              request->include_gone() ? "workers+gone" : "workers");
  if (!page.ok()) return ToGrpc(page.status());
  for (size_t i = page->begin; i < page->end; ++i) ToProto((*workers)[i], response->add_workers());
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

}  // namespace tasksentinel
