// The write budget: WriteQueue serializes a sidecar's writes to GitHub so that they stay within
// GitHub's secondary limits for content-creating requests (docs/protocol.md, "Rate limits and
// the write budget"). It is pure logic on a Clock; it sends nothing itself.
//
// A write may start when all of these hold:
//   - no other write is in flight (writes are sent one at a time);
//   - at least `spacing` has passed since the previous write finished (its ticket released);
//   - fewer than `per_minute` writes started in the last 60 s, and fewer than `per_hour` in the
//     last 3600 s. These are SLIDING windows over a log of start times, not refilling buckets:
//     no 60 s (3600 s) interval ever holds more than `per_minute` (`per_hour`) starts, whatever
//     window GitHub counts in;
//   - no waiting write has a higher priority (lower WritePriority value); equal priorities are
//     served first come, first served.
//
// Acquire() answers RESOURCE_EXHAUSTED at once when the budget (spacing and windows) cannot let
// the write start before its deadline, with a message saying when the budget frees up; and
// DEADLINE_EXCEEDED when the write waited in the queue (behind other writes) past its deadline.
// Waiting never spins: it sleeps on the Clock (Clock::AwaitWithTimeout) until the queue changes
// or the budget frees up.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_WRITE_QUEUE_H_
#define TASK_SENTINEL_CORE_GITHUB_WRITE_QUEUE_H_

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/github/github_api.h"

namespace tasksentinel::github {

class WriteQueue {
 public:
  // The budget. A window limit of 0 or less disables that window.
  struct Options {
    absl::Duration spacing = absl::Seconds(1);  // from one write's end to the next's start
    int per_minute = 80;
    int per_hour = 500;
  };

  // Counters for metrics.
  struct Stats {
    int64_t granted = 0;            // writes allowed to start, in total
    int64_t rejected_budget = 0;    // RESOURCE_EXHAUSTED answers
    int64_t rejected_deadline = 0;  // DEADLINE_EXCEEDED answers
    int waiting = 0;                // writes waiting now
    bool in_flight = false;         // a write holds its ticket now
    int started_last_minute = 0;
    int started_last_hour = 0;
  };

  // The right to send one write. Move-only; releasing it (explicitly or by destruction) ends
  // the write and lets the next one start after `spacing`.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)) {}
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { Release(); }

    // Ends the write. With `sent` false (nothing reached GitHub, e.g. a rate limit blocked it
    // after the ticket was granted) the write's start is taken back out of the windows.
    // Idempotent.
    void Release(bool sent = true);

    // Whether this ticket still holds the queue.
    bool held() const { return queue_ != nullptr; }

   private:
    friend class WriteQueue;
    explicit Ticket(WriteQueue* queue) : queue_(queue) {}
    WriteQueue* queue_ = nullptr;
  };

  // `clock` must outlive this object, and every Ticket must be released before it is destroyed.
  WriteQueue(Options options, Clock* clock);

  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Waits for the turn of a write of `priority`. Errors: RESOURCE_EXHAUSTED when the budget does
  // not free up before `deadline` (the message says when it does); DEADLINE_EXCEEDED when other
  // writes kept this one waiting past `deadline`.
  absl::StatusOr<Ticket> Acquire(WritePriority priority, absl::Time deadline);

  // Acquires a ticket, runs `fn` holding it and releases it. Returns fn's result, or the
  // Acquire error converted to fn's result type (absl::Status or absl::StatusOr<T>).
  template <typename Fn>
  auto Run(WritePriority priority, absl::Time deadline, Fn&& fn) -> decltype(fn()) {
    absl::StatusOr<Ticket> ticket = Acquire(priority, deadline);
    if (!ticket.ok()) return ticket.status();
    return fn();
  }

  // Shares the windows with `sharers` sidecars writing as the same identity (GitHub's secondary
  // limits belong to the account or app, not to a sidecar): from now on this sidecar's windows
  // are per_minute / sharers and per_hour / sharers (at least 1 each). 1 (the default) is the
  // whole budget.
  void SetSharers(int sharers) ABSL_LOCKS_EXCLUDED(mu_);
  int sharers() const ABSL_LOCKS_EXCLUDED(mu_);

  // The earliest time a write could start by the budget alone (spacing and windows), ignoring
  // the queue and any write in flight.
  absl::Time BudgetFreeAt() const;

  // Counters and the current queue state.
  Stats GetStats() const;

  // The options in force.
  const Options& options() const { return options_; }

 private:
  // A waiting write: ordered by priority, then arrival.
  using WaiterKey = std::pair<int, uint64_t>;

  absl::Time BudgetFreeAtLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PruneLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseTicket(bool sent);
  std::string BudgetMessage(absl::Time free_at) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // This sidecar's share of an identity-wide window limit.
  int SharedLimit(int identity_limit) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  std::set<WaiterKey> waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t next_arrival_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped whenever a waiter might proceed
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  int sharers_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Time in_flight_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_end_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::deque<absl::Time> starts_ ABSL_GUARDED_BY(mu_);  // ascending, the last hour's
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_WRITE_QUEUE_H_
