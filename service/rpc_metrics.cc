// The RPC metrics interceptor (see rpc_metrics.h).
#include "service/rpc_metrics.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"

namespace tasksentinel {
namespace {

constexpr absl::string_view kSentinelPrefix = "/tasksentinel.v1.SentinelService/";

// Times one call from its creation to the moment its status is sent.
class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(Metrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->RecordRpc(method_, StatusCodeName(methods->GetSendStatus().error_code()),
                          absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  Metrics* metrics_;
  std::string method_;
  absl::Time start_;
};

}  // namespace

absl::string_view StatusCodeName(grpc::StatusCode code) {
  static constexpr absl::string_view kNames[] = {
      "OK",                 "CANCELLED",          "UNKNOWN",          "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",  "NOT_FOUND",          "ALREADY_EXISTS",   "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",         "OUT_OF_RANGE",
      "UNIMPLEMENTED",      "INTERNAL",           "UNAVAILABLE",      "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int n = static_cast<int>(code);
  if (n < 0 || n >= static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) return "UNKNOWN";
  return kNames[n];
}

grpc::experimental::Interceptor* RpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const absl::string_view method = info->method() == nullptr ? "" : info->method();
  if (!absl::StartsWith(method, kSentinelPrefix)) return nullptr;
  return new RpcMetricsInterceptor(metrics_,
                                   std::string(method.substr(kSentinelPrefix.size())));
}

}  // namespace tasksentinel
