// Worker (see worker.h).
#include "clients/cpp/worker.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "clients/cpp/status.h"

namespace tasksentinel::client {
namespace {

constexpr absl::string_view kPermanentUrl = "tasksentinel.v1/client.permanent";

// Errors worth retrying: the sidecar is restarting (a sidecar that stops cancels the calls
// waiting in it), busy or rate limited.
bool Transient(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsResourceExhausted(s) ||
         absl::IsAborted(s) || absl::IsCancelled(s);
}

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace

bool Job::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool Job::WaitCancelled(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&cancelled_), timeout);
  return cancelled_;
}

void Job::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

absl::Status PermanentError(absl::string_view message) {
  absl::Status s = absl::FailedPreconditionError(message);
  s.SetPayload(kPermanentUrl, absl::Cord("1"));
  return s;
}

bool IsPermanentError(const absl::Status& status) {
  return status.GetPayload(kPermanentUrl).has_value();
}

Worker::Worker(Client* client, WorkerOptions options)
    : client_(client), options_(std::move(options)) {}

void Worker::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

void Worker::CancelAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [key, job] : active_) job->Cancel();
}

bool Worker::Pause(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

absl::Status Worker::Run(const Handler& handler) {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  std::thread heartbeats([this] { HeartbeatLoop(); });
  std::vector<std::thread> loops;
  std::vector<absl::Status> results(std::max(1, options_.concurrency));
  for (size_t i = 0; i < results.size(); ++i) {
    loops.emplace_back([this, &handler, &results, i] {
      results[i] = TaskLoop(handler);
      Stop();  // one loop ending (idle queue, limit, error) ends them all
    });
  }
  for (std::thread& t : loops) t.join();
  // The heartbeat loop ends with the task loops: nothing is held any more.
  Stop();
  heartbeats.join();
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void Worker::HeartbeatLoop() {
  absl::Duration interval = absl::Seconds(1);  // until the sidecar announces its own
  uint64_t epoch = 0;
  // A heartbeat whose answer never arrived may have carried the only report of a lost lock, and
  // a new lease epoch means the old lease lapsed: then every running job's lock is checked.
  bool verify = false;
  for (;;) {
    v1::HeartbeatRequest req;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ && active_.empty()) return;
      for (const auto& [key, job] : active_) req.add_active_tasks(key.first);
    }
    req.set_health(v1::WORKER_HEALTH_HEALTHY);
    absl::StatusOr<v1::HeartbeatResponse> beat = client_->Heartbeat(req);
    absl::Duration wait = interval;
    if (beat.ok()) {
      if (beat->has_heartbeat_interval()) {
        const absl::Duration announced = ToDuration(beat->heartbeat_interval());
        if (announced > absl::ZeroDuration()) interval = announced;
      }
      wait = interval;
      if (epoch != 0 && beat->lease_epoch() != epoch) verify = true;
      epoch = beat->lease_epoch();
      if (verify) {
        VerifyLocks();
        verify = false;
      }
      absl::MutexLock lock(&mu_);
      for (const v1::Lock& lost : beat->lost_locks()) {
        for (auto& [key, job] : active_) {
          if (key.first == lost.name() &&
              (lost.fencing_token() == 0 || lost.fencing_token() == key.second)) {
            job->Cancel();
          }
        }
      }
    } else {
      // Unreachable or refusing: try again sooner, the lease is running out.
      wait = std::min(interval, absl::Milliseconds(500));
      verify = true;
    }
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ && active_.empty(); };
    mu_.AwaitWithTimeout(absl::Condition(&done), wait);
    if (done()) return;
  }
}

void Worker::VerifyLocks() {
  std::vector<std::shared_ptr<Job>> jobs;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, job] : active_) jobs.push_back(job);
  }
  for (const std::shared_ptr<Job>& job : jobs) {
    // A zero ttl keeps the lock's own; only a lock instance that is gone is refused.
    absl::Status s =
        client_->RenewLock(job->lock().name(), job->lock().fencing_token()).status();
    if (absl::IsFailedPrecondition(s) || absl::IsNotFound(s)) job->Cancel();
  }
}

absl::Status Worker::TaskLoop(const Handler& handler) {
  absl::Duration backoff = absl::Milliseconds(100);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::OkStatus();
      if (options_.max_tasks > 0 && taken_ >= options_.max_tasks) return absl::OkStatus();
      ++taken_;  // reserved; given back when no task comes
    }
    absl::StatusOr<std::optional<v1::NextTaskResponse>> next =
        client_->NextTask(options_.poll_wait, options_.task_types);
    if (!next.ok() || !next->has_value()) {
      absl::MutexLock lock(&mu_);
      --taken_;
    }
    if (!next.ok()) {
      if (!Transient(next.status())) return next.status();
      if (!Pause(RetryDelay(next.status()).value_or(backoff))) return absl::OkStatus();
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    backoff = absl::Milliseconds(100);
    if (!next->has_value()) {
      if (options_.until_idle) return absl::OkStatus();
      continue;
    }
    auto job = std::make_shared<Job>((*next)->task(), (*next)->lock());
    {
      absl::MutexLock lock(&mu_);
      active_[{job->task().id(), job->lock().fencing_token()}] = job;
    }
    absl::StatusOr<std::string> outcome = handler(*job);
    Finish(*job, outcome);
    absl::MutexLock lock(&mu_);
    active_.erase({job->task().id(), job->lock().fencing_token()});
  }
}

void Worker::Finish(Job& job, const absl::StatusOr<std::string>& outcome) {
  if (job.cancelled()) return;  // the lock is gone: another attempt will run the task
  absl::Duration backoff = absl::Milliseconds(100);
  for (int attempt = 0; attempt < 10; ++attempt) {
    absl::Status s =
        outcome.ok()
            ? client_->CompleteTask(job.task().id(), job.lock().fencing_token(), *outcome).status()
            : client_->FailTask(job.task().id(), job.lock().fencing_token(),
                                std::string(outcome.status().message()),
                                /*retryable=*/!IsPermanentError(outcome.status()))
                  .status();
    if (s.ok()) {
      ++finished_;
      return;
    }
    if (!Transient(s)) return;  // e.g. FENCING_TOKEN_STALE: the lock was lost meanwhile
    absl::SleepFor(RetryDelay(s).value_or(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace tasksentinel::client
