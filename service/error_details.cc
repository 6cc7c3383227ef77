// google.rpc.Status details for failed calls (see error_details.h).
#include "service/error_details.h"

#include <cstdint>
#include <optional>

#include "core/error_reason.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace tasksentinel {

grpc::Status ToGrpcWithDetails(const absl::Status& status,
                               const std::map<std::string, std::string>& metadata) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status rich;
  rich.set_code(static_cast<int32_t>(status.code()));
  rich.set_message(std::string(status.message()));
  google::rpc::ErrorInfo info;
  info.set_reason(ReasonOf(status));
  info.set_domain(std::string(kErrorDomain));
  info.mutable_metadata()->insert(metadata.begin(), metadata.end());
  rich.add_details()->PackFrom(info);
  if (std::optional<absl::Duration> delay = RetryDelayOf(status); delay.has_value()) {
    google::rpc::RetryInfo retry;
    const int64_t ns = absl::ToInt64Nanoseconds(*delay);
    retry.mutable_retry_delay()->set_seconds(ns / 1'000'000'000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
    rich.add_details()->PackFrom(retry);
  }
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      rich.SerializeAsString());
}

}  // namespace tasksentinel
