// The RPC metrics interceptor (see rpc_metrics.h).
#include "service/rpc_metrics.h"

#include <google/protobuf/descriptor.h>

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tasksentinel/v1/sentinel.pb.h"

namespace tasksentinel {
namespace {

constexpr absl::string_view kSentinelPrefix = "/tasksentinel.v1.SentinelService/";

// Times one call from its creation to the moment its status is sent.
class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  // A call of a method of the service (`series`), or of a method it lacks (`series` null,
  // `unknown_method` its name; answered UNIMPLEMENTED).
  RpcMetricsInterceptor(Metrics* metrics, RpcSeries* series, std::string unknown_method = "")
      : metrics_(metrics),
        series_(series),
        unknown_method_(std::move(unknown_method)),
        start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::StatusCode code = methods->GetSendStatus().error_code();
      if (series_ != nullptr) {
        metrics_->RecordRpc(series_, static_cast<int>(code), StatusCodeName(code),
                            absl::Now() - start_);
      } else {
        metrics_->RecordRpc(unknown_method_, StatusCodeName(code), absl::Now() - start_);
      }
    }
    methods->Proceed();
  }

 private:
  Metrics* metrics_;
  RpcSeries* series_;
  std::string unknown_method_;
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

RpcMetricsInterceptorFactory::RpcMetricsInterceptorFactory(Metrics* metrics)
    : metrics_(metrics) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          "tasksentinel.v1.SentinelService");
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    const std::string& name = service->method(i)->name();
    series_.emplace(absl::StrCat(kSentinelPrefix, name), std::make_unique<RpcSeries>(name));
  }
}

grpc::experimental::Interceptor* RpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const absl::string_view method = info->method() == nullptr ? "" : info->method();
  if (!absl::StartsWith(method, kSentinelPrefix)) return nullptr;
  auto it = series_.find(method);
  if (it == series_.end()) {
    return new RpcMetricsInterceptor(metrics_, nullptr,
                                     std::string(method.substr(kSentinelPrefix.size())));
  }
  return new RpcMetricsInterceptor(metrics_, it->second.get());
}

}  // namespace tasksentinel
