// Errors of the C++ client (see status.h).
#include "clients/cpp/status.h"

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace tasksentinel::client {
namespace {

constexpr absl::string_view kReasonUrl = "tasksentinel.v1/ErrorInfo.reason";
constexpr absl::string_view kDelayUrl = "tasksentinel.v1/RetryInfo.retry_delay_ms";

}  // namespace

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbering.
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status rich;
  if (status.error_details().empty() || !rich.ParseFromString(status.error_details())) return out;
  for (const google::protobuf::Any& any : rich.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::RetryInfo retry;
    if (any.UnpackTo(&info)) {
      out.SetPayload(kReasonUrl, absl::Cord(info.reason()));
    } else if (any.UnpackTo(&retry)) {
      const int64_t ms = retry.retry_delay().seconds() * 1000 + retry.retry_delay().nanos() / 1000000;
      out.SetPayload(kDelayUrl, absl::Cord(absl::StrCat(ms)));
    }
  }
  return out;
}

std::string ErrorReason(const absl::Status& status) {
  if (status.ok()) return "";
  if (auto reason = status.GetPayload(kReasonUrl); reason.has_value()) {
    return std::string(*reason);
  }
  return absl::StatusCodeToString(status.code());
}

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  auto delay = status.GetPayload(kDelayUrl);
  int64_t ms = 0;
  if (!delay.has_value() || !absl::SimpleAtoi(std::string(*delay), &ms)) return std::nullopt;
  return absl::Milliseconds(ms);
}

absl::Status WithErrorReason(absl::Status status, absl::string_view reason) {
  if (!status.ok()) status.SetPayload(kReasonUrl, absl::Cord(reason));
  return status;
}

}  // namespace tasksentinel::client
