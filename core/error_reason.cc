// Error reasons as absl::Status payloads (see error_reason.h).
#include "core/error_reason.h"

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tasksentinel {
namespace {

// Payload type URLs: private to this file; only their presence and text matter.
constexpr absl::string_view kReasonUrl = "type.tasksentinel.dev/reason";
constexpr absl::string_view kRetryDelayUrl = "type.tasksentinel.dev/retry-delay-ms";

}  // namespace

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  if (status.ok()) return status;
  status.SetPayload(kReasonUrl, absl::Cord(reason));
  return status;
}

absl::Status WithRetryDelay(absl::Status status, absl::Duration delay) {
  if (status.ok()) return status;
  status = WithReason(std::move(status), reason::kRateLimited);
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(delay, absl::Milliseconds(1)));
  status.SetPayload(kRetryDelayUrl, absl::Cord(absl::StrCat(ms < 0 ? 0 : ms)));
  return status;
}

absl::Status Reworded(const absl::Status& status, absl::string_view message) {
  absl::Status out(status.code(), message);
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

std::string ReasonOf(const absl::Status& status) {
  if (status.ok()) return "";
  if (auto r = status.GetPayload(kReasonUrl); r.has_value()) {
    return std::string(*r);
  }
  return absl::StatusCodeToString(status.code());
}

std::optional<absl::Duration> RetryDelayOf(const absl::Status& status) {
  auto d = status.GetPayload(kRetryDelayUrl);
  int64_t ms = 0;
  if (!d.has_value() || !absl::SimpleAtoi(std::string(*d), &ms)) return std::nullopt;
  return absl::Milliseconds(ms);
}

}  // namespace tasksentinel
