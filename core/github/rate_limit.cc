// RateLimitState: classification of GitHub's answers into primary / secondary rate limits and
// the resulting blocks. See rate_limit.h.
//
// Thread safety: safe for concurrent use (one mutex guards the state).
#include "core/github/rate_limit.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/error_reason.h"

namespace tasksentinel::github {
namespace {

// The value of header `name` (case-insensitive), if present.
std::optional<std::string> Header(const RateLimitAnswer& answer, absl::string_view name) {
  for (const auto& [key, value] : answer.headers) {
    if (absl::EqualsIgnoreCase(key, name)) {
      return std::string(absl::StripAsciiWhitespace(value));
    }
  }
  return std::nullopt;
}

// The value of header `name` as an integer, if present and numeric.
std::optional<int64_t> IntHeader(const RateLimitAnswer& answer, absl::string_view name) {
  std::optional<std::string> value = Header(answer, name);
  int64_t parsed = 0;
  if (!value.has_value() || !absl::SimpleAtoi(*value, &parsed)) return std::nullopt;
  return parsed;
}

// `retry-after` as a duration: delta-seconds, or an HTTP date judged against the answer's Date.
std::optional<absl::Duration> RetryAfter(const RateLimitAnswer& answer) {
  std::optional<std::string> value = Header(answer, "retry-after");
  if (!value.has_value()) return std::nullopt;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(*value, &seconds)) return absl::Seconds(std::max<int64_t>(seconds, 0));
  absl::Time when;
  std::string error;
  if (answer.server_time.has_value() &&
      absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", *value, &when, &error)) {
    return std::max(when - *answer.server_time, absl::ZeroDuration());
  }
  return std::nullopt;
}

// Whether `message` contains `needle` (lower case), ignoring case.
bool ContainsIgnoreCase(absl::string_view message, absl::string_view needle) {
  return absl::StrContains(absl::AsciiStrToLower(message), needle);
}

bool IsSecondaryMessage(absl::string_view message) {
  return ContainsIgnoreCase(message, "secondary rate limit") ||
         ContainsIgnoreCase(message, "abuse detection");
}

}  // namespace

absl::string_view RateLimitKindName(RateLimitKind kind) {
  switch (kind) {
    case RateLimitKind::kPrimary:
      return "primary";
    case RateLimitKind::kSecondary:
      return "secondary";
    case RateLimitKind::kNone:
      break;
  }
  return "none";
}

RateLimitState::RateLimitState(Options options, Clock* clock) : options_(options), clock_(clock) {}

RateLimitKind RateLimitState::Classify(const RateLimitAnswer& answer) {
  const std::optional<int64_t> remaining = IntHeader(answer, "x-ratelimit-remaining");
  const bool exhausted = remaining.has_value() && *remaining <= 0;
  if (answer.status == 403 || answer.status == 429) {
    if (IsSecondaryMessage(answer.message)) return RateLimitKind::kSecondary;
    if (exhausted) return RateLimitKind::kPrimary;
    if (answer.status == 429) return RateLimitKind::kSecondary;
    if (Header(answer, "retry-after").has_value()) return RateLimitKind::kSecondary;
    if (ContainsIgnoreCase(answer.message, "rate limit")) {
      // "API rate limit exceeded" without a usable remaining count.
      return IntHeader(answer, "x-ratelimit-reset").has_value() ? RateLimitKind::kPrimary
                                                                : RateLimitKind::kSecondary;
    }
    return RateLimitKind::kNone;
  }
  // A successful answer that used the last request of the hour still blocks the next ones.
  return exhausted ? RateLimitKind::kPrimary : RateLimitKind::kNone;
}

RateLimitKind RateLimitState::Observe(const RateLimitAnswer& answer) {
  const absl::Time now = clock_->Now();
  const RateLimitKind kind = Classify(answer);
  const std::optional<absl::Duration> retry_after = RetryAfter(answer);
  const std::optional<int64_t> reset = IntHeader(answer, "x-ratelimit-reset");

  absl::MutexLock lock(&mu_);
  if (auto v = IntHeader(answer, "x-ratelimit-limit")) last_.limit = v;
  if (auto v = IntHeader(answer, "x-ratelimit-remaining")) last_.remaining = v;
  if (auto v = IntHeader(answer, "x-ratelimit-used")) last_.used = v;
  if (reset.has_value()) last_.reset = absl::FromUnixSeconds(*reset);
  if (auto v = Header(answer, "x-ratelimit-resource")) last_.resource = *v;

  absl::Time until = absl::InfinitePast();
  switch (kind) {
    case RateLimitKind::kNone:
      if (answer.status < 500) last_.consecutive_secondary = 0;
      return kind;
    case RateLimitKind::kPrimary:
      ++last_.primary_limits_hit;
      if (reset.has_value()) {
        // The reset is on GitHub's clock: wait as long as GitHub would, measured locally. One
        // second of slack covers the Date header's resolution.
        const absl::Time reset_time = absl::FromUnixSeconds(*reset);
        const absl::Duration wait = answer.server_time.has_value()
                                        ? reset_time - *answer.server_time + absl::Seconds(1)
                                        : reset_time - now;
        until = now + std::max(wait, absl::ZeroDuration());
      } else {
        until = now + options_.min_secondary_backoff;
      }
      if (retry_after.has_value()) until = std::max(until, now + *retry_after);
      break;
    case RateLimitKind::kSecondary: {
      ++last_.secondary_limits_hit;
      ++last_.consecutive_secondary;
      if (retry_after.has_value()) {
        until = now + *retry_after;
      } else {
        absl::Duration backoff = options_.min_secondary_backoff;
        for (int i = 1; i < last_.consecutive_secondary && backoff < options_.max_secondary_backoff;
             ++i) {
          backoff *= 2;
        }
        until = now + std::min(backoff, options_.max_secondary_backoff);
      }
      break;
    }
  }
  if (until > block_.until) {
    block_.until = until;
    block_.kind = kind;
  }
  return kind;
}

std::optional<RateLimitBlock> RateLimitState::BlockedUntil() const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  if (block_.kind == RateLimitKind::kNone || now >= block_.until) return std::nullopt;
  return block_;
}

absl::Status RateLimitState::Check() const {
  const std::optional<RateLimitBlock> block = BlockedUntil();
  if (!block.has_value()) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  return WithRetryDelay(absl::ResourceExhaustedError(BlockMessage(*block, now)), block->until - now);
}

RateLimitSnapshot RateLimitState::Snapshot() const {
  std::optional<RateLimitBlock> block = BlockedUntil();
  absl::MutexLock lock(&mu_);
  RateLimitSnapshot snapshot = last_;
  snapshot.block = block;
  return snapshot;
}

std::string RateLimitState::BlockMessage(const RateLimitBlock& block, absl::Time now) {
  const absl::Duration left =
      absl::Ceil(std::max(block.until - now, absl::ZeroDuration()), absl::Seconds(1));
  return absl::StrCat("GitHub ", RateLimitKindName(block.kind), " rate limit: blocked until ",
                      absl::FormatTime("%H:%M:%SZ", block.until, absl::UTCTimeZone()), " (for ",
                      absl::FormatDuration(left), ")");
}

}  // namespace tasksentinel::github
