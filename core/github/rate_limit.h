// GitHub's rate limits as seen from the client: RateLimitState is fed every answer's status,
// rate-limit headers, error message and `Date`, and says whether (and until when) the client
// must stop sending. It is pure logic on a Clock; it sends nothing itself.
//
//   Primary limit   an answer with `x-ratelimit-remaining: 0` blocks until `x-ratelimit-reset`.
//   Secondary limit a 403/429 whose message says "secondary rate limit" (or the older "abuse
//                   detection"), a 429 with requests left, or a 403/429 carrying `retry-after`
//                   with requests left: blocks for `retry-after` when present, else for
//                   60 s, 120 s, 240 s ... (doubling on each consecutive secondary limit, capped
//                   at `max_secondary_backoff`). Any successful answer resets the doubling.
//
// `x-ratelimit-reset` is an epoch on GitHub's clock; it is turned into local (Clock) time
// through the answer's `Date`, so a local clock that drifts from GitHub's still waits the right
// length of time. All times RateLimitState hands out are on the local Clock.
//
// Only one resource (`core`, what the coordination client uses) is tracked: a limit on any
// resource blocks every call.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_RATE_LIMIT_H_
#define TASK_SENTINEL_CORE_GITHUB_RATE_LIMIT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"

namespace tasksentinel::github {

// Which limit an answer hit, if any.
enum class RateLimitKind {
  kNone = 0,
  kPrimary = 1,
  kSecondary = 2,
};

// "primary", "secondary" or "none".
absl::string_view RateLimitKindName(RateLimitKind kind);

// One answer from GitHub, reduced to what rate limiting needs.
struct RateLimitAnswer {
  int status = 0;  // HTTP status
  // Response headers. Names are matched case-insensitively, so they may be given as received.
  std::map<std::string, std::string> headers;
  std::string message;                    // the JSON body's `message`, if any
  std::optional<absl::Time> server_time;  // the answer's `Date`, if any
};

// A block in force: no request may be sent before `until` (local Clock time).
struct RateLimitBlock {
  RateLimitKind kind = RateLimitKind::kNone;
  absl::Time until = absl::InfinitePast();
};

// What was last seen, for metrics and start-up logs.
struct RateLimitSnapshot {
  std::optional<int64_t> limit;         // x-ratelimit-limit
  std::optional<int64_t> remaining;     // x-ratelimit-remaining
  std::optional<int64_t> used;          // x-ratelimit-used
  std::optional<absl::Time> reset;      // x-ratelimit-reset, as GitHub states it (its clock)
  std::string resource;                 // x-ratelimit-resource
  int64_t primary_limits_hit = 0;       // answers that hit the primary limit, in total
  int64_t secondary_limits_hit = 0;     // answers that hit a secondary limit, in total
  int consecutive_secondary = 0;        // secondary limits since the last success
  std::optional<RateLimitBlock> block;  // the block in force now, if any
};

class RateLimitState {
 public:
  // Tuning of the secondary-limit backoff.
  struct Options {
    absl::Duration min_secondary_backoff = absl::Seconds(60);
    absl::Duration max_secondary_backoff = absl::Minutes(15);
  };

  // `clock` must outlive this object.
  explicit RateLimitState(Clock* clock) : RateLimitState(Options(), clock) {}
  RateLimitState(Options options, Clock* clock);

  RateLimitState(const RateLimitState&) = delete;
  RateLimitState& operator=(const RateLimitState&) = delete;

  // Records one answer and returns which limit, if any, it hit (so that the caller can tell a
  // rate-limit 403 from a permission 403). Extends the block accordingly; a block is never
  // shortened by a later answer.
  RateLimitKind Observe(const RateLimitAnswer& answer);

  // The block in force now, or nullopt when requests may be sent.
  std::optional<RateLimitBlock> BlockedUntil() const;

  // OK when requests may be sent; otherwise RESOURCE_EXHAUSTED saying which limit blocks and
  // until when, e.g. "GitHub secondary rate limit: blocked until 10:05:00Z (for 60s)".
  absl::Status Check() const;

  // The last-seen header values, counters and the current block.
  RateLimitSnapshot Snapshot() const;

  // Classifies an answer without recording it.
  static RateLimitKind Classify(const RateLimitAnswer& answer);

  // The RESOURCE_EXHAUSTED message for `block` as seen at local time `now`.
  static std::string BlockMessage(const RateLimitBlock& block, absl::Time now);

 private:
  const Options options_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  RateLimitSnapshot last_ ABSL_GUARDED_BY(mu_);
  RateLimitBlock block_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_RATE_LIMIT_H_
