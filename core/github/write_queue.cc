// WriteQueue: the serial, spaced, windowed, prioritized write budget. See write_queue.h.
//
// Thread safety: safe for concurrent use (one mutex guards the queue; waiters sleep on the
// Clock and are woken by a generation counter that changes whenever one of them might proceed).
#include "core/github/write_queue.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/error_reason.h"

namespace tasksentinel::github {
namespace {

constexpr absl::Duration kMinute = absl::Minutes(1);
constexpr absl::Duration kHour = absl::Hours(1);
// Starts older than the longest window are never consulted; this bounds the log regardless.
constexpr size_t kMaxLoggedStarts = 100000;

// What a sleeping waiter waits for: the queue's generation moving past the one it saw.
struct GenerationWatch {
  const uint64_t* generation;
  uint64_t seen;
};

bool GenerationChanged(GenerationWatch* watch) { return *watch->generation != watch->seen; }

}  // namespace

WriteQueue::Ticket& WriteQueue::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    queue_ = std::exchange(other.queue_, nullptr);
  }
  return *this;
}

void WriteQueue::Ticket::Release(bool sent) {
  if (queue_ == nullptr) return;
  std::exchange(queue_, nullptr)->ReleaseTicket(sent);
}

WriteQueue::WriteQueue(Options options, Clock* clock) : options_(options), clock_(clock) {}

void WriteQueue::PruneLocked(absl::Time now) {
  while (!starts_.empty() &&
         (starts_.front() + kHour <= now || starts_.size() > kMaxLoggedStarts)) {
    starts_.pop_front();
  }
}

absl::Time WriteQueue::BudgetFreeAtLocked(absl::Time now) const {
  absl::Time free_at = now;
  if (last_end_ != absl::InfinitePast()) free_at = std::max(free_at, last_end_ + options_.spacing);
  const auto window = [&](int limit, absl::Duration length) {
    if (limit <= 0 || starts_.size() < static_cast<size_t>(limit)) return;
    // The limit-th most recent start must leave the window before another write may start.
    free_at = std::max(free_at, starts_[starts_.size() - limit] + length);
  };
  window(SharedLimit(options_.per_minute), kMinute);
  window(SharedLimit(options_.per_hour), kHour);
  return free_at;
}

int WriteQueue::SharedLimit(int identity_limit) const {
  if (identity_limit <= 0) return identity_limit;
  return std::max(1, identity_limit / std::max(1, sharers_));
}

void WriteQueue::SetSharers(int sharers) {
  absl::MutexLock lock(&mu_);
  const int next = std::max(1, sharers);
  if (next == sharers_) return;
  sharers_ = next;
  ++generation_;  // a larger share may let a waiter go
}

int WriteQueue::sharers() const {
  absl::MutexLock lock(&mu_);
  return sharers_;
}

std::string WriteQueue::BudgetMessage(absl::Time free_at) const {
  const absl::Time now = clock_->Now();
  return absl::StrCat("GitHub write budget exhausted (", SharedLimit(options_.per_minute),
                      " writes/min, ", SharedLimit(options_.per_hour), " writes/h",
                      sharers_ > 1 ? absl::StrCat(": this sidecar's share of the identity's ",
                                                  options_.per_minute, "/min and ",
                                                  options_.per_hour, "/h among ", sharers_,
                                                  " sidecars")
                                   : std::string(),
                      ", ", absl::FormatDuration(options_.spacing), " apart): frees up at ",
                      absl::FormatTime("%H:%M:%SZ", free_at, absl::UTCTimeZone()), " (in ",
                      absl::FormatDuration(absl::Ceil(free_at - now, absl::Milliseconds(1))), ")");
}

absl::StatusOr<WriteQueue::Ticket> WriteQueue::Acquire(WritePriority priority,
                                                       absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  absl::Time now = clock_->Now();
  PruneLocked(now);
  absl::Time free_at = BudgetFreeAtLocked(now);
  if (free_at > deadline) {
    ++stats_.rejected_budget;
    return WithRetryDelay(absl::ResourceExhaustedError(BudgetMessage(free_at)), free_at - now);
  }

  const WaiterKey key{static_cast<int>(priority), next_arrival_++};
  waiters_.insert(key);
  ++generation_;
  const auto leave = [&] {
    waiters_.erase(key);
    ++generation_;
  };
  while (true) {
    now = clock_->Now();
    absl::Time wake_at = deadline;
    if (*waiters_.begin() == key && !in_flight_) {
      PruneLocked(now);
      free_at = BudgetFreeAtLocked(now);
      if (free_at <= now) {
        leave();
        in_flight_ = true;
        in_flight_start_ = now;
        starts_.push_back(now);
        ++stats_.granted;
        return Ticket(this);
      }
      if (free_at > deadline) {
        leave();
        ++stats_.rejected_budget;
        return WithRetryDelay(absl::ResourceExhaustedError(BudgetMessage(free_at)), free_at - now);
      }
      wake_at = free_at;
    }
    if (now >= deadline) {
      const size_t ahead = std::distance(waiters_.begin(), waiters_.find(key));
      leave();
      ++stats_.rejected_deadline;
      return absl::DeadlineExceededError(
          absl::StrCat("GitHub write waited in the queue past its deadline (", ahead,
                       " writes ahead", in_flight_ ? ", one in flight" : "", ")"));
    }
    GenerationWatch watch{&generation_, generation_};
    clock_->AwaitWithTimeout(&mu_, absl::Condition(&GenerationChanged, &watch), wake_at - now);
  }
}

void WriteQueue::ReleaseTicket(bool sent) {
  absl::MutexLock lock(&mu_);
  in_flight_ = false;
  if (sent) {
    last_end_ = clock_->Now();
  } else {
    // Nothing reached GitHub: take the start back out of the windows.
    for (auto it = starts_.rbegin(); it != starts_.rend(); ++it) {
      if (*it == in_flight_start_) {
        starts_.erase(std::next(it).base());
        break;
      }
    }
  }
  ++generation_;
}

absl::Time WriteQueue::BudgetFreeAt() const {
  absl::MutexLock lock(&mu_);
  return BudgetFreeAtLocked(clock_->Now());
}

WriteQueue::Stats WriteQueue::GetStats() const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Stats stats = stats_;
  stats.waiting = static_cast<int>(waiters_.size());
  stats.in_flight = in_flight_;
  for (const absl::Time start : starts_) {
    if (start + kHour > now) ++stats.started_last_hour;
    if (start + kMinute > now) ++stats.started_last_minute;
  }
  return stats;
}

}  // namespace tasksentinel::github
